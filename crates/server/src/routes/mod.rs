//! HTTP handlers, one module per resource. Each handler checks the caller's
//! permission first, confines every store call to the caller's tenant, and
//! writes an audit entry for every change it makes.

pub mod agent_phones;
pub mod audit;
pub mod auth;
pub mod campaigns;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod customers;
pub mod documents;
pub mod handoffs;
pub mod kb_table;
pub mod listen;
pub mod system;
pub mod tokens;
pub mod users;
pub mod webchat;
pub mod wechat;

/// Runs blocking work (password hashing) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, crate::error::ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        crate::error::ApiError::internal()
    })
}

/// The refusal of a WebSocket endpoint asked for without the upgrade.
pub(crate) fn not_a_websocket() -> crate::error::ApiError {
    crate::error::ApiError::bad_request(
        "此地址需要 WebSocket 连接（Upgrade: websocket）",
        "this endpoint is a WebSocket (send Upgrade: websocket)",
    )
}

/// Queue (skill) names, as scripts write them: 1-64 characters, no control
/// characters (Chinese names such as 售后 are the norm).
pub fn valid_queue(s: &str) -> bool {
    let n = s.chars().count();
    (1..=64).contains(&n) && !s.chars().any(char::is_control) && s.trim() == s
}

/// Names people choose for documents and channels, and the channel and kind
/// words of conversations: 1-64 of `A-Z a-z 0-9 _ . -`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}
