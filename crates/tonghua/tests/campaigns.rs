//! `tonghua contacts …` and `tonghua campaign …` as an operator runs them:
//! the real binary on a real data directory.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_tonghua");

fn tonghua(data: &Path, args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(data.parent().unwrap_or(data))
        .output()
        .expect("run");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into(),
        String::from_utf8_lossy(&stderr).into(),
    )
}

#[test]
fn an_operator_imports_contacts_and_steers_a_campaign_from_the_shell() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let ok = |args: &[&str]| {
        let (code, out, err) = tonghua(&data, args);
        assert_eq!(code, 0, "{args:?}: {out} {err}");
        (out, err)
    };
    ok(&["admin", "create-tenant", "acme"]);
    // Scripts arrive through the API; put one straight into the database here.
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(async {
        let store = store::Store::open(&data).await.expect("store");
        let t = store
            .tenant_by_slug("acme")
            .await
            .expect("q")
            .expect("tenant");
        store
            .put_document(
                &t.id,
                store::DocumentKind::Script,
                "sales",
                "name: sales",
                None,
                0,
            )
            .await
            .expect("script");
        store.close().await;
    });

    let csv = dir.path().join("owners.csv");
    std::fs::write(
        &csv,
        "姓名,手机号,小区\n张三,13800138000,翠湖苑\n李四,12345,翠湖苑\n王五,010-12345678,\n",
    )
    .expect("csv");
    let csv = csv.display().to_string();
    let import = [
        "contacts",
        "import",
        "--tenant",
        "acme",
        "--list",
        "owners",
        csv.as_str(),
        "--map",
        "小区=community",
    ];
    let (out, err) = ok(&import);
    assert!(
        out.contains("2 added, 0 updated, 0 unchanged, 1 rejected"),
        "{out}"
    );
    assert!(err.contains("row 3") && err.contains("12345"), "{err}");
    let (out, _) = ok(&import);
    assert!(
        out.contains("0 added, 0 updated, 2 unchanged"),
        "re-import changes nothing: {out}"
    );
    let (out, _) = ok(&["contacts", "list", "--tenant", "acme"]);
    assert!(
        out.contains("owners") && out.contains("2 contacts"),
        "{out}"
    );
    let (out, _) = ok(&["contacts", "list", "--tenant", "acme", "--list", "owners"]);
    assert!(
        out.contains("+8613800138000") && out.contains("\"community\":\"翠湖苑\""),
        "{out}"
    );

    ok(&[
        "contacts",
        "dnc",
        "add",
        "--tenant",
        "acme",
        "139-0013-9000",
        "--reason",
        "投诉",
    ]);
    ok(&["contacts", "dnc", "add", "--global", "13700137000"]);
    let (out, _) = ok(&["contacts", "dnc", "list", "--global"]);
    assert_eq!(out.trim(), "+8613700137000\tcli");
    let (out, _) = ok(&["contacts", "dnc", "list", "--tenant", "acme"]);
    assert!(out.starts_with("+8613900139000\tcli\t投诉"), "{out}");
    let (code, _, err) = tonghua(
        &data,
        &["contacts", "dnc", "add", "--tenant", "acme", "hello"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("tonghua: error: number \"hello\""), "{err}");

    let settings = dir.path().join("settings.json");
    std::fs::write(&settings, r#"{ "windows": { "mon": ["09:00-12:00"] }, "retry": { "busy": { "after_minutes": 30, "max_retries": 2 } } }"#).expect("json");
    let settings = settings.display().to_string();
    let (out, _) = ok(&[
        "campaign",
        "create",
        "--tenant",
        "acme",
        "--name",
        "spring",
        "--script",
        "sales",
        "--list",
        "owners",
        "--trunk",
        "trunk1",
        "--lines",
        "10",
        "--settings",
        settings.as_str(),
    ]);
    assert!(
        out.contains("created campaign spring") && out.contains("sales v1"),
        "{out}"
    );
    let (out, _) = ok(&["campaign", "start", "--tenant", "acme", "spring"]);
    assert_eq!(out.trim(), "campaign spring is running");
    let (out, _) = ok(&["campaign", "status", "--tenant", "acme", "spring"]);
    assert!(
        out.starts_with("spring running: 0/2 contacts done, 2 pending"),
        "{out}"
    );
    ok(&["campaign", "pause", "--tenant", "acme", "spring"]);
    let (code, _, err) = tonghua(&data, &["campaign", "pause", "--tenant", "acme", "spring"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the campaign is paused; cannot pause"),
        "{err}"
    );
    let (out, _) = ok(&["campaign", "lines", "--tenant", "acme", "spring", "3"]);
    assert!(out.contains("3 lines"), "{out}");
    ok(&["campaign", "resume", "--tenant", "acme", "spring"]);
    ok(&["campaign", "stop", "--tenant", "acme", "spring"]);
    let (out, _) = ok(&["campaign", "list", "--tenant", "acme"]);
    assert!(
        out.contains("spring") && out.contains("stopped") && out.contains("3 lines"),
        "{out}"
    );
    let (code, _, err) = tonghua(
        &data,
        &["campaign", "lines", "--tenant", "acme", "spring", "0"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("max_lines"), "{err}");
    let (code, _, err) = tonghua(
        &data,
        &[
            "contacts",
            "import",
            "--tenant",
            "acme",
            "--list",
            "x",
            "notes.doc",
        ],
    );
    assert_eq!(code, 2, "{err}");
}
