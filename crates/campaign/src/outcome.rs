//! What happened on one dial attempt.

use serde::{Deserialize, Serialize};

/// The outcome of one attempt, as recorded and as the retry policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The callee picked up (talk time and conversation follow).
    Answered,
    /// Busy (SIP 486, 600).
    Busy,
    /// Rang out without an answer (our ring timeout, SIP 408).
    NoAnswer,
    /// Declined by the callee (SIP 603).
    Rejected,
    /// The number does not exist (SIP 404, 484, 604).
    NotExist,
    /// Powered off or out of coverage (SIP 480, 410).
    Unreachable,
    /// The trunk or the network failed (SIP 5xx, 4xx not listed, our errors).
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

    /// The outcome of a final SIP response to an INVITE (`None`: the dialer
    /// gave up waiting, i.e. no answer). For dialer adapters.
    pub fn from_sip_status(status: Option<u16>) -> Outcome {
        match status {
            None | Some(408) => Outcome::NoAnswer,
            Some(200..=299) => Outcome::Answered,
            Some(486) | Some(600) => Outcome::Busy,
            Some(603) => Outcome::Rejected,
            Some(404) | Some(484) | Some(604) => Outcome::NotExist,
            Some(480) | Some(410) => Outcome::Unreachable,
            Some(_) => Outcome::Failed,
        }
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
    fn sip_codes_map_to_outcomes() {
        assert_eq!(Outcome::from_sip_status(Some(200)), Outcome::Answered);
        assert_eq!(Outcome::from_sip_status(Some(486)), Outcome::Busy);
        assert_eq!(Outcome::from_sip_status(Some(480)), Outcome::Unreachable);
        assert_eq!(Outcome::from_sip_status(Some(404)), Outcome::NotExist);
        assert_eq!(Outcome::from_sip_status(Some(503)), Outcome::Failed);
        assert_eq!(Outcome::from_sip_status(Some(603)), Outcome::Rejected);
        assert_eq!(Outcome::from_sip_status(None), Outcome::NoAnswer);
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
    }
}
