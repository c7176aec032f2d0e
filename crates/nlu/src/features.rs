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

/// Which features the learned models extract from text.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureSpec {
    /// Longest character n-gram (0 = none).
    pub max_char_ngram: usize,
    /// Word unigrams.
    pub words: bool,
    /// Word bigrams.
    pub word_bigrams: bool,
    /// Accent-folded pinyin syllable unigrams and bigrams of Chinese text:
    /// speech recognisers confuse homophones (还款/换款, 逾期/遇期), and
    /// callers with southern accents merge zh/z, n/l, -ng/-n.
    #[serde(default)]
    pub pinyin: bool,
    /// Dialogue cues: the yes/no reading of the utterance, escalation
    /// phrases, and a length bucket (short replies are acknowledgements or
    /// interruptions far more often than long ones).
    #[serde(default)]
    pub cues: bool,
}

impl FeatureSpec {
    pub const DEFAULT: FeatureSpec = FeatureSpec {
        max_char_ngram: 3,
        words: true,
        word_bigrams: true,
        pinyin: true,
        cues: true,
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
    if spec.cues {
        match crate::entities::yes_no(text) {
            Some(crate::entities::YesNo::Yes) => feats.push("k:yes".into()),
            Some(crate::entities::YesNo::No) => feats.push("k:no".into()),
            None => {}
        }
        if crate::emotion::EmotionModel::anger(text) >= 0.5 {
            feats.push("k:anger".into());
        }
        let n = chars.iter().filter(|c| **c != ' ').count();
        let bucket = match n {
            0..=2 => "k:len<=2",
            3..=5 => "k:len<=5",
            6..=12 => "k:len<=12",
            _ => "k:len>12",
        };
        feats.push(bucket.into());
    }
    if spec.pinyin {
        let syl: Vec<Option<String>> = chars.iter().map(|&c| fuzzy_pinyin(c)).collect();
        for s in syl.iter().flatten() {
            feats.push(format!("p:{s}"));
        }
        for pair in syl.windows(2) {
            if let [Some(a), Some(b)] = pair {
                feats.push(format!("q:{a} {b}"));
            }
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

/// Toneless pinyin of a Chinese character with common accent mergers
/// folded (zh→z, ch→c, sh→s, l→n, ing→in, eng→en, ang→an).
pub(crate) fn fuzzy_pinyin(c: char) -> Option<String> {
    use pinyin::ToPinyin;
    let p = c.to_pinyin()?.plain();
    let mut s = String::with_capacity(p.len());
    let rest = if let Some(r) = p.strip_prefix("zh") {
        s.push('z');
        r
    } else if let Some(r) = p.strip_prefix("ch") {
        s.push('c');
        r
    } else if let Some(r) = p.strip_prefix("sh") {
        s.push('s');
        r
    } else if let Some(r) = p.strip_prefix('l') {
        s.push('n');
        r
    } else {
        p
    };
    s.push_str(rest);
    if s.ends_with("ng") && (s.ends_with("ing") || s.ends_with("eng") || s.ends_with("ang")) {
        s.pop();
    }
    Some(s)
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

    /// Per feature index: does it say something specific about the text?
    /// Single characters and pinyin syllables are shared by almost any two
    /// Chinese sentences, so similarity measures leave them out.
    pub(crate) fn informative_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.index.len()];
        for (name, &i) in &self.index {
            let keep = match name.split_once(':') {
                Some(("c", g)) => g.chars().count() >= 2,
                Some(("w", w)) => w.chars().count() >= 2 || w.is_ascii(),
                Some(("b", _)) => true,
                _ => false,
            };
            if let Some(m) = mask.get_mut(i as usize) {
                *m = keep;
            }
        }
        mask
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
        assert_eq!(get("p:dian"), Some(2));
        assert_eq!(get("q:dian fei"), Some(2));
    }

    #[test]
    fn dialogue_cues() {
        let seg = Segmenter::new();
        let has = |t: &str, f: &str| {
            extract(&seg, t, FeatureSpec::DEFAULT)
                .iter()
                .any(|(s, _)| s == f)
        };
        assert!(has("好的好的", "k:yes"));
        assert!(has("不需要了", "k:no"));
        assert!(has("你们这帮骗子", "k:anger"));
        assert!(has("嗯", "k:len<=2"));
        assert!(!has("我想问一下电费的事情", "k:yes"));
    }

    #[test]
    fn pinyin_folds_accents() {
        assert_eq!(
            fuzzy_pinyin('还').as_deref().map(|s| s.starts_with('h')),
            Some(true)
        );
        assert_eq!(fuzzy_pinyin('是'), fuzzy_pinyin('四'));
        assert_eq!(fuzzy_pinyin('冷'), fuzzy_pinyin('嫩'));
        assert_eq!(fuzzy_pinyin('a'), None);
    }

    #[test]
    fn sparse_is_normalised_and_sorted() {
        let v = to_sparse(vec![(5, 1), (2, 3), (5, 1)]);
        assert_eq!(v.iter().map(|p| p.0).collect::<Vec<_>>(), vec![2, 5]);
        let n: f32 = v.iter().map(|p| p.1 * p.1).sum();
        assert!((n - 1.0).abs() < 1e-5);
    }
}
