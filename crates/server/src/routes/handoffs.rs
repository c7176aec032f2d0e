//! Humans in the loop: agents' presence, the queues of conversations the
//! robot handed over, and what an agent does with one (take, answer, close)
//! — for every channel at once, because all of it goes through the
//! conversation's log: the customer's channel shows an agent's words the way
//! it shows the robot's.
//!
//! Flow: a turn whose actions include `Transfer` opens a handoff in that
//! queue ([`after_turn`]); [`dispatch`] gives waiting handoffs to the
//! longest-idle available agent with the skill (the store does the routing
//! in one transaction) and tells the engine `AgentJoined`; agents' replies are
//! `AgentSaid` events; closing ends the conversation with a disposition.
//! Consoles follow `/api/v1/handoffs/stream` (a wake-up per change) and a
//! conversation's own stream for its transcript.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use dialog::{Action, EventKind};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{AgentStatus, Handoff, HandoffState};

use crate::auth::{Caller, Permission};
use crate::bots::{self, TurnResult};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::state::AppState;

/// Longest agent message.
const MAX_REPLY_CHARS: usize = 2000;

/// The wake-up key of a tenant's queues (conversation ids are UUIDs, so
/// this cannot collide with one).
pub(crate) fn changes_key(tenant_id: &str) -> String {
    format!("handoffs:{tenant_id}")
}

/// Tells consoles of the tenant that queues or agents changed.
pub(crate) fn changed(state: &AppState, tenant_id: &str) {
    state
        .bots()
        .committed(&changes_key(tenant_id), state.now_ms());
}

/// After any hosted turn: a `Transfer` among its actions puts the
/// conversation in that queue and routes the queue. The turn is already
/// committed, so a failure here is logged, not returned.
pub async fn after_turn(state: &AppState, conversation: &store::Conversation, turn: &TurnResult) {
    if turn.state.ended {
        ended(state, conversation).await;
        return;
    }
    let Some((queue, reason)) = turn.actions.iter().find_map(|a| match a {
        Action::Transfer { queue, reason } => Some((queue.clone(), reason.clone())),
        _ => None,
    }) else {
        return;
    };
    let tenant = &conversation.tenant_id;
    let opened = state
        .store()
        .open_handoff(tenant, &conversation.id, &queue, &reason, state.now_ms())
        .await;
    match opened {
        Ok(handoff) => {
            metrics::counter!("tonghua_handoffs_opened_total").increment(1);
            dispatch(state, tenant).await;
            tell_position(state, &handoff).await;
        }
        Err(e) => {
            tracing::error!(error = %e, conversation = %conversation.id, "handoff could not be opened");
        }
    }
}

/// A conversation ended (the robot closed it when nobody came in time, the
/// customer left): its open handoff, if any, is closed too, so no agent is
/// given a conversation that is over.
async fn ended(state: &AppState, conversation: &store::Conversation) {
    let tenant = &conversation.tenant_id;
    let Ok(Some(open)) = state
        .store()
        .open_handoff_of(tenant, &conversation.id)
        .await
    else {
        return;
    };
    let disposition = match open.state {
        HandoffState::Waiting => "abandoned",
        _ => "ended",
    };
    if let Err(e) = state
        .store()
        .close_handoff(tenant, &open.id, disposition, state.now_ms())
        .await
    {
        tracing::error!(error = %e, "handoff of an ended conversation not closed");
    }
    changed(state, tenant);
}

/// Routes the tenant's waiting conversations to available agents; a phone
/// call only to an agent whose phone is registered (and answered the last
/// call offered), since it will be bridged to that phone.
pub async fn dispatch(state: &AppState, tenant_id: &str) {
    let now = state.now_ms();
    let phones = state.phones();
    let routed = state
        .store()
        .route_waiting_where(tenant_id, now, |h, a| {
            h.channel.as_deref() != Some(crate::telephony::CHANNEL)
                || phones.can_take_call(tenant_id, &a.user_id, now)
        })
        .await;
    let assigned = match routed {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "handoff routing failed");
            return;
        }
    };
    for h in &assigned {
        join(state, h).await;
    }
    changed(state, tenant_id);
}

/// Tells the engine (and so the customer's channel) that an agent took it.
/// A phone call is joined when the agent's phone answers instead
/// ([`join_voice`], from the call's handoff task).
async fn join(state: &AppState, handoff: &Handoff) {
    let Ok(Some(conversation)) = state
        .store()
        .conversation(&handoff.tenant_id, &handoff.conversation_id)
        .await
    else {
        return;
    };
    if conversation.channel == crate::telephony::CHANNEL {
        return;
    }
    if let Err(e) = agent_joined(state, &conversation, handoff).await {
        tracing::warn!(code = e.code, conversation = %conversation.id, "agent_joined not logged");
    }
}

/// `AgentJoined` for a phone call whose agent's phone just answered; an
/// error when the conversation is over (the caller left, the wait timed out).
pub(crate) async fn join_voice(state: &AppState, handoff: &Handoff) -> ApiResult<()> {
    let conversation = state
        .store()
        .conversation(&handoff.tenant_id, &handoff.conversation_id)
        .await?
        .ok_or_else(not_found)?;
    agent_joined(state, &conversation, handoff).await
}

async fn agent_joined(
    state: &AppState,
    conversation: &store::Conversation,
    handoff: &Handoff,
) -> ApiResult<()> {
    let Some(agent_id) = &handoff.agent_id else {
        return Ok(());
    };
    let name = match state.store().user(&handoff.tenant_id, agent_id).await {
        Ok(Some(u)) => u.display_name,
        _ => String::new(),
    };
    bots::continue_hosted(
        state,
        conversation,
        EventKind::AgentJoined { agent: Some(name) },
    )
    .await
    .map(|_| ())
}

/// Logs the waiting customer's place in the queue, so their channel can say it.
pub(crate) async fn tell_position(state: &AppState, handoff: &Handoff) {
    let Ok(Some(current)) = state.store().handoff(&handoff.tenant_id, &handoff.id).await else {
        return;
    };
    if current.state != HandoffState::Waiting {
        return;
    }
    let Ok(ahead) = state.store().queue_position(&current).await else {
        return;
    };
    let payload = json!({ "queue": current.queue, "ahead": ahead });
    if let Ok(Some(record)) = state
        .store()
        .append_event(
            &current.tenant_id,
            &current.conversation_id,
            "handoff.queued",
            &payload,
            state.now_ms(),
        )
        .await
    {
        state.bots().committed(&current.conversation_id, record.seq);
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("转人工会话", "handoff")
}

async fn load(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Handoff> {
    state
        .store()
        .handoff(&caller.tenant_id, id)
        .await?
        .ok_or_else(not_found)
}

/// Only the agent it is assigned to (or a supervisor) may act on a handoff.
fn must_own(caller: &Caller, h: &Handoff) -> ApiResult<()> {
    let mine = h.agent_id.as_deref() == Some(caller.user_id.as_str());
    if h.state == HandoffState::Assigned && (mine || caller.can(Permission::SuperviseHandoffs)) {
        return Ok(());
    }
    Err(ApiError::conflict(
        "该会话不在您的名下（请先接入）",
        "this conversation is not assigned to you (take it first)",
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPresence {
    pub status: AgentStatus,
}

/// `PUT /api/v1/agents/me`: an agent's presence.
pub async fn set_me(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<SetPresence>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WorkHandoffs)?;
    let agent = state
        .store()
        .set_agent(
            &caller.tenant_id,
            &caller.user_id,
            req.status,
            None,
            None,
            state.now_ms(),
        )
        .await?;
    state
        .audit(
            &caller,
            "agent.status",
            Some(&caller.user_id),
            json!({ "status": req.status }),
        )
        .await?;
    if req.status == AgentStatus::Available {
        dispatch(&state, &caller.tenant_id).await;
    } else {
        changed(&state, &caller.tenant_id);
    }
    Ok(Json(agent))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAgent {
    pub status: Option<AgentStatus>,
    /// Queues served; empty: every queue.
    pub skills: Option<Vec<String>>,
    pub max_chats: Option<i64>,
}

/// `PUT /api/v1/agents/{user_id}`: a supervisor sets skills, capacity or presence.
pub async fn set_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    Json(req): Json<SetAgent>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::SuperviseHandoffs)?;
    let user = state
        .store()
        .user(&caller.tenant_id, &user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("用户", "user"))?;
    if let Some(skills) = &req.skills
        && (skills.len() > 20 || skills.iter().any(|s| !crate::routes::valid_queue(s)))
    {
        return Err(ApiError::bad_request(
            "skills 最多 20 个队列名，每个 1 到 64 个字",
            "skills is at most 20 queue names of 1-64 characters",
        ));
    }
    if req.max_chats.is_some_and(|m| !(1..=50).contains(&m)) {
        return Err(ApiError::bad_request(
            "max_chats 应在 1 到 50 之间",
            "max_chats is 1-50",
        ));
    }
    let current = state.store().agent(&caller.tenant_id, &user.id).await?;
    let status = req
        .status
        .or(current.as_ref().map(|a| a.status))
        .unwrap_or(AgentStatus::Away);
    let agent = state
        .store()
        .set_agent(
            &caller.tenant_id,
            &user.id,
            status,
            req.skills.as_deref(),
            req.max_chats,
            state.now_ms(),
        )
        .await?;
    state
        .audit(
            &caller,
            "agent.update",
            Some(&user.id),
            json!({ "status": status, "skills": req.skills, "max_chats": req.max_chats }),
        )
        .await?;
    dispatch(&state, &caller.tenant_id).await;
    Ok(Json(agent))
}

/// `GET /api/v1/agents`: every agent with presence and load, and the queues.
pub async fn agents(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::SuperviseHandoffs)?;
    let agents = state.store().agents(&caller.tenant_id).await?;
    let now = state.now_ms();
    let accounts = state.store().agent_phones(&caller.tenant_id).await?;
    let agents: Vec<Value> = agents
        .iter()
        .map(|a| {
            let mut v = json!(a);
            let account = accounts.iter().find(|p| p.user_id == a.user_id);
            let at = state.phones().phone_of(&caller.tenant_id, &a.user_id, now);
            v["phone"] = json!({
                "sip_username": account.map(|p| p.sip_username.clone()),
                "registered": at.is_some(),
                "contact": at.map(|p| p.binding.contact),
            });
            v
        })
        .collect();
    Ok(Json(json!({ "agents": agents })))
}

/// `GET /api/v1/handoffs`: open handoffs an agent may see (supervisors: all),
/// waiting ones with their place in the queue; queue lengths; one's own presence.
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WorkHandoffs)?;
    let all = state.store().open_handoffs(&caller.tenant_id, 500).await?;
    let me = state
        .store()
        .agent(&caller.tenant_id, &caller.user_id)
        .await?;
    let supervisor = caller.can(Permission::SuperviseHandoffs);
    let skills = me.as_ref().map(|a| a.skills.clone()).unwrap_or_default();
    // `all` lists waiting handoffs oldest first, so a handoff's place is
    // the count of its queue seen before it (no query per row).
    let mut queues: std::collections::BTreeMap<String, i64> = Default::default();
    let mut items = Vec::new();
    for h in &all {
        let ahead = if h.state == HandoffState::Waiting {
            let n = queues.entry(h.queue.clone()).or_default();
            *n += 1;
            Some(*n - 1)
        } else {
            None
        };
        let visible = supervisor
            || h.agent_id.as_deref() == Some(caller.user_id.as_str())
            || (h.state == HandoffState::Waiting
                && (skills.is_empty() || skills.iter().any(|s| s == &h.queue)));
        if !visible {
            continue;
        }
        let mut item = json!(h);
        if let Some(ahead) = ahead {
            item["ahead"] = json!(ahead);
        }
        items.push(item);
    }
    Ok(Json(
        json!({ "handoffs": items, "queues": queues, "me": me }),
    ))
}

/// `GET /api/v1/handoffs/{id}`: everything the robot knew, for the agent:
/// the conversation, the customer, tags and grade, the reason, and the
/// knowledge-base answers for the customer's last question.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WorkHandoffs)?;
    let h = load(&state, &caller, &id).await?;
    let conversation = state
        .store()
        .conversation(&caller.tenant_id, &h.conversation_id)
        .await?
        .ok_or_else(not_found)?;
    let log = state
        .store()
        .events(&caller.tenant_id, &conversation.id, 0, 10_000)
        .await?
        .unwrap_or_default();
    let mut tags: Vec<String> = Vec::new();
    let mut grade = Value::Null;
    let mut last_question = None;
    for r in &log {
        match r.kind.as_str() {
            "action.set_tag" => {
                if let Some(t) = r.payload["tag"].as_str()
                    && !tags.iter().any(|x| x == t)
                {
                    tags.push(t.to_string());
                }
            }
            "action.grade" => grade = r.payload["grade"].clone(),
            "event.user_said" => last_question = r.payload["text"].as_str().map(str::to_string),
            _ => {}
        }
    }
    let suggestions = match (&last_question, bots::Binding::of(&conversation)) {
        (Some(q), Some(binding)) => {
            let bot = state
                .bots()
                .bot(state.store(), &caller.tenant_id, &binding)
                .await?;
            bot.suggest(q, 3)
                .into_iter()
                .map(|(e, score)| json!({ "id": e.id, "question": e.question, "answer": e.answer, "score": score }))
                .collect()
        }
        _ => Vec::new(),
    };
    let customer = match &conversation.customer_id {
        Some(cid) => {
            let c = state.store().customer(&caller.tenant_id, cid).await?;
            // Their earlier conversations on any channel: the profile follows them.
            let history = state
                .store()
                .customer_conversations(&caller.tenant_id, cid, 20)
                .await?;
            json!({ "profile": c, "conversations": history })
        }
        None => Value::Null,
    };
    Ok(Json(json!({
        "handoff": h,
        "conversation": conversation,
        "customer": customer,
        "tags": tags,
        "grade": grade,
        "last_question": last_question,
        "suggestions": suggestions,
    })))
}

/// `POST /api/v1/handoffs/{id}/take`: the agent takes a waiting conversation.
pub async fn take(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WorkHandoffs)?;
    load(&state, &caller, &id).await?;
    let h = state
        .store()
        .assign_handoff(
            &caller.tenant_id,
            &id,
            &caller.user_id,
            false,
            state.now_ms(),
        )
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "该会话已被接入或已结束",
                "this conversation was already taken or has ended",
            )
        })?;
    state
        .audit(
            &caller,
            "handoff.take",
            Some(&id),
            json!({ "conversation": h.conversation_id }),
        )
        .await?;
    join(&state, &h).await;
    changed(&state, &caller.tenant_id);
    Ok(Json(h))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    pub text: String,
}

/// `POST /api/v1/handoffs/{id}/reply`: the agent's words to the customer,
/// on whatever channel they came from.
pub async fn reply(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<Reply>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WorkHandoffs)?;
    let text = req.text.trim().to_string();
    if text.is_empty() || text.chars().count() > MAX_REPLY_CHARS {
        return Err(ApiError::bad_request(
            "回复应为 1 到 2000 个字",
            "a reply is 1-2000 characters",
        ));
    }
    let h = load(&state, &caller, &id).await?;
    must_own(&caller, &h)?;
    let conversation = state
        .store()
        .conversation(&caller.tenant_id, &h.conversation_id)
        .await?
        .ok_or_else(not_found)?;
    let turn = bots::continue_hosted(
        &state,
        &conversation,
        EventKind::AgentSaid { text: text.clone() },
    )
    .await?;
    // Web chat and app streams follow the log; WeChat has no open
    // connection, so the words go out through its customer-service API.
    let delivered = deliver_outside(&state, &conversation, &text).await;
    state
        .audit(
            &caller,
            "handoff.reply",
            Some(&id),
            json!({ "seq": turn.first_seq, "delivered": delivered }),
        )
        .await?;
    Ok(Json(
        json!({ "seq": turn.first_seq, "delivered": delivered }),
    ))
}

/// Sends an agent's words to channels that do not follow the log
/// themselves: `"log"` when the channel reads them from the log, `"wechat"`
/// when sent through WeChat, `"failed"` when that send failed (logged).
async fn deliver_outside(
    state: &AppState,
    conversation: &store::Conversation,
    text: &str,
) -> &'static str {
    if conversation.channel != crate::routes::wechat::CHANNEL {
        return "log";
    }
    let wechat = &conversation.metadata["wechat"];
    let (Some(channel), Some(openid)) = (wechat["channel"].as_str(), wechat["openid"].as_str())
    else {
        return "failed";
    };
    let Ok(Some(tenant)) = state.store().tenant(&conversation.tenant_id).await else {
        return "failed";
    };
    let found = crate::routes::channels::find::<crate::routes::channels::WeChatSettings>(
        state,
        &tenant.slug,
        channel,
        "wechat",
    )
    .await;
    let Some((_, _, settings)) = found else {
        return "failed";
    };
    match state
        .wechat()
        .send_text(&settings, openid, text, state.now_ms() / 1000)
        .await
    {
        Ok(()) => "wechat",
        Err(e) => {
            tracing::error!(error = %e, conversation = %conversation.id, "agent reply not delivered to WeChat");
            "failed"
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Close {
    /// How it ended: `resolved`, `follow_up`, `complaint`, ... (1-64 characters).
    pub disposition: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /api/v1/handoffs/{id}/close`: ends the conversation with a disposition.
pub async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<Close>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WorkHandoffs)?;
    let disposition = req.disposition.trim().to_string();
    if disposition.is_empty()
        || disposition.chars().count() > 64
        || req
            .note
            .as_deref()
            .is_some_and(|n| n.chars().count() > 2000)
    {
        return Err(ApiError::bad_request(
            "disposition 应为 1 到 64 个字，备注不超过 2000 字",
            "disposition is 1-64 characters, the note at most 2000",
        ));
    }
    let h = load(&state, &caller, &id).await?;
    must_own(&caller, &h)?;
    let now = state.now_ms();
    let closed = state
        .store()
        .close_handoff(&caller.tenant_id, &id, &disposition, now)
        .await?
        .ok_or_else(not_found)?;
    let payload = json!({ "disposition": disposition, "note": req.note, "agent": caller.username });
    if let Some(record) = state
        .store()
        .append_event(
            &caller.tenant_id,
            &h.conversation_id,
            "handoff.closed",
            &payload,
            now,
        )
        .await?
    {
        state.bots().committed(&h.conversation_id, record.seq);
    }
    if let Ok(Some(conversation)) = state
        .store()
        .conversation(&caller.tenant_id, &h.conversation_id)
        .await
    {
        // Ending an ended conversation is refused; nothing to do then.
        let _ = bots::continue_hosted(&state, &conversation, EventKind::Hangup).await;
    }
    state
        .audit(
            &caller,
            "handoff.close",
            Some(&id),
            json!({ "disposition": disposition }),
        )
        .await?;
    dispatch(&state, &caller.tenant_id).await;
    Ok(Json(closed))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub agent_id: String,
}

/// `POST /api/v1/handoffs/{id}/transfer`: a supervisor gives an open
/// conversation to a named agent (forcing it from another).
pub async fn transfer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<Transfer>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::SuperviseHandoffs)?;
    load(&state, &caller, &id).await?;
    state
        .store()
        .agent(&caller.tenant_id, &req.agent_id)
        .await?
        .ok_or_else(|| ApiError::not_found("坐席", "agent"))?;
    let h = state
        .store()
        .assign_handoff(&caller.tenant_id, &id, &req.agent_id, true, state.now_ms())
        .await?
        .ok_or_else(|| ApiError::conflict("该会话已结束", "this conversation has ended"))?;
    state
        .audit(
            &caller,
            "handoff.transfer",
            Some(&id),
            json!({ "agent": req.agent_id }),
        )
        .await?;
    join(&state, &h).await;
    changed(&state, &caller.tenant_id);
    Ok((StatusCode::OK, Json(h)))
}

/// `GET /api/v1/handoffs/stream` (WebSocket): `{"type":"changed"}` whenever
/// the tenant's queues or agents change (and every few seconds, for changes
/// made on another node); consoles then read `/api/v1/handoffs`.
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    ws: Result<
        axum::extract::ws::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> ApiResult<axum::response::Response> {
    caller.require(Permission::WorkHandoffs)?;
    let ws = ws.map_err(|_| crate::routes::not_a_websocket())?;
    let key = changes_key(&caller.tenant_id);
    Ok(ws.on_upgrade(move |mut socket| async move {
        use axum::extract::ws::Message;
        let mut woken = state.bots().subscribe(&key);
        let changed = || Message::Text(json!({ "type": "changed" }).to_string().into());
        if socket.send(changed()).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                c = woken.changed() => {
                    if c.is_err() {
                        woken = state.bots().subscribe(&key);
                    }
                    if socket.send(changed()).await.is_err() {
                        return;
                    }
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {
                    if socket.send(changed()).await.is_err() {
                        return;
                    }
                }
            }
        }
    }))
}
