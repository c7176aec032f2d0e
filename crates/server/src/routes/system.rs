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
pub async fn landing() -> impl IntoResponse {
    axum::response::Html(include_str!("../landing.html"))
}

/// `GET /api/openapi.json`
pub async fn openapi() -> impl IntoResponse {
    Json(crate::api::openapi())
}
