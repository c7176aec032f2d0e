//! Every line a script can make the robot say, for pre-rendering speech
//! (`tonghua tts warm`): node lines, re-prompts, branch lines, handler lines
//! (the script's, each node's overrides and the built-in defaults in effect)
//! and the knowledge base's answers.
//!
//! A line whose variables all have a value known before any call (the
//! script's non-empty `variables:` defaults) is rendered with those values; a line that
//! needs a value only a call provides (a variable declared empty, a
//! collected slot, `callback_time`, `option_a` …) cannot be rendered ahead and
//! is listed with the names it is missing.

use std::collections::BTreeSet;

use crate::compile::{Bot, Handler, Phrases};
use crate::script::HandlerKind;

/// One line the robot can say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpokenLine {
    /// Where it comes from, e.g. `node welcome`, `node menu reprompt`,
    /// `handler silence close`, `faq refund`.
    pub place: String,
    /// The template as written (`{{name}}` kept).
    pub template: String,
    /// The text as it will be spoken, when every variable is known ahead.
    pub text: Option<String>,
    /// Variables without a value known ahead (empty when `text` is set).
    pub unknown: Vec<String>,
}

impl Bot {
    /// Every distinct line the robot can say, in script order; the same
    /// template at several places is listed once (at its first place).
    pub fn spoken_lines(&self) -> Vec<SpokenLine> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut add = |place: String, phrases: &Phrases| {
            for t in &phrases.items {
                let template = t.source();
                if template.trim().is_empty() || !seen.insert(template.clone()) {
                    continue;
                }
                let unknown: Vec<String> = t
                    .vars()
                    .filter(|v| self.defaults.get(*v).is_none_or(|d| d.trim().is_empty()))
                    .map(str::to_string)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let text = unknown
                    .is_empty()
                    .then(|| t.render(&[&self.defaults]).trim().to_string());
                out.push(SpokenLine {
                    place: place.clone(),
                    template,
                    text,
                    unknown,
                });
            }
        };
        let handlers = |add: &mut dyn FnMut(String, &Phrases), prefix: &str, table: &[Handler]| {
            for kind in HandlerKind::ALL {
                let Some(h) = table.get(kind.index()).filter(|h| h.enabled) else {
                    continue;
                };
                let name = kind.name();
                add(format!("{prefix}handler {name}"), &h.say);
                add(format!("{prefix}handler {name} ask"), &h.ask);
                add(format!("{prefix}handler {name} close"), &h.close);
            }
        };
        for node in &self.nodes {
            add(format!("node {}", node.id), &node.say);
            add(format!("node {} reprompt", node.id), &node.reprompt);
            for (i, b) in node.branches.iter().enumerate() {
                add(format!("node {} branch {}", node.id, i + 1), &b.say);
            }
            if let Some(table) = &node.handlers {
                handlers(&mut add, &format!("node {} ", node.id), table);
            }
        }
        handlers(&mut add, "", &self.handlers);
        if let Some(faq) = &self.faq {
            for id in faq.ids() {
                let Some(entry) = faq.entry(&id) else {
                    continue;
                };
                let answer = entry.answer.trim().to_string();
                if answer.is_empty() || !seen.insert(answer.clone()) {
                    continue;
                }
                out.push(SpokenLine {
                    place: format!("faq {id}"),
                    template: answer.clone(),
                    text: Some(answer),
                    unknown: Vec::new(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"
name: t
start: hello
variables:
  name: 您
  company: ""
handlers:
  busy:
    say: 好的，那我{{callback_time}}再联系您。
    ask: 您看什么时候方便？
nodes:
  - id: hello
    type: ask
    say: "{{name}}好，我是小通。"
    reprompt: 请问您方便吗？
    handlers:
      robot:
        say: 我是{{company}}的机器人。
    branches:
      - answer: yes
        say: 太好了。
        goto: bye
      - answer: no
        say: 好的，请问您的手机号是{{phone}}吗？
        goto: bye
  - id: bye
    type: hangup
    say: [再见。, 请问您方便吗？]
"#;

    #[test]
    fn lines_with_known_variables_are_rendered_and_others_listed() {
        let bot = Bot::from_source(SCRIPT, "t.yaml", None).expect("script compiles");
        let lines = bot.spoken_lines();
        let find = |tpl: &str| {
            lines
                .iter()
                .find(|l| l.template == tpl)
                .unwrap_or_else(|| panic!("{tpl} missing from {lines:#?}"))
        };
        assert_eq!(
            find("{{name}}好，我是小通。").text.as_deref(),
            Some("您好，我是小通。")
        );
        assert_eq!(find("请问您方便吗？").place, "node hello reprompt");
        assert_eq!(find("太好了。").place, "node hello branch 1");
        let order = find("好的，请问您的手机号是{{phone}}吗？");
        assert_eq!(order.text, None);
        assert_eq!(order.unknown, vec!["phone".to_string()]);
        let busy = find("好的，那我{{callback_time}}再联系您。");
        assert_eq!(busy.unknown, vec!["callback_time".to_string()]);
        assert!(find("您看什么时候方便？").text.is_some());
        // A declared variable without a value is filled per call.
        let robot = find("我是{{company}}的机器人。");
        assert_eq!(robot.place, "node hello handler robot");
        assert_eq!(robot.unknown, vec!["company".to_string()]);
        // Built-in handler wording is included; duplicates are listed once.
        assert!(lines.iter().any(|l| l.place.contains("handler silence")));
        let repeated = lines
            .iter()
            .filter(|l| l.template == "请问您方便吗？")
            .count();
        assert_eq!(repeated, 1);
    }
}
