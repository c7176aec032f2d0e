//! The real `tonghua` binary, started as a process: durability across kill -9,
//! start-up errors, and the admin commands.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_tonghua");
const ADMIN_PASSWORD: &str = "demo-admin-pass-1";

/// An HTTP client builder. reqwest is built with rustls but no default
/// crypto provider (the server installs ring, see server/src/tls.rs); this
/// test process installs the same before building a client.
fn http() -> reqwest::blocking::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn tonghua(data: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(data);
    // Isolate from the developer's environment and working directory.
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(data.parent().unwrap_or(data));
    c
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data: &Path, port: u16) -> Server {
        let child = tonghua(data)
            .args([
                "serve",
                "--http",
                &format!("127.0.0.1:{port}"),
                "--log-level",
                "warn",
            ])
            .env("TONGHUA_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http()
                .build()
                .expect("client")
                .get(format!("{}/healthz", server.base))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become healthy");
    }

    /// SIGKILL: no shutdown hooks, no flush, no checkpoint.
    fn kill_9(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn login(base: &str) -> Client {
    let client = http().cookie_store(true).build().expect("client");
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "tenant": "demo", "username": "admin", "password": ADMIN_PASSWORD }))
        .send()
        .expect("login");
    assert!(r.status().is_success(), "login: {}", r.status());
    client
}

#[test]
fn acknowledged_events_survive_kill_9_of_the_server() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let port = free_port();
    let server = Server::start(&data, port);
    let client = login(&server.base);
    let conv: Value = client
        .post(format!("{}/api/v1/conversations", server.base))
        .json(&json!({ "channel": "phone", "external_ref": "call-kill-9" }))
        .send()
        .expect("create")
        .json()
        .expect("json");
    let id = conv["id"].as_str().expect("id").to_string();
    let mut acknowledged = Vec::new();
    for i in 0..60 {
        let r = client
            .post(format!("{}/api/v1/conversations/{id}/events", server.base))
            .json(&json!({ "kind": "user_said", "payload": { "text": format!("第{i}句话"), "i": i } }))
            .send()
            .expect("append");
        assert_eq!(r.status().as_u16(), 201);
        let e: Value = r.json().expect("json");
        acknowledged.push(e["seq"].as_i64().expect("seq"));
    }
    server.kill_9();

    let server = Server::start(&data, port);
    let client = login(&server.base);
    let events: Value = client
        .get(format!("{}/api/v1/conversations/{id}/events", server.base))
        .send()
        .expect("read")
        .json()
        .expect("json");
    let events = events["events"].as_array().expect("events");
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(
        seqs, acknowledged,
        "every acknowledged event is there, in order"
    );
    assert_eq!(events[59]["payload"]["text"], "第59句话");
    // The demo is created only on the first start: the password still works,
    // and a second start did not create another tenant.
    let tenants = tonghua(&data)
        .args(["admin", "list-tenants"])
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&tenants.stdout).lines().count(), 1);
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into(),
        String::from_utf8_lossy(&stderr).into(),
    )
}

#[test]
fn a_port_in_use_is_one_clear_line_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().expect("tmp");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let (code, _, err) =
        run(tonghua(&dir.path().join("data")).args(["serve", "--http", &addr.to_string()]));
    assert_ne!(code, 0);
    let line = err
        .lines()
        .find(|l| l.starts_with("tonghua: error:"))
        .expect("error line");
    assert!(
        line.contains("address already in use") && line.contains("--http"),
        "{err}"
    );
}

#[test]
fn configuration_mistakes_exit_with_status_2_and_say_what_to_fix() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("bad.toml");
    std::fs::File::create(&cfg)
        .and_then(|mut f| f.write_all(b"htp = \"127.0.0.1:1\"\n"))
        .expect("write");
    let data = dir.path().join("data");
    let (code, _, err) = run(tonghua(&data)
        .args(["serve", "--print-config", "--config"])
        .arg(&cfg));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown key `htp`") && err.contains("bad.toml"),
        "{err}"
    );

    let (code, _, err) = run(tonghua(&data)
        .args(["serve", "--print-config"])
        .env("TONGHUA_AUTH__LOCKOUT_SECS", "soon"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("auth.lockout_secs") && err.contains("environment"),
        "{err}"
    );

    let (code, _, err) = run(tonghua(&data).args(["serve", "--config", "/nonexistent/x.toml"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/x.toml"), "{err}");

    let (code, _, err) = run(tonghua(&data).args(["serve", "--http", "nonsense"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--http"), "{err}");

    // An unreadable data directory (a file where a directory should be).
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let (code, _, err) = run(tonghua(&file).args(["serve", "--http", "127.0.0.1:0"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a-file"), "{err}");
}

#[test]
fn print_config_shows_flags_and_masks_secrets() {
    let dir = tempfile::tempdir().expect("tmp");
    let (code, out, err) = run(tonghua(&dir.path().join("data"))
        .args([
            "serve",
            "--print-config",
            "--http",
            "127.0.0.1:9999",
            "--sip",
            "127.0.0.1:5099",
        ])
        .env("TONGHUA_ADMIN_PASSWORD", "top-secret-value"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("http = \"127.0.0.1:9999\"") && out.contains("sip = \"127.0.0.1:5099\""),
        "{out}"
    );
    assert!(
        !out.contains("top-secret-value") && out.contains("********"),
        "{out}"
    );
}

#[test]
fn admin_commands_manage_tenants_users_and_tokens() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let (code, out, err) =
        run(tonghua(&data).args(["admin", "create-tenant", "acme", "--name", "顶峰装饰"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created tenant acme"));
    let (code, _, err) = run(tonghua(&data).args(["admin", "create-tenant", "acme"]));
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = run(tonghua(&data).args(["admin", "create-tenant", "Bad Slug"]));
    assert_eq!(code, 2, "{err}");

    let mut create = tonghua(&data);
    create
        .args([
            "admin",
            "create-user",
            "--tenant",
            "acme",
            "li",
            "--role",
            "supervisor",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = create.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"li-password-1\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, _, err) = run(tonghua(&data).args([
        "admin",
        "create-user",
        "--tenant",
        "acme",
        "x",
        "--role",
        "boss",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("admin, supervisor, agent or analyst"), "{err}");
    let (code, _, err) = run(tonghua(&data).args([
        "admin",
        "create-user",
        "--tenant",
        "nope",
        "x",
        "--role",
        "agent",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("no tenant 'nope'"), "{err}");

    let (code, out, _) =
        run(tonghua(&data).args(["admin", "reset-password", "--tenant", "acme", "li"]));
    assert_eq!(code, 0);
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("generated password")
        .to_string();

    let (code, out, _) = run(tonghua(&data).args([
        "admin",
        "create-token",
        "--tenant",
        "acme",
        "--user",
        "li",
        "--name",
        "ci",
    ]));
    assert_eq!(code, 0);
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret (shown once): "))
        .expect("secret")
        .to_string();
    let (_, list, _) = run(tonghua(&data).args(["admin", "list-tokens", "--tenant", "acme"]));
    assert!(!list.contains(&secret) && list.contains("live"), "{list}");
    let token_id = list.split('\t').next().expect("id").to_string();

    // The new password and the token work against a running server.
    let port = free_port();
    let server = Server::start(&data, port);
    let r = http()
        .build()
        .expect("client")
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({ "tenant": "acme", "username": "li", "password": generated }))
        .send()
        .expect("login");
    assert!(r.status().is_success());
    let me = http()
        .build()
        .expect("client")
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(&secret)
        .send()
        .expect("me");
    assert!(me.status().is_success());
    drop(server);

    let (code, _, err) =
        run(tonghua(&data).args(["admin", "revoke-token", "--tenant", "acme", &token_id]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        run(tonghua(&data).args(["admin", "revoke-token", "--tenant", "acme", &token_id]));
    assert_eq!(code, 1, "{err}");

    let (_, users, _) = run(tonghua(&data).args(["admin", "list-users", "--tenant", "acme"]));
    assert!(users.contains("li\tsupervisor\tactive"), "{users}");
}

#[test]
fn migrate_reports_status_and_version_prints() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let (code, out, _) = run(tonghua(&data).args(["migrate", "--status"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("foundation") && out.contains("pending"),
        "{out}"
    );
    let (code, out, _) = run(tonghua(&data).args(["migrate"]));
    assert_eq!(code, 0);
    let expected = format!("applied {} migration(s)", store::MIGRATIONS.len());
    assert!(out.contains(&expected), "{out}");
    let (_, out, _) = run(tonghua(&data).args(["migrate"]));
    assert!(out.contains("applied 0 migration(s)"), "{out}");
    let (code, out, _) = run(tonghua(&data).args(["version"]));
    assert_eq!(code, 0);
    assert!(out.starts_with("tonghua "));
}

#[test]
fn json_logs_are_one_json_object_per_line_with_the_request_id() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let port = free_port();
    let mut child = tonghua(&data)
        .args([
            "serve",
            "--http",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http()
        .build()
        .expect("client")
        .get(format!("{base}/healthz"))
        .send()
        .is_err()
    {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = http()
        .build()
        .expect("client")
        .get(format!("{base}/api/v1/me"))
        .header("x-request-id", "req-json-test")
        .send()
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    std::thread::sleep(Duration::from_millis(200));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log_path).expect("read log");
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["message"] == "tonghua is serving"),
        "{text}"
    );
    let access = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "req-json-test")
        .unwrap_or_else(|| panic!("no line for the request: {text}"));
    assert_eq!(access["span"]["path"], "/api/v1/me");
    assert!(
        access["status"] == 401
            || access["message"]
                .as_str()
                .is_some_and(|m| m.contains("401")),
        "{access}"
    );
}

fn post(client: &Client, url: String, body: Value) -> Value {
    let r = client.post(url).json(&body).send().expect("send");
    assert!(r.status().is_success(), "{}", r.status());
    r.json().expect("json")
}

#[test]
fn a_hosted_conversation_continues_after_kill_9_exactly_as_one_never_interrupted() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let port = free_port();
    let turns = [
        "对，是我",
        "下个月就准备装了",
        "一百二十平左右",
        "二十万左右吧",
    ];
    let start = json!({ "channel": "api", "script": "renovation", "contact": { "name": "周先生", "community": "翠湖天地" } });

    let server = Server::start(&data, port);
    let client = login(&server.base);
    let interrupted = post(
        &client,
        format!("{}/api/v1/conversations", server.base),
        start.clone(),
    );
    let id = interrupted["id"].as_str().expect("id").to_string();
    for text in &turns[..2] {
        post(
            &client,
            format!("{}/api/v1/conversations/{id}/input", server.base),
            json!({ "type": "user_said", "text": text }),
        );
    }
    server.kill_9();

    let server = Server::start(&data, port);
    let client = login(&server.base);
    let fresh = post(
        &client,
        format!("{}/api/v1/conversations", server.base),
        start,
    );
    let fresh_id = fresh["id"].as_str().expect("id").to_string();
    for text in &turns[..2] {
        post(
            &client,
            format!("{}/api/v1/conversations/{fresh_id}/input", server.base),
            json!({ "type": "user_said", "text": text }),
        );
    }
    for text in &turns[2..] {
        let a = post(
            &client,
            format!("{}/api/v1/conversations/{id}/input", server.base),
            json!({ "type": "user_said", "text": text }),
        );
        let b = post(
            &client,
            format!("{}/api/v1/conversations/{fresh_id}/input", server.base),
            json!({ "type": "user_said", "text": text }),
        );
        assert_eq!(a["state"], b["state"], "after {text}");
        assert_eq!(a["actions"], b["actions"], "after {text}");
    }
}
