//! Web chat under load: how many WebSocket conversations one process holds,
//! and how many customer messages per second it answers from the knowledge
//! base (each one logged durably before it is answered). Run in release, with
//! enough file descriptors (two per connection, both ends are in this process):
//!
//!     bash -c 'ulimit -n 65536; BENCH_CONNS=10000 cargo run --release -p server --example bench_chat'
//!
//! Where the descriptor limit cannot be raised, or to profile the server
//! alone, run the two ends as two processes:
//!
//!     BENCH_SERVE=127.0.0.1:9100 cargo run --release -p server --example bench_chat &
//!     BENCH_URL=ws://127.0.0.1:9100 BENCH_CONNS=10000 cargo run --release -p server --example bench_chat

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use store::Store;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

async fn next(ws: &mut Ws) -> Option<Value> {
    while let Some(Ok(frame)) = ws.next().await {
        if let Message::Text(t) = frame {
            return serde_json::from_str(&t).ok();
        }
    }
    None
}

/// Reads frames until the robot's answer (or the question repeated after it).
async fn until_answer(ws: &mut Ws) {
    let mut acked = false;
    while let Some(f) = next(ws).await {
        if f["type"] == "ack" {
            acked = true;
        } else if (acked && f["type"] == "message") || f["type"] == "error" {
            return;
        }
    }
}

#[tokio::main]
async fn main() {
    let conns: usize = std::env::var("BENCH_CONNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    // Each customer may send about 2 messages a second (the server's limit),
    // so load comes from many customers, each pacing itself just under it.
    let senders: usize = std::env::var("BENCH_SENDERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let pace = Duration::from_millis(550);
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let url = match std::env::var("BENCH_URL") {
        Ok(base) => format!(
            "{base}/channels/web/demo/{}/ws",
            server::bootstrap::DEMO_CHAT
        ),
        Err(_) => serve().await,
    };
    run_clients(url, conns, senders, pace, secs).await;
}

/// Starts the server with the demo data on `BENCH_SERVE` (runs until
/// killed) or on a free port in this process (returns the chat URL).
async fn serve() -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).await.expect("open");
    let mut config = server::Config {
        data_dir: dir.path().to_path_buf(),
        ..server::Config::default()
    };
    // Every simulated customer connects from 127.0.0.1.
    config.auth.new_chat_visitors_per_minute = u32::MAX;
    config.demo.admin_password = "bench-password-1".into();
    let clock = server::Clock::system();
    server::bootstrap::ensure_demo(&store, &config, &clock)
        .await
        .expect("demo");
    let state = server::AppState::new(store, config, clock);
    let only = std::env::var("BENCH_SERVE").ok();
    let listener = tokio::net::TcpListener::bind(only.as_deref().unwrap_or("127.0.0.1:0"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = server::router(state).into_make_service_with_connect_info::<SocketAddr>();
    if only.is_some() {
        println!("serving the demo chat on {addr}");
        let _ = axum::serve(listener, app).await;
        std::process::exit(0);
    }
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    // The data directory lives as long as the process.
    std::mem::forget(dir);
    format!(
        "ws://{addr}/channels/web/demo/{}/ws",
        server::bootstrap::DEMO_CHAT
    )
}

async fn run_clients(url: String, conns: usize, senders: usize, pace: Duration, secs: u64) {
    let base_rss = rss_mib();

    // Phase 1: hold `conns` conversations open (each starts with a greeting turn).
    let t0 = Instant::now();
    let mut sockets = Vec::with_capacity(conns);
    let mut pending = Vec::new();
    for i in 0..conns {
        let url = url.clone();
        pending.push(tokio::spawn(async move {
            // Small client buffers too, so the memory measured is the server's.
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .read_buffer_size(4 * 1024)
                .write_buffer_size(4 * 1024);
            let (mut ws, _) =
                tokio_tungstenite::connect_async_with_config(url, Some(config), false)
                    .await
                    .ok()?;
            next(&mut ws).await?; // welcome
            next(&mut ws).await?; // greeting
            Some(ws)
        }));
        if pending.len() == 256 || i + 1 == conns {
            for p in pending.drain(..) {
                if let Ok(Some(ws)) = p.await {
                    sockets.push(ws);
                }
            }
        }
    }
    let opened = t0.elapsed().as_secs_f64();
    let held_rss = rss_mib();
    println!(
        "held {} / {conns} conversations open; opened in {opened:.1} s ({:.0}/s); RSS {base_rss:.0} → {held_rss:.0} MiB ({:.1} KiB per conversation, both ends in one process)",
        sockets.len(),
        sockets.len() as f64 / opened,
        (held_rss - base_rss) * 1024.0 / sockets.len().max(1) as f64
    );

    // Phase 2: `senders` customers ask a question about every 0.55 s for `secs` seconds.
    let questions = [
        "退货运费谁承担",
        "多久发货",
        "怎么开发票",
        "退款多久到账",
        "会员有什么优惠",
    ];
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (i, mut ws) in sockets.drain(..senders.min(sockets.len())).enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                let frame = json!({ "type": "message", "client_id": format!("{i}-{n}"), "text": questions[n % questions.len()] });
                if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                    break;
                }
                until_answer(&mut ws).await;
                let took = t.elapsed();
                lat.push(took.as_secs_f64() * 1000.0);
                n += 1;
                tokio::time::sleep(pace.saturating_sub(took)).await;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            all.extend(l);
        }
    }
    all.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{senders} customers each asking about every 0.55 s for {secs} s while {} more sit idle: {} answered, {:.0} messages/s; latency p50 {:.1} ms, p99 {:.1} ms",
        conns.saturating_sub(senders),
        all.len(),
        all.len() as f64 / secs as f64,
        q(0.5),
        q(0.99)
    );
}
