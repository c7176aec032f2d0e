//! RFC 4475 torture messages against a live agent over UDP and TCP: every
//! malformed request is refused (400, or the specific 4xx/5xx the RFC
//! names) or dropped; every well-formed one is processed; the agent keeps
//! answering afterwards.

mod fixtures;

use std::time::Duration;

use sip::{Agent, AgentConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

async fn agent() -> Agent {
    let (agent, mut incoming) =
        Agent::start(AgentConfig::new("127.0.0.1:0".parse().expect("addr")))
            .await
            .expect("start");
    // Calls that get this far are refused: the INVITEs here are not real calls.
    tokio::spawn(async move {
        while let Some(call) = incoming.recv().await {
            call.reject(486);
        }
    });
    agent
}

/// The status of the first response to `msg` (over UDP), if any comes within 500 ms.
async fn udp_status(agent: &Agent, msg: &[u8]) -> Option<u16> {
    let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    s.send_to(msg, agent.local_addr()).await.expect("send");
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_millis(500), s.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        let code: u16 = text.get(8..11)?.parse().ok()?;
        if code != 100 {
            return Some(code);
        }
    }
}

const OPTIONS: &str = "OPTIONS sip:robot@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKlive\r\nFrom: <sip:t@x>;tag=1\r\nTo: <sip:robot@127.0.0.1>\r\nCall-ID: alive\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

#[tokio::test]
async fn malformed_requests_are_refused_or_dropped_and_nothing_breaks() {
    let agent = agent().await;
    let mut report = Vec::new();
    for (name, msg) in fixtures::messages("malformed") {
        let status = udp_status(&agent, &msg).await;
        let expected: &[u16] = match name.as_str() {
            // A branch of only the magic cookie is unusual but legal: processed.
            "3.2.1_badbranch" => &[200],
            // Unknown URI scheme in To: 416; unknown required extension: 420.
            "3.3.4_unksm2" => &[416],
            "3.3.5_bext01" => &[420],
            "3.1.2.16_badvers" => &[505, 0],
            // An INVITE whose Accept excludes SDP: 406; an unknown body type: 415.
            "3.3.15_sdp01" => &[406],
            "3.3.6_invut" => &[415, 400],
            _ => &[400, 0],
        };
        let got = status.unwrap_or(0);
        report.push(format!("{name}: {got}"));
        assert!(
            expected.contains(&got),
            "{name}: got {got}, expected one of {expected:?}\n{}",
            report.join("\n")
        );
    }
    assert!(
        agent
            .stats()
            .malformed_answered
            .load(std::sync::atomic::Ordering::Relaxed)
            > 10
    );
    assert_eq!(
        udp_status(&agent, OPTIONS.as_bytes()).await,
        Some(200),
        "still answering"
    );
}

#[tokio::test]
async fn wellformed_torture_requests_are_processed() {
    let agent = agent().await;
    for (name, msg) in fixtures::messages("wellformed") {
        let status = udp_status(&agent, &msg).await;
        // Responses (3.1.1.13) and ACK-less flows may get no answer; nothing is refused as malformed.
        assert!(
            !matches!(status, Some(400) | Some(505)),
            "{name}: refused as malformed ({status:?})"
        );
    }
    assert_eq!(udp_status(&agent, OPTIONS.as_bytes()).await, Some(200));
}

#[tokio::test]
async fn tcp_garbage_closes_that_connection_only() {
    let agent = agent().await;
    let mut bad = TcpStream::connect(agent.local_addr())
        .await
        .expect("connect");
    bad.write_all(b"INVITE sip:x SIP/2.0\r\nContent-Length: banana\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), bad.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "the unframeable connection is closed");
    // A good TCP client is answered.
    let mut good = TcpStream::connect(agent.local_addr())
        .await
        .expect("connect");
    good.write_all(OPTIONS.replace("UDP", "TCP").as_bytes())
        .await
        .expect("write");
    let mut resp = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), good.read(&mut resp))
        .await
        .expect("answer")
        .expect("read");
    assert!(
        String::from_utf8_lossy(&resp[..n]).starts_with("SIP/2.0 200"),
        "OPTIONS over TCP answered"
    );
}
