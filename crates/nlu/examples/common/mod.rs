//! Helpers shared by the evaluation examples: data loading and
//! deterministic splits. Evaluation data is read by path from
//! `$TONGHUA_EVAL` (default `/work/shared/eval`), never copied.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn eval_dir() -> PathBuf {
    std::env::var_os("TONGHUA_EVAL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/eval"))
}

#[derive(serde::Deserialize)]
pub struct Polarity {
    pub text: String,
    pub negative: bool,
}

pub fn load_polarity(name: &str) -> Result<Vec<(String, bool)>, nlu::NluError> {
    let rows: Vec<Polarity> = nlu::cli::read_jsonl(&eval_dir().join("sentiment").join(name))?;
    Ok(rows.into_iter().map(|r| (r.text, r.negative)).collect())
}

/// Deterministic fold assignment, stratified by `key`: items of each key are
/// shuffled with a fixed seed and dealt round-robin into `k` folds.
pub fn folds<K: Ord + Clone>(keys: &[K], k: usize, seed: u64) -> Vec<usize> {
    let mut by_key: std::collections::BTreeMap<K, Vec<usize>> = Default::default();
    for (i, key) in keys.iter().enumerate() {
        by_key.entry(key.clone()).or_default().push(i);
    }
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut fold = vec![0; keys.len()];
    // The offset rotates so that small classes do not all land in fold 0.
    for (offset, (_, mut idx)) in by_key.into_iter().enumerate() {
        for i in (1..idx.len()).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            idx.swap(i, j);
        }
        for (n, i) in idx.into_iter().enumerate() {
            fold[i] = (n + offset) % k;
        }
    }
    fold
}
