//! Carrier trunks kept in the database: a tenant's SIP accounts at its
//! carriers, managed from the console (a channel of kind `sip`). A trunk is
//! used three ways: campaigns and outbound calls name it; it registers with
//! the carrier when asked (so the carrier sends calls to us); and the numbers
//! listed on it route inbound calls to its script.
//!
//! The config file's `telephony.trunk` remains the deployment-wide fall-back
//! (a trunk of the same name in the database wins).
//!
//! Invariants: a trunk's password is write-only — the API never shows it,
//! and an edit that leaves it out (or sends the mask back) keeps the stored
//! one; a trunk never carries more than its `max_calls` calls at once; a
//! number belongs to at most one trunk of all tenants (an inbound call must
//! reach exactly one script).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::config::TrunkConfig;

/// The channel kind of a trunk.
pub const KIND: &str = "sip";

/// What the API shows in place of a stored password.
pub const MASK: &str = "********";

/// A trunk's settings, as the API takes them and the store keeps them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrunkSettings {
    /// The carrier's SIP domain or address: `sip.carrier.example`,
    /// `10.0.0.5` or `10.0.0.5:5060`.
    pub host: String,
    /// Outbound proxy `IP:PORT` when requests go somewhere other than `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Our account at the carrier (From user, digest user).
    #[serde(default)]
    pub username: String,
    /// Digest password; write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// REGISTER with the carrier and keep the registration fresh.
    #[serde(default)]
    pub register: bool,
    /// Reach the carrier over TLS (`transport=tls`; needs `telephony.tls`).
    #[serde(default)]
    pub tls: bool,
    /// Reach the carrier over TCP (calls and REGISTER); `tls` wins.
    #[serde(default)]
    pub tcp: bool,
    /// Seconds an outbound call may ring before it is no answer.
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_secs: u64,
    /// Calls at once the carrier allows on this account (its channel count).
    #[serde(default = "default_max_calls")]
    pub max_calls: u32,
    /// The number shown to callees when a campaign does not set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    /// Numbers (DIDs) on this trunk: inbound calls to them run `script`.
    #[serde(default)]
    pub numbers: Vec<String>,
    /// The script answering calls to `numbers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_base: Option<String>,
}

fn default_ring_timeout() -> u64 {
    45
}

fn default_max_calls() -> u32 {
    30
}

/// A bad setting: what to tell the person, in Chinese and in English.
pub type Problem = (String, String);

fn problem(zh: impl Into<String>, en: impl Into<String>) -> Problem {
    (zh.into(), en.into())
}

/// A host name or IP address, optionally with a port.
fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') => (n, Some(p)),
        _ => (host, None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    name_ok && port_ok
}

/// A number as carriers send it in the Request-URI: digits, an optional `+`.
fn valid_number(n: &str) -> bool {
    let digits = n.strip_prefix('+').unwrap_or(n);
    (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

impl TrunkSettings {
    /// Checks everything that can be checked without the network.
    pub fn check(&self) -> Result<(), Problem> {
        if !valid_host(&self.host) {
            return Err(problem(
                format!(
                    "host「{}」应为域名或 IP 地址，可带端口（如 sip.carrier.example 或 10.0.0.5:5060）",
                    self.host
                ),
                format!(
                    "host '{}' must be a domain or IP address, optionally with a port (sip.carrier.example, 10.0.0.5:5060)",
                    self.host
                ),
            ));
        }
        if let Some(p) = &self.proxy
            && p.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(problem(
                format!("proxy「{p}」应为 IP:端口，如 10.0.0.6:5060"),
                format!("proxy '{p}' must be IP:PORT, e.g. 10.0.0.6:5060"),
            ));
        }
        let user_ok = self.username.len() <= 64
            && self
                .username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-_.".contains(&b));
        if !user_ok {
            return Err(problem(
                "username 最多 64 个字母、数字或 + - _ .",
                "username is at most 64 letters, digits or + - _ .",
            ));
        }
        if self.register && self.username.is_empty() {
            return Err(problem(
                "注册到运营商需要 username",
                "registering with the carrier needs a username",
            ));
        }
        if self.password.as_deref().is_some_and(|p| p.len() > 128) {
            return Err(problem(
                "password 最长 128 字节",
                "password is at most 128 bytes",
            ));
        }
        if !(5..=300).contains(&self.ring_timeout_secs) {
            return Err(problem(
                "ring_timeout_secs 应在 5 到 300 之间",
                "ring_timeout_secs is 5-300",
            ));
        }
        if !(1..=10_000).contains(&self.max_calls) {
            return Err(problem(
                "max_calls 应在 1 到 10000 之间",
                "max_calls is 1-10000",
            ));
        }
        if let Some(c) = &self.caller_id
            && !valid_number(c)
        {
            return Err(problem(
                format!("caller_id「{c}」应为 3 到 20 位数字，可带 +"),
                format!("caller_id '{c}' must be 3-20 digits, optionally with +"),
            ));
        }
        if let Some(n) = self.numbers.iter().find(|n| !valid_number(n)) {
            return Err(problem(
                format!("号码「{n}」应为 3 到 20 位数字，可带 +"),
                format!("number '{n}' must be 3-20 digits, optionally with +"),
            ));
        }
        if self.numbers.len() > 1000 {
            return Err(problem(
                "一条线路最多 1000 个号码",
                "a trunk has at most 1000 numbers",
            ));
        }
        if !self.numbers.is_empty() && self.script.is_none() {
            return Err(problem(
                "填写了呼入号码时需要指定接听的话术 script",
                "numbers need a script to answer their calls",
            ));
        }
        Ok(())
    }

    /// Whether the password field carries a new password (not absent, not
    /// the mask the API showed).
    pub fn has_new_password(&self) -> bool {
        self.password.as_deref().is_some_and(|p| p != MASK)
    }

    /// The trunk as the phone channel uses it.
    pub fn to_config(&self, name: &str) -> TrunkConfig {
        TrunkConfig {
            name: name.to_string(),
            host: self.host.clone(),
            proxy: self.proxy.clone(),
            user: self.username.clone(),
            password: self.password.clone().unwrap_or_default(),
            register: self.register,
            ring_timeout_secs: self.ring_timeout_secs,
            tls: self.tls,
            tcp: self.tcp,
        }
    }
}

/// The settings as shown: the password replaced by whether one is set.
pub fn masked(settings: &serde_json::Value) -> serde_json::Value {
    let mut shown = settings.clone();
    if let Some(obj) = shown.as_object_mut() {
        let set = obj
            .get("password")
            .and_then(|p| p.as_str())
            .is_some_and(|p| !p.is_empty());
        obj.insert(
            "password".into(),
            serde_json::Value::String(if set { MASK.into() } else { String::new() }),
        );
    }
    shown
}

/// Where a trunk's registration with its carrier stands.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RegistrationStatus {
    /// `registering`, `registered` or `failed`.
    pub state: &'static str,
    /// The carrier's answer, or why it failed.
    pub detail: String,
    /// When this state was reached (ms since the epoch).
    pub at: i64,
    /// Seconds the carrier granted, when registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<u32>,
}

/// Registration states by channel id, written by the registration tasks and
/// read by the API.
#[derive(Debug, Clone, Default)]
pub struct Registrations(Arc<Mutex<HashMap<String, RegistrationStatus>>>);

impl Registrations {
    pub fn set(&self, id: &str, status: RegistrationStatus) {
        self.lock().insert(id.to_string(), status);
    }

    pub fn get(&self, id: &str) -> Option<RegistrationStatus> {
        self.lock().get(id).cloned()
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RegistrationStatus>> {
        match self.0.lock() {
            Ok(g) => g,
            // A task that panicked while holding the map left whole entries.
            Err(p) => p.into_inner(),
        }
    }
}

/// Calls in progress per trunk, so a carrier's channel limit is respected.
#[derive(Debug, Clone, Default)]
pub struct TrunkLines(Arc<Mutex<HashMap<String, u32>>>);

/// One call's hold on a trunk line, released when dropped.
#[derive(Debug)]
pub struct TrunkLine {
    lines: TrunkLines,
    key: String,
}

impl TrunkLines {
    /// Takes a line on trunk `key`, or `None` when all `max` are busy.
    pub fn take(&self, key: &str, max: u32) -> Option<TrunkLine> {
        let mut map = self.lock();
        let n = map.entry(key.to_string()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(TrunkLine {
            lines: self.clone(),
            key: key.to_string(),
        })
    }

    /// Calls in progress on trunk `key`.
    pub fn in_use(&self, key: &str) -> u32 {
        self.lock().get(key).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

impl Drop for TrunkLine {
    fn drop(&mut self) {
        let mut map = self.lines.lock();
        if let Some(n) = map.get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> TrunkSettings {
        serde_json::from_value(serde_json::json!({
            "host": "sip.carrier.example:5060",
            "username": "0755123",
            "password": "pw",
            "register": true,
            "numbers": ["075561234567", "+8675561234568"],
            "script": "service"
        }))
        .expect("settings")
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        assert_eq!(good().check(), Ok(()));
        assert_eq!(good().ring_timeout_secs, 45, "defaults fill the rest");
        type Spoil = fn(&mut TrunkSettings);
        let cases: Vec<(Spoil, &str)> = vec![
            (|s| s.host = String::new(), "host"),
            (|s| s.host = "sip carrier".into(), "host"),
            (|s| s.host = "a..b".into(), "host"),
            (|s| s.host = "10.0.0.5:99999".into(), "host"),
            (|s| s.proxy = Some("sip.example".into()), "proxy"),
            (|s| s.username = "a b".into(), "username"),
            (
                |s| {
                    s.username.clear();
                },
                "username",
            ),
            (|s| s.ring_timeout_secs = 1, "ring_timeout_secs"),
            (|s| s.max_calls = 0, "max_calls"),
            (|s| s.caller_id = Some("12ab".into()), "caller_id"),
            (|s| s.numbers.push("800-123".into()), "800-123"),
            (|s| s.script = None, "script"),
        ];
        for (spoil, named) in cases {
            let mut s = good();
            spoil(&mut s);
            let (zh, en) = s.check().expect_err(named);
            assert!(en.contains(named), "{en} should name {named}");
            assert!(!zh.is_empty());
        }
        let mut ipv4 = good();
        ipv4.host = "10.0.0.5".into();
        assert_eq!(ipv4.check(), Ok(()));
    }

    #[test]
    fn the_password_is_never_shown() {
        let stored = serde_json::to_value(good()).expect("json");
        let shown = masked(&stored);
        assert_eq!(shown["password"], MASK);
        assert_eq!(shown["host"], "sip.carrier.example:5060");
        let mut none = good();
        none.password = None;
        assert_eq!(
            masked(&serde_json::to_value(none).expect("json"))["password"],
            ""
        );
        let mut echoed = good();
        echoed.password = Some(MASK.into());
        assert!(!echoed.has_new_password());
        assert!(good().has_new_password());
    }

    #[test]
    fn a_trunk_never_carries_more_than_its_lines() {
        let lines = TrunkLines::default();
        let a = lines.take("t1", 2).expect("first");
        let b = lines.take("t1", 2).expect("second");
        assert!(lines.take("t1", 2).is_none(), "a third is refused");
        assert!(lines.take("t2", 1).is_some(), "other trunks are separate");
        drop(a);
        assert_eq!(lines.in_use("t1"), 1);
        assert!(lines.take("t1", 2).is_some(), "a freed line is reused");
        drop(b);
    }
}
