//! One customer across channels: a WeChat follower, later known by phone,
//! writes in through the app channel and their history follows them.

mod common;

use common::*;
use reqwest::{Client, StatusCode};
use serde_json::json;

const TOKEN: &str = "tonghuaToken1";
const NOW: i64 = START_MS / 1000;

async fn setup() -> (TestApp, Client, String) {
    let app = TestApp::start().await;
    let (c, t) = app.shop("mini", MINI_SCRIPT).await;
    let settings = json!({ "token": TOKEN, "app_id": "wx_shop", "script": "mini" });
    let (s, b) = call(
        &c,
        &app,
        "PUT",
        "/api/v1/channels/gzh",
        Some(&json!({ "kind": "wechat", "settings": settings })),
    )
    .await;
    assert!(s.is_success(), "{b}");
    (app, c, t)
}

async fn wechat_says(app: &TestApp, openid: &str, msg_id: u64, text: &str) {
    let ts = NOW.to_string();
    let nonce = msg_id.to_string();
    let url = format!(
        "{}?signature={}&timestamp={ts}&nonce={nonce}",
        app.url("/channels/wechat/shop/gzh"),
        wechat::signature::sign(&[TOKEN, &ts, &nonce])
    );
    let body = format!(
        "<xml><ToUserName>gh_shop</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>{NOW}</CreateTime><MsgType>text</MsgType><Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    );
    let r = Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_customer_is_one_person_on_wechat_and_in_the_app() {
    let (app, c, t) = setup().await;
    wechat_says(&app, "o_wang", 1, "你们几点开门").await;
    let (s, found) = call(
        &c,
        &app,
        "GET",
        "/api/v1/customers?wechat_openid=o_wang",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{found}");
    let customer = found["id"].as_str().expect("id").to_string();

    // An agent learns the follower's phone number and records it.
    let (s, linked) = call(
        &c,
        &app,
        "POST",
        &format!("/api/v1/customers/{customer}/identities"),
        Some(&json!({ "kind": "phone", "value": "138 0013 8000" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{linked}");
    assert!(
        linked["identities"].to_string().contains("+8613800138000"),
        "normalised: {linked}"
    );

    // The company's app starts a conversation for the same number, written another way.
    let (s, conv) = call(&c, &app, "POST", "/api/v1/conversations", Some(&json!({ "channel": "app", "script": "mini", "customer": { "phone": "+86 138-0013-8000", "crm_id": "CRM-0042" } }))).await;
    assert_eq!(s, StatusCode::CREATED, "{conv}");
    assert_eq!(
        conv["customer_id"],
        customer.as_str(),
        "recognised as the WeChat follower"
    );

    let (_, history) = call(
        &c,
        &app,
        "GET",
        &format!("/api/v1/customers/{customer}"),
        None,
    )
    .await;
    let channels: Vec<&str> = history["conversations"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["channel"].as_str())
        .collect();
    assert_eq!(
        channels,
        vec!["app", "wechat"],
        "both conversations, newest first"
    );
    let kinds = history["customer"]["identities"].to_string();
    assert!(
        kinds.contains("CRM-0042") && kinds.contains("o_wang"),
        "the CRM id was linked too: {kinds}"
    );
    let (_, by_crm) = call(&c, &app, "GET", "/api/v1/customers?crm_id=CRM-0042", None).await;
    assert_eq!(by_crm["id"], customer.as_str());

    // A number that belongs to someone else is not silently moved.
    let (_, other) = call(
        &c,
        &app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "app", "customer": { "phone": "13900139000" } })),
    )
    .await;
    let other_id = other["customer_id"].as_str().expect("other");
    assert_ne!(other_id, customer);
    let (s, b) = call(
        &c,
        &app,
        "POST",
        &format!("/api/v1/customers/{other_id}/identities"),
        Some(&json!({ "kind": "phone", "value": "13800138000" })),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    // Bad input: refused, nothing created.
    let before = app.store.conversations(&t, 100).await.expect("list").len();
    for bad in [
        json!({ "phone": "call me maybe" }),
        json!({}),
        json!({ "email": "x@y.z" }),
    ] {
        let (s, b) = call(
            &c,
            &app,
            "POST",
            "/api/v1/conversations",
            Some(&json!({ "channel": "app", "customer": bad })),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    }
    let (s, _) = call(
        &c,
        &app,
        "POST",
        &format!("/api/v1/customers/{customer}/identities"),
        Some(&json!({ "kind": "email", "value": "x" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.store.conversations(&t, 100).await.expect("list").len(),
        before
    );
    let (s, _) = call(&c, &app, "GET", "/api/v1/customers?phone=13700137000", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
