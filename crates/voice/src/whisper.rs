//! Local speech recognition with Whisper base (CTranslate2 format) through
//! `ct2rs`, linked against the installed PyPI `libctranslate2` (feature
//! `whisper`).
//!
//! Whisper is not a streaming model: [`WhisperAsr`] buffers an utterance (the
//! endpointer decides where it ends) and decodes it in `finish`. Whisper
//! writes Mandarin in Traditional characters now and then; the output is
//! mapped to Simplified ([`crate::simplify`]) instead of steering the decoder
//! with a prompt, which cost accuracy on telephone audio (docs/benchmarks.md).

use std::path::Path;
use std::sync::Arc;

use ct2rs::Tokenizer as _;
use ct2rs::sys::{ComputeType, Config, StorageView, Whisper as Ct2Whisper, WhisperOptions};
use ct2rs::tokenizers::hf::Tokenizer;
use mel_spec::mel::{log_mel_spectrogram, mel};
use mel_spec::stft::Spectrogram;
use ndarray::{Array2, Array3, s};

use crate::engine::{Asr, Decode, EngineError, Segment, Transcript};
use crate::models::{WHISPER_BASE, check_model};

/// Whisper's input rate.
pub const SAMPLE_RATE: u32 = 16_000;
const N_FFT: usize = 400;
const HOP: usize = 160;
const N_MELS: usize = 80;
/// One decoding window: 30 s.
const CHUNK_SAMPLES: usize = 480_000;
const CHUNK_FRAMES: usize = 3000;
const ID: &str = "whisper-base-ct2";

/// A prompt steering Mandarin output to Simplified characters. Not the
/// default any more: on the tuning set it raised CER from 8.2 % to 9.6 %
/// (clean) and from 19.2 % to 22.4 % (10 dB SNR); Traditional output is
/// mapped to Simplified after decoding instead.
pub const SIMPLIFIED_PROMPT: &str = "以下是普通话的句子，使用简体中文。";

/// Decoding settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperConfig {
    /// Language code (`zh`, `en`); `None` would need language detection,
    /// which is not wired up, so `zh` is the default.
    pub language: String,
    /// Text given to the decoder as "previous text" (see [`SIMPLIFIED_PROMPT`]);
    /// `None` by default.
    pub prompt: Option<String>,
    /// Beam width (1 = greedy, faster).
    pub beam_size: usize,
    /// CPU threads for one decode (0 = CTranslate2's default).
    pub threads: usize,
    /// Quantise the weights to 8-bit integers when loading (several times
    /// faster on a CPU than the float32 the float16 weights otherwise become).
    pub int8: bool,
    /// Whisper's temperature fallback: when the decode's average log
    /// probability is below [`FALLBACK_LOGPROB`] (or it loops), decode again
    /// by sampling at each of these temperatures in turn (best of 5) and keep
    /// the most probable result. Empty = no fallback.
    pub fallback_temperatures: Vec<f32>,
    /// How much silence follows the utterance in the window the encoder
    /// sees. Whisper was trained on 30 s windows (`None`: the utterance
    /// padded to 30 s, the most accurate); `Some(s)`: the utterance plus `s`
    /// seconds, up to 30. The encoder's cost grows with the window, so a
    /// 2 s answer with 10 s of padding decodes in about a third of the time,
    /// for slightly more errors (docs/benchmarks.md). Default `Some(10.0)`.
    pub window_padding_secs: Option<f32>,
}

/// Average log probability under which a decode is retried (Whisper's value).
pub const FALLBACK_LOGPROB: f32 = -1.0;

impl Default for WhisperConfig {
    fn default() -> Self {
        Self {
            language: "zh".into(),
            prompt: None,
            beam_size: 5,
            threads: 0,
            int8: true,
            fallback_temperatures: Vec::new(),
            window_padding_secs: Some(10.0),
        }
    }
}

fn failed(message: impl std::fmt::Display) -> EngineError {
    EngineError::Failed {
        engine: ID.into(),
        message: message.to_string(),
    }
}

/// The loaded model, shared by every call (CTranslate2 queues concurrent
/// decodes internally).
struct Model {
    model: Ct2Whisper,
    tokenizer: Tokenizer,
    filters: Array2<f64>,
    prompt: Vec<String>,
    options: WhisperOptions,
    fallback: Vec<f32>,
    /// Frames of padding after the utterance (`None`: pad to 30 s).
    padding_frames: Option<usize>,
    /// Map Traditional characters to Simplified (Mandarin output).
    simplify: bool,
}

/// Whisper behind the [`Asr`] trait.
///
/// Load once per process; `clone()` is cheap and shares the model, giving
/// each call its own utterance buffer.
pub struct WhisperAsr {
    model: Arc<Model>,
    buffer: Vec<f32>,
}

impl Clone for WhisperAsr {
    fn clone(&self) -> Self {
        Self {
            model: Arc::clone(&self.model),
            buffer: Vec::new(),
        }
    }
}

impl std::fmt::Debug for WhisperAsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperAsr")
            .field("prompt", &self.model.prompt)
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

impl WhisperAsr {
    /// Loads and verifies the model under `models` (normally
    /// [`crate::models::models_dir`]).
    pub fn load(models: &Path, config: &WhisperConfig) -> Result<Self, EngineError> {
        let dir = check_model(
            models,
            WHISPER_BASE,
            &[
                "model.bin",
                "config.json",
                "tokenizer.json",
                "vocabulary.txt",
            ],
        )?;
        let ct2_config = Config {
            num_threads_per_replica: config.threads,
            compute_type: if config.int8 {
                ComputeType::INT8
            } else {
                ComputeType::DEFAULT
            },
            ..Config::default()
        };
        let model = Ct2Whisper::new(&dir, ct2_config).map_err(failed)?;
        let mut tokenizer = Tokenizer::new(&dir).map_err(failed)?;
        tokenizer.disable_spacial_token();
        let mut prompt = Vec::new();
        if let Some(p) = config.prompt.as_deref().filter(|p| !p.trim().is_empty()) {
            prompt.push("<|startofprev|>".to_string());
            // A leading space, as Whisper saw previous text during training.
            prompt.extend(
                tokenizer
                    .encode(&format!(" {}", p.trim()))
                    .map_err(failed)?,
            );
        }
        prompt.extend([
            "<|startoftranscript|>".to_string(),
            format!("<|{}|>", config.language),
            "<|transcribe|>".to_string(),
            "<|notimestamps|>".to_string(),
        ]);
        let options = WhisperOptions {
            beam_size: config.beam_size.max(1),
            return_scores: true,
            return_no_speech_prob: true,
            ..WhisperOptions::default()
        };
        let filters = mel(
            f64::from(SAMPLE_RATE),
            N_FFT,
            N_MELS,
            None,
            None,
            false,
            true,
        );
        Ok(Self {
            model: Arc::new(Model {
                model,
                tokenizer,
                filters,
                prompt,
                options,
                simplify: config.language == "zh",
                fallback: config.fallback_temperatures.clone(),
                padding_frames: config
                    .window_padding_secs
                    .map(|s| (s.clamp(0.0, 30.0) * SAMPLE_RATE as f32 / HOP as f32) as usize),
            }),
            buffer: Vec::new(),
        })
    }

    /// Transcribes a whole 16 kHz clip (any length; decoded in 30 s windows).
    pub fn transcribe(&self, samples: &[f32]) -> Result<Transcript, EngineError> {
        let m = &*self.model;
        let chunks: Vec<&[f32]> = samples.chunks(CHUNK_SAMPLES).collect();
        if chunks.is_empty() {
            return Ok(Transcript {
                is_final: true,
                ..Transcript::default()
            });
        }
        // The encoder's window: 30 s, or the longest chunk plus the padding
        // (an even number of frames: the encoder halves the frame count).
        let longest = chunks.iter().map(|c| c.len()).max().unwrap_or(0);
        let frames = m.padding_frames.map_or(CHUNK_FRAMES, |pad| {
            ((longest.div_ceil(HOP) + pad + 1) & !1).min(CHUNK_FRAMES)
        });
        let mut features = Array3::<f32>::zeros((chunks.len(), N_MELS, frames));
        for (c, chunk) in chunks.iter().enumerate() {
            features
                .slice_mut(s![c, .., ..])
                .assign(&log_mel_features(chunk, &m.filters).slice(s![.., ..frames]));
        }
        let shape = features.shape().to_vec();
        let data = features
            .as_slice_mut()
            .ok_or_else(|| failed("feature array is not contiguous"))?;
        let view = StorageView::new(&shape, data, Default::default()).map_err(failed)?;
        let prompts = vec![m.prompt.clone(); chunks.len()];
        // Bound the output by the audio length: Mandarin runs at about five
        // characters a second, so a decode that loops on a token (Whisper's
        // known failure on noise) stops early instead of running to 448.
        let secs = longest.div_ceil(SAMPLE_RATE as usize);
        let options = WhisperOptions {
            max_length: (m.prompt.len() + 16 + 15 * secs).min(448),
            ..m.options.clone()
        };
        let results = m
            .model
            .generate(&view, &prompts, &options)
            .map_err(failed)?;
        // (tokens, average log probability, no-speech probability) per chunk.
        let mut best: Vec<(Vec<String>, f32, f32)> = results
            .into_iter()
            .map(|r| {
                let score = r.scores.first().copied().unwrap_or(f32::NEG_INFINITY);
                let tokens = r.sequences.into_iter().next().unwrap_or_default();
                (tokens, score, r.no_speech_prob)
            })
            .collect();
        let weak = |b: &[(Vec<String>, f32, f32)]| {
            b.iter()
                .any(|(t, score, _)| *score < FALLBACK_LOGPROB || loops(t))
        };
        for &temperature in &m.fallback {
            if !weak(&best) {
                break;
            }
            let sampled = WhisperOptions {
                beam_size: 1,
                sampling_temperature: temperature,
                sampling_topk: 0,
                num_hypotheses: 5,
                ..options.clone()
            };
            let retry = m
                .model
                .generate(&view, &prompts, &sampled)
                .map_err(failed)?;
            for (slot, r) in best.iter_mut().zip(retry) {
                if slot.1 >= FALLBACK_LOGPROB && !loops(&slot.0) {
                    continue;
                }
                for (tokens, score) in r.sequences.into_iter().zip(r.scores) {
                    if score > slot.1 && !loops(&tokens) {
                        *slot = (tokens, score, slot.2);
                    }
                }
            }
        }

        let mut segments = Vec::new();
        for (c, ((tokens, score, no_speech_prob), chunk)) in
            best.into_iter().zip(&chunks).enumerate()
        {
            let confidence = score.exp().clamp(0.0, 1.0);
            if tokens.is_empty() {
                continue;
            }
            let text = m.tokenizer.decode(tokens).map_err(failed)?;
            let mut text = collapse_runs(text.trim(), MAX_RUN);
            if m.simplify {
                text = crate::simplify::to_simplified(&text);
            }
            // Whisper invents text ("谢谢观看") for silence; its own no-speech
            // estimate plus a weak score mark those.
            if text.is_empty() || (no_speech_prob > 0.6 && confidence < 0.5) {
                continue;
            }
            let start_ms = (c * CHUNK_SAMPLES) as u64 * 1000 / u64::from(SAMPLE_RATE);
            let end_ms = start_ms + chunk.len() as u64 * 1000 / u64::from(SAMPLE_RATE);
            segments.push(Segment {
                start_ms,
                end_ms,
                text,
                confidence,
            });
        }
        let text: String = segments.iter().map(|s| s.text.as_str()).collect();
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
}

/// log10 of the power floor Whisper uses (`clamp(min=1e-10)`): the value of
/// silence and of the zero padding after the audio.
const LOG_FLOOR: f64 = -10.0;

/// Whisper's input features for one window of up to 30 s: log10 mel power,
/// frames past the end of the audio treated as Whisper's zero padding, then
/// normalised over the whole window as Whisper was trained (clamped at the
/// window's maximum − 8, then `(x + 4) / 4`). Normalising each frame on its
/// own instead (what `mel_spec::norm_mel` does when given one frame) lifts
/// quiet frames and the empty 4–8 kHz band of telephone audio to the level
/// of speech.
fn log_mel_features(samples: &[f32], filters: &Array2<f64>) -> Array2<f32> {
    let mut logmel = Array2::<f64>::from_elem((N_MELS, CHUNK_FRAMES), LOG_FLOOR);
    let mut stft = Spectrogram::new(N_FFT, HOP);
    for (i, frame) in samples.chunks(HOP).enumerate().take(CHUNK_FRAMES) {
        if let Some(fft) = stft.add(frame) {
            let m = log_mel_spectrogram(&fft, filters);
            logmel.slice_mut(s![.., i]).assign(&m.slice(s![.., 0]));
        }
    }
    let max = logmel.fold(f64::NEG_INFINITY, |a, &x| a.max(x));
    let floor = max - 8.0;
    logmel.mapv(|x| ((x.max(floor) + 4.0) / 4.0) as f32)
}

/// Longest run of one repeated character kept ("对对对对" is speech, a
/// screen of "ＧＧＧＧ…" is a decoding loop).
const MAX_RUN: usize = 4;

/// A decode that repeats one token more than [`MAX_RUN`] times in a row.
fn loops(tokens: &[String]) -> bool {
    tokens
        .windows(MAX_RUN + 1)
        .any(|w| w.iter().all(|t| t == &w[0]))
}

/// Cuts runs of the same character longer than `max` down to `max`.
fn collapse_runs(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = None;
    let mut run = 0;
    for c in text.chars() {
        if Some(c) == last {
            run += 1;
        } else {
            last = Some(c);
            run = 1;
        }
        if run <= max {
            out.push(c);
        }
    }
    out
}

impl Asr for WhisperAsr {
    fn id(&self) -> &str {
        ID
    }

    fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }

    fn accept(&mut self, frame: &[f32]) -> Result<(), EngineError> {
        self.buffer.extend_from_slice(frame);
        Ok(())
    }

    fn partial(&mut self) -> Option<Transcript> {
        None
    }

    fn finish(&mut self) -> Result<Transcript, EngineError> {
        let samples = std::mem::take(&mut self.buffer);
        self.transcribe(&samples)
    }

    fn reset(&mut self) {
        self.buffer.clear();
    }

    fn snapshot(&self) -> Option<Decode> {
        let copy = WhisperAsr {
            model: Arc::clone(&self.model),
            buffer: Vec::new(),
        };
        let samples = self.buffer.clone();
        Some(Box::new(move || copy.transcribe(&samples)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_normalised_over_the_window_not_per_frame() {
        let filters = mel(
            f64::from(SAMPLE_RATE),
            N_FFT,
            N_MELS,
            None,
            None,
            false,
            true,
        );
        // One second of a loud tone, then one of near-silence.
        let mut samples: Vec<f32> = (0..16000)
            .map(|i| 0.5 * (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16000.0).sin())
            .collect();
        samples.extend(std::iter::repeat_n(1e-4f32, 16000));
        let f = log_mel_features(&samples, &filters);
        assert_eq!(f.shape(), &[N_MELS, CHUNK_FRAMES]);
        let max = f.fold(f32::NEG_INFINITY, |a, &x| a.max(x));
        let min = f.fold(f32::INFINITY, |a, &x| a.min(x));
        // Everything within 8 log10 units (2 after scaling) of the loudest value.
        assert!((max - min - 2.0).abs() < 1e-4, "{max} {min}");
        // The quiet second and the padding sit at the floor, far below the tone.
        let quiet = f[[10, 150]];
        let padding = f[[10, 2500]];
        assert!((padding - min).abs() < 1e-6);
        assert!(quiet < max - 1.0, "quiet {quiet} max {max}");
    }

    #[test]
    fn decoding_loops_are_cut() {
        assert_eq!(collapse_runs("听问ＧＧＧＧＧＧＧＧ", 4), "听问ＧＧＧＧ");
        assert_eq!(collapse_runs("对对对", 4), "对对对");
        assert_eq!(collapse_runs("", 4), "");
        let t = |s: &str| s.chars().map(|c| c.to_string()).collect::<Vec<_>>();
        assert!(loops(&t("听问GGGGGG")));
        assert!(!loops(&t("对对对对")));
    }
}
