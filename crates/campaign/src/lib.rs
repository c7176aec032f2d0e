//! Outbound campaigns (外呼任务): who to call, when, how often, and what to do
//! with each result.
//!
//! - [`import`]: contacts from CSV/Excel with a column mapping; bad rows are
//!   reported by row number and skipped.
//! - [`settings`] + [`policy`]: the rules, pure and property-tested —
//!   calling windows in the callee's time zone, holidays, the tenant's
//!   frequency cap, do-not-call, retries by outcome, pacing.
//! - [`runner`]: claims due contacts from the store and calls a [`Dialer`].
//! - [`delivery`]: the CRM webhook (HMAC-signed) and SMS outbox.
//!
//! Invariants:
//! - A number on the tenant's or the global do-not-call list is never handed
//!   to the dialer: the check is inside the claim transaction.
//! - An attempt is persisted (with its id) before it is dialled and gets at
//!   most one result; after a crash it is recorded as `unknown`, never
//!   dialled again (a retry is a new attempt).
//! - Every decision takes the time as an argument; nothing here sleeps to
//!   decide, so tests move an injectable clock.

pub mod control;
pub mod delivery;
pub mod dialer;
pub mod import;
mod outcome;
pub mod policy;
pub mod runner;
pub mod settings;

use std::sync::Arc;

pub use dialer::{BoxFuture, DialRequest, DialResult, Dialer, ScriptBinding};
pub use outcome::Outcome;
pub use runner::Runner;
pub use settings::Settings;

/// The clock: milliseconds since the Unix epoch.
pub type Now = Arc<dyn Fn() -> i64 + Send + Sync>;
