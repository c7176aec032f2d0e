//! Customers across channels: a person recognised by their phone number, the
//! business's CRM id, their WeChat openid or a web chat visitor, with every
//! conversation they had on any channel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use store::IdentityKind;

use crate::auth::{Caller, Permission};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

/// The identities a request names; the first is the one looked up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerKeys {
    #[serde(default)]
    pub crm_id: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub wechat_openid: Option<String>,
}

fn checked(kind: IdentityKind, value: &str) -> ApiResult<(IdentityKind, String)> {
    let value = value.trim();
    let normalised = match kind {
        IdentityKind::Phone => phone::normalize(value).map_err(|e| {
            ApiError::bad_request(
                format!("电话号码 {value} 无法识别：{}", e.zh()),
                format!("phone number {value} is not recognised: {e}"),
            )
        })?,
        _ if value.is_empty() || value.len() > 128 => {
            return Err(ApiError::bad_request(
                "标识应为 1 到 128 个字符",
                "an identity is 1-128 characters",
            ));
        }
        _ => value.to_string(),
    };
    Ok((kind, normalised))
}

impl CustomerKeys {
    /// CRM id first (the business's own key), then phone, then openid.
    pub fn identities(&self) -> ApiResult<Vec<(IdentityKind, String)>> {
        let mut out = Vec::new();
        for (kind, v) in [
            (IdentityKind::Crm, &self.crm_id),
            (IdentityKind::Phone, &self.phone),
            (IdentityKind::Wechat, &self.wechat_openid),
        ] {
            if let Some(v) = v {
                out.push(checked(kind, v)?);
            }
        }
        if out.is_empty() {
            return Err(ApiError::bad_request(
                "customer 至少需要一个标识",
                "customer needs at least one of crm_id, phone, wechat_openid",
            ));
        }
        Ok(out)
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("客户", "customer")
}

/// `GET /api/v1/customers?phone=|crm_id=|wechat_openid=`: find a customer.
pub async fn find(
    State(state): State<AppState>,
    caller: Caller,
    Query(keys): Query<CustomerKeys>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ReadConversations)?;
    for (kind, value) in keys.identities()? {
        if let Some(c) = state
            .store()
            .find_customer(&caller.tenant_id, kind, &value)
            .await?
        {
            return Ok(Json(json!(c)));
        }
    }
    Err(not_found())
}

/// `GET /api/v1/customers/{id}`: the customer and their conversations on every channel.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ReadConversations)?;
    let customer = state
        .store()
        .customer(&caller.tenant_id, &id)
        .await?
        .ok_or_else(not_found)?;
    let conversations = state
        .store()
        .customer_conversations(&caller.tenant_id, &id, 200)
        .await?;
    Ok(Json(
        json!({ "customer": customer, "conversations": conversations }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkIdentity {
    pub kind: String,
    pub value: String,
}

/// `POST /api/v1/customers/{id}/identities`: this customer is also known by this.
pub async fn link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<LinkIdentity>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::WriteConversations)?;
    let kind = IdentityKind::parse(&req.kind).ok_or_else(|| {
        ApiError::bad_request(
            "kind 应为 phone、crm、wechat 或 web",
            "kind is phone, crm, wechat or web",
        )
    })?;
    let (kind, value) = checked(kind, &req.value)?;
    if state
        .store()
        .customer(&caller.tenant_id, &id)
        .await?
        .is_none()
    {
        return Err(not_found());
    }
    let customer = state
        .store()
        .link_identity(&caller.tenant_id, &id, kind, &value, state.now_ms())
        .await?;
    state
        .audit(
            &caller,
            "customer.link_identity",
            Some(&id),
            json!({ "kind": kind, "value": value }),
        )
        .await?;
    Ok((StatusCode::OK, Json(customer)))
}
