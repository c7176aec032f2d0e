//! `tonghua asr` and `tonghua tts` through the real binary, on the installed
//! local models (`scripts/install-voice-models.sh`, run by `make test`).
#![cfg(feature = "local-voice")]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tonghua");

/// Runs the binary; returns (exit code, stdout, stderr).
fn run(args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run tonghua");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn missing_or_damaged_models_give_one_error_naming_the_installer() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("quiet.wav");
    voice::wav::write_wav(&wav, &voice::Audio::new(8000, vec![0.0; 8000])).expect("wav");
    let empty = dir.path().join("no-models");
    std::fs::create_dir_all(&empty).expect("mkdir");

    let (code, out, err) = run(&["asr", s(&wav)], &[("TONGHUA_MODELS", &empty)]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("tonghua: error: whisper-base-ct2"), "{err}");
    assert!(
        err.contains("scripts/install-voice-models.sh whisper"),
        "{err}"
    );

    let out_wav = dir.path().join("out.wav");
    let (code, _, err) = run(
        &["tts", "您好", "-o", s(&out_wav)],
        &[("TONGHUA_MODELS", &empty)],
    );
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("scripts/install-voice-models.sh"), "{err}");
    assert!(!out_wav.exists());

    // A damaged install: the manifest's checksum no longer matches.
    let damaged = dir.path().join("damaged");
    let model = damaged.join("whisper-base-ct2");
    std::fs::create_dir_all(&model).expect("mkdir");
    std::fs::write(model.join("model.bin"), b"truncated").expect("write");
    std::fs::write(
        model.join(".verified"),
        format!("{}  ./model.bin\n", "0".repeat(64)),
    )
    .expect("manifest");
    let (code, _, err) = run(&["asr", s(&wav)], &[("TONGHUA_MODELS", &damaged)]);
    assert_eq!(code, 1);
    assert!(
        err.contains("damaged") && err.contains("install-voice-models.sh"),
        "{err}"
    );
}

#[test]
fn bad_input_is_refused_before_any_model_loads() {
    let dir = tempfile::tempdir().expect("tmp");
    let (code, _, err) = run(&["asr", s(&dir.path().join("nope.wav"))], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("nope.wav"), "{err}");
    let text = dir.path().join("text.wav");
    std::fs::write(&text, "not audio").expect("write");
    let (code, _, err) = run(&["asr", s(&text)], &[]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = dir.path().join("o.wav");
    let (code, _, err) = run(&["tts", "您好", "-o", s(&out), "--speed", "5"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--speed"), "{err}");
    let (code, _, err) = run(&["tts", "您好"], &[]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["tts", "您好", "-o", s(&out), "--voice", "nobody"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("zf_xiaoxiao"), "{err}");
}

#[test]
fn speech_synthesised_by_tts_is_recognised_by_asr_over_a_phone_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let wide = dir.path().join("wide.wav");
    let sentence = "我想查一下我的订单。";
    let (code, out, err) = run(
        &["tts", sentence, "-o", s(&wide), "--voice", "zm_yunxi"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("RTF"), "{out}");
    let audio = voice::wav::read_wav(&wide).expect("tts wrote a WAV");
    assert_eq!(audio.sample_rate, 24000);
    assert!(audio.duration_secs() > 1.0, "{}", audio.duration_secs());

    // Down to 8 kHz through A-law, as a call would deliver it.
    let narrow = voice::resample::resample(&audio.samples, 24000, 8000).expect("8 kHz");
    let line =
        voice::Law::Alaw.decode(&voice::Law::Alaw.encode(&voice::audio::f32_to_i16(&narrow)));
    let phone = dir.path().join("phone.wav");
    voice::wav::write_wav(
        &phone,
        &voice::Audio::new(8000, voice::audio::i16_to_f32(&line)),
    )
    .expect("write");

    let (code, out, err) = run(&["asr", s(&phone), "--json"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let last = out.lines().last().expect("a JSON line");
    let json: Value = serde_json::from_str(last).expect("JSON");
    let text = json["text"].as_str().expect("text");
    let cer = voice::cer::cer(sentence, text);
    assert!(cer <= 0.2, "heard {text:?} (CER {cer:.2})");
    assert!(json["rtf"].as_f64().is_some_and(|r| r > 0.0), "{json}");
    let segments = json["segments"].as_array().expect("segments");
    assert_eq!(segments.len(), 1, "{json}");
    assert!(segments[0]["end_ms"].as_u64() > segments[0]["start_ms"].as_u64());

    // The same speech as a 44.1 kHz stereo file (as a recorder writes it).
    let hifi =
        voice::resample::resample(&voice::audio::i16_to_f32(&line), 8000, 44100).expect("44.1 kHz");
    let stereo = dir.path().join("stereo.wav");
    std::fs::write(&stereo, stereo_wav(&voice::audio::f32_to_i16(&hifi), 44100)).expect("write");
    let (code, out, err) = run(&["asr", s(&stereo), "--json"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let json: Value = serde_json::from_str(out.lines().last().expect("a JSON line")).expect("JSON");
    let heard = json["text"].as_str().expect("text");
    assert!(
        voice::cer::cer(sentence, heard) <= 0.2,
        "stereo: heard {heard:?}"
    );

    // Plain output: the text first, then timings.
    let (code, out, _) = run(&["asr", s(&phone)], &[]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().next(), Some(text));
    assert!(out.contains("RTF"), "{out}");
}

#[test]
fn tts_warm_renders_a_scripts_fixed_lines_once_and_reports_the_rest() {
    let dir = tempfile::tempdir().expect("tmp");
    let script = dir.path().join("mini.yaml");
    std::fs::write(
        &script,
        r#"
name: mini
start: hello
variables:
  name: 您
handlers:
  faq: { enabled: false }
  robot: { enabled: false }
  busy: { enabled: false }
  not_interested: { enabled: false }
  do_not_call: { enabled: false }
  abuse: { enabled: false }
  fraud: { enabled: false }
  human: { enabled: false }
  anger: { enabled: false }
  repeat: { enabled: false }
  silence: { enabled: false }
  no_match: { enabled: false }
  round_limit: { enabled: false }
  transfer_failed: { enabled: false }
nodes:
  - id: hello
    type: ask
    say: "{{name}}好。"
    branches:
      - answer: yes
        say: 好的，号码是{{phone}}。
        goto: bye
      - answer: no
        goto: bye
  - id: bye
    type: hangup
    say: 再见。
"#,
    )
    .expect("script");
    let data = dir.path().join("data");
    let args = [
        "--data-dir",
        s(&data),
        "tts",
        "warm",
        "--script",
        s(&script),
    ];
    let (code, out, err) = run(&args, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rendered 2 "), "{out}");
    assert!(out.contains("already cached 0"), "{out}");
    assert!(
        out.contains("skipped 1") && out.contains("needs phone"),
        "{out}"
    );
    let wavs = walk(&data.join("tts-cache"));
    assert_eq!(wavs, 2, "{out}");

    let (code, out, err) = run(&args, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rendered 0 "), "{out}");
    assert!(out.contains("already cached 2"), "{out}");
}

/// A 16-bit PCM stereo WAV with the same samples on both channels.
fn stereo_wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 4) as u32;
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&2u16.to_le_bytes()); // channels
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 4).to_le_bytes());
    w.extend_from_slice(&4u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for x in samples {
        w.extend_from_slice(&x.to_le_bytes());
        w.extend_from_slice(&x.to_le_bytes());
    }
    w
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p)
                    } else {
                        usize::from(p.extension().is_some_and(|x| x == "wav"))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
