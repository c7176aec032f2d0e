//! Tonghua's SIP user agent and the wire formats of a phone call.
//!
//! * [`message`] — SIP message parser (strict: what must be refused is
//!   refused, with the response code to send) and serializer. Sans-IO.
//! * [`sdp`] — offer/answer for PCMU/PCMA/Opus + telephone-event, ptime 20. Sans-IO.
//! * [`rtp`] — RTP packets, RTCP sender reports, RFC 4733 DTMF. Sans-IO.
//! * [`digest`] — MD5 digest authentication (RFC 2617 / 3261 §22). Sans-IO.
//! * [`registrar`] — the registrar's side of REGISTER: digest challenges and
//!   their verification against a stored HA1, self-checking nonces, bindings
//!   with expiry. Sans-IO.
//! * [`tls`] — SIP over TLS: the rustls configurations (ring provider).
//! * [`agent`] — the tokio driver: UDP, TCP and TLS transports, inbound and outbound
//!   INVITE dialogs, CANCEL/BYE both ways, re-INVITE/UPDATE, OPTIONS, INFO,
//!   REFER (blind transfer), REGISTER with digest auth (as a client, and
//!   handed to the application's registrar as a server), session timers.
//!
//! Invariants:
//! * Nothing a peer sends panics or stalls the agent: each datagram or TCP
//!   frame is parsed alone, with bounded sizes; a malformed request that can
//!   be answered gets 400 (or 505), anything else is dropped and counted.
//! * The sans-IO modules read no clock, do no IO and use no randomness; the
//!   agent owns all of that.
//! * Dialog state lives in one task per dialog; shared tables only map
//!   Call-IDs and branches to channels.

pub mod agent;
pub mod digest;
pub mod message;
pub mod registrar;
pub mod rtp;
pub mod sdp;
pub mod tls;

pub use agent::{
    Agent, AgentConfig, CallController, CallEvent, CallFailure, CallLeg, CallOutcome, Credentials,
    HangupCause, IncomingCall, Originate, Peer,
};
pub use tls::TlsConfig;
