//! Engines that fall back: try the primary (usually remote) engine and, when
//! it fails or times out, use the secondary (usually local) one, so a dead
//! server degrades quality instead of dropping the call.

use crate::audio::Audio;
use crate::engine::{Asr, AudioStream, EngineError, Transcript, Tts, TtsRequest, split_sentences};
use crate::resample::resample;

/// An [`Asr`] that keeps the utterance and, if the primary fails, decodes it
/// again with the fallback.
pub struct FallbackAsr {
    primary: Box<dyn Asr>,
    fallback: Box<dyn Asr>,
    utterance: Vec<f32>,
    failures: u64,
    last_error: Option<String>,
}

impl std::fmt::Debug for FallbackAsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackAsr")
            .field("primary", &self.primary.id())
            .field("fallback", &self.fallback.id())
            .field("failures", &self.failures)
            .finish()
    }
}

impl FallbackAsr {
    /// Primary first, fallback on error.
    pub fn new(primary: Box<dyn Asr>, fallback: Box<dyn Asr>) -> Self {
        Self {
            primary,
            fallback,
            utterance: Vec::new(),
            failures: 0,
            last_error: None,
        }
    }

    /// How many utterances the primary failed on.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// The primary's most recent error (for logs and health checks).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

impl Asr for FallbackAsr {
    fn id(&self) -> &str {
        self.primary.id()
    }

    fn sample_rate(&self) -> u32 {
        self.primary.sample_rate()
    }

    fn accept(&mut self, frame: &[f32]) -> Result<(), EngineError> {
        self.utterance.extend_from_slice(frame);
        self.primary.accept(frame)
    }

    fn partial(&mut self) -> Option<Transcript> {
        self.primary.partial()
    }

    fn finish(&mut self) -> Result<Transcript, EngineError> {
        let audio = std::mem::take(&mut self.utterance);
        match self.primary.finish() {
            Ok(t) => Ok(t),
            Err(e) => {
                self.failures += 1;
                self.last_error = Some(e.to_string());
                let samples = resample(
                    &audio,
                    self.primary.sample_rate(),
                    self.fallback.sample_rate(),
                )
                .map_err(|r| EngineError::InvalidInput(r.to_string()))?;
                self.fallback.reset();
                self.fallback.accept(&samples)?;
                self.fallback.finish()
            }
        }
    }

    fn reset(&mut self) {
        self.utterance.clear();
        self.primary.reset();
        self.fallback.reset();
    }

    /// The primary's: if that decode fails, the listener calls `finish`,
    /// which falls back as usual.
    fn snapshot(&self) -> Option<crate::engine::Decode> {
        self.primary.snapshot()
    }
}

/// A [`Tts`] that synthesises sentence by sentence with the primary and
/// switches to the fallback for the rest of the request once the primary
/// fails. Chunks are delivered at the primary's rate.
pub struct FallbackTts {
    primary: Box<dyn Tts>,
    fallback: Box<dyn Tts>,
    failures: u64,
    last_error: Option<String>,
}

impl std::fmt::Debug for FallbackTts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackTts")
            .field("primary", &self.primary.id())
            .field("fallback", &self.fallback.id())
            .field("failures", &self.failures)
            .finish()
    }
}

impl FallbackTts {
    /// Primary first, fallback on error.
    pub fn new(primary: Box<dyn Tts>, fallback: Box<dyn Tts>) -> Self {
        Self {
            primary,
            fallback,
            failures: 0,
            last_error: None,
        }
    }

    /// How many sentences the primary failed on.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// The primary's most recent error.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

impl Tts for FallbackTts {
    fn id(&self) -> &str {
        self.primary.id()
    }

    fn sample_rate(&self) -> u32 {
        self.primary.sample_rate()
    }

    fn voices(&self) -> Vec<String> {
        self.primary.voices()
    }

    fn synthesize(&mut self, request: &TtsRequest) -> Result<AudioStream<'_>, EngineError> {
        let sentences = split_sentences(&request.text);
        if sentences.is_empty() {
            return Err(EngineError::InvalidInput("nothing to say".into()));
        }
        let rate = self.primary.sample_rate();
        let request = request.clone();
        let mut use_fallback = false;
        let this = self;
        Ok(Box::new(sentences.into_iter().map(move |sentence| {
            let mut r = request.clone();
            r.text = sentence;
            if !use_fallback {
                match this.primary.synthesize_all(&r) {
                    Ok(a) => return Ok(a),
                    Err(e) => {
                        this.failures += 1;
                        this.last_error = Some(e.to_string());
                        use_fallback = true;
                    }
                }
            }
            // The fallback has its own voices; the primary's voice name may not exist there.
            r.voice = None;
            let a = this.fallback.synthesize_all(&r)?;
            let samples = resample(&a.samples, a.sample_rate, rate)
                .map_err(|e| EngineError::InvalidInput(e.to_string()))?;
            Ok(Audio::new(rate, samples))
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails (or succeeds) with a fixed text/level.
    struct Fake {
        id: &'static str,
        rate: u32,
        fail: bool,
        heard: usize,
    }

    impl Asr for Fake {
        fn id(&self) -> &str {
            self.id
        }
        fn sample_rate(&self) -> u32 {
            self.rate
        }
        fn accept(&mut self, frame: &[f32]) -> Result<(), EngineError> {
            self.heard += frame.len();
            Ok(())
        }
        fn partial(&mut self) -> Option<Transcript> {
            None
        }
        fn finish(&mut self) -> Result<Transcript, EngineError> {
            let heard = std::mem::take(&mut self.heard);
            if self.fail {
                return Err(EngineError::Timeout {
                    engine: self.id.into(),
                    ms: 5,
                });
            }
            Ok(Transcript {
                text: format!("{}:{heard}", self.id),
                confidence: 1.0,
                segments: vec![],
                is_final: true,
            })
        }
        fn reset(&mut self) {
            self.heard = 0;
        }
    }

    impl Tts for Fake {
        fn id(&self) -> &str {
            self.id
        }
        fn sample_rate(&self) -> u32 {
            self.rate
        }
        fn voices(&self) -> Vec<String> {
            vec![]
        }
        fn synthesize(&mut self, r: &TtsRequest) -> Result<AudioStream<'_>, EngineError> {
            if self.fail || (self.id == "remote" && r.text.contains('坏')) {
                return Err(EngineError::Failed {
                    engine: self.id.into(),
                    message: "down".into(),
                });
            }
            let n = self.rate as usize / 10;
            Ok(Box::new(std::iter::once(Ok(Audio::new(
                self.rate,
                vec![0.1; n],
            )))))
        }
    }

    fn fake(id: &'static str, rate: u32, fail: bool) -> Box<Fake> {
        Box::new(Fake {
            id,
            rate,
            fail,
            heard: 0,
        })
    }

    #[test]
    fn asr_uses_primary_when_it_works() {
        let mut a = FallbackAsr::new(fake("remote", 16000, false), fake("local", 16000, false));
        a.accept(&[0.0; 320]).expect("accept");
        assert_eq!(a.finish().expect("finish").text, "remote:320");
        assert_eq!(a.failures(), 0);
    }

    #[test]
    fn asr_falls_back_with_the_same_audio_resampled() {
        let mut a = FallbackAsr::new(fake("remote", 16000, true), fake("local", 8000, false));
        for _ in 0..10 {
            a.accept(&[0.0; 320]).expect("accept");
        }
        assert_eq!(a.finish().expect("fallback").text, "local:1600");
        assert_eq!(a.failures(), 1);
        assert!(a.last_error().expect("error").contains("timed out"));
        // The next utterance starts empty.
        a.accept(&[0.0; 320]).expect("accept");
        assert_eq!(a.finish().expect("fallback").text, "local:160");
    }

    #[test]
    fn tts_switches_to_fallback_after_the_first_failure() {
        let mut t = FallbackTts::new(fake("remote", 24000, false), fake("local", 16000, false));
        let chunks: Vec<Audio> = t
            .synthesize(&TtsRequest::new("第一句。第二句坏了。第三句。").voice("alloy"))
            .expect("stream")
            .collect::<Result<_, _>>()
            .expect("chunks");
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|c| c.sample_rate == 24000));
        assert!(chunks.iter().all(|c| c.samples.len() == 2400));
        assert_eq!(t.failures(), 1);
        assert!(t.synthesize(&TtsRequest::new(" ")).is_err());
    }
}
