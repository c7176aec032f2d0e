//! The web chat channel over a real WebSocket: transcript, resume after a
//! reconnect without loss or duplicates, origins, bad frames.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn setup(settings: Value) -> (TestApp, String) {
    let app = TestApp::start().await;
    let (c, t) = app.shop("mini", MINI_SCRIPT).await;
    let (s, b) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/channels/site",
        Some(&json!({ "kind": "web", "settings": settings })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    (app, t)
}

fn ws_url(app: &TestApp, query: &str) -> String {
    format!(
        "{}/channels/web/shop/site/ws{query}",
        app.base.replacen("http", "ws", 1)
    )
}

async fn connect(app: &TestApp, query: &str) -> Ws {
    tokio_tungstenite::connect_async(ws_url(app, query))
        .await
        .expect("connect")
        .0
}

/// The next frame, passing over typing notes (one test checks those).
async fn next(ws: &mut Ws) -> Value {
    loop {
        let frame = next_raw(ws).await;
        if frame["type"] != "typing" {
            return frame;
        }
    }
}

async fn next_raw(ws: &mut Ws) -> Value {
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

async fn say(ws: &mut Ws, client_id: &str, text: &str) {
    ws.send(Message::Text(
        json!({ "type": "message", "client_id": client_id, "text": text })
            .to_string()
            .into(),
    ))
    .await
    .expect("send");
}

/// Every frame until the server has answered a ping (all that was queued).
async fn drain(ws: &mut Ws) -> Vec<Value> {
    ws.send(Message::Text(json!({ "type": "ping" }).to_string().into()))
        .await
        .expect("ping");
    let mut frames = Vec::new();
    loop {
        let f = next(ws).await;
        if f["type"] == "pong" {
            return frames;
        }
        frames.push(f);
    }
}

/// Proves nothing else is queued: a ping's pong is the very next frame.
async fn nothing_pending(ws: &mut Ws) {
    ws.send(Message::Text(json!({ "type": "ping" }).to_string().into()))
        .await
        .expect("ping");
    assert_eq!(
        next(ws).await["type"],
        "pong",
        "no frame was waiting before the pong"
    );
}

#[tokio::test]
async fn a_visitor_chats_reconnects_and_loses_nothing() {
    let (app, t) = setup(json!({ "script": "mini", "title": "优品商城客服" })).await;
    let mut ws = connect(&app, "").await;
    let welcome = next(&mut ws).await;
    assert_eq!(welcome["type"], "welcome");
    let visitor = welcome["visitor"].as_str().expect("visitor").to_string();
    let conversation = welcome["conversation"]
        .as_str()
        .expect("conversation")
        .to_string();
    let greeting = next(&mut ws).await;
    assert_eq!(
        (greeting["type"].as_str(), greeting["from"].as_str()),
        (Some("message"), Some("robot"))
    );
    assert!(greeting["text"].as_str().expect("text").contains("您好"));

    say(&mut ws, "c1", "怎么申请退款").await;
    assert_eq!(next_raw(&mut ws).await["type"], "typing");
    let ack = next(&mut ws).await;
    assert_eq!(
        (
            ack["type"].as_str(),
            ack["client_id"].as_str(),
            ack["duplicate"].as_bool()
        ),
        (Some("ack"), Some("c1"), Some(false))
    );
    let frames = drain(&mut ws).await;
    assert!(
        frames[0]["text"]
            .as_str()
            .expect("text")
            .contains("申请退款"),
        "{frames:?}"
    );
    // As the widget does: remember the highest sequence number seen.
    let last_seen = frames
        .iter()
        .filter_map(|f| f["seq"].as_i64())
        .max()
        .expect("seq");
    let robot_lines_after_question = frames.len();
    ws.close(None).await.expect("close");

    // Reconnect as the same visitor after the last frame seen: nothing repeats.
    let mut ws = connect(&app, &format!("?visitor={visitor}&after={last_seen}")).await;
    let welcome = next(&mut ws).await;
    assert_eq!(
        welcome["conversation"],
        conversation.as_str(),
        "same conversation"
    );
    nothing_pending(&mut ws).await;
    // The browser resends a message whose ack it never saw: acknowledged, not answered twice.
    say(&mut ws, "c1", "怎么申请退款").await;
    let dup = next(&mut ws).await;
    assert_eq!(
        (dup["type"].as_str(), dup["duplicate"].as_bool()),
        (Some("ack"), Some(true))
    );
    nothing_pending(&mut ws).await;
    let said = app
        .store
        .events(&t, &conversation, 0, 100)
        .await
        .expect("e")
        .expect("c")
        .iter()
        .filter(|e| e.kind == "event.user_said")
        .count();
    assert_eq!(said, 1);

    // A page reload that lost its place gets the whole transcript, in order.
    let mut ws = connect(&app, &format!("?visitor={visitor}&after=0")).await;
    next(&mut ws).await;
    let transcript: Vec<(String, i64)> = drain(&mut ws)
        .await
        .iter()
        .map(|m| {
            (
                m["from"].as_str().expect("from").to_string(),
                m["seq"].as_i64().expect("seq"),
            )
        })
        .collect();
    let froms: Vec<&str> = transcript.iter().map(|(f, _)| f.as_str()).collect();
    let mut expected = vec!["robot", "customer"];
    expected.extend(std::iter::repeat_n("robot", robot_lines_after_question));
    assert_eq!(froms, expected);
    assert!(
        transcript.windows(2).all(|w| w[0].1 < w[1].1),
        "in order: {transcript:?}"
    );
    assert_eq!(transcript.last().map(|t| t.1), Some(last_seen));

    // Another visitor has their own conversation.
    let mut other = connect(&app, "").await;
    let w2 = next(&mut other).await;
    assert_ne!(w2["conversation"], conversation.as_str());
    assert_ne!(w2["visitor"], visitor.as_str());
}

#[tokio::test]
async fn an_ended_conversation_is_followed_by_a_new_one() {
    let (app, _) = setup(json!({ "script": "mini" })).await;
    let mut ws = connect(&app, "").await;
    let first = next(&mut ws).await["conversation"].clone();
    next(&mut ws).await;
    say(&mut ws, "a", "好的，再见").await;
    assert_eq!(next(&mut ws).await["type"], "ack");
    let mut ended = false;
    for _ in 0..3 {
        if next(&mut ws).await["type"] == "ended" {
            ended = true;
            break;
        }
    }
    assert!(ended);
    say(&mut ws, "b", "我又来了").await;
    let welcome = next(&mut ws).await;
    assert_eq!(welcome["type"], "welcome");
    assert_ne!(welcome["conversation"], first, "a new conversation");
}

#[tokio::test]
async fn bad_frames_are_answered_and_the_chat_goes_on() {
    let (app, t) = setup(json!({ "script": "mini" })).await;
    let mut ws = connect(&app, "").await;
    let conversation = next(&mut ws).await["conversation"]
        .as_str()
        .expect("c")
        .to_string();
    next(&mut ws).await;
    for bad in [
        "not json".to_string(),
        json!({ "type": "teleport" }).to_string(),
        json!({ "type": "message", "client_id": "", "text": "hi" }).to_string(),
        json!({ "type": "message", "client_id": "x", "text": "   " }).to_string(),
        json!({ "type": "message", "client_id": "y", "text": "长".repeat(2001) }).to_string(),
    ] {
        ws.send(Message::Text(bad.clone().into()))
            .await
            .expect("send");
        assert_eq!(next(&mut ws).await["type"], "error", "{bad}");
    }
    say(&mut ws, "ok", "你们几点开门").await;
    assert_eq!(next(&mut ws).await["type"], "ack");
    let frames = drain(&mut ws).await;
    assert!(
        frames[0]["text"].as_str().expect("t").contains("九点"),
        "{frames:?}"
    );
    let said = app
        .store
        .events(&t, &conversation, 0, 100)
        .await
        .expect("e")
        .expect("c")
        .iter()
        .filter(|e| e.kind == "event.user_said")
        .count();
    assert_eq!(said, 1, "only the good message was logged");

    // A forged visitor token is refused at the door.
    let r = tokio_tungstenite::connect_async(ws_url(&app, "?visitor=%3Cscript%3E")).await;
    assert!(r.is_err());
}

#[tokio::test]
async fn origins_can_be_restricted_and_the_widget_is_served_configured() {
    let (app, _) = setup(json!({ "script": "mini", "title": "在线客服", "colour": "#ff6600", "allowed_origins": ["https://shop.example.com"] })).await;
    let mut req = ws_url(&app, "").into_client_request().expect("req");
    req.headers_mut()
        .insert("origin", "https://evil.example.com".parse().expect("hv"));
    assert!(
        tokio_tungstenite::connect_async(req).await.is_err(),
        "a foreign page is refused"
    );
    let mut req = ws_url(&app, "").into_client_request().expect("req");
    req.headers_mut()
        .insert("origin", "https://shop.example.com".parse().expect("hv"));
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("allowed origin");
    assert_eq!(next(&mut ws).await["type"], "welcome");

    let r = reqwest::get(app.url("/channels/web/shop/site/widget.js"))
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/javascript")
    );
    let js = r.text().await.expect("js");
    assert!(
        js.contains("\"colour\":\"#ff6600\"") && js.contains("/channels/web/shop/site/ws"),
        "configured"
    );
    assert!(!js.contains("__TONGHUA_CONFIG__"));
    assert_eq!(
        reqwest::get(app.url("/channels/web/shop/nope/widget.js"))
            .await
            .expect("get")
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn outside_business_hours_asking_for_a_person_closes_politely_instead_of_transferring() {
    // The test clock reads Friday 16:00 in Beijing.
    let script = MINI_SCRIPT.replace(
        "start: ask\n",
        "start: ask\nsettings:\n  human_queue: 客服\n",
    );
    for (hours, transfers) in [
        (
            json!([{ "days": [1, 2, 3, 4, 5], "from": "09:00", "to": "18:00" }]),
            true,
        ),
        (
            json!([{ "days": [6, 7], "from": "09:00", "to": "18:00" }]),
            false,
        ),
    ] {
        let app = TestApp::start().await;
        let (c, t) = app.shop("staffed", &script).await;
        let (s, b) = call(&c, &app, "PUT", "/api/v1/channels/site", Some(&json!({ "kind": "web", "settings": { "script": "staffed", "business_hours": hours } }))).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let mut ws = connect(&app, "").await;
        let conversation = next(&mut ws).await["conversation"]
            .as_str()
            .expect("c")
            .to_string();
        drain(&mut ws).await;
        say(&mut ws, "h", "我要转人工").await;
        drain(&mut ws).await;
        let log = app
            .store
            .events(&t, &conversation, 0, 100)
            .await
            .expect("e")
            .expect("c");
        let transferred = log.iter().any(|e| e.kind == "action.transfer");
        assert_eq!(
            transferred,
            transfers,
            "hours {hours}: {:?}",
            log.iter().map(|e| &e.kind).collect::<Vec<_>>()
        );
    }
    let (app, _) = setup(json!({ "script": "mini" })).await;
    let c = app.login("shop", "boss").await;
    let (s, _) = call(&c, &app, "PUT", "/api/v1/channels/site", Some(&json!({ "kind": "web", "settings": { "script": "mini", "business_hours": [{ "days": [8], "from": "09:00", "to": "18:00" }] } }))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_channel_says_its_own_words_when_nobody_can_take_over() {
    // The test clock reads Friday 16:00 in Beijing: weekends only means nobody now.
    let script = MINI_SCRIPT.replace(
        "start: ask\n",
        "start: ask\nsettings:\n  human_queue: 客服\n",
    );
    let app = TestApp::start().await;
    let (c, _) = app.shop("staffed", &script).await;
    let words = "人工客服周末在线，工作日请留言，我们会尽快回复。";
    let settings = json!({ "script": "staffed", "offline_message": words,
        "business_hours": [{ "days": [6, 7], "from": "09:00", "to": "18:00" }] });
    let (s, b) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/channels/site",
        Some(&json!({ "kind": "web", "settings": settings })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mut ws = connect(&app, "").await;
    drain(&mut ws).await;
    say(&mut ws, "h", "我要转人工").await;
    let frames = drain(&mut ws).await;
    let robot: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "message" && f["from"] == "robot")
        .filter_map(|f| f["text"].as_str())
        .collect();
    assert_eq!(robot, vec![words], "{frames:?}");
    assert!(frames.iter().any(|f| f["type"] == "ended"));
    // Too long or blank: refused.
    for bad in [" ".to_string(), "长".repeat(201)] {
        let settings = json!({ "script": "staffed", "offline_message": bad });
        let (s, _) = call(
            &c,
            &app,
            "PUT",
            "/api/v1/channels/site",
            Some(&json!({ "kind": "web", "settings": settings })),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn a_flooding_tab_is_slowed_down_and_nothing_it_was_refused_is_logged() {
    let (app, t) = setup(json!({ "script": "mini" })).await;
    let mut ws = connect(&app, "").await;
    let conversation = next(&mut ws).await["conversation"]
        .as_str()
        .expect("c")
        .to_string();
    drain(&mut ws).await;
    for i in 0..30 {
        say(&mut ws, &format!("f{i}"), "在吗").await;
    }
    let frames = drain(&mut ws).await;
    let acked = frames.iter().filter(|f| f["type"] == "ack").count();
    let refused: Vec<&str> = frames
        .iter()
        .filter(|f| f["code"] == "too_fast")
        .filter_map(|f| f["client_id"].as_str())
        .collect();
    assert!(!refused.is_empty(), "some were refused");
    assert!(
        acked <= 12,
        "at most the burst (plus refill) went through: {acked}"
    );
    assert_eq!(acked + refused.len(), 30, "every message got an answer");
    let said = app
        .store
        .events(&t, &conversation, 0, 1000)
        .await
        .expect("e")
        .expect("c")
        .iter()
        .filter(|e| e.kind == "event.user_said")
        .count();
    assert_eq!(said, acked, "only acknowledged messages were logged");
}

#[tokio::test]
async fn new_anonymous_visitors_are_limited_per_address_but_returning_ones_are_not() {
    let app = TestApp::start_with(|c| c.auth.new_chat_visitors_per_minute = 2).await;
    let (c, t) = app.shop("mini", MINI_SCRIPT).await;
    let (s, b) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/channels/site",
        Some(&json!({ "kind": "web", "settings": { "script": "mini" } })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mut first = connect(&app, "").await;
    let visitor = next(&mut first).await["visitor"]
        .as_str()
        .expect("visitor")
        .to_string();
    let mut second = connect(&app, "").await;
    assert_eq!(next(&mut second).await["type"], "welcome");
    // A third new visitor from the same address within the minute is refused at the door.
    match tokio_tungstenite::connect_async(ws_url(&app, "")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 429),
        other => panic!("expected 429, got {:?}", other.map(|(_, r)| r.status())),
    }
    assert_eq!(
        app.store.conversations(&t, 100).await.expect("list").len(),
        2,
        "no conversation for the refused one"
    );
    // The first visitor coming back is welcome.
    let mut back = connect(&app, &format!("?visitor={visitor}")).await;
    assert_eq!(next(&mut back).await["type"], "welcome");
}
