//! Scheduling throughput of a large campaign, from the store (not a test):
//!
//! ```sh
//! cargo run --release -p campaign --example bench_campaign   # BENCH_CONTACTS=1000000
//! ```
//!
//! Measures, on a fresh database in a temporary directory: importing the
//! contacts, queueing them (start), claims per second (one claim = one
//! transaction handing out up to 50 attempts, as a pass with free lines does),
//! claim + result per second, claims after 90 % of the queue is done (the
//! index keeps claims from scanning finished rows), the runner's sustained
//! calls/s with 200 lines and an instant in-process dialer, and the peak
//! memory. The baseline is the same on a 100,000-contact campaign, measured
//! side by side: equal rates mean claims do not slow down with the queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use campaign::control::{self, CampaignSpec};
use campaign::{BoxFuture, DialRequest, DialResult, Dialer, Outcome, Runner};
use serde_json::json;
use store::{AttemptResult, ClaimDecision, NewContact, NextStep, Store};

struct Instant0;
impl Dialer for Instant0 {
    fn dial(&self, _r: DialRequest) -> BoxFuture<DialResult> {
        Box::pin(async { DialResult::of(Outcome::Answered) })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

struct Result {
    contacts: usize,
    import_per_s: f64,
    enqueue_s: f64,
    claims_per_s: f64,
    claim_finish_per_s: f64,
    late_claims_per_s: f64,
}

const BATCH: i64 = 50;
const OPEN: &[i32] = &[480];

async fn measure(contacts: usize) -> Result {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).await.expect("store");
    let t = store
        .create_tenant("bench", "Bench", 0)
        .await
        .expect("tenant");
    store
        .put_document(&t.id, store::DocumentKind::Script, "s", "name: s", None, 0)
        .await
        .expect("script");
    let list = store
        .ensure_contact_list(&t.id, "big", 0)
        .await
        .expect("list");
    // In chunks, as a file import does, so the benchmark itself never holds
    // the million rows and the peak memory is the store's and the runner's.
    let started = Instant::now();
    for chunk in (0..contacts).collect::<Vec<_>>().chunks(10_000) {
        let rows: Vec<NewContact> = chunk
            .iter()
            .map(|i| NewContact {
                number: format!("+86138{:08}", i),
                name: Some(format!("客户{i}")),
                variables: [("community".to_string(), "翠湖苑".to_string())]
                    .into_iter()
                    .collect(),
                utc_offset: Some(480),
            })
            .collect();
        store
            .import_contacts(&t.id, &list.id, &rows, 1)
            .await
            .expect("import");
    }
    let import_per_s = contacts as f64 / started.elapsed().as_secs_f64();

    let spec = CampaignSpec {
        name: "big".into(),
        script: "s".into(),
        script_version: None,
        list: "big".into(),
        trunk: "t".into(),
        caller_id: None,
        max_lines: 200,
        settings: None,
    };
    let c = control::create(&store, &t.id, &spec, 1)
        .await
        .expect("create");
    let started = Instant::now();
    control::start(&store, &t.id, &c.id, 1)
        .await
        .expect("start");
    let enqueue_s = started.elapsed().as_secs_f64();
    let c = store.campaign(&t.id, &c.id).await.expect("q").expect("c");

    // Claims alone: 200 transactions of up to 50.
    let mut claimed = 0usize;
    let started = Instant::now();
    for _ in 0..200 {
        claimed += store
            .claim_due(&c, 2, BATCH, OPEN, None, |_| ClaimDecision::Dial)
            .await
            .expect("claim")
            .len();
    }
    let claims_per_s = claimed as f64 / started.elapsed().as_secs_f64();

    // Claim + record each result (what a finished call costs the store).
    let mut done = 0usize;
    let result = AttemptResult {
        outcome: "answered".into(),
        talk_ms: 30_000,
        ..AttemptResult::default()
    };
    let started = Instant::now();
    for _ in 0..40 {
        for claim in store
            .claim_due(&c, 2, BATCH, OPEN, None, |_| ClaimDecision::Dial)
            .await
            .expect("claim")
        {
            store
                .finish_attempt(
                    &t.id,
                    &claim.attempt_id,
                    &result,
                    NextStep::Done,
                    &[],
                    false,
                    3,
                )
                .await
                .expect("finish");
            done += 1;
        }
    }
    let claim_finish_per_s = done as f64 / started.elapsed().as_secs_f64();

    // Late in the campaign: 90 % of the queue finished.
    sqlx::query(
        "UPDATE campaign_contacts SET state = 'done' WHERE state = 'pending' AND rowid % 10 != 0",
    )
    .execute(store.pool())
    .await
    .expect("mark done");
    let mut late = 0usize;
    let started = Instant::now();
    for _ in 0..100 {
        late += store
            .claim_due(&c, 2, BATCH, OPEN, None, |_| ClaimDecision::Dial)
            .await
            .expect("claim")
            .len();
    }
    let late_claims_per_s = late as f64 / started.elapsed().as_secs_f64();
    store.close().await;
    Result {
        contacts,
        import_per_s,
        enqueue_s,
        claims_per_s,
        claim_finish_per_s,
        late_claims_per_s,
    }
}

/// The runner end to end: 200 lines, no pacing limit to speak of, an
/// instant dialer; calls started (and recorded) per second over `secs`.
async fn runner_rate(contacts: usize, secs: u64) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).await.expect("store");
    let t = store
        .create_tenant("bench", "Bench", 0)
        .await
        .expect("tenant");
    store
        .put_document(&t.id, store::DocumentKind::Script, "s", "name: s", None, 0)
        .await
        .expect("script");
    let list = store
        .ensure_contact_list(&t.id, "l", 0)
        .await
        .expect("list");
    let rows: Vec<NewContact> = (0..contacts)
        .map(|i| NewContact {
            number: format!("+86139{:08}", i),
            name: None,
            variables: Default::default(),
            utc_offset: Some(480),
        })
        .collect();
    store
        .import_contacts(&t.id, &list.id, &rows, 1)
        .await
        .expect("import");
    let day = json!(["00:00-24:00"]);
    let spec = CampaignSpec {
        name: "r".into(),
        script: "s".into(),
        script_version: None,
        list: "l".into(),
        trunk: "t".into(),
        caller_id: None,
        max_lines: 200,
        settings: Some(json!({ "calls_per_second": 1000,
            "windows": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day } })),
    };
    let c = control::create(&store, &t.id, &spec, 1)
        .await
        .expect("create");
    control::start(&store, &t.id, &c.id, 1)
        .await
        .expect("start");
    let runner = Runner::new(store.clone(), Arc::new(Instant0), Arc::new(now_ms));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        runner.pass().await.expect("pass");
        tokio::task::yield_now().await;
    }
    runner.settle().await;
    let elapsed = started.elapsed().as_secs_f64();
    let p = store
        .campaign_progress(&t.id, &c.id)
        .await
        .expect("progress");
    store.close().await;
    p.attempts as f64 / elapsed
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let before = peak_rss_mib();
    let baseline = measure(100_000).await;
    let big = measure(n).await;
    println!(
        "| contacts | import/s | start (queue all) | claims/s | claim+result/s | claims/s at 90 % done |"
    );
    println!("|---|---|---|---|---|---|");
    for r in [&baseline, &big] {
        println!(
            "| {} | {:.0} | {:.2} s | {:.0} | {:.0} | {:.0} |",
            r.contacts,
            r.import_per_s,
            r.enqueue_s,
            r.claims_per_s,
            r.claim_finish_per_s,
            r.late_claims_per_s
        );
    }
    println!(
        "ratio claims/s {} vs {}: {:.2}×",
        big.contacts,
        baseline.contacts,
        big.claims_per_s / baseline.claims_per_s
    );
    println!(
        "peak RSS after the {}-contact run: {:.0} MiB (at start: {:.0} MiB)",
        n,
        peak_rss_mib(),
        before
    );
    let rate = runner_rate(20_000, 10).await;
    println!("runner, 200 lines, instant dialer: {rate:.0} calls started and recorded per second");
}
