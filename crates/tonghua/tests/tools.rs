//! The operator tools through the real binary: validate, simulate, chat and
//! the NLU evaluation contract.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tonghua");

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Runs the binary with `stdin`; returns (exit code, stdout, stderr).
fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn validate_passes_the_examples_and_names_file_line_and_node_for_a_broken_script() {
    let script = examples().join("scripts/renovation.yaml");
    let (code, out, err) = run(&["validate", script.to_str().expect("utf8")], "");
    assert_eq!(code, 0, "{out}{err}");
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "name: x\nstart: a\nnodes:\n  - id: a\n    type: ask\n    say: 您好\n    branches:\n      - keywords: [好]\n        goto: nowhere\n").expect("write");
    let (code, out, err) = run(&["validate", bad.to_str().expect("utf8")], "");
    assert_eq!(code, 1);
    assert!(
        out.contains("bad.yaml:9") && out.contains("'a'") && out.contains("nowhere"),
        "{out}{err}"
    );
}

#[test]
fn simulate_reports_each_case_and_fails_when_one_fails() {
    let script = examples().join("scripts/renovation.yaml");
    let cases = examples().join("cases/renovation.cases.yaml");
    let (code, out, err) = run(
        &[
            "simulate",
            "--script",
            script.to_str().expect("utf8"),
            "--cases",
            cases.to_str().expect("utf8"),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 failed"), "{out}");

    // A case that expects what the robot does not do fails, and the exit says so.
    let dir = tempfile::tempdir().expect("tmp");
    let wrong = dir.path().join("wrong.cases.yaml");
    std::fs::write(
        &wrong,
        "cases:\n  - name: 故意写错的期望\n    contact: {name: 王先生}\n    steps:\n      - user: 是的，我是\n        expect: {node: ask_budget}\n",
    )
    .expect("write");
    let (code, out, err) = run(
        &[
            "simulate",
            "--script",
            script.to_str().expect("utf8"),
            "--cases",
            wrong.to_str().expect("utf8"),
        ],
        "",
    );
    assert!(
        out.contains("故意写错的期望") && err.contains("1 of 1 cases failed"),
        "{out}{err}"
    );
    assert_ne!(code, 0, "a broken case file must not pass: {out}{err}");
}

#[test]
fn chat_speaks_the_script_with_contact_fields() {
    let script = examples().join("scripts/renovation.yaml");
    let (code, out, err) = run(
        &[
            "chat",
            "--script",
            script.to_str().expect("utf8"),
            "--contact",
            "name=赵女士",
            "--contact",
            "community=星河湾",
            "--quiet",
        ],
        "对，是我\n/hangup\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("赵女士您好") && out.contains("星河湾"),
        "{out}"
    );
    let (code, _, err) = run(&["chat", "--script", "/nonexistent.yaml"], "");
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent.yaml"), "{err}");
    let (code, _, err) = run(
        &[
            "chat",
            "--script",
            script.to_str().expect("utf8"),
            "--contact",
            "nokey",
        ],
        "",
    );
    assert_eq!(code, 2, "{err}");
}

fn jsonl(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn nlu_contract_answers_line_for_line_and_reports_bad_lines_in_place() {
    let dir = tempfile::tempdir().expect("tmp");
    let kb = dir.path().join("kb.jsonl");
    std::fs::write(
        &kb,
        "{\"id\":\"ship\",\"question\":\"多久发货\",\"answer\":\"48小时内\",\"similar\":[\"什么时候发货\",\"几天能发出\"]}\n\
         {\"id\":\"refund\",\"question\":\"怎么退款\",\"answer\":\"订单页申请\",\"similar\":[\"我要退钱\",\"退款流程\"]}\n",
    )
    .expect("write");
    let (code, out, err) = run(
        &["nlu", "faq", "--kb", kb.to_str().expect("utf8")],
        "{\"query\":\"请问几天能发货\"}\nnot json\n{\"query\":\"今天天气怎么样啊\"}\n",
    );
    assert_eq!(code, 0, "{err}");
    let lines = jsonl(&out);
    assert_eq!(lines.len(), 3, "one output line per input line");
    assert_eq!(lines[0]["match"], "ship");
    assert!(lines[0]["top"].as_array().is_some_and(|t| t.len() <= 5));
    assert!(
        lines[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("line 2")),
        "{}",
        lines[1]
    );
    assert!(lines[2]["match"].is_null(), "out of scope: {}", lines[2]);

    let train = dir.path().join("train.jsonl");
    let mut t = String::new();
    for (text, intent) in [
        ("我要退款", "refund"),
        ("退钱给我", "refund"),
        ("怎么申请退款", "refund"),
        ("什么时候发货", "ship"),
        ("几天能发出来", "ship"),
        ("发货太慢了吧", "ship"),
    ] {
        t.push_str(&format!(
            "{{\"text\":\"{text}\",\"intent\":\"{intent}\"}}\n"
        ));
    }
    std::fs::write(&train, t).expect("write");
    let (code, out, err) = run(
        &["nlu", "intent", "--train", train.to_str().expect("utf8")],
        "{\"text\":\"我想退款\"}\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(jsonl(&out)[0]["intent"], "refund");

    let (code, out, _) = run(
        &["nlu", "emotion"],
        "{\"text\":\"太差劲了，气死我了\"}\n{\"text\":\"谢谢，服务很好\"}\n",
    );
    assert_eq!(code, 0);
    let lines = jsonl(&out);
    assert_eq!(
        (
            lines[0]["negative"].as_bool(),
            lines[1]["negative"].as_bool()
        ),
        (Some(true), Some(false))
    );

    let (code, _, err) = run(&["nlu", "faq", "--kb", "/nonexistent.jsonl"], "");
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent.jsonl"), "{err}");
}
