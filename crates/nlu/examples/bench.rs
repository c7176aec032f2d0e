//! Latency benchmark (run with `--release`): medians over many calls, one
//! thread. FAQ: one query against a 10,000-entry knowledge base built from
//! the public faq-afqmc questions (recombined to reach 10,000 distinct
//! entries); intents, emotion and entities on real utterances.
//!
//! `cargo run --release -p nlu --example bench`
//! (add `--features semantic` to also time semantic re-ranking)

mod common;

use std::time::{Duration, Instant};

use nlu::{EmotionModel, FaqEntry, FaqIndex, IntentExample, IntentModel};

#[derive(serde::Deserialize)]
struct Query {
    query: String,
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let m = v.get(v.len() / 2).copied().unwrap_or_default();
    let p90 = v.get(v.len() * 9 / 10).copied().unwrap_or_default();
    (m, p90)
}

fn time_each<T>(items: &[T], rounds: usize, mut f: impl FnMut(&T)) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(items.len() * rounds);
    for _ in 0..rounds {
        for it in items {
            let t = Instant::now();
            f(it);
            times.push(t.elapsed());
        }
    }
    median(times)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = common::eval_dir();
    let kb: Vec<FaqEntry> = nlu::cli::read_jsonl(&dir.join("faq-afqmc/kb.jsonl"))?;
    let queries: Vec<Query> = nlu::cli::read_jsonl(&dir.join("faq-afqmc/queries.jsonl"))?;
    let qs: Vec<String> = queries.into_iter().map(|q| q.query).collect();

    // 10,000 entries: the real questions, then pairs of halves of two real
    // questions (realistic vocabulary and lengths, all distinct).
    if kb.is_empty() {
        return Err("faq-afqmc/kb.jsonl is empty".into());
    }
    let n = kb.len();
    let mut entries = kb.clone();
    let mut i = 0usize;
    while entries.len() < 10_000 {
        let a: Vec<char> = kb
            .get(i % n)
            .map(|e| e.question.chars().collect())
            .unwrap_or_default();
        let b: Vec<char> = kb
            .get((i * 7 + 13) % n)
            .map(|e| e.question.chars().collect())
            .unwrap_or_default();
        let q: String = a
            .iter()
            .take(a.len() / 2)
            .chain(b.iter().skip(b.len() / 2))
            .collect();
        entries.push(FaqEntry {
            id: format!("syn{i}"),
            question: q,
            similar: vec![],
            answer: String::new(),
            category: None,
            links: Vec::new(),
            images: Vec::new(),
        });
        i += 1;
    }
    let t = Instant::now();
    let idx = FaqIndex::build(entries.clone())?;
    println!(
        "FAQ index of {} entries built in {:.2?}",
        idx.len(),
        t.elapsed()
    );
    let (m, p90) = time_each(&qs, 5, |q| {
        std::hint::black_box(idx.search(q, 5));
    });
    println!(
        "FAQ search, lexical, 10k entries: median {m:.2?}, p90 {p90:.2?} ({} queries x 5)",
        qs.len()
    );

    if let Some(emb) = nlu::semantic::try_default() {
        let emb = std::sync::Arc::new(emb);
        let t = Instant::now();
        let sem = FaqIndex::build(entries)?
            .with_embedder(emb.clone(), Some(&nlu::semantic::default_cache_dir()))?;
        println!(
            "FAQ semantic index built in {:.2?} (embeddings cached on disk after the first run)",
            t.elapsed()
        );
        let sample: Vec<String> = qs.iter().take(200).cloned().collect();
        let (m, p90) = time_each(&sample, 1, |q| {
            std::hint::black_box(emb.embed(q).ok());
        });
        println!("query embedding alone: median {m:.2?}, p90 {p90:.2?}");
        let (m, p90) = time_each(&sample, 1, |q| {
            std::hint::black_box(sem.search(q, 5));
        });
        println!(
            "FAQ search, semantic (embedding + lexical + dense scan), 10k entries: median {m:.2?}, p90 {p90:.2?}"
        );
    } else {
        println!("semantic re-ranking: not available in this build / no model installed");
    }

    let train: Vec<IntentExample> = nlu::cli::read_jsonl(&dir.join("intent-sgcc/train.jsonl"))?;
    let t = Instant::now();
    let model = IntentModel::train(&train, &[])?;
    println!(
        "intent model (sgcc, {} examples) trained in {:.2?}",
        train.len(),
        t.elapsed()
    );
    let texts: Vec<String> = train.iter().take(1000).map(|e| e.text.clone()).collect();
    let (m, p90) = time_each(&texts, 3, |t| {
        std::hint::black_box(model.classify(t));
    });
    println!("intent classify: median {m:.2?}, p90 {p90:.2?}");

    let emo = EmotionModel::default_model();
    let (m, p90) = time_each(&texts, 3, |t| {
        std::hint::black_box(emo.score(t));
    });
    println!("emotion score: median {m:.2?}, p90 {p90:.2?}");

    let now = nlu::entities::DateTimeRef::new(2026, 11, 25, 10, 0);
    let (m, p90) = time_each(&texts, 3, |t| {
        std::hint::black_box((
            nlu::entities::yes_no(t),
            nlu::entities::money(t),
            nlu::entities::phone_numbers(t),
            nlu::entities::datetime(t, &now),
        ));
    });
    println!("entities (yes/no + money + phone + datetime): median {m:.2?}, p90 {p90:.2?}");
    Ok(())
}
