//! Conversations hosted by the conversation core through the API: scripts and
//! knowledge bases as versioned documents, turns logged before they are
//! answered, and state rebuilt from the log after a restart.

mod common;

use common::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use store::Role;

async fn admin_app() -> (TestApp, Client, String) {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    app.user(&t, "boss", Role::Admin).await;
    let c = app.login("acme", "boss").await;
    (app, c, t)
}

async fn upload(c: &Client, app: &TestApp) {
    let (s, b) = call(
        c,
        app,
        "PUT",
        "/api/v1/knowledge-bases/mini-kb",
        Some(&json!({ "source": MINI_KB })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["checked"]["entries"], 2);
    let (s, b) = call(
        c,
        app,
        "PUT",
        "/api/v1/scripts/mini",
        Some(&json!({ "source": MINI_SCRIPT })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["checked"]["knowledge_base"], "mini-kb");
}

fn says(actions: &Value) -> Vec<String> {
    actions
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["type"] == "say")
                .filter_map(|x| x["text"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_broken_script_is_refused_with_every_issue_and_stores_nothing() {
    let (app, c, t) = admin_app().await;
    let bad = "name: 坏话术\nstart: ask\nnodes:\n  - id: ask\n    type: ask\n    say: 您好\n    branches:\n      - keywords: [好]\n        goto: nowhere\n  - id: lonely\n    type: hangup\n    say: 再见\n";
    let (s, b) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/scripts/bad",
        Some(&json!({ "source": bad })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["code"], "invalid_document");
    let issues = b["error"]["details"].as_array().expect("details");
    let kinds: Vec<&str> = issues.iter().filter_map(|i| i["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"unknown_target") && kinds.contains(&"unreachable"),
        "{b}"
    );
    let target = issues
        .iter()
        .find(|i| i["kind"] == "unknown_target")
        .expect("issue");
    assert_eq!(
        (target["line"].as_u64(), target["node"].as_str()),
        (Some(9), Some("ask"))
    );

    let (s, b) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/scripts/bad",
        Some(&json!({ "source": "name: [unclosed" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/knowledge-bases/kb",
        Some(&json!({ "source": "entries: 3" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, _) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/scripts/bad%20name",
        Some(&json!({ "source": MINI_SCRIPT })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        app.store
            .document_versions(&t, store::DocumentKind::Script, None)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        app.store
            .document_versions(&t, store::DocumentKind::KnowledgeBase, None)
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn uploads_are_versioned_and_an_identical_upload_is_not_a_new_version() {
    let (app, c, _) = admin_app().await;
    upload(&c, &app).await;
    let (s, b) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/scripts/mini",
        Some(&json!({ "source": MINI_SCRIPT })),
    )
    .await;
    assert_eq!((s, b["created"].as_bool()), (StatusCode::OK, Some(false)));
    let changed = MINI_SCRIPT.replace("请问您需要什么帮助", "请问有什么可以帮您");
    let (s, b) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/scripts/mini",
        Some(&json!({ "source": changed })),
    )
    .await;
    assert_eq!(
        (s, b["document"]["version"].as_i64()),
        (StatusCode::CREATED, Some(2))
    );
    let (_, got) = call(&c, &app, "GET", "/api/v1/scripts/mini", None).await;
    assert_eq!(got["document"]["version"], 2);
    assert_eq!(got["versions"].as_array().expect("versions").len(), 2);
    let (_, v1) = call(&c, &app, "GET", "/api/v1/scripts/mini?version=1", None).await;
    assert_eq!(v1["document"]["source"], MINI_SCRIPT);
    let (s, _) = call(&c, &app, "GET", "/api/v1/scripts/mini?version=9", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_hosted_conversation_answers_questions_and_logs_every_turn() {
    let (app, c, t) = admin_app().await;
    upload(&c, &app).await;
    let (s, conv) = call(
        &c,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "api", "script": "mini", "contact": { "name": "王女士" } })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{conv}");
    assert_eq!(
        says(&conv["actions"]),
        vec!["王女士您好，请问您需要什么帮助？"]
    );
    assert_eq!(conv["metadata"]["bot"]["script_version"], 1);
    assert_eq!(conv["metadata"]["bot"]["knowledge_base"], "mini-kb");
    let id = conv["id"].as_str().expect("id").to_string();

    app.clock.advance_ms(3_000);
    let (s, turn) = call(
        &c,
        &app,
        "POST",
        &format!("/api/v1/conversations/{id}/input"),
        Some(&json!({ "type": "user_said", "text": "我要退款，怎么操作" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{turn}");
    assert!(
        says(&turn["actions"])
            .iter()
            .any(|t| t.contains("申请退款")),
        "answered from the knowledge base: {turn}"
    );
    assert_eq!(turn["state"]["ended"], false);

    app.clock.advance_ms(2_000);
    let (_, turn) = call(
        &c,
        &app,
        "POST",
        &format!("/api/v1/conversations/{id}/input"),
        Some(&json!({ "type": "user_said", "text": "好的，再见" })),
    )
    .await;
    assert!(
        says(&turn["actions"]).iter().any(|t| t.contains("再见")),
        "{turn}"
    );
    assert_eq!(turn["state"]["ended"], true);
    let (s, b) = call(
        &c,
        &app,
        "POST",
        &format!("/api/v1/conversations/{id}/input"),
        Some(&json!({ "type": "user_said", "text": "还在吗" })),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );

    // The log holds every event and every action, in order, with the
    // conversation clock on each event.
    let log = app
        .store
        .events(&t, &id, 0, 1000)
        .await
        .expect("e")
        .expect("c");
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"event.conversation_started"));
    assert_eq!(
        kinds.iter().filter(|k| **k == "event.user_said").count(),
        2,
        "the refused turn was not logged: {kinds:?}"
    );
    assert!(
        kinds.contains(&"action.say") && kinds.contains(&"action.hangup"),
        "{kinds:?}"
    );
    let said: Vec<u64> = log
        .iter()
        .filter(|e| e.kind == "event.user_said")
        .filter_map(|e| e.payload["at_ms"].as_u64())
        .collect();
    assert_eq!(said, vec![3_000, 5_000]);
}

#[tokio::test]
async fn after_a_restart_the_conversation_continues_from_its_log() {
    let (mut app, c, _) = admin_app().await;
    // A multi-step script, so a state rebuilt wrongly would show.
    for (kind, name, source) in server::bootstrap::DEMO_DOCUMENTS {
        let path = match kind {
            store::DocumentKind::Script => format!("/api/v1/scripts/{name}"),
            store::DocumentKind::KnowledgeBase => format!("/api/v1/knowledge-bases/{name}"),
        };
        let (s, b) = call(&c, &app, "PUT", &path, Some(&json!({ "source": source }))).await;
        assert!(s.is_success(), "{path}: {b}");
    }
    let start = json!({ "channel": "api", "script": "renovation", "contact": { "name": "李先生", "community": "翠湖天地" } });
    let (_, a) = call(&c, &app, "POST", "/api/v1/conversations", Some(&start)).await;
    let (_, b) = call(&c, &app, "POST", "/api/v1/conversations", Some(&start)).await;
    let (a, b) = (
        a["id"].as_str().expect("a").to_string(),
        b["id"].as_str().expect("b").to_string(),
    );
    let turns = [
        "对，是我",
        "下个月就准备装了",
        "一百二十平左右",
        "二十万左右吧",
        "你们公司在哪里",
        "好的",
    ];
    let mut answers_a = Vec::new();
    for text in &turns[..3] {
        let (_, t) = call(
            &c,
            &app,
            "POST",
            &format!("/api/v1/conversations/{a}/input"),
            Some(&json!({ "type": "user_said", "text": text })),
        )
        .await;
        answers_a.push((t["actions"].clone(), t["state"].clone()));
    }
    // A new server on the same database: nothing cached survives.
    app.restart().await;
    let c = app.login("acme", "boss").await;
    for text in &turns[3..] {
        let (s, t) = call(
            &c,
            &app,
            "POST",
            &format!("/api/v1/conversations/{a}/input"),
            Some(&json!({ "type": "user_said", "text": text })),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        answers_a.push((t["actions"].clone(), t["state"].clone()));
    }
    let mut answers_b = Vec::new();
    for text in &turns {
        let (_, t) = call(
            &c,
            &app,
            "POST",
            &format!("/api/v1/conversations/{b}/input"),
            Some(&json!({ "type": "user_said", "text": text })),
        )
        .await;
        answers_b.push((t["actions"].clone(), t["state"].clone()));
    }
    assert_eq!(
        answers_a, answers_b,
        "the interrupted conversation behaves as the uninterrupted one"
    );
    let nodes: Vec<&str> = answers_b
        .iter()
        .filter_map(|(_, s)| s["node"].as_str())
        .collect();
    let mut distinct = nodes.clone();
    distinct.dedup();
    assert!(
        distinct.len() >= 3,
        "the flow moved through several nodes: {nodes:?}"
    );
}

#[tokio::test]
async fn other_inputs_silence_and_hangup_reach_the_engine() {
    let (app, c, t) = admin_app().await;
    upload(&c, &app).await;
    let (_, conv) = call(
        &c,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "api", "script": "mini" })),
    )
    .await;
    let id = conv["id"].as_str().expect("id");
    assert_eq!(
        says(&conv["actions"]),
        vec!["客户您好，请问您需要什么帮助？"],
        "the script's default for a missing CRM field"
    );
    let (s, turn) = call(
        &c,
        &app,
        "POST",
        &format!("/api/v1/conversations/{id}/input"),
        Some(&json!({ "type": "silence", "ms": 6000 })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{turn}");
    assert!(
        !says(&turn["actions"]).is_empty(),
        "a silence is answered with a reprompt: {turn}"
    );
    let (s, turn) = call(
        &c,
        &app,
        "POST",
        &format!("/api/v1/conversations/{id}/input"),
        Some(&json!({ "type": "hangup" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{turn}");
    assert_eq!(turn["state"]["ended"], true);

    for bad in [
        json!({ "type": "teleport" }),
        json!({ "text": "no type" }),
        json!({ "type": "user_said" }),
        json!({ "type": "conversation_started", "now": {} }),
    ] {
        let (s, b) = call(
            &c,
            &app,
            "POST",
            &format!("/api/v1/conversations/{id}/input"),
            Some(&bad),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
    let long = json!({ "type": "user_said", "text": "长".repeat(5000) });
    let (_, conv2) = call(
        &c,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "api", "script": "mini" })),
    )
    .await;
    let id2 = conv2["id"].as_str().expect("id");
    let (s, _) = call(
        &c,
        &app,
        "POST",
        &format!("/api/v1/conversations/{id2}/input"),
        Some(&long),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let log = app
        .store
        .events(&t, id2, 0, 100)
        .await
        .expect("e")
        .expect("c");
    assert_eq!(
        log.iter().filter(|e| e.kind.starts_with("event.")).count(),
        1,
        "only the start was logged"
    );
}

#[tokio::test]
async fn conversations_without_a_script_and_reserved_log_kinds_are_refused_clearly() {
    let (app, c, _) = admin_app().await;
    upload(&c, &app).await;
    let (_, plain) = call(
        &c,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "api" })),
    )
    .await;
    let id = plain["id"].as_str().expect("id");
    let (s, b) = call(
        &c,
        &app,
        "POST",
        &format!("/api/v1/conversations/{id}/input"),
        Some(&json!({ "type": "user_said", "text": "你好" })),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    for kind in ["event.user_said", "action.say"] {
        let (s, b) = call(
            &c,
            &app,
            "POST",
            &format!("/api/v1/conversations/{id}/events"),
            Some(&json!({ "kind": kind, "payload": {} })),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{kind}: {b}");
    }
    let (s, b) = call(
        &c,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "api", "script": "nope" })),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, b) = call(
        &c,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "api", "script": "mini", "knowledge_base": "nope" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (_, list) = call(&c, &app, "GET", "/api/v1/conversations", None).await;
    assert_eq!(
        list["conversations"].as_array().expect("list").len(),
        1,
        "refused starts created nothing"
    );
}

#[tokio::test]
async fn the_demo_tenant_starts_with_the_example_script_and_it_runs() {
    let app = TestApp::start().await;
    let mut config = server::Config::default();
    config.demo.admin_password = PASSWORD.to_string();
    let clock = server::Clock::manual(START_MS).0;
    let created = server::bootstrap::ensure_demo(&app.store, &config, &clock)
        .await
        .expect("bootstrap")
        .expect("created");
    assert_eq!(created.username, "admin");
    // The demo agent signs in with the password shown once, and has a phone account.
    let (s, b) = app
        .try_login("demo", &created.agent, &created.agent_password)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let tenant = app
        .store
        .tenant_by_slug("demo")
        .await
        .expect("db")
        .expect("demo");
    let phones = app.store.agent_phones(&tenant.id).await.expect("db");
    assert_eq!(phones.len(), 1);
    assert_eq!(phones[0].sip_username, created.agent_sip_user);
    assert!(
        app.store.agents(&tenant.id).await.expect("db").is_empty(),
        "no presence until the agent signs in: the robot promises no person yet"
    );
    assert!(
        server::bootstrap::ensure_demo(&app.store, &config, &clock)
            .await
            .expect("again")
            .is_none(),
        "only once"
    );
    let c = app.login("demo", "admin").await;
    let (_, scripts) = call(&c, &app, "GET", "/api/v1/scripts", None).await;
    assert!(!scripts["documents"].as_array().expect("docs").is_empty());
    for (kind, name, _) in server::bootstrap::DEMO_DOCUMENTS
        .iter()
        .filter(|(k, ..)| *k == store::DocumentKind::Script)
    {
        let _ = kind;
        let (s, conv) = call(&c, &app, "POST", "/api/v1/conversations", Some(&json!({ "channel": "api", "script": name, "contact": { "name": "张先生", "community": "翠湖天地" } }))).await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {conv}");
        let first = says(&conv["actions"]).join("");
        assert!(
            !first.is_empty() && !first.contains("{{"),
            "{name} greets with its variables filled: {first}"
        );
    }
    // The demo's web chat is on the landing page, and its widget is served.
    let page = reqwest::get(app.url("/"))
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(page.contains("/channels/web/demo/site/widget.js"), "{page}");
    let js = reqwest::get(app.url("/channels/web/demo/site/widget.js"))
        .await
        .expect("get");
    assert_eq!(js.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_inputs_to_one_conversation_are_taken_one_turn_at_a_time() {
    let (app, c, t) = admin_app().await;
    upload(&c, &app).await;
    let (_, conv) = call(
        &c,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "api", "script": "mini" })),
    )
    .await;
    let id = conv["id"].as_str().expect("id").to_string();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (c, url) = (
            c.clone(),
            app.url(&format!("/api/v1/conversations/{id}/input")),
        );
        tasks.push(tokio::spawn(async move {
            c.post(url)
                .json(&json!({ "type": "user_said", "text": format!("第{i}个问题：营业时间") }))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("join").expect("send"), StatusCode::OK);
    }
    // Every turn's entries are contiguous: an event, then only its actions.
    let log = app
        .store
        .events(&t, &id, 0, 10_000)
        .await
        .expect("e")
        .expect("c");
    let events: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind.starts_with("event."))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(events.len(), 13, "start + 12 turns");
    for pair in events.windows(2) {
        let between = &log[pair[0] + 1..pair[1]];
        assert!(!between.is_empty(), "every turn was answered");
        assert!(
            between.iter().all(|e| e.kind.starts_with("action.")),
            "interleaved turns: {:?}",
            log.iter().map(|e| &e.kind).collect::<Vec<_>>()
        );
    }
    let texts: std::collections::HashSet<String> = log
        .iter()
        .filter(|e| e.kind == "event.user_said")
        .filter_map(|e| e.payload["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(texts.len(), 12, "no turn lost or duplicated");
}
