use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use store::NewApiToken;

use crate::accounts;
use crate::auth::{Caller, Permission};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::state::AppState;

/// `GET /api/v1/tokens`: one's own tokens; admins see the whole tenant's.
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    let only = (!caller.can(Permission::ManageAllTokens)).then_some(caller.user_id.as_str());
    Ok(Json(
        json!({ "tokens": state.store().api_tokens(&caller.tenant_id, only).await? }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// Days until it stops working; never when absent.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    /// Limit the token to these permissions (each one the caller has);
    /// all of the caller's when absent.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// `POST /api/v1/tokens`: a token acting as the caller. The secret is in this
/// response only; it cannot be shown again.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateToken>,
) -> ApiResult<impl IntoResponse> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "令牌名称长度应为 1 到 100 个字符",
            "a token name is 1-100 characters",
        ));
    }
    if let Some(scopes) = &req.scopes {
        if scopes.is_empty() {
            return Err(ApiError::bad_request(
                "scopes 不能为空；不限制时请省略",
                "scopes may not be empty; leave it out for no limit",
            ));
        }
        for name in scopes {
            match Permission::from_name(name) {
                Some(p) if caller.can(p) => {}
                Some(_) => {
                    return Err(ApiError::bad_request(
                        format!("您没有权限 {name}，不能把它授予令牌"),
                        format!("you do not have {name}, so a token of yours cannot have it"),
                    ));
                }
                None => {
                    return Err(ApiError::bad_request(
                        format!("未知权限 {name}"),
                        format!("unknown permission {name} (see GET /api/v1/me)"),
                    ));
                }
            }
        }
    }
    let now = state.now_ms();
    let expires_at = req.expires_in_days.map(|d| now + i64::from(d) * 86_400_000);
    let secret = accounts::new_api_token();
    let token = state
        .store()
        .create_api_token(
            NewApiToken {
                tenant_id: &caller.tenant_id,
                user_id: &caller.user_id,
                name,
                prefix: &accounts::token_display_prefix(&secret),
                token_hash: &accounts::secret_hash(&secret),
                expires_at,
                scopes: req.scopes.as_deref(),
            },
            now,
        )
        .await?;
    state
        .audit(
            &caller,
            "token.create",
            Some(&token.id),
            json!({ "name": token.name, "expires_at": expires_at, "scopes": req.scopes }),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": token, "secret": secret })),
    ))
}

/// `DELETE /api/v1/tokens/{id}`: revoke one's own token (admins: any of the tenant).
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let token = state
        .store()
        .api_token(&caller.tenant_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("令牌", "token"))?;
    if token.user_id != caller.user_id {
        caller.require(Permission::ManageAllTokens)?;
    }
    if !state
        .store()
        .revoke_api_token(&caller.tenant_id, &id, state.now_ms())
        .await?
    {
        return Err(ApiError::conflict(
            "令牌已被吊销",
            "the token is already revoked",
        ));
    }
    state
        .audit(
            &caller,
            "token.revoke",
            Some(&id),
            json!({ "name": token.name }),
        )
        .await?;
    Ok(Json(json!({ "ok": true })))
}
