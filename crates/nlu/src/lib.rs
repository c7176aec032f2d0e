//! Offline understanding of what a customer wrote or said, in Chinese and English.
//!
//! Pure and deterministic: no IO beyond reading model/training files handed in
//! by the caller, no clock (dates are resolved against a reference time the
//! caller passes), no global state.
