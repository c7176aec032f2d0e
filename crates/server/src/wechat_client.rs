//! WeChat's customer-service message API, over HTTPS: how the robot (and,
//! later, a human agent) writes to a follower outside the 5-second passive
//! reply — an answer that took too long, a message an agent types.
//!
//! The request and answer formats live in `wechat::api` (data only); this
//! is the I/O: one shared HTTP client, access tokens cached per official
//! account and refreshed before they expire (or at once when WeChat says a
//! token is no longer valid, then the send is tried once more).

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::Mutex;
use wechat::api::{self, AccessToken};

use crate::routes::channels::WeChatSettings;

/// Longest wait for one WeChat API call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(
        "公众号未配置 app_secret，无法使用客服消息接口 the channel has no app_secret for the customer-service API"
    )]
    NoSecret,
    #[error("微信接口请求失败 WeChat API request failed: {0}")]
    Http(String),
    #[error("微信接口返回错误 WeChat API error {}: {}", .0.code, .0.message)]
    Api(api::ApiError),
}

pub struct WeChatClient {
    http: reqwest::Client,
    /// Access tokens by (api base, app id).
    tokens: Mutex<HashMap<(String, String), AccessToken>>,
}

impl Default for WeChatClient {
    fn default() -> Self {
        Self::new()
    }
}

impl WeChatClient {
    pub fn new() -> Self {
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .unwrap_or_else(|e| {
                // Only a broken TLS set-up fails here; calls will then fail one by one.
                tracing::error!(error = %e, "WeChat HTTP client could not be configured");
                reqwest::Client::new()
            });
        Self {
            http,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Sends a text message to a follower of the channel's official account.
    pub async fn send_text(
        &self,
        settings: &WeChatSettings,
        openid: &str,
        text: &str,
        now_s: i64,
    ) -> Result<(), SendError> {
        let body = api::text_message(openid, text);
        let token = self.token(settings, now_s, false).await?;
        match self.post(settings, &token, &body).await {
            Err(SendError::Api(e)) if e.token_expired() => {
                let token = self.token(settings, now_s, true).await?;
                self.post(settings, &token, &body).await
            }
            other => other,
        }
    }

    async fn post(
        &self,
        settings: &WeChatSettings,
        token: &str,
        body: &serde_json::Value,
    ) -> Result<(), SendError> {
        let answer = self
            .http
            .post(api::send_url(&settings.api_base, token))
            .json(body)
            .send()
            .await
            .map_err(|e| SendError::Http(e.without_url().to_string()))?
            .text()
            .await
            .map_err(|e| SendError::Http(e.without_url().to_string()))?;
        api::parse_send(&answer).map_err(SendError::Api)
    }

    /// A valid token: the cached one unless it is due (or `renew`).
    async fn token(
        &self,
        settings: &WeChatSettings,
        now_s: i64,
        renew: bool,
    ) -> Result<String, SendError> {
        let secret = settings.app_secret.as_deref().ok_or(SendError::NoSecret)?;
        let key = (settings.api_base.clone(), settings.app_id.clone());
        // Held across the fetch: concurrent sends wait for one refresh
        // instead of each invalidating the others' tokens.
        let mut tokens = self.tokens.lock().await;
        if !renew && let Some(t) = tokens.get(&key).filter(|t| t.is_fresh(now_s)) {
            return Ok(t.token.clone());
        }
        let answer = self
            .http
            .get(api::token_url(&settings.api_base, &settings.app_id, secret))
            .send()
            .await
            // The URL carries the secret: never let it into an error message.
            .map_err(|e| SendError::Http(e.without_url().to_string()))?
            .text()
            .await
            .map_err(|e| SendError::Http(e.without_url().to_string()))?;
        let fresh = api::parse_token(&answer, now_s).map_err(SendError::Api)?;
        let token = fresh.token.clone();
        tokens.insert(key, fresh);
        Ok(token)
    }
}
