//! The web chat channel: a WebSocket per visitor tab, and the widget script
//! a company puts on its pages.
//!
//! Protocol (JSON text frames):
//! - server → client: `{"type":"welcome","visitor","conversation"}` once per
//!   connection; `{"type":"message","seq","from":"robot"|"customer","text","client_id"?}`
//!   for every line of the transcript (`from` may also be `"agent"`);
//!   `{"type":"show","seq","links":[{"title","url"}],"images":[url]}` for the rich
//!   parts of a knowledge-base answer; `{"type":"options","seq","options":[text]}`
//!   for quick-reply buttons (until the customer's next message);
//!   `{"type":"typing"}` while an answer is being prepared;
//!   `{"type":"ack","client_id","seq","duplicate"}` when a customer message is
//!   logged; `{"type":"ended","seq"}`; `{"type":"error","message","message_en"}`.
//! - client → server: `{"type":"message","client_id","text"}`.
//!
//! Nothing is lost or doubled across reconnects because the transcript is
//! the conversation's event log: a reconnecting client says which sequence
//! number it saw last (`?after=N`) and receives exactly what came after, and
//! a resent message (same `client_id`) is acknowledged without a second turn.
//! The visitor token (kept by the browser) is the only key to a visitor's
//! conversation; only its hash is stored.

use std::collections::HashMap;

use futures_util::SinkExt;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dialog::EventKind;
use serde::Deserialize;
use serde_json::{Value, json};
use store::Conversation;

use crate::accounts;
use crate::bots::{self, NewHosted};
use crate::error::ApiError;
use crate::routes::channels::WebSettings;
use crate::state::AppState;

/// The channel name of conversations that come from web chat.
pub const CHANNEL: &str = "web";
/// Longest customer message, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Largest frame accepted from a browser.
const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Messages a visitor may send in a burst, then per second: far above any
/// human's typing, far below what would let one tab flood the log.
const BURST: f64 = 10.0;
const PER_SECOND: f64 = 2.0;

async fn web_channel(
    state: &AppState,
    tenant: &str,
    name: &str,
) -> Option<(String, store::Channel, WebSettings)> {
    crate::routes::channels::find(state, tenant, name, "web").await
}

fn visitor_ref(visitor: &str) -> String {
    format!("visitor:{}", &accounts::secret_hash(visitor)[..32])
}

fn valid_visitor(v: &str) -> bool {
    (20..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /channels/web/{tenant}/{channel}/ws?visitor=&after=`
pub async fn connect(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    client: crate::auth::ClientInfo,
) -> Response {
    let Some((tenant_id, channel, settings)) = web_channel(&state, &tenant, &name).await else {
        return ApiError::not_found("聊天渠道", "chat channel").into_response();
    };
    if !settings.allowed_origins.is_empty() {
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !settings.allowed_origins.iter().any(|o| o == origin) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "该网页不允许打开此聊天",
                "this page may not open this chat",
            )
            .into_response();
        }
    }
    let visitor = match params.get("visitor") {
        Some(v) if valid_visitor(v) => v.clone(),
        Some(_) => {
            return ApiError::bad_request("visitor 无效", "invalid visitor token").into_response();
        }
        None => {
            // A new visitor starts a conversation: bounded per address, so a
            // script cannot fill the database through a public page.
            if let Some(ip) = client.ip
                && let Err(wait) = state.check_new_visitor_rate(ip)
            {
                return ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_visitors",
                    format!("新会话过于频繁，请 {wait} 秒后再试"),
                    format!("too many new chats from this address; try again in {wait} s"),
                )
                .with_retry_after(wait)
                .into_response();
            }
            accounts::random_secret(24)
        }
    };
    let after = params
        .get("after")
        .and_then(|a| a.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    // Chat frames are small: 4 KiB buffers instead of the 128 KiB defaults
    // keep an idle conversation's socket cheap (they grow when a frame needs it).
    ws.max_message_size(MAX_FRAME_BYTES)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .on_upgrade(move |socket| async move {
            let mut session = Session {
                state,
                tenant_id,
                channel,
                settings,
                visitor,
                socket,
                allowance: (BURST, std::time::Instant::now()),
            };
            if let Err(e) = session.run(after).await {
                tracing::debug!(error = %e, "web chat session ended");
            }
        })
        .into_response()
}

struct Session {
    state: AppState,
    tenant_id: String,
    channel: store::Channel,
    settings: WebSettings,
    visitor: String,
    socket: WebSocket,
    /// Token bucket: messages left, and when it was last refilled.
    allowance: (f64, std::time::Instant),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Message { client_id: String, text: String },
    Ping,
}

impl Session {
    /// Queues a frame; frames go out together when the connection next
    /// waits for the visitor (one write for a whole turn, not one per line).
    async fn send(&mut self, v: Value) -> Result<(), axum::Error> {
        self.socket.feed(Message::Text(v.to_string().into())).await
    }

    /// Takes one message from the bucket; `false` when the visitor is too fast.
    fn allow_message(&mut self) -> bool {
        let (left, since) = self.allowance;
        let now = std::time::Instant::now();
        let left = (left + now.duration_since(since).as_secs_f64() * PER_SECOND).min(BURST);
        if left < 1.0 {
            self.allowance = (left, now);
            return false;
        }
        self.allowance = (left - 1.0, now);
        true
    }

    async fn error(&mut self, zh: &str, en: &str) -> Result<(), axum::Error> {
        self.send(json!({ "type": "error", "message": zh, "message_en": en }))
            .await
    }

    fn start(&self) -> NewHosted<'_> {
        NewHosted {
            tenant_id: &self.tenant_id,
            channel: CHANNEL,
            external_ref: None,
            metadata: json!({ "web": { "channel": self.channel.name } }),
            script: &self.settings.script,
            knowledge_base: self.settings.knowledge_base.as_deref(),
            contact: Default::default(),
            humans_available: crate::routes::channels::within_hours(
                &self.settings.business_hours,
                &self.state.wall_time(),
            ),
            offline_message: self.settings.offline_message.clone(),
            identity: Some((store::IdentityKind::Web, visitor_ref(&self.visitor))),
        }
    }

    async fn new_conversation(&mut self) -> Result<Conversation, ApiError> {
        let reference = visitor_ref(&self.visitor);
        let (conversation, _) = bots::start_hosted(
            &self.state,
            NewHosted {
                external_ref: Some(&reference),
                ..self.start()
            },
        )
        .await?;
        Ok(conversation)
    }

    /// Sends the transcript after `after` (but not the entry `skip`: the
    /// visitor's own message, which their page already shows); returns the
    /// last sequence number sent.
    async fn replay(
        &mut self,
        conversation: &Conversation,
        after: i64,
        skip: Option<i64>,
    ) -> Result<i64, axum::Error> {
        let records = match self
            .state
            .store()
            .events(&self.tenant_id, &conversation.id, after, 10_000)
            .await
        {
            Ok(Some(r)) => r,
            _ => return Ok(after),
        };
        let mut last = after;
        for r in records {
            last = r.seq;
            if Some(r.seq) == skip {
                continue;
            }
            if let Some(line) = client_frame(r.seq, &r.kind, &r.payload) {
                self.send(line).await?;
            }
        }
        Ok(last)
    }

    async fn run(&mut self, after: i64) -> Result<(), axum::Error> {
        let reference = visitor_ref(&self.visitor);
        let existing = self
            .state
            .store()
            .latest_conversation_by_ref(&self.tenant_id, CHANNEL, &reference)
            .await
            .ok()
            .flatten();
        let mut conversation = match existing {
            Some(c) => c,
            None => match self.new_conversation().await {
                Ok(c) => c,
                Err(e) => return self.error(&e.message, &e.message_en).await,
            },
        };
        let visitor = self.visitor.clone();
        self.send(
            json!({ "type": "welcome", "visitor": visitor, "conversation": conversation.id }),
        )
        .await?;
        // Others write to this conversation too (an agent, the queue):
        // a wake-up on every commit, then the log is read from `last`.
        let mut woken = self.state.bots().subscribe(&conversation.id);
        let mut last = self.replay(&conversation, after, None).await?;

        loop {
            self.socket.flush().await?;
            enum Wake {
                Frame(Option<Result<Message, axum::Error>>),
                Log { lost: bool },
            }
            let wake = tokio::select! {
                frame = self.socket.recv() => Wake::Frame(frame),
                changed = woken.changed() => Wake::Log { lost: changed.is_err() },
            };
            let frame = match wake {
                Wake::Frame(frame) => frame,
                Wake::Log { lost } => {
                    if lost {
                        woken = self.state.bots().subscribe(&conversation.id);
                    }
                    last = self.replay(&conversation, last, None).await?;
                    continue;
                }
            };
            let Some(frame) = frame else {
                break;
            };
            let text = match frame? {
                Message::Text(t) => t,
                Message::Close(_) => break,
                _ => continue,
            };
            let Ok(frame) = serde_json::from_str::<ClientFrame>(&text) else {
                self.error("无法识别的消息", "unrecognised frame").await?;
                continue;
            };
            let (client_id, text) = match frame {
                ClientFrame::Ping => {
                    self.send(json!({ "type": "pong" })).await?;
                    continue;
                }
                ClientFrame::Message { client_id, text } => (client_id, text),
            };
            if !self.allow_message() {
                let refusal = json!({
                    "type": "error", "code": "too_fast", "client_id": client_id,
                    "message": "发送太快了，请稍后再发", "message_en": "too many messages; wait a moment",
                });
                self.send(refusal).await?;
                continue;
            }
            if client_id.is_empty() || client_id.len() > 64 {
                self.error(
                    "client_id 应为 1 到 64 个字符",
                    "client_id is 1-64 characters",
                )
                .await?;
                continue;
            }
            let text = text.trim().to_string();
            if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
                self.error("消息应为 1 到 2000 个字", "a message is 1-2000 characters")
                    .await?;
                continue;
            }
            self.send(json!({ "type": "typing" })).await?;
            self.socket.flush().await?;
            // The delivery record and the turn share one commit: a resent
            // message is acknowledged, never answered twice, never lost.
            let key = format!("{}:{client_id}", reference);
            let channel_id = self.channel.id.clone();
            let delivery = Some((channel_id.as_str(), key.as_str()));
            let said = || EventKind::UserSaid {
                text: text.clone(),
                confidence: 1.0,
                is_final: true,
            };
            let mut turn =
                bots::continue_hosted_once(&self.state, &conversation, said(), delivery).await;
            if matches!(&turn, Err(e) if e.status == StatusCode::CONFLICT) {
                // The last conversation ended: this message begins a new one.
                match self.new_conversation().await {
                    Ok(c) => {
                        conversation = c;
                        let id = conversation.id.clone();
                        self.send(
                            json!({ "type": "welcome", "visitor": visitor, "conversation": id }),
                        )
                        .await?;
                        woken = self.state.bots().subscribe(&conversation.id);
                        last = self.replay(&conversation, 0, None).await?;
                        turn = bots::continue_hosted_once(
                            &self.state,
                            &conversation,
                            said(),
                            delivery,
                        )
                        .await;
                    }
                    Err(e) => turn = Err(e),
                }
            }
            let turn = match turn {
                Ok(Some(t)) => Ok(t),
                Ok(None) => {
                    self.send(json!({ "type": "ack", "client_id": client_id, "duplicate": true }))
                        .await?;
                    continue;
                }
                Err(e) => Err(e),
            };
            match turn {
                Ok(turn) => {
                    self.send(json!({ "type": "ack", "client_id": client_id, "seq": turn.first_seq, "duplicate": false })).await?;
                    if turn.first_seq != last + 1 {
                        // Someone else wrote in between: read it all from the
                        // log, in order (without echoing the visitor's message).
                        last = self
                            .replay(&conversation, last, Some(turn.first_seq))
                            .await?;
                        continue;
                    }
                    let mut seq = turn.first_seq;
                    last = turn.first_seq + turn.actions.len() as i64;
                    for action in &turn.actions {
                        seq += 1;
                        let Ok(payload) = serde_json::to_value(action) else {
                            continue;
                        };
                        let kind = bots::kind_of(bots::ACTION_PREFIX, &payload);
                        if let Some(line) = client_frame(seq, &kind, &payload) {
                            self.send(line).await?;
                        }
                    }
                    // Our own commit woke us: no need to read it back, unless
                    // something came after it.
                    if *woken.borrow_and_update() > last {
                        last = self.replay(&conversation, last, None).await?;
                    }
                }
                Err(e) => self.error(&e.message, &e.message_en).await?,
            }
        }
        Ok(())
    }
}

/// What the widget is sent for one log entry, the same live and on replay;
/// `None` for entries it does not show (traces, tags, timers, ...).
fn client_frame(seq: i64, kind: &str, payload: &serde_json::Value) -> Option<serde_json::Value> {
    let message = |from: &str| json!({ "type": "message", "seq": seq, "from": from, "text": payload["text"] });
    Some(match kind {
        "action.say" => message("robot"),
        "event.user_said" => message("customer"),
        "event.agent_said" => message("agent"),
        "event.agent_joined" => {
            json!({ "type": "agent_joined", "seq": seq, "agent": payload["agent"] })
        }
        "handoff.queued" => json!({ "type": "queued", "seq": seq, "ahead": payload["ahead"] }),
        "handoff.closed" => json!({ "type": "ended", "seq": seq }),
        "action.show" => json!({
            "type": "show", "seq": seq,
            "links": payload.get("links").cloned().unwrap_or_else(|| json!([])),
            "images": payload.get("images").cloned().unwrap_or_else(|| json!([])),
        }),
        "action.offer" => json!({ "type": "options", "seq": seq, "options": payload["options"] }),
        // The ending is shown where it happens; the seq is the hang-up's.
        "action.hangup" => json!({ "type": "ended", "seq": seq }),
        _ => return None,
    })
}

/// `GET /channels/web/{tenant}/{channel}/widget.js`: the embeddable widget,
/// configured for this channel.
pub async fn widget(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
) -> Response {
    let Some((_, _, settings)) = web_channel(&state, &tenant, &name).await else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            "/* no such chat channel */",
        )
            .into_response();
    };
    let config = json!({
        "path": format!("/channels/web/{tenant}/{name}/ws"),
        "title": settings.title,
        "colour": settings.colour,
        "storageKey": format!("tonghua:{tenant}:{name}"),
    });
    let body = include_str!("../widget.js").replace("__TONGHUA_CONFIG__", &config.to_string());
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}
