//! The phone channel's outbound path: `Telephony::originate` through a trunk
//! (a real sipp demanding digest auth on loopback) into a hosted conversation.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use server::telephony::{OutboundRequest, Route, Telephony};
use server::{AppState, Clock, Config};
use sip::CallOutcome;

const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../sip/tests/sipp/uas_auth.xml"
);

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

async fn telephony(
    trunk_port: u16,
    password: &str,
    dir: &std::path::Path,
) -> (AppState, Telephony) {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        sip: "127.0.0.1:0".parse().expect("addr"),
        ..Config::default()
    };
    config.demo.admin_password = "demo-admin-pass-1".into();
    config.telephony.enabled = true;
    config.telephony.trunk.host = "trunk.test".into();
    config.telephony.trunk.proxy = Some(format!("127.0.0.1:{trunk_port}"));
    config.telephony.trunk.user = "robot".into();
    config.telephony.trunk.password = password.into();
    config.telephony.trunk.ring_timeout_secs = 10;
    let store = store::Store::open(dir).await.expect("store");
    let clock = Clock::system();
    server::bootstrap::ensure_demo(&store, &config, &clock)
        .await
        .expect("demo data");
    let state = AppState::new(store, config, clock);
    let t = Telephony::start(state.clone(), call::Engines::placeholder())
        .await
        .expect("telephony");
    (state, t)
}

fn trunk() -> (std::process::Child, u16) {
    let found = Command::new("sh")
        .args(["-c", "command -v sipp"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "sipp is missing: run scripts/install-deps.sh test (Debian package sip-tester)"
    );
    let port = free_udp_port();
    let child = Command::new("sipp")
        .args([
            "-sf",
            SCENARIO,
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-mp",
            &free_udp_port().to_string(),
        ])
        .args(["-m", "1", "-nostdin", "-timeout", "30s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp");
    wait_for_sipp(port);
    (child, port)
}

fn request() -> OutboundRequest {
    let mut contact = BTreeMap::new();
    contact.insert("name".to_string(), "王先生".to_string());
    OutboundRequest {
        number: "13800138000".into(),
        route: Route {
            tenant: "demo".into(),
            script: "renovation".into(),
            knowledge_base: None,
        },
        contact,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_outbound_call_runs_the_script_and_logs_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut sipp, port) = trunk();
    let (state, t) = telephony(port, "s3cret", dir.path()).await;
    let r = t.originate(request()).await;
    assert_eq!(r.outcome, CallOutcome::Answered, "{}", r.detail);
    let id = r.conversation_id.expect("a conversation");
    let tenant = state
        .store()
        .tenant_by_slug("demo")
        .await
        .expect("db")
        .expect("demo")
        .id;
    // The script's greeting is decided and starts playing.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = state
            .store()
            .events(&tenant, &id, 0, i64::MAX)
            .await
            .expect("db")
            .expect("conversation");
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        if kinds.contains(&"call.say_started") {
            assert!(kinds.contains(&"event.call_answered"));
            let say = events
                .iter()
                .find(|e| e.kind == "action.say")
                .expect("greeting");
            assert!(
                say.payload["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("王先生")),
                "the contact's name is used: {}",
                say.payload
            );
            break;
        }
        assert!(Instant::now() < deadline, "no greeting: {kinds:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let conv = state
        .store()
        .conversation(&tenant, &id)
        .await
        .expect("db")
        .expect("conversation");
    assert_eq!(conv.channel, "phone");
    assert_eq!(conv.metadata["direction"], "outbound");
    let _ = sipp.kill();
    let _ = sipp.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_trunk_password_is_a_failed_outcome_without_a_conversation() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut sipp, port) = trunk();
    let (_state, t) = telephony(port, "wrong", dir.path()).await;
    let r = t.originate(request()).await;
    assert_eq!(r.outcome, CallOutcome::Failed);
    assert!(r.detail.contains("authentication failed"), "{}", r.detail);
    assert!(r.conversation_id.is_none());
    let _ = sipp.kill();
    let _ = sipp.wait();
}

/// A trunk kept in the database (as the console makes it), for tenant `demo`.
async fn put_trunk(state: &AppState, name: &str, settings: serde_json::Value) -> (String, String) {
    let tenant = state
        .store()
        .tenant_by_slug("demo")
        .await
        .expect("db")
        .expect("demo")
        .id;
    let parsed: server::trunks::TrunkSettings = serde_json::from_value(settings).expect("settings");
    assert_eq!(parsed.check(), Ok(()));
    let (channel, _) = state
        .store()
        .put_channel(
            &tenant,
            name,
            server::trunks::KIND,
            &serde_json::to_value(&parsed).expect("json"),
            state.now_ms(),
        )
        .await
        .expect("trunk");
    (tenant, channel.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_trunk_places_calls_within_its_line_limit() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut sipp, port) = trunk();
    // The configured trunk is wrong; the database trunk is right.
    let (state, t) = telephony(port, "wrong", dir.path()).await;
    let (tenant, id) = put_trunk(
        &state,
        "carrier-db",
        serde_json::json!({
            "host": "trunk.test", "proxy": format!("127.0.0.1:{port}"),
            "username": "robot", "password": "s3cret", "max_calls": 1, "ring_timeout_secs": 10
        }),
    )
    .await;
    let chosen = t.trunk_named(&tenant, "carrier-db").await.expect("trunk");
    assert_eq!(chosen.max_calls, Some(1));
    let options = server::telephony::OutboundOptions {
        trunk: Some(chosen),
        ..Default::default()
    };
    let (first, _ended) = t.originate_with(request(), options.clone()).await;
    assert_eq!(first.outcome, CallOutcome::Answered, "{}", first.detail);
    assert_eq!(t.trunk_calls(&id), 1);
    // Its one line is busy with the first call: the second is refused here,
    // before anything is sent to the carrier.
    let (second, _) = t.originate_with(request(), options).await;
    assert_eq!(second.outcome, CallOutcome::Failed);
    assert!(second.detail.contains("lines in use"), "{}", second.detail);
    let missing = t.trunk_named(&tenant, "nope").await.expect_err("unknown");
    assert!(missing.contains("nope"), "{missing}");
    let _ = sipp.kill();
    let _ = sipp.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_trunk_registers_and_an_edit_re_registers_it() {
    const REGISTRAR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/uas_register.xml");
    let port = free_udp_port();
    let mut sipp = Command::new("sipp")
        .args(["-sf", REGISTRAR, "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", "2", "-nostdin", "-timeout", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp (run scripts/install-deps.sh test)");
    wait_for_sipp(port);
    let dir = tempfile::tempdir().expect("tmp");
    let (state, t) = telephony(port, "unused", dir.path()).await;
    let settings = |password: &str| {
        serde_json::json!({
            "host": "carrier.test", "proxy": format!("127.0.0.1:{port}"),
            "username": "robot", "password": password, "register": true
        })
    };
    let (_, id) = put_trunk(&state, "carrier-reg", settings("s3cret")).await;
    t.trunks_changed();
    let wait_for = |want: &'static str| {
        let t = t.clone();
        let id = id.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if let Some(s) = t.registration(&id).filter(|s| s.state == want) {
                    return s;
                }
                assert!(
                    Instant::now() < deadline,
                    "never {want}: {:?}",
                    t.registration(&id)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let ok = wait_for("registered").await;
    assert_eq!(ok.expires, Some(120), "the carrier's grant is shown");
    // A new password restarts the registration; the carrier refuses it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    put_trunk(&state, "carrier-reg", settings("wrong")).await;
    t.trunks_changed();
    let failed = wait_for("failed").await;
    assert!(failed.detail.contains("403"), "{}", failed.detail);
    // Deleting the trunk stops its registration.
    let tenant = state
        .store()
        .tenant_by_slug("demo")
        .await
        .expect("db")
        .expect("demo")
        .id;
    state
        .store()
        .delete_channel(&tenant, "carrier-reg")
        .await
        .expect("db");
    t.trunks_changed();
    let deadline = Instant::now() + Duration::from_secs(5);
    while t.registration(&id).is_some() {
        assert!(Instant::now() < deadline, "registration not stopped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = sipp.kill();
    let _ = sipp.wait();
}

/// A carrier reached over TCP: the trunk's `tcp` setting makes its REGISTER
/// go over TCP (sipp in TCP mode reads no UDP at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_trunk_with_tcp_registers_over_tcp() {
    const REGISTRAR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/uas_register.xml");
    let port = free_udp_port();
    let mut sipp = Command::new("sipp")
        .args([
            "-sf",
            REGISTRAR,
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "t1",
        ])
        .args(["-m", "1", "-nostdin", "-timeout", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp (run scripts/install-deps.sh test)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "sipp did not listen on TCP {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let (state, t) = telephony(port, "unused", dir.path()).await;
    let (_, id) = put_trunk(
        &state,
        "carrier-tcp",
        serde_json::json!({
            "host": format!("127.0.0.1:{port}"), "username": "robot", "password": "s3cret",
            "register": true, "tcp": true
        }),
    )
    .await;
    t.trunks_changed();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match t.registration(&id) {
            Some(s) if s.state == "registered" => break,
            other => assert!(
                Instant::now() < deadline,
                "not registered over TCP: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = sipp.kill();
    let _ = sipp.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_on_a_database_trunk_routes_its_calls_to_the_trunks_script() {
    let dir = tempfile::tempdir().expect("tmp");
    let (state, t) = telephony(free_udp_port(), "unused", dir.path()).await;
    let (tenant, _) = put_trunk(
        &state,
        "did",
        serde_json::json!({
            "host": "carrier.test", "numbers": ["075583009999"], "script": "renovation"
        }),
    )
    .await;
    let target = format!("127.0.0.1:{}", t.local_addr().port());
    let status = Command::new("sipp")
        .args([
            "-sn",
            "uac",
            "-s",
            "075583009999",
            &target,
            "-i",
            "127.0.0.1",
        ])
        .args(["-p", &free_udp_port().to_string(), "-m", "1", "-d", "1000"])
        .args(["-nostdin", "-timeout", "20s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("sipp");
    assert!(
        status.success(),
        "the call to the trunk's number is answered"
    );
    let conversations = state.store().conversations(&tenant, 10).await.expect("db");
    let call = conversations
        .iter()
        .find(|c| c.metadata["dialled"] == "075583009999")
        .expect("the call's conversation");
    assert_eq!(
        call.metadata["bot"]["script"], "renovation",
        "{}",
        call.metadata
    );
}

/// Waits until sipp has bound its UDP port (a fixed sleep is not enough on
/// a loaded machine: an INVITE sent too early meets a closed port).
fn wait_for_sipp(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "sipp did not bind port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
