//! A script with no intents of its own still tells knowledge-base questions
//! from escalations: the KB's questions teach the intent model what is not a
//! handler, so an ordinary question is not forced into "fraud" or "human".

use dialog::{Action, Bot, Event, EventKind, Start, WallTime};

const SCRIPT: &str = "name: 问答
start: ask
nodes:
  - id: ask
    type: ask
    say: 请问您需要什么帮助？
    branches:
      - otherwise: true
        goto: ask
";

const KB: &str = "entries:
  - id: hours
    question: 你们几点上班？
    similar: [营业时间是几点, 什么时候开门, 几点开门营业]
    answer: 我们每天早上九点到晚上九点营业。
  - id: refund
    question: 怎么申请退款？
    similar: [我要退款, 退款怎么操作]
    answer: 在订单页面点击申请退款。
";

fn turn(bot: &Bot, text: &str) -> Vec<Action> {
    let now = WallTime {
        year: 2026,
        month: 11,
        day: 24,
        hour: 10,
        minute: 0,
        weekday: 2,
    };
    let start = Start {
        contact: Default::default(),
        now,
        humans_available: true,
        offline_message: None,
    };
    let (state, _) = bot.step(
        bot.new_state(),
        &Event::new(0, EventKind::ConversationStarted(start)),
    );
    bot.step(state, &Event::said(3000, text)).1
}

fn handled_by(actions: &[Action]) -> String {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Understood(u) => Some(u.handled_by.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn ordinary_questions_are_answered_and_accusations_still_escalate() {
    let kb = dialog::kb::parse_kb(KB, "kb.yaml").expect("kb");
    let bot = Bot::from_source(SCRIPT, "qa.yaml", Some(kb)).expect("bot");
    for q in ["你们几点开门", "营业时间是几点", "退款怎么弄"] {
        let actions = turn(&bot, q);
        assert_eq!(handled_by(&actions), "faq", "{q}: {actions:?}");
    }
    for (q, handler) in [
        ("你们是骗子吧", "handler:fraud"),
        ("给我转人工", "handler:human"),
    ] {
        assert_eq!(handled_by(&turn(&bot, q)), handler, "{q}");
    }
}

#[test]
fn a_scripts_own_words_are_accepted_and_its_questions_still_answered() {
    let script = SCRIPT.replace("start: ask\n", "start: ask\nwords: [鑫享福宝, 优品商城]\n");
    let kb = "entries:\n  - id: fubao\n    question: 鑫享福宝怎么购买？\n    similar: [在哪里买鑫享福宝, 鑫享福宝怎么办理]\n    answer: 在App首页的理财频道即可购买。\n";
    let entries = dialog::kb::parse_kb(kb, "kb.yaml").expect("kb");
    let bot = Bot::from_source(&script, "qa.yaml", Some(entries)).expect("bot with words");
    let actions = turn(&bot, "鑫享福宝在哪买");
    assert_eq!(handled_by(&actions), "faq", "{actions:?}");
    assert!(
        Bot::from_source(
            &SCRIPT.replace("start: ask\n", "start: ask\nwords: 3\n"),
            "bad.yaml",
            None
        )
        .is_err(),
        "words must be a list"
    );
}
