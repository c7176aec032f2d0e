//! Handing a phone call to a person, through the robot.
//!
//! When a call's core transfers to a queue that has no configured SIP
//! target, and the tenant has agents, the call goes through the same
//! handoff machinery as chats ([`crate::routes::handoffs`]): a handoff is
//! opened (the console shows it waiting, with its place in the queue), the
//! router gives it to the longest-idle available agent with the skill
//! **whose phone is registered** ([`crate::phones`]), and this module calls
//! that phone. When it answers, `AgentJoined` is logged and the call loop
//! bridges the caller to it ([`call::bridge`]); when it does not, the
//! handoff goes back to the queue, the agent rests for a while and the next
//! one is tried. While waiting, the call loop plays the hold prompt; the
//! script's `transfer_timeout_ms` ends a wait nobody answers (its
//! `transfer_failed` close, then hang-up). When either side hangs up the
//! other is hung up too and the handoff is closed with a disposition
//! (`agent_hangup`, `caller_hangup`, `abandoned`, `transfer_failed`, ...).
//!
//! A configured target URI (`telephony.transfer_targets`) is called the same
//! way when `telephony.transfer_mode = "bridge"` (else it gets a REFER).
//!
//! Everything lands in the conversation's log: `handoff.queued`,
//! `handoff.ringing_agent`, `handoff.agent_no_answer`, `event.agent_joined`,
//! `call.bridge_started`, `call.bridge_ended`, `handoff.closed`.

use std::net::SocketAddr;
use std::time::Duration;

use call::{AgentLeg, HandoffEnd, HandoffEvent};
use serde_json::{Value, json};
use sip::Originate;
use sip::sdp::{self, Codec};
use store::{Conversation, Handoff, HandoffState};
use tokio::sync::{mpsc, oneshot};

use crate::config::TransferMode;
use crate::routes::handoffs;
use crate::state::AppState;
use crate::telephony::Telephony;

/// An agent whose phone did not answer is offered no call for this long.
const REST_AFTER_NO_ANSWER_MS: i64 = 30_000;
/// How often a waiting call re-runs routing (cool-downs end, phones register).
const REROUTE_EVERY: Duration = Duration::from_secs(2);

/// Shortest gap between two announcements of a caller's place in the queue.
const POSITION_EVERY: Duration = Duration::from_secs(15);

/// What to tell a waiting caller about their place, if anything: the first
/// time they are behind someone, then each time they move up (not more
/// often than [`POSITION_EVERY`]). `told` is the last place said and when.
fn position_line(
    template: &str,
    ahead: i64,
    told: &mut Option<(i64, std::time::Instant)>,
    now: std::time::Instant,
) -> Option<String> {
    if template.trim().is_empty() || ahead <= 0 {
        return None;
    }
    let due = match *told {
        None => true,
        Some((last, at)) => ahead < last && now.duration_since(at) >= POSITION_EVERY,
    };
    if !due {
        return None;
    }
    *told = Some((ahead, now));
    Some(template.replace("{ahead}", &ahead.to_string()))
}

/// Decides how the core's transfer to `queue` is carried out on this call:
/// `Some` to wait for (and bridge to) a person, `None` for a blind REFER to
/// a configured target (or, with neither, the call ends).
pub async fn start(
    state: &AppState,
    conversation: &Conversation,
    queue: &str,
    reason: &str,
) -> Option<call::Handoff> {
    let config = state.config().telephony.clone();
    let telephony = state.telephony()?.clone();
    let target = config.transfer_targets.get(queue).cloned().or_else(|| {
        (queue.starts_with("sip:") || queue.starts_with("tel:")).then(|| queue.to_string())
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let (ended_tx, ended_rx) = oneshot::channel();
    let handoff = call::Handoff {
        events: rx,
        ended: ended_tx,
        hold_prompt: config.agent_phones.hold_prompt.clone(),
        hold_every: Duration::from_secs(config.agent_phones.hold_prompt_every_secs.max(1)),
    };
    match target {
        Some(uri) if config.transfer_mode == TransferMode::Bridge => {
            let state = state.clone();
            let conversation = conversation.clone();
            tokio::spawn(async move {
                bridge_to_target(state, telephony, conversation, uri, tx, ended_rx).await
            });
            Some(handoff)
        }
        Some(_) => None,
        None => {
            let tenant = &conversation.tenant_id;
            match state.store().agents(tenant).await {
                Ok(agents) if !agents.is_empty() => {}
                _ => return None,
            }
            let opened = state
                .store()
                .open_handoff(tenant, &conversation.id, queue, reason, state.now_ms())
                .await;
            let row = match opened {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(error = %e, conversation = %conversation.id, "voice handoff could not be opened");
                    return None;
                }
            };
            metrics::counter!("tonghua_handoffs_opened_total").increment(1);
            handoffs::dispatch(state, tenant).await;
            handoffs::tell_position(state, &row).await;
            let state = state.clone();
            tokio::spawn(async move { wait_for_agent(state, telephony, row, tx, ended_rx).await });
            Some(handoff)
        }
    }
}

async fn log(state: &AppState, tenant: &str, conversation: &str, kind: &str, payload: Value) {
    match state
        .store()
        .append_event(tenant, conversation, kind, &payload, state.now_ms())
        .await
    {
        Ok(Some(record)) => state.bots().committed(conversation, record.seq),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, conversation, kind, "handoff event not logged"),
    }
}

/// Calls `target` (a contact URI, sent to `via` when given) and returns the
/// answered leg, or why it was not answered.
async fn dial(
    state: &AppState,
    telephony: &Telephony,
    target: &str,
    via: Option<SocketAddr>,
    agent: String,
    agent_id: Option<String>,
) -> Result<AgentLeg, String> {
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(state.config().sip.ip(), 0))
        .await
        .map_err(|e| format!("no RTP port: {e}"))?;
    let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
    let offer = sdp::build(
        SocketAddr::new(telephony.agent().media_ip(), port),
        rand::random::<u32>().into(),
        1,
        &[Codec::Pcma, Codec::Pcmu],
        Some(101),
    );
    let ring = state.config().telephony.agent_phones.ring_secs.max(1);
    let leg = telephony
        .agent()
        .originate(Originate {
            target: target.to_string(),
            from: format!("sip:tonghua@{}", telephony.local_addr()),
            proxy: via,
            credentials: None,
            offer,
            ring_timeout: Duration::from_secs(ring),
        })
        .await
        .map_err(|e| format!("{} ({})", e.outcome.as_str(), e.detail))?;
    let Some(codec) = leg.remote_media.codecs.first().copied() else {
        leg.hangup();
        return Err("the answer has no codec we offered".into());
    };
    Ok(AgentLeg {
        remote: leg.remote_media.rtp,
        telephone_event: leg.remote_media.telephone_event,
        leg,
        socket,
        codec,
        agent,
        agent_id,
    })
}

/// Bridged transfer to a configured target (issue 5's "bridged transfer").
async fn bridge_to_target(
    state: AppState,
    telephony: Telephony,
    conversation: Conversation,
    target: String,
    tx: mpsc::UnboundedSender<HandoffEvent>,
    ended: oneshot::Receiver<HandoffEnd>,
) {
    let (tenant, id) = (&conversation.tenant_id, &conversation.id);
    log(
        &state,
        tenant,
        id,
        "call.transfer",
        json!({"target": target, "kind": "bridge"}),
    )
    .await;
    match dial(&state, &telephony, &target, None, target.clone(), None).await {
        Ok(leg) => {
            if let Err(mpsc::error::SendError(HandoffEvent::Connect(leg))) =
                tx.send(HandoffEvent::Connect(Box::new(leg)))
            {
                leg.leg.hangup();
            }
        }
        Err(detail) => {
            log(
                &state,
                tenant,
                id,
                "call.transfer_failed",
                json!({"target": target, "detail": detail}),
            )
            .await;
            let say = state.config().telephony.agent_phones.sorry_prompt.clone();
            let _ = tx.send(HandoffEvent::GiveUp {
                say: Some(say),
                reason: "transfer_failed".into(),
            });
        }
    }
    let _ = ended.await;
}

enum Tried {
    Answered(Box<AgentLeg>),
    NotAnswered(String),
    CallerLeft(Option<HandoffEnd>),
}

/// Rings the phone of the agent the handoff was assigned to.
async fn ring_agent(
    state: &AppState,
    telephony: &Telephony,
    h: &Handoff,
    agent_id: &str,
    ended: &mut oneshot::Receiver<HandoffEnd>,
) -> Tried {
    let tenant = &h.tenant_id;
    let Some(phone) = state.phones().phone_of(tenant, agent_id, state.now_ms()) else {
        return Tried::NotAnswered("no registered phone".into());
    };
    let name = match state.store().user(tenant, agent_id).await {
        Ok(Some(u)) => u.display_name,
        _ => agent_id.to_string(),
    };
    log(
        state,
        tenant,
        &h.conversation_id,
        "handoff.ringing_agent",
        json!({"agent_id": agent_id, "agent": name, "sip_username": phone.sip_username,
               "contact": phone.binding.contact}),
    )
    .await;
    let via = (!phone.binding.tcp).then_some(phone.binding.source);
    let mut dialling = {
        let (state, telephony, contact, agent_id) = (
            state.clone(),
            telephony.clone(),
            phone.binding.contact.clone(),
            agent_id.to_string(),
        );
        tokio::spawn(
            async move { dial(&state, &telephony, &contact, via, name, Some(agent_id)).await },
        )
    };
    tokio::select! {
        r = &mut dialling => match r {
            Ok(Ok(leg)) => Tried::Answered(Box::new(leg)),
            Ok(Err(detail)) => Tried::NotAnswered(detail),
            Err(e) => Tried::NotAnswered(format!("dialling failed: {e}")),
        },
        end = &mut *ended => {
            // The caller left while the phone rang: stop it when it answers.
            tokio::spawn(async move {
                if let Ok(Ok(leg)) = dialling.await {
                    leg.leg.hangup();
                }
            });
            Tried::CallerLeft(end.ok())
        }
    }
}

/// The life of a voice handoff to the tenant's agents (see the module doc).
async fn wait_for_agent(
    state: AppState,
    telephony: Telephony,
    handoff: Handoff,
    tx: mpsc::UnboundedSender<HandoffEvent>,
    mut ended: oneshot::Receiver<HandoffEnd>,
) {
    let tenant = handoff.tenant_id.clone();
    let key = handoffs::changes_key(&tenant);
    let mut woken = state.bots().subscribe(&key);
    let position_prompt = state
        .config()
        .telephony
        .agent_phones
        .position_prompt
        .clone();
    let mut told = None;
    loop {
        let current = match state.store().handoff(&tenant, &handoff.id).await {
            Ok(Some(h)) => h,
            _ => handoff.clone(),
        };
        match current.state {
            HandoffState::Closed => {
                // Closed from the console while the caller waits.
                let _ = tx.send(HandoffEvent::GiveUp {
                    say: None,
                    reason: "handoff_closed".into(),
                });
                let _ = ended.await;
                return;
            }
            HandoffState::Assigned => {
                let agent_id = current.agent_id.clone().unwrap_or_default();
                state.phones().set_busy(&tenant, &agent_id, true);
                let tried = ring_agent(&state, &telephony, &current, &agent_id, &mut ended).await;
                if !matches!(tried, Tried::Answered(_)) {
                    state.phones().set_busy(&tenant, &agent_id, false);
                }
                match tried {
                    Tried::Answered(leg) => {
                        // The agent is on the line: the console shows them joined now.
                        if let Err(e) = handoffs::join_voice(&state, &current).await {
                            tracing::info!(code = e.code, conversation = %current.conversation_id, "agent answered after the call ended");
                            leg.leg.hangup();
                            state.phones().set_busy(&tenant, &agent_id, false);
                            let end = ended.await.ok();
                            finish(&state, &current, end).await;
                            return;
                        }
                        if let Err(mpsc::error::SendError(HandoffEvent::Connect(leg))) =
                            tx.send(HandoffEvent::Connect(leg))
                        {
                            leg.leg.hangup();
                        }
                        bridged(&state, &current, &tx, &mut woken, &key, ended).await;
                        state.phones().set_busy(&tenant, &agent_id, false);
                        handoffs::dispatch(&state, &tenant).await;
                        return;
                    }
                    Tried::NotAnswered(detail) => {
                        log(
                            &state,
                            &tenant,
                            &current.conversation_id,
                            "handoff.agent_no_answer",
                            json!({"agent_id": agent_id, "detail": detail}),
                        )
                        .await;
                        tracing::info!(agent = %agent_id, detail, "agent's phone did not answer; back to the queue");
                        state.phones().rest(
                            &tenant,
                            &agent_id,
                            state.now_ms() + REST_AFTER_NO_ANSWER_MS,
                        );
                        if let Err(e) = state
                            .store()
                            .release_handoff(&tenant, &current.id, &agent_id)
                            .await
                        {
                            tracing::error!(error = %e, "handoff not put back in the queue");
                        }
                        handoffs::dispatch(&state, &tenant).await;
                        // Whatever assigns it next (a person in the console), not in a tight loop.
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                    Tried::CallerLeft(end) => {
                        finish(&state, &current, end).await;
                        return;
                    }
                }
            }
            HandoffState::Waiting => {
                if let Ok(ahead) = state.store().queue_position(&current).await
                    && let Some(line) = position_line(
                        &position_prompt,
                        ahead,
                        &mut told,
                        std::time::Instant::now(),
                    )
                {
                    let _ = tx.send(HandoffEvent::Say(line));
                }
            }
        }
        tokio::select! {
            end = &mut ended => {
                finish(&state, &handoff, end.ok()).await;
                return;
            }
            c = woken.changed() => {
                if c.is_err() {
                    woken = state.bots().subscribe(&key);
                }
            }
            _ = tokio::time::sleep(REROUTE_EVERY) => handoffs::dispatch(&state, &tenant).await,
        }
    }
}

/// While bridged: wait for the end; a close from the console ends the call.
async fn bridged(
    state: &AppState,
    h: &Handoff,
    tx: &mpsc::UnboundedSender<HandoffEvent>,
    woken: &mut tokio::sync::watch::Receiver<i64>,
    key: &str,
    mut ended: oneshot::Receiver<HandoffEnd>,
) {
    let mut told = false;
    loop {
        tokio::select! {
            end = &mut ended => {
                finish(state, h, end.ok()).await;
                return;
            }
            c = woken.changed() => {
                if c.is_err() {
                    *woken = state.bots().subscribe(key);
                }
            }
            _ = tokio::time::sleep(REROUTE_EVERY) => {}
        }
        if !told
            && let Ok(Some(now)) = state.store().handoff(&h.tenant_id, &h.id).await
            && now.state == HandoffState::Closed
        {
            told = true;
            let _ = tx.send(HandoffEvent::End {
                reason: "closed_in_console".into(),
            });
        }
    }
}

/// Closes the handoff (if still open) with how the call ended.
async fn finish(state: &AppState, h: &Handoff, end: Option<HandoffEnd>) {
    let end = end.unwrap_or(HandoffEnd {
        cause: "call_gone".into(),
        bridged: false,
        bridged_ms: 0,
        agent_id: None,
    });
    let disposition = match (end.bridged, end.cause.as_str()) {
        (false, "caller_hangup") => "abandoned".to_string(),
        (_, cause) => cause.to_string(),
    };
    let closed = state
        .store()
        .close_handoff(&h.tenant_id, &h.id, &disposition, state.now_ms())
        .await;
    match closed {
        Ok(Some(_)) => {
            log(
                state,
                &h.tenant_id,
                &h.conversation_id,
                "handoff.closed",
                json!({"disposition": disposition, "bridged": end.bridged,
                       "bridged_ms": end.bridged_ms, "agent_id": end.agent_id, "by": "call"}),
            )
            .await;
        }
        Ok(None) => {} // closed already (from the console)
        Err(e) => tracing::error!(error = %e, "voice handoff not closed"),
    }
    handoffs::dispatch(state, &h.tenant_id).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_waiting_caller_hears_their_place_when_it_is_known_and_when_it_improves() {
        let t = "您前面还有{ahead}位";
        let start = Instant::now();
        let mut told = None;
        assert_eq!(
            position_line(t, 0, &mut told, start),
            None,
            "first in line: nothing"
        );
        assert_eq!(
            position_line(t, 3, &mut told, start).as_deref(),
            Some("您前面还有3位")
        );
        assert_eq!(
            position_line(t, 3, &mut told, start + POSITION_EVERY),
            None,
            "unchanged"
        );
        assert_eq!(
            position_line(t, 2, &mut told, start + Duration::from_secs(5)),
            None,
            "too soon"
        );
        assert_eq!(
            position_line(t, 2, &mut told, start + POSITION_EVERY).as_deref(),
            Some("您前面还有2位")
        );
        assert_eq!(
            position_line(t, 4, &mut told, start + 3 * POSITION_EVERY),
            None,
            "never worse news"
        );
        assert_eq!(position_line("", 5, &mut None, start), None, "switched off");
    }
}
