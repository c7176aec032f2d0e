//! A jitter buffer for 20 ms G.711 packets, driven by the call's 20 ms clock.
//!
//! Packets go in as they arrive (any order, duplicates, gaps); one frame
//! comes out per tick. It starts playing after `depth` frames are buffered,
//! returns frames in sequence order, drops packets that arrive after their
//! slot was played, and reports a missing packet as `Lost` (the caller
//! conceals it) and an empty buffer as `Empty` (the caller plays silence).
//! Sans-IO and deterministic.

use std::collections::BTreeMap;

/// What the buffer gives for one 20 ms tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// The packet's payload, in order.
    Frame(Vec<u8>),
    /// A packet in the middle of the stream is missing.
    Lost,
    /// Nothing buffered (not started, or the peer went quiet).
    Empty,
}

/// Reorders packets by (extended) sequence number.
#[derive(Debug)]
pub struct JitterBuffer {
    depth: usize,
    max: usize,
    packets: BTreeMap<u64, Vec<u8>>,
    /// Extended sequence number of the next slot to play.
    next: Option<u64>,
    highest: Option<u64>,
    started: bool,
    /// Counters for RTCP and logs.
    pub received: u64,
    pub late: u64,
    pub lost: u64,
}

impl JitterBuffer {
    /// `depth` frames are buffered before play starts (2 = 40 ms).
    pub fn new(depth: usize) -> Self {
        Self {
            depth: depth.max(1),
            max: 50,
            packets: BTreeMap::new(),
            next: None,
            highest: None,
            started: false,
            received: 0,
            late: 0,
            lost: 0,
        }
    }

    fn extend(&self, seq: u16) -> u64 {
        let Some(h) = self.highest else {
            return 1 << 16 | u64::from(seq);
        };
        let cycle = h & !0xffff;
        let candidates = [cycle.wrapping_sub(1 << 16), cycle, cycle + (1 << 16)];
        candidates
            .iter()
            .map(|c| c | u64::from(seq))
            .min_by_key(|e| e.abs_diff(h))
            .unwrap_or(cycle | u64::from(seq))
    }

    /// Adds a packet.
    pub fn push(&mut self, seq: u16, payload: Vec<u8>) {
        let ext = self.extend(seq);
        if self.next.is_some_and(|n| ext < n) {
            self.late += 1;
            return;
        }
        self.received += 1;
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        self.packets.insert(ext, payload);
        // Bound memory: a burst far ahead skips playback forward.
        while self.packets.len() > self.max {
            if let Some((&first, _)) = self.packets.iter().next() {
                self.packets.remove(&first);
                self.next = Some(first + 1);
            }
        }
    }

    /// The highest extended sequence number seen (for RTCP).
    pub fn highest(&self) -> u32 {
        self.highest.unwrap_or(0) as u32
    }

    /// One tick.
    pub fn pop(&mut self) -> Slot {
        if !self.started {
            if self.packets.len() < self.depth {
                return Slot::Empty;
            }
            self.started = true;
            self.next = self.packets.keys().next().copied();
        }
        let Some(next) = self.next else {
            return Slot::Empty;
        };
        if let Some(p) = self.packets.remove(&next) {
            self.next = Some(next + 1);
            return Slot::Frame(p);
        }
        if self.packets.is_empty() {
            // Underrun: wait for the stream to resume, then rebuffer.
            self.started = false;
            return Slot::Empty;
        }
        self.lost += 1;
        self.next = Some(next + 1);
        Slot::Lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u8) -> Vec<u8> {
        vec![n; 4]
    }

    #[test]
    fn reorders_and_reports_loss() {
        let mut j = JitterBuffer::new(2);
        j.push(10, frame(10));
        assert_eq!(j.pop(), Slot::Empty);
        j.push(12, frame(12));
        j.push(11, frame(11));
        j.push(14, frame(14));
        assert_eq!(j.pop(), Slot::Frame(frame(10)));
        assert_eq!(j.pop(), Slot::Frame(frame(11)));
        assert_eq!(j.pop(), Slot::Frame(frame(12)));
        assert_eq!(j.pop(), Slot::Lost);
        assert_eq!(j.pop(), Slot::Frame(frame(14)));
        // 13 arrives after its slot: dropped.
        j.push(13, frame(13));
        assert_eq!(j.late, 1);
        assert_eq!(j.pop(), Slot::Empty);
    }

    #[test]
    fn survives_sequence_wrap() {
        let mut j = JitterBuffer::new(1);
        j.push(65535, frame(1));
        j.push(0, frame(2));
        assert_eq!(j.pop(), Slot::Frame(frame(1)));
        assert_eq!(j.pop(), Slot::Frame(frame(2)));
    }
}
