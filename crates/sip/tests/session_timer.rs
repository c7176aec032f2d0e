//! RFC 4028 session timers on a live agent, with a 3 s session (the agent's
//! minimum lowered for the test; 90 s by default).

use std::time::Duration;

use sip::sdp::{self, Codec};
use sip::{Agent, AgentConfig, CallEvent, HangupCause};
use tokio::net::UdpSocket;

const OFFER: &str = "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n";

fn invite(port: u16, agent: std::net::SocketAddr) -> String {
    format!(
        "INVITE sip:4001@{agent} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKse1\r\nFrom: <sip:t@127.0.0.1>;tag=a1\r\nTo: <sip:4001@{agent}>\r\nCall-ID: se-1\r\nCSeq: 1 INVITE\r\nContact: <sip:t@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\nSupported: timer\r\nSession-Expires: 3\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    )
}

async fn next_message(s: &UdpSocket) -> String {
    let mut buf = vec![0u8; 65536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), s.recv_from(&mut buf))
        .await
        .expect("a message in time")
        .expect("recv");
    String::from_utf8_lossy(&buf[..n]).to_string()
}

#[tokio::test]
async fn a_session_the_peer_does_not_refresh_is_ended_with_bye() {
    let mut config = AgentConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.min_session_secs = 1;
    let (agent, mut incoming) = Agent::start(config).await.expect("agent");
    let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(call) = incoming.recv().await {
            let answer = sdp::build(
                "127.0.0.1:40010".parse().expect("addr"),
                1,
                1,
                &[Codec::Pcmu],
                None,
            );
            let leg = call.accept(answer);
            let etx = etx.clone();
            tokio::spawn(async move {
                // Keep the whole leg: dropping its control handle hangs up.
                let mut leg = leg;
                while let Some(ev) = leg.events.recv().await {
                    let _ = etx.send(ev);
                }
            });
        }
    });
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let port = peer.local_addr().expect("addr").port();
    peer.send_to(
        invite(port, agent.local_addr()).as_bytes(),
        agent.local_addr(),
    )
    .await
    .expect("send");
    let ok = loop {
        let m = next_message(&peer).await;
        if m.starts_with("SIP/2.0 200") {
            break m;
        }
    };
    assert!(ok.contains("Session-Expires: 3;refresher=uac"), "{ok}");
    assert!(ok.contains("Require: timer"), "{ok}");
    let to = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .expect("To")
        .to_string();
    let ack = format!(
        "ACK sip:4001@{a} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKse2\r\nFrom: <sip:t@127.0.0.1>;tag=a1\r\n{to}\r\nCall-ID: se-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        a = agent.local_addr()
    );
    peer.send_to(ack.as_bytes(), agent.local_addr())
        .await
        .expect("ack");
    let started = tokio::time::Instant::now();
    // No refresh: the agent sends BYE before the 3 s are up (at 3 − 3/3 s).
    let bye = loop {
        let m = next_message(&peer).await;
        if m.starts_with("BYE ") {
            break m;
        }
    };
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited <= Duration::from_secs(3),
        "BYE after {waited:?}: {:?}",
        erx.try_recv()
    );
    // Answer the BYE so the agent's transaction completes.
    let mut ok = String::from("SIP/2.0 200 OK\r\n");
    for l in bye.lines().filter(|l| {
        ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
            .iter()
            .any(|h| l.starts_with(h))
    }) {
        ok.push_str(l);
        ok.push_str("\r\n");
    }
    ok.push_str("Content-Length: 0\r\n\r\n");
    peer.send_to(ok.as_bytes(), agent.local_addr())
        .await
        .expect("200");
    let ended = tokio::time::timeout(Duration::from_secs(40), async {
        loop {
            if let Some(CallEvent::Ended(c)) = erx.recv().await {
                return c;
            }
        }
    })
    .await
    .expect("ended");
    assert_eq!(ended, HangupCause::SessionExpired);
}
