//! Outbound SIP over TCP against a real sipp (`-t t1`) on loopback: a call
//! to a `;transport=tcp` target is answered and BYE'd on one TCP connection,
//! and a REGISTER to a `;transport=tcp` registrar is challenged and accepted.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sip::sdp::{self, Codec};
use sip::{Agent, AgentConfig, CallEvent, Credentials, HangupCause, Originate};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");

/// A port free for both TCP and UDP (sipp binds both).
fn free_port() -> u16 {
    loop {
        let t = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = t.local_addr().expect("addr").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn need_sipp() {
    let found = Command::new("sh")
        .args(["-c", "command -v sipp"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "sipp is missing: run scripts/install-deps.sh test (Debian package sip-tester)"
    );
}

/// sipp running `scenario` as a server over TCP; returns it and its port.
fn tcp_uas(scenario: &str) -> (Child, u16) {
    let port = free_port();
    let media = free_port();
    let child = Command::new("sipp")
        .args(["-sf", &format!("{SCENARIOS}/{scenario}")])
        .args(["-t", "t1", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &media.to_string(), "-m", "1", "-nostdin"])
        .args(["-timeout", "30s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sipp");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "sipp did not listen on TCP port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

async fn agent() -> Agent {
    let (agent, _incoming) = Agent::start(AgentConfig::new("127.0.0.1:0".parse().expect("addr")))
        .await
        .expect("agent");
    agent
}

fn credentials() -> Credentials {
    Credentials {
        user: "robot".into(),
        password: "s3cret".into(),
    }
}

#[tokio::test]
async fn an_outbound_call_to_a_tcp_target_runs_over_tcp() {
    need_sipp();
    let (mut sipp, port) = tcp_uas("uas_auth.xml");
    let agent = agent().await;
    let offer = sdp::build(
        "127.0.0.1:40000".parse().expect("addr"),
        1,
        1,
        &[Codec::Pcma, Codec::Pcmu],
        Some(101),
    );
    let mut leg = agent
        .originate(Originate {
            target: format!("sip:13800138000@127.0.0.1:{port};transport=tcp"),
            from: "sip:robot@trunk.test".into(),
            proxy: None,
            credentials: Some(credentials()),
            offer,
            ring_timeout: Duration::from_secs(10),
        })
        .await
        .expect("answered over TCP (sipp in TCP mode does not read UDP)");
    assert_eq!(leg.remote_media.codecs, vec![Codec::Pcma]);
    leg.hangup();
    let ended = tokio::time::timeout(Duration::from_secs(10), leg.events.recv())
        .await
        .expect("in time");
    assert_eq!(ended, Some(CallEvent::Ended(HangupCause::LocalBye)));
    let status = tokio::task::spawn_blocking(move || sipp.wait())
        .await
        .expect("join")
        .expect("sipp");
    assert!(status.success(), "sipp saw INVITE, ACK and BYE over TCP");
}

#[tokio::test]
async fn a_register_to_a_tcp_registrar_runs_over_tcp() {
    need_sipp();
    let (mut sipp, port) = tcp_uas("uas_register_auth.xml");
    let agent = agent().await;
    let granted = agent
        .register(
            &format!("sip:127.0.0.1:{port};transport=tcp"),
            None,
            &credentials(),
            300,
        )
        .await
        .expect("registered over TCP after the challenge");
    assert_eq!(granted, 120);
    let status = tokio::task::spawn_blocking(move || sipp.wait())
        .await
        .expect("join")
        .expect("sipp");
    assert!(status.success(), "sipp saw both REGISTERs over TCP");
}
