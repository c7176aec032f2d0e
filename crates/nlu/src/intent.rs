//! Intent classification: keyword/regex rules with priorities on top of a
//! logistic-regression model learned from example utterances.

use std::collections::HashMap;

use std::path::Path;
use std::sync::Arc;

use regex::Regex;

use crate::error::NluError;
use crate::features::{FeatureSpec, SparseVec, Vocab, extract};
use crate::linear::{Rng, Softmax, TrainParams};
use crate::segment::Segmenter;
use crate::semantic::Embedder;
use crate::text::normalize;

/// One labelled utterance. `intent: None` marks an out-of-scope example
/// (something callers say that no intent covers); such examples teach the
/// model when to answer "I don't know".
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntentExample {
    pub text: String,
    pub intent: Option<String>,
}

/// A hand-written rule: the intent fires when any keyword occurs in the
/// (normalised) text or any regex matches it. Among matching rules the
/// highest `priority` wins, then the earliest in the list; a matching rule
/// always overrides the learned model, because script authors write rules
/// precisely to force a decision.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntentRule {
    pub intent: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub regex: Vec<String>,
    #[serde(default)]
    pub priority: i32,
}

/// The outcome of [`IntentModel::classify`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntentResult {
    /// The intent, or `None` when the text is out of scope or the model is unsure.
    pub intent: Option<String>,
    /// Confidence in `[0,1]`: the model probability of the best named intent
    /// (1.0 when a rule decided).
    pub score: f32,
    /// The best named intents by model probability, best first (at most 5).
    pub ranked: Vec<(String, f32)>,
    /// The rule that decided, if any (index into the rules given to `train`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
}

/// Training settings; [`IntentConfig::default`] is what [`IntentModel::train`] uses.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntentConfig {
    pub params: TrainParams,
    /// Fixed out-of-scope threshold on the best intent's probability. `None`:
    /// calibrate it on a stratified fifth of the examples when they contain
    /// enough out-of-scope examples, else use `default_threshold`.
    pub threshold: Option<f32>,
    pub default_threshold: f32,
    /// Features extracted from each utterance.
    pub features: FeatureSpec,
    /// Features seen in fewer training utterances are dropped (0: 1 for
    /// sets under 2,000 examples, 2 above; 1 measured best on both public
    /// intent sets, so it is the default).
    pub min_count: u32,
    /// Weight of the sentence embedding against the lexical features
    /// (only with [`IntentModel::train_with_embedder`]).
    pub dense_scale: f32,
    /// Utterances whose lexical cosine similarity to every training example
    /// is below this are out of scope (0: off).
    pub min_similarity: f32,
    /// Weight of the out-of-scope examples, as a share of the in-scope ones,
    /// when calibrating the threshold (0: plain accuracy on the training
    /// distribution; 1: in-scope and out-of-scope count equally).
    pub oos_weight: f32,
    /// `min_similarity` used when the threshold could not be calibrated
    /// (no out-of-scope examples): a fresh script must still say "I don't
    /// know" to unrelated text.
    pub uncalibrated_min_similarity: f32,
    /// Share of the nearest-neighbour vote in the class probabilities.
    pub knn_weight: f32,
    /// Neighbours in the vote.
    pub knn_k: usize,
    /// Extra words for the segmenter (product names and the like).
    pub user_words: Vec<String>,
}

impl Default for IntentConfig {
    fn default() -> Self {
        IntentConfig {
            params: TrainParams::default(),
            threshold: None,
            default_threshold: 0.3,
            features: FeatureSpec::DEFAULT,
            min_count: 1,
            dense_scale: 1.0,
            min_similarity: 0.0,
            uncalibrated_min_similarity: 0.25,
            oos_weight: 0.0,
            knn_weight: 0.0,
            knn_k: 10,
            user_words: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct CompiledRule {
    intent: String,
    keywords: Vec<String>,
    regex: Vec<Regex>,
    priority: i32,
}

impl CompiledRule {
    fn matches(&self, norm: &str) -> bool {
        self.keywords.iter().any(|k| contains_keyword(norm, k))
            || self.regex.iter().any(|r| r.is_match(norm))
    }
}

/// Substring match, except that an ASCII keyword must match whole words
/// ("no" must not fire inside "know").
fn contains_keyword(text: &str, kw: &str) -> bool {
    if kw.is_empty() {
        return false;
    }
    if !kw.is_ascii() {
        return text.contains(kw);
    }
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = text.get(from..).and_then(|t| t.find(kw)) {
        let start = from + pos;
        let end = start + kw.len();
        let before_ok = start == 0
            || !bytes
                .get(start - 1)
                .is_some_and(|b| b.is_ascii_alphanumeric());
        let after_ok = !bytes.get(end).is_some_and(|b| b.is_ascii_alphanumeric());
        if before_ok && after_ok {
            return true;
        }
        from = start + 1;
        while !text.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// A trained intent classifier. Immutable, `Send + Sync`: build it once per
/// script version and share it.
#[derive(Debug, Clone)]
pub struct IntentModel {
    seg: Segmenter,
    spec: FeatureSpec,
    prep: Prepared,
    knn_weight: f32,
    knn_k: usize,
    min_similarity: f32,
    /// Class index to label; `None` is the out-of-scope class.
    labels: Vec<Option<String>>,
    threshold: f32,
    rules: Vec<CompiledRule>,
    embedder: Option<Arc<Embedder>>,
}

/// Vocabulary, linear model and the training vectors for the
/// nearest-neighbour part.
#[derive(Debug, Clone)]
struct Prepared {
    vocab: Vocab,
    model: Softmax,
    /// Per feature: (training example, value); an inverted index so that a
    /// query only touches examples sharing a feature with it.
    postings: Vec<Vec<(u32, f32)>>,
    /// Which features the similarity uses (see `Vocab::informative_mask`).
    informative: Vec<bool>,
    labels_of: Vec<usize>,
    /// Scale of the sentence embedding appended after the sparse features
    /// (0: none).
    dense_scale: f32,
}

impl Prepared {
    /// Cosine similarity (lexical features) to the closest training example.
    fn max_similarity(&self, x: &SparseVec) -> f32 {
        if self.postings.is_empty() {
            return 1.0;
        }
        let mut sims = vec![0.0f32; self.labels_of.len()];
        for &(f, v) in &restrict(x, &self.informative) {
            if let Some(post) = self.postings.get(f as usize) {
                for &(e, w) in post {
                    if let Some(s) = sims.get_mut(e as usize) {
                        *s += v * w;
                    }
                }
            }
        }
        sims.into_iter().fold(0.0, f32::max)
    }

    /// The model's input: sparse features, then the scaled embedding.
    fn vectorize(&self, feats: &[(String, u32)], dense: &[f32]) -> SparseVec {
        let mut x = self.vocab.vectorize(feats);
        if self.dense_scale > 0.0 {
            let base = self.vocab.len();
            x.extend(
                dense
                    .iter()
                    .enumerate()
                    .map(|(j, v)| ((base + j) as u32, v * self.dense_scale)),
            );
        }
        x
    }

    /// Class probabilities: the linear model mixed with a similarity-weighted
    /// vote of the `k` most similar training utterances. The vote helps on
    /// noisy transcripts that nearly repeat a known utterance, which a
    /// linear model with thousands of competing n-grams can miss.
    fn probs(&self, x: &SparseVec, knn_weight: f32, k: usize) -> Vec<f32> {
        let mut p = self.model.probs(x);
        if knn_weight <= 0.0 || k == 0 || self.labels_of.is_empty() {
            return p;
        }
        let mut sims = vec![0.0f32; self.labels_of.len()];
        for &(f, v) in x {
            if let Some(post) = self.postings.get(f as usize) {
                for &(e, w) in post {
                    if let Some(s) = sims.get_mut(e as usize) {
                        *s += v * w;
                    }
                }
            }
        }
        let mut idx: Vec<usize> = (0..sims.len())
            .filter(|&i| sims.get(i).is_some_and(|&s| s > 0.0))
            .collect();
        let cmp = |a: &usize, b: &usize| {
            let (sa, sb) = (
                sims.get(*a).copied().unwrap_or(0.0),
                sims.get(*b).copied().unwrap_or(0.0),
            );
            sb.total_cmp(&sa).then(a.cmp(b))
        };
        if idx.len() > k {
            idx.select_nth_unstable_by(k - 1, cmp);
            idx.truncate(k);
        }
        let mut vote = vec![0.0f32; p.len()];
        let mut total = 0.0;
        for i in idx {
            let s = sims.get(i).copied().unwrap_or(0.0);
            let w = s * s;
            if let Some(v) = self.labels_of.get(i).and_then(|&y| vote.get_mut(y)) {
                *v += w;
                total += w;
            }
        }
        if total <= 0.0 {
            return p;
        }
        for (pi, vi) in p.iter_mut().zip(&vote) {
            *pi = (1.0 - knn_weight) * *pi + knn_weight * vi / total;
        }
        p
    }
}

/// The informative part of a vector, L2-normalised again.
fn restrict(x: &SparseVec, informative: &[bool]) -> SparseVec {
    let mut r: SparseVec = x
        .iter()
        .copied()
        .filter(|(f, _)| informative.get(*f as usize).copied().unwrap_or(false))
        .collect();
    let norm = r.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for p in &mut r {
            p.1 /= norm;
        }
    }
    r
}

fn fit(
    feats: &[Vec<(String, u32)>],
    dense: &[Vec<f32>],
    ys: &[usize],
    classes: usize,
    config: &IntentConfig,
) -> Prepared {
    let params = &config.params;
    let knn = config.knn_weight > 0.0 || config.min_similarity > 0.0;
    let dense_scale = config.dense_scale;
    // Singleton n-grams of a large set are mostly noise and cost memory
    // (features x classes weights); a small tenant set needs every one.
    let min_count = match config.min_count {
        0 if feats.len() >= 2000 => 2,
        0 => 1,
        n => n,
    };
    let vocab = Vocab::build(feats, min_count);
    let dim = dense.first().map_or(0, Vec::len);
    let dense_scale = if dim > 0 { dense_scale } else { 0.0 };
    let mut prep = Prepared {
        vocab,
        model: Softmax::train(&[], &[], 0, 0, params),
        postings: Vec::new(),
        informative: Vec::new(),
        labels_of: ys.to_vec(),
        dense_scale,
    };
    let empty = Vec::new();
    let xs: Vec<_> = feats
        .iter()
        .enumerate()
        .map(|(i, f)| prep.vectorize(f, dense.get(i).unwrap_or(&empty)))
        .collect();
    let n_features = prep.vocab.len() + if dense_scale > 0.0 { dim } else { 0 };
    let model = Softmax::train(&xs, ys, n_features, classes, params);
    let vocab = std::mem::take(&mut prep.vocab);
    let informative = if knn {
        vocab.informative_mask()
    } else {
        Vec::new()
    };
    let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); if knn { vocab.len() } else { 0 }];
    for (e, x) in xs.iter().enumerate().filter(|_| knn) {
        for &(f, v) in &restrict(x, &informative) {
            if let Some(p) = postings.get_mut(f as usize) {
                p.push((e as u32, v));
            }
        }
    }
    Prepared {
        vocab,
        model,
        postings,
        informative,
        labels_of: ys.to_vec(),
        dense_scale,
    }
}

impl IntentModel {
    /// Trains with [`IntentConfig::default`].
    pub fn train(examples: &[IntentExample], rules: &[IntentRule]) -> Result<Self, NluError> {
        Self::train_with(examples, rules, &IntentConfig::default())
    }

    /// Trains with explicit settings.
    pub fn train_with(
        examples: &[IntentExample],
        rules: &[IntentRule],
        config: &IntentConfig,
    ) -> Result<Self, NluError> {
        Self::train_full(examples, rules, config, None, None)
    }

    /// Trains with sentence embeddings appended to the lexical features
    /// (`config.dense_scale`); example embeddings are cached in `cache_dir`.
    /// Classification then embeds every utterance (~10–60 ms).
    pub fn train_with_embedder(
        examples: &[IntentExample],
        rules: &[IntentRule],
        config: &IntentConfig,
        embedder: Arc<Embedder>,
        cache_dir: Option<&Path>,
    ) -> Result<Self, NluError> {
        Self::train_full(examples, rules, config, Some(embedder), cache_dir)
    }

    fn train_full(
        examples: &[IntentExample],
        rules: &[IntentRule],
        config: &IntentConfig,
        embedder: Option<Arc<Embedder>>,
        cache_dir: Option<&Path>,
    ) -> Result<Self, NluError> {
        let compiled = compile_rules(rules)?;
        let seg = if config.user_words.is_empty() {
            Segmenter::new()
        } else {
            Segmenter::with_user_words(config.user_words.iter().cloned())
        };
        let spec = config.features;

        // Labels in first-seen order: deterministic class indices.
        let mut labels: Vec<Option<String>> = Vec::new();
        let mut label_index: HashMap<Option<String>, usize> = HashMap::new();
        let mut ys = Vec::with_capacity(examples.len());
        for ex in examples {
            let label = ex
                .intent
                .as_ref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty());
            let idx = *label_index.entry(label.clone()).or_insert_with(|| {
                labels.push(label);
                labels.len() - 1
            });
            ys.push(idx);
        }
        if examples.is_empty() && compiled.is_empty() {
            return Err(NluError::Invalid(
                "intent model needs at least one example or one rule".into(),
            ));
        }
        let feats: Vec<_> = examples
            .iter()
            .map(|e| extract(&seg, &e.text, spec))
            .collect();

        let dense: Vec<Vec<f32>> = match &embedder {
            Some(e) if config.dense_scale > 0.0 => {
                let texts: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
                let flat = e.embed_all(&texts, cache_dir)?;
                flat.chunks_exact(e.dim().max(1))
                    .map(<[f32]>::to_vec)
                    .collect()
            }
            _ => Vec::new(),
        };
        let embedder = embedder.filter(|_| !dense.is_empty());

        let oos_class = label_index.get(&None).copied();
        let calibrated = match config.threshold {
            Some(t) => Some(t),
            None => calibrate(&feats, &dense, &ys, &labels, oos_class, config),
        };
        // Without out-of-scope examples to learn from, stay conservative: the
        // softmax must clearly prefer one intent (more so with few intents),
        // and the text must resemble some example.
        let named = labels.iter().filter(|l| l.is_some()).count().max(1);
        let (threshold, min_similarity) = match calibrated {
            Some(t) => (t, config.min_similarity),
            None => (
                config.default_threshold.max(1.5 / named as f32).min(0.9),
                config
                    .min_similarity
                    .max(config.uncalibrated_min_similarity),
            ),
        };
        let mut config = config.clone();
        config.min_similarity = min_similarity;
        let config = &config;
        let prep = fit(&feats, &dense, &ys, labels.len(), config);
        Ok(IntentModel {
            seg,
            spec,
            prep,
            knn_weight: config.knn_weight,
            knn_k: config.knn_k,
            min_similarity: config.min_similarity,
            labels,
            threshold,
            rules: compiled,
            embedder,
        })
    }

    /// The out-of-scope threshold in use (calibrated or configured).
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Names of the intents the model knows (from examples and rules), sorted.
    pub fn intents(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .labels
            .iter()
            .flatten()
            .cloned()
            .chain(self.rules.iter().map(|r| r.intent.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Classifies one utterance.
    pub fn classify(&self, text: &str) -> IntentResult {
        let norm = normalize(text);
        let rule = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.matches(&norm))
            // max_by_key keeps the last maximum: reverse so the earliest wins.
            .rev()
            .max_by_key(|(_, r)| r.priority);
        // One model evaluation (and at most one embedding) per utterance.
        let (probs, similarity) = if self.labels.is_empty() {
            (Vec::new(), 0.0)
        } else {
            let x = self.input(text);
            (
                self.prep.probs(&x, self.knn_weight, self.knn_k),
                self.prep.max_similarity(&x),
            )
        };
        let mut ranked: Vec<(String, f32)> = self
            .labels
            .iter()
            .zip(&probs)
            .filter_map(|(l, p)| l.as_ref().map(|l| (l.clone(), *p)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(5);
        if let Some((i, r)) = rule {
            return IntentResult {
                intent: Some(r.intent.clone()),
                score: 1.0,
                ranked,
                rule: Some(i),
            };
        }
        let (intent, score) = decide_from(&probs, &self.labels, self.threshold);
        // Text that shares almost nothing with any example is out of scope,
        // however the softmax spreads its mass (it must pick some class).
        let intent = intent.filter(|_| similarity >= self.min_similarity);
        IntentResult {
            intent,
            score,
            ranked,
            rule: None,
        }
    }

    fn input(&self, text: &str) -> SparseVec {
        let feats = extract(&self.seg, text, self.spec);
        // An embedding failure (never expected) degrades to lexical features.
        let dense = match &self.embedder {
            Some(e) => e.embed(text).unwrap_or_default(),
            None => Vec::new(),
        };
        self.prep.vectorize(&feats, &dense)
    }
}

/// Best named intent unless the out-of-scope class wins or the best named
/// intent is below the threshold.
fn decide_from(probs: &[f32], labels: &[Option<String>], threshold: f32) -> (Option<String>, f32) {
    let mut best: Option<(usize, f32)> = None;
    let mut best_named: Option<(usize, f32)> = None;
    for (i, &p) in probs.iter().enumerate() {
        if best.is_none_or(|(_, bp)| p > bp) {
            best = Some((i, p));
        }
        if labels.get(i).is_some_and(|l| l.is_some()) && best_named.is_none_or(|(_, bp)| p > bp) {
            best_named = Some((i, p));
        }
    }
    let Some((bn, bp)) = best_named else {
        return (None, 0.0);
    };
    let oos_wins = best.is_some_and(|(b, _)| labels.get(b).is_some_and(|l| l.is_none()));
    if oos_wins || bp < threshold {
        return (None, bp);
    }
    (labels.get(bn).cloned().flatten(), bp)
}

fn compile_rules(rules: &[IntentRule]) -> Result<Vec<CompiledRule>, NluError> {
    rules
        .iter()
        .map(|r| {
            if r.intent.trim().is_empty() {
                return Err(NluError::BadRule {
                    intent: r.intent.clone(),
                    message: "empty intent name".into(),
                });
            }
            let regex = r
                .regex
                .iter()
                .map(|p| {
                    Regex::new(p).map_err(|e| NluError::BadRule {
                        intent: r.intent.clone(),
                        message: format!("regex {p:?}: {e}"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(CompiledRule {
                intent: r.intent.clone(),
                keywords: r
                    .keywords
                    .iter()
                    .map(|k| normalize(k.trim()))
                    .filter(|k| !k.is_empty())
                    .collect(),
                regex,
                priority: r.priority,
            })
        })
        .collect()
}

/// Picks the out-of-scope threshold that maximises accuracy (out-of-scope
/// answered `None` counts as correct) on a stratified fifth of the examples,
/// with a model trained on the other four fifths. Returns `None` when there
/// are too few out-of-scope examples to say anything.
fn calibrate(
    feats: &[Vec<(String, u32)>],
    dense: &[Vec<f32>],
    ys: &[usize],
    labels: &[Option<String>],
    oos_class: Option<usize>,
    config: &IntentConfig,
) -> Option<f32> {
    let oos = oos_class?;
    let n_oos = ys.iter().filter(|&&y| y == oos).count();
    if n_oos < 20 || ys.len() < 100 {
        return None;
    }
    let (train_idx, hold_idx) = stratified_split(ys, labels.len(), 5, config.params.seed);
    let tf: Vec<_> = train_idx
        .iter()
        .filter_map(|&i| feats.get(i).cloned())
        .collect();
    let ty: Vec<_> = train_idx
        .iter()
        .filter_map(|&i| ys.get(i).copied())
        .collect();
    let td: Vec<_> = train_idx
        .iter()
        .filter_map(|&i| dense.get(i).cloned())
        .collect();
    let p = fit(&tf, &td, &ty, labels.len(), config);
    let hold: Vec<(Vec<f32>, usize)> = hold_idx
        .iter()
        .filter_map(|&i| {
            Some((
                p.probs(
                    &p.vectorize(feats.get(i)?, dense.get(i).map_or(&[][..], Vec::as_slice)),
                    config.knn_weight,
                    config.knn_k,
                ),
                *ys.get(i)?,
            ))
        })
        .collect();
    // Out-of-scope examples are usually rarer in training data than in real
    // calls, so they can be up-weighted (`oos_weight`) to keep the threshold
    // from learning "never reject".
    let n_in = hold.iter().filter(|(_, y)| *y != oos).count().max(1) as f32;
    let n_out = hold.iter().filter(|(_, y)| *y == oos).count().max(1) as f32;
    let w_out = config.oos_weight.max(0.0) * n_in / n_out;
    let mut best = (f32::NEG_INFINITY, 0.0f32);
    for step in 0..=95u32 {
        let t = step as f32 / 100.0;
        let score: f32 = hold
            .iter()
            .filter(|(probs, y)| {
                let (pred, _) = decide_from(probs, labels, t);
                pred == labels.get(*y).cloned().flatten()
            })
            .map(|(_, y)| {
                if *y == oos && config.oos_weight > 0.0 {
                    w_out
                } else {
                    1.0
                }
            })
            .sum();
        if score > best.0 {
            best = (score, t);
        }
    }
    Some(best.1)
}

/// Deterministic stratified split: every `k`-th example of each class (after
/// a seeded shuffle) goes to the second part; classes with fewer than `k`
/// examples stay whole in the first part.
pub(crate) fn stratified_split(
    ys: &[usize],
    classes: usize,
    k: usize,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &y) in ys.iter().enumerate() {
        if let Some(v) = by_class.get_mut(y) {
            v.push(i);
        }
    }
    let mut rng = Rng::new(seed ^ 0x00c0_ffee);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for mut idx in by_class {
        rng.shuffle(&mut idx);
        let small = idx.len() < k;
        for (j, i) in idx.into_iter().enumerate() {
            if !small && j % k == 0 {
                b.push(i);
            } else {
                a.push(i);
            }
        }
    }
    a.sort_unstable();
    b.sort_unstable();
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str, intent: Option<&str>) -> IntentExample {
        IntentExample {
            text: text.into(),
            intent: intent.map(Into::into),
        }
    }

    fn small_set() -> Vec<IntentExample> {
        vec![
            ex("我已经交过电费了", Some("已还清")),
            ex("钱早就交了", Some("已还清")),
            ex("上个月就缴清了", Some("已还清")),
            ex("交过了啊", Some("已还清")),
            ex("你们公司地址在哪里", Some("查询地址")),
            ex("营业厅在什么地方", Some("查询地址")),
            ex("地址发我一下", Some("查询地址")),
            ex("在哪个位置", Some("查询地址")),
            ex("你是机器人吗", Some("机器人")),
            ex("你是不是真人", Some("机器人")),
            ex("机器人吧你", Some("机器人")),
            ex("是人工还是机器", Some("机器人")),
            ex("今天天气不错", None),
            ex("我在吃饭呢", None),
        ]
    }

    #[test]
    fn classifies_seen_and_paraphrased() {
        let m = IntentModel::train(&small_set(), &[]).expect("train");
        assert_eq!(
            m.classify("电费已经交过了").intent.as_deref(),
            Some("已还清")
        );
        assert_eq!(
            m.classify("你们地址在哪").intent.as_deref(),
            Some("查询地址")
        );
        assert_eq!(
            m.classify("你是不是机器人").intent.as_deref(),
            Some("机器人")
        );
        let r = m.classify("你是不是机器人");
        assert_eq!(r.ranked.first().map(|p| p.0.as_str()), Some("机器人"));
        assert!(r.ranked.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn unrelated_text_is_out_of_scope() {
        let cfg = IntentConfig {
            threshold: Some(0.5),
            ..IntentConfig::default()
        };
        let m = IntentModel::train_with(&small_set(), &[], &cfg).expect("train");
        assert_eq!(m.classify("").intent, None);
        assert_eq!(m.classify("今天天气不错").intent, None);
    }

    #[test]
    fn unrelated_text_is_rejected_without_null_examples() {
        // A fresh tenant script has no out-of-scope examples at all.
        let named: Vec<IntentExample> = small_set()
            .into_iter()
            .filter(|e| e.intent.is_some())
            .collect();
        let m = IntentModel::train(&named, &[]).expect("train");
        for t in [
            "我想订一张去北京的机票",
            "帮我放一首周杰伦的歌",
            "hello world",
        ] {
            let r = m.classify(t);
            assert_eq!(r.intent, None, "{t}: {r:?}");
        }
        assert_eq!(
            m.classify("我电费已经交过了").intent.as_deref(),
            Some("已还清")
        );
        assert_eq!(
            m.classify("营业厅地址在哪里").intent.as_deref(),
            Some("查询地址")
        );
    }

    #[test]
    fn rules_override_model_by_priority() {
        let rules = vec![
            IntentRule {
                intent: "投诉".into(),
                keywords: vec!["投诉".into()],
                regex: vec![],
                priority: 1,
            },
            IntentRule {
                intent: "人工".into(),
                keywords: vec![],
                regex: vec!["转.*人工".into()],
                priority: 5,
            },
            IntentRule {
                intent: "no".into(),
                keywords: vec!["NO".into()],
                regex: vec![],
                priority: 0,
            },
        ];
        let m = IntentModel::train(&small_set(), &rules).expect("train");
        assert_eq!(m.classify("我要投诉你们").intent.as_deref(), Some("投诉"));
        let r = m.classify("我要投诉，给我转接人工");
        assert_eq!(r.intent.as_deref(), Some("人工"));
        assert_eq!(r.rule, Some(1));
        assert_eq!(m.classify("No thanks").intent.as_deref(), Some("no"));
        assert_ne!(m.classify("I know").intent.as_deref(), Some("no"));
    }

    #[test]
    fn bad_regex_is_an_error() {
        let rules = vec![IntentRule {
            intent: "x".into(),
            keywords: vec![],
            regex: vec!["(".into()],
            priority: 0,
        }];
        let err = IntentModel::train(&small_set(), &rules).expect_err("must fail");
        assert!(err.to_string().contains("regex"), "{err}");
    }

    #[test]
    fn empty_model_is_an_error() {
        assert!(IntentModel::train(&[], &[]).is_err());
    }

    #[test]
    fn split_is_stratified_and_complete() {
        let ys = vec![0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2];
        let (a, b) = stratified_split(&ys, 3, 5, 1);
        assert_eq!(a.len() + b.len(), ys.len());
        assert_eq!(b.iter().filter(|&&i| ys[i] == 0).count(), 1);
        assert_eq!(b.iter().filter(|&&i| ys[i] == 1).count(), 1);
        assert!(a.contains(&10));
    }
}
