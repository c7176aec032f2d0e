//! The API channel for a company's own app or backend: start a conversation
//! with a customer id and CRM fields over REST, then follow it (and talk in
//! it) over a WebSocket, authenticated with scoped API tokens.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn token(boss: &Client, app: &TestApp, scopes: &[&str]) -> String {
    let (s, created) = call(
        boss,
        app,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "name": "app", "scopes": scopes })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    created["secret"].as_str().expect("secret").to_string()
}

async fn bearer_post(app: &TestApp, secret: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    split(
        Client::new()
            .post(app.url(path))
            .bearer_auth(secret)
            .json(body)
            .send()
            .await
            .expect("send"),
    )
    .await
}

async fn open(app: &TestApp, secret: &str, id: &str, after: i64) -> Result<Ws, u16> {
    let url = format!(
        "{}/api/v1/conversations/{id}/stream?after={after}",
        app.base.replacen("http", "ws", 1)
    );
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {secret}").parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("connect: {e}"),
    }
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = frame {
            return serde_json::from_str(&t).expect("json");
        }
    }
}

/// Frames until one of type `kind` (inclusive).
async fn until(ws: &mut Ws, kind: &str) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let f = next(ws).await;
        let done = f["type"] == kind;
        frames.push(f);
        if done {
            return frames;
        }
    }
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .expect("send");
}

#[tokio::test]
async fn an_app_starts_a_conversation_and_follows_it_live() {
    let app = TestApp::start().await;
    let (boss, _) = app.shop("mini", MINI_SCRIPT).await;
    let rw = token(&boss, &app, &["conversations.read", "conversations.write"]).await;
    let (s, created) = bearer_post(
        &app,
        &rw,
        "/api/v1/conversations",
        &json!({ "channel": "app", "script": "mini", "contact": { "name": "王女士" },
                 "customer": { "crm_id": "CRM-0042" } }),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_string();

    // The stream starts with the log so far: the greeting, with the CRM field filled in.
    let mut ws = open(&app, &rw, &id, 0).await.expect("stream");
    let first = next(&mut ws).await;
    assert_eq!(
        (first["type"].as_str(), first["seq"].as_i64()),
        (Some("event"), Some(1))
    );
    let mut backlog = vec![first];
    while !backlog.iter().any(|f| f["kind"] == "action.wait_for_input") {
        backlog.push(next(&mut ws).await);
    }
    assert!(backlog.iter().any(|f| {
        f["kind"] == "action.say"
            && f["payload"]["text"]
                .as_str()
                .unwrap_or("")
                .contains("王女士")
    }));

    // Talking over the stream: a turn answer, then the new entries as events.
    send(
        &mut ws,
        json!({ "type": "input", "event": { "type": "user_said", "text": "怎么申请退款" } }),
    )
    .await;
    let frames = until(&mut ws, "turn").await;
    let turn = frames.last().expect("turn");
    let first_seq = turn["first_seq"].as_i64().expect("first_seq");
    let mut events = frames[..frames.len() - 1].to_vec();
    while !events
        .iter()
        .any(|f| f["kind"] == "action.wait_for_input" && f["seq"].as_i64() > Some(first_seq))
    {
        events.push(next(&mut ws).await);
    }
    assert!(
        events
            .iter()
            .any(|f| f["seq"].as_i64() == Some(first_seq) && f["kind"] == "event.user_said")
    );
    assert!(
        events.iter().any(|f| f["kind"] == "action.say"
            && f["payload"]["text"].as_str().unwrap_or("").contains("退款")),
        "{events:?}"
    );
    // Sequence numbers arrive in order without gaps.
    let seqs: Vec<i64> = backlog
        .iter()
        .chain(events.iter())
        .filter_map(|f| f["seq"].as_i64())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());

    // Input from elsewhere (REST) reaches the open stream too.
    let (s, _) = bearer_post(
        &app,
        &rw,
        &format!("/api/v1/conversations/{id}/input"),
        &json!({ "type": "user_said", "text": "再见" }),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let mut live = Vec::new();
    while !live.iter().any(|f: &Value| f["kind"] == "action.hangup") {
        live.push(next(&mut ws).await);
    }
    assert!(
        live.iter()
            .any(|f| f["kind"] == "event.user_said" && f["payload"]["text"] == "再见")
    );

    // A reconnect from a sequence number gets exactly what came after it.
    let last = live.last().and_then(|f| f["seq"].as_i64()).expect("seq");
    let mut again = open(&app, &rw, &id, last - 1).await.expect("stream");
    assert_eq!(next(&mut again).await["seq"].as_i64(), Some(last));
    send(&mut again, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut again).await["type"], "pong");
}

#[tokio::test]
async fn streams_respect_scopes_tenants_and_bad_frames() {
    let app = TestApp::start().await;
    let (boss, _) = app.shop("mini", MINI_SCRIPT).await;
    let rw = token(&boss, &app, &["conversations.read", "conversations.write"]).await;
    let read_only = token(&boss, &app, &["conversations.read"]).await;
    let no_read = token(&boss, &app, &["bots.view"]).await;
    let (_, created) = bearer_post(
        &app,
        &rw,
        "/api/v1/conversations",
        &json!({ "channel": "app", "script": "mini" }),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_string();

    assert_eq!(open(&app, &no_read, &id, 0).await.err(), Some(403));
    assert_eq!(
        open(&app, "th_not_a_real_token", &id, 0).await.err(),
        Some(401)
    );
    assert_eq!(
        open(&app, &rw, "no-such-conversation", 0).await.err(),
        Some(404)
    );
    // Another tenant's token does not see this conversation.
    let other = app.tenant("other").await;
    app.user(&other, "boss2", store::Role::Admin).await;
    let boss2 = app.login("other", "boss2").await;
    let foreign = token(&boss2, &app, &["conversations.read"]).await;
    assert_eq!(open(&app, &foreign, &id, 0).await.err(), Some(404));
    // Without the WebSocket upgrade: a clear JSON error.
    let plain = Client::new()
        .get(app.url(&format!("/api/v1/conversations/{id}/stream")))
        .bearer_auth(&rw)
        .send()
        .await
        .expect("send");
    let (s, body) = split(plain).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message_en"]
            .as_str()
            .unwrap_or("")
            .contains("WebSocket"),
        "{body}"
    );

    // A reader may follow but not talk; bad frames get an error and the stream goes on.
    let mut ws = open(&app, &read_only, &id, 1_000_000)
        .await
        .expect("stream");
    send(
        &mut ws,
        json!({ "type": "input", "event": { "type": "user_said", "text": "你好" } }),
    )
    .await;
    let refused = next(&mut ws).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );
    let mut rw_ws = open(&app, &rw, &id, 1_000_000).await.expect("stream");
    for bad in [
        "not json".to_string(),
        json!({ "type": "shout" }).to_string(),
        json!({ "type": "input", "event": { "type": "conversation_started" } }).to_string(),
        json!({ "type": "input", "event": { "type": "user_said", "text": "长".repeat(3000) } })
            .to_string(),
    ] {
        rw_ws
            .send(Message::Text(bad.clone().into()))
            .await
            .expect("send");
        assert_eq!(next(&mut rw_ws).await["type"], "error", "{bad}");
    }
    send(&mut rw_ws, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut rw_ws).await["type"], "pong");
    // Nothing of that reached the log.
    let (_, log) = split(
        Client::new()
            .get(app.url(&format!("/api/v1/conversations/{id}/events")))
            .bearer_auth(&rw)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert!(
        !log["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "event.user_said")
    );
}
