//! Bridging a call to a person: the robot keeps the caller's leg, calls the
//! agent's phone (or a configured target) on a second leg, and relays the
//! audio between the two media sessions, each decoding and encoding with
//! its own codec (so a PCMU caller talks to a PCMA phone).
//!
//! * [`pair`] makes the two ends of a bridge: each media session pushes the
//!   frames it decodes from its peer and mixes the frames from the other
//!   session into what it sends (and records: on the caller's session the
//!   agent lands in the recording's right channel).
//! * [`Handoff`] is how the channel (the server) drives a call's wait for a
//!   person: [`HandoffEvent`]s in (connect to this agent leg, give up), one
//!   [`HandoffEnd`] back when the call or the bridge is over.
//!
//! Invariants: a bridge never buffers more than [`MAX_QUEUED_FRAMES`]
//! frames per direction (the oldest are dropped: the two media clocks run
//! independently, and delay must not build up); frames are exactly 20 ms
//! (160 samples at 8 kHz).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip::CallLeg;
use sip::sdp::Codec;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// Samples in a 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
/// At most this many frames (100 ms) wait in either direction.
pub const MAX_QUEUED_FRAMES: usize = 5;

type Queue = Arc<Mutex<VecDeque<[i16; FRAME]>>>;

fn lock(q: &Queue) -> std::sync::MutexGuard<'_, VecDeque<[i16; FRAME]>> {
    q.lock().unwrap_or_else(|p| p.into_inner())
}

/// One media session's end of a bridge.
#[derive(Debug, Clone)]
pub struct BridgePort {
    /// Frames this session heard from its peer, for the other session.
    outbound: Queue,
    /// Frames the other session heard, for this session to send.
    inbound: Queue,
}

/// The two ends of a new bridge.
pub fn pair() -> (BridgePort, BridgePort) {
    let a: Queue = Arc::default();
    let b: Queue = Arc::default();
    (
        BridgePort {
            outbound: a.clone(),
            inbound: b.clone(),
        },
        BridgePort {
            outbound: b,
            inbound: a,
        },
    )
}

impl BridgePort {
    /// Hands one frame heard from this session's peer to the other side.
    pub fn send(&self, frame: &[i16]) {
        let mut f = [0i16; FRAME];
        let n = frame.len().min(FRAME);
        f[..n].copy_from_slice(&frame[..n]);
        let mut q = lock(&self.outbound);
        while q.len() >= MAX_QUEUED_FRAMES {
            q.pop_front();
        }
        q.push_back(f);
    }

    /// The next frame from the other side, if one is waiting.
    pub fn recv(&self) -> Option<[i16; FRAME]> {
        lock(&self.inbound).pop_front()
    }

    /// Adds the next frame from the other side into `frame` (saturating).
    pub fn mix_into(&self, frame: &mut [i16]) {
        if let Some(other) = self.recv() {
            for (s, o) in frame.iter_mut().zip(other.iter()) {
                *s = s.saturating_add(*o);
            }
        }
    }
}

/// An answered leg to a person, ready to be bridged.
#[derive(Debug)]
pub struct AgentLeg {
    pub leg: CallLeg,
    /// The RTP socket offered to the agent's phone.
    pub socket: UdpSocket,
    pub codec: Codec,
    pub remote: SocketAddr,
    pub telephone_event: Option<u8>,
    /// Who answered (for the log): the agent's name or the target URI.
    pub agent: String,
    /// The agent's user id, when it is one of the tenant's agents.
    pub agent_id: Option<String>,
}

/// What the channel tells a call waiting for a person.
#[derive(Debug)]
pub enum HandoffEvent {
    /// A person answered: bridge the caller to this leg.
    Connect(Box<AgentLeg>),
    /// Say this to the caller now (a queue position, for instance).
    Say(String),
    /// Nobody can come (or the handoff was closed): say this (if anything)
    /// and hang up.
    GiveUp { say: Option<String>, reason: String },
    /// End the bridged call (the handoff was closed from the console).
    End { reason: String },
}

/// How the wait (and the bridge, if it came to one) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffEnd {
    /// `caller_hangup`, `agent_hangup`, `gave_up`, `robot_hangup`, ...
    pub cause: String,
    /// Whether the caller was bridged to someone.
    pub bridged: bool,
    pub bridged_ms: u64,
    /// The agent's user id, when bridged to one.
    pub agent_id: Option<String>,
}

/// A call's wait for a person, driven by the channel.
#[derive(Debug)]
pub struct Handoff {
    pub events: mpsc::UnboundedReceiver<HandoffEvent>,
    pub ended: oneshot::Sender<HandoffEnd>,
    /// Said while waiting, every `hold_every`.
    pub hold_prompt: String,
    pub hold_every: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_the_bridge_in_order_and_delay_is_bounded() {
        let (a, b) = pair();
        assert!(b.recv().is_none());
        for i in 0..3i16 {
            a.send(&[i; FRAME]);
        }
        assert_eq!(b.recv().map(|f| f[0]), Some(0));
        assert_eq!(b.recv().map(|f| f[0]), Some(1));
        // Nothing echoes back to the sender.
        assert!(a.recv().is_none());
        for i in 10..30i16 {
            a.send(&[i; FRAME]);
        }
        let mut got = Vec::new();
        while let Some(f) = b.recv() {
            got.push(f[0]);
        }
        assert_eq!(got, vec![25, 26, 27, 28, 29], "only the newest 100 ms");
        // Short frames are padded; mixing saturates.
        b.send(&[i16::MAX; 10]);
        let mut frame = [100i16; FRAME];
        a.mix_into(&mut frame);
        assert_eq!(frame[0], i16::MAX);
        assert_eq!(frame[10], 100);
    }
}
