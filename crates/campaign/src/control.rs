//! Creating campaigns and moving them through their states, shared by the
//! console API and the CLI so both check the same things.
//!
//! ```text
//! draft ──start──▶ running ──pause──▶ paused ──resume──▶ running
//!                     │                  │
//!                     └──────stop────────┴──▶ stopped      running ──(nothing left)──▶ completed
//! ```
//! Start and resume queue the list's contacts not queued yet, so contacts
//! imported after the start join the campaign on the next resume.

use serde::Deserialize;
use store::{Campaign, DocumentKind, NewCampaign, Store, StoreError};

use crate::settings::{Settings, SettingsError};

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{what} not found")]
    NotFound {
        what: &'static str,
        zh: &'static str,
    },
    #[error("{en}")]
    Invalid { zh: String, en: String },
    #[error("the campaign is {status}; cannot {action}")]
    WrongState {
        status: String,
        action: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ControlError {
    fn invalid(zh: impl Into<String>, en: impl Into<String>) -> ControlError {
        ControlError::Invalid {
            zh: zh.into(),
            en: en.into(),
        }
    }

    /// The reason in Chinese.
    pub fn zh(&self) -> String {
        match self {
            ControlError::NotFound { zh, .. } => format!("{zh}不存在"),
            ControlError::Invalid { zh, .. } => zh.clone(),
            ControlError::WrongState { status, action } => {
                format!("活动当前状态为 {status}，不能{}", action_zh(action))
            }
            ControlError::Store(e) => format!("数据库错误：{e}"),
        }
    }
}

fn action_zh(action: &str) -> &'static str {
    match action {
        "start" => "启动",
        "pause" => "暂停",
        "resume" => "恢复",
        "stop" => "停止",
        _ => "修改",
    }
}

impl From<SettingsError> for ControlError {
    fn from(e: SettingsError) -> Self {
        ControlError::Invalid { zh: e.zh, en: e.en }
    }
}

/// A campaign as an operator describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    pub name: String,
    /// Script name; the version is pinned now (latest unless given).
    pub script: String,
    #[serde(default)]
    pub script_version: Option<i64>,
    /// Contact list, by name or id.
    pub list: String,
    /// The SIP account (trunk) to call through.
    pub trunk: String,
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Lines used at once (1-1000).
    pub max_lines: i64,
    #[serde(default)]
    pub settings: Option<serde_json::Value>,
}

/// The most lines one campaign may hold.
pub const MAX_LINES: i64 = 1000;

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

pub fn check_lines(n: i64) -> Result<(), ControlError> {
    if (1..=MAX_LINES).contains(&n) {
        Ok(())
    } else {
        Err(ControlError::invalid(
            format!("并发线路数应为 1 到 {MAX_LINES}"),
            format!("max_lines must be 1-{MAX_LINES}"),
        ))
    }
}

pub async fn create(
    store: &Store,
    tenant_id: &str,
    spec: &CampaignSpec,
    now: i64,
) -> Result<Campaign, ControlError> {
    if !valid_name(&spec.name) || !valid_name(&spec.trunk) {
        return Err(ControlError::invalid(
            "活动名和线路名应为 1 到 64 个字母、数字或 _ . -",
            "campaign and trunk names are 1-64 of A-Z a-z 0-9 _ . -",
        ));
    }
    check_lines(spec.max_lines)?;
    let settings_json = spec
        .settings
        .clone()
        .unwrap_or_else(|| serde_json::json!({}));
    Settings::from_json(&settings_json)?.compile()?;
    let caller_id = match &spec.caller_id {
        None => None,
        Some(c) => Some(phone::normalize(c).map_err(|e| {
            ControlError::invalid(
                format!("主叫号码 {c} 无法识别：{}", e.zh()),
                format!("caller_id {c}: {e}"),
            )
        })?),
    };
    let script = store
        .document(
            tenant_id,
            DocumentKind::Script,
            &spec.script,
            spec.script_version,
        )
        .await?
        .ok_or(ControlError::NotFound {
            what: "script",
            zh: "话术",
        })?;
    let list = store
        .contact_list(tenant_id, &spec.list)
        .await?
        .ok_or(ControlError::NotFound {
            what: "contact list",
            zh: "名单",
        })?;
    let new = NewCampaign {
        tenant_id: tenant_id.to_string(),
        name: spec.name.clone(),
        script_name: script.name,
        script_version: script.version,
        list_id: list.id,
        trunk: spec.trunk.clone(),
        caller_id,
        max_lines: spec.max_lines,
        settings: settings_json,
    };
    store.create_campaign(&new, now).await.map_err(|e| match e {
        StoreError::Conflict { .. } => ControlError::invalid(
            format!("活动 {} 已存在", spec.name),
            format!("campaign {} already exists", spec.name),
        ),
        other => other.into(),
    })
}

async fn find(store: &Store, tenant_id: &str, id: &str) -> Result<Campaign, ControlError> {
    store
        .campaign(tenant_id, id)
        .await?
        .ok_or(ControlError::NotFound {
            what: "campaign",
            zh: "活动",
        })
}

async fn transition(
    store: &Store,
    tenant_id: &str,
    id: &str,
    from: &[&str],
    to: &str,
    action: &'static str,
    now: i64,
) -> Result<Campaign, ControlError> {
    let campaign = find(store, tenant_id, id).await?;
    if !from.contains(&campaign.status.as_str()) {
        return Err(ControlError::WrongState {
            status: campaign.status,
            action,
        });
    }
    if matches!(to, "running") {
        let offset = Settings::from_json(&campaign.settings)?
            .compile()?
            .schedule
            .default_offset;
        store
            .enqueue_campaign_contacts(&campaign, offset, now)
            .await?;
    }
    match store
        .set_campaign_status(tenant_id, &campaign.id, from, to, now)
        .await?
    {
        Some(c) => Ok(c),
        None => {
            let status = find(store, tenant_id, id).await?.status;
            Err(ControlError::WrongState { status, action })
        }
    }
}

pub async fn start(
    store: &Store,
    tenant_id: &str,
    id: &str,
    now: i64,
) -> Result<Campaign, ControlError> {
    transition(store, tenant_id, id, &["draft"], "running", "start", now).await
}

pub async fn pause(
    store: &Store,
    tenant_id: &str,
    id: &str,
    now: i64,
) -> Result<Campaign, ControlError> {
    transition(store, tenant_id, id, &["running"], "paused", "pause", now).await
}

pub async fn resume(
    store: &Store,
    tenant_id: &str,
    id: &str,
    now: i64,
) -> Result<Campaign, ControlError> {
    // A completed campaign resumes too: contacts imported since then get called.
    transition(
        store,
        tenant_id,
        id,
        &["paused", "completed"],
        "running",
        "resume",
        now,
    )
    .await
}

pub async fn stop(
    store: &Store,
    tenant_id: &str,
    id: &str,
    now: i64,
) -> Result<Campaign, ControlError> {
    transition(
        store,
        tenant_id,
        id,
        &["draft", "running", "paused", "completed"],
        "stopped",
        "stop",
        now,
    )
    .await
}

/// Changes the lines a campaign uses, live: the runner's next pass uses it
/// (calls already up are not cut).
pub async fn set_lines(
    store: &Store,
    tenant_id: &str,
    id: &str,
    max_lines: i64,
    now: i64,
) -> Result<Campaign, ControlError> {
    check_lines(max_lines)?;
    let campaign = find(store, tenant_id, id).await?;
    store
        .set_campaign_max_lines(tenant_id, &campaign.id, max_lines, now)
        .await?
        .ok_or(ControlError::NotFound {
            what: "campaign",
            zh: "活动",
        })
}
