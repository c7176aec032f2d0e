//! The script file format (话术): what an operations person writes.
//!
//! These types mirror the YAML/JSON one to one; `deny_unknown_fields` makes a
//! misspelt key an error with a line number instead of a silently ignored line.
//! Semantics (targets, variables, loops) are checked in `compile`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::DialogError;

/// One phrasing or several, said in turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "OneOrMany", into = "Vec<String>")]
pub struct Phrasings(pub Vec<String>);

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl From<OneOrMany> for Phrasings {
    fn from(v: OneOrMany) -> Self {
        match v {
            OneOrMany::One(s) => Phrasings(vec![s]),
            OneOrMany::Many(v) => Phrasings(v),
        }
    }
}

impl From<Phrasings> for Vec<String> {
    fn from(p: Phrasings) -> Self {
        p.0
    }
}

/// When the caller may interrupt what the robot says.
/// In files: `never`, `any`, `intent` or `{after_ms: 1500}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "BargeInRepr")]
pub enum BargeIn {
    /// Never (legal notices, recording consent): speech during it is ignored.
    Never,
    /// Any speech stops the robot.
    #[default]
    Any,
    /// Only speech whose meaning is recognised stops the robot (not coughs or "嗯").
    Intent,
    /// Any speech, but not during the first N ms (the greeting's opening words).
    AfterMs(u64),
}

// YAML libraries want `!after_ms 1500` for enum variants; operators write a map.
#[derive(Deserialize)]
#[serde(untagged)]
enum BargeInRepr {
    Name(String),
    After { after_ms: u64 },
}

impl TryFrom<BargeInRepr> for BargeIn {
    type Error = String;
    fn try_from(r: BargeInRepr) -> Result<Self, String> {
        match r {
            BargeInRepr::After { after_ms } => Ok(BargeIn::AfterMs(after_ms)),
            BargeInRepr::Name(n) => match n.as_str() {
                "never" => Ok(BargeIn::Never),
                "any" => Ok(BargeIn::Any),
                "intent" => Ok(BargeIn::Intent),
                _ => Err(format!(
                    "barge_in 只能是 never、any、intent 或 {{after_ms: 毫秒}}, got `{n}`"
                )),
            },
        }
    }
}

/// Intention grade 意向等级, A (best) … F.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grade {
    A,
    B,
    C,
    D,
    E,
    F,
}

/// Whole script file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptSpec {
    pub name: String,
    #[serde(default)]
    pub version: Option<serde_json::Value>,
    #[serde(default)]
    pub description: Option<String>,
    /// The first node.
    pub start: String,
    /// CRM fields the script may use as `{{name}}`, with the value used when the contact lacks it.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub settings: Settings,
    /// Knowledge base file, relative to the script.
    #[serde(default)]
    pub knowledge: Option<String>,
    /// The business's own words (product names, place names, jargon) that
    /// word segmentation must keep whole, e.g. `[鑫享福宝, 美家装饰]`.
    #[serde(default)]
    pub words: Vec<String>,
    #[serde(default)]
    pub intents: Vec<IntentSpec>,
    /// Global handlers, by kind.
    #[serde(default)]
    pub handlers: BTreeMap<HandlerKind, HandlerSpec>,
    #[serde(default)]
    pub grading: Option<GradingSpec>,
    pub nodes: Vec<NodeSpec>,
}

/// Conversation-wide limits and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Maximum user turns before a polite close.
    pub max_rounds: u32,
    /// How long to wait for the caller after a question.
    pub wait_ms: u64,
    /// Reprompts after silence before closing.
    pub max_silence: u32,
    /// Clarifications / "没听明白" before the fallback.
    pub max_no_match: u32,
    /// Human queue; absent means no human can take calls.
    pub human_queue: Option<String>,
    /// How long to wait for an agent after a transfer.
    pub transfer_timeout_ms: u64,
    /// Anger (0..1) that counts as an angry turn.
    pub anger_threshold: f32,
    /// Consecutive angry turns that trigger the anger handler.
    pub anger_turns: u32,
    /// Default barge-in policy of every node.
    pub barge_in: BargeIn,
    /// Below this ASR confidence an utterance counts as not understood.
    pub min_confidence: f32,
    /// FAQ answers need at least this retrieval confidence (0..1).
    pub faq_threshold: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_rounds: 30,
            wait_ms: 6000,
            max_silence: 2,
            max_no_match: 2,
            human_queue: None,
            transfer_timeout_ms: 30_000,
            anger_threshold: 0.6,
            anger_turns: 2,
            barge_in: BargeIn::Any,
            min_confidence: 0.3,
            faq_threshold: 0.15,
        }
    }
}

/// A script intent: examples for similarity plus optional keyword/regex rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentSpec {
    pub name: String,
    /// Short words used in "您是想问A还是B" (defaults to the name).
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub regex: Vec<String>,
}

/// The global handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandlerKind {
    /// A knowledge-base question mid-flow: answer, then resume.
    Faq,
    /// "你是机器人吗"
    Robot,
    /// "我在忙 / 晚点打": schedule a callback.
    Busy,
    /// "不需要": retention attempts, then a polite close.
    NotInterested,
    /// "别再打了": do-not-call list, close.
    DoNotCall,
    /// Insults → transfer (or close).
    Abuse,
    /// "你们是骗子吧" → transfer (or close).
    Fraud,
    /// "转人工" → transfer (or close).
    Human,
    /// Rising anger → transfer (or close).
    Anger,
    /// "再说一遍"
    Repeat,
    /// Nothing heard: reprompt, then close.
    Silence,
    /// Not understood: clarify, then fallback.
    NoMatch,
    /// Too many rounds.
    RoundLimit,
    /// No agent joined after a transfer.
    TransferFailed,
}

impl HandlerKind {
    pub const ALL: [HandlerKind; 14] = [
        HandlerKind::Faq,
        HandlerKind::Robot,
        HandlerKind::Busy,
        HandlerKind::NotInterested,
        HandlerKind::DoNotCall,
        HandlerKind::Abuse,
        HandlerKind::Fraud,
        HandlerKind::Human,
        HandlerKind::Anger,
        HandlerKind::Repeat,
        HandlerKind::Silence,
        HandlerKind::NoMatch,
        HandlerKind::RoundLimit,
        HandlerKind::TransferFailed,
    ];

    /// The snake_case name used in files and in intent names.
    pub fn name(self) -> &'static str {
        match self {
            HandlerKind::Faq => "faq",
            HandlerKind::Robot => "robot",
            HandlerKind::Busy => "busy",
            HandlerKind::NotInterested => "not_interested",
            HandlerKind::DoNotCall => "do_not_call",
            HandlerKind::Abuse => "abuse",
            HandlerKind::Fraud => "fraud",
            HandlerKind::Human => "human",
            HandlerKind::Anger => "anger",
            HandlerKind::Repeat => "repeat",
            HandlerKind::Silence => "silence",
            HandlerKind::NoMatch => "no_match",
            HandlerKind::RoundLimit => "round_limit",
            HandlerKind::TransferFailed => "transfer_failed",
        }
    }

    pub fn from_name(name: &str) -> Option<HandlerKind> {
        HandlerKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn index(self) -> usize {
        HandlerKind::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or(0)
    }
}

/// Settings of one handler; every field optional so a node can override one thing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerSpec {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The reply (retention lines for not_interested, reprompts for silence).
    #[serde(default)]
    pub say: Option<Phrasings>,
    /// The closing line when the handler ends the call.
    #[serde(default)]
    pub close: Option<Phrasings>,
    /// A follow-up question (busy: asking for a time; no_match: the clarify template).
    #[serde(default)]
    pub ask: Option<Phrasings>,
    /// Go to this node instead of the built-in behaviour.
    #[serde(default)]
    pub goto: Option<String>,
    /// Attempts before the close (retention, reprompts, clarifications).
    #[serde(default)]
    pub max: Option<u32>,
    /// Extra example sentences for the handler's built-in intent.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Extra keywords for the handler's built-in intent.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Profile tag set when the handler fires.
    #[serde(default)]
    pub tag: Option<String>,
}

/// Node types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// Say something, then go to `next` without waiting.
    Say,
    /// Say a question, wait, and branch on the answer.
    Ask,
    /// Go to `next`.
    Jump,
    /// Hand the call to a human queue.
    Transfer,
    /// Say goodbye and hang up.
    Hangup,
    /// Run `do` actions, then go to `next`.
    Action,
}

/// One node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: NodeKind,
    #[serde(default)]
    pub say: Phrasings,
    /// Said on reprompts and when resuming after a side question (defaults to `say`).
    #[serde(default)]
    pub reprompt: Option<Phrasings>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub branches: Vec<BranchSpec>,
    /// Where to go after too many misunderstandings (instead of the no_match handler).
    #[serde(default)]
    pub no_match: Option<String>,
    #[serde(default)]
    pub max_no_match: Option<u32>,
    #[serde(default)]
    pub barge_in: Option<BargeIn>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Transfer nodes: the queue (defaults to settings.human_queue).
    #[serde(default)]
    pub queue: Option<String>,
    /// Transfer/hangup nodes: the reason recorded.
    #[serde(default)]
    pub reason: Option<String>,
    /// Actions run when the node is entered.
    #[serde(default, rename = "do")]
    pub actions: Vec<ActionSpec>,
    /// Handler overrides for this node only.
    #[serde(default)]
    pub handlers: BTreeMap<HandlerKind, HandlerSpec>,
    /// Ask nodes: answers that text channels offer as quick-reply buttons
    /// (a tap sends the text as the customer's message; voice ignores them).
    #[serde(default)]
    pub options: Vec<String>,
}

/// yes / no answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    #[serde(alias = "affirm")]
    Yes,
    #[serde(alias = "deny")]
    No,
}

/// Entity kinds a branch can capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Number,
    Money,
    Datetime,
    Phone,
}

/// One branch of an ask node; it matches when any of its conditions does.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchSpec {
    #[serde(default)]
    pub intent: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub answer: Option<Answer>,
    /// One key; `dtmf: 1` and `dtmf: "1"` both work.
    #[serde(default, deserialize_with = "key_or_number")]
    pub dtmf: Option<String>,
    #[serde(default)]
    pub entity: Option<EntityKind>,
    /// Store the entity's value under this name (usable as `{{slot}}`).
    #[serde(default)]
    pub slot: Option<String>,
    /// Numeric entities: inclusive bounds.
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Matches anything (put it last).
    #[serde(default)]
    pub otherwise: bool,
    #[serde(default)]
    pub say: Phrasings,
    #[serde(default, rename = "do")]
    pub actions: Vec<ActionSpec>,
    pub goto: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeyRepr {
    Text(String),
    Number(u64),
}

// Operators write `dtmf: 1`; YAML reads that as a number.
fn key_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<KeyRepr>::deserialize(d)?.map(|k| match k {
        KeyRepr::Text(t) => t,
        KeyRepr::Number(n) => n.to_string(),
    }))
}

/// Side effects a node or branch can request; in files a one-key map such as `- tag: 已预约`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "ActionRepr")]
pub enum ActionSpec {
    /// Profile tag 标签.
    Tag(String),
    /// Intention grade decided by the script (wins over rules).
    Grade(Grade),
    Webhook(WebhookSpec),
    Sms(SmsSpec),
    /// Set a slot to a fixed value.
    Set {
        slot: String,
        value: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionRepr {
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    grade: Option<Grade>,
    #[serde(default)]
    webhook: Option<WebhookSpec>,
    #[serde(default)]
    sms: Option<SmsSpec>,
    #[serde(default)]
    set: Option<SetSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSpec {
    pub slot: String,
    pub value: String,
}

impl TryFrom<ActionRepr> for ActionSpec {
    type Error = String;
    fn try_from(r: ActionRepr) -> Result<Self, String> {
        let mut found = Vec::new();
        if let Some(t) = r.tag {
            found.push(ActionSpec::Tag(t));
        }
        if let Some(g) = r.grade {
            found.push(ActionSpec::Grade(g));
        }
        if let Some(w) = r.webhook {
            found.push(ActionSpec::Webhook(w));
        }
        if let Some(s) = r.sms {
            found.push(ActionSpec::Sms(s));
        }
        if let Some(s) = r.set {
            found.push(ActionSpec::Set {
                slot: s.slot,
                value: s.value,
            });
        }
        if found.len() != 1 {
            return Err(
                "每个动作只能写一种：tag、grade、webhook、sms 或 set (one action per list item)"
                    .into(),
            );
        }
        found.pop().ok_or_else(|| "empty action".to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    /// String values may use `{{variables}}`.
    #[serde(default)]
    pub payload: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSpec {
    pub template: String,
    /// Defaults to `{{phone}}`.
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// Grading rules, first match wins, evaluated when the conversation ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradingSpec {
    pub default: Grade,
    #[serde(default)]
    pub rules: Vec<GradeRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeRule {
    pub grade: Grade,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub when: GradeWhen,
}

/// All present conditions must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeWhen {
    #[serde(default)]
    pub tags_all: Vec<String>,
    #[serde(default)]
    pub tags_any: Vec<String>,
    #[serde(default)]
    pub tags_none: Vec<String>,
    #[serde(default)]
    pub intents_any: Vec<String>,
    #[serde(default)]
    pub intents_all: Vec<String>,
    #[serde(default)]
    pub min_rounds: Option<u32>,
    #[serde(default)]
    pub max_rounds: Option<u32>,
    #[serde(default)]
    pub min_talk_s: Option<u64>,
    #[serde(default)]
    pub max_talk_s: Option<u64>,
    #[serde(default)]
    pub min_refusals: Option<u32>,
    #[serde(default)]
    pub max_refusals: Option<u32>,
    #[serde(default)]
    pub min_silences: Option<u32>,
    #[serde(default)]
    pub max_silences: Option<u32>,
    #[serde(default)]
    pub do_not_call: Option<bool>,
    #[serde(default)]
    pub transferred: Option<bool>,
    #[serde(default)]
    pub callback: Option<bool>,
    #[serde(default)]
    pub end_reason_any: Vec<String>,
}

/// Parses YAML or JSON (by extension, JSON also when the text starts with `{`).
pub fn parse_script(source: &str, file: &str) -> Result<ScriptSpec, DialogError> {
    let is_json = file.ends_with(".json") || source.trim_start().starts_with('{');
    if is_json {
        serde_json::from_str(source).map_err(|e| DialogError::Parse {
            file: file.to_string(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    } else {
        serde_yaml_ng::from_str(source).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            DialogError::Parse {
                file: file.to_string(),
                line,
                column,
                message: e.to_string(),
            }
        })
    }
}

/// Finds source lines for nodes and references so errors can point at them.
pub(crate) struct LineFinder<'a> {
    lines: Vec<&'a str>,
}

impl<'a> LineFinder<'a> {
    pub fn new(source: &'a str) -> Self {
        LineFinder {
            lines: source.lines().collect(),
        }
    }

    fn value_of(line: &str, key: &str) -> Option<String> {
        let t = line.trim().trim_start_matches("- ").trim();
        let json_key = format!("\"{key}\"");
        let rest = if let Some(r) = t.strip_prefix(&format!("{key}:")) {
            r
        } else if let Some(pos) = t.find(&json_key) {
            t.get(pos + json_key.len()..)?
                .trim_start()
                .strip_prefix(':')?
        } else {
            return None;
        };
        let v = rest.trim().trim_end_matches(',').trim();
        let v = v.split(" #").next().unwrap_or(v).trim();
        Some(v.trim_matches(|c| c == '"' || c == '\'').to_string())
    }

    /// Line (1-based) of `id: <node>`.
    pub fn node(&self, id: &str) -> usize {
        self.lines
            .iter()
            .position(|l| Self::value_of(l, "id").as_deref() == Some(id))
            .map(|i| i + 1)
            .unwrap_or(0)
    }

    /// First line at or after `from` that mentions `needle`.
    pub fn after(&self, from: usize, needle: &str) -> usize {
        let start = from.saturating_sub(1);
        self.lines
            .iter()
            .enumerate()
            .skip(start)
            .find(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .unwrap_or(from)
    }

    /// Line of a top-level key such as `handlers:`.
    pub fn key(&self, key: &str) -> usize {
        let yaml = format!("{key}:");
        let json = format!("\"{key}\"");
        self.lines
            .iter()
            .position(|l| l.trim_start().starts_with(&yaml) || l.trim_start().starts_with(&json))
            .map(|i| i + 1)
            .unwrap_or(0)
    }
}
