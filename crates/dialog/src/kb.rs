//! Knowledge-base files: YAML (a list, or `entries:` with an optional default
//! category per file) or JSON Lines `{"id","question","answer","similar":[...]}`.

use std::path::Path;

use serde::Deserialize;

use crate::error::DialogError;
use nlu::FaqEntry;

#[derive(Deserialize)]
#[serde(untagged)]
enum KbFile {
    List(Vec<FaqEntry>),
    Doc {
        #[serde(default)]
        #[allow(dead_code)]
        name: Option<String>,
        entries: Vec<FaqEntry>,
    },
}

/// Parses knowledge-base text; `file` decides the format (`.jsonl` = JSON Lines).
pub fn parse_kb(source: &str, file: &str) -> Result<Vec<FaqEntry>, DialogError> {
    if file.ends_with(".jsonl") {
        let mut out = Vec::new();
        for (i, line) in source.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("//") {
                continue;
            }
            let e: FaqEntry = serde_json::from_str(line).map_err(|e| DialogError::Parse {
                file: file.to_string(),
                line: i + 1,
                column: e.column(),
                message: e.to_string(),
            })?;
            out.push(e);
        }
        return check(out, file);
    }
    let parsed: KbFile = serde_yaml_ng::from_str(source).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        DialogError::Parse {
            file: file.to_string(),
            line,
            column,
            message: e.to_string(),
        }
    })?;
    let entries = match parsed {
        KbFile::List(v) => v,
        KbFile::Doc { entries, .. } => entries,
    };
    check(entries, file)
}

fn check(entries: Vec<FaqEntry>, file: &str) -> Result<Vec<FaqEntry>, DialogError> {
    for (i, e) in entries.iter().enumerate() {
        if e.id.trim().is_empty() || e.question.trim().is_empty() || e.answer.trim().is_empty() {
            return Err(DialogError::Model {
                file: file.to_string(),
                message: format!(
                    "第{}条缺少 id/question/answer entry {} lacks id, question or answer",
                    i + 1,
                    i + 1
                ),
            });
        }
        let urls = e
            .links
            .iter()
            .map(|l| l.url.as_str())
            .chain(e.images.iter().map(String::as_str));
        for url in urls {
            let lower = url.to_ascii_lowercase();
            let web = lower.starts_with("https://") || lower.starts_with("http://");
            if !web || url.len() > 2048 || url.chars().any(char::is_whitespace) {
                return Err(DialogError::Model {
                    file: file.to_string(),
                    message: format!(
                        "条目 `{}` 的链接或图片地址须为 http(s) 网址 entry `{}`: links and images must be http(s) URLs: `{url}`",
                        e.id, e.id
                    ),
                });
            }
        }
        if e.links.iter().any(|l| l.title.trim().is_empty()) {
            return Err(DialogError::Model {
                file: file.to_string(),
                message: format!(
                    "条目 `{}` 的链接缺少标题 entry `{}`: a link needs a title",
                    e.id, e.id
                ),
            });
        }
        if entries
            .get(..i)
            .is_some_and(|prev| prev.iter().any(|p| p.id == e.id))
        {
            return Err(DialogError::Model {
                file: file.to_string(),
                message: format!("重复的 id duplicate id `{}`", e.id),
            });
        }
    }
    Ok(entries)
}

/// Reads and parses a knowledge-base file.
pub fn load_kb(path: &Path) -> Result<Vec<FaqEntry>, DialogError> {
    let text = std::fs::read_to_string(path).map_err(|source| DialogError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_kb(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_jsonl_forms() {
        let y = "entries:\n  - id: a\n    question: 怎么退货\n    answer: 七天无理由\n    similar: [能退吗]\n    category: 售后\n";
        let e = parse_kb(y, "kb.yaml").expect("yaml");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].similar, vec!["能退吗".to_string()]);
        let j = "{\"id\":\"a\",\"question\":\"q\",\"answer\":\"x\",\"similar\":[\"s\"]}\n\n{\"id\":\"b\",\"question\":\"q2\",\"answer\":\"y\"}\n";
        assert_eq!(parse_kb(j, "kb.jsonl").expect("jsonl").len(), 2);
        let dup = "- {id: a, question: q, answer: x}\n- {id: a, question: q2, answer: y}\n";
        assert!(parse_kb(dup, "kb.yaml").is_err());
        let bad = "{\"id\":\"a\"\n";
        match parse_kb(bad, "kb.jsonl") {
            Err(DialogError::Parse { line, .. }) => assert_eq!(line, 1),
            other => panic!("expected parse error, got {other:?}"),
        }
    }
}
