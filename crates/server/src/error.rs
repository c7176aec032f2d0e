//! The API's one error type and its stable JSON shape:
//!
//! ```json
//! {"error": {"code": "not_found", "message": "…中文…", "message_en": "…", "request_id": "…"}}
//! ```
//!
//! `code` is for programs and never changes meaning; `message` is Chinese for
//! people, `message_en` the same in English.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub message_en: String,
    pub retry_after_secs: Option<u64>,
    /// Set when a signed-in caller was refused, so the audit layer can log it.
    pub denied: Option<Box<DeniedCaller>>,
    /// Structured detail, e.g. every validation issue of an uploaded script.
    pub details: Option<Box<serde_json::Value>>,
}

/// Who was refused, for the audit log.
#[derive(Debug, Clone)]
pub struct DeniedCaller {
    pub tenant_id: String,
    pub actor_kind: &'static str,
    pub actor_id: String,
    pub actor_name: String,
    pub permission: &'static str,
}

/// The body as first rendered, kept in the response's extensions so the
/// request-id layer can add the id without parsing JSON back.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    pub message_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            message: zh.into(),
            message_en: en.into(),
            retry_after_secs: None,
            denied: None,
            details: None,
        }
    }

    pub fn bad_request(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", zh, en)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "请先登录，或在 Authorization 头中提供有效的 API 令牌",
            "log in first, or send a valid API token in the Authorization header",
        )
    }

    pub fn forbidden(permission: &'static str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("您的角色没有此操作的权限（需要 {permission}）"),
            format!("your role may not do this (needs {permission})"),
        )
    }

    pub fn not_found(what_zh: &str, what_en: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what_zh}不存在"),
            format!("{what_en} not found"),
        )
    }

    pub fn conflict(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", zh, en)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "服务器内部错误，请稍后重试；如果持续出现，请把 request_id 告诉管理员",
            "internal error; try again, and if it persists give the request_id to your administrator",
        )
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs.max(1));
        self
    }
}

impl From<store::StoreError> for ApiError {
    fn from(err: store::StoreError) -> Self {
        match err {
            store::StoreError::Conflict { what } => {
                ApiError::conflict(format!("{what} 已存在"), format!("{what} already exists"))
            }
            store::StoreError::NotFound { what } => ApiError::not_found(&what, &what),
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: self.message,
            message_en: self.message_en,
            request_id: None,
            details: self.details.map(|d| *d),
        };
        let mut response = (
            self.status,
            axum::Json(serde_json::json!({ "error": &body })),
        )
            .into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response.extensions_mut().insert(body);
        if let Some(denied) = self.denied {
            response.extensions_mut().insert(*denied);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
