//! A real server on an ephemeral loopback port, with a real SQLite database in
//! a temporary directory and a clock the test moves.

#![allow(dead_code)]

use std::net::SocketAddr;

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use server::clock::{Clock, ManualClock};
use server::{AppState, Config};
use store::{NewUser, Role, Store};

pub const PASSWORD: &str = "correct-horse-battery";
pub const START_MS: i64 = 1_800_000_000_000;

pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub clock: ManualClock,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.demo.enabled = false;
        tweak(&mut config);
        let store = Store::open(dir.path()).await.expect("store");
        let (clock, handle) = Clock::manual(START_MS);
        let state = AppState::new(store.clone(), config, clock);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = server::router(state).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestApp {
            base: format!("http://{addr}"),
            store,
            clock: handle,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates a tenant directly in the store.
    pub async fn tenant(&self, slug: &str) -> String {
        self.store
            .create_tenant(slug, slug, START_MS)
            .await
            .expect("tenant")
            .id
    }

    /// Creates a user directly in the store; returns its id.
    pub async fn user(&self, tenant_id: &str, username: &str, role: Role) -> String {
        let hash = server::accounts::hash_password(PASSWORD).expect("hash");
        self.store
            .create_user(
                NewUser {
                    tenant_id,
                    username,
                    display_name: username,
                    role,
                    password_hash: &hash,
                },
                START_MS,
            )
            .await
            .expect("user")
            .id
    }

    /// A client with a cookie jar, logged in.
    pub async fn login(&self, tenant: &str, username: &str) -> Client {
        let client = Client::builder()
            .cookie_store(true)
            .build()
            .expect("client");
        let r = client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "tenant": tenant, "username": username, "password": PASSWORD }))
            .send()
            .await
            .expect("send");
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "login of {username}@{tenant}: {}",
            r.text().await.unwrap_or_default()
        );
        client
    }

    pub async fn try_login(
        &self,
        tenant: &str,
        username: &str,
        password: &str,
    ) -> (StatusCode, Value) {
        let r = Client::new()
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "tenant": tenant, "username": username, "password": password }))
            .send()
            .await
            .expect("send");
        split(r).await
    }

    /// Number of audit entries of a tenant, read from the store.
    pub async fn audit_count(&self, tenant_id: &str) -> usize {
        self.store
            .audit_entries(
                tenant_id,
                &store::AuditQuery {
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await
            .expect("audit")
            .len()
    }
}

pub async fn split(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Sends `method path` with an optional JSON body.
pub async fn call(
    client: &Client,
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, app.url(path));
    if let Some(b) = body {
        req = req.json(b);
    }
    split(req.send().await.expect("send")).await
}

/// A valid body for each request schema in the route table.
pub fn sample_body(schema: &str) -> Value {
    match schema {
        "LoginRequest" => {
            json!({ "tenant": "nobody", "username": "nobody", "password": "whatever-it-is" })
        }
        "ChangePassword" => json!({ "current_password": PASSWORD, "new_password": PASSWORD }),
        "CreateUser" => {
            json!({ "username": format!("u{}", uuid_like()), "role": "agent", "password": PASSWORD })
        }
        "UpdateUser" => json!({ "display_name": "改名" }),
        "ResetPassword" => json!({ "password": PASSWORD }),
        "CreateToken" => json!({ "name": "sample" }),
        "CreateConversation" => json!({ "channel": "api" }),
        "AppendEvent" => json!({ "kind": "user_said", "payload": { "text": "你好" } }),
        other => panic!("no sample body for schema {other}"),
    }
}

fn uuid_like() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

pub fn role_name(role: Role) -> &'static str {
    role.as_str()
}
