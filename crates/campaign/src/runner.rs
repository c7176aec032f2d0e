//! The campaign runner: each pass claims due contacts of every running
//! campaign (within its lines, its pacing and its callees' windows), hands
//! them to the [`Dialer`] and records what came back.
//!
//! Why it survives kill -9: a claim writes the attempt row before the dialer
//! is called, and a result is recorded at most once per attempt. After a
//! restart, [`Runner::recover`] finds the attempts that have no result (the
//! previous process died during those calls), records them as `unknown` and
//! lets the retry policy schedule a *new* attempt; the lost attempt itself is
//! never dialled again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use store::{AttemptResult, Campaign, Claim, NewDelivery, NextStep, Store, StoreError};
use tokio::task::JoinSet;

use crate::dialer::{DialRequest, DialResult, Dialer, ScriptBinding};
use crate::policy::{Pacer, callback_step, decide_claim};
use crate::settings::{Compiled, Settings};
use crate::{Now, Outcome};

/// What one pass did (for tests and logs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Calls handed to the dialer.
    pub dialled: usize,
    /// Campaigns that finished in this pass.
    pub completed: usize,
}

struct Inner {
    store: Store,
    dialer: Arc<dyn Dialer>,
    now: Now,
    /// Calls in flight per campaign, and each campaign's pacer.
    lines: Mutex<HashMap<String, (usize, Pacer)>>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
}

/// Runs campaigns. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a task panicked mid-update of a counter;
    // the counters are still the best we have.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Runner {
    pub fn new(store: Store, dialer: Arc<dyn Dialer>, now: Now) -> Runner {
        Runner {
            inner: Arc::new(Inner {
                store,
                dialer,
                now,
                lines: Mutex::new(HashMap::new()),
                tasks: tokio::sync::Mutex::new(JoinSet::new()),
            }),
        }
    }

    /// Records every attempt left without a result by a previous process as
    /// `unknown` and schedules the contact per the `failed` retry policy.
    /// Call once at start, before the first [`Runner::pass`]. Returns how
    /// many attempts were resolved.
    pub async fn recover(&self) -> Result<usize, StoreError> {
        let store = &self.inner.store;
        let mut resolved = 0;
        for open in store.open_attempts().await? {
            let Some(campaign) = store.campaign(&open.tenant_id, &open.campaign_id).await? else {
                continue;
            };
            let now = (self.inner.now)();
            let compiled = compile(&campaign);
            let next = compiled
                .as_ref()
                .map(|c| c.retry.next(Outcome::Unknown, open.attempt_no, now))
                .unwrap_or(NextStep::Done);
            let mut result = DialResult::of(Outcome::Unknown);
            result.detail =
                Some("the process stopped during this call; its result is unknown".into());
            let claim = Claim {
                attempt_id: open.attempt_id.clone(),
                tenant_id: open.tenant_id.clone(),
                campaign_id: open.campaign_id.clone(),
                contact_id: open.contact_id.clone(),
                number: open.number.clone(),
                attempt_no: open.attempt_no,
                name: None,
                variables: BTreeMap::new(),
            };
            let deliveries = compiled
                .as_ref()
                .map(|c| deliveries_for(c, &campaign, &claim, &claim.variables, &result, next, now))
                .unwrap_or_default();
            if store
                .finish_attempt(
                    &open.tenant_id,
                    &open.attempt_id,
                    &to_record(&result),
                    next,
                    &deliveries,
                    false,
                    now,
                )
                .await?
            {
                resolved += 1;
                tracing::warn!(attempt = %open.attempt_id, campaign = %campaign.name, "attempt lost to a restart recorded as unknown");
            }
        }
        Ok(resolved)
    }

    /// One pass over every running campaign: claim what may be dialled now
    /// and start those calls (they finish in the background).
    pub async fn pass(&self) -> Result<Pass, StoreError> {
        let mut report = Pass::default();
        {
            let mut tasks = self.inner.tasks.lock().await;
            while tasks.try_join_next().is_some() {}
        }
        for campaign in self.inner.store.running_campaigns().await? {
            let Some(compiled) = compile(&campaign) else {
                continue;
            };
            let now = (self.inner.now)();
            let (in_flight, want) = {
                let mut lines = lock(&self.inner.lines);
                let entry = lines
                    .entry(campaign.id.clone())
                    .or_insert_with(|| (0, Pacer::new(now)));
                let free = usize::try_from(campaign.max_lines)
                    .unwrap_or(0)
                    .saturating_sub(entry.0);
                (entry.0, free)
            };
            let offsets = compiled.schedule.open_offsets(now);
            let mut claims = Vec::new();
            if want > 0 && !offsets.is_empty() {
                let allowed = {
                    let mut lines = lock(&self.inner.lines);
                    lines
                        .get_mut(&campaign.id)
                        .map(|e| e.1.take(compiled.pacing, now, want))
                        .unwrap_or(0)
                };
                if allowed > 0 {
                    let cap = self.inner.store.dialing_policy(&campaign.tenant_id).await?;
                    claims = self
                        .inner
                        .store
                        .claim_due(
                            &campaign,
                            now,
                            allowed as i64,
                            &offsets,
                            cap.map(|p| now - p.window_ms),
                            |c| decide_claim(c, cap),
                        )
                        .await?;
                    if claims.len() < allowed {
                        // Unused tokens go back: pacing limits calls, not passes.
                        let mut lines = lock(&self.inner.lines);
                        if let Some(e) = lines.get_mut(&campaign.id) {
                            e.1.refund(allowed - claims.len());
                        }
                    }
                }
            }
            if claims.is_empty() && in_flight == 0 {
                if self
                    .inner
                    .store
                    .complete_campaign_if_done(&campaign, now)
                    .await?
                {
                    lock(&self.inner.lines).remove(&campaign.id);
                    report.completed += 1;
                    tracing::info!(campaign = %campaign.name, "campaign completed");
                }
                continue;
            }
            report.dialled += claims.len();
            let campaign = Arc::new(campaign);
            let compiled = Arc::new(compiled);
            let mut tasks = self.inner.tasks.lock().await;
            for claim in claims {
                {
                    let mut lines = lock(&self.inner.lines);
                    if let Some(e) = lines.get_mut(&campaign.id) {
                        e.0 += 1;
                    }
                }
                let inner = self.inner.clone();
                let (campaign, compiled) = (campaign.clone(), compiled.clone());
                tasks.spawn(async move { call(inner, campaign, compiled, claim).await });
            }
        }
        Ok(report)
    }

    /// Waits until every call started so far has its result recorded.
    pub async fn settle(&self) {
        let mut tasks = self.inner.tasks.lock().await;
        while tasks.join_next().await.is_some() {}
    }

    /// Calls in flight for a campaign.
    pub fn in_flight(&self, campaign_id: &str) -> usize {
        lock(&self.inner.lines)
            .get(campaign_id)
            .map(|e| e.0)
            .unwrap_or(0)
    }

    /// Recovers, then makes a pass every `every` until `shutdown` resolves.
    pub async fn run(self, every: Duration, shutdown: impl std::future::Future<Output = ()>) {
        match self.recover().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                attempts = n,
                "recorded attempts lost to the last stop as unknown"
            ),
            Err(e) => tracing::error!(error = %e, "campaign recovery failed"),
        }
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(every) => {
                    if let Err(e) = self.pass().await {
                        tracing::error!(error = %e, "campaign pass failed");
                    }
                }
            }
        }
    }
}

fn compile(campaign: &Campaign) -> Option<Compiled> {
    match Settings::from_json(&campaign.settings).and_then(|s| s.compile()) {
        Ok(c) => Some(c),
        Err(e) => {
            // Settings are checked when written; this is a database edited by hand.
            tracing::error!(campaign = %campaign.name, error = %e, "campaign settings are invalid; skipped");
            None
        }
    }
}

/// One call: dial, then record the result (retrying the write: the result
/// must not be lost while the database is briefly busy).
async fn call(inner: Arc<Inner>, campaign: Arc<Campaign>, compiled: Arc<Compiled>, claim: Claim) {
    let mut variables = claim.variables.clone();
    variables.insert("phone".into(), claim.number.clone());
    if let Some(name) = &claim.name {
        variables
            .entry("name".into())
            .or_insert_with(|| name.clone());
    }
    let request = DialRequest {
        attempt_id: claim.attempt_id.clone(),
        attempt_no: claim.attempt_no,
        tenant_id: claim.tenant_id.clone(),
        campaign_id: claim.campaign_id.clone(),
        contact_id: claim.contact_id.clone(),
        number: claim.number.clone(),
        trunk: campaign.trunk.clone(),
        caller_id: campaign.caller_id.clone(),
        script: ScriptBinding {
            name: campaign.script_name.clone(),
            version: campaign.script_version,
        },
        variables: variables.clone(),
    };
    let result = inner.dialer.dial(request).await;
    let now = (inner.now)();
    let next = if result.do_not_call {
        NextStep::Done
    } else if result.outcome == Outcome::Answered {
        callback_step(result.callback_at, claim.attempt_no, now).unwrap_or(NextStep::Done)
    } else {
        compiled.retry.next(result.outcome, claim.attempt_no, now)
    };
    let deliveries = deliveries_for(&compiled, &campaign, &claim, &variables, &result, next, now);
    let record = to_record(&result);
    for wait_ms in [0, 200, 1_000, 5_000, 15_000] {
        if wait_ms > 0 {
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        }
        match inner
            .store
            .finish_attempt(
                &claim.tenant_id,
                &claim.attempt_id,
                &record,
                next,
                &deliveries,
                result.do_not_call,
                now,
            )
            .await
        {
            Ok(_) => break,
            Err(e) => {
                tracing::error!(attempt = %claim.attempt_id, error = %e, "recording a call result failed; retrying")
            }
        }
    }
    let mut lines = lock(&inner.lines);
    if let Some(e) = lines.get_mut(&campaign.id) {
        e.0 = e.0.saturating_sub(1);
    }
}

fn to_record(r: &DialResult) -> AttemptResult {
    AttemptResult {
        outcome: r.outcome.as_str().to_string(),
        talk_ms: r.talk_ms,
        conversation_id: r.conversation_id.clone(),
        recording: r.recording.clone(),
        transcript: r.transcript.clone(),
        grade: r.grade.clone(),
        tags: r.tags.clone(),
        callback_at: r.callback_at,
        detail: r.detail.clone(),
    }
}

/// `{{name}}`-style placeholders filled from the contact's variables;
/// unknown ones are left empty.
pub fn render(template: &str, variables: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find("}}") {
            Some(end) => {
                let key = rest[start + 2..start + 2 + end].trim();
                out.push_str(variables.get(key).map(String::as_str).unwrap_or(""));
                rest = &rest[start + 2 + end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The webhook and SMS an attempt's result triggers (written with the result).
fn deliveries_for(
    compiled: &Compiled,
    campaign: &Campaign,
    claim: &Claim,
    variables: &BTreeMap<String, String>,
    result: &DialResult,
    next: NextStep,
    now: i64,
) -> Vec<NewDelivery> {
    let mut out = Vec::new();
    if let Some(w) = &compiled.webhook {
        out.push(NewDelivery {
            kind: "webhook",
            url: w.url.clone(),
            payload: json!({
                "event": "call.finished",
                "campaign": { "id": campaign.id, "name": campaign.name },
                "attempt": {
                    "id": claim.attempt_id,
                    "attempt_no": claim.attempt_no,
                    "outcome": result.outcome,
                    "talk_ms": result.talk_ms,
                    "conversation_id": result.conversation_id,
                    "recording": result.recording,
                    "transcript": result.transcript,
                    "grade": result.grade,
                    "tags": result.tags,
                    "callback_at": result.callback_at,
                    "do_not_call": result.do_not_call,
                    "detail": result.detail,
                    "ended_at": now,
                },
                "contact": {
                    "id": claim.contact_id,
                    "number": claim.number,
                    "name": claim.name,
                    "variables": variables,
                },
                "next": match next {
                    NextStep::Done => json!({ "retry_at": null }),
                    NextStep::RetryAt(t) => json!({ "retry_at": t }),
                    NextStep::CallbackAt(t) => json!({ "retry_at": t, "callback": true }),
                },
            }),
        });
    }
    if let Some(sms) = &compiled.sms {
        let outcome_ok = if sms.outcomes.is_empty() {
            result.outcome == Outcome::Answered
        } else {
            sms.outcomes.iter().any(|o| o == result.outcome.as_str())
        };
        let grade_ok = sms.grades.is_empty()
            || result
                .grade
                .as_ref()
                .is_some_and(|g| sms.grades.contains(g));
        if outcome_ok && grade_ok && !result.do_not_call {
            out.push(NewDelivery {
                kind: "sms",
                url: sms.gateway_url.clone(),
                payload: json!({
                    "to": claim.number,
                    "text": render(&sms.text, variables),
                    "campaign_id": campaign.id,
                    "attempt_id": claim.attempt_id,
                }),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn templates_fill_variables() {
        let vars = [("name".to_string(), "张三".to_string())]
            .into_iter()
            .collect();
        assert_eq!(render("您好{{ name }}，{{x}}再见", &vars), "您好张三，再见");
        assert_eq!(render("{{name", &vars), "{{name");
    }
}
