//! RTP and RTCP packets (RFC 3550) and RFC 4733 telephone events, sans-IO.

/// A received or outgoing RTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

impl RtpPacket {
    /// Parses a packet; `None` for anything that is not RTP version 2 or is truncated.
    pub fn parse(b: &[u8]) -> Option<RtpPacket> {
        let first = *b.first()?;
        if first >> 6 != 2 {
            return None;
        }
        let padding = first & 0x20 != 0;
        let extension = first & 0x10 != 0;
        let csrc = usize::from(first & 0x0f);
        let second = *b.get(1)?;
        let payload_type = second & 0x7f;
        // RTCP shares the port in rtcp-mux; its types 200..=204 land on 72..=76.
        if (72..=76).contains(&payload_type) {
            return None;
        }
        let sequence = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
        let timestamp = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
        let ssrc = u32::from_be_bytes(b.get(8..12)?.try_into().ok()?);
        let mut start = 12 + 4 * csrc;
        if extension {
            let len = u16::from_be_bytes([*b.get(start + 2)?, *b.get(start + 3)?]);
            start += 4 + 4 * usize::from(len);
        }
        let mut end = b.len();
        if padding {
            let pad = usize::from(*b.last()?);
            end = end.checked_sub(pad)?;
        }
        let payload = b.get(start..end)?.to_vec();
        Some(RtpPacket {
            payload_type,
            marker: second & 0x80 != 0,
            sequence,
            timestamp,
            ssrc,
            payload,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.payload.len());
        out.push(0x80);
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7f));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }
}

/// An RFC 4733 named telephone event (one packet of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

impl TelephoneEvent {
    pub fn parse(payload: &[u8]) -> Option<TelephoneEvent> {
        let b = payload.get(..4)?;
        Some(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }

    /// The key: 0-9, *, #, A-D; `None` for other events (flash, tones).
    pub fn digit(self) -> Option<char> {
        match self.event {
            0..=9 => char::from_digit(u32::from(self.event), 10),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some(char::from(b'A' + self.event - 12)),
            _ => None,
        }
    }
}

/// Turns the stream of telephone-event packets into one digit per key press:
/// an event is reported once (on its first packet), however often it is
/// repeated or its end packet retransmitted (RFC 4733 §2.5.1.4). An event is
/// identified by its RTP timestamp and code; a new start after an end with
/// the same identity (replayed captures) counts as a new press.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    current: Option<(u32, u8)>,
    ended: bool,
}

impl DtmfReceiver {
    /// Feeds one telephone-event packet.
    pub fn push(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let ev = TelephoneEvent::parse(payload)?;
        let key = (timestamp, ev.event);
        if self.current == Some(key) {
            if self.ended && !ev.end {
                self.ended = false;
                return ev.digit();
            }
            self.ended |= ev.end;
            return None;
        }
        self.current = Some(key);
        self.ended = ev.end;
        ev.digit()
    }
}

/// Counters for RTCP reports.
#[derive(Debug, Default, Clone)]
pub struct RtcpStats {
    pub packets_sent: u32,
    pub octets_sent: u32,
    pub packets_received: u32,
    pub highest_seq: u32,
    pub lost: u32,
    pub remote_ssrc: u32,
    /// Interarrival jitter of the peer's stream, in timestamp units (RFC 3550 §6.4.1).
    pub jitter: u32,
    /// The middle 32 bits of the NTP time in the peer's last sender report (LSR).
    pub last_sr: u32,
    /// Delay since that report arrived, in 1/65536 s (DLSR); 0 without one.
    pub delay_since_last_sr: u32,
}

/// One reception report block: how a receiver hears a sender's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// The stream this block is about.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Packets lost since the start (may be negative with duplicates).
    pub cumulative_lost: i32,
    pub highest_seq: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received (0: none).
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// A sender or receiver report read from an RTCP compound packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpReport {
    /// Who sent it.
    pub ssrc: u32,
    /// For a sender report: its NTP timestamp (to answer with LSR/DLSR).
    pub sender_ntp: Option<u64>,
    pub blocks: Vec<ReportBlock>,
}

/// The sender and receiver reports in an RTCP compound packet (RFC 3550
/// §6.4). Other packet types (SDES, BYE, APP, feedback) are skipped; a
/// truncated or malformed packet ends the walk and keeps what was read.
pub fn parse_rtcp(b: &[u8]) -> Vec<RtcpReport> {
    let mut out = Vec::new();
    let mut rest = b;
    while rest.len() >= 4 {
        let (Some(&first), Some(&kind)) = (rest.first(), rest.get(1)) else {
            break;
        };
        if first >> 6 != 2 {
            break;
        }
        let count = usize::from(first & 0x1f);
        let words = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let len = (words + 1) * 4;
        let Some(packet) = rest.get(..len) else {
            break;
        };
        rest = rest.get(len..).unwrap_or_default();
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_be_bytes(packet.get(at..at + 4)?.try_into().ok()?))
        };
        let (sender_ntp, blocks_at) = match kind {
            200 => {
                let (Some(hi), Some(lo)) = (word(8), word(12)) else {
                    break;
                };
                (Some((u64::from(hi) << 32) | u64::from(lo)), 28)
            }
            201 => (None, 8),
            _ => continue,
        };
        let Some(ssrc) = word(4) else { break };
        let mut blocks = Vec::new();
        for i in 0..count {
            let at = blocks_at + i * 24;
            let (Some(bssrc), Some(loss), Some(seq), Some(jitter), Some(lsr), Some(dlsr)) = (
                word(at),
                word(at + 4),
                word(at + 8),
                word(at + 12),
                word(at + 16),
                word(at + 20),
            ) else {
                break;
            };
            // 24-bit two's complement.
            let cumulative = ((loss & 0x00ff_ffff) << 8) as i32 >> 8;
            blocks.push(ReportBlock {
                ssrc: bssrc,
                fraction_lost: (loss >> 24) as u8,
                cumulative_lost: cumulative,
                highest_seq: seq,
                jitter,
                last_sr: lsr,
                delay_since_last_sr: dlsr,
            });
        }
        out.push(RtcpReport {
            ssrc,
            sender_ntp,
            blocks,
        });
    }
    out
}

/// The round-trip time a report block implies (RFC 3550 §6.4.1: arrival −
/// LSR − DLSR), in milliseconds; `None` when the peer has not seen our SR.
/// `arrival_ntp` is the NTP time the report arrived.
pub fn round_trip_ms(block: &ReportBlock, arrival_ntp: u64) -> Option<u32> {
    if block.last_sr == 0 {
        return None;
    }
    let arrival = (arrival_ntp >> 16) as u32;
    let rtt = arrival
        .wrapping_sub(block.last_sr)
        .wrapping_sub(block.delay_since_last_sr);
    // More than a minute is a clock or wrap problem, not a round trip.
    (rtt < 60 << 16).then(|| ((u64::from(rtt) * 1000) >> 16) as u32)
}

/// An RTCP compound packet: a sender report with one reception report block
/// (when we have heard the peer) and an SDES CNAME.
pub fn rtcp_sender_report(
    ssrc: u32,
    ntp: u64,
    rtp_timestamp: u32,
    stats: &RtcpStats,
    cname: &str,
) -> Vec<u8> {
    let mut out = Vec::new();
    let blocks: u8 = u8::from(stats.packets_received > 0);
    let words = 6 + 6 * u16::from(blocks); // length in 32-bit words minus one
    out.push(0x80 | blocks);
    out.push(200);
    out.extend_from_slice(&words.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&ntp.to_be_bytes());
    out.extend_from_slice(&rtp_timestamp.to_be_bytes());
    out.extend_from_slice(&stats.packets_sent.to_be_bytes());
    out.extend_from_slice(&stats.octets_sent.to_be_bytes());
    if blocks == 1 {
        out.extend_from_slice(&stats.remote_ssrc.to_be_bytes());
        let expected = stats.packets_received.saturating_add(stats.lost).max(1);
        let fraction =
            u8::try_from(u64::from(stats.lost) * 256 / u64::from(expected)).unwrap_or(255);
        out.push(fraction);
        let lost = stats.lost.min(0x7f_ffff).to_be_bytes();
        out.extend_from_slice(&lost[1..4]);
        out.extend_from_slice(&stats.highest_seq.to_be_bytes());
        out.extend_from_slice(&stats.jitter.to_be_bytes());
        out.extend_from_slice(&stats.last_sr.to_be_bytes());
        out.extend_from_slice(&stats.delay_since_last_sr.to_be_bytes());
    }
    // SDES with CNAME, padded to a 32-bit boundary.
    let name = cname.as_bytes();
    let name = name.get(..name.len().min(255)).unwrap_or_default();
    let mut item = vec![1u8, name.len() as u8];
    item.extend_from_slice(name);
    item.push(0);
    while (4 + item.len()) % 4 != 0 {
        item.push(0);
    }
    let len = ((4 + item.len()) / 4 - 1) as u16;
    out.push(0x81);
    out.push(202);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&item);
    out
}

/// Whether a datagram is RTCP (sender/receiver report, SDES, BYE, APP).
pub fn is_rtcp(b: &[u8]) -> bool {
    b.len() >= 8 && b[0] >> 6 == 2 && (200..=204).contains(&b[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_round_trip_and_rejects_junk() {
        let p = RtpPacket {
            payload_type: 8,
            marker: true,
            sequence: 65535,
            timestamp: 160,
            ssrc: 42,
            payload: vec![0xd5; 160],
        };
        assert_eq!(RtpPacket::parse(&p.to_bytes()), Some(p));
        assert_eq!(RtpPacket::parse(&[0x80, 8, 0]), None);
        assert_eq!(RtpPacket::parse(&[0x00; 20]), None);
        // CSRC count pointing past the end.
        let mut bad = vec![0x8f, 8];
        bad.extend_from_slice(&[0; 12]);
        assert_eq!(RtpPacket::parse(&bad), None);
    }

    #[test]
    fn dtmf_reported_once_per_event() {
        let mut rx = DtmfReceiver::default();
        let five = TelephoneEvent {
            event: 5,
            end: false,
            volume: 10,
            duration: 160,
        };
        assert_eq!(rx.push(1000, &five.to_bytes()), Some('5'));
        assert_eq!(rx.push(1000, &five.to_bytes()), None);
        let end = TelephoneEvent { end: true, ..five };
        assert_eq!(rx.push(1000, &end.to_bytes()), None);
        let star = TelephoneEvent { event: 10, ..five };
        assert_eq!(rx.push(2000, &star.to_bytes()), Some('*'));
        assert_eq!(rx.push(3000, &[1, 2]), None);
    }

    #[test]
    fn our_sender_report_reads_back() {
        let stats = RtcpStats {
            packets_received: 90,
            lost: 10,
            remote_ssrc: 77,
            highest_seq: 1234,
            jitter: 40,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
            ..Default::default()
        };
        let sr = rtcp_sender_report(9, 0xaaaa_bbbb_cccc_dddd, 3, &stats, "tonghua");
        let reports = parse_rtcp(&sr);
        assert_eq!(reports.len(), 1, "the SDES is skipped");
        assert_eq!(reports[0].ssrc, 9);
        assert_eq!(reports[0].sender_ntp, Some(0xaaaa_bbbb_cccc_dddd));
        assert_eq!(
            reports[0].blocks,
            vec![ReportBlock {
                ssrc: 77,
                fraction_lost: 25, // 10 of 100, in 1/256
                cumulative_lost: 10,
                highest_seq: 1234,
                jitter: 40,
                last_sr: 0x1234_5678,
                delay_since_last_sr: 65536,
            }]
        );
    }

    #[test]
    fn receiver_reports_negative_loss_and_junk() {
        // RR from SSRC 5 with one block: fraction 0, cumulative −1.
        let mut rr = vec![0x81, 201, 0, 7];
        rr.extend_from_slice(&5u32.to_be_bytes());
        rr.extend_from_slice(&9u32.to_be_bytes());
        rr.extend_from_slice(&[0x00, 0xff, 0xff, 0xff]);
        rr.extend_from_slice(&[0; 16]);
        let r = parse_rtcp(&rr);
        assert_eq!(r[0].ssrc, 5);
        assert_eq!(r[0].blocks[0].cumulative_lost, -1);
        // The block count promises more blocks than the packet holds.
        let mut two = rr.clone();
        two[0] = 0x82;
        assert_eq!(parse_rtcp(&two)[0].blocks.len(), 1);
        // Shorter than its length field says: nothing is read.
        assert!(parse_rtcp(&rr[..20]).is_empty());
        for junk in [
            &[][..],
            &[0x80],
            &[0x80, 200, 0xff, 0xff, 1, 2, 3, 4],
            &[0u8; 64],
        ] {
            let _ = parse_rtcp(junk);
        }
    }

    #[test]
    fn round_trip_from_lsr_and_dlsr() {
        let block = ReportBlock {
            ssrc: 1,
            fraction_lost: 0,
            cumulative_lost: 0,
            highest_seq: 0,
            jitter: 0,
            last_sr: 0x0001_0000,             // 1 s
            delay_since_last_sr: 0x0000_8000, // 0.5 s
        };
        // Arrival at 1.75 s (middle 32 bits 0x0001_c000): RTT 250 ms.
        assert_eq!(round_trip_ms(&block, 0x0001_c000u64 << 16), Some(250));
        let none = ReportBlock {
            last_sr: 0,
            ..block
        };
        assert_eq!(round_trip_ms(&none, 0x0001_c000u64 << 16), None);
    }

    proptest::proptest! {
        #[test]
        fn rtcp_parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = parse_rtcp(&bytes);
        }
    }

    #[test]
    fn sender_report_is_well_formed() {
        let stats = RtcpStats {
            packets_received: 10,
            ..Default::default()
        };
        let sr = rtcp_sender_report(1, 2, 3, &stats, "tonghua");
        assert!(is_rtcp(&sr));
        let len = u16::from_be_bytes([sr[2], sr[3]]) as usize;
        assert_eq!((len + 1) * 4, 52);
        assert_eq!(sr.len() % 4, 0);
    }
}
