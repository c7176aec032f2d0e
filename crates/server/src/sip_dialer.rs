//! The campaign runner's [`campaign::Dialer`] on the SIP stack: each claimed
//! attempt is originated through the trunk with [`Telephony::originate_with`]
//! (the campaign's pinned script version, its caller id, the contact's
//! variables), and the result is read back from the call and its
//! conversation log once the call has **ended**.
//!
//! Invariants: `dial` never panics and always returns a result (anything
//! local is [`Outcome::Failed`] with a detail); [`CallOutcome`] maps one to
//! one onto [`Outcome`]; a campaign calls through the trunk it names — the
//! tenant's own (managed in the console) or the configured one — and any
//! other name is a failed attempt saying so.

use std::sync::Arc;

use campaign::{BoxFuture, DialRequest, DialResult, Dialer, Outcome};
use dialog::Action;
use sip::CallOutcome;

use crate::state::AppState;
use crate::telephony::{OutboundOptions, OutboundRequest, Route, Telephony};

/// The trunk name campaigns use when `telephony.trunk.name` is empty.
pub const DEFAULT_TRUNK: &str = "default";

/// Places campaign calls through the phone channel.
#[derive(Clone)]
pub struct SipDialer {
    telephony: Telephony,
    state: AppState,
}

impl SipDialer {
    pub fn new(state: AppState, telephony: Telephony) -> SipDialer {
        SipDialer { telephony, state }
    }

    async fn place(self: Arc<Self>, request: DialRequest) -> DialResult {
        let trunk = match self
            .telephony
            .trunk_named(&request.tenant_id, &request.trunk)
            .await
        {
            Ok(t) => t,
            Err(e) => return failed(e),
        };
        let store = self.state.store();
        let tenant = match store.tenant(&request.tenant_id).await {
            Ok(Some(t)) => t,
            Ok(None) => return failed(format!("tenant {} does not exist", request.tenant_id)),
            Err(e) => return failed(format!("cannot read the tenant: {e}")),
        };
        let outbound = OutboundRequest {
            number: request.number.clone(),
            route: Route {
                tenant: tenant.slug.clone(),
                script: request.script.name.clone(),
                knowledge_base: None,
            },
            contact: request.variables.clone(),
        };
        let options = OutboundOptions {
            script_version: Some(request.script.version),
            caller_id: request.caller_id.clone(),
            trunk: Some(trunk),
        };
        let (placed, ended) = self.telephony.originate_with(outbound, options).await;
        let detail = match placed.status {
            Some(code) => format!("SIP {code}: {}", placed.detail),
            None => placed.detail.clone(),
        };
        let mut result = DialResult::of(outcome_of(placed.outcome));
        result.detail = Some(detail);
        result.conversation_id = placed.conversation_id.clone();
        if placed.outcome != CallOutcome::Answered {
            return result;
        }
        // Answered: the script runs on the call; wait for it to end.
        if let Some(ended) = ended {
            match ended.await {
                Ok(end) => {
                    result.talk_ms = i64::try_from(end.summary.duration_ms).unwrap_or(i64::MAX);
                    result.recording = end.recording.map(|p| p.display().to_string());
                    result.detail = Some(format!("SIP 200, ended: {}", end.summary.cause));
                }
                // The call task went away without a summary (shutdown).
                Err(_) => result.detail = Some("SIP 200, the call task stopped".into()),
            }
        }
        if let Some(id) = &placed.conversation_id {
            self.read_log(&tenant.id, id, &mut result).await;
        }
        result
    }

    /// Fills grade, tags, callback and do-not-call from the conversation's
    /// `action.*` events (the payload is the engine's [`Action`]).
    async fn read_log(&self, tenant_id: &str, conversation_id: &str, result: &mut DialResult) {
        let events = match self
            .state
            .store()
            .events(tenant_id, conversation_id, 0, i64::MAX)
            .await
        {
            Ok(Some(events)) => events,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(conversation = conversation_id, error = %e, "cannot read the call's log");
                return;
            }
        };
        let offset = self.state.utc_offset_minutes();
        for e in events
            .iter()
            .filter(|e| e.kind.starts_with(crate::bots::ACTION_PREFIX))
        {
            let Ok(action) = serde_json::from_value::<Action>(e.payload.clone()) else {
                continue;
            };
            apply(action, offset, result);
        }
    }
}

/// What one logged action contributes to the dial result.
fn apply(action: Action, utc_offset_minutes: i32, result: &mut DialResult) {
    match action {
        Action::Grade { grade, .. } => {
            result.grade = serde_json::to_value(grade)
                .ok()
                .and_then(|g| g.as_str().map(str::to_string));
        }
        Action::SetTag { tag } if !result.tags.contains(&tag) => result.tags.push(tag),
        Action::ScheduleCallback { when, .. } => {
            // No time given: the campaign's retry policy decides.
            result.callback_at = when.and_then(|w| epoch_ms(&w, utc_offset_minutes));
        }
        Action::AddToDoNotCall { .. } => result.do_not_call = true,
        _ => {}
    }
}

/// A wall time in the deployment's zone as milliseconds since the epoch.
fn epoch_ms(w: &dialog::WallTime, utc_offset_minutes: i32) -> Option<i64> {
    let month = time::Month::try_from(u8::try_from(w.month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(w.year, month, u8::try_from(w.day).ok()?).ok()?;
    let at =
        time::Time::from_hms(u8::try_from(w.hour).ok()?, u8::try_from(w.minute).ok()?, 0).ok()?;
    let offset = time::UtcOffset::from_whole_seconds(utc_offset_minutes * 60).ok()?;
    let t = time::PrimitiveDateTime::new(date, at).assume_offset(offset);
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

fn failed(detail: String) -> DialResult {
    let mut r = DialResult::of(Outcome::Failed);
    r.detail = Some(detail);
    r
}

/// The SIP stack's outcome as the campaign's, one to one.
pub fn outcome_of(outcome: CallOutcome) -> Outcome {
    match outcome {
        CallOutcome::Answered => Outcome::Answered,
        CallOutcome::Busy => Outcome::Busy,
        CallOutcome::NoAnswer => Outcome::NoAnswer,
        CallOutcome::Rejected => Outcome::Rejected,
        CallOutcome::NotFound => Outcome::NotExist,
        CallOutcome::Unreachable => Outcome::Unreachable,
        CallOutcome::Failed => Outcome::Failed,
    }
}

impl Dialer for SipDialer {
    fn dial(&self, request: DialRequest) -> BoxFuture<DialResult> {
        Box::pin(Arc::new(self.clone()).place(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sip_outcome_maps_to_its_campaign_outcome() {
        let pairs = [
            (CallOutcome::Answered, Outcome::Answered),
            (CallOutcome::Busy, Outcome::Busy),
            (CallOutcome::NoAnswer, Outcome::NoAnswer),
            (CallOutcome::Rejected, Outcome::Rejected),
            (CallOutcome::NotFound, Outcome::NotExist),
            (CallOutcome::Unreachable, Outcome::Unreachable),
            (CallOutcome::Failed, Outcome::Failed),
        ];
        for (sip, expected) in pairs {
            assert_eq!(outcome_of(sip), expected, "{sip:?}");
        }
    }

    #[test]
    fn logged_actions_fill_grade_tags_callback_and_do_not_call() {
        let mut r = DialResult::of(Outcome::Answered);
        let logged = [
            serde_json::json!({"type": "set_tag", "tag": "有意向"}),
            serde_json::json!({"type": "set_tag", "tag": "有意向"}),
            serde_json::json!({"type": "grade", "grade": "B", "rule": null}),
            serde_json::json!({"type": "schedule_callback", "text": "明天上午十点",
                "when": {"year": 2026, "month": 11, "day": 24, "hour": 10, "minute": 0, "weekday": 2}}),
            serde_json::json!({"type": "add_to_do_not_call", "phone": "+8613800138000"}),
        ];
        for a in logged {
            apply(serde_json::from_value(a).expect("an action"), 480, &mut r);
        }
        assert_eq!(r.grade.as_deref(), Some("B"));
        assert_eq!(r.tags, vec!["有意向".to_string()]);
        // 10:00 at UTC+8 = 02:00 UTC on 2026-11-24.
        assert_eq!(
            r.callback_at,
            Some(1_795_392_000_000 + 86_400_000 + 2 * 3_600_000)
        );
        assert!(r.do_not_call);
    }
}
