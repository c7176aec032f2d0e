//! `tonghua asr` and `tonghua tts`: the local speech engines from the command
//! line (transcribe a WAV file, synthesise one, pre-render a script's prompts
//! into the TTS cache). The work is in `voice::cli`; this module parses
//! arguments, loads engines and prints.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use voice::{Asr, Tts, TtsRequest};

use crate::Failure;

#[derive(Debug, Args)]
pub struct AsrArgs {
    /// The WAV file (any rate, mono or stereo, PCM, float or G.711).
    pub file: PathBuf,
    /// Print one JSON object {"text","rtf","audio_secs","segments":[…]} instead of text.
    #[arg(long)]
    pub json: bool,
    /// Beam width for decoding (1 = greedy, faster).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub beam: usize,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TtsArgs {
    #[command(subcommand)]
    pub command: Option<TtsCommand>,
    /// The text to speak (Mandarin and/or English).
    pub text: Option<String>,
    /// Output WAV file.
    #[arg(short, long, value_name = "OUT.wav")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub voice: VoiceArgs,
}

#[derive(Debug, Args)]
pub struct VoiceArgs {
    /// Voice, e.g. zf_xiaoxiao (default), zf_xiaobei, zm_yunxi.
    #[arg(long, value_name = "V")]
    pub voice: Option<String>,
    /// Speaking rate, 0.5–2.0.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub speed: f32,
}

#[derive(Debug, Subcommand)]
pub enum TtsCommand {
    /// Pre-render every line of a script whose words are known before the call
    /// (and its knowledge-base answers) into the TTS cache in the data directory.
    Warm {
        #[arg(long, value_name = "SCRIPT")]
        script: PathBuf,
        /// Knowledge base (default: the one the script names).
        #[arg(long, value_name = "KB")]
        kb: Option<PathBuf>,
        #[command(flatten)]
        voice: VoiceArgs,
    },
}

fn engine_failure(e: impl std::fmt::Display) -> Failure {
    Failure::runtime(e.to_string())
}

/// Where the models are and where the data directory is: the `models` and
/// `data_dir` settings (file, `TONGHUA_MODELS` / `TONGHUA_DATA_DIR`, flags).
pub struct Places {
    pub models: PathBuf,
    pub data_dir: PathBuf,
}

#[cfg(feature = "local-voice")]
fn load_asr(models: &Path, beam: usize) -> Result<Box<dyn Asr>, Failure> {
    let config = voice::whisper::WhisperConfig {
        beam_size: beam.max(1),
        ..voice::whisper::WhisperConfig::default()
    };
    voice::whisper::WhisperAsr::load(models, &config)
        .map(|a| Box::new(a) as Box<dyn Asr>)
        .map_err(engine_failure)
}

#[cfg(feature = "local-voice")]
fn load_tts(models: &Path) -> Result<Box<dyn Tts>, Failure> {
    voice::kokoro::Kokoro::load(models)
        .map(|t| Box::new(t) as Box<dyn Tts>)
        .map_err(engine_failure)
}

#[cfg(not(feature = "local-voice"))]
const NO_LOCAL: &str = "this tonghua was built without local speech engines; \
    rebuild with the default features (cargo build -p tonghua --features local-voice) \
    after scripts/install-voice-models.sh";

#[cfg(not(feature = "local-voice"))]
fn load_asr(_models: &Path, _beam: usize) -> Result<Box<dyn Asr>, Failure> {
    Err(Failure::runtime(NO_LOCAL))
}

#[cfg(not(feature = "local-voice"))]
fn load_tts(_models: &Path) -> Result<Box<dyn Tts>, Failure> {
    Err(Failure::runtime(NO_LOCAL))
}

pub fn asr(
    args: &AsrArgs,
    places: impl FnOnce() -> Result<Places, Failure>,
) -> Result<(), Failure> {
    // Read the file first: a bad file is reported without loading models.
    let audio = voice::wav::read_wav(&args.file).map_err(engine_failure)?;
    let places = places()?;
    let started = std::time::Instant::now();
    let mut engine = load_asr(&places.models, args.beam)?;
    let load_secs = started.elapsed().as_secs_f64();
    let out = voice::cli::transcribe(&mut *engine, &audio).map_err(engine_failure)?;
    if args.json {
        println!("{}", out.to_json());
        return Ok(());
    }
    println!("{}", out.text);
    for s in &out.segments {
        println!(
            "  [{:>7.2} – {:>7.2} s] {} (confidence {:.2})",
            s.start_ms as f64 / 1000.0,
            s.end_ms as f64 / 1000.0,
            s.text,
            s.confidence
        );
    }
    println!(
        "audio {:.2} s, recognised in {:.2} s (RTF {:.2}), model loaded in {load_secs:.2} s",
        out.audio_secs,
        out.processing_secs,
        out.rtf()
    );
    Ok(())
}

fn request(text: &str, v: &VoiceArgs) -> Result<TtsRequest, Failure> {
    if !(0.5..=2.0).contains(&v.speed) {
        return Err(Failure::usage(format!(
            "--speed {} is out of range; use 0.5 to 2.0",
            v.speed
        )));
    }
    let mut r = TtsRequest::new(text).speed(v.speed);
    if let Some(name) = &v.voice {
        r = r.voice(name.clone());
    }
    Ok(r)
}

fn check_voice(tts: &dyn Tts, v: &VoiceArgs) -> Result<(), Failure> {
    match &v.voice {
        Some(name) if !tts.voices().iter().any(|x| x == name) => Err(Failure::usage(format!(
            "unknown voice '{name}'; available: {}",
            tts.voices().join(", ")
        ))),
        _ => Ok(()),
    }
}

pub fn tts(
    args: &TtsArgs,
    places: impl FnOnce() -> Result<Places, Failure>,
) -> Result<(), Failure> {
    match &args.command {
        Some(TtsCommand::Warm { script, kb, voice }) => {
            warm(script, kb.as_deref(), voice, &places()?)
        }
        None => {
            let text = args
                .text
                .as_deref()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    Failure::usage("what should I say? usage: tonghua tts \"文本\" -o out.wav")
                })?;
            let output = args
                .output
                .as_deref()
                .ok_or_else(|| Failure::usage("name the output file with -o out.wav"))?;
            let request = request(text, &args.voice)?;
            let mut engine = load_tts(&places()?.models)?;
            check_voice(&*engine, &args.voice)?;
            let out = voice::cli::synthesize_file(&mut *engine, &request, output)
                .map_err(engine_failure)?;
            println!(
                "wrote {} ({:.2} s at {} Hz), synthesised in {:.2} s (RTF {:.2})",
                output.display(),
                out.audio_secs,
                out.sample_rate,
                out.processing_secs,
                if out.audio_secs > 0.0 {
                    out.processing_secs / out.audio_secs
                } else {
                    0.0
                }
            );
            Ok(())
        }
    }
}

fn warm(script: &Path, kb: Option<&Path>, v: &VoiceArgs, places: &Places) -> Result<(), Failure> {
    let bot = dialog::Bot::from_file(script, kb).map_err(|e| Failure::usage(e.to_string()))?;
    let lines = bot.spoken_lines();
    let cache_dir = places.data_dir.join(voice::cache::DATA_DIR_CACHE);
    let cache = voice::TtsCache::open(&cache_dir).map_err(engine_failure)?;
    let mut engine = load_tts(&places.models)?;
    check_voice(&*engine, v)?;
    let mut requests = Vec::new();
    let mut skipped = Vec::new();
    for line in &lines {
        match &line.text {
            Some(text) => requests.push(request(text, v)?),
            None => skipped.push(line),
        }
    }
    let report = cache.warm(&mut *engine, requests);
    println!(
        "{}: {} line(s): rendered {} ({:.1} s of audio), already cached {}, failed {}, skipped {} (need per-call values)",
        bot.name(),
        lines.len(),
        report.rendered,
        report.rendered_secs,
        report.already_cached,
        report.failed.len(),
        skipped.len()
    );
    for line in &skipped {
        println!(
            "  skipped {}: {} (needs {})",
            line.place,
            line.template,
            line.unknown.join(", ")
        );
    }
    for (text, error) in &report.failed {
        println!("  failed: {text}: {error}");
    }
    println!("cache: {}", cache_dir.display());
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::runtime(format!(
            "{} prompt(s) could not be rendered",
            report.failed.len()
        )))
    }
}
