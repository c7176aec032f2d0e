use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::state::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// `GET /readyz`: the process can serve (its database answers).
pub async fn readyz(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    state.store().ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "数据库不可用",
            "the database is not answering",
        )
    })?;
    Ok(Json(json!({ "status": "ready" })))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render_metrics(),
    )
}

/// `GET /`: what is running here and where to go next, for a person who
/// opened the address in a browser.
/// `GET /console`: the web console for agents, supervisors and admins (one
/// page; it signs in and talks to the API like any client).
pub async fn console() -> impl IntoResponse {
    (
        [
            (axum::http::header::CACHE_CONTROL, "no-cache"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'",
            ),
        ],
        axum::response::Html(include_str!("../console.html")),
    )
}

pub async fn landing(State(state): State<AppState>) -> impl IntoResponse {
    let page = include_str!("../landing.html");
    // With the demo tenant's chat in place, the page carries its widget, so
    // a person can talk to the robot right after `make run`.
    let demo = &state.config().demo.tenant;
    let has_chat = match state.store().tenant_by_slug(demo).await {
        Ok(Some(t)) => {
            matches!(state.store().channel(&t.id, crate::bootstrap::DEMO_CHAT).await, Ok(Some(c)) if c.kind == "web")
        }
        _ => false,
    };
    if !has_chat {
        return axum::response::Html(page.to_string());
    }
    let tag = format!(
        "<p>右下角的对话框连接着演示客服机器人。<span class=\"en\">The chat at the bottom right talks to the demo service robot.</span></p>\n<script src=\"/channels/web/{demo}/{}/widget.js\" async></script>\n</body>",
        crate::bootstrap::DEMO_CHAT
    );
    axum::response::Html(page.replace("</body>", &tag))
}

/// `GET /api/openapi.json`
pub async fn openapi() -> impl IntoResponse {
    Json(crate::api::openapi())
}
