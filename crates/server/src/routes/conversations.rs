use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use store::NewConversation;

use crate::auth::{Caller, Permission};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

/// Largest event payload accepted, serialised.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

fn conversation_not_found() -> ApiError {
    ApiError::not_found("会话", "conversation")
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub limit: Option<i64>,
}

/// `GET /api/v1/conversations`
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ReadConversations)?;
    let items = state
        .store()
        .conversations(&caller.tenant_id, p.limit.unwrap_or(100))
        .await?;
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
}

fn valid_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `POST /api/v1/conversations`
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateConversation>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WriteConversations)?;
    if !valid_word(&req.channel) {
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
    let conversation = state
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
    state
        .audit(
            &caller,
            "conversation.create",
            Some(&conversation.id),
            json!({ "channel": req.channel }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(conversation)))
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
    if !valid_word(&req.kind) {
        return Err(ApiError::bad_request(
            "kind 应为 1 到 64 个字母、数字或 _ . -",
            "kind is 1-64 letters, digits or _ . -",
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
