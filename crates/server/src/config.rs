//! Configuration: defaults, then a TOML file, then `TONGHUA_*` environment
//! variables, then command-line flags (each overriding the one before).
//!
//! Unknown keys are errors rather than being ignored, because a misspelt key
//! that silently does nothing is worse than a refusal to start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::{Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

/// Name of the config file looked for in the working directory when neither
/// `--config` nor `TONGHUA_CONFIG` names one.
pub const DEFAULT_CONFIG_FILE: &str = "tonghua.toml";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database, recordings and caches live.
    pub data_dir: PathBuf,
    /// HTTP listen address for the API and console.
    pub http: SocketAddr,
    /// SIP listen address (UDP and TCP) for the telephony adapter.
    pub sip: SocketAddr,
    /// Where speech and language models are installed.
    pub models: PathBuf,
    /// The deployment's UTC offset, `+08:00` for China: the robot reads "明天下午三点"
    /// and calling windows in this time.
    pub timezone: String,
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `info,server=debug`.
    pub log_level: String,
    pub auth: AuthConfig,
    pub demo: DemoConfig,
    /// Phone calls: hotlines, trunk, media (SIP listens on `sip`).
    pub telephony: TelephonyConfig,
}

/// Phone calls over SIP. Off unless enabled (or `tonghua serve --sip` is given).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelephonyConfig {
    /// Start the SIP user agent on `sip` (UDP and TCP).
    pub enabled: bool,
    /// The IP written in SIP and SDP when `sip` listens on 0.0.0.0.
    pub advertise: Option<std::net::IpAddr>,
    /// The tenant whose scripts answer calls that match no hotline.
    pub tenant: String,
    /// The script that answers calls to numbers that match no hotline
    /// (empty: such calls get 404).
    pub default_script: String,
    /// Dialled number → script (+ knowledge base, tenant).
    pub hotlines: Vec<Hotline>,
    /// A call whose RTP stops for this long is hung up.
    pub rtp_timeout_secs: u64,
    /// Record every call as a stereo WAV under `DATA_DIR/recordings`.
    pub record: bool,
    /// Queue name (the script's `human_queue`) → SIP URI for blind transfer.
    pub transfer_targets: std::collections::BTreeMap<String, String>,
    /// The carrier trunk for outbound calls.
    pub trunk: TrunkConfig,
    /// Calls in progress beyond this are refused with 503 (protects the
    /// machine from a flood of INVITEs).
    pub max_calls: usize,
    /// Use the stand-in engines (prompts as tones, no recognition) even when
    /// local engines are built in: deterministic tests and diagnostics.
    pub placeholder_speech: bool,
    /// Answer calls and move their media without speech engines (capacity
    /// benchmarks, diagnostics): the conversation runs, nothing is spoken or heard.
    pub media_only: bool,
    /// How a call goes to a `transfer_targets` URI: `refer` (blind: the
    /// caller's phone is sent there and the robot leaves) or `bridge` (the
    /// robot calls the target and relays the media, recording both).
    /// Queues without a target go to the tenant's agents' phones, bridged.
    pub transfer_mode: TransferMode,
    /// Agents' SIP phones (registrar, handoff of calls to them).
    pub agent_phones: AgentPhonesConfig,
    /// End-of-turn pause for quick answers, in ms (nodes that expect the
    /// caller to think use `thinking_pause_ms`).
    pub speaking_pause_ms: u32,
    /// End-of-turn pause for open questions, in ms.
    pub thinking_pause_ms: u32,
    /// Start decoding the caller's utterance after this much pause inside a
    /// turn, and use that result if the turn ends without more speech
    /// (0 = decode only at the end of the turn).
    pub speculate_after_ms: u32,
    /// Whisper's beam width (1 = greedy).
    pub asr_beam_size: usize,
    /// SIP over TLS (a listener; outbound to `trunk.tls` trunks).
    pub tls: SipTlsConfig,
}

/// How a transfer to a configured SIP URI is carried out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransferMode {
    #[default]
    Refer,
    Bridge,
}

/// Agents' phones register with Tonghua's SIP agent (digest auth) and take
/// handed-over calls through a bridge.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AgentPhonesConfig {
    /// The digest realm phones authenticate in. Stored HA1s are bound to it:
    /// changing it means setting the phones' passwords again.
    pub realm: String,
    /// Said to a caller waiting for an agent, every `hold_prompt_every_secs`.
    pub hold_prompt: String,
    pub hold_prompt_every_secs: u64,
    /// Said to a waiting caller when their place in the queue is first
    /// known and each time it improves (at most every 15 s); `{ahead}` is
    /// how many wait before them. Empty: never said. Not said at the head
    /// of the queue.
    pub position_prompt: String,
    /// Said before hanging up when a bridged transfer to a configured
    /// target fails.
    pub sorry_prompt: String,
    /// How long an agent's phone may ring before the next agent is tried.
    pub ring_secs: u64,
    /// The longest registration granted (phones re-register before it ends).
    pub max_expires_secs: u32,
    /// Recognise what agents say on bridged calls (logged as `AgentSaid`).
    pub transcribe: bool,
}

impl Default for AgentPhonesConfig {
    fn default() -> Self {
        Self {
            realm: "tonghua".to_string(),
            hold_prompt: "请稍候，正在为您转接人工客服。".to_string(),
            hold_prompt_every_secs: 12,
            position_prompt: "您前面还有{ahead}位客户在等待，请您耐心等候。".to_string(),
            sorry_prompt: "抱歉，现在无法为您转接，请稍后再来电。再见。".to_string(),
            ring_secs: 20,
            max_expires_secs: 3600,
            transcribe: true,
        }
    }
}

/// SIP over TLS: off unless `port` is set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SipTlsConfig {
    /// TLS listen port on the SIP address's IP (conventionally 5061); 0 = no TLS.
    pub port: u16,
    /// PEM certificate chain presented to peers.
    pub cert: Option<std::path::PathBuf>,
    /// PEM private key of that certificate.
    pub key: Option<std::path::PathBuf>,
    /// PEM CA certificates trusted for outgoing TLS besides the Mozilla roots.
    pub ca: Option<std::path::PathBuf>,
}

impl SipTlsConfig {
    /// The agent's TLS settings (listening on `ip`, the SIP address's), when TLS is on.
    pub fn agent_config(&self, ip: std::net::IpAddr) -> Option<sip::TlsConfig> {
        if self.port == 0 {
            return None;
        }
        Some(sip::TlsConfig {
            bind: std::net::SocketAddr::new(ip, self.port),
            cert: self.cert.clone().unwrap_or_default(),
            key: self.key.clone().unwrap_or_default(),
            ca: self.ca.clone(),
        })
    }
}

/// One inbound number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Hotline {
    /// The dialled number (Request-URI user).
    pub number: String,
    pub script: String,
    #[serde(default)]
    pub knowledge_base: Option<String>,
    /// Defaults to `telephony.tenant`.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// Where outbound calls go.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrunkConfig {
    /// The name campaigns give for this trunk (`--trunk NAME`); empty means
    /// `default`. Only one trunk exists, so any other name is refused.
    pub name: String,
    /// The trunk's domain or address, e.g. `sip.carrier.example` or `10.0.0.5:5060`.
    pub host: String,
    /// Outbound proxy `HOST:PORT` (default: the host itself).
    pub proxy: Option<String>,
    /// Our number / user at the trunk (From user, auth user).
    pub user: String,
    /// Digest password (masked in `--print-config`).
    pub password: String,
    /// REGISTER with the trunk on start (and refresh).
    pub register: bool,
    /// Seconds a call may ring before it counts as no answer.
    pub ring_timeout_secs: u64,
    /// Reach the trunk over TLS (`transport=tls`; needs `telephony.tls`).
    pub tls: bool,
    /// Reach the trunk (calls and REGISTER) over TCP (`transport=tcp`);
    /// `tls` wins when both are set.
    pub tcp: bool,
}

impl TrunkConfig {
    /// The `;transport=` parameter calls to this trunk carry ("" for UDP).
    pub fn transport_param(&self) -> &'static str {
        if self.tls {
            ";transport=tls"
        } else if self.tcp {
            ";transport=tcp"
        } else {
            ""
        }
    }
}

impl Default for TelephonyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            advertise: None,
            tenant: "demo".to_string(),
            default_script: "service".to_string(),
            hotlines: Vec::new(),
            rtp_timeout_secs: 30,
            record: true,
            transfer_targets: std::collections::BTreeMap::new(),
            trunk: TrunkConfig::default(),
            media_only: false,
            placeholder_speech: false,
            max_calls: 500,
            transfer_mode: TransferMode::Refer,
            agent_phones: AgentPhonesConfig::default(),
            speaking_pause_ms: 700,
            thinking_pause_ms: 1600,
            speculate_after_ms: 200,
            asr_beam_size: 5,
            tls: SipTlsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a console login lasts.
    pub session_ttl_secs: u64,
    /// Consecutive wrong passwords before an account is locked.
    pub max_failed_logins: u32,
    /// How long a locked account stays locked.
    pub lockout_secs: u64,
    /// Login attempts allowed per client address per minute (any account).
    pub login_attempts_per_minute: u32,
    /// New anonymous web chat visitors (each a new conversation) allowed per
    /// client address per minute; returning visitors are not counted.
    pub new_chat_visitors_per_minute: u32,
    /// Mark the session cookie `Secure` (set when served behind HTTPS).
    pub cookie_secure: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy
    /// you control, or clients can spoof it).
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// On first start with an empty database, create a demo tenant and admin.
    pub enabled: bool,
    pub tenant: String,
    pub admin_user: String,
    /// The demo admin's password; generated and printed once when empty.
    /// Also read from `TONGHUA_ADMIN_PASSWORD`.
    pub admin_password: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            sip: SocketAddr::from(([0, 0, 0, 0], 5060)),
            models: default_models_dir(),
            timezone: "+08:00".to_string(),
            log_format: LogFormat::Text,
            log_level: "info".to_string(),
            auth: AuthConfig::default(),
            demo: DemoConfig::default(),
            telephony: TelephonyConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_secs: 12 * 3600,
            max_failed_logins: 5,
            lockout_secs: 15 * 60,
            login_attempts_per_minute: 30,
            new_chat_visitors_per_minute: 20,
            cookie_secure: false,
            trust_forwarded_for: false,
        }
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tenant: "demo".to_string(),
            admin_user: "admin".to_string(),
            admin_password: String::new(),
        }
    }
}

/// Where the installers put the models: `$TONGHUA_MODELS`, else
/// `$HOME/.cache/tonghua/models` (the same rule as scripts/install-*.sh and
/// the build scripts, so a default deployment finds what `make` installed).
fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TONGHUA_MODELS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache"))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("tonghua")
        .join("models")
}

/// Values given on the command line; `None` leaves the layer below in force.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// `--sip` given: telephony on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telephony: Option<TelephonyOverride>,
}

/// The telephony keys a flag can set.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TelephonyOverride {
    pub enabled: bool,
}

/// A configuration problem, worded as what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Where configuration comes from, besides the process environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// An explicit file (`--config`); it must exist.
    pub file: Option<PathBuf>,
    pub overrides: Overrides,
}

impl Config {
    /// Loads the layered configuration using the process environment.
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(sources, &env)
    }

    /// Loads the layered configuration with an explicit environment (tests).
    pub fn load_with_env(
        sources: &Sources,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let lookup = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let mut figment = Figment::from(Serialized::defaults(Config::default()));

        let file = sources
            .file
            .clone()
            .or_else(|| lookup("TONGHUA_CONFIG").map(PathBuf::from));
        match file {
            Some(path) => {
                check_readable(&path)?;
                figment = figment.merge(Toml::file_exact(&path));
            }
            None => {
                let default = Path::new(DEFAULT_CONFIG_FILE);
                if default.exists() {
                    check_readable(default)?;
                    figment = figment.merge(Toml::file_exact(default));
                }
            }
        }

        // TONGHUA_AUTH__LOCKOUT_SECS sets auth.lockout_secs. TONGHUA_CONFIG
        // names the file (handled above); TONGHUA_ADMIN_PASSWORD is a
        // short alias for demo.admin_password.
        let env_pairs: Vec<(String, String)> = env
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix("TONGHUA_")?;
                match rest {
                    "CONFIG" => None,
                    "ADMIN_PASSWORD" => Some(("DEMO__ADMIN_PASSWORD".to_string(), v.clone())),
                    _ => Some((rest.to_string(), v.clone())),
                }
            })
            .collect();
        let mut env_dict = figment::value::Dict::new();
        for (key, value) in &env_pairs {
            insert_env(&mut env_dict, key, value);
        }
        figment = figment.merge(NamedLayer {
            name: "TONGHUA_* environment variables",
            dict: env_dict,
        });
        let flags = figment::value::Value::serialize(&sources.overrides)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(dict) = flags.into_dict() {
            figment = figment.merge(NamedLayer {
                name: "command-line flags",
                dict,
            });
        }

        let config: Config = figment
            .extract_lossy()
            .map_err(|e| ConfigError::Invalid(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The configured UTC offset in minutes.
    pub fn utc_offset_minutes(&self) -> Result<i32, ConfigError> {
        parse_offset(&self.timezone).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "timezone '{}' must be a UTC offset like +08:00 or -05:30",
                self.timezone
            ))
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.utc_offset_minutes()?;
        if self.auth.max_failed_logins == 0 {
            return Err(ConfigError::Invalid(
                "auth.max_failed_logins must be at least 1".into(),
            ));
        }
        if self.auth.new_chat_visitors_per_minute == 0 {
            return Err(ConfigError::Invalid(
                "auth.new_chat_visitors_per_minute must be at least 1".into(),
            ));
        }
        if self.auth.login_attempts_per_minute == 0 {
            return Err(ConfigError::Invalid(
                "auth.login_attempts_per_minute must be at least 1".into(),
            ));
        }
        if self.auth.session_ttl_secs < 60 {
            return Err(ConfigError::Invalid(
                "auth.session_ttl_secs must be at least 60".into(),
            ));
        }
        if self.demo.enabled && !crate::accounts::valid_slug(&self.demo.tenant) {
            return Err(ConfigError::Invalid(format!(
                "demo.tenant '{}' must be 1-63 lowercase letters, digits or '-'",
                self.demo.tenant
            )));
        }
        let t = &self.telephony;
        if !(200..=5000).contains(&t.speaking_pause_ms)
            || !(200..=10_000).contains(&t.thinking_pause_ms)
        {
            return Err(ConfigError::Invalid(
                "telephony.speaking_pause_ms must be 200–5000 and telephony.thinking_pause_ms 200–10000".into(),
            ));
        }
        if t.speculate_after_ms != 0 && t.speculate_after_ms < 100 {
            return Err(ConfigError::Invalid(
                "telephony.speculate_after_ms must be 0 (off) or at least 100".into(),
            ));
        }
        if t.tls.port != 0 && (t.tls.cert.is_none() || t.tls.key.is_none()) {
            return Err(ConfigError::Invalid(
                "telephony.tls.port is set: telephony.tls.cert and telephony.tls.key are needed too".into(),
            ));
        }
        if !(1..=10).contains(&t.asr_beam_size) {
            return Err(ConfigError::Invalid(
                "telephony.asr_beam_size must be 1–10".into(),
            ));
        }
        if self.telephony.rtp_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "telephony.rtp_timeout_secs must be at least 1".into(),
            ));
        }
        for h in &self.telephony.hotlines {
            if h.number.is_empty() || h.script.is_empty() {
                return Err(ConfigError::Invalid(
                    "telephony.hotlines: every hotline needs a number and a script".into(),
                ));
            }
        }
        if let Some(p) = &self.telephony.trunk.proxy
            && p.parse::<SocketAddr>().is_err()
        {
            return Err(ConfigError::Invalid(format!(
                "telephony.trunk.proxy '{p}' must be HOST:PORT with an IP address"
            )));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return Err(ConfigError::Invalid(format!(
                "log_level '{}' is not a valid filter (try 'info' or 'info,server=debug')",
                self.log_level
            )));
        }
        Ok(())
    }

    /// The effective configuration as TOML, with secrets masked, for
    /// `tonghua serve --print-config`.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        if !shown.demo.admin_password.is_empty() {
            shown.demo.admin_password = "********".to_string();
        }
        if !shown.telephony.trunk.password.is_empty() {
            shown.telephony.trunk.password = "********".to_string();
        }
        toml_string(&shown)
    }
}

fn toml_string(config: &Config) -> String {
    // figment depends on `toml`, but does not re-export a serializer; write the
    // few sections by hand from the JSON form, which keeps key order stable.
    let value = serde_json::to_value(config).unwrap_or_default();
    let mut top = String::new();
    let mut sections = String::new();
    if let serde_json::Value::Object(map) = value {
        for (key, v) in map {
            match v {
                serde_json::Value::Object(inner) => {
                    sections.push_str(&format!("\n[{key}]\n"));
                    // Nested tables and arrays of tables follow their section's keys.
                    let mut nested = String::new();
                    for (k, v) in inner {
                        match v {
                            serde_json::Value::Null => {}
                            serde_json::Value::Object(table) => {
                                nested.push_str(&format!("\n[{key}.{k}]\n"));
                                for (tk, tv) in table {
                                    if !tv.is_null() {
                                        nested.push_str(&format!(
                                            "{} = {}\n",
                                            toml_key(&tk),
                                            toml_scalar(&tv)
                                        ));
                                    }
                                }
                            }
                            serde_json::Value::Array(items)
                                if items.iter().all(|i| i.is_object()) && !items.is_empty() =>
                            {
                                for item in items {
                                    nested.push_str(&format!("\n[[{key}.{k}]]\n"));
                                    if let serde_json::Value::Object(fields) = item {
                                        for (fk, fv) in fields {
                                            if !fv.is_null() {
                                                nested.push_str(&format!(
                                                    "{fk} = {}\n",
                                                    toml_scalar(&fv)
                                                ));
                                            }
                                        }
                                    }
                                }
                            }
                            other => sections.push_str(&format!("{k} = {}\n", toml_scalar(&other))),
                        }
                    }
                    sections.push_str(&nested);
                }
                other => top.push_str(&format!("{key} = {}\n", toml_scalar(&other))),
            }
        }
    }
    top + &sections
}

/// A key as TOML writes it: bare when it can be, quoted otherwise (queue names are Chinese).
fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        serde_json::Value::String(k.to_string()).to_string()
    }
}

fn toml_scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => serde_json::Value::String(s.clone()).to_string(),
        other => other.to_string(),
    }
}

/// Puts `A__B` = value into a nested dictionary as `a.b`.
fn insert_env(dict: &mut figment::value::Dict, key: &str, raw: &str) {
    let path: Vec<String> = key.split("__").map(|s| s.to_ascii_lowercase()).collect();
    // Kept as a string: `extract_lossy` converts it when the key wants a
    // number or a boolean, and a password of digits stays a string.
    let value: figment::value::Value = raw.into();
    let mut cursor = dict;
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    for part in parents {
        let entry = cursor
            .entry(part.clone())
            .or_insert_with(|| figment::value::Dict::new().into());
        match entry {
            figment::value::Value::Dict(_, inner) => cursor = inner,
            _ => return,
        }
    }
    cursor.insert(last.clone(), value);
}

fn check_readable(path: &Path) -> Result<(), ConfigError> {
    std::fs::read_to_string(path)
        .map(|_| ())
        .map_err(|e| ConfigError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// Turns figment's error into one line that names the key and its source.
fn describe(err: figment::Error) -> String {
    let mut parts = Vec::new();
    for e in err {
        let key = match (&e.kind, e.path.is_empty()) {
            (figment::error::Kind::UnknownField(..), _) | (_, true) => String::new(),
            _ => format!("`{}`: ", e.path.join(".")),
        };
        let origin = e
            .metadata
            .as_ref()
            .map(|m| match &m.source {
                Some(figment::Source::File(p)) => format!(" (in {})", p.display()),
                _ => format!(" (from {})", m.name),
            })
            .unwrap_or_default();
        let kind = match &e.kind {
            figment::error::Kind::UnknownField(field, expected) => {
                format!(
                    "unknown key `{field}`; known keys here: {}",
                    expected.join(", ")
                )
            }
            other => other.to_string(),
        };
        parts.push(format!("{key}{kind}{origin}"));
    }
    parts.join("; ")
}

/// A layer of already-collected values with a name that error messages show.
struct NamedLayer {
    name: &'static str,
    dict: figment::value::Dict,
}

impl Provider for NamedLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    fn data(&self) -> Result<figment::value::Map<Profile, figment::value::Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// `+08:00` → 480, `-05:30` → -330, `Z`/`+00:00` → 0.
fn parse_offset(s: &str) -> Option<i32> {
    if s == "Z" || s == "UTC" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 60 + m))
}
