//! The shipped example scripts validate and pass their simulate cases.

mod common;

use dialog::cli::{simulate, validate};

#[test]
fn example_scripts_validate() {
    for s in ["renovation", "service"] {
        let path = common::root().join(format!("examples/scripts/{s}.yaml"));
        let report = validate(&path).expect("readable");
        assert!(report.is_ok(), "{s}: {report}");
    }
}

#[test]
fn renovation_cases_pass() {
    let root = common::root();
    let mut out = Vec::new();
    let summary = simulate(
        &root.join("examples/scripts/renovation.yaml"),
        &root.join("examples/cases/renovation.cases.yaml"),
        None,
        &mut out,
    )
    .expect("simulate runs");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(summary.failed, 0, "{text}");
    assert!(summary.total >= 20, "{text}");
}

#[test]
fn service_cases_pass() {
    let root = common::root();
    let mut out = Vec::new();
    let summary = simulate(
        &root.join("examples/scripts/service.yaml"),
        &root.join("examples/cases/service.cases.yaml"),
        None,
        &mut out,
    )
    .expect("simulate runs");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(summary.failed, 0, "{text}");
    assert!(summary.total >= 15, "{text}");
}

#[test]
fn a_failing_case_is_reported_with_a_diff() {
    let dir = std::env::temp_dir().join(format!("dialog-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let cases = dir.join("bad.cases.yaml");
    std::fs::write(
        &cases,
        "cases:\n  - name: 故意失败\n    steps:\n      - user: 是的\n        expect: {node: invite, say: 不存在的话}\n",
    )
    .expect("write");
    let mut out = Vec::new();
    let summary = simulate(
        &common::root().join("examples/scripts/renovation.yaml"),
        &cases,
        None,
        &mut out,
    )
    .expect("runs");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(summary.failed, 1);
    assert_eq!(summary.failures, vec!["故意失败".to_string()]);
    assert!(
        text.contains("expected `invite`, got `ask_timing`"),
        "{text}"
    );
    assert!(text.contains("不存在的话"), "{text}");
    assert!(text.contains("实际对话"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn chat_runs_commands_and_prints_understanding() {
    let opts = dialog::cli::ChatOptions {
        script: common::root().join("examples/scripts/renovation.yaml"),
        kb: None,
        contact: vec![("name".into(), "李女士".into())],
        verbose: true,
    };
    let mut input: &[u8] = "是的\n/silence\n/dtmf 0\n".as_bytes();
    let mut out = Vec::new();
    dialog::cli::chat(&opts, &mut input, &mut out).expect("chat runs");
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("李女士您好"), "{text}");
    assert!(text.contains("· intent="), "{text}");
    assert!(text.contains("能听到我说话吗"), "{text}");
}
