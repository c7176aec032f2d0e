//! CRM webhooks and SMS after calls, against a real HTTP server on loopback:
//! the wire format, the HMAC signature (checked with an independent HMAC),
//! retries with back-off on a failing receiver, and the delivery log.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use campaign::control::{self, CampaignSpec};
use campaign::delivery::Deliverer;
use campaign::{BoxFuture, DialRequest, DialResult, Dialer, Outcome, Runner};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use store::{NewContact, Store};

const MONDAY_10_BEIJING: i64 = 1_795_392_000_000 + 2 * 3_600_000;
const SECRET: &str = "a-shared-secret-of-the-crm";

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>,
    /// Status codes to answer with, in order; then 200.
    answers: Arc<Mutex<Vec<u16>>>,
}

async fn receive(
    State(r): State<Receiver>,
    path: axum::extract::OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    r.got
        .lock()
        .expect("lock")
        .push((path.path().to_string(), headers, body));
    let mut answers = r.answers.lock().expect("lock");
    let code = if answers.is_empty() {
        200
    } else {
        answers.remove(0)
    };
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}

struct AnswerWithGrade;
impl Dialer for AnswerWithGrade {
    fn dial(&self, request: DialRequest) -> BoxFuture<DialResult> {
        Box::pin(async move {
            let mut r = DialResult::of(if request.number.ends_with('1') {
                Outcome::Answered
            } else {
                Outcome::Busy
            });
            if r.outcome == Outcome::Answered {
                r.talk_ms = 61_000;
                r.grade = Some("A".into());
                r.tags = vec!["意向客户".into()];
                r.conversation_id = Some("conv-1".into());
                r.callback_at = Some(MONDAY_10_BEIJING + 86_400_000);
            }
            r
        })
    }
}

fn independent_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[tokio::test]
async fn webhooks_are_signed_retried_with_back_off_and_logged_and_sms_is_sent() {
    let receiver = Receiver::default();
    // The CRM is down for the first two tries.
    receiver.answers.lock().expect("lock").extend([503, 500]);
    let app = Router::new()
        .route("/crm", post(receive))
        .route("/sms", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path()).await.expect("store");
    let t = store
        .create_tenant("acme", "Acme", 0)
        .await
        .expect("tenant");
    store
        .put_document(
            &t.id,
            store::DocumentKind::Script,
            "sales",
            "name: sales",
            None,
            0,
        )
        .await
        .expect("script");
    let list = store
        .ensure_contact_list(&t.id, "l", 0)
        .await
        .expect("list");
    let contacts = ["+8613800000001", "+8613800000002"].map(|n| NewContact {
        number: n.into(),
        name: Some("张三".into()),
        variables: [("product".to_string(), "宽带".to_string())]
            .into_iter()
            .collect(),
        utc_offset: Some(480),
    });
    store
        .import_contacts(&t.id, &list.id, &contacts, 0)
        .await
        .expect("import");
    let spec = CampaignSpec {
        name: "c1".into(),
        script: "sales".into(),
        script_version: None,
        list: "l".into(),
        trunk: "t1".into(),
        caller_id: None,
        max_lines: 5,
        settings: Some(json!({
            "calls_per_second": 10,
            "webhook": { "url": format!("http://{addr}/crm"), "secret": SECRET },
            "sms": { "gateway_url": format!("http://{addr}/sms"), "token": "sms-token",
                     "text": "{{name}}您好，{{product}}办理链接已发送", "grades": ["A", "B"] }
        })),
    };
    let c = control::create(&store, &t.id, &spec, 0)
        .await
        .expect("create");
    control::start(&store, &t.id, &c.id, 0)
        .await
        .expect("start");

    let clock = Arc::new(AtomicI64::new(MONDAY_10_BEIJING));
    let reader = clock.clone();
    let now: campaign::Now = Arc::new(move || reader.load(Ordering::SeqCst));
    let runner = Runner::new(store.clone(), Arc::new(AnswerWithGrade), now.clone());
    assert_eq!(runner.pass().await.expect("pass").dialled, 2);
    runner.settle().await;

    let deliverer = Deliverer::new(store.clone(), now);
    // Two webhooks and one SMS (only the answered grade-A call).
    assert_eq!(deliverer.deliver_due().await.expect("deliver"), 3);
    let log = store
        .campaign_deliveries(&t.id, &c.id, 10)
        .await
        .expect("log");
    assert_eq!(log.len(), 3);
    let failed: Vec<_> = log.iter().filter(|d| d.status == "pending").collect();
    assert_eq!(
        failed.len(),
        2,
        "{log:#?} {:?}",
        receiver
            .got
            .lock()
            .expect("l")
            .iter()
            .map(|g| g.0.clone())
            .collect::<Vec<_>>()
    );
    assert!(
        failed
            .iter()
            .all(|d| d.tries == 1 && d.next_at == MONDAY_10_BEIJING + 10_000)
    );
    assert!(failed.iter().any(|d| d.last_status == Some(503)));
    // Nothing is due before the back-off has passed.
    clock.fetch_add(9_999, Ordering::SeqCst);
    assert_eq!(deliverer.deliver_due().await.expect("deliver"), 0);
    clock.fetch_add(1, Ordering::SeqCst);
    assert_eq!(deliverer.deliver_due().await.expect("deliver"), 2);
    let log = store
        .campaign_deliveries(&t.id, &c.id, 10)
        .await
        .expect("log");
    assert!(log.iter().all(|d| d.status == "delivered"), "{log:?}");
    assert_eq!(log.iter().map(|d| d.tries).sum::<i64>(), 5);
    clock.fetch_add(3_600_000, Ordering::SeqCst);
    assert_eq!(
        deliverer.deliver_due().await.expect("deliver"),
        0,
        "delivered ones are not sent again"
    );

    let got = receiver.got.lock().expect("lock").clone();
    assert_eq!(got.len(), 5);
    let mut delivery_ids = std::collections::HashMap::<String, usize>::new();
    for (path, headers, body) in got.iter().filter(|(p, ..)| p == "/crm") {
        let ts = headers["x-tonghua-timestamp"].to_str().expect("ts");
        let sig = headers["x-tonghua-signature"].to_str().expect("sig");
        assert_eq!(sig, independent_signature(SECRET, ts, body), "{path}");
        assert_ne!(sig, independent_signature("another secret", ts, body));
        assert_eq!(headers["content-type"], "application/json");
        *delivery_ids
            .entry(
                headers["x-tonghua-delivery"]
                    .to_str()
                    .expect("id")
                    .to_string(),
            )
            .or_default() += 1;
    }
    assert_eq!(
        delivery_ids.len(),
        2,
        "one id per webhook, the same on every retry"
    );
    let answered: Value = got
        .iter()
        .filter(|(p, ..)| p == "/crm")
        .map(|(_, _, b)| serde_json::from_slice::<Value>(b).expect("json"))
        .find(|v| v["attempt"]["outcome"] == "answered")
        .expect("answered webhook");
    assert_eq!(answered["event"], "call.finished");
    assert_eq!(answered["campaign"]["name"], "c1");
    assert_eq!(answered["attempt"]["talk_ms"], 61_000);
    assert_eq!(answered["attempt"]["grade"], "A");
    assert_eq!(answered["attempt"]["tags"], json!(["意向客户"]));
    assert_eq!(
        answered["attempt"]["callback_at"],
        MONDAY_10_BEIJING + 86_400_000
    );
    assert_eq!(answered["contact"]["number"], "+8613800000001");
    assert_eq!(answered["contact"]["variables"]["product"], "宽带");
    // The callee asked to be called back tomorrow: that is the next call.
    assert_eq!(answered["next"]["retry_at"], MONDAY_10_BEIJING + 86_400_000);
    assert_eq!(answered["next"]["callback"], true);
    let busy: Value = got
        .iter()
        .filter(|(p, ..)| p == "/crm")
        .map(|(_, _, b)| serde_json::from_slice::<Value>(b).expect("json"))
        .find(|v| v["attempt"]["outcome"] == "busy")
        .expect("busy webhook");
    assert_eq!(
        busy["next"]["retry_at"],
        Value::Null,
        "no retry rule for busy here"
    );

    let (_, headers, body) = got.iter().find(|(p, ..)| p == "/sms").expect("sms");
    assert_eq!(headers["authorization"], "Bearer sms-token");
    let sms: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(sms["to"], "+8613800000001");
    assert_eq!(sms["text"], "张三您好，宽带办理链接已发送");
}

#[tokio::test]
async fn a_receiver_that_never_answers_is_given_up_after_the_last_back_off() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path()).await.expect("store");
    let t = store
        .create_tenant("acme", "Acme", 0)
        .await
        .expect("tenant");
    store
        .put_document(
            &t.id,
            store::DocumentKind::Script,
            "sales",
            "name: sales",
            None,
            0,
        )
        .await
        .expect("script");
    let list = store
        .ensure_contact_list(&t.id, "l", 0)
        .await
        .expect("list");
    let one = NewContact {
        number: "+8613800000001".into(),
        name: None,
        variables: Default::default(),
        utc_offset: None,
    };
    store
        .import_contacts(&t.id, &list.id, &[one], 0)
        .await
        .expect("import");
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let spec = CampaignSpec {
        name: "c1".into(),
        script: "sales".into(),
        script_version: None,
        list: "l".into(),
        trunk: "t1".into(),
        caller_id: None,
        max_lines: 1,
        settings: Some(
            json!({ "webhook": { "url": format!("http://{closed}/crm"), "secret": SECRET } }),
        ),
    };
    let c = control::create(&store, &t.id, &spec, 0)
        .await
        .expect("create");
    control::start(&store, &t.id, &c.id, 0)
        .await
        .expect("start");
    let clock = Arc::new(AtomicI64::new(MONDAY_10_BEIJING));
    let reader = clock.clone();
    let now: campaign::Now = Arc::new(move || reader.load(Ordering::SeqCst));
    let runner = Runner::new(store.clone(), Arc::new(AnswerWithGrade), now.clone());
    runner.pass().await.expect("pass");
    runner.settle().await;
    let deliverer = Deliverer::new(store.clone(), now);
    for _ in 0..9 {
        assert_eq!(deliverer.deliver_due().await.expect("deliver"), 1);
        clock.fetch_add(6 * 3_600_000, Ordering::SeqCst);
    }
    assert_eq!(deliverer.deliver_due().await.expect("deliver"), 0);
    let log = store
        .campaign_deliveries(&t.id, &c.id, 10)
        .await
        .expect("log");
    assert_eq!((log[0].status.as_str(), log[0].tries), ("failed", 9));
    assert!(log[0].last_error.is_some());
}
