//! A campaign's settings as operators write them (JSON), checked and compiled
//! into the forms the scheduling rules use.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::Outcome;
use crate::policy::{Pacing, RetryPolicy, RetryRule, Schedule};

/// Weekday keys of `windows`, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A refused setting, in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{en}")]
pub struct SettingsError {
    pub zh: String,
    pub en: String,
}

fn err(zh: impl Into<String>, en: impl Into<String>) -> SettingsError {
    SettingsError {
        zh: zh.into(),
        en: en.into(),
    }
}

/// The JSON operators write (`settings` of a campaign). Every field is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The callee's UTC offset when the number does not tell it (`+08:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Calling windows per weekday in the callee's local time:
    /// `{"mon": ["09:00-12:00", "14:00-20:00"], …}`; a weekday left out is not
    /// called. Default: every day 09:00-20:00.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<BTreeMap<String, Vec<String>>>,
    /// Local dates never called (`2026-10-01`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<String>,
    /// New calls started per second, at most (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls_per_second: Option<f64>,
    /// Per outcome (`busy`, `no_answer`, `rejected`, `unreachable`, `failed`):
    /// retry after so many minutes, at most so many times. Outcomes not
    /// listed are not retried; `unknown` (lost to a restart) follows `failed`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retry: BTreeMap<String, RetryRule>,
    /// A CRM webhook after every attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSettings>,
    /// An SMS after attempts that match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsSettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// HMAC-SHA256 key; the signature goes in `X-Tonghua-Signature`.
    pub secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// The HTTP SMS gateway: receives `{"to","text","campaign_id","attempt_id"}`.
    pub gateway_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The message; `{{name}}` and the contact's variables are filled in.
    pub text: String,
    /// Send after these outcomes (default: `answered`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<String>,
    /// And only for these intention grades (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grades: Vec<String>,
}

/// Settings checked and ready for the rules.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub schedule: Schedule,
    pub pacing: Pacing,
    pub retry: RetryPolicy,
    pub webhook: Option<WebhookSettings>,
    pub sms: Option<SmsSettings>,
}

/// `+08:00`, `+8`, `UTC+8`, `-05:30` → minutes east of UTC.
pub fn parse_utc_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    let s = s
        .strip_prefix("UTC")
        .or_else(|| s.strip_prefix("GMT"))
        .unwrap_or(s);
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None => (rest, "0"),
    };
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    let total = h * 60 + m;
    ((0..60).contains(&m) && total <= 14 * 60).then_some(sign * total)
}

/// `"09:00-12:00"` → minutes of the day `[start, end)`.
fn parse_window(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.trim().split_once('-')?;
    let minute = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (start, end) = (minute(a)?, minute(b)?);
    (start < end).then_some((start, end))
}

impl Settings {
    pub fn from_json(v: &serde_json::Value) -> Result<Settings, SettingsError> {
        serde_json::from_value(v.clone()).map_err(|e| {
            err(
                format!("活动设置有误：{e}"),
                format!("campaign settings: {e}"),
            )
        })
    }

    pub fn compile(&self) -> Result<Compiled, SettingsError> {
        let default_offset = match &self.timezone {
            None => 480,
            Some(tz) => parse_utc_offset(tz).ok_or_else(|| {
                err(
                    format!("时区 {tz} 无法识别，请写成 +08:00"),
                    format!("timezone {tz} is not a UTC offset like +08:00"),
                )
            })?,
        };
        let mut windows: [Vec<(u16, u16)>; 7] = Default::default();
        match &self.windows {
            None => windows.iter_mut().for_each(|w| w.push((9 * 60, 20 * 60))),
            Some(map) => {
                for (day, list) in map {
                    let i = WEEKDAYS.iter().position(|d| d == day).ok_or_else(|| {
                        err(
                            format!("windows 中的 {day} 不是星期（mon…sun）"),
                            format!("windows: {day} is not a weekday (mon…sun)"),
                        )
                    })?;
                    for w in list {
                        windows[i].push(parse_window(w).ok_or_else(|| {
                            err(
                                format!("呼叫时段 {w} 无法识别，请写成 09:00-12:00"),
                                format!("calling window {w} is not like 09:00-12:00"),
                            )
                        })?);
                    }
                }
            }
        }
        let mut holidays = BTreeSet::new();
        let format = time::macros::format_description!("[year]-[month]-[day]");
        for h in &self.holidays {
            let date = time::Date::parse(h.trim(), &format).map_err(|_| {
                err(
                    format!("节假日 {h} 应写成 2026-10-01"),
                    format!("holiday {h} is not a date like 2026-10-01"),
                )
            })?;
            holidays.insert(i64::from(date.to_julian_day()) - crate::policy::UNIX_EPOCH_JULIAN_DAY);
        }
        let cps = self.calls_per_second.unwrap_or(1.0);
        if !(cps.is_finite() && cps > 0.0 && cps <= 1000.0) {
            return Err(err(
                "calls_per_second 应在 0 到 1000 之间",
                "calls_per_second must be above 0 and at most 1000",
            ));
        }
        let mut rules = BTreeMap::new();
        for (key, rule) in &self.retry {
            let outcome = Outcome::parse(key)
                .filter(|o| !matches!(o, Outcome::Answered | Outcome::NotExist | Outcome::Unknown))
                .ok_or_else(|| {
                    err(
                        format!("retry 中的 {key} 不是可重试的结果（busy、no_answer、rejected、unreachable、failed）"),
                        format!("retry: {key} is not a retryable outcome (busy, no_answer, rejected, unreachable, failed)"),
                    )
                })?;
            if rule.after_minutes == 0 || rule.after_minutes > 60 * 24 * 30 || rule.max_retries > 20
            {
                return Err(err(
                    format!("{key} 的重试间隔应为 1 分钟到 30 天，次数不超过 20"),
                    format!(
                        "retry {key}: after_minutes 1 minute to 30 days, max_retries at most 20"
                    ),
                ));
            }
            rules.insert(outcome, *rule);
        }
        if let Some(w) = &self.webhook {
            check_url(&w.url)?;
            if w.secret.len() < 16 {
                return Err(err(
                    "webhook 的 secret 至少 16 个字符",
                    "webhook secret must be at least 16 characters",
                ));
            }
        }
        if let Some(s) = &self.sms {
            check_url(&s.gateway_url)?;
            if s.text.trim().is_empty() || s.text.chars().count() > 500 {
                return Err(err(
                    "短信内容应为 1 到 500 个字",
                    "SMS text must be 1-500 characters",
                ));
            }
            for o in &s.outcomes {
                if Outcome::parse(o).is_none() {
                    return Err(err(
                        format!("sms.outcomes 中的 {o} 不是呼叫结果"),
                        format!("sms.outcomes: {o} is not an outcome"),
                    ));
                }
            }
        }
        Ok(Compiled {
            schedule: Schedule {
                default_offset,
                windows,
                holidays,
            },
            pacing: Pacing {
                calls_per_second: cps,
            },
            retry: RetryPolicy { rules },
            webhook: self.webhook.clone(),
            sms: self.sms.clone(),
        })
    }

    /// The settings as shown to people: secrets replaced by `"***"`.
    pub fn masked(&self) -> Settings {
        let mut s = self.clone();
        if let Some(w) = &mut s.webhook {
            w.secret = "***".into();
        }
        if let Some(sms) = &mut s.sms
            && sms.token.is_some()
        {
            sms.token = Some("***".into());
        }
        s
    }
}

fn check_url(url: &str) -> Result<(), SettingsError> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && reqwest::Url::parse(url).is_ok();
    if ok {
        Ok(())
    } else {
        Err(err(
            format!("地址 {url} 应为 http:// 或 https:// 开头的网址"),
            format!("{url} is not an http(s) URL"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn offsets_and_windows_parse() {
        assert_eq!(parse_utc_offset("+08:00"), Some(480));
        assert_eq!(parse_utc_offset("UTC+8"), Some(480));
        assert_eq!(parse_utc_offset("-05:30"), Some(-330));
        assert_eq!(parse_utc_offset("8"), None);
        assert_eq!(parse_utc_offset("+15"), None);
        assert_eq!(parse_window("09:00-12:00"), Some((540, 720)));
        assert_eq!(parse_window("20:00-24:00"), Some((1200, 1440)));
        assert_eq!(parse_window("12:00-09:00"), None);
        assert_eq!(parse_window("9-12"), None);
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        for (bad, word) in [
            (
                json!({ "windows": { "monday": ["09:00-12:00"] } }),
                "monday",
            ),
            (json!({ "windows": { "mon": ["25:00-26:00"] } }), "25:00"),
            (json!({ "holidays": ["10/01/2026"] }), "10/01/2026"),
            (
                json!({ "retry": { "answered": { "after_minutes": 5, "max_retries": 1 } } }),
                "answered",
            ),
            (
                json!({ "retry": { "busy": { "after_minutes": 0, "max_retries": 1 } } }),
                "busy",
            ),
            (json!({ "calls_per_second": 0 }), "calls_per_second"),
            (
                json!({ "webhook": { "url": "ftp://x", "secret": "0123456789abcdef" } }),
                "ftp://x",
            ),
            (
                json!({ "webhook": { "url": "http://crm", "secret": "short" } }),
                "secret",
            ),
            (json!({ "timezone": "Beijing" }), "Beijing"),
        ] {
            let e = Settings::from_json(&bad)
                .and_then(|s| s.compile())
                .expect_err(&bad.to_string());
            assert!(e.en.contains(word) && !e.zh.is_empty(), "{bad}: {e:?}");
        }
        let unknown = Settings::from_json(&json!({ "pacing": 3 })).expect_err("unknown key");
        assert!(unknown.en.contains("pacing"));
    }

    #[test]
    fn secrets_are_masked() {
        let s = Settings::from_json(&json!({
            "webhook": { "url": "http://crm.example/hook", "secret": "0123456789abcdef" },
            "sms": { "gateway_url": "http://sms.example/send", "token": "t0ken", "text": "您好" }
        }))
        .expect("settings");
        let shown = serde_json::to_string(&s.masked()).expect("json");
        assert!(
            !shown.contains("0123456789abcdef") && !shown.contains("t0ken"),
            "{shown}"
        );
    }
}
