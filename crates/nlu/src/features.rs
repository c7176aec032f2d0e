//! Sparse text features shared by the intent and emotion models.
//!
//! Character n-grams carry most of the signal for Chinese (robust to ASR
//! errors and to segmentation mistakes); words and word bigrams add the
//! signal for English and for longer Chinese words.

use std::collections::HashMap;

use crate::segment::Segmenter;
use crate::text::{is_cjk, is_word_char, normalize};

/// A sparse, L2-normalised feature vector: (feature index, value), sorted by
/// index, no duplicates.
pub(crate) type SparseVec = Vec<(u32, f32)>;

/// Which features to extract.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FeatureSpec {
    /// Longest character n-gram (0 = none).
    pub max_char_ngram: usize,
    /// Word unigrams.
    pub words: bool,
    /// Word bigrams.
    pub word_bigrams: bool,
}

impl FeatureSpec {
    pub(crate) const DEFAULT: FeatureSpec = FeatureSpec {
        max_char_ngram: 3,
        words: true,
        word_bigrams: true,
    };
}

/// Feature strings of one text, with their counts, in first-seen order (so
/// that everything built from them is deterministic).
pub(crate) fn extract(seg: &Segmenter, text: &str, spec: FeatureSpec) -> Vec<(String, u32)> {
    let norm = normalize(text);
    let mut feats: Vec<String> = Vec::new();
    // Characters with separators collapsed to one space, so n-grams see word
    // boundaries in English without producing junk from punctuation runs.
    let mut chars: Vec<char> = Vec::with_capacity(norm.len());
    for c in norm.chars() {
        if is_cjk(c) || is_word_char(c) {
            chars.push(c);
        } else if chars.last().is_some_and(|&l| l != ' ') {
            chars.push(' ');
        }
    }
    while chars.last() == Some(&' ') {
        chars.pop();
    }
    for n in 1..=spec.max_char_ngram {
        if chars.len() < n {
            break;
        }
        for win in chars.windows(n) {
            if n == 1 && win[0] == ' ' {
                continue;
            }
            let mut f = String::with_capacity(2 + 4 * n);
            f.push_str("c:");
            f.extend(win.iter());
            feats.push(f);
        }
    }
    if spec.words || spec.word_bigrams {
        let mut words = Vec::new();
        seg.words_normalized(&norm, &mut words);
        if spec.words {
            for w in &words {
                feats.push(format!("w:{w}"));
            }
        }
        if spec.word_bigrams {
            for pair in words.windows(2) {
                feats.push(format!("b:{}|{}", pair[0], pair[1]));
            }
        }
    }
    let mut counts: Vec<(String, u32)> = Vec::with_capacity(feats.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(feats.len());
    for f in feats {
        match index.get(&f) {
            Some(&i) => {
                if let Some(slot) = counts.get_mut(i) {
                    slot.1 += 1;
                }
            }
            None => {
                index.insert(f.clone(), counts.len());
                counts.push((f, 1));
            }
        }
    }
    counts
}

/// Turns (index, count) pairs into a sorted, L2-normalised vector with
/// sublinear term frequency (a word said three times is not three times
/// the evidence).
pub(crate) fn to_sparse(mut pairs: Vec<(u32, u32)>) -> SparseVec {
    pairs.sort_unstable();
    let mut out: SparseVec = Vec::with_capacity(pairs.len());
    for (i, c) in pairs {
        let v = 1.0 + (c as f32).ln();
        match out.last_mut() {
            Some(last) if last.0 == i => last.1 += v,
            _ => out.push((i, v)),
        }
    }
    let norm = out.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for p in &mut out {
            p.1 /= norm;
        }
    }
    out
}

/// A feature vocabulary learned from training texts.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Vocab {
    index: HashMap<String, u32>,
}

impl Vocab {
    /// Keeps features seen in at least `min_count` texts; indices follow the
    /// order of first appearance, so the same data gives the same model.
    pub(crate) fn build(docs: &[Vec<(String, u32)>], min_count: u32) -> Vocab {
        let mut df: HashMap<&str, u32> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for d in docs {
            for (f, _) in d {
                let e = df.entry(f.as_str()).or_insert(0);
                if *e == 0 {
                    order.push(f.as_str());
                }
                *e += 1;
            }
        }
        let mut index = HashMap::new();
        for f in order {
            if df.get(f).copied().unwrap_or(0) >= min_count {
                let next = index.len() as u32;
                index.insert(f.to_string(), next);
            }
        }
        Vocab { index }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn vectorize(&self, feats: &[(String, u32)]) -> SparseVec {
        to_sparse(
            feats
                .iter()
                .filter_map(|(f, c)| self.index.get(f).map(|&i| (i, *c)))
                .collect(),
        )
    }
}

/// FNV-1a: a fixed hash, so hashed models are stable across runs, builds and
/// platforms (std's hasher is randomly seeded).
pub(crate) fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Hashes features into `dims` buckets (for models shipped as fixed arrays).
pub(crate) fn hashed(feats: &[(String, u32)], dims: u32) -> SparseVec {
    to_sparse(
        feats
            .iter()
            .map(|(f, c)| ((fnv1a(f) % u64::from(dims.max(1))) as u32, *c))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_ngrams_and_words() {
        let seg = Segmenter::new();
        let f = extract(&seg, "电费电费", FeatureSpec::DEFAULT);
        let get = |k: &str| f.iter().find(|(s, _)| s == k).map(|(_, c)| *c);
        assert_eq!(get("c:电"), Some(2));
        assert_eq!(get("c:电费电"), Some(1));
        assert_eq!(get("w:电费"), Some(2));
    }

    #[test]
    fn sparse_is_normalised_and_sorted() {
        let v = to_sparse(vec![(5, 1), (2, 3), (5, 1)]);
        assert_eq!(v.iter().map(|p| p.0).collect::<Vec<_>>(), vec![2, 5]);
        let n: f32 = v.iter().map(|p| p.1 * p.1).sum();
        assert!((n - 1.0).abs() < 1e-5);
    }
}
