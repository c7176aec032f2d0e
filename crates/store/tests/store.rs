//! Store behaviour against a real SQLite file in a temporary directory.

use serde_json::json;
use store::{
    AuditQuery, NewAuditEntry, NewConversation, NewUser, Role, Store, StoreError, UserUpdate,
};

async fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).await.expect("open");
    (dir, store)
}

#[tokio::test]
async fn migrations_apply_on_an_empty_database_and_are_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_without_migrating(dir.path())
        .await
        .expect("open");
    let before = store.migration_status().await.expect("status");
    assert!(before.iter().all(|m| m.applied_at.is_none()));
    assert_eq!(
        store.migrate().await.expect("migrate"),
        store::MIGRATIONS.len()
    );
    assert_eq!(store.migrate().await.expect("migrate again"), 0);
    let after = store.migration_status().await.expect("status");
    assert!(after.iter().all(|m| m.applied_at.is_some()));
    assert!(store.tenants().await.expect("tenants").is_empty());
}

#[tokio::test]
async fn reopening_an_existing_database_keeps_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).await.expect("open");
        store
            .create_tenant("acme", "Acme", 1)
            .await
            .expect("tenant");
        store.close().await;
    }
    let store = Store::open(dir.path()).await.expect("reopen");
    let tenants = store.tenants().await.expect("tenants");
    assert_eq!(tenants.len(), 1);
    assert_eq!(tenants[0].slug, "acme");
}

#[tokio::test]
async fn an_older_database_is_upgraded_in_place_keeping_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let old = Store::open_without_migrating(dir.path())
            .await
            .expect("open");
        assert_eq!(old.migrate_to(1).await.expect("v1"), 1);
        // Rows as the first release wrote them: plain SQL against its schema,
        // since today's repositories read columns that schema lacks.
        for sql in [
            "INSERT INTO tenants (id, slug, name, created_at) VALUES ('t1', 'acme', 'Acme', 1)",
            "INSERT INTO conversations (id, tenant_id, channel, created_at, last_seq, metadata) VALUES ('c1', 't1', 'web', 1, 1, '{}')",
            "INSERT INTO conversation_events (conversation_id, seq, tenant_id, at, kind, payload) VALUES ('c1', 1, 't1', 2, 'user_said', '{\"text\":\"旧数据\"}')",
        ] {
            sqlx::query(sql).execute(old.pool()).await.expect(sql);
        }
        let status = old.migration_status().await.expect("status");
        assert!(
            status.iter().any(|m| m.applied_at.is_none()),
            "a later migration is pending"
        );
        old.close().await;
    }
    let store = Store::open(dir.path()).await.expect("upgrade");
    assert!(
        store
            .migration_status()
            .await
            .expect("status")
            .iter()
            .all(|m| m.applied_at.is_some())
    );
    let t = store
        .tenant_by_slug("acme")
        .await
        .expect("q")
        .expect("tenant kept");
    let convs = store.conversations(&t.id, 10).await.expect("list");
    let events = store
        .events(&t.id, &convs[0].id, 0, 10)
        .await
        .expect("e")
        .expect("c");
    assert_eq!(events[0].payload["text"], "旧数据");
    // And the new tables work on the upgraded database.
    store
        .put_document(&t.id, store::DocumentKind::Script, "s", "x", None, 3)
        .await
        .expect("new table");
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused_with_a_clear_error() {
    let (dir, store) = fresh().await;
    sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (999, 'from_the_future', 'x', 0)")
        .execute(store.pool())
        .await
        .expect("insert");
    store.close().await;
    let err = Store::open(dir.path()).await.expect_err("must refuse");
    assert!(
        matches!(err, StoreError::UnknownMigration { version: 999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer version"), "{err}");
}

#[tokio::test]
async fn an_edited_migration_is_detected() {
    let (dir, store) = fresh().await;
    sqlx::query("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1")
        .execute(store.pool())
        .await
        .expect("update");
    store.close().await;
    let err = Store::open(dir.path()).await.expect_err("must refuse");
    assert!(
        matches!(err, StoreError::ChangedMigration { version: 1, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn duplicate_tenant_and_user_names_are_conflicts() {
    let (_dir, store) = fresh().await;
    let t = store
        .create_tenant("acme", "Acme", 1)
        .await
        .expect("tenant");
    assert!(matches!(
        store.create_tenant("acme", "Other", 2).await,
        Err(StoreError::Conflict { .. })
    ));
    let new = |name| NewUser {
        tenant_id: &t.id,
        username: name,
        display_name: name,
        role: Role::Agent,
        password_hash: "h",
    };
    store.create_user(new("li"), 1).await.expect("user");
    assert!(matches!(
        store.create_user(new("li"), 2).await,
        Err(StoreError::Conflict { .. })
    ));
}

#[tokio::test]
async fn rows_of_one_tenant_are_invisible_to_another() {
    let (_dir, store) = fresh().await;
    let a = store.create_tenant("a", "A", 1).await.expect("a");
    let b = store.create_tenant("b", "B", 1).await.expect("b");
    let user = store
        .create_user(
            NewUser {
                tenant_id: &a.id,
                username: "wang",
                display_name: "王",
                role: Role::Admin,
                password_hash: "h",
            },
            1,
        )
        .await
        .expect("user");
    let conv = store
        .create_conversation(
            NewConversation {
                tenant_id: &a.id,
                channel: "web",
                external_ref: None,
                metadata: &json!({}),
            },
            1,
        )
        .await
        .expect("conv");
    assert!(store.user(&b.id, &user.id).await.expect("query").is_none());
    assert!(
        store
            .conversation(&b.id, &conv.id)
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        store
            .append_event(&b.id, &conv.id, "x", &json!({}), 2)
            .await
            .expect("append")
            .is_none()
    );
    assert!(
        store
            .events(&b.id, &conv.id, 0, 10)
            .await
            .expect("events")
            .is_none()
    );
    assert!(
        store
            .update_user(
                &b.id,
                &user.id,
                &UserUpdate {
                    disabled: Some(true),
                    ..Default::default()
                },
                2
            )
            .await
            .expect("update")
            .is_none()
    );
    assert!(
        !store
            .set_password(&b.id, &user.id, "x", 2)
            .await
            .expect("set")
    );
    // And A's rows were not changed by those attempts.
    let still = store
        .user(&a.id, &user.id)
        .await
        .expect("query")
        .expect("exists");
    assert!(!still.disabled);
    assert_eq!(still.password_hash, "h");
    assert_eq!(
        store
            .conversation(&a.id, &conv.id)
            .await
            .expect("q")
            .expect("c")
            .last_seq,
        0
    );
}

#[tokio::test]
async fn events_are_numbered_without_gaps_even_when_appended_concurrently() {
    let (_dir, store) = fresh().await;
    let t = store.create_tenant("t", "T", 1).await.expect("tenant");
    let conv = store
        .create_conversation(
            NewConversation {
                tenant_id: &t.id,
                channel: "phone",
                external_ref: Some("call-1"),
                metadata: &json!({"k": 1}),
            },
            1,
        )
        .await
        .expect("conv");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        let tid = t.id.clone();
        let cid = conv.id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_event(&tid, &cid, "user_said", &json!({"i": i}), 10 + i)
                .await
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("append").expect("exists");
    }
    let events = store
        .events(&t.id, &conv.id, 0, 1000)
        .await
        .expect("events")
        .expect("exists");
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    let mut seen: Vec<i64> = events
        .iter()
        .map(|e| e.payload["i"].as_i64().expect("i"))
        .collect();
    seen.sort();
    assert_eq!(seen, (0..40).collect::<Vec<_>>());
    let after = store
        .events(&t.id, &conv.id, 38, 10)
        .await
        .expect("events")
        .expect("exists");
    assert_eq!(
        after.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![39, 40]
    );
}

#[tokio::test]
async fn the_event_log_and_audit_log_refuse_updates_and_deletes() {
    let (_dir, store) = fresh().await;
    let t = store.create_tenant("t", "T", 1).await.expect("tenant");
    let conv = store
        .create_conversation(
            NewConversation {
                tenant_id: &t.id,
                channel: "web",
                external_ref: None,
                metadata: &json!({}),
            },
            1,
        )
        .await
        .expect("conv");
    store
        .append_event(&t.id, &conv.id, "k", &json!({"a": 1}), 2)
        .await
        .expect("append");
    store
        .append_audit(
            &NewAuditEntry {
                tenant_id: Some(t.id.clone()),
                actor_kind: "system".into(),
                action: "x".into(),
                outcome: "ok".into(),
                ..Default::default()
            },
            3,
        )
        .await
        .expect("audit");
    for sql in [
        "UPDATE conversation_events SET payload = '{}'",
        "DELETE FROM conversation_events",
        "UPDATE audit_log SET action = 'y'",
        "DELETE FROM audit_log",
    ] {
        let err = sqlx::query(sql).execute(store.pool()).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(
        store
            .events(&t.id, &conv.id, 0, 10)
            .await
            .expect("e")
            .expect("c")
            .len(),
        1
    );
    assert_eq!(
        store
            .audit_entries(
                &t.id,
                &AuditQuery {
                    limit: 10,
                    ..Default::default()
                }
            )
            .await
            .expect("a")
            .len(),
        1
    );
}

#[tokio::test]
async fn lockout_counts_failures_and_success_resets() {
    let (_dir, store) = fresh().await;
    let t = store.create_tenant("t", "T", 1).await.expect("tenant");
    let u = store
        .create_user(
            NewUser {
                tenant_id: &t.id,
                username: "u",
                display_name: "u",
                role: Role::Agent,
                password_hash: "h",
            },
            1,
        )
        .await
        .expect("user");
    assert_eq!(
        store.record_login_failure(&u.id, 3, 500).await.expect("f"),
        1
    );
    assert_eq!(
        store.record_login_failure(&u.id, 3, 500).await.expect("f"),
        2
    );
    assert_eq!(
        store
            .user(&t.id, &u.id)
            .await
            .expect("q")
            .expect("u")
            .locked_until,
        None
    );
    assert_eq!(
        store.record_login_failure(&u.id, 3, 500).await.expect("f"),
        3
    );
    assert_eq!(
        store
            .user(&t.id, &u.id)
            .await
            .expect("q")
            .expect("u")
            .locked_until,
        Some(500)
    );
    store.record_login_success(&u.id).await.expect("ok");
    let u2 = store.user(&t.id, &u.id).await.expect("q").expect("u");
    assert_eq!((u2.failed_logins, u2.locked_until), (0, None));
}

#[tokio::test]
async fn documents_are_versioned_idempotent_and_immutable() {
    use store::DocumentKind::{KnowledgeBase, Script};
    let (_dir, store) = fresh().await;
    let t = store.create_tenant("t", "T", 1).await.expect("tenant");
    let other = store.create_tenant("o", "O", 1).await.expect("tenant");
    let (v1, new1) = store
        .put_document(&t.id, Script, "sales", "a: 1", Some("boss"), 10)
        .await
        .expect("v1");
    let (same, new_again) = store
        .put_document(&t.id, Script, "sales", "a: 1", Some("boss"), 11)
        .await
        .expect("same");
    let (v2, new2) = store
        .put_document(&t.id, Script, "sales", "a: 2", None, 12)
        .await
        .expect("v2");
    assert!(new1 && !new_again && new2);
    assert_eq!(
        (v1.version, same.id.clone(), v2.version),
        (1, v1.id.clone(), 2)
    );
    // Same name, other kind or other tenant: independent numbering.
    let (kb, _) = store
        .put_document(&t.id, KnowledgeBase, "sales", "[]", None, 13)
        .await
        .expect("kb");
    let (o, _) = store
        .put_document(&other.id, Script, "sales", "x", None, 13)
        .await
        .expect("o");
    assert_eq!((kb.version, o.version), (1, 1));

    assert_eq!(
        store
            .document(&t.id, Script, "sales", None)
            .await
            .expect("q")
            .expect("d")
            .source,
        "a: 2"
    );
    assert_eq!(
        store
            .document(&t.id, Script, "sales", Some(1))
            .await
            .expect("q")
            .expect("d")
            .source,
        "a: 1"
    );
    assert!(
        store
            .document(&t.id, Script, "sales", Some(3))
            .await
            .expect("q")
            .is_none()
    );
    assert!(
        store
            .document_by_id(&other.id, &v1.id)
            .await
            .expect("q")
            .is_none()
    );
    let versions = store
        .document_versions(&t.id, Script, Some("sales"))
        .await
        .expect("list");
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(versions[0].bytes, 4);

    let err = sqlx::query("UPDATE bot_documents SET source = 'x'")
        .execute(store.pool())
        .await
        .expect_err("immutable");
    assert!(err.to_string().contains("immutable"), "{err}");
}

#[tokio::test]
async fn channels_are_per_tenant_and_deliveries_are_taken_once() {
    let (_dir, store) = fresh().await;
    let t = store.create_tenant("t", "T", 1).await.expect("tenant");
    let o = store.create_tenant("o", "O", 1).await.expect("tenant");
    let (c, created) = store
        .put_channel(&t.id, "gzh", "wechat", &json!({"token": "a"}), 10)
        .await
        .expect("put");
    assert!(created);
    let (c2, created) = store
        .put_channel(&t.id, "gzh", "wechat", &json!({"token": "b"}), 11)
        .await
        .expect("update");
    assert!(!created);
    assert_eq!(
        (c2.id.clone(), c2.settings["token"].as_str()),
        (c.id.clone(), Some("b"))
    );
    assert!(store.channel(&o.id, "gzh").await.expect("q").is_none());
    assert!(matches!(
        store
            .put_channel(&t.id, "gzh", "other", &json!({}), 12)
            .await,
        Err(StoreError::Database(_) | StoreError::Conflict { .. })
    ));

    assert!(
        store
            .first_delivery(&c.id, "msg:1", 100)
            .await
            .expect("first")
    );
    assert!(
        !store
            .first_delivery(&c.id, "msg:1", 105)
            .await
            .expect("retry")
    );
    assert!(
        store
            .first_delivery(&c.id, "msg:2", 106)
            .await
            .expect("other")
    );
    assert_eq!(store.purge_deliveries(101).await.expect("purge"), 1);
    assert!(
        store
            .first_delivery(&c.id, "msg:1", 200)
            .await
            .expect("forgotten")
    );

    let empty = json!({});
    let conv = |r: &'static str| NewConversation {
        tenant_id: &t.id,
        channel: "wechat",
        external_ref: Some(r),
        metadata: &empty,
    };
    let first = store
        .create_conversation(conv("openid-1"), 1)
        .await
        .expect("c");
    let second = store
        .create_conversation(conv("openid-1"), 2)
        .await
        .expect("c");
    store
        .create_conversation(conv("openid-2"), 3)
        .await
        .expect("c");
    let latest = store
        .latest_conversation_by_ref(&t.id, "wechat", "openid-1")
        .await
        .expect("q")
        .expect("found");
    assert_eq!(latest.id, second.id);
    assert_ne!(latest.id, first.id);
    assert!(
        store
            .latest_conversation_by_ref(&o.id, "wechat", "openid-1")
            .await
            .expect("q")
            .is_none()
    );
}

#[tokio::test]
async fn a_delivery_and_its_turn_commit_together_or_not_at_all() {
    use store::Appended;
    let (_dir, store) = fresh().await;
    let t = store.create_tenant("t", "T", 1).await.expect("tenant");
    let (ch, _) = store
        .put_channel(&t.id, "site", "web", &json!({}), 1)
        .await
        .expect("channel");
    let empty = json!({});
    let conv = store
        .create_conversation(
            NewConversation {
                tenant_id: &t.id,
                channel: "web",
                external_ref: None,
                metadata: &empty,
            },
            1,
        )
        .await
        .expect("conv");
    let turn = vec![
        ("event.user_said".to_string(), json!({"text": "你好"})),
        ("action.say".to_string(), json!({"text": "您好"})),
    ];
    let first = store
        .append_events_once(&t.id, &conv.id, &turn, Some((&ch.id, "v:1")), 2)
        .await
        .expect("first");
    assert!(matches!(first, Appended::Records(ref r) if r.len() == 2));
    let again = store
        .append_events_once(&t.id, &conv.id, &turn, Some((&ch.id, "v:1")), 3)
        .await
        .expect("again");
    assert_eq!(again, Appended::Duplicate);
    assert_eq!(
        store
            .events(&t.id, &conv.id, 0, 10)
            .await
            .expect("e")
            .expect("c")
            .len(),
        2,
        "the retry appended nothing"
    );
    // A failed append leaves no delivery record behind, so a retry is still new.
    let lost = store
        .append_events_once(
            &t.id,
            "no-such-conversation",
            &turn,
            Some((&ch.id, "v:2")),
            4,
        )
        .await
        .expect("lost");
    assert_eq!(lost, Appended::NoConversation);
    assert!(
        store
            .first_delivery(&ch.id, "v:2", 5)
            .await
            .expect("delivery"),
        "v:2 was not recorded"
    );
}

/// Migration 11 rebuilds the channel tables to admit trunks: channels and
/// their delivery records from before survive it unchanged.
#[tokio::test]
async fn channels_and_deliveries_survive_the_trunk_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let old = Store::open_without_migrating(dir.path())
            .await
            .expect("open");
        old.migrate_to(9).await.expect("v9");
        for sql in [
            "INSERT INTO tenants (id, slug, name, created_at) VALUES ('t1', 'acme', 'Acme', 1)",
            "INSERT INTO channels (id, tenant_id, name, kind, settings, created_at, updated_at) VALUES ('ch1', 't1', 'gzh', 'wechat', '{\"token\":\"abc\"}', 1, 2)",
            "INSERT INTO channel_deliveries (channel_id, key, at) VALUES ('ch1', 'msg-1', 3)",
        ] {
            sqlx::query(sql).execute(old.pool()).await.expect(sql);
        }
        let refused = sqlx::query(
            "INSERT INTO channels (id, tenant_id, name, kind, settings, created_at, updated_at) VALUES ('ch2', 't1', 'carrier', 'sip', '{}', 1, 1)",
        )
        .execute(old.pool())
        .await;
        assert!(refused.is_err(), "before 11, a trunk is not a channel kind");
        old.close().await;
    }
    let store = Store::open(dir.path()).await.expect("upgrade");
    let c = store.channel("t1", "gzh").await.expect("db").expect("kept");
    assert_eq!((c.id.as_str(), c.kind.as_str()), ("ch1", "wechat"));
    assert_eq!(c.settings["token"], "abc");
    assert!(store.delivery_seen("ch1", "msg-1").await.expect("db"));
    let (trunk, created) = store
        .put_channel("t1", "carrier", "sip", &serde_json::json!({"host": "h"}), 5)
        .await
        .expect("a trunk is a channel now");
    assert!(created);
    assert_eq!(
        store.channels_of_kind("sip").await.expect("db")[0].id,
        trunk.id
    );
    // Deleting a channel takes its delivery records with it.
    assert!(
        store
            .delete_channel("t1", "gzh")
            .await
            .expect("db")
            .is_some()
    );
    assert!(!store.delivery_seen("ch1", "msg-1").await.expect("db"));
    assert!(
        store
            .delete_channel("t1", "gzh")
            .await
            .expect("db")
            .is_none()
    );
}
