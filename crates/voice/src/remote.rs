//! Clients for OpenAI-compatible speech servers: `POST /v1/audio/transcriptions`
//! (multipart upload, like OpenAI's Whisper API, faster-whisper-server,
//! LocalAI, vLLM) and `POST /v1/audio/speech` (JSON in, audio bytes out).
//!
//! Blocking (`reqwest::blocking`), like the engine traits: call them from the
//! pipeline's blocking worker, never from inside an async task. Every request
//! has a time-out; wrap these in [`crate::fallback`] so a slow or dead server
//! falls back to the local engine.

use std::time::Duration;

use crate::audio::Audio;
use crate::engine::{
    Asr, AudioStream, EngineError, Segment, Transcript, Tts, TtsRequest, split_sentences,
};
use crate::resample::resample;
use crate::wav::{read_wav_bytes, wav_bytes};

/// Where the server is and how to talk to it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// e.g. `http://10.0.0.5:8000` or `https://api.example.com/v1`; `/v1` is
    /// added unless the URL already ends with it.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// Model name for transcription (`whisper-1`, or the server's own name).
    pub asr_model: String,
    /// Model name for speech (`tts-1`, or the server's own name).
    pub tts_model: String,
    /// ISO-639-1 language hint for transcription (`zh`).
    pub language: Option<String>,
    /// Prompt for transcription; a Simplified-Chinese sentence steers Whisper
    /// away from Traditional characters.
    pub prompt: Option<String>,
    /// Voice used when a request names none.
    pub default_voice: String,
    /// The rate [`RemoteTts`] delivers (server audio is resampled to it).
    pub tts_sample_rate: u32,
    /// Whole-request time-out.
    pub timeout: Duration,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8000".into(),
            api_key: None,
            asr_model: "whisper-1".into(),
            tts_model: "tts-1".into(),
            language: Some("zh".into()),
            prompt: Some("以下是普通话的句子，使用简体中文。".into()),
            default_voice: "alloy".into(),
            tts_sample_rate: 24_000,
            timeout: Duration::from_secs(5),
        }
    }
}

fn endpoint(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1") {
        format!("{base}/{path}")
    } else {
        format!("{base}/v1/{path}")
    }
}

fn client(cfg: &RemoteConfig, engine: &str) -> Result<reqwest::blocking::Client, EngineError> {
    // In a build where reqwest speaks TLS through rustls without a default
    // provider (the server's choice: ring, no cmake), a client cannot be
    // built before one is set; setting it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        .build()
        .map_err(|e| EngineError::Failed {
            engine: engine.to_string(),
            message: format!("cannot build HTTP client: {e}"),
        })
}

fn http_error(engine: &str, timeout: Duration, e: &reqwest::Error) -> EngineError {
    if e.is_timeout() {
        EngineError::Timeout {
            engine: engine.to_string(),
            ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        }
    } else {
        EngineError::Failed {
            engine: engine.to_string(),
            message: e.to_string(),
        }
    }
}

fn send(
    engine: &str,
    cfg: &RemoteConfig,
    req: reqwest::blocking::RequestBuilder,
) -> Result<Vec<u8>, EngineError> {
    let req = match &cfg.api_key {
        Some(key) => req.bearer_auth(key),
        None => req,
    };
    let resp = req
        .send()
        .map_err(|e| http_error(engine, cfg.timeout, &e))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .map_err(|e| http_error(engine, cfg.timeout, &e))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let snippet: String = text.chars().take(200).collect();
        return Err(EngineError::Failed {
            engine: engine.to_string(),
            message: format!("HTTP {status}: {snippet}"),
        });
    }
    Ok(body.to_vec())
}

const ASR_ID: &str = "remote-openai-asr";
const TTS_ID: &str = "remote-openai-tts";

/// Remote transcription: buffers an utterance at 16 kHz, uploads it on `finish`.
#[derive(Debug)]
pub struct RemoteAsr {
    cfg: RemoteConfig,
    client: reqwest::blocking::Client,
    buffer: Vec<f32>,
}

impl RemoteAsr {
    /// A client for `cfg.base_url`.
    pub fn new(cfg: RemoteConfig) -> Result<Self, EngineError> {
        let client = client(&cfg, ASR_ID)?;
        Ok(Self {
            cfg,
            client,
            buffer: Vec::new(),
        })
    }

    /// Transcribes one clip (any rate; resampled to 16 kHz first).
    pub fn transcribe(&self, audio: &Audio) -> Result<Transcript, EngineError> {
        let samples = resample(&audio.samples, audio.sample_rate, 16_000)
            .map_err(|e| EngineError::InvalidInput(e.to_string()))?;
        self.upload(&Audio::new(16_000, samples))
    }

    fn upload(&self, audio: &Audio) -> Result<Transcript, EngineError> {
        let wav = wav_bytes(audio).map_err(|e| EngineError::InvalidInput(e.to_string()))?;
        let part = reqwest::blocking::multipart::Part::bytes(wav)
            .file_name("audio.wav")
            .mime_str("audio/wav")
            .map_err(|e| http_error(ASR_ID, self.cfg.timeout, &e))?;
        let mut form = reqwest::blocking::multipart::Form::new()
            .part("file", part)
            .text("model", self.cfg.asr_model.clone())
            .text("response_format", "verbose_json");
        if let Some(lang) = &self.cfg.language {
            form = form.text("language", lang.clone());
        }
        if let Some(prompt) = &self.cfg.prompt {
            form = form.text("prompt", prompt.clone());
        }
        let url = endpoint(&self.cfg.base_url, "audio/transcriptions");
        let body = send(ASR_ID, &self.cfg, self.client.post(url).multipart(form))?;
        parse_transcription(&body, audio.duration_ms())
    }
}

/// Parses a `json` or `verbose_json` transcription response.
pub fn parse_transcription(body: &[u8], duration_ms: u64) -> Result<Transcript, EngineError> {
    let bad = |m: String| EngineError::Failed {
        engine: ASR_ID.to_string(),
        message: m,
    };
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("response is not JSON: {e}")))?;
    let text = v
        .get("text")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| bad("response has no \"text\"".into()))?
        .trim()
        .to_string();
    let secs_to_ms = |x: Option<f64>| (x.unwrap_or(0.0).max(0.0) * 1000.0).round() as u64;
    let mut segments: Vec<Segment> = v
        .get("segments")
        .and_then(serde_json::Value::as_array)
        .map(|segs| {
            segs.iter()
                .map(|s| {
                    let f = |k: &str| s.get(k).and_then(serde_json::Value::as_f64);
                    // Whisper's mean token log-probability; exp() gives a 0..1 score.
                    let confidence = f("avg_logprob").map_or(1.0, |lp| lp.exp().clamp(0.0, 1.0));
                    Segment {
                        start_ms: secs_to_ms(f("start")),
                        end_ms: secs_to_ms(f("end")),
                        text: s
                            .get("text")
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or("")
                            .trim()
                            .to_string(),
                        confidence: confidence as f32,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if segments.is_empty() && !text.is_empty() {
        segments.push(Segment {
            start_ms: 0,
            end_ms: duration_ms,
            text: text.clone(),
            confidence: 1.0,
        });
    }
    let confidence = if segments.is_empty() {
        0.0
    } else {
        segments.iter().map(|s| s.confidence).sum::<f32>() / segments.len() as f32
    };
    Ok(Transcript {
        text,
        confidence,
        segments,
        is_final: true,
    })
}

impl Asr for RemoteAsr {
    fn id(&self) -> &str {
        ASR_ID
    }

    fn sample_rate(&self) -> u32 {
        16_000
    }

    fn accept(&mut self, frame: &[f32]) -> Result<(), EngineError> {
        self.buffer.extend_from_slice(frame);
        Ok(())
    }

    fn partial(&mut self) -> Option<Transcript> {
        None
    }

    fn finish(&mut self) -> Result<Transcript, EngineError> {
        let audio = Audio::new(16_000, std::mem::take(&mut self.buffer));
        if audio.samples.is_empty() {
            return Ok(Transcript {
                is_final: true,
                ..Transcript::default()
            });
        }
        self.upload(&audio)
    }

    fn reset(&mut self) {
        self.buffer.clear();
    }
}

/// Remote synthesis, one request per sentence so playout starts early.
#[derive(Debug)]
pub struct RemoteTts {
    cfg: RemoteConfig,
    client: reqwest::blocking::Client,
}

impl RemoteTts {
    /// A client for `cfg.base_url`.
    pub fn new(cfg: RemoteConfig) -> Result<Self, EngineError> {
        let client = client(&cfg, TTS_ID)?;
        Ok(Self { cfg, client })
    }

    fn speak(&self, text: &str, voice: &str, speed: f32) -> Result<Audio, EngineError> {
        let body = serde_json::json!({
            "model": self.cfg.tts_model,
            "input": text,
            "voice": voice,
            "speed": speed,
            "response_format": "wav",
        });
        let url = endpoint(&self.cfg.base_url, "audio/speech");
        let req = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        let bytes = send(TTS_ID, &self.cfg, req)?;
        let audio = read_wav_bytes(&bytes).map_err(|e| EngineError::Failed {
            engine: TTS_ID.to_string(),
            message: format!("server did not return WAV audio: {e}"),
        })?;
        let samples = resample(&audio.samples, audio.sample_rate, self.cfg.tts_sample_rate)
            .map_err(|e| EngineError::Failed {
                engine: TTS_ID.to_string(),
                message: e.to_string(),
            })?;
        Ok(Audio::new(self.cfg.tts_sample_rate, samples))
    }
}

impl Tts for RemoteTts {
    fn id(&self) -> &str {
        TTS_ID
    }

    fn sample_rate(&self) -> u32 {
        self.cfg.tts_sample_rate
    }

    fn voices(&self) -> Vec<String> {
        vec![self.cfg.default_voice.clone()]
    }

    fn synthesize(&mut self, request: &TtsRequest) -> Result<AudioStream<'_>, EngineError> {
        let sentences = split_sentences(&request.text);
        if sentences.is_empty() {
            return Err(EngineError::InvalidInput("nothing to say".into()));
        }
        let voice = request
            .voice
            .clone()
            .unwrap_or_else(|| self.cfg.default_voice.clone());
        let speed = request.speed;
        let this = &*self;
        Ok(Box::new(
            sentences
                .into_iter()
                .map(move |s| this.speak(&s, &voice, speed)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_accept_base_urls_with_or_without_v1() {
        assert_eq!(
            endpoint("http://h:1", "audio/speech"),
            "http://h:1/v1/audio/speech"
        );
        assert_eq!(
            endpoint("http://h:1/v1/", "audio/speech"),
            "http://h:1/v1/audio/speech"
        );
    }

    #[test]
    fn parses_plain_and_verbose_json() {
        let t = parse_transcription(r#"{"text":" 你好 "}"#.as_bytes(), 1500).expect("json");
        assert_eq!(t.text, "你好");
        assert_eq!(t.segments.len(), 1);
        assert_eq!(t.segments[0].end_ms, 1500);
        assert!(t.is_final);
        let v = r#"{"text":"你好。再见。","segments":[
            {"start":0.0,"end":0.8,"text":"你好。","avg_logprob":-0.1},
            {"start":1.0,"end":1.64,"text":"再见。","avg_logprob":-0.5}]}"#;
        let t = parse_transcription(v.as_bytes(), 2000).expect("verbose");
        assert_eq!(t.segments[1].start_ms, 1000);
        assert_eq!(t.segments[1].end_ms, 1640);
        assert!((t.segments[0].confidence - (-0.1f32).exp()).abs() < 1e-6);
        assert!(t.confidence > 0.7 && t.confidence < 0.8);
        assert!(parse_transcription(b"<html>", 0).is_err());
        assert!(parse_transcription(br#"{"error":"x"}"#, 0).is_err());
        let empty = parse_transcription(br#"{"text":""}"#, 0).expect("empty");
        assert!(empty.segments.is_empty());
        assert_eq!(empty.confidence, 0.0);
    }
}
