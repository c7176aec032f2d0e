//! Text-channel extras: quick-reply options on questions and rich parts
//! (links, images) of knowledge-base answers.

mod common;

use common::start;
use dialog::{Action, Bot, Event};

const SCRIPT: &str = r#"
name: rich
start: menu
intents:
  - name: order
    examples: [查订单, 帮我查一下订单]
    keywords: [查订单]
nodes:
  - id: menu
    type: ask
    say: 请问有什么可以帮您？
    options: [查订单, 怎么退货？]
    branches:
      - intent: order
        goto: bye
  - id: bye
    type: hangup
    say: 好的再见
"#;

const KB: &str = r#"
entries:
  - id: return
    question: 怎么退货？
    similar: [退货流程, 如何申请退货]
    answer: 在我的订单里申请退货即可。
    links:
      - {title: 退货入口, url: "https://shop.example.com/returns"}
    images: ["https://shop.example.com/returns.png"]
  - id: hours
    question: 几点上班？
    answer: 每天九点到晚上九点。
"#;

fn bot() -> Bot {
    let kb = dialog::kb::parse_kb(KB, "kb.yaml").expect("kb");
    Bot::from_source(SCRIPT, "rich.yaml", Some(kb)).expect("bot")
}

fn offered(actions: &[Action]) -> Option<Vec<String>> {
    actions.iter().find_map(|a| match a {
        Action::Offer { options } => Some(options.clone()),
        _ => None,
    })
}

#[test]
fn questions_offer_their_options_right_before_waiting() {
    let bot = bot();
    let (_, actions) = start(&bot);
    let n = actions.len();
    assert!(n >= 2, "{actions:?}");
    assert_eq!(
        actions[n - 2],
        Action::Offer {
            options: vec!["查订单".into(), "怎么退货？".into()]
        }
    );
    assert!(matches!(actions[n - 1], Action::WaitForInput { .. }));
}

#[test]
fn a_knowledge_answer_shows_its_links_and_images_and_the_options_come_back() {
    let bot = bot();
    let (mut st, _) = start(&bot);
    let actions = bot.handle(&mut st, &Event::said(1000, "怎么退货？"));
    let shown = actions.iter().find_map(|a| match a {
        Action::Show { links, images } => Some((links.clone(), images.clone())),
        _ => None,
    });
    let (links, images) = shown.expect("rich parts");
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].url, "https://shop.example.com/returns");
    assert_eq!(
        images,
        vec!["https://shop.example.com/returns.png".to_string()]
    );
    // The answer is said first, the rich parts follow it.
    let say_at = actions.iter().position(|a| matches!(a, Action::Say { .. }));
    let show_at = actions
        .iter()
        .position(|a| matches!(a, Action::Show { .. }));
    assert!(say_at < show_at, "{actions:?}");
    // Back at the question: its buttons are offered again.
    assert!(offered(&actions).is_some(), "{actions:?}");
    // A plain answer has no rich part.
    let plain = bot.handle(&mut st, &Event::said(2000, "几点上班？"));
    assert!(!plain.iter().any(|a| matches!(a, Action::Show { .. })));
}

#[test]
fn options_that_would_not_be_understood_are_reported() {
    assert!(bot().misrouted_options().is_empty());
    let broken = SCRIPT.replace("[查订单, 怎么退货？]", "[查订单, 紫色的大象]");
    let kb = dialog::kb::parse_kb(KB, "kb.yaml").expect("kb");
    let bot = Bot::from_source(&broken, "rich.yaml", Some(kb)).expect("bot");
    assert_eq!(
        bot.misrouted_options(),
        vec![("menu".to_string(), "紫色的大象".to_string())]
    );
}

#[test]
fn options_are_checked_like_the_rest_of_the_script() {
    let on_hangup = SCRIPT.replace(
        "    type: hangup\n    say: 好的再见",
        "    type: hangup\n    say: 好的再见\n    options: [好]",
    );
    let report = dialog::validate_source(&on_hangup, "x.yaml").expect("parses");
    assert!(
        report.errors.iter().any(|e| e.kind == "options_not_ask"),
        "{report}"
    );
    let long = SCRIPT.replace(
        "[查订单, 怎么退货？]",
        "[查订单, 这是一个远远超过二十个字的按钮文字不应该被接受的吧]",
    );
    let report = dialog::validate_source(&long, "x.yaml").expect("parses");
    assert!(
        report.errors.iter().any(|e| e.kind == "bad_option"),
        "{report}"
    );
}

#[test]
fn knowledge_links_must_be_web_addresses() {
    for bad in ["javascript:alert(1)", "ftp://x/y", "https://a b"] {
        let kb = KB.replace("https://shop.example.com/returns\"", &format!("{bad}\""));
        let err = dialog::kb::parse_kb(&kb, "kb.yaml").expect_err(bad);
        assert!(err.to_string().contains("http(s)"), "{bad}: {err}");
    }
    let untitled = KB.replace("title: 退货入口", "title: \" \"");
    assert!(dialog::kb::parse_kb(&untitled, "kb.yaml").is_err());
}
