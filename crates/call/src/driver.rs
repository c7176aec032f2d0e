//! The loop of one answered call: SIP dialog events and media events in,
//! conversation-core events out, the core's actions carried out.
//!
//! The core is reached through [`Brain`] (the server implements it over a
//! hosted conversation with its event log), so this crate knows nothing of
//! storage. Time given to the core is the call clock: milliseconds since the
//! call was answered.
//!
//! Action semantics on a phone line:
//! * `Say` → synthesised and played; `WaitForInput{timeout_ms}` starts its
//!   silence timer when the robot has finished speaking and the caller is quiet.
//! * `StopSpeaking` → playout flushed at once.
//! * `Hangup` / `Transfer` → carried out after the preceding prompts played.
//! * `SetTimer` → `Timer{name}` after the delay.
//!
//! Everything notable (answered, each recognised utterance with its
//! confidence and timings, barge-ins with what was actually played, DTMF,
//! the hang-up cause) is given to [`Brain::log`] as it happens.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use dialog::{Action, BargeIn, EventKind};
use serde_json::json;
use sip::{CallEvent, CallLeg, HangupCause};
use tokio::time::{Instant, sleep_until};

use crate::bridge::{Handoff, HandoffEnd, HandoffEvent};
use crate::media::{MediaCommand, MediaEvent, MediaHandle, MediaParams, SayPolicy};

/// The conversation behind a call.
pub trait Brain: Send {
    /// Runs one event through the core at `at_ms` (call clock) and returns its actions.
    fn turn(
        &mut self,
        at_ms: u64,
        event: EventKind,
    ) -> impl Future<Output = Result<Vec<Action>, String>> + Send;

    /// Records a channel event (`call.*`) in the conversation's log.
    fn log(&mut self, kind: &str, payload: serde_json::Value) -> impl Future<Output = ()> + Send;

    /// The core transferred the call to `queue`. `Some`: the channel takes
    /// the caller to a person through the robot (the call waits, then is
    /// bridged; see [`crate::bridge`]). `None`: a blind transfer (REFER) to
    /// the configured target, or, without one, the call ends.
    fn handoff(
        &mut self,
        queue: &str,
        reason: &str,
    ) -> impl Future<Output = Option<Handoff>> + Send {
        let _ = (queue, reason);
        async { None }
    }
}

/// How the call ended, for the caller of [`run`].
#[derive(Debug, Clone, PartialEq)]
pub struct CallSummary {
    pub cause: String,
    pub duration_ms: u64,
    pub utterances: usize,
    pub barge_ins: usize,
    pub dtmf: String,
}

/// Tuning of the call loop.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Queue name → SIP URI to REFER the caller to on `Transfer`.
    pub transfer_targets: BTreeMap<String, String>,
    /// Hard limit on a call's length.
    pub max_call: Duration,
    /// A bridged agent leg whose RTP stops for this long is hung up.
    pub agent_rtp_timeout: Duration,
    /// Engines to recognise what a bridged agent says (logged as the
    /// core's `AgentSaid`); `None`: the agent's side is not transcribed.
    pub agent_engines: Option<crate::Engines>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            transfer_targets: BTreeMap::new(),
            max_call: Duration::from_secs(3600),
            agent_rtp_timeout: Duration::from_secs(30),
            agent_engines: None,
        }
    }
}

/// The second leg of a bridged call.
struct Bridged {
    leg: CallLeg,
    media: MediaHandle,
    agent: String,
    agent_id: Option<String>,
    since: Instant,
    leg_ended: bool,
    media_open: bool,
}

/// A call waiting for (or bridged to) a person.
struct Waiting {
    events: Option<tokio::sync::mpsc::UnboundedReceiver<HandoffEvent>>,
    ended: Option<tokio::sync::oneshot::Sender<HandoffEnd>>,
    hold_prompt: String,
    hold_every: Duration,
    next_hold: Instant,
    /// Ids of the hold prompts (played by the channel, not the core).
    hold_ids: HashSet<u64>,
    bridged: Option<Bridged>,
    /// Why the channel or the agent ended it, when they did.
    end_cause: Option<String>,
}

enum After {
    Hangup(String),
    Transfer { queue: String, reason: String },
}

struct Said {
    text: String,
}

/// Drives one answered call until it ends. `start` is the first event
/// (`CallAnswered`), already built by the caller.
pub async fn run<B: Brain>(
    mut brain: B,
    mut leg: CallLeg,
    mut media: MediaHandle,
    start: EventKind,
    config: DriverConfig,
) -> CallSummary {
    let t0 = Instant::now();
    let clock = move || t0.elapsed().as_millis() as u64;
    let mut summary = CallSummary {
        cause: String::new(),
        duration_ms: 0,
        utterances: 0,
        barge_ins: 0,
        dtmf: String::new(),
    };
    let mut next_say: u64 = 1;
    let mut pending: HashMap<u64, Said> = HashMap::new();
    let mut after: Option<After> = None;
    let mut wait_input: Option<u64> = None;
    let mut silence_deadline: Option<Instant> = None;
    let mut caller_speaking = false;
    let mut timers: Vec<(Instant, String)> = Vec::new();
    let mut last_final_end: Option<u64> = None;
    let hard_stop = t0 + config.max_call;
    let mut handoff: Option<Waiting> = None;
    let mut robot_hangup: Option<String> = None;

    brain
        .log(
            "call.answered",
            json!({"call_id": leg.call_id, "from": leg.remote_uri, "dialled": leg.local_user,
                   "remote_rtp": leg.remote_media.rtp.to_string()}),
        )
        .await;

    let mut actions = match brain.turn(0, start).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(call_id = %leg.call_id, error = %e, "the conversation did not start");
            Vec::new()
        }
    };
    let cause: String = 'call: loop {
        // Carry out what the core asked for.
        for a in std::mem::take(&mut actions) {
            match a {
                Action::Say {
                    text,
                    barge_in,
                    interruptible,
                } => {
                    let policy = match (interruptible, barge_in) {
                        (false, _) | (_, BargeIn::Never) => SayPolicy::Never,
                        (_, BargeIn::Any) => SayPolicy::Any,
                        (_, BargeIn::Intent) => SayPolicy::IgnoreBackchannel,
                        (_, BargeIn::AfterMs(n)) => SayPolicy::AnyAfter(n),
                    };
                    let id = next_say;
                    next_say += 1;
                    pending.insert(id, Said { text: text.clone() });
                    let _ = media.commands.send(MediaCommand::Say { id, text, policy });
                    silence_deadline = None;
                }
                Action::StopSpeaking => {
                    let _ = media.commands.send(MediaCommand::Flush);
                }
                Action::WaitForInput { timeout_ms } => {
                    wait_input = Some(timeout_ms);
                    silence_deadline = None;
                }
                Action::Hangup { reason } => after = Some(After::Hangup(reason)),
                Action::Transfer { queue, reason } => {
                    after = Some(After::Transfer { queue, reason })
                }
                Action::SetTimer { name, after_ms } => {
                    timers.push((Instant::now() + Duration::from_millis(after_ms), name));
                }
                _ => {}
            }
        }
        // Nothing left to say: act on a pending hang-up/transfer, or start the silence timer.
        if pending.is_empty() {
            match after.take() {
                Some(After::Hangup(reason)) => {
                    brain
                        .log("call.hangup_requested", json!({"reason": reason}))
                        .await;
                    robot_hangup = Some(reason);
                    leg.hangup();
                }
                Some(After::Transfer { queue, reason }) if handoff.is_none() => {
                    if let Some(h) = brain.handoff(&queue, &reason).await {
                        brain
                            .log(
                                "call.handoff_waiting",
                                json!({"queue": queue, "reason": reason, "at_ms": clock()}),
                            )
                            .await;
                        // The transfer line was just said: the first hold prompt comes a little later.
                        let first = h.hold_every.min(Duration::from_secs(3));
                        handoff = Some(Waiting {
                            events: Some(h.events),
                            ended: Some(h.ended),
                            hold_prompt: h.hold_prompt,
                            hold_every: h.hold_every.max(Duration::from_secs(1)),
                            next_hold: Instant::now() + first,
                            hold_ids: HashSet::new(),
                            bridged: None,
                            end_cause: None,
                        });
                        continue 'call;
                    }
                    let target = config.transfer_targets.get(&queue).cloned().or_else(|| {
                        (queue.starts_with("sip:") || queue.starts_with("tel:"))
                            .then(|| queue.clone())
                    });
                    match target {
                        Some(t) => {
                            brain.log("call.transfer", json!({"queue": queue, "target": t, "reason": reason, "kind": "blind"})).await;
                            leg.transfer(&t);
                        }
                        None => {
                            brain
                                .log(
                                    "call.transfer_unavailable",
                                    json!({"queue": queue, "reason": reason}),
                                )
                                .await;
                            leg.hangup();
                        }
                    }
                }
                // Already waiting for a person: the core asking again changes nothing.
                Some(After::Transfer { .. }) => {}
                None => {
                    if let Some(ms) = wait_input
                        && silence_deadline.is_none()
                        && !caller_speaking
                    {
                        silence_deadline = Some(Instant::now() + Duration::from_millis(ms));
                    }
                }
            }
        }
        let next_timer = timers.iter().map(|(t, _)| *t).min();
        // The waiting call's sources, borrowed apart so the select can poll them all.
        let (handoff_events, hold_at, agent_leg_events, agent_media_events) = match handoff.as_mut()
        {
            Some(w) => {
                let hold_at = (w.bridged.is_none() && w.events.is_some()).then_some(w.next_hold);
                let (leg_events, media_events) = match w.bridged.as_mut() {
                    Some(b) => (
                        (!b.leg_ended).then_some(&mut b.leg.events),
                        b.media_open.then_some(&mut b.media.events),
                    ),
                    None => (None, None),
                };
                (w.events.as_mut(), hold_at, leg_events, media_events)
            }
            None => (None, None, None, None),
        };
        let event: Option<EventKind> = tokio::select! {
            ev = leg.events.recv() => match ev {
                None => break 'call "dialog_gone".to_string(),
                Some(CallEvent::Ended(c)) => break 'call c.as_str().to_string(),
                Some(CallEvent::Dtmf(d)) => {
                    summary.dtmf.push(d);
                    brain.log("call.dtmf", json!({"digit": d.to_string(), "via": "info", "at_ms": clock()})).await;
                    Some(EventKind::Dtmf { digit: d })
                }
                Some(CallEvent::RemoteMedia(m)) => {
                    let held = matches!(m.direction, sip::sdp::Direction::SendOnly | sip::sdp::Direction::Inactive);
                    brain.log("call.remote_media", json!({"rtp": m.rtp.to_string(), "held": held})).await;
                    let _ = media.commands.send(MediaCommand::Remote(m.rtp));
                    let _ = media.commands.send(MediaCommand::Hold(held));
                    None
                }
                Some(CallEvent::TransferResult { accepted, code }) => {
                    brain.log("call.transfer_result", json!({"accepted": accepted, "code": code})).await;
                    if !accepted { leg.hangup(); }
                    None
                }
            },
            ev = media.events.recv() => match ev {
                None => break 'call "media_stopped".to_string(),
                Some(MediaEvent::RtpTimeout { silent_ms }) => {
                    brain.log("call.rtp_timeout", json!({"silent_ms": silent_ms, "at_ms": clock()})).await;
                    break 'call "rtp_timeout".to_string();
                }
                Some(MediaEvent::SayStarted { id, .. } | MediaEvent::SayFinished { id, .. } | MediaEvent::SayFailed { id, .. })
                    if handoff.as_ref().is_some_and(|w| w.hold_ids.contains(&id)) => None,
                Some(ev) => on_media(ev, &mut brain, &mut pending, &mut summary, &mut caller_speaking, &mut silence_deadline, &mut last_final_end, &clock).await,
            },
            h = async { match handoff_events { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                on_handoff(h, &mut handoff, &mut brain, &leg, &media, &config, &mut pending, &mut next_say, &mut after, &clock).await;
                None
            }
            _ = async { match hold_at { Some(at) => sleep_until(at).await, None => std::future::pending().await } } => {
                if let Some(w) = handoff.as_mut() {
                    w.next_hold = Instant::now() + w.hold_every;
                    if pending.is_empty() && after.is_none() {
                        let id = next_say;
                        next_say += 1;
                        w.hold_ids.insert(id);
                        let _ = media.commands.send(MediaCommand::Say { id, text: w.hold_prompt.clone(), policy: SayPolicy::Never });
                        brain.log("call.hold_prompt", json!({"id": id, "text": w.hold_prompt, "at_ms": clock()})).await;
                    }
                }
                None
            }
            ev = async { match agent_leg_events { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                if let Some(w) = handoff.as_mut() && let Some(b) = w.bridged.as_mut() {
                    match ev {
                        None | Some(CallEvent::Ended(_)) => {
                            let c = match &ev { Some(CallEvent::Ended(c)) => c.as_str(), _ => "dialog_gone" };
                            b.leg_ended = true;
                            brain.log("call.agent_leg_ended", json!({"cause": c, "agent": b.agent, "at_ms": clock()})).await;
                            w.end_cause.get_or_insert_with(|| "agent_hangup".to_string());
                            leg.hangup();
                        }
                        Some(CallEvent::RemoteMedia(m)) => {
                            let _ = b.media.commands.send(MediaCommand::Remote(m.rtp));
                        }
                        Some(_) => {}
                    }
                }
                None
            }
            ev = async { match agent_media_events { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                if let Some(w) = handoff.as_mut() && let Some(b) = w.bridged.as_mut() {
                    match ev {
                        None => b.media_open = false,
                        Some(MediaEvent::RtpTimeout { silent_ms }) => {
                            brain.log("call.agent_rtp_timeout", json!({"silent_ms": silent_ms, "agent": b.agent})).await;
                            w.end_cause.get_or_insert_with(|| "agent_rtp_timeout".to_string());
                            b.leg.hangup();
                        }
                        // What the agent said, recognised on their leg: the core hears it as the agent's words.
                        Some(MediaEvent::Final { text, confidence, start_ms, end_ms, .. }) if !text.trim().is_empty() => {
                            brain.log("call.agent_utterance", json!({"text": text, "confidence": confidence, "start_ms": start_ms, "end_ms": end_ms, "agent": b.agent})).await;
                            if let Err(e) = brain.turn(clock(), EventKind::AgentSaid { text }).await {
                                tracing::debug!(error = %e, "agent_said not logged");
                            }
                        }
                        Some(_) => {}
                    }
                }
                None
            }
            _ = async { match silence_deadline { Some(d) => sleep_until(d).await, None => std::future::pending().await } } => {
                silence_deadline = None;
                let ms = wait_input.take().unwrap_or(0);
                Some(EventKind::Silence { ms })
            }
            _ = async { match next_timer { Some(d) => sleep_until(d).await, None => std::future::pending().await } } => {
                let now = Instant::now();
                let due: Vec<String> = timers.iter().filter(|(t, _)| *t <= now).map(|(_, n)| n.clone()).collect();
                timers.retain(|(t, _)| *t > now);
                // Several timers at once: the first now, the rest on the next turns.
                let mut due = due.into_iter();
                let first = due.next();
                for n in due { timers.push((now, n)); }
                first.map(|name| EventKind::Timer { name })
            }
            _ = sleep_until(hard_stop) => break 'call "max_duration".to_string(),
        };
        if let Some(ev) = event {
            if matches!(ev, EventKind::UserSaid { .. } | EventKind::Dtmf { .. }) {
                wait_input = None;
                silence_deadline = None;
            }
            match brain.turn(clock(), ev).await {
                Ok(a) => actions = a,
                Err(e) => {
                    tracing::warn!(call_id = %leg.call_id, error = %e, "conversation turn failed");
                }
            }
        }
    };
    // The dialog is over (or we are ending it): stop media, tell the core.
    if cause == "rtp_timeout" || cause == "max_duration" {
        leg.hangup();
        // Wait (bounded) for the BYE to complete so the dialog is gone.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(ev) = leg.events.recv().await {
                if matches!(ev, CallEvent::Ended(_)) {
                    break;
                }
            }
        })
        .await;
    }
    let cause = match handoff.as_ref().and_then(|w| w.end_cause.clone()) {
        Some(c) if c == "agent_hangup" => c,
        _ => cause,
    };
    if let Some(mut w) = handoff.take() {
        let bridged = w.bridged.is_some();
        let handoff_cause = w
            .end_cause
            .clone()
            .or_else(|| robot_hangup.clone())
            .unwrap_or_else(|| "caller_hangup".to_string());
        let mut end = HandoffEnd {
            cause: handoff_cause.clone(),
            bridged,
            bridged_ms: 0,
            agent_id: None,
        };
        if let Some(mut b) = w.bridged.take() {
            end.bridged_ms = b.since.elapsed().as_millis() as u64;
            end.agent_id = b.agent_id.clone();
            if !b.leg_ended {
                b.leg.hangup();
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while let Some(ev) = b.leg.events.recv().await {
                        if let CallEvent::Ended(c) = ev {
                            return Some(c);
                        }
                    }
                    None
                })
                .await;
            }
            let _ = media.commands.send(MediaCommand::Bridge(None));
            let agent_stats = b.media.stop().await;
            brain
                .log(
                    "call.bridge_ended",
                    json!({"cause": handoff_cause, "agent": b.agent, "agent_id": b.agent_id,
                           "bridged_ms": end.bridged_ms,
                           "agent_packets_sent": agent_stats.packets_sent,
                           "agent_packets_received": agent_stats.packets_received}),
                )
                .await;
        }
        if let Some(tx) = w.ended.take() {
            let _ = tx.send(end);
        }
    }
    let stats = media.stop().await;
    let r = &stats.rtcp;
    brain
        .log(
            "call.rtcp",
            json!({"reports_received": r.reports_received, "blocks_about_us": r.blocks_about_us,
                   "packets_lost": r.packets_lost, "fraction_lost_pct": r.fraction_lost_pct,
                   "max_fraction_lost_pct": r.max_fraction_lost_pct, "jitter_ms": r.jitter_ms,
                   "rtt_ms": r.rtt_ms, "our_jitter_ms": r.our_jitter_ms}),
        )
        .await;
    summary.cause = cause.clone();
    summary.duration_ms = clock();
    brain
        .log(
            "call.ended",
            json!({"cause": cause, "duration_ms": summary.duration_ms,
                   "packets_sent": stats.packets_sent, "packets_received": stats.packets_received,
                   "packets_lost": stats.packets_lost, "late_ticks": stats.late_ticks,
                   "tick_late_p50_ms": stats.lateness_quantile_ms(0.5),
                   "tick_late_p99_ms": stats.lateness_quantile_ms(0.99),
                   "tick_late_max_us": stats.max_tick_lateness_us,
                   "tick_lateness_ms": stats.lateness_ms}),
        )
        .await;
    let _ = brain.turn(clock(), EventKind::Hangup).await;
    summary
}

/// Acts on the channel's word about a waiting call.
#[allow(clippy::too_many_arguments)]
async fn on_handoff<B: Brain>(
    h: Option<HandoffEvent>,
    handoff: &mut Option<Waiting>,
    brain: &mut B,
    leg: &CallLeg,
    media: &MediaHandle,
    config: &DriverConfig,
    pending: &mut HashMap<u64, Said>,
    next_say: &mut u64,
    after: &mut Option<After>,
    clock: &impl Fn() -> u64,
) {
    let Some(w) = handoff.as_mut() else { return };
    match h {
        // The channel is gone: the call goes on (the core's own transfer
        // timer ends a wait nobody answers).
        None => w.events = None,
        Some(HandoffEvent::Connect(agent)) => {
            if w.bridged.is_some() || after.is_some() {
                // Too late (or twice): this leg is not wanted.
                brain
                    .log(
                        "call.agent_leg_refused",
                        json!({"agent": agent.agent, "at_ms": clock()}),
                    )
                    .await;
                agent.leg.hangup();
                return;
            }
            let agent = *agent;
            let (caller_port, agent_port) = crate::bridge::pair();
            let agent_media = crate::media::start(
                MediaParams {
                    socket: agent.socket,
                    remote: agent.remote,
                    codec: agent.codec,
                    telephone_event: agent.telephone_event,
                    recording: None,
                    rtp_timeout: config.agent_rtp_timeout,
                    listener: voice::ListenerConfig::default(),
                },
                config.agent_engines.clone(),
            );
            let _ = agent_media
                .commands
                .send(MediaCommand::Bridge(Some(agent_port)));
            // Whatever the robot was saying (a hold prompt) stops: the person is here.
            let _ = media.commands.send(MediaCommand::Flush);
            let _ = media.commands.send(MediaCommand::Bridge(Some(caller_port)));
            brain
                .log(
                    "call.bridge_started",
                    json!({"agent": agent.agent, "agent_id": agent.agent_id,
                           "agent_call_id": agent.leg.call_id, "agent_uri": agent.leg.remote_uri,
                           "agent_codec": agent.codec.name(), "at_ms": clock()}),
                )
                .await;
            w.bridged = Some(Bridged {
                leg: agent.leg,
                media: agent_media,
                agent: agent.agent,
                agent_id: agent.agent_id,
                since: Instant::now(),
                leg_ended: false,
                media_open: true,
            });
        }
        Some(HandoffEvent::Say(text)) => {
            if w.bridged.is_none() && after.is_none() {
                let id = *next_say;
                *next_say += 1;
                w.hold_ids.insert(id);
                let _ = media.commands.send(MediaCommand::Say {
                    id,
                    text: text.clone(),
                    policy: SayPolicy::Never,
                });
                brain
                    .log(
                        "call.hold_prompt",
                        json!({"id": id, "text": text, "at_ms": clock()}),
                    )
                    .await;
            }
        }
        Some(HandoffEvent::GiveUp { say, reason }) => {
            brain
                .log(
                    "call.handoff_gave_up",
                    json!({"reason": reason, "at_ms": clock()}),
                )
                .await;
            w.end_cause = Some(reason.clone());
            w.events = None;
            if w.bridged.is_some() {
                leg.hangup();
                return;
            }
            if let Some(text) = say.filter(|t| !t.trim().is_empty()) {
                let id = *next_say;
                *next_say += 1;
                pending.insert(id, Said { text: text.clone() });
                let _ = media.commands.send(MediaCommand::Say {
                    id,
                    text,
                    policy: SayPolicy::Never,
                });
            }
            *after = Some(After::Hangup(reason));
        }
        Some(HandoffEvent::End { reason }) => {
            brain
                .log(
                    "call.handoff_ended",
                    json!({"reason": reason, "at_ms": clock()}),
                )
                .await;
            w.end_cause.get_or_insert(reason);
            leg.hangup();
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn on_media<B: Brain>(
    ev: MediaEvent,
    brain: &mut B,
    pending: &mut HashMap<u64, Said>,
    summary: &mut CallSummary,
    caller_speaking: &mut bool,
    silence_deadline: &mut Option<Instant>,
    last_final_end: &mut Option<u64>,
    _clock: &impl Fn() -> u64,
) -> Option<EventKind> {
    match ev {
        MediaEvent::SpeechStarted { at_ms } => {
            *caller_speaking = true;
            *silence_deadline = None;
            brain
                .log("call.speech_started", json!({"at_ms": at_ms}))
                .await;
            Some(EventKind::UserStartedSpeaking)
        }
        MediaEvent::BargeIn {
            onset_ms,
            at_ms,
            cut,
        } => {
            summary.barge_ins += 1;
            let cut_json: Vec<serde_json::Value> = cut
                .iter()
                .map(|(id, played_ms)| {
                    let text = pending.remove(id).map(|s| s.text).unwrap_or_default();
                    json!({"text": text, "played_ms": played_ms})
                })
                .collect();
            brain
                .log(
                    "call.barge_in",
                    json!({"onset_ms": onset_ms, "flushed_at_ms": at_ms, "cut": cut_json}),
                )
                .await;
            // The core hears it as speech starting; it flushes its own record of what was said.
            Some(EventKind::PlaybackFinished)
        }
        MediaEvent::Final {
            text,
            confidence,
            start_ms,
            end_ms,
            at_ms,
        } => {
            *caller_speaking = false;
            summary.utterances += 1;
            *last_final_end = Some(end_ms);
            brain
                .log(
                    "call.utterance",
                    json!({"text": text, "confidence": confidence, "start_ms": start_ms, "end_ms": end_ms, "recognised_at_ms": at_ms}),
                )
                .await;
            if text.trim().is_empty() {
                return None;
            }
            Some(EventKind::UserSaid {
                text,
                confidence,
                is_final: true,
            })
        }
        MediaEvent::Backchannel { text } => {
            *caller_speaking = false;
            brain.log("call.backchannel", json!({"text": text})).await;
            None
        }
        MediaEvent::AsrFailed { error } => {
            *caller_speaking = false;
            brain.log("call.asr_failed", json!({"error": error})).await;
            None
        }
        MediaEvent::Dtmf { digit, at_ms } => {
            summary.dtmf.push(digit);
            // A key press is a turn too: its reply's latency is logged like speech's.
            *last_final_end = Some(at_ms);
            brain
                .log(
                    "call.dtmf",
                    json!({"digit": digit.to_string(), "via": "rfc4733", "at_ms": at_ms}),
                )
                .await;
            Some(EventKind::Dtmf { digit })
        }
        MediaEvent::SayStarted { id, at_ms } => {
            let mut payload = json!({"id": id, "at_ms": at_ms});
            if let Some(end) = last_final_end.take() {
                // Turn latency: end of the caller's speech → first reply audio out.
                payload["turn_latency_ms"] = json!(at_ms.saturating_sub(end));
            }
            brain.log("call.say_started", payload).await;
            None
        }
        MediaEvent::SayFinished {
            id,
            at_ms,
            played_ms,
        } => {
            let text = pending.remove(&id).map(|s| s.text).unwrap_or_default();
            brain
                .log(
                    "call.say_finished",
                    json!({"id": id, "text": text, "at_ms": at_ms, "played_ms": played_ms}),
                )
                .await;
            pending.is_empty().then_some(EventKind::PlaybackFinished)
        }
        MediaEvent::Flushed { cut } => {
            let cut_json: Vec<serde_json::Value> = cut
                .iter()
                .map(|(id, played_ms)| {
                    let text = pending.remove(id).map(|s| s.text).unwrap_or_default();
                    json!({"text": text, "played_ms": played_ms})
                })
                .collect();
            brain
                .log("call.prompts_stopped", json!({"cut": cut_json}))
                .await;
            // The core asked for the stop; it already knows playback ended.
            None
        }
        MediaEvent::SayFailed { id, error } => {
            let text = pending.remove(&id).map(|s| s.text).unwrap_or_default();
            brain
                .log(
                    "call.say_failed",
                    json!({"id": id, "text": text, "error": error}),
                )
                .await;
            pending.is_empty().then_some(EventKind::PlaybackFinished)
        }
        // Handled by the loop (it ends the call).
        MediaEvent::RtpTimeout { .. } => None,
    }
}

/// The hang-up cause as logged (for callers building their own records).
pub fn cause_name(c: &HangupCause) -> &'static str {
    c.as_str()
}
