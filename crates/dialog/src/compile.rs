//! Turns a parsed script into an immutable [`Bot`]: resolved node indices,
//! parsed templates, compiled regexes, trained intents and the FAQ index.
//! Validation happens here, so a `Bot` that exists is a valid one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::builtin::{NEUTRAL_EXAMPLES, default_handler, handler_intent};
use crate::error::{DialogError, Issue, ValidationReport};
use crate::script::{
    ActionSpec, Answer, BargeIn, EntityKind, Grade, GradingSpec, HandlerKind, HandlerSpec,
    LineFinder, NodeKind, Phrasings, ScriptSpec, Settings, parse_script,
};
use crate::template::Template;

/// Variables every script may use without declaring them.
pub const BUILTIN_VARS: &[&str] = &["phone", "callback_time", "option_a", "option_b", "bot_name"];

/// Phrasings with a rotation site id (the state remembers which was said last).
#[derive(Debug, Clone)]
pub(crate) struct Phrases {
    pub site: u32,
    pub items: Vec<Template>,
}

impl Phrases {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[derive(Debug, Clone)]
pub(crate) enum CAction {
    Tag(String),
    Grade(Grade),
    Webhook {
        name: String,
        url: Option<String>,
        payload: Vec<(String, Template)>,
    },
    Sms {
        template: String,
        to: Template,
        params: Vec<(String, Template)>,
    },
    Set {
        slot: String,
        value: Template,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub intent: Option<String>,
    pub keywords: Vec<String>,
    pub regex: Option<regex::Regex>,
    pub answer: Option<Answer>,
    pub dtmf: Option<String>,
    pub entity: Option<EntityKind>,
    pub slot: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub otherwise: bool,
    pub say: Phrases,
    pub actions: Vec<CAction>,
    pub goto: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Handler {
    pub enabled: bool,
    pub say: Phrases,
    pub close: Phrases,
    pub ask: Phrases,
    pub goto: Option<usize>,
    pub max: Option<u32>,
    pub tag: Option<String>,
}

/// Quick replies per question: more do not fit a phone screen's row.
const MAX_OPTIONS: usize = 6;
/// Characters per quick reply: a button, not a sentence.
const MAX_OPTION_CHARS: usize = 20;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub id: String,
    pub kind: NodeKind,
    pub say: Phrases,
    pub reprompt: Phrases,
    pub next: Option<usize>,
    pub branches: Vec<Branch>,
    pub no_match: Option<usize>,
    pub max_no_match: Option<u32>,
    pub barge_in: BargeIn,
    pub timeout_ms: Option<u64>,
    pub queue: Option<String>,
    pub reason: Option<String>,
    pub actions: Vec<CAction>,
    /// Full handler table when the node overrides any handler.
    pub handlers: Option<Vec<Handler>>,
    /// Quick-reply buttons offered with the question (text channels).
    pub options: Vec<String>,
}

/// The compiled, immutable script plus its NLU models. Build once, share in an
/// `Arc` across thousands of conversations (`Send + Sync`, no interior mutability).
#[derive(Debug)]
pub struct Bot {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) start: usize,
    pub(crate) settings: Settings,
    pub(crate) handlers: Vec<Handler>,
    pub(crate) intents: nlu::IntentModel,
    pub(crate) intent_labels: BTreeMap<String, String>,
    pub(crate) faq: Option<nlu::FaqIndex>,
    pub(crate) emotion: nlu::EmotionModel,
    pub(crate) grading: Option<GradingSpec>,
    pub(crate) defaults: BTreeMap<String, String>,
}

impl Bot {
    /// Loads a script file; its `knowledge:` file (relative to the script) is
    /// loaded unless `kb` names another one.
    pub fn from_file(script: &Path, kb: Option<&Path>) -> Result<Bot, DialogError> {
        let source = read(script)?;
        let file = script.display().to_string();
        let spec = parse_script(&source, &file)?;
        let kb_path = match (kb, &spec.knowledge) {
            (Some(k), _) => Some(k.to_path_buf()),
            (None, Some(rel)) => Some(script.parent().unwrap_or(Path::new(".")).join(rel)),
            (None, None) => None,
        };
        let entries = match kb_path {
            Some(p) => Some(crate::kb::load_kb(&p)?),
            None => None,
        };
        compile(spec, &source, &file, entries)
    }

    /// Builds from script text; `file` is only used in messages and to pick JSON vs YAML.
    pub fn from_source(
        source: &str,
        file: &str,
        kb: Option<Vec<nlu::FaqEntry>>,
    ) -> Result<Bot, DialogError> {
        let spec = parse_script(source, file)?;
        compile(spec, source, file, kb)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Node ids in file order.
    pub fn node_ids(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.id.as_str())
    }

    pub(crate) fn node_index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// The handler table in effect at a node.
    pub(crate) fn handler(&self, node: Option<usize>, kind: HandlerKind) -> Option<&Handler> {
        let table = node
            .and_then(|n| self.nodes.get(n))
            .and_then(|n| n.handlers.as_deref())
            .unwrap_or(&self.handlers);
        table.get(kind.index())
    }

    pub(crate) fn label(&self, intent: &str) -> String {
        self.intent_labels
            .get(intent)
            .cloned()
            .unwrap_or_else(|| intent.to_string())
    }
}

fn read(path: &Path) -> Result<String, DialogError> {
    std::fs::read_to_string(path).map_err(|source| DialogError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Checks script text (e.g. from an editor in the console) and returns every
/// problem found; `file` names it in messages. The knowledge base is not loaded.
pub fn validate_source(source: &str, file: &str) -> Result<ValidationReport, DialogError> {
    let spec = parse_script(source, file)?;
    let mut c = Compiler::new(&spec, source, file);
    c.run(&spec);
    Ok(c.report)
}

/// Checks a script file and returns every problem found (file, line, node).
pub fn validate_file(script: &Path) -> Result<ValidationReport, DialogError> {
    let source = read(script)?;
    let file = script.display().to_string();
    let spec = parse_script(&source, &file)?;
    let mut c = Compiler::new(&spec, &source, &file);
    c.run(&spec);
    if let Some(rel) = &spec.knowledge {
        let p = script.parent().unwrap_or(Path::new(".")).join(rel);
        if let Err(e) = crate::kb::load_kb(&p) {
            c.error(
                c.lines.key("knowledge"),
                None,
                "knowledge",
                format!("知识库无法加载 knowledge base failed to load: {e}"),
            );
        }
    }
    Ok(c.report)
}

struct Compiler<'a> {
    file: String,
    lines: LineFinder<'a>,
    report: ValidationReport,
    ids: BTreeMap<String, usize>,
    vars: BTreeSet<String>,
    intents: BTreeSet<String>,
    next_site: u32,
    nodes: Vec<Node>,
    handlers: Vec<Handler>,
}

impl<'a> Compiler<'a> {
    fn new(spec: &ScriptSpec, source: &'a str, file: &str) -> Self {
        let mut vars: BTreeSet<String> = spec.variables.keys().cloned().collect();
        vars.extend(BUILTIN_VARS.iter().map(|s| s.to_string()));
        for n in &spec.nodes {
            for b in &n.branches {
                if let Some(s) = &b.slot {
                    vars.insert(s.clone());
                }
            }
            for a in n
                .actions
                .iter()
                .chain(n.branches.iter().flat_map(|b| b.actions.iter()))
            {
                if let ActionSpec::Set { slot, .. } = a {
                    vars.insert(slot.clone());
                }
            }
        }
        let mut intents: BTreeSet<String> = spec.intents.iter().map(|i| i.name.clone()).collect();
        for k in HandlerKind::ALL {
            if handler_intent(k).is_some() {
                intents.insert(k.name().to_string());
            }
        }
        Compiler {
            file: file.to_string(),
            lines: LineFinder::new(source),
            report: ValidationReport {
                file: file.to_string(),
                ..ValidationReport::default()
            },
            ids: BTreeMap::new(),
            vars,
            intents,
            next_site: 0,
            nodes: Vec::new(),
            handlers: Vec::new(),
        }
    }

    fn error(&mut self, line: usize, node: Option<&str>, kind: &str, message: String) {
        self.report.errors.push(Issue {
            file: self.file.clone(),
            line,
            node: node.map(str::to_string),
            kind: kind.to_string(),
            message,
        });
    }

    fn warn(&mut self, line: usize, node: Option<&str>, kind: &str, message: String) {
        self.report.warnings.push(Issue {
            file: self.file.clone(),
            line,
            node: node.map(str::to_string),
            kind: kind.to_string(),
            message,
        });
    }

    fn template(&mut self, text: &str, line: usize, node: Option<&str>) -> Template {
        let t = Template::parse(text);
        let unknown: Vec<String> = t
            .vars()
            .filter(|v| !self.vars.contains(*v))
            .map(str::to_string)
            .collect();
        for v in unknown {
            let l = self.lines.after(line, &format!("{{{{{v}"));
            self.error(
                l,
                node,
                "unknown_variable",
                format!("未知变量 unknown variable `{{{{{v}}}}}`：请在 variables 中声明，或检查拼写 (declare it under `variables:`)"),
            );
        }
        if text.matches("{{").count() != text.matches("}}").count() {
            self.error(
                line,
                node,
                "bad_template",
                format!("变量括号不匹配 unbalanced braces in `{text}`"),
            );
        }
        t
    }

    fn phrases(&mut self, p: &Phrasings, line: usize, node: Option<&str>) -> Phrases {
        let items = p.0.iter().map(|s| self.template(s, line, node)).collect();
        self.next_site += 1;
        Phrases {
            site: self.next_site,
            items,
        }
    }

    fn target(
        &mut self,
        target: &str,
        line: usize,
        node: Option<&str>,
        field: &str,
    ) -> Option<usize> {
        match self.ids.get(target) {
            Some(i) => Some(*i),
            None => {
                let l = self.lines.after(line, target);
                let known: Vec<&str> = self.ids.keys().map(String::as_str).collect();
                let hint = closest(target, &known)
                    .map(|c| format!("，是不是 `{c}`？ (did you mean `{c}`?)"))
                    .unwrap_or_default();
                self.error(
                    l,
                    node,
                    "unknown_target",
                    format!("{field} 指向不存在的节点 unknown target `{target}`{hint}"),
                );
                None
            }
        }
    }

    fn actions(&mut self, specs: &[ActionSpec], line: usize, node: Option<&str>) -> Vec<CAction> {
        specs
            .iter()
            .map(|a| match a {
                ActionSpec::Tag(t) => CAction::Tag(t.clone()),
                ActionSpec::Grade(g) => CAction::Grade(*g),
                ActionSpec::Webhook(w) => CAction::Webhook {
                    name: w.name.clone(),
                    url: w.url.clone(),
                    payload: w
                        .payload
                        .iter()
                        .map(|(k, v)| (k.clone(), self.template(v, line, node)))
                        .collect(),
                },
                ActionSpec::Sms(s) => CAction::Sms {
                    template: s.template.clone(),
                    to: self.template(s.to.as_deref().unwrap_or("{{phone}}"), line, node),
                    params: s
                        .params
                        .iter()
                        .map(|(k, v)| (k.clone(), self.template(v, line, node)))
                        .collect(),
                },
                ActionSpec::Set { slot, value } => CAction::Set {
                    slot: slot.clone(),
                    value: self.template(value, line, node),
                },
            })
            .collect()
    }

    /// Merges spec layers (built-in default, global, node) into one handler.
    fn handler(
        &mut self,
        kind: HandlerKind,
        layers: &[&HandlerSpec],
        line: usize,
        node: Option<&str>,
    ) -> Handler {
        let mut merged = default_handler(kind);
        for l in layers {
            if l.enabled.is_some() {
                merged.enabled = l.enabled;
            }
            if l.say.is_some() {
                merged.say = l.say.clone();
            }
            if l.close.is_some() {
                merged.close = l.close.clone();
            }
            if l.ask.is_some() {
                merged.ask = l.ask.clone();
            }
            if l.goto.is_some() {
                merged.goto = l.goto.clone();
            }
            if l.max.is_some() {
                merged.max = l.max;
            }
            if l.tag.is_some() {
                merged.tag = l.tag.clone();
            }
        }
        let goto = match &merged.goto {
            Some(g) => self.target(g, line, node, &format!("handlers.{}.goto", kind.name())),
            None => None,
        };
        Handler {
            enabled: merged.enabled.unwrap_or(true),
            say: self.phrases(&merged.say.unwrap_or_default(), line, node),
            close: self.phrases(&merged.close.unwrap_or_default(), line, node),
            ask: self.phrases(&merged.ask.unwrap_or_default(), line, node),
            goto,
            max: merged.max,
            tag: merged.tag,
        }
    }

    fn run(&mut self, spec: &ScriptSpec) {
        for (i, n) in spec.nodes.iter().enumerate() {
            if self.ids.insert(n.id.clone(), i).is_some() {
                let l = self.lines.node(&n.id);
                self.error(
                    l,
                    Some(&n.id),
                    "duplicate_node",
                    format!("节点 id 重复 duplicate node id `{}`", n.id),
                );
            }
        }
        if spec.nodes.is_empty() {
            self.error(
                self.lines.key("nodes"),
                None,
                "no_nodes",
                "话术没有任何节点 the script has no nodes".into(),
            );
        }
        let start_line = self.lines.key("start");
        self.target(&spec.start, start_line, None, "start");
        let hline = self.lines.key("handlers");
        let empty = HandlerSpec::default();
        for k in HandlerKind::ALL {
            let g = spec.handlers.get(&k).unwrap_or(&empty);
            let h = self.handler(k, &[g], hline, None);
            self.handlers.push(h);
        }
        if spec.settings.human_queue.is_none() {
            self.warn(
                self.lines.key("settings"),
                None,
                "no_human_queue",
                "未设置 settings.human_queue：转人工时将礼貌结束通话 no human queue: transfers become polite closes".into(),
            );
        }
        let intent_line = self.lines.key("intents");
        for i in &spec.intents {
            if i.examples.is_empty() && i.keywords.is_empty() && i.regex.is_empty() {
                let l = self.lines.after(intent_line, &i.name);
                self.error(l, None, "empty_intent", format!("意图 `{}` 没有例句、关键词或正则 intent has no examples, keywords or regex", i.name));
            }
        }
        for n in &spec.nodes {
            let node = self.node(spec, n);
            self.nodes.push(node);
        }
        self.graph_checks(spec);
        self.grading_checks(spec);
    }

    fn node(&mut self, spec: &ScriptSpec, n: &crate::script::NodeSpec) -> Node {
        let id = n.id.as_str();
        let line = self.lines.node(id);
        let say = self.phrases(&n.say, line, Some(id));
        let reprompt = match &n.reprompt {
            Some(r) => self.phrases(r, line, Some(id)),
            None => say.clone(),
        };
        let next = match &n.next {
            Some(t) => self.target(t, line, Some(id), "next"),
            None => None,
        };
        match n.kind {
            NodeKind::Say | NodeKind::Jump | NodeKind::Action if n.next.is_none() => {
                self.error(
                    line,
                    Some(id),
                    "missing_next",
                    "该类型节点需要 next 指定下一个节点 this node type needs `next`".into(),
                );
            }
            NodeKind::Ask | NodeKind::Say | NodeKind::Hangup
                if n.say.0.is_empty() && n.kind != NodeKind::Hangup =>
            {
                self.error(
                    line,
                    Some(id),
                    "missing_say",
                    "需要 say 话术内容 this node needs `say`".into(),
                );
            }
            NodeKind::Transfer if n.queue.is_none() && spec.settings.human_queue.is_none() => {
                self.error(
                    line,
                    Some(id),
                    "missing_queue",
                    "转人工节点需要 queue（或设置 settings.human_queue） transfer needs a queue"
                        .into(),
                );
            }
            _ => {}
        }
        if !n.options.is_empty() {
            if n.kind != NodeKind::Ask {
                self.error(
                    line,
                    Some(id),
                    "options_not_ask",
                    "只有 ask 节点可以有 options only ask nodes offer options".into(),
                );
            }
            if n.options.len() > MAX_OPTIONS {
                self.error(
                    line,
                    Some(id),
                    "too_many_options",
                    format!("options 最多 {MAX_OPTIONS} 个 at most {MAX_OPTIONS} options"),
                );
            }
            for o in &n.options {
                let chars = o.trim().chars().count();
                if chars == 0 || chars > MAX_OPTION_CHARS {
                    self.error(
                        self.lines.after(line, o),
                        Some(id),
                        "bad_option",
                        format!(
                            "选项应为 1 到 {MAX_OPTION_CHARS} 个字 an option is 1-{MAX_OPTION_CHARS} characters: `{o}`"
                        ),
                    );
                }
            }
        }
        if n.kind != NodeKind::Ask && !n.branches.is_empty() {
            self.error(
                line,
                Some(id),
                "branches_not_ask",
                "只有 ask 节点可以有 branches only ask nodes have branches".into(),
            );
        }
        let mut branches = Vec::new();
        // Branches appear in file order: each one's lines come after the previous one's.
        let mut cursor = line;
        for (bi, b) in n.branches.iter().enumerate() {
            let bstart = cursor;
            let bline = self.lines.after(bstart, &b.goto);
            cursor = bline + 1;
            let has_cond = b.intent.is_some()
                || !b.keywords.is_empty()
                || b.regex.is_some()
                || b.answer.is_some()
                || b.dtmf.is_some()
                || b.entity.is_some()
                || b.otherwise;
            if !has_cond {
                self.error(bline, Some(id), "empty_branch", format!("第{}个分支没有条件 branch {} has no condition (intent/keywords/regex/answer/dtmf/entity/otherwise)", bi + 1, bi + 1));
            }
            if let Some(intent) = &b.intent
                && !self.intents.contains(intent)
            {
                let l = self.lines.after(bstart, intent);
                let known: Vec<String> = self.intents.iter().cloned().collect();
                let known_ref: Vec<&str> = known.iter().map(String::as_str).collect();
                let hint = closest(intent, &known_ref)
                    .map(|c| format!("，是不是 `{c}`？"))
                    .unwrap_or_default();
                self.error(
                    l,
                    Some(id),
                    "unknown_intent",
                    format!("未定义的意图 unknown intent `{intent}`{hint}"),
                );
            }
            let regex = match &b.regex {
                Some(r) => match regex::Regex::new(r) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        let l = self.lines.after(bstart, "regex");
                        self.error(
                            l,
                            Some(id),
                            "bad_regex",
                            format!("正则表达式错误 invalid regex `{r}`: {e}"),
                        );
                        None
                    }
                },
                None => None,
            };
            if let Some(d) = &b.dtmf
                && !(d.chars().count() == 1
                    && d.chars()
                        .all(|c| c.is_ascii_digit() || c == '*' || c == '#'))
            {
                self.error(
                    bline,
                    Some(id),
                    "bad_dtmf",
                    format!("按键只能是 0-9、* 或 # dtmf must be one key, got `{d}`"),
                );
            }
            let goto = self.target(&b.goto, bline, Some(id), "goto");
            let say = self.phrases(&b.say, bline, Some(id));
            let actions = self.actions(&b.actions, bline, Some(id));
            branches.push(Branch {
                intent: b.intent.clone(),
                keywords: b
                    .keywords
                    .iter()
                    .map(|k| crate::time::squash(k))
                    .filter(|k| !k.is_empty())
                    .collect(),
                regex,
                answer: b.answer,
                dtmf: b.dtmf.clone(),
                entity: b.entity,
                slot: b.slot.clone(),
                min: b.min,
                max: b.max,
                otherwise: b.otherwise,
                say,
                actions,
                goto: goto.unwrap_or(0),
            });
        }
        let no_match = match &n.no_match {
            Some(t) => self.target(t, line, Some(id), "no_match"),
            None => None,
        };
        let actions = self.actions(&n.actions, line, Some(id));
        let handlers = if n.handlers.is_empty() {
            None
        } else {
            let empty = HandlerSpec::default();
            let mut table = Vec::new();
            for k in HandlerKind::ALL {
                let g = spec.handlers.get(&k).unwrap_or(&empty);
                let o = n.handlers.get(&k).unwrap_or(&empty);
                let h = self.handler(k, &[g, o], line, Some(id));
                table.push(h);
            }
            Some(table)
        };
        Node {
            id: n.id.clone(),
            kind: n.kind,
            say,
            reprompt,
            next,
            branches,
            no_match,
            max_no_match: n.max_no_match,
            barge_in: n.barge_in.unwrap_or(spec.settings.barge_in),
            timeout_ms: n.timeout_ms,
            queue: n.queue.clone(),
            reason: n.reason.clone(),
            actions,
            handlers,
            options: n.options.iter().map(|o| o.trim().to_string()).collect(),
        }
    }

    /// Grading rules that can never fire because of a typo in a tag or intent name,
    /// and intents no branch listens for.
    fn grading_checks(&mut self, spec: &ScriptSpec) {
        let mut tags: BTreeSet<&str> = BTreeSet::new();
        let node_actions = spec.nodes.iter().flat_map(|n| {
            n.actions
                .iter()
                .chain(n.branches.iter().flat_map(|b| b.actions.iter()))
        });
        for a in node_actions {
            if let ActionSpec::Tag(t) = a {
                tags.insert(t.as_str());
            }
        }
        let handler_specs = spec
            .handlers
            .values()
            .chain(spec.nodes.iter().flat_map(|n| n.handlers.values()));
        for h in handler_specs {
            if let Some(t) = &h.tag {
                tags.insert(t.as_str());
            }
        }
        let used_intents: BTreeSet<&str> = spec
            .nodes
            .iter()
            .flat_map(|n| n.branches.iter().filter_map(|b| b.intent.as_deref()))
            .collect();
        let gline = self.lines.key("grading");
        if let Some(g) = &spec.grading {
            for r in &g.rules {
                let w = &r.when;
                for t in w.tags_all.iter().chain(&w.tags_any).chain(&w.tags_none) {
                    if !tags.contains(t.as_str()) {
                        let l = self.lines.after(gline, t);
                        self.warn(l, None, "unknown_tag", format!("评级规则用到的标签 `{t}` 没有任何节点或处理设置过 grading uses tag `{t}` that nothing sets (typo?)"));
                    }
                }
                for i in w.intents_any.iter().chain(&w.intents_all) {
                    if !self.intents.contains(i) {
                        let l = self.lines.after(gline, i);
                        self.error(
                            l,
                            None,
                            "unknown_intent",
                            format!("评级规则用到未定义的意图 grading uses unknown intent `{i}`"),
                        );
                    }
                }
            }
        }
        let intent_line = self.lines.key("intents");
        let grading_intents: BTreeSet<&str> = spec
            .grading
            .iter()
            .flat_map(|g| {
                g.rules
                    .iter()
                    .flat_map(|r| r.when.intents_any.iter().chain(&r.when.intents_all))
            })
            .map(String::as_str)
            .collect();
        for i in &spec.intents {
            if !used_intents.contains(i.name.as_str()) && !grading_intents.contains(i.name.as_str())
            {
                let l = self.lines.after(intent_line, &i.name);
                self.warn(
                    l,
                    None,
                    "unused_intent",
                    format!(
                        "意图 `{}` 没有被任何分支或评级规则使用 intent is never used",
                        i.name
                    ),
                );
            }
        }
    }

    /// Unreachable nodes and loops that never wait for the caller.
    fn graph_checks(&mut self, spec: &ScriptSpec) {
        let Some(&start) = self.ids.get(&spec.start) else {
            return;
        };
        let edges = |n: &Node| -> Vec<usize> {
            let mut e: Vec<usize> = n.next.into_iter().collect();
            e.extend(n.branches.iter().map(|b| b.goto));
            e.extend(n.no_match);
            if let Some(h) = &n.handlers {
                e.extend(h.iter().filter_map(|h| h.goto));
            }
            e
        };
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![start];
        stack.extend(self.handlers.iter().filter_map(|h| h.goto));
        while let Some(i) = stack.pop() {
            if seen.get(i).copied().unwrap_or(true) {
                continue;
            }
            if let Some(s) = seen.get_mut(i) {
                *s = true;
            }
            if let Some(n) = self.nodes.get(i) {
                stack.extend(edges(n));
            }
        }
        let unreachable: Vec<String> = self
            .nodes
            .iter()
            .zip(&seen)
            .filter(|(_, s)| !**s)
            .map(|(n, _)| n.id.clone())
            .collect();
        for id in unreachable {
            let l = self.lines.node(&id);
            self.error(
                l,
                Some(&id),
                "unreachable",
                "从 start 出发无法到达该节点 node is unreachable from start; link it or delete it"
                    .into(),
            );
        }
        // Immediate edges: nodes that move on without waiting (say/jump/action).
        let immediate: Vec<Option<usize>> = self
            .nodes
            .iter()
            .map(|n| match n.kind {
                NodeKind::Say | NodeKind::Jump | NodeKind::Action => n.next,
                _ => None,
            })
            .collect();
        let mut reported: BTreeSet<usize> = BTreeSet::new();
        for s in 0..self.nodes.len() {
            let mut path = vec![s];
            let mut cur = s;
            while let Some(Some(nx)) = immediate.get(cur) {
                if let Some(pos) = path.iter().position(|p| p == nx) {
                    let cycle: Vec<usize> = path.get(pos..).map(|c| c.to_vec()).unwrap_or_default();
                    let min = cycle.iter().copied().min().unwrap_or(*nx);
                    if reported.insert(min) {
                        let names: Vec<String> = cycle
                            .iter()
                            .filter_map(|i| self.nodes.get(*i).map(|n| n.id.clone()))
                            .collect();
                        let first = names.first().cloned().unwrap_or_default();
                        let l = self.lines.node(&first);
                        self.error(
                            l,
                            Some(&first),
                            "loop_without_input",
                            format!("死循环：{} 之间循环跳转却从不等待客户说话 loop never waits for input; put an ask node in it", names.join(" → ")),
                        );
                    }
                    break;
                }
                path.push(*nx);
                cur = *nx;
                if path.len() > self.nodes.len() + 1 {
                    break;
                }
            }
        }
    }
}

/// The known name closest to a misspelt one (for "did you mean").
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let a: Vec<char> = name.chars().collect();
    known
        .iter()
        .map(|k| {
            let b: Vec<char> = k.chars().collect();
            (edit_distance(&a, &b), *k)
        })
        .filter(|(d, k)| *d <= 2.max(k.chars().count() / 3))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// At most this many knowledge-base questions join the intents' "none" class.
const MAX_KB_NONE_EXAMPLES: usize = 600;

/// Validates and compiles; errors become `DialogError::Invalid`.
pub(crate) fn compile(
    spec: ScriptSpec,
    source: &str,
    file: &str,
    kb: Option<Vec<nlu::FaqEntry>>,
) -> Result<Bot, DialogError> {
    let mut c = Compiler::new(&spec, source, file);
    c.run(&spec);
    if !c.report.errors.is_empty() {
        return Err(DialogError::Invalid(c.report));
    }
    // Intents: the script's own plus the handlers' built-in ones.
    let mut examples = Vec::new();
    let mut rules = Vec::new();
    let mut labels = BTreeMap::new();
    for i in &spec.intents {
        for e in &i.examples {
            examples.push(nlu::IntentExample {
                text: e.clone(),
                intent: Some(i.name.clone()),
            });
        }
        if !i.keywords.is_empty() || !i.regex.is_empty() {
            rules.push(nlu::IntentRule {
                intent: i.name.clone(),
                keywords: i.keywords.clone(),
                regex: i.regex.clone(),
                priority: 25,
            });
        }
        labels.insert(
            i.name.clone(),
            i.label.clone().unwrap_or_else(|| i.name.clone()),
        );
    }
    for k in HandlerKind::ALL {
        if let Some((kws, res, exs, prio)) = handler_intent(k) {
            let extra = spec.handlers.get(&k);
            let mut keywords: Vec<String> = kws.iter().map(|s| s.to_string()).collect();
            let mut exs: Vec<String> = exs.iter().map(|s| s.to_string()).collect();
            if let Some(x) = extra {
                keywords.extend(x.keywords.iter().cloned());
                exs.extend(x.examples.iter().cloned());
            }
            for e in exs {
                examples.push(nlu::IntentExample {
                    text: e,
                    intent: Some(k.name().to_string()),
                });
            }
            rules.push(nlu::IntentRule {
                intent: k.name().to_string(),
                keywords,
                regex: res.iter().map(|s| s.to_string()).collect(),
                priority: prio,
            });
        }
    }
    for n in NEUTRAL_EXAMPLES {
        examples.push(nlu::IntentExample {
            text: n.to_string(),
            intent: None,
        });
    }
    // The knowledge base's questions are by definition not handler or branch
    // intents: teaching them as "none" keeps a question like "你们几点开门"
    // from being forced into the nearest handler ("fraud") when a script has
    // few intents of its own. Bounded, so a large KB does not slow training.
    if let Some(entries) = &kb {
        let taken: std::collections::HashSet<&str> =
            examples.iter().map(|e| e.text.as_str()).collect();
        let questions: Vec<String> = entries
            .iter()
            .flat_map(|e| std::iter::once(&e.question).chain(e.similar.iter()))
            .filter(|q| !taken.contains(q.as_str()))
            .take(MAX_KB_NONE_EXAMPLES)
            .cloned()
            .collect();
        examples.extend(
            questions
                .into_iter()
                .map(|text| nlu::IntentExample { text, intent: None }),
        );
    }
    let model_err = |e: nlu::NluError| DialogError::Model {
        file: file.to_string(),
        message: e.to_string(),
    };
    // The script's own words keep product and place names whole in both models.
    let intent_config = nlu::IntentConfig {
        user_words: spec.words.clone(),
        ..nlu::IntentConfig::default()
    };
    let intents =
        nlu::IntentModel::train_with(&examples, &rules, &intent_config).map_err(model_err)?;
    let faq = match kb {
        Some(entries) if !entries.is_empty() => {
            let segmenter = nlu::Segmenter::with_user_words(spec.words.iter().cloned());
            Some(
                nlu::FaqIndex::build_with(entries, nlu::FaqConfig::default(), segmenter)
                    .map_err(model_err)?,
            )
        }
        _ => None,
    };
    let version = match &spec.version {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "0".to_string(),
    };
    Ok(Bot {
        name: spec.name.clone(),
        version,
        nodes: c.nodes,
        start: c.ids.get(&spec.start).copied().unwrap_or(0),
        settings: spec.settings.clone(),
        handlers: c.handlers,
        intents,
        intent_labels: labels,
        faq,
        emotion: nlu::EmotionModel::default_model(),
        grading: spec.grading.clone(),
        defaults: spec.variables.clone(),
    })
}
