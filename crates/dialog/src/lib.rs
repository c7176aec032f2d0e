//! The pure conversation core of Tonghua: `(state, Event) -> (state, [Action])`.
//!
//! This crate does no IO, reads no clock and spawns nothing: the same event
//! stream always yields the same actions. (The only IO is in [`cli`] and the
//! file loaders, which read scripts and knowledge bases an operator points at.)
//!
//! * [`script`] — the script file format (话术, YAML or JSON) operators edit.
//! * [`Bot`] — a validated, compiled script plus NLU models; immutable,
//!   `Send + Sync`, built once and shared in an `Arc` by every conversation.
//! * [`State`] / [`Event`] / [`Action`] — one conversation, its inputs and
//!   outputs; all serde-serializable so the server can log and replay them.
//! * [`cli`] — `chat`, `simulate` and `validate` for people writing scripts.
//!
//! Code map (invariants in brackets):
//!
//! * `script` — serde types mirroring the file one to one [unknown keys are errors].
//! * `compile` — validation and compilation into a `Bot` [a `Bot` that exists is valid:
//!   every target resolves, every `{{variable}}` is known, no loop without input].
//! * `builtin` — default Chinese wording and intents of the global handlers.
//! * `engine` — the interpreter [no IO, no clock, no randomness; time only from
//!   `Event::at_ms` and the start `WallTime`; after `Phase::Ended` no event does anything].
//! * `kb` — knowledge-base loading (YAML or JSON Lines).
//! * `time`, `template` — calendar arithmetic and `{{variable}}` templates.
//!
//! Language understanding (segmentation, intents, FAQ retrieval, emotion, entities)
//! comes from the `nlu` crate; `NLU_REQUESTS.md` lists what this crate works around.
//!
//! ```
//! use dialog::{Bot, Event, EventKind, Start, WallTime};
//! let yaml = "name: demo\nstart: hi\nnodes:\n  - id: hi\n    type: hangup\n    say: 您好，再见\n";
//! let bot = Bot::from_source(yaml, "demo.yaml", None).unwrap();
//! let now = WallTime { year: 2026, month: 11, day: 24, hour: 10, minute: 0, weekday: 2 };
//! let start = Start { contact: Default::default(), now, humans_available: true, offline_message: None };
//! let (state, actions) = bot.step(bot.new_state(), &Event::new(0, EventKind::ConversationStarted(start)));
//! assert!(state.is_ended());
//! assert!(actions.iter().any(|a| matches!(a, dialog::Action::Hangup { .. })));
//! ```

mod builtin;
pub mod cli;
mod compile;
mod engine;
pub mod error;
pub mod kb;
pub mod script;
mod template;
mod time;

pub use compile::{BUILTIN_VARS, Bot, validate_file, validate_source};
pub use engine::{
    Action, Choice, Event, EventKind, FaqTrace, Pending, Phase, Speech, Start, State, Understood,
    WallTime, describe_time,
};
pub use error::{DialogError, Issue, ValidationReport};
pub use script::{BargeIn, Grade, HandlerKind};
pub use time::{advance_minutes, squash};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Bot>();
        assert_send_sync::<std::sync::Arc<Bot>>();
    }
}
