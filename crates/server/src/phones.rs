//! Agents' SIP phones: the registrar behind Tonghua's SIP agent and the
//! in-memory table of where each agent's phone is registered.
//!
//! A phone REGISTERs with digest auth: no `Authorization` gets a 401
//! challenge (realm `telephony.agent_phones.realm`, a self-checking nonce,
//! qop=auth); the answer is checked against the HA1 stored for that SIP
//! username (`agent_phones`, migration 0010); an unknown user gets 404 and a
//! wrong password 403, each with one log line naming the user and address.
//! A good REGISTER binds the Contact for the granted time (`Expires: 0`
//! unbinds); the voice handoff routes phone calls only to agents with a
//! live binding ([`Phones::can_take_call`]).
//!
//! Invariants: bindings live in memory and expire (a restart forgets them;
//! phones re-register); the password is never stored or logged; nothing a
//! REGISTER carries can panic the registrar.

use std::collections::HashMap;
use std::sync::Mutex;

use sip::registrar::{
    Authorization, Binding, Bindings, Nonces, RegisterAsk, RegisterRequest, register_ask,
    register_user,
};

use crate::config::AgentPhonesConfig;
use crate::state::AppState;

/// Nonces are accepted this long after they were issued.
const NONCE_LIFETIME_MS: u64 = 5 * 60 * 1000;
/// The shortest registration granted.
const MIN_EXPIRES_SECS: u32 = 60;

#[derive(Default)]
struct Table {
    bindings: Bindings,
    /// SIP username → (tenant id, user id) of the bound phone.
    owners: HashMap<String, (String, String)>,
    /// (tenant id, user id) → until when (ms) the agent is not offered calls
    /// (their phone did not answer the last one).
    resting: HashMap<(String, String), i64>,
    /// Agents whose phone is ringing or on a bridged call now.
    busy: std::collections::HashSet<(String, String)>,
}

/// The registrar's state, shared by the SIP side and the API.
pub struct Phones {
    table: Mutex<Table>,
    nonces: Nonces,
    realm: String,
    max_expires: u32,
}

impl std::fmt::Debug for Phones {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phones")
            .field("realm", &self.realm)
            .finish()
    }
}

/// Where an agent's phone is, for calling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneAt {
    pub sip_username: String,
    pub binding: Binding,
}

impl Phones {
    pub fn new(config: &AgentPhonesConfig) -> Self {
        Self {
            table: Mutex::default(),
            // A fresh secret per process: nonces of a previous run are stale.
            nonces: Nonces::new(
                format!("{:032x}", rand::random::<u128>()),
                NONCE_LIFETIME_MS,
            ),
            realm: config.realm.clone(),
            max_expires: config.max_expires_secs.max(MIN_EXPIRES_SECS),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The agent's live registration, if any.
    pub fn phone_of(&self, tenant_id: &str, user_id: &str, now_ms: i64) -> Option<PhoneAt> {
        let now = u64::try_from(now_ms).unwrap_or(0);
        let t = self.table();
        t.owners
            .iter()
            .filter(|(_, (tn, u))| tn == tenant_id && u == user_id)
            .find_map(|(name, _)| {
                t.bindings.lookup(name, now).map(|b| PhoneAt {
                    sip_username: name.clone(),
                    binding: b.clone(),
                })
            })
    }

    /// Whether a phone call may be routed to this agent now: their phone is
    /// registered and did not just fail to answer.
    pub fn can_take_call(&self, tenant_id: &str, user_id: &str, now_ms: i64) -> bool {
        let key = (tenant_id.to_string(), user_id.to_string());
        let unavailable = {
            let t = self.table();
            t.busy.contains(&key) || t.resting.get(&key).is_some_and(|until| *until > now_ms)
        };
        !unavailable && self.phone_of(tenant_id, user_id, now_ms).is_some()
    }

    /// Offers the agent no calls until `until_ms` (their phone did not answer).
    pub fn rest(&self, tenant_id: &str, user_id: &str, until_ms: i64) {
        self.table()
            .resting
            .insert((tenant_id.to_string(), user_id.to_string()), until_ms);
    }

    /// Marks the agent's phone as ringing or in a call (no second call is
    /// routed to it), or free again.
    pub fn set_busy(&self, tenant_id: &str, user_id: &str, busy: bool) {
        let key = (tenant_id.to_string(), user_id.to_string());
        let mut t = self.table();
        if busy {
            t.busy.insert(key);
        } else {
            t.busy.remove(&key);
        }
    }

    /// Forgets the agent's registration (their credentials changed).
    pub fn forget(&self, tenant_id: &str, user_id: &str) {
        let mut t = self.table();
        let names: Vec<String> = t
            .owners
            .iter()
            .filter(|(_, (tn, u))| tn == tenant_id && u == user_id)
            .map(|(n, _)| n.clone())
            .collect();
        for n in names {
            t.owners.remove(&n);
            t.bindings.unbind(&n);
        }
    }

    fn challenge(&self, now: u64, stale: bool) -> Vec<(String, String)> {
        vec![(
            "WWW-Authenticate".to_string(),
            self.nonces.challenge(&self.realm, now, stale),
        )]
    }
}

/// Answers one REGISTER (see the module doc).
pub async fn handle(state: &AppState, req: RegisterRequest) {
    let phones = state.phones();
    let now_ms = state.now_ms();
    let now = u64::try_from(now_ms).unwrap_or(0);
    let peer = req.source.addr();
    let tcp = matches!(req.source, sip::Peer::Tcp(_));
    let m = &req.message;
    let Some(user) = register_user(m) else {
        tracing::info!(%peer, "REGISTER refused: no user in To");
        return req.answer(400, Vec::new());
    };
    let Some(auth) = m.header("Authorization").and_then(Authorization::parse) else {
        return req.answer(401, phones.challenge(now, false));
    };
    if !phones.nonces.fresh(&auth.nonce, now) {
        return req.answer(401, phones.challenge(now, true));
    }
    if auth.username != user || auth.realm != phones.realm {
        tracing::warn!(%peer, user, auth_user = %auth.username, realm = %auth.realm,
            "REGISTER refused: the credentials are for another user or realm");
        return req.answer(403, Vec::new());
    }
    let account = match state.store().agent_phone_by_username(&user).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::warn!(%peer, user, "REGISTER refused: no agent has this SIP username");
            return req.answer(404, Vec::new());
        }
        Err(e) => {
            tracing::error!(error = %e, "REGISTER: the phone accounts cannot be read");
            return req.answer(500, Vec::new());
        }
    };
    if account.realm != phones.realm || !auth.verify(&account.ha1, "REGISTER") {
        tracing::warn!(%peer, user, "REGISTER refused: wrong password for the agent's phone");
        return req.answer(403, Vec::new());
    }
    let ask = match register_ask(m, phones.max_expires) {
        Ok(a) => a,
        Err(why) => {
            tracing::info!(%peer, user, why, "REGISTER refused: unreadable Contact/Expires");
            return req.answer(
                400,
                vec![("Warning".into(), format!("399 tonghua \"{why}\""))],
            );
        }
    };
    let tenant = account.tenant_id.clone();
    let headers = match ask {
        RegisterAsk::Bind { contact, expires } => {
            let granted = expires.clamp(MIN_EXPIRES_SECS, phones.max_expires);
            {
                let mut t = phones.table();
                t.bindings.bind(
                    &user,
                    Binding {
                        contact: contact.clone(),
                        source: peer,
                        tcp,
                        expires_at_ms: now + u64::from(granted) * 1000,
                    },
                );
                t.owners
                    .insert(user.clone(), (tenant.clone(), account.user_id.clone()));
                t.resting.remove(&(tenant.clone(), account.user_id.clone()));
                t.bindings.purge(now);
            }
            tracing::info!(%peer, user, contact, expires = granted, "agent phone registered");
            metrics::counter!("tonghua_agent_phone_registrations_total").increment(1);
            vec![
                (
                    "Contact".to_string(),
                    format!("<{contact}>;expires={granted}"),
                ),
                ("Expires".to_string(), granted.to_string()),
            ]
        }
        RegisterAsk::Unbind => {
            {
                let mut t = phones.table();
                t.bindings.unbind(&user);
                t.owners.remove(&user);
            }
            tracing::info!(%peer, user, "agent phone unregistered");
            Vec::new()
        }
        RegisterAsk::Query => match phones.table().bindings.lookup(&user, now) {
            Some(b) => vec![(
                "Contact".to_string(),
                format!(
                    "<{}>;expires={}",
                    b.contact,
                    b.expires_at_ms.saturating_sub(now) / 1000
                ),
            )],
            None => Vec::new(),
        },
    };
    req.answer(200, headers);
    // A phone coming or going changes who can take waiting calls.
    crate::routes::handoffs::dispatch(state, &tenant).await;
}
