//! Server-side benchmarks: what durability costs on the event log, and how
//! long one hosted conversation turn takes end to end (HTTP, auth, engine,
//! log commit). Run in release mode:
//!
//!     cargo run --release -p server --example bench
//!
//! Prints medians and 95th percentiles; docs/benchmarks.md records a run.

use std::net::SocketAddr;
use std::time::Instant;

use serde_json::json;
use store::{NewConversation, NewUser, Role, Store};

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

async fn appends(store: &Store, label: &str, n: usize, batch: usize) -> f64 {
    let t = store
        .create_tenant(&format!("t{}", uuid::Uuid::now_v7().simple()), "bench", 0)
        .await
        .expect("tenant");
    let c = store
        .create_conversation(
            NewConversation {
                tenant_id: &t.id,
                channel: "bench",
                external_ref: None,
                metadata: &json!({}),
            },
            0,
        )
        .await
        .expect("conversation");
    let entry = (
        "action.say".to_string(),
        json!({ "type": "say", "text": "您好，我是美家装饰的家装顾问，想跟您简单聊两句装修的事。", "barge_in": "any", "interruptible": true }),
    );
    let entries = vec![entry; batch];
    let mut ms = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t0 = Instant::now();
        store
            .append_events(&t.id, &c.id, &entries, 1)
            .await
            .expect("append")
            .expect("exists");
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let total = start.elapsed().as_secs_f64();
    let (p50, p95) = stats(ms);
    let per_sec = (n * batch) as f64 / total;
    println!("{label:<44} median {p50:7.3} ms  p95 {p95:7.3} ms  {per_sec:9.0} entries/s");
    p50
}

#[tokio::main]
async fn main() {
    let n = std::env::var("BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    println!("== event log appends ({n} commits each; temp dir on this machine's disk)");
    let durable_dir = tempfile::tempdir().expect("tmp");
    let relaxed_dir = tempfile::tempdir().expect("tmp");
    let durable = Store::open(durable_dir.path()).await.expect("open");
    let relaxed = Store::open_relaxed_for_benchmarks(relaxed_dir.path())
        .await
        .expect("open");
    let full1 = appends(&durable, "synchronous=FULL, 1 entry per commit", n, 1).await;
    let norm1 = appends(&relaxed, "synchronous=NORMAL (baseline), 1 entry", n, 1).await;
    let full6 = appends(&durable, "synchronous=FULL, 6 entries per commit", n, 6).await;
    let norm6 = appends(&relaxed, "synchronous=NORMAL (baseline), 6 entries", n, 6).await;
    println!(
        "ratio FULL/NORMAL median: 1 entry {:.2}x, 6 entries {:.2}x",
        full1 / norm1,
        full6 / norm6
    );

    println!("== hosted conversation turn over HTTP (renovation demo script, loopback)");
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).await.expect("open");
    let mut config = server::Config {
        data_dir: dir.path().to_path_buf(),
        ..server::Config::default()
    };
    config.demo.admin_password = "bench-password-1".into();
    let clock = server::Clock::system();
    server::bootstrap::ensure_demo(&store, &config, &clock)
        .await
        .expect("demo");
    let tenant = store
        .tenant_by_slug("demo")
        .await
        .expect("q")
        .expect("demo");
    let hash = server::accounts::hash_password("bench-password-1").expect("hash");
    store
        .create_user(
            NewUser {
                tenant_id: &tenant.id,
                username: "bench",
                display_name: "bench",
                role: Role::Agent,
                password_hash: &hash,
            },
            0,
        )
        .await
        .expect("user");
    let state = server::AppState::new(store.clone(), config, clock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let app = server::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, app).await;
    });
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let t0 = Instant::now();
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "tenant": "demo", "username": "bench", "password": "bench-password-1" }))
        .send()
        .await
        .expect("login");
    assert!(r.status().is_success());
    println!(
        "login (argon2id verify + session): {:.1} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );

    let turns = [
        "对，是我",
        "下个月就准备装了",
        "一百二十平左右",
        "你们设计费怎么收",
        "二十万左右吧",
    ];
    let mut start_ms = Vec::new();
    let mut turn_ms = Vec::new();
    let conversations = (n / turns.len()).max(10);
    for i in 0..conversations {
        let t0 = Instant::now();
        let conv: serde_json::Value = client
            .post(format!("{base}/api/v1/conversations"))
            .json(&json!({ "channel": "api", "script": "renovation", "contact": { "name": format!("客户{i}") } }))
            .send()
            .await
            .expect("start")
            .json()
            .await
            .expect("json");
        start_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        let id = conv["id"].as_str().expect("id").to_string();
        for text in turns {
            let t0 = Instant::now();
            let r = client
                .post(format!("{base}/api/v1/conversations/{id}/input"))
                .json(&json!({ "type": "user_said", "text": text }))
                .send()
                .await
                .expect("turn");
            assert!(r.status().is_success());
            let _ = r.bytes().await;
            turn_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let (s50, s95) = stats(start_ms);
    let (t50, t95) = stats(turn_ms.clone());
    println!(
        "start a hosted conversation ({conversations}): median {s50:.2} ms  p95 {s95:.2} ms (the first one compiles the bot)"
    );
    println!(
        "one turn ({} turns):               median {t50:.2} ms  p95 {t95:.2} ms",
        turn_ms.len()
    );
}
