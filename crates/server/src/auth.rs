//! Who is calling and what they may do.
//!
//! A request is authenticated by the session cookie (console) or by an
//! `Authorization: Bearer th_…` API token (programs). Either way the result is
//! a [`Caller`]: a user of exactly one tenant with one role. Handlers confine
//! every query to `caller.tenant_id`, which is how tenants stay apart.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use store::Role;

use crate::accounts::secret_hash;
use crate::error::{ApiError, DeniedCaller};
use crate::state::AppState;

/// Name of the console's session cookie.
pub const SESSION_COOKIE: &str = "tonghua_session";

/// What a role may do. Listed once here so the role matrix is in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Create users, change roles, disable, reset passwords.
    ManageUsers,
    /// List and read users of the tenant.
    ViewUsers,
    /// List and revoke every token of the tenant (everyone manages their own).
    ManageAllTokens,
    /// Read the audit log.
    ViewAudit,
    /// Read conversations and their event logs.
    ReadConversations,
    /// Start conversations and append to their event logs.
    WriteConversations,
    /// Read scripts and knowledge bases.
    ViewBots,
    /// Upload scripts and knowledge bases.
    ManageBots,
    /// Work as an agent: set one's presence, take, answer and close
    /// conversations handed over by the robot.
    WorkHandoffs,
    /// Run the floor: every agent and queue, skills, forced transfers.
    SuperviseHandoffs,
    /// Read campaigns, their progress, attempts and deliveries, and contact lists.
    ViewCampaigns,
    /// Create, start, pause, resume and stop campaigns; set the frequency cap.
    ManageCampaigns,
    /// Import and read contacts; manage the do-not-call list.
    ManageContacts,
}

impl Permission {
    pub fn name(self) -> &'static str {
        match self {
            Permission::ManageUsers => "users.manage",
            Permission::ViewUsers => "users.view",
            Permission::ManageAllTokens => "tokens.manage_all",
            Permission::ViewAudit => "audit.view",
            Permission::ReadConversations => "conversations.read",
            Permission::WriteConversations => "conversations.write",
            Permission::ViewBots => "bots.view",
            Permission::ManageBots => "bots.manage",
            Permission::WorkHandoffs => "handoffs.work",
            Permission::SuperviseHandoffs => "handoffs.supervise",
            Permission::ViewCampaigns => "campaigns.view",
            Permission::ManageCampaigns => "campaigns.manage",
            Permission::ManageContacts => "contacts.manage",
        }
    }

    pub fn from_name(name: &str) -> Option<Permission> {
        crate::api::ALL_PERMISSIONS
            .into_iter()
            .find(|p| p.name() == name)
    }

    pub fn granted_to(self, role: Role) -> bool {
        use Permission::*;
        match role {
            Role::Admin => true,
            // Supervisors run the outbound campaigns of their team.
            Role::Supervisor => matches!(
                self,
                ViewUsers
                    | ReadConversations
                    | WriteConversations
                    | ViewBots
                    | WorkHandoffs
                    | SuperviseHandoffs
                    | ViewCampaigns
                    | ManageCampaigns
                    | ManageContacts
            ),
            Role::Agent => matches!(
                self,
                ReadConversations | WriteConversations | ViewBots | WorkHandoffs
            ),
            // Analysts see how campaigns do, not the contact lists themselves.
            Role::Analyst => matches!(self, ReadConversations | ViewBots | ViewCampaigns),
        }
    }
}

/// Where a request came from, for audit entries.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .config()
            .auth
            .trust_forwarded_for
            .then(|| parts.headers.get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientInfo {
            ip: forwarded.or(peer),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        })
    }
}

#[derive(Debug, Clone)]
pub enum Credential {
    /// The SHA-256 of the session cookie.
    Session(String),
    /// The id of the API token used.
    Token(String),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: String,
    pub user_id: String,
    pub username: String,
    pub role: Role,
    pub credential: Credential,
    pub client: ClientInfo,
    /// A scoped API token may do only these (within the role).
    pub scopes: Option<Vec<Permission>>,
}

impl Caller {
    /// Refuses with 403 (and an audit entry, written by the error layer)
    /// unless the caller's role has `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.can(permission) {
            return Ok(());
        }
        let mut err = ApiError::forbidden(permission.name());
        err.denied = Some(Box::new(DeniedCaller {
            tenant_id: self.tenant_id.clone(),
            actor_kind: self.actor_kind(),
            actor_id: self.actor_id().to_string(),
            actor_name: self.username.clone(),
            permission: permission.name(),
        }));
        Err(err)
    }

    /// The role grants it, and the token (if scoped) includes it.
    pub fn can(&self, permission: Permission) -> bool {
        permission.granted_to(self.role)
            && self.scopes.as_ref().is_none_or(|s| s.contains(&permission))
    }

    pub fn actor_kind(&self) -> &'static str {
        match self.credential {
            Credential::Session(_) => "user",
            Credential::Token(_) => "token",
        }
    }

    /// The user id, or for a token `user_id/token_id` so audits show which
    /// token acted.
    pub fn actor_id(&self) -> String {
        match &self.credential {
            Credential::Session(_) => self.user_id.clone(),
            Credential::Token(id) => format!("{}/{}", self.user_id, id),
        }
    }
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = ClientInfo::from_request_parts(parts, state).await?;
        let now = state.now_ms();
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|v| v.trim().to_string());
        if let Some(secret) = bearer {
            // A malformed or unknown token is refused outright rather than
            // falling back to the cookie: the caller clearly meant the token.
            let found = state
                .store()
                .authenticate_api_token(&secret_hash(&secret), now)
                .await?;
            let Some((token, user)) = found else {
                return Err(ApiError::unauthenticated());
            };
            return Ok(Caller {
                tenant_id: user.tenant_id,
                user_id: user.id,
                username: user.username,
                role: user.role,
                scopes: token.scopes.as_ref().map(|names| {
                    names
                        .iter()
                        .filter_map(|n| Permission::from_name(n))
                        .collect()
                }),
                credential: Credential::Token(token.id),
                client,
            });
        }
        if let Some(cookie) = session_cookie(parts) {
            let hash = secret_hash(&cookie);
            if let Some(session) = state.store().session(&hash, now).await? {
                return Ok(Caller {
                    tenant_id: session.user.tenant_id,
                    user_id: session.user.id,
                    username: session.user.username,
                    role: session.user.role,
                    credential: Credential::Session(hash),
                    client,
                    scopes: None,
                });
            }
        }
        Err(ApiError::unauthenticated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_matrix() {
        use Permission::*;
        let all = crate::api::ALL_PERMISSIONS;
        assert!(all.iter().all(|p| p.granted_to(Role::Admin)));
        let of = |role| {
            all.iter()
                .filter(|p| p.granted_to(role))
                .copied()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            of(Role::Supervisor),
            vec![
                ViewUsers,
                ReadConversations,
                WriteConversations,
                ViewBots,
                WorkHandoffs,
                SuperviseHandoffs,
                ViewCampaigns,
                ManageCampaigns,
                ManageContacts
            ]
        );
        assert_eq!(
            of(Role::Agent),
            vec![
                ReadConversations,
                WriteConversations,
                ViewBots,
                WorkHandoffs
            ]
        );
        assert_eq!(
            of(Role::Analyst),
            vec![ReadConversations, ViewBots, ViewCampaigns]
        );
        for p in all {
            assert_eq!(Permission::from_name(p.name()), Some(p));
        }
        assert_eq!(Permission::from_name("root"), None);
    }
}
