//! Measures the NLU components on the public evaluation sets with a fixed,
//! deterministic split protocol and prints a Markdown table.
//!
//! `cargo run --release -p nlu --example eval -- [faq|sgcc|clinc|sentiment|all]`
//!
//! Protocols (tuning never sees the reported part):
//! - FAQ: queries are split in two halves, stratified by in/out of scope.
//!   The calibration (logistic fit) and acceptance threshold are fitted on
//!   the tuning half; metrics are reported on the other half.
//! - Intents: 5 stratified folds. Hyper-parameters were chosen training on
//!   folds 2–4 and scoring fold 1 ("tune"); the reported number trains on
//!   folds 1–4 and scores fold 0 ("test"). The out-of-scope threshold is
//!   calibrated inside `IntentModel::train` on its own training data.
//! - Sentiment: the default model is trained on reviews folds 1–4 only;
//!   reported on reviews fold 0 and on all of waimai (another domain).
//!   Tenant path: a model trained on waimai folds 1–4, scored on fold 0.

mod common;

use std::time::Instant;

use nlu::{
    Calibration, FaqConfig, FaqEntry, FaqIndex, IntentConfig, IntentExample, IntentModel, Segmenter,
};

#[derive(serde::Deserialize)]
struct Query {
    query: String,
    expect: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    println!("| set | metric | split | ours | peer baseline |");
    println!("|---|---|---|---|---|");
    if what == "faq" || what == "all" {
        faq()?;
    }
    if what == "sgcc" || what == "all" {
        intents("intent-sgcc", true)?;
    }
    if what == "clinc" || what == "all" {
        intents("intent-clinc150", false)?;
    }
    if what == "sentiment" || what == "all" {
        sentiment()?;
    }
    Ok(())
}

struct FaqStats {
    r1: f64,
    r5: f64,
    rejected: f64,
    answered: f64,
    answered_correct: f64,
}

fn faq_stats(idx: &FaqIndex, qs: &[&Query]) -> FaqStats {
    let (mut n_in, mut n_out, mut r1, mut r5, mut rej, mut ans, mut ans_ok) = (0, 0, 0, 0, 0, 0, 0);
    for q in qs {
        let r = idx.search(&q.query, 5);
        match &q.expect {
            Some(id) => {
                n_in += 1;
                if r.top.first().is_some_and(|h| &h.id == id) {
                    r1 += 1;
                }
                if r.top.iter().take(5).any(|h| &h.id == id) {
                    r5 += 1;
                }
                if let Some(b) = &r.best {
                    ans += 1;
                    if &b.id == id {
                        ans_ok += 1;
                    }
                }
            }
            None => {
                n_out += 1;
                if r.best.is_none() {
                    rej += 1;
                }
            }
        }
    }
    let d = |a: i32, b: i32| {
        if b == 0 {
            0.0
        } else {
            f64::from(a) / f64::from(b)
        }
    };
    FaqStats {
        r1: d(r1, n_in),
        r5: d(r5, n_in),
        rejected: d(rej, n_out),
        answered: d(ans, n_in),
        answered_correct: d(ans_ok, ans),
    }
}

/// Fits `sigmoid(a*s + b*m + c)` to 0/1 labels by gradient descent.
fn fit_logistic(rows: &[(f32, f32, f32)]) -> Calibration {
    let (mut a, mut b, mut c) = (1.0f32, 1.0f32, 0.0f32);
    let n = rows.len().max(1) as f32;
    for _ in 0..20000 {
        let (mut ga, mut gb, mut gc) = (0.0, 0.0, 0.0);
        for &(s, m, y) in rows {
            let p = 1.0 / (1.0 + (-(a * s + b * m + c)).exp());
            ga += (p - y) * s;
            gb += (p - y) * m;
            gc += p - y;
        }
        a -= 4.0 * ga / n;
        b -= 4.0 * gb / n;
        c -= 4.0 * gc / n;
    }
    Calibration {
        w_score: a,
        w_margin: b,
        bias: c,
    }
}

/// Calibrations fitted on the tuning queries only: hit confidence (is this
/// hit the answer?) over the top-5 hits, scope (is the query in scope?) over
/// the best hit, and the lowest acceptance threshold that rejects at least
/// 95 % of the tuning out-of-scope queries.
fn fit_faq(idx: &FaqIndex, qs: &[&Query]) -> (Calibration, Calibration, f32) {
    let ids = idx.ids();
    let mut conf_rows = Vec::new();
    let mut scope_rows = Vec::new();
    for q in qs {
        let raw = idx.raw_top(&q.query, 5);
        let feats = FaqIndex::hit_features(&raw);
        for (k, ((e, _), &(s, m))) in raw.iter().zip(&feats).enumerate() {
            let ok = q
                .expect
                .as_deref()
                .is_some_and(|id| ids.get(*e).is_some_and(|x| x == id));
            conf_rows.push((s, m, if ok { 1.0 } else { 0.0 }));
            if k == 0 {
                scope_rows.push((s, m, if q.expect.is_some() { 1.0 } else { 0.0 }));
            }
        }
        if raw.is_empty() {
            scope_rows.push((0.0, 0.0, if q.expect.is_some() { 1.0 } else { 0.0 }));
        }
    }
    let conf = fit_logistic(&conf_rows);
    // Scope from the score alone: the margin says which entry, not whether
    // the query belongs to the knowledge base at all.
    let score_only: Vec<(f32, f32, f32)> =
        scope_rows.iter().map(|&(s, _, y)| (s, 0.0, y)).collect();
    let mut scope = fit_logistic(&score_only);
    scope.w_margin = 0.0;
    let mut oos: Vec<f32> = scope_rows
        .iter()
        .filter(|r| r.2 == 0.0)
        .map(|&(s, m, _)| scope.apply(s, m))
        .collect();
    oos.sort_by(f32::total_cmp);
    let k = ((oos.len() as f32) * 0.95).ceil() as usize;
    let accept = oos
        .get(k.min(oos.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.5)
        + 1e-4;
    (conf, scope, accept)
}

fn report_faq(label: &str, idx: &FaqIndex, tune: &[&Query], test: &[&Query]) {
    for (name, qs) in [("tune half", tune), ("test half", test)] {
        let s = faq_stats(idx, qs);
        println!(
            "| faq-afqmc {label} | recall@1 | {name} | {:.3} | 0.120 (BM25 words) |",
            s.r1
        );
        println!(
            "| faq-afqmc {label} | recall@5 | {name} | {:.3} | 0.309 |",
            s.r5
        );
        println!(
            "| faq-afqmc {label} | out-of-scope rejected | {name} | {:.3} | |",
            s.rejected
        );
        println!(
            "| faq-afqmc {label} | in-scope answered (of those, top-1 right) | {name} | {:.3} ({:.3}) | |",
            s.answered, s.answered_correct
        );
    }
}

fn faq() -> Result<(), Box<dyn std::error::Error>> {
    let dir = common::eval_dir().join("faq-afqmc");
    let kb: Vec<FaqEntry> = nlu::cli::read_jsonl(&dir.join("kb.jsonl"))?;
    let queries: Vec<Query> = nlu::cli::read_jsonl(&dir.join("queries.jsonl"))?;
    let keys: Vec<bool> = queries.iter().map(|q| q.expect.is_some()).collect();
    let fold = common::folds(&keys, 2, 7);
    let tune: Vec<&Query> = queries
        .iter()
        .zip(&fold)
        .filter(|(_, f)| **f == 0)
        .map(|(q, _)| q)
        .collect();
    let test: Vec<&Query> = queries
        .iter()
        .zip(&fold)
        .filter(|(_, f)| **f == 1)
        .map(|(q, _)| q)
        .collect();
    let d = FaqConfig::default();
    let base = FaqConfig {
        bigram_weight: env_f32("NLU_BIGRAM", d.bigram_weight),
        char_weight: env_f32("NLU_CHAR", d.char_weight),
        pinyin_weight: env_f32("NLU_PINYIN", d.pinyin_weight),
        order_weight: env_f32("NLU_ORDER", d.order_weight),
        unknown_weight: env_f32("NLU_UNK", d.unknown_weight),
        dice_weight: env_f32("NLU_DICE", d.dice_weight),
        dense_weight: env_f32("NLU_DENSE", d.dense_weight),
        dense_floor: env_f32("NLU_FLOOR", d.dense_floor),
        k1: env_f32("NLU_K1", d.k1),
        b: env_f32("NLU_B", d.b),
        ..d
    };
    let t = Instant::now();
    let lexical = FaqIndex::build_with(kb.clone(), base.clone(), Segmenter::new())?;
    eprintln!("lexical index built in {:?}", t.elapsed());
    let (confidence, scope, accept) = fit_faq(&lexical, &tune);
    eprintln!(
        "lexical fit on tune half: confidence {confidence:?} scope {scope:?} accept {accept}"
    );
    report_faq("lexical (shipped calibration)", &lexical, &tune, &test);
    if std::env::var_os("NLU_REFIT").is_some() {
        let cfg = FaqConfig {
            confidence,
            scope,
            accept,
            ..base.clone()
        };
        let refit = FaqIndex::build_with(kb.clone(), cfg, Segmenter::new())?;
        report_faq("lexical (refit on tune half)", &refit, &tune, &test);
    }
    let model_dir = nlu::semantic::default_model_dir();
    let embedder = if std::env::var_os("NLU_NOSEM").is_some() {
        Err("NLU_NOSEM is set".to_string())
    } else {
        nlu::semantic::Embedder::load(&model_dir).map_err(|e| e.to_string())
    };
    match embedder {
        Err(e) => eprintln!("semantic mode skipped: {e}"),
        Ok(emb) => {
            let t = Instant::now();
            let sem = FaqIndex::build_with(kb.clone(), base.clone(), Segmenter::new())?
                .with_embedder(std::sync::Arc::new(emb), Some(&model_dir.join("cache")))?;
            eprintln!("semantic index built in {:?}", t.elapsed());
            let (confidence, scope, accept) = fit_faq(&sem, &tune);
            eprintln!(
                "semantic fit on tune half: confidence {confidence:?} scope {scope:?} accept {accept}"
            );
            report_faq("semantic (shipped calibration)", &sem, &tune, &test);
        }
    }
    Ok(())
}

fn env_f32(name: &str, default: f32) -> f32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn accuracy(m: &IntentModel, qs: &[&IntentExample]) -> (f64, f64, f64) {
    let (mut ok, mut oos, mut oos_ok, mut ins, mut ins_ok) = (0, 0, 0, 0, 0);
    for q in qs {
        let r = m.classify(&q.text);
        let hit = r.intent == q.intent;
        if !hit && std::env::var_os("NLU_DUMP").is_some() {
            eprintln!("{}\t{:?}\t{:?}\t{:.2}", q.text, q.intent, r.intent, r.score);
        }
        if hit {
            ok += 1;
        }
        if q.intent.is_none() {
            oos += 1;
            oos_ok += usize::from(hit);
        } else {
            ins += 1;
            ins_ok += usize::from(hit);
        }
    }
    let d = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    (d(ok, qs.len()), d(ins_ok, ins), d(oos_ok, oos))
}

fn intents(set: &str, peer: bool) -> Result<(), Box<dyn std::error::Error>> {
    let dir = common::eval_dir().join(set);
    let data: Vec<IntentExample> = nlu::cli::read_jsonl(&dir.join("train.jsonl"))?;
    let keys: Vec<String> = data
        .iter()
        .map(|d| d.intent.clone().unwrap_or_default())
        .collect();
    let fold = common::folds(&keys, 5, 11);
    let mut cfg = IntentConfig::default();
    cfg.params.epochs = env_usize("NLU_EPOCHS", cfg.params.epochs);
    cfg.params.learning_rate = env_f32("NLU_LR", cfg.params.learning_rate);
    cfg.params.l2 = env_f32("NLU_L2", cfg.params.l2);
    cfg.params.average = env_usize("NLU_AVG", usize::from(cfg.params.average)) == 1;
    cfg.min_count = env_usize("NLU_MINC", cfg.min_count as usize) as u32;
    cfg.knn_weight = env_f32("NLU_KNN", cfg.knn_weight);
    cfg.min_similarity = env_f32("NLU_MINSIM", cfg.min_similarity);
    cfg.oos_weight = env_f32("NLU_OOSW", cfg.oos_weight);
    cfg.dense_scale = env_f32("NLU_DSCALE", cfg.dense_scale);
    // Semantic intent features only when asked (they need the optional model).
    let embedder = if std::env::var_os("NLU_SEM_INTENT").is_some() {
        nlu::semantic::try_default().map(std::sync::Arc::new)
    } else {
        None
    };
    let set_label = if embedder.is_some() {
        format!("{set} semantic")
    } else {
        set.to_string()
    };
    let set = set_label.as_str();
    cfg.knn_k = env_usize("NLU_K", cfg.knn_k);
    cfg.features.max_char_ngram = env_usize("NLU_NGRAM", cfg.features.max_char_ngram);
    cfg.features.words = env_usize("NLU_WORDS", 1) == 1;
    cfg.features.word_bigrams = env_usize("NLU_WBI", 1) == 1;
    cfg.features.pinyin = env_usize("NLU_PY", 1) == 1;
    cfg.features.cues = env_usize("NLU_CUES", usize::from(cfg.features.cues)) == 1;
    for (name, test_fold, skip) in [
        ("tune: train folds 2-4, score fold 1", 1, Some(0)),
        ("test: train folds 1-4, score fold 0", 0, None),
    ] {
        if test_fold == 0 && std::env::var_os("NLU_TUNE_ONLY").is_some() {
            continue;
        }
        let train: Vec<IntentExample> = data
            .iter()
            .zip(&fold)
            .filter(|(_, f)| **f != test_fold && Some(**f) != skip)
            .map(|(d, _)| d.clone())
            .collect();
        let test: Vec<&IntentExample> = data
            .iter()
            .zip(&fold)
            .filter(|(_, f)| **f == test_fold)
            .map(|(d, _)| d)
            .collect();
        let t = Instant::now();
        let m = match &embedder {
            Some(e) => IntentModel::train_with_embedder(
                &train,
                &[],
                &cfg,
                e.clone(),
                Some(&nlu::semantic::default_cache_dir()),
            )?,
            None => IntentModel::train_with(&train, &[], &cfg)?,
        };
        let took = t.elapsed();
        let (acc, ins, oos) = accuracy(&m, &test);
        println!(
            "| {set} | accuracy (null counted) | {name} | {acc:.3} (in-scope {ins:.3}, out-of-scope {oos:.3}; threshold {:.2}; trained in {:.1}s) | |",
            m.threshold(),
            took.as_secs_f64()
        );
        if peer && test_fold == 0 {
            let p = peer_templates(&dir.join("peer-templates.json"))?;
            let ok = test
                .iter()
                .filter(|q| p.classify(&q.text).intent == q.intent)
                .count();
            println!(
                "| {set} | accuracy | {name} | | {:.3} (peer keyword templates) |",
                ok as f64 / test.len().max(1) as f64
            );
        }
    }
    Ok(())
}

/// The peer robot's keyword/regex templates as rules (a baseline only).
fn peer_templates(path: &std::path::Path) -> Result<IntentModel, Box<dyn std::error::Error>> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let mut rules = Vec::new();
    if let Some(obj) = v.as_object() {
        for (name, body) in obj {
            let templates: Vec<String> = body
                .get("templates")
                .and_then(|t| t.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let regex: Vec<String> = templates.into_iter().filter(|t| regex_ok(t)).collect();
            rules.push(nlu::IntentRule {
                intent: name.clone(),
                keywords: vec![],
                regex,
                priority: 0,
            });
        }
    }
    // Rules only: a model with no examples never answers, so the rules decide.
    let cfg = IntentConfig {
        threshold: Some(2.0),
        ..IntentConfig::default()
    };
    Ok(IntentModel::train_with(&[], &rules, &cfg)?)
}

fn regex_ok(t: &str) -> bool {
    !t.is_empty() && regex::Regex::new(t).is_ok()
}

fn polarity_acc(m: &nlu::EmotionModel, data: &[&(String, bool)]) -> f64 {
    let ok = data
        .iter()
        .filter(|(t, n)| m.score(t).negative == *n)
        .count();
    ok as f64 / data.len().max(1) as f64
}

fn sentiment() -> Result<(), Box<dyn std::error::Error>> {
    let reviews = common::load_polarity("reviews.jsonl")?;
    let waimai = common::load_polarity("waimai.jsonl")?;
    let rk: Vec<bool> = reviews.iter().map(|d| d.1).collect();
    let rf = common::folds(&rk, 5, 42);
    let mut params = nlu::TrainParams::default();
    params.epochs = env_usize("NLU_EPOCHS", params.epochs);
    params.learning_rate = env_f32("NLU_LR", params.learning_rate);
    params.l2 = env_f32("NLU_L2", params.l2);
    params.average = env_usize("NLU_AVG", usize::from(params.average)) == 1;
    let default = if std::env::var_os("NLU_EMO_RETRAIN").is_some() {
        // Same recipe as examples/train_emotion.rs, with overridden parameters.
        let train: Vec<(String, bool)> = reviews
            .iter()
            .zip(&rf)
            .filter(|(_, f)| **f != 0)
            .map(|(d, _)| d.clone())
            .collect();
        nlu::EmotionModel::train_with(&train, &params)
    } else {
        nlu::EmotionModel::default_model()
    };
    let default = match std::env::var("NLU_LEX").ok().and_then(|v| v.parse().ok()) {
        Some(w) => default.with_lexicon_weight(w),
        None => default,
    };
    let default = match std::env::var("NLU_PLAIN").ok().and_then(|v| v.parse().ok()) {
        Some(b) => default.with_plain_shift(b),
        None => default,
    };
    let default = match std::env::var("NLU_BIAS").ok().and_then(|v| v.parse().ok()) {
        Some(b) => default.with_bias_shift(b),
        None => default,
    };
    let held: Vec<&(String, bool)> = reviews
        .iter()
        .zip(&rf)
        .filter(|(_, f)| **f == 0)
        .map(|(d, _)| d)
        .collect();
    println!(
        "| sentiment | accuracy | default model, reviews fold 0 (not trained on) | {:.3} | |",
        polarity_acc(&default, &held)
    );
    let wk: Vec<bool> = waimai.iter().map(|d| d.1).collect();
    let wf = common::folds(&wk, 5, 42);
    // Waimai halves for the cross-domain check: folds 0-1 tune, 2-4 report.
    let w_tune: Vec<&(String, bool)> = waimai
        .iter()
        .zip(&wf)
        .filter(|(_, f)| **f <= 1)
        .map(|(d, _)| d)
        .collect();
    let w_test: Vec<&(String, bool)> = waimai
        .iter()
        .zip(&wf)
        .filter(|(_, f)| **f >= 2)
        .map(|(d, _)| d)
        .collect();
    println!(
        "| sentiment | accuracy | default model, waimai folds 0-1 (other domain, tuning) | {:.3} | |",
        polarity_acc(&default, &w_tune)
    );
    println!(
        "| sentiment | accuracy | default model, waimai folds 2-4 (other domain, report) | {:.3} | |",
        polarity_acc(&default, &w_test)
    );
    if std::env::var_os("NLU_DUMP").is_some() {
        for (t, n) in w_tune.iter().take(400) {
            let e = default.score(t);
            if e.negative != *n {
                eprintln!("{n}\t{:.2}\t{t}", e.score);
            }
        }
    }
    // Phone calls: share of utterances of neutral intents (acknowledged,
    // already paid, asks for the address) that the default model calls
    // negative, and of abusive ones (sgcc labels used only to score).
    let calls: Vec<IntentExample> =
        nlu::cli::read_jsonl(&common::eval_dir().join("intent-sgcc/train.jsonl"))?;
    let rate = |names: &[&str], flag: &dyn Fn(&nlu::Emotion) -> bool| {
        let sel: Vec<&IntentExample> = calls
            .iter()
            .filter(|c| c.intent.as_deref().is_some_and(|i| names.contains(&i)))
            .collect();
        sel.iter().filter(|c| flag(&default.score(&c.text))).count() as f64
            / sel.len().max(1) as f64
    };
    let neutral = ["已知晓", "已还清", "查询地址"];
    let abuse = ["骂人", "骗人"];
    println!(
        "| sentiment | calls flagged negative | sgcc neutral intents (已知晓/已还清/查询地址) / abuse (骂人/骗人) | {:.3} / {:.3} | |",
        rate(&neutral, &|e| e.negative),
        rate(&abuse, &|e| e.negative)
    );
    println!(
        "| emotion | calls with anger >= 0.5 | sgcc neutral intents / abuse | {:.3} / {:.3} | |",
        rate(&neutral, &|e| e.anger >= 0.5),
        rate(&abuse, &|e| e.anger >= 0.5)
    );
    let train: Vec<(String, bool)> = waimai
        .iter()
        .zip(&wf)
        .filter(|(_, f)| **f != 0)
        .map(|(d, _)| d.clone())
        .collect();
    let test: Vec<&(String, bool)> = waimai
        .iter()
        .zip(&wf)
        .filter(|(_, f)| **f == 0)
        .map(|(d, _)| d)
        .collect();
    let t = Instant::now();
    let m = nlu::EmotionModel::train_with(&train, &params);
    let m = match std::env::var("NLU_LEX").ok().and_then(|v| v.parse().ok()) {
        Some(w) => m.with_lexicon_weight(w),
        None => m,
    };
    println!(
        "| sentiment | accuracy | tenant model: waimai folds 1-4 → fold 0 (trained in {:.1}s) | {:.3} | |",
        t.elapsed().as_secs_f64(),
        polarity_acc(&m, &test)
    );
    Ok(())
}
