//! Voice handoff to an agent's SIP phone, against real peers on loopback:
//! the `tonghua` binary serving SIP, sipp as the caller (pressing 0 on the
//! demo service line transfers to a person), baresip as the agent's phone
//! registered to Tonghua with digest auth and answering automatically.
//!
//! Peers come from `scripts/install-deps.sh test` (sip-tester, baresip).

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
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
const PHONE_PASSWORD: &str = "agent-phone-pw1";

struct Server {
    child: Child,
    base: String,
    sip: u16,
}

impl Server {
    /// `tonghua serve` in `root/data`, with `root/tonghua.toml` if written;
    /// prompts are tones and nothing is recognised (deterministic).
    fn start(root: &Path) -> Server {
        Server::start_with(root, true)
    }

    fn start_with(root: &Path, placeholder_speech: bool) -> Server {
        let data = root.join("data");
        let http = free_port();
        let sip = free_port();
        let log = std::fs::File::create(root.join("server.log")).expect("log file");
        let child = Command::new(BIN)
            .arg("--data-dir")
            .arg(&data)
            .args([
                "serve",
                "--http",
                &format!("127.0.0.1:{http}"),
                "--sip",
                &format!("127.0.0.1:{sip}"),
                "--log-level",
                "info",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("TONGHUA_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env(
                "TONGHUA_TELEPHONY__PLACEHOLDER_SPEECH",
                placeholder_speech.to_string(),
            )
            // The tests poll the API with fresh logins.
            .env("TONGHUA_AUTH__LOGIN_ATTEMPTS_PER_MINUTE", "10000")
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn tonghua");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{http}"),
            sip,
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

    fn login(&self, user: &str, password: &str) -> Client {
        let client = http_client().cookie_store(true).build().expect("client");
        let r = client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({ "tenant": "demo", "username": user, "password": password }))
            .send()
            .expect("login");
        assert!(r.status().is_success(), "login {user}: {}", r.status());
        client
    }

    fn admin(&self) -> Client {
        self.login("admin", ADMIN_PASSWORD)
    }

    fn get(&self, c: &Client, path: &str) -> Value {
        c.get(format!("{}{path}", self.base))
            .send()
            .expect("get")
            .json()
            .expect("json")
    }

    /// Creates an available agent with a phone account; returns the user id.
    fn agent(&self, username: &str, sip_username: &str) -> String {
        let admin = self.admin();
        let r = admin
            .post(format!("{}/api/v1/users", self.base))
            .json(&json!({ "username": username, "display_name": "坐席小王", "role": "agent", "password": "agent-login-pass-1" }))
            .send()
            .expect("create user");
        assert!(r.status().is_success(), "create agent: {}", r.status());
        let id = r.json::<Value>().expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string();
        let r = admin
            .put(format!("{}/api/v1/agents/{id}", self.base))
            .json(&json!({ "status": "available" }))
            .send()
            .expect("set agent");
        assert!(r.status().is_success(), "agent available: {}", r.status());
        let r = admin
            .put(format!("{}/api/v1/agents/{id}/phone", self.base))
            .json(&json!({ "sip_username": sip_username, "password": PHONE_PASSWORD }))
            .send()
            .expect("set phone");
        assert!(r.status().is_success(), "agent phone: {}", r.status());
        let body: Value = r.json().expect("json");
        assert!(
            body.get("password").is_none() && !body.to_string().contains(PHONE_PASSWORD),
            "the password is not echoed: {body}"
        );
        id
    }

    fn phone_registered(&self, user_id: &str) -> bool {
        let agents = self.get(&self.admin(), "/api/v1/agents");
        agents["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["user_id"] == user_id)
            .is_some_and(|a| a["phone"]["registered"] == true)
    }

    /// Phone conversations, newest first, with their events.
    fn phone_calls(&self) -> Vec<(Value, Vec<Value>)> {
        let c = self.admin();
        let list = self.get(&c, "/api/v1/conversations");
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
            let ev = self.get(&c, &format!("/api/v1/conversations/{id}/events?limit=1000"));
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

/// Runs one sipp call in the background; joins to (success, output).
fn sipp_call(dir: PathBuf, scenario: &str, target: u16) -> std::thread::JoinHandle<(bool, String)> {
    // A file of ours, or one of sipp's built-in scenarios.
    let scenario = if scenario.ends_with(".xml") {
        ["-sf".to_string(), format!("{SCENARIOS}/{scenario}")]
    } else {
        ["-sn".to_string(), scenario.to_string()]
    };
    std::thread::spawn(move || {
        let port = free_port().to_string();
        let media = free_media_port().to_string();
        let out = Command::new("sipp")
            .args(&scenario)
            .arg(format!("127.0.0.1:{target}"))
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port,
                "-mp",
                &media,
                "-s",
                "4001",
                "-m",
                "1",
                "-nostdin",
                "-timeout",
                "90s",
            ])
            .current_dir(&dir)
            .output()
            .expect("run sipp");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
}

/// A mono 8 kHz 16-bit WAV of a 600 Hz tone: what the agent "says".
fn tone_wav(path: &Path, secs: u32) {
    let n = 8000 * secs;
    let mut b = Vec::with_capacity(44 + 2 * n as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&16000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(2 * n).to_le_bytes());
    for i in 0..n {
        let v = (f64::from(i) * 600.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0;
        b.extend_from_slice(&(v as i16).to_le_bytes());
    }
    std::fs::write(path, b).expect("wav");
}

/// baresip as the agent's phone: registers as `sip_user` with `password`,
/// answers every call, says a tone, dumps what it hears (sndfile); remote control
/// over ctrl_tcp.
struct Phone {
    child: Child,
    ctrl: u16,
    dir: PathBuf,
}

impl Phone {
    fn start(root: &Path, sip_port: u16, sip_user: &str, password: &str) -> Phone {
        let account = format!(
            "<sip:{sip_user}@127.0.0.1:{sip_port}>;auth_pass={password};regint=120;answermode=auto;audio_codecs=PCMU\n"
        );
        Phone::with_account(root, sip_user, free_port(), &account)
    }

    /// A phone that does not register: a plain SIP target on `listen`.
    fn target(root: &Path, listen: u16) -> Phone {
        let account = "<sip:target@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU\n";
        Phone::with_account(root, "target", listen, account)
    }

    fn with_account(root: &Path, name: &str, listen: u16, account: &str) -> Phone {
        let dir = root.join(format!("baresip-{name}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let says = dir.join("says.wav");
        if !says.exists() {
            tone_wav(&says, 60);
        }
        let ctrl = free_port();
        std::fs::write(
            dir.join("config"),
            format!(
                "poll_method epoll\nsip_listen 127.0.0.1:{listen}\nnet_interface 127.0.0.1\n\
                 audio_source aufile,{}\naudio_alert aufile,{}\n\
                 module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n\
                 module sndfile.so\nsnd_path {}\n\
                 module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n\
                 ctrl_tcp_listen 127.0.0.1:{ctrl}\n",
                says.display(),
                dir.join("alert.wav").display(),
                dir.display(),
            ),
        )
        .expect("config");
        // PCMU only: the caller speaks PCMA, so the bridge transcodes.
        std::fs::write(dir.join("accounts"), account).expect("accounts");
        let log = std::fs::File::create(dir.join("baresip.log")).expect("log");
        let child = Command::new("baresip")
            .args(["-4", "-f"])
            .arg(&dir)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn baresip");
        Phone { child, ctrl, dir }
    }

    /// Sends a ctrl_tcp command (a JSON netstring).
    fn command(&self, command: &str) {
        let body = json!({ "command": command, "params": "", "token": "t" }).to_string();
        let mut s = TcpStream::connect(("127.0.0.1", self.ctrl)).expect("baresip ctrl_tcp");
        s.write_all(format!("{}:{body},", body.len()).as_bytes())
            .expect("send");
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
    }

    /// What the phone decoded from the call (baresip's sndfile dump).
    fn heard(&self) -> PathBuf {
        std::fs::read_dir(&self.dir)
            .expect("phone dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| panic!("no decoded-audio dump; baresip said:\n{}", self.log()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn payload<'a>(events: &'a [Value], kind: &str) -> Option<&'a Value> {
    events
        .iter()
        .find(|e| e["kind"] == kind)
        .map(|e| &e["payload"])
}

/// RMS of one channel of 16-bit stereo samples (interleaved) between two times.
fn rms(samples: &[i16], channel: usize, from_ms: u64, to_ms: u64) -> f64 {
    let from = (from_ms * 8) as usize;
    let to = ((to_ms * 8) as usize).min(samples.len() / 2);
    let s: Vec<f64> = (from..to)
        .map(|i| f64::from(samples[i * 2 + channel]))
        .collect();
    (s.iter().map(|v| v * v).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

fn wav_samples(path: &Path) -> Vec<i16> {
    let wav = std::fs::read(path).unwrap_or_default();
    wav.get(44..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn a_caller_is_bridged_to_the_agents_registered_phone_and_hangups_cross_the_bridge() {
    need("sipp", "sip-tester");
    need("baresip", "baresip");
    let tmp = tempfile::tempdir().expect("tmp");
    let server = Server::start(tmp.path());
    let agent_id = server.agent("wang", "agent1");
    assert!(!server.phone_registered(&agent_id));
    let phone = Phone::start(tmp.path(), server.sip, "agent1", PHONE_PASSWORD);
    wait_for("the agent's phone to register", 15, || {
        server.phone_registered(&agent_id)
    });

    // 1. The agent hangs up: the caller gets the robot's BYE.
    let dir = sipp_dir(tmp.path());
    let call = sipp_call(dir.clone(), "uac_press0_wait_bye.xml", server.sip);
    let admin = server.admin();
    // The console's handoff list shows the call assigned to the agent.
    wait_for("the handoff to be assigned to the agent", 30, || {
        let list = server.get(&admin, "/api/v1/handoffs");
        list["handoffs"].as_array().into_iter().flatten().any(|h| {
            h["channel"] == "phone" && h["state"] == "assigned" && h["agent_id"] == agent_id
        })
    });
    // Bridged, and talking both ways for a few seconds.
    wait_for("the bridge", 20, || {
        server
            .phone_calls()
            .first()
            .is_some_and(|(_, ev)| kinds(ev).iter().any(|k| k == "call.bridge_started"))
    });
    std::thread::sleep(Duration::from_secs(6));
    phone.command("hangup");
    let (ok, out) = call.join().expect("sipp thread");
    assert!(
        ok,
        "the caller did not get the BYE after the agent hung up:\n{out}\n{}",
        phone.log()
    );

    let calls = server.phone_calls();
    let (conv, events) = &calls[0];
    let k = kinds(events);
    let at = |kind: &str| {
        k.iter()
            .position(|x| x == kind)
            .unwrap_or_else(|| panic!("{kind} missing from the log: {k:?}"))
    };
    // Queued, the phone rang, the agent joined when it answered, then the bridge.
    assert!(at("action.transfer") < at("call.handoff_waiting"));
    assert!(at("call.handoff_waiting") < at("handoff.ringing_agent"));
    assert!(at("handoff.ringing_agent") < at("event.agent_joined"));
    assert!(at("event.agent_joined") < at("call.bridge_started"));
    assert!(at("call.bridge_started") < at("call.agent_leg_ended"));
    assert!(at("call.agent_leg_ended") < at("call.bridge_ended"));
    assert!(at("call.bridge_ended") < at("handoff.closed"));
    let started = payload(events, "call.bridge_started").expect("started");
    assert_eq!(started["agent_id"], agent_id);
    assert_eq!(started["agent_codec"], "PCMU", "the phone answered PCMU");
    let ended = payload(events, "call.bridge_ended").expect("ended");
    assert_eq!(ended["cause"], "agent_hangup");
    assert!(
        ended["agent_packets_received"].as_u64().unwrap_or(0) > 150,
        "RTP from the agent's phone: {ended}"
    );
    assert!(
        ended["agent_packets_sent"].as_u64().unwrap_or(0) > 150,
        "RTP to the agent's phone: {ended}"
    );
    assert_eq!(
        payload(events, "handoff.closed").expect("closed")["disposition"],
        "agent_hangup"
    );
    assert_eq!(
        payload(events, "call.ended").expect("ended")["cause"],
        "agent_hangup"
    );
    // The handoff is closed (no longer listed) and the agent is free again.
    let list = server.get(&admin, "/api/v1/handoffs");
    assert!(
        list["handoffs"]
            .as_array()
            .is_none_or(|a| a.iter().all(|h| h["conversation_id"] != conv["id"])),
        "{list}"
    );

    // The recording: caller left, agent right, both heard during the bridge.
    let bridged_at = started["at_ms"].as_u64().expect("at_ms");
    let path = conv["metadata"]["recording"].as_str().expect("recording");
    let samples = wav_samples(Path::new(path));
    let window = (bridged_at + 1000, bridged_at + 5500);
    let caller = rms(&samples, 0, window.0, window.1);
    let agent = rms(&samples, 1, window.0, window.1);
    eprintln!("during the bridge: caller rms {caller:.0}, agent rms {agent:.0}");
    assert!(agent > 300.0, "the agent's voice is in the right channel");
    assert!(caller > 100.0, "the caller's voice is in the left channel");
    // And the phone heard the caller (PCMA → PCMU through the bridge).
    let heard = wav_samples(&phone.heard());
    let heard_rms = (heard.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>()
        / heard.len().max(1) as f64)
        .sqrt();
    eprintln!(
        "the agent's phone heard rms {heard_rms:.0} over {} samples",
        heard.len()
    );
    assert!(heard_rms > 100.0, "the agent heard the caller");

    // 2. The caller hangs up: the agent's phone gets the robot's BYE.
    let call = sipp_call(dir, "uac_press0_hang_up.xml", server.sip);
    let (ok, out) = call.join().expect("sipp thread");
    assert!(ok, "the caller's hang-up failed:\n{out}");
    wait_for("the second call to be closed", 15, || {
        server.phone_calls().first().is_some_and(|(c, ev)| {
            c["id"] != conv["id"] && kinds(ev).iter().any(|k| k == "handoff.closed")
        })
    });
    let calls = server.phone_calls();
    let (_, events) = &calls[0];
    let ended = payload(events, "call.bridge_ended").expect("bridged, then ended");
    assert_eq!(ended["cause"], "caller_hangup");
    assert_eq!(
        payload(events, "handoff.closed").expect("closed")["disposition"],
        "caller_hangup"
    );
    assert!(
        !kinds(events).iter().any(|k| k == "call.agent_leg_ended"),
        "the agent did not hang up first"
    );
    assert_eq!(
        payload(events, "call.ended").expect("ended")["cause"],
        "remote_bye"
    );
}

#[test]
fn a_caller_waits_with_the_hold_prompt_and_the_wait_times_out_when_no_phone_is_registered() {
    need("sipp", "sip-tester");
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(
        tmp.path().join("tonghua.toml"),
        "[telephony.agent_phones]\nhold_prompt_every_secs = 3\n",
    )
    .expect("config");
    let server = Server::start(tmp.path());
    // An available agent whose phone never registers.
    let agent_id = server.agent("li", "agent2");
    // The demo service line, waiting 9 s for a person instead of 60.
    let source = include_str!("../../../examples/scripts/service.yaml")
        .replace("transfer_timeout_ms: 60000", "transfer_timeout_ms: 9000");
    let r = server
        .admin()
        .put(format!("{}/api/v1/scripts/service", server.base))
        .json(&json!({ "source": source }))
        .send()
        .expect("upload");
    assert!(r.status().is_success(), "script upload: {}", r.status());

    let dir = sipp_dir(tmp.path());
    // Two callers: the second waits behind the first and is told so.
    let first = sipp_call(dir.clone(), "uac_press0_wait_bye.xml", server.sip);
    std::thread::sleep(Duration::from_millis(1500));
    let second = sipp_call(dir, "uac_press0_wait_bye.xml", server.sip);
    for caller in [first, second] {
        let (ok, out) = caller.join().expect("sipp");
        assert!(ok, "the robot did not hang up after the wait:\n{out}");
    }
    let calls = server.phone_calls();
    assert_eq!(calls.len(), 2);
    let told = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["kind"] == "call.hold_prompt")
            .filter_map(|e| e["payload"]["text"].as_str())
            .filter(|t| t.contains("前面还有"))
            .map(str::to_string)
            .collect()
    };
    // Newest first: calls[0] is the second caller.
    assert_eq!(
        told(&calls[0].1),
        vec!["您前面还有1位客户在等待，请您耐心等候。"]
    );
    assert!(
        told(&calls[1].1).is_empty(),
        "the first in line hears no place"
    );
    let (_, events) = &calls[1];
    let k = kinds(events);
    for needed in [
        "handoff.queued",
        "call.handoff_waiting",
        "call.hold_prompt",
        "event.timer",
        "call.hangup_requested",
        "handoff.closed",
    ] {
        assert!(k.iter().any(|x| x == needed), "{needed} missing: {k:?}");
    }
    assert!(
        !k.iter().any(|x| x == "handoff.ringing_agent"
            || x == "handoff.agent_no_answer"
            || x == "event.agent_joined"),
        "no phone was rung: {k:?}"
    );
    assert_eq!(
        payload(events, "call.hangup_requested").expect("hangup")["reason"],
        "transfer_failed"
    );
    assert_eq!(
        payload(events, "handoff.closed").expect("closed")["disposition"],
        "transfer_failed"
    );
    // The script's sorry line was said before hanging up.
    let waiting = k
        .iter()
        .position(|x| x == "call.handoff_waiting")
        .expect("w");
    assert!(
        k[waiting..].iter().any(|x| x == "action.say"),
        "the transfer_failed close is said: {k:?}"
    );
    assert!(!server.phone_registered(&agent_id));
}

/// A REGISTER over UDP by hand; returns the status line and headers.
fn register(sip: u16, sock: &UdpSocket, user: &str, cseq: u32, extra: &str) -> String {
    let me = sock.local_addr().expect("addr");
    let msg = format!(
        "REGISTER sip:127.0.0.1:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{cseq}x{user}\r\n\
         From: <sip:{user}@127.0.0.1:{sip}>;tag=t{user}\r\nTo: <sip:{user}@127.0.0.1:{sip}>\r\n\
         Call-ID: reg-{user}@test\r\nCSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n\
         Contact: <sip:{user}@{me}>\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    sock.send_to(msg.as_bytes(), ("127.0.0.1", sip))
        .expect("send");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("an answer to REGISTER");
    String::from_utf8_lossy(&buf[..n]).to_string()
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The digest answer to a `WWW-Authenticate` challenge (RFC 2617, qop=auth),
/// computed with `md5sum` so this check is independent of Tonghua's code.
fn digest_answer(challenge: &str, user: &str, password: &str, uri: &str) -> String {
    let field = |k: &str| {
        challenge
            .split(',')
            .find_map(|p| {
                let (a, b) = p.trim().trim_start_matches("Digest ").split_once('=')?;
                (a.trim() == k).then(|| b.trim().trim_matches('"').to_string())
            })
            .unwrap_or_default()
    };
    let md5 = |s: String| {
        let out = Command::new("sh")
            .args(["-c", "printf '%s' \"$0\" | md5sum", &s])
            .output()
            .expect("md5sum");
        String::from_utf8_lossy(&out.stdout)[..32].to_string()
    };
    let (realm, nonce) = (field("realm"), field("nonce"));
    let ha1 = md5(format!("{user}:{realm}:{password}"));
    let ha2 = md5(format!("REGISTER:{uri}"));
    let response = md5(format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abc\"\r\n"
    )
}

#[test]
fn register_needs_the_right_digest_password_and_expires_zero_unbinds() {
    let tmp = tempfile::tempdir().expect("tmp");
    let server = Server::start(tmp.path());
    let agent_id = server.agent("zhao", "agent3");
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let uri = format!("sip:127.0.0.1:{}", server.sip);

    // No credentials: a challenge.
    let r = register(server.sip, &sock, "agent3", 1, "");
    assert!(r.starts_with("SIP/2.0 401"), "{r}");
    let challenge = header(&r, "WWW-Authenticate")
        .expect("challenge")
        .to_string();
    assert!(challenge.contains("qop=\"auth\""), "{challenge}");

    // A wrong password: refused, and not registered.
    let wrong = digest_answer(&challenge, "agent3", "not-the-password", &uri);
    let r = register(server.sip, &sock, "agent3", 2, &wrong);
    assert!(r.starts_with("SIP/2.0 403"), "{r}");
    assert!(!server.phone_registered(&agent_id));
    let log = std::fs::read_to_string(tmp.path().join("server.log")).unwrap_or_default();
    assert!(
        log.contains("wrong password for the agent's phone"),
        "a clear log line: {log}"
    );

    // An unknown user: 404.
    let unknown = digest_answer(&challenge, "nobody", "whatever-pass", &uri);
    let r = register(server.sip, &sock, "nobody", 3, &unknown);
    assert!(r.starts_with("SIP/2.0 404"), "{r}");

    // The right password: bound, with the granted expiry.
    let right = digest_answer(&challenge, "agent3", PHONE_PASSWORD, &uri);
    let r = register(
        server.sip,
        &sock,
        "agent3",
        4,
        &format!("{right}Expires: 300\r\n"),
    );
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    assert_eq!(header(&r, "Expires"), Some("300"));
    assert!(server.phone_registered(&agent_id));

    // Expires: 0 unbinds.
    let r = register(
        server.sip,
        &sock,
        "agent3",
        5,
        &format!("{right}Expires: 0\r\n"),
    );
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    assert!(!server.phone_registered(&agent_id));
}

#[test]
fn a_configured_target_is_bridged_when_transfer_mode_is_bridge() {
    need("sipp", "sip-tester");
    need("baresip", "baresip");
    let tmp = tempfile::tempdir().expect("tmp");
    let listen = free_port();
    std::fs::write(
        tmp.path().join("tonghua.toml"),
        format!(
            "[telephony]\ntransfer_mode = \"bridge\"\n[telephony.transfer_targets]\n\"电商客服\" = \"sip:target@127.0.0.1:{listen}\"\n"
        ),
    )
    .expect("config");
    let server = Server::start(tmp.path());
    let phone = Phone::target(tmp.path(), listen);
    std::thread::sleep(Duration::from_secs(1));
    let (ok, out) = sipp_call(sipp_dir(tmp.path()), "uac_press0_hang_up.xml", server.sip)
        .join()
        .expect("sipp");
    assert!(ok, "the caller's call failed:\n{out}\n{}", phone.log());
    wait_for("the bridge to end", 15, || {
        server
            .phone_calls()
            .first()
            .is_some_and(|(_, ev)| kinds(ev).iter().any(|k| k == "call.bridge_ended"))
    });
    let calls = server.phone_calls();
    let (_, events) = &calls[0];
    let k = kinds(events);
    let transfer = payload(events, "call.transfer").expect("transfer logged");
    assert_eq!(transfer["kind"], "bridge");
    let started = payload(events, "call.bridge_started").expect("bridged");
    assert_eq!(started["agent"], format!("sip:target@127.0.0.1:{listen}"));
    let ended = payload(events, "call.bridge_ended").expect("ended");
    assert_eq!(ended["cause"], "caller_hangup");
    assert!(
        ended["agent_packets_received"].as_u64().unwrap_or(0) > 100,
        "RTP from the target: {ended}"
    );
    assert!(
        !k.iter().any(|x| x.starts_with("handoff.")),
        "a configured target is no queue: {k:?}"
    );
    assert!(
        !k.iter().any(|x| x == "call.transfer_result"),
        "no REFER in bridge mode: {k:?}"
    );
}

#[test]
fn a_supervisor_listens_in_to_a_live_call() {
    need("sipp", "sip-tester");
    let tmp = tempfile::tempdir().expect("tmp");
    let server = Server::start(tmp.path());
    let token: Value = server
        .admin()
        .post(format!("{}/api/v1/tokens", server.base))
        .json(&json!({ "name": "listen" }))
        .send()
        .expect("token")
        .json()
        .expect("json");
    let secret = token["secret"].as_str().expect("secret").to_string();
    let connect = |id: &str| {
        let uri: tungstenite::http::Uri = format!(
            "ws://{}/api/v1/conversations/{id}/listen",
            server.base.trim_start_matches("http://")
        )
        .parse()
        .expect("uri");
        tungstenite::connect(
            tungstenite::ClientRequestBuilder::new(uri)
                .with_header("Authorization", format!("Bearer {secret}")),
        )
    };
    // sipp's uac_pcap: the robot greets, sipp speaks over it for ~7 s.
    let call = sipp_call(sipp_dir(tmp.path()), "uac_pcap", server.sip);
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.phone_calls().is_empty() {
        if call.is_finished() || Instant::now() > deadline {
            panic!("no call: {:?}", call.join().map(|r| r.1));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let id = server.phone_calls()[0].0["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (mut ws, _) = connect(&id).expect("listening in to the live call");
    let (mut frames, mut loud) = (0, 0);
    while frames < 150 {
        match ws.read().expect("a frame") {
            tungstenite::Message::Binary(b) => {
                assert_eq!(b.len(), 320, "20 ms of 8 kHz 16-bit PCM");
                let s: Vec<f64> = b
                    .chunks_exact(2)
                    .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
                    .collect();
                let rms = (s.iter().map(|v| v * v).sum::<f64>() / s.len() as f64).sqrt();
                frames += 1;
                if rms > 300.0 {
                    loud += 1;
                }
            }
            tungstenite::Message::Close(_) => break,
            _ => {}
        }
    }
    eprintln!("listened to {frames} frames, {loud} with speech or prompts");
    assert_eq!(frames, 150, "3 s of frames while the call lasts");
    assert!(
        loud > 20,
        "the frames carry the call's audio: {loud} loud of {frames}"
    );
    drop(ws);
    let (ok, out) = call.join().expect("sipp");
    assert!(ok, "the call was disturbed:\n{out}");
    // Over: nothing to listen to.
    std::thread::sleep(Duration::from_millis(500));
    match connect(&id) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 409),
        other => panic!(
            "an ended call cannot be listened to: {:?}",
            other.map(|_| ())
        ),
    }
}

/// The agent's words: 1 s of silence, a sentence (Kokoro), 30 s of silence.
#[cfg(all(feature = "kokoro", feature = "whisper"))]
fn agent_speech_wav(path: &Path, text: &str) {
    use voice::Tts;
    let models = std::env::var_os("TONGHUA_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var("HOME").unwrap_or_default()).join(".cache/tonghua/models")
        });
    let mut tts = voice::kokoro::Kokoro::load(&models).expect("Kokoro installed");
    let speech = tts
        .synthesize_all(&voice::TtsRequest::new(text).voice("zf_xiaoxiao"))
        .expect("synthesis");
    let mut samples = voice::testsignal::silence(speech.sample_rate, 1000);
    samples.extend(speech.samples);
    samples.extend(voice::testsignal::silence(speech.sample_rate, 30_000));
    let line = voice::resample::resample(&samples, speech.sample_rate, 8000).expect("resample");
    voice::wav::write_wav(path, &voice::Audio::new(8000, line)).expect("write wav");
}

/// With the local engines: what the agent says on the bridged call is
/// recognised on their leg and logged as the core's `AgentSaid`.
#[cfg(all(feature = "kokoro", feature = "whisper"))]
#[test]
fn an_agents_words_on_a_bridged_call_are_logged_as_agent_said() {
    need("sipp", "sip-tester");
    need("baresip", "baresip");
    let tmp = tempfile::tempdir().expect("tmp");
    let server = Server::start_with(tmp.path(), false);
    let agent_id = server.agent("zhou", "agent4");
    let dir = tmp.path().join("baresip-agent4");
    std::fs::create_dir_all(&dir).expect("mkdir");
    agent_speech_wav(
        &dir.join("says.wav"),
        "您好，我是人工客服小周，请问有什么可以帮您？",
    );
    let phone = Phone::start(tmp.path(), server.sip, "agent4", PHONE_PASSWORD);
    wait_for("the agent's phone to register", 15, || {
        server.phone_registered(&agent_id)
    });
    let call = sipp_call(sipp_dir(tmp.path()), "uac_press0_wait_bye.xml", server.sip);
    let deadline = Instant::now() + Duration::from_secs(60);
    let said = loop {
        let found = server.phone_calls().first().and_then(|(_, ev)| {
            payload(ev, "event.agent_said").and_then(|p| p["text"].as_str().map(str::to_string))
        });
        if let Some(text) = found {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the agent's words were not recognised: {:?}",
            server.phone_calls().first().map(|(_, ev)| kinds(ev))
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    eprintln!("the agent said: {said}");
    phone.command("hangup");
    let (ok, out) = call.join().expect("sipp");
    assert!(ok, "the caller did not get the BYE:\n{out}");
    assert!(said.contains("客服"), "recognised: {said}");
    let calls = server.phone_calls();
    let (_, events) = &calls[0];
    let utterance = payload(events, "call.agent_utterance").expect("the agent's utterance");
    assert_eq!(utterance["agent"], "坐席小王");
}
