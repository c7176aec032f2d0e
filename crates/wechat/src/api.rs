//! WeChat's HTTP API, as data: the customer-service message a robot sends
//! when its answer misses the 5-second passive window, and the access token
//! those calls need (valid for about two hours, refreshed before it expires).

use serde::Deserialize;
use serde_json::{Value, json};

/// Refresh this long before WeChat's stated expiry.
pub const REFRESH_MARGIN_S: i64 = 300;

/// An access token and when to stop using it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    /// Seconds since the epoch after which a new one must be fetched.
    pub refresh_at: i64,
}

impl AccessToken {
    pub fn is_fresh(&self, now_s: i64) -> bool {
        now_s < self.refresh_at
    }
}

/// An error WeChat's API answered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("WeChat API error {code}: {message}")]
pub struct ApiError {
    pub code: i64,
    pub message: String,
}

impl ApiError {
    /// The token is invalid or expired: fetch a new one and try once more.
    pub fn token_expired(&self) -> bool {
        matches!(self.code, 40001 | 40014 | 42001)
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
}

/// The URL that issues a token (`base` is `https://api.weixin.qq.com` in production).
pub fn token_url(base: &str, app_id: &str, secret: &str) -> String {
    format!(
        "{}/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
        base.trim_end_matches('/'),
        app_id,
        secret
    )
}

/// Reads the token endpoint's answer received at `now_s`.
pub fn parse_token(body: &str, now_s: i64) -> Result<AccessToken, ApiError> {
    let a: Answer = serde_json::from_str(body).map_err(|e| ApiError {
        code: -1,
        message: format!("not JSON: {e}"),
    })?;
    if let Some(code) = a.errcode.filter(|c| *c != 0) {
        return Err(ApiError {
            code,
            message: a.errmsg.unwrap_or_default(),
        });
    }
    let token = a.access_token.ok_or(ApiError {
        code: -1,
        message: "no access_token in answer".into(),
    })?;
    let expires_in = a.expires_in.unwrap_or(7200).max(REFRESH_MARGIN_S * 2);
    Ok(AccessToken {
        token,
        refresh_at: now_s + expires_in - REFRESH_MARGIN_S,
    })
}

/// The URL to send a customer-service message with.
pub fn send_url(base: &str, token: &str) -> String {
    format!(
        "{}/cgi-bin/message/custom/send?access_token={}",
        base.trim_end_matches('/'),
        token
    )
}

/// A text customer-service message to a follower.
pub fn text_message(openid: &str, content: &str) -> Value {
    json!({ "touser": openid, "msgtype": "text", "text": { "content": content } })
}

/// Reads the answer to a send: `Ok` on `errcode` 0.
pub fn parse_send(body: &str) -> Result<(), ApiError> {
    let a: Answer = serde_json::from_str(body).map_err(|e| ApiError {
        code: -1,
        message: format!("not JSON: {e}"),
    })?;
    match a.errcode {
        Some(0) | None => Ok(()),
        Some(code) => Err(ApiError {
            code,
            message: a.errmsg.unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_refresh_before_they_expire() {
        let t = parse_token(r#"{"access_token":"ACCESS","expires_in":7200}"#, 1000).expect("token");
        assert_eq!(t.token, "ACCESS");
        assert!(t.is_fresh(1000 + 7200 - REFRESH_MARGIN_S - 1));
        assert!(!t.is_fresh(1000 + 7200 - REFRESH_MARGIN_S));
        let e = parse_token(r#"{"errcode":40013,"errmsg":"invalid appid"}"#, 0).expect_err("error");
        assert_eq!((e.code, e.token_expired()), (40013, false));
        assert!(parse_token("<html>", 0).is_err());
    }

    #[test]
    fn send_answers_and_bodies() {
        assert!(parse_send(r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        let e = parse_send(r#"{"errcode":42001,"errmsg":"access_token expired"}"#)
            .expect_err("expired");
        assert!(e.token_expired());
        assert_eq!(text_message("oABC", "您好")["text"]["content"], "您好");
        assert_eq!(
            send_url("http://127.0.0.1:9/", "T"),
            "http://127.0.0.1:9/cgi-bin/message/custom/send?access_token=T"
        );
    }
}
