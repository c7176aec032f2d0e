//! Round-trip benchmark: Kokoro TTS → 8 kHz G.711 A-law (clean, and with
//! white noise at 10 dB SNR on the line) → Whisper base → character error
//! rate, over 60 Mandarin customer-service sentences (numbers, dates, prices,
//! product names, yes/no answers) in four voices.
//!
//! The sentences are split once: the odd-numbered ones are the tuning set
//! (decoding options were chosen on them), the even-numbered ones are held
//! out (never looked at while tuning). Both are reported.
//!
//! CER is scored after `cer::fold_for_scoring` on both sides (full-width →
//! ASCII, Chinese numerals → Arabic digits; nothing else); the unfolded CER is
//! printed too. Results go in docs/benchmarks.md.
//!
//!     scripts/install-voice-models.sh
//!     cargo run --release -p voice --features kokoro,whisper --example roundtrip_bench
//!
//! Options: `--set tuning|held-out|all` (default all), `--beam N` (5),
//! `--prompt TEXT|none`, `--fallback 0.2,0.4,…` (temperature fallback), `--padding S` (seconds of padding after the utterance in the encoder window; 30 = Whisper's full window; default 10), `--denoise none|rnnoise|gtcrn` (none), `--keep F` (mix F of the line back into the denoised audio, default 0), `--wide` (also 16 kHz
//! without a phone line), `--verbose` (every sentence), `--threads N`,
//! `--trail MS` (cut each clip after its last sound and add MS of pause: what
//! a decode MS into the caller's pause hears).
//! Synthesised audio is cached in `$TMPDIR/tonghua-bench-tts` (the TTS RTF
//! line counts only prompts rendered in this run).

use std::time::Instant;

use voice::g711::Law;
use voice::kokoro::Kokoro;
use voice::models::models_dir;
use voice::resample::resample;
use voice::testsignal::{mix_at_snr, white_noise};
use voice::whisper::{WhisperAsr, WhisperConfig};
use voice::{Asr, Audio, Denoiser, Rnnoise, TtsCache, TtsRequest, audio, cer};

const SENTENCES: &[&str] = &[
    "您好，这里是优品商城客服中心，请问有什么可以帮您？",
    "我想查一下我的订单，订单号是20481。",
    "您的包裹预计11月25日送达。",
    "这件羽绒服现在打八折，只要399元。",
    "是的，我就是本人。",
    "不是，你打错电话了。",
    "请问您的手机号码是13812345678吗？",
    "对，没错。",
    "我上周三买的华为手机屏幕坏了。",
    "退款会在3到5个工作日内原路返回。",
    "您可以在首页点击我的订单查看物流信息。",
    "我要投诉你们的快递员，态度太差了。",
    "好的，我帮您登记一下，稍后会有专人联系您。",
    "请问您方便告诉我收货地址吗？",
    "我住在北京市朝阳区建国路88号。",
    "不需要了，谢谢。",
    "这款小米空气净化器有现货吗？",
    "明天下午两点以后我都在家。",
    "您的会员积分还有2350分，可以抵扣23元。",
    "我的信用卡被扣了两次钱。",
    "能不能帮我换成黑色的，尺码要大一号。",
    "可以，你现在就给我办理吧。",
    "我已经等了一个多小时了，怎么还没人处理？",
    "请您稍等，我马上为您转接人工客服。",
    "这个优惠券的有效期到12月31日。",
    "我想把套餐从每月59元改成39元的。",
    "嗯，好的，我知道了。",
    "您的宽带将在2026年1月1日到期。",
    "请问还有其他问题吗？",
    "没有了，再见。",
    "我买的格力空调什么时候能安装？",
    "安装师傅会提前一天给您打电话确认时间。",
    "你们的营业时间是几点到几点？",
    "我们每天早上9点到晚上10点都有人工服务。",
    "我的验证码一直收不到。",
    "请您检查一下手机是否开启了短信拦截。",
    "麻烦帮我开一张发票，抬头是北京星辰科技有限公司。",
    "发票会在三个工作日内发送到您的邮箱。",
    "是的，我同意。",
    "不行，这个价格太贵了。",
    "我想预约下周一上午十点的维修服务。",
    "您的维修单号是67890，请妥善保存。",
    "这台冰箱的保修期是三年。",
    "请问运费由谁来承担？",
    "七天无理由退货，来回运费由我们承担。",
    "我的账户余额还剩多少钱？",
    "您当前的余额是128.5元。",
    "好的，那就按您说的办。",
    "我需要修改一下收货人的名字。",
    "请问新的收货人叫什么名字？",
    "张伟，弓长张，伟大的伟。",
    "你们有没有分期付款？",
    "支持十二期免息分期。",
    "我昨天晚上八点半下的单。",
    "已经为您催促仓库尽快发货。",
    "那我要取消这个订单。",
    "取消成功，款项会退回您的支付宝。",
    "对对对，就是这个。",
    "不用了，我自己去门店看看。",
    "感谢您的耐心等待，祝您生活愉快。",
];
const VOICES: &[&str] = &["zf_xiaoxiao", "zm_yunxi", "zf_xiaobei", "zm_yunjian"];

/// Odd-numbered sentences (1st, 3rd, …) tune; even-numbered are held out.
fn is_tuning(index: usize) -> bool {
    index.is_multiple_of(2)
}

#[derive(Clone, Copy, PartialEq)]
enum Line {
    Clean,
    Noisy,
    Wide,
}

fn phone_line(
    a: &Audio,
    line: Line,
    denoise: &mut Option<Box<dyn FnMut() -> Box<dyn Denoiser>>>,
    seed: u64,
) -> Audio {
    if line == Line::Wide {
        let wide = resample(&a.samples, a.sample_rate, 16000).expect("to 16 kHz");
        return Audio::new(16000, wide);
    }
    let mut narrow = resample(&a.samples, a.sample_rate, 8000).expect("to 8 kHz");
    if line == Line::Noisy {
        let noise = white_noise(8000, 60_000, 1.0, seed);
        narrow = mix_at_snr(&narrow, &noise, 10.0);
    }
    let coded = Law::Alaw.decode(&Law::Alaw.encode(&audio::f32_to_i16(&narrow)));
    let mut heard = audio::i16_to_f32(&coded);
    if let Some(make) = denoise.as_mut() {
        let mut d = make();
        let n = heard.len();
        // Flush the denoiser's latency with trailing silence, then realign
        // (the delay found by cross-correlation) and mix in `keep` of the line.
        let mut padded = heard.clone();
        padded.extend(std::iter::repeat_n(0.0, 4000));
        let out: Vec<f32> = padded.chunks(160).flat_map(|f| d.process(f)).collect();
        let corr = |lag: usize| -> f64 {
            heard
                .iter()
                .zip(out.iter().skip(lag))
                .map(|(x, y)| f64::from(x * y))
                .sum()
        };
        let lag = (0..800)
            .max_by(|&a, &b| corr(a).total_cmp(&corr(b)))
            .unwrap_or(0);
        let keep = arg("--keep")
            .and_then(|v| v.parse::<f32>().ok())
            .unwrap_or(0.0);
        heard = (0..n)
            .map(|i| (1.0 - keep) * out.get(i + lag).copied().unwrap_or(0.0) + keep * heard[i])
            .collect();
    }
    Audio::new(8000, heard)
}

/// The clip cut after its last sound and followed by `ms` of silence: what
/// the recogniser hears when a turn is decoded `ms` into the caller's pause
/// (a speculative decode at 200 ms, the end of the turn at 700 ms).
fn with_trailing_pause(a: &Audio, ms: u32) -> Audio {
    let last = a
        .samples
        .iter()
        .rposition(|x| x.abs() > 0.01)
        .map_or(0, |i| i + 1);
    let mut samples = a.samples[..last].to_vec();
    samples.extend(std::iter::repeat_n(
        0.0,
        (a.sample_rate as usize) * ms as usize / 1000,
    ));
    Audio::new(a.sample_rate, samples)
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

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
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

#[derive(Default)]
struct Score {
    errors: usize,
    chars: usize,
    raw_errors: usize,
    raw_chars: usize,
}

impl Score {
    fn pct(&self) -> f64 {
        100.0 * self.errors as f64 / self.chars.max(1) as f64
    }
    fn raw_pct(&self) -> f64 {
        100.0 * self.raw_errors as f64 / self.raw_chars.max(1) as f64
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let models = models_dir();
    let t = Instant::now();
    let mut tts = Kokoro::load(&models)?;
    let tts_load = t.elapsed().as_secs_f64();
    let mut config = WhisperConfig {
        beam_size: arg("--beam").and_then(|v| v.parse().ok()).unwrap_or(5),
        threads: arg("--threads").and_then(|v| v.parse().ok()).unwrap_or(0),
        ..WhisperConfig::default()
    };
    if let Some(p) = arg("--padding") {
        config.window_padding_secs = p.parse().ok().filter(|s: &f32| *s < 30.0);
    }
    if let Some(t) = arg("--fallback") {
        config.fallback_temperatures = t.split(',').filter_map(|v| v.parse().ok()).collect();
    }
    if let Some(p) = arg("--prompt") {
        config.prompt = (p != "none").then_some(p);
    }
    let t = Instant::now();
    let mut asr = WhisperAsr::load(&models, &config)?;
    let asr_load = t.elapsed().as_secs_f64();
    let denoise_name = arg("--denoise").unwrap_or_else(|| "none".into());
    let mut denoise: Option<Box<dyn FnMut() -> Box<dyn Denoiser>>> = match denoise_name.as_str() {
        "rnnoise" => Some(Box::new(|| {
            Box::new(Rnnoise::new(8000).expect("rnnoise")) as Box<dyn Denoiser>
        })),
        "gtcrn" => {
            let model = voice::gtcrn::GtcrnModel::load(&models)?;
            Some(Box::new(move || {
                Box::new(model.denoiser(8000).expect("gtcrn")) as Box<dyn Denoiser>
            }))
        }
        _ => None,
    };
    let set = arg("--set").unwrap_or_else(|| "all".into());
    let verbose = flag("--verbose");
    let mut lines = vec![Line::Clean, Line::Noisy];
    if flag("--wide") {
        lines.push(Line::Wide);
    }
    println!(
        "load: kokoro {tts_load:.2} s, whisper {asr_load:.2} s; beam {}, prompt {:?}, fallback {:?}, padding {:?}, denoise {}",
        config.beam_size,
        config.prompt,
        config.fallback_temperatures,
        config.window_padding_secs,
        denoise_name
    );

    let cache_dir = std::env::temp_dir().join("tonghua-bench-tts");
    let cache = TtsCache::open(&cache_dir)?;
    let (mut tts_secs, mut tts_audio) = (0.0, 0.0);
    // scores[set][line]
    let mut scores: Vec<Vec<Score>> = (0..2)
        .map(|_| (0..lines.len()).map(|_| Score::default()).collect())
        .collect();
    let mut rtfs = Vec::new();
    let mut latencies_2s = Vec::new();
    let mut audio_total = 0.0;
    for (i, s) in SENTENCES.iter().enumerate() {
        let tuning = is_tuning(i);
        if (set == "tuning" && !tuning) || (set == "held-out" && tuning) {
            continue;
        }
        // Each set hears every voice: voices rotate over pairs of sentences.
        let voice = VOICES[(i / 2) % VOICES.len()];
        let request = TtsRequest::new(*s).voice(voice);
        let t = Instant::now();
        let (spoken, hit) = cache.get_or_synthesize(&mut tts, &request)?;
        let spoken = match arg("--trail").and_then(|v| v.parse::<u32>().ok()) {
            Some(ms) => with_trailing_pause(&spoken, ms),
            None => spoken,
        };
        if !hit {
            tts_secs += t.elapsed().as_secs_f64();
            tts_audio += spoken.duration_secs();
        }
        audio_total += spoken.duration_secs();
        let mut row = format!(
            "{:>2} {} {voice} {:.1}s |",
            i + 1,
            if tuning { "T" } else { "H" },
            spoken.duration_secs()
        );
        for (k, line) in lines.iter().enumerate() {
            let heard = phone_line(&spoken, *line, &mut denoise, i as u64 + 1);
            let wide = resample(&heard.samples, heard.sample_rate, 16000)?;
            for f in wide.chunks(320) {
                asr.accept(f)?;
            }
            // Whisper decodes in finish(): end of speech → final text.
            let t = Instant::now();
            let result = asr.finish()?;
            let took = t.elapsed().as_secs_f64();
            if *line == Line::Clean {
                rtfs.push(took / heard.duration_secs());
                if heard.duration_secs() <= 2.6 {
                    latencies_2s.push(took);
                }
            }
            let (e, n) = cer::folded_char_errors(s, &result.text);
            let (re, rn) = cer::char_errors(s, &result.text);
            let sc = &mut scores[usize::from(!tuning)][k];
            sc.errors += e;
            sc.chars += n;
            sc.raw_errors += re;
            sc.raw_chars += rn;
            row.push_str(&format!(" {} ({e}) |", result.text));
        }
        if verbose {
            println!("{row}");
        }
    }
    println!();
    let names = [
        "8 kHz A-law, clean",
        "8 kHz A-law, 10 dB SNR",
        "16 kHz, no line",
    ];
    for (si, set_name) in ["tuning", "held-out"].iter().enumerate() {
        for (k, line) in lines.iter().enumerate() {
            let sc = &scores[si][k];
            if sc.chars == 0 {
                continue;
            }
            let name = names[*line as usize];
            println!(
                "CER {set_name:<8} {name:<24} {:>5.1} % ({}/{})   unfolded {:.1} %",
                sc.pct(),
                sc.errors,
                sc.chars,
                sc.raw_pct()
            );
        }
    }
    println!(
        "ASR RTF per utterance (clean, 8 kHz): median {:.3} (n = {}, {audio_total:.0} s of audio)",
        median(&mut rtfs),
        rtfs.len()
    );
    if !latencies_2s.is_empty() {
        let n = latencies_2s.len();
        let max = latencies_2s.iter().copied().fold(0.0, f64::max);
        println!(
            "end of speech → final text, clips ≤ 2.6 s: median {:.0} ms, max {:.0} ms (n = {n})",
            median(&mut latencies_2s) * 1000.0,
            max * 1000.0
        );
    }
    if tts_audio > 0.0 {
        println!(
            "TTS RTF {:.2} ({tts_audio:.1} s of audio rendered in this run)",
            tts_secs / tts_audio
        );
    }
    println!("peak RSS {:.0} MiB", peak_rss_mib());
    Ok(())
}
