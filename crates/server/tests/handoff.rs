//! Humans in the loop over real connections: a chat customer asks for a
//! person, the conversation is routed to an available agent (or queued with
//! its place told), the agent's words reach the customer's open WebSocket,
//! and closing ends it with a disposition — all in the one event log.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use store::Role;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const SCRIPT: &str = "name: 转人工测试
start: ask
knowledge: mini-kb.yaml
settings:
  human_queue: 售后
nodes:
  - id: ask
    type: ask
    say: 您好，请问需要什么帮助？
    branches:
      - keywords: [再见]
        goto: bye
      - otherwise: true
        goto: ask
  - id: bye
    type: hangup
    say: 再见。
";

struct Floor {
    app: TestApp,
    tenant: String,
    agent: Client,
    agent_id: String,
}

async fn floor() -> Floor {
    let app = TestApp::start().await;
    let (boss, tenant) = app.shop("human", SCRIPT).await;
    let (s, b) = call(
        &boss,
        &app,
        "PUT",
        "/api/v1/channels/site",
        Some(&json!({ "kind": "web", "settings": { "script": "human" } })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let agent_id = app.user(&tenant, "xiaowang", Role::Agent).await;
    let agent = app.login("shop", "xiaowang").await;
    Floor {
        app,
        tenant,
        agent,
        agent_id,
    }
}

async fn visitor(app: &TestApp) -> Ws {
    let url = format!(
        "{}/channels/web/shop/site/ws",
        app.base.replacen("http", "ws", 1)
    );
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    ws
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(&t).expect("json");
            if v["type"] != "typing" {
                return v;
            }
        }
    }
}

/// Frames until one matching `done` (inclusive).
async fn until(ws: &mut Ws, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let f = next(ws).await;
        let stop = done(&f);
        frames.push(f);
        if stop {
            return frames;
        }
    }
}

async fn say(ws: &mut Ws, id: &str, text: &str) {
    ws.send(Message::Text(
        json!({ "type": "message", "client_id": id, "text": text })
            .to_string()
            .into(),
    ))
    .await
    .expect("send");
}

async fn presence(f: &Floor, status: &str) {
    let (s, b) = call(
        &f.agent,
        &f.app,
        "PUT",
        "/api/v1/agents/me",
        Some(&json!({ "status": status })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

async fn handoffs(f: &Floor) -> Value {
    let (s, b) = call(&f.agent, &f.app, "GET", "/api/v1/handoffs", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

#[tokio::test]
async fn an_available_agent_takes_over_the_chat_and_the_customer_sees_it() {
    let f = floor().await;
    presence(&f, "available").await;
    let mut ws = visitor(&f.app).await;
    let conversation = next(&mut ws).await["conversation"]
        .as_str()
        .expect("c")
        .to_string();
    say(&mut ws, "q1", "怎么申请退款").await;
    until(&mut ws, |v| {
        v["type"] == "message"
            && v["from"] == "robot"
            && v["text"].as_str().unwrap_or("").contains("退款")
    })
    .await;
    say(&mut ws, "h1", "我要转人工").await;
    // The robot says it transfers, then the agent joins: the customer sees both, live.
    let frames = until(&mut ws, |v| v["type"] == "agent_joined").await;
    assert_eq!(frames.last().expect("joined")["agent"], "xiaowang");

    let list = handoffs(&f).await;
    let item = &list["handoffs"][0];
    assert_eq!(
        (
            item["state"].as_str(),
            item["agent_id"].as_str(),
            item["queue"].as_str()
        ),
        (Some("assigned"), Some(f.agent_id.as_str()), Some("售后"))
    );
    let id = item["id"].as_str().expect("id").to_string();
    // The context the agent sees: reason, last question, suggested knowledge answers.
    let (s, ctx) = call(
        &f.agent,
        &f.app,
        "GET",
        &format!("/api/v1/handoffs/{id}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{ctx}");
    assert_eq!(ctx["conversation"]["id"], conversation.as_str());
    assert_eq!(ctx["last_question"], "我要转人工");
    assert_eq!(ctx["handoff"]["reason"], "human");

    let (s, b) = call(
        &f.agent,
        &f.app,
        "POST",
        &format!("/api/v1/handoffs/{id}/reply"),
        Some(&json!({ "text": "您好，我是客服小王，马上为您处理退款。" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let got = until(&mut ws, |v| v["type"] == "message" && v["from"] == "agent").await;
    assert_eq!(
        got.last().expect("reply")["text"],
        "您好，我是客服小王，马上为您处理退款。"
    );

    // The customer answers the person: logged, and the robot stays quiet.
    say(&mut ws, "c2", "好的谢谢").await;
    let ack = until(&mut ws, |v| v["type"] == "ack").await;
    assert!(ack.iter().all(|v| v["from"] != "robot"), "{ack:?}");

    let (s, b) = call(
        &f.agent,
        &f.app,
        "POST",
        &format!("/api/v1/handoffs/{id}/close"),
        Some(&json!({ "disposition": "resolved", "note": "已退款" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    until(&mut ws, |v| v["type"] == "ended").await;
    assert_eq!(
        handoffs(&f).await["handoffs"].as_array().map(Vec::len),
        Some(0)
    );

    // One log holds it all, in order.
    let kinds: Vec<String> = f
        .app
        .store
        .events(&f.tenant, &conversation, 0, 1000)
        .await
        .expect("e")
        .expect("c")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    let at = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} in {kinds:?}"))
    };
    assert!(at("action.transfer") < at("event.agent_joined"));
    assert!(at("event.agent_joined") < at("event.agent_said"));
    assert!(at("event.agent_said") < at("handoff.closed"));
}

#[tokio::test]
async fn without_an_agent_customers_wait_in_order_and_are_told_their_place() {
    let f = floor().await;
    let mut first = visitor(&f.app).await;
    next(&mut first).await;
    say(&mut first, "a", "转人工").await;
    let q1 = until(&mut first, |v| v["type"] == "queued").await;
    assert_eq!(q1.last().expect("q")["ahead"], 0);
    let mut second = visitor(&f.app).await;
    next(&mut second).await;
    say(&mut second, "b", "我要人工客服").await;
    let q2 = until(&mut second, |v| v["type"] == "queued").await;
    assert_eq!(q2.last().expect("q")["ahead"], 1);
    let waiting = handoffs(&f).await;
    assert_eq!(waiting["queues"]["售后"], 2);

    // Someone else may not answer a conversation that is not theirs.
    let id = waiting["handoffs"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (s, _) = call(
        &f.agent,
        &f.app,
        "POST",
        &format!("/api/v1/handoffs/{id}/reply"),
        Some(&json!({ "text": "hi" })),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Analysts do not work the queue at all.
    f.app.user(&f.tenant, "analyst", Role::Analyst).await;
    let analyst = f.app.login("shop", "analyst").await;
    let (s, _) = call(
        &analyst,
        &f.app,
        "POST",
        &format!("/api/v1/handoffs/{id}/take"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The agent arrives (capacity 1): the first in line gets them, the second waits.
    let (boss, _) = (f.app.login("shop", "boss").await, ());
    let (s, b) = call(
        &boss,
        &f.app,
        "PUT",
        &format!("/api/v1/agents/{}", f.agent_id),
        Some(&json!({ "skills": ["售后"], "max_chats": 1 })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    presence(&f, "available").await;
    until(&mut first, |v| v["type"] == "agent_joined").await;
    let now = handoffs(&f).await;
    assert_eq!(now["queues"]["售后"], 1);
    let (s, agents) = call(&boss, &f.app, "GET", "/api/v1/agents", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(agents["agents"][0]["active"], 1);
    // Taking what is already taken is refused.
    let (s, _) = call(
        &f.agent,
        &f.app,
        "POST",
        &format!("/api/v1/handoffs/{id}/take"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn when_nobody_comes_in_time_the_robot_apologises_and_the_queue_forgets_it() {
    let app = TestApp::start().await;
    let script = SCRIPT.replace(
        "  human_queue: 售后\n",
        "  human_queue: 售后\n  transfer_timeout_ms: 300\nhandlers:\n  transfer_failed:\n    close: 抱歉，人工客服都在忙，我们会尽快回电。\n",
    );
    let (boss, tenant) = app.shop("human", &script).await;
    let (s, b) = call(
        &boss,
        &app,
        "PUT",
        "/api/v1/channels/site",
        Some(&json!({ "kind": "web", "settings": { "script": "human" } })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mut ws = visitor(&app).await;
    let conversation = next(&mut ws).await["conversation"]
        .as_str()
        .expect("c")
        .to_string();
    say(&mut ws, "h", "转人工").await;
    until(&mut ws, |v| v["type"] == "queued").await;
    // Nobody is available: after the script's time-out the robot closes, live.
    let frames = until(&mut ws, |v| v["type"] == "ended").await;
    assert!(
        frames
            .iter()
            .any(|v| v["from"] == "robot" && v["text"] == "抱歉，人工客服都在忙，我们会尽快回电。"),
        "{frames:?}"
    );
    // The queue is cleaned up right after the commit that the chat already shows.
    let mut open = true;
    for _ in 0..50 {
        open = app
            .store
            .open_handoff_of(&tenant, &conversation)
            .await
            .expect("read")
            .is_some();
        if !open {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!open, "the ended conversation left the queue");
}

/// The supervisors' live board: conversations that have not ended and were
/// active lately, each with its phase and open handoff.
#[tokio::test]
async fn the_live_board_lists_conversations_until_they_end_or_go_quiet() {
    let f = floor().await;
    let boss = f.app.login("shop", "boss").await;
    let start = |customer: &'static str| {
        let boss = boss.clone();
        let app = &f.app;
        async move {
            let (s, b) = call(
                &boss,
                app,
                "POST",
                "/api/v1/conversations",
                Some(&json!({ "channel": "app", "script": "human", "external_ref": customer })),
            )
            .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            b["id"].as_str().expect("id").to_string()
        }
    };
    let say = |id: String, text: &'static str| {
        let boss = boss.clone();
        let app = &f.app;
        async move {
            let (s, b) = call(
                &boss,
                app,
                "POST",
                &format!("/api/v1/conversations/{id}/input"),
                Some(&json!({ "type": "user_said", "text": text })),
            )
            .await;
            assert!(s.is_success(), "{b}");
        }
    };
    let talking = start("talking").await;
    let wants_person = start("wants-person").await;
    let leaving = start("leaving").await;
    say(talking.clone(), "你们几点上班").await;
    say(wants_person.clone(), "转人工").await;
    say(leaving.clone(), "再见").await;

    let board = |query: &'static str| {
        let boss = boss.clone();
        let app = &f.app;
        async move {
            let (s, b) = call(
                &boss,
                app,
                "GET",
                &format!("/api/v1/conversations?live=true{query}"),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{b}");
            b["conversations"].as_array().expect("list").clone()
        }
    };
    let live = board("").await;
    let find = |id: &str| live.iter().find(|c| c["id"] == id).cloned();
    assert_eq!(find(&talking).expect("talking")["phase"], "active");
    let person = find(&wants_person).expect("waiting for a person");
    assert_eq!(person["handoff"]["state"], "waiting", "{person}");
    assert_eq!(person["handoff"]["queue"], "售后");
    assert!(
        find(&leaving).is_none(),
        "an ended conversation is not live: {live:?}"
    );
    assert!(find(&talking).expect("talking")["handoff"].is_null());

    // Quiet for longer than the window: off the board, still in the history.
    f.app.clock.advance_ms(2 * 3600 * 1000);
    say(talking.clone(), "怎么申请退款").await;
    let live = board("").await;
    let ids: Vec<&str> = live.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, vec![talking.as_str()], "only the one active lately");
    let wider = board("&active_within_secs=86400").await;
    assert_eq!(wider.len(), 2, "{wider:?}");
    let (_, all) = call(&boss, &f.app, "GET", "/api/v1/conversations", None).await;
    assert_eq!(all["conversations"].as_array().map(Vec::len), Some(3));
}

/// A restart forgets timers in memory; the log does not. A chat left waiting
/// for a person gets its transfer time-out back from the log, due when it
/// was due, so the customer is never left waiting forever.
#[tokio::test]
async fn a_restarted_server_resumes_the_time_out_of_a_waiting_chat() {
    let app = TestApp::start().await;
    let script = SCRIPT.replace(
        "  human_queue: 售后\n",
        "  human_queue: 售后\n  transfer_timeout_ms: 60000\nhandlers:\n  transfer_failed:\n    close: 抱歉，人工客服都在忙，我们会尽快回电。\n",
    );
    let (boss, tenant) = app.shop("human", &script).await;
    let (s, b) = call(
        &boss,
        &app,
        "PUT",
        "/api/v1/channels/site",
        Some(&json!({ "kind": "web", "settings": { "script": "human" } })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mut waiting = visitor(&app).await;
    let conversation = next(&mut waiting).await["conversation"]
        .as_str()
        .expect("c")
        .to_string();
    say(&mut waiting, "h", "转人工").await;
    until(&mut waiting, |v| v["type"] == "queued").await;
    // Another chat, still with the robot: nothing to resume for it.
    let mut chatting = visitor(&app).await;
    next(&mut chatting).await;
    say(&mut chatting, "c", "你们几点上班").await;
    until(&mut chatting, |v| v["from"] == "robot").await;

    // "Restart": a new server state on the same database, 61 s later (the
    // first one's timer is still 60 s away in real time).
    let (clock, _) = server::clock::Clock::manual(START_MS + 61_000);
    let mut config = server::Config::default();
    config.demo.enabled = false;
    let restarted = server::AppState::new(app.store.clone(), config, clock);
    assert_eq!(server::timers::resume(&restarted).await, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events = app
            .store
            .events(&tenant, &conversation, 0, i64::MAX)
            .await
            .expect("db")
            .expect("conversation");
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        if kinds.contains(&"event.timer") {
            assert!(
                events.iter().any(|e| e.kind == "action.say"
                    && e.payload["text"] == "抱歉，人工客服都在忙，我们会尽快回电。"),
                "{kinds:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not resumed: {kinds:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = app
        .store
        .conversation(&tenant, &conversation)
        .await
        .expect("db")
        .expect("c");
    assert_eq!(c.phase.as_deref(), Some("ended"));
    // Nothing is waiting any more: a second restart resumes nothing.
    let (clock, _) = server::clock::Clock::manual(START_MS + 62_000);
    let again = server::AppState::new(app.store.clone(), server::Config::default(), clock);
    assert_eq!(server::timers::resume(&again).await, 0);
}
