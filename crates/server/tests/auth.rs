//! Logging in, lockout, rate limits, sessions and API tokens.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use store::Role;

#[tokio::test]
async fn login_success_sets_a_protective_session_cookie() {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    app.user(&t, "li", Role::Agent).await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "tenant": "acme", "username": "li", "password": PASSWORD }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_string();
    assert!(cookie.starts_with("tonghua_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["user"]["username"], "li");
    assert!(
        body["user"].get("password_hash").is_none(),
        "hash must never be sent"
    );

    let client = app.login("acme", "li").await;
    let (status, me) = call(&client, &app, "GET", "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["role"], "agent");
    assert_eq!(me["tenant"]["slug"], "acme");
}

#[tokio::test]
async fn wrong_password_unknown_user_and_unknown_tenant_look_the_same() {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    app.user(&t, "li", Role::Agent).await;
    for (tenant, user, pw) in [
        ("acme", "li", "wrong-password"),
        ("acme", "nobody", PASSWORD),
        ("nope", "li", PASSWORD),
    ] {
        let (status, body) = app.try_login(tenant, user, pw).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{tenant}/{user}");
        assert_eq!(body["error"]["code"], "invalid_credentials");
        assert!(body["error"]["request_id"].is_string());
    }
    let failed = app
        .store
        .audit_entries(
            &t,
            &store::AuditQuery {
                action: Some("auth.login".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("audit");
    assert_eq!(failed.len(), 2, "both attempts on tenant acme are audited");
    assert!(
        failed
            .iter()
            .all(|e| e.outcome == "failed" && e.client_ip.as_deref() == Some("127.0.0.1"))
    );
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_until_the_lockout_ends() {
    let app = TestApp::start_with(|c| {
        c.auth.max_failed_logins = 3;
        c.auth.lockout_secs = 600;
    })
    .await;
    let t = app.tenant("acme").await;
    app.user(&t, "li", Role::Agent).await;
    for _ in 0..3 {
        assert_eq!(
            app.try_login("acme", "li", "wrong-password").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Now even the right password is refused, with a clear reason.
    let (status, body) = app.try_login("acme", "li", PASSWORD).await;
    assert_eq!(status, StatusCode::LOCKED);
    assert_eq!(body["error"]["code"], "account_locked");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("锁定")
    );

    app.clock.advance_ms(599_000);
    assert_eq!(
        app.try_login("acme", "li", PASSWORD).await.0,
        StatusCode::LOCKED
    );
    app.clock.advance_ms(2_000);
    assert_eq!(
        app.try_login("acme", "li", PASSWORD).await.0,
        StatusCode::OK
    );
    // Success resets the count: two more failures do not lock.
    for _ in 0..2 {
        app.try_login("acme", "li", "wrong-password").await;
    }
    assert_eq!(
        app.try_login("acme", "li", PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_admin_reset_unlocks_a_locked_account() {
    let app = TestApp::start_with(|c| c.auth.max_failed_logins = 2).await;
    let t = app.tenant("acme").await;
    app.user(&t, "boss", Role::Admin).await;
    let li = app.user(&t, "li", Role::Agent).await;
    for _ in 0..2 {
        app.try_login("acme", "li", "wrong-password").await;
    }
    assert_eq!(
        app.try_login("acme", "li", PASSWORD).await.0,
        StatusCode::LOCKED
    );
    let boss = app.login("acme", "boss").await;
    let (status, _) = call(
        &boss,
        &app,
        "POST",
        &format!("/api/v1/users/{li}/password"),
        Some(&json!({ "password": "a-brand-new-one" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.try_login("acme", "li", "a-brand-new-one").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_client_address() {
    let app = TestApp::start_with(|c| c.auth.login_attempts_per_minute = 3).await;
    let t = app.tenant("acme").await;
    app.user(&t, "li", Role::Agent).await;
    for _ in 0..3 {
        assert_eq!(
            app.try_login("acme", "nobody", "whatever-pw").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "tenant": "acme", "username": "li", "password": PASSWORD }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    let (_, body) = split(r).await;
    assert_eq!(body["error"]["code"], "too_many_attempts");
}

#[tokio::test]
async fn logout_ends_the_session_and_a_password_change_ends_all_sessions() {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    app.user(&t, "li", Role::Agent).await;
    let a = app.login("acme", "li").await;
    assert_eq!(
        call(&a, &app, "POST", "/api/v1/auth/logout", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&a, &app, "GET", "/api/v1/me", None).await.0,
        StatusCode::UNAUTHORIZED
    );

    let b = app.login("acme", "li").await;
    let c = app.login("acme", "li").await;
    let change = json!({ "current_password": PASSWORD, "new_password": "another-good-one" });
    assert_eq!(
        call(&b, &app, "POST", "/api/v1/me/password", Some(&change))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&c, &app, "GET", "/api/v1/me", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let wrong =
        json!({ "current_password": "not-the-password", "new_password": "another-good-two" });
    let d = {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client");
        let r = client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({ "tenant": "acme", "username": "li", "password": "another-good-one" }))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK);
        client
    };
    let (status, body) = call(&d, &app, "POST", "/api/v1/me/password", Some(&wrong)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("wrong_password"))
    );
    let short = json!({ "current_password": "another-good-one", "new_password": "short" });
    let (status, body) = call(&d, &app, "POST", "/api/v1/me/password", Some(&short)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn sessions_expire() {
    let app = TestApp::start_with(|c| c.auth.session_ttl_secs = 3600).await;
    let t = app.tenant("acme").await;
    app.user(&t, "li", Role::Agent).await;
    let client = app.login("acme", "li").await;
    app.clock.advance_ms(3_599_000);
    assert_eq!(
        call(&client, &app, "GET", "/api/v1/me", None).await.0,
        StatusCode::OK
    );
    app.clock.advance_ms(2_000);
    assert_eq!(
        call(&client, &app, "GET", "/api/v1/me", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn bearer(app: &TestApp, secret: &str, path: &str) -> StatusCode {
    reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(secret)
        .send()
        .await
        .expect("send")
        .status()
}

#[tokio::test]
async fn api_tokens_are_shown_once_work_and_stop_working_when_revoked() {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    app.user(&t, "li", Role::Supervisor).await;
    let client = app.login("acme", "li").await;
    let (status, created) = call(
        &client,
        &app,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "name": "crm sync" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = created["secret"].as_str().expect("secret").to_string();
    let id = created["token"]["id"].as_str().expect("id").to_string();
    assert!(secret.starts_with("th_"));

    // Works, as the user who made it, with their role.
    assert_eq!(bearer(&app, &secret, "/api/v1/users").await, StatusCode::OK);
    assert_eq!(
        bearer(&app, &secret, "/api/v1/audit").await,
        StatusCode::FORBIDDEN
    );

    // Never shown again, and not stored in the clear.
    let (_, listed) = call(&client, &app, "GET", "/api/v1/tokens", None).await;
    assert!(!listed.to_string().contains(&secret));
    assert!(secret.starts_with(listed["tokens"][0]["prefix"].as_str().expect("prefix")));
    let row: (String,) = sqlx::query_as("SELECT token_hash FROM api_tokens WHERE id = ?1")
        .bind(&id)
        .fetch_one(app.store.pool())
        .await
        .expect("row");
    assert_ne!(row.0, secret);

    let (status, _) = call(
        &client,
        &app,
        "DELETE",
        &format!("/api/v1/tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        bearer(&app, &secret, "/api/v1/users").await,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = call(
        &client,
        &app,
        "DELETE",
        &format!("/api/v1/tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    // A made-up token is refused the same way.
    assert_eq!(
        bearer(&app, "th_not-a-real-token", "/api/v1/me").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn tokens_expire_and_die_with_their_disabled_user() {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    app.user(&t, "boss", Role::Admin).await;
    let li = app.user(&t, "li", Role::Agent).await;
    let client = app.login("acme", "li").await;
    let (_, a) = call(
        &client,
        &app,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "name": "short", "expires_in_days": 1 })),
    )
    .await;
    let (_, b) = call(
        &client,
        &app,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "name": "forever" })),
    )
    .await;
    let (a, b) = (
        a["secret"].as_str().expect("a").to_string(),
        b["secret"].as_str().expect("b").to_string(),
    );
    app.clock.advance_ms(86_400_000 + 1);
    assert_eq!(
        bearer(&app, &a, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(bearer(&app, &b, "/api/v1/me").await, StatusCode::OK);

    let boss = app.login("acme", "boss").await;
    let (status, _) = call(
        &boss,
        &app,
        "PATCH",
        &format!("/api/v1/users/{li}"),
        Some(&json!({ "disabled": true })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        bearer(&app, &b, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&client, &app, "GET", "/api/v1/me", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.try_login("acme", "li", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn users_see_only_their_own_tokens_and_admins_see_all() {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    app.user(&t, "boss", Role::Admin).await;
    app.user(&t, "li", Role::Agent).await;
    app.user(&t, "wang", Role::Agent).await;
    let li = app.login("acme", "li").await;
    let wang = app.login("acme", "wang").await;
    let boss = app.login("acme", "boss").await;
    let (_, li_token) = call(
        &li,
        &app,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "name": "li's" })),
    )
    .await;
    call(
        &wang,
        &app,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "name": "wang's" })),
    )
    .await;
    let li_token_id = li_token["token"]["id"].as_str().expect("id").to_string();

    let (_, seen) = call(&wang, &app, "GET", "/api/v1/tokens", None).await;
    assert_eq!(seen["tokens"].as_array().expect("arr").len(), 1);
    let (status, _) = call(
        &wang,
        &app,
        "DELETE",
        &format!("/api/v1/tokens/{li_token_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, all) = call(&boss, &app, "GET", "/api/v1/tokens", None).await;
    assert_eq!(all["tokens"].as_array().expect("arr").len(), 2);
    assert_eq!(
        call(
            &boss,
            &app,
            "DELETE",
            &format!("/api/v1/tokens/{li_token_id}"),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_scoped_token_can_do_only_what_its_scopes_say() {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    app.user(&t, "boss", Role::Admin).await;
    app.user(&t, "li", Role::Analyst).await;
    let boss = app.login("acme", "boss").await;
    let (s, created) = call(
        &boss,
        &app,
        "POST",
        "/api/v1/tokens",
        Some(
            &json!({ "name": "crm sync", "scopes": ["conversations.read", "conversations.write"] }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["token"]["scopes"],
        json!(["conversations.read", "conversations.write"])
    );
    let secret = created["secret"].as_str().expect("secret").to_string();

    // Within its scopes: fine. Outside them: refused, although its user is an admin.
    assert_eq!(
        bearer(&app, &secret, "/api/v1/conversations").await,
        StatusCode::OK
    );
    assert_eq!(
        bearer(&app, &secret, "/api/v1/users").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        bearer(&app, &secret, "/api/v1/audit").await,
        StatusCode::FORBIDDEN
    );
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/users"))
        .bearer_auth(&secret)
        .json(&json!({ "username": "x9", "role": "admin", "password": PASSWORD }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let me: serde_json::Value = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        me["permissions"],
        json!(["conversations.read", "conversations.write"])
    );

    // A scoped token cannot mint a broader one.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&secret)
        .json(&json!({ "name": "escalate", "scopes": ["users.manage"] }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Nobody grants what they do not have, nor unknown or empty scopes.
    let li = app.login("acme", "li").await;
    for scopes in [json!(["conversations.write"]), json!(["root"]), json!([])] {
        let (s, b) = call(
            &li,
            &app,
            "POST",
            "/api/v1/tokens",
            Some(&json!({ "name": "t", "scopes": scopes })),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{scopes}: {b}");
    }
    let (_, listed) = call(&li, &app, "GET", "/api/v1/tokens", None).await;
    assert!(
        listed["tokens"].as_array().expect("list").is_empty(),
        "refused tokens were not stored"
    );
}
