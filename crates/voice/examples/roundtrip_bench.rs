//! Round-trip benchmark: Kokoro TTS → 8 kHz G.711 A-law (clean; with white
//! noise at 10 dB SNR on the line; and the same noisy line through RNNoise,
//! as the call pipeline does) → Whisper base → character error rate, plus real-time factors, end-of-speech → final-text latency and peak
//! memory. Results go in docs/benchmarks.md (section "Hearing and speaking").
//!
//!     scripts/install-voice-models.sh
//!     cargo run --release -p voice --features kokoro,whisper --example roundtrip_bench
//!
//! Optional: `-- --beam N` (default 5), `--threads N`, `--fp32` (no int8 quantisation).

use std::time::Instant;

use voice::g711::Law;
use voice::kokoro::Kokoro;
use voice::models::models_dir;
use voice::resample::resample;
use voice::testsignal::{mix_at_snr, white_noise};
use voice::whisper::{WhisperAsr, WhisperConfig};
use voice::{Asr, Audio, Denoiser, Rnnoise, Tts, TtsRequest, audio, cer};

const SENTENCES: &[&str] = &[
    "您好，我是通话公司的客服小王。",
    "请问您现在方便接电话吗？",
    "我们最近有一个装修优惠活动。",
    "您家的房子是新房还是二手房？",
    "好的，我稍后把资料发到您的微信上。",
    "请问您贵姓？",
    "这个价格已经是最低的了。",
    "如果您有兴趣，我们可以安排设计师上门量房。",
    "不好意思打扰您了，祝您生活愉快。",
    "您的订单已经发货了，请注意查收。",
    // Short answers, about two seconds: the latency figure comes from these.
    "好的，谢谢。",
    "我现在不方便。",
    "可以，你说吧。",
    "多少钱一平米？",
    "我再考虑一下。",
];
const VOICES: &[&str] = &["zf_xiaoxiao", "zm_yunxi", "zf_xiaobei", "zm_yunjian"];

fn phone_line(a: &Audio, snr_db: Option<f32>, denoise: bool, seed: u64) -> Audio {
    if snr_db.is_none() && denoise {
        // The "wideband" reference: no telephone line at all.
        let wide = resample(&a.samples, a.sample_rate, 16000).expect("to 16 kHz");
        return Audio::new(16000, wide);
    }
    let mut narrow = resample(&a.samples, a.sample_rate, 8000).expect("to 8 kHz");
    if let Some(db) = snr_db {
        let noise = white_noise(8000, 60_000, 1.0, seed);
        narrow = mix_at_snr(&narrow, &noise, db);
    }
    let line = Law::Alaw.decode(&Law::Alaw.encode(&audio::f32_to_i16(&narrow)));
    let mut heard = audio::i16_to_f32(&line);
    if denoise {
        let mut d = Rnnoise::new(8000).expect("rnnoise");
        heard = heard.chunks(160).flat_map(|f| d.process(f)).collect();
    }
    let wide = resample(&heard, 8000, 16000).expect("to 16 kHz");
    Audio::new(16000, wide)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let models = models_dir();
    let t = Instant::now();
    let mut tts = Kokoro::load(&models)?;
    let tts_load = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let config = WhisperConfig {
        beam_size: arg("--beam", 5),
        threads: arg("--threads", 0),
        int8: !std::env::args().any(|a| a == "--fp32"),
        ..WhisperConfig::default()
    };
    let mut asr = WhisperAsr::load(&models, &config)?;
    let asr_load = t.elapsed().as_secs_f64();
    println!(
        "load: kokoro {tts_load:.2} s, whisper {asr_load:.2} s (beam {})",
        config.beam_size
    );

    let (mut tts_secs, mut tts_audio) = (0.0, 0.0);
    let mut asr_secs = [0.0f64; 4];
    let mut audio_secs = 0.0;
    let mut errors = [0usize; 4];
    let mut chars = 0usize;
    let mut latencies_2s = Vec::new();
    println!(
        "| # | voice | audio s | 8 kHz A-law → heard | err | + 10 dB noise → heard | err | + RNNoise → heard | err | 16 kHz, no line | err |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (i, s) in SENTENCES.iter().enumerate() {
        let voice = VOICES[i % VOICES.len()];
        let t = Instant::now();
        let spoken = tts.synthesize_all(&TtsRequest::new(*s).voice(voice))?;
        tts_secs += t.elapsed().as_secs_f64();
        tts_audio += spoken.duration_secs();
        audio_secs += spoken.duration_secs();
        let mut row = format!("| {} | {voice} | {:.1} |", i + 1, spoken.duration_secs());
        let conditions = [
            (None, false),
            (Some(10.0), false),
            (Some(10.0), true),
            (None, true),
        ];
        for (k, (snr, denoise)) in conditions.into_iter().enumerate() {
            let heard = phone_line(&spoken, snr, denoise, i as u64 + 1);
            for f in heard.samples.chunks(320) {
                asr.accept(f)?;
            }
            // Whisper decodes everything in finish(): this is the time from
            // the endpointer's "speech ended" to the final text.
            let t = Instant::now();
            let result = asr.finish()?;
            let took = t.elapsed().as_secs_f64();
            asr_secs[k] += took;
            if k == 0 && heard.duration_secs() <= 3.0 {
                latencies_2s.push(took);
            }
            let (e, n) = cer::char_errors(s, &result.text);
            errors[k] += e;
            if k == 0 {
                chars += n;
            }
            row.push_str(&format!(" {} | {}/{} |", result.text, e, n));
        }
        println!("{row}");
    }
    println!();
    let names = [
        "8 kHz A-law, clean",
        "8 kHz A-law, 10 dB SNR",
        "8 kHz A-law, 10 dB SNR, RNNoise",
        "16 kHz, no phone line",
    ];
    for (k, name) in names.iter().enumerate() {
        println!(
            "CER {name}: {:.1} % ({} / {chars}), ASR RTF {:.2}",
            100.0 * errors[k] as f64 / chars as f64,
            errors[k],
            asr_secs[k] / audio_secs
        );
    }
    println!(
        "TTS RTF {:.2} ({tts_audio:.1} s of audio)",
        tts_secs / tts_audio
    );
    if !latencies_2s.is_empty() {
        let mean = latencies_2s.iter().sum::<f64>() / latencies_2s.len() as f64;
        let max = latencies_2s.iter().copied().fold(0.0, f64::max);
        println!(
            "end of speech → final text, utterances of 2.1–3.0 s (speech ≈ 1.5–2 s): mean {:.0} ms, max {:.0} ms (n = {})",
            mean * 1000.0,
            max * 1000.0,
            latencies_2s.len()
        );
    }
    println!("peak RSS {:.0} MiB", peak_rss_mib());
    Ok(())
}
