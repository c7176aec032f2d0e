//! Audio for Tonghua's phone calls.
//!
//! The voice path of a call is
//! `RTP → jitter → decode → denoise → VAD → ASR → core → TTS → playout → RTP`;
//! this crate owns the audio pieces of it, and depends on nothing else of ours:
//!
//! * [`g711`] — µ-law / A-law codecs (pure functions).
//! * [`resample`] — 8/16/24/48 kHz (and any other rate) conversion.
//! * [`wav`] — WAV read (any rate, mono/stereo, PCM/float/G.711) and write.
//! * [`frame`] — 20 ms framing.
//! * [`vad`] — a pure-Rust energy/zero-crossing voice-activity detector.
//! * [`endpoint`] — end-of-turn and barge-in decisions.
//! * [`listener`] — denoise → VAD → endpointer → ASR and barge-in, assembled per call.
//! * [`playout`] — the flushable queue between TTS and RTP.
//! * [`denoise`] — RNNoise noise suppression.
//! * [`engine`] — the traits every ASR/TTS/denoise/VAD engine implements.
//! * [`engines`] — load engines once, get per-call listener/playout/ASR/TTS.
//! * [`cache`] — the on-disk, content-addressed cache of synthesised prompts.
//! * [`remote`] — clients for OpenAI-compatible `/v1/audio/transcriptions`
//!   and `/v1/audio/speech` servers (feature `remote`, on by default).
//! * `whisper` — local Whisper base recognition (feature `whisper`).
//! * `kokoro` — local Kokoro-82M synthesis (feature `kokoro`).
//! * `gtcrn` — GTCRN noise suppression on ONNX Runtime (feature `gtcrn`).
//! * `onnx` — loading the installed ONNX Runtime once (features `kokoro`, `gtcrn`).
//! * [`numbers`] — Arabic numbers spelt out for synthesis; numerals to digits for scoring.
//! * [`simplify`] — Traditional → Simplified characters for recognised text.
//! * [`models`] — where installed model files live; the missing-model check.
//! * [`fallback`] — try one engine, fall back to another on error or time-out.
//! * [`cer`] — character error rate for tests and benchmarks.
//! * [`cli`] — the work behind `tonghua asr` and `tonghua tts`.
//! * [`testsignal`] — deterministic synthetic signals for tests and benchmarks.
//!
//! ```
//! use voice::{Endpointer, EndpointConfig, EndpointEvent, EnergyVad, Law, Vad};
//! use voice::{audio, frame, testsignal};
//!
//! // 8 kHz A-law from the line → samples → 20 ms frames → VAD → endpointer.
//! let mut speech = testsignal::silence(8000, 400);
//! speech.extend(testsignal::speech_like(8000, 5, 220, 60, 0.3));
//! speech.extend(testsignal::silence(8000, 1000));
//! let payload = Law::Alaw.encode(&audio::f32_to_i16(&speech));
//! let samples = audio::i16_to_f32(&Law::Alaw.decode(&payload));
//!
//! let mut vad = EnergyVad::new(8000);
//! let mut turns = Endpointer::new(EndpointConfig::default());
//! let mut events = Vec::new();
//! for (i, f) in frame::frames(&samples, 8000).iter().enumerate() {
//!     events.extend(turns.push(i as u64 * 20, 20, vad.is_speech(f)));
//! }
//! assert!(matches!(events.as_slice(), [
//!     EndpointEvent::SpeechStarted { .. },
//!     EndpointEvent::SpeechEnded { .. },
//! ]));
//! ```
//!
//! Invariants:
//! * The codecs, framer, VAD, endpointer and barge-in detector are sans-IO
//!   and deterministic: no clock, no threads, no randomness; the same input
//!   always gives the same output. Time enters only as frame timestamps.
//! * Nothing here downloads anything, ever. Model-backed engines load files
//!   installed ahead of time and fail with an error naming the install command.
//! * Samples are mono `f32` in `[-1, 1]` inside the crate; `i16` appears only
//!   at the codec and file edges. Input audio never causes a panic.
//! * Engine traits are synchronous and object-safe: the call pipeline runs them
//!   on a blocking worker and holds them as `Box<dyn _>`.

pub mod audio;
pub mod cache;
pub mod cer;
pub mod cli;
pub mod denoise;
pub mod endpoint;
pub mod engine;
pub mod engines;
pub mod fallback;
pub mod frame;
pub mod g711;
#[cfg(feature = "gtcrn")]
pub mod gtcrn;
#[cfg(feature = "kokoro")]
pub mod kokoro;
pub mod listener;
pub mod models;
pub mod numbers;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod playout;
#[cfg(feature = "remote")]
pub mod remote;
pub mod resample;
pub mod simplify;
pub mod testsignal;
pub mod vad;
pub mod wav;
#[cfg(feature = "whisper")]
pub mod whisper;

pub use audio::Audio;
pub use cache::{CachedTts, TtsCache};
pub use denoise::Rnnoise;
pub use endpoint::{
    BargeInConfig, BargeInDetector, BargeInEvent, BargeInPolicy, EndReason, EndpointConfig,
    EndpointEvent, Endpointer, IgnoreReason, PauseKind,
};
pub use engine::{
    Asr, AudioStream, Decode, Denoiser, EngineError, Segment, Transcript, Tts, TtsRequest, Vad,
};
pub use engines::{CallVoice, Engines};
pub use g711::Law;
pub use listener::{Listener, ListenerConfig, ListenerEvent, SpeculationStats};
pub use playout::{Playout, PlayoutEvent};
pub use vad::{EnergyVad, EnergyVadConfig};
