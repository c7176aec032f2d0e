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
use crate::routes::valid_name;
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
    /// Menu buttons (click keys) and the words each one stands for: a tap on
    /// `{"ORDER": "查询订单"}`'s button is answered as if "查询订单" was typed.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub menu: std::collections::BTreeMap<String, String>,
    /// WeChat's API address (change only for testing).
    #[serde(default = "default_api")]
    pub api_base: String,
    /// How long the webhook waits for the robot's answer before it lets
    /// WeChat's request go (WeChat gives up after 5 s) and sends the answer
    /// through the customer-service API instead (needs `app_secret`).
    #[serde(default = "default_reply_window_ms")]
    pub reply_window_ms: u64,
    /// The script that answers followers.
    pub script: String,
    #[serde(default)]
    pub knowledge_base: Option<String>,
    /// When human agents can take over; always when empty.
    #[serde(default)]
    pub business_hours: Vec<Hours>,
    /// Said when a customer asks for a person and none is available (outside
    /// business hours); the script's own closing words when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_message: Option<String>,
}

/// A web chat widget's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    /// The script that answers visitors.
    pub script: String,
    #[serde(default)]
    pub knowledge_base: Option<String>,
    /// The widget's title bar.
    #[serde(default = "default_title")]
    pub title: String,
    /// The widget's colour, `#RRGGBB`.
    #[serde(default = "default_colour")]
    pub colour: String,
    /// A line the widget shows at the top of the panel before anything is
    /// said (the script's own greeting still opens the conversation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// Pages allowed to open the chat (`https://shop.example.com`); any when empty.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// When human agents can take over; always when empty.
    #[serde(default)]
    pub business_hours: Vec<Hours>,
    /// Said when a customer asks for a person and none is available (outside
    /// business hours); the script's own closing words when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_message: Option<String>,
}

fn default_reply_window_ms() -> u64 {
    4000
}

/// Longest `offline_message`: a sentence or two, said or shown at once.
const MAX_OFFLINE_MESSAGE_CHARS: usize = 200;

pub(crate) fn check_offline_message(message: Option<&str>) -> Result<(), (String, String)> {
    match message {
        Some(m) if m.trim().is_empty() || m.chars().count() > MAX_OFFLINE_MESSAGE_CHARS => Err((
            format!("offline_message 应为 1 到 {MAX_OFFLINE_MESSAGE_CHARS} 个字"),
            format!("offline_message is 1-{MAX_OFFLINE_MESSAGE_CHARS} characters"),
        )),
        _ => Ok(()),
    }
}

fn default_title() -> String {
    "在线客服".to_string()
}

fn default_colour() -> String {
    "#1677ff".to_string()
}

/// When human agents can take over, in the deployment's time zone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub days: Vec<u32>,
    /// `HH:MM`.
    pub from: String,
    /// `HH:MM`, after `from`.
    pub to: String,
}

fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// Checks business hours; `Err` says what is wrong.
pub fn check_hours(hours: &[Hours]) -> Result<(), String> {
    for h in hours {
        if h.days.is_empty() || h.days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(format!("days {:?}: use 1 (Monday) to 7 (Sunday)", h.days));
        }
        match (minutes(&h.from), minutes(&h.to)) {
            (Some(f), Some(t)) if f < t => {}
            _ => return Err(format!("{}–{}: use HH:MM, from before to", h.from, h.to)),
        }
    }
    Ok(())
}

/// Whether `now` falls in the hours; no hours at all means always.
pub fn within_hours(hours: &[Hours], now: &dialog::WallTime) -> bool {
    if hours.is_empty() {
        return true;
    }
    let at = now.hour * 60 + now.minute;
    hours.iter().any(|h| {
        h.days.contains(&now.weekday)
            && minutes(&h.from).is_some_and(|f| at >= f)
            && minutes(&h.to).is_some_and(|t| at < t)
    })
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

/// A tenant's channel of `kind`, found by tenant slug and channel name, with
/// its settings parsed; `None` when any of them is missing or does not fit.
pub async fn find<T: serde::de::DeserializeOwned>(
    state: &AppState,
    tenant: &str,
    name: &str,
    kind: &str,
) -> Option<(String, store::Channel, T)> {
    let t = state.store().tenant_by_slug(tenant).await.ok()??;
    let c = state.store().channel(&t.id, name).await.ok()??;
    if c.kind != kind {
        return None;
    }
    let settings = serde_json::from_value(c.settings.clone()).ok()?;
    Some((t.id, c, settings))
}

/// The settings as shown: every secret replaced by whether it is set.
pub fn masked(kind: &str, settings: &Value) -> Value {
    if kind == crate::trunks::KIND {
        return crate::trunks::masked(settings);
    }
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

fn view(state: &AppState, c: &store::Channel) -> Value {
    let mut v = json!({
        "id": c.id, "name": c.name, "kind": c.kind,
        "settings": masked(&c.kind, &c.settings),
        "path": match c.kind.as_str() {
            "web" => Some(format!("/channels/web/{{tenant}}/{}/widget.js", c.name)),
            crate::trunks::KIND => None,
            kind => Some(format!("/channels/{kind}/{{tenant}}/{}", c.name)),
        },
        "created_at": c.created_at, "updated_at": c.updated_at,
    });
    if c.kind == crate::trunks::KIND {
        // What the carrier said to our REGISTER, and the lines in use now.
        let telephony = state.telephony();
        v["registration"] = json!(telephony.and_then(|t| t.registration(&c.id)));
        v["calls"] = json!(telephony.map_or(0, |t| t.trunk_calls(&c.id)));
    }
    v
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
        .map(|c| view(&state, c))
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
    Ok(Json(view(&state, &c)))
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
    let bad = |zh: String, en: String| ApiError::bad_request(zh, en);
    let (script, knowledge_base, stored) = match req.kind.as_str() {
        "wechat" => {
            let settings: WeChatSettings =
                serde_json::from_value(req.settings.clone()).map_err(|e| {
                    bad(
                        format!("微信公众号设置有误：{e}"),
                        format!("invalid WeChat settings: {e}"),
                    )
                })?;
            let token_ok = (3..=32).contains(&settings.token.len())
                && settings.token.bytes().all(|b| b.is_ascii_alphanumeric());
            if !token_ok {
                return Err(bad(
                    "Token 应为 3 到 32 位字母或数字".into(),
                    "the token is 3-32 letters or digits".into(),
                ));
            }
            settings.endpoint().map_err(|e| {
                bad(
                    format!("EncodingAESKey 有误：{e}"),
                    format!("bad EncodingAESKey: {e}"),
                )
            })?;
            let bad_menu = settings.menu.len() > 40
                || settings.menu.iter().any(|(k, v)| {
                    k.is_empty() || k.len() > 128 || v.trim().is_empty() || v.chars().count() > 200
                });
            if bad_menu {
                return Err(bad(
                    "menu 最多 40 项：按钮 key 为 1 到 128 字节，对应的话为 1 到 200 个字".into(),
                    "menu has at most 40 entries: keys of 1-128 bytes, words of 1-200 characters"
                        .into(),
                ));
            }
            if !(settings.api_base.starts_with("https://")
                || settings.api_base.starts_with("http://"))
            {
                return Err(bad(
                    "api_base 必须是 http(s) 地址".into(),
                    "api_base must be an http(s) URL".into(),
                ));
            }
            check_hours(&settings.business_hours).map_err(|e| {
                bad(
                    format!("business_hours 有误：{e}"),
                    format!("bad business_hours: {e}"),
                )
            })?;
            check_offline_message(settings.offline_message.as_deref())
                .map_err(|(zh, en)| bad(zh, en))?;
            let stored = serde_json::to_value(&settings).map_err(|_| ApiError::internal())?;
            (Some(settings.script), settings.knowledge_base, stored)
        }
        "web" => {
            let settings: WebSettings =
                serde_json::from_value(req.settings.clone()).map_err(|e| {
                    bad(
                        format!("网页聊天设置有误：{e}"),
                        format!("invalid web chat settings: {e}"),
                    )
                })?;
            let colour_ok = settings.colour.len() == 7
                && settings.colour.starts_with('#')
                && settings.colour[1..].bytes().all(|b| b.is_ascii_hexdigit());
            if !colour_ok {
                return Err(bad(
                    "colour 应为 #RRGGBB".into(),
                    "colour must be #RRGGBB".into(),
                ));
            }
            if settings
                .greeting
                .as_deref()
                .is_some_and(|g| g.trim().is_empty() || g.chars().count() > 200)
            {
                return Err(bad(
                    "greeting 应为 1 到 200 个字".into(),
                    "greeting is 1-200 characters".into(),
                ));
            }
            if settings.title.trim().is_empty() || settings.title.chars().count() > 40 {
                return Err(bad(
                    "title 应为 1 到 40 个字符".into(),
                    "title is 1-40 characters".into(),
                ));
            }
            if let Some(o) = settings.allowed_origins.iter().find(|o| {
                !(o.starts_with("https://") || o.starts_with("http://")) || o.ends_with('/')
            }) {
                return Err(bad(
                    format!("allowed_origins 中的 {o} 应形如 https://shop.example.com"),
                    format!("allowed origin {o} should look like https://shop.example.com"),
                ));
            }
            check_hours(&settings.business_hours).map_err(|e| {
                bad(
                    format!("business_hours 有误：{e}"),
                    format!("bad business_hours: {e}"),
                )
            })?;
            check_offline_message(settings.offline_message.as_deref())
                .map_err(|(zh, en)| bad(zh, en))?;
            let stored = serde_json::to_value(&settings).map_err(|_| ApiError::internal())?;
            (Some(settings.script), settings.knowledge_base, stored)
        }
        crate::trunks::KIND => {
            let stored = trunk_settings(&state, &caller.tenant_id, &name, &req.settings).await?;
            let script = stored
                .get("script")
                .and_then(|s| s.as_str())
                .map(str::to_string);
            let kb = stored
                .get("knowledge_base")
                .and_then(|s| s.as_str())
                .map(str::to_string);
            (script, kb, stored)
        }
        other => {
            return Err(bad(
                format!("不支持的渠道类型 {other}（支持：wechat、web、sip）"),
                format!("unsupported channel kind {other} (supported: wechat, web, sip)"),
            ));
        }
    };
    // The script must exist and compile, or customers would get errors.
    if let Some(script) = &script {
        let binding = crate::bots::resolve_binding(
            &state,
            &caller.tenant_id,
            script,
            knowledge_base.as_deref(),
        )
        .await?;
        state
            .bots()
            .bot(state.store(), &caller.tenant_id, &binding)
            .await?;
    }
    let (channel, created) = state
        .store()
        .put_channel(&caller.tenant_id, &name, &req.kind, &stored, state.now_ms())
        .await?;
    if let Some(t) = state.telephony() {
        t.trunks_changed();
    }
    state
        .audit(
            &caller,
            "channel.put",
            Some(&channel.id),
            json!({ "name": name, "kind": req.kind, "script": script }),
        )
        .await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(view(&state, &channel)),
    ))
}

/// Checks a trunk's settings and returns them as stored: the password kept
/// from the stored trunk when the edit does not give a new one, and each
/// number free of every other trunk of every tenant.
async fn trunk_settings(
    state: &AppState,
    tenant_id: &str,
    name: &str,
    given: &Value,
) -> ApiResult<Value> {
    let bad = |(zh, en): (String, String)| ApiError::bad_request(zh, en);
    let mut settings: crate::trunks::TrunkSettings = serde_json::from_value(given.clone())
        .map_err(|e| {
            bad((
                format!("线路设置有误：{e}"),
                format!("invalid trunk settings: {e}"),
            ))
        })?;
    settings.check().map_err(bad)?;
    let all = state.store().channels_of_kind(crate::trunks::KIND).await?;
    let existing = all
        .iter()
        .find(|c| c.tenant_id == tenant_id && c.name == name);
    if !settings.has_new_password() {
        settings.password = existing
            .and_then(|c| c.settings.get("password"))
            .and_then(|p| p.as_str())
            .map(str::to_string);
    }
    for other in all
        .iter()
        .filter(|c| !(c.tenant_id == tenant_id && c.name == name))
    {
        let taken: Vec<&str> = other
            .settings
            .get("numbers")
            .and_then(|n| n.as_array())
            .map(|n| n.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        if let Some(n) = settings
            .numbers
            .iter()
            .find(|n| taken.contains(&n.as_str()))
        {
            // Another tenant's trunk is not named: its existence is theirs.
            return Err(ApiError::conflict(
                format!("号码 {n} 已属于另一条线路"),
                format!("number {n} already belongs to another trunk"),
            ));
        }
    }
    serde_json::to_value(&settings).map_err(|_| ApiError::internal())
}

/// `DELETE /api/v1/channels/{name}`
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageBots)?;
    let channel = state
        .store()
        .delete_channel(&caller.tenant_id, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("渠道", "channel"))?;
    if let Some(t) = state.telephony() {
        t.trunks_changed();
    }
    state
        .audit(
            &caller,
            "channel.delete",
            Some(&channel.id),
            json!({ "name": name, "kind": channel.kind }),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(weekday: u32, hour: u32, minute: u32) -> dialog::WallTime {
        dialog::WallTime {
            year: 2026,
            month: 11,
            day: 24,
            hour,
            minute,
            weekday,
        }
    }

    #[test]
    fn business_hours() {
        let weekdays = vec![Hours {
            days: vec![1, 2, 3, 4, 5],
            from: "09:00".into(),
            to: "18:00".into(),
        }];
        assert!(within_hours(&weekdays, &at(2, 9, 0)));
        assert!(within_hours(&weekdays, &at(5, 17, 59)));
        assert!(!within_hours(&weekdays, &at(5, 18, 0)));
        assert!(!within_hours(&weekdays, &at(6, 10, 0)));
        assert!(within_hours(&[], &at(7, 3, 0)), "no hours: always");
        assert!(check_hours(&weekdays).is_ok());
        for bad in [
            Hours {
                days: vec![0],
                from: "09:00".into(),
                to: "18:00".into(),
            },
            Hours {
                days: vec![1],
                from: "18:00".into(),
                to: "09:00".into(),
            },
            Hours {
                days: vec![1],
                from: "9".into(),
                to: "18:00".into(),
            },
            Hours {
                days: vec![],
                from: "09:00".into(),
                to: "18:00".into(),
            },
        ] {
            assert!(check_hours(std::slice::from_ref(&bad)).is_err(), "{bad:?}");
        }
    }
}
