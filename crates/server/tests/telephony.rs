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
    std::thread::sleep(Duration::from_millis(400));
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
