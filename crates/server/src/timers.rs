//! The engine's timers for the channels the server runs itself (web chat,
//! WeChat): `Action::SetTimer{name, after_ms}` becomes `Timer{name}` sent
//! back to the conversation when it is due — e.g. "nobody took the transfer
//! within `transfer_timeout_ms`: apologise and close".
//!
//! Phone calls run timers on the call's own clock and API clients send
//! their own `timer` events, so neither is scheduled here. Pending timers
//! live in memory and are rebuilt from the log at start ([`resume`]): a
//! conversation whose last turn left it waiting for a person gets its
//! `transfer` timer again, due when it was due (at once if that has passed),
//! so a restart never leaves a customer waiting forever. A timer that fires
//! when nothing waits for it any more is ignored by the engine.

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
        fire_after(
            state.clone(),
            conversation.clone(),
            name.clone(),
            Duration::from_millis(*after_ms),
        );
    }
}

/// How far back [`resume`] looks: a chat quiet for longer than this is over
/// for its customer, whatever its log says.
const RESUME_WINDOW_MS: i64 = 86_400_000;

/// Re-schedules, after a restart, the timers of conversations still waiting
/// for them: each server-run conversation whose last turn left it
/// `transferring` gets its latest `transfer` timer back, with the time left.
pub async fn resume(state: &AppState) -> usize {
    let now = state.now_ms();
    let waiting = match state
        .store()
        .conversations_in_phase("transferring", &SERVER_RUN_CHANNELS, now - RESUME_WINDOW_MS)
        .await
    {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "pending timers not resumed");
            return 0;
        }
    };
    let mut resumed = 0;
    for conversation in waiting {
        let events = match state
            .store()
            .events(&conversation.tenant_id, &conversation.id, 0, i64::MAX)
            .await
        {
            Ok(Some(e)) => e,
            _ => continue,
        };
        let latest = events.iter().rev().find_map(|e| {
            let action: Action = serde_json::from_value(e.payload.clone()).ok()?;
            match action {
                Action::SetTimer { name, after_ms } => Some((e.at, name, after_ms)),
                _ => None,
            }
        });
        let Some((set_at, name, after_ms)) = latest else {
            continue;
        };
        let due = set_at.saturating_add(i64::try_from(after_ms).unwrap_or(i64::MAX));
        let left = u64::try_from(due.saturating_sub(now)).unwrap_or(0);
        fire_after(
            state.clone(),
            conversation,
            name,
            Duration::from_millis(left),
        );
        resumed += 1;
    }
    if resumed > 0 {
        tracing::info!(resumed, "pending timers of waiting conversations resumed");
    }
    resumed
}

/// Sends `Timer{name}` to the conversation after `after`.
fn fire_after(state: AppState, conversation: store::Conversation, name: String, after: Duration) {
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
