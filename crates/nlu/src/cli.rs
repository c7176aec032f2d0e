//! The evaluation contract behind `tonghua nlu ...`: JSON Lines in, one JSON
//! object per input line out, same order, flushed per line. A malformed input
//! line yields `{"error": "line N: ..."}` and processing goes on; only a bad
//! model/KB file or a broken output stream stops the run.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde_json::{Value, json};

use crate::emotion::EmotionModel;
use crate::error::NluError;
use crate::faq::{FaqEntry, FaqIndex};
use crate::intent::{IntentExample, IntentModel};

/// Reads a JSON Lines file into values of type `T`; blank lines are skipped,
/// a bad line is an error naming file and line.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, NluError> {
    let file = File::open(path).map_err(|source| NluError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| NluError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(&line).map_err(|e| NluError::BadLine {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push(v);
    }
    Ok(out)
}

fn emit(output: &mut dyn Write, v: &Value) -> Result<(), NluError> {
    writeln!(output, "{v}").map_err(NluError::Output)?;
    output.flush().map_err(NluError::Output)
}

/// Runs `answer` on the string field `field` of every input line.
fn each_line(
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    field: &str,
    mut answer: impl FnMut(&str) -> Value,
) -> Result<(), NluError> {
    let mut line = String::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let read = input.read_line(&mut line);
        n += 1;
        match read {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                // Invalid UTF-8 and the like: report the line, keep going.
                emit(
                    output,
                    &json!({ "error": format!("line {n}: unreadable input: {e}") }),
                )?;
                continue;
            }
        }
        if line.trim().is_empty() {
            continue;
        }
        let v = match serde_json::from_str::<Value>(&line) {
            Ok(v) => v,
            Err(e) => {
                emit(
                    output,
                    &json!({ "error": format!("line {n}: invalid JSON: {e}") }),
                )?;
                continue;
            }
        };
        match v.get(field).and_then(Value::as_str) {
            Some(text) => emit(output, &answer(text))?,
            None => emit(
                output,
                &json!({ "error": format!("line {n}: missing string field {field:?}") }),
            )?,
        }
    }
}

/// FAQ retrieval (semantic re-ranking when the build has the engine and the
/// model is installed; set `TONGHUA_NLU_SEMANTIC=0` to force lexical). KB lines `{"id","question","answer"}` (optional
/// `"similar": [...]`, `"category"`); input `{"query"}` → `{"query","match",
/// "score","top","ambiguous"}`.
pub fn faq(
    kb_path: &Path,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<(), NluError> {
    let entries: Vec<FaqEntry> = read_jsonl(kb_path)?;
    let mut index = FaqIndex::build(entries)?;
    // Meaning-based re-ranking when the optional model is there.
    // If embedding the knowledge base fails, answering lexically beats not
    // answering at all.
    if let Some(embedder) = crate::semantic::try_default() {
        let cache = crate::semantic::default_cache_dir();
        let lexical = index.clone();
        index = index
            .with_embedder(std::sync::Arc::new(embedder), Some(&cache))
            .unwrap_or(lexical);
    }
    each_line(input, output, "query", |q| {
        let r = index.search(q, 5);
        json!({
            "query": q,
            "match": r.best.as_ref().map(|h| h.id.clone()),
            "score": r.best.as_ref().or(r.top.first()).map_or(0.0, |h| h.score),
            "top": r.top.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
            "ambiguous": r.ambiguous,
        })
    })
}

/// Intent classification. Train lines `{"text","intent": name or null}`;
/// input `{"text"}` → `{"text","intent","score"}`.
pub fn intent(
    train_path: &Path,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<(), NluError> {
    let examples: Vec<IntentExample> = read_jsonl(train_path)?;
    let model = IntentModel::train(&examples, &[])?;
    each_line(input, output, "text", |t| {
        let r = model.classify(t);
        json!({ "text": t, "intent": r.intent, "score": r.score })
    })
}

/// Emotion. `model`: a file written by [`EmotionModel::to_bytes`], or the
/// shipped default. Input `{"text"}` → `{"text","negative","score","anger"}`.
pub fn emotion(
    model: Option<&Path>,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<(), NluError> {
    let m = match model {
        Some(p) => EmotionModel::load(p)?,
        None => EmotionModel::default_model(),
    };
    each_line(input, output, "text", |t| {
        let e = m.score(t);
        json!({ "text": t, "negative": e.negative, "score": e.score, "anger": e.anger })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, body: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("nlu-cli-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join(name);
        let _ = std::fs::write(&p, body);
        p
    }

    fn lines(out: Vec<u8>) -> Vec<Value> {
        String::from_utf8_lossy(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
            .collect()
    }

    #[test]
    fn faq_answers_and_survives_bad_lines() {
        let kb = tmp(
            "kb.jsonl",
            concat!(
                "{\"id\":\"a\",\"question\":\"电费怎么交\",\"answer\":\"x\",\"similar\":[\"如何缴纳电费\"]}\n",
                "{\"id\":\"b\",\"question\":\"营业厅地址在哪里\",\"answer\":\"y\"}\n"
            ),
        );
        let input = "{\"query\":\"电费如何交\"}\nnot json\n{\"q\":1}\n{\"query\":\"营业厅在哪\"}\n";
        let mut out = Vec::new();
        faq(&kb, &mut input.as_bytes(), &mut out).expect("run");
        let v = lines(out);
        assert_eq!(v.len(), 4);
        assert_eq!(v[0]["match"], "a");
        assert!(v[1]["error"].as_str().is_some_and(|e| e.contains("line 2")));
        assert!(v[2]["error"].as_str().is_some_and(|e| e.contains("line 3")));
        assert_eq!(v[3]["match"], "b");
        assert_eq!(v[3]["query"], "营业厅在哪");
    }

    #[test]
    fn faq_bad_kb_names_file_and_line() {
        let kb = tmp(
            "bad-kb.jsonl",
            "{\"id\":\"a\",\"question\":\"q\",\"answer\":\"x\"}\n{oops\n",
        );
        let err = faq(&kb, &mut "".as_bytes(), &mut Vec::new()).expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("bad-kb.jsonl:2"), "{msg}");
    }

    #[test]
    fn intent_and_emotion_contracts() {
        let train = tmp(
            "train.jsonl",
            concat!(
                "{\"text\":\"我已经交过了\",\"intent\":\"已还清\"}\n",
                "{\"text\":\"钱交了\",\"intent\":\"已还清\"}\n",
                "{\"text\":\"地址在哪\",\"intent\":\"查询地址\"}\n",
                "{\"text\":\"你们在什么地方\",\"intent\":\"查询地址\"}\n",
                "{\"text\":\"今天天气\",\"intent\":null}\n"
            ),
        );
        let mut out = Vec::new();
        intent(
            &train,
            &mut "{\"text\":\"已经交过了\"}\n[]\n{\"text\":\"地址在哪里\"}\n".as_bytes(),
            &mut out,
        )
        .expect("run");
        let v = lines(out);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0]["intent"], "已还清");
        assert!(v[1].get("error").is_some());
        assert_eq!(v[2]["intent"], "查询地址");

        let mut out = Vec::new();
        emotion(
            None,
            &mut "{\"text\":\"你们这帮骗子，我要投诉\"}\n{\"text\":\"非常好，谢谢\"}\n".as_bytes(),
            &mut out,
        )
        .expect("run");
        let v = lines(out);
        assert_eq!(v[0]["negative"], true);
        assert_eq!(v[1]["negative"], false);
        let missing = std::path::Path::new("/nonexistent/model.bin");
        assert!(emotion(Some(missing), &mut "".as_bytes(), &mut Vec::new()).is_err());
    }
}
