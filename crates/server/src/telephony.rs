//! The phone channel: binds the SIP user agent (`sip`) and the call loop
//! (`call`) to hosted conversations and their event log.
//!
//! An inbound INVITE is routed by the dialled number to the trunk that lists
//! it (managed in the database, [`crate::trunks`]), else to a configured
//! hotline (tenant, script, knowledge base), else to
//! `telephony.default_script`; the
//! conversation is created (channel `phone`, external reference = Call-ID,
//! metadata with caller, dialled number and recording path), the call is
//! answered, and [`call::driver::run`] drives it with a [`HostedBrain`]: every
//! core event and action goes through [`crate::bots::Bots::turn`] (one
//! transaction per turn, as for every channel), and the call's own events
//! (`call.answered`, `call.utterance`, `call.barge_in`, `call.dtmf`,
//! `call.ended`, ...) are appended as they happen.
//!
//! Outbound calls go through [`Telephony::originate`]: the campaign dialer's
//! entry point, returning an [`sip::CallOutcome`], through the trunk it
//! names (one of the database's, or the configured one) and within that
//! trunk's line limit. Trunks asking for it are kept registered with their
//! carrier; the registration tasks follow edits made in the console.
//!
//! A call the core transfers is taken to a person by
//! [`crate::voice_handoff`] (agents' registered phones, or a configured target
//! in `bridge` mode) through [`HostedBrain`]'s `handoff`; REGISTERs from
//! agents' phones are answered by [`crate::phones`]; a live call's audio can
//! be listened to ([`Telephony::listen`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use call::{DriverConfig, Engines, MediaParams};
use dialog::{Action, Bot, Event, EventKind, Start};
use serde_json::json;
use sip::sdp::{self, Codec};
use sip::{Agent, AgentConfig, CallOutcome, Credentials, IncomingCall, Originate};
use store::Conversation;

use crate::bots::Binding;
use crate::state::AppState;

/// Channel name of phone conversations.
pub const CHANNEL: &str = "phone";

/// The running phone channel.
#[derive(Clone)]
pub struct Telephony {
    agent: Agent,
    state: AppState,
    engines: Engines,
    active: Arc<std::sync::atomic::AtomicUsize>,
    registrations: crate::trunks::Registrations,
    lines: crate::trunks::TrunkLines,
    /// Woken when a trunk is created, edited or deleted.
    trunks_changed: Arc<tokio::sync::Notify>,
    /// Live calls' audio for listening in: conversation id → the mix.
    taps: Arc<std::sync::Mutex<std::collections::HashMap<String, Tap>>>,
}

/// The key of the configured trunk in the registration and line maps
/// (database trunks use their channel id, a UUID).
const CONFIG_TRUNK: &str = "config";

/// The trunk an outbound call goes through.
#[derive(Debug, Clone, PartialEq)]
pub struct Trunk {
    /// Channel id of a database trunk, or `config`.
    pub key: String,
    pub config: crate::config::TrunkConfig,
    /// Calls at once the carrier allows; `None`: only `telephony.max_calls`.
    pub max_calls: Option<u32>,
    /// The number shown when the call does not set one.
    pub caller_id: Option<String>,
}

/// A call's mixed audio, 20 ms frames of 8 kHz 16-bit samples.
pub type Tap = tokio::sync::broadcast::Sender<Arc<[i16]>>;

/// Counts a call in progress for as long as it lives.
struct ActiveCall(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Telephony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telephony")
            .field("sip", &self.agent.local_addr())
            .finish()
    }
}

/// Which script answers a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub tenant: String,
    pub script: String,
    pub knowledge_base: Option<String>,
}

/// The hotline for a dialled number, else the default script, else none.
pub fn route(config: &crate::config::TelephonyConfig, dialled: &str) -> Option<Route> {
    if let Some(h) = config.hotlines.iter().find(|h| h.number == dialled) {
        return Some(Route {
            tenant: h.tenant.clone().unwrap_or_else(|| config.tenant.clone()),
            script: h.script.clone(),
            knowledge_base: h.knowledge_base.clone(),
        });
    }
    (!config.default_script.is_empty()).then(|| Route {
        tenant: config.tenant.clone(),
        script: config.default_script.clone(),
        knowledge_base: None,
    })
}

/// How an outbound call should be conducted.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The number to call (user part at the trunk) or a full `sip:` URI.
    pub number: String,
    pub route: Route,
    /// CRM fields for the script's variables.
    pub contact: BTreeMap<String, String>,
}

/// The result of an outbound attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResult {
    pub outcome: CallOutcome,
    /// The final SIP status, when one arrived.
    pub status: Option<u16>,
    /// The conversation, when the call was answered.
    pub conversation_id: Option<String>,
    pub detail: String,
}

/// What the campaign dialer adds to an [`OutboundRequest`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboundOptions {
    /// Run this version of the route's script (a campaign keeps the version
    /// it was created with); `None`: the latest.
    pub script_version: Option<i64>,
    /// The number to present as the `From` user instead of the trunk's user.
    pub caller_id: Option<String>,
    /// The trunk to call through; `None`: the configured one.
    pub trunk: Option<Trunk>,
}

/// How an answered outbound call ended.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEnd {
    pub summary: call::CallSummary,
    /// Where the stereo recording was written, when recording is on.
    pub recording: Option<PathBuf>,
}

impl Telephony {
    /// Starts the user agent on `config.sip` and answers calls.
    pub async fn start(state: AppState, engines: Engines) -> std::io::Result<Telephony> {
        let config = state.config().clone();
        let mut agent_config = AgentConfig::new(config.sip);
        agent_config.advertise = config.telephony.advertise;
        // Agents' phones register here (crate::phones).
        let (registrations, mut register_requests) = tokio::sync::mpsc::channel(256);
        agent_config.registrations = Some(registrations);
        agent_config.tls = config.telephony.tls.agent_config(config.sip.ip());
        let (agent, mut incoming) = Agent::start(agent_config).await?;
        {
            let state = state.clone();
            tokio::spawn(async move {
                while let Some(request) = register_requests.recv().await {
                    let state = state.clone();
                    tokio::spawn(async move { crate::phones::handle(&state, request).await });
                }
            });
        }
        let t = Telephony {
            agent,
            state,
            engines,
            active: Arc::default(),
            registrations: Default::default(),
            lines: Default::default(),
            trunks_changed: Arc::default(),
            taps: Arc::default(),
        };
        let me = t.clone();
        tokio::spawn(async move {
            while let Some(call) = incoming.recv().await {
                let me = me.clone();
                tokio::spawn(async move { me.inbound(call).await });
            }
        });
        if !config.telephony.media_only {
            let me = t.clone();
            tokio::spawn(async move { me.warm_prompts().await });
        }
        if config.telephony.trunk.register && !config.telephony.trunk.host.is_empty() {
            let me = t.clone();
            let trunk = config.telephony.trunk.clone();
            tokio::spawn(async move { me.keep_registered(CONFIG_TRUNK.into(), trunk).await });
        }
        let me = t.clone();
        tokio::spawn(async move { me.supervise_registrations().await });
        tracing::info!(sip = %t.agent.local_addr(), "telephony is listening (UDP and TCP)");
        Ok(t)
    }

    /// The SIP address peers reach us at.
    pub fn local_addr(&self) -> SocketAddr {
        self.agent.local_addr()
    }

    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Renders the fixed prompts of every routed script (and its knowledge
    /// base's answers) into the TTS cache in the background, so calls play
    /// them at once. Lines with `{{variables}}` depend on the caller and are
    /// rendered on first use.
    async fn warm_prompts(self) {
        let config = self.state.config().telephony.clone();
        let mut routes: Vec<Route> = config
            .hotlines
            .iter()
            .filter_map(|h| route(&config, &h.number))
            .collect();
        routes.extend(route(&config, "\u{0}"));
        let mut texts: Vec<String> = Vec::new();
        for r in routes {
            let store = self.state.store();
            let Ok(Some(tenant)) = store.tenant_by_slug(&r.tenant).await else {
                continue;
            };
            let Ok(binding) = crate::bots::resolve_binding(
                &self.state,
                &tenant.id,
                &r.script,
                r.knowledge_base.as_deref(),
            )
            .await
            else {
                continue;
            };
            if let Ok(Some(doc)) = store.document_by_id(&tenant.id, &binding.script_id).await
                && let Ok(spec) = dialog::script::parse_script(&doc.source, &doc.name)
                && let Ok(json) = serde_json::to_value(&spec)
            {
                collect_lines(&json, false, &mut texts);
            }
            if let Some(kb_id) = &binding.knowledge_base_id
                && let Ok(Some(doc)) = store.document_by_id(&tenant.id, kb_id).await
                && let Ok(entries) = dialog::kb::parse_kb(&doc.source, &doc.name)
            {
                texts.extend(entries.into_iter().map(|e| e.answer));
            }
        }
        texts.retain(|t| !t.contains("{{") && !t.trim().is_empty());
        texts.sort();
        texts.dedup();
        let engines = self.engines.clone();
        let n = texts.len();
        let result = tokio::task::spawn_blocking(move || {
            let mut rendered = 0;
            for text in texts {
                let mut request = voice::TtsRequest::new(text);
                if let Some(v) = &engines.voice {
                    request = request.voice(v.clone());
                }
                // One prompt at a time, so calls are not kept waiting for the lock.
                let mut tts = match engines.tts.lock() {
                    Ok(t) => t,
                    Err(p) => p.into_inner(),
                };
                if tts.id() == "tone" {
                    return 0;
                }
                if tts.synthesize_all(&request).is_ok() {
                    rendered += 1;
                }
            }
            rendered
        })
        .await;
        if let Ok(rendered) = result
            && rendered > 0
        {
            tracing::info!(
                prompts = n,
                rendered,
                "TTS cache warmed for the routed scripts"
            );
        }
    }

    /// Registers `trunk` with its carrier and refreshes the registration
    /// before it lapses, recording each result under `key`.
    async fn keep_registered(self, key: String, trunk: crate::config::TrunkConfig) {
        // REGISTER goes over UDP or TCP (not TLS).
        let registrar = format!(
            "sip:{}{}",
            trunk.host,
            if trunk.tcp && !trunk.tls {
                ";transport=tcp"
            } else {
                ""
            }
        );
        let proxy = trunk.proxy.as_deref().and_then(|p| p.parse().ok());
        let creds = Credentials {
            user: trunk.user.clone(),
            password: trunk.password.clone(),
        };
        self.registrations.set(
            &key,
            crate::trunks::RegistrationStatus {
                state: "registering",
                detail: String::new(),
                at: self.state.now_ms(),
                expires: None,
            },
        );
        loop {
            let (status, wait) = match self.agent.register(&registrar, proxy, &creds, 3600).await {
                Ok(expires) => {
                    tracing::info!(registrar = %registrar, expires, "registered with the trunk");
                    let status = crate::trunks::RegistrationStatus {
                        state: "registered",
                        detail: "200 OK".into(),
                        at: self.state.now_ms(),
                        expires: Some(expires),
                    };
                    (status, u64::from(expires.max(60)) * 9 / 10)
                }
                Err(e) => {
                    tracing::warn!(registrar = %registrar, error = %e.detail, "trunk registration failed; retrying in 60 s");
                    let status = crate::trunks::RegistrationStatus {
                        state: "failed",
                        detail: e.detail.clone(),
                        at: self.state.now_ms(),
                        expires: None,
                    };
                    (status, 60)
                }
            };
            self.registrations.set(&key, status);
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
    }

    /// Keeps one registration task per database trunk that asks for one,
    /// restarting a trunk's task when its settings change and stopping it
    /// when the trunk goes.
    async fn supervise_registrations(self) {
        let mut running: std::collections::HashMap<String, (i64, tokio::task::JoinHandle<()>)> =
            std::collections::HashMap::new();
        loop {
            match self
                .state
                .store()
                .channels_of_kind(crate::trunks::KIND)
                .await
            {
                Ok(channels) => {
                    let mut wanted = std::collections::HashMap::new();
                    for c in channels {
                        let Ok(settings) =
                            serde_json::from_value::<crate::trunks::TrunkSettings>(c.settings)
                        else {
                            continue;
                        };
                        if settings.register {
                            wanted.insert(c.id, (c.updated_at, settings.to_config(&c.name)));
                        }
                    }
                    running.retain(|id, (at, task)| {
                        let keep = wanted.get(id).is_some_and(|(w, _)| w == at);
                        if !keep {
                            task.abort();
                            self.registrations.remove(id);
                        }
                        keep
                    });
                    for (id, (at, trunk)) in wanted {
                        if running.contains_key(&id) {
                            continue;
                        }
                        let me = self.clone();
                        let key = id.clone();
                        let task =
                            tokio::spawn(async move { me.keep_registered(key, trunk).await });
                        running.insert(id, (at, task));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the trunks"),
            }
            // An edit wakes us at once; the timer covers other nodes' edits.
            tokio::select! {
                _ = self.trunks_changed.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    }

    /// A trunk was created, edited or deleted.
    pub fn trunks_changed(&self) {
        self.trunks_changed.notify_one();
    }

    /// Where a trunk's registration stands (`None`: it does not register).
    pub fn registration(&self, trunk_id: &str) -> Option<crate::trunks::RegistrationStatus> {
        self.registrations.get(trunk_id)
    }

    /// Calls in progress through a trunk.
    pub fn trunk_calls(&self, trunk_id: &str) -> u32 {
        self.lines.in_use(trunk_id)
    }

    /// The trunk a tenant's outbound calls name: the tenant's own trunk of
    /// that name, else the configured trunk when the name is its name.
    pub async fn trunk_named(&self, tenant_id: &str, name: &str) -> Result<Trunk, String> {
        let store = self.state.store();
        if let Some(c) = store
            .channel(tenant_id, name)
            .await
            .map_err(|e| format!("cannot read the trunks: {e}"))?
            .filter(|c| c.kind == crate::trunks::KIND)
        {
            let settings: crate::trunks::TrunkSettings = serde_json::from_value(c.settings)
                .map_err(|e| format!("trunk {name} has unreadable settings: {e}"))?;
            return Ok(Trunk {
                key: c.id,
                config: settings.to_config(name),
                max_calls: Some(settings.max_calls),
                caller_id: settings.caller_id,
            });
        }
        let configured = self.state.config().telephony.trunk.clone();
        let configured_name = if configured.name.is_empty() {
            crate::sip_dialer::DEFAULT_TRUNK.to_string()
        } else {
            configured.name.clone()
        };
        if name == configured_name {
            return Ok(Trunk {
                key: CONFIG_TRUNK.into(),
                config: configured,
                max_calls: None,
                caller_id: None,
            });
        }
        Err(format!(
            "trunk {name} is not configured (add it under 管理 → 线路, or the configured trunk is {configured_name}, telephony.trunk.name)"
        ))
    }

    /// The route of a number listed on a database trunk.
    async fn trunk_route(&self, dialled: &str) -> Option<Route> {
        let store = self.state.store();
        let channels = match store.channels_of_kind(crate::trunks::KIND).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the trunks; routing by the config");
                return None;
            }
        };
        for c in channels {
            let Ok(settings) = serde_json::from_value::<crate::trunks::TrunkSettings>(c.settings)
            else {
                continue;
            };
            if !settings.numbers.iter().any(|n| n == dialled) {
                continue;
            }
            let script = settings.script?;
            let tenant = store.tenant(&c.tenant_id).await.ok()??;
            return Some(Route {
                tenant: tenant.slug,
                script,
                knowledge_base: settings.knowledge_base,
            });
        }
        None
    }

    fn recording_path(&self, id: &str) -> Option<PathBuf> {
        let config = self.state.config();
        config
            .telephony
            .record
            .then(|| config.data_dir.join("recordings").join(format!("{id}.wav")))
    }

    async fn rtp_socket(&self) -> std::io::Result<tokio::net::UdpSocket> {
        tokio::net::UdpSocket::bind(SocketAddr::new(self.state.config().sip.ip(), 0)).await
    }

    /// The live call of a conversation, to listen in (20 ms frames of the
    /// caller and the robot or agent mixed); `None` when it is not a live call.
    pub fn listen(
        &self,
        conversation_id: &str,
    ) -> Option<tokio::sync::broadcast::Receiver<Arc<[i16]>>> {
        self.taps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(conversation_id)
            .map(|t| t.subscribe())
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.active.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn admit(&self) -> Option<ActiveCall> {
        let max = self.state.config().telephony.max_calls;
        let n = self
            .active
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let guard = ActiveCall(self.active.clone());
        (n < max).then_some(guard)
    }

    async fn inbound(self, call: IncomingCall) {
        let config = self.state.config().telephony.clone();
        let Some(_active) = self.admit() else {
            tracing::warn!(
                max = config.max_calls,
                "too many calls in progress; refusing"
            );
            call.reject(503);
            return;
        };
        let from_trunk = self.trunk_route(&call.dialled).await;
        let Some(route) = from_trunk.or_else(|| route(&config, &call.dialled)) else {
            tracing::info!(dialled = %call.dialled, "no hotline for the dialled number");
            call.reject(404);
            return;
        };
        let negotiated = match sdp::negotiate(&call.offer) {
            Ok(n) => n,
            Err(e) => {
                tracing::info!(call_id = %call.call_id, error = %e, "no common codec");
                call.reject(488);
                return;
            }
        };
        let socket = match self.rtp_socket().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot open an RTP port");
                call.reject(503);
                return;
            }
        };
        let rtp_port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
        let recording_id = uuid::Uuid::now_v7().to_string();
        let recording = self.recording_path(&recording_id);
        let caller_user = sip::message::user_of(&call.from).unwrap_or_default();
        let metadata = json!({
            "call_id": call.call_id,
            "direction": "inbound",
            "from": call.from,
            "dialled": call.dialled,
            "codec": negotiated.codec.name(),
            "recording": recording.as_ref().map(|p| p.display().to_string()),
        });
        let mut contact = BTreeMap::new();
        contact.insert("phone".to_string(), caller_user.clone());
        let hosted = match self
            .create(
                &route,
                None,
                &call.call_id,
                metadata,
                phone_identity(&caller_user),
            )
            .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(call_id = %call.call_id, script = %route.script, error = %e, "cannot host the call");
                call.reject(503);
                return;
            }
        };
        let local = SocketAddr::new(self.agent.media_ip(), rtp_port);
        let answer = sdp::build(
            local,
            rand::random::<u32>().into(),
            1,
            &[negotiated.codec],
            negotiated.telephone_event,
        );
        let leg = call.accept(answer);
        self.converse(
            hosted,
            leg,
            socket,
            negotiated.codec,
            negotiated.telephone_event,
            negotiated.remote_rtp,
            recording,
            contact,
        )
        .await;
    }

    #[allow(clippy::too_many_arguments)]
    async fn converse(
        &self,
        hosted: HostedBrain,
        leg: sip::CallLeg,
        socket: tokio::net::UdpSocket,
        codec: Codec,
        telephone_event: Option<u8>,
        remote: SocketAddr,
        recording: Option<PathBuf>,
        contact: BTreeMap<String, String>,
    ) -> call::CallSummary {
        let config = self.state.config().telephony.clone();
        let mut listener = voice::ListenerConfig::default();
        // Barge-in must stop the robot within 200 ms of the caller's onset.
        listener.barge_in.min_speech_ms = 120;
        listener.endpoint.speaking_pause_ms = config.speaking_pause_ms;
        listener.endpoint.thinking_pause_ms = config.thinking_pause_ms;
        listener.speculate_after_ms =
            (config.speculate_after_ms > 0).then_some(config.speculate_after_ms);
        let media = call::media::start(
            MediaParams {
                socket,
                remote,
                codec,
                telephone_event,
                recording: recording.clone(),
                rtp_timeout: Duration::from_secs(config.rtp_timeout_secs),
                listener,
            },
            (!config.media_only).then(|| self.engines.clone()),
        );
        let start = EventKind::CallAnswered(Start {
            contact,
            now: self.state.wall_time(),
            humans_available: !config.transfer_targets.is_empty() || hosted.has_agents().await,
            offline_message: None,
        });
        let mut brain = hosted;
        let conversation_id = brain.conversation.id.clone();
        let (tap, _) = tokio::sync::broadcast::channel(50);
        let _ = media
            .commands
            .send(call::MediaCommand::Tap(Some(tap.clone())));
        self.taps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(conversation_id.clone(), tap);
        if let Some(p) = &recording {
            brain
                .log_now("call.recording", json!({"path": p.display().to_string(), "channels": {"left": "caller", "right": "robot"}}))
                .await;
        }
        let summary = call::driver::run(
            brain,
            leg,
            media,
            start,
            DriverConfig {
                transfer_targets: config.transfer_targets.clone(),
                agent_engines: (!config.media_only && config.agent_phones.transcribe)
                    .then(|| self.engines.clone()),
                ..DriverConfig::default()
            },
        )
        .await;
        self.taps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&conversation_id);
        tracing::info!(cause = %summary.cause, duration_ms = summary.duration_ms, utterances = summary.utterances, "call ended");
        summary
    }

    async fn create(
        &self,
        route: &Route,
        script_version: Option<i64>,
        call_id: &str,
        metadata: serde_json::Value,
        identity: Option<(store::IdentityKind, String)>,
    ) -> Result<HostedBrain, String> {
        let store = self.state.store();
        let tenant = store
            .tenant_by_slug(&route.tenant)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("tenant {} does not exist", route.tenant))?;
        let binding = crate::bots::resolve_binding_at(
            &self.state,
            &tenant.id,
            &route.script,
            script_version,
            route.knowledge_base.as_deref(),
        )
        .await
        .map_err(|e| format!("{e:?}"))?;
        let bot = self
            .state
            .bots()
            .bot(store, &tenant.id, &binding)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let mut metadata = metadata;
        metadata["bot"] = serde_json::to_value(&binding).map_err(|e| e.to_string())?;
        let conversation = store
            .create_conversation(
                store::NewConversation {
                    tenant_id: &tenant.id,
                    channel: CHANNEL,
                    external_ref: Some(call_id),
                    metadata: &metadata,
                },
                self.state.now_ms(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let conversation =
            match crate::bots::attach_customer(&self.state, conversation.clone(), identity).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = ?e, "caller not recorded as a customer");
                    conversation
                }
            };
        Ok(HostedBrain {
            state: self.state.clone(),
            conversation,
            bot,
            _binding: binding,
        })
    }

    /// Places an outbound call through the configured trunk and, when it is
    /// answered, runs the route's script on it (in the background). Returns
    /// once the call is answered or has failed.
    pub async fn originate(&self, request: OutboundRequest) -> OutboundResult {
        self.originate_with(request, OutboundOptions::default())
            .await
            .0
    }

    /// [`Telephony::originate`] with a pinned script version and caller id;
    /// when the call is answered, also a receiver that gets how it ended
    /// (the campaign dialer waits for it to fill talk time and the results).
    pub async fn originate_with(
        &self,
        request: OutboundRequest,
        options: OutboundOptions,
    ) -> (
        OutboundResult,
        Option<tokio::sync::oneshot::Receiver<CallEnd>>,
    ) {
        let chosen = options.trunk.clone().unwrap_or_else(|| Trunk {
            key: CONFIG_TRUNK.into(),
            config: self.state.config().telephony.trunk.clone(),
            max_calls: None,
            caller_id: None,
        });
        let trunk = chosen.config.clone();
        let line = match chosen.max_calls {
            Some(max) => match self.lines.take(&chosen.key, max) {
                Some(line) => Some(line),
                None => {
                    return (
                        OutboundResult {
                            outcome: CallOutcome::Failed,
                            status: None,
                            conversation_id: None,
                            detail: format!("trunk {} has all its {max} lines in use", trunk.name),
                        },
                        None,
                    );
                }
            },
            None => None,
        };
        let Some(active) = self.admit() else {
            return (
                OutboundResult {
                    outcome: CallOutcome::Failed,
                    status: None,
                    conversation_id: None,
                    detail: "too many calls in progress".into(),
                },
                None,
            );
        };
        let target = if request.number.starts_with("sip:") {
            request.number.clone()
        } else {
            format!(
                "sip:{}@{}{}",
                request.number,
                trunk.host,
                trunk.transport_param()
            )
        };
        let fail = |outcome, status, detail: String| {
            (
                OutboundResult {
                    outcome,
                    status,
                    conversation_id: None,
                    detail,
                },
                None,
            )
        };
        let socket = match self.rtp_socket().await {
            Ok(s) => s,
            Err(e) => return fail(CallOutcome::Failed, None, format!("no RTP port: {e}")),
        };
        let rtp_port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
        let offer = sdp::build(
            SocketAddr::new(self.agent.media_ip(), rtp_port),
            rand::random::<u32>().into(),
            1,
            &[
                Codec::Pcma,
                Codec::Pcmu,
                Codec::Opus(sdp::OPUS_PAYLOAD_TYPE),
            ],
            Some(101),
        );
        let from_user = if let Some(caller_id) = options
            .caller_id
            .as_ref()
            .or(chosen.caller_id.as_ref())
            .filter(|c| !c.is_empty())
        {
            caller_id.clone()
        } else if trunk.user.is_empty() {
            "tonghua".to_string()
        } else {
            trunk.user.clone()
        };
        let from_host = if trunk.host.is_empty() {
            self.agent.local_addr().to_string()
        } else {
            trunk.host.clone()
        };
        let originate = Originate {
            target: target.clone(),
            from: format!("sip:{from_user}@{from_host}"),
            proxy: trunk.proxy.as_deref().and_then(|p| p.parse().ok()),
            credentials: (!trunk.password.is_empty()).then(|| Credentials {
                user: trunk.user.clone(),
                password: trunk.password.clone(),
            }),
            offer,
            ring_timeout: Duration::from_secs(if trunk.ring_timeout_secs == 0 {
                45
            } else {
                trunk.ring_timeout_secs
            }),
        };
        let leg = match self.agent.originate(originate).await {
            Ok(leg) => leg,
            Err(e) => return fail(e.outcome, e.status, e.detail),
        };
        let Some(codec) = leg.remote_media.codecs.first().copied() else {
            leg.hangup();
            return fail(
                CallOutcome::Failed,
                Some(200),
                "the answer has no codec we offered".into(),
            );
        };
        let recording_id = uuid::Uuid::now_v7().to_string();
        let recording = self.recording_path(&recording_id);
        let metadata = json!({
            "call_id": leg.call_id,
            "direction": "outbound",
            "to": target,
            "codec": codec.name(),
            "recording": recording.as_ref().map(|p| p.display().to_string()),
        });
        let hosted = match self
            .create(
                &request.route,
                options.script_version,
                &leg.call_id,
                metadata,
                phone_identity(&request.number),
            )
            .await
        {
            Ok(h) => h,
            Err(e) => {
                leg.hangup();
                return fail(
                    CallOutcome::Failed,
                    Some(200),
                    format!("cannot host the call: {e}"),
                );
            }
        };
        let conversation_id = hosted.conversation.id.clone();
        let remote = leg.remote_media.rtp;
        let te = leg.remote_media.telephone_event;
        let me = self.clone();
        let contact = request.contact.clone();
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _active = active;
            let _line = line;
            let summary = me
                .converse(
                    hosted,
                    leg,
                    socket,
                    codec,
                    te,
                    remote,
                    recording.clone(),
                    contact,
                )
                .await;
            // Nobody may be waiting (a plain `originate`).
            let _ = ended_tx.send(CallEnd { summary, recording });
        });
        (
            OutboundResult {
                outcome: CallOutcome::Answered,
                status: Some(200),
                conversation_id: Some(conversation_id),
                detail: "answered".into(),
            },
            Some(ended_rx),
        )
    }
}

/// Every string under `say`, `reprompt` and `close` keys of a script.
fn collect_lines(v: &serde_json::Value, spoken: bool, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if spoken => out.push(s.clone()),
        serde_json::Value::Array(items) => {
            for i in items {
                collect_lines(i, spoken, out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let spoken = matches!(k.as_str(), "say" | "reprompt" | "close");
                collect_lines(v, spoken, out);
            }
        }
        _ => {}
    }
}

/// The speech engines for calls: the local ones compiled in (features
/// `kokoro`, `whisper`) when their models are installed, else stand-ins
/// (a tone for speech, no recognition) with a warning in the log.
pub fn engines(config: &crate::config::Config) -> Engines {
    #[allow(unused_mut)]
    let mut engines = Engines::placeholder();
    if config.telephony.placeholder_speech {
        tracing::info!(
            "telephony.placeholder_speech: prompts are played as tones, nothing is recognised"
        );
        return engines;
    }
    #[allow(unused_mut)]
    let mut have_tts = false;
    #[allow(unused_mut)]
    let mut have_asr = false;
    #[cfg(feature = "kokoro")]
    match voice::kokoro::Kokoro::load(&config.models) {
        Ok(k) => {
            let tts: Box<dyn voice::Tts> =
                match voice::TtsCache::open(config.data_dir.join("tts-cache")) {
                    Ok(cache) => Box::new(voice::CachedTts::new(Box::new(k), cache)),
                    Err(_) => Box::new(k),
                };
            engines.tts = Arc::new(std::sync::Mutex::new(tts));
            have_tts = true;
        }
        Err(e) => tracing::warn!(error = %e, "Kokoro TTS unavailable"),
    }
    #[cfg(feature = "whisper")]
    match voice::whisper::WhisperAsr::load(
        &config.models,
        &voice::whisper::WhisperConfig {
            beam_size: config.telephony.asr_beam_size,
            ..voice::whisper::WhisperConfig::default()
        },
    ) {
        Ok(w) => {
            engines.asr = Arc::new(move || Ok(Box::new(w.clone()) as Box<dyn voice::Asr>));
            have_asr = true;
        }
        Err(e) => tracing::warn!(error = %e, "Whisper ASR unavailable"),
    }
    let _ = config;
    if !have_tts {
        tracing::warn!(
            "no speech synthesiser: prompts are played as tones (build with --features kokoro and run scripts/install-voice-models.sh)"
        );
    }
    if !have_asr {
        tracing::warn!(
            "no speech recogniser: callers are heard only by their keys (build with --features whisper)"
        );
    }
    engines
}

/// A phone identity for the customer record, when the caller is a number.
fn phone_identity(user: &str) -> Option<(store::IdentityKind, String)> {
    let digits = user.strip_prefix('+').unwrap_or(user);
    let ok = (5..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
    if !ok {
        return None;
    }
    let e164 = if user.starts_with('+') {
        user.to_string()
    } else if digits.len() == 11 && digits.starts_with('1') {
        format!("+86{digits}")
    } else {
        return None;
    };
    Some((store::IdentityKind::Phone, e164))
}

/// A hosted conversation as the call loop's [`call::Brain`].
pub struct HostedBrain {
    state: AppState,
    conversation: Conversation,
    bot: Arc<Bot>,
    _binding: Binding,
}

impl HostedBrain {
    /// Whether the tenant has agents a transfer could reach (voice handoff).
    async fn has_agents(&self) -> bool {
        self.state
            .store()
            .agents(&self.conversation.tenant_id)
            .await
            .is_ok_and(|a| !a.is_empty())
    }

    async fn log_now(&mut self, kind: &str, payload: serde_json::Value) {
        if let Err(e) = self
            .state
            .store()
            .append_event(
                &self.conversation.tenant_id,
                &self.conversation.id,
                kind,
                &payload,
                self.state.now_ms(),
            )
            .await
        {
            tracing::warn!(conversation = %self.conversation.id, kind, error = %e, "call event not logged");
        }
    }
}

impl call::Brain for HostedBrain {
    async fn turn(&mut self, at_ms: u64, event: EventKind) -> Result<Vec<Action>, String> {
        let r = self
            .state
            .bots()
            .turn(
                self.state.store(),
                &self.conversation,
                &self.bot,
                Event::new(at_ms, event),
                self.state.now_ms(),
            )
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(r.actions)
    }

    async fn log(&mut self, kind: &str, payload: serde_json::Value) {
        self.log_now(kind, payload).await;
    }

    async fn handoff(&mut self, queue: &str, reason: &str) -> Option<call::Handoff> {
        crate::voice_handoff::start(&self.state, &self.conversation, queue, reason).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spoken_lines_of_a_script_are_collected_for_the_cache() {
        let source = include_str!("../../../examples/scripts/service.yaml");
        let spec = dialog::script::parse_script(source, "service").expect("demo script");
        let mut lines = Vec::new();
        collect_lines(
            &serde_json::to_value(&spec).expect("json"),
            false,
            &mut lines,
        );
        assert!(
            lines
                .iter()
                .any(|l| l == "您好，欢迎来到优品商城，我是智能客服小优。"),
            "{lines:?}"
        );
        assert!(
            !lines.iter().any(|l| l == "service"),
            "names are not prompts"
        );
    }

    #[test]
    fn numbers_route_to_hotlines_then_the_default() {
        let mut config = crate::config::TelephonyConfig::default();
        config.hotlines.push(crate::config::Hotline {
            number: "4001".into(),
            script: "renovation".into(),
            knowledge_base: None,
            tenant: Some("acme".into()),
        });
        assert_eq!(
            route(&config, "4001").map(|r| (r.tenant, r.script)),
            Some(("acme".into(), "renovation".into()))
        );
        assert_eq!(
            route(&config, "999").map(|r| r.script),
            Some("service".into())
        );
        config.default_script.clear();
        assert_eq!(route(&config, "999"), None);
        assert_eq!(
            phone_identity("13800138000").map(|p| p.1),
            Some("+8613800138000".into())
        );
        assert_eq!(phone_identity("sipp"), None);
    }
}
