//! The local engines. Compiled only with `--features kokoro,whisper` and run
//! after `scripts/install-voice-models.sh` (which `make test` runs first).
#![cfg(all(feature = "kokoro", feature = "whisper"))]

use voice::g711::Law;
use voice::kokoro::Kokoro;
use voice::models::models_dir;
use voice::resample::resample;
use voice::whisper::{WhisperAsr, WhisperConfig};
use voice::{Asr, Audio, EngineError, Tts, TtsRequest, audio};

#[test]
fn missing_models_name_the_install_script() {
    let empty = tempfile::tempdir().expect("tempdir");
    let e = Kokoro::load(empty.path()).expect_err("no kokoro");
    assert!(matches!(e, EngineError::ModelMissing { .. }), "{e}");
    assert!(
        e.to_string().contains("scripts/install-voice-models.sh"),
        "{e}"
    );
    let e = WhisperAsr::load(empty.path(), &WhisperConfig::default()).expect_err("no whisper");
    assert!(
        e.to_string()
            .contains("scripts/install-voice-models.sh whisper"),
        "{e}"
    );
}

/// Through the phone line: 8 kHz, G.711 A-law both ways.
fn over_the_phone(a: &Audio) -> Audio {
    let narrow = resample(&a.samples, a.sample_rate, 8000).expect("to 8k");
    let line = Law::Alaw.decode(&Law::Alaw.encode(&audio::f32_to_i16(&narrow)));
    let back = resample(&audio::i16_to_f32(&line), 8000, 16000).expect("to 16k");
    Audio::new(16000, back)
}

#[test]
fn round_trip_tts_g711_asr_recovers_a_short_sentence() {
    let models = models_dir();
    let mut tts =
        Kokoro::load(&models).expect("kokoro installed (run scripts/install-voice-models.sh)");
    let mut asr = WhisperAsr::load(&models, &WhisperConfig::default()).expect("whisper installed");
    let sentence = "今天天气很好，我们明天见。";
    let spoken = tts
        .synthesize_all(&TtsRequest::new(sentence).voice("zf_xiaoxiao"))
        .expect("synthesis");
    assert_eq!(spoken.sample_rate, 24000);
    assert!(spoken.duration_secs() > 1.0 && spoken.duration_secs() < 8.0);
    let heard = over_the_phone(&spoken);
    for frame in heard.samples.chunks(320) {
        asr.accept(frame).expect("accept");
    }
    let t = asr.finish().expect("recognition");
    let cer = voice::cer::cer(sentence, &t.text);
    assert!(cer <= 0.2, "heard {:?} (CER {cer:.2})", t.text);
    assert!(t.is_final && t.confidence > 0.0);
    // Silence after the utterance yields nothing, not an invented sentence.
    for frame in vec![0.0f32; 16000].chunks(320) {
        asr.accept(frame).expect("accept");
    }
    assert_eq!(asr.finish().expect("silence").text, "");
}

#[test]
fn voices_and_speed_are_selectable() {
    let mut tts = Kokoro::load(&models_dir()).expect("kokoro installed");
    let voices = tts.voices();
    assert_eq!(voices[0], "zf_xiaoxiao");
    assert!(voices.iter().any(|v| v == "zm_yunxi"));
    let normal = tts
        .synthesize_all(&TtsRequest::new("您好").voice("zm_yunxi"))
        .expect("normal");
    let fast = tts
        .synthesize_all(&TtsRequest::new("您好").voice("zm_yunxi").speed(1.5))
        .expect("fast");
    assert!(fast.samples.len() < normal.samples.len());
    assert!(
        tts.synthesize(&TtsRequest::new("您好").voice("nobody"))
            .is_err()
    );
    // Two sentences stream as two chunks.
    let chunks = tts
        .synthesize(&TtsRequest::new("第一句。第二句。"))
        .expect("stream")
        .count();
    assert_eq!(chunks, 2);
}

#[test]
fn one_loaded_model_serves_concurrent_calls() {
    let models = models_dir();
    let tts = Kokoro::load(&models).expect("kokoro installed");
    let asr = WhisperAsr::load(&models, &WhisperConfig::default()).expect("whisper installed");
    let heard = over_the_phone(
        &tts.clone()
            .synthesize_all(&TtsRequest::new("我现在不方便。").voice("zm_yunjian"))
            .expect("synthesis"),
    );
    // Two calls at once, each with its own handle on the same loaded models.
    let texts: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mut asr = asr.clone();
                let mut tts = tts.clone();
                let heard = &heard;
                s.spawn(move || {
                    tts.synthesize_all(&TtsRequest::new("好的")).expect("tts");
                    for f in heard.samples.chunks(320) {
                        asr.accept(f).expect("accept");
                    }
                    asr.finish().expect("asr").text
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(texts[0], texts[1]);
    assert!(
        voice::cer::cer("我现在不方便", &texts[0]) <= 0.2,
        "{texts:?}"
    );
}

#[cfg(feature = "gtcrn")]
#[test]
fn gtcrn_removes_line_noise_and_keeps_speech_aligned() {
    use voice::Denoiser;
    use voice::testsignal::{mix_at_snr, white_noise};
    let models = models_dir();
    let mut tts = Kokoro::load(&models).expect("kokoro installed");
    let spoken = tts
        .synthesize_all(&TtsRequest::new("您好，请问您现在方便吗？"))
        .expect("synthesis");
    let mut clean = resample(&spoken.samples, spoken.sample_rate, 8000).expect("8k");
    // Half a second of silence on both sides, to measure the noise alone.
    let pad = vec![0.0f32; 4000];
    clean = [pad.clone(), clean, pad.clone()].concat();
    let noise = white_noise(8000, (clean.len() * 1000 / 8000) as u32 + 100, 1.0, 7);
    let noisy = mix_at_snr(&clean, &noise, 10.0);
    let model = voice::gtcrn::GtcrnModel::load(&models).expect("gtcrn installed");
    let mut d = model.denoiser(8000).expect("denoiser");
    let mut out: Vec<f32> = noisy.chunks(160).flat_map(|f| d.process(f)).collect();
    out.extend(d.process(&vec![0.0; 4000]));
    let energy = |s: &[f32]| s.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>();
    let db = |a: f64, b: f64| 10.0 * (a / b).log10();
    // Find the output's delay against the clean signal (latency of the denoiser).
    let best = (0..1200usize)
        .max_by(|&a, &b| {
            let c = |lag: usize| -> f64 {
                clean
                    .iter()
                    .zip(out.iter().skip(lag))
                    .map(|(x, y)| f64::from(x * y))
                    .sum()
            };
            c(a).total_cmp(&c(b))
        })
        .expect("lag");
    let aligned = &out[best..best + clean.len()];
    let before = db(energy(&noisy[..3600]), 1.0);
    let after = db(energy(&aligned[..3600]), 1.0);
    assert!(
        before - after > 15.0,
        "noise only {before:.1} → {after:.1} dB"
    );
    let speech = 4000..clean.len() - 4000;
    let kept = db(energy(&aligned[speech.clone()]), energy(&clean[speech]));
    assert!(kept.abs() < 6.0, "speech level changed by {kept:.1} dB");
    eprintln!(
        "gtcrn delay {best} samples, noise {before:.1} → {after:.1} dB, speech {kept:+.1} dB"
    );
}

/// The per-call API the telephony side uses: engines loaded once, a call's
/// listener fed 20 ms A-law frames of a caller who says one sentence between
/// silences with line noise, and the final text coming out once.
#[test]
fn a_call_built_from_loaded_engines_hears_one_turn_over_g711() {
    use voice::testsignal::{mix_at_snr, white_noise};
    use voice::{Engines, ListenerEvent};
    let engines =
        Engines::load_local(&models_dir(), &WhisperConfig::default()).expect("models installed");
    let sentence = "我想查一下我的订单。";
    let spoken = engines
        .tts()
        .synthesize_all(&TtsRequest::new(sentence).voice("zm_yunxi"))
        .expect("synthesis");
    let narrow = resample(&spoken.samples, spoken.sample_rate, 8000).expect("8k");
    let mut line = vec![0.0f32; 8000];
    line.extend(narrow);
    line.extend(vec![0.0f32; 12000]);
    let noise = white_noise(8000, (line.len() / 8) as u32 + 100, 1.0, 3);
    let line = mix_at_snr(&line, &noise, 25.0);
    let payload = Law::Alaw.encode(&audio::f32_to_i16(&line));

    let mut call = engines.call(8000).expect("call");
    let mut events = Vec::new();
    for packet in payload.chunks(160) {
        let samples = audio::i16_to_f32(&Law::Alaw.decode(packet));
        events.extend(call.listener.push(&samples));
    }
    let finals: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            ListenerEvent::Final { transcript, .. } => Some(&transcript.text),
            _ => None,
        })
        .collect();
    assert_eq!(finals.len(), 1, "{events:?}");
    let cer = voice::cer::cer(sentence, finals[0]);
    assert!(cer <= 0.2, "heard {:?} (CER {cer:.2})", finals[0]);
    assert!(
        matches!(events[0], ListenerEvent::SpeechStarted { start_ms } if (900..=1800).contains(&start_ms)),
        "{events:?}"
    );
    // The same engines serve a second call with its own state.
    let second = engines.call(8000).expect("second call");
    assert!(second.playout.is_idle());
}
