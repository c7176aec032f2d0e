//! The engine's timers for the channels the server runs itself (web chat,
//! WeChat): `Action::SetTimer{name, after_ms}` becomes `Timer{name}` sent
//! back to the conversation when it is due — e.g. "nobody took the transfer
//! within `transfer_timeout_ms`: apologise and close".
//!
//! Phone calls run timers on the call's own clock and API clients send
//! their own `timer` events, so neither is scheduled here. Timers live in
//! memory: a restart forgets pending ones (the conversation then waits for
//! its customer's next message, which the engine handles as usual).

use std::time::Duration;

use dialog::{Action, EventKind};

use crate::state::AppState;

/// Channels whose timers the server fires.
const SERVER_RUN_CHANNELS: [&str; 2] = [
    crate::routes::webchat::CHANNEL,
    crate::routes::wechat::CHANNEL,
];

/// Schedules the timers a turn asked for.
pub fn schedule(state: &AppState, conversation: &store::Conversation, actions: &[Action]) {
    if !SERVER_RUN_CHANNELS.contains(&conversation.channel.as_str()) {
        return;
    }
    for action in actions {
        let Action::SetTimer { name, after_ms } = action else {
            continue;
        };
        let (state, conversation, name) = (state.clone(), conversation.clone(), name.clone());
        let after = Duration::from_millis(*after_ms);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let fired = crate::bots::continue_hosted(
                &state,
                &conversation,
                EventKind::Timer { name: name.clone() },
            )
            .await;
            // An ended conversation refuses it: nothing was pending any more.
            if let Err(e) = fired
                && e.status != axum::http::StatusCode::CONFLICT
            {
                tracing::warn!(code = e.code, timer = %name, conversation = %conversation.id, "timer not delivered");
            }
        });
    }
}
