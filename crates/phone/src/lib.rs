//! Phone numbers as people write them, normalised to E.164.
//!
//! One rule for the whole product: a customer identity, a contact imported from
//! a spreadsheet, a do-not-call entry and a number the dialer rings are all the
//! same string for the same line, so "don't call me again" said on one campaign
//! blocks the number for every other.
//!
//! Invariants:
//! - [`normalize`] returns `+` followed by 8–15 digits, or a [`PhoneError`]
//!   saying why not; it never panics, whatever the input.
//! - Normalising a normalised number gives the same number (idempotent).
//! - Mainland numbers are checked more strictly than foreign ones: a mobile is
//!   `1[3-9]` plus 9 digits, a landline an area code `0[1-9]…` plus a 7–8 digit
//!   local number.

use std::fmt;

/// Why a number was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneError {
    Empty,
    /// A character that is neither a digit nor a separator (` -().+`).
    BadCharacter(char),
    /// Too short or too long for any numbering plan.
    Length(usize),
    /// A mainland (+86) number that is neither a mobile nor a landline.
    NotMainland,
    /// A local number without an area code (`12345678`).
    NoAreaCode,
}

impl PhoneError {
    /// The reason in Chinese, for operators.
    pub fn zh(&self) -> String {
        match self {
            PhoneError::Empty => "号码为空".into(),
            PhoneError::BadCharacter(c) => format!("号码含有非法字符 '{c}'"),
            PhoneError::Length(n) => format!("号码位数不对（{n} 位）"),
            PhoneError::NotMainland => "不是有效的中国大陆手机或固话号码".into(),
            PhoneError::NoAreaCode => "固话号码缺少区号".into(),
        }
    }
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneError::Empty => write!(f, "the number is empty"),
            PhoneError::BadCharacter(c) => write!(f, "the number contains '{c}'"),
            PhoneError::Length(n) => write!(f, "a number cannot have {n} digits"),
            PhoneError::NotMainland => {
                write!(f, "not a valid mainland China mobile or landline number")
            }
            PhoneError::NoAreaCode => write!(f, "a landline number needs its area code"),
        }
    }
}

impl std::error::Error for PhoneError {}

/// A phone number in E.164, from how people write Chinese and international
/// numbers: `13800138000`, `138-0013-8000`, `+86 138 0013 8000`,
/// `008613800138000`, `86 13800138000`, landlines with their area code
/// (`010-12345678`, `(0755) 8888 9999`), `+1 415 555 0100`.
pub fn normalize(raw: &str) -> Result<String, PhoneError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(PhoneError::Empty);
    }
    if let Some(c) = raw
        .chars()
        .find(|c| !(c.is_ascii_digit() || " -().+\u{a0}".contains(*c)))
    {
        return Err(PhoneError::BadCharacter(c));
    }
    let plus = raw.trim_start_matches('(').starts_with('+');
    let digits: String = raw.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if digits.len() == 13 && digits.starts_with("861") {
        // "86 13800138000": a mobile with the country code but no plus.
        digits
    } else if digits.starts_with('1') {
        if digits.len() != 11 {
            return Err(PhoneError::Length(digits.len()));
        }
        format!("86{digits}")
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("86{rest}")
    } else if (7..=8).contains(&digits.len()) {
        return Err(PhoneError::NoAreaCode);
    } else {
        return Err(PhoneError::Length(digits.len()));
    };
    // "+86 (0)10 1234 5678": the national trunk prefix written after the
    // country code is not dialled.
    let international = match international.strip_prefix("860") {
        Some(rest) => format!("86{rest}"),
        None => international,
    };
    if !(8..=15).contains(&international.len()) {
        return Err(PhoneError::Length(international.len()));
    }
    if let Some(national) = international.strip_prefix("86") {
        check_mainland(national)?;
    }
    Ok(format!("+{international}"))
}

/// A mainland national number (after +86): a mobile `1[3-9]xxxxxxxxx`, or an
/// area code (2 digits for 10/2x, else 3) and a 7–8 digit local number.
fn check_mainland(national: &str) -> Result<(), PhoneError> {
    let b = national.as_bytes();
    match b.first() {
        Some(b'1') if b.get(1) != Some(&b'0') => {
            let ok = b.len() == 11 && (b'3'..=b'9').contains(&b[1]);
            ok.then_some(()).ok_or(PhoneError::NotMainland)
        }
        Some(b'1'..=b'9') => {
            // Beijing (10) and the 2x cities have two-digit area codes.
            let area = if b[0] == b'2' || b.starts_with(b"10") {
                2
            } else {
                3
            };
            let local = b.len().saturating_sub(area);
            ((7..=8).contains(&local) && b.get(area) != Some(&b'0'))
                .then_some(())
                .ok_or(PhoneError::NotMainland)
        }
        _ => Err(PhoneError::NotMainland),
    }
}

/// `normalize(raw).ok()`, for callers that only need yes or no.
pub fn normalize_opt(raw: &str) -> Option<String> {
    normalize(raw).ok()
}

/// The callee's UTC offset in minutes when the country code pins one down
/// (countries with a single time zone and no daylight saving); `None` when the
/// country spans zones or moves its clocks: the campaign's default applies.
pub fn utc_offset_minutes(e164: &str) -> Option<i32> {
    const SINGLE_ZONE: &[(&str, i32)] = &[
        ("+86", 480),  // China
        ("+852", 480), // Hong Kong
        ("+853", 480), // Macau
        ("+886", 480), // Taiwan
        ("+65", 480),  // Singapore
        ("+60", 480),  // Malaysia
        ("+63", 480),  // Philippines
        ("+81", 540),  // Japan
        ("+82", 540),  // South Korea
        ("+66", 420),  // Thailand
        ("+84", 420),  // Vietnam
        ("+91", 330),  // India
    ];
    // Longest prefix first: +852 before +85x.
    let mut best: Option<(&str, i32)> = None;
    for (prefix, offset) in SINGLE_ZONE {
        if e164.starts_with(prefix) && best.is_none_or(|(p, _)| prefix.len() > p.len()) {
            best = Some((prefix, *offset));
        }
    }
    best.map(|(_, o)| o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_as_people_write_them() {
        for raw in [
            "13800138000",
            "138-0013-8000",
            "+86 138 0013 8000",
            "008613800138000",
            "(+86) 13800138000",
            "86 13800138000",
            " 138 0013 8000 ",
        ] {
            assert_eq!(normalize(raw).as_deref(), Ok("+8613800138000"), "{raw}");
        }
        assert_eq!(normalize("010-12345678").as_deref(), Ok("+861012345678"));
        assert_eq!(
            normalize("(0755) 8888 9999").as_deref(),
            Ok("+8675588889999")
        );
        assert_eq!(normalize("021 6888 8888").as_deref(), Ok("+862168888888"));
        assert_eq!(
            normalize("+86 (0)10 1234 5678").as_deref(),
            Ok("+861012345678")
        );
        assert_eq!(normalize("+1 415 555 0100").as_deref(), Ok("+14155550100"));
        assert_eq!(
            normalize("+44 20 7946 0958").as_deref(),
            Ok("+442079460958")
        );
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(normalize(""), Err(PhoneError::Empty));
        assert_eq!(normalize("  "), Err(PhoneError::Empty));
        assert_eq!(normalize("+"), Err(PhoneError::Empty));
        assert_eq!(normalize("1380013800a"), Err(PhoneError::BadCharacter('a')));
        assert_eq!(normalize("hello"), Err(PhoneError::BadCharacter('h')));
        assert_eq!(normalize("12345"), Err(PhoneError::Length(5)));
        assert_eq!(normalize("1380013800"), Err(PhoneError::Length(10)));
        assert_eq!(normalize("12800138000"), Err(PhoneError::NotMainland));
        assert_eq!(normalize("+86 12800138000"), Err(PhoneError::NotMainland));
        assert_eq!(normalize("68888888"), Err(PhoneError::NoAreaCode));
        assert_eq!(normalize("010-0234567"), Err(PhoneError::NotMainland));
        assert_eq!(normalize("+1234567890123456"), Err(PhoneError::Length(16)));
        assert!(!PhoneError::NoAreaCode.zh().is_empty());
    }

    #[test]
    fn offsets_by_country() {
        assert_eq!(utc_offset_minutes("+8613800138000"), Some(480));
        assert_eq!(utc_offset_minutes("+85261234567"), Some(480));
        assert_eq!(utc_offset_minutes("+819012345678"), Some(540));
        assert_eq!(utc_offset_minutes("+14155550100"), None);
    }

    proptest! {
        #[test]
        fn never_panics_and_is_idempotent(raw in "\\PC{0,30}") {
            if let Ok(n) = normalize(&raw) {
                prop_assert!(n.starts_with('+'));
                prop_assert!((9..=16).contains(&n.len()));
                prop_assert_eq!(normalize(&n), Ok(n.clone()));
            }
        }

        #[test]
        fn every_mainland_mobile_is_accepted(second in 3u8..=9, rest in "[0-9]{9}") {
            let raw = format!("1{second}{rest}");
            prop_assert_eq!(normalize(&raw), Ok(format!("+86{raw}")));
        }
    }
}
