//! The seam between campaigns and telephony: the runner hands a claimed
//! attempt to a [`Dialer`] and records what comes back. The SIP stack
//! implements it (originate through a trunk, host the script, map its call
//! outcome one to one onto [`Outcome`]); tests use an in-process one.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::Outcome;

/// A future the runner can spawn.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Which script version the call runs (pinned when the campaign was created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptBinding {
    pub name: String,
    pub version: i64,
}

/// One call to place. `attempt_id` is already persisted: a dialer that logs
/// it (as the conversation's external reference, a SIP header) lets anyone
/// tie the call to the attempt.
#[derive(Debug, Clone, Serialize)]
pub struct DialRequest {
    pub attempt_id: String,
    pub attempt_no: i64,
    pub tenant_id: String,
    pub campaign_id: String,
    pub contact_id: String,
    /// E.164, never on a do-not-call list when handed over.
    pub number: String,
    /// The SIP account (trunk) to call through.
    pub trunk: String,
    /// The number to present, when the campaign sets one.
    pub caller_id: Option<String>,
    pub script: ScriptBinding,
    /// The contact's fields for the script's `{{variables}}`, with `name`
    /// and `phone` filled in.
    pub variables: BTreeMap<String, String>,
}

/// What one call came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DialResult {
    pub outcome: Outcome,
    /// Milliseconds from answer to hangup (0 unless answered).
    pub talk_ms: i64,
    /// The hosted conversation (its event log has the transcript).
    pub conversation_id: Option<String>,
    /// Where the recording is stored.
    pub recording: Option<String>,
    /// Plain-text transcript, when the dialer has one handy.
    pub transcript: Option<String>,
    /// The intention grade (A/B/C/D/E/F) the script gave.
    pub grade: Option<String>,
    pub tags: Vec<String>,
    /// When the callee asked to be called back (ms since the epoch).
    pub callback_at: Option<i64>,
    /// The callee asked not to be called again (the engine's
    /// `Action::AddToDoNotCall`): the number goes on the tenant's list.
    pub do_not_call: bool,
    /// A human-readable detail (`SIP 503 Service Unavailable`).
    pub detail: Option<String>,
}

impl DialResult {
    /// A result with only an outcome.
    pub fn of(outcome: Outcome) -> DialResult {
        DialResult {
            outcome,
            talk_ms: 0,
            conversation_id: None,
            recording: None,
            transcript: None,
            grade: None,
            tags: Vec::new(),
            callback_at: None,
            do_not_call: false,
            detail: None,
        }
    }
}

/// Places calls. Implementations must not panic on any request and must
/// always return a result (a failure is [`Outcome::Failed`] with a detail).
pub trait Dialer: Send + Sync + 'static {
    fn dial(&self, request: DialRequest) -> BoxFuture<DialResult>;
}
