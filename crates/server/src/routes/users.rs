use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use store::{NewUser, Role, UserUpdate};

use super::auth::password_error;
use super::blocking;
use crate::accounts;
use crate::auth::{Caller, Permission};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::state::AppState;

fn user_not_found() -> ApiError {
    ApiError::not_found("用户", "user")
}

/// `GET /api/v1/users`
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ViewUsers)?;
    Ok(Json(
        json!({ "users": state.store().users(&caller.tenant_id).await? }),
    ))
}

/// `GET /api/v1/users/{id}`: anyone may read themselves.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    if id != caller.user_id {
        caller.require(Permission::ViewUsers)?;
    }
    let user = state
        .store()
        .user(&caller.tenant_id, &id)
        .await?
        .ok_or_else(user_not_found)?;
    Ok(Json(user))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    #[serde(default)]
    pub display_name: Option<String>,
    pub role: Role,
    pub password: String,
}

/// `POST /api/v1/users`
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateUser>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageUsers)?;
    if !accounts::valid_username(&req.username) {
        return Err(ApiError::bad_request(
            "用户名只能包含字母、数字和 . _ @ -，长度 1 到 64",
            "a username is 1-64 letters, digits or . _ @ -",
        ));
    }
    let password = req.password.clone();
    let hash = blocking(move || accounts::hash_password(&password))
        .await?
        .map_err(password_error)?;
    let display_name = req
        .display_name
        .clone()
        .unwrap_or_else(|| req.username.clone());
    let user = state
        .store()
        .create_user(
            NewUser {
                tenant_id: &caller.tenant_id,
                username: &req.username,
                display_name: &display_name,
                role: req.role,
                password_hash: &hash,
            },
            state.now_ms(),
        )
        .await?;
    state
        .audit(
            &caller,
            "user.create",
            Some(&user.id),
            json!({ "username": user.username, "role": user.role }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// `PATCH /api/v1/users/{id}`: display name, role, disabled.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<UpdateUser>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageUsers)?;
    let current = state
        .store()
        .user(&caller.tenant_id, &id)
        .await?
        .ok_or_else(user_not_found)?;
    let stays_admin = req.role.unwrap_or(current.role) == Role::Admin
        && !req.disabled.unwrap_or(current.disabled);
    let is_active_admin = current.role == Role::Admin && !current.disabled;
    // A tenant without an enabled admin could never manage itself again.
    if is_active_admin
        && !stays_admin
        && state.store().active_admin_count(&caller.tenant_id).await? <= 1
    {
        return Err(ApiError::conflict(
            "不能停用或降级最后一个管理员",
            "the last enabled admin cannot be disabled or demoted",
        ));
    }
    let update = UserUpdate {
        display_name: req.display_name.clone(),
        role: req.role,
        disabled: req.disabled,
    };
    let user = state
        .store()
        .update_user(&caller.tenant_id, &id, &update, state.now_ms())
        .await?
        .ok_or_else(user_not_found)?;
    state
        .audit(
            &caller,
            "user.update",
            Some(&id),
            json!({ "display_name": req.display_name, "role": req.role, "disabled": req.disabled }),
        )
        .await?;
    Ok(Json(user))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    pub password: String,
}

/// `POST /api/v1/users/{id}/password`: an admin sets a new password; this also
/// unlocks the account and ends its sessions.
pub async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<ResetPassword>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageUsers)?;
    if state.store().user(&caller.tenant_id, &id).await?.is_none() {
        return Err(user_not_found());
    }
    let password = req.password.clone();
    let hash = blocking(move || accounts::hash_password(&password))
        .await?
        .map_err(password_error)?;
    if !state
        .store()
        .set_password(&caller.tenant_id, &id, &hash, state.now_ms())
        .await?
    {
        return Err(user_not_found());
    }
    state
        .audit(&caller, "user.password_reset", Some(&id), json!({}))
        .await?;
    Ok(Json(json!({ "ok": true })))
}
