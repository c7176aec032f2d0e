//! The campaign queue on a real SQLite file: claims are atomic under
//! concurrent claimers on separate connections, walk the index, and a result
//! is recorded at most once.

use std::collections::HashSet;

use serde_json::json;
use store::{AttemptResult, ClaimDecision, NewCampaign, NewContact, NextStep, Store};

async fn campaign_with(store: &Store, contacts: usize) -> store::Campaign {
    let t = store
        .create_tenant("acme", "Acme", 0)
        .await
        .expect("tenant");
    let list = store
        .ensure_contact_list(&t.id, "l", 0)
        .await
        .expect("list");
    let rows: Vec<NewContact> = (0..contacts)
        .map(|i| NewContact {
            number: format!("+86138{i:08}"),
            name: None,
            variables: Default::default(),
            utc_offset: None,
        })
        .collect();
    store
        .import_contacts(&t.id, &list.id, &rows, 0)
        .await
        .expect("import");
    let c = store
        .create_campaign(
            &NewCampaign {
                tenant_id: t.id.clone(),
                name: "c".into(),
                script_name: "s".into(),
                script_version: 1,
                list_id: list.id.clone(),
                trunk: "t".into(),
                caller_id: None,
                max_lines: 10,
                settings: json!({}),
            },
            0,
        )
        .await
        .expect("campaign");
    assert_eq!(
        store
            .enqueue_campaign_contacts(&c, 480, 0)
            .await
            .expect("enqueue"),
        contacts as u64
    );
    assert_eq!(
        store
            .enqueue_campaign_contacts(&c, 480, 0)
            .await
            .expect("again"),
        0
    );
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_get_the_same_contact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).await.expect("open");
    let c = campaign_with(&store, 600).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        // Separate pools: as separate processes would be.
        let s = Store::open(dir.path()).await.expect("open");
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claims = s
                    .claim_due(&c, 1, 7, &[480], None, |_| ClaimDecision::Dial)
                    .await
                    .expect("claim");
                if claims.is_empty() {
                    break;
                }
                mine.extend(claims.into_iter().map(|c| (c.contact_id, c.attempt_id)));
            }
            mine
        }));
    }
    let mut contacts = HashSet::new();
    let mut attempts = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for (contact, attempt) in t.await.expect("task") {
            contacts.insert(contact);
            attempts.insert(attempt);
            total += 1;
        }
    }
    assert_eq!(total, 600);
    assert_eq!(contacts.len(), 600, "a contact was claimed twice");
    assert_eq!(attempts.len(), 600);
    assert_eq!(store.open_attempts().await.expect("open").len(), 600);
}

#[tokio::test]
async fn claims_use_the_queue_index_and_results_are_recorded_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).await.expect("open");
    let c = campaign_with(&store, 5).await;
    // The claim's inner SELECT walks the (campaign, state, next_at) index:
    // no scan of the queue, no sort, however many contacts it holds.
    let plan: Vec<String> = sqlx::query(
        "EXPLAIN QUERY PLAN SELECT contact_id FROM campaign_contacts
         WHERE campaign_id = 'x' AND state = 'pending' AND next_at <= 5 ORDER BY next_at LIMIT 5",
    )
    .fetch_all(store.pool())
    .await
    .expect("plan")
    .iter()
    .map(|r| sqlx::Row::try_get::<String, _>(r, "detail").expect("detail"))
    .collect();
    let plan = plan.join(" | ");
    assert!(plan.contains("campaign_contacts_due"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "no sort: {plan}");

    // Offsets outside the open set are not claimed.
    let none = store
        .claim_due(&c, 1, 5, &[540], None, |_| ClaimDecision::Dial)
        .await
        .expect("claim");
    assert!(none.is_empty());
    let mut decisions = vec![
        ClaimDecision::Dial,
        ClaimDecision::Skip {
            outcome: "dnc".into(),
        },
        ClaimDecision::Defer { until: 100 },
        ClaimDecision::Dial,
        ClaimDecision::Dial,
    ]
    .into_iter();
    let claims = store
        .claim_due(&c, 1, 5, &[480], None, |_| {
            decisions.next().expect("decision")
        })
        .await
        .expect("claim");
    assert_eq!(claims.len(), 3);
    let result = AttemptResult {
        outcome: "busy".into(),
        ..AttemptResult::default()
    };
    let tenant = &c.tenant_id;
    let first = &claims[0].attempt_id;
    assert!(
        store
            .finish_attempt(tenant, first, &result, NextStep::RetryAt(50), &[], false, 2)
            .await
            .expect("finish")
    );
    assert!(
        !store
            .finish_attempt(tenant, first, &result, NextStep::Done, &[], true, 3)
            .await
            .expect("again"),
        "a second result changes nothing"
    );
    assert!(!store.is_dnc(tenant, &claims[0].number).await.expect("q"));
    assert!(
        !store
            .finish_attempt(
                "another-tenant",
                &claims[1].attempt_id,
                &result,
                NextStep::Done,
                &[],
                false,
                3
            )
            .await
            .expect("other tenant")
    );
    // Due again at 50 (the retry) and at 100 (the deferred one), in that order.
    assert!(
        store
            .claim_due(&c, 49, 5, &[480], None, |_| ClaimDecision::Dial)
            .await
            .expect("claim")
            .is_empty()
    );
    let retry = store
        .claim_due(&c, 100, 5, &[480], None, |_| ClaimDecision::Dial)
        .await
        .expect("claim");
    assert_eq!(retry.len(), 2);
    assert_eq!(retry[0].attempt_no, 2, "the busy contact's second attempt");
    assert_eq!(retry[1].attempt_no, 1, "a deferral is not an attempt");
    let p = store
        .campaign_progress(tenant, &c.id)
        .await
        .expect("progress");
    assert_eq!((p.contacts, p.pending, p.dialing, p.done), (5, 0, 4, 1));
    assert_eq!(p.outcomes.get("dnc"), Some(&1));
}
