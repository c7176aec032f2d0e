//! Word segmentation: jieba for Chinese, whitespace/punctuation for the rest.

use std::sync::{Arc, OnceLock};

use jieba_rs::Jieba;

use crate::text::{normalize, runs};

/// The built-in dictionary is large (hundreds of thousands of words) and slow
/// to load, so it is loaded once and shared read-only by every segmenter.
fn base_jieba() -> &'static Arc<Jieba> {
    static BASE: OnceLock<Arc<Jieba>> = OnceLock::new();
    BASE.get_or_init(|| Arc::new(Jieba::new()))
}

/// Splits text into words. Chinese goes through jieba (built-in dictionary
/// plus the tenant's own words, e.g. product names); Latin text is split on
/// whitespace and punctuation and lowercased; punctuation is dropped.
#[derive(Clone, Debug)]
pub struct Segmenter {
    jieba: Arc<Jieba>,
}

impl Default for Segmenter {
    fn default() -> Self {
        Self::new()
    }
}

impl Segmenter {
    /// A segmenter with the built-in dictionary only.
    pub fn new() -> Self {
        Segmenter {
            jieba: Arc::clone(base_jieba()),
        }
    }

    /// A segmenter that also knows the given words (tenant dictionary). Words
    /// are normalised like the text; empty entries are ignored.
    pub fn with_user_words<I: IntoIterator<Item = String>>(words: I) -> Self {
        let mut jieba: Jieba = (**base_jieba()).clone();
        for w in words {
            let w = normalize(w.trim());
            if w.is_empty() {
                continue;
            }
            // A high frequency makes the user word win over the dictionary's
            // own split, which is what a tenant adding a product name expects.
            let freq = jieba.suggest_freq(&w).max(1000);
            jieba.add_word(&w, Some(freq), None);
        }
        Segmenter {
            jieba: Arc::new(jieba),
        }
    }

    /// The words of `text`, normalised (see [`crate::normalize`]).
    pub fn words(&self, text: &str) -> Vec<String> {
        let norm = normalize(text);
        let mut out = Vec::new();
        self.words_normalized(&norm, &mut out);
        out
    }

    /// Like [`Segmenter::words`] for text that is already normalised.
    pub(crate) fn words_normalized(&self, norm: &str, out: &mut Vec<String>) {
        for (cjk, run) in runs(norm) {
            if cjk {
                for t in self.jieba.cut(run, true) {
                    out.push(t.word.to_string());
                }
            } else {
                out.push(run.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_chinese_and_english() {
        let s = Segmenter::new();
        let w = s.words("我想查一下电费，Hello World!");
        assert!(w.contains(&"电费".to_string()), "{w:?}");
        assert!(w.contains(&"hello".to_string()), "{w:?}");
        assert!(w.contains(&"world".to_string()), "{w:?}");
        assert!(!w.iter().any(|x| x == "，" || x == "!"), "{w:?}");
    }

    #[test]
    fn user_words_stay_whole() {
        let plain = Segmenter::new().words("我想办理鑫享福宝业务");
        assert!(!plain.contains(&"鑫享福宝".to_string()), "{plain:?}");
        let s = Segmenter::with_user_words(vec!["鑫享福宝".to_string()]);
        let w = s.words("我想办理鑫享福宝业务");
        assert!(w.contains(&"鑫享福宝".to_string()), "{w:?}");
    }

    #[test]
    fn empty_text_has_no_words() {
        assert!(Segmenter::new().words("").is_empty());
        assert!(Segmenter::new().words("，。！ ").is_empty());
    }
}
