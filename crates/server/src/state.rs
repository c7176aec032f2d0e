use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use store::{NewAuditEntry, Store};

use crate::auth::Caller;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::ApiResult;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    bots: crate::bots::Bots,
    utc_offset_minutes: i32,
    config: Config,
    clock: Clock,
    login_limiter: DefaultKeyedRateLimiter<IpAddr>,
    visitor_limiter: DefaultKeyedRateLimiter<IpAddr>,
    wechat: crate::wechat_client::WeChatClient,
    telephony: std::sync::OnceLock<crate::telephony::Telephony>,
    phones: crate::phones::Phones,
}

impl AppState {
    pub fn new(store: Store, config: Config, clock: Clock) -> Self {
        let phones = crate::phones::Phones::new(&config.telephony.agent_phones);
        let per_minute =
            NonZeroU32::new(config.auth.login_attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            inner: Arc::new(Inner {
                store,
                bots: crate::bots::Bots::default(),
                // Validated when the config was loaded; UTC if built by hand wrongly.
                utc_offset_minutes: config.utc_offset_minutes().unwrap_or(0),
                login_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
                visitor_limiter: RateLimiter::keyed(Quota::per_minute(
                    NonZeroU32::new(config.auth.new_chat_visitors_per_minute)
                        .unwrap_or(NonZeroU32::MIN),
                )),
                config,
                clock,
                wechat: crate::wechat_client::WeChatClient::new(),
                telephony: std::sync::OnceLock::new(),
                phones,
            }),
        }
    }

    /// WeChat's customer-service API (messages outside the passive reply).
    pub fn wechat(&self) -> &crate::wechat_client::WeChatClient {
        &self.inner.wechat
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn bots(&self) -> &crate::bots::Bots {
        &self.inner.bots
    }

    /// The deployment's offset from UTC (the engine's wall times are in it).
    pub fn utc_offset_minutes(&self) -> i32 {
        self.inner.utc_offset_minutes
    }

    /// The engine's wall-clock reference for now.
    pub fn wall_time(&self) -> dialog::WallTime {
        crate::bots::wall_time(self.now_ms(), self.inner.utc_offset_minutes)
    }

    /// The phone channel, when telephony is enabled (outbound calls: `originate`).
    pub fn telephony(&self) -> Option<&crate::telephony::Telephony> {
        self.inner.telephony.get()
    }

    /// Installs the phone channel (once, at start).
    pub fn set_telephony(&self, telephony: crate::telephony::Telephony) {
        let _ = self.inner.telephony.set(telephony);
    }

    /// Agents' SIP phones: the registrar's bindings.
    pub fn phones(&self) -> &crate::phones::Phones {
        &self.inner.phones
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// `Err(seconds to wait)` when this address has used up its login attempts.
    pub fn check_login_rate(&self, ip: IpAddr) -> Result<(), u64> {
        take_one(&self.inner.login_limiter, ip)
    }

    /// `Err(seconds to wait)` when this address has started too many new
    /// chat conversations recently.
    pub fn check_new_visitor_rate(&self, ip: IpAddr) -> Result<(), u64> {
        take_one(&self.inner.visitor_limiter, ip)
    }

    /// Forgets client addresses whose allowances have fully recovered, so
    /// the limiters' memory does not grow with every address ever seen.
    pub fn forget_idle_login_clients(&self) {
        for limiter in [&self.inner.login_limiter, &self.inner.visitor_limiter] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Records a successful state-changing action by a signed-in caller.
    pub async fn audit(
        &self,
        caller: &Caller,
        action: &str,
        target: Option<&str>,
        detail: serde_json::Value,
    ) -> ApiResult<()> {
        let entry = NewAuditEntry {
            tenant_id: Some(caller.tenant_id.clone()),
            actor_kind: caller.actor_kind().to_string(),
            actor_id: Some(caller.actor_id().to_string()),
            actor_name: Some(caller.username.clone()),
            action: action.to_string(),
            target: target.map(str::to_string),
            outcome: "ok".to_string(),
            client_ip: caller.client.ip.map(|ip| ip.to_string()),
            request_id: caller.client.request_id.clone(),
            detail,
        };
        self.store().append_audit(&entry, self.now_ms()).await?;
        Ok(())
    }
}

/// Takes one unit of `ip`'s allowance; `Err(whole seconds to wait)` when none is left.
fn take_one(limiter: &DefaultKeyedRateLimiter<IpAddr>, ip: IpAddr) -> Result<(), u64> {
    limiter.check_key(&ip).map_err(|not_until| {
        let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
        not_until.wait_time_from(now).as_secs().max(1)
    })
}
