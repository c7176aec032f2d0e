//! Determinism, replay from a serialized state, robustness and state size.

mod common;

use std::sync::Arc;

use common::start_event;
use dialog::{Action, Bot, Event, EventKind, State};
use proptest::prelude::*;

fn conversation() -> Vec<Event> {
    let mut evs = vec![start_event(true, true)];
    let script: Vec<EventKind> = vec![
        EventKind::PlaybackFinished,
        EventKind::UserSaid {
            text: "是的".into(),
            confidence: 0.9,
            is_final: true,
        },
        EventKind::UserSaid {
            text: "你是机器人吗".into(),
            confidence: 0.9,
            is_final: true,
        },
        EventKind::PlaybackFinished,
        EventKind::UserSaid {
            text: "下个月就装".into(),
            confidence: 0.9,
            is_final: true,
        },
        EventKind::Silence { ms: 6000 },
        EventKind::UserSaid {
            text: "一百三十平".into(),
            confidence: 0.9,
            is_final: true,
        },
        EventKind::UserStartedSpeaking,
        EventKind::UserSaid {
            text: "你们设计费怎么收".into(),
            confidence: 0.9,
            is_final: true,
        },
        EventKind::UserSaid {
            text: "二十万".into(),
            confidence: 0.9,
            is_final: true,
        },
        EventKind::Dtmf { digit: '1' },
        EventKind::UserSaid {
            text: "明天下午三点".into(),
            confidence: 0.9,
            is_final: true,
        },
    ];
    for (i, k) in script.into_iter().enumerate() {
        evs.push(Event::new(4000 * (i as u64 + 1), k));
    }
    evs
}

fn run(bot: &Bot, state: &mut State, events: &[Event]) -> Vec<Action> {
    events.iter().flat_map(|e| bot.handle(state, e)).collect()
}

#[test]
fn same_events_same_actions() {
    let bot = common::renovation();
    let evs = conversation();
    let a = run(&bot, &mut bot.new_state(), &evs);
    let b = run(&bot, &mut bot.new_state(), &evs);
    assert_eq!(a, b);
    assert!(
        a.iter().any(|x| matches!(x, Action::Grade { .. })),
        "conversation should end: {a:?}"
    );
}

#[test]
fn replay_from_serialized_state_mid_conversation() {
    let bot = common::renovation();
    let evs = conversation();
    for cut in 1..evs.len() {
        let mut straight = bot.new_state();
        let whole = run(&bot, &mut straight, &evs);
        let mut st = bot.new_state();
        let mut first = run(&bot, &mut st, evs.get(..cut).unwrap_or_default());
        let json = serde_json::to_string(&st).expect("state serializes");
        let mut restored: State = serde_json::from_str(&json).expect("state deserializes");
        assert_eq!(restored, st);
        first.extend(run(&bot, &mut restored, evs.get(cut..).unwrap_or_default()));
        assert_eq!(first, whole, "diverged after a restore at event {cut}");
        assert_eq!(restored, straight);
    }
}

#[test]
fn the_pure_step_form_matches_handle() {
    let bot = common::renovation();
    let evs = conversation();
    let mut st = bot.new_state();
    let mut via_step = Vec::new();
    for e in &evs {
        let (next, a) = bot.step(st, e);
        st = next;
        via_step.extend(a);
    }
    assert_eq!(via_step, run(&bot, &mut bot.new_state(), &evs));
}

#[test]
fn bot_is_shared_across_threads() {
    let bot: Arc<Bot> = common::renovation();
    let evs = conversation();
    let expected = run(&bot, &mut bot.new_state(), &evs);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let bot = Arc::clone(&bot);
            let evs = evs.clone();
            std::thread::spawn(move || run(&bot, &mut bot.new_state(), &evs))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), expected);
    }
}

#[test]
fn idle_state_is_small() {
    let bot = common::renovation();
    let mut st = bot.new_state();
    bot.handle(&mut st, &start_event(true, true));
    let json = serde_json::to_vec(&st).expect("ser");
    let bytes = st.approx_bytes();
    assert!(bytes < 16 * 1024, "idle state {bytes} bytes");
    assert!(
        json.len() < 16 * 1024,
        "idle state json {} bytes",
        json.len()
    );
    // Mid-conversation too.
    run(&bot, &mut st, conversation().get(1..8).unwrap_or_default());
    assert!(st.approx_bytes() < 16 * 1024);
}

fn event_strategy() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        ".{0,40}".prop_map(|text| EventKind::UserSaid {
            text,
            confidence: 0.9,
            is_final: true
        }),
        (".{0,20}", 0.0f32..1.0, any::<bool>()).prop_map(|(text, confidence, is_final)| {
            EventKind::UserSaid {
                text,
                confidence,
                is_final,
            }
        }),
        prop::sample::select(vec![
            "是的",
            "不是",
            "你是机器人吗",
            "我在忙明天下午三点打",
            "不需要",
            "别再打了",
            "滚",
            "骗子",
            "转人工",
            "气死我了我要投诉",
            "一百平",
            "二十万",
            "周六上午十点",
            "设计费怎么收",
            "再说一遍",
            "第一个",
        ])
        .prop_map(|t| EventKind::UserSaid {
            text: t.to_string(),
            confidence: 1.0,
            is_final: true
        }),
        Just(EventKind::UserStartedSpeaking),
        Just(EventKind::PlaybackFinished),
        (0u64..20_000).prop_map(|ms| EventKind::Silence { ms }),
        any::<char>().prop_map(|digit| EventKind::Dtmf { digit }),
        Just(EventKind::AgentJoined { agent: None }),
        ".{0,10}".prop_map(|text| EventKind::AgentSaid { text }),
        Just(EventKind::Hangup),
        prop::sample::select(vec!["transfer", "other", ""]).prop_map(|n| EventKind::Timer {
            name: n.to_string()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,80}") {
        for bot in [common::renovation(), common::service()] {
            let (mut st, _) = common::start(&bot);
            let _ = bot.handle(&mut st, &Event::said(1000, &text));
            let _ = bot.handle(&mut st, &Event::said(2000, &text));
        }
    }

    #[test]
    fn never_panics_on_arbitrary_event_sequences(
        voice in any::<bool>(),
        humans in any::<bool>(),
        events in prop::collection::vec((0u64..100_000, event_strategy()), 0..30),
    ) {
        let bot = if voice { common::renovation() } else { common::service() };
        let mut st = bot.new_state();
        let _ = bot.handle(&mut st, &start_event(voice, humans));
        for (at, kind) in events {
            let before = st.clone();
            let a = bot.handle(&mut st, &Event::new(at, kind));
            // After the end nothing more happens.
            if before.is_ended() {
                prop_assert!(a.is_empty());
            }
            prop_assert!(st.approx_bytes() < 16 * 1024);
        }
    }
}

#[test]
fn unused_crm_fields_do_not_bloat_the_state() {
    let bot = common::renovation();
    let mut contact: std::collections::BTreeMap<String, String> = (0..500)
        .map(|i| (format!("field{i}"), "x".repeat(100)))
        .collect();
    contact.insert("name".into(), "王先生".into());
    let start = dialog::Start {
        contact,
        now: common::now(),
        humans_available: true,
        offline_message: None,
    };
    let mut st = bot.new_state();
    bot.handle(&mut st, &Event::new(0, EventKind::CallAnswered(start)));
    assert_eq!(st.contact.len(), 1);
    assert!(st.approx_bytes() < 16 * 1024);
}

#[test]
fn a_rebuilt_bot_gives_the_same_actions() {
    let path = common::root().join("examples/scripts/renovation.yaml");
    let a = Bot::from_file(&path, None).expect("load");
    let b = Bot::from_file(&path, None).expect("load");
    let evs = conversation();
    assert_eq!(
        run(&a, &mut a.new_state(), &evs),
        run(&b, &mut b.new_state(), &evs)
    );
}

#[test]
fn very_long_text_is_handled_quickly() {
    let bot = common::service();
    let (mut st, _) = common::start(&bot);
    let long = "我想问一下退货怎么退".repeat(5000);
    let t0 = std::time::Instant::now();
    let a = bot.handle(&mut st, &Event::said(1000, &long));
    assert!(!a.is_empty());
    // Generous bound for a debug build on a shared machine; the point is "not seconds".
    assert!(
        t0.elapsed() < std::time::Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_script_text_never_panics(src in "\\PC{0,300}") {
        let _ = Bot::from_source(&src, "fuzz.yaml", None);
        let _ = Bot::from_source(&src, "fuzz.json", None);
    }

    #[test]
    fn mutated_example_scripts_never_panic(cut in 0usize..12_000, junk in "\\PC{0,20}") {
        let src = std::fs::read_to_string(common::root().join("examples/scripts/renovation.yaml")).unwrap_or_default();
        let mut chars: Vec<char> = src.chars().collect();
        let at = cut.min(chars.len());
        chars.splice(at..at, junk.chars());
        let mutated: String = chars.into_iter().collect();
        if let Ok(bot) = Bot::from_source(&mutated, "m.yaml", None) {
            let (mut st, _) = common::start(&bot);
            let _ = bot.handle(&mut st, &Event::said(1000, "是的"));
        }
    }
}
