//! SIP over TLS against a real baresip (libre with OpenSSL) on loopback, with
//! a self-signed certificate made in the test: baresip calls our TLS listener
//! (`transport=tls`), and we call baresip's TLS port.

use std::net::UdpSocket as StdUdp;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sip::sdp::{self, Codec};
use sip::{Agent, AgentConfig, CallEvent, HangupCause, Originate, Peer, TlsConfig};

fn free_port() -> u16 {
    loop {
        let u = StdUdp::bind("127.0.0.1:0").expect("bind");
        let port = u.local_addr().expect("addr").port();
        // baresip listens for TLS on its SIP port + 1 (TCP).
        if port < 60000
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
        {
            return port;
        }
    }
}

fn need_baresip() {
    let found = Command::new("sh")
        .args(["-c", "command -v baresip"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "baresip is missing: run scripts/install-deps.sh test"
    );
}

/// A self-signed certificate for 127.0.0.1: `cert.pem`, `key.pem`, and
/// `both.pem` (what baresip's `sip_certificate` wants).
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("rcgen");
    let cert = ck.cert.pem();
    let key = ck.signing_key.serialize_pem();
    let (c, k, b) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("both.pem"),
    );
    std::fs::write(&c, &cert).expect("cert");
    std::fs::write(&k, &key).expect("key");
    std::fs::write(&b, format!("{cert}{key}")).expect("both");
    (c, k, b)
}

/// One second of 8 kHz silence for baresip's audio source.
fn silence_wav(path: &Path) {
    let samples = 8000u32;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(samples * 2).to_le_bytes());
    w.resize(w.len() + (samples * 2) as usize, 0);
    std::fs::write(path, w).expect("wav");
}

fn baresip_conf(
    dir: &Path,
    sip_port: u16,
    both: &Path,
    ca: &Path,
    account: &str,
) -> std::path::PathBuf {
    let conf = dir.join("baresip");
    std::fs::create_dir_all(&conf).expect("mkdir");
    let wav = dir.join("silence.wav");
    silence_wav(&wav);
    std::fs::write(
        conf.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\nsip_certificate {}\nsip_cafile {}\nnet_interface 127.0.0.1\naudio_source aufile,{}\naudio_player aufile,{}\naudio_alert aufile,{}\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\n",
            both.display(),
            ca.display(),
            wav.display(),
            dir.join("heard.wav").display(),
            dir.join("alert.wav").display(),
        ),
    )
    .expect("config");
    std::fs::write(conf.join("accounts"), format!("{account}\n")).expect("accounts");
    conf
}

fn tls_agent_config(cert: &Path, key: &Path, ca: Option<&Path>) -> AgentConfig {
    let mut config = AgentConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.tls = Some(TlsConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        ca: ca.map(Path::to_path_buf),
    });
    config
}

fn answer(port: u16) -> Vec<u8> {
    sdp::build(
        format!("127.0.0.1:{port}").parse().expect("addr"),
        1,
        1,
        &[Codec::Pcmu],
        None,
    )
}

#[tokio::test]
async fn baresip_calls_the_tls_listener() {
    need_baresip();
    let tmp = tempfile::tempdir().expect("tmp");
    let (cert, key, both) = certificate(tmp.path());
    let (agent, mut incoming) = Agent::start(tls_agent_config(&cert, &key, None))
        .await
        .expect("agent with TLS");
    let tls = agent.tls_addr().expect("TLS listener");
    let conf = baresip_conf(
        tmp.path(),
        free_port(),
        &both,
        &cert,
        "<sip:caller@127.0.0.1;transport=tls>;regint=0",
    );
    let caller = std::thread::spawn(move || {
        Command::new("baresip")
            .arg("-4")
            .arg("-f")
            .arg(&conf)
            .args([
                "-e",
                &format!("/dial sip:4001@{tls};transport=tls"),
                "-t",
                "4",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("baresip")
    });
    let call = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
        .await
        .expect("a call in time")
        .expect("call");
    assert!(matches!(call.source, Peer::Tls(_)), "{:?}", call.source);
    assert_eq!(call.dialled, "4001");
    let mut leg = call.accept(answer(40040));
    // baresip quits after its 4 s with BYE, over the same TLS connection:
    // only possible if our 200 reached it and it acknowledged it.
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
    .expect("ended in time");
    let out = tokio::task::spawn_blocking(move || caller.join().expect("join"))
        .await
        .expect("join");
    let log = String::from_utf8_lossy(&out.stdout);
    assert_eq!(ended, Some(HangupCause::RemoteBye), "{log}");
    assert!(log.contains("Call established"), "{log}");
}

#[tokio::test]
async fn we_call_baresip_over_tls_and_hang_up() {
    need_baresip();
    let tmp = tempfile::tempdir().expect("tmp");
    let (cert, key, both) = certificate(tmp.path());
    let port = free_port();
    let conf = baresip_conf(
        tmp.path(),
        port,
        &both,
        &cert,
        "<sip:agent1@127.0.0.1;transport=tls>;regint=0;answermode=auto",
    );
    let callee = Command::new("baresip")
        .arg("-4")
        .arg("-f")
        .arg(&conf)
        // -s: SIP trace on stdout, to see our requests arrive.
        .args(["-s", "-t", "12"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Our client trusts the self-signed certificate through `ca`.
    let (agent, _incoming) = Agent::start(tls_agent_config(&cert, &key, Some(&cert)))
        .await
        .expect("agent with TLS");
    let mut leg = agent
        .originate(Originate {
            target: format!("sip:agent1@127.0.0.1:{};transport=tls", port + 1),
            from: "sip:robot@127.0.0.1".into(),
            proxy: None,
            credentials: None,
            offer: answer(40042),
            ring_timeout: Duration::from_secs(10),
        })
        .await
        .expect("baresip answers over TLS");
    assert_eq!(leg.remote_media.codecs, vec![Codec::Pcmu]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    leg.hangup();
    let ended = tokio::time::timeout(Duration::from_secs(10), leg.events.recv())
        .await
        .expect("in time");
    assert_eq!(ended, Some(CallEvent::Ended(HangupCause::LocalBye)));
    let mut callee = callee;
    let _ = callee.kill();
    let out = callee.wait_with_output().expect("baresip");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("Call established"), "{log}");
    // baresip's SIP trace (-s): our BYE arrived over TLS and was answered.
    let bye = log.find("\nBYE sip:agent1").expect("baresip got our BYE");
    let via = log[..bye].lines().last().unwrap_or_default();
    assert!(via.starts_with("TLS "), "BYE came over {via}: {log}");
    assert!(log[bye..].contains("SIP/2.0 200 OK"), "{log}");
}

#[tokio::test]
async fn a_tls_target_without_tls_configured_is_refused_at_once() {
    let (agent, _incoming) = Agent::start(AgentConfig::new("127.0.0.1:0".parse().expect("addr")))
        .await
        .expect("agent");
    let err = agent
        .originate(Originate {
            target: "sip:1@127.0.0.1:5061;transport=tls".into(),
            from: "sip:robot@127.0.0.1".into(),
            proxy: None,
            credentials: None,
            offer: answer(40044),
            ring_timeout: Duration::from_secs(1),
        })
        .await
        .expect_err("refused");
    assert!(err.detail.contains("TLS"), "{}", err.detail);
}
