//! Telling a new delivery from a retry or a replay.
//!
//! WeChat retries a message up to three times when it gets no answer within
//! five seconds, with the same MsgId; an attacker who captured a signed
//! request can send it again. Each must be acted on once. The guard remembers
//! keys for a window and forgets them after, within a fixed memory bound.

use std::collections::{HashSet, VecDeque};

/// Whether a key was seen within the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    First,
    Again,
}

#[derive(Debug)]
pub struct ReplayGuard {
    window_s: i64,
    capacity: usize,
    order: VecDeque<(i64, String)>,
    keys: HashSet<String>,
}

impl ReplayGuard {
    /// Remembers keys for `window_s` seconds, at most `capacity` of them
    /// (the oldest are forgotten first when full).
    pub fn new(window_s: i64, capacity: usize) -> Self {
        Self {
            window_s,
            capacity: capacity.max(1),
            order: VecDeque::new(),
            keys: HashSet::new(),
        }
    }

    pub fn check(&mut self, key: &str, now_s: i64) -> Seen {
        while let Some((at, _)) = self.order.front() {
            if now_s - *at < self.window_s && self.order.len() < self.capacity {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
        if self.keys.contains(key) {
            return Seen::Again;
        }
        self.keys.insert(key.to_string());
        self.order.push_back((now_s, key.to_string()));
        Seen::First
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_recognised_within_the_window_and_forgotten_after() {
        let mut g = ReplayGuard::new(300, 100);
        assert_eq!(g.check("msg:1", 1000), Seen::First);
        assert_eq!(g.check("msg:1", 1005), Seen::Again);
        assert_eq!(g.check("msg:2", 1005), Seen::First);
        assert_eq!(g.check("msg:1", 1299), Seen::Again);
        assert_eq!(
            g.check("msg:1", 1300),
            Seen::First,
            "forgotten after the window"
        );
    }

    #[test]
    fn memory_is_bounded() {
        let mut g = ReplayGuard::new(1_000_000, 50);
        for i in 0..1000 {
            g.check(&format!("k{i}"), 0);
        }
        assert!(g.len() <= 50);
        assert_eq!(g.check("k999", 0), Seen::Again, "recent keys are kept");
    }
}
