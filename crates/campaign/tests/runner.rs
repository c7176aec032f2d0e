//! The runner against a real SQLite store, an in-process dialer that answers
//! as it is told, and a manual clock: outcomes, retries, windows, caps, DNC,
//! live concurrency, pause/stop and crash recovery. No sleeps decide
//! anything; time moves when the test moves it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use campaign::control::{self, CampaignSpec};
use campaign::{BoxFuture, DialRequest, DialResult, Dialer, Outcome, Runner};
use serde_json::{Value, json};
use store::{DialingPolicy, NewContact, Store};
use tokio::sync::Semaphore;

// Monday 2026-11-23 00:00 UTC = 08:00 in Beijing.
const MONDAY: i64 = 1_795_392_000_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Answers each number with its planned results in order (then `answered`),
/// remembers every request, and can hold calls until released.
#[derive(Default)]
struct TestDialer {
    plans: Mutex<HashMap<String, VecDeque<DialResult>>>,
    calls: Mutex<Vec<DialRequest>>,
    gate: Option<Arc<Semaphore>>,
}

impl TestDialer {
    fn plan(&self, number: &str, outcomes: &[Outcome]) {
        self.plans.lock().expect("lock").insert(
            number.to_string(),
            outcomes.iter().map(|o| DialResult::of(*o)).collect(),
        );
    }
    fn plan_result(&self, number: &str, r: DialResult) {
        self.plans
            .lock()
            .expect("lock")
            .insert(number.to_string(), [r].into_iter().collect());
    }
    fn calls(&self) -> Vec<DialRequest> {
        self.calls.lock().expect("lock").clone()
    }
    fn numbers(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.number).collect()
    }
}

struct Shared(Arc<TestDialer>);

impl Dialer for Shared {
    fn dial(&self, request: DialRequest) -> BoxFuture<DialResult> {
        let d = self.0.clone();
        Box::pin(async move {
            d.calls.lock().expect("lock").push(request.clone());
            if let Some(gate) = &d.gate {
                gate.acquire().await.expect("gate").forget();
            }
            let mut r = d
                .plans
                .lock()
                .expect("lock")
                .get_mut(&request.number)
                .and_then(|q| q.pop_front())
                .unwrap_or_else(|| DialResult::of(Outcome::Answered));
            if r.outcome == Outcome::Answered && r.talk_ms == 0 {
                r.talk_ms = 42_000;
            }
            r
        })
    }
}

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    tenant: String,
    clock: Arc<AtomicI64>,
    dialer: Arc<TestDialer>,
    runner: Runner,
}

impl World {
    async fn new(gate: Option<Arc<Semaphore>>) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).await.expect("store");
        World::with(dir, store, gate).await
    }

    async fn with(dir: tempfile::TempDir, store: Store, gate: Option<Arc<Semaphore>>) -> World {
        let tenant = match store.tenant_by_slug("acme").await.expect("q") {
            Some(t) => t.id,
            None => {
                let t = store
                    .create_tenant("acme", "Acme", MONDAY)
                    .await
                    .expect("tenant");
                store
                    .put_document(
                        &t.id,
                        store::DocumentKind::Script,
                        "sales",
                        "name: sales",
                        None,
                        MONDAY,
                    )
                    .await
                    .expect("script");
                t.id
            }
        };
        // 10:00 in Beijing on a Monday.
        let clock = Arc::new(AtomicI64::new(MONDAY + 2 * HOUR));
        let dialer = Arc::new(TestDialer {
            gate,
            ..TestDialer::default()
        });
        let reader = clock.clone();
        let runner = Runner::new(
            store.clone(),
            Arc::new(Shared(dialer.clone())),
            Arc::new(move || reader.load(Ordering::SeqCst)),
        );
        World {
            _dir: dir,
            store,
            tenant,
            clock,
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
            .map(|n| NewContact {
                number: phone::normalize(n).expect("number"),
                name: Some(format!("客户{n}")),
                variables: [("community".to_string(), "翠湖苑".to_string())]
                    .into_iter()
                    .collect(),
                utc_offset: phone::utc_offset_minutes(&phone::normalize(n).expect("number")),
            })
            .collect();
        self.store
            .import_contacts(&self.tenant, &list.id, &contacts, self.now())
            .await
            .expect("import");
    }

    async fn campaign(&self, name: &str, list: &str, lines: i64, settings: Value) -> String {
        let spec = CampaignSpec {
            name: name.into(),
            script: "sales".into(),
            script_version: None,
            list: list.into(),
            trunk: "trunk1".into(),
            caller_id: Some("01088886666".into()),
            max_lines: lines,
            settings: Some(settings),
        };
        let c = control::create(&self.store, &self.tenant, &spec, self.now())
            .await
            .expect("create");
        control::start(&self.store, &self.tenant, &c.id, self.now())
            .await
            .expect("start");
        c.id
    }

    /// One pass, then wait for its calls to be recorded.
    async fn pass(&self) -> usize {
        let p = self.runner.pass().await.expect("pass");
        self.runner.settle().await;
        p.dialled
    }

    async fn status(&self, id: &str) -> String {
        self.store
            .campaign(&self.tenant, id)
            .await
            .expect("q")
            .expect("campaign")
            .status
    }

    async fn outcomes(&self, id: &str) -> Vec<(String, i64, String)> {
        let mut v: Vec<_> = self
            .store
            .campaign_attempts(&self.tenant, id, None, 1000)
            .await
            .expect("attempts")
            .into_iter()
            .map(|a| (a.number, a.attempt_no, a.result.outcome))
            .collect();
        v.sort();
        v
    }
}

fn always_open() -> Value {
    let day = json!(["00:00-24:00"]);
    json!({ "windows": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
            "calls_per_second": 1000 })
}

#[tokio::test]
async fn outcomes_and_retries_follow_the_policy() {
    let w = World::new(None).await;
    w.list(
        "l",
        &[
            "13800000001",
            "13800000002",
            "13800000003",
            "13800000004",
            "13800000005",
        ],
    )
    .await;
    w.dialer.plan(
        "+8613800000002",
        &[Outcome::Busy, Outcome::Busy, Outcome::Answered],
    );
    w.dialer.plan(
        "+8613800000003",
        &[Outcome::NoAnswer, Outcome::NoAnswer, Outcome::NoAnswer],
    );
    w.dialer.plan("+8613800000004", &[Outcome::NotExist]);
    w.dialer
        .plan("+8613800000005", &[Outcome::Failed, Outcome::Unreachable]);
    let mut settings = always_open();
    settings["retry"] = json!({
        "busy": { "after_minutes": 30, "max_retries": 2 },
        "no_answer": { "after_minutes": 60, "max_retries": 1 },
        "failed": { "after_minutes": 10, "max_retries": 3 }
    });
    let id = w.campaign("c1", "l", 10, settings).await;

    assert_eq!(w.pass().await, 5);
    // Nothing is due again before the retry times.
    w.advance(9 * MINUTE);
    assert_eq!(w.pass().await, 0);
    w.advance(MINUTE);
    assert_eq!(w.pass().await, 1, "failed → retried after 10 minutes");
    w.advance(20 * MINUTE);
    assert_eq!(w.pass().await, 1, "busy → retried after 30 minutes");
    w.advance(30 * MINUTE);
    assert_eq!(
        w.pass().await,
        2,
        "busy's third attempt (answered) and no answer's retry at +60"
    );
    w.advance(10 * DAY);
    assert_eq!(
        w.pass().await,
        0,
        "no answer had one retry only; unreachable has no rule"
    );
    assert_eq!(w.status(&id).await, "completed");

    let o = w.outcomes(&id).await;
    let expected: Vec<(String, i64, String)> = [
        ("+8613800000001", 1, "answered"),
        ("+8613800000002", 1, "busy"),
        ("+8613800000002", 2, "busy"),
        ("+8613800000002", 3, "answered"),
        ("+8613800000003", 1, "no_answer"),
        ("+8613800000003", 2, "no_answer"),
        ("+8613800000004", 1, "not_exist"),
        ("+8613800000005", 1, "failed"),
        ("+8613800000005", 2, "unreachable"),
    ]
    .into_iter()
    .map(|(n, a, o)| (n.to_string(), a, o.to_string()))
    .collect();
    assert_eq!(o, expected);
    let p = w
        .store
        .campaign_progress(&w.tenant, &id)
        .await
        .expect("progress");
    assert_eq!((p.contacts, p.done, p.pending, p.attempts), (5, 5, 0, 9));
    assert_eq!(p.outcomes["busy"], 2);
    assert_eq!(p.outcomes["answered"], 2);
    // The dialer got the script, trunk, caller id and the contact's variables.
    let first = &w.dialer.calls()[0];
    assert_eq!(first.trunk, "trunk1");
    assert_eq!(first.caller_id.as_deref(), Some("+861088886666"));
    assert_eq!(
        (first.script.name.as_str(), first.script.version),
        ("sales", 1)
    );
    assert_eq!(first.variables["community"], "翠湖苑");
    assert_eq!(first.variables["phone"], first.number);
    assert!(first.variables["name"].starts_with("客户"));
    let answered = w
        .store
        .campaign_attempts(&w.tenant, &id, None, 100)
        .await
        .expect("a")
        .into_iter()
        .find(|a| a.result.outcome == "answered")
        .expect("answered");
    assert_eq!(answered.result.talk_ms, 42_000);
}

#[tokio::test]
async fn a_campaign_outside_its_window_waits_and_resumes_by_itself() {
    let w = World::new(None).await;
    // A Beijing mobile, a Tokyo mobile, a US number (no single zone: the
    // campaign's default +08:00 applies).
    w.list("l", &["13800000001", "+81 90 1234 5678", "+1 415 555 0100"])
        .await;
    let weekdays = json!(["09:00-12:00"]);
    let tuesday = (MONDAY + DAY) / DAY;
    let tuesday = time::Date::from_julian_day((tuesday + 2_440_588) as i32).expect("date");
    let id = w
        .campaign(
            "c1",
            "l",
            10,
            json!({ "windows": { "mon": weekdays, "tue": weekdays, "wed": weekdays, "thu": weekdays, "fri": weekdays },
                    "holidays": [tuesday.to_string()], "calls_per_second": 100 }),
        )
        .await;
    // Saturday 10:00 Beijing: closed for everyone.
    w.clock.store(MONDAY + 5 * DAY + 2 * HOUR, Ordering::SeqCst);
    assert_eq!(w.pass().await, 0);
    assert_eq!(w.status(&id).await, "running", "waiting, not finished");
    // Monday 08:30 Beijing = 09:30 Tokyo: only Tokyo is open.
    w.clock
        .store(MONDAY + 7 * DAY + 30 * MINUTE, Ordering::SeqCst);
    assert_eq!(w.pass().await, 1);
    assert_eq!(w.dialer.numbers(), ["+819012345678"]);
    // Monday 12:00 Beijing: closed again (the end is exclusive).
    w.clock.store(MONDAY + 7 * DAY + 4 * HOUR, Ordering::SeqCst);
    assert_eq!(w.pass().await, 0);
    // Back to the first Monday's week: Tuesday is a holiday...
    w.clock.store(MONDAY + DAY + 2 * HOUR, Ordering::SeqCst);
    assert_eq!(w.pass().await, 0);
    // ...and Wednesday 09:00 Beijing is open.
    w.clock.store(MONDAY + 2 * DAY + HOUR, Ordering::SeqCst);
    assert_eq!(w.pass().await, 2);
    assert_eq!(w.pass().await, 0);
    assert_eq!(w.status(&id).await, "completed");
}

#[tokio::test]
async fn numbers_on_a_do_not_call_list_are_never_dialled() {
    let w = World::new(None).await;
    w.list(
        "l",
        &["13800000001", "13800000002", "13800000003", "13800000004"],
    )
    .await;
    w.store
        .add_dnc(Some(&w.tenant), "+8613800000001", "manual", None, w.now())
        .await
        .expect("dnc");
    w.store
        .add_dnc(None, "+8613800000002", "cli", Some("regulator"), w.now())
        .await
        .expect("global dnc");
    // Another tenant's list does not apply to this one.
    let other = w
        .store
        .create_tenant("other", "Other", w.now())
        .await
        .expect("t");
    w.store
        .add_dnc(Some(&other.id), "+8613800000003", "manual", None, w.now())
        .await
        .expect("dnc");
    // The callee on 4 says "别再打了": the dialer reports it.
    let mut asked = DialResult::of(Outcome::Answered);
    asked.do_not_call = true;
    w.dialer.plan_result("+8613800000004", asked);
    let id = w.campaign("c1", "l", 10, always_open()).await;
    // A number put on the list after the start is caught at claim time.
    w.store
        .add_dnc(Some(&w.tenant), "+8613800000003", "api", None, w.now())
        .await
        .expect("dnc");
    assert_eq!(w.pass().await, 1);
    assert_eq!(w.dialer.numbers(), ["+8613800000004"]);
    assert!(
        w.store
            .is_dnc(&w.tenant, "+8613800000004")
            .await
            .expect("q")
    );
    let p = w.store.campaign_progress(&w.tenant, &id).await.expect("p");
    assert_eq!(p.outcomes["dnc"], 3);

    // A second campaign over the same list dials nobody, whichever campaign asks.
    let id2 = w.campaign("c2", "l", 10, always_open()).await;
    assert_eq!(w.pass().await, 0);
    assert_eq!(w.dialer.calls().len(), 1);
    assert_eq!(w.status(&id2).await, "completed");
    let entries = w
        .store
        .dnc_entries(Some(&w.tenant), None, 10)
        .await
        .expect("list");
    let asked = entries
        .iter()
        .find(|e| e.number == "+8613800000004")
        .expect("entry");
    assert_eq!(asked.source, "conversation");
}

#[tokio::test]
async fn the_frequency_cap_holds_across_campaigns() {
    let w = World::new(None).await;
    w.store
        .set_dialing_policy(
            &w.tenant,
            Some(DialingPolicy {
                max_calls: 1,
                window_ms: 5 * DAY,
            }),
            w.now(),
        )
        .await
        .expect("policy");
    w.list("a", &["13800000001"]).await;
    w.list("b", &["13800000001", "13800000002"]).await;
    w.campaign("first", "a", 5, always_open()).await;
    assert_eq!(w.pass().await, 1);
    let second = w.campaign("second", "b", 5, always_open()).await;
    w.advance(MINUTE);
    assert_eq!(
        w.pass().await,
        1,
        "the number called by the first campaign waits"
    );
    assert_eq!(w.dialer.numbers(), ["+8613800000001", "+8613800000002"]);
    w.advance(4 * DAY);
    assert_eq!(w.pass().await, 0);
    assert_eq!(w.status(&second).await, "running");
    w.advance(DAY);
    assert_eq!(w.pass().await, 1, "five days after the answered call");
    assert_eq!(
        w.dialer.numbers().last().map(String::as_str),
        Some("+8613800000001")
    );
}

#[tokio::test]
async fn a_callee_who_asks_to_be_called_back_is_called_back_then_despite_the_cap() {
    let w = World::new(None).await;
    w.store
        .set_dialing_policy(
            &w.tenant,
            Some(DialingPolicy {
                max_calls: 1,
                window_ms: 5 * DAY,
            }),
            w.now(),
        )
        .await
        .expect("policy");
    w.list("l", &["13800000001"]).await;
    // "明天下午三点再打给我": answered, callback tomorrow 15:00 Beijing.
    let tomorrow_3pm = MONDAY + DAY + 7 * HOUR;
    let mut asked = DialResult::of(Outcome::Answered);
    asked.callback_at = Some(tomorrow_3pm);
    w.dialer.plan_result("+8613800000001", asked);
    let id = w.campaign("c1", "l", 5, always_open()).await;
    assert_eq!(w.pass().await, 1);
    w.clock.store(tomorrow_3pm - 1, Ordering::SeqCst);
    assert_eq!(w.pass().await, 0);
    assert_eq!(w.status(&id).await, "running");
    w.clock.store(tomorrow_3pm, Ordering::SeqCst);
    assert_eq!(
        w.pass().await,
        1,
        "the callback, though the cap allows one call in five days"
    );
    assert_eq!(w.pass().await, 0);
    assert_eq!(w.status(&id).await, "completed");
    let calls = w.dialer.calls();
    assert_eq!((calls[0].attempt_no, calls[1].attempt_no), (1, 2));
}

#[tokio::test]
async fn lines_pacing_pause_resume_and_stop() {
    let gate = Arc::new(Semaphore::new(0));
    let w = World::new(Some(gate.clone())).await;
    let numbers: Vec<String> = (0..20).map(|i| format!("138000000{i:02}")).collect();
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    w.list("l", &refs).await;
    let mut settings = always_open();
    settings["calls_per_second"] = json!(2);
    let id = w.campaign("c1", "l", 3, settings).await;

    // Pacing: two calls a second.
    assert_eq!(w.runner.pass().await.expect("p").dialled, 2);
    assert_eq!(w.runner.pass().await.expect("p").dialled, 0);
    w.advance(499);
    assert_eq!(w.runner.pass().await.expect("p").dialled, 0);
    w.advance(1);
    assert_eq!(w.runner.pass().await.expect("p").dialled, 1);
    // Lines: three calls are up; no fourth however long we wait.
    w.advance(10_000);
    assert_eq!(w.runner.pass().await.expect("p").dialled, 0);
    assert_eq!(w.runner.in_flight(&id), 3);
    // Concurrency changed live: two more lines.
    control::set_lines(&w.store, &w.tenant, &id, 5, w.now())
        .await
        .expect("lines");
    assert_eq!(w.runner.pass().await.expect("p").dialled, 2);
    assert_eq!(w.runner.in_flight(&id), 5);
    // Pause: calls up finish, no new ones start.
    control::pause(&w.store, &w.tenant, &id, w.now())
        .await
        .expect("pause");
    gate.add_permits(5);
    w.runner.settle().await;
    w.advance(10_000);
    assert_eq!(w.runner.pass().await.expect("p").dialled, 0);
    assert_eq!(w.dialer.calls().len(), 5);
    let again = control::pause(&w.store, &w.tenant, &id, w.now()).await;
    assert!(
        matches!(again, Err(control::ControlError::WrongState { .. })),
        "{again:?}"
    );
    control::resume(&w.store, &w.tenant, &id, w.now())
        .await
        .expect("resume");
    assert_eq!(
        w.runner.pass().await.expect("p").dialled,
        2,
        "a second's worth of tokens"
    );
    control::stop(&w.store, &w.tenant, &id, w.now())
        .await
        .expect("stop");
    gate.add_permits(100);
    w.runner.settle().await;
    w.advance(60_000);
    assert_eq!(w.runner.pass().await.expect("p").dialled, 0);
    assert_eq!(w.status(&id).await, "stopped");
    let p = w.store.campaign_progress(&w.tenant, &id).await.expect("p");
    assert_eq!((p.attempts, p.pending, p.dialing), (7, 13, 0));
    assert!(
        control::resume(&w.store, &w.tenant, &id, w.now())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_crash_mid_campaign_loses_no_result_and_dials_no_attempt_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    // First life: three calls go up and never come back (the process dies).
    let gate = Arc::new(Semaphore::new(0));
    let store = Store::open(&path).await.expect("store");
    let w = World::with(dir, store, Some(gate.clone())).await;
    w.list(
        "l",
        &["13800000001", "13800000002", "13800000003", "13800000004"],
    )
    .await;
    let mut settings = always_open();
    settings["retry"] = json!({ "failed": { "after_minutes": 5, "max_retries": 1 } });
    let id = w.campaign("c1", "l", 3, settings).await;
    // One call completes before the crash.
    gate.add_permits(1);
    assert_eq!(w.runner.pass().await.expect("p").dialled, 3);
    while w.runner.in_flight(&id) > 2 {
        tokio::task::yield_now().await;
    }
    let first_life: Vec<String> = w.dialer.calls().into_iter().map(|c| c.attempt_id).collect();
    let now = w.now();
    let World {
        _dir: dir,
        store,
        runner,
        ..
    } = w;
    drop(runner); // the calls in flight are gone
    store.close().await;

    // Second life: a new process on the same database.
    let store = Store::open(&path).await.expect("reopen");
    let w = World::with(dir, store, None).await;
    w.clock.store(now, Ordering::SeqCst);
    assert_eq!(w.runner.recover().await.expect("recover"), 2);
    assert_eq!(
        w.runner.recover().await.expect("again"),
        0,
        "recovery is idempotent"
    );
    assert_eq!(
        w.pass().await,
        1,
        "only the contact never claimed is due now"
    );
    w.advance(5 * MINUTE);
    assert_eq!(
        w.pass().await,
        2,
        "the lost calls are retried as new attempts"
    );
    assert_eq!(w.pass().await, 0);
    assert_eq!(w.status(&id).await, "completed");

    let second_life: Vec<String> = w.dialer.calls().into_iter().map(|c| c.attempt_id).collect();
    for a in &second_life {
        assert!(!first_life.contains(a), "attempt {a} was dialled twice");
    }
    let o = w.outcomes(&id).await;
    let unknown: Vec<_> = o.iter().filter(|(_, _, out)| out == "unknown").collect();
    assert_eq!(unknown.len(), 2, "{o:?}");
    assert_eq!(
        o.len(),
        6,
        "1 answered before the crash, 2 lost, 1 fresh, 2 retries: {o:?}"
    );
    assert!(
        o.iter().all(|(_, _, out)| !out.is_empty()),
        "every attempt has a result"
    );
}
