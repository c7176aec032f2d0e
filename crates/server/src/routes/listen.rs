//! Listening in to a live phone call (supervisors): a WebSocket that streams
//! the call's mix — the caller plus the robot or the bridged agent — as binary
//! frames of 20 ms: 160 samples of 8 kHz signed 16-bit little-endian PCM
//! (320 bytes). The frames come from a broadcast tap in the call's media
//! loop, so a slow listener loses frames, never delays the call.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{Caller, Permission};
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::state::AppState;

/// `GET /api/v1/conversations/{id}/listen` (WebSocket).
pub async fn listen(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<axum::response::Response> {
    caller.require(Permission::SuperviseHandoffs)?;
    state
        .store()
        .conversation(&caller.tenant_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("会话", "conversation"))?;
    let ws = ws.map_err(|_| crate::routes::not_a_websocket())?;
    let mut frames = state
        .telephony()
        .and_then(|t| t.listen(&id))
        .ok_or_else(|| {
            ApiError::conflict(
                "该会话不是进行中的通话",
                "this conversation is not a live call",
            )
        })?;
    tracing::info!(conversation = %id, supervisor = %caller.username, "listening in to a call");
    Ok(ws.on_upgrade(move |mut socket| async move {
        loop {
            tokio::select! {
                f = frames.recv() => match f {
                    Ok(frame) => {
                        let bytes: Vec<u8> = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
                        if socket.send(Message::Binary(bytes.into())).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => {
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                },
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
            }
        }
    }))
}
