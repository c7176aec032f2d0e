//! Route sets against a real sipp on loopback (RFC 3261 §12.1, §12.2.1.1):
//! a record-routing "proxy" is a UDP socket in the test that records each
//! request it gets and forwards it, unchanged, to sipp. The dialog's ACK and
//! BYE must reach that proxy with the route set as Route headers and the
//! remote target (the peer's Contact) as Request-URI.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use sip::sdp::{self, Codec};
use sip::{Agent, AgentConfig, CallEvent, HangupCause, Originate};

mod common;
use common::{SCENARIOS, free_udp_port, need_sipp, wait_for_sipp};

/// A stateless forwarding proxy: records `count` requests and passes every
/// datagram on to `to`. Returns its address and the recorded requests.
fn proxy(count: usize, to: SocketAddr) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind proxy");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let addr = socket.local_addr().expect("addr");
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 65536];
        while seen.len() < count {
            let Ok((n, _)) = socket.recv_from(&mut buf) else {
                break;
            };
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let _ = socket.send_to(&buf[..n], to);
            if !text.starts_with("SIP/2.0") {
                seen.push(text);
            }
        }
        seen
    });
    (addr, handle)
}

/// The same proxy listening on TCP: records the first `count` requests of
/// one connection (bodiless, so each ends at the blank line) and forwards
/// them to sipp over UDP.
fn tcp_proxy(count: usize, to: SocketAddr) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let addr = listener.local_addr().expect("addr");
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let Ok((mut stream, _)) = listener.accept() else {
            return seen;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let mut pending = String::new();
        let mut buf = [0u8; 65536];
        while seen.len() < count {
            let Ok(n) = stream.read(&mut buf) else {
                break;
            };
            if n == 0 {
                break;
            }
            pending.push_str(&String::from_utf8_lossy(&buf[..n]));
            while let Some(end) = pending.find("\r\n\r\n") {
                let msg: String = pending.drain(..end + 4).collect();
                let _ = udp.send_to(msg.as_bytes(), to);
                seen.push(msg);
            }
        }
        seen
    });
    (addr, handle)
}

fn request_line(m: &str) -> &str {
    m.lines().next().unwrap_or_default()
}

fn routes(m: &str) -> Vec<String> {
    m.lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("Route")
                .then(|| value.trim().to_string())
        })
        .collect()
}

#[tokio::test]
async fn an_outbound_dialog_follows_the_record_route_of_the_2xx() {
    need_sipp();
    let sipp_port = free_udp_port();
    let (proxy_addr, recorded) = proxy(2, format!("127.0.0.1:{sipp_port}").parse().expect("addr"));
    let mut sipp = Command::new("sipp")
        .args(["-sf", &format!("{SCENARIOS}/uas_record_route.xml")])
        .args(["-i", "127.0.0.1", "-p", &sipp_port.to_string()])
        .args(["-mp", &free_udp_port().to_string()])
        .args(["-key", "proxyuri", &format!("sip:{proxy_addr};lr")])
        .args(["-m", "1", "-nostdin", "-timeout", "30s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sipp");
    wait_for_sipp(sipp_port);
    let (agent, _incoming) = Agent::start(AgentConfig::new("127.0.0.1:0".parse().expect("addr")))
        .await
        .expect("agent");
    let offer = sdp::build(
        "127.0.0.1:40000".parse().expect("addr"),
        1,
        1,
        &[Codec::Pcma],
        None,
    );
    let mut leg = agent
        .originate(Originate {
            target: format!("sip:13800138000@127.0.0.1:{sipp_port}"),
            from: "sip:robot@trunk.test".into(),
            proxy: None,
            credentials: None,
            offer,
            ring_timeout: Duration::from_secs(10),
        })
        .await
        .expect("answered");
    leg.hangup();
    let ended = tokio::time::timeout(Duration::from_secs(10), leg.events.recv())
        .await
        .expect("in time");
    assert_eq!(ended, Some(CallEvent::Ended(HangupCause::LocalBye)));
    let seen = tokio::task::spawn_blocking(move || recorded.join().expect("proxy"))
        .await
        .expect("join");
    let contact = format!("sip:127.0.0.1:{sipp_port};transport=UDP");
    let route = vec![
        format!("<sip:127.0.0.1:{};lr>", proxy_addr.port()),
        "<sip:callee-side.test;lr>".to_string(),
    ];
    assert_eq!(seen.len(), 2, "the proxy got the ACK and the BYE: {seen:?}");
    assert_eq!(request_line(&seen[0]), format!("ACK {contact} SIP/2.0"));
    assert_eq!(routes(&seen[0]), route, "ACK routes, nearest first");
    assert_eq!(request_line(&seen[1]), format!("BYE {contact} SIP/2.0"));
    assert_eq!(routes(&seen[1]), route, "BYE routes, nearest first");
    let status = tokio::task::spawn_blocking(move || sipp.wait())
        .await
        .expect("join")
        .expect("sipp");
    assert!(status.success(), "sipp got the ACK and BYE via the proxy");
}

#[tokio::test]
async fn an_inbound_dialog_follows_the_record_route_of_the_invite() {
    need_sipp();
    let (agent, mut incoming) =
        Agent::start(AgentConfig::new("127.0.0.1:0".parse().expect("addr")))
            .await
            .expect("agent");
    let target = agent.local_addr();
    let sipp_port = free_udp_port();
    let (proxy_addr, recorded) = proxy(1, format!("127.0.0.1:{sipp_port}").parse().expect("addr"));
    let caller = std::thread::spawn(move || {
        Command::new("sipp")
            .args(["-sf", &format!("{SCENARIOS}/uac_record_route.xml")])
            .arg(target.to_string())
            .args(["-i", "127.0.0.1", "-p", &sipp_port.to_string()])
            .args(["-mp", &free_udp_port().to_string()])
            .args(["-key", "proxyport", &proxy_addr.port().to_string()])
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    leg.hangup();
    let ended = tokio::time::timeout(Duration::from_secs(10), leg.events.recv())
        .await
        .expect("in time");
    assert_eq!(ended, Some(CallEvent::Ended(HangupCause::LocalBye)));
    let seen = tokio::task::spawn_blocking(move || recorded.join().expect("proxy"))
        .await
        .expect("join");
    assert_eq!(seen.len(), 1, "the proxy got the BYE: {seen:?}");
    assert_eq!(
        request_line(&seen[0]),
        format!("BYE sip:sipp@127.0.0.1:{sipp_port} SIP/2.0")
    );
    assert_eq!(
        routes(&seen[0]),
        vec![
            format!("<sip:127.0.0.1:{};lr>", proxy_addr.port()),
            "<sip:caller-side.test;lr>".to_string(),
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

#[tokio::test]
async fn a_route_naming_tcp_is_reached_over_tcp() {
    need_sipp();
    let sipp_port = free_udp_port();
    let (proxy_addr, recorded) =
        tcp_proxy(2, format!("127.0.0.1:{sipp_port}").parse().expect("addr"));
    let proxy_uri = format!("sip:{proxy_addr};transport=tcp;lr");
    let mut sipp = Command::new("sipp")
        .args(["-sf", &format!("{SCENARIOS}/uas_record_route.xml")])
        .args(["-i", "127.0.0.1", "-p", &sipp_port.to_string()])
        .args(["-mp", &free_udp_port().to_string()])
        .args(["-key", "proxyuri", &proxy_uri])
        .args(["-m", "1", "-nostdin", "-timeout", "30s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sipp");
    wait_for_sipp(sipp_port);
    let (agent, _incoming) = Agent::start(AgentConfig::new("127.0.0.1:0".parse().expect("addr")))
        .await
        .expect("agent");
    let offer = sdp::build(
        "127.0.0.1:40000".parse().expect("addr"),
        1,
        1,
        &[Codec::Pcma],
        None,
    );
    let mut leg = agent
        .originate(Originate {
            target: format!("sip:13800138000@127.0.0.1:{sipp_port}"),
            from: "sip:robot@trunk.test".into(),
            proxy: None,
            credentials: None,
            offer,
            ring_timeout: Duration::from_secs(10),
        })
        .await
        .expect("answered over UDP");
    leg.hangup();
    let ended = tokio::time::timeout(Duration::from_secs(10), leg.events.recv())
        .await
        .expect("in time");
    assert_eq!(ended, Some(CallEvent::Ended(HangupCause::LocalBye)));
    let seen = tokio::task::spawn_blocking(move || recorded.join().expect("proxy"))
        .await
        .expect("join");
    assert_eq!(seen.len(), 2, "ACK and BYE came over TCP: {seen:?}");
    for (m, method) in seen.iter().zip(["ACK", "BYE"]) {
        assert!(request_line(m).starts_with(method), "{m}");
        assert!(m.contains("Via: SIP/2.0/TCP "), "Via names TCP: {m}");
        assert_eq!(routes(m)[0], format!("<{proxy_uri}>"));
    }
    let status = tokio::task::spawn_blocking(move || sipp.wait())
        .await
        .expect("join")
        .expect("sipp");
    assert!(
        status.success(),
        "sipp got the ACK and BYE via the TCP proxy"
    );
}
