//! First start: with an empty database and the demo enabled, create a demo
//! tenant and its admin so a person can log in right after `make run`, and
//! an agent with a SIP phone account, so a softphone can register and take
//! the calls the robot hands over.

use serde_json::json;
use store::{DocumentKind, NewAuditEntry, NewUser, Role, Store, StoreError};

use crate::accounts;
use crate::clock::Clock;
use crate::config::Config;

/// The example scripts and knowledge bases the demo tenant starts with,
/// embedded in the binary so a fresh install needs no files beside it.
/// Knowledge bases come first: scripts are checked against the one they name.
pub const DEMO_DOCUMENTS: &[(DocumentKind, &str, &str)] = &[
    (
        DocumentKind::KnowledgeBase,
        "renovation",
        include_str!("../../../examples/kb/renovation.yaml"),
    ),
    (
        DocumentKind::KnowledgeBase,
        "ecommerce",
        include_str!("../../../examples/kb/ecommerce.yaml"),
    ),
    (
        DocumentKind::Script,
        "renovation",
        include_str!("../../../examples/scripts/renovation.yaml"),
    ),
    (
        DocumentKind::Script,
        "service",
        include_str!("../../../examples/scripts/service.yaml"),
    ),
];

/// The demo tenant's web chat channel, embedded in the landing page.
pub const DEMO_CHAT: &str = "site";

/// What the first start created; the password is shown once.
#[derive(Debug, Clone)]
pub struct DemoCreated {
    pub tenant: String,
    pub username: String,
    pub password: String,
    pub password_from_config: bool,
    /// The demo agent's console login and SIP phone (same password).
    pub agent: String,
    pub agent_sip_user: String,
    pub agent_password: String,
}

/// The demo agent's console name and the SIP user its phone registers as.
pub const DEMO_AGENT: &str = "agent1";
pub const DEMO_AGENT_SIP_USER: &str = "8001";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("demo.admin_password (TONGHUA_ADMIN_PASSWORD): {0}")]
    Password(#[from] accounts::PasswordError),
}

/// Creates the demo tenant and admin when the database has no tenant at all.
pub async fn ensure_demo(
    store: &Store,
    config: &Config,
    clock: &Clock,
) -> Result<Option<DemoCreated>, BootstrapError> {
    if !config.demo.enabled || !store.tenants().await?.is_empty() {
        return Ok(None);
    }
    let from_config = !config.demo.admin_password.is_empty();
    let password = if from_config {
        config.demo.admin_password.clone()
    } else {
        accounts::random_secret(12)
    };
    let hash = accounts::hash_password(&password)?;
    let now = clock.now_ms();
    let tenant = store
        .create_tenant(&config.demo.tenant, "演示租户 Demo", now)
        .await?;
    let user = store
        .create_user(
            NewUser {
                tenant_id: &tenant.id,
                username: &config.demo.admin_user,
                display_name: "管理员 Admin",
                role: Role::Admin,
                password_hash: &hash,
            },
            now,
        )
        .await?;
    store
        .append_audit(
            &NewAuditEntry {
                tenant_id: Some(tenant.id.clone()),
                actor_kind: "system".into(),
                action: "tenant.bootstrap".into(),
                target: Some(user.id.clone()),
                outcome: "ok".into(),
                detail: json!({ "tenant": tenant.slug, "admin": user.username }),
                ..Default::default()
            },
            now,
        )
        .await?;
    for (kind, name, source) in DEMO_DOCUMENTS {
        let (doc, _) = store
            .put_document(&tenant.id, *kind, name, source, Some("system"), now)
            .await?;
        tracing::info!(
            kind = kind.as_str(),
            name,
            version = doc.version,
            "loaded demo document"
        );
    }
    // An agent with a phone account. No presence row yet: until they sign in
    // and go available, the tenant has no agents and the robot does not
    // promise a person.
    let agent_password = accounts::random_secret(12);
    let agent = store
        .create_user(
            NewUser {
                tenant_id: &tenant.id,
                username: DEMO_AGENT,
                display_name: "坐席小周 Agent",
                role: Role::Agent,
                password_hash: &accounts::hash_password(&agent_password)?,
            },
            now,
        )
        .await?;
    let realm = &config.telephony.agent_phones.realm;
    store
        .set_agent_phone(
            &tenant.id,
            &agent.id,
            DEMO_AGENT_SIP_USER,
            realm,
            &sip::registrar::ha1(DEMO_AGENT_SIP_USER, realm, &agent_password),
            now,
        )
        .await?;
    // A web chat on the service robot, shown on the landing page.
    let chat = serde_json::json!({ "script": "service", "title": "优品商城在线客服", "colour": "#1677ff", "allowed_origins": [] });
    store
        .put_channel(&tenant.id, DEMO_CHAT, "web", &chat, now)
        .await?;
    Ok(Some(DemoCreated {
        tenant: tenant.slug,
        username: user.username,
        password,
        password_from_config: from_config,
        agent: agent.username,
        agent_sip_user: DEMO_AGENT_SIP_USER.to_string(),
        agent_password,
    }))
}

/// Prints the first-start banner (to stdout, once).
pub fn announce(created: &DemoCreated, http: std::net::SocketAddr) {
    let password = if created.password_from_config {
        "(from TONGHUA_ADMIN_PASSWORD / demo.admin_password)".to_string()
    } else {
        created.password.clone()
    };
    println!(
        "\n首次启动：已创建演示租户和管理员 / First start: demo tenant and admin created\n  \
         console  http://{}\n  tenant   {}\n  username {}\n  password {}\n  \
         (shown only this once; reset with: tonghua admin reset-password --tenant {} {})\n  \
         demo scripts: {}\n  \
         agent    {} / {}  (坐席；话机 SIP phone: user {}, same password, registers with serve --sip)\n",
        http,
        created.tenant,
        created.username,
        password,
        created.tenant,
        created.username,
        DEMO_DOCUMENTS
            .iter()
            .filter(|(k, ..)| *k == DocumentKind::Script)
            .map(|(_, n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
        created.agent,
        created.agent_password,
        created.agent_sip_user,
    );
}
