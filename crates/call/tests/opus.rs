//! Opus with a real peer: baresip (its opus module) calls offering only Opus;
//! the call runs narrowband Opus both ways — baresip's tone reaches our
//! recording, and the robot's prompt (tone stand-in) reaches baresip's.

use std::net::UdpSocket as StdUdp;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use call::Engines;
use call::media::{self, MediaCommand, MediaParams, SayPolicy};
use sip::sdp::{self, Codec};
use sip::{Agent, AgentConfig, CallEvent};

fn free_port() -> u16 {
    StdUdp::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A 440 Hz tone for 10 s at 48 kHz stereo, for baresip's audio source
/// (baresip 1.0's aufile needs the codec's rate and channels).
fn tone_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for i in 0..480_000u32 {
        let x =
            ((f64::from(i) * 2.0 * std::f64::consts::PI * 440.0 / 48000.0).sin() * 8000.0) as i16;
        w.write_sample(x).expect("left");
        w.write_sample(x).expect("right");
    }
    w.finalize().expect("wav");
}

/// RMS of one channel of a WAV file (16-bit).
fn rms(path: &Path, channel: usize) -> f64 {
    let mut r = hound::WavReader::open(path).expect("wav");
    let channels = usize::from(r.spec().channels);
    let samples: Vec<i16> = r
        .samples::<i16>()
        .filter_map(Result::ok)
        .skip(channel)
        .step_by(channels)
        .collect();
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

#[tokio::test]
async fn a_call_with_baresip_runs_on_opus_both_ways() {
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
    // baresip's sndfile module writes what it decoded (…-dec.wav) here.
    let dumps = tmp.path().join("dumps");
    std::fs::create_dir_all(&dumps).expect("mkdir");
    std::fs::write(
        conf.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{}\nnet_interface 127.0.0.1\naudio_source aufile,{}\naudio_player aufile,{}\naudio_alert aufile,{}\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule opus.so\nmodule aufile.so\nmodule sndfile.so\nsnd_path {}\nmodule_app account.so\nmodule_app menu.so\n",
            free_port(),
            wav.display(),
            tmp.path().join("player.wav").display(),
            tmp.path().join("alert.wav").display(),
            dumps.display(),
        ),
    )
    .expect("config");
    // Only Opus on offer: the call has to run on it.
    std::fs::write(
        conf.join("accounts"),
        "<sip:caller@127.0.0.1>;regint=0;audio_codecs=opus/48000/2\n",
    )
    .expect("accounts");
    let target = agent.local_addr();
    let caller = std::thread::spawn(move || {
        Command::new("baresip")
            .arg("-4")
            .arg("-f")
            .arg(&conf)
            .args(["-e", &format!("/dial sip:4001@{target}"), "-t", "6"])
            .stdin(Stdio::null())
            .output()
            .expect("baresip")
    });
    let call = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
        .await
        .expect("a call")
        .expect("call");
    let negotiated = sdp::negotiate(&call.offer).expect("a common codec");
    assert!(
        matches!(negotiated.codec, Codec::Opus(_)),
        "{:?}",
        call.offer
    );
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = socket.local_addr().expect("addr");
    let mut leg = call.accept(sdp::build(local, 1, 1, &[negotiated.codec], None));
    let recording = tmp.path().join("call.wav");
    let handle = media::start(
        MediaParams {
            socket,
            remote: negotiated.remote_rtp,
            codec: negotiated.codec,
            telephone_event: None,
            recording: Some(recording.clone()),
            rtp_timeout: Duration::from_secs(30),
            listener: voice::ListenerConfig::default(),
        },
        Some(Engines::placeholder()),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    handle
        .commands
        .send(MediaCommand::Say {
            id: 1,
            text: "您好，这里是通话测试，请问您方便吗？".into(),
            policy: SayPolicy::Never,
        })
        .expect("say");
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
    assert!(log.contains("opus"), "{log}");
    assert!(stats.packets_received > 100, "{stats:?}\n{log}");
    // baresip's tone decoded from Opus on our side (recording, left).
    let caller_rms = rms(&recording, 0);
    assert!(caller_rms > 1000.0, "caller RMS {caller_rms}");
    // Our prompt decoded from Opus on baresip's side.
    let heard = std::fs::read_dir(&dumps)
        .expect("dumps")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .unwrap_or_else(|| panic!("baresip recorded nothing:\n{log}"));
    let robot_rms = rms(&heard, 0);
    assert!(
        robot_rms > 300.0,
        "what baresip heard: RMS {robot_rms}\n{log}"
    );
}
