//! Phone calls against real peers on loopback: the `tonghua` binary serving
//! SIP, sipp calling it, tcpdump capturing the RTP on `lo`.
//!
//! Peers come from `scripts/install-deps.sh test` (sip-tester, tcpdump).
//! Capturing needs root (or CAP_NET_RAW), as in CI.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

mod common;
use common::{free_media_port, free_port, http_client, need};

const BIN: &str = env!("CARGO_BIN_EXE_tonghua");
const ADMIN_PASSWORD: &str = "demo-admin-pass-1";
const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");

struct Server {
    child: Child,
    base: String,
    sip: u16,
    data: PathBuf,
}

impl Server {
    fn start(data: &Path) -> Server {
        let http = free_port();
        let sip = free_port();
        let child = Command::new(BIN)
            .arg("--data-dir")
            .arg(data)
            .args([
                "serve",
                "--http",
                &format!("127.0.0.1:{http}"),
                "--sip",
                &format!("127.0.0.1:{sip}"),
                "--log-level",
                "warn",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("TONGHUA_ADMIN_PASSWORD", ADMIN_PASSWORD)
            // Prompts as tones that start at once, whatever engines the binary has:
            // the wire checks below time the greeting and the barge-in.
            .env("TONGHUA_TELEPHONY__PLACEHOLDER_SPEECH", "true")
            .current_dir(data.parent().unwrap_or(data))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tonghua");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{http}"),
            sip,
            data: data.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http_client()
                .build()
                .expect("client")
                .get(format!("{}/healthz", server.base))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become healthy");
    }

    fn client(&self) -> Client {
        let client = http_client().cookie_store(true).build().expect("client");
        let r = client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({ "tenant": "demo", "username": "admin", "password": ADMIN_PASSWORD }))
            .send()
            .expect("login");
        assert!(r.status().is_success(), "login: {}", r.status());
        client
    }

    /// Phone conversations, newest first, with their events.
    fn phone_calls(&self) -> Vec<(Value, Vec<Value>)> {
        let c = self.client();
        let list: Value = c
            .get(format!("{}/api/v1/conversations", self.base))
            .send()
            .expect("list")
            .json()
            .expect("json");
        let mut out = Vec::new();
        for conv in list["conversations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            if conv["channel"] != "phone" {
                continue;
            }
            let id = conv["id"].as_str().unwrap_or_default().to_string();
            let ev: Value = c
                .get(format!(
                    "{}/api/v1/conversations/{id}/events?limit=1000",
                    self.base
                ))
                .send()
                .expect("events")
                .json()
                .expect("json");
            out.push((conv, ev["events"].as_array().cloned().unwrap_or_default()));
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// sipp's working folder with its pcaps where its scenarios look for them.
fn sipp_dir(root: &Path) -> PathBuf {
    let dir = root.join("sipp");
    std::fs::create_dir_all(dir.join("pcap")).expect("mkdir");
    for entry in std::fs::read_dir("/usr/share/sip-tester").expect("sip-tester pcaps") {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "pcap") {
            let _ =
                std::os::unix::fs::symlink(&p, dir.join("pcap").join(p.file_name().expect("name")));
        }
    }
    dir
}

fn sipp(dir: &Path, scenario: &[&str], target: u16, extra: &[&str]) -> (bool, String) {
    let port = free_port().to_string();
    let out = Command::new("sipp")
        .args(scenario)
        .arg(format!("127.0.0.1:{target}"))
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "40s",
        ])
        .args(extra)
        .current_dir(dir)
        .output()
        .expect("run sipp");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// One captured UDP datagram.
#[derive(Debug, Clone)]
struct Datagram {
    t: f64,
    src: u16,
    dst: u16,
    payload: Vec<u8>,
}

struct Capture {
    child: Child,
    path: PathBuf,
}

impl Capture {
    fn start(dir: &Path, filter: &str) -> Capture {
        let path = dir.join("rtp.pcap");
        let child = Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-n", "-s", "0", "-w"])
            .arg(&path)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tcpdump");
        // tcpdump writes the file header once it is listening.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::fs::metadata(&path).is_ok_and(|m| m.len() >= 24) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        Capture { child, path }
    }

    fn stop(mut self) -> Vec<Datagram> {
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
        read_pcap(&std::fs::read(&self.path).expect("capture file"))
    }
}

fn read_pcap(b: &[u8]) -> Vec<Datagram> {
    let u32le = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let magic = u32le(0);
    let nanos = magic == 0xa1b2_3c4d;
    let link = u32le(20);
    let l2 = match link {
        1 => 14,
        113 => 16,
        276 => 20,
        0 => 4,
        other => panic!("unexpected link type {other}"),
    };
    let mut out = Vec::new();
    let mut o = 24;
    while o + 16 <= b.len() {
        let t = f64::from(u32le(o)) + f64::from(u32le(o + 4)) / if nanos { 1e9 } else { 1e6 };
        let caplen = u32le(o + 8) as usize;
        let pkt = &b[o + 16..(o + 16 + caplen).min(b.len())];
        o += 16 + caplen;
        let Some(ip) = pkt.get(l2..) else { continue };
        if ip.first().is_none_or(|v| v >> 4 != 4) || ip.get(9) != Some(&17) {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let Some(udp) = ip.get(ihl..) else { continue };
        if udp.len() < 8 {
            continue;
        }
        out.push(Datagram {
            t,
            src: u16::from_be_bytes([udp[0], udp[1]]),
            dst: u16::from_be_bytes([udp[2], udp[3]]),
            payload: udp[8..].to_vec(),
        });
    }
    out
}

/// G.711 A-law to linear (ITU-T G.711).
fn alaw(a: u8) -> i16 {
    let a = a ^ 0x55;
    let seg = (a & 0x70) >> 4;
    let mut t = i16::from(a & 0x0f) << 4;
    t = match seg {
        0 => t + 8,
        1 => t + 0x108,
        _ => (t + 0x108) << (seg - 1),
    };
    if a & 0x80 != 0 { t } else { -t }
}

struct Rtp {
    t: f64,
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    rms: f64,
}

fn rtp(d: &Datagram) -> Option<Rtp> {
    let p = &d.payload;
    if p.len() < 12 || p[0] >> 6 != 2 || (200..=204).contains(&p[1]) {
        return None;
    }
    let body = &p[12..];
    let rms = if p[1] & 0x7f == 8 {
        let sum: f64 = body.iter().map(|s| f64::from(alaw(*s)).powi(2)).sum();
        (sum / body.len().max(1) as f64).sqrt()
    } else {
        0.0
    };
    Some(Rtp {
        t: d.t,
        pt: p[1] & 0x7f,
        marker: p[1] & 0x80 != 0,
        seq: u16::from_be_bytes([p[2], p[3]]),
        ts: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
        rms,
    })
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn payloads<'a>(events: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    events
        .iter()
        .filter(move |e| e["kind"] == kind)
        .map(|e| &e["payload"])
}

/// Energy above which a 20 ms G.711 frame is speech (or a prompt), not silence.
const SPEECH_RMS: f64 = 300.0;
/// Below this a frame is silence (A-law's zero decodes to ±8).
const SILENCE_RMS: f64 = 20.0;

#[test]
fn sipp_call_is_answered_greeted_interrupted_recorded_and_logged() {
    need("sipp", "sip-tester");
    need("tcpdump", "tcpdump");
    let tmp = tempfile::tempdir().expect("tmp");
    let server = Server::start(&tmp.path().join("data"));
    let dir = sipp_dir(tmp.path());
    let media = free_media_port();
    let capture = Capture::start(tmp.path(), &format!("udp and (port {media})"));
    let (ok, out) = sipp(
        &dir,
        &["-sn", "uac_pcap"],
        server.sip,
        &["-mp", &media.to_string(), "-s", "4001"],
    );
    let packets = capture.stop();
    assert!(ok, "sipp call failed:\n{out}");

    // The robot's stream towards sipp's media port.
    let robot: Vec<Rtp> = packets
        .iter()
        .filter(|d| d.dst == media)
        .filter_map(rtp)
        .collect();
    let caller: Vec<Rtp> = packets
        .iter()
        .filter(|d| d.src == media && d.dst != media)
        .filter_map(rtp)
        .filter(|r| r.pt == 8)
        .collect();
    assert!(
        robot.len() > 200,
        "too few robot RTP packets: {}",
        robot.len()
    );
    assert!(
        caller.len() > 100,
        "too few caller RTP packets: {}",
        caller.len()
    );
    let first = &robot[0];
    assert!(first.marker, "the first packet carries the marker bit");
    for w in robot.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "sequence numbers advance by one"
        );
        assert_eq!(
            w[1].ts,
            w[0].ts.wrapping_add(160),
            "timestamps advance by 160 (20 ms)"
        );
        assert_eq!(w[1].ssrc, first.ssrc, "one SSRC");
        assert_eq!(w[1].pt, 8, "PCMA as offered");
    }
    // The greeting is heard at once (the tone stand-in; real prompts come
    // from the TTS cache just as fast once it is warm).
    let loud = robot.iter().filter(|r| r.rms > SPEECH_RMS).count();
    assert!(loud > 20, "no greeting energy ({loud} loud packets)");
    {
        let greeting = robot.iter().take(50).filter(|r| r.rms > SPEECH_RMS).count();
        assert!(
            greeting > 20,
            "no greeting energy in the first second ({greeting} loud packets)"
        );
    }
    // Comfort silence is sent when nothing is said (packets keep flowing, silent).
    assert!(
        robot.iter().any(|r| r.rms < SILENCE_RMS),
        "silent packets when the robot is quiet"
    );

    // Barge-in, measured on the wire: sipp's recording starts speaking while
    // the greeting plays; the robot must fall silent within 200 ms.
    {
        let onset = caller
            .iter()
            .find(|r| r.rms > SPEECH_RMS)
            .expect("caller speech in sipp's pcap")
            .t;
        assert!(
            robot
                .iter()
                .any(|r| r.t < onset && r.t > onset - 0.1 && r.rms > SPEECH_RMS),
            "the robot was speaking when the caller started"
        );
        let stopped = robot
            .iter()
            .find(|r| r.t >= onset && r.rms < SILENCE_RMS)
            .expect("the robot stops")
            .t;
        let reaction_ms = (stopped - onset) * 1000.0;
        eprintln!("barge-in: robot silent {reaction_ms:.0} ms after the caller's onset");
        assert!(
            reaction_ms < 200.0,
            "playout stopped {reaction_ms:.0} ms after speech onset"
        );
    }

    // The conversation log.
    let calls = server.phone_calls();
    assert_eq!(calls.len(), 1, "one phone conversation");
    let (conv, events) = &calls[0];
    let k = kinds(events);
    for needed in [
        "call.recording",
        "call.answered",
        "event.call_answered",
        "action.say",
        "call.say_started",
        "call.dtmf",
        "event.dtmf",
        "call.ended",
        "event.hangup",
    ] {
        assert!(
            k.iter().any(|x| x == needed),
            "{needed} missing from the log: {k:?}"
        );
    }
    let answered = payloads(events, "call.answered").next().expect("answered");
    assert_eq!(answered["dialled"], "4001");
    {
        let barge = payloads(events, "call.barge_in")
            .next()
            .expect("barge-in logged");
        let cut = &barge["cut"][0];
        assert!(
            cut["text"].as_str().is_some_and(|t| !t.is_empty()),
            "what was cut is logged: {barge}"
        );
        assert!(
            cut["played_ms"].as_u64().is_some_and(|ms| ms > 0),
            "how much was played: {barge}"
        );
    }
    let ended = payloads(events, "call.ended").next().expect("ended");
    assert_eq!(ended["cause"], "remote_bye");
    // uac_pcap presses 1 with an RFC 2833 pcap at the end.
    assert_eq!(
        payloads(events, "event.dtmf").next().expect("dtmf")["digit"],
        "1"
    );

    // The recording: stereo, caller left (sipp's speech), robot right (the greeting).
    let path = conv["metadata"]["recording"]
        .as_str()
        .expect("recording path in the conversation");
    assert!(
        Path::new(path).starts_with(&server.data),
        "recording under the data dir: {path}"
    );
    let wav = std::fs::read(path).expect("recording exists");
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2, "stereo");
    assert_eq!(u32::from_le_bytes(wav[24..28].try_into().expect("4")), 8000);
    let samples: Vec<i16> = wav[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let energy = |ch: usize| {
        let s: Vec<f64> = samples
            .iter()
            .skip(ch)
            .step_by(2)
            .map(|v| f64::from(*v))
            .collect();
        (s.iter().map(|v| v * v).sum::<f64>() / s.len().max(1) as f64).sqrt()
    };
    assert!(samples.len() > 2 * 8000 * 5, "at least 5 s recorded");
    assert!(energy(0) > 100.0, "caller channel has the caller");
    assert!(energy(1) > 100.0, "robot channel has the robot");
}

#[test]
fn sipp_rfc2833_key_presses_reach_the_core_as_digits() {
    need("sipp", "sip-tester");
    let tmp = tempfile::tempdir().expect("tmp");
    let server = Server::start(&tmp.path().join("data"));
    let dir = sipp_dir(tmp.path());
    let scenario = format!("{SCENARIOS}/uac_dtmf.xml");
    let media = free_media_port().to_string();
    let (ok, out) = sipp(
        &dir,
        &["-sf", &scenario],
        server.sip,
        &["-mp", &media, "-s", "4001"],
    );
    assert!(ok, "sipp call failed:\n{out}");
    let calls = server.phone_calls();
    let (_, events) = &calls[0];
    let heard: String = payloads(events, "call.dtmf")
        .filter_map(|p| p["digit"].as_str())
        .collect();
    assert_eq!(heard, "42*#", "each press once, in order");
    let core: String = payloads(events, "event.dtmf")
        .filter_map(|p| p["digit"].as_str())
        .collect();
    // The demo service line ends the call after the third unknown key, so the
    // core hears the first three; the fourth is logged by the channel.
    assert!(core.starts_with("42*"), "the core got the digits: {core}");
}

#[test]
fn a_call_to_an_unknown_number_is_refused_when_there_is_no_default_script() {
    need("sipp", "sip-tester");
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let config = tmp.path().join("tonghua.toml");
    std::fs::write(
        &config,
        "[telephony]\ndefault_script = \"\"\n[[telephony.hotlines]]\nnumber = \"95555\"\nscript = \"renovation\"\n",
    )
    .expect("config");
    // Server::start runs in the temp folder, where tonghua.toml is found.
    let server = Server::start(&data);
    let dir = sipp_dir(tmp.path());
    let media = free_media_port().to_string();
    let (ok, out) = sipp(
        &dir,
        &["-sn", "uac"],
        server.sip,
        &["-mp", &media, "-s", "12345"],
    );
    assert!(!ok, "the call must fail");
    assert!(out.contains("404"), "refused with 404:\n{out}");
    assert!(
        server.phone_calls().is_empty(),
        "no conversation for a refused call"
    );
}

/// Every RFC 4475 message (wire form as crates/sip's fixtures) and some garbage.
fn hostile_messages() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sip/tests/torture");
    let mut out = Vec::new();
    for kind in ["malformed", "wellformed", "crlf-exact"] {
        for entry in std::fs::read_dir(root.join(kind)).expect("torture fixtures") {
            let raw = std::fs::read(entry.expect("entry").path()).expect("read");
            let text = String::from_utf8_lossy(&raw)
                .replace("\r\n", "\n")
                .replace('\n', "\r\n");
            out.push(text.into_bytes());
        }
    }
    out.push(vec![0xff; 1400]);
    out.push(b"INVITE sip:x SIP/2.0\r\n\r\n".to_vec());
    out.push(b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n".to_vec());
    out.push(Vec::new());
    out
}

#[test]
fn torture_messages_during_a_call_do_not_disturb_it() {
    need("sipp", "sip-tester");
    let tmp = tempfile::tempdir().expect("tmp");
    let server = Server::start(&tmp.path().join("data"));
    let dir = sipp_dir(tmp.path());
    let media = free_media_port().to_string();
    let sip = server.sip;
    let call = std::thread::spawn(move || {
        sipp(
            &dir,
            &["-sn", "uac_pcap"],
            sip,
            &["-mp", &media, "-s", "4001"],
        )
    });
    std::thread::sleep(Duration::from_millis(1500));
    let messages = hostile_messages();
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for round in 0..3 {
        for m in &messages {
            let _ = udp.send_to(m, ("127.0.0.1", sip));
        }
        // And over TCP, each on a fresh connection.
        for m in messages.iter().skip(round * 10).take(10) {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", sip)) {
                use std::io::Write;
                let _ = s.write_all(m);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let (ok, out) = call.join().expect("sipp thread");
    assert!(ok, "the call in progress failed:\n{out}");
    // The well-formed torture INVITEs are real (if odd) calls and are answered
    // too; the sipp call is the one from sipp.
    let calls = server.phone_calls();
    let (_, events) = calls
        .iter()
        .find(|(c, _)| {
            c["metadata"]["from"]
                .as_str()
                .is_some_and(|f| f.starts_with("sip:sipp@"))
        })
        .expect("the sipp call");
    let ended = payloads(events, "call.ended")
        .next()
        .expect("ended")
        .clone();
    assert_eq!(ended["cause"], "remote_bye");
    // The agent still answers a plain OPTIONS.
    let probe = format!(
        "OPTIONS sip:robot@127.0.0.1:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bKprobe\r\nFrom: <sip:t@x>;tag=1\r\nTo: <sip:robot@127.0.0.1>\r\nCall-ID: probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        p = udp.local_addr().expect("addr").port()
    );
    let fresh = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let probe = probe.replace(
        &format!(":{};branch", udp.local_addr().expect("addr").port()),
        &format!(":{};branch", fresh.local_addr().expect("addr").port()),
    );
    fresh
        .send_to(probe.as_bytes(), ("127.0.0.1", sip))
        .expect("send");
    fresh
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let n = fresh.recv(&mut buf).expect("an answer to OPTIONS");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"));
}

#[test]
fn a_call_whose_rtp_stops_is_hung_up_and_logged() {
    need("sipp", "sip-tester");
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(
        tmp.path().join("tonghua.toml"),
        "[telephony]\nrtp_timeout_secs = 2\n",
    )
    .expect("config");
    let server = Server::start(&data);
    let dir = sipp_dir(tmp.path());
    let media = free_media_port().to_string();
    // sipp's plain uac sends no RTP and would hang up after 8 s; the robot must do it first.
    let started = Instant::now();
    let (_ok, out) = sipp(
        &dir,
        &["-sn", "uac"],
        server.sip,
        &["-mp", &media, "-s", "4001", "-d", "8000"],
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let ended = loop {
        let calls = server.phone_calls();
        if let Some((_, events)) = calls.first()
            && let Some(e) = payloads(events, "call.ended").next()
        {
            break (e.clone(), kinds(events));
        }
        assert!(
            Instant::now() < deadline,
            "the call was not ended; sipp said:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(ended.0["cause"], "rtp_timeout", "{:?}", ended.1);
    assert!(ended.1.iter().any(|k| k == "call.rtp_timeout"));
    assert!(
        ended.1.iter().any(|k| k == "event.hangup"),
        "the core heard the hang-up"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn reinvite_update_and_options_inside_a_call_are_answered_over_tcp_and_udp() {
    need("sipp", "sip-tester");
    let tmp = tempfile::tempdir().expect("tmp");
    let server = Server::start(&tmp.path().join("data"));
    let dir = sipp_dir(tmp.path());
    let scenario = format!("{SCENARIOS}/uac_reinvite.xml");
    for transport in ["u1", "t1"] {
        let media = free_media_port().to_string();
        let (ok, out) = sipp(
            &dir,
            &["-sf", &scenario, "-t", transport],
            server.sip,
            &["-mp", &media, "-s", "4001"],
        );
        assert!(ok, "sipp ({transport}) failed:\n{out}");
    }
    let calls = server.phone_calls();
    assert_eq!(calls.len(), 2);
    for (_, events) in &calls {
        assert_eq!(
            payloads(events, "call.ended").next().expect("ended")["cause"],
            "remote_bye"
        );
    }
}

#[test]
fn a_silent_caller_is_reprompted_on_the_call_clock() {
    need("sipp", "sip-tester");
    let tmp = tempfile::tempdir().expect("tmp");
    let server = Server::start(&tmp.path().join("data"));
    let dir = sipp_dir(tmp.path());
    let media = free_media_port().to_string();
    // sipp's plain uac says nothing (no RTP at all) for 14 s, then hangs up.
    let (ok, out) = sipp(
        &dir,
        &["-sn", "uac"],
        server.sip,
        &["-mp", &media, "-s", "4001", "-d", "14000"],
    );
    assert!(ok, "sipp call failed:\n{out}");
    let calls = server.phone_calls();
    let (_, events) = &calls[0];
    let k = kinds(events);
    let silence = k
        .iter()
        .position(|x| x == "event.silence")
        .unwrap_or_else(|| panic!("no silence event: {k:?}"));
    // The demo service line waits 8 s after its question, then asks again.
    let at = events[silence]["payload"]["at_ms"].as_u64().expect("at_ms");
    assert!(
        (8_000..14_000).contains(&at),
        "silence at {at} ms of the call"
    );
    assert!(
        k[silence..].iter().any(|x| x == "action.say"),
        "a reprompt follows: {k:?}"
    );
    assert_eq!(
        payloads(events, "call.ended").next().expect("ended")["cause"],
        "remote_bye"
    );
}

#[test]
fn the_robot_hangs_up_after_its_closing_line() {
    need("sipp", "sip-tester");
    let tmp = tempfile::tempdir().expect("tmp");
    let server = Server::start(&tmp.path().join("data"));
    let dir = sipp_dir(tmp.path());
    let scenario = format!("{SCENARIOS}/uac_dtmf_until_bye.xml");
    let media = free_media_port().to_string();
    // Three keys the service line does not know: it apologises, ends the
    // conversation and hangs up once the closing line has played.
    let (ok, out) = sipp(
        &dir,
        &["-sf", &scenario],
        server.sip,
        &["-mp", &media, "-s", "4001"],
    );
    assert!(ok, "sipp did not get the robot's BYE:\n{out}");
    let calls = server.phone_calls();
    let (_, events) = &calls[0];
    let k = kinds(events);
    let hangup = k
        .iter()
        .position(|x| x == "call.hangup_requested")
        .unwrap_or_else(|| panic!("{k:?}"));
    let closing = k
        .iter()
        .rposition(|x| x == "call.say_finished")
        .expect("closing line played");
    assert!(
        closing < hangup,
        "the closing line finished before the hang-up: {k:?}"
    );
    assert_eq!(
        payloads(events, "call.ended").next().expect("ended")["cause"],
        "local_bye"
    );
}
