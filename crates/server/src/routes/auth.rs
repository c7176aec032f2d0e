use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use store::NewAuditEntry;

use super::blocking;
use crate::accounts::{self, PasswordError};
use crate::auth::{Caller, ClientInfo, Credential, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub tenant: String,
    pub username: String,
    pub password: String,
}

fn wrong_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "租户、用户名或密码错误",
        "wrong tenant, username or password",
    )
}

async fn audit_login(
    state: &AppState,
    client: &ClientInfo,
    tenant_id: Option<&str>,
    user_id: Option<&str>,
    username: &str,
    outcome: &str,
    reason: &str,
) -> ApiResult<()> {
    let entry = NewAuditEntry {
        tenant_id: tenant_id.map(str::to_string),
        actor_kind: if user_id.is_some() {
            "user"
        } else {
            "anonymous"
        }
        .to_string(),
        actor_id: user_id.map(str::to_string),
        actor_name: Some(username.to_string()),
        action: "auth.login".to_string(),
        target: None,
        outcome: outcome.to_string(),
        client_ip: client.ip.map(|ip| ip.to_string()),
        request_id: client.request_id.clone(),
        detail: json!({ "reason": reason }),
    };
    state.store().append_audit(&entry, state.now_ms()).await?;
    Ok(())
}

async fn audit_user_login(
    state: &AppState,
    client: &ClientInfo,
    user: &store::User,
    outcome: &str,
    reason: &str,
) -> ApiResult<()> {
    audit_login(
        state,
        client,
        Some(&user.tenant_id),
        Some(&user.id),
        &user.username,
        outcome,
        reason,
    )
    .await
}

/// `POST /api/v1/auth/login`: password login; sets the session cookie.
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(req): Json<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    if let Some(ip) = client.ip
        && let Err(wait) = state.check_login_rate(ip)
    {
        metrics::counter!("tonghua_login_rate_limited_total").increment(1);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("登录尝试过于频繁，请 {wait} 秒后再试"),
            format!("too many login attempts; try again in {wait} s"),
        )
        .with_retry_after(wait));
    }
    let now = state.now_ms();
    let tenant = state.store().tenant_by_slug(&req.tenant).await?;
    let user = match &tenant {
        Some(t) => state.store().user_by_name(&t.id, &req.username).await?,
        None => None,
    };
    let tenant_id = tenant.as_ref().map(|t| t.id.clone());
    let Some(user) = user.filter(|u| !u.disabled) else {
        // Spend the same time as a real check so timing does not reveal
        // which usernames exist.
        let password = req.password.clone();
        blocking(move || accounts::verify_password(&password, accounts::decoy_hash())).await?;
        audit_login(
            &state,
            &client,
            tenant_id.as_deref(),
            None,
            &req.username,
            "failed",
            "unknown_or_disabled_user",
        )
        .await?;
        metrics::counter!("tonghua_login_failures_total").increment(1);
        return Err(wrong_credentials());
    };
    if let Some(until) = user.locked_until
        && until > now
    {
        let wait = ((until - now) / 1000).max(1) as u64;
        audit_user_login(&state, &client, &user, "denied", "locked").await?;
        return Err(ApiError::new(
            StatusCode::LOCKED,
            "account_locked",
            format!("密码错误次数过多，账号已锁定，请 {} 分钟后再试或联系管理员重置密码", wait.div_ceil(60)),
            format!("too many wrong passwords; the account is locked for {} more minute(s), or ask an admin to reset the password", wait.div_ceil(60)),
        )
        .with_retry_after(wait));
    }
    let password = req.password.clone();
    let stored = user.password_hash.clone();
    if !blocking(move || accounts::verify_password(&password, &stored)).await? {
        let auth = &state.config().auth;
        let lock_until = now + (auth.lockout_secs as i64) * 1000;
        let failures = state
            .store()
            .record_login_failure(&user.id, auth.max_failed_logins as i64, lock_until)
            .await?;
        let reason = if failures >= auth.max_failed_logins as i64 {
            "wrong_password_now_locked"
        } else {
            "wrong_password"
        };
        audit_user_login(&state, &client, &user, "failed", reason).await?;
        metrics::counter!("tonghua_login_failures_total").increment(1);
        return Err(wrong_credentials());
    }
    state.store().record_login_success(&user.id).await?;
    let secret = accounts::random_secret(32);
    let ttl_ms = (state.config().auth.session_ttl_secs as i64) * 1000;
    let ip = client.ip.map(|ip| ip.to_string());
    state
        .store()
        .create_session(
            &accounts::secret_hash(&secret),
            &user,
            now,
            now + ttl_ms,
            ip.as_deref(),
        )
        .await?;
    audit_user_login(&state, &client, &user, "ok", "password").await?;

    let mut cookie = format!(
        "{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        state.config().auth.session_ttl_secs
    );
    if state.config().auth.cookie_secure {
        cookie.push_str("; Secure");
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, v);
    }
    let tenant_json = tenant.map(|t| json!({"id": t.id, "slug": t.slug, "name": t.name}));
    Ok((
        headers,
        Json(json!({ "user": user, "tenant": tenant_json, "expires_at": now + ttl_ms })),
    ))
}

/// `POST /api/v1/auth/logout`: ends the session behind the cookie.
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    if let Credential::Session(hash) = &caller.credential {
        state.store().delete_session(hash).await?;
    }
    state.audit(&caller, "auth.logout", None, json!({})).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tonghua_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok((headers, Json(json!({ "ok": true }))))
}

/// `GET /api/v1/me`
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    let user = state
        .store()
        .user(&caller.tenant_id, &caller.user_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let tenant = state.store().tenant(&caller.tenant_id).await?;
    Ok(Json(json!({
        "user": user,
        "tenant": tenant,
        "via": caller.actor_kind(),
        "permissions": crate::api::ALL_PERMISSIONS.into_iter().filter(|p| caller.can(*p)).map(|p| p.name()).collect::<Vec<_>>(),
    })))
}

/// `GET /api/v1/tenant`
pub async fn tenant(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    let tenant = state
        .store()
        .tenant(&caller.tenant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("租户", "tenant"))?;
    Ok(Json(tenant))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

pub(crate) fn password_error(e: PasswordError) -> ApiError {
    match e {
        PasswordError::TooShort => ApiError::bad_request(
            format!("密码至少需要 {} 个字符", accounts::MIN_PASSWORD_CHARS),
            format!(
                "the password needs at least {} characters",
                accounts::MIN_PASSWORD_CHARS
            ),
        ),
        PasswordError::TooLong => ApiError::bad_request(
            format!("密码不能超过 {} 字节", accounts::MAX_PASSWORD_BYTES),
            format!(
                "the password may be at most {} bytes",
                accounts::MAX_PASSWORD_BYTES
            ),
        ),
        PasswordError::Hashing(e) => {
            tracing::error!(error = %e, "password hashing failed");
            ApiError::internal()
        }
    }
}

/// `POST /api/v1/me/password`: change one's own password (ends other sessions).
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<ChangePassword>,
) -> ApiResult<impl IntoResponse> {
    let user = state
        .store()
        .user(&caller.tenant_id, &caller.user_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let stored = user.password_hash.clone();
    let current = req.current_password.clone();
    if !blocking(move || accounts::verify_password(&current, &stored)).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_password",
            "当前密码不正确",
            "the current password is wrong",
        ));
    }
    let new = req.new_password.clone();
    let hash = blocking(move || accounts::hash_password(&new))
        .await?
        .map_err(password_error)?;
    state
        .store()
        .set_password(&caller.tenant_id, &caller.user_id, &hash, state.now_ms())
        .await?;
    state
        .audit(
            &caller,
            "user.password_change",
            Some(&caller.user_id),
            json!({}),
        )
        .await?;
    Ok(Json(json!({ "ok": true })))
}
