//! What happened on one dial attempt.

use serde::{Deserialize, Serialize};

/// The outcome of one attempt, as recorded and as the retry policy sees it.
/// The SIP stack decides which final status means which (its `CallOutcome`
/// maps one to one; `NotFound` is [`Outcome::NotExist`]); the codes below are
/// the usual ones, for orientation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The callee picked up (talk time and conversation follow).
    Answered,
    /// Busy (SIP 486, 600).
    Busy,
    /// Rang out without an answer (the ring timeout, SIP 408, 480, 487).
    NoAnswer,
    /// Declined (SIP 403, 603, 606).
    Rejected,
    /// The number does not exist (SIP 404, 410, 484, 604).
    NotExist,
    /// Powered off, out of coverage, or the network refused (SIP 5xx).
    Unreachable,
    /// Anything else: authentication, a local error, an unexpected status.
    Failed,
    /// The process stopped during the call: nobody knows what happened.
    /// Retried with the `failed` policy; never re-dialled as the same attempt.
    Unknown,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Answered,
        Outcome::Busy,
        Outcome::NoAnswer,
        Outcome::Rejected,
        Outcome::NotExist,
        Outcome::Unreachable,
        Outcome::Failed,
        Outcome::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "no_answer",
            Outcome::Rejected => "rejected",
            Outcome::NotExist => "not_exist",
            Outcome::Unreachable => "unreachable",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Chinese label for operators.
    pub fn zh(self) -> &'static str {
        match self {
            Outcome::Answered => "已接通",
            Outcome::Busy => "忙线",
            Outcome::NoAnswer => "无人接听",
            Outcome::Rejected => "拒接",
            Outcome::NotExist => "空号",
            Outcome::Unreachable => "关机/无法接通",
            Outcome::Failed => "呼叫失败",
            Outcome::Unknown => "结果未知",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn outcomes_round_trip_through_their_names() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
    }
}
