//! FAQ retrieval: BM25 over words and over character bigrams, fused, with
//! every similar question indexed as its own document (an entry scores the
//! best of its questions), and a calibrated confidence for accepting the best
//! hit or declaring the query out of scope.

use std::collections::HashMap;

use std::path::Path;
use std::sync::Arc;

use crate::error::NluError;
use crate::segment::Segmenter;
use crate::semantic::Embedder;
use crate::text::{is_cjk, is_word_char, normalize};

/// One knowledge-base entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaqEntry {
    pub id: String,
    pub question: String,
    /// Paraphrases of the question; each is matched like the question itself.
    #[serde(default)]
    pub similar: Vec<String>,
    pub answer: String,
    #[serde(default)]
    pub category: Option<String>,
    /// Links shown under the answer on text channels (voice reads only `answer`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<FaqLink>,
    /// Image addresses (http/https) shown under the answer on text channels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

/// A link of a rich answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaqLink {
    pub title: String,
    pub url: String,
}

/// One retrieved entry with a calibrated confidence in `[0,1]` (an estimate
/// of the probability that this entry answers the query).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaqHit {
    pub id: String,
    pub score: f32,
}

/// The outcome of [`FaqIndex::search`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaqResult {
    /// The entry to answer with; `None` when the query looks out of scope.
    pub best: Option<FaqHit>,
    /// The best `k` entries, best first (present even when `best` is `None`).
    pub top: Vec<FaqHit>,
    /// The two best entries are both acceptable and too close to choose:
    /// the engine should ask which one the caller meant.
    pub ambiguous: bool,
}

/// A logistic calibration `sigmoid(w_score * s + w_margin * m + bias)` over a
/// hit's normalised fused score `s` and its margin `m` over the best other hit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    pub w_score: f32,
    pub w_margin: f32,
    pub bias: f32,
}

impl Calibration {
    /// The calibrated probability.
    pub fn apply(&self, s: f32, m: f32) -> f32 {
        1.0 / (1.0 + (-(self.w_score * s + self.w_margin * m + self.bias)).exp())
    }
}

/// Retrieval and calibration settings. The defaults were tuned on a tuning
/// half of a public customer-service FAQ set (see docs/benchmarks.md);
/// lexical and semantic retrieval have their own calibrations because
/// their scores live on different scales.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaqConfig {
    /// BM25 term-frequency saturation.
    pub k1: f32,
    /// BM25 length normalisation.
    pub b: f32,
    /// Weight of the character-bigram field against the word field.
    pub bigram_weight: f32,
    /// Weight of the single-character field against the word field.
    pub char_weight: f32,
    /// How much query terms absent from the knowledge base count against
    /// a match (1: as much as the rarest known term). Lower values help
    /// small knowledge bases, where most words of a query are new.
    pub unknown_weight: f32,
    /// Number of questions from which `unknown_weight` applies in full; a
    /// smaller base scales it down proportionally, to 0.3 at least.
    pub coverage_docs: f32,
    /// Weight of the character-order re-rank (longest common subsequence
    /// ratio) of the best 50 questions.
    #[serde(default)]
    pub order_weight: f32,
    /// The same in semantic mode (embeddings already capture order).
    #[serde(default)]
    pub semantic_order_weight: f32,
    /// Weight of the pinyin-bigram field against the word field.
    pub pinyin_weight: f32,
    /// Share of the symmetric (Dice) overlap against normalised BM25.
    pub dice_weight: f32,
    /// Weight of the embedding similarity (semantic mode only), added to the
    /// lexical score as `dense_weight * max(0, (cos - dense_floor) / (1 - dense_floor))`.
    pub dense_weight: f32,
    pub dense_floor: f32,
    /// Hit confidence: P(this hit answers the query).
    pub confidence: Calibration,
    /// Scope: P(the query is in scope), from the best hit; `best` is set
    /// when it reaches `accept`.
    pub scope: Calibration,
    pub accept: f32,
    /// The same three for semantic mode.
    pub semantic_confidence: Calibration,
    pub semantic_scope: Calibration,
    pub semantic_accept: f32,
    /// Best two hits whose normalised scores differ by less than this are
    /// ambiguous.
    pub ambiguity_margin: f32,
}

impl Default for FaqConfig {
    fn default() -> Self {
        FaqConfig {
            k1: 1.2,
            b: 0.75,
            bigram_weight: 1.0,
            char_weight: 0.7,
            pinyin_weight: 0.0,
            order_weight: 0.2,
            semantic_order_weight: 0.0,
            unknown_weight: 1.0,
            coverage_docs: 2000.0,
            dice_weight: 0.0,
            dense_weight: 2.0,
            dense_floor: 0.8,
            // Fitted on the tuning half of faq-afqmc (examples/eval.rs).
            confidence: Calibration {
                w_score: 1.008,
                w_margin: 2.406,
                bias: -3.116,
            },
            scope: Calibration {
                w_score: 14.553,
                w_margin: 0.0,
                bias: -4.907,
            },
            accept: 0.9536,
            semantic_confidence: Calibration {
                w_score: 1.001,
                w_margin: 1.946,
                bias: -4.374,
            },
            semantic_scope: Calibration {
                w_score: 11.546,
                w_margin: 0.0,
                bias: -17.813,
            },
            semantic_accept: 0.1309,
            ambiguity_margin: 0.02,
        }
    }
}

/// Function words that carry no meaning for matching questions; removing
/// them keeps the score normaliser honest (they would otherwise count as
/// query content that every document "misses").
const STOPWORDS: &[&str] = &[
    "的", "了", "吗", "呢", "啊", "吧", "呀", "嘛", "么", "哦", "喔", "哈", "嗯", "我", "你", "您",
    "我的", "你们", "请问", "一下", "是", "在", "有", "和", "就", "都", "也", "还", "这", "那",
    "这个", "那个", "要", "想", "会", "个", "被", "把", "给", "什么", "the", "a", "an", "is",
    "are", "to", "of", "i", "my", "you", "do", "does", "can", "please", "me", "it", "in", "on",
    "for",
];

/// Generic customer-service paraphrases mapped to one form, so "如何"/"怎样"
/// questions find "怎么" entries. Only domain-independent wording here:
/// tenant vocabulary belongs in the KB's similar questions.
const SYNONYMS: &[(&str, &str)] = &[
    ("如何", "怎么"),
    ("怎样", "怎么"),
    ("怎么样", "怎么"),
    ("咋", "怎么"),
    ("咋样", "怎么"),
    ("为啥", "为什么"),
    ("为何", "为什么"),
    ("怎么会", "为什么"),
    ("能否", "能"),
    ("能不能", "能"),
    ("可不可以", "能"),
    ("可以", "能"),
    ("可否", "能"),
    ("是否", "是不是"),
    ("多久", "多长时间"),
    ("啥", "什么"),
    ("哪里", "哪"),
    ("哪儿", "哪"),
    ("在哪", "哪"),
    ("手机号", "手机号码"),
    ("电话号码", "手机号码"),
    ("付款", "支付"),
    ("付钱", "支付"),
    ("缴费", "交费"),
    ("取消", "关闭"),
    ("注销", "关闭"),
    ("开启", "开通"),
    ("打开", "开通"),
    ("没法", "不能"),
    ("无法", "不能"),
    ("不了", "不能"),
    ("用不了", "不能用"),
];

#[derive(Debug, Clone, Default)]
struct Field {
    terms: HashMap<String, u32>,
    /// Per term: (document, BM25 term weight without idf).
    postings: Vec<Vec<(u32, f32)>>,
    idf: Vec<f32>,
    /// idf given to terms absent from the index (rarer than anything seen).
    unknown_idf: f32,
    /// Per document: idf mass of its distinct terms.
    doc_mass: Vec<f32>,
}

impl Field {
    fn build(docs: &[Vec<String>], k1: f32, b: f32) -> Field {
        let n = docs.len().max(1) as f32;
        let avgdl = (docs.iter().map(Vec::len).sum::<usize>() as f32 / n).max(1.0);
        let mut f = Field::default();
        for (d, terms) in docs.iter().enumerate() {
            let dl = terms.len() as f32;
            let mut counts: Vec<(u32, u32)> = Vec::new();
            for t in terms {
                let next = f.terms.len() as u32;
                let id = *f.terms.entry(t.clone()).or_insert(next);
                if id == next {
                    f.postings.push(Vec::new());
                }
                match counts.iter_mut().find(|(i, _)| *i == id) {
                    Some(c) => c.1 += 1,
                    None => counts.push((id, 1)),
                }
            }
            for (id, tf) in counts {
                let tf = tf as f32;
                let w = tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * dl / avgdl));
                if let Some(p) = f.postings.get_mut(id as usize) {
                    p.push((d as u32, w));
                }
            }
        }
        f.idf = f
            .postings
            .iter()
            .map(|p| {
                let df = p.len() as f32;
                (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
            })
            .collect();
        f.unknown_idf = (1.0 + (n + 0.5) / 0.5).ln();
        f.doc_mass = vec![0.0; docs.len()];
        for (id, p) in f.postings.iter().enumerate() {
            let idf = f.idf.get(id).copied().unwrap_or(0.0);
            for &(d, _) in p {
                if let Some(m) = f.doc_mass.get_mut(d as usize) {
                    *m += idf;
                }
            }
        }
        f
    }

    /// Accumulates, per document, the BM25 score of the query (`bm`) and
    /// the idf mass of the query terms it contains (`matched`). Returns the
    /// query's own idf mass (unknown terms count as rarer than anything
    /// indexed), which is also the BM25 score of a document holding every
    /// query term once at average length: the normaliser for both.
    fn score(
        &self,
        query: &[String],
        unknown_weight: f32,
        bm: &mut [f32],
        matched: &mut [f32],
    ) -> f32 {
        let mut mass = 0.0f32;
        for (i, t) in query.iter().enumerate() {
            if query.get(..i).is_some_and(|prev| prev.contains(t)) {
                continue;
            }
            let Some(&id) = self.terms.get(t) else {
                mass += unknown_weight * self.unknown_idf;
                continue;
            };
            let idf = self.idf.get(id as usize).copied().unwrap_or(0.0);
            mass += idf;
            if let Some(p) = self.postings.get(id as usize) {
                for &(d, w) in p {
                    let d = d as usize;
                    if let (Some(b), Some(m)) = (bm.get_mut(d), matched.get_mut(d)) {
                        *b += idf * w;
                        *m += idf;
                    }
                }
            }
        }
        mass
    }
}

/// A searchable knowledge base. Immutable, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct FaqIndex {
    entries: Vec<FaqEntry>,
    by_id: HashMap<String, usize>,
    /// Document (question or similar question) to entry.
    doc_entry: Vec<u32>,
    seg: Segmenter,
    words: Field,
    bigrams: Field,
    chars: Field,
    pinyin: Field,
    config: FaqConfig,
    /// Document texts, kept for embedding.
    doc_text: Vec<String>,
    /// Normalised word characters of each document, for the order re-rank.
    doc_chars: Vec<Vec<char>>,
    semantic: Option<Semantic>,
}

/// Embeddings of every document, and the model for queries.
#[derive(Debug, Clone)]
struct Semantic {
    embedder: Arc<Embedder>,
    /// `doc_entry.len() * dim` floats, row per document.
    docs: Vec<f32>,
    dim: usize,
}

/// Word terms of a text: segmented, stopwords dropped, synonyms unified.
fn word_terms(seg: &Segmenter, norm: &str) -> Vec<String> {
    let mut words = Vec::new();
    seg.words_normalized(norm, &mut words);
    words
        .into_iter()
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| match SYNONYMS.iter().find(|(from, _)| *from == w) {
            Some((_, to)) => (*to).to_string(),
            None => w,
        })
        .collect()
}

/// Character bigrams within runs of word characters (a lone character
/// becomes a unigram so that one-character queries still match).
/// Accent-folded pinyin syllable bigrams: typed and recognised questions
/// are full of homophone typos (还款/换款, 逾期/遇期).
fn pinyin_terms(norm: &str) -> Vec<String> {
    let syl: Vec<Option<String>> = norm.chars().map(crate::features::fuzzy_pinyin).collect();
    syl.windows(2)
        .filter_map(|w| match w {
            [Some(a), Some(b)] => Some(format!("{a} {b}")),
            _ => None,
        })
        .collect()
}

/// Single CJK characters (robust to wording changes such as 改/修改).
fn char_terms(norm: &str) -> Vec<String> {
    norm.chars()
        .filter(|&c| is_cjk(c))
        .map(String::from)
        .collect()
}

fn bigram_terms(norm: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, out: &mut Vec<String>| {
        if run.len() == 1 {
            out.extend(run.iter().map(|c| c.to_string()));
        }
        for w in run.windows(2) {
            out.push(w.iter().collect());
        }
        run.clear();
    };
    for c in norm.chars() {
        if is_cjk(c) || is_word_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
        }
    }
    flush(&mut run, &mut out);
    out
}

impl FaqIndex {
    /// Builds the index with [`FaqConfig::default`].
    pub fn build(entries: Vec<FaqEntry>) -> Result<Self, NluError> {
        Self::build_with(entries, FaqConfig::default(), Segmenter::new())
    }

    /// Builds the index with explicit settings and segmenter (tenant words).
    pub fn build_with(
        entries: Vec<FaqEntry>,
        config: FaqConfig,
        seg: Segmenter,
    ) -> Result<Self, NluError> {
        let mut by_id = HashMap::with_capacity(entries.len());
        let mut doc_entry = Vec::new();
        let mut word_docs = Vec::new();
        let mut bigram_docs = Vec::new();
        let mut char_docs = Vec::new();
        let mut doc_text = Vec::new();
        let mut pinyin_docs = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if e.id.trim().is_empty() {
                return Err(NluError::Invalid(format!(
                    "FAQ entry #{} has an empty id",
                    i + 1
                )));
            }
            if by_id.insert(e.id.clone(), i).is_some() {
                return Err(NluError::Invalid(format!(
                    "FAQ id {:?} appears twice",
                    e.id
                )));
            }
            for q in std::iter::once(&e.question).chain(&e.similar) {
                let norm = normalize(q);
                if norm.trim().is_empty() {
                    continue;
                }
                doc_entry.push(i as u32);
                doc_text.push(q.trim().to_string());
                word_docs.push(word_terms(&seg, &norm));
                bigram_docs.push(bigram_terms(&norm));
                char_docs.push(char_terms(&norm));
                pinyin_docs.push(pinyin_terms(&norm));
            }
        }
        let words = Field::build(&word_docs, config.k1, config.b);
        let bigrams = Field::build(&bigram_docs, config.k1, config.b);
        let chars = Field::build(&char_docs, config.k1, config.b);
        let pinyin = Field::build(&pinyin_docs, config.k1, config.b);
        Ok(FaqIndex {
            entries,
            by_id,
            doc_entry,
            seg,
            words,
            bigrams,
            chars,
            pinyin,
            config,
            doc_chars: doc_text
                .iter()
                .map(|t| {
                    normalize(t)
                        .chars()
                        .filter(|&c| is_cjk(c) || is_word_char(c))
                        .collect()
                })
                .collect(),
            doc_text,
            semantic: None,
        })
    }

    /// Adds semantic re-ranking: every question is embedded (or read from
    /// `cache_dir`, keyed by model and texts) and queries are matched by
    /// meaning as well as by words.
    pub fn with_embedder(
        mut self,
        embedder: Arc<Embedder>,
        cache_dir: Option<&Path>,
    ) -> Result<Self, NluError> {
        let docs = embedder.embed_all(&self.doc_text, cache_dir)?;
        let dim = embedder.dim();
        self.semantic = Some(Semantic {
            embedder,
            docs,
            dim,
        });
        Ok(self)
    }

    /// Whether queries are matched by meaning too.
    pub fn is_semantic(&self) -> bool {
        self.semantic.is_some()
    }

    /// The entry with this id.
    pub fn entry(&self, id: &str) -> Option<&FaqEntry> {
        self.by_id.get(id).and_then(|&i| self.entries.get(i))
    }

    /// Entry ids in KB order (the entry numbers of [`FaqIndex::raw_top`]).
    pub fn ids(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.id.clone()).collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the knowledge base has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The settings in use.
    pub fn config(&self) -> &FaqConfig {
        &self.config
    }

    /// Raw fused scores of the best `k` entries, best first: (entry, score in
    /// roughly `[0,1]`). Ties break by KB order, so results are deterministic.
    pub fn raw_top(&self, query: &str, k: usize) -> Vec<(usize, f32)> {
        let norm = normalize(query);
        let n = self.doc_entry.len();
        let bw = self.config.bigram_weight.max(0.0);
        let cw = self.config.char_weight.max(0.0);
        let pw = self.config.pinyin_weight.max(0.0);
        let total = 1.0 + bw + cw + pw;
        let dice = self.config.dice_weight.clamp(0.0, 1.0);
        // Words the knowledge base has never seen are evidence that a query
        // is out of scope only once the base is large enough to cover its
        // domain's vocabulary; a 20-entry base misses most everyday words.
        let unknown =
            self.config.unknown_weight * (n as f32 / self.config.coverage_docs.max(1.0)).min(1.0);
        let mut acc = vec![0.0f32; n];
        let (mut bm, mut matched) = (vec![0.0f32; n], vec![0.0f32; n]);
        for (field, terms, weight) in [
            (&self.words, word_terms(&self.seg, &norm), 1.0 / total),
            (&self.bigrams, bigram_terms(&norm), bw / total),
            (&self.chars, char_terms(&norm), cw / total),
            (&self.pinyin, pinyin_terms(&norm), pw / total),
        ] {
            if weight <= 0.0 {
                continue;
            }
            bm.fill(0.0);
            matched.fill(0.0);
            let qmass = field.score(&terms, unknown, &mut bm, &mut matched);
            if qmass <= 0.0 {
                continue;
            }
            for (d, a) in acc.iter_mut().enumerate() {
                let (b, m) = (
                    bm.get(d).copied().unwrap_or(0.0),
                    matched.get(d).copied().unwrap_or(0.0),
                );
                if m > 0.0 {
                    // BM25 measures how much of the query a question covers;
                    // Dice also penalises questions that say much more than
                    // the query, which matters for short paraphrases.
                    let dm = field.doc_mass.get(d).copied().unwrap_or(0.0);
                    let s = (1.0 - dice) * b / qmass + dice * 2.0 * m / (qmass + dm);
                    *a += weight * s;
                }
            }
        }
        if let Some(sem) = &self.semantic
            && let Ok(q) = sem.embedder.embed(query)
        {
            let floor = self.config.dense_floor.clamp(-1.0, 0.99);
            let w = self.config.dense_weight.max(0.0);
            for (a, row) in acc.iter_mut().zip(sem.docs.chunks_exact(sem.dim.max(1))) {
                let cos: f32 = row.iter().zip(&q).map(|(x, y)| x * y).sum();
                *a += w * ((cos - floor) / (1.0 - floor)).max(0.0);
            }
        }
        let gamma = if self.semantic.is_some() {
            self.config.semantic_order_weight
        } else {
            self.config.order_weight
        }
        .max(0.0);
        if gamma > 0.0 {
            self.order_rerank(&norm, &mut acc, gamma);
        }
        let mut per_entry = vec![0.0f32; self.entries.len()];
        for (d, s) in acc.iter().enumerate() {
            if *s > 0.0
                && let Some(e) = self
                    .doc_entry
                    .get(d)
                    .and_then(|&e| per_entry.get_mut(e as usize))
            {
                *e = e.max(*s);
            }
        }
        let mut cand: Vec<(usize, f32)> = per_entry
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .collect();
        let cmp = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if cand.len() > k && k > 0 {
            cand.select_nth_unstable_by(k - 1, cmp);
            cand.truncate(k);
        }
        cand.sort_by(cmp);
        cand.truncate(k);
        cand
    }

    /// Adds `gamma` times the longest-common-subsequence ratio of characters
    /// to the best documents: bag-of-words scores ignore order, and
    /// paraphrases tend to keep long runs of the question in order.
    fn order_rerank(&self, norm: &str, acc: &mut [f32], gamma: f32) {
        const CANDIDATES: usize = 50;
        let q: Vec<char> = norm
            .chars()
            .filter(|&c| is_cjk(c) || is_word_char(c))
            .collect();
        if q.is_empty() {
            return;
        }
        let mut top: Vec<(usize, f32)> = acc
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .collect();
        let cmp = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if top.len() > CANDIDATES {
            top.select_nth_unstable_by(CANDIDATES - 1, cmp);
            top.truncate(CANDIDATES);
        }
        let mut row = vec![0u32; q.len() + 1];
        for (d, _) in top {
            let Some(doc) = self.doc_chars.get(d) else {
                continue;
            };
            if doc.is_empty() {
                continue;
            }
            row.fill(0);
            for &c in doc {
                let mut diag = 0u32;
                for (j, &qc) in q.iter().enumerate() {
                    let (Some(&left), Some(&up)) = (row.get(j), row.get(j + 1)) else {
                        break;
                    };
                    let v = if qc == c { diag + 1 } else { left.max(up) };
                    diag = up;
                    if let Some(cell) = row.get_mut(j + 1) {
                        *cell = v;
                    }
                }
            }
            let lcs = row.last().copied().unwrap_or(0) as f32;
            let ratio = 2.0 * lcs / (q.len() + doc.len()) as f32;
            if let Some(a) = acc.get_mut(d) {
                *a += gamma * ratio;
            }
        }
    }

    /// Features fed to the calibration for each of the top hits: (normalised
    /// score, margin over the best other hit).
    pub fn hit_features(raw: &[(usize, f32)]) -> Vec<(f32, f32)> {
        let first = raw.first().map(|h| h.1).unwrap_or(0.0);
        let second = raw.get(1).map(|h| h.1).unwrap_or(0.0);
        raw.iter()
            .enumerate()
            .map(|(i, h)| (h.1, if i == 0 { h.1 - second } else { h.1 - first }))
            .collect()
    }

    fn calibrations(&self) -> (Calibration, Calibration, f32) {
        let c = &self.config;
        if self.semantic.is_some() {
            (c.semantic_confidence, c.semantic_scope, c.semantic_accept)
        } else {
            (c.confidence, c.scope, c.accept)
        }
    }

    /// The best `k` entries with calibrated confidences, and the decision.
    pub fn search(&self, query: &str, k: usize) -> FaqResult {
        // Look at two hits at least: the margin needs the runner-up.
        let raw = self.raw_top(query, k.max(2));
        let feats = Self::hit_features(&raw);
        let (confidence, scope, accept) = self.calibrations();
        let mut top: Vec<FaqHit> = raw
            .iter()
            .zip(&feats)
            .filter_map(|((e, _), (s, m))| {
                Some(FaqHit {
                    id: self.entries.get(*e)?.id.clone(),
                    score: confidence.apply(*s, *m),
                })
            })
            .collect();
        let in_scope = feats
            .first()
            .is_some_and(|&(s, m)| scope.apply(s, m) >= accept);
        let best = top.first().filter(|_| in_scope).cloned();
        let ambiguous = in_scope
            && matches!((feats.first(), feats.get(1)), (Some(&(s1, _)), Some(&(s2, _))) if s1 - s2 < self.config.ambiguity_margin);
        top.truncate(k);
        FaqResult {
            best,
            top,
            ambiguous,
        }
    }

    /// P(in scope) of a query, as used for `best` (for calibration tools).
    pub fn scope_probability(&self, query: &str) -> f32 {
        let raw = self.raw_top(query, 2);
        let (_, scope, _) = self.calibrations();
        Self::hit_features(&raw)
            .first()
            .map_or(0.0, |&(s, m)| scope.apply(s, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, q: &str, similar: &[&str]) -> FaqEntry {
        FaqEntry {
            id: id.into(),
            question: q.into(),
            similar: similar.iter().map(|s| s.to_string()).collect(),
            answer: format!("答案{id}"),
            category: None,
            links: Vec::new(),
            images: Vec::new(),
        }
    }

    fn kb() -> Vec<FaqEntry> {
        vec![
            entry("fee", "电费怎么交", &["如何缴纳电费", "交电费有哪些方式"]),
            entry("addr", "营业厅地址在哪里", &["你们营业厅在什么地方"]),
            entry("invoice", "怎么开发票", &["发票去哪里开"]),
            entry("refund", "退款多久到账", &["退钱要几天"]),
            entry("late", "逾期不交会怎样", &["电费晚交有违约金吗"]),
            entry("card", "银行卡怎么绑定", &["如何绑定银行卡"]),
            entry("card2", "银行卡怎么解绑", &["如何解除绑定银行卡"]),
        ]
    }

    #[test]
    fn finds_paraphrase() {
        let idx = FaqIndex::build(kb()).expect("build");
        let r = idx.search("请问电费如何交", 3);
        assert_eq!(r.top.first().map(|h| h.id.as_str()), Some("fee"));
        assert_eq!(r.best.as_ref().map(|h| h.id.as_str()), Some("fee"));
        let r = idx.search("退款多久能到账", 3);
        assert_eq!(r.best.as_ref().map(|h| h.id.as_str()), Some("refund"));
        assert!(r.top.iter().all(|h| (0.0..=1.0).contains(&h.score)));
        assert!(r.top.len() <= 3);
    }

    #[test]
    fn small_base_answers_wordy_paraphrases() {
        // Everyday words a 7-entry base has never seen (问一下, 位置) must not
        // sink a real match.
        let idx = FaqIndex::build(kb()).expect("build");
        for (q, id) in [
            ("我想问一下退款多久能到账", "refund"),
            ("你们营业厅在哪个位置", "addr"),
            ("电费逾期了会怎么样", "late"),
            ("发票怎么开", "invoice"),
        ] {
            let r = idx.search(q, 3);
            assert_eq!(
                r.best.as_ref().map(|h| h.id.as_str()),
                Some(id),
                "{q}: {r:?}"
            );
        }
        for q in ["明天会下雨吗", "你好", "我要投诉"] {
            assert!(idx.search(q, 3).best.is_none(), "{q}");
        }
    }

    #[test]
    fn rejects_out_of_scope() {
        let idx = FaqIndex::build(kb()).expect("build");
        let r = idx.search("今天晚上吃什么好呢", 3);
        assert!(r.best.is_none(), "{r:?}");
        assert!(idx.search("", 3).best.is_none());
    }

    #[test]
    fn close_entries_are_ambiguous() {
        let idx = FaqIndex::build(kb()).expect("build");
        let r = idx.search("银行卡", 3);
        assert!(r.ambiguous, "{r:?}");
        let ids: Vec<_> = r.top.iter().take(2).map(|h| h.id.as_str()).collect();
        assert!(ids.contains(&"card") && ids.contains(&"card2"), "{ids:?}");
        let r = idx.search("电费交费方式有哪些", 3);
        assert!(!r.ambiguous, "{r:?}");
    }

    #[test]
    fn word_order_breaks_ties() {
        // Same words, different meaning: order (bigrams, and the order
        // re-rank on top) tells them apart.
        let kb = vec![
            entry("a", "还款自动扣款失败怎么办", &[]),
            entry("b", "自动还款扣款失败怎么办", &[]),
        ];
        let idx = FaqIndex::build(kb).expect("build");
        let raw = idx.raw_top("自动还款扣款失败了怎么办", 2);
        assert_eq!(raw.first().map(|h| h.0), Some(1), "{raw:?}");
        assert!(raw[0].1 > raw[1].1, "{raw:?}");
        let lexical_only = FaqIndex::build_with(
            vec![
                entry("a", "还款自动扣款失败怎么办", &[]),
                entry("b", "自动还款扣款失败怎么办", &[]),
            ],
            FaqConfig {
                order_weight: 0.0,
                ..FaqConfig::default()
            },
            Segmenter::new(),
        )
        .expect("build");
        let raw0 = lexical_only.raw_top("自动还款扣款失败了怎么办", 2);
        assert_eq!(raw0.first().map(|h| h.0), Some(1), "{raw0:?}");
        assert!(
            raw[0].1 - raw[1].1 > raw0[0].1 - raw0[1].1,
            "{raw:?} vs {raw0:?}"
        );
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let mut k = kb();
        k.push(entry("fee", "重复", &[]));
        assert!(FaqIndex::build(k).is_err());
    }

    #[test]
    fn entry_lookup() {
        let idx = FaqIndex::build(kb()).expect("build");
        assert_eq!(
            idx.entry("addr").map(|e| e.answer.as_str()),
            Some("答案addr")
        );
        assert!(idx.entry("nope").is_none());
    }
}
