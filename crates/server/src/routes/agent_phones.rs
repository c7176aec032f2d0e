//! Agents' SIP phone accounts: the username a phone registers with and its
//! password, kept only as the digest HA1 (`MD5(username:realm:password)`,
//! migration 0010). An admin sets anyone's (`PUT /agents/{id}/phone`), an
//! agent their own (`PUT /agents/me/phone`). Whether the phone is registered
//! right now shows in `GET /agents` (`phone.registered`).

use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Caller, Permission};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPhone {
    /// What the phone registers as (`sip:USERNAME@tonghua-host`): 1-64 of
    /// `A-Z a-z 0-9 _ . -`, unique across the deployment.
    pub sip_username: String,
    /// 8-128 characters; only its digest HA1 is stored.
    pub password: String,
}

/// `PUT /api/v1/agents/{id}/phone`: an admin sets an agent's phone account.
pub async fn set_phone(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    Json(req): Json<SetPhone>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageUsers)?;
    save(&state, &caller, &user_id, req).await
}

/// `PUT /api/v1/agents/me/phone`: an agent sets their own phone account.
pub async fn set_my_phone(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<SetPhone>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WorkHandoffs)?;
    let me = caller.user_id.clone();
    save(&state, &caller, &me, req).await
}

async fn save(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    req: SetPhone,
) -> ApiResult<Json<serde_json::Value>> {
    if !crate::routes::valid_name(&req.sip_username) {
        return Err(ApiError::bad_request(
            "SIP 用户名应为 1 到 64 个字母、数字或 _ . -",
            "a SIP username is 1-64 letters, digits or _ . -",
        ));
    }
    let n = req.password.chars().count();
    if !(8..=128).contains(&n) || req.password.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "话机密码应为 8 到 128 个字符",
            "a phone password is 8-128 characters",
        ));
    }
    let user = state
        .store()
        .user(&caller.tenant_id, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("用户", "user"))?;
    let realm = state.phones().realm().to_string();
    let ha1 = sip::registrar::ha1(&req.sip_username, &realm, &req.password);
    let saved = state
        .store()
        .set_agent_phone(
            &caller.tenant_id,
            &user.id,
            &req.sip_username,
            &realm,
            &ha1,
            state.now_ms(),
        )
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict { .. } => {
                ApiError::conflict("该 SIP 用户名已被使用", "this SIP username is taken")
            }
            other => other.into(),
        })?;
    // New credentials: the phone registers again with them.
    state.phones().forget(&caller.tenant_id, &user.id);
    state
        .audit(
            caller,
            "agent.phone",
            Some(&user.id),
            json!({ "sip_username": saved.sip_username }),
        )
        .await?;
    crate::routes::handoffs::changed(state, &caller.tenant_id);
    Ok(Json(json!({
        "user_id": saved.user_id,
        "sip_username": saved.sip_username,
        "realm": saved.realm,
        "registered": false,
    })))
}
