//! Load the engines once per process, hand out per-call instances.
//!
//! A server loads [`Engines`] at start (the local models take seconds and
//! hundreds of MiB) and, for every call, asks it for what that call needs:
//! [`Engines::call`] gives a [`CallVoice`] with its own [`Listener`] (denoise
//! → VAD → endpointer → ASR), [`Playout`] and [`Tts`]. Per-call instances
//! share the loaded models; each has only its own buffers.
//!
//! ```
//! use voice::engines::Engines;
//! use voice::{Asr, EngineError, Transcript, Tts, TtsRequest, AudioStream};
//!
//! // Any engines work; here two trivial ones (see `load_local` for Whisper + Kokoro).
//! #[derive(Clone)]
//! struct Deaf;
//! impl Asr for Deaf {
//!     fn id(&self) -> &str { "deaf" }
//!     fn sample_rate(&self) -> u32 { 16000 }
//!     fn accept(&mut self, _: &[f32]) -> Result<(), EngineError> { Ok(()) }
//!     fn partial(&mut self) -> Option<Transcript> { None }
//!     fn finish(&mut self) -> Result<Transcript, EngineError> { Ok(Transcript::default()) }
//!     fn reset(&mut self) {}
//! }
//! #[derive(Clone)]
//! struct Mute;
//! impl Tts for Mute {
//!     fn id(&self) -> &str { "mute" }
//!     fn sample_rate(&self) -> u32 { 16000 }
//!     fn voices(&self) -> Vec<String> { vec!["none".into()] }
//!     fn synthesize(&mut self, _: &TtsRequest) -> Result<AudioStream<'_>, EngineError> {
//!         Ok(Box::new(std::iter::empty()))
//!     }
//! }
//!
//! let engines = Engines::from_prototypes(Deaf, Mute);
//! let call = engines.call(8000).expect("8 kHz is supported");
//! assert!(call.playout.is_idle());
//! ```

use std::sync::{Arc, Mutex};

use crate::cache::{CachedTts, TtsCache};
use crate::denoise::Rnnoise;
use crate::engine::{Asr, Denoiser, Tts};
use crate::listener::{Listener, ListenerConfig};
use crate::playout::Playout;
use crate::resample::ResampleError;
use crate::vad::EnergyVad;

type AsrFactory = Arc<dyn Fn() -> Box<dyn Asr> + Send + Sync>;
type TtsFactory = Arc<dyn Fn() -> Box<dyn Tts> + Send + Sync>;

/// Loaded engines; cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct Engines {
    asr: AsrFactory,
    tts: TtsFactory,
    tts_cache: Option<TtsCache>,
    listener: ListenerConfig,
    denoise: bool,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engines")
            .field("tts_cache", &self.tts_cache)
            .field("denoise", &self.denoise)
            .finish()
    }
}

/// What one call needs: its listening half, its playout queue and a speaker.
pub struct CallVoice {
    /// Denoise → VAD → endpointer → ASR, with barge-in.
    pub listener: Listener,
    /// The flushable queue to RTP, at the line rate.
    pub playout: Playout,
    /// Synthesis (through the prompt cache when one is configured).
    pub tts: Box<dyn Tts>,
}

impl std::fmt::Debug for CallVoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallVoice")
            .field("listener", &self.listener)
            .field("tts", &self.tts.id())
            .finish()
    }
}

impl Engines {
    /// Engines from factories that make one instance per call (e.g. a
    /// closure that builds a [`crate::remote::RemoteAsr`] or clones a
    /// loaded model). RNNoise is on, no prompt cache, default listener.
    pub fn new(
        asr: impl Fn() -> Box<dyn Asr> + Send + Sync + 'static,
        tts: impl Fn() -> Box<dyn Tts> + Send + Sync + 'static,
    ) -> Self {
        Self {
            asr: Arc::new(asr),
            tts: Arc::new(tts),
            tts_cache: None,
            listener: ListenerConfig::default(),
            denoise: true,
        }
    }

    /// Engines whose per-call instances are clones of loaded ones (clones of
    /// [`crate::whisper::WhisperAsr`] and [`crate::kokoro::Kokoro`] share the
    /// model).
    pub fn from_prototypes<A, T>(asr: A, tts: T) -> Self
    where
        A: Asr + Clone + 'static,
        T: Tts + Clone + 'static,
    {
        let asr = Mutex::new(asr);
        let tts = Mutex::new(tts);
        Self::new(
            move || -> Box<dyn Asr> {
                let guard = asr
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                Box::new(guard.clone())
            },
            move || -> Box<dyn Tts> {
                let guard = tts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                Box::new(guard.clone())
            },
        )
    }

    /// Whisper base and Kokoro from `models` (normally
    /// [`crate::models::models_dir`]), verified and loaded once.
    #[cfg(all(feature = "whisper", feature = "kokoro"))]
    pub fn load_local(
        models: &std::path::Path,
        whisper: &crate::whisper::WhisperConfig,
    ) -> Result<Self, crate::engine::EngineError> {
        let tts = crate::kokoro::Kokoro::load(models)?;
        let asr = crate::whisper::WhisperAsr::load(models, whisper)?;
        Ok(Self::from_prototypes(asr, tts))
    }

    /// Serves repeated prompts from `cache` (see `tonghua tts warm`).
    pub fn with_tts_cache(mut self, cache: TtsCache) -> Self {
        self.tts_cache = Some(cache);
        self
    }

    /// Endpointing, barge-in and pre-roll settings for new listeners.
    pub fn with_listener_config(mut self, config: ListenerConfig) -> Self {
        self.listener = config;
        self
    }

    /// Whether new listeners denoise (RNNoise) before the VAD; on by default.
    pub fn with_denoise(mut self, on: bool) -> Self {
        self.denoise = on;
        self
    }

    /// A recogniser for one call.
    pub fn asr(&self) -> Box<dyn Asr> {
        (self.asr)()
    }

    /// A synthesiser for one call, through the prompt cache if there is one.
    pub fn tts(&self) -> Box<dyn Tts> {
        let tts = (self.tts)();
        match &self.tts_cache {
            Some(cache) => Box::new(CachedTts::new(tts, cache.clone())),
            None => tts,
        }
    }

    /// The prompt cache, if configured.
    pub fn tts_cache(&self) -> Option<&TtsCache> {
        self.tts_cache.as_ref()
    }

    /// A listener for a call leg whose audio arrives at `line_rate`.
    pub fn listener(&self, line_rate: u32) -> Result<Listener, ResampleError> {
        let denoiser: Option<Box<dyn Denoiser>> = if self.denoise {
            Some(Box::new(Rnnoise::new(line_rate)?))
        } else {
            None
        };
        Listener::new(
            line_rate,
            self.listener.clone(),
            denoiser,
            Box::new(EnergyVad::new(line_rate)),
            self.asr(),
        )
    }

    /// A playout queue producing 20 ms frames at `line_rate`.
    pub fn playout(&self, line_rate: u32) -> Playout {
        Playout::new(line_rate)
    }

    /// Everything one call leg needs.
    pub fn call(&self, line_rate: u32) -> Result<CallVoice, ResampleError> {
        Ok(CallVoice {
            listener: self.listener(line_rate)?,
            playout: self.playout(line_rate),
            tts: self.tts(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Audio;
    use crate::engine::{AudioStream, EngineError, Transcript, TtsRequest};
    use crate::listener::ListenerEvent;
    use crate::testsignal::{silence, speech_like};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Says how many samples it heard; counts how many instances exist.
    struct Counting {
        heard: usize,
    }
    impl Asr for Counting {
        fn id(&self) -> &str {
            "counting"
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
                text: format!("heard {}", n / 16000),
                confidence: 1.0,
                segments: vec![],
                is_final: true,
            })
        }
        fn reset(&mut self) {
            self.heard = 0;
        }
    }

    #[derive(Clone)]
    struct Tone {
        calls: Arc<AtomicUsize>,
    }
    impl Tts for Tone {
        fn id(&self) -> &str {
            "tone"
        }
        fn sample_rate(&self) -> u32 {
            16000
        }
        fn voices(&self) -> Vec<String> {
            vec!["a".into()]
        }
        fn synthesize(&mut self, _: &TtsRequest) -> Result<AudioStream<'_>, EngineError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let a = Audio::new(16000, speech_like(16000, 2, 100, 20, 0.2));
            Ok(Box::new(std::iter::once(Ok(a))))
        }
    }

    #[test]
    fn each_call_gets_its_own_listener_over_shared_factories() {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        let calls = Arc::new(AtomicUsize::new(0));
        let tone = Tone {
            calls: Arc::clone(&calls),
        };
        let engines = Engines::new(
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                Box::new(Counting { heard: 0 })
            },
            move || Box::new(tone.clone()),
        );
        let mut a = engines.call(8000).expect("call a");
        let mut b = engines.clone().call(8000).expect("call b");
        assert_eq!(made.load(Ordering::SeqCst), 2);

        // Call a hears a turn; call b hears only silence and says nothing.
        let mut speech = silence(8000, 300);
        speech.extend(speech_like(8000, 6, 200, 60, 0.3));
        speech.extend(silence(8000, 1500));
        let mut finals = Vec::new();
        for f in speech.chunks(160) {
            for ev in a.listener.push(f) {
                if let ListenerEvent::Final { transcript, .. } = ev {
                    finals.push(transcript.text);
                }
            }
            assert!(b.listener.push(&vec![0.0; 160]).is_empty());
        }
        assert_eq!(finals.len(), 1, "{finals:?}");

        // Playout is per call too, at the line rate.
        let clip = a
            .tts
            .synthesize_all(&TtsRequest::new("您好"))
            .expect("tone");
        a.playout.push(&clip, Some(1)).expect("push");
        assert!(!a.playout.is_idle());
        assert!(b.playout.is_idle());
        assert_eq!(a.playout.next_frame().0.len(), 160);
    }

    #[test]
    fn a_configured_cache_serves_repeated_prompts() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let calls = Arc::new(AtomicUsize::new(0));
        let tone = Tone {
            calls: Arc::clone(&calls),
        };
        let engines = Engines::from_prototypes(Counting { heard: 0 }, tone)
            .with_tts_cache(TtsCache::open(tmp.path()).expect("cache"));
        for _ in 0..3 {
            engines
                .tts()
                .synthesize_all(&TtsRequest::new("您好，请问方便吗？"))
                .expect("tts");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(engines.tts_cache().is_some());
        assert_eq!(engines.asr().id(), "counting");
    }

    impl Clone for Counting {
        fn clone(&self) -> Self {
            Counting { heard: 0 }
        }
    }
}
