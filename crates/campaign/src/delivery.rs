//! The outbox of what follows a call: the CRM webhook (JSON, HMAC-SHA256
//! signed) and the SMS through an HTTP gateway. Rows are written in the same
//! transaction as the attempt's result, so a crash never loses one; they are
//! sent here with back-off until delivered or given up, and every try is
//! visible in the delivery log.

use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use store::{Delivery, Store, StoreError};

use crate::policy::delivery_backoff;
use crate::settings::Settings;

/// Header with `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>").
pub const SIGNATURE_HEADER: &str = "x-tonghua-signature";
/// Header with the milliseconds timestamp that was signed.
pub const TIMESTAMP_HEADER: &str = "x-tonghua-timestamp";
/// Header with the delivery id: the same on every retry, for de-duplication.
pub const DELIVERY_HEADER: &str = "x-tonghua-delivery";

/// `sha256=<hex>` of HMAC-SHA256 over `"{timestamp}.{body}"`. Receivers
/// recompute it and compare in constant time; the timestamp lets them refuse
/// old replays.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Sends due deliveries.
#[derive(Clone)]
pub struct Deliverer {
    store: Store,
    http: reqwest::Client,
    now: crate::Now,
}

impl Deliverer {
    pub fn new(store: Store, now: crate::Now) -> Deliverer {
        // rustls needs a process-wide provider before a client is built;
        // an error means one is installed already (by the server): fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Deliverer { store, http, now }
    }

    /// Tries every due delivery once; returns how many were tried.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let due = self.store.due_deliveries((self.now)(), 50).await?;
        let n = due.len();
        for d in due {
            let (status, error) = self.send(&d).await;
            let now = (self.now)();
            let ok = status.is_some_and(|s| (200..300).contains(&s));
            let next = if ok {
                None
            } else {
                delivery_backoff(d.tries + 1).map(|wait| now + wait)
            };
            if !ok {
                tracing::warn!(delivery = %d.id, kind = %d.kind, ?status, error = error.as_deref().unwrap_or(""), "delivery failed");
            }
            self.store
                .record_delivery_try(&d.id, ok, status, error.as_deref(), next, now)
                .await?;
        }
        Ok(n)
    }

    async fn send(&self, d: &Delivery) -> (Option<i64>, Option<String>) {
        // The secret and token are read now, not stored with the delivery: a
        // rotated secret applies to retries, and the outbox holds no secrets.
        let settings = match self.store.campaign(&d.tenant_id, &d.campaign_id).await {
            Ok(Some(c)) => Settings::from_json(&c.settings).ok(),
            _ => None,
        };
        let body = match serde_json::to_vec(&d.payload) {
            Ok(b) => b,
            Err(e) => return (None, Some(e.to_string())),
        };
        let timestamp = (self.now)();
        let mut request = self
            .http
            .post(&d.url)
            .header("content-type", "application/json")
            .header(DELIVERY_HEADER, &d.id)
            .header(TIMESTAMP_HEADER, timestamp.to_string());
        match d.kind.as_str() {
            "webhook" => {
                let Some(secret) = settings
                    .as_ref()
                    .and_then(|s| s.webhook.as_ref())
                    .map(|w| w.secret.clone())
                else {
                    return (
                        None,
                        Some("the campaign has no webhook secret any more".into()),
                    );
                };
                request = request.header(SIGNATURE_HEADER, sign(&secret, timestamp, &body));
            }
            _ => {
                if let Some(token) = settings
                    .as_ref()
                    .and_then(|s| s.sms.as_ref())
                    .and_then(|s| s.token.clone())
                {
                    request = request.bearer_auth(token);
                }
            }
        }
        match request.body(body).send().await {
            Ok(response) => {
                let status = i64::from(response.status().as_u16());
                let error = (!response.status().is_success())
                    .then(|| format!("HTTP {}", response.status()));
                (Some(status), error)
            }
            Err(e) => (None, Some(e.to_string())),
        }
    }

    /// Runs until `shutdown` resolves, polling every `every`.
    pub async fn run(
        self: Arc<Self>,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(every) => {
                    if let Err(e) = self.deliver_due().await {
                        tracing::error!(error = %e, "delivering campaign webhooks failed");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sign;

    #[test]
    fn signature_matches_an_independent_computation() {
        // python3 -c "import hmac,hashlib;print(hmac.new(b'Jefe',b'0.x',hashlib.sha256).hexdigest())"
        assert_eq!(
            sign("Jefe", 0, b"x"),
            "sha256=6d15f8f565f81ca17757f8569ccb192a1f1e1b2695979a6115221439a5eb67cb"
        );
        assert_ne!(sign("Jefe", 1, b"x"), sign("Jefe", 0, b"x"));
    }
}
