//! `tonghua admin …`: account management for an operator with shell access to
//! the machine (the one way to create tenants, and the way back in when every
//! admin of a tenant is locked out). Every change is audited as actor `cli`.

use std::io::BufRead;

use clap::Subcommand;
use serde_json::json;
use server::accounts;
use server::config::Config;
use store::{NewApiToken, NewAuditEntry, NewUser, Role, Store, Tenant, User};

use crate::Failure;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant.
    CreateTenant {
        /// Short name used at login: lowercase letters, digits, '-'.
        slug: String,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenants.
    ListTenants,
    /// Create a user; prints a generated password unless --password-stdin.
    CreateUser {
        #[arg(long)]
        tenant: String,
        username: String,
        /// admin, supervisor, agent or analyst.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List a tenant's users.
    ListUsers {
        #[arg(long)]
        tenant: String,
    },
    /// Set a new password (prints a generated one unless --password-stdin); unlocks the account.
    ResetPassword {
        #[arg(long)]
        tenant: String,
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API token acting as a user; the secret is printed once.
    CreateToken {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Limit the token to a permission (repeatable), e.g. --scope conversations.read.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List a tenant's API tokens.
    ListTokens {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke an API token by id.
    RevokeToken {
        #[arg(long)]
        tenant: String,
        id: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s)
        .ok_or_else(|| format!("'{s}' is not a role; use admin, supervisor, agent or analyst"))
}

pub(crate) fn now_ms() -> i64 {
    server::Clock::system().now_ms()
}

pub(crate) fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::runtime(e.to_string())
}

pub(crate) async fn tenant(store: &Store, slug: &str) -> Result<Tenant, Failure> {
    store
        .tenant_by_slug(slug)
        .await
        .map_err(fail)?
        .ok_or_else(|| {
            Failure::runtime(format!(
                "no tenant '{slug}' (see: tonghua admin list-tenants)"
            ))
        })
}

async fn user(store: &Store, tenant: &Tenant, username: &str) -> Result<User, Failure> {
    store
        .user_by_name(&tenant.id, username)
        .await
        .map_err(fail)?
        .ok_or_else(|| {
            Failure::runtime(format!(
                "no user '{username}' in tenant '{}' (see: tonghua admin list-users --tenant {})",
                tenant.slug, tenant.slug
            ))
        })
}

/// The password to set: from stdin, or a generated one that is printed.
fn new_password(from_stdin: bool) -> Result<(String, bool), Failure> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| fail(format!("cannot read the password from standard input: {e}")))?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        accounts::check_password_policy(&pw).map_err(fail)?;
        Ok((pw, false))
    } else {
        Ok((accounts::random_secret(12), true))
    }
}

pub(crate) async fn audit(
    store: &Store,
    tenant_id: Option<&str>,
    action: &str,
    target: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), Failure> {
    let entry = NewAuditEntry {
        tenant_id: tenant_id.map(str::to_string),
        actor_kind: "cli".into(),
        actor_name: std::env::var("USER")
            .ok()
            .or_else(|| Some("unknown".into())),
        action: action.into(),
        target: target.map(str::to_string),
        outcome: "ok".into(),
        detail,
        ..Default::default()
    };
    store.append_audit(&entry, now_ms()).await.map_err(fail)?;
    Ok(())
}

pub async fn run(config: &Config, cmd: &AdminCommand) -> Result<(), Failure> {
    let store = server::open_store(config).await.map_err(fail)?;
    let result = execute(&store, cmd).await;
    store.close().await;
    result
}

async fn execute(store: &Store, cmd: &AdminCommand) -> Result<(), Failure> {
    match cmd {
        AdminCommand::CreateTenant { slug, name } => {
            if !accounts::valid_slug(slug) {
                return Err(Failure::usage(format!(
                    "tenant '{slug}': use 1-63 lowercase letters, digits or '-'"
                )));
            }
            let t = store
                .create_tenant(slug, name.as_deref().unwrap_or(slug), now_ms())
                .await
                .map_err(fail)?;
            audit(
                store,
                Some(&t.id),
                "tenant.create",
                Some(&t.id),
                json!({ "slug": t.slug }),
            )
            .await?;
            println!("created tenant {} ({})", t.slug, t.id);
        }
        AdminCommand::ListTenants => {
            for t in store.tenants().await.map_err(fail)? {
                println!("{}\t{}\t{}", t.slug, t.id, t.name);
            }
        }
        AdminCommand::CreateUser {
            tenant: slug,
            username,
            role,
            display_name,
            password_stdin,
        } => {
            if !accounts::valid_username(username) {
                return Err(Failure::usage(format!(
                    "username '{username}': use 1-64 letters, digits or . _ @ -"
                )));
            }
            let t = tenant(store, slug).await?;
            let (password, generated) = new_password(*password_stdin)?;
            let hash = accounts::hash_password(&password).map_err(fail)?;
            let u = store
                .create_user(
                    NewUser {
                        tenant_id: &t.id,
                        username,
                        display_name: display_name.as_deref().unwrap_or(username),
                        role: *role,
                        password_hash: &hash,
                    },
                    now_ms(),
                )
                .await
                .map_err(fail)?;
            audit(
                store,
                Some(&t.id),
                "user.create",
                Some(&u.id),
                json!({ "username": u.username, "role": u.role }),
            )
            .await?;
            println!(
                "created user {} ({}) in {} as {}",
                u.username, u.id, t.slug, u.role
            );
            if generated {
                println!("password: {password}");
            }
        }
        AdminCommand::ListUsers { tenant: slug } => {
            let t = tenant(store, slug).await?;
            for u in store.users(&t.id).await.map_err(fail)? {
                let state = if u.disabled {
                    "disabled"
                } else if u.locked_until.is_some_and(|l| l > now_ms()) {
                    "locked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{}\t{}", u.username, u.role, state, u.id);
            }
        }
        AdminCommand::ResetPassword {
            tenant: slug,
            username,
            password_stdin,
        } => {
            let t = tenant(store, slug).await?;
            let u = user(store, &t, username).await?;
            let (password, generated) = new_password(*password_stdin)?;
            let hash = accounts::hash_password(&password).map_err(fail)?;
            store
                .set_password(&t.id, &u.id, &hash, now_ms())
                .await
                .map_err(fail)?;
            audit(
                store,
                Some(&t.id),
                "user.password_reset",
                Some(&u.id),
                json!({}),
            )
            .await?;
            println!(
                "password of {} in {} reset; account unlocked, sessions ended",
                u.username, t.slug
            );
            if generated {
                println!("password: {password}");
            }
        }
        AdminCommand::CreateToken {
            tenant: slug,
            user: username,
            name,
            expires_in_days,
            scopes,
        } => {
            let t = tenant(store, slug).await?;
            let u = user(store, &t, username).await?;
            for s in scopes {
                match server::auth::Permission::from_name(s) {
                    Some(p) if p.granted_to(u.role) => {}
                    Some(_) => {
                        return Err(Failure::usage(format!(
                            "{} ({}) does not have {s}",
                            u.username, u.role
                        )));
                    }
                    None => return Err(Failure::usage(format!("unknown permission {s}"))),
                }
            }
            let now = now_ms();
            let secret = accounts::new_api_token();
            let token = store
                .create_api_token(
                    NewApiToken {
                        tenant_id: &t.id,
                        user_id: &u.id,
                        name,
                        prefix: &accounts::token_display_prefix(&secret),
                        token_hash: &accounts::secret_hash(&secret),
                        expires_at: expires_in_days.map(|d| now + i64::from(d) * 86_400_000),
                        scopes: (!scopes.is_empty()).then_some(scopes.as_slice()),
                    },
                    now,
                )
                .await
                .map_err(fail)?;
            audit(
                store,
                Some(&t.id),
                "token.create",
                Some(&token.id),
                json!({ "name": name, "user": u.username }),
            )
            .await?;
            println!(
                "created token {} for {} (id {})",
                token.name, u.username, token.id
            );
            println!("secret (shown once): {secret}");
        }
        AdminCommand::ListTokens { tenant: slug } => {
            let t = tenant(store, slug).await?;
            for k in store.api_tokens(&t.id, None).await.map_err(fail)? {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                println!(
                    "{}\t{}\t{}…\t{}\tuser {}",
                    k.id, k.name, k.prefix, state, k.user_id
                );
            }
        }
        AdminCommand::RevokeToken { tenant: slug, id } => {
            let t = tenant(store, slug).await?;
            if !store
                .revoke_api_token(&t.id, id, now_ms())
                .await
                .map_err(fail)?
            {
                return Err(Failure::runtime(format!(
                    "no live token {id} in tenant {}",
                    t.slug
                )));
            }
            audit(store, Some(&t.id), "token.revoke", Some(id), json!({})).await?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}
