//! Hosting conversations with the conversation core.
//!
//! A bot is a script version plus (optionally) a knowledge-base version, both
//! stored as documents. Compiling one (training intents, indexing the FAQ) is
//! expensive, so compiled bots are cached by document ids; documents are
//! immutable, so a cached bot never goes stale.
//!
//! A conversation's engine state is never stored: it is whatever replaying the
//! conversation's `event.*` log entries through its bot gives (the core is
//! deterministic). A cache keeps live states in memory; a miss, a restart or
//! another node simply replays. Each turn appends the event and the actions it
//! caused in one transaction before the caller hears the answer, so what a
//! customer was told is always in the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dialog::{Action, Bot, Event, EventKind, Start, State, WallTime};
use serde::{Deserialize, Serialize};
use store::{Conversation, Document, Store};

use crate::error::ApiError;

/// Log kinds with these prefixes belong to the engine; the generic append
/// endpoint refuses them so nothing can corrupt a replay.
pub const EVENT_PREFIX: &str = "event.";
pub const ACTION_PREFIX: &str = "action.";

/// Keep at most this many live states in memory (replay refills it).
const MAX_CACHED_STATES: usize = 50_000;

/// Keep at most this many compiled bots; every upload is a new version, and
/// old versions are only needed again by old conversations (recompiled then).
const MAX_COMPILED_BOTS: usize = 64;

/// Which documents a conversation runs on; stored in its metadata.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Binding {
    pub script: String,
    pub script_version: i64,
    pub script_id: String,
    #[serde(default)]
    pub knowledge_base: Option<String>,
    #[serde(default)]
    pub knowledge_base_version: Option<i64>,
    #[serde(default)]
    pub knowledge_base_id: Option<String>,
}

impl Binding {
    pub fn of(conversation: &Conversation) -> Option<Binding> {
        serde_json::from_value(conversation.metadata.get("bot")?.clone()).ok()
    }
}

type StateSlot = Arc<tokio::sync::Mutex<Option<State>>>;

/// Compiled bots by (script document id, knowledge-base document id).
/// One cell per key: concurrent first users wait for one compilation
/// instead of each compiling (a restart under load would otherwise compile
/// the same bot hundreds of times at once — hundreds of MB, for nothing).
type CompiledBots = HashMap<(String, Option<String>), Arc<tokio::sync::OnceCell<Arc<Bot>>>>;

#[derive(Default)]
pub struct Bots {
    compiled: Mutex<CompiledBots>,
    states: Mutex<HashMap<String, StateSlot>>,
    /// Bots compiled since start (a compile is tens of ms and MBs).
    compilations: std::sync::atomic::AtomicUsize,
    /// Wake-ups for live readers of a conversation (app streams, consoles):
    /// the highest sequence number committed on this node. Only a hint to
    /// read the log again: the log itself is what they send.
    live: Mutex<HashMap<String, tokio::sync::watch::Sender<i64>>>,
}

/// Live readers' entries are swept when the map reaches this size (and
/// every doubling after it): readers that left, on conversations that went
/// quiet, are not kept forever.
const LIVE_SWEEP_AT: usize = 1024;

/// The result of one turn, for the caller.
#[derive(Debug, Serialize)]
pub struct TurnResult {
    pub actions: Vec<Action>,
    pub state: StateSummary,
    /// Log sequence number of the event; its actions follow it in order.
    pub first_seq: i64,
}

#[derive(Debug, Serialize)]
pub struct StateSummary {
    pub phase: dialog::Phase,
    pub node: Option<String>,
    pub ended: bool,
    pub grade: Option<dialog::Grade>,
    pub tags: Vec<String>,
}

impl StateSummary {
    fn of(s: &State) -> Self {
        StateSummary {
            phase: s.phase,
            node: s.node.clone(),
            ended: s.is_ended(),
            grade: s.grade,
            tags: s.tags.clone(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these maps leaves plain data behind; go on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The log kind of an engine event or action: `event.user_said`, `action.say`.
pub fn kind_of(prefix: &str, value: &serde_json::Value) -> String {
    let tag = value
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("unknown");
    format!("{prefix}{tag}")
}

/// Why a script or knowledge base was refused, with the issues found.
pub fn invalid_document(err: &dialog::DialogError) -> ApiError {
    let details = match err {
        dialog::DialogError::Invalid(report) => {
            serde_json::to_value(&report.errors).unwrap_or_default()
        }
        other => serde_json::json!([{ "message": other.to_string() }]),
    };
    let mut e = ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "invalid_document",
        format!("文件校验未通过：{err}"),
        format!("the document did not validate: {err}"),
    );
    e.details = Some(Box::new(details));
    e
}

/// The knowledge base a script names with `knowledge: path/to/name.yaml`,
/// resolved to the document called `name`.
pub fn referenced_knowledge_base(script_source: &str, file: &str) -> Option<String> {
    let spec = dialog::script::parse_script(script_source, file).ok()?;
    let path = spec.knowledge?;
    std::path::Path::new(&path)
        .file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
}

/// Compiles a script (with its knowledge base) off the async workers.
pub async fn compile(script: &Document, kb: Option<&Document>) -> Result<Bot, ApiError> {
    let source = script.source.clone();
    let file = format!("{}@v{}", script.name, script.version);
    let kb = kb.map(|k| (k.source.clone(), format!("{}@v{}", k.name, k.version)));
    crate::routes::blocking(move || {
        let entries = match kb {
            Some((src, name)) => Some(dialog::kb::parse_kb(&src, &name)?),
            None => None,
        };
        Bot::from_source(&source, &file, entries)
    })
    .await?
    .map_err(|e| invalid_document(&e))
}

/// Checks a knowledge base: it parses and its index builds. Returns the
/// number of entries.
pub async fn check_knowledge_base(name: &str, source: &str) -> Result<usize, ApiError> {
    let (source, name) = (source.to_string(), name.to_string());
    crate::routes::blocking(move || {
        let entries = dialog::kb::parse_kb(&source, &name)?;
        let n = entries.len();
        nlu::FaqIndex::build(entries).map_err(|e| dialog::DialogError::Model {
            file: name,
            message: e.to_string(),
        })?;
        Ok::<_, dialog::DialogError>(n)
    })
    .await?
    .map_err(|e| invalid_document(&e))
}

impl Bots {
    /// The compiled bot for a binding, compiling it on first use.
    pub async fn bot(
        &self,
        store: &Store,
        tenant_id: &str,
        binding: &Binding,
    ) -> Result<Arc<Bot>, ApiError> {
        let key = (binding.script_id.clone(), binding.knowledge_base_id.clone());
        let cell = {
            let mut compiled = lock(&self.compiled);
            if compiled.len() >= MAX_COMPILED_BOTS && !compiled.contains_key(&key) {
                // Bots in use are kept alive by their callers' Arcs.
                compiled.clear();
            }
            compiled.entry(key).or_default().clone()
        };
        let bot = cell
            .get_or_try_init(|| async {
                let script = store
                    .document_by_id(tenant_id, &binding.script_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("话术版本", "script version"))?;
                let kb = match &binding.knowledge_base_id {
                    Some(id) => {
                        Some(store.document_by_id(tenant_id, id).await?.ok_or_else(|| {
                            ApiError::not_found("知识库版本", "knowledge base version")
                        })?)
                    }
                    None => None,
                };
                self.compilations
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics::counter!("tonghua_bot_compilations_total").increment(1);
                Ok::<_, ApiError>(Arc::new(compile(&script, kb.as_ref()).await?))
            })
            .await?;
        Ok(bot.clone())
    }

    /// How many bots were compiled since start.
    pub fn compilations(&self) -> usize {
        self.compilations.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn slot(&self, conversation_id: &str) -> StateSlot {
        let mut states = lock(&self.states);
        if states.len() >= MAX_CACHED_STATES {
            // Dropping cached states is always safe: they are rebuilt by replay.
            states.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        states
            .entry(conversation_id.to_string())
            .or_default()
            .clone()
    }

    fn forget(&self, conversation_id: &str) {
        lock(&self.states).remove(conversation_id);
    }

    /// Rebuilds a conversation's state from its log.
    async fn replay(
        &self,
        store: &Store,
        conversation: &Conversation,
        bot: &Bot,
    ) -> Result<State, ApiError> {
        let records = store
            .events(&conversation.tenant_id, &conversation.id, 0, i64::MAX)
            .await?
            .ok_or_else(|| ApiError::not_found("会话", "conversation"))?;
        let mut state = bot.new_state();
        for r in records.iter().filter(|r| r.kind.starts_with(EVENT_PREFIX)) {
            let event: Event = serde_json::from_value(r.payload.clone()).map_err(|e| {
                tracing::error!(conversation = %conversation.id, seq = r.seq, error = %e, "unreadable engine event in log");
                ApiError::internal()
            })?;
            bot.handle(&mut state, &event);
        }
        Ok(state)
    }

    /// A receiver that changes whenever entries are committed to the
    /// conversation's log on this node.
    pub fn subscribe(&self, conversation_id: &str) -> tokio::sync::watch::Receiver<i64> {
        let mut live = lock(&self.live);
        if live.len() >= LIVE_SWEEP_AT && live.len().is_power_of_two() {
            live.retain(|_, tx| tx.receiver_count() > 0);
        }
        live.entry(conversation_id.to_string())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe()
    }

    /// Tells live readers that the log now reaches `seq`.
    pub fn committed(&self, conversation_id: &str, seq: i64) {
        let mut live = lock(&self.live);
        if let Some(tx) = live.get(conversation_id) {
            if tx.receiver_count() == 0 {
                live.remove(conversation_id);
            } else {
                tx.send_replace(seq);
            }
        }
    }

    /// Runs one event through the conversation's bot: logs the event and the
    /// actions it caused (one transaction), then returns them.
    pub async fn turn(
        &self,
        store: &Store,
        conversation: &Conversation,
        bot: &Bot,
        event: Event,
        now_ms: i64,
    ) -> Result<TurnResult, ApiError> {
        // Without a delivery key nothing can be a duplicate.
        self.turn_once(store, conversation, bot, event, None, now_ms)
            .await?
            .ok_or_else(ApiError::internal)
    }

    /// As [`Bots::turn`], recording the channel delivery `(channel id, key)`
    /// in the same commit; `None` when that delivery was handled before
    /// (nothing is logged and the state stays as it was).
    pub async fn turn_once(
        &self,
        store: &Store,
        conversation: &Conversation,
        bot: &Bot,
        event: Event,
        delivery: Option<(&str, &str)>,
        now_ms: i64,
    ) -> Result<Option<TurnResult>, ApiError> {
        let slot = self.slot(&conversation.id);
        let mut guard = slot.lock().await;
        let mut state = match guard.take() {
            Some(s) => s,
            None => self.replay(store, conversation, bot).await?,
        };
        let starting = matches!(
            event.kind,
            EventKind::ConversationStarted(_) | EventKind::CallAnswered(_)
        );
        if state.is_ended() && !starting {
            *guard = Some(state);
            return Err(ApiError::conflict(
                "会话已结束",
                "the conversation has ended",
            ));
        }
        let before = state.clone();
        let actions = bot.handle(&mut state, &event);
        let event_json = serde_json::to_value(&event).map_err(|_| ApiError::internal())?;
        let mut entries = vec![(kind_of(EVENT_PREFIX, &event_json), event_json)];
        for a in &actions {
            let json = serde_json::to_value(a).map_err(|_| ApiError::internal())?;
            entries.push((kind_of(ACTION_PREFIX, &json), json));
        }
        let phase = serde_json::to_value(state.phase).ok();
        let appended = store
            .append_turn(
                &conversation.tenant_id,
                &conversation.id,
                &entries,
                delivery,
                phase.as_ref().and_then(|p| p.as_str()),
                now_ms,
            )
            .await;
        let first_seq = match appended {
            Ok(store::Appended::Records(records)) => {
                if let Some(last) = records.last() {
                    self.committed(&conversation.id, last.seq);
                }
                records.first().map(|r| r.seq).unwrap_or(0)
            }
            Ok(store::Appended::Duplicate) => {
                *guard = Some(before);
                return Ok(None);
            }
            Ok(store::Appended::NoConversation) => {
                *guard = Some(before);
                return Err(ApiError::not_found("会话", "conversation"));
            }
            Err(e) => {
                // Not logged, so it did not happen: keep the state from before.
                *guard = Some(before);
                return Err(e.into());
            }
        };
        // "别再打了": the engine asks for the number to go on the tenant's
        // do-not-call list, which every campaign obeys. The request is in the
        // log already; a failure here is logged, not the turn's failure.
        for a in &actions {
            if let Action::AddToDoNotCall { phone } = a
                && let Ok(number) = phone::normalize(phone)
            {
                let reason = format!("asked in conversation {}", conversation.id);
                if let Err(e) = store
                    .add_dnc(
                        Some(&conversation.tenant_id),
                        &number,
                        "conversation",
                        Some(&reason),
                        now_ms,
                    )
                    .await
                {
                    tracing::error!(error = %e, conversation = %conversation.id, "could not add a number to the do-not-call list");
                }
            }
        }
        let summary = StateSummary::of(&state);
        if state.is_ended() {
            drop(guard);
            self.forget(&conversation.id);
        } else {
            *guard = Some(state);
        }
        metrics::counter!("tonghua_engine_turns_total").increment(1);
        Ok(Some(TurnResult {
            actions,
            state: summary,
            first_seq,
        }))
    }
}

/// Resolves the documents a new conversation will run on.
pub async fn resolve_binding(
    state: &crate::state::AppState,
    tenant_id: &str,
    script: &str,
    kb: Option<&str>,
) -> Result<Binding, ApiError> {
    resolve_binding_at(state, tenant_id, script, None, kb).await
}

/// [`resolve_binding`] at a given script version (`None`: the latest), so a
/// campaign keeps running the version it was created with.
pub async fn resolve_binding_at(
    state: &crate::state::AppState,
    tenant_id: &str,
    script: &str,
    script_version: Option<i64>,
    kb: Option<&str>,
) -> Result<Binding, ApiError> {
    let store = state.store();
    let script_doc = store
        .document(
            tenant_id,
            store::DocumentKind::Script,
            script,
            script_version,
        )
        .await?
        .ok_or_else(|| match script_version {
            Some(v) => ApiError::not_found(
                &format!("话术 {script} 第 {v} 版"),
                &format!("script {script} version {v}"),
            ),
            None => ApiError::not_found(&format!("话术 {script} "), &format!("script {script}")),
        })?;
    let kb_name = match kb {
        Some(k) => Some(k.to_string()),
        None => referenced_knowledge_base(&script_doc.source, script),
    };
    let kb_doc = match &kb_name {
        Some(name) => Some(store.document(tenant_id, store::DocumentKind::KnowledgeBase, name, None).await?.ok_or_else(|| {
            ApiError::bad_request(
                format!("话术引用的知识库 {name} 尚未上传"),
                format!("knowledge base {name} (named by the script or the request) is not uploaded"),
            )
        })?),
        None => None,
    };
    Ok(Binding {
        script: script_doc.name,
        script_version: script_doc.version,
        script_id: script_doc.id,
        knowledge_base: kb_doc.as_ref().map(|k| k.name.clone()),
        knowledge_base_version: kb_doc.as_ref().map(|k| k.version),
        knowledge_base_id: kb_doc.map(|k| k.id),
    })
}

/// A conversation to start with a script, from any channel.
pub struct NewHosted<'a> {
    pub tenant_id: &'a str,
    pub channel: &'a str,
    pub external_ref: Option<&'a str>,
    /// Extra metadata (an object); the binding is added under `bot`.
    pub metadata: serde_json::Value,
    pub script: &'a str,
    pub knowledge_base: Option<&'a str>,
    pub contact: std::collections::BTreeMap<String, String>,
    pub humans_available: bool,
    /// The channel's words for "no human can take over now" (else the script's).
    pub offline_message: Option<String>,
    /// How the channel recognises the customer, if it can.
    pub identity: Option<(store::IdentityKind, String)>,
}

/// Creates a conversation hosted by a script and runs its start: the one
/// path every channel uses, so they all log the same way.
pub async fn start_hosted(
    state: &crate::state::AppState,
    new: NewHosted<'_>,
) -> Result<(Conversation, TurnResult), ApiError> {
    let (conversation, turn) = start_hosted_once(state, new, None).await?;
    Ok((conversation, turn.ok_or_else(ApiError::internal)?))
}

/// What every hosted turn is followed by, on every channel: a transfer
/// puts the conversation in a human queue.
async fn after_turn(
    state: &crate::state::AppState,
    conversation: &Conversation,
    turn: Option<&TurnResult>,
) {
    if let Some(turn) = turn {
        // Boxed: routing may run another conversation's turn (agent_joined).
        Box::pin(crate::routes::handoffs::after_turn(
            state,
            conversation,
            turn,
        ))
        .await;
        crate::timers::schedule(state, conversation, &turn.actions);
    }
}

/// As [`start_hosted`], recording the channel delivery that started it in
/// the start turn's commit; the turn is `None` when that delivery was
/// handled before (the conversation is then left without events: callers
/// check [`store::Store::delivery_seen`] first, so only a concurrent
/// duplicate gets that far).
pub async fn start_hosted_once(
    state: &crate::state::AppState,
    new: NewHosted<'_>,
    delivery: Option<(&str, &str)>,
) -> Result<(Conversation, Option<TurnResult>), ApiError> {
    let binding = resolve_binding(state, new.tenant_id, new.script, new.knowledge_base).await?;
    // Compile (or fetch) before creating anything, so a broken bot leaves no
    // half-made conversation behind.
    let bot = state
        .bots()
        .bot(state.store(), new.tenant_id, &binding)
        .await?;
    let mut metadata = new.metadata;
    metadata["bot"] = serde_json::to_value(&binding).map_err(|_| ApiError::internal())?;
    let conversation = state
        .store()
        .create_conversation(
            store::NewConversation {
                tenant_id: new.tenant_id,
                channel: new.channel,
                external_ref: new.external_ref,
                metadata: &metadata,
            },
            state.now_ms(),
        )
        .await?;
    let conversation = attach_customer(state, conversation, new.identity).await?;
    let mut start = start_event(new.contact, state.wall_time(), new.humans_available);
    if let EventKind::ConversationStarted(s) = &mut start.kind {
        s.offline_message = new.offline_message;
    }
    let turn = state
        .bots()
        .turn_once(
            state.store(),
            &conversation,
            &bot,
            start,
            delivery,
            state.now_ms(),
        )
        .await?;
    after_turn(state, &conversation, turn.as_ref()).await;
    Ok((conversation, turn))
}

/// Records who the conversation is with, when the channel knows.
pub async fn attach_customer(
    state: &crate::state::AppState,
    mut conversation: Conversation,
    identity: Option<(store::IdentityKind, String)>,
) -> Result<Conversation, ApiError> {
    if let Some((kind, value)) = identity {
        let customer = state
            .store()
            .customer_for(&conversation.tenant_id, kind, &value, state.now_ms())
            .await?;
        state
            .store()
            .set_conversation_customer(&conversation.tenant_id, &conversation.id, &customer.id)
            .await?;
        conversation.customer_id = Some(customer.id);
    }
    Ok(conversation)
}

/// Sends one event to an existing hosted conversation.
pub async fn continue_hosted(
    state: &crate::state::AppState,
    conversation: &Conversation,
    kind: EventKind,
) -> Result<TurnResult, ApiError> {
    continue_hosted_once(state, conversation, kind, None)
        .await?
        .ok_or_else(ApiError::internal)
}

/// As [`continue_hosted`], acting on a channel delivery once: `None` when
/// `(channel id, key)` was handled before.
pub async fn continue_hosted_once(
    state: &crate::state::AppState,
    conversation: &Conversation,
    kind: EventKind,
    delivery: Option<(&str, &str)>,
) -> Result<Option<TurnResult>, ApiError> {
    let binding = Binding::of(conversation).ok_or_else(|| {
        ApiError::conflict(
            "该会话没有绑定话术，不能由机器人应答；创建会话时请指定 script",
            "this conversation has no script, so no robot answers it; give a script when creating it",
        )
    })?;
    let bot = state
        .bots()
        .bot(state.store(), &conversation.tenant_id, &binding)
        .await?;
    let now = state.now_ms();
    let at_ms = u64::try_from(now - conversation.created_at).unwrap_or(0);
    let turn = state
        .bots()
        .turn_once(
            state.store(),
            conversation,
            &bot,
            Event::new(at_ms, kind),
            delivery,
            now,
        )
        .await?;
    after_turn(state, conversation, turn.as_ref()).await;
    Ok(turn)
}

/// The texts the robot says in these actions, in order.
pub fn said(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Say { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The wall-clock reference for the engine, in the deployment's time zone.
pub fn wall_time(now_ms: i64, offset_minutes: i32) -> WallTime {
    let local = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(
            time::UtcOffset::from_whole_seconds(offset_minutes * 60)
                .unwrap_or(time::UtcOffset::UTC),
        );
    WallTime {
        year: local.year(),
        month: u32::from(u8::from(local.month())),
        day: u32::from(local.day()),
        hour: u32::from(local.hour()),
        minute: u32::from(local.minute()),
        weekday: u32::from(local.weekday().number_from_monday()),
    }
}

/// The start event of a text conversation.
pub fn start_event(
    contact: std::collections::BTreeMap<String, String>,
    now: WallTime,
    humans_available: bool,
) -> Event {
    Event::new(
        0,
        EventKind::ConversationStarted(Start {
            contact,
            now,
            humans_available,
            offline_message: None,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_time_uses_the_offset() {
        // 2026-11-24 03:00 UTC is 11:00 in Beijing, a Tuesday.
        let ms = 1_795_489_200_000;
        let w = wall_time(ms, 480);
        assert_eq!(
            (w.year, w.month, w.day, w.hour, w.minute, w.weekday),
            (2026, 11, 24, 11, 0, 2)
        );
        let utc = wall_time(ms, 0);
        assert_eq!(utc.hour, 3);
    }

    /// The first burst of conversations after a start compiles the bot once.
    #[tokio::test]
    async fn concurrent_first_uses_compile_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        let tenant = store.create_tenant("t", "T", 1).await.expect("tenant").id;
        let source = "name: x\nstart: a\nnodes:\n  - id: a\n    type: ask\n    say: 你好\n    branches:\n      - otherwise: true\n        goto: a\n";
        let (doc, _) = store
            .put_document(&tenant, store::DocumentKind::Script, "x", source, None, 1)
            .await
            .expect("doc");
        let binding = Binding {
            script: doc.name.clone(),
            script_version: doc.version,
            script_id: doc.id.clone(),
            knowledge_base: None,
            knowledge_base_version: None,
            knowledge_base_id: None,
        };
        let bots = Bots::default();
        let firsts = (0..16).map(|_| bots.bot(&store, &tenant, &binding));
        let compiled = futures_util::future::join_all(firsts).await;
        assert!(compiled.iter().all(|b| b.is_ok()));
        assert_eq!(bots.compilations(), 1);
        let a = compiled[0].as_ref().expect("bot");
        let b = compiled[15].as_ref().expect("bot");
        assert!(Arc::ptr_eq(a, b), "one shared bot");
    }

    #[test]
    fn knowledge_reference_resolves_to_the_file_stem() {
        let src = "name: x\nstart: a\nknowledge: ../kb/home-faq.yaml\nnodes:\n  - id: a\n    type: hangup\n    say: 再见\n";
        assert_eq!(
            referenced_knowledge_base(src, "x").as_deref(),
            Some("home-faq")
        );
        assert_eq!(
            referenced_knowledge_base("name: x\nstart: a\nnodes: []\n", "x"),
            None
        );
    }
}
