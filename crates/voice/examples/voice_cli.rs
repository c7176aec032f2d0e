//! Stand-in for `tonghua asr` / `tonghua tts` until the binary wires them up:
//!
//!     cargo run --release -p voice --features kokoro,whisper --example voice_cli -- asr FILE.wav [--json]
//!     cargo run --release -p voice --features kokoro,whisper --example voice_cli -- tts "文本" -o out.wav [--voice V] [--speed S]
//!
//! Errors print one line and exit 1 (2 for usage mistakes).

use std::path::Path;
use std::process::ExitCode;

use voice::TtsRequest;
use voice::cli::{synthesize_file, transcribe_file};
use voice::kokoro::Kokoro;
use voice::models::models_dir;
use voice::whisper::{WhisperAsr, WhisperConfig};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn run(args: &[String]) -> Result<(), (u8, String)> {
    let usage = || {
        (
            2,
            "usage: asr FILE.wav [--json] | tts TEXT -o OUT.wav [--voice V] [--speed S]"
                .to_string(),
        )
    };
    match args.first().map(String::as_str) {
        Some("asr") => {
            let file = args.get(1).ok_or_else(usage)?;
            let mut asr = WhisperAsr::load(&models_dir(), &WhisperConfig::default())
                .map_err(|e| (1, e.to_string()))?;
            let out = transcribe_file(&mut asr, Path::new(file)).map_err(|e| (1, e.to_string()))?;
            for s in &out.segments {
                println!(
                    "[{:>7.2} → {:>7.2}] {} ({:.2})",
                    s.start_ms as f64 / 1000.0,
                    s.end_ms as f64 / 1000.0,
                    s.text,
                    s.confidence
                );
            }
            println!("text: {}", out.text);
            println!("RTF {:.3} ({:.1} s of audio)", out.rtf(), out.audio_secs);
            if args.iter().any(|a| a == "--json") {
                println!("{}", out.to_json());
            }
            Ok(())
        }
        Some("tts") => {
            let text = args.get(1).ok_or_else(usage)?;
            let out = flag(args, "-o").ok_or_else(usage)?;
            let mut req = TtsRequest::new(text.clone());
            if let Some(v) = flag(args, "--voice") {
                req = req.voice(v);
            }
            if let Some(s) = flag(args, "--speed") {
                req = req.speed(s.parse().map_err(|_| (2, format!("bad --speed {s}")))?);
            }
            let mut tts = Kokoro::load(&models_dir()).map_err(|e| (1, e.to_string()))?;
            let r =
                synthesize_file(&mut tts, &req, Path::new(&out)).map_err(|e| (1, e.to_string()))?;
            println!(
                "wrote {out}: {:.2} s at {} Hz, RTF {:.2}",
                r.audio_secs,
                r.sample_rate,
                r.processing_secs / r.audio_secs.max(1e-9)
            );
            Ok(())
        }
        _ => Err(usage()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("tonghua: error: {msg}");
            ExitCode::from(code)
        }
    }
}
