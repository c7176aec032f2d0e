//! kill -9 of `tonghua serve` while it dials a campaign through the SIP
//! trunk (a real sipp answering every callee on loopback), then a restart:
//! no result is lost, no attempt is dialled twice (sipp's own message log
//! counts the INVITEs), and the calls lost in flight become `unknown`.
//!
//! Peers come from `scripts/install-deps.sh test` (sip-tester).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use campaign::control::{self, CampaignSpec};
use serde_json::json;
use store::{NewContact, Store};

const BIN: &str = env!("CARGO_BIN_EXE_tonghua");
const ADMIN_PASSWORD: &str = "demo-admin-pass-1";
const CALLEES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../server/tests/sipp/uas_callees.xml"
);
const CONTACTS: usize = 30;
const LINES: i64 = 5;

fn free_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = t.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(data: &Path, config: &Path, http: u16, sip: u16) -> Reaped {
    let child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .args([
            "serve",
            "--http",
            &format!("127.0.0.1:{http}"),
            "--sip",
            &format!("127.0.0.1:{sip}"),
            "--log-level",
            "warn",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("TONGHUA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tonghua");
    Reaped(child)
}

/// The Call-IDs of the INVITEs sipp received (retransmissions counted once).
fn invites(log: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut ids = HashSet::new();
    for message in text.split("INVITE sip:").skip(1) {
        let id = message
            .lines()
            .find_map(|l| {
                l.strip_prefix("Call-ID:")
                    .or_else(|| l.strip_prefix("i:"))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default();
        ids.insert(id);
    }
    ids
}

async fn attempts(store: &Store, tenant: &str, campaign: &str) -> Vec<store::Attempt> {
    store
        .campaign_attempts(tenant, campaign, None, 1000)
        .await
        .expect("attempts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_serve_mid_campaign_loses_no_result_and_redials_no_attempt() {
    let found = Command::new("sh")
        .args(["-c", "command -v sipp"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "sipp is missing: run scripts/install-deps.sh test (Debian package sip-tester)"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let trunk = free_port();
    let sipp_log = dir.path().join("sipp-messages.log");
    let _sipp = Reaped(
        Command::new("sipp")
            .args([
                "-sf",
                CALLEES,
                "-i",
                "127.0.0.1",
                "-p",
                &trunk.to_string(),
                "-mp",
                &free_port().to_string(),
                "-trace_msg",
                "-message_file",
            ])
            .arg(&sipp_log)
            .args(["-nostdin", "-timeout", "300s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp"),
    );
    let config = dir.path().join("tonghua.toml");
    std::fs::write(
        &config,
        format!(
            "[telephony]\nmedia_only = true\nrecord = false\n[telephony.trunk]\nname = \"carrier1\"\nhost = \"trunk.test\"\nproxy = \"127.0.0.1:{trunk}\"\nuser = \"robot\"\nring_timeout_secs = 5\n"
        ),
    )
    .expect("config");

    // The demo tenant (with its scripts), the contacts and a running campaign.
    let store = Store::open(&data).await.expect("store");
    let mut server_config = server::Config {
        data_dir: data.clone(),
        ..server::Config::default()
    };
    server_config.demo.admin_password = ADMIN_PASSWORD.into();
    let clock = server::Clock::system();
    server::bootstrap::ensure_demo(&store, &server_config, &clock)
        .await
        .expect("demo");
    let tenant = store
        .tenant_by_slug("demo")
        .await
        .expect("db")
        .expect("demo")
        .id;
    let now = clock.now_ms();
    let list = store
        .ensure_contact_list(&tenant, "owners", now)
        .await
        .expect("list");
    let contacts: Vec<NewContact> = (0..CONTACTS)
        .map(|i| {
            let number = phone::normalize(&format!("1380000{}", 2000 + i)).expect("number");
            NewContact {
                utc_offset: phone::utc_offset_minutes(&number),
                number,
                name: Some("王先生".into()),
                variables: BTreeMap::new(),
            }
        })
        .collect();
    store
        .import_contacts(&tenant, &list.id, &contacts, now)
        .await
        .expect("import");
    let day = json!(["00:00-24:00"]);
    let spec = CampaignSpec {
        name: "spring".into(),
        script: "renovation".into(),
        script_version: None,
        list: "owners".into(),
        trunk: "carrier1".into(),
        caller_id: None,
        max_lines: LINES,
        settings: Some(json!({
            "windows": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
            "calls_per_second": 1000,
            "retry": { "failed": { "after_minutes": 60, "max_retries": 1 } }
        })),
    };
    let c = control::create(&store, &tenant, &spec, now)
        .await
        .expect("create");
    control::start(&store, &tenant, &c.id, now)
        .await
        .expect("start");

    // Serve until some calls are over, then kill -9 in the middle of others.
    let http = free_port();
    let sip = free_port();
    let mut first = serve(&data, &config, http, sip);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let all = attempts(&store, &tenant, &c.id).await;
        let done = all
            .iter()
            .filter(|a| a.result.outcome == "answered")
            .count();
        let in_flight = all.iter().filter(|a| a.result.outcome.is_empty()).count();
        if done >= 5 && in_flight > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "only {done} calls answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.0.kill().expect("kill -9"); // SIGKILL on Unix
    let _ = first.0.wait();
    let before = attempts(&store, &tenant, &c.id).await;
    let answered_before: HashSet<String> = before
        .iter()
        .filter(|a| a.result.outcome == "answered")
        .map(|a| a.id.clone())
        .collect();

    // Restart: the lost calls become `unknown` (retried in an hour by the
    // `failed` rule, not now), every other contact is dialled once.
    let _second = serve(&data, &config, http, sip);
    let deadline = Instant::now() + Duration::from_secs(120);
    let settled = loop {
        let all = attempts(&store, &tenant, &c.id).await;
        let open = all.iter().any(|a| a.result.outcome.is_empty());
        let answered = all
            .iter()
            .filter(|a| a.result.outcome == "answered")
            .count();
        let unknown = all.iter().filter(|a| a.result.outcome == "unknown").count();
        if !open && answered + unknown == CONTACTS {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {answered} answered, {unknown} unknown, open: {open}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Results recorded before the kill are kept as they were.
    for a in &settled {
        if answered_before.contains(&a.id) {
            assert_eq!(a.result.outcome, "answered");
        }
    }
    let unknown: Vec<&store::Attempt> = settled
        .iter()
        .filter(|a| a.result.outcome == "unknown")
        .collect();
    assert!(
        !unknown.is_empty() && unknown.len() <= LINES as usize,
        "the calls in flight at the kill, at most one per line: {}",
        unknown.len()
    );
    // One attempt per contact so far: nobody was called twice.
    let mut per_contact: HashMap<&str, usize> = HashMap::new();
    for a in &settled {
        *per_contact.entry(a.contact_id.as_str()).or_default() += 1;
    }
    assert_eq!(per_contact.len(), CONTACTS);
    assert!(per_contact.values().all(|n| *n == 1), "{per_contact:?}");
    // And sipp saw exactly one INVITE per attempt.
    let seen = invites(&sipp_log);
    assert_eq!(
        seen.len(),
        settled.len(),
        "INVITEs received by sipp vs attempts recorded"
    );
}
