//! Engine traits: what the live pipeline needs from a recogniser, a
//! synthesiser, a denoiser and a voice-activity detector.
//!
//! They are synchronous and object-safe on purpose: the call pipeline runs
//! them on a blocking worker thread per call and holds them as `Box<dyn _>`,
//! so a deployment can swap a local engine for a remote one (or a test fake)
//! without the pipeline knowing.

use crate::audio::Audio;

/// A failure inside an engine. The pipeline logs it and falls back (another
/// engine, a scripted "sorry, please repeat", or a transfer).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine's model files are missing or unreadable; `install` says how to fix it.
    #[error("{what} is not installed or is damaged ({detail}); install it with `{install}`")]
    ModelMissing {
        /// Which model.
        what: String,
        /// What was found to be wrong (path, checksum).
        detail: String,
        /// The command that installs it.
        install: String,
    },
    /// The input was unusable (wrong rate, empty text, unknown voice).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A remote engine did not answer in time.
    #[error("{engine} timed out after {ms} ms")]
    Timeout {
        /// Engine id.
        engine: String,
        /// The limit that passed.
        ms: u64,
    },
    /// Anything else (inference failure, HTTP error, malformed response).
    #[error("{engine}: {message}")]
    Failed {
        /// Engine id.
        engine: String,
        /// What happened.
        message: String,
    },
}

/// One recognised stretch of speech with its timing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Segment {
    /// Start, milliseconds from the start of the utterance.
    pub start_ms: u64,
    /// End, milliseconds from the start of the utterance.
    pub end_ms: u64,
    /// Recognised text.
    pub text: String,
    /// 0.0 (a guess) to 1.0 (certain).
    pub confidence: f32,
}

/// A recognition result for one utterance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    /// The full text.
    pub text: String,
    /// 0.0 to 1.0; engines without a score report 1.0 for non-empty text.
    pub confidence: f32,
    /// Timed pieces of `text`, in order.
    pub segments: Vec<Segment>,
    /// True for a final result, false for a partial (may still change).
    pub is_final: bool,
}

/// Streaming speech recognition, one utterance at a time.
///
/// The pipeline feeds 20 ms frames at [`Asr::sample_rate`] while the caller
/// speaks, may poll [`Asr::partial`], and calls [`Asr::finish`] when the
/// endpointer says the turn is over. Non-streaming engines (Whisper) buffer
/// in `accept` and decode in `finish`.
pub trait Asr: Send {
    /// A stable identifier, e.g. `whisper-base-ct2`.
    fn id(&self) -> &str;
    /// The rate `accept` expects (16000 for Whisper).
    fn sample_rate(&self) -> u32;
    /// Adds audio to the current utterance.
    fn accept(&mut self, frame: &[f32]) -> Result<(), EngineError>;
    /// The best guess so far, if this engine produces partial results.
    fn partial(&mut self) -> Option<Transcript>;
    /// Ends the utterance, returns the final transcript and clears the buffer
    /// (also on error), ready for the next utterance.
    fn finish(&mut self) -> Result<Transcript, EngineError>;
    /// Drops the current utterance without decoding it.
    fn reset(&mut self);
    /// A decode of the utterance so far, to run on another thread while
    /// audio keeps arriving, leaving the utterance as it is (speculative
    /// end-of-turn decoding: the listener starts it when the caller pauses
    /// and uses it if the turn ends without more speech). `None` (the
    /// default) when the engine cannot decode a copy on its own.
    fn snapshot(&self) -> Option<Decode> {
        None
    }
}

/// A recognition job detached from its engine (see [`Asr::snapshot`]).
pub type Decode = Box<dyn FnOnce() -> Result<Transcript, EngineError> + Send>;

/// What to synthesise and how.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsRequest {
    /// The text (Mandarin and/or English).
    pub text: String,
    /// Voice name; `None` uses the engine's default.
    pub voice: Option<String>,
    /// Speaking rate, 1.0 = normal.
    pub speed: f32,
}

impl TtsRequest {
    /// A request with the default voice at normal speed.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            voice: None,
            speed: 1.0,
        }
    }

    /// Chooses a voice.
    #[must_use]
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }

    /// Chooses a speed.
    #[must_use]
    pub fn speed(mut self, speed: f32) -> Self {
        self.speed = speed;
        self
    }
}

/// A stream of synthesised audio chunks (typically one per sentence), so
/// playout can start before a long answer is fully rendered.
pub type AudioStream<'a> = Box<dyn Iterator<Item = Result<Audio, EngineError>> + Send + 'a>;

/// Text to speech.
pub trait Tts: Send {
    /// A stable identifier, e.g. `kokoro-82m-int8`; part of the cache key.
    fn id(&self) -> &str;
    /// The rate of the chunks this engine yields.
    fn sample_rate(&self) -> u32;
    /// Voices this engine offers (the first is the default).
    fn voices(&self) -> Vec<String>;
    /// Starts synthesis; chunks arrive as they are rendered.
    fn synthesize(&mut self, request: &TtsRequest) -> Result<AudioStream<'_>, EngineError>;

    /// Convenience: synthesises everything and joins the chunks.
    fn synthesize_all(&mut self, request: &TtsRequest) -> Result<Audio, EngineError> {
        let rate = self.sample_rate();
        let id = self.id().to_string();
        let mut out = Audio::new(rate, Vec::new());
        for chunk in self.synthesize(request)? {
            let chunk = chunk?;
            if chunk.sample_rate == rate {
                out.samples.extend(chunk.samples);
            } else {
                let converted = crate::resample::resample(&chunk.samples, chunk.sample_rate, rate)
                    .map_err(|e| EngineError::Failed {
                        engine: id.clone(),
                        message: e.to_string(),
                    })?;
                out.samples.extend(converted);
            }
        }
        Ok(out)
    }
}

/// Noise suppression on a mono stream.
pub trait Denoiser: Send {
    /// The rate `process` expects and returns.
    fn sample_rate(&self) -> u32;
    /// Denoises a piece of audio. Output may lag input by a fixed delay, so
    /// its length may differ per call; over a stream the totals match.
    fn process(&mut self, samples: &[f32]) -> Vec<f32>;
    /// Clears internal state (new call).
    fn reset(&mut self);
}

/// Voice-activity detection, one 20 ms frame at a time.
pub trait Vad: Send {
    /// The rate of the frames it expects.
    fn sample_rate(&self) -> u32;
    /// Speech probability of one frame, 0.0 to 1.0 (≥ 0.5 means speech).
    fn speech_probability(&mut self, frame: &[f32]) -> f32;
    /// Convenience: `speech_probability(frame) >= 0.5`.
    fn is_speech(&mut self, frame: &[f32]) -> bool {
        self.speech_probability(frame) >= 0.5
    }
    /// Clears adaptive state (new call).
    fn reset(&mut self);
}

/// Splits text into sentences for sentence-by-sentence synthesis: breaks
/// after Chinese and Western sentence punctuation, keeps the punctuation,
/// drops empty pieces. Long sentences without punctuation stay whole.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        cur.push(c);
        let ends = matches!(c, '。' | '！' | '？' | '；' | '!' | '?' | ';' | '\n' | '…')
            // A '.' ends a sentence only before whitespace or the end (not in 3.5).
            || (c == '.' && chars.peek().is_none_or(|n| n.is_whitespace()));
        if ends {
            // Keep runs of closing punctuation/quotes with the sentence.
            while let Some(&n) = chars.peek() {
                if matches!(
                    n,
                    '。' | '！' | '？' | '!' | '?' | '”' | '’' | '"' | '」' | '…'
                ) {
                    cur.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            let t = cur.trim();
            if !t.is_empty() {
                out.push(t.to_string());
            }
            cur.clear();
        }
    }
    let t = cur.trim();
    if !t.is_empty() {
        out.push(t.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_on_chinese_and_western_punctuation() {
        assert_eq!(
            split_sentences("您好！我是小王。请问您现在方便吗？好的"),
            ["您好！", "我是小王。", "请问您现在方便吗？", "好的"]
        );
        assert_eq!(
            split_sentences("Price is 3.5 yuan. OK?! Bye"),
            ["Price is 3.5 yuan.", "OK?!", "Bye"]
        );
        assert!(split_sentences("  。 ").iter().all(|s| s == "。"));
        assert!(split_sentences("").is_empty());
    }

    struct Beep;
    impl Tts for Beep {
        fn id(&self) -> &str {
            "beep"
        }
        fn sample_rate(&self) -> u32 {
            16000
        }
        fn voices(&self) -> Vec<String> {
            vec!["a".into()]
        }
        fn synthesize(&mut self, r: &TtsRequest) -> Result<AudioStream<'_>, EngineError> {
            let n = r.text.chars().count();
            // One chunk at the engine rate and one at 8 kHz, to exercise resampling.
            Ok(Box::new(
                [
                    Ok(Audio::new(16000, vec![0.1; 160 * n])),
                    Ok(Audio::new(8000, vec![0.1; 80 * n])),
                ]
                .into_iter(),
            ))
        }
    }

    #[test]
    fn synthesize_all_joins_and_resamples_chunks() {
        let mut t: Box<dyn Tts> = Box::new(Beep);
        let a = t
            .synthesize_all(&TtsRequest::new("你好").voice("a").speed(1.2))
            .expect("tts");
        assert_eq!(a.sample_rate, 16000);
        assert_eq!(a.samples.len(), 320 + 320);
    }
}
