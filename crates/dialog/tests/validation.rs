//! Every validation error names the file, the line and the node.

use dialog::{Bot, DialogError, Issue};

fn errors(src: &str) -> Vec<Issue> {
    match Bot::from_source(src, "t.yaml", None) {
        Err(DialogError::Invalid(r)) => r.errors,
        Err(other) => panic!("expected validation errors, got {other}"),
        Ok(_) => panic!("expected validation errors, script loaded"),
    }
}

fn find<'a>(errs: &'a [Issue], kind: &str) -> &'a Issue {
    errs.iter()
        .find(|e| e.kind == kind)
        .unwrap_or_else(|| panic!("no `{kind}` in {errs:#?}"))
}

const HEAD: &str = "name: t\nstart: a\nsettings:\n  human_queue: q\nnodes:\n";

#[test]
fn unknown_target_names_line_and_node_and_suggests() {
    let src = format!(
        "{HEAD}  - id: a\n    type: ask\n    say: 你好\n    branches:\n      - answer: yes\n        goto: closee\n  - id: close\n    type: hangup\n    say: 再见\n"
    );
    let errs = errors(&src);
    let e = find(&errs, "unknown_target");
    assert_eq!(e.file, "t.yaml");
    assert_eq!(e.node.as_deref(), Some("a"));
    assert_eq!(e.line, 11, "{e}");
    assert!(
        e.message.contains("closee") && e.message.contains("close"),
        "{e}"
    );
    assert!(e.to_string().starts_with("t.yaml:11: 节点 node 'a'"), "{e}");
}

#[test]
fn unreachable_node() {
    let src = format!(
        "{HEAD}  - id: a\n    type: hangup\n    say: 再见\n  - id: lost\n    type: hangup\n    say: 再见\n"
    );
    let errs = errors(&src);
    let e = find(&errs, "unreachable");
    assert_eq!(e.node.as_deref(), Some("lost"));
    assert_eq!(e.line, 9);
}

#[test]
fn loop_without_input() {
    let src = format!(
        "{HEAD}  - id: a\n    type: say\n    say: 一\n    next: b\n  - id: b\n    type: jump\n    next: a\n"
    );
    let errs = errors(&src);
    let e = find(&errs, "loop_without_input");
    assert!(e.message.contains("a → b"), "{e}");
    assert_eq!(e.line, 6);
}

#[test]
fn loop_through_an_ask_node_is_fine() {
    let src = format!(
        "{HEAD}  - id: a\n    type: say\n    say: 一\n    next: b\n  - id: b\n    type: ask\n    say: 二\n    branches:\n      - otherwise: true\n        goto: a\n"
    );
    assert!(Bot::from_source(&src, "t.yaml", None).is_ok());
}

#[test]
fn unknown_variable() {
    let src = "name: t\nstart: a\nvariables:\n  name: 您\nnodes:\n  - id: a\n    type: hangup\n    say: \"{{name}}您好，{{nmae}}\"\n";
    let errs = errors(src);
    let e = find(&errs, "unknown_variable");
    assert!(e.message.contains("nmae"), "{e}");
    assert_eq!(e.line, 8);
    assert_eq!(e.node.as_deref(), Some("a"));
}

#[test]
fn unknown_intent_bad_regex_bad_dtmf_empty_branch() {
    let src = format!(
        "{HEAD}  - id: a\n    type: ask\n    say: 你好\n    branches:\n      - intent: nope\n        goto: a\n      - regex: \"(\"\n        goto: a\n      - dtmf: \"12\"\n        goto: a\n      - goto: a\n"
    );
    let errs = errors(&src);
    assert_eq!(find(&errs, "unknown_intent").line, 10);
    assert_eq!(find(&errs, "bad_regex").line, 12);
    assert_eq!(find(&errs, "bad_dtmf").node.as_deref(), Some("a"));
    find(&errs, "empty_branch");
}

#[test]
fn missing_next_and_duplicates() {
    let src = format!("{HEAD}  - id: a\n    type: say\n    say: 一\n  - id: a\n    type: hangup\n");
    let errs = errors(&src);
    assert_eq!(find(&errs, "missing_next").line, 6);
    assert_eq!(find(&errs, "duplicate_node").node.as_deref(), Some("a"));
}

#[test]
fn handler_goto_is_checked() {
    let src = "name: t\nstart: a\nhandlers:\n  busy:\n    goto: nowhere\nnodes:\n  - id: a\n    type: hangup\n    say: 再见\n";
    let errs = errors(src);
    let e = find(&errs, "unknown_target");
    assert_eq!(e.line, 5);
    assert!(e.message.contains("handlers.busy.goto"), "{e}");
}

#[test]
fn syntax_errors_and_unknown_fields_have_lines() {
    let src = format!("{HEAD}  - id: a\n    type: hangup\n    sya: 再见\n");
    match Bot::from_source(&src, "t.yaml", None) {
        Err(DialogError::Parse {
            file,
            line,
            message,
            ..
        }) => {
            assert_eq!(file, "t.yaml");
            assert_eq!(line, 8);
            assert!(message.contains("sya"), "{message}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    let bad_barge = format!("{HEAD}  - id: a\n    type: hangup\n    barge_in: sometimes\n");
    assert!(matches!(
        Bot::from_source(&bad_barge, "t.yaml", None),
        Err(DialogError::Parse { .. })
    ));
}

#[test]
fn json_scripts_are_accepted_and_lines_found() {
    let json = r#"{
  "name": "t",
  "start": "a",
  "nodes": [
    {"id": "a", "type": "ask", "say": "你好",
     "branches": [{"answer": "yes", "goto": "zz"}]}
  ]
}"#;
    let errs = match Bot::from_source(json, "t.json", None) {
        Err(DialogError::Invalid(r)) => r.errors,
        other => panic!("expected errors, got {other:?}"),
    };
    let e = find(&errs, "unknown_target");
    assert_eq!(e.line, 6);
    let ok = json.replace("zz", "a");
    assert!(Bot::from_source(&ok, "t.json", None).is_ok());
}

#[test]
fn validate_file_reports_without_failing() {
    let dir = std::env::temp_dir().join(format!("dialog-val-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let p = dir.join("bad.yaml");
    std::fs::write(
        &p,
        format!("{HEAD}  - id: a\n    type: jump\n    next: b\n"),
    )
    .expect("write");
    let report = dialog::cli::validate(&p).expect("readable");
    assert!(!report.is_ok());
    assert!(report.to_string().contains("bad.yaml:8"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_branch_error_points_at_its_own_line() {
    let src = format!(
        "{HEAD}  - id: a\n    type: ask\n    say: 你好\n    branches:\n      - answer: yes\n        goto: nope\n      - answer: no\n        goto: nope\n"
    );
    let errs = errors(&src);
    let lines: Vec<usize> = errs
        .iter()
        .filter(|e| e.kind == "unknown_target")
        .map(|e| e.line)
        .collect();
    assert_eq!(lines, vec![11, 13]);
}

#[test]
fn grading_typos_are_reported() {
    let src = "name: t\nstart: a\nintents:\n  - name: spare\n    examples: [多余的意图]\nnodes:\n  - id: a\n    type: hangup\n    say: 再见\n    do:\n      - tag: 已预约\ngrading:\n  default: C\n  rules:\n    - grade: A\n      when: {tags_any: [已预约量房]}\n    - grade: B\n      when: {intents_any: [nope]}\n";
    match Bot::from_source(src, "t.yaml", None) {
        Err(DialogError::Invalid(r)) => {
            let e = find(&r.errors, "unknown_intent");
            assert_eq!(e.line, 18);
            let w = find(&r.warnings, "unknown_tag");
            assert!(w.message.contains("已预约量房"), "{w}");
            assert_eq!(w.line, 16);
            let u = find(&r.warnings, "unused_intent");
            assert_eq!(u.line, 4);
        }
        other => panic!("expected errors, got {other:?}"),
    }
}

#[test]
fn validate_source_reports_without_files() {
    let r = dialog::validate_source(
        "name: t\nstart: nope\nnodes:\n  - id: a\n    type: hangup\n",
        "editor",
    )
    .expect("parses");
    assert!(!r.is_ok());
    assert_eq!(
        r.errors.first().map(|e| (e.kind.as_str(), e.line)),
        Some(("unknown_target", 2))
    );
    assert!(matches!(
        dialog::validate_source("name: [", "editor"),
        Err(DialogError::Parse { .. })
    ));
}
