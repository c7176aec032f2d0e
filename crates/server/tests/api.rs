//! The API's general contract: error shape, request ids, bad input, OpenAPI,
//! health and metrics.

mod common;

use common::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use server::api::ROUTES;
use store::Role;

fn assert_error_shape(body: &Value, code: &str) {
    let e = &body["error"];
    assert_eq!(e["code"], code, "{body}");
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        e["message_en"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        e["request_id"].as_str().is_some_and(|m| m.len() >= 32),
        "{body}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_errors_repeat_it() {
    let app = TestApp::start().await;
    let r = Client::new()
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .expect("send");
    let header = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("header")
        .to_string();
    let (status, body) = split(r).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body, "unauthenticated");
    assert_eq!(body["error"]["request_id"], header.as_str());
    // A caller-supplied id is kept, so it can be traced across systems.
    let r = Client::new()
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-me-123")
    );
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_bodies_get_json_errors() {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    app.user(&t, "boss", Role::Admin).await;
    let c = app.login("acme", "boss").await;

    let (s, b) = call(&c, &app, "GET", "/api/v1/nothing-here", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error_shape(&b, "route_not_found");
    let (s, b) = call(&c, &app, "DELETE", "/api/v1/users", None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_shape(&b, "method_not_allowed");

    let r = c
        .post(app.url("/api/v1/users"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    let (s, b) = split(r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error_shape(&b, "bad_request");
    let r = c
        .post(app.url("/api/v1/users"))
        .body("username=x")
        .send()
        .await
        .expect("send");
    let (s, b) = split(r).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error_shape(&b, "unsupported_media_type");

    // Unknown fields and bad enum values are refused, not ignored.
    let (s, b) = call(
        &c,
        &app,
        "POST",
        "/api/v1/users",
        Some(&json!({ "username": "x1", "role": "agent", "password": PASSWORD, "admin": true })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = call(
        &c,
        &app,
        "POST",
        "/api/v1/users",
        Some(&json!({ "username": "x2", "role": "king", "password": PASSWORD })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = call(
        &c,
        &app,
        "POST",
        "/api/v1/users",
        Some(&json!({ "username": "bad name!", "role": "agent", "password": PASSWORD })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = call(
        &c,
        &app,
        "POST",
        "/api/v1/users",
        Some(&json!({ "username": "x3", "role": "agent", "password": "short" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b["error"]["message"].as_str().expect("m").contains("8"));

    // A body over the limit is refused before it is read whole.
    let huge = json!({ "kind": "x", "payload": "a".repeat(server::app::MAX_BODY_BYTES + 10) });
    let (_, conv) = call(
        &c,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "api" })),
    )
    .await;
    let id = conv["id"].as_str().expect("id");
    let (s, _) = call(
        &c,
        &app,
        "POST",
        &format!("/api/v1/conversations/{id}/events"),
        Some(&huge),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);

    // None of the refused requests created anything.
    let (_, users) = call(&c, &app, "GET", "/api/v1/users", None).await;
    assert_eq!(users["users"].as_array().expect("users").len(), 1);
    let (_, events) = call(
        &c,
        &app,
        "GET",
        &format!("/api/v1/conversations/{id}/events"),
        None,
    )
    .await;
    assert_eq!(events["events"].as_array().expect("events").len(), 0);
}

#[tokio::test]
async fn duplicate_usernames_are_a_conflict() {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    app.user(&t, "boss", Role::Admin).await;
    let c = app.login("acme", "boss").await;
    let new = json!({ "username": "li", "role": "agent", "password": PASSWORD });
    assert_eq!(
        call(&c, &app, "POST", "/api/v1/users", Some(&new)).await.0,
        StatusCode::CREATED
    );
    let (s, b) = call(&c, &app, "POST", "/api/v1/users", Some(&new)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_error_shape(&b, "conflict");
}

#[tokio::test]
async fn conversation_events_are_appended_in_order_and_read_back_from_a_point() {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    app.user(&t, "li", Role::Agent).await;
    let c = app.login("acme", "li").await;
    let (s, conv) = call(
        &c,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "web", "metadata": { "source": "官网" } })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = conv["id"].as_str().expect("id");
    for i in 1..=5 {
        let (s, e) = call(
            &c,
            &app,
            "POST",
            &format!("/api/v1/conversations/{id}/events"),
            Some(&json!({ "kind": "user_said", "payload": { "text": format!("第{i}句") } })),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(e["seq"], i);
    }
    let (_, after) = call(
        &c,
        &app,
        "GET",
        &format!("/api/v1/conversations/{id}/events?after=3"),
        None,
    )
    .await;
    let texts: Vec<&str> = after["events"]
        .as_array()
        .expect("a")
        .iter()
        .map(|e| e["payload"]["text"].as_str().expect("t"))
        .collect();
    assert_eq!(texts, vec!["第4句", "第5句"]);
    let (_, got) = call(
        &c,
        &app,
        "GET",
        &format!("/api/v1/conversations/{id}"),
        None,
    )
    .await;
    assert_eq!(got["last_seq"], 5);
    assert_eq!(got["metadata"]["source"], "官网");

    for bad in [
        json!({ "kind": "" }),
        json!({ "kind": "has space" }),
        json!({ "payload": {} }),
    ] {
        let (s, b) = call(
            &c,
            &app,
            "POST",
            &format!("/api/v1/conversations/{id}/events"),
            Some(&bad),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
    let (s, _) = call(
        &c,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "web", "metadata": [1, 2] })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(
        &c,
        &app,
        "GET",
        &format!("/api/v1/conversations/{id}/events?after=abc"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, got) = call(
        &c,
        &app,
        "GET",
        &format!("/api/v1/conversations/{id}"),
        None,
    )
    .await;
    assert_eq!(got["last_seq"], 5, "refused appends changed nothing");
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_every_route_exists() {
    let app = TestApp::start().await;
    let (s, doc) = call(&Client::new(), &app, "GET", "/api/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for r in ROUTES {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} missing from OpenAPI",
            r.method,
            r.path
        );
        if let Some(schema) = r.body {
            assert!(
                doc["components"]["schemas"][schema].is_object(),
                "schema {schema} missing"
            );
        }
        // The router knows it: without credentials it is refused or answered, never "no such route".
        let path = r.path.replace("{id}", "some-id");
        let body = r.body.map(sample_body);
        let (status, body) = call(&Client::new(), &app, r.method, &path, body.as_ref()).await;
        assert_ne!(
            body["error"]["code"], "route_not_found",
            "{} {path}",
            r.method
        );
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{} {path}",
            r.method
        );
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::start().await;
    let (s, b) = call(&Client::new(), &app, "GET", "/healthz", None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, b) = call(&Client::new(), &app, "GET", "/readyz", None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ready")));
    let r = Client::new().get(app.url("/")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"))
    );
    let page = r.text().await.expect("text");
    assert!(
        page.contains("通话 Tonghua") && page.contains("/api/openapi.json"),
        "{page}"
    );
    let text = Client::new()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(text.contains("tonghua_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/readyz\""), "{text}");
    // Readiness follows the database.
    app.store.close().await;
    let (s, b) = call(&Client::new(), &app, "GET", "/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_error_shape(&b, "not_ready");
}
