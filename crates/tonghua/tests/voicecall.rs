//! A real softphone asks the robot a question by voice: baresip calls the
//! binary and plays a WAV synthesised at test time (Kokoro); Whisper in the
//! robot recognises it and the knowledge base answers.
//!
//! Needs the local engines: `cargo test -p tonghua --features kokoro,whisper`
//! with the models installed (scripts/install-voice-models.sh) and
//! `LD_LIBRARY_PATH` reaching libctranslate2 (see docs/telephony.md).
#![cfg(all(feature = "kokoro", feature = "whisper"))]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::{free_port, http_client};

const BIN: &str = env!("CARGO_BIN_EXE_tonghua");
const ADMIN_PASSWORD: &str = "demo-admin-pass-1";
const QUESTION: &str = "请问快递一般要几天能到？";

fn models() -> std::path::PathBuf {
    std::env::var_os("TONGHUA_MODELS")
        .map(Into::into)
        .unwrap_or_else(|| {
            Path::new(&std::env::var("HOME").unwrap_or_default()).join(".cache/tonghua/models")
        })
}

/// The caller's side: 1 s of silence, the question, then 9 s of silence to hear the answer.
fn caller_wav(path: &Path) {
    caller_wav_of(path, QUESTION);
}

fn caller_wav_of(path: &Path, question: &str) {
    use voice::Tts;
    let mut tts = voice::kokoro::Kokoro::load(&models()).expect("Kokoro installed");
    let speech = tts
        .synthesize_all(&voice::TtsRequest::new(question).voice("zm_yunxi"))
        .expect("synthesis");
    let mut samples = voice::testsignal::silence(speech.sample_rate, 1000);
    samples.extend(speech.samples);
    samples.extend(voice::testsignal::silence(speech.sample_rate, 9000));
    let line = voice::resample::resample(&samples, speech.sample_rate, 8000).expect("resample");
    voice::wav::write_wav(path, &voice::Audio::new(8000, line)).expect("write wav");
}

#[test]
fn baresip_asks_a_question_by_voice_and_gets_the_knowledge_base_answer() {
    let found = Command::new("sh")
        .args(["-c", "command -v baresip"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "baresip is missing: run scripts/install-deps.sh test"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let http = free_port();
    let sip = free_port();
    let lib = models().join("ctranslate2-4.8.5");
    let mut server = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "serve",
            "--http",
            &format!("127.0.0.1:{http}"),
            "--sip",
            &format!("127.0.0.1:{sip}"),
            "--log-level",
            "warn",
        ])
        .env("TONGHUA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("LD_LIBRARY_PATH", &lib)
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let base = format!("http://127.0.0.1:{http}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_client()
        .build()
        .expect("client")
        .get(format!("{base}/healthz"))
        .send()
        .is_err()
    {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let wav = tmp.path().join("question.wav");
    caller_wav(&wav);
    let conf = tmp.path().join("baresip");
    std::fs::create_dir_all(&conf).expect("mkdir");
    std::fs::write(
        conf.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{}\nnet_interface 127.0.0.1\naudio_source aufile,{}\naudio_player aufile,{}\naudio_alert aufile,{}\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\n",
            free_port(),
            wav.display(),
            tmp.path().join("heard.wav").display(),
            tmp.path().join("alert.wav").display(),
        ),
    )
    .expect("config");
    std::fs::write(conf.join("accounts"), "<sip:caller@127.0.0.1>;regint=0\n").expect("accounts");
    let out = Command::new("baresip")
        .arg("-4")
        .arg("-f")
        .arg(&conf)
        .args(["-e", &format!("/dial sip:4001@127.0.0.1:{sip}"), "-t", "25"])
        .stdin(Stdio::null())
        .output()
        .expect("baresip");
    let log = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        log.contains("Call established"),
        "baresip did not get through:\n{log}"
    );

    let client = http_client().cookie_store(true).build().expect("client");
    client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"tenant": "demo", "username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .expect("login");
    let list: Value = client
        .get(format!("{base}/api/v1/conversations"))
        .send()
        .expect("list")
        .json()
        .expect("json");
    let id = list["conversations"][0]["id"]
        .as_str()
        .expect("a conversation")
        .to_string();
    let ev: Value = client
        .get(format!(
            "{base}/api/v1/conversations/{id}/events?limit=1000"
        ))
        .send()
        .expect("events")
        .json()
        .expect("json");
    let events = ev["events"].as_array().cloned().unwrap_or_default();
    let _ = server.kill();
    let _ = server.wait();
    for e in &events {
        let p = e["payload"].to_string();
        eprintln!(
            "{} {}",
            e["kind"].as_str().unwrap_or_default(),
            p.chars().take(160).collect::<String>()
        );
    }
    let heard: Vec<String> = events
        .iter()
        .filter(|e| e["kind"] == "call.utterance")
        .filter_map(|e| e["payload"]["text"].as_str().map(str::to_string))
        .collect();
    assert!(
        heard.iter().any(|t| t.contains("快递") && t.contains("天")),
        "recognised: {heard:?}"
    );
    let answered = events.iter().any(|e| {
        e["kind"] == "action.say"
            && e["payload"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("江浙沪"))
    });
    let said: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "action.say")
        .filter_map(|e| e["payload"]["text"].as_str())
        .collect();
    assert!(
        answered,
        "the knowledge-base answer (ship-time) was not said: {said:?}"
    );
    let latency: Vec<u64> = events
        .iter()
        .filter(|e| e["kind"] == "call.say_started")
        .filter_map(|e| e["payload"]["turn_latency_ms"].as_u64())
        .collect();
    eprintln!("turn latency (end of speech → first reply RTP): {latency:?} ms");
}

/// Turn latency, end of the caller's speech → first RTP of the reply, over
/// several knowledge-base questions asked by baresip (docs/benchmarks.md):
/// `cargo test --release -p tonghua --features kokoro,whisper --test voicecall -- --ignored --nocapture`
/// (`VOICECALL_ROUNDS=N` repeats the questions N times)
#[test]
#[ignore = "benchmark: run explicitly"]
fn turn_latency_benchmark() {
    let questions = [
        "请问快递一般要几天能到？",
        "你们发什么快递？",
        "运费怎么算？",
        "下单后多久发货？",
        "怎么查物流信息？",
        "偏远地区能发货吗？",
    ];
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let http = free_port();
    let sip = free_port();
    let lib = models().join("ctranslate2-4.8.5");
    let mut server = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "serve",
            "--http",
            &format!("127.0.0.1:{http}"),
            "--sip",
            &format!("127.0.0.1:{sip}"),
            "--log-level",
            "info",
        ])
        .env("TONGHUA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("LD_LIBRARY_PATH", &lib)
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("server.log")).expect("log"))
        .spawn()
        .expect("spawn");
    let base = format!("http://127.0.0.1:{http}");
    // Wait for the TTS cache to be warm (the server logs it).
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let log = std::fs::read_to_string(tmp.path().join("server.log")).unwrap_or_default();
        if log.contains("TTS cache warmed") {
            break;
        }
        assert!(Instant::now() < deadline, "cache not warmed:\n{log}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let conf = tmp.path().join("baresip");
    std::fs::create_dir_all(&conf).expect("mkdir");
    std::fs::write(conf.join("accounts"), "<sip:caller@127.0.0.1>;regint=0\n").expect("accounts");
    // VOICECALL_ROUNDS=9 asks the six questions nine times (54 turns). Not a
    // TONGHUA_* name: the server reads those as configuration.
    let rounds: usize = std::env::var("VOICECALL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1);
    for (i, q) in questions
        .iter()
        .cycle()
        .take(questions.len() * rounds)
        .enumerate()
    {
        let wav = tmp.path().join(format!("q{}.wav", i % questions.len()));
        if i < questions.len() {
            caller_wav_of(&wav, q);
        }
        std::fs::write(
            conf.join("config"),
            format!(
                "poll_method epoll\nsip_listen 127.0.0.1:{}\nnet_interface 127.0.0.1\naudio_source aufile,{}\naudio_player aufile,{}\naudio_alert aufile,{}\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\n",
                free_port(),
                wav.display(),
                tmp.path().join("heard.wav").display(),
                tmp.path().join("alert.wav").display(),
            ),
        )
        .expect("config");
        let _ = Command::new("baresip")
            .arg("-4")
            .arg("-f")
            .arg(&conf)
            .args(["-e", &format!("/dial sip:4001@127.0.0.1:{sip}"), "-t", "14"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output();
    }
    let client = http_client().cookie_store(true).build().expect("client");
    client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"tenant": "demo", "username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .expect("login");
    let list: Value = client
        .get(format!("{base}/api/v1/conversations"))
        .send()
        .expect("list")
        .json()
        .expect("json");
    let mut latencies = Vec::new();
    let mut asr = Vec::new();
    for conv in list["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let id = conv["id"].as_str().unwrap_or_default();
        let ev: Value = client
            .get(format!(
                "{base}/api/v1/conversations/{id}/events?limit=1000"
            ))
            .send()
            .expect("events")
            .json()
            .expect("json");
        for e in ev["events"].as_array().cloned().unwrap_or_default() {
            if e["kind"] == "call.say_started"
                && let Some(ms) = e["payload"]["turn_latency_ms"].as_u64()
            {
                latencies.push(ms);
            }
            if e["kind"] == "call.utterance" {
                let p = &e["payload"];
                asr.push(
                    (p["recognised_at_ms"].as_u64().unwrap_or(0))
                        .saturating_sub(p["end_ms"].as_u64().unwrap_or(0)),
                );
                eprintln!("heard: {}", p["text"]);
            }
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    latencies.sort_unstable();
    asr.sort_unstable();
    let pct = |v: &[u64], p: f64| {
        v.get(((v.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    eprintln!(
        "turn latency ms (n={}): p50 {} p95 {} all {latencies:?}",
        latencies.len(),
        pct(&latencies, 0.5),
        pct(&latencies, 0.95)
    );
    eprintln!(
        "end of speech → transcript ms: p50 {} p95 {} all {asr:?}",
        pct(&asr, 0.5),
        pct(&asr, 0.95)
    );
    assert!(!latencies.is_empty(), "no reply was played");
}
