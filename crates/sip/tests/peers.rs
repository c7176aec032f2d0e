//! The agent against a real sipp on loopback (Debian package sip-tester,
//! installed by scripts/install-deps.sh test).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sip::sdp::{self, Codec};
use sip::{Agent, AgentConfig, CallEvent, CallOutcome, Credentials, HangupCause, Originate};

mod common;
use common::{SCENARIOS, free_udp_port, need_sipp, wait_for_sipp};

/// sipp as a trunk demanding digest auth for user robot / password s3cret.
fn trunk() -> (std::process::Child, u16) {
    uas("uas_auth.xml")
}

fn uas(scenario: &str) -> (std::process::Child, u16) {
    let port = free_udp_port();
    let media = free_udp_port();
    let child = Command::new("sipp")
        .args([
            "-sf",
            &format!("{SCENARIOS}/{scenario}"),
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args([
            "-mp",
            &media.to_string(),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "30s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sipp");
    wait_for_sipp(port);
    (child, port)
}

async fn agent() -> Agent {
    let (agent, _incoming) = Agent::start(AgentConfig::new("127.0.0.1:0".parse().expect("addr")))
        .await
        .expect("agent");
    agent
}

fn call(agent: &Agent, port: u16, password: &str) -> Originate {
    let offer = sdp::build(
        "127.0.0.1:40000".parse().expect("addr"),
        1,
        1,
        &[Codec::Pcma, Codec::Pcmu],
        Some(101),
    );
    let _ = agent;
    Originate {
        target: format!("sip:13800138000@127.0.0.1:{port}"),
        from: "sip:robot@trunk.test".into(),
        proxy: Some(format!("127.0.0.1:{port}").parse().expect("addr")),
        credentials: Some(Credentials {
            user: "robot".into(),
            password: password.into(),
        }),
        offer,
        ring_timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn outbound_call_authenticates_with_digest_and_hangs_up() {
    need_sipp();
    let (mut sipp, port) = trunk();
    let agent = agent().await;
    let mut leg = agent
        .originate(call(&agent, port, "s3cret"))
        .await
        .expect("answered after the challenge");
    assert_eq!(leg.remote_media.codecs, vec![Codec::Pcma]);
    assert_eq!(leg.remote_media.telephone_event, Some(101));
    leg.hangup();
    let ended = tokio::time::timeout(Duration::from_secs(10), leg.events.recv())
        .await
        .expect("in time");
    assert_eq!(ended, Some(CallEvent::Ended(HangupCause::LocalBye)));
    let status = tokio::task::spawn_blocking(move || sipp.wait())
        .await
        .expect("join")
        .expect("sipp");
    assert!(status.success(), "sipp saw a complete authenticated call");
    assert_eq!(agent.dialog_count(), 0, "the dialog is gone");
}

#[tokio::test]
async fn a_wrong_password_fails_clearly_and_quickly() {
    need_sipp();
    let (mut sipp, port) = trunk();
    let agent = agent().await;
    let started = Instant::now();
    let err = agent
        .originate(call(&agent, port, "wrong"))
        .await
        .expect_err("refused");
    assert_eq!(err.outcome, CallOutcome::Failed);
    assert!(
        err.detail.contains("authentication failed"),
        "{}",
        err.detail
    );
    // Not a hang: well inside one transaction time-out (32 s).
    assert!(started.elapsed() < Duration::from_secs(10));
    let _ = sipp.kill();
    let _ = sipp.wait();
}

#[tokio::test]
async fn a_dead_trunk_is_unreachable_not_a_hang() {
    let agent = agent().await;
    // Nobody listens on this port; the INVITE is retransmitted and times out.
    let port = free_udp_port();
    let mut o = call(&agent, port, "x");
    o.credentials = None;
    let r = tokio::time::timeout(Duration::from_secs(40), agent.originate(o))
        .await
        .expect("gives up in time");
    assert_eq!(r.expect_err("no answer").outcome, CallOutcome::Unreachable);
}

#[tokio::test]
async fn an_unanswered_call_is_cancelled_at_the_ring_timeout() {
    need_sipp();
    let (mut sipp, port) = uas("uas_ring_cancel.xml");
    let agent = agent().await;
    let mut o = call(&agent, port, "x");
    o.credentials = None;
    o.ring_timeout = Duration::from_secs(2);
    let err = agent.originate(o).await.expect_err("not answered");
    assert_eq!(err.outcome, CallOutcome::NoAnswer);
    let status = tokio::task::spawn_blocking(move || sipp.wait())
        .await
        .expect("join")
        .expect("sipp");
    assert!(
        status.success(),
        "sipp got our CANCEL and the ACK for its 487"
    );
}

#[tokio::test]
async fn a_blind_transfer_refers_the_caller_and_leaves() {
    need_sipp();
    let (agent, mut incoming) =
        Agent::start(AgentConfig::new("127.0.0.1:0".parse().expect("addr")))
            .await
            .expect("agent");
    let target = agent.local_addr();
    let caller = std::thread::spawn(move || {
        Command::new("sipp")
            .args([
                "-sf",
                &format!("{SCENARIOS}/uac_refer.xml"),
                &target.to_string(),
            ])
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &free_udp_port().to_string(),
                "-mp",
                &free_udp_port().to_string(),
            ])
            .args(["-m", "1", "-nostdin", "-timeout", "20s", "-s", "4001"])
            .output()
            .expect("sipp")
    });
    let call = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
        .await
        .expect("a call")
        .expect("call");
    let answer = sdp::build(
        "127.0.0.1:40020".parse().expect("addr"),
        1,
        1,
        &[Codec::Pcma],
        None,
    );
    let mut leg = call.accept(answer);
    tokio::time::sleep(Duration::from_millis(500)).await;
    leg.transfer("sip:agent7@queue.test");
    let mut seen = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(10), leg.events.recv()).await
    {
        let end = matches!(ev, CallEvent::Ended(_));
        seen.push(ev);
        if end {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![
            CallEvent::TransferResult {
                accepted: true,
                code: 202
            },
            CallEvent::Ended(HangupCause::Transferred)
        ]
    );
    let out = tokio::task::spawn_blocking(move || caller.join().expect("join"))
        .await
        .expect("join");
    assert!(
        out.status.success(),
        "sipp: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
