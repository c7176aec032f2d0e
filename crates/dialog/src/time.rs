//! Calendar arithmetic on the wall-clock reference, and text squashing.
//!
//! The engine advances the reference time it was given at start by the
//! conversation clock; it never reads a clock itself.

use nlu::entities::DateTimeRef;

// The calendar conversions live with the date parser in `nlu`.
pub(crate) use nlu::entities::{civil_from_days, days_from_civil};

/// `w` moved forward by `minutes` (weekday recomputed).
pub fn advance_minutes(w: &DateTimeRef, minutes: u64) -> DateTimeRef {
    let month = w.month.clamp(1, 12);
    let base = days_from_civil(w.year, month, w.day.clamp(1, 31)) * 1440
        + i64::from(w.hour.min(23)) * 60
        + i64::from(w.minute.min(59));
    // Bounded so absurd clocks cannot overflow.
    let total = base.saturating_add(minutes.min(1 << 40) as i64);
    let (y, m, d) = civil_from_days(total.div_euclid(1440));
    let rem = total.rem_euclid(1440);
    DateTimeRef::new(y, m, d, (rem / 60) as u32, (rem % 60) as u32)
}

/// Normalised text without punctuation or spaces, for keyword matching:
/// "好的，是我！" and "好的是我" compare equal.
pub fn squash(text: &str) -> String {
    nlu::normalize(text)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_across_month_and_weekday() {
        let w = DateTimeRef::new(2026, 11, 30, 23, 50);
        let n = advance_minutes(&w, 20);
        assert_eq!(
            (n.year, n.month, n.day, n.hour, n.minute),
            (2026, 12, 1, 0, 10)
        );
        assert_eq!(n.weekday, 2);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(squash("好的，是我！ OK"), "好的是我ok");
    }
}
