use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use store::AuditQuery;

use crate::auth::{Caller, Permission};
use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct AuditParams {
    pub action: Option<String>,
    pub before: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/audit`: the tenant's audit log, newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ViewAudit)?;
    let q = AuditQuery {
        action: p.action,
        before_id: p.before,
        limit: p.limit.unwrap_or(100),
    };
    Ok(Json(
        json!({ "entries": state.store().audit_entries(&caller.tenant_id, &q).await? }),
    ))
}
