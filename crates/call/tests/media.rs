//! The media loop over real UDP sockets on loopback (no SIP): a peer socket
//! plays the caller, sending A-law RTP (out of order, with a gap and DTMF).

use std::time::Duration;

use call::Engines;
use call::media::{self, MediaCommand, MediaEvent, MediaParams, SayPolicy};
use sip::rtp::{RtpPacket, TelephoneEvent};
use sip::sdp::Codec;
use tokio::net::UdpSocket;

async fn pair() -> (UdpSocket, UdpSocket) {
    let robot = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let caller = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    (robot, caller)
}

fn params(
    robot: UdpSocket,
    caller: &UdpSocket,
    recording: Option<std::path::PathBuf>,
    timeout: Duration,
) -> MediaParams {
    MediaParams {
        remote: caller.local_addr().expect("addr"),
        socket: robot,
        codec: Codec::Pcma,
        telephone_event: Some(101),
        recording,
        rtp_timeout: timeout,
        listener: voice::ListenerConfig::default(),
    }
}

fn tone_packet(seq: u16) -> Vec<u8> {
    let samples = voice::testsignal::tone(440.0, 8000, 20, 0.5);
    let pcm = voice::audio::f32_to_i16(&samples);
    RtpPacket {
        payload_type: 8,
        marker: false,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc: 7,
        payload: voice::Law::Alaw.encode(&pcm),
    }
    .to_bytes()
}

#[tokio::test]
async fn robot_stream_has_exact_seq_timestamps_and_a_marker_per_talkspurt() {
    let (robot, caller) = pair().await;
    let mut h = media::start(
        params(robot, &caller, None, Duration::from_secs(30)),
        Some(Engines::placeholder()),
    );
    // Speak after a little silence.
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.commands
        .send(MediaCommand::Say {
            id: 1,
            text: "你好".into(),
            policy: SayPolicy::Never,
        })
        .expect("say");
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while got.len() < 40 {
        let n = tokio::time::timeout(Duration::from_secs(2), caller.recv(&mut buf))
            .await
            .expect("rtp")
            .expect("recv");
        got.push(RtpPacket::parse(&buf[..n]).expect("rtp"));
    }
    assert!(got[0].marker, "first packet marked");
    for w in got.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1));
        assert_eq!(w[1].timestamp, w[0].timestamp.wrapping_add(160));
        assert_eq!(w[1].ssrc, w[0].ssrc);
    }
    let silent = |p: &RtpPacket| p.payload.iter().all(|b| *b == 0xd5);
    let start = got
        .iter()
        .position(|p| !silent(p))
        .expect("the prompt is heard");
    assert!(start > 0, "silence before the prompt");
    assert!(got[start].marker, "the talkspurt starts with a marker");
    assert!(
        got[1..start].iter().all(|p| !p.marker),
        "no marker inside silence"
    );
    // The prompt is reported as started.
    let ev = tokio::time::timeout(Duration::from_secs(2), h.events.recv())
        .await
        .expect("event");
    assert!(
        matches!(ev, Some(MediaEvent::SayStarted { id: 1, .. })),
        "{ev:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn caller_audio_is_reordered_recorded_and_dtmf_reported() {
    let (robot, caller) = pair().await;
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("rec/call.wav");
    let robot_addr = robot.local_addr().expect("addr");
    let mut h = media::start(
        params(robot, &caller, Some(wav.clone()), Duration::from_secs(30)),
        Some(Engines::placeholder()),
    );
    // 1 s of tone in one burst (the buffer holds it), pairs swapped, one packet missing.
    for i in (0u16..48).step_by(2) {
        for seq in [i + 1, i] {
            if seq != 21 {
                caller
                    .send_to(&tone_packet(seq), robot_addr)
                    .await
                    .expect("send");
            }
        }
    }
    // Key 7: three packets of one event (start, continuation, end ×2).
    for (end, dur) in [(false, 160u16), (false, 320), (true, 480), (true, 480)] {
        let ev = TelephoneEvent {
            event: 7,
            end,
            volume: 10,
            duration: dur,
        };
        let p = RtpPacket {
            payload_type: 101,
            marker: !end && dur == 160,
            sequence: 100,
            timestamp: 99_999,
            ssrc: 7,
            payload: ev.to_bytes().to_vec(),
        };
        caller
            .send_to(&p.to_bytes(), robot_addr)
            .await
            .expect("send");
    }
    let mut digits = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, h.events.recv()).await {
        if let MediaEvent::Dtmf { digit, .. } = ev {
            digits.push(digit);
        }
    }
    assert_eq!(digits, "7", "one press, once");
    let stats = h.stop().await;
    assert_eq!(
        stats.packets_lost, 1,
        "the missing packet is counted as lost"
    );
    assert_eq!(
        stats.packets_received,
        47 + 4,
        "47 audio packets and 4 event packets"
    );
    let rec = voice::wav::read_wav(&wav);
    let audio = rec.expect("a readable WAV");
    assert!(audio.duration_ms() >= 1000, "the recording covers the call");
    let bytes = std::fs::read(&wav).expect("wav");
    assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 2, "stereo");
}

#[tokio::test]
async fn silence_on_the_line_times_out() {
    let (robot, caller) = pair().await;
    let mut h = media::start(
        params(robot, &caller, None, Duration::from_millis(300)),
        None,
    );
    let ev = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match h.events.recv().await {
                Some(MediaEvent::RtpTimeout { silent_ms }) => return silent_ms,
                Some(_) => continue,
                None => return 0,
            }
        }
    })
    .await
    .expect("time-out reported");
    assert!(ev >= 300);
    h.stop().await;
}

#[tokio::test]
async fn a_held_call_does_not_time_out_until_it_is_resumed() {
    let (robot, caller) = pair().await;
    let mut h = media::start(
        params(robot, &caller, None, Duration::from_millis(300)),
        None,
    );
    h.commands.send(MediaCommand::Hold(true)).expect("hold");
    let quiet = tokio::time::timeout(Duration::from_millis(900), async {
        loop {
            if let Some(MediaEvent::RtpTimeout { .. }) = h.events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "no time-out while held");
    h.commands.send(MediaCommand::Hold(false)).expect("resume");
    let timed_out = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if let Some(MediaEvent::RtpTimeout { .. }) = h.events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(timed_out.is_ok(), "times out once resumed and still silent");
    h.stop().await;
}

#[tokio::test]
async fn a_flush_reports_what_was_cut() {
    let (robot, caller) = pair().await;
    let mut h = media::start(
        params(robot, &caller, None, Duration::from_secs(30)),
        Some(Engines::placeholder()),
    );
    h.commands
        .send(MediaCommand::Say {
            id: 4,
            text: "这是一段比较长的提示语，会被打断。".into(),
            policy: SayPolicy::Any,
        })
        .expect("say");
    // Let it play a little, then stop it.
    loop {
        match tokio::time::timeout(Duration::from_secs(3), h.events.recv())
            .await
            .expect("event")
        {
            Some(MediaEvent::SayStarted { id: 4, .. }) => break,
            Some(_) => continue,
            None => panic!("media stopped"),
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.commands.send(MediaCommand::Flush).expect("flush");
    let cut = loop {
        match tokio::time::timeout(Duration::from_secs(3), h.events.recv())
            .await
            .expect("event")
        {
            Some(MediaEvent::Flushed { cut }) => break cut,
            Some(_) => continue,
            None => panic!("media stopped"),
        }
    };
    assert_eq!(cut.len(), 1);
    assert_eq!(cut[0].0, 4);
    assert!(cut[0].1 >= 100, "about 200 ms were played: {cut:?}");
    h.stop().await;
}
