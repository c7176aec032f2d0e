//! The interpreter: `(State, Event) -> (State, [Action])`.
//!
//! No IO, no clock, no randomness: time comes in on every event (`at_ms`, the
//! conversation clock) and the wall-clock reference comes once at start;
//! phrasings rotate by a counter kept in the state. Replaying the same events
//! against the same `Bot` yields the same actions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compile::{Bot, Branch, CAction, Phrases};
use nlu::entities::{self, YesNo};

use crate::script::{Answer, BargeIn, EntityKind, Grade, GradeWhen, HandlerKind, NodeKind};
use crate::time::{advance_minutes, squash};

/// Wall-clock reference (minute precision, weekday 1 = Monday).
pub type WallTime = nlu::entities::DateTimeRef;

/// What the channel knows when a conversation starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    /// CRM fields of the contact (`name`, `community`, `phone`, ...).
    #[serde(default)]
    pub contact: BTreeMap<String, String>,
    /// Wall time at `at_ms` of the start event; used to resolve "明天下午三点".
    pub now: WallTime,
    /// Whether any human agent can take a transfer now.
    #[serde(default = "yes")]
    pub humans_available: bool,
    /// What the channel says instead of the script's `close:` wording when
    /// a transfer is asked for and no human is available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_message: Option<String>,
}

fn yes() -> bool {
    true
}

fn one() -> f32 {
    1.0
}

/// An input to the engine, stamped with the conversation clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since the conversation began (channel clock).
    pub at_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Event kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A text conversation began (web, WeChat): no playback, no barge-in.
    ConversationStarted(Start),
    /// A phone call was answered: playback and barge-in apply.
    CallAnswered(Start),
    /// Recognised speech or a typed message.
    UserSaid {
        text: String,
        #[serde(default = "one")]
        confidence: f32,
        #[serde(rename = "final", default = "yes")]
        is_final: bool,
    },
    /// Voice activity began while the robot may be speaking (barge-in).
    UserStartedSpeaking,
    /// The channel finished playing everything the robot said.
    PlaybackFinished,
    /// The caller said nothing for `ms` after a `WaitForInput`.
    Silence { ms: u64 },
    /// A key press.
    Dtmf { digit: char },
    /// A human agent took the call after a `Transfer`.
    AgentJoined {
        #[serde(default)]
        agent: Option<String>,
    },
    /// The agent said something (logged; the robot stays quiet).
    AgentSaid { text: String },
    /// The caller (or network) ended the conversation.
    Hangup,
    /// A timer requested with `SetTimer` fired.
    Timer { name: String },
}

impl Event {
    pub fn new(at_ms: u64, kind: EventKind) -> Self {
        Event { at_ms, kind }
    }

    pub fn said(at_ms: u64, text: &str) -> Self {
        Event::new(
            at_ms,
            EventKind::UserSaid {
                text: text.to_string(),
                confidence: 1.0,
                is_final: true,
            },
        )
    }
}

/// What one user turn was understood as (for analytics and the verbose chat).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Understood {
    pub text: String,
    pub node: Option<String>,
    pub intent: Option<String>,
    pub score: f32,
    pub faq: Option<FaqTrace>,
    /// The closest FAQ entry even when it was not good enough to answer (knowledge-gap mining).
    #[serde(default)]
    pub faq_top: Option<FaqTrace>,
    /// The best intents that meant something at this node, with probabilities (at most 3).
    #[serde(default)]
    pub ranked: Vec<(String, f32)>,
    pub negative: bool,
    pub sentiment: f32,
    pub anger: f32,
    /// Which part of the script handled it: `branch:<goto>`, `handler:<kind>`, `faq`, `ignored:<why>`.
    pub handled_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaqTrace {
    pub id: String,
    pub score: f32,
}

/// An output of the engine for the channel (or the event log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    Say {
        text: String,
        barge_in: BargeIn,
        interruptible: bool,
    },
    /// Rich parts of the answer just said (text channels show them; voice
    /// ignores them): links and images by URL.
    Show {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        links: Vec<nlu::FaqLink>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<String>,
    },
    /// Quick-reply buttons for the question just asked (text channels; a tap
    /// sends the option's text as the customer's message).
    Offer {
        options: Vec<String>,
    },
    /// Flush playback now (barge-in).
    StopSpeaking,
    /// Listen; send `Silence` if nothing is heard within `timeout_ms`.
    WaitForInput {
        timeout_ms: u64,
    },
    /// Hand the call to a human queue (after the preceding `Say` has played).
    Transfer {
        queue: String,
        reason: String,
    },
    /// End the call once the preceding `Say` (the closing line) has played.
    Hangup {
        reason: String,
    },
    SetTag {
        tag: String,
    },
    SetSlot {
        name: String,
        value: String,
    },
    /// The final intention grade, once, when the conversation ends.
    Grade {
        grade: Grade,
        rule: Option<String>,
    },
    Webhook {
        name: String,
        url: Option<String>,
        payload: BTreeMap<String, String>,
    },
    SendSms {
        template: String,
        to: String,
        params: BTreeMap<String, String>,
    },
    AddToDoNotCall {
        phone: String,
    },
    /// `when: None` means "no time given; use the dialer's default retry".
    ScheduleCallback {
        when: Option<WallTime>,
        text: String,
    },
    /// Ask the channel to send `Timer{name}` after `after_ms`.
    SetTimer {
        name: String,
        after_ms: u64,
    },
    /// Trace: the flow entered a node.
    EnterNode {
        node: String,
    },
    /// Trace: how a user turn was understood.
    Understood(Understood),
}

/// Where the conversation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    NotStarted,
    Active,
    Transferring,
    WithAgent,
    Ended,
}

/// One option of a clarifying question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Intent(String),
    Faq(String),
}

/// Something the robot asked that the next utterance answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pending {
    Clarify { a: Choice, b: Choice },
    CallbackTime,
}

/// Estimated playback of one `Say` (voice only), for barge-in decisions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Speech {
    pub start_ms: u64,
    pub end_ms: u64,
    pub barge_in: BargeIn,
}

/// Per-conversation state: small, plain data, serializable for replay.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct State {
    pub phase: Phase,
    /// The node waiting for input.
    pub node: Option<String>,
    pub voice: bool,
    pub started_ms: u64,
    pub last_ms: u64,
    pub wall: Option<WallTime>,
    pub humans_available: bool,
    /// The channel's words for "no human can take over now".
    #[serde(default)]
    pub offline_message: Option<String>,
    pub contact: BTreeMap<String, String>,
    pub slots: BTreeMap<String, String>,
    /// (phrasing site, times said) — makes "in turn" deterministic.
    pub rotation: Vec<(u32, u16)>,
    pub rounds: u32,
    /// Consecutive silences / misunderstandings at the current question.
    pub silences: u32,
    pub no_match: u32,
    pub silences_total: u32,
    pub refusals: u32,
    pub retention: u32,
    pub faq_hits: u32,
    pub anger_streak: u32,
    pub intents: Vec<String>,
    pub tags: Vec<String>,
    pub pending: Option<Pending>,
    pub speaking: Vec<Speech>,
    /// Grade decided by a node (wins over rules).
    pub grade_set: Option<Grade>,
    pub transferred: bool,
    pub do_not_call: bool,
    pub callback: bool,
    pub end_reason: Option<String>,
    pub grade: Option<Grade>,
}

impl State {
    /// Bytes held: the struct plus its heap (strings, maps, vectors).
    pub fn approx_bytes(&self) -> usize {
        fn s(x: &str) -> usize {
            x.len() + std::mem::size_of::<String>()
        }
        let map =
            |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| s(k) + s(v) + 16).sum::<usize>();
        std::mem::size_of::<State>()
            + self.node.as_deref().map(s).unwrap_or(0)
            + map(&self.contact)
            + map(&self.slots)
            + self.rotation.capacity() * 8
            + self.intents.iter().map(|x| s(x)).sum::<usize>()
            + self.tags.iter().map(|x| s(x)).sum::<usize>()
            + self.speaking.capacity() * std::mem::size_of::<Speech>()
            + self.end_reason.as_deref().map(s).unwrap_or(0)
    }

    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }
}

/// Longer utterances are understood from their first this-many characters.
const MAX_TEXT_CHARS: usize = 500;

/// Milliseconds of speech per character, to estimate when playback ends.
const MS_PER_CHAR: u64 = 220;

/// A model-only intent (no keyword/regex rule) needs this probability: script
/// intents are trained on a handful of examples, and a wrong jump costs more
/// than a "没听明白".
const INTENT_MIN: f32 = 0.65;

/// Two intents are a tie when the second has at least this share of the first's
/// probability (and at least `CLARIFY_MIN`): 0.40 against 0.56 is a coin toss.
const CLARIFY_RATIO: f32 = 0.7;
const CLARIFY_MIN: f32 = 0.25;

impl Bot {
    /// A fresh conversation state.
    pub fn new_state(&self) -> State {
        State::default()
    }

    /// Applies one event; returns the actions it causes, in order.
    pub fn handle(&self, state: &mut State, event: &Event) -> Vec<Action> {
        let mut t = Turn {
            bot: self,
            st: state,
            out: Vec::new(),
            now: event.at_ms,
        };
        t.event(event);
        t.out
    }

    /// Knowledge-base entries that may answer `text`, best first, with their
    /// confidence: suggestions for a human agent (no threshold applied).
    pub fn suggest(&self, text: &str, k: usize) -> Vec<(nlu::FaqEntry, f32)> {
        let Some(faq) = self.faq.as_ref() else {
            return Vec::new();
        };
        faq.search(text, k)
            .top
            .into_iter()
            .filter_map(|hit| faq.entry(&hit.id).map(|e| (e.clone(), hit.score)))
            .collect()
    }

    /// Quick-reply options that would not be understood at their own node
    /// (they would reach the no-match handler or be ignored): `(node, option)`.
    /// A button the robot then fails to understand is worse than none, so
    /// uploads refuse them.
    pub fn misrouted_options(&self) -> Vec<(String, String)> {
        let mut bad = Vec::new();
        for node in &self.nodes {
            for option in &node.options {
                let mut state = State {
                    phase: Phase::Active,
                    node: Some(node.id.clone()),
                    humans_available: true,
                    ..State::default()
                };
                let mut t = Turn {
                    bot: self,
                    st: &mut state,
                    out: Vec::new(),
                    now: 0,
                };
                t.user_text(option, 1.0);
                let handled = t.out.iter().find_map(|a| match a {
                    Action::Understood(u) => Some(u.handled_by.clone()),
                    _ => None,
                });
                let understood = handled.is_some_and(|h| {
                    !h.starts_with("handler:no_match") && !h.starts_with("ignored")
                });
                if !understood {
                    bad.push((node.id.clone(), option.clone()));
                }
            }
        }
        bad
    }

    /// The pure form: consumes a state, returns the next one and the actions.
    pub fn step(&self, mut state: State, event: &Event) -> (State, Vec<Action>) {
        let actions = self.handle(&mut state, event);
        (state, actions)
    }
}

/// Everything learned from one utterance.
struct Nlu {
    intent: Option<String>,
    /// The intent came from a keyword/regex rule (an operator's explicit choice).
    by_rule: bool,
    score: f32,
    ranked: Vec<(String, f32)>,
    faq: Option<nlu::FaqResult>,
    emotion: nlu::Emotion,
}

struct Turn<'a> {
    bot: &'a Bot,
    st: &'a mut State,
    out: Vec<Action>,
    now: u64,
}

impl Turn<'_> {
    fn node_idx(&self) -> Option<usize> {
        self.st
            .node
            .as_deref()
            .and_then(|id| self.bot.node_index(id))
    }

    fn wall_now(&self) -> Option<WallTime> {
        self.st
            .wall
            .map(|w| advance_minutes(&w, self.now.saturating_sub(self.st.started_ms) / 60_000))
    }

    fn event(&mut self, ev: &Event) {
        if self.st.phase == Phase::Ended {
            return;
        }
        // The channel clock never runs backwards for us, whatever arrives.
        self.now = ev.at_ms.max(self.st.last_ms);
        self.st.last_ms = self.now;
        self.st.speaking.retain(|s| s.end_ms > ev.at_ms);
        match &ev.kind {
            EventKind::ConversationStarted(s) | EventKind::CallAnswered(s) => {
                if self.st.phase != Phase::NotStarted {
                    return;
                }
                self.st.voice = matches!(ev.kind, EventKind::CallAnswered(_));
                // Keep only the fields the script can use: the state stays small
                // whatever the CRM sends along.
                self.st.contact = s
                    .contact
                    .iter()
                    .filter(|(k, _)| {
                        self.bot.defaults.contains_key(*k)
                            || crate::compile::BUILTIN_VARS.contains(&k.as_str())
                    })
                    .map(|(k, v)| (k.clone(), v.chars().take(200).collect()))
                    .collect();
                self.st.wall = Some(s.now);
                self.st.humans_available = s.humans_available;
                self.st.offline_message = s.offline_message.clone();
                self.st.started_ms = self.now;
                self.st.phase = Phase::Active;
                self.enter(self.bot.start);
            }
            _ if self.st.phase == Phase::NotStarted => {}
            EventKind::UserSaid {
                text,
                confidence,
                is_final,
            } => {
                if self.st.phase == Phase::Active {
                    if *is_final {
                        self.user_text(text, *confidence);
                    } else {
                        self.partial(text);
                    }
                }
            }
            EventKind::UserStartedSpeaking => {
                if let Some(sp) = self.current_speech() {
                    let allowed = match sp.barge_in {
                        BargeIn::Any => true,
                        BargeIn::AfterMs(n) => self.now.saturating_sub(sp.start_ms) >= n,
                        BargeIn::Never | BargeIn::Intent => false,
                    };
                    if allowed {
                        self.stop_speaking();
                    }
                }
            }
            EventKind::PlaybackFinished => self.st.speaking.clear(),
            EventKind::Silence { .. } => {
                if self.st.phase == Phase::Active && self.st.node.is_some() {
                    self.silence();
                }
            }
            EventKind::Dtmf { digit } => {
                if self.st.phase == Phase::Active {
                    self.dtmf(*digit);
                }
            }
            EventKind::AgentJoined { .. } => {
                if matches!(self.st.phase, Phase::Transferring | Phase::Active) {
                    self.st.phase = Phase::WithAgent;
                    self.st.speaking.clear();
                }
            }
            EventKind::AgentSaid { .. } => {}
            EventKind::Hangup => {
                let reason = match self.st.phase {
                    Phase::WithAgent => "agent_call_ended",
                    Phase::Transferring => "caller_hangup_during_transfer",
                    _ => "caller_hangup",
                };
                self.finish(reason, false);
            }
            EventKind::Timer { name } => {
                if name == "transfer" && self.st.phase == Phase::Transferring {
                    let node = self.node_idx();
                    if let Some(h) = self.bot.handler(node, HandlerKind::TransferFailed) {
                        let close = h.close.clone();
                        self.say(&close, BargeIn::Any, &BTreeMap::new());
                    }
                    self.finish("transfer_failed", true);
                }
            }
        }
    }

    /// A partial ASR result is never answered, but it can stop playback early:
    /// at once for `any`, and for `intent` as soon as the words are understood.
    fn partial(&mut self, text: &str) {
        let Some(sp) = self.current_speech() else {
            return;
        };
        let stop = match sp.barge_in {
            BargeIn::Any => true,
            BargeIn::AfterMs(n) => self.now.saturating_sub(sp.start_ms) >= n,
            BargeIn::Never => false,
            BargeIn::Intent => {
                let u = self.understand(text, self.node_idx());
                u.intent.is_some() || u.faq.as_ref().is_some_and(|f| f.best.is_some())
            }
        };
        if stop {
            self.stop_speaking();
        }
    }

    fn current_speech(&self) -> Option<Speech> {
        if !self.st.voice {
            return None;
        }
        self.st
            .speaking
            .iter()
            .find(|s| s.start_ms <= self.now && self.now < s.end_ms)
            .copied()
    }

    fn stop_speaking(&mut self) {
        self.st.speaking.clear();
        self.out.push(Action::StopSpeaking);
    }

    // ---------- saying ----------

    fn vars(&self) -> BTreeMap<String, String> {
        let mut m = self.bot.defaults.clone();
        for (k, v) in &self.st.contact {
            m.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.st.slots {
            m.insert(k.clone(), v.clone());
        }
        m
    }

    /// Picks the next phrasing in turn.
    fn pick(&mut self, p: &Phrases) -> Option<usize> {
        if p.is_empty() {
            return None;
        }
        let count = match self.st.rotation.iter_mut().find(|(s, _)| *s == p.site) {
            Some((_, c)) => {
                let v = *c;
                *c = c.wrapping_add(1);
                v
            }
            None => {
                self.st.rotation.push((p.site, 1));
                0
            }
        };
        Some(count as usize % p.items.len())
    }

    fn say(&mut self, p: &Phrases, barge_in: BargeIn, extra: &BTreeMap<String, String>) {
        let Some(i) = self.pick(p) else { return };
        let Some(t) = p.items.get(i) else { return };
        let vars = self.vars();
        let text = t.render(&[extra, &vars]);
        self.say_text(text, barge_in);
    }

    fn say_text(&mut self, text: String, barge_in: BargeIn) {
        if text.trim().is_empty() {
            return;
        }
        if self.st.voice {
            let start = self
                .st
                .speaking
                .last()
                .map(|s| s.end_ms.max(self.now))
                .unwrap_or(self.now);
            let end = start + 300 + MS_PER_CHAR * text.chars().count() as u64;
            // Bounded: a long monologue keeps only its most recent pieces.
            if self.st.speaking.len() >= 8 {
                self.st.speaking.remove(0);
            }
            self.st.speaking.push(Speech {
                start_ms: start,
                end_ms: end,
                barge_in,
            });
        }
        self.out.push(Action::Say {
            text,
            interruptible: barge_in != BargeIn::Never,
            barge_in,
        });
    }

    fn wait(&mut self) {
        let timeout = self
            .node_idx()
            .and_then(|n| self.bot.nodes.get(n))
            .and_then(|n| n.timeout_ms)
            .unwrap_or(self.bot.settings.wait_ms);
        let options = self
            .node_idx()
            .and_then(|n| self.bot.nodes.get(n))
            .map(|n| n.options.clone())
            .unwrap_or_default();
        if !options.is_empty() {
            self.out.push(Action::Offer { options });
        }
        self.out.push(Action::WaitForInput {
            timeout_ms: timeout,
        });
    }

    /// Repeats the current question and waits again.
    fn reprompt(&mut self) {
        let Some(n) = self.node_idx() else { return };
        let Some(node) = self.bot.nodes.get(n) else {
            return;
        };
        if node.kind == NodeKind::Ask {
            let (p, b) = (node.reprompt.clone(), node.barge_in);
            self.say(&p, b, &BTreeMap::new());
        }
        self.wait();
    }

    // ---------- flow ----------

    fn run_actions(&mut self, actions: &[CAction]) {
        let mut vars = self.vars();
        for a in actions {
            match a {
                CAction::Tag(t) => self.tag(t),
                CAction::Grade(g) => self.st.grade_set = Some(*g),
                CAction::Webhook { name, url, payload } => self.out.push(Action::Webhook {
                    name: name.clone(),
                    url: url.clone(),
                    payload: payload
                        .iter()
                        .map(|(k, v)| (k.clone(), v.render(&[&vars])))
                        .collect(),
                }),
                CAction::Sms {
                    template,
                    to,
                    params,
                } => self.out.push(Action::SendSms {
                    template: template.clone(),
                    to: to.render(&[&vars]),
                    params: params
                        .iter()
                        .map(|(k, v)| (k.clone(), v.render(&[&vars])))
                        .collect(),
                }),
                CAction::Set { slot, value } => {
                    let v = value.render(&[&vars]);
                    // Later actions of the same list see the new value.
                    vars.insert(slot.clone(), v.clone());
                    self.set_slot(slot, v);
                }
            }
        }
    }

    fn tag(&mut self, t: &str) {
        if !self.st.tags.iter().any(|x| x == t) {
            self.st.tags.push(t.to_string());
            self.out.push(Action::SetTag { tag: t.to_string() });
        }
    }

    fn set_slot(&mut self, name: &str, value: String) {
        self.st.slots.insert(name.to_string(), value.clone());
        self.out.push(Action::SetSlot {
            name: name.to_string(),
            value,
        });
    }

    /// Enters a node and runs through non-waiting nodes until one waits or ends.
    fn enter(&mut self, start: usize) {
        let mut idx = start;
        // Validation rejects loops without input; the bound guards hand-built bots.
        for _ in 0..64 {
            let Some(node) = self.bot.nodes.get(idx) else {
                return;
            };
            self.st.node = Some(node.id.clone());
            self.st.no_match = 0;
            self.st.silences = 0;
            self.out.push(Action::EnterNode {
                node: node.id.clone(),
            });
            self.run_actions(&node.actions);
            let (say, barge) = (node.say.clone(), node.barge_in);
            match node.kind {
                NodeKind::Say | NodeKind::Jump | NodeKind::Action => {
                    self.say(&say, barge, &BTreeMap::new());
                    match node.next {
                        Some(n) => idx = n,
                        None => {
                            self.wait();
                            return;
                        }
                    }
                }
                NodeKind::Ask => {
                    self.say(&say, barge, &BTreeMap::new());
                    self.wait();
                    return;
                }
                NodeKind::Transfer => {
                    let queue = node
                        .queue
                        .clone()
                        .or_else(|| self.bot.settings.human_queue.clone());
                    let reason = node.reason.clone().unwrap_or_else(|| node.id.clone());
                    if self.can_transfer(queue.as_deref()) {
                        self.say(&say, barge, &BTreeMap::new());
                        self.transfer(queue.unwrap_or_default(), reason);
                    } else if let Some(h) = self.bot.handler(Some(idx), HandlerKind::Human) {
                        let close = h.close.clone();
                        self.say_no_human(&close);
                        self.finish("no_human", true);
                    }
                    return;
                }
                NodeKind::Hangup => {
                    self.say(&say, barge, &BTreeMap::new());
                    let reason = node
                        .reason
                        .clone()
                        .unwrap_or_else(|| "completed".to_string());
                    self.finish(&reason, true);
                    return;
                }
            }
        }
        self.finish("script_loop", true);
    }

    /// The closing words when no human can take over: the channel's own
    /// message when it set one, else the script's.
    fn say_no_human(&mut self, script_close: &Phrases) {
        match self.st.offline_message.clone() {
            Some(text) => self.say_text(text, BargeIn::Any),
            None => self.say(script_close, BargeIn::Any, &BTreeMap::new()),
        }
    }

    fn can_transfer(&self, queue: Option<&str>) -> bool {
        self.st.humans_available && queue.is_some_and(|q| !q.is_empty())
    }

    fn transfer(&mut self, queue: String, reason: String) {
        self.out.push(Action::Transfer { queue, reason });
        self.out.push(Action::SetTimer {
            name: "transfer".into(),
            after_ms: self.bot.settings.transfer_timeout_ms,
        });
        self.st.phase = Phase::Transferring;
        self.st.transferred = true;
        self.st.pending = None;
    }

    /// Ends the conversation: final grade, then hang up (unless the caller did).
    fn finish(&mut self, reason: &str, hang_up: bool) {
        self.st.end_reason = Some(reason.to_string());
        if let Some((grade, rule)) = self.grade() {
            self.st.grade = Some(grade);
            self.out.push(Action::Grade { grade, rule });
        }
        if hang_up {
            self.out.push(Action::Hangup {
                reason: reason.to_string(),
            });
        }
        self.st.phase = Phase::Ended;
        self.st.pending = None;
    }

    fn grade(&self) -> Option<(Grade, Option<String>)> {
        if let Some(g) = self.st.grade_set {
            return Some((g, Some("script".into())));
        }
        let spec = self.bot.grading.as_ref()?;
        for (i, r) in spec.rules.iter().enumerate() {
            if self.grade_when(&r.when) {
                return Some((
                    r.grade,
                    Some(r.name.clone().unwrap_or_else(|| format!("rule {}", i + 1))),
                ));
            }
        }
        Some((spec.default, Some("default".into())))
    }

    fn grade_when(&self, w: &GradeWhen) -> bool {
        let st = &*self.st;
        let has_tag = |t: &String| st.tags.contains(t);
        let has_intent = |t: &String| st.intents.contains(t);
        let talk_s = self.now.saturating_sub(st.started_ms) / 1000;
        let within = |v: u64, min: Option<u64>, max: Option<u64>| {
            min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m)
        };
        w.tags_all.iter().all(has_tag)
            && (w.tags_any.is_empty() || w.tags_any.iter().any(has_tag))
            && !w.tags_none.iter().any(has_tag)
            && (w.intents_any.is_empty() || w.intents_any.iter().any(has_intent))
            && w.intents_all.iter().all(has_intent)
            && within(
                st.rounds as u64,
                w.min_rounds.map(u64::from),
                w.max_rounds.map(u64::from),
            )
            && within(talk_s, w.min_talk_s, w.max_talk_s)
            && within(
                st.refusals as u64,
                w.min_refusals.map(u64::from),
                w.max_refusals.map(u64::from),
            )
            && within(
                st.silences_total as u64,
                w.min_silences.map(u64::from),
                w.max_silences.map(u64::from),
            )
            && w.do_not_call.is_none_or(|v| v == st.do_not_call)
            && w.transferred.is_none_or(|v| v == st.transferred)
            && w.callback.is_none_or(|v| v == st.callback)
            && (w.end_reason_any.is_empty()
                || st
                    .end_reason
                    .as_ref()
                    .is_some_and(|r| w.end_reason_any.contains(r)))
    }

    // ---------- understanding ----------

    fn understand(&self, text: &str, node: Option<usize>) -> Nlu {
        let result = self.bot.intents.classify(text);
        let n = node.and_then(|i| self.bot.nodes.get(i));
        // Only intents that mean something here compete: this node's branches and active handlers.
        let relevant = |name: &str| {
            n.is_some_and(|n| n.branches.iter().any(|b| b.intent.as_deref() == Some(name)))
                || HandlerKind::from_name(name)
                    .is_some_and(|k| self.bot.handler(node, k).is_some_and(|h| h.enabled))
        };
        let ranked: Vec<(String, f32)> = result
            .ranked
            .iter()
            .filter(|(name, _)| relevant(name))
            .cloned()
            .collect();
        let decided = result.intent.as_deref().filter(|i| relevant(i));
        let (intent, score) = match (decided, ranked.first()) {
            // A rule, or the model's own confident decision.
            (Some(i), _) if result.rule.is_some() || result.score >= INTENT_MIN => {
                (Some(i.to_string()), result.score)
            }
            // Otherwise the best intent that is relevant here, if clearly ahead.
            (None, Some((name, s))) if result.rule.is_none() && *s >= INTENT_MIN => {
                (Some(name.clone()), *s)
            }
            (_, Some((_, s))) => (None, *s),
            (_, None) => (None, 0.0),
        };
        let faq_enabled = self
            .bot
            .handler(node, HandlerKind::Faq)
            .is_some_and(|h| h.enabled);
        let faq = match (&self.bot.faq, faq_enabled) {
            (Some(idx), true) => Some(idx.search(text, 3)),
            _ => None,
        };
        let faq = faq.map(|mut f| {
            // A "best" the retriever itself is unsure of is no answer at all.
            if f.best
                .as_ref()
                .is_some_and(|b| b.score < self.bot.settings.faq_threshold)
            {
                f.best = None;
            }
            f
        });
        Nlu {
            by_rule: result.rule.is_some() && intent.as_deref() == result.intent.as_deref(),
            intent,
            score,
            ranked,
            faq,
            emotion: self.bot.emotion.score(&mask_digit_runs(text)),
        }
    }

    fn user_text(&mut self, text: &str, confidence: f32) {
        // A pasted essay in a chat window must not cost a phone turn's latency budget.
        let capped: String;
        let text = if text.chars().count() > MAX_TEXT_CHARS {
            capped = text.chars().take(MAX_TEXT_CHARS).collect();
            capped.as_str()
        } else {
            text
        };
        let node = self.node_idx();
        let u = self.understand(text, node);
        let trace_at = self.out.len();
        self.out.push(Action::Understood(Understood {
            text: text.to_string(),
            node: self.st.node.clone(),
            intent: u.intent.clone(),
            score: u.score,
            faq: u
                .faq
                .as_ref()
                .and_then(|f| f.best.as_ref())
                .map(|h| FaqTrace {
                    id: h.id.clone(),
                    score: h.score,
                }),
            faq_top: u
                .faq
                .as_ref()
                .and_then(|f| f.top.first())
                .map(|h| FaqTrace {
                    id: h.id.clone(),
                    score: h.score,
                }),
            ranked: u.ranked.iter().take(3).cloned().collect(),
            negative: u.emotion.negative,
            sentiment: u.emotion.score,
            anger: u.emotion.anger,
            handled_by: String::new(),
        }));
        let handled = self.dispatch(text, confidence, node, &u);
        // Only consecutive misunderstandings count towards the fallback.
        if !handled.starts_with("handler:no_match") && !handled.starts_with("ignored") {
            self.st.no_match = 0;
        }
        if let Some(Action::Understood(tr)) = self.out.get_mut(trace_at) {
            tr.handled_by = handled;
        }
    }

    /// Decides who answers an utterance; returns a short label for the trace.
    fn dispatch(&mut self, text: &str, confidence: f32, node: Option<usize>, u: &Nlu) -> String {
        // Barge-in policy of what is playing right now.
        if let Some(sp) = self.current_speech() {
            let recognised = u.intent.is_some() || u.faq.as_ref().is_some_and(|f| f.best.is_some());
            let allowed = match sp.barge_in {
                BargeIn::Any => true,
                BargeIn::Never => false,
                BargeIn::Intent => recognised,
                BargeIn::AfterMs(n) => self.now.saturating_sub(sp.start_ms) >= n,
            };
            if !allowed {
                return format!("ignored:barge_in_{}", barge_name(sp.barge_in));
            }
            self.stop_speaking();
        }
        self.st.rounds += 1;
        self.st.silences = 0;
        if let Some(i) = &u.intent
            && !self.st.intents.contains(i)
        {
            self.st.intents.push(i.clone());
        }
        if self.st.rounds > self.bot.settings.max_rounds {
            self.close_with(HandlerKind::RoundLimit, "round_limit");
            return "handler:round_limit".into();
        }
        if u.emotion.anger >= self.bot.settings.anger_threshold {
            self.st.anger_streak += 1;
        } else {
            self.st.anger_streak = 0;
        }
        let mut intent = u.intent.clone();
        let mut resolved = false;
        match self.st.pending.take() {
            Some(Pending::CallbackTime) => {
                let strong = intent.as_deref().is_some_and(|i| {
                    matches!(
                        i,
                        "do_not_call" | "abuse" | "fraud" | "human" | "not_interested"
                    )
                });
                if !strong {
                    let when = self.wall_now().and_then(|w| entities::datetime(text, &w));
                    self.schedule_and_close(when);
                    return "handler:busy".into();
                }
            }
            Some(Pending::Clarify { a, b }) => {
                if let Some(choice) = resolve_choice(text, &a, &b, self.bot) {
                    match choice {
                        Choice::Intent(i) => {
                            if !self.st.intents.contains(&i) {
                                self.st.intents.push(i.clone());
                            }
                            intent = Some(i);
                            resolved = true;
                        }
                        Choice::Faq(id) => {
                            self.answer_faq(&id);
                            return "faq".into();
                        }
                    }
                }
            }
            None => {}
        }
        if confidence < self.bot.settings.min_confidence {
            self.no_match(node, u);
            return "handler:no_match".into();
        }
        let node_has_intent = |i: &str| {
            node.and_then(|n| self.bot.nodes.get(n))
                .is_some_and(|n| n.branches.iter().any(|b| b.intent.as_deref() == Some(i)))
        };
        // 1. Requests that override the flow everywhere: explicit ones (rules)
        // first, then rising anger, then the same requests guessed by the model.
        let strong = [
            HandlerKind::DoNotCall,
            HandlerKind::Abuse,
            HandlerKind::Fraud,
            HandlerKind::Human,
        ];
        for pass in [true, false] {
            if !pass
                && self.enabled(node, HandlerKind::Anger)
                && (self.st.anger_streak >= self.bot.settings.anger_turns.max(1)
                    || u.emotion.anger >= 0.95)
            {
                self.fire(HandlerKind::Anger, text, node);
                return "handler:anger".into();
            }
            if pass != u.by_rule {
                continue;
            }
            for kind in strong {
                if intent.as_deref() == Some(kind.name())
                    && !node_has_intent(kind.name())
                    && self.enabled(node, kind)
                {
                    self.fire(kind, text, node);
                    return format!("handler:{}", kind.name());
                }
            }
        }
        // 2. The node's own strong branches; first, if the model could not tell two of
        // this node's intents apart, ask instead of guessing.
        let branches: Vec<Branch> = node
            .and_then(|n| self.bot.nodes.get(n))
            .map(|n| n.branches.clone())
            .unwrap_or_default();
        if !u.by_rule
            && !resolved
            && let Some((a, b)) = close_pair(&u.ranked, &branches)
            && self.clarify(node, Choice::Intent(a), Choice::Intent(b))
        {
            return "handler:no_match:clarify".into();
        }
        let wall = self.wall_now();
        for b in branches
            .iter()
            .filter(|b| b.answer.is_none() && !b.otherwise)
        {
            if let Some(capture) = match_text(b, text, intent.as_deref(), wall.as_ref()) {
                self.take_branch(b, capture);
                return format!(
                    "branch:{}",
                    self.bot
                        .nodes
                        .get(b.goto)
                        .map(|n| n.id.as_str())
                        .unwrap_or("")
                );
            }
        }
        // 3. Side requests that keep or end the flow.
        for kind in [
            HandlerKind::Robot,
            HandlerKind::Busy,
            HandlerKind::NotInterested,
            HandlerKind::Repeat,
        ] {
            if intent.as_deref() == Some(kind.name()) && self.enabled(node, kind) {
                self.fire(kind, text, node);
                return format!("handler:{}", kind.name());
            }
        }
        // 4. A knowledge-base question: answer and resume. A plain "可以的" that
        // answers this node's yes/no question is not a question, whatever it retrieves.
        let yn = entities::yes_no(text);
        let answers_here = branches.iter().any(|b| {
            matches!(
                (b.answer, yn),
                (Some(Answer::Yes), Some(YesNo::Yes)) | (Some(Answer::No), Some(YesNo::No))
            )
        });
        // Statements ("好的好的") need a clearly better match than questions do.
        let question = looks_like_question(text);
        let floor = self.bot.settings.faq_threshold;
        if let Some(f) = &u.faq
            && let Some(best) = &f.best
            && !f.ambiguous
            && (!answers_here || question)
            && (question || best.score >= 1.5 * floor)
        {
            let id = best.id.clone();
            self.answer_faq(&id);
            return "faq".into();
        }
        // 5. Weak branches: yes/no, then catch-all.
        for b in branches.iter().filter(|b| b.answer.is_some()) {
            let hit = matches!(
                (b.answer, yn),
                (Some(Answer::Yes), Some(YesNo::Yes)) | (Some(Answer::No), Some(YesNo::No))
            );
            if hit {
                self.take_branch(b, None);
                return format!(
                    "branch:{}",
                    self.bot
                        .nodes
                        .get(b.goto)
                        .map(|n| n.id.as_str())
                        .unwrap_or("")
                );
            }
        }
        if let Some(f) = &u.faq
            && f.ambiguous
            && let (Some(x), Some(y)) = (f.top.first(), f.top.get(1))
        {
            let (a, b) = (Choice::Faq(x.id.clone()), Choice::Faq(y.id.clone()));
            if self.clarify(node, a, b) {
                return "handler:no_match:clarify".into();
            }
        }
        if let Some(b) = branches.iter().find(|b| b.otherwise) {
            self.take_branch(b, None);
            return "branch:otherwise".into();
        }
        self.no_match(node, u);
        "handler:no_match".into()
    }

    fn enabled(&self, node: Option<usize>, kind: HandlerKind) -> bool {
        self.bot.handler(node, kind).is_some_and(|h| h.enabled)
    }

    fn take_branch(&mut self, b: &Branch, capture: Option<String>) {
        self.st.no_match = 0;
        if let (Some(slot), Some(v)) = (&b.slot, capture) {
            self.set_slot(slot, v);
        }
        self.run_actions(&b.actions);
        self.say(&b.say, BargeIn::Any, &BTreeMap::new());
        self.enter(b.goto);
    }

    fn dtmf(&mut self, digit: char) {
        let node = self.node_idx();
        if let Some(sp) = self.current_speech() {
            if sp.barge_in == BargeIn::Never {
                return;
            }
            self.stop_speaking();
        }
        self.st.rounds += 1;
        self.st.silences = 0;
        self.out.push(Action::Understood(Understood {
            text: format!("dtmf:{digit}"),
            node: self.st.node.clone(),
            intent: None,
            score: 0.0,
            faq: None,
            faq_top: None,
            ranked: Vec::new(),
            negative: false,
            sentiment: 0.0,
            anger: 0.0,
            handled_by: "dtmf".into(),
        }));
        let branch = node
            .and_then(|n| self.bot.nodes.get(n))
            .and_then(|n| {
                n.branches
                    .iter()
                    .find(|b| b.dtmf.as_deref().is_some_and(|d| d.starts_with(digit)))
            })
            .cloned();
        match branch {
            Some(b) => self.take_branch(&b, None),
            None => {
                let empty = Nlu {
                    intent: None,
                    by_rule: false,
                    score: 0.0,
                    ranked: Vec::new(),
                    faq: None,
                    emotion: nlu::Emotion {
                        negative: false,
                        score: 0.0,
                        anger: 0.0,
                    },
                };
                self.no_match(node, &empty);
            }
        }
    }

    // ---------- handlers ----------

    fn handler_phrases(
        &self,
        node: Option<usize>,
        kind: HandlerKind,
    ) -> Option<crate::compile::Handler> {
        self.bot.handler(node, kind).cloned()
    }

    fn close_with(&mut self, kind: HandlerKind, reason: &str) {
        let node = self.node_idx();
        if let Some(h) = self.handler_phrases(node, kind) {
            self.say(&h.close, BargeIn::Any, &BTreeMap::new());
        }
        self.finish(reason, true);
    }

    /// Runs a handler; `goto` in its settings replaces the built-in behaviour.
    fn fire(&mut self, kind: HandlerKind, text: &str, node: Option<usize>) {
        let Some(h) = self.handler_phrases(node, kind) else {
            return;
        };
        if let Some(t) = &h.tag {
            self.tag(t);
        }
        if matches!(kind, HandlerKind::NotInterested | HandlerKind::DoNotCall) {
            self.st.refusals += 1;
        }
        if let Some(goto) = h.goto
            && kind != HandlerKind::NotInterested
        {
            self.say(&h.say, BargeIn::Any, &BTreeMap::new());
            self.enter(goto);
            return;
        }
        let none = BTreeMap::new();
        match kind {
            HandlerKind::Robot | HandlerKind::Repeat => {
                self.say(&h.say, BargeIn::Any, &none);
                self.reprompt();
            }
            HandlerKind::Busy => {
                let when = self.wall_now().and_then(|w| entities::datetime(text, &w));
                if when.is_some() {
                    self.schedule_and_close(when);
                } else {
                    self.say(&h.ask, BargeIn::Any, &none);
                    self.st.pending = Some(Pending::CallbackTime);
                    self.wait();
                }
            }
            HandlerKind::NotInterested => {
                let max = h.max.unwrap_or(1);
                if self.st.retention < max && !h.say.is_empty() {
                    let i = self.st.retention as usize % h.say.items.len();
                    self.st.retention += 1;
                    if let Some(t) = h.say.items.get(i) {
                        let vars = self.vars();
                        let line = t.render(&[&vars]);
                        self.say_text(line, BargeIn::Any);
                    }
                    match h.goto {
                        Some(g) => self.enter(g),
                        None => self.wait(),
                    }
                } else {
                    self.say(&h.close, BargeIn::Any, &none);
                    self.finish("not_interested", true);
                }
            }
            HandlerKind::DoNotCall => {
                let phone = self.st.contact.get("phone").cloned().unwrap_or_default();
                self.out.push(Action::AddToDoNotCall { phone });
                self.st.do_not_call = true;
                self.say(&h.close, BargeIn::Any, &none);
                self.finish("do_not_call", true);
            }
            HandlerKind::Abuse | HandlerKind::Fraud | HandlerKind::Human | HandlerKind::Anger => {
                let queue = self.bot.settings.human_queue.clone();
                if self.can_transfer(queue.as_deref()) {
                    self.say(&h.say, BargeIn::Any, &none);
                    self.transfer(queue.unwrap_or_default(), kind.name().to_string());
                } else {
                    self.say_no_human(&h.close);
                    self.finish(&format!("{}_no_human", kind.name()), true);
                }
            }
            _ => {}
        }
    }

    fn schedule_and_close(&mut self, when: Option<WallTime>) {
        let node = self.node_idx();
        let Some(h) = self.handler_phrases(node, HandlerKind::Busy) else {
            return;
        };
        self.st.callback = true;
        // "今天早上八点" said at ten is no time to call back: leave it to the dialer.
        let now = self.wall_now();
        let when = when.filter(|w| now.is_none_or(|n| key(w) > key(&n)));
        let text = match (when, now) {
            (Some(w), Some(now)) => describe_time(&w, &now),
            _ => String::new(),
        };
        self.out.push(Action::ScheduleCallback {
            when,
            text: text.clone(),
        });
        if when.is_some() {
            self.st.slots.insert("callback_time".into(), text);
            self.say(&h.say, BargeIn::Any, &BTreeMap::new());
        } else {
            self.say(&h.close, BargeIn::Any, &BTreeMap::new());
        }
        self.finish("callback", true);
    }

    fn answer_faq(&mut self, id: &str) {
        let Some(entry) = self.bot.faq.as_ref().and_then(|f| f.entry(id)) else {
            return;
        };
        let answer = entry.answer.clone();
        let (links, images) = (entry.links.clone(), entry.images.clone());
        self.st.faq_hits += 1;
        self.say_text(answer, BargeIn::Any);
        if !links.is_empty() || !images.is_empty() {
            self.out.push(Action::Show { links, images });
        }
        let node = self.node_idx();
        if let Some(h) = self.handler_phrases(node, HandlerKind::Faq) {
            self.say(&h.say, BargeIn::Any, &BTreeMap::new());
        }
        self.reprompt();
    }

    fn silence(&mut self) {
        let node = self.node_idx();
        let Some(h) = self.handler_phrases(node, HandlerKind::Silence) else {
            return;
        };
        self.st.silences += 1;
        self.st.silences_total += 1;
        if !h.enabled {
            self.wait();
            return;
        }
        let max = h.max.unwrap_or(self.bot.settings.max_silence);
        if self.st.silences <= max {
            if self.st.pending == Some(Pending::CallbackTime) {
                self.st.pending = None;
                self.schedule_and_close(None);
                return;
            }
            self.say(&h.say, BargeIn::Any, &BTreeMap::new());
            self.reprompt();
        } else {
            if let Some(t) = &h.tag {
                self.tag(t);
            }
            if let Some(g) = h.goto {
                self.enter(g);
            } else {
                self.say(&h.close, BargeIn::Any, &BTreeMap::new());
                self.finish("silence", true);
            }
        }
    }

    /// Asks "A还是B"; false when clarification is not possible here.
    fn clarify(&mut self, node: Option<usize>, a: Choice, b: Choice) -> bool {
        let Some(h) = self.handler_phrases(node, HandlerKind::NoMatch) else {
            return false;
        };
        if h.ask.is_empty() || !h.enabled {
            return false;
        }
        self.st.no_match += 1;
        let max = node
            .and_then(|n| self.bot.nodes.get(n))
            .and_then(|n| n.max_no_match)
            .or(h.max)
            .unwrap_or(self.bot.settings.max_no_match);
        if self.st.no_match > max {
            self.st.no_match -= 1;
            return false;
        }
        let mut extra = BTreeMap::new();
        extra.insert("option_a".to_string(), choice_label(&a, self.bot));
        extra.insert("option_b".to_string(), choice_label(&b, self.bot));
        self.say(&h.ask, BargeIn::Any, &extra);
        self.st.pending = Some(Pending::Clarify { a, b });
        self.wait();
        true
    }

    fn no_match(&mut self, node: Option<usize>, u: &Nlu) {
        let Some(h) = self.handler_phrases(node, HandlerKind::NoMatch) else {
            return;
        };
        // Two of this node's intents almost tied: ask which one was meant.
        let branches: Vec<Branch> = node
            .and_then(|n| self.bot.nodes.get(n))
            .map(|n| n.branches.clone())
            .unwrap_or_default();
        if let Some((a, b)) = close_pair(&u.ranked, &branches)
            && self.clarify(node, Choice::Intent(a), Choice::Intent(b))
        {
            return;
        }
        self.st.no_match += 1;
        let node_spec = node.and_then(|n| self.bot.nodes.get(n));
        let max = node_spec
            .and_then(|n| n.max_no_match)
            .or(h.max)
            .unwrap_or(self.bot.settings.max_no_match);
        if self.st.no_match <= max && h.enabled {
            self.say(&h.say, BargeIn::Any, &BTreeMap::new());
            self.reprompt();
        } else {
            // Giving up is what the tag records (an unanswered question, a gap in the script).
            if let Some(t) = &h.tag {
                self.tag(t);
            }
            if let Some(target) = node_spec.and_then(|n| n.no_match).or(h.goto) {
                self.enter(target);
            } else {
                self.say(&h.close, BargeIn::Any, &BTreeMap::new());
                self.finish("no_match", true);
            }
        }
    }
}

/// Question words and particles: "可以开发票吗" asks, "可以的" answers.
fn looks_like_question(text: &str) -> bool {
    const MARKS: &[&str] = &[
        "吗",
        "么",
        "呢",
        "?",
        "？",
        "怎",
        "什么",
        "多少",
        "哪",
        "几",
        "谁",
        "为啥",
        "为什么",
        "能不能",
        "可不可以",
        "是不是",
        "有没有",
        "多久",
        "多长",
        "如何",
        "咋",
        "能否",
        "可否",
        "是否",
        "要不要",
        "会不会",
        "行不行",
    ];
    MARKS.iter().any(|m| text.contains(m))
}

/// Phone and order numbers carry no emotion, but hotline numbers inside them
/// ("138123456789" contains "12345") can look like complaint words to a lexicon.
fn mask_digit_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let run = chars
            .get(i..)
            .map(|r| r.iter().take_while(|c| c.is_ascii_digit()).count())
            .unwrap_or(0);
        if run >= 7 {
            out.push(' ');
            i += run;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Two of the node's branch intents that the model ranks top and nearly tied.
fn close_pair(ranked: &[(String, f32)], branches: &[Branch]) -> Option<(String, String)> {
    let mut it = ranked.iter().filter(|(n, _)| {
        branches
            .iter()
            .any(|b| b.intent.as_deref() == Some(n.as_str()))
    });
    let (a, sa) = it.next()?;
    let (b, sb) = it.next()?;
    // The two must also be the overall top two: a third, clearly better intent is no tie.
    let top_two = ranked.iter().take(2).all(|(n, _)| n == a || n == b);
    (top_two && *sb >= CLARIFY_MIN && *sb >= CLARIFY_RATIO * sa).then(|| (a.clone(), b.clone()))
}

fn barge_name(b: BargeIn) -> &'static str {
    match b {
        BargeIn::Never => "never",
        BargeIn::Any => "any",
        BargeIn::Intent => "intent",
        BargeIn::AfterMs(_) => "after_ms",
    }
}

fn choice_label(c: &Choice, bot: &Bot) -> String {
    match c {
        Choice::Intent(i) => bot.label(i),
        Choice::Faq(id) => bot
            .faq
            .as_ref()
            .and_then(|f| f.entry(id))
            .map(|e| e.question.trim_end_matches(['？', '?']).to_string())
            .unwrap_or_else(|| id.clone()),
    }
}

/// Which option of "A还是B" the caller picked, if any.
fn resolve_choice(text: &str, a: &Choice, b: &Choice, bot: &Bot) -> Option<Choice> {
    let n = squash(text);
    let first = ["第一", "前面", "前一个", "上一个", "头一个"];
    let second = ["第二", "后面", "后一个", "后者", "下一个"];
    if first.iter().any(|w| n.contains(w)) {
        return Some(a.clone());
    }
    if second.iter().any(|w| n.contains(w)) {
        return Some(b.clone());
    }
    let la = squash(&choice_label(a, bot));
    let lb = squash(&choice_label(b, bot));
    let ha = !la.is_empty() && (n.contains(&la) || la.contains(&n) && n.chars().count() >= 2);
    let hb = !lb.is_empty() && (n.contains(&lb) || lb.contains(&n) && n.chars().count() >= 2);
    // "换货的" picks 「换货运费…」 over 「退货运费…」: look at what only one label has.
    let only = |x: &str, y: &str| x.chars().filter(|c| !y.contains(*c)).collect::<String>();
    let (da, db) = (only(&la, &lb), only(&lb, &la));
    let sa = da.chars().any(|c| n.contains(c));
    let sb = db.chars().any(|c| n.contains(c));
    let (ha, hb) = if ha || hb { (ha, hb) } else { (sa, sb) };
    match (ha, hb) {
        (true, false) => Some(a.clone()),
        (false, true) => Some(b.clone()),
        _ => None,
    }
}

/// Whether a text branch matches; `Some(capture)` carries an entity value.
fn match_text(
    b: &Branch,
    text: &str,
    intent: Option<&str>,
    wall: Option<&WallTime>,
) -> Option<Option<String>> {
    let norm = squash(text);
    let entity = b.entity.and_then(|e| extract(e, text, wall, b.min, b.max));
    if b.entity.is_some() && entity.is_some() {
        return Some(entity);
    }
    let hit = b.intent.as_deref().is_some_and(|i| intent == Some(i))
        || b.keywords.iter().any(|k| norm.contains(k.as_str()))
        || b.regex
            .as_ref()
            .is_some_and(|r| r.is_match(text) || r.is_match(&norm));
    hit.then_some(entity)
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn extract(
    kind: EntityKind,
    text: &str,
    wall: Option<&WallTime>,
    min: Option<f64>,
    max: Option<f64>,
) -> Option<String> {
    let in_range = |v: f64| min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m);
    match kind {
        EntityKind::Number => entities::numbers(text)
            .into_iter()
            .find(|v| in_range(*v))
            .map(fmt_num),
        EntityKind::Money => entities::money(text)
            .or_else(|| entities::numbers(text).into_iter().next())
            .filter(|v| in_range(*v))
            .map(fmt_num),
        EntityKind::Phone => entities::phone_numbers(text).into_iter().next(),
        EntityKind::Datetime => {
            let now = wall?;
            entities::datetime(text, now).map(|w| describe_time(&w, now))
        }
    }
}

fn key(w: &WallTime) -> (i32, u32, u32, u32, u32) {
    (w.year, w.month, w.day, w.hour, w.minute)
}

fn same_day(a: &WallTime, b: &WallTime) -> bool {
    (a.year, a.month, a.day) == (b.year, b.month, b.day)
}

/// "明天下午3点半", "12月3日上午10点": how a person says a time back.
pub fn describe_time(w: &WallTime, now: &WallTime) -> String {
    let day = if (w.year, w.month, w.day) == (now.year, now.month, now.day) {
        "今天".to_string()
    } else if same_day(w, &advance_minutes(now, 1440)) {
        "明天".to_string()
    } else if same_day(w, &advance_minutes(now, 2 * 1440)) {
        "后天".to_string()
    } else {
        format!("{}月{}日", w.month, w.day)
    };
    let (part, h) = match w.hour {
        0..=5 => ("凌晨", w.hour),
        6..=11 => ("上午", w.hour),
        12 => ("中午", 12),
        13..=17 => ("下午", w.hour - 12),
        _ => ("晚上", w.hour.saturating_sub(12)),
    };
    let minute = match w.minute {
        0 => "点".to_string(),
        30 => "点半".to_string(),
        m => format!("点{m}分"),
    };
    format!("{day}{part}{h}{minute}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_words() {
        assert!(looks_like_question("可以开发票吗"));
        assert!(looks_like_question("运费谁承担"));
        assert!(!looks_like_question("可以的"));
        assert!(!looks_like_question("好，没问题"));
    }

    #[test]
    fn long_digit_runs_are_masked_for_emotion() {
        assert_eq!(
            mask_digit_runs("我的号码是13812345678好吗"),
            "我的号码是 好吗"
        );
        assert_eq!(mask_digit_runs("打12315投诉"), "打12315投诉");
    }

    #[test]
    fn describes_times_like_people_do() {
        let now = WallTime {
            year: 2026,
            month: 11,
            day: 24,
            hour: 10,
            minute: 0,
            weekday: 2,
        };
        let t = |d: u64, h: u32, m: u32| {
            let mut w = advance_minutes(&now, d * 1440);
            w.hour = h;
            w.minute = m;
            describe_time(&w, &now)
        };
        assert_eq!(t(0, 20, 0), "今天晚上8点");
        assert_eq!(t(1, 15, 30), "明天下午3点半");
        assert_eq!(t(2, 9, 15), "后天上午9点15分");
        assert_eq!(t(4, 12, 0), "11月28日中午12点");
    }
}
