//! Engine behaviour, feature by feature, on small inline scripts and the examples.

mod common;

use common::{has, now, says, start, start_event};
use dialog::{Action, BargeIn, Bot, Event, EventKind, Grade, Phase, Start};

const FEATURES: &str = r#"
name: features
start: hello
variables:
  name: 您
settings:
  max_rounds: 6
  human_queue: 客服
  max_no_match: 1
handlers:
  not_interested:
    max: 2
    say: [挽留一, 挽留二]
    close: 好的再见
nodes:
  - id: hello
    type: say
    say: "{{name}}好"
    next: menu
  - id: menu
    type: ask
    say: [第一种问法, 第二种问法]
    branches:
      - dtmf: "1"
        goto: tagged
      - regex: "^订单[0-9]{4}$"
        goto: order
      - keywords: [价格, 多少钱]
        say: 价格分支
        goto: menu
      - entity: money
        min: 100
        slot: budget
        goto: budget
  - id: order
    type: hangup
    say: 查到订单
  - id: budget
    type: hangup
    say: "预算{{budget}}元"
    reason: budget
  - id: tagged
    type: action
    do:
      - tag: 按了1
      - grade: B
      - set: {slot: source, value: dtmf}
      - webhook: {name: hook, payload: {who: "{{name}}", src: "{{source}}"}}
      - sms: {template: 通知, params: {n: "{{name}}"}}
    next: jumpy
  - id: jumpy
    type: jump
    next: bye
  - id: bye
    type: hangup
    say: 再见
grading:
  default: F
  rules:
    - grade: A
      when: {tags_all: [按了1]}
"#;

fn features() -> Bot {
    Bot::from_source(FEATURES, "features.yaml", None).expect("features script")
}

fn said(bot: &Bot, st: &mut dialog::State, at: u64, text: &str) -> Vec<Action> {
    bot.handle(st, &Event::said(at, text))
}

#[test]
fn start_says_greeting_with_variables_and_waits() {
    let bot = features();
    let (st, a) = start(&bot);
    assert_eq!(
        says(&a),
        vec!["王先生好".to_string(), "第一种问法".to_string()]
    );
    assert!(matches!(
        a.last(),
        Some(Action::WaitForInput { timeout_ms: 6000 })
    ));
    assert_eq!(st.node.as_deref(), Some("menu"));
    assert_eq!(st.phase, Phase::Active);
}

#[test]
fn phrasings_are_picked_in_turn() {
    let bot = features();
    let (mut st, _) = start(&bot);
    let a = said(&bot, &mut st, 1000, "价格怎么样");
    assert_eq!(
        says(&a),
        vec!["价格分支".to_string(), "第二种问法".to_string()]
    );
    let a = said(&bot, &mut st, 2000, "多少钱");
    assert_eq!(says(&a).last().map(String::as_str), Some("第一种问法"));
}

#[test]
fn dtmf_action_node_runs_side_effects_and_grade_set_by_node_wins() {
    let bot = features();
    let (mut st, _) = start(&bot);
    let a = bot.handle(&mut st, &Event::new(1000, EventKind::Dtmf { digit: '1' }));
    assert!(has(
        &a,
        |x| matches!(x, Action::SetTag { tag } if tag == "按了1")
    ));
    assert!(has(
        &a,
        |x| matches!(x, Action::Webhook { name, payload, .. } if name == "hook" && payload.get("who").map(String::as_str) == Some("王先生") && payload.get("src").map(String::as_str) == Some("dtmf"))
    ));
    assert!(has(
        &a,
        |x| matches!(x, Action::SendSms { template, to, .. } if template == "通知" && to == "13800138000")
    ));
    assert!(
        has(&a, |x| matches!(
            x,
            Action::Grade {
                grade: Grade::B,
                ..
            }
        )),
        "{a:?}"
    );
    assert!(has(&a, |x| matches!(x, Action::Hangup { .. })));
    assert!(st.is_ended());
    // Nothing happens after the end.
    assert!(bot.handle(&mut st, &Event::said(2000, "喂")).is_empty());
}

#[test]
fn regex_and_entity_branches() {
    let bot = features();
    let (mut st, _) = start(&bot);
    let a = said(&bot, &mut st, 1000, "订单1234");
    assert_eq!(says(&a), vec!["查到订单".to_string()]);
    let (mut st, _) = start(&bot);
    let a = said(&bot, &mut st, 1000, "大概五百块吧");
    assert_eq!(says(&a), vec!["预算500元".to_string()]);
    assert_eq!(st.slots.get("budget").map(String::as_str), Some("500"));
    assert!(has(&a, |x| matches!(
        x,
        Action::Grade {
            grade: Grade::F,
            ..
        }
    )));
}

#[test]
fn not_interested_retains_up_to_max_then_closes() {
    let bot = features();
    let (mut st, _) = start(&bot);
    assert_eq!(
        says(&said(&bot, &mut st, 1000, "我不需要")),
        vec!["挽留一".to_string()]
    );
    assert_eq!(
        says(&said(&bot, &mut st, 2000, "不感兴趣")),
        vec!["挽留二".to_string()]
    );
    let a = said(&bot, &mut st, 3000, "真的不需要");
    assert_eq!(says(&a), vec!["好的再见".to_string()]);
    assert!(has(
        &a,
        |x| matches!(x, Action::Hangup { reason } if reason == "not_interested")
    ));
    assert_eq!(st.refusals, 3);
}

#[test]
fn round_limit_closes_politely() {
    let bot = features();
    let (mut st, _) = start(&bot);
    for i in 0..6 {
        let a = said(&bot, &mut st, 1000 * (i + 1), "价格");
        assert!(!st.is_ended(), "ended early at round {i}: {a:?}");
    }
    let a = said(&bot, &mut st, 9000, "价格");
    assert!(has(
        &a,
        |x| matches!(x, Action::Hangup { reason } if reason == "round_limit")
    ));
}

#[test]
fn silence_reprompts_then_closes() {
    let bot = features();
    let (mut st, _) = start(&bot);
    let s = |at| Event::new(at, EventKind::Silence { ms: 6000 });
    let a = bot.handle(&mut st, &s(7000));
    assert!(says(&a).iter().any(|t| t.contains("能听到")), "{a:?}");
    assert!(matches!(a.last(), Some(Action::WaitForInput { .. })));
    bot.handle(&mut st, &s(14000));
    let a = bot.handle(&mut st, &s(21000));
    assert!(has(
        &a,
        |x| matches!(x, Action::Hangup { reason } if reason == "silence")
    ));
    assert_eq!(st.silences_total, 3);
}

#[test]
fn no_match_then_fallback_close() {
    let bot = features();
    let (mut st, _) = start(&bot);
    let a = said(&bot, &mut st, 1000, "今天天气不错");
    assert!(says(&a).iter().any(|t| t.contains("没太听明白")), "{a:?}");
    let a = said(&bot, &mut st, 2000, "你猜");
    assert!(
        has(
            &a,
            |x| matches!(x, Action::Hangup { reason } if reason == "no_match")
        ),
        "{a:?}"
    );
}

#[test]
fn low_confidence_counts_as_not_understood() {
    let bot = features();
    let (mut st, _) = start(&bot);
    let ev = Event::new(
        1000,
        EventKind::UserSaid {
            text: "订单1234".into(),
            confidence: 0.1,
            is_final: true,
        },
    );
    let a = bot.handle(&mut st, &ev);
    assert!(says(&a).iter().any(|t| t.contains("没太听明白")), "{a:?}");
    // Partial results are ignored entirely.
    let ev = Event::new(
        2000,
        EventKind::UserSaid {
            text: "订单1234".into(),
            confidence: 1.0,
            is_final: false,
        },
    );
    assert!(bot.handle(&mut st, &ev).is_empty());
}

#[test]
fn transfer_wait_agent_and_timeout() {
    let bot = features();
    let (mut st, _) = start(&bot);
    let a = said(&bot, &mut st, 1000, "转人工");
    assert!(has(
        &a,
        |x| matches!(x, Action::Transfer { queue, reason } if queue == "客服" && reason == "human")
    ));
    assert!(has(
        &a,
        |x| matches!(x, Action::SetTimer { name, .. } if name == "transfer")
    ));
    assert_eq!(st.phase, Phase::Transferring);
    // While waiting for an agent the robot does not answer.
    assert!(said(&bot, &mut st, 2000, "价格").is_empty());
    let mut st2 = st.clone();
    bot.handle(
        &mut st,
        &Event::new(
            3000,
            EventKind::AgentJoined {
                agent: Some("a1".into()),
            },
        ),
    );
    assert_eq!(st.phase, Phase::WithAgent);
    assert!(
        bot.handle(
            &mut st,
            &Event::new(
                31_000,
                EventKind::Timer {
                    name: "transfer".into()
                }
            )
        )
        .is_empty()
    );
    let a = bot.handle(
        &mut st2,
        &Event::new(
            31_000,
            EventKind::Timer {
                name: "transfer".into(),
            },
        ),
    );
    assert!(has(
        &a,
        |x| matches!(x, Action::Hangup { reason } if reason == "transfer_failed")
    ));
}

#[test]
fn caller_hangup_grades_without_hangup_action() {
    let bot = features();
    let (mut st, _) = start(&bot);
    let a = bot.handle(&mut st, &Event::new(5000, EventKind::Hangup));
    assert!(has(&a, |x| matches!(
        x,
        Action::Grade {
            grade: Grade::F,
            ..
        }
    )));
    assert!(!has(&a, |x| matches!(x, Action::Hangup { .. })));
    assert_eq!(st.end_reason.as_deref(), Some("caller_hangup"));
}

#[test]
fn events_before_start_are_ignored_and_start_is_idempotent() {
    let bot = features();
    let mut st = bot.new_state();
    assert!(bot.handle(&mut st, &Event::said(0, "你好")).is_empty());
    bot.handle(&mut st, &start_event(false, true));
    assert!(bot.handle(&mut st, &start_event(false, true)).is_empty());
}

#[test]
fn barge_in_policies_on_voice() {
    let bot = common::renovation();
    let mut st = bot.new_state();
    let a = bot.handle(&mut st, &start_event(true, true));
    let policies: Vec<BargeIn> = a
        .iter()
        .filter_map(|x| match x {
            Action::Say {
                barge_in,
                interruptible,
                ..
            } => {
                assert_eq!(*interruptible, *barge_in != BargeIn::Never);
                Some(*barge_in)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        policies,
        vec![BargeIn::AfterMs(1500), BargeIn::Never, BargeIn::Intent]
    );
    // First 1.5 s of the greeting: no stop.
    assert!(
        bot.handle(&mut st, &Event::new(800, EventKind::UserStartedSpeaking))
            .is_empty()
    );
    // During the legal notice: speech is ignored.
    let a = bot.handle(&mut st, &Event::said(12_000, "喂喂"));
    assert!(
        !has(&a, |x| matches!(
            x,
            Action::StopSpeaking | Action::Say { .. }
        )),
        "{a:?}"
    );
    assert_eq!(st.rounds, 0);
    // After playback, the same words are an answer.
    bot.handle(&mut st, &Event::new(25_000, EventKind::PlaybackFinished));
    let a = bot.handle(&mut st, &Event::said(25_500, "是的"));
    assert_eq!(st.node.as_deref(), Some("ask_timing"), "{a:?}");
    // Any-policy question: voice activity stops playback at once.
    let a = bot.handle(&mut st, &Event::new(26_000, EventKind::UserStartedSpeaking));
    assert_eq!(a, vec![Action::StopSpeaking]);
}

#[test]
fn callback_time_is_parsed_against_the_advanced_reference() {
    let bot = common::renovation();
    let (mut st, _) = start(&bot);
    // 90 minutes into the conversation: "两个小时后" is 13:30.
    let a = bot.handle(
        &mut st,
        &Event::said(90 * 60_000, "我在开会，两个小时后再打"),
    );
    let when = a.iter().find_map(|x| match x {
        Action::ScheduleCallback { when, .. } => *when,
        _ => None,
    });
    let when = when.expect("callback scheduled");
    assert_eq!((when.day, when.hour, when.minute), (24, 13, 30));
}

#[test]
fn understood_trace_records_intent_faq_and_emotion() {
    let bot = common::service();
    let (mut st, _) = start(&bot);
    let a = bot.handle(&mut st, &Event::said(1000, "怎么开发票"));
    let u = a
        .iter()
        .find_map(|x| match x {
            Action::Understood(u) => Some(u.clone()),
            _ => None,
        })
        .expect("trace");
    assert_eq!(u.text, "怎么开发票");
    assert_eq!(u.node.as_deref(), Some("menu"));
    assert_eq!(u.faq.as_ref().map(|f| f.id.as_str()), Some("invoice-how"));
    assert_eq!(u.handled_by, "faq");
    assert!(u.anger < 0.5);
}

#[test]
fn no_human_available_closes_instead_of_transferring() {
    let bot = common::renovation();
    let mut st = bot.new_state();
    bot.handle(&mut st, &start_event(false, false));
    let a = bot.handle(&mut st, &Event::said(1000, "你们是骗子吧"));
    assert!(!has(&a, |x| matches!(x, Action::Transfer { .. })));
    assert!(has(
        &a,
        |x| matches!(x, Action::Hangup { reason } if reason == "fraud_no_human")
    ));
}

#[test]
fn json_round_trip_of_events_and_actions() {
    let ev = Event::new(
        5,
        EventKind::CallAnswered(Start {
            contact: Default::default(),
            now: now(),
            humans_available: true,
            offline_message: None,
        }),
    );
    let j = serde_json::to_string(&ev).expect("ser");
    assert!(j.contains("\"type\":\"call_answered\""), "{j}");
    assert_eq!(serde_json::from_str::<Event>(&j).expect("de"), ev);
    let said: Event =
        serde_json::from_str(r#"{"at_ms":9,"type":"user_said","text":"你好"}"#).expect("defaults");
    assert!(
        matches!(said.kind, EventKind::UserSaid { confidence, is_final: true, .. } if confidence == 1.0)
    );
    let bot = common::renovation();
    let (mut st, mut all) = start(&bot);
    all.extend(bot.handle(&mut st, &Event::said(1000, "是的")));
    for a in &all {
        let j = serde_json::to_string(a).expect("ser");
        assert_eq!(&serde_json::from_str::<Action>(&j).expect("de"), a, "{j}");
    }
}

const CLARIFY: &str = r#"
name: clarify
start: q
settings: {max_no_match: 2}
intents:
  - name: price
    label: 价格
    examples: [苹果香蕉橘子]
  - name: place
    label: 地址
    examples: [苹果香蕉橘子]
handlers:
  busy:
    say: 那我们换个话题
    goto: other
nodes:
  - id: q
    type: ask
    say: 您想了解什么？
    branches:
      - intent: price
        goto: price
      - intent: place
        goto: place
  - id: price
    type: hangup
    say: 价格是一百元
  - id: place
    type: hangup
    say: 地址在市中心
  - id: other
    type: ask
    say: 其他问题
    branches:
      - otherwise: true
        goto: q
"#;

#[test]
fn clarifies_between_two_close_intents_and_takes_the_choice() {
    let bot = Bot::from_source(CLARIFY, "clarify.yaml", None).expect("clarify script");
    let (mut st, _) = start(&bot);
    let a = bot.handle(&mut st, &Event::said(1000, "苹果香蕉橘子"));
    let s = says(&a).join("");
    assert!(
        s.contains("您是想问价格，还是地址呢") || s.contains("您是想问地址，还是价格呢"),
        "{a:?}"
    );
    let second_is_place = s.contains("还是地址");
    let a = bot.handle(&mut st, &Event::said(2000, "第二个"));
    let expected = if second_is_place {
        "地址在市中心"
    } else {
        "价格是一百元"
    };
    assert_eq!(says(&a), vec![expected.to_string()], "{a:?}");
}

#[test]
fn handler_goto_replaces_the_built_in_behaviour() {
    let bot = Bot::from_source(CLARIFY, "clarify.yaml", None).expect("clarify script");
    let (mut st, _) = start(&bot);
    let a = bot.handle(&mut st, &Event::said(1000, "我在开会"));
    assert_eq!(
        says(&a),
        vec!["那我们换个话题".to_string(), "其他问题".to_string()]
    );
    assert_eq!(st.node.as_deref(), Some("other"));
    assert!(!has(&a, |x| matches!(x, Action::ScheduleCallback { .. })));
}

#[test]
fn repeat_handler_says_the_question_again() {
    let bot = common::renovation();
    let (mut st, _) = start(&bot);
    let a = bot.handle(&mut st, &Event::said(1000, "你说什么，我没听清"));
    let s = says(&a);
    assert_eq!(
        s.first().map(String::as_str),
        Some("好的，我再说一遍。"),
        "{a:?}"
    );
    assert!(s.get(1).is_some_and(|t| t.contains("本人")), "{a:?}");
}

#[test]
fn partial_results_stop_intent_playback_only_when_understood() {
    let bot = common::renovation();
    let mut st = bot.new_state();
    bot.handle(&mut st, &start_event(true, true));
    let partial = |t: &str| EventKind::UserSaid {
        text: t.into(),
        confidence: 0.8,
        is_final: false,
    };
    // 17 s in: the identity question (barge_in: intent) is playing.
    assert!(
        bot.handle(&mut st, &Event::new(17_000, partial("嗯")))
            .is_empty()
    );
    let a = bot.handle(&mut st, &Event::new(17_200, partial("转人工")));
    assert_eq!(a, vec![Action::StopSpeaking]);
    // Nothing was answered yet: that waits for the final result.
    assert_eq!(st.rounds, 0);
}

#[test]
fn dtmf_keys_may_be_written_as_numbers() {
    let src = "name: t\nstart: a\nnodes:\n  - id: a\n    type: ask\n    say: 请按键\n    branches:\n      - dtmf: 1\n        goto: b\n  - id: b\n    type: hangup\n    say: 好的\n";
    let bot = Bot::from_source(src, "t.yaml", None).expect("numeric dtmf accepted");
    let (mut st, _) = start(&bot);
    let a = bot.handle(&mut st, &Event::new(1000, EventKind::Dtmf { digit: '1' }));
    assert_eq!(says(&a), vec!["好的".to_string()]);
}

#[test]
fn callbacks_are_never_scheduled_in_the_past() {
    let bot = common::renovation();
    let (mut st, _) = start(&bot);
    let a = bot.handle(&mut st, &Event::said(1000, "我在忙，今天早上八点再打"));
    let when = a.iter().find_map(|x| match x {
        Action::ScheduleCallback { when, .. } => Some(*when),
        _ => None,
    });
    let when = when.expect("a callback is scheduled");
    if let Some(w) = when {
        assert!(
            (w.year, w.month, w.day, w.hour, w.minute) > (2026, 11, 24, 10, 0),
            "{w:?}"
        );
    }
}
