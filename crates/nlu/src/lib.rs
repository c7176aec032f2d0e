//! Offline understanding of what a customer wrote or said, in Chinese and English.
//!
//! This crate is the language layer of the Tonghua phone robot: it segments
//! text, classifies intents (learned from examples plus keyword/regex rules),
//! retrieves FAQ entries, scores negative emotion and escalation, and extracts
//! entities (yes/no, numbers, money, phone numbers, dates and times).
//!
//! Pure and deterministic: no IO beyond reading model/training files handed in
//! by the caller (see [`cli`]), no clock (dates are resolved against a
//! reference time the caller passes), no randomness that is not seeded. The
//! only shared state is the immutable built-in jieba dictionary, loaded once.
//! Every model is immutable after it is built and is `Send + Sync`, so one
//! compiled model serves many concurrent conversations.

pub mod cli;
mod emotion;
pub mod entities;
mod error;
mod faq;
mod features;
mod intent;
mod linear;
mod segment;
pub mod semantic;
mod text;

pub use emotion::{Emotion, EmotionModel};
pub use error::NluError;
pub use faq::{Calibration, FaqConfig, FaqEntry, FaqHit, FaqIndex, FaqResult};
pub use features::FeatureSpec;
pub use intent::{IntentConfig, IntentExample, IntentModel, IntentResult, IntentRule};
pub use linear::TrainParams;
pub use segment::Segmenter;
pub use text::normalize;

#[cfg(test)]
mod tests {
    /// Compiled models are shared across concurrent conversations.
    #[test]
    fn models_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::Segmenter>();
        check::<crate::IntentModel>();
        check::<crate::FaqIndex>();
        check::<crate::EmotionModel>();
        check::<crate::semantic::Embedder>();
        check::<crate::NluError>();
    }
}
