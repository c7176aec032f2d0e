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

/// A small valid script: asks, loops until the customer says goodbye.
pub const MINI_SCRIPT: &str = "name: 测试话术
start: ask
knowledge: mini-kb.yaml
variables:
  name: 客户
nodes:
  - id: ask
    type: ask
    say: \"{{name}}您好，请问您需要什么帮助？\"
    branches:
      - keywords: [再见, 拜拜]
        goto: bye
      - otherwise: true
        goto: ask
  - id: bye
    type: hangup
    say: 好的，再见。
";

/// A small valid knowledge base.
pub const MINI_KB: &str = "name: 测试知识库
entries:
  - id: hours
    question: 你们几点上班？
    similar: [营业时间是几点, 什么时候开门, 几点开门营业]
    answer: 我们每天早上九点到晚上九点营业。
  - id: refund
    question: 怎么申请退款？
    similar: [我要退款, 退款怎么操作, 钱怎么退回来]
    answer: 在订单页面点击申请退款，一到三个工作日退回原账户。
";
pub const START_MS: i64 = 1_800_000_000_000;

pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub clock: ManualClock,
    config: Config,
    reader: Clock,
    _dir: tempfile::TempDir,
}

async fn serve(store: Store, config: Config, clock: Clock) -> String {
    let state = AppState::new(store, config, clock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = server::router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
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
        let base = serve(store.clone(), config.clone(), clock.clone()).await;
        TestApp {
            base,
            store,
            clock: handle,
            config,
            reader: clock,
            _dir: dir,
        }
    }

    /// A second server process on the same database, as after a restart or on
    /// another node: nothing in memory is shared with the first.
    pub async fn restart(&mut self) {
        self.base = serve(self.store.clone(), self.config.clone(), self.reader.clone()).await;
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

    /// Tenant `shop` with an admin `boss` (logged in, returned) and the mini
    /// knowledge base and script uploaded (the script as `script_name`).
    pub async fn shop(&self, script_name: &str, script: &str) -> (Client, String) {
        let tenant = self.tenant("shop").await;
        self.user(&tenant, "boss", Role::Admin).await;
        let boss = self.login("shop", "boss").await;
        let script_path = format!("/api/v1/scripts/{script_name}");
        for (path, source) in [
            ("/api/v1/knowledge-bases/mini-kb", MINI_KB),
            (script_path.as_str(), script),
        ] {
            let (s, b) = call(&boss, self, "PUT", path, Some(&json!({ "source": source }))).await;
            assert!(s.is_success(), "{path}: {b}");
        }
        (boss, tenant)
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

/// Contacts the sample import adds to the list `calls`.
pub const SAMPLE_CONTACTS_CSV: &str =
    "姓名,手机号,小区\n张三,13800138000,翠湖苑\n李四,13900139000,翠湖苑\n";
/// The number the sample do-not-call request adds.
pub const SAMPLE_DNC_NUMBER: &str = "13900139001";

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
        "ConversationInput" => json!({ "type": "user_said", "text": "你好，我想问一下" }),
        "UploadScript" => json!({ "source": MINI_SCRIPT }),
        "LinkIdentity" => json!({ "kind": "crm", "value": format!("crm-{}", uuid_like()) }),
        "PutChannel" => {
            json!({ "kind": "wechat", "settings": { "token": "tonghua123", "app_id": "wx_test", "script": "mini" } })
        }
        "UploadKnowledgeBase" => json!({ "source": MINI_KB }),
        "ImportContacts" => json!({ "format": "csv", "content": SAMPLE_CONTACTS_CSV }),
        "AddDnc" => json!({ "numbers": [SAMPLE_DNC_NUMBER], "reason": "客户要求" }),
        "DialingPolicy" => json!({ "max_calls": 1, "per_days": 5 }),
        "CreateCampaign" => json!({
            "name": format!("c{}", uuid_like()), "script": "mini", "list": "calls", "trunk": "trunk1", "max_lines": 2,
            "settings": { "retry": { "busy": { "after_minutes": 30, "max_retries": 2 } } }
        }),
        "UpdateCampaign" => json!({ "max_lines": 3 }),
        "SetPresence" => json!({ "status": "busy" }),
        "ImportTable" => {
            json!({ "csv": "id,question,answer,similar\nrefund,怎么退款？,在订单页申请退款。,退款流程|如何退款\n" })
        }
        "SetAgent" => json!({ "skills": ["售后"], "max_chats": 2 }),
        "SetPhone" => {
            json!({ "sip_username": format!("p{}", uuid_like()), "password": "phone-pass-123" })
        }
        "HandoffReply" => json!({ "text": "您好，我是人工客服。" }),
        "HandoffClose" => json!({ "disposition": "resolved" }),
        "HandoffTransfer" => json!({ "agent_id": "someone" }),
        other => panic!("no sample body for schema {other}"),
    }
}

fn uuid_like() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

pub fn role_name(role: Role) -> &'static str {
    role.as_str()
}
