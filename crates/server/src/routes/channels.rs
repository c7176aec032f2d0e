//! Channel settings: how a tenant's customers reach its robot besides the
//! phone. Secrets are write-only: the API never shows them again.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::{Caller, Permission};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::routes::documents::valid_name;
use crate::state::AppState;

/// WeChat's production API.
pub const WECHAT_API: &str = "https://api.weixin.qq.com";

/// A WeChat official account's settings, from its admin page (开发 → 基本配置).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeChatSettings {
    /// The Token (令牌), 3-32 letters or digits.
    pub token: String,
    /// The EncodingAESKey (消息加解密密钥), 43 characters; needed for safe mode.
    #[serde(default)]
    pub encoding_aes_key: Option<String>,
    /// The AppID (开发者ID).
    pub app_id: String,
    /// The AppSecret, for the customer-service message API.
    #[serde(default)]
    pub app_secret: Option<String>,
    /// WeChat's API address (change only for testing).
    #[serde(default = "default_api")]
    pub api_base: String,
    /// The script that answers followers.
    pub script: String,
    #[serde(default)]
    pub knowledge_base: Option<String>,
}

fn default_api() -> String {
    WECHAT_API.to_string()
}

impl WeChatSettings {
    pub fn endpoint(&self) -> Result<wechat::Endpoint, wechat::WeChatError> {
        let crypt = match &self.encoding_aes_key {
            Some(k) => Some(wechat::crypto::MsgCrypt::new(k, &self.app_id)?),
            None => None,
        };
        Ok(wechat::Endpoint::new(&self.token, crypt))
    }
}

/// The settings as shown: every secret replaced by whether it is set.
pub fn masked(kind: &str, settings: &Value) -> Value {
    let mut shown = settings.clone();
    if kind == "wechat" {
        for secret in ["token", "encoding_aes_key", "app_secret"] {
            if let Some(v) = shown.get_mut(secret) {
                *v = json!(if v.is_null() { "" } else { "********" });
            }
        }
    }
    shown
}

fn view(c: &store::Channel) -> Value {
    json!({
        "id": c.id, "name": c.name, "kind": c.kind,
        "settings": masked(&c.kind, &c.settings),
        "webhook_path": format!("/channels/{}/{{tenant}}/{}", c.kind, c.name),
        "created_at": c.created_at, "updated_at": c.updated_at,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutChannel {
    pub kind: String,
    pub settings: Value,
}

/// `GET /api/v1/channels`
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ViewBots)?;
    let channels: Vec<Value> = state
        .store()
        .channels(&caller.tenant_id)
        .await?
        .iter()
        .map(view)
        .collect();
    Ok(Json(json!({ "channels": channels })))
}

/// `GET /api/v1/channels/{name}`
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ViewBots)?;
    let c = state
        .store()
        .channel(&caller.tenant_id, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("渠道", "channel"))?;
    Ok(Json(view(&c)))
}

/// `PUT /api/v1/channels/{name}`: creates or replaces a channel, checked first.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(req): Json<PutChannel>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageBots)?;
    if !valid_name(&name) {
        return Err(ApiError::bad_request(
            "名称应为 1 到 64 个字母、数字或 _ . -",
            "a name is 1-64 letters, digits or _ . -",
        ));
    }
    if req.kind != "wechat" {
        return Err(ApiError::bad_request(
            format!("不支持的渠道类型 {}（支持：wechat）", req.kind),
            format!("unsupported channel kind {} (supported: wechat)", req.kind),
        ));
    }
    let settings: WeChatSettings = serde_json::from_value(req.settings.clone()).map_err(|e| {
        ApiError::bad_request(
            format!("微信公众号设置有误：{e}"),
            format!("invalid WeChat settings: {e}"),
        )
    })?;
    let token_ok = (3..=32).contains(&settings.token.len())
        && settings.token.bytes().all(|b| b.is_ascii_alphanumeric());
    if !token_ok {
        return Err(ApiError::bad_request(
            "Token 应为 3 到 32 位字母或数字",
            "the token is 3-32 letters or digits",
        ));
    }
    settings.endpoint().map_err(|e| {
        ApiError::bad_request(
            format!("EncodingAESKey 有误：{e}"),
            format!("bad EncodingAESKey: {e}"),
        )
    })?;
    if !(settings.api_base.starts_with("https://") || settings.api_base.starts_with("http://")) {
        return Err(ApiError::bad_request(
            "api_base 必须是 http(s) 地址",
            "api_base must be an http(s) URL",
        ));
    }
    // The script must exist and compile, or followers would get errors.
    let binding = crate::bots::resolve_binding(
        &state,
        &caller.tenant_id,
        &settings.script,
        settings.knowledge_base.as_deref(),
    )
    .await?;
    state
        .bots()
        .bot(state.store(), &caller.tenant_id, &binding)
        .await?;
    let stored = serde_json::to_value(&settings).map_err(|_| ApiError::internal())?;
    let (channel, created) = state
        .store()
        .put_channel(&caller.tenant_id, &name, &req.kind, &stored, state.now_ms())
        .await?;
    state
        .audit(
            &caller,
            "channel.put",
            Some(&channel.id),
            json!({ "name": name, "kind": req.kind, "script": settings.script }),
        )
        .await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(view(&channel)),
    ))
}
