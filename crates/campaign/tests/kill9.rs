//! kill -9 of a process running a campaign, then a restart: no result is
//! lost and no attempt is dialled twice. The worker is this test binary run
//! again with `CAMPAIGN_WORKER_DIR` set (a real process, really killed), with
//! an in-process dialer that logs every attempt it is handed (fsynced) before
//! it "rings". The same test against `tonghua serve` and sipp callees is
//! `crates/tonghua/tests/campaign_kill9.rs`.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use campaign::control::{self, CampaignSpec};
use campaign::{BoxFuture, DialRequest, DialResult, Dialer, Outcome, Runner};
use serde_json::json;
use store::{NewContact, Store};

const CONTACTS: usize = 30;
const ANSWER_FIRST: usize = 8;
const LINES: i64 = 5;

struct LoggingDialer {
    log: std::path::PathBuf,
    /// Answer this many calls, then hang (the process will be killed).
    answer: usize,
    /// Calls seen; held while the log line is written so the log's order is
    /// the order in which calls were answered or left hanging.
    seen: Mutex<usize>,
}

impl Dialer for LoggingDialer {
    fn dial(&self, r: DialRequest) -> BoxFuture<DialResult> {
        let mut seen = self.seen.lock().expect("lock");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        writeln!(f, "{}", r.attempt_id).expect("write");
        f.sync_all().expect("fsync");
        let hang = *seen >= self.answer;
        *seen += 1;
        drop(seen);
        Box::pin(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            DialResult::of(Outcome::Answered)
        })
    }
}

/// The worker: runs the campaign until it completes (or is killed).
#[test]
fn worker() {
    let Ok(dir) = std::env::var("CAMPAIGN_WORKER_DIR") else {
        return; // only a helper process of the test below
    };
    let answer: usize = std::env::var("CAMPAIGN_WORKER_ANSWER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    // The second life runs its clock 600× fast, so a retry due in a minute
    // comes after 0.1 s of real time.
    let speed: i64 = std::env::var("CAMPAIGN_WORKER_SPEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(async move {
        let store = Store::open(Path::new(&dir)).await.expect("store");
        let dialer = LoggingDialer {
            log: Path::new(&dir).join("dialled.log"),
            answer,
            seen: Mutex::new(0),
        };
        let wall = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        };
        let start = wall();
        let now = move || start + (wall() - start) * speed;
        let runner = Runner::new(store.clone(), Arc::new(dialer), Arc::new(now));
        runner.recover().await.expect("recover");
        loop {
            let pass = runner.pass().await.expect("pass");
            if pass.completed > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        runner.settle().await;
        store.close().await;
    });
}

fn worker_process(dir: &Path, answer: Option<usize>, speed: i64) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("exe"));
    c.args(["--exact", "worker", "--nocapture", "--test-threads=1"])
        .env("CAMPAIGN_WORKER_DIR", dir)
        .env("CAMPAIGN_WORKER_SPEED", speed.to_string())
        .stdout(Stdio::null());
    if let Some(a) = answer {
        c.env("CAMPAIGN_WORKER_ANSWER", a.to_string());
    }
    c
}

fn dialled(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("dialled.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn answered(rt: &tokio::runtime::Runtime, dir: &Path, tenant: &str, campaign: &str) -> i64 {
    rt.block_on(async {
        let store = Store::open(dir).await.expect("store");
        let p = store
            .campaign_progress(tenant, campaign)
            .await
            .expect("progress");
        store.close().await;
        p.outcomes.get("answered").copied().unwrap_or(0)
    })
}

#[test]
fn kill_9_mid_campaign_loses_no_result_and_dials_no_attempt_twice() {
    if std::env::var("CAMPAIGN_WORKER_DIR").is_ok() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_path_buf();
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let (tenant, campaign_id) = rt.block_on(async {
        let store = Store::open(&dir).await.expect("store");
        let t = store.create_tenant("acme", "Acme", 0).await.expect("tenant");
        store
            .put_document(&t.id, store::DocumentKind::Script, "s", "name: s", None, 0)
            .await
            .expect("script");
        let list = store.ensure_contact_list(&t.id, "l", 0).await.expect("list");
        let contacts: Vec<NewContact> = (0..CONTACTS)
            .map(|i| NewContact {
                number: format!("+86138000{i:05}"),
                name: None,
                variables: Default::default(),
                utc_offset: Some(480),
            })
            .collect();
        store.import_contacts(&t.id, &list.id, &contacts, 0).await.expect("import");
        let day = json!(["00:00-24:00"]);
        let spec = CampaignSpec {
            name: "c".into(),
            script: "s".into(),
            script_version: None,
            list: "l".into(),
            trunk: "t".into(),
            caller_id: None,
            max_lines: LINES,
            settings: Some(json!({ "calls_per_second": 1000,
                "windows": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
                "retry": { "failed": { "after_minutes": 1, "max_retries": 1 } } })),
        };
        let c = control::create(&store, &t.id, &spec, 0).await.expect("create");
        control::start(&store, &t.id, &c.id, 0).await.expect("start");
        store.close().await;
        (t.id, c.id)
    });

    // First life: 8 calls answer, the next 5 hang; then kill -9.
    let mut child = worker_process(&dir, Some(ANSWER_FIRST), 0)
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while dialled(&dir).len() < ANSWER_FIRST + LINES as usize {
        assert!(
            Instant::now() < deadline,
            "the worker never reached its hanging calls"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the worker exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Wait until the answered calls' results are committed, then kill.
    while answered(&rt, &dir, &tenant, &campaign_id) < ANSWER_FIRST as i64 {
        assert!(
            Instant::now() < deadline,
            "the answered calls were never recorded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9"); // SIGKILL on Unix
    child.wait().expect("reap");
    let first_life = dialled(&dir);
    assert_eq!(
        first_life.len(),
        ANSWER_FIRST + LINES as usize,
        "lines held at {LINES}"
    );

    // Second life: the lost calls are recorded and retried a minute later.
    let mut second = worker_process(&dir, None, 600)
        .spawn()
        .expect("second life");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("the second life never finished the campaign");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());

    let all = dialled(&dir);
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "an attempt was dialled twice: {all:?}"
    );
    rt.block_on(async {
        let store = Store::open(&dir).await.expect("store");
        let c = store
            .campaign(&tenant, &campaign_id)
            .await
            .expect("q")
            .expect("c");
        assert_eq!(c.status, "completed");
        let p = store
            .campaign_progress(&tenant, &campaign_id)
            .await
            .expect("p");
        assert_eq!((p.contacts, p.done), (CONTACTS as i64, CONTACTS as i64));
        assert_eq!(p.outcomes.get("unknown"), Some(&(LINES)), "{p:?}");
        assert_eq!(
            p.outcomes.get("answered"),
            Some(&(CONTACTS as i64)),
            "{p:?}"
        );
        let attempts = store
            .campaign_attempts(&tenant, &campaign_id, None, 1000)
            .await
            .expect("attempts");
        assert_eq!(
            attempts.len(),
            all.len(),
            "every dialled attempt has its row"
        );
        assert!(
            attempts.iter().all(|a| a.ended_at.is_some()),
            "every attempt has a result"
        );
        // The answered calls of the first life kept their results.
        for id in &first_life[..ANSWER_FIRST] {
            let a = attempts.iter().find(|a| &a.id == id).expect("attempt");
            assert_eq!(a.result.outcome, "answered");
        }
        store.close().await;
    });
}
