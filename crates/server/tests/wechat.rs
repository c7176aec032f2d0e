//! The WeChat official-account webhook, driven the way WeChat's servers call
//! it: signed query strings, XML bodies, plain and safe mode, retries.

mod common;

use common::*;
use reqwest::{Client, StatusCode};
use serde_json::json;
use wechat::crypto::MsgCrypt;
use wechat::signature::{msg_signature, sign};

const TOKEN: &str = "tonghuaToken1";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wx_shop_demo";
/// `START_MS` in seconds: WeChat stamps requests with the server's "now".
const NOW: i64 = START_MS / 1000;

async fn setup(safe: bool) -> (TestApp, Client, String) {
    let app = TestApp::start().await;
    let (c, t) = app.shop("mini", MINI_SCRIPT).await;
    let mut settings = json!({ "token": TOKEN, "app_id": APP_ID, "app_secret": "app-secret-value", "script": "mini" });
    if safe {
        settings["encoding_aes_key"] = json!(AES_KEY);
    }
    let (s, b) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/channels/gzh",
        Some(&json!({ "kind": "wechat", "settings": settings })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    (app, c, t)
}

fn text_message(openid: &str, msg_id: u64, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_shop]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{NOW}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
}

fn subscribe(openid: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_shop]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{NOW}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>"
    )
}

/// POSTs `body` signed as WeChat signs plain-mode requests.
async fn post_plain(app: &TestApp, nonce: &str, body: &str) -> (StatusCode, String) {
    let ts = NOW.to_string();
    let url = format!(
        "{}?signature={}&timestamp={ts}&nonce={nonce}&openid=x",
        app.url("/channels/wechat/shop/gzh"),
        sign(&[TOKEN, &ts, nonce])
    );
    let r = Client::new()
        .post(url)
        .header("content-type", "text/xml")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    (r.status(), r.text().await.expect("text"))
}

fn content_of(reply: &str) -> String {
    wechat::xml::parse_flat(reply)
        .map(|f| f.get("Content").cloned().unwrap_or_default())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_url_check_echoes_only_for_a_correct_signature() {
    let (app, _, _) = setup(false).await;
    let ts = NOW.to_string();
    let good = format!(
        "{}?signature={}&timestamp={ts}&nonce=n1&echostr=hello-wechat",
        app.url("/channels/wechat/shop/gzh"),
        sign(&[TOKEN, &ts, "n1"])
    );
    let r = Client::new().get(good).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("text"), "hello-wechat");
    let bad = format!(
        "{}?signature={}&timestamp={ts}&nonce=n1&echostr=hello",
        app.url("/channels/wechat/shop/gzh"),
        "0".repeat(40)
    );
    assert_eq!(
        Client::new().get(bad).send().await.expect("send").status(),
        StatusCode::FORBIDDEN
    );
    let unknown = format!(
        "{}?signature=x&timestamp={ts}&nonce=n&echostr=e",
        app.url("/channels/wechat/shop/nope")
    );
    assert_eq!(
        Client::new()
            .get(unknown)
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn followers_get_the_greeting_then_answers_in_one_conversation() {
    let (app, _, t) = setup(false).await;
    let (s, reply) = post_plain(&app, "n1", &subscribe("o_fan_1")).await;
    assert_eq!(s, StatusCode::OK, "{reply}");
    let fields = wechat::xml::parse_flat(&reply).expect("reply XML");
    assert_eq!(
        (
            fields["ToUserName"].as_str(),
            fields["FromUserName"].as_str()
        ),
        ("o_fan_1", "gh_shop")
    );
    assert!(fields["Content"].contains("您好"), "greeting: {reply}");

    let (_, reply) = post_plain(&app, "n2", &text_message("o_fan_1", 1001, "怎么申请退款")).await;
    assert!(
        content_of(&reply).contains("申请退款"),
        "answered from the knowledge base: {reply}"
    );
    let convs = app.store.conversations(&t, 10).await.expect("list");
    assert_eq!(convs.len(), 1, "one follower, one conversation");
    assert_eq!(convs[0].channel, "wechat");
    assert_eq!(convs[0].external_ref.as_deref(), Some("o_fan_1"));
    let log = app
        .store
        .events(&t, &convs[0].id, 0, 100)
        .await
        .expect("e")
        .expect("c");
    assert!(
        log.iter()
            .any(|e| e.kind == "event.user_said" && e.payload["text"] == "怎么申请退款")
    );

    // A follower who writes without having followed through us gets the greeting and the answer.
    let (_, reply) = post_plain(&app, "n3", &text_message("o_fan_2", 1002, "你们几点开门")).await;
    let content = content_of(&reply);
    assert!(
        content.contains("您好") && content.contains("九点"),
        "{reply}"
    );

    // Saying goodbye ends the conversation; the next message starts a new one.
    post_plain(&app, "n4", &text_message("o_fan_1", 1003, "好的，再见")).await;
    let (_, reply) = post_plain(&app, "n5", &text_message("o_fan_1", 1004, "我又来了")).await;
    assert!(
        content_of(&reply).contains("您好"),
        "a new conversation greets again: {reply}"
    );
    let fan1 = app
        .store
        .conversations(&t, 10)
        .await
        .expect("list")
        .into_iter()
        .filter(|c| c.external_ref.as_deref() == Some("o_fan_1"))
        .count();
    assert_eq!(fan1, 2);
}

#[tokio::test]
async fn retries_and_replays_are_answered_once_and_forgeries_change_nothing() {
    let (app, _, t) = setup(false).await;
    let msg = text_message("o_fan", 777, "我要退款");
    let (s, first) = post_plain(&app, "a", &msg).await;
    assert_eq!(s, StatusCode::OK);
    assert!(content_of(&first).contains("退款"));
    // WeChat's retries of the same MsgId (freshly signed) are acknowledged without a second turn.
    for nonce in ["b", "c", "d"] {
        let (s, again) = post_plain(&app, nonce, &msg).await;
        assert_eq!((s, again.as_str()), (StatusCode::OK, "success"));
    }
    let conv = app
        .store
        .conversations(&t, 10)
        .await
        .expect("list")
        .remove(0);
    let turns = app
        .store
        .events(&t, &conv.id, 0, 100)
        .await
        .expect("e")
        .expect("c")
        .iter()
        .filter(|e| e.kind == "event.user_said")
        .count();
    assert_eq!(turns, 1);

    let before = app
        .store
        .events(&t, &conv.id, 0, 1000)
        .await
        .expect("e")
        .expect("c")
        .len();
    // A forged signature, a stale timestamp, a broken body, an oversized body.
    let ts = NOW.to_string();
    let base = app.url("/channels/wechat/shop/gzh");
    let forged = format!(
        "{base}?signature={}&timestamp={ts}&nonce=z",
        sign(&["wrong-token", &ts, "z"])
    );
    let stale_ts = (NOW - 3600).to_string();
    let stale = format!(
        "{base}?signature={}&timestamp={stale_ts}&nonce=z",
        sign(&[TOKEN, &stale_ts, "z"])
    );
    let signed = format!(
        "{base}?signature={}&timestamp={ts}&nonce=z",
        sign(&[TOKEN, &ts, "z"])
    );
    let cases = [
        (
            forged,
            text_message("o_fan", 778, "伪造"),
            StatusCode::FORBIDDEN,
        ),
        (
            stale,
            text_message("o_fan", 779, "旧消息"),
            StatusCode::FORBIDDEN,
        ),
        (
            signed.clone(),
            "<xml><Content>no fields</Content></xml>".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            signed.clone(),
            "<!DOCTYPE x [<!ENTITY e \"a\">]><xml/>".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            signed.clone(),
            text_message("o_fan", 780, &"长".repeat(30_000)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (url, body, expected) in cases {
        let r = Client::new()
            .post(url)
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), expected);
    }
    let after = app
        .store
        .events(&t, &conv.id, 0, 1000)
        .await
        .expect("e")
        .expect("c")
        .len();
    assert_eq!(before, after, "refused requests stored nothing");
    assert_eq!(
        app.store.conversations(&t, 10).await.expect("list").len(),
        1
    );
}

#[tokio::test]
async fn safe_mode_messages_are_decrypted_and_replies_encrypted() {
    let (app, _, _) = setup(true).await;
    let crypt = MsgCrypt::new(AES_KEY, APP_ID).expect("key");
    let encrypted = crypt.encrypt(&text_message("o_secret", 4242, "怎么申请退款"), [9; 16]);
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_shop]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    );
    let ts = NOW.to_string();
    let url = format!(
        "{}?timestamp={ts}&nonce=s1&encrypt_type=aes&msg_signature={}&signature={}",
        app.url("/channels/wechat/shop/gzh"),
        msg_signature(TOKEN, &ts, "s1", &encrypted),
        sign(&[TOKEN, &ts, "s1"])
    );
    let r = Client::new()
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let sealed = r.text().await.expect("text");
    assert!(!sealed.contains("退款"), "the reply is not in the clear");
    let env = wechat::xml::parse_flat(&sealed).expect("envelope");
    assert_eq!(
        env["MsgSignature"],
        msg_signature(TOKEN, &env["TimeStamp"], &env["Nonce"], &env["Encrypt"])
    );
    let reply = crypt.decrypt(&env["Encrypt"]).expect("decrypt");
    assert!(content_of(&reply).contains("申请退款"), "{reply}");

    // The same body with a wrong msg_signature is refused.
    let bad = url.replace(
        &msg_signature(TOKEN, &ts, "s1", &encrypted),
        &"0".repeat(40),
    );
    assert_eq!(
        Client::new()
            .post(bad)
            .body(body)
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn channel_settings_are_validated_and_secrets_never_shown() {
    let (app, c, _) = setup(true).await;
    let (_, got) = call(&c, &app, "GET", "/api/v1/channels/gzh", None).await;
    let text = got.to_string();
    for secret in [TOKEN, AES_KEY, "app-secret-value"] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    assert_eq!(got["settings"]["app_id"], APP_ID);
    assert_eq!(got["settings"]["token"], "********");
    let (_, list) = call(&c, &app, "GET", "/api/v1/channels", None).await;
    assert!(!list.to_string().contains(TOKEN));

    for (settings, why) in [
        (
            json!({ "token": "ab", "app_id": "wx", "script": "mini" }),
            "short token",
        ),
        (
            json!({ "token": "tonghua123", "app_id": "wx", "script": "mini", "encoding_aes_key": "short" }),
            "bad AES key",
        ),
        (
            json!({ "token": "tonghua123", "app_id": "wx", "script": "no-such-script" }),
            "unknown script",
        ),
        (
            json!({ "token": "tonghua123", "app_id": "wx", "script": "mini", "colour": "red" }),
            "unknown field",
        ),
        (
            json!({ "token": "tonghua123", "script": "mini" }),
            "no app id",
        ),
    ] {
        let (s, b) = call(
            &c,
            &app,
            "PUT",
            "/api/v1/channels/other",
            Some(&json!({ "kind": "wechat", "settings": settings })),
        )
        .await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
            "{why}: {s} {b}"
        );
    }
    let (s, _) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/channels/other",
        Some(&json!({ "kind": "telegram", "settings": {} })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, list) = call(&c, &app, "GET", "/api/v1/channels", None).await;
    assert_eq!(
        list["channels"].as_array().expect("list").len(),
        1,
        "refused settings were not stored"
    );
}

/// A turn that fails (here: the disk refuses the write) must not swallow the
/// message: nothing of it is recorded, so WeChat's retry of the same MsgId is
/// answered properly, once.
#[tokio::test]
async fn a_failed_turn_is_answered_when_wechat_retries() {
    let (app, _, t) = setup(false).await;
    let (s, _) = post_plain(&app, "a", &text_message("o_fan", 900, "你好")).await;
    assert_eq!(s, StatusCode::OK);
    sqlx::query(
        "CREATE TRIGGER refuse_user_said BEFORE INSERT ON conversation_events \
         WHEN NEW.kind = 'event.user_said' BEGIN SELECT RAISE(ABORT, 'disk refused'); END",
    )
    .execute(app.store.pool())
    .await
    .expect("trigger");
    let msg = text_message("o_fan", 901, "我要退款");
    let (s, busy) = post_plain(&app, "b", &msg).await;
    assert_eq!(s, StatusCode::OK);
    assert!(content_of(&busy).contains("繁忙"), "{busy}");
    sqlx::query("DROP TRIGGER refuse_user_said")
        .execute(app.store.pool())
        .await
        .expect("drop");
    // WeChat retries the same MsgId: now it is answered, and only once.
    let (_, answered) = post_plain(&app, "c", &msg).await;
    assert!(content_of(&answered).contains("退款"), "{answered}");
    let (_, again) = post_plain(&app, "d", &msg).await;
    assert_eq!(again, "success");
    let conv = app
        .store
        .conversations(&t, 10)
        .await
        .expect("list")
        .remove(0);
    let said: Vec<String> = app
        .store
        .events(&t, &conv.id, 0, 100)
        .await
        .expect("e")
        .expect("c")
        .iter()
        .filter(|e| e.kind == "event.user_said")
        .map(|e| e.payload.to_string())
        .collect();
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[1].contains("我要退款"));
}

/// A stand-in for WeChat's API servers: issues tokens `T1`, `T2`, ... and
/// refuses `T1` as expired (as WeChat does with 40001), recording every
/// customer-service message it accepts.
#[derive(Clone, Default)]
struct FakeWeChat {
    tokens_issued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    sent: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl FakeWeChat {
    async fn start(&self) -> String {
        use axum::extract::{Query, State};
        use std::collections::HashMap;
        async fn token(
            State(f): State<FakeWeChat>,
            Query(q): Query<HashMap<String, String>>,
        ) -> axum::Json<serde_json::Value> {
            assert_eq!(
                q.get("grant_type").map(String::as_str),
                Some("client_credential")
            );
            if q.get("secret").map(String::as_str) != Some("app-secret-value") {
                return axum::Json(json!({ "errcode": 40125, "errmsg": "invalid appsecret" }));
            }
            let n = f
                .tokens_issued
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            axum::Json(json!({ "access_token": format!("T{n}"), "expires_in": 7200 }))
        }
        async fn send(
            State(f): State<FakeWeChat>,
            Query(q): Query<HashMap<String, String>>,
            axum::Json(body): axum::Json<serde_json::Value>,
        ) -> axum::Json<serde_json::Value> {
            if q.get("access_token").map(String::as_str) == Some("T1") {
                return axum::Json(
                    json!({ "errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest" }),
                );
            }
            f.sent.lock().expect("lock").push(body);
            axum::Json(json!({ "errcode": 0, "errmsg": "ok" }))
        }
        let app = axum::Router::new()
            .route("/cgi-bin/token", axum::routing::get(token))
            .route("/cgi-bin/message/custom/send", axum::routing::post(send))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }
}

/// When the answer misses WeChat's window (here: the disk is busy), the
/// request is let go with "success" in time and the answer follows through
/// the customer-service API, with a fresh token when WeChat refuses the old.
#[tokio::test]
async fn a_late_answer_arrives_through_the_customer_service_api() {
    let (app, boss, t) = setup(false).await;
    let fake = FakeWeChat::default();
    let api = fake.start().await;
    let (s, b) = call(
        &boss,
        &app,
        "PUT",
        "/api/v1/channels/gzh",
        Some(&json!({ "kind": "wechat", "settings": {
            "token": TOKEN, "app_id": APP_ID, "app_secret": "app-secret-value",
            "script": "mini", "api_base": api, "reply_window_ms": 300 } })),
    )
    .await;
    assert!(s.is_success(), "{b}");

    // Another writer holds the database for a second.
    let mut conn = app.store.pool().acquire().await.expect("conn");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .expect("lock");
    let msg = text_message("o_late", 4242, "我要退款");
    let started = std::time::Instant::now();
    let (s, reply) = post_plain(&app, "a", &msg).await;
    assert_eq!((s, reply.as_str()), (StatusCode::OK, "success"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "let go within WeChat's window"
    );
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    sqlx::query("ROLLBACK")
        .execute(&mut *conn)
        .await
        .expect("unlock");
    drop(conn);

    let mut sent = Vec::new();
    for _ in 0..100 {
        sent = fake.sent.lock().expect("lock").clone();
        if !sent.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["touser"], "o_late");
    assert_eq!(sent[0]["msgtype"], "text");
    assert!(
        sent[0]["text"]["content"]
            .as_str()
            .unwrap_or("")
            .contains("退款"),
        "{sent:?}"
    );
    // T1 was refused as expired; T2 was fetched and used.
    assert_eq!(
        fake.tokens_issued.load(std::sync::atomic::Ordering::SeqCst),
        2
    );

    // WeChat's retry of that message changes nothing; a next message is answered passively.
    let (_, again) = post_plain(&app, "b", &msg).await;
    assert_eq!(again, "success");
    let (_, next) = post_plain(&app, "c", &text_message("o_late", 4243, "我要退款")).await;
    assert!(content_of(&next).contains("退款"), "{next}");
    assert_eq!(fake.sent.lock().expect("lock").len(), 1);
    let conv = app
        .store
        .conversations(&t, 10)
        .await
        .expect("list")
        .into_iter()
        .find(|c| c.external_ref.as_deref() == Some("o_late"))
        .expect("conversation");
    let said = app
        .store
        .events(&t, &conv.id, 0, 100)
        .await
        .expect("e")
        .expect("c")
        .iter()
        .filter(|e| e.kind == "event.user_said")
        .count();
    assert_eq!(said, 2);
}

fn click(openid: &str, key: &str, at: i64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_shop]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>"
    )
}

/// A menu button the channel maps to words is answered as if they were typed;
/// an unmapped one is acknowledged and changes nothing.
#[tokio::test]
async fn menu_clicks_are_answered_as_the_words_they_stand_for() {
    let (app, boss, t) = setup(false).await;
    let (s, b) = call(
        &boss,
        &app,
        "PUT",
        "/api/v1/channels/gzh",
        Some(&json!({ "kind": "wechat", "settings": {
            "token": TOKEN, "app_id": APP_ID, "script": "mini",
            "menu": { "REFUND": "我要退款" } } })),
    )
    .await;
    assert!(s.is_success(), "{b}");
    let (s, reply) = post_plain(&app, "a", &click("o_menu", "REFUND", NOW)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(content_of(&reply).contains("退款"), "{reply}");
    let (_, other) = post_plain(&app, "b", &click("o_menu", "UNKNOWN_KEY", NOW + 1)).await;
    assert_eq!(other, "success");
    let conv = app
        .store
        .conversations(&t, 10)
        .await
        .expect("list")
        .into_iter()
        .find(|c| c.external_ref.as_deref() == Some("o_menu"))
        .expect("conversation");
    let said: Vec<String> = app
        .store
        .events(&t, &conv.id, 0, 100)
        .await
        .expect("e")
        .expect("c")
        .iter()
        .filter(|e| e.kind == "event.user_said")
        .map(|e| e.payload["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(said, vec!["我要退款".to_string()]);
    let (s, _) = call(
        &boss,
        &app,
        "PUT",
        "/api/v1/channels/gzh",
        Some(&json!({ "kind": "wechat", "settings": {
            "token": TOKEN, "app_id": APP_ID, "script": "mini", "menu": { "K": " " } } })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// A follower handed to a person gets the agent's words through WeChat's
/// customer-service API (there is no open connection to answer on).
#[tokio::test]
async fn an_agents_reply_reaches_the_follower_through_the_api() {
    let (app, boss, t) = setup(false).await;
    let fake = FakeWeChat::default();
    let api = fake.start().await;
    let staffed = MINI_SCRIPT.replace(
        "start: ask\n",
        "start: ask\nsettings:\n  human_queue: 客服\n",
    );
    let (s, b) = call(
        &boss,
        &app,
        "PUT",
        "/api/v1/scripts/staffed",
        Some(&json!({ "source": staffed })),
    )
    .await;
    assert!(s.is_success(), "{b}");
    let (s, b) = call(&boss, &app, "PUT", "/api/v1/channels/gzh", Some(&json!({ "kind": "wechat", "settings": {
        "token": TOKEN, "app_id": APP_ID, "app_secret": "app-secret-value", "script": "staffed", "api_base": api } }))).await;
    assert!(s.is_success(), "{b}");
    app.user(&t, "agent1", store::Role::Agent).await;
    let agent = app.login("shop", "agent1").await;
    let (s, _) = call(
        &agent,
        &app,
        "PUT",
        "/api/v1/agents/me",
        Some(&json!({ "status": "available" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let (s, _) = post_plain(&app, "a", &text_message("o_vip", 5001, "我要转人工")).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = call(&agent, &app, "GET", "/api/v1/handoffs", None).await;
    let id = list["handoffs"][0]["id"]
        .as_str()
        .expect("assigned to the agent")
        .to_string();
    let (s, r) = call(
        &agent,
        &app,
        "POST",
        &format!("/api/v1/handoffs/{id}/reply"),
        Some(&json!({ "text": "您好，我是人工客服，请问有什么可以帮您？" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["delivered"], "wechat");
    let sent = fake.sent.lock().expect("lock").clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["touser"], "o_vip");
    assert_eq!(
        sent[0]["text"]["content"],
        "您好，我是人工客服，请问有什么可以帮您？"
    );
}
