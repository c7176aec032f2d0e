use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

use dialog::EventKind;
use store::NewConversation;

use crate::bots;

use crate::auth::{Caller, Permission};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::valid_name;
use crate::state::AppState;

/// Largest event payload accepted, serialised.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Largest message a customer or agent may send in one turn.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024;

fn conversation_not_found() -> ApiError {
    ApiError::not_found("会话", "conversation")
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub limit: Option<i64>,
    /// Only conversations that have not ended and were active lately, each
    /// with its open handoff (the supervisors' live board).
    #[serde(default)]
    pub live: bool,
    /// With `live`: "lately" is this many seconds (default an hour): a web
    /// visitor who closed the tab without a word never ends the conversation.
    pub active_within_secs: Option<i64>,
}

/// `GET /api/v1/conversations`
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ReadConversations)?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    if !p.live {
        let items = state
            .store()
            .conversations(&caller.tenant_id, limit)
            .await?;
        return Ok(Json(json!({ "conversations": items })));
    }
    let within_ms = p.active_within_secs.unwrap_or(3600).clamp(1, 7 * 86_400) * 1000;
    let items = state
        .store()
        .live_conversations(&caller.tenant_id, state.now_ms() - within_ms, limit)
        .await?;
    let handoffs = state.store().open_handoffs(&caller.tenant_id, 1000).await?;
    let items: Vec<serde_json::Value> = items
        .into_iter()
        .map(|c| {
            let handoff = handoffs.iter().find(|h| h.conversation_id == c.id);
            let mut v = json!(c);
            v["handoff"] = json!(handoff.map(|h| json!({
                "id": h.id, "state": h.state, "queue": h.queue, "agent_id": h.agent_id,
            })));
            v
        })
        .collect();
    Ok(Json(json!({ "conversations": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConversation {
    pub channel: String,
    #[serde(default)]
    pub external_ref: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// Host the conversation with this script (latest version).
    #[serde(default)]
    pub script: Option<String>,
    /// The knowledge base; default: the one the script names.
    #[serde(default)]
    pub knowledge_base: Option<String>,
    /// CRM fields for the script's `{{variables}}`.
    #[serde(default)]
    pub contact: BTreeMap<String, String>,
    #[serde(default = "default_true")]
    pub humans_available: bool,
    /// Said instead of the script's closing words when a person is asked
    /// for and `humans_available` is false.
    #[serde(default)]
    pub offline_message: Option<String>,
    /// Who this is, so their history follows them across channels.
    #[serde(default)]
    pub customer: Option<crate::routes::customers::CustomerKeys>,
}

fn default_true() -> bool {
    true
}

/// `POST /api/v1/conversations`
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateConversation>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WriteConversations)?;
    if !valid_name(&req.channel) {
        return Err(ApiError::bad_request(
            "channel 应为 1 到 64 个字母、数字或 _ . -",
            "channel is 1-64 letters, digits or _ . -",
        ));
    }
    let metadata = req.metadata.unwrap_or_else(|| json!({}));
    if !metadata.is_object() || metadata.to_string().len() > MAX_EVENT_BYTES {
        return Err(ApiError::bad_request(
            "metadata 必须是不超过 64 KB 的 JSON 对象",
            "metadata must be a JSON object of at most 64 KB",
        ));
    }
    crate::routes::channels::check_offline_message(req.offline_message.as_deref())
        .map_err(|(zh, en)| ApiError::bad_request(zh, en))?;
    let mut identities = match &req.customer {
        Some(c) => c.identities()?,
        None => Vec::new(),
    };
    // Recognise the customer by any key already known; only when none is,
    // the first key given creates them.
    for i in 0..identities.len() {
        let (kind, value) = &identities[i];
        if state
            .store()
            .find_customer(&caller.tenant_id, *kind, value)
            .await?
            .is_some()
        {
            identities.swap(0, i);
            break;
        }
    }
    let (conversation, turn) = match &req.script {
        Some(script) => {
            let (c, t) = bots::start_hosted(
                &state,
                bots::NewHosted {
                    tenant_id: &caller.tenant_id,
                    channel: &req.channel,
                    external_ref: req.external_ref.as_deref(),
                    metadata,
                    script,
                    knowledge_base: req.knowledge_base.as_deref(),
                    contact: req.contact,
                    humans_available: req.humans_available,
                    offline_message: req.offline_message.clone(),
                    identity: identities.first().cloned(),
                },
            )
            .await?;
            (c, Some(t))
        }
        None if req.knowledge_base.is_some() => {
            return Err(ApiError::bad_request(
                "指定 knowledge_base 时也需要指定 script",
                "knowledge_base needs a script",
            ));
        }
        None => {
            let c = state
                .store()
                .create_conversation(
                    NewConversation {
                        tenant_id: &caller.tenant_id,
                        channel: &req.channel,
                        external_ref: req.external_ref.as_deref(),
                        metadata: &metadata,
                    },
                    state.now_ms(),
                )
                .await?;
            (
                bots::attach_customer(&state, c, identities.first().cloned()).await?,
                None,
            )
        }
    };
    // The other identities given are the same person: link them, unless one
    // already belongs to someone else (then say so; merging is a person's call).
    if let Some(customer_id) = &conversation.customer_id {
        for (kind, value) in identities.iter().skip(1) {
            state
                .store()
                .link_identity(&caller.tenant_id, customer_id, *kind, value, state.now_ms())
                .await?;
        }
    }
    state
        .audit(
            &caller,
            "conversation.create",
            Some(&conversation.id),
            json!({ "channel": req.channel, "script": req.script, "customer": conversation.customer_id }),
        )
        .await?;
    let mut body = json!(conversation);
    if let Some(turn) = turn {
        body["actions"] = json!(turn.actions);
        body["state"] = json!(turn.state);
    }
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /api/v1/conversations/{id}`
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ReadConversations)?;
    let c = state
        .store()
        .conversation(&caller.tenant_id, &id)
        .await?
        .ok_or_else(conversation_not_found)?;
    Ok(Json(c))
}

#[derive(Debug, Deserialize)]
pub struct EventParams {
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/conversations/{id}/events?after=SEQ`
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<EventParams>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ReadConversations)?;
    let events = state
        .store()
        .events(
            &caller.tenant_id,
            &id,
            p.after.unwrap_or(0),
            p.limit.unwrap_or(1000),
        )
        .await?
        .ok_or_else(conversation_not_found)?;
    Ok(Json(json!({ "events": events })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendEvent {
    pub kind: String,
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// `POST /api/v1/conversations/{id}/events`: durable when answered.
pub async fn append(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<AppendEvent>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WriteConversations)?;
    if !valid_name(&req.kind) {
        return Err(ApiError::bad_request(
            "kind 应为 1 到 64 个字母、数字或 _ . -",
            "kind is 1-64 letters, digits or _ . -",
        ));
    }
    if req.kind.starts_with(bots::EVENT_PREFIX) || req.kind.starts_with(bots::ACTION_PREFIX) {
        return Err(ApiError::bad_request(
            "event.* 和 action.* 由对话引擎写入，请改用 /input 接口",
            "event.* and action.* entries are written by the conversation engine; send input through /input",
        ));
    }
    if req.payload.to_string().len() > MAX_EVENT_BYTES {
        return Err(ApiError::bad_request(
            "payload 不能超过 64 KB",
            "payload may be at most 64 KB",
        ));
    }
    let event = state
        .store()
        .append_event(
            &caller.tenant_id,
            &id,
            &req.kind,
            &req.payload,
            state.now_ms(),
        )
        .await?
        .ok_or_else(conversation_not_found)?;
    metrics::counter!("tonghua_events_appended_total").increment(1);
    state.bots().committed(&id, event.seq);
    state
        .audit(
            &caller,
            "conversation.append_event",
            Some(&id),
            json!({ "seq": event.seq, "kind": event.kind }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(event)))
}

/// What any input from outside must satisfy (`/input` and streams alike).
fn check_input(kind: &EventKind) -> Result<(), ApiError> {
    if matches!(
        kind,
        EventKind::ConversationStarted(_) | EventKind::CallAnswered(_)
    ) {
        return Err(ApiError::bad_request(
            "会话已开始，不能再次开始",
            "the conversation has already started",
        ));
    }
    if let EventKind::UserSaid { text, .. } | EventKind::AgentSaid { text } = kind
        && text.len() > MAX_MESSAGE_BYTES
    {
        return Err(ApiError::bad_request(
            "消息不能超过 4 KB",
            "a message may be at most 4 KB",
        ));
    }
    Ok(())
}

/// `POST /api/v1/conversations/{id}/input`: one event for the conversation's
/// bot (a message, silence, a key press, hang-up, ...). Answers with the
/// robot's actions once they and the event are in the log.
pub async fn input(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(kind): Json<EventKind>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WriteConversations)?;
    check_input(&kind)?;
    let conversation = state
        .store()
        .conversation(&caller.tenant_id, &id)
        .await?
        .ok_or_else(conversation_not_found)?;
    let input_type = serde_json::to_value(&kind)
        .ok()
        .and_then(|v| v.get("type").cloned());
    let turn = bots::continue_hosted(&state, &conversation, kind).await?;
    state
        .audit(
            &caller,
            "conversation.input",
            Some(&id),
            json!({ "type": input_type, "actions": turn.actions.len() }),
        )
        .await?;
    Ok(Json(turn))
}

#[derive(Debug, Deserialize)]
pub struct StreamParams {
    /// Send what comes after this sequence number (0: the whole log).
    pub after: Option<i64>,
}

/// Entries sent per read of the log; a longer backlog goes in several.
const STREAM_BATCH: i64 = 500;

/// How often a live stream reads the log without a wake-up: entries written
/// by another node (or a wake-up lost to a race) arrive within this time.
const STREAM_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /api/v1/conversations/{id}/stream` (WebSocket): the conversation's
/// log from `?after=SEQ`, then every entry as it is committed, as
/// `{"type":"event","seq","at","kind","payload"}` frames. Callers allowed to
/// write may send `{"type":"input","event":{...}}` (the body of `/input`),
/// answered with `{"type":"turn","first_seq","state"}` (the actions arrive as
/// events) or `{"type":"error",...}`.
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<StreamParams>,
    ws: Result<
        axum::extract::ws::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> ApiResult<axum::response::Response> {
    caller.require(Permission::ReadConversations)?;
    let conversation = state
        .store()
        .conversation(&caller.tenant_id, &id)
        .await?
        .ok_or_else(conversation_not_found)?;
    let ws = ws.map_err(|_| crate::routes::not_a_websocket())?;
    let after = p.after.unwrap_or(0).max(0);
    Ok(ws
        .max_message_size(MAX_MESSAGE_BYTES * 4)
        .on_upgrade(move |socket| async move {
            let mut live = LiveStream {
                state,
                caller,
                conversation,
                socket,
            };
            if let Err(e) = live.run(after).await {
                tracing::debug!(error = %e, "conversation stream closed");
            }
        }))
}

struct LiveStream {
    state: AppState,
    caller: Caller,
    conversation: store::Conversation,
    socket: axum::extract::ws::WebSocket,
}

impl LiveStream {
    async fn send(&mut self, frame: serde_json::Value) -> Result<(), axum::Error> {
        self.socket
            .send(axum::extract::ws::Message::Text(frame.to_string().into()))
            .await
    }

    async fn error(&mut self, e: &ApiError) -> Result<(), axum::Error> {
        self.send(json!({ "type": "error", "code": e.code, "message": e.message, "message_en": e.message_en }))
            .await
    }

    /// Sends every entry after `last`; returns the new `last`.
    async fn catch_up(&mut self, mut last: i64) -> Result<i64, axum::Error> {
        loop {
            let records = match self
                .state
                .store()
                .events(
                    &self.caller.tenant_id,
                    &self.conversation.id,
                    last,
                    STREAM_BATCH,
                )
                .await
            {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(last),
                Err(e) => {
                    tracing::warn!(error = %e, "stream could not read the log");
                    return Ok(last);
                }
            };
            let full = records.len() as i64 == STREAM_BATCH;
            for r in records {
                last = r.seq;
                self.send(json!({ "type": "event", "seq": r.seq, "at": r.at, "kind": r.kind, "payload": r.payload }))
                    .await?;
            }
            if !full {
                return Ok(last);
            }
        }
    }

    async fn run(&mut self, after: i64) -> Result<(), axum::Error> {
        use axum::extract::ws::Message;
        // Subscribe before the first read, so nothing committed in between is missed.
        let mut woken = self.state.bots().subscribe(&self.conversation.id);
        let mut last = self.catch_up(after).await?;
        loop {
            tokio::select! {
                changed = woken.changed() => {
                    if changed.is_err() {
                        woken = self.state.bots().subscribe(&self.conversation.id);
                    }
                    last = self.catch_up(last).await?;
                }
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => self.input(&text).await?,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                    Some(Ok(_)) => {}
                },
                _ = tokio::time::sleep(STREAM_POLL) => {
                    last = self.catch_up(last).await?;
                }
            }
        }
    }

    async fn input(&mut self, text: &str) -> Result<(), axum::Error> {
        #[derive(Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
        enum Frame {
            Input { event: EventKind },
            Ping,
        }
        let frame = match serde_json::from_str::<Frame>(text) {
            Ok(f) => f,
            Err(e) => {
                let msg = e.to_string();
                return self
                    .error(&ApiError::bad_request(
                        format!("无法识别的消息：{msg}"),
                        format!("unrecognised frame: {msg}"),
                    ))
                    .await;
            }
        };
        let kind = match frame {
            Frame::Ping => return self.send(json!({ "type": "pong" })).await,
            Frame::Input { event } => event,
        };
        if let Err(e) = self.caller.require(Permission::WriteConversations) {
            return self.error(&e).await;
        }
        if let Err(e) = check_input(&kind) {
            return self.error(&e).await;
        }
        let input_type = serde_json::to_value(&kind)
            .ok()
            .and_then(|v| v.get("type").cloned());
        match bots::continue_hosted(&self.state, &self.conversation, kind).await {
            Ok(turn) => {
                let audit = self
                    .state
                    .audit(
                        &self.caller,
                        "conversation.input",
                        Some(&self.conversation.id),
                        json!({ "type": input_type, "actions": turn.actions.len(), "via": "stream" }),
                    )
                    .await;
                if let Err(e) = audit {
                    tracing::error!(code = e.code, "stream input not audited");
                }
                self.send(
                    json!({ "type": "turn", "first_seq": turn.first_seq, "state": turn.state }),
                )
                .await
            }
            Err(e) => self.error(&e).await,
        }
    }
}
