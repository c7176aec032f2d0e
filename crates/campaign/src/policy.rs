//! The scheduling rules, pure: given the clock's time and the facts, decide.
//! No IO, no clock of their own, so tests move time instead of sleeping.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use store::{Candidate, ClaimDecision, DialingPolicy, NextStep};

use crate::Outcome;

/// Julian day number of 1970-01-01.
pub const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// Every UTC offset in use on Earth is a multiple of 15 minutes in this range.
fn all_offsets() -> impl Iterator<Item = i32> {
    (-12 * 4..=14 * 4).map(|q| q * 15)
}

/// When a campaign may ring a callee, in the callee's local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// For callees whose offset is not known (minutes east of UTC).
    pub default_offset: i32,
    /// Monday first; minutes of the day, `[start, end)`.
    pub windows: [Vec<(u16, u16)>; 7],
    /// Local dates never called, as days since 1970-01-01.
    pub holidays: BTreeSet<i64>,
}

impl Schedule {
    /// Whether a callee at `offset` minutes east of UTC may be rung at `now`.
    pub fn is_open(&self, now_ms: i64, offset: i32) -> bool {
        let local = now_ms + i64::from(offset) * MINUTE_MS;
        let day = local.div_euclid(DAY_MS);
        if self.holidays.contains(&day) {
            return false;
        }
        let minute = (local.rem_euclid(DAY_MS) / MINUTE_MS) as u16;
        // 1970-01-01 was a Thursday (index 3, Monday = 0).
        let weekday = (day + 3).rem_euclid(7) as usize;
        self.windows[weekday]
            .iter()
            .any(|&(start, end)| (start..end).contains(&minute))
    }

    /// The UTC offsets whose callees may be rung at `now` (what a claim
    /// filters on, so each callee is judged by their own clock).
    pub fn open_offsets(&self, now_ms: i64) -> Vec<i32> {
        all_offsets().filter(|&o| self.is_open(now_ms, o)).collect()
    }

    /// The first minute at or after `now` when a callee at `offset` may be
    /// rung; `None` when the schedule never opens in the coming year.
    pub fn next_open(&self, now_ms: i64, offset: i32) -> Option<i64> {
        if self.is_open(now_ms, offset) {
            return Some(now_ms);
        }
        let local = now_ms + i64::from(offset) * MINUTE_MS;
        let today = local.div_euclid(DAY_MS);
        for day in today..today + 370 {
            if self.holidays.contains(&day) {
                continue;
            }
            let weekday = (day + 3).rem_euclid(7) as usize;
            let mut starts: Vec<i64> = self.windows[weekday]
                .iter()
                .map(|&(start, _)| day * DAY_MS + i64::from(start) * MINUTE_MS)
                .filter(|&t| t > local)
                .collect();
            starts.sort_unstable();
            if let Some(t) = starts.first() {
                return Some(t - i64::from(offset) * MINUTE_MS);
            }
        }
        None
    }
}

/// Retry after `after_minutes`, at most `max_retries` times (so at most
/// `1 + max_retries` attempts for a contact that keeps getting this outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryRule {
    pub after_minutes: u32,
    pub max_retries: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryPolicy {
    pub rules: BTreeMap<Outcome, RetryRule>,
}

impl RetryPolicy {
    /// After attempt number `attempt_no` (1 = the first call) ended with
    /// `outcome` at `now`: done, or call again when.
    pub fn next(&self, outcome: Outcome, attempt_no: i64, now_ms: i64) -> NextStep {
        // A call lost to a restart is retried like a failed one.
        let key = if outcome == Outcome::Unknown {
            Outcome::Failed
        } else {
            outcome
        };
        match self.rules.get(&key) {
            Some(rule) if attempt_no <= i64::from(rule.max_retries) => {
                NextStep::RetryAt(now_ms + i64::from(rule.after_minutes) * MINUTE_MS)
            }
            _ => NextStep::Done,
        }
    }
}

/// Whether a due contact is dialled now: never when the number is on a
/// do-not-call list; later when the tenant's frequency cap is reached (until
/// the oldest counted call leaves the window), unless this is the callback
/// the callee asked for; otherwise now.
pub fn decide_claim(candidate: &Candidate, cap: Option<DialingPolicy>) -> ClaimDecision {
    if candidate.on_dnc {
        return ClaimDecision::Skip {
            outcome: "dnc".into(),
        };
    }
    if let Some(cap) = cap.filter(|_| !candidate.callback) {
        let max = usize::try_from(cap.max_calls.max(0)).unwrap_or(usize::MAX);
        let calls = &candidate.recent_answered;
        if max == 0 {
            return ClaimDecision::Skip {
                outcome: "capped".into(),
            };
        }
        if calls.len() >= max {
            // With `max` calls allowed per window, the window frees up when
            // the call `max` places from the newest leaves it.
            let oldest_counted = calls[calls.len() - max];
            return ClaimDecision::Defer {
                until: oldest_counted + cap.window_ms + 1,
            };
        }
    }
    ClaimDecision::Dial
}

/// Callbacks are honoured up to this attempt, so a callee who asks for one
/// on every call is not called for ever.
pub const MAX_CALLBACK_ATTEMPT: i64 = 5;
/// Nor further ahead than this.
pub const MAX_CALLBACK_AHEAD_MS: i64 = 30 * DAY_MS;

/// After an answered call in which the callee asked to be called back at
/// `callback_at`: the callback, when it is in the future, not too far, and
/// the contact has not had many calls already.
pub fn callback_step(callback_at: Option<i64>, attempt_no: i64, now_ms: i64) -> Option<NextStep> {
    let at = callback_at?;
    (at > now_ms && at <= now_ms + MAX_CALLBACK_AHEAD_MS && attempt_no < MAX_CALLBACK_ATTEMPT)
        .then_some(NextStep::CallbackAt(at))
}

/// Calls started per second, at most.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    pub calls_per_second: f64,
}

/// A token bucket: `calls_per_second` tokens a second, holding at most one
/// second's worth (and starting full), so a campaign that waited does not
/// burst beyond its rate.
#[derive(Debug, Clone)]
pub struct Pacer {
    tokens: f64,
    last_ms: i64,
}

impl Pacer {
    pub fn new(now_ms: i64) -> Pacer {
        Pacer {
            // Full: the first `take` caps it at one second's worth.
            tokens: f64::INFINITY,
            last_ms: now_ms,
        }
    }

    /// How many calls may start now (at most `want`); those are spent.
    pub fn take(&mut self, pacing: Pacing, now_ms: i64, want: usize) -> usize {
        let rate = pacing.calls_per_second;
        let elapsed = (now_ms - self.last_ms).max(0) as f64 / 1000.0;
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        let n = (self.tokens.floor() as usize).min(want);
        self.tokens -= n as f64;
        n
    }

    /// Gives back calls taken but not started (nothing was due).
    pub fn refund(&mut self, n: usize) {
        self.tokens += n as f64;
    }
}

/// After the `tries`-th failed delivery: wait this long, or give up (`None`).
/// 10 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h: about 11 hours in all.
pub fn delivery_backoff(tries: i64) -> Option<i64> {
    const STEPS_S: [i64; 8] = [10, 30, 120, 600, 1_800, 3_600, 10_800, 21_600];
    usize::try_from(tries - 1)
        .ok()
        .and_then(|i| STEPS_S.get(i))
        .map(|s| s * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 2026-11-23 is a Monday. 00:00 UTC that day = 08:00 in Beijing.
    const MON_0000_UTC: i64 = 1_795_392_000_000;
    const HOUR: i64 = 3_600_000;

    fn weekdays_9_to_12() -> Schedule {
        let mut windows: [Vec<(u16, u16)>; 7] = Default::default();
        for w in windows.iter_mut().take(5) {
            w.push((9 * 60, 12 * 60));
        }
        Schedule {
            default_offset: 480,
            windows,
            holidays: BTreeSet::new(),
        }
    }

    #[test]
    fn the_epoch_constant_is_a_monday_where_we_think() {
        let date = time::OffsetDateTime::from_unix_timestamp(MON_0000_UTC / 1000).expect("date");
        assert_eq!(date.weekday(), time::Weekday::Monday);
        assert_eq!((date.hour(), date.minute()), (0, 0));
    }

    #[test]
    fn windows_are_in_the_callees_time() {
        let s = weekdays_9_to_12();
        // 01:00 UTC Monday: 09:00 in Beijing (open), 01:00 in London (closed).
        assert!(s.is_open(MON_0000_UTC + HOUR, 480));
        assert!(!s.is_open(MON_0000_UTC + HOUR, 0));
        assert!(!s.is_open(MON_0000_UTC + 4 * HOUR, 480)); // 12:00 Beijing: end is exclusive
        assert!(s.open_offsets(MON_0000_UTC + HOUR).contains(&480));
        // Saturday is closed everywhere.
        assert!(
            s.open_offsets(MON_0000_UTC + 5 * 24 * HOUR + 2 * HOUR)
                .is_empty()
        );
    }

    #[test]
    fn holidays_close_the_whole_local_day() {
        let mut s = weekdays_9_to_12();
        s.holidays.insert(MON_0000_UTC / DAY_MS);
        assert!(!s.is_open(MON_0000_UTC + HOUR, 480));
        // Tuesday 09:00 Beijing is the next opening.
        assert_eq!(
            s.next_open(MON_0000_UTC + HOUR, 480),
            Some(MON_0000_UTC + 25 * HOUR)
        );
    }

    #[test]
    fn next_open_skips_the_weekend() {
        let s = weekdays_9_to_12();
        let friday_noon_beijing = MON_0000_UTC + 4 * 24 * HOUR + 4 * HOUR;
        let monday_9_beijing = MON_0000_UTC + 7 * 24 * HOUR + HOUR;
        assert_eq!(
            s.next_open(friday_noon_beijing, 480),
            Some(monday_9_beijing)
        );
        let never = Schedule {
            windows: Default::default(),
            ..weekdays_9_to_12()
        };
        assert_eq!(never.next_open(MON_0000_UTC, 480), None);
    }

    #[test]
    fn retries_follow_the_rule_for_the_outcome() {
        let mut p = RetryPolicy::default();
        p.rules.insert(
            Outcome::Busy,
            RetryRule {
                after_minutes: 30,
                max_retries: 2,
            },
        );
        p.rules.insert(
            Outcome::Failed,
            RetryRule {
                after_minutes: 5,
                max_retries: 1,
            },
        );
        assert_eq!(p.next(Outcome::Busy, 1, 0), NextStep::RetryAt(30 * 60_000));
        assert_eq!(p.next(Outcome::Busy, 2, 0), NextStep::RetryAt(30 * 60_000));
        assert_eq!(p.next(Outcome::Busy, 3, 0), NextStep::Done);
        assert_eq!(p.next(Outcome::NoAnswer, 1, 0), NextStep::Done);
        assert_eq!(p.next(Outcome::Answered, 1, 0), NextStep::Done);
        assert_eq!(
            p.next(Outcome::Unknown, 1, 0),
            NextStep::RetryAt(5 * 60_000)
        );
        assert_eq!(p.next(Outcome::Unknown, 2, 0), NextStep::Done);
    }

    fn candidate(on_dnc: bool, recent: Vec<i64>) -> Candidate {
        Candidate {
            contact_id: "c".into(),
            number: "+8613800138000".into(),
            attempt_no: 1,
            on_dnc,
            recent_answered: recent,
            callback: false,
        }
    }

    #[test]
    fn dnc_wins_and_the_cap_defers_until_the_window_frees() {
        let cap = Some(DialingPolicy {
            max_calls: 1,
            window_ms: 5 * 24 * HOUR,
        });
        assert_eq!(
            decide_claim(&candidate(true, vec![]), None),
            ClaimDecision::Skip {
                outcome: "dnc".into()
            }
        );
        assert_eq!(
            decide_claim(&candidate(false, vec![]), cap),
            ClaimDecision::Dial
        );
        assert_eq!(
            decide_claim(&candidate(false, vec![1000]), cap),
            ClaimDecision::Defer {
                until: 1000 + 5 * 24 * HOUR + 1
            }
        );
        let mut asked = candidate(false, vec![1000]);
        asked.callback = true;
        assert_eq!(
            decide_claim(&asked, cap),
            ClaimDecision::Dial,
            "a callback is not capped"
        );
        asked.on_dnc = true;
        assert!(
            matches!(decide_claim(&asked, cap), ClaimDecision::Skip { .. }),
            "but DNC wins"
        );
        let two = Some(DialingPolicy {
            max_calls: 2,
            window_ms: 100,
        });
        assert_eq!(
            decide_claim(&candidate(false, vec![10]), two),
            ClaimDecision::Dial
        );
        assert_eq!(
            decide_claim(&candidate(false, vec![10, 50]), two),
            ClaimDecision::Defer { until: 111 }
        );
    }

    #[test]
    fn callbacks_are_bounded() {
        assert_eq!(
            callback_step(Some(HOUR), 1, 0),
            Some(NextStep::CallbackAt(HOUR))
        );
        assert_eq!(callback_step(None, 1, 0), None);
        assert_eq!(callback_step(Some(0), 1, 0), None, "not in the past");
        assert_eq!(
            callback_step(Some(31 * 24 * HOUR), 1, 0),
            None,
            "not months ahead"
        );
        assert_eq!(callback_step(Some(HOUR), MAX_CALLBACK_ATTEMPT, 0), None);
    }

    #[test]
    fn pacing_spreads_calls_over_time() {
        let pacing = Pacing {
            calls_per_second: 2.0,
        };
        let mut p = Pacer::new(0);
        assert_eq!(p.take(pacing, 0, 100), 2);
        assert_eq!(p.take(pacing, 0, 100), 0);
        assert_eq!(p.take(pacing, 500, 100), 1);
        // A long pause does not bank more than a second's worth.
        assert_eq!(p.take(pacing, 60_000, 100), 2);
        let slow = Pacing {
            calls_per_second: 0.5,
        };
        let mut p = Pacer::new(0);
        assert_eq!(p.take(slow, 0, 10), 1);
        assert_eq!(p.take(slow, 1_000, 10), 0);
        assert_eq!(p.take(slow, 2_000, 10), 1);
    }

    #[test]
    fn delivery_backoff_grows_then_gives_up() {
        assert_eq!(delivery_backoff(1), Some(10_000));
        assert_eq!(delivery_backoff(2), Some(30_000));
        assert_eq!(delivery_backoff(8), Some(21_600_000));
        assert_eq!(delivery_backoff(9), None);
        assert_eq!(delivery_backoff(0), None);
    }

    fn schedule_strategy() -> impl Strategy<Value = Schedule> {
        (
            proptest::collection::vec(proptest::collection::vec((0u16..1440, 1u16..600), 0..3), 7),
            proptest::collection::btree_set(20_000i64..20_500, 0..20),
            -720i32..=840,
        )
            .prop_map(|(days, holidays, default_offset)| {
                let mut windows: [Vec<(u16, u16)>; 7] = Default::default();
                for (i, day) in days.into_iter().enumerate() {
                    windows[i] = day
                        .into_iter()
                        .map(|(s, len)| (s, (s + len).min(1440)))
                        .filter(|(s, e)| s < e)
                        .collect();
                }
                Schedule {
                    default_offset,
                    windows,
                    holidays,
                }
            })
    }

    proptest! {
        #[test]
        fn next_open_is_open_and_nothing_earlier_is(
            s in schedule_strategy(),
            now in 1_700_000_000_000i64..1_800_000_000_000,
            q in -48i32..=56,
        ) {
            let offset = q * 15;
            if let Some(t) = s.next_open(now, offset) {
                prop_assert!(t >= now);
                prop_assert!(s.is_open(t, offset));
                // Sample the minutes before: none of them is open.
                let mut probe = t - 60_000;
                let mut n = 0;
                while probe >= now && n < 2000 {
                    prop_assert!(!s.is_open(probe, offset), "open at {probe} before {t}");
                    probe -= 60_000 * 7;
                    n += 1;
                }
            }
            let open = s.open_offsets(now);
            prop_assert_eq!(open.contains(&offset), s.is_open(now, offset));
        }

        #[test]
        fn never_more_attempts_than_the_rule_allows(after in 1u32..1000, max in 0u32..10, outcome_i in 0usize..8) {
            let outcome = Outcome::ALL[outcome_i];
            let mut p = RetryPolicy::default();
            p.rules.insert(outcome, RetryRule { after_minutes: after, max_retries: max });
            let mut attempts = 1i64;
            let mut now = 0;
            while let NextStep::RetryAt(t) = p.next(outcome, attempts, now) {
                prop_assert!(t > now);
                now = t;
                attempts += 1;
                prop_assert!(attempts <= 1 + i64::from(max));
            }
        }

        #[test]
        fn the_cap_is_never_exceeded(max in 1i64..4, window in 1i64..1_000_000, mut calls in proptest::collection::vec(0i64..10_000_000, 0..8)) {
            calls.sort_unstable();
            let cap = Some(DialingPolicy { max_calls: max, window_ms: window });
            let now = calls.last().copied().unwrap_or(0);
            let recent: Vec<i64> = calls.iter().copied().filter(|&t| t > now - window).collect();
            match decide_claim(&candidate(false, recent.clone()), cap) {
                ClaimDecision::Dial => prop_assert!((recent.len() as i64) < max),
                ClaimDecision::Defer { until } => {
                    prop_assert!(until > now);
                    // At `until`, fewer than `max` calls remain in the window.
                    let still = recent.iter().filter(|&&t| t > until - window).count() as i64;
                    prop_assert!(still < max);
                }
                ClaimDecision::Skip { .. } => prop_assert!(false, "skipped without dnc"),
            }
        }
    }
}
