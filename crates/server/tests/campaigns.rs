//! Campaigns through the console API: importing contacts (bad rows reported,
//! re-import changes nothing), validation, state changes, the do-not-call
//! list (also filled by a callee saying "别再打了"), and progress read live
//! while a runner works the campaign.

mod common;

use std::sync::Arc;

use base64::Engine;
use campaign::{BoxFuture, DialRequest, DialResult, Dialer, Outcome, Runner};
use common::*;
use reqwest::StatusCode;
use serde_json::json;

struct BusyThenAnswer;
impl Dialer for BusyThenAnswer {
    fn dial(&self, r: DialRequest) -> BoxFuture<DialResult> {
        Box::pin(async move {
            DialResult::of(if r.attempt_no == 1 {
                Outcome::Busy
            } else {
                Outcome::Answered
            })
        })
    }
}

#[tokio::test]
async fn contacts_campaigns_and_the_do_not_call_list_through_the_api() {
    let app = TestApp::start().await;
    let (boss, tenant) = app.shop("mini", MINI_SCRIPT).await;

    // Import: two good rows, one bad, one duplicate.
    let csv = "姓名,手机号,小区\n张三,138-0013-8000,翠湖苑\n李四,12345,翠湖苑\n王五,+86 139 0013 9000,\n赵六,13800138000,\n";
    let body = json!({ "format": "csv", "content": csv, "mapping": { "columns": { "小区": "community" } } });
    let (s, r) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/contact-lists/owners/import",
        Some(&body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["inserted"].as_u64(), r["unchanged"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(r["rejected"][0]["row"], 3);
    assert_eq!(r["rejected"][0]["value"], "12345");
    assert!(
        r["rejected"][0]["reason"]
            .as_str()
            .expect("zh")
            .contains("位数"),
        "{r}"
    );
    assert_eq!(r["rejected"][1]["row"], 5);
    let list_id = r["list"]["id"].as_str().expect("id").to_string();
    let (_, again) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/contact-lists/owners/import",
        Some(&body),
    )
    .await;
    assert_eq!(
        (again["inserted"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(2))
    );
    let (_, contacts) = call(
        &boss,
        &app,
        "GET",
        &format!("/api/v1/contact-lists/{list_id}/contacts"),
        None,
    )
    .await;
    assert_eq!(contacts["contacts"][0]["number"], "+8613800138000");
    assert_eq!(contacts["contacts"][0]["variables"]["community"], "翠湖苑");
    // The same through Excel bytes that are not a workbook: one clear error.
    let junk = json!({ "format": "xlsx", "content_base64": base64::engine::general_purpose::STANDARD.encode(b"not a workbook") });
    let (s, e) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/contact-lists/owners/import",
        Some(&junk),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .expect("zh")
            .contains("Excel")
    );

    // Bigger than this route's limit: one clear error naming it.
    let huge = json!({ "format": "csv", "content": "手机号\n".to_string() + &"13800138000\n".repeat(1_500_000) });
    let (s, e) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/contact-lists/owners/import",
        Some(&huge),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    assert!(
        e["error"]["message_en"]
            .as_str()
            .expect("en")
            .contains("16 MB"),
        "{e}"
    );
    // Bad campaigns are refused with a reason in both languages.
    for (bad, word) in [
        (
            json!({ "name": "c", "script": "nope", "list": "owners", "trunk": "t", "max_lines": 1 }),
            "script",
        ),
        (
            json!({ "name": "c", "script": "mini", "list": "nope", "trunk": "t", "max_lines": 1 }),
            "contact list",
        ),
        (
            json!({ "name": "c", "script": "mini", "list": "owners", "trunk": "t", "max_lines": 0 }),
            "max_lines",
        ),
        (
            json!({ "name": "c", "script": "mini", "list": "owners", "trunk": "t", "max_lines": 1, "settings": { "windows": { "mon": ["9-12"] } } }),
            "9-12",
        ),
    ] {
        let (s, e) = call(&boss, &app, "POST", "/api/v1/campaigns", Some(&bad)).await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
            "{bad}: {s} {e}"
        );
        assert!(
            e["error"]["message_en"]
                .as_str()
                .expect("en")
                .contains(word),
            "{e}"
        );
        assert!(!e["error"]["message"].as_str().expect("zh").is_empty());
    }
    let day = json!(["00:00-24:00"]);
    let spec = json!({ "name": "spring", "script": "mini", "list": "owners", "trunk": "trunk1", "max_lines": 4,
        "settings": { "calls_per_second": 100,
            "windows": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
            "retry": { "busy": { "after_minutes": 30, "max_retries": 1 } },
            "webhook": { "url": "http://127.0.0.1:9/hook", "secret": "very-secret-crm-key" } } });
    let (s, c) = call(&boss, &app, "POST", "/api/v1/campaigns", Some(&spec)).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(
        c["settings"]["webhook"]["secret"], "***",
        "secrets are never shown"
    );
    assert_eq!(c["script_version"], 1);
    let id = c["id"].as_str().expect("id").to_string();
    let (s, e) = call(
        &boss,
        &app,
        "POST",
        &format!("/api/v1/campaigns/{id}/pause"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "a draft cannot be paused: {e}");

    // One number goes on the do-not-call list; a bad one is refused whole.
    let (s, _) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/dnc",
        Some(&json!({ "numbers": ["13900139000", "hello"] })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, r) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/dnc",
        Some(&json!({ "numbers": ["13900139000"], "reason": "投诉" })),
    )
    .await;
    assert_eq!((s, r["added"].as_u64()), (StatusCode::OK, Some(1)));

    let (s, _) = call(
        &boss,
        &app,
        "POST",
        &format!("/api/v1/campaigns/{id}/start"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // The runner (inside `tonghua serve`) picks the started campaign up from the store.
    let now = Arc::new(std::sync::atomic::AtomicI64::new(START_MS));
    let reader = now.clone();
    let runner = Runner::new(
        app.store.clone(),
        Arc::new(BusyThenAnswer),
        Arc::new(move || reader.load(std::sync::atomic::Ordering::SeqCst)),
    );
    runner.pass().await.expect("pass");
    runner.settle().await;
    let (_, status) = call(&boss, &app, "GET", &format!("/api/v1/campaigns/{id}"), None).await;
    assert_eq!(status["campaign"]["status"], "running");
    assert_eq!(status["progress"]["contacts"], 2);
    assert_eq!(status["progress"]["pending"], 1, "{status}");
    assert_eq!(status["progress"]["outcomes"]["busy"], 1);
    assert_eq!(status["progress"]["outcomes"]["dnc"], 1);
    assert_eq!(status["window"]["open_now"], true);
    now.fetch_add(30 * 60_000, std::sync::atomic::Ordering::SeqCst);
    runner.pass().await.expect("pass");
    runner.settle().await;
    runner.pass().await.expect("pass");
    let (_, status) = call(&boss, &app, "GET", &format!("/api/v1/campaigns/{id}"), None).await;
    assert_eq!(status["campaign"]["status"], "completed", "{status}");
    assert_eq!(status["progress"]["outcomes"]["answered"], 1);
    let (_, attempts) = call(
        &boss,
        &app,
        "GET",
        &format!("/api/v1/campaigns/{id}/attempts"),
        None,
    )
    .await;
    assert_eq!(attempts["attempts"].as_array().map(Vec::len), Some(2));
    let (_, log) = call(
        &boss,
        &app,
        "GET",
        &format!("/api/v1/campaigns/{id}/deliveries"),
        None,
    )
    .await;
    assert_eq!(
        log["deliveries"].as_array().map(Vec::len),
        Some(2),
        "one webhook per attempt"
    );
    assert!(!log.to_string().contains("very-secret-crm-key"));

    // "别再打了" in a hosted conversation puts the caller's number on the list.
    let (s, conv) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(
            &json!({ "channel": "phone", "script": "mini", "contact": { "phone": "13700137000" } }),
        ),
    )
    .await;
    assert!(s.is_success(), "{conv}");
    let conv_id = conv["id"].as_str().expect("id");
    let (s, r) = call(
        &boss,
        &app,
        "POST",
        &format!("/api/v1/conversations/{conv_id}/input"),
        Some(&json!({ "type": "user_said", "text": "你们别再打了，不要再给我打电话" })),
    )
    .await;
    assert!(s.is_success(), "{r}");
    let (_, dnc) = call(&boss, &app, "GET", "/api/v1/dnc", None).await;
    let numbers: Vec<(&str, &str)> = dnc["numbers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| {
            (
                e["number"].as_str().unwrap_or(""),
                e["source"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        numbers,
        [
            ("+8613700137000", "conversation"),
            ("+8613900139000", "api")
        ],
        "{dnc}"
    );
    let (s, _) = call(&boss, &app, "DELETE", "/api/v1/dnc/139-0013-9000", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&boss, &app, "DELETE", "/api/v1/dnc/139-0013-9000", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The frequency cap.
    let (s, e) = call(
        &boss,
        &app,
        "PUT",
        "/api/v1/dialing-policy",
        Some(&json!({ "max_calls": 1, "per_days": 0 })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    call(
        &boss,
        &app,
        "PUT",
        "/api/v1/dialing-policy",
        Some(&json!({ "max_calls": 1, "per_days": 5 })),
    )
    .await;
    let (_, p) = call(&boss, &app, "GET", "/api/v1/dialing-policy", None).await;
    assert_eq!(
        (p["max_calls"].as_i64(), p["per_days"].as_i64()),
        (Some(1), Some(5))
    );
    assert!(
        app.store
            .dialing_policy(&tenant)
            .await
            .expect("q")
            .is_some()
    );
}
