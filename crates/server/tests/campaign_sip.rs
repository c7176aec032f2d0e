//! Campaigns dialled through the real SIP stack: the campaign runner (with a
//! clock the test moves) hands attempts to [`server::sip_dialer::SipDialer`],
//! which originates them through the trunk to a real sipp on loopback playing
//! every kind of callee (`tests/sipp/uas_callees.xml`: answers and plays
//! G.711 audio then hangs up, 486, 480, 404, 503, rings forever).
//!
//! Peers come from `scripts/install-deps.sh test` (sip-tester).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use campaign::control::{self, CampaignSpec};
use campaign::{DialRequest, Dialer, Outcome, Runner, ScriptBinding};
use serde_json::json;
use server::sip_dialer::SipDialer;
use server::telephony::Telephony;
use server::{AppState, Clock, Config};
use store::{NewContact, Store};

const CALLEES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/uas_callees.xml");
const AUDIO: &str = "/usr/share/sip-tester/g711a.pcap";

// Monday 2026-11-23 02:00 UTC = 10:00 in Beijing.
const MONDAY_10AM: i64 = 1_795_392_000_000 + 2 * HOUR;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The trunk: one sipp answering as every callee.
struct Callees(Child);

impl Callees {
    fn start() -> (Callees, u16) {
        let found = Command::new("sh")
            .args(["-c", "command -v sipp"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found && std::path::Path::new(AUDIO).exists(),
            "sipp or its audio is missing: run scripts/install-deps.sh test (Debian package sip-tester)"
        );
        let port = free_udp_port();
        let child = Command::new("sipp")
            .args([
                "-sf",
                CALLEES,
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-mp",
                &free_udp_port().to_string(),
            ])
            .args(["-nostdin", "-timeout", "300s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp");
        wait_for_sipp(port);
        (Callees(child), port)
    }
}

impl Drop for Callees {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    state: AppState,
    tenant: String,
    clock: Arc<AtomicI64>,
    dialer: Arc<SipDialer>,
    runner: Runner,
}

impl World {
    async fn new(trunk_port: u16) -> World {
        let dir = tempfile::tempdir().expect("tmp");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            sip: "127.0.0.1:0".parse().expect("addr"),
            ..Config::default()
        };
        config.demo.admin_password = "demo-admin-pass-1".into();
        config.telephony.enabled = true;
        config.telephony.trunk.name = "carrier1".into();
        config.telephony.trunk.host = "trunk.test".into();
        config.telephony.trunk.proxy = Some(format!("127.0.0.1:{trunk_port}"));
        config.telephony.trunk.user = "robot".into();
        config.telephony.trunk.ring_timeout_secs = 2;
        let store = Store::open(dir.path()).await.expect("store");
        let clock = Clock::system();
        server::bootstrap::ensure_demo(&store, &config, &clock)
            .await
            .expect("demo data");
        let tenant = store
            .tenant_by_slug("demo")
            .await
            .expect("db")
            .expect("demo tenant")
            .id;
        let state = AppState::new(store.clone(), config, clock);
        let telephony = Telephony::start(state.clone(), call::Engines::placeholder())
            .await
            .expect("telephony");
        let dialer = Arc::new(SipDialer::new(state.clone(), telephony));
        let now = Arc::new(AtomicI64::new(MONDAY_10AM));
        let reader = now.clone();
        let runner = Runner::new(
            store.clone(),
            dialer.clone(),
            Arc::new(move || reader.load(Ordering::SeqCst)),
        );
        World {
            _dir: dir,
            store,
            state,
            tenant,
            clock: now,
            dialer,
            runner,
        }
    }

    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    async fn list(&self, name: &str, numbers: &[&str]) {
        let list = self
            .store
            .ensure_contact_list(&self.tenant, name, self.now())
            .await
            .expect("list");
        let contacts: Vec<NewContact> = numbers
            .iter()
            .map(|n| {
                let number = phone::normalize(n).expect("number");
                NewContact {
                    utc_offset: phone::utc_offset_minutes(&number),
                    number,
                    name: Some("王先生".into()),
                    variables: BTreeMap::new(),
                }
            })
            .collect();
        self.store
            .import_contacts(&self.tenant, &list.id, &contacts, self.now())
            .await
            .expect("import");
    }

    /// One pass, then wait until its calls have ended and been recorded.
    async fn pass(&self) -> usize {
        let p = self.runner.pass().await.expect("pass");
        self.runner.settle().await;
        p.dialled
    }
}

fn always_open() -> serde_json::Value {
    let day = json!(["00:00-24:00"]);
    json!({ "windows": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
            "calls_per_second": 1000 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_through_sipp_records_each_outcome_and_retries_by_policy() {
    let (_callees, port) = Callees::start();
    let w = World::new(port).await;
    w.list(
        "owners",
        &[
            "13800000001", // answers
            "13800000486", // busy
            "13800000480", // temporarily unavailable
            "13800000404", // not found
            "13800000503", // service unavailable
            "13800000999", // never answers
        ],
    )
    .await;
    let mut settings = always_open();
    settings["retry"] = json!({
        "busy": { "after_minutes": 30, "max_retries": 1 },
        "no_answer": { "after_minutes": 60, "max_retries": 1 },
        "unreachable": { "after_minutes": 10, "max_retries": 2 }
    });
    let spec = CampaignSpec {
        name: "spring".into(),
        script: "renovation".into(),
        script_version: None,
        list: "owners".into(),
        trunk: "carrier1".into(),
        caller_id: Some("01088886666".into()),
        max_lines: 10,
        settings: Some(settings),
    };
    let c = control::create(&w.store, &w.tenant, &spec, w.now())
        .await
        .expect("create");
    control::start(&w.store, &w.tenant, &c.id, w.now())
        .await
        .expect("start");
    // A newer version of the script after the campaign was created: the
    // campaign keeps the version it pinned.
    let script = w
        .store
        .document(&w.tenant, store::DocumentKind::Script, "renovation", None)
        .await
        .expect("db")
        .expect("script");
    w.store
        .put_document(
            &w.tenant,
            store::DocumentKind::Script,
            "renovation",
            &format!("{}\n# a later edit\n", script.source),
            None,
            w.now(),
        )
        .await
        .expect("new version");

    assert_eq!(w.pass().await, 6, "every contact is dialled once");
    w.advance(10 * MINUTE);
    assert_eq!(
        w.pass().await,
        1,
        "503 → unreachable, retried after 10 minutes"
    );
    w.advance(10 * MINUTE);
    assert_eq!(w.pass().await, 1, "unreachable's second retry");
    w.advance(10 * MINUTE);
    assert_eq!(w.pass().await, 1, "486 → busy, retried after 30 minutes");
    w.advance(30 * MINUTE);
    assert_eq!(
        w.pass().await,
        2,
        "480 and the unanswered call → no answer, retried after 60 minutes"
    );
    w.advance(10 * DAY);
    assert_eq!(
        w.pass().await,
        0,
        "every retry is spent; 404 is never retried"
    );
    let status = w
        .store
        .campaign(&w.tenant, &c.id)
        .await
        .expect("db")
        .expect("campaign")
        .status;
    assert_eq!(status, "completed");

    let attempts = w
        .store
        .campaign_attempts(&w.tenant, &c.id, None, 100)
        .await
        .expect("attempts");
    let mut outcomes: Vec<(String, i64, String)> = attempts
        .iter()
        .map(|a| (a.number.clone(), a.attempt_no, a.result.outcome.clone()))
        .collect();
    outcomes.sort();
    let expected: Vec<(String, i64, String)> = [
        ("+8613800000001", 1, "answered"),
        ("+8613800000404", 1, "not_exist"),
        ("+8613800000480", 1, "no_answer"),
        ("+8613800000480", 2, "no_answer"),
        ("+8613800000486", 1, "busy"),
        ("+8613800000486", 2, "busy"),
        ("+8613800000503", 1, "unreachable"),
        ("+8613800000503", 2, "unreachable"),
        ("+8613800000503", 3, "unreachable"),
        ("+8613800000999", 1, "no_answer"),
        ("+8613800000999", 2, "no_answer"),
    ]
    .into_iter()
    .map(|(n, a, o)| (n.to_string(), a, o.to_string()))
    .collect();
    assert_eq!(outcomes, expected);

    // The SIP status is in the detail of a refused call.
    let busy = attempts
        .iter()
        .find(|a| a.result.outcome == "busy")
        .expect("busy");
    let detail = serde_json::to_string(&busy.result).expect("json");
    assert!(detail.contains("486"), "{detail}");

    // The answered call: waited for its end, with its conversation and recording.
    let answered = attempts
        .iter()
        .find(|a| a.result.outcome == "answered")
        .expect("answered");
    assert!(answered.result.talk_ms > 0, "{:?}", answered.result);
    let conversation_id = answered
        .result
        .conversation_id
        .clone()
        .expect("a conversation");
    let conversation = w
        .store
        .conversation(&w.tenant, &conversation_id)
        .await
        .expect("db")
        .expect("conversation");
    assert_eq!(conversation.channel, "phone");
    assert_eq!(conversation.metadata["direction"], "outbound");
    assert_eq!(
        conversation.metadata["bot"]["script_version"], script.version,
        "the pinned version runs, not the later edit"
    );
    let recording = answered.result.recording.clone().expect("a recording");
    assert!(
        std::fs::metadata(&recording).is_ok_and(|m| m.len() > 44),
        "{recording} holds audio"
    );
    let events = w
        .store
        .events(&w.tenant, &conversation_id, 0, i64::MAX)
        .await
        .expect("db")
        .expect("log");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"call.ended"), "{kinds:?}");
    let greeting = events
        .iter()
        .find(|e| e.kind == "action.say")
        .expect("a greeting");
    assert!(
        greeting.payload["text"]
            .as_str()
            .is_some_and(|t| t.contains("王先生")),
        "the contact's variables reach the script: {}",
        greeting.payload
    );
    drop(w.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_that_is_not_configured_is_a_failed_call_with_the_reason() {
    let (_callees, port) = Callees::start();
    let w = World::new(port).await;
    let request = DialRequest {
        attempt_id: "a1".into(),
        attempt_no: 1,
        tenant_id: w.tenant.clone(),
        campaign_id: "c1".into(),
        contact_id: "k1".into(),
        number: "+8613800000001".into(),
        trunk: "carrier2".into(),
        caller_id: None,
        script: ScriptBinding {
            name: "renovation".into(),
            version: 1,
        },
        variables: BTreeMap::new(),
    };
    let r = w.dialer.dial(request).await;
    assert_eq!(r.outcome, Outcome::Failed);
    let detail = r.detail.unwrap_or_default();
    assert!(
        detail.contains("carrier2") && detail.contains("carrier1"),
        "{detail}"
    );
    assert!(r.conversation_id.is_none());
}

/// Waits until sipp has bound its UDP port (a fixed sleep is not enough on
/// a loaded machine: an INVITE sent too early meets a closed port).
fn wait_for_sipp(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "sipp did not bind port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
