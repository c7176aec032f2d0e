//! One call's media: RTP in and out on the call's own 20 ms clock.
//!
//! ```text
//! RTP in → jitter buffer ─tick→ decode → [ear thread: Listener (denoise → VAD → endpoint → ASR)]
//!                                       → recording (left)
//! Say → [mouth thread: TTS, per sentence] → Playout ─tick→ encode → RTP out (seq, ts += 160, marker)
//!                                                    → recording (right)
//! ```
//!
//! The tick owns timing: every 20 ms exactly one frame is taken from the
//! jitter buffer (silence or concealment when there is none) and exactly one
//! packet is sent (silence when the robot says nothing). A barge-in from the
//! listener flushes the playout on the same tick it arrives, without waiting
//! for the conversation core. Engines run on their own threads, never on the
//! async workers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sip::rtp::{
    DtmfReceiver, RtcpStats, RtpPacket, is_rtcp, parse_rtcp, round_trip_ms, rtcp_sender_report,
};
use sip::sdp::Codec;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use voice::{
    BargeInPolicy, Law, Listener, ListenerConfig, ListenerEvent, PauseKind, Playout, PlayoutEvent,
    TtsRequest,
};

use crate::engines::Engines;
use crate::jitter::{JitterBuffer, Slot};
use crate::recorder::Recorder;

const FRAME: usize = 160;

/// How a prompt may be interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SayPolicy {
    /// Speech never interrupts (legal notices).
    Never,
    /// Any speech interrupts.
    Any,
    /// Acknowledgements (嗯, 对) do not interrupt; content does.
    IgnoreBackchannel,
    /// Any speech, but not during the first N ms.
    AnyAfter(u64),
}

/// What the conversation side asks of the media.
#[derive(Debug, Clone)]
pub enum MediaCommand {
    /// Speak `text`; `id` comes back in the Say* events.
    Say {
        id: u64,
        text: String,
        policy: SayPolicy,
    },
    /// Stop speaking now (drop everything queued).
    Flush,
    /// The end-of-turn pause for the next answer.
    SetPause(PauseKind),
    /// The peer moved its media (re-INVITE).
    Remote(SocketAddr),
    /// The peer put the call on hold (a=sendonly/inactive) or resumed it:
    /// no RTP is expected while held, so the RTP time-out waits.
    Hold(bool),
    /// Join a bridge (or leave it with `None`): what the peer says goes to
    /// the other session, what the other session heard is mixed into what
    /// the peer hears (and into the recording's right channel).
    Bridge(Option<crate::bridge::BridgePort>),
    /// Send every tick's mix (caller + robot or agent, 160 samples) here
    /// while anyone listens (a supervisor listening in); `None` stops.
    Tap(Option<tokio::sync::broadcast::Sender<Arc<[i16]>>>),
}

/// What the media tells the conversation side. `at_ms` is the call clock
/// (milliseconds since the media started).
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    SpeechStarted {
        at_ms: u64,
    },
    /// The caller interrupted; playout was flushed at `at_ms`.
    BargeIn {
        onset_ms: u64,
        at_ms: u64,
        /// The prompts cut: (id, ms of it that were played).
        cut: Vec<(u64, u64)>,
    },
    Final {
        text: String,
        confidence: f32,
        start_ms: u64,
        end_ms: u64,
        /// When the transcript was ready.
        at_ms: u64,
    },
    Backchannel {
        text: String,
    },
    AsrFailed {
        error: String,
    },
    Dtmf {
        digit: char,
        at_ms: u64,
    },
    /// The first audio frame of a prompt went out.
    SayStarted {
        id: u64,
        at_ms: u64,
    },
    SayFinished {
        id: u64,
        at_ms: u64,
        played_ms: u64,
    },
    SayFailed {
        id: u64,
        error: String,
    },
    /// Prompts dropped by a `Flush` command: (id, ms of it that were played).
    Flushed {
        cut: Vec<(u64, u64)>,
    },
    /// No RTP from the peer for the configured time.
    RtpTimeout {
        silent_ms: u64,
    },
}

/// Everything a media session needs.
#[derive(Debug)]
pub struct MediaParams {
    pub socket: UdpSocket,
    pub remote: SocketAddr,
    pub codec: Codec,
    pub telephone_event: Option<u8>,
    pub recording: Option<PathBuf>,
    pub rtp_timeout: Duration,
    pub listener: ListenerConfig,
}

/// Counters reported when the session ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaStats {
    pub packets_sent: u64,
    pub packets_received: u64,
    pub packets_lost: u64,
    pub packets_late: u64,
    /// Ticks that ran more than 20 ms behind schedule (send jitter).
    pub late_ticks: u64,
    /// Largest lateness of a tick, in microseconds.
    pub max_tick_lateness_us: u64,
    /// Tick lateness histogram: `lateness_ms[i]` ticks were i ms late (last bucket: ≥ 99).
    pub lateness_ms: Vec<u64>,
    /// RTCP both ways: what the peer reported about our stream, and the
    /// jitter we measured on theirs.
    pub rtcp: RtcpSummary,
}

/// The call's RTCP, summed up at hang-up (logged as `call.rtcp`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RtcpSummary {
    /// Sender/receiver reports received from the peer (on RTP port + 1, or muxed).
    pub reports_received: u64,
    /// Report blocks about our stream among them.
    pub blocks_about_us: u64,
    /// The peer's latest count of our packets lost (cumulative).
    pub packets_lost: Option<i32>,
    /// The peer's latest fraction of our packets lost, in percent.
    pub fraction_lost_pct: Option<f64>,
    /// Largest fraction lost the peer reported, in percent.
    pub max_fraction_lost_pct: Option<f64>,
    /// The peer's latest interarrival jitter of our stream, in ms.
    pub jitter_ms: Option<f64>,
    /// Round-trip times from the peer's LSR/DLSR (RFC 3550 §6.4.1), in ms.
    pub rtt_ms: Vec<u32>,
    /// Interarrival jitter of the peer's stream as we measured it, in ms.
    pub our_jitter_ms: f64,
}

impl MediaStats {
    /// The lateness (ms) that `q` (0..1) of the ticks did not exceed.
    pub fn lateness_quantile_ms(&self, q: f64) -> u64 {
        let total: u64 = self.lateness_ms.iter().sum();
        if total == 0 {
            return 0;
        }
        let want = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (ms, n) in self.lateness_ms.iter().enumerate() {
            seen += n;
            if seen >= want {
                return ms as u64;
            }
        }
        self.lateness_ms.len() as u64
    }
}

/// The running session: send commands, receive events, stop it.
#[derive(Debug)]
pub struct MediaHandle {
    pub commands: mpsc::UnboundedSender<MediaCommand>,
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<MediaStats>>,
}

impl MediaHandle {
    /// Stops the session and returns its counters (the recording is finished).
    pub async fn stop(mut self) -> MediaStats {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.task.take() {
            Some(t) => t.await.unwrap_or_default(),
            None => MediaStats::default(),
        }
    }
}

enum EarInput {
    Frame(Vec<f32>),
    Robot(bool, BargeInPolicy),
    Pause(PauseKind),
}

enum MouthOut {
    Chunk { id: u64, audio: voice::Audio },
    Done { id: u64 },
    Failed { id: u64, error: String },
}

struct SayState {
    policy: SayPolicy,
    chunks_queued: usize,
    chunks_done: usize,
    synth_done: bool,
    started: bool,
    played_ms: u64,
}

/// Starts a media session on a tokio runtime. With `engines = None` the
/// session only moves media (no listening, no speaking): benchmarks.
pub fn start(params: MediaParams, engines: Option<Engines>) -> MediaHandle {
    let (ctx, crx) = mpsc::unbounded_channel();
    let (etx, erx) = mpsc::unbounded_channel();
    let (stx, srx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(run(params, engines, crx, etx, srx));
    MediaHandle {
        commands: ctx,
        events: erx,
        stop: Some(stx),
        task: Some(task),
    }
}

fn voice_policy(p: SayPolicy) -> BargeInPolicy {
    match p {
        SayPolicy::Never => BargeInPolicy::Disabled,
        SayPolicy::Any | SayPolicy::AnyAfter(_) => BargeInPolicy::AnySpeech,
        SayPolicy::IgnoreBackchannel => BargeInPolicy::IgnoreBackchannel,
    }
}

async fn run(
    params: MediaParams,
    engines: Option<Engines>,
    mut commands: mpsc::UnboundedReceiver<MediaCommand>,
    events: mpsc::UnboundedSender<MediaEvent>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> MediaStats {
    let start = Instant::now();
    let now_ms = move || start.elapsed().as_millis() as u64;
    let mut coder = match crate::codec::Coder::new(params.codec) {
        Ok(c) => c,
        Err(e) => {
            // libopus refused (cannot happen with a sane build): keep the call
            // up on G.711 A-law rather than drop it, and say so.
            tracing::warn!(error = %e, "codec unavailable");
            crate::codec::Coder::G711(Law::Alaw)
        }
    };
    let ts_step = coder.timestamp_step();
    let ts_per_ms = f64::from(ts_step) / 20.0;
    let pt = params.codec.payload_type();
    let socket = params.socket;
    let mut remote = params.remote;
    let mut latched = false;
    let mut recorder = params
        .recording
        .as_ref()
        .and_then(|p| match Recorder::create(p) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "cannot create the recording");
                None
            }
        });

    // Ear: the listener on its own thread (ASR is slow and blocking).
    let (ear_tx, ear_thread) = match &engines {
        Some(e) => {
            let (tx, rx) = std::sync::mpsc::channel::<EarInput>();
            let ev = events.clone();
            let asr = (e.asr)();
            let cfg = params.listener.clone();
            let (ltx, lrx) = mpsc::unbounded_channel::<ListenerEvent>();
            let handle = std::thread::Builder::new()
                .name("call-ear".into())
                .spawn(move || ear(rx, ltx, asr, cfg, ev));
            (Some((tx, lrx)), handle.ok())
        }
        None => (None, None),
    };
    let (ear_tx, mut ear_rx) = match ear_tx {
        Some((tx, rx)) => (Some(tx), Some(rx)),
        None => (None, None),
    };

    // Mouth: synthesis on its own thread, cancellable by generation.
    let cancelled_below = Arc::new(AtomicU64::new(0));
    // Without engines the sender is kept here, so the receiver stays pending
    // instead of reporting a closed channel on every poll.
    let mut _idle_mouth = None;
    let (mouth_tx, mut mouth_rx) = {
        let (tx, rx) = std::sync::mpsc::channel::<(u64, String)>();
        let (otx, orx) = mpsc::unbounded_channel::<MouthOut>();
        match &engines {
            Some(e) => {
                let e = e.clone();
                let cancelled = cancelled_below.clone();
                let _ = std::thread::Builder::new()
                    .name("call-mouth".into())
                    .spawn(move || mouth(rx, otx, e, cancelled));
            }
            None => _idle_mouth = Some(otx),
        }
        (tx, orx)
    };

    let mut mouth_open = true;
    let mut playout = Playout::new(8000);
    let mut jitter = JitterBuffer::new(2);
    let mut dtmf = DtmfReceiver::default();
    // Peers without RFC 4733 send their keys as tones in the audio.
    let mut inband = params
        .telephone_event
        .is_none()
        .then(crate::inband::InbandDtmf::default);
    let mut says: HashMap<u64, SayState> = HashMap::new();
    let mut robot_speaking = false;
    let mut robot_policy = BargeInPolicy::Disabled;
    let mut ssrc_out: u32 = rand::random();
    if ssrc_out == 0 {
        ssrc_out = 1;
    }
    let mut seq: u16 = rand::random();
    let ts_base: u32 = rand::random();
    let mut ts = ts_base;
    let mut first_packet = true;
    let mut was_idle = true;
    let mut rtcp = RtcpStats::default();
    let mut stats = MediaStats {
        lateness_ms: vec![0; 100],
        ..MediaStats::default()
    };
    // The peer's RTCP arrives on RTP port + 1 (no rtcp-mux offered); when
    // that port cannot be had, only muxed reports are read.
    let rtcp_socket = match socket.local_addr() {
        Ok(a) => UdpSocket::bind(SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
            .await
            .map_err(|e| tracing::debug!(error = %e, "no RTCP port; reading muxed RTCP only"))
            .ok(),
        Err(_) => None,
    };
    let mut rtcp_buf = vec![0u8; 2048];
    let mut last_sr_at: Option<Instant> = None;
    // RFC 3550 §6.4.1 / A.8: interarrival jitter in timestamp units.
    let mut transit_prev: Option<i64> = None;
    let mut jitter_ts = 0.0f64;
    let mut last_rx = Instant::now();
    let mut timed_out = false;
    let mut held = false;
    let mut last_caller = [0i16; FRAME];
    let mut bridge: Option<crate::bridge::BridgePort> = None;
    let mut tap: Option<tokio::sync::broadcast::Sender<Arc<[i16]>>> = None;
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut ticks: u64 = 0;
    let tick_start = Instant::now();

    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            r = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                let data = buf.get(..n).unwrap_or_default();
                if is_rtcp(data) {
                    on_rtcp(data, ssrc_out, ts_per_ms, &mut rtcp, &mut last_sr_at, &mut stats.rtcp);
                    continue;
                }
                let Some(p) = RtpPacket::parse(data) else { continue };
                if !latched {
                    // Symmetric RTP: answer where the packets come from.
                    remote = from;
                    latched = true;
                }
                last_rx = Instant::now();
                timed_out = false;
                rtcp.packets_received += 1;
                rtcp.remote_ssrc = p.ssrc;
                stats.packets_received += 1;
                if Some(p.payload_type) == params.telephone_event {
                    if let Some(digit) = dtmf.push(p.timestamp, &p.payload) {
                        let _ = events.send(MediaEvent::Dtmf { digit, at_ms: now_ms() });
                    }
                } else if p.payload_type == pt {
                    // Arrival on the stream's RTP clock (8 kHz, or 48 kHz for Opus).
                    let arrival = (start.elapsed().as_micros() as i64) * i64::from(ts_step) / 20_000;
                    let transit = arrival - i64::from(p.timestamp);
                    if let Some(prev) = transit_prev {
                        // Wrapping timestamps make a huge step: skip it.
                        let d = (transit - prev).abs();
                        if d < i64::from(ts_step) * 500 {
                            jitter_ts += (d as f64 - jitter_ts) / 16.0;
                        }
                    }
                    transit_prev = Some(transit);
                    jitter.push(p.sequence, p.payload);
                }
            }
            r = async { match &rtcp_socket { Some(s) => s.recv_from(&mut rtcp_buf).await, None => std::future::pending().await } } => {
                if let Ok((n, _)) = r {
                    let data = rtcp_buf.get(..n).unwrap_or_default();
                    on_rtcp(data, ssrc_out, ts_per_ms, &mut rtcp, &mut last_sr_at, &mut stats.rtcp);
                }
            }
            c = commands.recv() => match c {
                None => break,
                Some(MediaCommand::Say { id, text, policy }) => {
                    says.insert(id, SayState { policy, chunks_queued: 0, chunks_done: 0, synth_done: false, started: false, played_ms: 0 });
                    if engines.is_none() || mouth_tx.send((id, text)).is_err() {
                        let _ = events.send(MediaEvent::SayFailed { id, error: "no speech synthesiser".into() });
                        says.remove(&id);
                    }
                }
                Some(MediaCommand::Flush) => {
                    let cut = flush(&mut playout, &mut says, &cancelled_below);
                    if !cut.is_empty() {
                        let _ = events.send(MediaEvent::Flushed { cut });
                    }
                }
                Some(MediaCommand::SetPause(kind)) => {
                    if let Some(tx) = &ear_tx { let _ = tx.send(EarInput::Pause(kind)); }
                }
                Some(MediaCommand::Remote(addr)) => { remote = addr; latched = false; }
                Some(MediaCommand::Hold(on)) => {
                    held = on;
                    last_rx = Instant::now();
                }
                Some(MediaCommand::Bridge(port)) => bridge = port,
                Some(MediaCommand::Tap(t)) => tap = t,
            },
            m = mouth_rx.recv(), if mouth_open => if let Some(m) = m {
                match m {
                    MouthOut::Chunk { id, audio } => {
                        if id >= cancelled_below.load(Ordering::Relaxed)
                            && let Some(s) = says.get_mut(&id)
                            && playout.push(&audio, Some(id)).is_ok()
                        {
                            s.chunks_queued += 1;
                        }
                    }
                    MouthOut::Done { id } => {
                        if let Some(s) = says.get_mut(&id) {
                            s.synth_done = true;
                            if s.chunks_queued == 0 {
                                says.remove(&id);
                                let _ = events.send(MediaEvent::SayFinished { id, at_ms: now_ms(), played_ms: 0 });
                            }
                        }
                    }
                    MouthOut::Failed { id, error } => {
                        if says.remove(&id).is_some() {
                            let _ = events.send(MediaEvent::SayFailed { id, error });
                        }
                    }
                }
            } else {
                mouth_open = false;
            },
            l = async { match ear_rx.as_mut() { Some(r) => r.recv().await, None => std::future::pending().await } } => {
                let Some(l) = l else { ear_rx = None; continue };
                match l {
                    ListenerEvent::SpeechStarted { start_ms } => {
                        let _ = events.send(MediaEvent::SpeechStarted { at_ms: start_ms });
                    }
                    ListenerEvent::BargeIn { start_ms, .. } => {
                        if robot_speaking && robot_policy != BargeInPolicy::Disabled {
                            let cut = flush(&mut playout, &mut says, &cancelled_below);
                            let _ = events.send(MediaEvent::BargeIn { onset_ms: start_ms, at_ms: now_ms(), cut });
                        }
                    }
                    ListenerEvent::Final { start_ms, end_ms, transcript } => {
                        let _ = events.send(MediaEvent::Final { text: transcript.text, confidence: transcript.confidence, start_ms, end_ms, at_ms: now_ms() });
                    }
                    ListenerEvent::Backchannel { text } => { let _ = events.send(MediaEvent::Backchannel { text }); }
                    ListenerEvent::AsrFailed { error } => { let _ = events.send(MediaEvent::AsrFailed { error }); }
                }
            },
            _ = tick.tick() => {
                // Lateness of this tick against the ideal 20 ms grid.
                let ideal = tick_start + Duration::from_millis(20 * ticks);
                let late = Instant::now().saturating_duration_since(ideal);
                ticks += 1;
                let late_us = late.as_micros() as u64;
                stats.max_tick_lateness_us = stats.max_tick_lateness_us.max(late_us);
                if late > Duration::from_millis(20) { stats.late_ticks += 1; }
                let bucket = (late_us / 1000).min(99) as usize;
                if let Some(b) = stats.lateness_ms.get_mut(bucket) { *b += 1; }

                // Caller side: one frame from the jitter buffer.
                let caller: Vec<i16> = match jitter.pop() {
                    Slot::Frame(p) => {
                        let mut s = coder.decode(&p);
                        s.resize(FRAME, 0);
                        last_caller.copy_from_slice(&s[..FRAME]);
                        s
                    }
                    // Conceal one lost packet with the last one, halved.
                    Slot::Lost => {
                        for v in last_caller.iter_mut() { *v /= 2; }
                        last_caller.to_vec()
                    }
                    Slot::Empty => vec![0; FRAME],
                };
                let caller_f32 = voice::audio::i16_to_f32(&caller);
                if let Some(d) = inband.as_mut()
                    && let Some(digit) = d.push(&caller_f32)
                {
                    let _ = events.send(MediaEvent::Dtmf { digit, at_ms: now_ms() });
                }
                if let Some(tx) = &ear_tx {
                    let _ = tx.send(EarInput::Frame(caller_f32));
                }
                if let Some(b) = &bridge {
                    b.send(&caller);
                }

                // Robot side: one frame from the playout.
                let (frame, pevs) = playout.next_frame();
                let t = now_ms();
                for ev in pevs {
                    if let PlayoutEvent::Finished { mark } = ev
                        && let Some(s) = says.get_mut(&mark)
                    {
                        s.chunks_done += 1;
                        if s.synth_done && s.chunks_done >= s.chunks_queued {
                            let played = s.played_ms;
                            says.remove(&mark);
                            let _ = events.send(MediaEvent::SayFinished { id: mark, at_ms: t, played_ms: played });
                        }
                    }
                }
                let idle = playout.is_idle();
                // The prompt now playing: the lowest live id with queued audio.
                if let Some((&id, s)) = says.iter_mut().filter(|(_, s)| s.chunks_queued > s.chunks_done).min_by_key(|(id, _)| **id) {
                    if !s.started {
                        s.started = true;
                        let _ = events.send(MediaEvent::SayStarted { id, at_ms: t });
                    }
                    s.played_ms += 20;
                    let policy = match s.policy {
                        SayPolicy::AnyAfter(n) if s.played_ms < n => BargeInPolicy::Disabled,
                        p => voice_policy(p),
                    };
                    if !robot_speaking || policy != robot_policy {
                        robot_speaking = true;
                        robot_policy = policy;
                        if let Some(tx) = &ear_tx { let _ = tx.send(EarInput::Robot(true, policy)); }
                    }
                } else if robot_speaking && idle {
                    robot_speaking = false;
                    robot_policy = BargeInPolicy::Disabled;
                    if let Some(tx) = &ear_tx { let _ = tx.send(EarInput::Robot(false, BargeInPolicy::Disabled)); }
                }
                let mut robot = voice::audio::f32_to_i16(&frame);
                if let Some(b) = &bridge {
                    b.mix_into(&mut robot);
                }
                let payload = coder.encode(&robot);
                // Marker on the first packet and on the first packet of each talkspurt.
                let marker = first_packet || (was_idle && !idle_frame(&robot));
                was_idle = idle_frame(&robot);
                first_packet = false;
                let packet = RtpPacket { payload_type: pt, marker, sequence: seq, timestamp: ts, ssrc: ssrc_out, payload };
                let bytes = packet.to_bytes();
                if socket.send_to(&bytes, remote).await.is_ok() {
                    stats.packets_sent += 1;
                    rtcp.packets_sent = rtcp.packets_sent.wrapping_add(1);
                    rtcp.octets_sent = rtcp.octets_sent.wrapping_add(bytes.len().saturating_sub(12) as u32);
                }
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(ts_step);
                if let Some(r) = recorder.as_mut() { r.push(&caller, &robot); }
                if let Some(t) = tap.as_ref().filter(|t| t.receiver_count() > 0) {
                    let mix: Arc<[i16]> = caller.iter().zip(robot.iter()).map(|(a, b)| a.saturating_add(*b)).collect();
                    let _ = t.send(mix);
                }

                // RTCP sender report every 5 s to the next port (no rtcp-mux).
                if ticks.is_multiple_of(250) {
                    rtcp.highest_seq = jitter.highest();
                    rtcp.lost = jitter.lost as u32;
                    rtcp.jitter = jitter_ts as u32;
                    // DLSR: how long ago the peer's last SR arrived, in 1/65536 s.
                    rtcp.delay_since_last_sr = last_sr_at
                        .map(|t| ((t.elapsed().as_micros() as u64) * 65536 / 1_000_000) as u32)
                        .unwrap_or(0);
                    let ntp = ntp_now();
                    let sr = rtcp_sender_report(ssrc_out, ntp, ts, &rtcp, "tonghua");
                    let rtcp_addr = SocketAddr::new(remote.ip(), remote.port().wrapping_add(1));
                    let from = rtcp_socket.as_ref().unwrap_or(&socket);
                    let _ = from.send_to(&sr, rtcp_addr).await;
                }
                let silent = last_rx.elapsed();
                if !timed_out && !held && silent >= params.rtp_timeout {
                    timed_out = true;
                    let _ = events.send(MediaEvent::RtpTimeout { silent_ms: silent.as_millis() as u64 });
                }
            }
        }
    }
    stats.packets_lost = jitter.lost;
    stats.packets_late = jitter.late;
    stats.rtcp.our_jitter_ms = jitter_ts / ts_per_ms;
    if let Some(r) = recorder.as_mut() {
        r.finish();
    }
    drop(ear_tx);
    drop(mouth_tx);
    cancelled_below.store(u64::MAX, Ordering::Relaxed);
    if let Some(t) = ear_thread {
        // The ear thread ends when its channel closes; do not block the runtime on it.
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    stats
}

fn idle_frame(samples: &[i16]) -> bool {
    samples.iter().all(|s| *s == 0)
}

fn flush(
    playout: &mut Playout,
    says: &mut HashMap<u64, SayState>,
    cancelled_below: &AtomicU64,
) -> Vec<(u64, u64)> {
    let _ = playout.flush();
    // Every prompt asked for so far is cancelled (also those still being synthesised).
    let max = says.keys().max().copied().unwrap_or(0);
    cancelled_below.fetch_max(max + 1, Ordering::Relaxed);
    let mut cut: Vec<(u64, u64)> = says.drain().map(|(id, s)| (id, s.played_ms)).collect();
    cut.sort_unstable();
    cut
}

/// Reads one RTCP compound packet from the peer: remembers its sender
/// report (for our LSR/DLSR) and what its report blocks say about our stream.
fn on_rtcp(
    data: &[u8],
    our_ssrc: u32,
    ts_per_ms: f64,
    rtcp: &mut RtcpStats,
    last_sr_at: &mut Option<Instant>,
    summary: &mut RtcpSummary,
) {
    let arrival = ntp_now();
    for report in parse_rtcp(data) {
        if report.ssrc == our_ssrc {
            continue; // our own report looped back
        }
        summary.reports_received += 1;
        if let Some(ntp) = report.sender_ntp {
            rtcp.last_sr = (ntp >> 16) as u32;
            *last_sr_at = Some(Instant::now());
        }
        for block in report.blocks.iter().filter(|b| b.ssrc == our_ssrc) {
            summary.blocks_about_us += 1;
            let pct = f64::from(block.fraction_lost) * 100.0 / 256.0;
            summary.packets_lost = Some(block.cumulative_lost);
            summary.fraction_lost_pct = Some(pct);
            summary.max_fraction_lost_pct =
                Some(summary.max_fraction_lost_pct.map_or(pct, |m| m.max(pct)));
            summary.jitter_ms = Some(f64::from(block.jitter) / ts_per_ms);
            if let Some(rtt) = round_trip_ms(block, arrival) {
                summary.rtt_ms.push(rtt);
            }
        }
    }
}

fn ntp_now() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() + 2_208_988_800;
    let frac = (u64::from(now.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

fn ear(
    rx: std::sync::mpsc::Receiver<EarInput>,
    out: mpsc::UnboundedSender<ListenerEvent>,
    asr: Result<Box<dyn voice::Asr>, voice::EngineError>,
    config: ListenerConfig,
    events: mpsc::UnboundedSender<MediaEvent>,
) {
    let asr = match asr {
        Ok(a) => a,
        Err(e) => {
            let _ = events.send(MediaEvent::AsrFailed {
                error: e.to_string(),
            });
            Box::new(crate::engines::NoAsr) as Box<dyn voice::Asr>
        }
    };
    let denoiser: Option<Box<dyn voice::Denoiser>> = voice::Rnnoise::new(8000)
        .ok()
        .map(|d| Box::new(d) as Box<dyn voice::Denoiser>);
    let mut listener = match Listener::new(
        8000,
        config,
        denoiser,
        Box::new(voice::EnergyVad::new(8000)),
        asr,
    ) {
        Ok(l) => l,
        Err(e) => {
            let _ = events.send(MediaEvent::AsrFailed {
                error: e.to_string(),
            });
            return;
        }
    };
    while let Ok(input) = rx.recv() {
        match input {
            EarInput::Frame(f) => {
                for ev in listener.push(&f) {
                    if out.send(ev).is_err() {
                        return;
                    }
                }
            }
            EarInput::Robot(speaking, policy) => listener.set_robot_speaking(speaking, policy),
            EarInput::Pause(kind) => listener.set_pause(kind),
        }
    }
}

fn mouth(
    rx: std::sync::mpsc::Receiver<(u64, String)>,
    out: mpsc::UnboundedSender<MouthOut>,
    engines: Engines,
    cancelled_below: Arc<AtomicU64>,
) {
    while let Ok((id, text)) = rx.recv() {
        if id < cancelled_below.load(Ordering::Relaxed) {
            let _ = out.send(MouthOut::Done { id });
            continue;
        }
        let mut request = TtsRequest::new(text.clone());
        if let Some(v) = &engines.voice {
            request = request.voice(v.clone());
        }
        let mut tts = match engines.tts.lock() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        };
        match tts.synthesize(&request) {
            Ok(stream) => {
                let mut failed = None;
                for chunk in stream {
                    if id < cancelled_below.load(Ordering::Relaxed) {
                        break;
                    }
                    match chunk {
                        Ok(audio) => {
                            if out.send(MouthOut::Chunk { id, audio }).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            failed = Some(e.to_string());
                            break;
                        }
                    }
                }
                let msg = match failed {
                    Some(error) => MouthOut::Failed { id, error },
                    None => MouthOut::Done { id },
                };
                if out.send(msg).is_err() {
                    return;
                }
            }
            Err(e) => {
                if out
                    .send(MouthOut::Failed {
                        id,
                        error: e.to_string(),
                    })
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}
