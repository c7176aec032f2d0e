//! The pure conversation core of Tonghua: `(state, Event) -> (state, [Action])`.
//!
//! This crate does no IO, reads no clock and spawns nothing: the same event
//! stream always yields the same actions.
