//! Routing conversations the robot hands over to people: queues, skills,
//! capacity, the longest-idle agent first, and no double assignment.

use serde_json::json;
use store::{AgentStatus, HandoffState, NewConversation, NewUser, Role, Store};

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    tenant: String,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).await.expect("open");
    let tenant = store.create_tenant("shop", "Shop", 1).await.expect("t").id;
    World {
        _dir: dir,
        store,
        tenant,
    }
}

impl World {
    async fn agent(&self, name: &str, skills: &[&str], max: i64, now: i64) -> String {
        let user = self
            .store
            .create_user(
                NewUser {
                    tenant_id: &self.tenant,
                    username: name,
                    display_name: name,
                    role: Role::Agent,
                    password_hash: "h",
                },
                1,
            )
            .await
            .expect("user");
        let skills: Vec<String> = skills.iter().map(|s| s.to_string()).collect();
        self.store
            .set_agent(
                &self.tenant,
                &user.id,
                AgentStatus::Available,
                Some(&skills),
                Some(max),
                now,
            )
            .await
            .expect("agent");
        user.id
    }

    async fn waiting(&self, queue: &str, now: i64) -> String {
        let c = self
            .store
            .create_conversation(
                NewConversation {
                    tenant_id: &self.tenant,
                    channel: "web",
                    external_ref: None,
                    metadata: &json!({}),
                },
                now,
            )
            .await
            .expect("conversation");
        self.store
            .open_handoff(&self.tenant, &c.id, queue, "human", now)
            .await
            .expect("handoff")
            .id
    }
}

#[tokio::test]
async fn the_longest_idle_agent_with_the_skill_gets_the_oldest_conversation() {
    let w = world().await;
    let early = w.agent("early", &["售后"], 3, 100).await;
    let late = w.agent("late", &["售后"], 3, 200).await;
    let sales = w.agent("sales", &["销售"], 3, 50).await;
    let first = w.waiting("售后", 300).await;
    let second = w.waiting("售后", 301).await;
    let handoff = w
        .store
        .handoff(&w.tenant, &second)
        .await
        .expect("h")
        .expect("h");
    assert_eq!(w.store.queue_position(&handoff).await.expect("pos"), 1);

    let routed = w.store.route_waiting(&w.tenant, 400).await.expect("route");
    let by_id = |id: &str| {
        routed
            .iter()
            .find(|h| h.id == id)
            .and_then(|h| h.agent_id.clone())
    };
    // Idle since 100 beats idle since 200; the sales agent never gets after-sales work.
    assert_eq!(by_id(&first), Some(early.clone()));
    assert_eq!(by_id(&second), Some(late.clone()));
    assert!(
        routed
            .iter()
            .all(|h| h.agent_id.as_deref() != Some(sales.as_str()))
    );
    assert!(
        w.store
            .route_waiting(&w.tenant, 401)
            .await
            .expect("again")
            .is_empty()
    );

    // Closing gives the agent idle time from now: the other one is now longer idle.
    w.store
        .close_handoff(&w.tenant, &first, "resolved", 500)
        .await
        .expect("close")
        .expect("open");
    w.store
        .close_handoff(&w.tenant, &second, "resolved", 450)
        .await
        .expect("close")
        .expect("open");
    let third = w.waiting("售后", 600).await;
    let routed = w.store.route_waiting(&w.tenant, 700).await.expect("route");
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].id, third);
    assert_eq!(routed[0].agent_id.as_deref(), Some(late.as_str()));
    let closed = w
        .store
        .handoff(&w.tenant, &first)
        .await
        .expect("h")
        .expect("h");
    assert_eq!(
        (closed.state, closed.disposition.as_deref()),
        (HandoffState::Closed, Some("resolved"))
    );
}

#[tokio::test]
async fn capacity_presence_and_the_open_handoff_per_conversation_are_respected() {
    let w = world().await;
    let agent = w.agent("solo", &[], 2, 100).await;
    let ids = [
        w.waiting("任意", 200).await,
        w.waiting("任意", 201).await,
        w.waiting("任意", 202).await,
    ];
    let routed = w.store.route_waiting(&w.tenant, 300).await.expect("route");
    assert_eq!(routed.len(), 2, "max_chats 2");
    let a = w
        .store
        .agent(&w.tenant, &agent)
        .await
        .expect("a")
        .expect("a");
    assert_eq!(a.active, 2);
    // Away agents get nothing even with room.
    w.store
        .close_handoff(&w.tenant, &ids[0], "done", 310)
        .await
        .expect("close");
    w.store
        .set_agent(&w.tenant, &agent, AgentStatus::Away, None, None, 320)
        .await
        .expect("away");
    assert!(
        w.store
            .route_waiting(&w.tenant, 330)
            .await
            .expect("route")
            .is_empty()
    );
    let back = w
        .store
        .set_agent(&w.tenant, &agent, AgentStatus::Available, None, None, 340)
        .await
        .expect("back");
    assert_eq!(
        (back.max_chats, back.skills.len()),
        (2, 0),
        "kept when not given"
    );
    assert_eq!(
        w.store
            .route_waiting(&w.tenant, 350)
            .await
            .expect("route")
            .len(),
        1
    );

    // Asking twice for a person keeps one open handoff.
    let h = w
        .store
        .handoff(&w.tenant, &ids[2])
        .await
        .expect("h")
        .expect("h");
    let again = w
        .store
        .open_handoff(&w.tenant, &h.conversation_id, "其他", "anger", 400)
        .await
        .expect("again");
    assert_eq!(again.id, h.id);
    // A taken conversation cannot be taken again, except by force.
    let other = w.agent("other", &[], 3, 100).await;
    assert!(
        w.store
            .assign_handoff(&w.tenant, &h.id, &other, false, 410)
            .await
            .expect("take")
            .is_none()
    );
    let moved = w
        .store
        .assign_handoff(&w.tenant, &h.id, &other, true, 420)
        .await
        .expect("force")
        .expect("open");
    assert_eq!(moved.agent_id.as_deref(), Some(other.as_str()));
}

#[tokio::test]
async fn concurrent_routers_never_give_one_conversation_to_two_agents() {
    let w = world().await;
    for i in 0..6 {
        w.agent(&format!("a{i}"), &[], 1, 100 + i).await;
    }
    for i in 0..10 {
        w.waiting("q", 200 + i).await;
    }
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = w.store.clone();
        let tenant = w.tenant.clone();
        tasks.push(tokio::spawn(async move {
            store.route_waiting(&tenant, 300 + i).await
        }));
    }
    let mut assigned = Vec::new();
    for t in tasks {
        assigned.extend(t.await.expect("join").expect("route"));
    }
    assert_eq!(assigned.len(), 6, "six agents with room for one each");
    let mut ids: Vec<_> = assigned.iter().map(|h| h.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "no handoff assigned twice");
    let mut agents: Vec<_> = assigned.iter().filter_map(|h| h.agent_id.clone()).collect();
    agents.sort();
    agents.dedup();
    assert_eq!(agents.len(), 6, "no agent over capacity");
}

#[tokio::test]
async fn a_filter_keeps_a_handoff_from_agents_it_refuses_and_a_released_one_waits_again() {
    let w = world().await;
    let no_phone = w.agent("no_phone", &[], 3, 100).await;
    let with_phone = w.agent("with_phone", &[], 3, 200).await;
    let h = w.waiting("售后", 300).await;
    // `no_phone` is the longest idle, but the filter refuses them.
    let assigned = w
        .store
        .route_waiting_where(&w.tenant, 400, |handoff, agent| {
            assert_eq!(
                handoff.channel.as_deref(),
                Some("web"),
                "the channel is known"
            );
            agent.user_id != no_phone
        })
        .await
        .expect("route");
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0].agent_id.as_deref(), Some(with_phone.as_str()));
    // Another agent cannot release it; its own agent can.
    assert!(
        w.store
            .release_handoff(&w.tenant, &h, &no_phone)
            .await
            .expect("release")
            .is_none()
    );
    let back = w
        .store
        .release_handoff(&w.tenant, &h, &with_phone)
        .await
        .expect("release")
        .expect("released");
    assert_eq!(back.state, HandoffState::Waiting);
    assert_eq!(back.agent_id, None);
    // Nobody acceptable: it stays waiting.
    let none = w
        .store
        .route_waiting_where(&w.tenant, 500, |_, _| false)
        .await
        .expect("route");
    assert!(none.is_empty());
    // Phone accounts: the username is unique across the deployment.
    w.store
        .set_agent_phone(&w.tenant, &with_phone, "agent1", "tonghua", "ha1", 1)
        .await
        .expect("phone");
    let found = w
        .store
        .agent_phone_by_username("agent1")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.user_id, with_phone);
    assert!(matches!(
        w.store
            .set_agent_phone(&w.tenant, &no_phone, "agent1", "tonghua", "ha1", 1)
            .await,
        Err(store::StoreError::Conflict { .. })
    ));
}
