//! The remote adapters against a small OpenAI-compatible server on loopback
//! that speaks the real wire format (multipart upload in, JSON out; JSON in,
//! WAV out), including a slow endpoint for time-outs.
#![cfg(feature = "remote")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use voice::fallback::{FallbackAsr, FallbackTts};
use voice::remote::{RemoteAsr, RemoteConfig, RemoteTts};
use voice::{Asr, Audio, AudioStream, EngineError, Transcript, Tts, TtsRequest};

#[derive(Default)]
struct Seen {
    /// (field name, value or file length) of every multipart field.
    fields: Vec<(String, String)>,
    /// Decoded rate and length of every uploaded WAV.
    uploads: Vec<(u32, usize)>,
    /// Every speech request body.
    speech: Vec<serde_json::Value>,
}

type Shared = Arc<Mutex<Seen>>;

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some("Bearer sk-test")
}

async fn transcriptions(
    State(seen): State<Shared>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, r#"{"error":"bad key"}"#).into_response();
    }
    let mut wav = None;
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or("").to_string();
        let file = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.unwrap_or_default();
        if name == "file" {
            seen.lock()
                .expect("lock")
                .fields
                .push((name, format!("{file:?}")));
            wav = Some(bytes);
        } else {
            let v = String::from_utf8_lossy(&bytes).to_string();
            seen.lock().expect("lock").fields.push((name, v));
        }
    }
    let Some(audio) = wav.and_then(|w| voice::wav::read_wav_bytes(&w).ok()) else {
        return (StatusCode::BAD_REQUEST, "no wav").into_response();
    };
    seen.lock()
        .expect("lock")
        .uploads
        .push((audio.sample_rate, audio.samples.len()));
    let secs = audio.duration_secs();
    let body = serde_json::json!({
        "task": "transcribe",
        "language": "chinese",
        "duration": secs,
        "text": "你好，我想问一下价格。",
        "segments": [
            {"id": 0, "start": 0.0, "end": secs / 2.0, "text": "你好，", "avg_logprob": -0.05},
            {"id": 1, "start": secs / 2.0, "end": secs, "text": "我想问一下价格。", "avg_logprob": -0.3}
        ]
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn speech(State(seen): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "bad key").into_response();
    }
    let Ok(req) = serde_json::from_str::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not json").into_response();
    };
    let input = req["input"].as_str().unwrap_or("").to_string();
    seen.lock().expect("lock").speech.push(req);
    if input.contains('慢') {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if input.contains('错') {
        return (StatusCode::INTERNAL_SERVER_ERROR, "model crashed").into_response();
    }
    // 100 ms of tone per character at 22.05 kHz (not the client's rate on purpose).
    let n = input.chars().count();
    let samples = voice::testsignal::tone(440.0, 22050, 100 * n as u32, 0.3);
    let wav = voice::wav::wav_bytes(&Audio::new(22050, samples)).unwrap_or_default();
    ([(header::CONTENT_TYPE, "audio/wav")], wav).into_response()
}

/// Starts the server on its own thread and runtime; returns its base URL.
fn serve() -> (String, Shared) {
    let seen: Shared = Arc::default();
    let app = Router::new()
        .route("/v1/audio/transcriptions", post(transcriptions))
        .route("/v1/audio/speech", post(speech))
        .with_state(seen.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    (format!("http://{addr}"), seen)
}

fn config(base: &str) -> RemoteConfig {
    RemoteConfig {
        base_url: base.to_string(),
        api_key: Some("sk-test".into()),
        timeout: Duration::from_millis(1500),
        ..RemoteConfig::default()
    }
}

#[test]
fn transcription_uploads_multipart_and_parses_segments() {
    let (base, seen) = serve();
    let mut asr = RemoteAsr::new(config(&base)).expect("client");
    // One second of 8 kHz audio fed as 20 ms frames after resampling to 16 kHz.
    let audio = voice::testsignal::speech_like(16000, 4, 200, 50, 0.3);
    for frame in audio.chunks(320) {
        asr.accept(frame).expect("accept");
    }
    let t = asr.finish().expect("transcript");
    assert_eq!(t.text, "你好，我想问一下价格。");
    assert!(t.is_final);
    assert_eq!(t.segments.len(), 2);
    assert_eq!(t.segments[1].end_ms, 1000);
    assert!(t.confidence > 0.8 && t.confidence < 0.9, "{}", t.confidence);

    let seen = seen.lock().expect("lock");
    assert_eq!(seen.uploads, [(16000, audio.len())]);
    let field = |k: &str| {
        seen.fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("model").as_deref(), Some("whisper-1"));
    assert_eq!(field("language").as_deref(), Some("zh"));
    assert_eq!(field("response_format").as_deref(), Some("verbose_json"));
    assert!(field("prompt").expect("prompt").contains("简体中文"));
    assert_eq!(field("file").as_deref(), Some("Some(\"audio.wav\")"));

    // An 8 kHz clip through the one-shot API arrives at 16 kHz.
    drop(seen);
    let clip = Audio::new(8000, vec![0.0; 8000]);
    asr.transcribe(&clip).expect("clip");
}

#[test]
fn speech_posts_json_per_sentence_and_resamples() {
    let (base, seen) = serve();
    let mut tts = RemoteTts::new(config(&base)).expect("client");
    let chunks: Vec<Audio> = tts
        .synthesize(
            &TtsRequest::new("您好！请问方便吗？")
                .voice("zf_xiaoxiao")
                .speed(1.1),
        )
        .expect("stream")
        .collect::<Result<_, _>>()
        .expect("chunks");
    assert_eq!(chunks.len(), 2, "one request per sentence");
    for (c, chars) in chunks.iter().zip([3usize, 6]) {
        assert_eq!(c.sample_rate, 24000);
        assert_eq!(c.samples.len(), chars * 2400);
    }
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.speech.len(), 2);
    assert_eq!(seen.speech[0]["input"], "您好！");
    assert_eq!(seen.speech[0]["voice"], "zf_xiaoxiao");
    assert_eq!(seen.speech[0]["model"], "tts-1");
    assert_eq!(seen.speech[0]["response_format"], "wav");
    assert!((seen.speech[1]["speed"].as_f64().expect("speed") - 1.1).abs() < 1e-6);
}

#[test]
fn errors_are_reported_clearly() {
    let (base, _) = serve();
    let mut cfg = config(&base);
    cfg.api_key = Some("wrong".into());
    let mut asr = RemoteAsr::new(cfg.clone()).expect("client");
    asr.accept(&[0.0; 320]).expect("accept");
    let e = asr.finish().expect_err("401");
    assert!(e.to_string().contains("401"), "{e}");

    let mut tts = RemoteTts::new(config(&base)).expect("client");
    let e = tts
        .synthesize_all(&TtsRequest::new("出错了"))
        .expect_err("500");
    assert!(
        e.to_string().contains("500") && e.to_string().contains("model crashed"),
        "{e}"
    );

    let mut short = config(&base);
    short.timeout = Duration::from_millis(300);
    let mut slow = RemoteTts::new(short).expect("client");
    let e = slow
        .synthesize_all(&TtsRequest::new("慢"))
        .expect_err("timeout");
    assert!(matches!(e, EngineError::Timeout { ms: 300, .. }), "{e}");

    // Nothing listening: a connection error, not a hang.
    let dead = RemoteTts::new(config("http://127.0.0.1:9")).expect("client");
    let mut dead = dead;
    assert!(dead.synthesize_all(&TtsRequest::new("你好")).is_err());
}

/// A local stand-in: 50 ms of silence per request, transcript "local".
struct Local;

impl Tts for Local {
    fn id(&self) -> &str {
        "local"
    }
    fn sample_rate(&self) -> u32 {
        16000
    }
    fn voices(&self) -> Vec<String> {
        vec!["zf_xiaobei".into()]
    }
    fn synthesize(&mut self, _: &TtsRequest) -> Result<AudioStream<'_>, EngineError> {
        Ok(Box::new(std::iter::once(Ok(Audio::new(
            16000,
            vec![0.0; 800],
        )))))
    }
}

impl Asr for Local {
    fn id(&self) -> &str {
        "local"
    }
    fn sample_rate(&self) -> u32 {
        16000
    }
    fn accept(&mut self, _: &[f32]) -> Result<(), EngineError> {
        Ok(())
    }
    fn partial(&mut self) -> Option<Transcript> {
        None
    }
    fn finish(&mut self) -> Result<Transcript, EngineError> {
        Ok(Transcript {
            text: "local".into(),
            confidence: 0.5,
            segments: vec![],
            is_final: true,
        })
    }
    fn reset(&mut self) {}
}

#[test]
fn slow_server_falls_back_to_the_local_engine() {
    let (base, _) = serve();
    let mut cfg = config(&base);
    cfg.timeout = Duration::from_millis(300);
    let remote = RemoteTts::new(cfg.clone()).expect("client");
    let mut tts = FallbackTts::new(Box::new(remote), Box::new(Local));
    let chunks: Vec<Audio> = tts
        .synthesize(&TtsRequest::new("好的。请稍等，慢一点。再见。"))
        .expect("stream")
        .collect::<Result<_, _>>()
        .expect("chunks");
    assert_eq!(chunks.len(), 3);
    assert_eq!(
        chunks[0].samples.len(),
        3 * 2400,
        "first sentence from the server"
    );
    assert_eq!(
        chunks[1].samples.len(),
        1200,
        "then the local engine, at 24 kHz"
    );
    assert_eq!(tts.failures(), 1);

    let mut dead = cfg;
    dead.base_url = "http://127.0.0.1:9".into();
    let mut asr = FallbackAsr::new(
        Box::new(RemoteAsr::new(dead).expect("client")),
        Box::new(Local),
    );
    asr.accept(&[0.0; 320]).expect("accept");
    assert_eq!(asr.finish().expect("fallback").text, "local");
    assert_eq!(asr.failures(), 1);
}
