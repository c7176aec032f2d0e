//! Campaigns, their work queue (`campaign_contacts`), every dial attempt, and
//! the outbox of CRM webhooks and SMS that follow a call.
//!
//! Crash safety lives here: a claim marks the queue row `dialing` and writes
//! the attempt row (with its id) in one transaction, before anyone dials; an
//! attempt is finished at most once (`ended_at IS NULL` guards it), and the
//! result, the next step for the contact, the deliveries and a do-not-call
//! request are committed together.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::contacts::GLOBAL_DNC;
use crate::{Store, StoreError, new_id};

#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// `draft`, `running`, `paused`, `stopped` or `completed`.
    pub status: String,
    pub script_name: String,
    pub script_version: i64,
    pub list_id: String,
    pub trunk: String,
    pub caller_id: Option<String>,
    pub max_lines: i64,
    /// Windows, holidays, pacing, retries, webhook, SMS (typed by the `campaign` crate).
    pub settings: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub tenant_id: String,
    pub name: String,
    pub script_name: String,
    pub script_version: i64,
    pub list_id: String,
    pub trunk: String,
    pub caller_id: Option<String>,
    pub max_lines: i64,
    pub settings: serde_json::Value,
}

/// A due contact, offered to the caller's policy before it is dialled.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub contact_id: String,
    pub number: String,
    /// This would be attempt number `attempt_no` (1 for the first call).
    pub attempt_no: i64,
    /// The number is on the tenant's or the global do-not-call list.
    pub on_dnc: bool,
    /// When the number's answered calls (any campaign of the tenant) ended,
    /// within the policy's window, oldest first.
    pub recent_answered: Vec<i64>,
    /// This call is the callback the callee asked for.
    pub callback: bool,
}

/// What to do with a [`Candidate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Write the attempt and hand it to the dialer.
    Dial,
    /// Never call it in this campaign; `outcome` is recorded (e.g. `dnc`).
    Skip { outcome: String },
    /// Not now: try again at `until`.
    Defer { until: i64 },
}

/// A claimed attempt: persisted, and the dialer may call it exactly once.
#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    pub attempt_id: String,
    pub tenant_id: String,
    pub campaign_id: String,
    pub contact_id: String,
    pub number: String,
    pub attempt_no: i64,
    pub name: Option<String>,
    pub variables: BTreeMap<String, String>,
}

/// What a finished attempt found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttemptResult {
    pub outcome: String,
    pub talk_ms: i64,
    pub conversation_id: Option<String>,
    pub recording: Option<String>,
    pub transcript: Option<String>,
    pub grade: Option<String>,
    pub tags: Vec<String>,
    pub callback_at: Option<i64>,
    pub detail: Option<String>,
}

/// After an attempt: is the contact finished, or called again, and when?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Done,
    RetryAt(i64),
    /// The callee asked to be called back then.
    CallbackAt(i64),
}

/// A webhook or SMS to send once the attempt is committed.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub kind: &'static str,
    pub url: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub id: String,
    pub campaign_id: String,
    pub contact_id: String,
    pub number: String,
    pub attempt_no: i64,
    pub claimed_at: i64,
    pub ended_at: Option<i64>,
    #[serde(flatten)]
    pub result: AttemptResult,
}

/// An attempt with no result: in flight, or lost to a crash.
#[derive(Debug, Clone)]
pub struct OpenAttempt {
    pub attempt_id: String,
    pub tenant_id: String,
    pub campaign_id: String,
    pub contact_id: String,
    pub number: String,
    pub attempt_no: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: String,
    pub tenant_id: String,
    pub campaign_id: String,
    pub attempt_id: String,
    pub kind: String,
    pub url: String,
    pub payload: serde_json::Value,
    /// `pending`, `delivered` or `failed` (gave up).
    pub status: String,
    pub tries: i64,
    pub next_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where a campaign stands.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    pub contacts: i64,
    pub pending: i64,
    pub dialing: i64,
    pub done: i64,
    pub attempts: i64,
    /// Attempts by outcome (`answered`, `busy`, …), and contacts skipped (`dnc`).
    pub outcomes: BTreeMap<String, i64>,
}

fn row_to_campaign(r: &SqliteRow) -> Result<Campaign, StoreError> {
    let settings: String = r.try_get("settings")?;
    Ok(Campaign {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        status: r.try_get("status")?,
        script_name: r.try_get("script_name")?,
        script_version: r.try_get("script_version")?,
        list_id: r.try_get("list_id")?,
        trunk: r.try_get("trunk")?,
        caller_id: r.try_get("caller_id")?,
        max_lines: r.try_get("max_lines")?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(format!("campaign settings: {e}")))?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

fn row_to_attempt(r: &SqliteRow) -> Result<Attempt, StoreError> {
    let tags: Option<String> = r.try_get("tags")?;
    Ok(Attempt {
        id: r.try_get("id")?,
        campaign_id: r.try_get("campaign_id")?,
        contact_id: r.try_get("contact_id")?,
        number: r.try_get("number")?,
        attempt_no: r.try_get("attempt_no")?,
        claimed_at: r.try_get("claimed_at")?,
        ended_at: r.try_get("ended_at")?,
        result: AttemptResult {
            outcome: r
                .try_get::<Option<String>, _>("outcome")?
                .unwrap_or_default(),
            talk_ms: r.try_get::<Option<i64>, _>("talk_ms")?.unwrap_or(0),
            conversation_id: r.try_get("conversation_id")?,
            recording: r.try_get("recording")?,
            transcript: r.try_get("transcript")?,
            grade: r.try_get("grade")?,
            tags: match tags {
                Some(t) => serde_json::from_str(&t)
                    .map_err(|e| StoreError::Corrupt(format!("attempt tags: {e}")))?,
                None => Vec::new(),
            },
            callback_at: r.try_get("callback_at")?,
            detail: r.try_get("detail")?,
        },
    })
}

fn row_to_delivery(r: &SqliteRow) -> Result<Delivery, StoreError> {
    let payload: String = r.try_get("payload")?;
    Ok(Delivery {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        campaign_id: r.try_get("campaign_id")?,
        attempt_id: r.try_get("attempt_id")?,
        kind: r.try_get("kind")?,
        url: r.try_get("url")?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("delivery payload: {e}")))?,
        status: r.try_get("status")?,
        tries: r.try_get("tries")?,
        next_at: r.try_get("next_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn json_text(v: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    pub async fn create_campaign(
        &self,
        new: &NewCampaign,
        now: i64,
    ) -> Result<Campaign, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO campaigns (id, tenant_id, name, status, script_name, script_version, list_id, trunk, caller_id, max_lines, settings, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'draft', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        )
        .bind(&id)
        .bind(&new.tenant_id)
        .bind(&new.name)
        .bind(&new.script_name)
        .bind(new.script_version)
        .bind(&new.list_id)
        .bind(&new.trunk)
        .bind(&new.caller_id)
        .bind(new.max_lines)
        .bind(json_text(&new.settings)?)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("campaign {}", new.name)))?;
        self.campaign(&new.tenant_id, &id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("campaign {id}"),
            })
    }

    /// A campaign by id or by name.
    pub async fn campaign(
        &self,
        tenant_id: &str,
        id_or_name: &str,
    ) -> Result<Option<Campaign>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM campaigns WHERE tenant_id = ?1 AND (id = ?2 OR name = ?2)")
                .bind(tenant_id)
                .bind(id_or_name)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(row_to_campaign).transpose()
    }

    pub async fn campaigns(&self, tenant_id: &str) -> Result<Vec<Campaign>, StoreError> {
        let rows = sqlx::query("SELECT * FROM campaigns WHERE tenant_id = ?1 ORDER BY id DESC")
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_campaign).collect()
    }

    /// Every running campaign of every tenant: for the campaign runner only,
    /// which acts for all tenants and scopes everything it does by the
    /// campaign's own tenant.
    pub async fn running_campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        let rows = sqlx::query("SELECT * FROM campaigns WHERE status = 'running' ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_campaign).collect()
    }

    /// Moves a campaign to `to` if its status is one of `from`; `None` when
    /// it is not (the caller says why, from the campaign as it is).
    pub async fn set_campaign_status(
        &self,
        tenant_id: &str,
        id: &str,
        from: &[&str],
        to: &str,
        now: i64,
    ) -> Result<Option<Campaign>, StoreError> {
        let from = json_text(&from)?;
        let done = sqlx::query(
            "UPDATE campaigns SET status = ?3, updated_at = ?5,
                started_at = CASE WHEN ?3 = 'running' THEN COALESCE(started_at, ?5) ELSE started_at END,
                finished_at = CASE WHEN ?3 IN ('stopped', 'completed') THEN ?5 ELSE NULL END
             WHERE tenant_id = ?1 AND id = ?2 AND status IN (SELECT value FROM json_each(?4))",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(to)
        .bind(from)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.campaign(tenant_id, id).await
    }

    /// Changes the number of lines a campaign may use; takes effect on the
    /// runner's next pass.
    pub async fn set_campaign_max_lines(
        &self,
        tenant_id: &str,
        id: &str,
        max_lines: i64,
        now: i64,
    ) -> Result<Option<Campaign>, StoreError> {
        let done = sqlx::query(
            "UPDATE campaigns SET max_lines = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND id = ?2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(max_lines)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.campaign(tenant_id, id).await
    }

    /// Queues every contact of the campaign's list not queued yet (contacts
    /// imported after the start join on the next start or resume). A contact
    /// without a known UTC offset gets `default_offset`. Returns how many
    /// were added. Works in slices of the list, one transaction each, so a
    /// million contacts never hold the write lock for long.
    pub async fn enqueue_campaign_contacts(
        &self,
        campaign: &Campaign,
        default_offset: i32,
        now: i64,
    ) -> Result<u64, StoreError> {
        const SLICE: i64 = 20_000;
        // Each slice walks a rowid range of the table (the unary `+` keeps
        // SQLite from scanning the whole list's index for every slice).
        let last: Option<i64> =
            sqlx::query("SELECT MAX(rowid) AS last FROM contacts WHERE list_id = ?1")
                .bind(&campaign.list_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("last")?;
        let Some(last) = last else {
            return Ok(0);
        };
        let mut added = 0;
        let mut from = 0;
        while from <= last {
            let done = sqlx::query(
                "INSERT INTO campaign_contacts (campaign_id, contact_id, tenant_id, number, utc_offset, state, attempts, next_at)
                 SELECT ?1, c.id, c.tenant_id, c.number, COALESCE(c.utc_offset, ?4), 'pending', 0, ?5
                 FROM contacts c WHERE c.rowid >= ?6 AND c.rowid < ?7 AND +c.tenant_id = ?2 AND +c.list_id = ?3
                 ON CONFLICT DO NOTHING",
            )
            .bind(&campaign.id)
            .bind(&campaign.tenant_id)
            .bind(&campaign.list_id)
            .bind(default_offset)
            .bind(now)
            .bind(from)
            .bind(from + SLICE)
            .execute(&self.pool)
            .await?;
            added += done.rows_affected();
            from += SLICE;
        }
        Ok(added)
    }

    /// Claims up to `limit` due contacts (pending, `next_at <= now`, whose
    /// UTC offset is in `open_offsets`), oldest first, in one transaction:
    /// each is offered to `decide` with its do-not-call status and recent
    /// answered calls (since `cap_since`); those to dial get an attempt row
    /// before this returns. Two claimers never get the same contact.
    pub async fn claim_due(
        &self,
        campaign: &Campaign,
        now: i64,
        limit: i64,
        open_offsets: &[i32],
        cap_since: Option<i64>,
        mut decide: impl FnMut(&Candidate) -> ClaimDecision,
    ) -> Result<Vec<Claim>, StoreError> {
        if limit <= 0 || open_offsets.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        // The write comes first, so the transaction holds the write lock from
        // its first statement and cannot be invalidated by another writer.
        let rows = sqlx::query(
            "UPDATE campaign_contacts SET state = 'dialing', attempts = attempts + 1
             WHERE campaign_id = ?1 AND contact_id IN (
                SELECT contact_id FROM campaign_contacts
                WHERE campaign_id = ?1 AND state = 'pending' AND next_at <= ?2
                  AND utc_offset IN (SELECT value FROM json_each(?3))
                ORDER BY next_at LIMIT ?4)
             RETURNING contact_id, number, attempts, callback",
        )
        .bind(&campaign.id)
        .bind(now)
        .bind(json_text(&open_offsets)?)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut claims = Vec::with_capacity(rows.len());
        for row in rows {
            let contact_id: String = row.try_get("contact_id")?;
            let number: String = row.try_get("number")?;
            let attempt_no: i64 = row.try_get("attempts")?;
            let callback: bool = row.try_get::<i64, _>("callback")? != 0;
            let on_dnc = sqlx::query(
                "SELECT 1 FROM dnc_numbers WHERE scope IN (?1, ?2) AND number = ?3 LIMIT 1",
            )
            .bind(&campaign.tenant_id)
            .bind(GLOBAL_DNC)
            .bind(&number)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
            let recent_answered = match cap_since {
                None => Vec::new(),
                Some(since) => sqlx::query(
                    "SELECT ended_at FROM campaign_attempts
                     WHERE tenant_id = ?1 AND number = ?2 AND outcome = 'answered' AND ended_at > ?3
                     ORDER BY ended_at",
                )
                .bind(&campaign.tenant_id)
                .bind(&number)
                .bind(since)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("ended_at"))
                .collect::<Result<_, _>>()?,
            };
            let candidate = Candidate {
                contact_id,
                number,
                attempt_no,
                on_dnc,
                recent_answered,
                callback,
            };
            match decide(&candidate) {
                ClaimDecision::Dial => {
                    let attempt_id = new_id();
                    sqlx::query(
                        "INSERT INTO campaign_attempts (id, tenant_id, campaign_id, contact_id, number, attempt_no, claimed_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .bind(&attempt_id)
                    .bind(&campaign.tenant_id)
                    .bind(&campaign.id)
                    .bind(&candidate.contact_id)
                    .bind(&candidate.number)
                    .bind(attempt_no)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let contact = sqlx::query("SELECT name, variables FROM contacts WHERE id = ?1")
                        .bind(&candidate.contact_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let variables: String = contact.try_get("variables")?;
                    claims.push(Claim {
                        attempt_id,
                        tenant_id: campaign.tenant_id.clone(),
                        campaign_id: campaign.id.clone(),
                        contact_id: candidate.contact_id,
                        number: candidate.number,
                        attempt_no,
                        name: contact.try_get("name")?,
                        variables: serde_json::from_str(&variables)
                            .map_err(|e| StoreError::Corrupt(format!("contact variables: {e}")))?,
                    });
                }
                ClaimDecision::Skip { outcome } => {
                    sqlx::query(
                        "UPDATE campaign_contacts SET state = 'done', attempts = attempts - 1, last_outcome = ?3
                         WHERE campaign_id = ?1 AND contact_id = ?2",
                    )
                    .bind(&campaign.id)
                    .bind(&candidate.contact_id)
                    .bind(outcome)
                    .execute(&mut *tx)
                    .await?;
                }
                ClaimDecision::Defer { until } => {
                    sqlx::query(
                        "UPDATE campaign_contacts SET state = 'pending', attempts = attempts - 1, next_at = ?3
                         WHERE campaign_id = ?1 AND contact_id = ?2",
                    )
                    .bind(&campaign.id)
                    .bind(&candidate.contact_id)
                    .bind(until)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(claims)
    }

    /// Records an attempt's result, the contact's next step, the deliveries
    /// it triggers and (when the callee asked) a do-not-call entry, all in
    /// one transaction. Returns false, changing nothing, when the attempt is
    /// unknown or already finished: a result is recorded at most once.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_attempt(
        &self,
        tenant_id: &str,
        attempt_id: &str,
        result: &AttemptResult,
        next: NextStep,
        deliveries: &[NewDelivery],
        add_dnc: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE campaign_attempts SET ended_at = ?3, outcome = ?4, talk_ms = ?5, conversation_id = ?6,
                recording = ?7, transcript = ?8, grade = ?9, tags = ?10, callback_at = ?11, detail = ?12
             WHERE tenant_id = ?1 AND id = ?2 AND ended_at IS NULL
             RETURNING campaign_id, contact_id, number",
        )
        .bind(tenant_id)
        .bind(attempt_id)
        .bind(now)
        .bind(&result.outcome)
        .bind(result.talk_ms)
        .bind(&result.conversation_id)
        .bind(&result.recording)
        .bind(&result.transcript)
        .bind(&result.grade)
        .bind(json_text(&result.tags)?)
        .bind(result.callback_at)
        .bind(&result.detail)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let campaign_id: String = row.try_get("campaign_id")?;
        let contact_id: String = row.try_get("contact_id")?;
        let number: String = row.try_get("number")?;
        let (state, next_at, callback) = match next {
            NextStep::Done => ("done", None, 0),
            NextStep::RetryAt(at) => ("pending", Some(at), 0),
            NextStep::CallbackAt(at) => ("pending", Some(at), 1),
        };
        sqlx::query(
            "UPDATE campaign_contacts SET state = ?3, next_at = COALESCE(?4, next_at), last_outcome = ?5, callback = ?6
             WHERE campaign_id = ?1 AND contact_id = ?2",
        )
        .bind(&campaign_id)
        .bind(&contact_id)
        .bind(state)
        .bind(next_at)
        .bind(&result.outcome)
        .bind(callback)
        .execute(&mut *tx)
        .await?;
        for d in deliveries {
            sqlx::query(
                "INSERT INTO campaign_deliveries (id, tenant_id, campaign_id, attempt_id, kind, url, payload, status, tries, next_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?8, ?8) ON CONFLICT DO NOTHING",
            )
            .bind(new_id())
            .bind(tenant_id)
            .bind(&campaign_id)
            .bind(attempt_id)
            .bind(d.kind)
            .bind(&d.url)
            .bind(json_text(&d.payload)?)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if add_dnc {
            sqlx::query(
                "INSERT INTO dnc_numbers (scope, number, source, reason, created_at)
                 VALUES (?1, ?2, 'conversation', ?3, ?4) ON CONFLICT DO NOTHING",
            )
            .bind(tenant_id)
            .bind(&number)
            .bind(format!(
                "asked not to be called again (attempt {attempt_id})"
            ))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Attempts without a result, of every tenant: after a restart these are
    /// the calls the previous process lost track of.
    pub async fn open_attempts(&self) -> Result<Vec<OpenAttempt>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, campaign_id, contact_id, number, attempt_no FROM campaign_attempts WHERE ended_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OpenAttempt {
                    attempt_id: r.try_get("id")?,
                    tenant_id: r.try_get("tenant_id")?,
                    campaign_id: r.try_get("campaign_id")?,
                    contact_id: r.try_get("contact_id")?,
                    number: r.try_get("number")?,
                    attempt_no: r.try_get("attempt_no")?,
                })
            })
            .collect()
    }

    /// Marks a running campaign `completed` when nothing is pending or being
    /// dialled. Returns whether it did.
    pub async fn complete_campaign_if_done(
        &self,
        campaign: &Campaign,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE campaigns SET status = 'completed', finished_at = ?3, updated_at = ?3
             WHERE tenant_id = ?1 AND id = ?2 AND status = 'running'
               AND NOT EXISTS (SELECT 1 FROM campaign_contacts WHERE campaign_id = ?2 AND state IN ('pending', 'dialing'))",
        )
        .bind(&campaign.tenant_id)
        .bind(&campaign.id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The earliest time a pending contact of the campaign is due, if any.
    pub async fn next_due(&self, campaign_id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_at) AS due FROM campaign_contacts WHERE campaign_id = ?1 AND state = 'pending'",
        )
        .bind(campaign_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("due")?)
    }

    pub async fn campaign_progress(
        &self,
        tenant_id: &str,
        campaign_id: &str,
    ) -> Result<Progress, StoreError> {
        let mut p = Progress::default();
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM campaign_contacts WHERE tenant_id = ?1 AND campaign_id = ?2 GROUP BY state",
        )
        .bind(tenant_id)
        .bind(campaign_id)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let state: String = r.try_get("state")?;
            let n: i64 = r.try_get("n")?;
            p.contacts += n;
            match state.as_str() {
                "pending" => p.pending = n,
                "dialing" => p.dialing = n,
                _ => p.done = n,
            }
        }
        let rows = sqlx::query(
            "SELECT outcome, COUNT(*) AS n FROM campaign_attempts WHERE tenant_id = ?1 AND campaign_id = ?2 AND outcome IS NOT NULL GROUP BY outcome",
        )
        .bind(tenant_id)
        .bind(campaign_id)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let n: i64 = r.try_get("n")?;
            p.attempts += n;
            p.outcomes.insert(r.try_get("outcome")?, n);
        }
        let skipped: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM campaign_contacts WHERE tenant_id = ?1 AND campaign_id = ?2 AND state = 'done' AND last_outcome = 'dnc'",
        )
        .bind(tenant_id)
        .bind(campaign_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        if skipped > 0 {
            p.outcomes.insert("dnc".into(), skipped);
        }
        Ok(p)
    }

    /// A campaign's attempts, newest first, before `before` (an attempt id).
    pub async fn campaign_attempts(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Attempt>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM campaign_attempts WHERE tenant_id = ?1 AND campaign_id = ?2 AND (?3 IS NULL OR id < ?3)
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(tenant_id)
        .bind(campaign_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_attempt).collect()
    }

    /// Deliveries to try now, of every tenant (for the delivery loop).
    pub async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM campaign_deliveries WHERE status = 'pending' AND next_at <= ?1 ORDER BY next_at LIMIT ?2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_delivery).collect()
    }

    /// Records one try: `next_at = None` ends it (`delivered` when
    /// `delivered`, otherwise `failed`); `Some(t)` tries again at `t`.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_delivery_try(
        &self,
        delivery_id: &str,
        delivered: bool,
        http_status: Option<i64>,
        error: Option<&str>,
        next_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let status = match (delivered, next_at) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        sqlx::query(
            "UPDATE campaign_deliveries SET status = ?2, tries = tries + 1, last_status = ?3, last_error = ?4,
                next_at = COALESCE(?5, next_at), updated_at = ?6
             WHERE id = ?1 AND status = 'pending'",
        )
        .bind(delivery_id)
        .bind(status)
        .bind(http_status)
        .bind(error)
        .bind(next_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A campaign's delivery log, newest first.
    pub async fn campaign_deliveries(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM campaign_deliveries WHERE tenant_id = ?1 AND campaign_id = ?2 ORDER BY created_at DESC, id DESC LIMIT ?3",
        )
        .bind(tenant_id)
        .bind(campaign_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_delivery).collect()
    }
}
