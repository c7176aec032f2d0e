//! How well the built-in handler intents recognise real callers: runs every
//! utterance of the public intent-sgcc set (noisy ASR transcripts of a utility
//! collection robot, a different domain) through the renovation script at its
//! first open question and counts, per handler, hits on the matching labels and
//! firings on all other utterances.
//!
//! ```text
//! cargo run --release -p dialog --example handler_eval [PATH/TO/train.jsonl]
//! ```
//! Default path: `../shared/eval/intent-sgcc/train.jsonl` from the project root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dialog::{Action, Bot, Event, EventKind, Start, WallTime};

/// Which sgcc labels each handler should catch.
const LABELS: &[(&str, &str)] = &[
    ("机器人", "robot"),
    ("骂人", "abuse"),
    ("客户忙", "busy"),
    ("在开车", "busy"),
    ("换人沟通", "human"),
    ("骗人", "fraud"),
    ("骚扰电话", "do_not_call"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/eval/intent-sgcc/train.jsonl"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "evaluation set not found at {} (pass its path)",
            path.display()
        );
        return Ok(());
    };
    let bot = Bot::from_file(&root.join("examples/scripts/renovation.yaml"), None)?;
    let now = WallTime {
        year: 2026,
        month: 11,
        day: 24,
        hour: 10,
        minute: 0,
        weekday: 2,
    };
    let mut at_question = bot.new_state();
    let start = Start {
        contact: Default::default(),
        now,
        humans_available: true,
        offline_message: None,
    };
    bot.handle(
        &mut at_question,
        &Event::new(0, EventKind::ConversationStarted(start)),
    );
    bot.handle(&mut at_question, &Event::said(1000, "是的"));

    let mut hits: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let mut false_fires: BTreeMap<String, u32> = BTreeMap::new();
    let mut others = 0u32;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let utterance = v.get("text").and_then(|t| t.as_str()).unwrap_or("");
        let gold = v
            .get("intent")
            .and_then(|i| i.as_str())
            .and_then(|i| LABELS.iter().find(|(l, _)| *l == i).map(|(_, h)| *h));
        let mut st = at_question.clone();
        let actions = bot.handle(&mut st, &Event::said(5000, utterance));
        let handled = actions
            .iter()
            .find_map(|a| match a {
                Action::Understood(u) => Some(u.handled_by.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let fired = handled
            .strip_prefix("handler:")
            .filter(|h| !h.starts_with("no_match"));
        match gold {
            Some(g) => {
                let e = hits.entry(g).or_default();
                e.1 += 1;
                if fired == Some(g) {
                    e.0 += 1;
                }
            }
            None => {
                others += 1;
                if let Some(h) = fired {
                    *false_fires.entry(h.to_string()).or_default() += 1;
                }
            }
        }
    }
    println!("handler        recall");
    for (h, (hit, total)) in &hits {
        println!(
            "{h:14} {hit}/{total} = {:.2}",
            *hit as f64 / (*total).max(1) as f64
        );
    }
    println!("fired on the {others} utterances with other labels:");
    for (h, n) in &false_fires {
        println!(
            "{h:14} {n} ({:.1} %)",
            *n as f64 * 100.0 / others.max(1) as f64
        );
    }
    Ok(())
}
