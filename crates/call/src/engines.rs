//! The speech engines a call uses, shared by all calls of a process.
//!
//! Real deployments plug in Kokoro/Whisper (features `kokoro`, `whisper`),
//! remote engines or a fallback chain, all as `Box<dyn Tts>` / `Box<dyn Asr>`.
//! When a process has no engine at all, [`ToneTts`] and [`NoAsr`] keep the
//! telephony path working (calls are answered, prompts are audible as a
//! tone pattern of the right length, DTMF works) and say so in the logs.

use std::sync::{Arc, Mutex};

use voice::{Asr, Audio, AudioStream, EngineError, Transcript, Tts, TtsRequest};

/// Makes a recogniser for a new call.
pub type AsrFactory = Arc<dyn Fn() -> Result<Box<dyn Asr>, EngineError> + Send + Sync>;

/// The engines calls share.
#[derive(Clone)]
pub struct Engines {
    pub asr: AsrFactory,
    /// One synthesiser shared by the calls (Kokoro calls take turns anyway);
    /// wrap it in `voice::CachedTts` so scripted prompts come from the cache.
    pub tts: Arc<Mutex<Box<dyn Tts>>>,
    /// The voice to speak with (engine default when `None`).
    pub voice: Option<String>,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engines")
            .field("voice", &self.voice)
            .finish()
    }
}

impl Engines {
    /// Engines from a TTS and an ASR factory.
    pub fn new(tts: Box<dyn Tts>, asr: AsrFactory) -> Self {
        Self {
            asr,
            tts: Arc::new(Mutex::new(tts)),
            voice: None,
        }
    }

    /// The stand-ins used when nothing else is available.
    pub fn placeholder() -> Self {
        Self::new(
            Box::new(ToneTts),
            Arc::new(|| Ok(Box::new(NoAsr) as Box<dyn Asr>)),
        )
    }
}

/// A synthesiser stand-in: 120 ms of a 440/660 Hz tone pair per character,
/// so a prompt is audible and as long as it would roughly be spoken.
#[derive(Debug, Clone, Copy)]
pub struct ToneTts;

impl Tts for ToneTts {
    fn id(&self) -> &str {
        "tone"
    }
    fn sample_rate(&self) -> u32 {
        8000
    }
    fn voices(&self) -> Vec<String> {
        vec!["tone".into()]
    }
    fn synthesize(&mut self, request: &TtsRequest) -> Result<AudioStream<'_>, EngineError> {
        let chunks: Vec<Result<Audio, EngineError>> = voice::engine::split_sentences(&request.text)
            .into_iter()
            .map(|s| {
                let n = s.chars().filter(|c| !c.is_whitespace()).count().max(1);
                let mut samples = Vec::with_capacity(n * 960);
                for i in 0..n {
                    let f = if i % 2 == 0 { 440.0 } else { 660.0 };
                    samples.extend(voice::testsignal::tone(f, 8000, 100, 0.3));
                    samples.extend(voice::testsignal::silence(8000, 20));
                }
                Ok(Audio::new(8000, samples))
            })
            .collect();
        Ok(Box::new(chunks.into_iter()))
    }
}

/// A recogniser stand-in that hears nothing: every turn fails with a clear error.
#[derive(Debug, Clone, Copy)]
pub struct NoAsr;

impl Asr for NoAsr {
    fn id(&self) -> &str {
        "none"
    }
    fn sample_rate(&self) -> u32 {
        8000
    }
    fn accept(&mut self, _frame: &[f32]) -> Result<(), EngineError> {
        Ok(())
    }
    fn partial(&mut self) -> Option<Transcript> {
        None
    }
    fn finish(&mut self) -> Result<Transcript, EngineError> {
        Err(EngineError::Failed {
            engine: "none".into(),
            message: "no speech recogniser is configured (build with --features whisper, or configure a remote engine)".into(),
        })
    }
    fn reset(&mut self) {}
}
