//! Incoming RTCP from a real peer: baresip calls a sip agent on loopback, the
//! media loop answers with RTP (and sender reports), and baresip's RTCP
//! reports about our stream (on RTP port + 1) end up in the call's
//! `RtcpSummary`: reports, loss, jitter.

use std::net::UdpSocket as StdUdp;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use call::media::{self, MediaParams};
use sip::sdp;
use sip::{Agent, AgentConfig, CallEvent};

fn free_port() -> u16 {
    StdUdp::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// An RTP socket whose port + 1 is free for RTCP.
async fn rtp_socket() -> tokio::net::UdpSocket {
    loop {
        let s = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = s.local_addr().expect("addr").port();
        if port < 65535 && StdUdp::bind(("127.0.0.1", port + 1)).is_ok() {
            return s;
        }
    }
}

/// A 440 Hz tone for 10 s, 8 kHz 16-bit mono, for baresip's audio source.
fn tone_wav(path: &Path) {
    let samples = 80_000u32;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    for v in [1u16, 1] {
        w.extend_from_slice(&v.to_le_bytes());
    }
    for v in [8000u32, 16000] {
        w.extend_from_slice(&v.to_le_bytes());
    }
    for v in [2u16, 16] {
        w.extend_from_slice(&v.to_le_bytes());
    }
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(samples * 2).to_le_bytes());
    for i in 0..samples {
        let x = (f64::from(i) * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin();
        w.extend_from_slice(&((x * 8000.0) as i16).to_le_bytes());
    }
    std::fs::write(path, w).expect("wav");
}

#[tokio::test]
async fn baresips_rtcp_reports_about_our_stream_are_read() {
    let found = Command::new("sh")
        .args(["-c", "command -v baresip"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "baresip is missing: run scripts/install-deps.sh test"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let (agent, mut incoming) =
        Agent::start(AgentConfig::new("127.0.0.1:0".parse().expect("addr")))
            .await
            .expect("agent");
    let conf = tmp.path().join("baresip");
    std::fs::create_dir_all(&conf).expect("mkdir");
    let wav = tmp.path().join("tone.wav");
    tone_wav(&wav);
    std::fs::write(
        conf.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{}\nnet_interface 127.0.0.1\naudio_source aufile,{}\naudio_player aufile,{}\naudio_alert aufile,{}\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\n",
            free_port(),
            wav.display(),
            tmp.path().join("heard.wav").display(),
            tmp.path().join("alert.wav").display(),
        ),
    )
    .expect("config");
    std::fs::write(conf.join("accounts"), "<sip:caller@127.0.0.1>;regint=0\n").expect("accounts");
    let target = agent.local_addr();
    // 12 s: baresip sends RTCP about every 5 s.
    let caller = std::thread::spawn(move || {
        Command::new("baresip")
            .arg("-4")
            .arg("-f")
            .arg(&conf)
            .args(["-e", &format!("/dial sip:4001@{target}"), "-t", "12"])
            .stdin(Stdio::null())
            .output()
            .expect("baresip")
    });
    let call = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
        .await
        .expect("a call")
        .expect("call");
    let negotiated = sdp::negotiate(&call.offer).expect("a common codec");
    let socket = rtp_socket().await;
    let local = socket.local_addr().expect("addr");
    let answer = sdp::build(local, 1, 1, &[negotiated.codec], None);
    let mut leg = call.accept(answer);
    let handle = media::start(
        MediaParams {
            socket,
            remote: negotiated.remote_rtp,
            codec: negotiated.codec,
            telephone_event: None,
            recording: None,
            rtp_timeout: Duration::from_secs(30),
            listener: voice::ListenerConfig::default(),
        },
        None,
    );
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match leg.events.recv().await {
                Some(CallEvent::Ended(c)) => return Some(c),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .expect("baresip hangs up");
    assert!(ended.is_some());
    let stats = handle.stop().await;
    let out = tokio::task::spawn_blocking(move || caller.join().expect("join"))
        .await
        .expect("join");
    let log = String::from_utf8_lossy(&out.stdout);
    let r = &stats.rtcp;
    eprintln!("{r:?}");
    assert!(r.reports_received >= 1, "no RTCP read: {r:?}\n{log}");
    assert!(r.blocks_about_us >= 1, "no block about our stream: {r:?}");
    // Loopback: nothing lost, little jitter, on both streams.
    assert_eq!(r.packets_lost, Some(0), "{r:?}");
    assert_eq!(r.fraction_lost_pct, Some(0.0), "{r:?}");
    assert!(r.jitter_ms.is_some_and(|j| j < 20.0), "{r:?}");
    assert!(r.our_jitter_ms < 20.0, "{r:?}");
    assert!(r.rtt_ms.iter().all(|&ms| ms < 1000), "{r:?}");
    assert!(stats.packets_received > 100, "{stats:?}");
}
