//! Outbound campaigns: create, start, pause, resume, stop, change lines
//! live; progress with outcome counts; every attempt; the delivery log of
//! CRM webhooks and SMS; the tenant's frequency cap. The runner inside
//! `tonghua serve` picks up every change from the store on its next pass.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use campaign::control::{self, CampaignSpec, ControlError};
use campaign::settings::Settings;
use serde::Deserialize;
use serde_json::{Value, json};
use store::{Campaign, DialingPolicy};

use crate::auth::{Caller, Permission};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let zh = e.zh();
        match e {
            ControlError::NotFound { what, zh } => ApiError::not_found(zh, what),
            ControlError::Invalid { zh, en } => ApiError::bad_request(zh, en),
            ControlError::WrongState { .. } => ApiError::conflict(zh, e.to_string()),
            ControlError::Store(s) => s.into(),
        }
    }
}

/// A campaign as shown: secrets in its settings masked.
pub fn shown(c: &Campaign) -> Value {
    let mut v = json!(c);
    if let Ok(s) = Settings::from_json(&c.settings) {
        v["settings"] = json!(s.masked());
    }
    v
}

/// `GET /api/v1/campaigns`
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ViewCampaigns)?;
    let campaigns = state.store().campaigns(&caller.tenant_id).await?;
    Ok(Json(
        json!({ "campaigns": campaigns.iter().map(shown).collect::<Vec<_>>() }),
    ))
}

/// `POST /api/v1/campaigns`
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(spec): Json<CampaignSpec>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageCampaigns)?;
    let c = control::create(state.store(), &caller.tenant_id, &spec, state.now_ms()).await?;
    state
        .audit(
            &caller,
            "campaign.create",
            Some(&c.id),
            json!({ "name": c.name, "script": c.script_name, "script_version": c.script_version, "list_id": c.list_id, "max_lines": c.max_lines }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(shown(&c))))
}

/// `GET /api/v1/campaigns/{id}`: the campaign, its progress and outcome
/// counts, and when its window next opens (for callees at the default zone).
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ViewCampaigns)?;
    let c = state
        .store()
        .campaign(&caller.tenant_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("活动", "campaign"))?;
    let progress = state
        .store()
        .campaign_progress(&caller.tenant_id, &c.id)
        .await?;
    let now = state.now_ms();
    let window = Settings::from_json(&c.settings)
        .and_then(|s| s.compile())
        .ok()
        .map(|compiled| {
            let offset = compiled.schedule.default_offset;
            json!({
                "open_now": compiled.schedule.is_open(now, offset),
                "next_open": compiled.schedule.next_open(now, offset),
                "utc_offset_minutes": offset,
            })
        });
    Ok(Json(
        json!({ "campaign": shown(&c), "progress": progress, "window": window }),
    ))
}

async fn act(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: &'static str,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::ManageCampaigns)?;
    let (store, tenant, now) = (state.store(), caller.tenant_id.as_str(), state.now_ms());
    let c = match action {
        "start" => control::start(store, tenant, id, now).await?,
        "pause" => control::pause(store, tenant, id, now).await?,
        "resume" => control::resume(store, tenant, id, now).await?,
        _ => control::stop(store, tenant, id, now).await?,
    };
    state
        .audit(
            caller,
            &format!("campaign.{action}"),
            Some(&c.id),
            json!({ "status": c.status }),
        )
        .await?;
    Ok(Json(shown(&c)))
}

/// `POST /api/v1/campaigns/{id}/start`
pub async fn start(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    act(&s, &caller, &id, "start").await
}

/// `POST /api/v1/campaigns/{id}/pause`
pub async fn pause(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    act(&s, &caller, &id, "pause").await
}

/// `POST /api/v1/campaigns/{id}/resume`
pub async fn resume(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    act(&s, &caller, &id, "resume").await
}

/// `POST /api/v1/campaigns/{id}/stop`
pub async fn stop(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    act(&s, &caller, &id, "stop").await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCampaign {
    pub max_lines: i64,
}

/// `PATCH /api/v1/campaigns/{id}`: change the lines live.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<UpdateCampaign>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageCampaigns)?;
    let c = control::set_lines(
        state.store(),
        &caller.tenant_id,
        &id,
        req.max_lines,
        state.now_ms(),
    )
    .await?;
    state
        .audit(
            &caller,
            "campaign.update",
            Some(&c.id),
            json!({ "max_lines": c.max_lines }),
        )
        .await?;
    Ok(Json(shown(&c)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptPage {
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/campaigns/{id}/attempts?before=&limit=`: newest first.
pub async fn attempts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<AttemptPage>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ViewCampaigns)?;
    let c = state
        .store()
        .campaign(&caller.tenant_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("活动", "campaign"))?;
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    let attempts = state
        .store()
        .campaign_attempts(&caller.tenant_id, &c.id, page.before.as_deref(), limit)
        .await?;
    Ok(Json(json!({ "attempts": attempts })))
}

/// `GET /api/v1/campaigns/{id}/deliveries`: webhooks and SMS, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ViewCampaigns)?;
    let c = state
        .store()
        .campaign(&caller.tenant_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("活动", "campaign"))?;
    let deliveries = state
        .store()
        .campaign_deliveries(&caller.tenant_id, &c.id, 200)
        .await?;
    Ok(Json(json!({ "deliveries": deliveries })))
}

/// `GET /api/v1/dialing-policy`
pub async fn policy(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ViewCampaigns)?;
    let p = state.store().dialing_policy(&caller.tenant_id).await?;
    Ok(Json(match p {
        Some(p) => json!({ "max_calls": p.max_calls, "per_days": p.window_ms / DAY_MS }),
        None => json!({ "max_calls": null, "per_days": null }),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutPolicy {
    /// `null` removes the cap.
    pub max_calls: Option<i64>,
    #[serde(default)]
    pub per_days: Option<i64>,
}

/// `PUT /api/v1/dialing-policy`: at most `max_calls` answered calls to one
/// number per `per_days` days, over all the tenant's campaigns.
pub async fn put_policy(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<PutPolicy>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ManageCampaigns)?;
    let policy = match (req.max_calls, req.per_days) {
        (None, _) => None,
        (Some(m), Some(d)) if (1..=100).contains(&m) && (1..=365).contains(&d) => {
            Some(DialingPolicy {
                max_calls: m,
                window_ms: d * DAY_MS,
            })
        }
        _ => {
            return Err(ApiError::bad_request(
                "max_calls 应为 1 到 100，per_days 应为 1 到 365",
                "max_calls is 1-100 and per_days 1-365",
            ));
        }
    };
    state
        .store()
        .set_dialing_policy(&caller.tenant_id, policy, state.now_ms())
        .await?;
    state
        .audit(
            &caller,
            "dialing_policy.set",
            None,
            json!({ "max_calls": req.max_calls, "per_days": req.per_days }),
        )
        .await?;
    Ok(Json(
        json!({ "max_calls": req.max_calls, "per_days": policy.map(|p| p.window_ms / DAY_MS) }),
    ))
}
