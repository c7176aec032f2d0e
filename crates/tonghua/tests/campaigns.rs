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

/// `tonghua serve` sends what is waiting in the webhook outbox: a finished
/// call's webhook, written to the database before the server started, reaches
/// a CRM on loopback (a plain TCP server reading the real HTTP request).
#[test]
fn serve_delivers_the_webhook_outbox() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let crm = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let crm_addr = crm.local_addr().expect("addr");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(async {
        let store = store::Store::open(&data).await.expect("store");
        let t = store.create_tenant("acme", "Acme", 0).await.expect("tenant");
        store
            .put_document(&t.id, store::DocumentKind::Script, "s", "name: s", None, 0)
            .await
            .expect("script");
        let list = store.ensure_contact_list(&t.id, "l", 0).await.expect("list");
        let one = store::NewContact {
            number: "+8613800138000".into(),
            name: None,
            variables: Default::default(),
            utc_offset: None,
        };
        store.import_contacts(&t.id, &list.id, &[one], 0).await.expect("import");
        let day = serde_json::json!(["00:00-24:00"]);
        let spec = campaign::control::CampaignSpec {
            name: "c".into(),
            script: "s".into(),
            script_version: None,
            list: "l".into(),
            trunk: "t".into(),
            caller_id: None,
            max_lines: 1,
            settings: Some(serde_json::json!({
                "windows": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
                "webhook": { "url": format!("http://{crm_addr}/hook"), "secret": "0123456789abcdef" } })),
        };
        let c = campaign::control::create(&store, &t.id, &spec, 0).await.expect("create");
        campaign::control::start(&store, &t.id, &c.id, 0).await.expect("start");
        struct Busy;
        impl campaign::Dialer for Busy {
            fn dial(&self, _r: campaign::DialRequest) -> campaign::BoxFuture<campaign::DialResult> {
                Box::pin(async { campaign::DialResult::of(campaign::Outcome::Busy) })
            }
        }
        let runner = campaign::Runner::new(store.clone(), Arc::new(Busy), Arc::new(|| 1_000_000));
        assert_eq!(runner.pass().await.expect("pass").dialled, 1);
        runner.settle().await;
        store.close().await;
    });

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut server = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "serve",
            "--http",
            &format!("127.0.0.1:{port}"),
            "--log-level",
            "warn",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TONGHUA_ADMIN_PASSWORD", "demo-admin-pass-1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    crm.set_nonblocking(false).expect("blocking");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = crm.accept() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut head = Vec::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push(line);
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut out = stream;
            let _ =
                out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tx.send((head, body));
        }
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(30));
    let _ = server.kill();
    let _ = server.wait();
    let (head, body) = got.expect("the webhook never arrived");
    assert!(head[0].starts_with("POST /hook HTTP/1.1"), "{head:?}");
    assert!(
        head.iter().any(|h| h
            .to_ascii_lowercase()
            .starts_with("x-tonghua-signature: sha256=")),
        "{head:?}"
    );
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["attempt"]["outcome"], "busy");
    assert_eq!(body["contact"]["number"], "+8613800138000");
}
