//! Contact lists (imported from CSV or Excel with a column mapping) and the
//! tenant's do-not-call list.

use axum::extract::State;
use axum::response::IntoResponse;
use base64::Engine;
use campaign::import::{self, Format, Mapping};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Caller, Permission};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::valid_name;
use crate::state::AppState;

/// Import bodies may be this large (a CSV of roughly 300,000 contacts);
/// bigger files go through `tonghua contacts import`.
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

fn list_not_found() -> ApiError {
    ApiError::not_found("名单", "contact list")
}

/// `GET /api/v1/contact-lists`
pub async fn lists(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ViewCampaigns)?;
    let lists = state.store().contact_lists(&caller.tenant_id).await?;
    Ok(Json(json!({ "lists": lists })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// `csv` or `xlsx`.
    pub format: String,
    /// The CSV text (format `csv`).
    #[serde(default)]
    pub content: Option<String>,
    /// The file, base64 (format `xlsx`, or a CSV as bytes).
    #[serde(default)]
    pub content_base64: Option<String>,
    #[serde(default)]
    pub mapping: Mapping,
    /// Also put every imported number on the do-not-call list (importing a
    /// do-not-call file).
    #[serde(default)]
    pub do_not_call: bool,
}

/// `POST /api/v1/contact-lists/{name}/import`: adds the file's contacts to
/// the list (created when new); bad rows are reported and skipped.
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<ImportRequest>, ApiError>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageContacts)?;
    // This route takes bigger bodies than the rest: say its own limit.
    let Json(req) = body.map_err(|e| {
        if e.code == "payload_too_large" {
            ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "导入请求过大（上限 {} MB）；更大的文件请用 tonghua contacts import",
                    MAX_IMPORT_BYTES >> 20
                ),
                format!(
                    "the import is too large (limit {} MB); import bigger files with tonghua contacts import",
                    MAX_IMPORT_BYTES >> 20
                ),
            )
        } else {
            e
        }
    })?;
    if !valid_name(&name) {
        return Err(ApiError::bad_request(
            "名单名应为 1 到 64 个字母、数字或 _ . -",
            "a list name is 1-64 of A-Z a-z 0-9 _ . -",
        ));
    }
    let format = match req.format.as_str() {
        "csv" => Format::Csv,
        "xlsx" | "xls" => Format::Xlsx,
        _ => {
            return Err(ApiError::bad_request(
                "format 应为 csv 或 xlsx",
                "format is csv or xlsx",
            ));
        }
    };
    let bytes = match (req.content, req.content_base64) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| {
                ApiError::bad_request(
                    "content_base64 不是有效的 base64",
                    "content_base64 is not valid base64",
                )
            })?,
        _ => {
            return Err(ApiError::bad_request(
                "请提供 content 或 content_base64 之一",
                "give exactly one of content and content_base64",
            ));
        }
    };
    let mapping = req.mapping;
    let parsed = crate::routes::blocking(move || import::parse(&bytes, format, &mapping))
        .await?
        .map_err(|e| ApiError::bad_request(e.zh, e.en))?;
    let now = state.now_ms();
    let list = state
        .store()
        .ensure_contact_list(&caller.tenant_id, &name, now)
        .await?;
    let counts = state
        .store()
        .import_contacts(&caller.tenant_id, &list.id, &parsed.contacts, now)
        .await?;
    let mut dnc_added = 0;
    if req.do_not_call {
        for c in &parsed.contacts {
            if state
                .store()
                .add_dnc(
                    Some(&caller.tenant_id),
                    &c.number,
                    "import",
                    Some(&name),
                    now,
                )
                .await?
            {
                dnc_added += 1;
            }
        }
    }
    state
        .audit(
            &caller,
            "contacts.import",
            Some(&list.id),
            json!({ "list": name, "counts": counts, "rejected": parsed.rejected.len(), "dnc_added": dnc_added }),
        )
        .await?;
    Ok(Json(json!({
        "list": { "id": list.id, "name": list.name },
        "inserted": counts.inserted,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "dnc_added": dnc_added,
        "rejected": parsed.rejected,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/contact-lists/{id}/contacts?after=&limit=`
pub async fn contacts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageContacts)?;
    let list = state
        .store()
        .contact_list(&caller.tenant_id, &id)
        .await?
        .ok_or_else(list_not_found)?;
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    let contacts = state
        .store()
        .contacts(&caller.tenant_id, &list.id, page.after.as_deref(), limit)
        .await?;
    Ok(Json(json!({ "list": list, "contacts": contacts })))
}

/// `GET /api/v1/dnc?after=&limit=`: the tenant's do-not-call list.
pub async fn dnc_list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageContacts)?;
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    let entries = state
        .store()
        .dnc_entries(Some(&caller.tenant_id), page.after.as_deref(), limit)
        .await?;
    Ok(Json(json!({ "numbers": entries })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddDnc {
    pub numbers: Vec<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

fn number(raw: &str) -> ApiResult<String> {
    phone::normalize(raw).map_err(|e| {
        ApiError::bad_request(
            format!("电话号码 {raw} 无法识别：{}", e.zh()),
            format!("phone number {raw} is not recognised: {e}"),
        )
    })
}

/// `POST /api/v1/dnc`: never call these numbers (all valid, or none added).
pub async fn dnc_add(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<AddDnc>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageContacts)?;
    if req.numbers.is_empty() || req.numbers.len() > 10_000 {
        return Err(ApiError::bad_request(
            "numbers 应有 1 到 10000 个号码",
            "numbers has 1-10000 entries",
        ));
    }
    if req.reason.as_ref().is_some_and(|r| r.chars().count() > 200) {
        return Err(ApiError::bad_request(
            "reason 最多 200 个字",
            "reason is at most 200 characters",
        ));
    }
    let numbers = req
        .numbers
        .iter()
        .map(|n| number(n))
        .collect::<ApiResult<Vec<_>>>()?;
    let now = state.now_ms();
    let mut added = Vec::new();
    for n in &numbers {
        if state
            .store()
            .add_dnc(
                Some(&caller.tenant_id),
                n,
                "api",
                req.reason.as_deref(),
                now,
            )
            .await?
        {
            added.push(n.clone());
        }
    }
    state
        .audit(
            &caller,
            "dnc.add",
            None,
            json!({ "added": added, "reason": req.reason }),
        )
        .await?;
    Ok(Json(
        json!({ "added": added.len(), "already_listed": numbers.len() - added.len() }),
    ))
}

/// `DELETE /api/v1/dnc/{number}`
pub async fn dnc_remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageContacts)?;
    let n = number(&raw)?;
    if !state
        .store()
        .remove_dnc(Some(&caller.tenant_id), &n)
        .await?
    {
        return Err(ApiError::not_found("免打扰号码", "do-not-call number"));
    }
    state
        .audit(&caller, "dnc.remove", Some(&n), json!({}))
        .await?;
    Ok(Json(json!({ "removed": n })))
}
