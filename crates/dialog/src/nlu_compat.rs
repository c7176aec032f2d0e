//! A small local stand-in for the `nlu` crate, with the same API shape.
//!
//! Why it exists: `crates/nlu` is being written in parallel; the engine codes
//! against this module (`use crate::nlu_compat as nlu`) so that switching to the
//! real crate is a one-line change. Everything here is deterministic and
//! allocation-light: character uni/bigram TF-IDF for intents and FAQ, keyword
//! and regex rules, a lexicon emotion model and rule-based entities.

use std::collections::BTreeMap;

/// Errors building a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NluError {
    /// A rule regex did not compile.
    #[error("无效的正则表达式 invalid regex `{pattern}`: {message}")]
    BadRegex { pattern: String, message: String },
    /// Two FAQ entries share an id.
    #[error("重复的问答 id duplicate FAQ id `{0}`")]
    DuplicateFaqId(String),
}

/// Characters that carry no meaning on their own (particles, pronouns).
const STOP_CHARS: &str = "的了吗呢吧啊呀哦嗯么我你他她它们这那是在就都也还和与及或请问一下个";

/// Lower-cases, maps full-width ASCII to half-width and drops punctuation and
/// whitespace, so "退货，怎么退？" and "退货怎么退" compare equal.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        };
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Character unigram and bigram features of a normalized text.
fn features(norm: &str) -> Vec<String> {
    let chars: Vec<char> = norm.chars().collect();
    let mut feats = Vec::with_capacity(chars.len() * 2);
    for (i, c) in chars.iter().enumerate() {
        if !STOP_CHARS.contains(*c) {
            feats.push(c.to_string());
        }
        if let Some(next) = chars.get(i + 1) {
            let mut s = String::with_capacity(8);
            s.push(*c);
            s.push(*next);
            feats.push(s);
        }
    }
    feats
}

/// A TF-IDF index of labelled short texts; query returns the best score per label.
#[derive(Debug, Clone, Default)]
struct TextIndex {
    idf: BTreeMap<String, f32>,
    docs: Vec<(usize, Vec<(String, f32)>)>,
    default_idf: f32,
}

impl TextIndex {
    fn build(docs: &[(usize, String)]) -> Self {
        let mut df: BTreeMap<String, u32> = BTreeMap::new();
        let feats: Vec<(usize, Vec<String>)> = docs
            .iter()
            .map(|(label, text)| (*label, features(&normalize(text))))
            .collect();
        for (_, f) in &feats {
            let mut uniq: Vec<&String> = f.iter().collect();
            uniq.sort();
            uniq.dedup();
            for u in uniq {
                *df.entry(u.clone()).or_insert(0) += 1;
            }
        }
        let n = docs.len().max(1) as f32;
        let idf: BTreeMap<String, f32> = df
            .into_iter()
            .map(|(k, d)| (k, (1.0 + n / d as f32).ln()))
            .collect();
        let default_idf = (1.0 + n).ln();
        let mut index = TextIndex {
            idf,
            docs: Vec::new(),
            default_idf,
        };
        index.docs = feats
            .into_iter()
            .map(|(label, f)| (label, index.vector(&f)))
            .collect();
        index
    }

    fn weight(&self, feat: &str) -> f32 {
        let idf = self.idf.get(feat).copied().unwrap_or(self.default_idf);
        // Bigrams carry word order, which matters more than single characters.
        if feat.chars().count() > 1 {
            idf
        } else {
            idf * 0.5
        }
    }

    fn vector(&self, feats: &[String]) -> Vec<(String, f32)> {
        let mut tf: BTreeMap<&str, f32> = BTreeMap::new();
        for f in feats {
            *tf.entry(f.as_str()).or_insert(0.0) += 1.0;
        }
        let mut v: Vec<(String, f32)> = tf
            .into_iter()
            .map(|(k, c)| (k.to_string(), (1.0 + c.ln()) * self.weight(k)))
            .collect();
        let norm = v.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, w) in &mut v {
                *w /= norm;
            }
        }
        v
    }

    /// Best cosine score per label, highest first; ties broken by label order.
    fn query(&self, text: &str) -> Vec<(usize, f32)> {
        let q = self.vector(&features(&normalize(text)));
        if q.is_empty() {
            return Vec::new();
        }
        let mut best: BTreeMap<usize, f32> = BTreeMap::new();
        for (label, d) in &self.docs {
            let s = cosine(&q, d);
            let e = best.entry(*label).or_insert(0.0);
            if s > *e {
                *e = s;
            }
        }
        let mut ranked: Vec<(usize, f32)> = best.into_iter().filter(|(_, s)| *s > 0.0).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }
}

/// Cosine of two sorted sparse vectors.
fn cosine(a: &[(String, f32)], b: &[(String, f32)]) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.0.cmp(&y.0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += x.1 * y.1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// One labelled training sentence; `intent: None` marks an out-of-scope example.
#[derive(Debug, Clone)]
pub struct IntentExample {
    pub text: String,
    pub intent: Option<String>,
}

/// A keyword / regex rule: any keyword contained or regex matching fires the intent.
#[derive(Debug, Clone)]
pub struct IntentRule {
    pub intent: String,
    pub keywords: Vec<String>,
    pub regex: Vec<String>,
    pub priority: i32,
}

/// Result of classifying one utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentResult {
    pub intent: Option<String>,
    pub score: f32,
    pub ranked: Vec<(String, f32)>,
}

/// Rules first (they are what an operator wrote on purpose), then example similarity.
#[derive(Debug, Clone)]
pub struct IntentModel {
    labels: Vec<Option<String>>,
    index: TextIndex,
    rules: Vec<(String, Vec<String>, Vec<regex::Regex>, i32)>,
}

/// Similarity below which an utterance is not given an intent.
const INTENT_THRESHOLD: f32 = 0.5;

impl IntentModel {
    pub fn train(examples: &[IntentExample], rules: &[IntentRule]) -> Result<Self, NluError> {
        let mut labels: Vec<Option<String>> = Vec::new();
        let mut docs = Vec::with_capacity(examples.len());
        for ex in examples {
            let idx = match labels.iter().position(|l| *l == ex.intent) {
                Some(i) => i,
                None => {
                    labels.push(ex.intent.clone());
                    labels.len() - 1
                }
            };
            docs.push((idx, ex.text.clone()));
        }
        let mut compiled = Vec::with_capacity(rules.len());
        for r in rules {
            let mut res = Vec::with_capacity(r.regex.len());
            for p in &r.regex {
                let re = regex::Regex::new(p).map_err(|e| NluError::BadRegex {
                    pattern: p.clone(),
                    message: e.to_string(),
                })?;
                res.push(re);
            }
            let kws = r
                .keywords
                .iter()
                .map(|k| normalize(k))
                .filter(|k| !k.is_empty())
                .collect();
            compiled.push((r.intent.clone(), kws, res, r.priority));
        }
        Ok(IntentModel {
            labels,
            index: TextIndex::build(&docs),
            rules: compiled,
        })
    }

    pub fn classify(&self, text: &str) -> IntentResult {
        let norm = normalize(text);
        // Rule hits: (priority, matched length) decides; longer keyword = more specific.
        let mut rule_hits: Vec<(String, i32, usize)> = Vec::new();
        for (intent, kws, res, prio) in &self.rules {
            let mut best_len = 0usize;
            for k in kws {
                if norm.contains(k.as_str()) {
                    best_len = best_len.max(k.chars().count());
                }
            }
            for re in res {
                if let Some(m) = re.find(text).or_else(|| re.find(&norm)) {
                    best_len = best_len.max(m.as_str().chars().count().max(1));
                }
            }
            if best_len > 0 {
                rule_hits.push((intent.clone(), *prio, best_len));
            }
        }
        rule_hits.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
        let mut ranked: Vec<(String, f32)> = Vec::new();
        for (i, (intent, _, _)) in rule_hits.iter().enumerate() {
            if !ranked.iter().any(|(n, _)| n == intent) {
                ranked.push((intent.clone(), 0.99 - 0.01 * i.min(20) as f32));
            }
        }
        let mut oos_best = 0.0f32;
        for (label, score) in self.index.query(text) {
            match self.labels.get(label).cloned().flatten() {
                Some(name) => {
                    if !ranked.iter().any(|(n, _)| *n == name) {
                        ranked.push((name, score));
                    }
                }
                None => oos_best = oos_best.max(score),
            }
        }
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let (intent, score) = match ranked.first() {
            Some((n, s)) if *s >= INTENT_THRESHOLD && *s > oos_best => (Some(n.clone()), *s),
            Some((_, s)) => (None, *s),
            None => (None, 0.0),
        };
        IntentResult {
            intent,
            score,
            ranked,
        }
    }
}

/// One knowledge-base entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaqEntry {
    pub id: String,
    pub question: String,
    #[serde(default)]
    pub similar: Vec<String>,
    pub answer: String,
    #[serde(default)]
    pub category: Option<String>,
}

/// A scored FAQ candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqHit {
    pub id: String,
    pub score: f32,
}

/// Retrieval result: `best` only when confident, `ambiguous` when two differ little.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqResult {
    pub best: Option<FaqHit>,
    pub top: Vec<FaqHit>,
    pub ambiguous: bool,
}

/// FAQ retrieval over questions and their similar questions.
#[derive(Debug, Clone, Default)]
pub struct FaqIndex {
    entries: Vec<FaqEntry>,
    index: TextIndex,
}

/// Score at which an FAQ answer is given.
const FAQ_THRESHOLD: f32 = 0.5;
/// Two candidates closer than this are "ambiguous".
const FAQ_MARGIN: f32 = 0.06;

impl FaqIndex {
    pub fn build(entries: Vec<FaqEntry>) -> Result<Self, NluError> {
        let mut docs = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if entries[..i].iter().any(|o| o.id == e.id) {
                return Err(NluError::DuplicateFaqId(e.id.clone()));
            }
            docs.push((i, e.question.clone()));
            for s in &e.similar {
                docs.push((i, s.clone()));
            }
        }
        Ok(FaqIndex {
            index: TextIndex::build(&docs),
            entries,
        })
    }

    pub fn search(&self, query: &str, k: usize) -> FaqResult {
        let top: Vec<FaqHit> = self
            .index
            .query(query)
            .into_iter()
            .take(k.max(2))
            .filter_map(|(i, score)| {
                self.entries.get(i).map(|e| FaqHit {
                    id: e.id.clone(),
                    score,
                })
            })
            .collect();
        let first = top.first().map(|h| h.score).unwrap_or(0.0);
        let second = top.get(1).map(|h| h.score).unwrap_or(0.0);
        let ambiguous = first >= FAQ_THRESHOLD * 0.8
            && second >= FAQ_THRESHOLD * 0.8
            && first - second < FAQ_MARGIN;
        let best = top.first().filter(|h| h.score >= FAQ_THRESHOLD).cloned();
        let mut top = top;
        top.truncate(k);
        FaqResult {
            best,
            top,
            ambiguous,
        }
    }

    pub fn entry(&self, id: &str) -> Option<&FaqEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Polarity and anger of one utterance, each in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Emotion {
    pub negative: bool,
    pub score: f32,
    pub anger: f32,
}

/// A lexicon model: weighted anger and negativity cues.
#[derive(Debug, Clone, Default)]
pub struct EmotionModel;

const ANGER_WORDS: &[(&str, f32)] = &[
    ("滚", 0.6),
    ("妈的", 0.7),
    ("他妈", 0.7),
    ("操", 0.5),
    ("傻逼", 0.8),
    ("有病", 0.6),
    ("神经病", 0.7),
    ("烦死了", 0.6),
    ("气死", 0.6),
    ("垃圾", 0.5),
    ("什么玩意", 0.6),
    ("烦不烦", 0.6),
    ("有完没完", 0.6),
    ("听不懂人话", 0.7),
    ("说了多少遍", 0.6),
    ("投诉", 0.4),
    ("骗子", 0.5),
    ("闭嘴", 0.6),
    ("别烦我", 0.5),
    ("废话", 0.4),
    ("受不了", 0.4),
    ("太过分", 0.5),
    ("生气", 0.4),
    ("火大", 0.5),
    ("恶心", 0.5),
];
const NEGATIVE_WORDS: &[&str] = &[
    "不", "没", "烦", "差", "讨厌", "失望", "不满", "麻烦", "慢", "贵", "坏", "问题",
];

impl EmotionModel {
    pub fn default_model() -> Self {
        EmotionModel
    }

    pub fn score(&self, text: &str) -> Emotion {
        let norm = normalize(text);
        let mut anger: f32 = ANGER_WORDS
            .iter()
            .filter(|(w, _)| norm.contains(w))
            .map(|(_, s)| *s)
            .sum();
        let bangs = text.chars().filter(|c| *c == '!' || *c == '！').count();
        anger += 0.1 * bangs.min(3) as f32;
        let neg = NEGATIVE_WORDS.iter().filter(|w| norm.contains(*w)).count() as f32;
        let score = (0.25 * neg + anger).min(1.0);
        Emotion {
            negative: score >= 0.5,
            score,
            anger: anger.min(1.0),
        }
    }
}

/// Entity extraction: yes/no, numbers, money, phone numbers, dates and times.
pub mod entities {
    use super::normalize;

    /// An answer to a yes/no question.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum YesNo {
        Yes,
        No,
    }

    const NO_WORDS: &[&str] = &[
        "不是",
        "不对",
        "不要",
        "不用",
        "不行",
        "不可以",
        "没有",
        "不需要",
        "不方便",
        "不想",
        "算了",
        "不了",
        "不好",
        "不愿意",
        "没兴趣",
        "不感兴趣",
        "别",
        "不",
        "否",
        "no",
    ];
    const YES_WORDS: &[&str] = &[
        "是的",
        "是我",
        "对的",
        "对",
        "嗯",
        "好的",
        "好啊",
        "好",
        "可以",
        "行",
        "没问题",
        "当然",
        "愿意",
        "需要",
        "要的",
        "有的",
        "方便",
        "是",
        "ok",
        "yes",
        "恩",
        "中",
        "成",
    ];

    /// Negation wins: "不是" is a no even though it contains "是".
    pub fn yes_no(text: &str) -> Option<YesNo> {
        let n = normalize(text);
        if n.is_empty() {
            return None;
        }
        if NO_WORDS.iter().any(|w| n.contains(w)) {
            return Some(YesNo::No);
        }
        if YES_WORDS.iter().any(|w| n.contains(w)) {
            return Some(YesNo::Yes);
        }
        None
    }

    fn cn_digit(c: char) -> Option<u32> {
        Some(match c {
            '零' | '〇' => 0,
            '一' | '幺' => 1,
            '二' | '两' => 2,
            '三' => 3,
            '四' => 4,
            '五' => 5,
            '六' => 6,
            '七' => 7,
            '八' => 8,
            '九' => 9,
            _ => return None,
        })
    }

    fn is_num_char(c: char) -> bool {
        c.is_ascii_digit() || c == '.' || cn_digit(c).is_some() || "十百千万亿".contains(c)
    }

    /// Parses one run like "3", "1.5万", "一百二十", "十五万", "二五" (digit by digit).
    pub fn parse_number(run: &str) -> Option<f64> {
        let run = run.trim_matches('.');
        if run.is_empty() {
            return None;
        }
        let mut total = 0.0f64;
        let mut section = 0.0f64;
        let mut current: Option<f64> = None;
        let mut ascii = String::new();
        let mut saw_unit = false;
        let mut digits_only = String::new();
        let flush_ascii = |ascii: &mut String, current: &mut Option<f64>| {
            if !ascii.is_empty() {
                *current = ascii.parse::<f64>().ok();
                ascii.clear();
            }
        };
        for c in run.chars() {
            if c.is_ascii_digit() || c == '.' {
                ascii.push(c);
                continue;
            }
            flush_ascii(&mut ascii, &mut current);
            if let Some(d) = cn_digit(c) {
                current = Some(d as f64);
                digits_only.push(char::from_digit(d, 10).unwrap_or('0'));
                continue;
            }
            saw_unit = true;
            let unit = match c {
                '十' => 10.0,
                '百' => 100.0,
                '千' => 1000.0,
                '万' => 10_000.0,
                '亿' => 100_000_000.0,
                _ => return None,
            };
            if unit >= 10_000.0 {
                section += current.take().unwrap_or(0.0);
                if section == 0.0 {
                    section = 1.0;
                }
                total += section * unit;
                section = 0.0;
            } else {
                section += current.take().unwrap_or(1.0) * unit;
            }
        }
        flush_ascii(&mut ascii, &mut current);
        if !saw_unit && digits_only.chars().count() > 1 {
            return digits_only.parse::<f64>().ok();
        }
        let value = total + section + current.unwrap_or(0.0);
        Some(value)
    }

    /// Every number in the text, in order.
    pub fn numbers(text: &str) -> Vec<f64> {
        number_spans(text).into_iter().map(|(_, _, v)| v).collect()
    }

    /// (start char, end char, value) of every number run.
    fn number_spans(text: &str) -> Vec<(usize, usize, f64)> {
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars.get(i).copied().unwrap_or(' ');
            let starts = c.is_ascii_digit() || cn_digit(c).is_some() || (c == '十');
            if !starts {
                i += 1;
                continue;
            }
            let start = i;
            while i < chars.len() && chars.get(i).is_some_and(|c| is_num_char(*c)) {
                i += 1;
            }
            let run: String = chars
                .get(start..i)
                .map(|s| s.iter().collect())
                .unwrap_or_default();
            // "一下", "一点" (a bit) are not numbers.
            let next = chars.get(i).copied();
            let lone_yi =
                run == "一" && matches!(next, Some('下' | '些' | '样' | '般' | '直' | '起'));
            if !lone_yi && let Some(v) = parse_number(&run) {
                out.push((start, i, v));
            }
        }
        out
    }

    /// An amount of money: a number followed by 元/块/万/千 or preceded by ¥.
    pub fn money(text: &str) -> Option<f64> {
        let chars: Vec<char> = text.chars().collect();
        for (s, e, v) in number_spans(text) {
            let next = chars.get(e).copied();
            let prev = if s > 0 {
                chars.get(s - 1).copied()
            } else {
                None
            };
            let run: String = chars
                .get(s..e)
                .map(|x| x.iter().collect())
                .unwrap_or_default();
            if matches!(next, Some('元' | '块' | '圆'))
                || matches!(prev, Some('¥' | '￥'))
                || run.ends_with('万')
                || run.ends_with('千')
            {
                return Some(v);
            }
        }
        None
    }

    /// Mainland mobile numbers (11 digits starting with 1) and landlines.
    pub fn phone_numbers(text: &str) -> Vec<String> {
        let digits: Vec<String> = {
            let mut runs = Vec::new();
            let mut cur = String::new();
            for c in text.chars() {
                if c.is_ascii_digit() {
                    cur.push(c);
                } else if c == '-' || c == ' ' {
                    continue;
                } else if !cur.is_empty() {
                    runs.push(std::mem::take(&mut cur));
                }
            }
            if !cur.is_empty() {
                runs.push(cur);
            }
            runs
        };
        digits
            .into_iter()
            .filter(|d| {
                (d.len() == 11 && d.starts_with('1'))
                    || (d.len() >= 7 && d.len() <= 12 && d.starts_with('0'))
            })
            .collect()
    }

    /// A wall-clock instant, minute precision; `weekday` 1 = Monday … 7 = Sunday.
    #[derive(
        Debug,
        Clone,
        Copy,
        PartialEq,
        Eq,
        PartialOrd,
        Ord,
        Hash,
        serde::Serialize,
        serde::Deserialize,
    )]
    pub struct DateTimeRef {
        pub year: i32,
        pub month: u32,
        pub day: u32,
        pub hour: u32,
        pub minute: u32,
        pub weekday: u32,
    }

    fn days_in_month(year: i32, month: u32) -> u32 {
        match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
            _ => 28,
        }
    }

    impl DateTimeRef {
        /// Moves forward by whole days, keeping the time of day.
        pub fn add_days(mut self, days: u32) -> Self {
            for _ in 0..days.min(3660) {
                self.day += 1;
                if self.day > days_in_month(self.year, self.month) {
                    self.day = 1;
                    self.month += 1;
                    if self.month > 12 {
                        self.month = 1;
                        self.year += 1;
                    }
                }
                self.weekday = self.weekday % 7 + 1;
            }
            self
        }

        /// Moves forward by minutes (the engine advances its reference time this way).
        pub fn add_minutes(mut self, minutes: u64) -> Self {
            let total = self.hour as u64 * 60 + self.minute as u64 + minutes;
            let days = (total / 1440).min(u32::MAX as u64) as u32;
            let rem = total % 1440;
            self.hour = (rem / 60) as u32;
            self.minute = (rem % 60) as u32;
            self.add_days(days)
        }

        fn at(mut self, hour: u32, minute: u32) -> Self {
            self.hour = hour.min(23);
            self.minute = minute.min(59);
            self
        }
    }

    fn weekday_of(c: char) -> Option<u32> {
        match c {
            '一' | '1' => Some(1),
            '二' | '2' => Some(2),
            '三' | '3' => Some(3),
            '四' | '4' => Some(4),
            '五' | '5' => Some(5),
            '六' | '6' => Some(6),
            '日' | '天' | '七' | '7' => Some(7),
            _ => None,
        }
    }

    /// Resolves Chinese date/time expressions ("明天下午三点", "周六上午",
    /// "下周一", "半小时后", "15号晚上8点半") against `now`; None when absent.
    pub fn datetime(text: &str, now: &DateTimeRef) -> Option<DateTimeRef> {
        let t = text.replace(['：', ':'], "点");
        let chars: Vec<char> = t.chars().collect();
        // Relative offsets first: "半小时后", "两个小时以后", "20分钟后".
        if t.contains('后') || t.contains("以后") || t.contains("之后") {
            if t.contains("半小时") || t.contains("半个小时") {
                return Some(now.add_minutes(30));
            }
            let spans = number_spans(&t);
            for (_, e, v) in spans {
                let rest: String = chars
                    .get(e..)
                    .map(|s| s.iter().take(4).collect())
                    .unwrap_or_default();
                let v = v.clamp(0.0, 10_000.0);
                if rest.starts_with("分钟") {
                    return Some(now.add_minutes(v as u64));
                }
                if rest.starts_with("个小时")
                    || rest.starts_with("小时")
                    || rest.starts_with("个钟")
                {
                    let half = if rest.contains('半') { 30 } else { 0 };
                    return Some(now.add_minutes((v * 60.0) as u64 + half));
                }
                if rest.starts_with("天") {
                    return Some(now.add_days(v as u32).at(10, 0));
                }
            }
        }
        let mut day: Option<DateTimeRef> = None;
        if t.contains("大后天") {
            day = Some(now.add_days(3));
        } else if t.contains("后天") {
            day = Some(now.add_days(2));
        } else if t.contains("明天")
            || t.contains("明儿")
            || t.contains("明早")
            || t.contains("明晚")
        {
            day = Some(now.add_days(1));
        } else if t.contains("今天") || t.contains("今儿") || t.contains("今晚") {
            day = Some(*now);
        }
        // 周X / 星期X / 礼拜X, optionally prefixed by 下 (next week).
        for key in ["星期", "礼拜", "周"] {
            if day.is_some() {
                break;
            }
            if let Some(pos) = t.find(key) {
                let after = t.get(pos + key.len()..).and_then(|s| s.chars().next());
                if let Some(wd) = after.and_then(weekday_of) {
                    let before = t.get(..pos).unwrap_or("");
                    let next_week = before.ends_with('下');
                    let cur = now.weekday.clamp(1, 7);
                    let mut delta = (wd + 7 - cur) % 7;
                    if next_week {
                        delta = 7 - (cur - 1) + (wd - 1);
                    } else if delta == 0 {
                        delta = 0;
                    }
                    day = Some(now.add_days(delta));
                }
            }
        }
        // "X月Y号/日" or "Y号".
        if day.is_none() {
            let spans = number_spans(&t);
            for (i, (_, e, v)) in spans.iter().enumerate() {
                let next = chars.get(*e).copied();
                if matches!(next, Some('号' | '日')) && (1.0..=31.0).contains(v) {
                    let d = *v as u32;
                    let month_before = i
                        .checked_sub(1)
                        .and_then(|j| spans.get(j))
                        .filter(|(_, pe, pv)| {
                            chars.get(*pe) == Some(&'月') && (1.0..=12.0).contains(pv)
                        })
                        .map(|(_, _, pv)| *pv as u32);
                    let mut cand = *now;
                    let mut guard = 0;
                    while guard < 400
                        && !(cand.day == d && month_before.is_none_or(|m| cand.month == m))
                    {
                        cand = cand.add_days(1);
                        guard += 1;
                    }
                    if guard < 400 {
                        day = Some(cand);
                    }
                    break;
                }
            }
        }
        // Part of day.
        let part = if t.contains("凌晨") {
            Some((0, 5))
        } else if t.contains("早上")
            || t.contains("早晨")
            || t.contains("明早")
            || t.contains("上午")
        {
            Some((0, 9))
        } else if t.contains("中午") {
            Some((11, 12))
        } else if t.contains("下午") {
            Some((12, 15))
        } else if t.contains("傍晚")
            || t.contains("晚上")
            || t.contains("今晚")
            || t.contains("明晚")
            || t.contains("夜里")
        {
            Some((12, 19))
        } else {
            None
        };
        // Clock time: N点[半|一刻|M分] or N时.
        let mut clock: Option<(u32, u32)> = None;
        for (_, e, v) in number_spans(&t) {
            let next = chars.get(e).copied();
            if matches!(next, Some('点' | '时')) && (0.0..=24.0).contains(&v) {
                let hour = v as u32;
                let rest: String = chars
                    .get(e + 1..)
                    .map(|s| s.iter().take(4).collect())
                    .unwrap_or_default();
                let minute = if rest.starts_with('半') {
                    30
                } else if rest.starts_with("一刻") {
                    15
                } else if rest.starts_with("三刻") {
                    45
                } else {
                    number_spans(&rest)
                        .first()
                        .filter(|(s, _, mv)| *s == 0 && (0.0..60.0).contains(mv))
                        .map(|(_, _, mv)| *mv as u32)
                        .unwrap_or(0)
                };
                clock = Some((hour, minute));
                break;
            }
        }
        if day.is_none() && part.is_none() && clock.is_none() {
            return None;
        }
        let (hour, minute) = match (clock, part) {
            (Some((h, m)), Some((add, _))) => {
                let h = if add > 0 && h < 12 && !(add == 11 && h >= 11) {
                    h + 12
                } else {
                    h
                };
                (h, m)
            }
            (Some((h, m)), None) => {
                // A bare "3点" during working hours means the afternoon.
                if (1..=7).contains(&h) {
                    (h + 12, m)
                } else {
                    (h, m)
                }
            }
            (None, Some((_, default))) => (default, 0),
            (None, None) => (10, 0),
        };
        let base = day.unwrap_or(*now);
        let mut result = base.at(hour, minute);
        if day.is_none() && result <= *now {
            result = result.add_days(1);
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::entities::*;
    use super::*;

    fn now() -> DateTimeRef {
        // Tuesday 2026-11-24 10:00
        DateTimeRef {
            year: 2026,
            month: 11,
            day: 24,
            hour: 10,
            minute: 0,
            weekday: 2,
        }
    }

    #[test]
    fn datetime_expressions() {
        let d = datetime("明天下午三点吧", &now()).map(|d| (d.day, d.hour, d.minute));
        assert_eq!(d, Some((25, 15, 0)));
        let d = datetime("后天上午十点半", &now()).map(|d| (d.day, d.hour, d.minute));
        assert_eq!(d, Some((26, 10, 30)));
        let d = datetime("下周一", &now()).map(|d| (d.day, d.weekday));
        assert_eq!(d, Some((30, 1)));
        let d = datetime("周六下午", &now()).map(|d| (d.day, d.hour));
        assert_eq!(d, Some((28, 15)));
        let d = datetime("半小时后再打", &now()).map(|d| (d.hour, d.minute));
        assert_eq!(d, Some((10, 30)));
        let d = datetime("12月3号晚上8点", &now()).map(|d| (d.month, d.day, d.hour));
        assert_eq!(d, Some((12, 3, 20)));
        assert_eq!(datetime("我不需要", &now()), None);
    }

    #[test]
    fn numbers_and_money() {
        assert_eq!(numbers("一百二十平"), vec![120.0]);
        assert_eq!(numbers("大概90平米"), vec![90.0]);
        assert_eq!(money("预算十五万左右"), Some(150_000.0));
        assert_eq!(money("3000块"), Some(3000.0));
        assert_eq!(numbers("等一下"), Vec::<f64>::new());
        assert_eq!(
            phone_numbers("我的电话是138 1234 5678"),
            vec!["13812345678".to_string()]
        );
    }

    #[test]
    fn yes_no_negation_wins() {
        assert_eq!(yes_no("不是我"), Some(YesNo::No));
        assert_eq!(yes_no("是的是我"), Some(YesNo::Yes));
        assert_eq!(yes_no("今天天气"), None);
    }

    #[test]
    fn intents_rules_then_examples() {
        let ex = vec![
            IntentExample {
                text: "多少钱".into(),
                intent: Some("price".into()),
            },
            IntentExample {
                text: "价格怎么样".into(),
                intent: Some("price".into()),
            },
            IntentExample {
                text: "在哪里".into(),
                intent: Some("where".into()),
            },
        ];
        let rules = vec![IntentRule {
            intent: "human".into(),
            keywords: vec!["人工".into()],
            regex: vec![],
            priority: 10,
        }];
        let m = IntentModel::train(&ex, &rules).expect("train");
        assert_eq!(m.classify("转人工").intent.as_deref(), Some("human"));
        assert_eq!(m.classify("价格怎么样啊").intent.as_deref(), Some("price"));
        assert_eq!(m.classify("天气").intent, None);
        assert!(
            IntentModel::train(
                &ex,
                &[IntentRule {
                    intent: "x".into(),
                    keywords: vec![],
                    regex: vec!["(".into()],
                    priority: 0
                }]
            )
            .is_err()
        );
    }

    #[test]
    fn emotion_detects_anger() {
        let m = EmotionModel::default_model();
        assert!(m.score("你有病吧烦死了！").anger >= 0.7);
        assert!(m.score("好的谢谢").anger < 0.1);
    }
}
