//! The work behind `tonghua asr FILE.wav` and `tonghua tts "文本" -o out.wav`,
//! kept here so the binary only parses arguments and picks engines.

use std::path::Path;
use std::time::Instant;

use crate::audio::Audio;
use crate::endpoint::{EndpointConfig, EndpointEvent, Endpointer};
use crate::engine::{Asr, EngineError, Segment, Tts, TtsRequest, Vad};
use crate::frame::{FRAME_MS, frames};
use crate::resample::resample;
use crate::vad::EnergyVad;
use crate::wav::{WavError, read_wav, write_wav};

/// A command failed: a bad file or an engine error.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The WAV file could not be read or written.
    #[error(transparent)]
    Wav(#[from] WavError),
    /// The engine failed (including a missing model).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The result of transcribing a file.
#[derive(Debug, Clone, PartialEq)]
pub struct AsrOutput {
    /// All utterances' text, in order.
    pub text: String,
    /// Timed utterances (times from the start of the file).
    pub segments: Vec<Segment>,
    /// Length of the file in seconds.
    pub audio_secs: f64,
    /// Wall-clock seconds spent resampling, segmenting and decoding.
    pub processing_secs: f64,
}

impl AsrOutput {
    /// Real-time factor: processing time / audio time (lower is faster).
    pub fn rtf(&self) -> f64 {
        if self.audio_secs > 0.0 {
            self.processing_secs / self.audio_secs
        } else {
            0.0
        }
    }

    /// The `--json` line: `{"text","rtf","segments":[{"start_ms","end_ms","text","confidence"}]}`.
    pub fn to_json(&self) -> String {
        let segments: Vec<serde_json::Value> = self
            .segments
            .iter()
            .map(|s| {
                serde_json::json!({
                    "start_ms": s.start_ms,
                    "end_ms": s.end_ms,
                    "text": s.text,
                    "confidence": (f64::from(s.confidence) * 1000.0).round() / 1000.0,
                })
            })
            .collect();
        serde_json::json!({
            "text": self.text,
            "rtf": (self.rtf() * 1000.0).round() / 1000.0,
            "audio_secs": (self.audio_secs * 1000.0).round() / 1000.0,
            "segments": segments,
        })
        .to_string()
    }
}

/// Audio kept before and after each detected utterance, so onsets and
/// trailing consonants are not clipped.
const PAD_MS: u64 = 200;

/// Cuts a clip into utterances with the energy VAD and the endpointer
/// (speaking pause, 28 s maximum). Returns (start_ms, end_ms) pairs,
/// padded and clamped to the clip.
pub fn utterances(audio: &Audio) -> Vec<(u64, u64)> {
    let mut vad = EnergyVad::new(audio.sample_rate);
    let mut ep = Endpointer::new(EndpointConfig {
        speaking_pause_ms: 500,
        ..EndpointConfig::default()
    });
    let total = audio.duration_ms();
    let mut out = Vec::new();
    let mut open: Option<u64> = None;
    for (i, f) in frames(&audio.samples, audio.sample_rate).iter().enumerate() {
        let t = i as u64 * u64::from(FRAME_MS);
        match ep.push(t, FRAME_MS, vad.is_speech(f)) {
            Some(EndpointEvent::SpeechStarted { start_ms }) => open = Some(start_ms),
            Some(EndpointEvent::SpeechEnded {
                start_ms, end_ms, ..
            }) => {
                out.push((start_ms, end_ms));
                open = None;
            }
            None => {}
        }
    }
    if let Some(start) = open {
        out.push((start, total));
    }
    out.into_iter()
        .map(|(s, e)| (s.saturating_sub(PAD_MS), (e + PAD_MS).min(total)))
        .collect()
}

/// Transcribes a clip at any rate: resamples to the engine's rate, cuts it
/// into utterances, decodes each. A clip where the VAD finds no utterance
/// is decoded whole (the VAD is simple; the recogniser has the last word).
pub fn transcribe(asr: &mut dyn Asr, audio: &Audio) -> Result<AsrOutput, CliError> {
    let started = Instant::now();
    let rate = asr.sample_rate();
    let samples = resample(&audio.samples, audio.sample_rate, rate)
        .map_err(|e| EngineError::InvalidInput(e.to_string()))?;
    let clip = Audio::new(rate, samples);
    let mut spans = utterances(&clip);
    if spans.is_empty() && !clip.samples.is_empty() {
        spans.push((0, clip.duration_ms()));
    }
    let mut segments = Vec::new();
    asr.reset();
    for (start_ms, end_ms) in spans {
        let from = (start_ms * u64::from(rate) / 1000) as usize;
        let to = ((end_ms * u64::from(rate) / 1000) as usize).min(clip.samples.len());
        let Some(piece) = clip.samples.get(from..to) else {
            continue;
        };
        for f in piece.chunks(crate::frame::frame_len(rate).max(1)) {
            asr.accept(f)?;
        }
        let t = asr.finish()?;
        if t.text.trim().is_empty() {
            continue;
        }
        segments.push(Segment {
            start_ms,
            end_ms,
            text: t.text.trim().to_string(),
            confidence: t.confidence,
        });
    }
    let text = join_texts(segments.iter().map(|s| s.text.as_str()));
    Ok(AsrOutput {
        text,
        segments,
        audio_secs: audio.duration_secs(),
        processing_secs: started.elapsed().as_secs_f64(),
    })
}

/// Joins utterances: no separator between CJK text, a space between Latin words.
fn join_texts<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for p in parts {
        let needs_space = out
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && p.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if needs_space {
            out.push(' ');
        }
        out.push_str(p);
    }
    out
}

/// `tonghua asr FILE.wav`.
pub fn transcribe_file(asr: &mut dyn Asr, path: &Path) -> Result<AsrOutput, CliError> {
    let audio = read_wav(path)?;
    transcribe(asr, &audio)
}

/// The result of synthesising to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsOutput {
    /// Seconds of audio written.
    pub audio_secs: f64,
    /// Wall-clock seconds spent synthesising.
    pub processing_secs: f64,
    /// The rate written.
    pub sample_rate: u32,
}

/// `tonghua tts "文本" -o out.wav [--voice V] [--speed S]`.
pub fn synthesize_file(
    tts: &mut dyn Tts,
    request: &TtsRequest,
    out: &Path,
) -> Result<TtsOutput, CliError> {
    let started = Instant::now();
    let audio = tts.synthesize_all(request)?;
    let processing_secs = started.elapsed().as_secs_f64();
    write_wav(out, &audio)?;
    Ok(TtsOutput {
        audio_secs: audio.duration_secs(),
        processing_secs,
        sample_rate: audio.sample_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Transcript;
    use crate::testsignal::{silence, speech_like, white_noise};

    /// Reports how much audio each utterance had.
    struct Counter {
        heard: usize,
    }

    impl Asr for Counter {
        fn id(&self) -> &str {
            "counter"
        }
        fn sample_rate(&self) -> u32 {
            16000
        }
        fn accept(&mut self, f: &[f32]) -> Result<(), EngineError> {
            self.heard += f.len();
            Ok(())
        }
        fn partial(&mut self) -> Option<Transcript> {
            None
        }
        fn finish(&mut self) -> Result<Transcript, EngineError> {
            let n = std::mem::take(&mut self.heard);
            Ok(Transcript {
                text: format!("u{}", n / 1600),
                confidence: 0.9,
                segments: vec![],
                is_final: true,
            })
        }
        fn reset(&mut self) {
            self.heard = 0;
        }
    }

    fn two_utterances(rate: u32) -> Audio {
        let mut s = white_noise(rate, 500, 0.002, 1);
        s.extend(speech_like(rate, 4, 200, 50, 0.3));
        s.extend(silence(rate, 1500));
        s.extend(speech_like(rate, 6, 200, 50, 0.3));
        s.extend(silence(rate, 800));
        Audio::new(rate, s)
    }

    #[test]
    fn files_are_cut_into_utterances_with_times() {
        let a = two_utterances(8000);
        let spans = utterances(&a);
        assert_eq!(spans.len(), 2, "{spans:?}");
        // First speech starts at 500 ms; padding moves the cut 200 ms earlier.
        assert!((250..=400).contains(&spans[0].0), "{spans:?}");
        assert!(spans[1].0 > spans[0].1);
    }

    #[test]
    fn transcribe_resamples_and_reports_segments_and_json() {
        let a = two_utterances(8000);
        let mut asr = Counter { heard: 0 };
        let out = transcribe(&mut asr, &a).expect("transcribe");
        assert_eq!(out.segments.len(), 2);
        assert!(out.text.starts_with('u'));
        assert!(out.rtf() >= 0.0);
        let json: serde_json::Value = serde_json::from_str(&out.to_json()).expect("json");
        assert_eq!(json["segments"].as_array().map(Vec::len), Some(2));
        assert!(json["text"].is_string());
        assert!(json["rtf"].is_number());
        // Silence only: decoded whole rather than dropped.
        let quiet = Audio::new(16000, silence(16000, 1000));
        let out = transcribe(&mut asr, &quiet).expect("silence");
        assert_eq!(out.segments.len(), 1);
    }

    #[test]
    fn joining_spaces_only_between_latin_words() {
        assert_eq!(join_texts(["你好", "再见"].into_iter()), "你好再见");
        assert_eq!(join_texts(["hello", "world"].into_iter()), "hello world");
        assert_eq!(join_texts(["OK", "好的"].into_iter()), "OK好的");
    }
}
