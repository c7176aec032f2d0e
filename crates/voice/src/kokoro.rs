//! Local Mandarin/English synthesis with Kokoro-82M v1.0 (int8 ONNX) on
//! ONNX Runtime, loaded at run time from the installed PyPI library
//! (feature `kokoro`).
//!
//! Text → phonemes uses the `kokoro-tts` crate's Mandarin G2P (jieba +
//! pinyin → IPA); the network runs here synchronously through `ort`, one
//! sentence per chunk so playout can start after the first sentence.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::Tensor;

use crate::audio::Audio;
use crate::engine::{AudioStream, EngineError, Tts, TtsRequest, split_sentences};
use crate::models::{KOKORO, check_model};

/// Kokoro's output rate.
pub const SAMPLE_RATE: u32 = 24_000;
/// Style vectors per voice file (one per possible token count).
const STYLES: usize = 510;
const STYLE_DIM: usize = 256;
/// The longest token sequence the model accepts, padding excluded.
const MAX_TOKENS: usize = 500;
/// Engine id, part of the TTS cache key: `+tn1` names the text normalisation
/// ([`crate::numbers::spell_numbers`]), so a change to it invalidates
/// prompts rendered before.
const ID: &str = "kokoro-82m-v1.0-int8+tn1";
/// The voice used when a request names none.
pub const DEFAULT_VOICE: &str = "zf_xiaoxiao";

fn failed(message: impl std::fmt::Display) -> EngineError {
    EngineError::Failed {
        engine: ID.into(),
        message: message.to_string(),
    }
}

/// The loaded model and voices, shared by every call.
struct Inner {
    /// `ort` runs need `&mut Session`; calls take turns (synthesis of
    /// scripted prompts mostly comes from the cache anyway).
    session: Mutex<Session>,
    token_input: String,
    voices: HashMap<String, Vec<f32>>,
}

/// Kokoro behind the [`Tts`] trait.
///
/// Load once per process; `clone()` is cheap and shares the model.
#[derive(Clone)]
pub struct Kokoro {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Kokoro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kokoro")
            .field("voices", &self.inner.voices.len())
            .finish()
    }
}

impl Kokoro {
    /// Loads the model, the runtime and the Mandarin voices from `models`
    /// (normally [`crate::models::models_dir`]), verifying them first.
    pub fn load(models: &Path) -> Result<Self, EngineError> {
        crate::onnx::init(models)?;
        let dir = check_model(models, KOKORO, &["kokoro-v1.0.int8.onnx"])?;
        let session = Session::builder()
            .map_err(failed)?
            .commit_from_file(dir.join("kokoro-v1.0.int8.onnx"))
            .map_err(failed)?;
        let token_input = session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .find(|n| n == "tokens" || n == "input_ids")
            .ok_or_else(|| failed("model has no `tokens` input"))?;
        let mut voices = HashMap::new();
        let entries = std::fs::read_dir(dir.join("voices")).map_err(failed)?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let bytes = std::fs::read(&path).map_err(failed)?;
            if bytes.len() != STYLES * STYLE_DIM * 4 {
                return Err(EngineError::ModelMissing {
                    what: KOKORO.into(),
                    detail: format!("{} has an unexpected size", path.display()),
                    install: crate::models::install_command(KOKORO),
                });
            }
            let floats = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            voices.insert(name.to_string(), floats);
        }
        if !voices.contains_key(DEFAULT_VOICE) {
            return Err(EngineError::ModelMissing {
                what: KOKORO.into(),
                detail: format!("voice {DEFAULT_VOICE} is missing"),
                install: crate::models::install_command(KOKORO),
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                session: Mutex::new(session),
                token_input,
                voices,
            }),
        })
    }

    /// Synthesises one sentence.
    fn sentence(&self, text: &str, voice: &str, speed: f32) -> Result<Vec<f32>, EngineError> {
        let inner = &*self.inner;
        let text = crate::numbers::spell_numbers(text);
        let phonemes = kokoro_tts::g2p(&text, false).map_err(|e| failed(format!("{e:?}")))?;
        let mut out = Vec::new();
        for piece in phoneme_pieces(&phonemes) {
            let ids = kokoro_tts::get_token_ids(&piece, false);
            // ids carries a 0 pad at each end; the style is chosen by the real length.
            let n = ids.len().saturating_sub(2);
            if n == 0 {
                continue;
            }
            let style_vec = inner
                .voices
                .get(voice)
                .ok_or_else(|| EngineError::InvalidInput(format!("unknown voice {voice}")))?;
            let at = n.min(STYLES - 1) * STYLE_DIM;
            let style = style_vec
                .get(at..at + STYLE_DIM)
                .ok_or_else(|| failed("voice file too short"))?
                .to_vec();
            let len = ids.len();
            let tokens = Tensor::from_array(([1usize, len], ids)).map_err(failed)?;
            let style = Tensor::from_array(([1usize, STYLE_DIM], style)).map_err(failed)?;
            let speed = Tensor::from_array(([1usize], vec![speed])).map_err(failed)?;
            let mut session = inner
                .session
                .lock()
                .map_err(|_| failed("a previous synthesis panicked"))?;
            let outputs = session
                .run(ort::inputs![
                    inner.token_input.as_str() => tokens,
                    "style" => style,
                    "speed" => speed,
                ])
                .map_err(failed)?;
            let audio = outputs
                .values()
                .next()
                .ok_or_else(|| failed("model produced no output"))?;
            let (_, audio) = audio.try_extract_tensor::<f32>().map_err(failed)?;
            out.extend_from_slice(audio);
        }
        Ok(out)
    }
}

/// Cuts a phoneme string into pieces the model accepts, at spaces.
fn phoneme_pieces(phonemes: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut cur = String::new();
    for word in phonemes.split_inclusive(' ') {
        if cur.chars().count() + word.chars().count() > MAX_TOKENS && !cur.is_empty() {
            pieces.push(std::mem::take(&mut cur));
        }
        cur.push_str(word);
    }
    if !cur.trim().is_empty() {
        pieces.push(cur);
    }
    pieces
}

impl Tts for Kokoro {
    fn id(&self) -> &str {
        ID
    }

    fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }

    fn voices(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.voices.keys().cloned().collect();
        v.sort();
        // The default first, as the trait promises.
        v.retain(|n| n != DEFAULT_VOICE);
        v.insert(0, DEFAULT_VOICE.to_string());
        v
    }

    fn synthesize(&mut self, request: &TtsRequest) -> Result<AudioStream<'_>, EngineError> {
        let sentences = split_sentences(&request.text);
        if sentences.is_empty() {
            return Err(EngineError::InvalidInput("nothing to say".into()));
        }
        let voice = request
            .voice
            .clone()
            .unwrap_or_else(|| DEFAULT_VOICE.to_string());
        if !self.inner.voices.contains_key(&voice) {
            return Err(EngineError::InvalidInput(format!(
                "unknown voice {voice}; available: {}",
                self.voices().join(", ")
            )));
        }
        if !(0.5..=2.0).contains(&request.speed) {
            return Err(EngineError::InvalidInput(format!(
                "speed {} is outside 0.5..=2.0",
                request.speed
            )));
        }
        let speed = request.speed;
        Ok(Box::new(sentences.into_iter().map(move |s| {
            self.sentence(&s, &voice, speed)
                .map(|samples| Audio::new(SAMPLE_RATE, samples))
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_phoneme_strings_are_cut_at_spaces() {
        let long = "ab ".repeat(400);
        let pieces = phoneme_pieces(&long);
        assert!(pieces.len() >= 3);
        assert!(pieces.iter().all(|p| p.chars().count() <= MAX_TOKENS));
        assert_eq!(pieces.concat(), long);
        assert!(phoneme_pieces("  ").is_empty());
    }
}
