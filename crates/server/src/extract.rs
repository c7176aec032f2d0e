//! Extractors that answer bad input with the API's JSON error shape instead of
//! axum's plain-text rejections.

use axum::extract::FromRequest;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};

use crate::error::ApiError;

/// `axum::Json` with JSON errors.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path` with JSON errors.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` with JSON errors.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let detail = r.body_text();
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "请求体过大（上限 {} KB）",
                    crate::app::MAX_BODY_BYTES / 1024
                ),
                format!(
                    "the request body is too large (limit {} KB)",
                    crate::app::MAX_BODY_BYTES / 1024
                ),
            );
        }
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "请求体必须是 JSON（Content-Type: application/json）",
                "the request body must be JSON (Content-Type: application/json)",
            ),
            _ => ApiError::bad_request(
                format!("请求体无效：{detail}"),
                format!("invalid request body: {detail}"),
            ),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        let detail = r.body_text();
        ApiError::bad_request(
            format!("路径参数无效：{detail}"),
            format!("invalid path parameter: {detail}"),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        let detail = r.body_text();
        ApiError::bad_request(
            format!("查询参数无效：{detail}"),
            format!("invalid query parameter: {detail}"),
        )
    }
}
