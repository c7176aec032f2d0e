//! What a deployment needs to size a voice server: resident memory with every
//! engine loaded, memory per call, end-of-speech → final-text latency for a
//! 2-second utterance, ASR real-time factor on one thread, TTS real-time
//! factor per sentence. Results go in docs/benchmarks.md.
//!
//!     scripts/install-voice-models.sh
//!     cargo run --release -p voice --features kokoro,whisper,gtcrn --example voice_resources
//!
//! Options: `--runs N` (latency repetitions per clip, default 5).

use std::time::Instant;

use voice::g711::Law;
use voice::models::models_dir;
use voice::resample::resample;
use voice::whisper::{WhisperAsr, WhisperConfig};
use voice::{Asr, Engines, TtsRequest, audio};

const SHORT: &[&str] = &[
    "对，没错。",
    "不需要了，谢谢。",
    "没有了，再见。",
    "是的，我同意。",
    "好的，我知道了。",
    "可以，你说吧。",
];
const SENTENCES: &[&str] = &[
    "您好，这里是优品商城客服中心，请问有什么可以帮您？",
    "您的包裹预计11月25日送达。",
    "退款会在3到5个工作日内原路返回。",
    "好的，我帮您登记一下，稍后会有专人联系您。",
    "请您稍等，我马上为您转接人工客服。",
    "安装师傅会提前一天给您打电话确认时间。",
    "发票会在三个工作日内发送到您的邮箱。",
    "七天无理由退货，来回运费由我们承担。",
    "已经为您催促仓库尽快发货。",
    "感谢您的耐心等待，祝您生活愉快。",
];

fn status_kib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// 8 kHz A-law and back up to 16 kHz, as the listener hands audio to Whisper.
fn over_the_line(samples: &[f32], rate: u32) -> Vec<f32> {
    let narrow = resample(samples, rate, 8000).expect("8 kHz");
    let line = Law::Alaw.decode(&Law::Alaw.encode(&audio::f32_to_i16(&narrow)));
    resample(&audio::i16_to_f32(&line), 8000, 16000).expect("16 kHz")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let models = models_dir();
    let base = status_kib("VmRSS:");
    let t = Instant::now();
    let engines = Engines::load_local(&models, &WhisperConfig::default())?;
    let gtcrn = voice::gtcrn::GtcrnModel::load(&models)?;
    println!("load all engines: {:.2} s", t.elapsed().as_secs_f64());

    // Warm every engine once so lazily allocated buffers count as "loaded".
    let mut tts = engines.tts();
    let warm = tts.synthesize_all(&TtsRequest::new("您好。"))?;
    let mut asr = engines.asr();
    for f in over_the_line(&warm.samples, warm.sample_rate).chunks(320) {
        asr.accept(f)?;
    }
    asr.finish()?;
    let mut d = gtcrn.denoiser(8000)?;
    let _ = voice::Denoiser::process(&mut d, &vec![0.0; 8000]);
    let loaded = status_kib("VmRSS:");
    println!(
        "resident memory, all engines loaded and used once: {:.0} MiB (process before loading: {:.0} MiB)",
        loaded / 1024.0,
        base / 1024.0
    );

    // Per-call state: listener (RNNoise, VAD, endpointer, resamplers, ASR
    // handle), playout and a TTS handle, as Engines::call builds them.
    // Each call hears one second of line noise and plays one frame, so its
    // buffers are really allocated and touched, not just reserved.
    let noise = voice::testsignal::white_noise(8000, 1000, 0.01, 1);
    let before = status_kib("VmRSS:");
    let mut calls: Vec<_> = (0..200)
        .map(|_| engines.call(8000))
        .collect::<Result<_, _>>()?;
    for c in &mut calls {
        for f in noise.chunks(160) {
            c.listener.push(f);
        }
        c.playout.push(&warm, Some(1))?;
        c.playout.next_frame();
    }
    let after = status_kib("VmRSS:");
    println!(
        "per call (200 calls, each after 1 s of audio and a queued prompt): {:.0} KiB; plus the utterance buffer while a caller speaks: 64 KiB per second at 16 kHz (≤ 1.8 MiB at the 28 s cap)",
        (after - before) / 200.0
    );
    drop(calls);

    // Latency: 2.0 s clips (short answers padded with line silence), decoded
    // as the endpointer hands them over.
    let mut latencies = Vec::new();
    for (i, s) in SHORT.iter().enumerate() {
        let voice = ["zf_xiaoxiao", "zm_yunxi", "zf_xiaobei"][i % 3];
        let a = tts.synthesize_all(&TtsRequest::new(*s).voice(voice))?;
        let mut clip = over_the_line(&a.samples, a.sample_rate);
        clip.resize(32_000, 0.0);
        for _ in 0..runs {
            for f in clip.chunks(320) {
                asr.accept(f)?;
            }
            let t = Instant::now();
            let text = asr.finish()?.text;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            if text.is_empty() {
                println!("(empty recognition for {s})");
            }
        }
    }
    let n = latencies.len();
    let max = latencies.iter().copied().fold(0.0, f64::max);
    println!(
        "end of speech → final text, 2.0 s utterance: median {:.0} ms, max {max:.0} ms (n = {n})",
        median(&mut latencies)
    );

    // TTS RTF per sentence, and ASR RTF per utterance on one thread.
    let one_thread = WhisperAsr::load(
        &models,
        &WhisperConfig {
            threads: 1,
            ..WhisperConfig::default()
        },
    )?;
    let mut asr1: Box<dyn Asr> = Box::new(one_thread);
    let (mut tts_rtf, mut asr_rtf, mut asr1_rtf) = (Vec::new(), Vec::new(), Vec::new());
    for (i, s) in SENTENCES.iter().enumerate() {
        let voice = ["zf_xiaoxiao", "zm_yunxi", "zf_xiaobei", "zm_yunjian"][i % 4];
        let t = Instant::now();
        let a = tts.synthesize_all(&TtsRequest::new(*s).voice(voice))?;
        tts_rtf.push(t.elapsed().as_secs_f64() / a.duration_secs());
        let heard = over_the_line(&a.samples, a.sample_rate);
        let secs = heard.len() as f64 / 16000.0;
        for (engine, out) in [(&mut asr, &mut asr_rtf), (&mut asr1, &mut asr1_rtf)] {
            for f in heard.chunks(320) {
                engine.accept(f)?;
            }
            let t = Instant::now();
            engine.finish()?;
            out.push(t.elapsed().as_secs_f64() / secs);
        }
    }
    println!(
        "TTS RTF per sentence (Kokoro): median {:.3} (n = {})",
        median(&mut tts_rtf),
        SENTENCES.len()
    );
    let rtf_all = median(&mut asr_rtf);
    let rtf_one = median(&mut asr1_rtf);
    println!(
        "ASR RTF per utterance (Whisper base int8, beam 5): median {rtf_all:.3} with CTranslate2's default threads, {rtf_one:.3} on one thread"
    );
    // A caller speaks roughly 40 % of a call; scripted prompts come from the
    // TTS cache, so recognition is what a core spends on a call.
    println!(
        "calls one core can serve (caller speaking 40 % of the time, prompts cached): about {:.0}",
        1.0 / (0.4 * rtf_one)
    );
    println!("peak RSS {:.0} MiB", status_kib("VmHWM:") / 1024.0);
    Ok(())
}
