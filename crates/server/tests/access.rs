//! Tenant isolation, role permissions and auditing, checked over every route in
//! the API's route table so a new endpoint cannot slip past them.

mod common;

use common::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use server::api::ROUTES;
use store::Role;

/// A tenant with one user of each role, a token, a conversation with events.
struct World {
    tenant_id: String,
    slug: String,
    admin_id: String,
    agent_id: String,
    token_id: String,
    token_secret: String,
    conversation_id: String,
    customer_id: String,
    list_id: String,
    campaign_id: String,
    handoff_id: String,
    ids: Vec<String>,
}

async fn world(app: &TestApp, slug: &str) -> World {
    let tenant_id = app.tenant(slug).await;
    let admin_id = app
        .user(&tenant_id, &format!("{slug}-admin"), Role::Admin)
        .await;
    let mut ids = vec![tenant_id.clone(), admin_id.clone()];
    let mut agent_id = String::new();
    for role in [Role::Supervisor, Role::Agent, Role::Analyst] {
        let id = app
            .user(&tenant_id, &format!("{slug}-{}", role.as_str()), role)
            .await;
        if role == Role::Agent {
            agent_id = id.clone();
        }
        ids.push(id);
    }
    let admin = app.login(slug, &format!("{slug}-admin")).await;
    let (_, token) = call(
        &admin,
        app,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "name": format!("{slug} token") })),
    )
    .await;
    let (s1, b1) = call(
        &admin,
        app,
        "PUT",
        "/api/v1/knowledge-bases/mini-kb",
        Some(&json!({ "source": MINI_KB })),
    )
    .await;
    let (s2, b2) = call(
        &admin,
        app,
        "PUT",
        &format!("/api/v1/scripts/{slug}-script"),
        Some(&json!({ "source": MINI_SCRIPT })),
    )
    .await;
    let (s3, b3) = call(
        &admin,
        app,
        "PUT",
        "/api/v1/scripts/mini",
        Some(&json!({ "source": MINI_SCRIPT })),
    )
    .await;
    let channel = json!({ "kind": "wechat", "settings": { "token": "secret123", "app_id": format!("wx_{slug}"), "script": "mini" } });
    let (s4, b4) = call(
        &admin,
        app,
        "PUT",
        &format!("/api/v1/channels/{slug}-gzh"),
        Some(&channel),
    )
    .await;
    assert!(s3.is_success() && s4.is_success(), "{b3} {b4}");
    assert!(s1.is_success() && s2.is_success(), "{b1} {b2}");
    let (_, conv) = call(
        &admin,
        app,
        "POST",
        "/api/v1/conversations",
        Some(&json!({ "channel": "web", "external_ref": format!("{slug}-ref"), "script": format!("{slug}-script"), "customer": { "crm_id": format!("{slug}-crm"), "phone": "13800138000" } })),
    )
    .await;
    let conversation_id = conv["id"].as_str().expect("conv id").to_string();
    let customer_id = conv["customer_id"]
        .as_str()
        .expect("customer id")
        .to_string();
    for i in 0..3 {
        call(
            &admin,
            app,
            "POST",
            &format!("/api/v1/conversations/{conversation_id}/events"),
            Some(&json!({ "kind": "user_said", "payload": { "n": i } })),
        )
        .await;
    }
    let (s5, imported) = call(
        &admin,
        app,
        "POST",
        "/api/v1/contact-lists/calls/import",
        Some(&sample_body("ImportContacts")),
    )
    .await;
    assert!(s5.is_success(), "{imported}");
    let list_id = imported["list"]["id"]
        .as_str()
        .expect("list id")
        .to_string();
    let mut campaign = sample_body("CreateCampaign");
    campaign["name"] = json!(format!("{slug}-campaign"));
    let (s6, campaign) = call(&admin, app, "POST", "/api/v1/campaigns", Some(&campaign)).await;
    assert!(s6.is_success(), "{campaign}");
    let campaign_id = campaign["id"].as_str().expect("campaign id").to_string();
    ids.push(list_id.clone());
    ids.push(campaign_id.clone());
    let handoff_id = app
        .store
        .open_handoff(&tenant_id, &conversation_id, "售后", "human", START_MS)
        .await
        .expect("handoff")
        .id;
    ids.push(handoff_id.clone());
    let token_id = token["token"]["id"].as_str().expect("token id").to_string();
    ids.push(token_id.clone());
    ids.push(conversation_id.clone());
    ids.push(customer_id.clone());
    World {
        tenant_id,
        slug: slug.to_string(),
        admin_id,
        agent_id,
        token_id,
        token_secret: token["secret"].as_str().expect("secret").to_string(),
        conversation_id,
        customer_id,
        list_id,
        campaign_id,
        handoff_id,
        ids,
    }
}

/// The route's path with `{id}` replaced by the matching resource of `w`.
fn concrete(path: &str, w: &World) -> String {
    let id = if path.starts_with("/api/v1/users/") {
        &w.agent_id
    } else if path.starts_with("/api/v1/tokens/") {
        &w.token_id
    } else if path.starts_with("/api/v1/conversations/") {
        &w.conversation_id
    } else if path.starts_with("/api/v1/scripts/") {
        return path.replace("{name}", &format!("{}-script", w.slug));
    } else if path.starts_with("/api/v1/knowledge-bases/") {
        return path.replace("{name}", "mini-kb");
    } else if path.starts_with("/api/v1/customers/") {
        &w.customer_id
    } else if path == "/api/v1/customers" {
        return format!("/api/v1/customers?crm_id={}-crm", w.slug);
    } else if path.starts_with("/api/v1/campaigns/") {
        &w.campaign_id
    } else if path == "/api/v1/contact-lists/{name}/import" {
        return path.replace("{name}", "calls");
    } else if path.starts_with("/api/v1/contact-lists/") {
        &w.list_id
    } else if path == "/api/v1/dnc/{number}" {
        return path.replace("{number}", SAMPLE_DNC_NUMBER);
    } else if path.starts_with("/api/v1/handoffs/") {
        &w.handoff_id
    } else if path.starts_with("/api/v1/agents/") {
        &w.agent_id
    } else if path.starts_with("/api/v1/channels/") {
        return path.replace("{name}", &format!("{}-gzh", w.slug));
    } else {
        return path.to_string();
    };
    path.replace("{id}", id)
}

fn body_for(r: &server::api::RouteDoc, w: &World) -> Option<Value> {
    match r.body {
        // A transfer names an agent of the world.
        Some("HandoffTransfer") => Some(json!({ "agent_id": w.agent_id })),
        other => other.map(sample_body),
    }
}

#[tokio::test]
async fn no_endpoint_lets_tenant_a_read_or_change_anything_of_tenant_b() {
    let app = TestApp::start().await;
    let a = world(&app, "alpha").await;
    let b = world(&app, "beta").await;
    let a_admin = app.login("alpha", "alpha-admin").await;
    let b_events_before = app
        .store
        .events(&b.tenant_id, &b.conversation_id, 0, 100)
        .await
        .expect("e")
        .expect("c");
    let b_docs_before = (
        app.store
            .document_versions(&b.tenant_id, store::DocumentKind::Script, None)
            .await
            .expect("docs")
            .len(),
        app.store
            .document_versions(&b.tenant_id, store::DocumentKind::KnowledgeBase, None)
            .await
            .expect("docs")
            .len(),
    );
    let b_audit_before = app.audit_count(&b.tenant_id).await;
    let b_campaign_before = app
        .store
        .campaign(&b.tenant_id, &b.campaign_id)
        .await
        .expect("q")
        .expect("B's campaign");
    app.store
        .add_dnc(
            Some(&b.tenant_id),
            "+8613900139001",
            "manual",
            None,
            START_MS,
        )
        .await
        .expect("B's dnc");

    let mut checked = 0;
    for r in ROUTES.iter().filter(|r| r.auth.is_some()) {
        if r.path == "/api/v1/auth/logout" || r.path == "/api/v1/me/password" {
            continue; // act on the caller only; covered below
        }
        let path = concrete(r.path, &b);
        let (status, body) = call(&a_admin, &app, r.method, &path, body_for(r, &b).as_ref()).await;
        if r.path.contains("{name}")
            && (r.method == "PUT"
                || r.path.ends_with("/import")
                || (r.method == "DELETE" && r.path == "/api/v1/channels/{name}"))
        {
            // Names are not secrets: A uploading a name B also uses makes A's
            // own document (and deleting it deletes A's own, made by the PUT
            // just before); B's is untouched (checked below).
            assert!(
                status.is_success(),
                "{} {path} -> {status} {body}",
                r.method
            );
        } else if r.path == "/api/v1/scripts/{name}"
            || r.path == "/api/v1/channels/{name}"
            || r.path == "/api/v1/customers"
        {
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{} {path} -> {status} {body}",
                r.method
            );
        } else if r.path.ends_with("/stream") && !r.path.contains("{id}") {
            // A WebSocket asked for without the upgrade: a clear refusal.
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        } else if r.path.contains("{id}") {
            // B's resources do not exist for A, whatever A's role.
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{} {path} -> {status} {body}",
                r.method
            );
            assert_eq!(body["error"]["code"], "not_found", "{} {path}", r.method);
        } else {
            assert!(
                status.is_success(),
                "{} {path} -> {status} {body}",
                r.method
            );
        }
        let text = body.to_string();
        for id in &b.ids {
            assert!(
                !text.contains(id.as_str()),
                "{} {path} leaked B's id {id}: {text}",
                r.method
            );
        }
        for name in [
            "beta-admin",
            "beta-supervisor",
            "beta-agent",
            "beta-analyst",
        ] {
            assert!(
                !text.contains(name),
                "{} {path} leaked B's user {name}: {text}",
                r.method
            );
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} routes checked");

    // A's token cannot reach B either.
    let r = Client::new()
        .get(app.url(&format!(
            "/api/v1/conversations/{}/events",
            b.conversation_id
        )))
        .bearer_auth(&a.token_secret)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Nothing of B changed.
    let b_scripts = app
        .store
        .document_versions(&b.tenant_id, store::DocumentKind::Script, None)
        .await
        .expect("docs");
    assert_eq!(
        b_scripts.len(),
        b_docs_before.0,
        "B's scripts are untouched"
    );
    let b_kbs = app
        .store
        .document_versions(&b.tenant_id, store::DocumentKind::KnowledgeBase, None)
        .await
        .expect("docs");
    assert_eq!(b_kbs.len(), b_docs_before.1);
    let b_channel = app
        .store
        .channel(&b.tenant_id, "beta-gzh")
        .await
        .expect("q")
        .expect("B's channel");
    assert_eq!(b_channel.settings["token"], "secret123");
    assert_eq!(
        b_channel.updated_at, b_channel.created_at,
        "B's channel was not rewritten"
    );
    let b_events_after = app
        .store
        .events(&b.tenant_id, &b.conversation_id, 0, 100)
        .await
        .expect("e")
        .expect("c");
    assert_eq!(b_events_before, b_events_after);
    assert_eq!(
        app.audit_count(&b.tenant_id).await,
        b_audit_before,
        "no action was recorded against B"
    );
    let b_campaign = app
        .store
        .campaign(&b.tenant_id, &b.campaign_id)
        .await
        .expect("q")
        .expect("B's campaign");
    assert_eq!(
        (
            b_campaign.status.as_str(),
            b_campaign.max_lines,
            b_campaign.updated_at
        ),
        (
            b_campaign_before.status.as_str(),
            b_campaign_before.max_lines,
            b_campaign_before.updated_at
        ),
        "B's campaign is untouched"
    );
    assert!(
        app.store
            .is_dnc(&b.tenant_id, "+8613900139001")
            .await
            .expect("q"),
        "A removing the number from its list left B's"
    );
    let b_contacts = app
        .store
        .contacts(&b.tenant_id, &b.list_id, None, 10)
        .await
        .expect("contacts");
    assert_eq!(b_contacts.len(), 2, "A's import went to A's own list");
    let b_agent = app
        .store
        .user(&b.tenant_id, &b.agent_id)
        .await
        .expect("q")
        .expect("u");
    assert!(!b_agent.disabled);
    assert_eq!(b_agent.display_name, "beta-agent");
    let token = app
        .store
        .api_token(&b.tenant_id, &b.token_id)
        .await
        .expect("q")
        .expect("t");
    assert!(token.revoked_at.is_none());
    app.login("beta", "beta-agent").await; // password unchanged
    let r = Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&b.token_secret)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let _ = (&a.admin_id, &a.slug, &b.admin_id);
}

#[tokio::test]
async fn each_role_gets_exactly_the_routes_its_permissions_allow() {
    let app = TestApp::start().await;
    let w = world(&app, "acme").await;
    for role in Role::ALL {
        let client = app.login("acme", &format!("acme-{}", role.as_str())).await;
        for r in ROUTES {
            let Some(Some(permission)) = r.auth else {
                continue;
            };
            // Reading oneself is allowed without users.view.
            if r.path == "/api/v1/users/{id}" && r.method == "GET" {
                continue;
            }
            let before = app.audit_count(&w.tenant_id).await;
            let path = concrete(r.path, &w);
            let (status, body) =
                call(&client, &app, r.method, &path, body_for(r, &w).as_ref()).await;
            if permission.granted_to(role) {
                assert_ne!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} {} {path}: {body}",
                    r.method
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} {} {path}: {body}",
                    r.method
                );
                assert_eq!(body["error"]["code"], "forbidden");
                // The refusal is audited.
                let latest = app
                    .store
                    .audit_entries(
                        &w.tenant_id,
                        &store::AuditQuery {
                            limit: 1,
                            ..Default::default()
                        },
                    )
                    .await
                    .expect("audit");
                assert_eq!(app.audit_count(&w.tenant_id).await, before + 1);
                assert_eq!(latest[0].action, "access.denied");
                assert_eq!(latest[0].outcome, "denied");
                assert_eq!(
                    latest[0].actor_name.as_deref(),
                    Some(format!("acme-{}", role.as_str()).as_str())
                );
            }
        }
    }
    // Everyone may read themselves.
    let agent = app.login("acme", "acme-agent").await;
    assert_eq!(
        call(
            &agent,
            &app,
            "GET",
            &format!("/api/v1/users/{}", w.agent_id),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &agent,
            &app,
            "GET",
            &format!("/api/v1/users/{}", w.admin_id),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn every_state_changing_route_writes_an_audit_entry() {
    // A fresh login per route: more routes than the default per-IP login limit.
    let app = TestApp::start_with(|c| c.auth.login_attempts_per_minute = 10_000).await;
    let w = world(&app, "acme").await;
    let mut covered = 0;
    for r in ROUTES
        .iter()
        .filter(|r| r.changes_state && r.auth.is_some())
    {
        // A fresh session per call: logout would end a shared one.
        let admin: Client = app.login("acme", "acme-admin").await;
        // Each call needs a live target: revoke a fresh token, not a used one;
        // upload a changed document (an identical one is not a change).
        let mut body = body_for(r, &w);
        if r.body == Some("UploadScript") {
            body = Some(json!({ "source": format!("{MINI_SCRIPT}# changed\n") }));
        } else if r.body == Some("UploadKnowledgeBase") {
            body = Some(json!({ "source": format!("{MINI_KB}# changed\n") }));
        }
        let path = if r.path == "/api/v1/tokens/{id}" {
            let (_, t) = call(
                &admin,
                &app,
                "POST",
                "/api/v1/tokens",
                Some(&json!({ "name": "to revoke" })),
            )
            .await;
            format!("/api/v1/tokens/{}", t["token"]["id"].as_str().expect("id"))
        } else {
            concrete(r.path, &w)
        };
        let before = app.audit_count(&w.tenant_id).await;
        let (status, body) = call(&admin, &app, r.method, &path, body.as_ref()).await;
        assert!(status.is_success(), "{} {path}: {status} {body}", r.method);
        let entries = app
            .store
            .audit_entries(
                &w.tenant_id,
                &store::AuditQuery {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await
            .expect("audit");
        assert_eq!(
            app.audit_count(&w.tenant_id).await,
            before + 1,
            "{} {path} wrote no audit entry",
            r.method
        );
        let e = &entries[0];
        assert_eq!(e.outcome, "ok");
        assert_eq!(e.actor_name.as_deref(), Some("acme-admin"));
        assert_eq!(e.client_ip.as_deref(), Some("127.0.0.1"));
        assert!(
            e.request_id.is_some(),
            "{} {path}: audit entry without request id",
            r.method
        );
        covered += 1;
    }
    assert!(covered >= 9, "only {covered} state-changing routes covered");
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_or_disabled() {
    let app = TestApp::start().await;
    let t = app.tenant("acme").await;
    let boss = app.user(&t, "boss", Role::Admin).await;
    let client = app.login("acme", "boss").await;
    for change in [json!({ "role": "agent" }), json!({ "disabled": true })] {
        let (status, body) = call(
            &client,
            &app,
            "PATCH",
            &format!("/api/v1/users/{boss}"),
            Some(&change),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }
    let second = app.user(&t, "second", Role::Admin).await;
    let (status, _) = call(
        &client,
        &app,
        "PATCH",
        &format!("/api/v1/users/{second}"),
        Some(&json!({ "role": "analyst" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, me) = call(&client, &app, "GET", "/api/v1/me", None).await;
    assert_eq!(me["user"]["role"], "admin");
}
