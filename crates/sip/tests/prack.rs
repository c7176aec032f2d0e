//! RFC 3262 (100rel) against a real sipp on loopback: a caller that requires
//! reliable provisional responses and PRACKs them, and a callee that answers
//! with a reliable 183 and waits for our PRACK (sipp fails its scenario when
//! a step is missing or out of order).

use std::process::{Command, Stdio};
use std::time::Duration;

use sip::sdp::{self, Codec};
use sip::{Agent, AgentConfig, CallEvent, HangupCause, Originate};

mod common;
use common::{SCENARIOS, free_udp_port, need_sipp};

fn answer() -> Vec<u8> {
    sdp::build(
        "127.0.0.1:40030".parse().expect("addr"),
        1,
        1,
        &[Codec::Pcmu],
        None,
    )
}

#[tokio::test]
async fn a_caller_requiring_100rel_gets_a_reliable_183_and_the_200_after_its_prack() {
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
                &format!("{SCENARIOS}/uac_100rel.xml"),
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
    let mut leg = call.accept(answer());
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match leg.events.recv().await {
                Some(CallEvent::Ended(c)) => return Some(c),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .expect("the call ends");
    assert_eq!(ended, Some(HangupCause::RemoteBye));
    let out = tokio::task::spawn_blocking(move || caller.join().expect("join"))
        .await
        .expect("join");
    assert!(
        out.status.success(),
        "sipp: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn an_outbound_call_pracks_the_callees_reliable_183() {
    need_sipp();
    let port = free_udp_port();
    let callee = Command::new("sipp")
        .args([
            "-sf",
            &format!("{SCENARIOS}/uas_100rel.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args([
            "-mp",
            &free_udp_port().to_string(),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "20s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sipp");
    std::thread::sleep(Duration::from_millis(400));
    let (agent, _incoming) = Agent::start(AgentConfig::new("127.0.0.1:0".parse().expect("addr")))
        .await
        .expect("agent");
    let offer = sdp::build(
        "127.0.0.1:40032".parse().expect("addr"),
        1,
        1,
        &[Codec::Pcmu],
        None,
    );
    let mut leg = agent
        .originate(Originate {
            target: format!("sip:13800138000@127.0.0.1:{port}"),
            from: "sip:robot@trunk.test".into(),
            proxy: Some(format!("127.0.0.1:{port}").parse().expect("addr")),
            credentials: None,
            offer,
            ring_timeout: Duration::from_secs(10),
        })
        .await
        .expect("answered after our PRACK");
    assert_eq!(leg.remote_media.codecs, vec![Codec::Pcmu]);
    leg.hangup();
    let ended = tokio::time::timeout(Duration::from_secs(10), leg.events.recv())
        .await
        .expect("in time");
    assert_eq!(ended, Some(CallEvent::Ended(HangupCause::LocalBye)));
    let out = tokio::task::spawn_blocking(move || callee.wait_with_output())
        .await
        .expect("join")
        .expect("sipp");
    assert!(
        out.status.success(),
        "sipp saw our PRACK with the right RAck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
