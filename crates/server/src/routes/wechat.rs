//! The WeChat official-account webhook: `/channels/wechat/{tenant}/{channel}`.
//!
//! WeChat, not a signed-in user, calls it; every request is checked for its
//! signature (and decrypted in safe mode) before anything in it is used, and
//! each delivery is acted on once however often WeChat retries it. A
//! follower (openid) is one conversation with the channel's script until it
//! ends; the robot's words go back as the passive reply, within WeChat's
//! five seconds (the core answers in microseconds).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use dialog::EventKind;
use serde_json::json;
use wechat::message::{Event, Incoming, Reply};
use wechat::{WeChatError, endpoint};

use crate::bots::{self, NewHosted};
use crate::error::ApiError;
use crate::routes::channels::WeChatSettings;
use crate::state::AppState;

/// Said when a message could not be answered.
const BUSY: &str = "抱歉，系统繁忙，请稍后再试。";

/// The channel name of conversations that come from WeChat.
pub const CHANNEL: &str = "wechat";

/// Plain-text answers: WeChat shows nothing to followers, operators read logs.
fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

fn refuse(err: &WeChatError) -> Response {
    tracing::warn!(error = %err, "refused a WeChat request");
    metrics::counter!("tonghua_wechat_refused_total").increment(1);
    match err {
        WeChatError::BadSignature | WeChatError::Stale(_) => {
            text(StatusCode::FORBIDDEN, "forbidden")
        }
        WeChatError::TooLarge(_) => text(StatusCode::PAYLOAD_TOO_LARGE, "too large"),
        WeChatError::MissingParameter(_) => text(StatusCode::BAD_REQUEST, err.to_string()),
        _ => text(StatusCode::BAD_REQUEST, "bad request"),
    }
}

async fn channel(
    state: &AppState,
    tenant: &str,
    name: &str,
) -> Option<(String, store::Channel, WeChatSettings)> {
    crate::routes::channels::find(state, tenant, name, "wechat").await
}

fn query(params: &HashMap<String, String>) -> endpoint::Query {
    endpoint::Query::from_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// `GET`: the URL check WeChat makes when the address is saved.
pub async fn verify(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some((_, _, settings)) = channel(&state, &tenant, &name).await else {
        return text(StatusCode::NOT_FOUND, "no such channel");
    };
    let result = settings
        .endpoint()
        .and_then(|e| e.verify_url(&query(&params)));
    match result {
        Ok(echo) => text(StatusCode::OK, echo),
        Err(e) => refuse(&e),
    }
}

/// `POST`: a message or event from a follower.
pub async fn receive(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let Some((tenant_id, channel, settings)) = channel(&state, &tenant, &name).await else {
        return text(StatusCode::NOT_FOUND, "no such channel");
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return refuse(&WeChatError::Xml("not UTF-8".into()));
    };
    let endpoint = match settings.endpoint() {
        Ok(e) => e,
        Err(e) => return refuse(&e),
    };
    let q = query(&params);
    let now_ms = state.now_ms();
    let opened = match endpoint.open(&q, body, now_ms / 1000) {
        Ok(o) => o,
        Err(e) => return refuse(&e),
    };
    let answered = match answer_within_window(
        &state,
        &tenant_id,
        &channel,
        &settings,
        &opened.message,
    )
    .await
    {
        Some(answer) => answer,
        // Too slow for WeChat's window: let the request go; the answer
        // follows through the customer-service API.
        None => return text(StatusCode::OK, wechat::message::NO_REPLY),
    };
    let reply = match answered {
        Ok(Answer::Say(words)) => Reply::Text(words),
        Ok(Answer::Nothing) => Reply::Nothing,
        // A retry of something already answered: acknowledge, do nothing.
        Ok(Answer::Duplicate) => return text(StatusCode::OK, wechat::message::NO_REPLY),
        Err(e) => {
            tracing::error!(code = e.code, message = %e.message_en, "WeChat message could not be answered");
            Reply::Text(BUSY.to_string())
        }
    };
    metrics::counter!("tonghua_wechat_messages_total").increment(1);
    let rendered = reply.render(&opened.message, now_ms / 1000);
    let timestamp = (now_ms / 1000).to_string();
    let nonce = format!("{}", u32::from_le_bytes(random::<4>()));
    match endpoint.seal(&opened, &rendered, &timestamp, &nonce, random::<16>()) {
        Ok(out) => {
            let kind = if out == wechat::message::NO_REPLY {
                "text/plain; charset=utf-8"
            } else {
                "application/xml; charset=utf-8"
            };
            (StatusCode::OK, [(header::CONTENT_TYPE, kind)], out).into_response()
        }
        Err(e) => refuse(&e),
    }
}

/// Runs the turn in its own task and waits for it at most the channel's
/// reply window. `None` when the window passed: the task then delivers its
/// answer itself through the customer-service API. Nothing is lost and
/// nothing runs twice: the delivery is recorded with the turn, so WeChat's
/// retry of this message is a duplicate.
async fn answer_within_window(
    state: &AppState,
    tenant_id: &str,
    channel: &store::Channel,
    settings: &WeChatSettings,
    message: &Incoming,
) -> Option<Result<Answer, ApiError>> {
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let (state_, tenant_id, channel, settings_, message) = (
        state.clone(),
        tenant_id.to_string(),
        channel.clone(),
        settings.clone(),
        message.clone(),
    );
    tokio::spawn(async move {
        let key = message.dedup_key();
        let answer = respond(&state_, &tenant_id, &channel, &settings_, &message, &key).await;
        // Err: the webhook stopped waiting, so the answer goes out by API
        // (a failed turn too: WeChat will not retry a request we let go).
        let late = match tx.send(answer) {
            Ok(()) => None,
            Err(Ok(Answer::Say(words))) => Some(words),
            Err(Ok(_)) => None,
            Err(Err(e)) => {
                tracing::error!(code = e.code, message = %e.message_en, "late WeChat message could not be answered");
                Some(BUSY.to_string())
            }
        };
        if let Some(words) = late {
            let openid = &message.common().from_user;
            let now_s = state_.now_ms() / 1000;
            match state_
                .wechat()
                .send_text(&settings_, openid, &words, now_s)
                .await
            {
                Ok(()) => metrics::counter!("tonghua_wechat_late_replies_total").increment(1),
                Err(e) => {
                    metrics::counter!("tonghua_wechat_late_reply_failures_total").increment(1);
                    tracing::error!(error = %e, channel = %channel.name, "late WeChat answer could not be sent");
                }
            }
        }
    });
    // WeChat gives up at 5 s; leave room for the network.
    let window = Duration::from_millis(settings.reply_window_ms.clamp(100, 4500));
    match tokio::time::timeout(window, &mut rx).await {
        Ok(Ok(answer)) => Some(answer),
        Ok(Err(_)) => Some(Err(ApiError::internal())),
        Err(_) => {
            // Closing first makes the task's send fail from here on; an
            // answer that slipped in just before is still used.
            rx.close();
            rx.try_recv().ok()
        }
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::fill(&mut b[..]);
    b
}

/// The robot's turn as WeChat text: what it says, the links of a rich
/// answer as `title：url` lines (WeChat makes them tappable), and the quick
/// replies as a hint of what one can answer (text replies have no buttons).
fn lines(actions: &[dialog::Action]) -> Vec<String> {
    let mut out = Vec::new();
    for a in actions {
        match a {
            dialog::Action::Say { text, .. } => out.push(text.clone()),
            dialog::Action::Show { links, .. } => {
                out.extend(links.iter().map(|l| format!("{}：{}", l.title, l.url)));
            }
            dialog::Action::Offer { options } => {
                out.push(format!("您可以回复：{}", options.join(" / ")));
            }
            _ => {}
        }
    }
    out
}

/// What the webhook answers a delivery with.
enum Answer {
    /// The robot's words, as the passive reply.
    Say(String),
    /// Nothing to say (an event that needs no answer).
    Nothing,
    /// WeChat's retry of a delivery already acted on.
    Duplicate,
}

impl Answer {
    fn of(words: Vec<String>) -> Answer {
        if words.is_empty() {
            Answer::Nothing
        } else {
            Answer::Say(words.join("\n"))
        }
    }
}

/// Runs the message through the follower's conversation; returns what the
/// robot says, if anything.
///
/// Every delivery that changes a conversation is recorded in the same commit
/// as the turn it causes (`*_once`), so a turn that fails leaves no record and
/// WeChat's retry is acted on; a cheap look-up first answers ordinary retries
/// before any work is done.
async fn respond(
    state: &AppState,
    tenant_id: &str,
    channel: &store::Channel,
    settings: &WeChatSettings,
    message: &Incoming,
    key: &str,
) -> Result<Answer, ApiError> {
    let openid = message.common().from_user.clone();
    let delivery = Some((channel.id.as_str(), key));
    // A menu button the channel maps to words counts as the follower saying them.
    let menu_words = match message {
        Incoming::Event {
            event: Event::Click { key },
            ..
        } => settings.menu.get(key).cloned(),
        _ => None,
    };
    let stateful = menu_words.is_some()
        || matches!(
            message,
            Incoming::Text { .. }
                | Incoming::Voice {
                    recognition: Some(_),
                    ..
                }
                | Incoming::Event {
                    event: Event::Subscribe { .. } | Event::Unsubscribe,
                    ..
                }
        );
    if stateful && state.store().delivery_seen(&channel.id, key).await? {
        return Ok(Answer::Duplicate);
    }
    let start = |contact_openid: String| NewHosted {
        tenant_id,
        channel: CHANNEL,
        external_ref: None,
        metadata: json!({ "wechat": { "channel": channel.name, "openid": contact_openid } }),
        script: &settings.script,
        knowledge_base: settings.knowledge_base.as_deref(),
        contact: [("openid".to_string(), contact_openid.clone())]
            .into_iter()
            .collect(),
        humans_available: crate::routes::channels::within_hours(
            &settings.business_hours,
            &state.wall_time(),
        ),
        offline_message: settings.offline_message.clone(),
        identity: Some((store::IdentityKind::Wechat, contact_openid)),
    };
    match message {
        Incoming::Event {
            event: Event::Subscribe { .. },
            ..
        } => {
            let (_, turn) = bots::start_hosted_once(
                state,
                NewHosted {
                    external_ref: Some(&openid),
                    ..start(openid.clone())
                },
                delivery,
            )
            .await?;
            Ok(match turn {
                Some(turn) => Answer::of(lines(&turn.actions)),
                None => Answer::Duplicate,
            })
        }
        Incoming::Event {
            event: Event::Unsubscribe,
            ..
        } => {
            if let Some(c) = state
                .store()
                .latest_conversation_by_ref(tenant_id, CHANNEL, &openid)
                .await?
            {
                // Ending an already ended conversation is refused; nothing to do then.
                let _ = bots::continue_hosted_once(state, &c, EventKind::Hangup, delivery).await;
            }
            Ok(Answer::Nothing)
        }
        Incoming::Event { .. } if menu_words.is_none() => Ok(Answer::Nothing),
        Incoming::Voice {
            recognition: None, ..
        } => Ok(Answer::Say(
            "抱歉，没有听清您的语音，请发送文字消息。".to_string(),
        )),
        Incoming::Image { .. } | Incoming::Other { .. } => Ok(Answer::Say(
            "抱歉，我目前只能处理文字和语音消息，请用文字描述您的问题。".to_string(),
        )),
        Incoming::Text { .. } | Incoming::Voice { .. } | Incoming::Event { .. } => {
            let said = menu_words
                .as_deref()
                .or(message.said())
                .unwrap_or_default()
                .chars()
                .take(1000)
                .collect::<String>();
            let user_said = || EventKind::UserSaid {
                text: said.clone(),
                confidence: 1.0,
                is_final: true,
            };
            let mut greeting = Vec::new();
            let existing = state
                .store()
                .latest_conversation_by_ref(tenant_id, CHANNEL, &openid)
                .await?;
            let continued = match existing {
                Some(c) => match bots::continue_hosted_once(state, &c, user_said(), delivery).await
                {
                    Ok(Some(turn)) => Some(turn),
                    Ok(None) => return Ok(Answer::Duplicate),
                    // That conversation has ended: a new message begins a new one.
                    Err(e) if e.status == StatusCode::CONFLICT => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            let answer = match continued {
                Some(turn) => Some(turn),
                None => {
                    restart(
                        state,
                        start(openid.clone()),
                        &openid,
                        &mut greeting,
                        user_said(),
                        delivery,
                    )
                    .await?
                }
            };
            match answer {
                Some(answer) => greeting.extend(lines(&answer.actions)),
                None => return Ok(Answer::Duplicate),
            }
            Ok(Answer::of(greeting))
        }
    }
}

/// Starts a new conversation for a follower and hands it their message;
/// the greeting words go into `greeting`.
async fn restart(
    state: &AppState,
    new: NewHosted<'_>,
    openid: &str,
    greeting: &mut Vec<String>,
    said: EventKind,
    delivery: Option<(&str, &str)>,
) -> Result<Option<bots::TurnResult>, ApiError> {
    let (conversation, start) = bots::start_hosted(
        state,
        NewHosted {
            external_ref: Some(openid),
            ..new
        },
    )
    .await?;
    greeting.extend(lines(&start.actions));
    bots::continue_hosted_once(state, &conversation, said, delivery).await
}
