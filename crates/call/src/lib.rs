//! One phone call, from RTP packets to conversation turns.
//!
//! * [`codec`] — the call's codec: G.711, or Opus (narrowband) when offered.
//! * [`jitter`] — reorders packets, reports losses (sans-IO).
//! * [`recorder`] — the stereo call recording (caller left, robot right).
//! * [`inband`] — DTMF tones in the audio, for peers without RFC 4733.
//! * [`engines`] — the shared ASR/TTS engines of a process, and stand-ins.
//! * [`media`] — the per-call media task: 20 ms clock, RTP in/out, DTMF,
//!   listener and speaker threads, barge-in flush, RTP time-out.
//! * [`bridge`] — relaying a caller to a person's phone through two media
//!   sessions, and the channel's handle on a call waiting for a person.
//! * [`driver`] — the call loop between the SIP dialog, the media and the
//!   conversation core (reached through the [`driver::Brain`] trait).
//!
//! Independent of the server and of storage: the server adapts a hosted
//! conversation to [`driver::Brain`].
//!
//! Invariants:
//! * The media tick owns timing: one frame in, one packet out per 20 ms;
//!   RTP sequence numbers and timestamps advance by exactly 1 and 160 per
//!   packet (960 for Opus, whose clock is 48 kHz); the marker bit starts
//!   each talkspurt.
//! * Engines run on threads of their own, never on async workers.
//! * A barge-in flushes playout on the tick it is detected, before the core
//!   is told; what was actually played is reported with the cut.

pub mod bridge;
pub mod codec;
pub mod driver;
pub mod engines;
pub mod inband;
pub mod jitter;
pub mod media;
pub mod recorder;

pub use bridge::{AgentLeg, Handoff, HandoffEnd, HandoffEvent};
pub use driver::{Brain, CallSummary, DriverConfig};
pub use engines::Engines;
pub use media::{MediaCommand, MediaEvent, MediaHandle, MediaParams, MediaStats, SayPolicy};
