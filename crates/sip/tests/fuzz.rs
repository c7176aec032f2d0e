//! Property tests: nothing a peer sends makes the parsers panic, and what
//! the SIP parser accepts it writes back in a form it accepts again.
//! `PROPTEST_CASES=200000 cargo test -p sip --release --test fuzz` runs the
//! longer fuzzing session reported in docs/benchmarks.md.

mod fixtures;

use proptest::prelude::*;

fn corpus() -> Vec<Vec<u8>> {
    let mut c: Vec<Vec<u8>> = fixtures::messages("wellformed")
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    c.extend(fixtures::messages("malformed").into_iter().map(|(_, b)| b));
    c
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = sip::message::parse(&bytes);
        let _ = sip::message::frame_stream(&bytes);
        let _ = sip::sdp::parse(&bytes);
        let _ = sip::rtp::RtpPacket::parse(&bytes);
        let _ = sip::rtp::TelephoneEvent::parse(&bytes);
    }

    #[test]
    fn mutated_torture_messages_never_panic_and_round_trip(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
    ) {
        let corpus = corpus();
        let mut msg = pick.get(&corpus).clone();
        for (at, byte, op) in edits {
            if msg.is_empty() { break; }
            let i = at.index(msg.len());
            match op {
                0 => msg[i] = byte,
                1 => { msg.insert(i, byte); }
                2 => { msg.remove(i); }
                _ => msg.truncate(i),
            }
        }
        if let Ok(m) = sip::message::parse(&msg) {
            let again = sip::message::parse(&m.to_bytes());
            prop_assert!(again.is_ok(), "accepted once but not after writing: {:?}", again.err());
        }
    }
}
