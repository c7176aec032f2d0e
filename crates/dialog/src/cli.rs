//! Tools for people who write scripts: interactive `chat`, scripted
//! `simulate` test conversations and `validate`. The `tonghua` binary's
//! subcommands call these; `examples/dialog.rs` is a small runner.
//!
//! Unlike the engine, these read files and (for `chat` only) the system clock.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::{Action, Event, EventKind, Start, State, WallTime};
use crate::error::{DialogError, ValidationReport};
use crate::script::{Grade, Phrasings};
use crate::{Bot, validate_file};

/// Options of [`chat`].
#[derive(Debug, Clone, Default)]
pub struct ChatOptions {
    pub script: PathBuf,
    pub kb: Option<PathBuf>,
    /// Contact fields (`name=王先生`).
    pub contact: Vec<(String, String)>,
    /// Also print intents, scores, FAQ hits, emotion and node per turn.
    pub verbose: bool,
}

/// One line per action, as a person reads it.
pub fn describe(a: &Action) -> String {
    match a {
        Action::Say { text, barge_in, .. } => format!(
            "机器人: {text}  [barge_in={}]",
            serde_json::to_string(barge_in).unwrap_or_default()
        ),
        Action::Show { links, images } => {
            let mut parts: Vec<String> = links
                .iter()
                .map(|l| format!("{} <{}>", l.title, l.url))
                .collect();
            parts.extend(images.iter().map(|i| format!("图片 image <{i}>")));
            format!("[附件 show: {}]", parts.join("; "))
        }
        Action::Offer { options } => format!("[快捷回复 quick replies: {}]", options.join(" | ")),
        Action::StopSpeaking => "[停止播放 stop speaking]".into(),
        Action::WaitForInput { timeout_ms } => format!("[等待回答 wait {timeout_ms} ms]"),
        Action::Transfer { queue, reason } => format!("[转人工 transfer → {queue} ({reason})]"),
        Action::Hangup { reason } => format!("[挂机 hangup: {reason}]"),
        Action::SetTag { tag } => format!("[标签 tag: {tag}]"),
        Action::SetSlot { name, value } => format!("[记录 slot {name} = {value}]"),
        Action::Grade { grade, rule } => format!(
            "[意向等级 grade {grade:?} ({})]",
            rule.as_deref().unwrap_or("")
        ),
        Action::Webhook { name, url, payload } => format!(
            "[回调 webhook {name} {} {payload:?}]",
            url.as_deref().unwrap_or("")
        ),
        Action::SendSms {
            template,
            to,
            params,
        } => format!("[短信 sms {template} → {to} {params:?}]"),
        Action::AddToDoNotCall { phone } => format!("[加入免打扰 do-not-call {phone}]"),
        Action::ScheduleCallback { text, .. } => format!(
            "[预约回电 callback: {}]",
            if text.is_empty() {
                "未定时间"
            } else {
                text
            }
        ),
        Action::SetTimer { name, after_ms } => format!("[定时器 timer {name} in {after_ms} ms]"),
        Action::EnterNode { node } => format!("[节点 node: {node}]"),
        Action::Understood(u) => format!(
            "  · intent={} score={:.2} ranked=[{}] faq={} top={} anger={:.2} negative={} node={} → {}",
            u.intent.as_deref().unwrap_or("-"),
            u.score,
            u.ranked
                .iter()
                .map(|(n, s)| format!("{n} {s:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            u.faq
                .as_ref()
                .map(|f| format!("{}({:.2})", f.id, f.score))
                .unwrap_or_else(|| "-".into()),
            u.faq_top
                .as_ref()
                .map(|f| format!("{}({:.2})", f.id, f.score))
                .unwrap_or_else(|| "-".into()),
            u.anger,
            u.negative,
            u.node.as_deref().unwrap_or("-"),
            u.handled_by
        ),
    }
}

/// The action's `type` tag (`say`, `transfer`, ...).
pub fn action_type(a: &Action) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_default()
}

use crate::time::civil_from_days;

/// Beijing time now (the CLI may read a clock; the engine never does).
fn beijing_now() -> WallTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        + 8 * 3600;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (4).
    let weekday = ((days.rem_euclid(7) + 3) % 7 + 1) as u32;
    WallTime {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: ((rem % 3600) / 60) as u32,
        weekday,
    }
}

/// Interactive chat on a text channel.
pub fn chat(
    opts: &ChatOptions,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<(), DialogError> {
    let bot = Bot::from_file(&opts.script, opts.kb.as_deref())?;
    writeln!(
        output,
        "话术 script: {} v{}  (/silence /dtmf 1 /hangup /agent /timer transfer /quit)",
        bot.name(),
        bot.version()
    )?;
    let start = Start {
        contact: opts.contact.iter().cloned().collect(),
        now: beijing_now(),
        humans_available: true,
        offline_message: None,
    };
    let mut state = bot.new_state();
    let mut clock = 0u64;
    let first = bot.handle(
        &mut state,
        &Event::new(clock, EventKind::ConversationStarted(start)),
    );
    print_actions(&first, opts.verbose, output)?;
    let mut line = String::new();
    while !state.is_ended() {
        write!(output, "客户> ")?;
        output.flush()?;
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        let text = line.trim();
        clock += 3000;
        let kind = match text
            .split_once(' ')
            .map(|(a, b)| (a, b.trim()))
            .unwrap_or((text, ""))
        {
            ("/quit", _) => break,
            ("/silence", _) => EventKind::Silence {
                ms: bot.settings.wait_ms,
            },
            ("/dtmf", d) => match d.chars().next() {
                Some(c) => EventKind::Dtmf { digit: c },
                None => {
                    writeln!(output, "用法 usage: /dtmf 1")?;
                    continue;
                }
            },
            ("/hangup", _) => EventKind::Hangup,
            ("/agent", _) => EventKind::AgentJoined { agent: None },
            ("/timer", name) => EventKind::Timer {
                name: if name.is_empty() {
                    "transfer".into()
                } else {
                    name.into()
                },
            },
            ("", _) => continue,
            _ => EventKind::UserSaid {
                text: text.to_string(),
                confidence: 1.0,
                is_final: true,
            },
        };
        let actions = bot.handle(&mut state, &Event::new(clock, kind));
        print_actions(&actions, opts.verbose, output)?;
    }
    writeln!(
        output,
        "[会话结束 ended: {}]",
        state.end_reason.as_deref().unwrap_or("-")
    )?;
    Ok(())
}

fn print_actions(
    actions: &[Action],
    verbose: bool,
    out: &mut dyn Write,
) -> Result<(), DialogError> {
    for a in actions {
        let show = match a {
            Action::Understood(_)
            | Action::EnterNode { .. }
            | Action::SetTimer { .. }
            | Action::WaitForInput { .. }
            | Action::SetSlot { .. } => verbose,
            _ => true,
        };
        if show {
            writeln!(out, "{}", describe(a))?;
        }
    }
    Ok(())
}

/// Validates a script file.
pub fn validate(script: &Path) -> Result<ValidationReport, DialogError> {
    let mut report = validate_file(script)?;
    if report.is_ok() {
        // Quick replies are checked against the trained models: build the bot.
        let bot = Bot::from_file(script, None)?;
        for (node, option) in bot.misrouted_options() {
            report.errors.push(crate::error::Issue {
                file: report.file.clone(),
                line: 0,
                node: Some(node),
                kind: "misrouted_option".into(),
                message: format!(
                    "快捷回复「{option}」在本节点无法被理解（会进入兜底），请加分支或关键词 quick reply `{option}` is not understood here; add a branch or keywords"
                ),
            });
        }
    }
    Ok(report)
}

/// Result of [`simulate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulationSummary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    /// Names of the failed cases.
    pub failures: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesFile {
    #[serde(default)]
    #[allow(dead_code)]
    script: Option<String>,
    cases: Vec<Case>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Channel {
    #[default]
    Text,
    Voice,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    contact: BTreeMap<String, String>,
    #[serde(default)]
    channel: Channel,
    #[serde(default = "yes")]
    humans_available: bool,
    /// "2026-11-24 10:00" (weekday computed).
    #[serde(default)]
    now: Option<String>,
    /// Expectations right after the start.
    #[serde(default)]
    start: Option<Expect>,
    #[serde(default)]
    steps: Vec<Step>,
    #[serde(default)]
    expect: Option<Expect>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    confidence: Option<f32>,
    #[serde(default)]
    silence: Option<u64>,
    #[serde(default)]
    dtmf: Option<String>,
    #[serde(default)]
    barge_in: bool,
    #[serde(default)]
    playback_done: bool,
    #[serde(default)]
    hangup: bool,
    #[serde(default)]
    agent_joined: bool,
    #[serde(default)]
    timer: Option<String>,
    /// Voice: the user speaks while the robot is still talking.
    #[serde(default)]
    during_playback: bool,
    /// Clock advance before this step (default 3000 ms, 500 ms during playback).
    #[serde(default)]
    after_ms: Option<u64>,
    #[serde(default)]
    expect: Option<Expect>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BoolOrText {
    Bool(bool),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    say: Option<Phrasings>,
    #[serde(default)]
    not_say: Option<Phrasings>,
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    no_actions: Vec<String>,
    #[serde(default)]
    intent: Option<String>,
    #[serde(default)]
    handled_by: Option<String>,
    #[serde(default)]
    faq: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    grade: Option<Grade>,
    #[serde(default)]
    transfer: Option<BoolOrText>,
    #[serde(default)]
    hangup: Option<BoolOrText>,
    #[serde(default)]
    ended: Option<bool>,
    #[serde(default)]
    do_not_call: Option<bool>,
    #[serde(default)]
    callback: Option<BoolOrText>,
    #[serde(default)]
    sms: Option<String>,
    #[serde(default)]
    webhook: Option<String>,
    #[serde(default)]
    slots: BTreeMap<String, String>,
    #[serde(default)]
    visited: Vec<String>,
}

fn parse_now(s: &str) -> Option<WallTime> {
    let (date, time) = s.trim().split_once(' ').unwrap_or((s.trim(), "10:00"));
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (h, min) = time.split_once(':')?;
    let (h, min) = (h.parse::<u32>().ok()?, min.parse::<u32>().ok()?);
    // Weekday via days from civil (inverse of civil_from_days).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let weekday = ((days.rem_euclid(7) + 3) % 7 + 1) as u32;
    Some(WallTime {
        year: y as i32,
        month: m as u32,
        day: day as u32,
        hour: h,
        minute: min,
        weekday,
    })
}

/// Default reference time of cases: Tuesday 2026-11-24 10:00 (Beijing).
pub const DEFAULT_NOW: WallTime = WallTime {
    year: 2026,
    month: 11,
    day: 24,
    hour: 10,
    minute: 0,
    weekday: 2,
};

/// Everything observed in one step or the whole case.
struct Observed<'a> {
    actions: &'a [Action],
    state: &'a State,
}

fn check(e: &Expect, o: &Observed<'_>, whole: bool) -> Vec<String> {
    let mut f = Vec::new();
    let says: Vec<&str> = o
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Say { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let types: Vec<String> = o.actions.iter().map(action_type).collect();
    if let Some(n) = &e.node
        && o.state.node.as_deref() != Some(n.as_str())
    {
        f.push(format!(
            "节点 node: expected `{n}`, got `{}`",
            o.state.node.as_deref().unwrap_or("-")
        ));
    }
    if let Some(s) = &e.say {
        for want in &s.0 {
            if !says.iter().any(|t| t.contains(want.as_str())) {
                f.push(format!("话术 say: expected a line containing 「{want}」"));
            }
        }
    }
    if let Some(s) = &e.not_say {
        for bad in &s.0 {
            if says.iter().any(|t| t.contains(bad.as_str())) {
                f.push(format!("话术 say: expected no line containing 「{bad}」"));
            }
        }
    }
    for a in &e.actions {
        if !types.contains(a) {
            f.push(format!("动作 action: expected `{a}`"));
        }
    }
    for a in &e.no_actions {
        if types.contains(a) {
            f.push(format!("动作 action: expected no `{a}`"));
        }
    }
    let understood: Vec<&crate::engine::Understood> = o
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Understood(u) => Some(u),
            _ => None,
        })
        .collect();
    if let Some(i) = &e.intent
        && !understood
            .iter()
            .any(|u| u.intent.as_deref() == Some(i.as_str()))
    {
        let got: Vec<&str> = understood
            .iter()
            .map(|u| u.intent.as_deref().unwrap_or("-"))
            .collect();
        f.push(format!("意图 intent: expected `{i}`, got {got:?}"));
    }
    if let Some(h) = &e.handled_by
        && !understood
            .iter()
            .any(|u| u.handled_by.starts_with(h.as_str()))
    {
        let got: Vec<&str> = understood.iter().map(|u| u.handled_by.as_str()).collect();
        f.push(format!("处理 handled_by: expected `{h}`, got {got:?}"));
    }
    if let Some(id) = &e.faq
        && !understood
            .iter()
            .any(|u| u.faq.as_ref().is_some_and(|x| x.id == *id))
    {
        let got: Vec<String> = understood
            .iter()
            .map(|u| u.faq.as_ref().map(|x| x.id.clone()).unwrap_or("-".into()))
            .collect();
        f.push(format!("知识库 faq: expected `{id}`, got {got:?}"));
    }
    for t in &e.tags {
        if !o.state.tags.contains(t) {
            f.push(format!("标签 tag: expected `{t}`, have {:?}", o.state.tags));
        }
    }
    if let Some(g) = e.grade {
        let got = o.actions.iter().find_map(|a| match a {
            Action::Grade { grade, rule } => Some((*grade, rule.clone())),
            _ => None,
        });
        if got.as_ref().map(|x| x.0) != Some(g) {
            f.push(format!("意向 grade: expected {g:?}, got {got:?}"));
        }
    }
    let find = |ty: &str| o.actions.iter().find(|a| action_type(a) == ty);
    match &e.transfer {
        Some(BoolOrText::Bool(want)) if find("transfer").is_some() != *want => {
            f.push(format!("转人工 transfer: expected {want}"))
        }
        Some(BoolOrText::Text(q)) => match find("transfer") {
            Some(Action::Transfer { queue, .. }) if queue == q => {}
            other => f.push(format!(
                "转人工 transfer: expected queue `{q}`, got {:?}",
                other.map(describe)
            )),
        },
        _ => {}
    }
    match &e.hangup {
        Some(BoolOrText::Bool(want)) if find("hangup").is_some() != *want => {
            f.push(format!("挂机 hangup: expected {want}"))
        }
        Some(BoolOrText::Text(r)) => match find("hangup") {
            Some(Action::Hangup { reason }) if reason == r => {}
            other => f.push(format!(
                "挂机 hangup: expected reason `{r}`, got {:?}",
                other.map(describe)
            )),
        },
        _ => {}
    }
    if let Some(want) = e.ended
        && o.state.is_ended() != want
    {
        f.push(format!(
            "结束 ended: expected {want}, state is {:?}",
            o.state.phase
        ));
    }
    if let Some(want) = e.do_not_call
        && (find("add_to_do_not_call").is_some() || (whole && o.state.do_not_call)) != want
    {
        f.push(format!("免打扰 do_not_call: expected {want}"));
    }
    match &e.callback {
        Some(BoolOrText::Bool(want)) if find("schedule_callback").is_some() != *want => {
            f.push(format!("回电 callback: expected {want}"))
        }
        Some(BoolOrText::Text(t)) => match find("schedule_callback") {
            Some(Action::ScheduleCallback { text, .. }) if text.contains(t.as_str()) => {}
            other => f.push(format!(
                "回电 callback: expected 「{t}」, got {:?}",
                other.map(describe)
            )),
        },
        _ => {}
    }
    if let Some(s) = &e.sms
        && !o
            .actions
            .iter()
            .any(|a| matches!(a, Action::SendSms { template, .. } if template == s))
    {
        f.push(format!("短信 sms: expected template `{s}`"));
    }
    if let Some(w) = &e.webhook
        && !o
            .actions
            .iter()
            .any(|a| matches!(a, Action::Webhook { name, .. } if name == w))
    {
        f.push(format!("回调 webhook: expected `{w}`"));
    }
    for (k, v) in &e.slots {
        if o.state.slots.get(k) != Some(v) {
            f.push(format!(
                "记录 slot {k}: expected `{v}`, got {:?}",
                o.state.slots.get(k)
            ));
        }
    }
    for n in &e.visited {
        if !o
            .actions
            .iter()
            .any(|a| matches!(a, Action::EnterNode { node } if node == n))
        {
            f.push(format!("经过节点 visited: expected `{n}`"));
        }
    }
    f
}

/// Runs one case; returns (failure messages, transcript for the diff).
fn run_case(bot: &Bot, case: &Case) -> Result<(Vec<String>, Vec<String>), String> {
    let now = match &case.now {
        Some(s) => {
            parse_now(s).ok_or_else(|| format!("无效时间 bad `now`: {s} (use 2026-11-24 10:00)"))?
        }
        None => DEFAULT_NOW,
    };
    let start = Start {
        contact: case.contact.clone(),
        now,
        humans_available: case.humans_available,
        offline_message: None,
    };
    let voice = case.channel == Channel::Voice;
    let kind = if voice {
        EventKind::CallAnswered(start)
    } else {
        EventKind::ConversationStarted(start)
    };
    let mut state = bot.new_state();
    let mut clock = 0u64;
    let mut all: Vec<Action> = bot.handle(&mut state, &Event::new(clock, kind));
    let mut transcript: Vec<String> = vec!["— start".into()];
    transcript.extend(all.iter().map(|a| format!("    {}", describe(a))));
    let mut failures = Vec::new();
    if let Some(e) = &case.start {
        for m in check(
            e,
            &Observed {
                actions: &all,
                state: &state,
            },
            false,
        ) {
            failures.push(format!("start: {m}"));
        }
    }
    for (i, step) in case.steps.iter().enumerate() {
        let mut events = Vec::new();
        let advance = step
            .after_ms
            .unwrap_or(if step.during_playback { 500 } else { 3000 });
        let kind = if let Some(t) = &step.user {
            EventKind::UserSaid {
                text: t.clone(),
                confidence: step.confidence.unwrap_or(1.0),
                is_final: true,
            }
        } else if let Some(ms) = step.silence {
            EventKind::Silence { ms }
        } else if let Some(d) = &step.dtmf {
            EventKind::Dtmf {
                digit: d
                    .chars()
                    .next()
                    .ok_or_else(|| format!("step {}: empty dtmf", i + 1))?,
            }
        } else if step.barge_in {
            EventKind::UserStartedSpeaking
        } else if step.playback_done {
            EventKind::PlaybackFinished
        } else if step.hangup {
            EventKind::Hangup
        } else if step.agent_joined {
            EventKind::AgentJoined { agent: None }
        } else if let Some(t) = &step.timer {
            EventKind::Timer { name: t.clone() }
        } else {
            return Err(format!(
                "第{}步没有事件 step {} has no event (user/silence/dtmf/barge_in/playback_done/hangup/agent_joined/timer)",
                i + 1,
                i + 1
            ));
        };
        let speaks = matches!(kind, EventKind::UserSaid { .. } | EventKind::Dtmf { .. });
        if voice && speaks && !step.during_playback {
            clock += advance;
            events.push(Event::new(clock, EventKind::PlaybackFinished));
            clock += 200;
        } else {
            clock += advance;
        }
        events.push(Event::new(clock, kind.clone()));
        let mut step_actions = Vec::new();
        for ev in &events {
            step_actions.extend(bot.handle(&mut state, ev));
        }
        transcript.push(format!("— step {}: {}", i + 1, step_label(&kind)));
        transcript.extend(step_actions.iter().map(|a| format!("    {}", describe(a))));
        if let Some(e) = &step.expect {
            for m in check(
                e,
                &Observed {
                    actions: &step_actions,
                    state: &state,
                },
                false,
            ) {
                failures.push(format!("step {} ({}): {m}", i + 1, step_label(&kind)));
            }
        }
        all.extend(step_actions);
    }
    if let Some(e) = &case.expect {
        for m in check(
            e,
            &Observed {
                actions: &all,
                state: &state,
            },
            true,
        ) {
            failures.push(format!("end: {m}"));
        }
    }
    Ok((failures, transcript))
}

fn step_label(k: &EventKind) -> String {
    match k {
        EventKind::UserSaid { text, .. } => format!("客户「{text}」"),
        EventKind::Silence { ms } => format!("静音 silence {ms} ms"),
        EventKind::Dtmf { digit } => format!("按键 dtmf {digit}"),
        EventKind::UserStartedSpeaking => "插话 barge-in".into(),
        EventKind::PlaybackFinished => "播放结束 playback done".into(),
        EventKind::Hangup => "客户挂机 hangup".into(),
        EventKind::AgentJoined { .. } => "坐席接入 agent joined".into(),
        EventKind::Timer { name } => format!("定时器 timer {name}"),
        other => format!("{other:?}"),
    }
}

/// Loads the cases file (YAML).
fn load_cases(cases: &Path) -> Result<CasesFile, DialogError> {
    let text = std::fs::read_to_string(cases).map_err(|source| DialogError::Io {
        path: cases.display().to_string(),
        source,
    })?;
    serde_yaml_ng::from_str(&text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        DialogError::Parse {
            file: cases.display().to_string(),
            line,
            column,
            message: e.to_string(),
        }
    })
}

/// Runs every case of a cases file against a script and reports pass/fail.
pub fn simulate(
    script: &Path,
    cases: &Path,
    kb: Option<&Path>,
    output: &mut dyn Write,
) -> Result<SimulationSummary, DialogError> {
    let bot = Bot::from_file(script, kb)?;
    let file = load_cases(cases)?;
    let mut summary = SimulationSummary::default();
    for case in &file.cases {
        summary.total += 1;
        let (failures, transcript) =
            run_case(&bot, case).map_err(|message| DialogError::Cases {
                file: cases.display().to_string(),
                message: format!("{}: {message}", case.name),
            })?;
        if failures.is_empty() {
            summary.passed += 1;
            writeln!(output, "✔ PASS {}", case.name)?;
        } else {
            summary.failed += 1;
            summary.failures.push(case.name.clone());
            writeln!(output, "✘ FAIL {}", case.name)?;
            for f in &failures {
                writeln!(output, "    - {f}")?;
            }
            writeln!(output, "  实际对话 actual conversation:")?;
            for l in &transcript {
                writeln!(output, "  {l}")?;
            }
        }
    }
    writeln!(
        output,
        "{} cases: {} passed, {} failed",
        summary.total, summary.passed, summary.failed
    )?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_now_weekday() {
        let w = parse_now("2026-11-24 10:00").expect("parse");
        assert_eq!(w, DEFAULT_NOW);
        assert_eq!(parse_now("2026-11-29 09:30").map(|w| w.weekday), Some(7));
        assert_eq!(parse_now("bad"), None);
        let (y, m, d) = civil_from_days(20_416);
        assert_eq!((y, m, d), (2025, 11, 24));
    }
}
