//! Carrier trunks managed through the API (channels of kind `sip`): checked
//! field by field, the password never shown and kept across edits that leave
//! it out, a number on one trunk only, deleted cleanly.

mod common;

use common::{MINI_SCRIPT, TestApp, call};
use reqwest::StatusCode;
use serde_json::json;

fn trunk(password: Option<&str>) -> serde_json::Value {
    let mut settings = json!({
        "host": "sip.carrier.example",
        "proxy": "127.0.0.1:5070",
        "username": "075583001234",
        "register": false,
        "max_calls": 20,
        "numbers": ["075583001234", "+8675583001235"],
        "script": "mini"
    });
    if let Some(p) = password {
        settings["password"] = json!(p);
    }
    json!({ "kind": "sip", "settings": settings })
}

#[tokio::test]
async fn a_trunk_is_checked_masked_kept_and_deleted() {
    let app = TestApp::start().await;
    let (boss, tenant) = app.shop("mini", MINI_SCRIPT).await;
    let path = "/api/v1/channels/carrier1";

    let (s, b) = call(&boss, &app, "PUT", path, Some(&trunk(Some("pw-1")))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["settings"]["password"], "********", "{b}");
    assert_eq!(
        b["settings"]["ring_timeout_secs"], 45,
        "defaults are filled"
    );
    assert!(b["path"].is_null());
    let stored = || async {
        app.store
            .channel(&tenant, "carrier1")
            .await
            .expect("db")
            .expect("trunk")
            .settings
    };
    assert_eq!(stored().await["password"], "pw-1");

    // An edit without the password, or with the mask shown, keeps it.
    let mut edit = trunk(None);
    edit["settings"]["max_calls"] = json!(5);
    let (s, b) = call(&boss, &app, "PUT", path, Some(&edit)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(stored().await["password"], "pw-1");
    assert_eq!(stored().await["max_calls"], 5);
    let (s, _) = call(&boss, &app, "PUT", path, Some(&trunk(Some("********")))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stored().await["password"], "pw-1");
    let (s, _) = call(&boss, &app, "PUT", path, Some(&trunk(Some("pw-2")))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stored().await["password"], "pw-2");

    // Bad settings: one clear message naming the field; nothing changes.
    let before = stored().await;
    for (field, value, named) in [
        ("host", json!("sip carrier"), "host"),
        ("proxy", json!("carrier.example"), "proxy"),
        ("max_calls", json!(0), "max_calls"),
        ("numbers", json!(["0755-8300"]), "0755-8300"),
        ("script", json!(null), "script"),
        ("colour", json!("#fff"), "colour"),
    ] {
        let mut bad = trunk(None);
        bad["settings"][field] = value;
        let (s, b) = call(&boss, &app, "PUT", path, Some(&bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {b}");
        let msg = b["error"]["message_en"].as_str().unwrap_or_default();
        assert!(msg.contains(named), "{field}: {msg}");
        assert!(
            b["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let mut no_script = trunk(None);
    no_script["settings"]["script"] = json!("no-such-script");
    let (s, b) = call(&boss, &app, "PUT", path, Some(&no_script)).await;
    assert!(s.is_client_error(), "{b}");
    assert_eq!(stored().await, before);

    // A number reaches one script only: another tenant cannot claim it.
    let other = app.tenant("other").await;
    app.user(&other, "root", store::Role::Admin).await;
    let root = app.login("other", "root").await;
    for (p, source) in [
        ("/api/v1/knowledge-bases/mini-kb", common::MINI_KB),
        ("/api/v1/scripts/mini", MINI_SCRIPT),
    ] {
        let (s, b) = call(&root, &app, "PUT", p, Some(&json!({ "source": source }))).await;
        assert!(s.is_success(), "{b}");
    }
    let (s, b) = call(
        &root,
        &app,
        "PUT",
        "/api/v1/channels/theirs",
        Some(&trunk(Some("x"))),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let msg = b["error"]["message_en"].as_str().unwrap_or_default();
    assert!(
        msg.contains("075583001234") && !msg.contains("carrier1"),
        "{msg}"
    );
    let mut own = trunk(Some("x"));
    own["settings"]["numbers"] = json!(["02161234567"]);
    let (s, b) = call(&root, &app, "PUT", "/api/v1/channels/theirs", Some(&own)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Nor can it see or delete the first tenant's trunk.
    let (s, _) = call(&root, &app, "DELETE", path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, b) = call(&boss, &app, "GET", "/api/v1/channels", None).await;
    assert_eq!(s, StatusCode::OK);
    let listed = b["channels"].as_array().expect("list");
    assert_eq!(listed.len(), 1, "{b}");
    assert_eq!(listed[0]["settings"]["password"], "********");
    assert!(!b.to_string().contains("pw-2"));

    let (s, _) = call(&boss, &app, "DELETE", path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&boss, &app, "GET", path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&boss, &app, "DELETE", path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Its numbers are free again.
    let mut reuse = trunk(Some("y"));
    reuse["settings"]["numbers"] = json!(["075583001234"]);
    let (s, b) = call(&root, &app, "PUT", "/api/v1/channels/theirs", Some(&reuse)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let entries = app
        .store
        .audit_entries(
            &tenant,
            &store::AuditQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("audit");
    assert!(entries.iter().any(|e| e.action == "channel.delete"));
}
