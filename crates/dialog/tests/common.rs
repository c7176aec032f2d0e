//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use dialog::{Action, Bot, Event, EventKind, Start, State, WallTime};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn now() -> WallTime {
    WallTime {
        year: 2026,
        month: 11,
        day: 24,
        hour: 10,
        minute: 0,
        weekday: 2,
    }
}

pub fn renovation() -> Arc<Bot> {
    static BOT: OnceLock<Arc<Bot>> = OnceLock::new();
    BOT.get_or_init(|| {
        let path = root().join("examples/scripts/renovation.yaml");
        Arc::new(Bot::from_file(&path, None).expect("renovation script loads"))
    })
    .clone()
}

pub fn service() -> Arc<Bot> {
    static BOT: OnceLock<Arc<Bot>> = OnceLock::new();
    BOT.get_or_init(|| {
        let path = root().join("examples/scripts/service.yaml");
        Arc::new(Bot::from_file(&path, None).expect("service script loads"))
    })
    .clone()
}

pub fn start_event(voice: bool, humans: bool) -> Event {
    let start = Start {
        contact: [
            ("name".to_string(), "王先生".to_string()),
            ("phone".to_string(), "13800138000".to_string()),
        ]
        .into_iter()
        .collect(),
        now: now(),
        humans_available: humans,
        offline_message: None,
    };
    Event::new(
        0,
        if voice {
            EventKind::CallAnswered(start)
        } else {
            EventKind::ConversationStarted(start)
        },
    )
}

/// Starts a text conversation and returns state and the start actions.
pub fn start(bot: &Bot) -> (State, Vec<Action>) {
    let mut st = bot.new_state();
    let a = bot.handle(&mut st, &start_event(false, true));
    (st, a)
}

pub fn says(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Say { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

pub fn has<F: Fn(&Action) -> bool>(actions: &[Action], f: F) -> bool {
    actions.iter().any(f)
}
