//! Offline understanding of what a customer wrote or said, in Chinese and English.
//!
//! This crate is the language layer of the Tonghua phone robot: it segments
//! text ([`Segmenter`]), classifies intents learned from example utterances
//! plus keyword/regex rules ([`IntentModel`]), retrieves FAQ entries with a
//! calibrated confidence and out-of-scope rejection ([`FaqIndex`]), scores
//! negative emotion and escalation ([`EmotionModel`]), and extracts entities
//! ([`entities`]: yes/no, numbers, money, phone numbers, dates and times).
//! [`cli`] holds the JSON Lines contract behind `tonghua nlu ...`.
//!
//! Pure and deterministic: no IO beyond reading model/training files handed in
//! by the caller (see [`cli`]), no clock (dates are resolved against a
//! reference time the caller passes), no randomness that is not seeded. The
//! only shared state is the immutable built-in jieba dictionary, loaded once.
//! Every model is immutable after it is built and is `Send + Sync`, so one
//! compiled model serves many concurrent conversations.
//!
//! Optional semantic matching: with the `semantic` cargo feature and the
//! model installed by `scripts/install-models.sh`
//! (`${TONGHUA_MODELS:-$HOME/.cache/tonghua/models}`), [`FaqIndex::with_embedder`]
//! re-ranks FAQ candidates with multilingual-e5-small sentence embeddings
//! (see [`semantic`]). Without the feature or the model everything works
//! lexically. Measured quality and latency: `docs/benchmarks.md`.

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
pub use faq::{Calibration, FaqConfig, FaqEntry, FaqHit, FaqIndex, FaqLink, FaqResult};
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
