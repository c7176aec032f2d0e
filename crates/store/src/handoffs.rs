//! Agents and handoffs: who can take a conversation the robot handed over,
//! and which conversations wait for (or are with) a person.
//!
//! Routing is done here, inside one write transaction, so two nodes (or two
//! requests) can never give the same conversation to two agents or push an
//! agent past their `max_chats`.

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Store, StoreError, new_id};

/// An agent's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Takes new conversations.
    Available,
    /// Keeps their conversations, takes no new ones.
    Busy,
    /// Not at the desk.
    Away,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Available => "available",
            AgentStatus::Busy => "busy",
            AgentStatus::Away => "away",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "available" => Ok(AgentStatus::Available),
            "busy" => Ok(AgentStatus::Busy),
            "away" => Ok(AgentStatus::Away),
            other => Err(StoreError::Corrupt(format!("agent status {other}"))),
        }
    }
}

/// An agent (a user who handles conversations) with their routing state.
#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub status: AgentStatus,
    /// Queues served; empty serves every queue.
    pub skills: Vec<String>,
    pub max_chats: i64,
    pub status_at: i64,
    pub idle_since: i64,
    /// Conversations assigned to them now.
    pub active: i64,
}

/// Where a handoff is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffState {
    Waiting,
    Assigned,
    Closed,
}

impl HandoffState {
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "waiting" => Ok(HandoffState::Waiting),
            "assigned" => Ok(HandoffState::Assigned),
            "closed" => Ok(HandoffState::Closed),
            other => Err(StoreError::Corrupt(format!("handoff state {other}"))),
        }
    }
}

/// A conversation handed to a human queue.
#[derive(Debug, Clone, Serialize)]
pub struct Handoff {
    pub id: String,
    pub tenant_id: String,
    pub conversation_id: String,
    pub queue: String,
    pub reason: String,
    pub state: HandoffState,
    pub agent_id: Option<String>,
    pub created_at: i64,
    pub assigned_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub disposition: Option<String>,
    /// The conversation's channel (lists of open handoffs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The conversation's customer (lists of open handoffs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

fn row_to_handoff(r: &SqliteRow) -> Result<Handoff, StoreError> {
    let state: String = r.try_get("state")?;
    Ok(Handoff {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        conversation_id: r.try_get("conversation_id")?,
        queue: r.try_get("queue")?,
        reason: r.try_get("reason")?,
        state: HandoffState::parse(&state)?,
        agent_id: r.try_get("agent_id")?,
        created_at: r.try_get("created_at")?,
        assigned_at: r.try_get("assigned_at")?,
        closed_at: r.try_get("closed_at")?,
        disposition: r.try_get("disposition")?,
        channel: r.try_get("channel").ok(),
        customer_id: r.try_get("customer_id").ok().flatten(),
    })
}

fn row_to_agent(r: &SqliteRow) -> Result<Agent, StoreError> {
    let status: String = r.try_get("status")?;
    let skills: String = r.try_get("skills")?;
    Ok(Agent {
        user_id: r.try_get("user_id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        status: AgentStatus::parse(&status)?,
        skills: serde_json::from_str(&skills)
            .map_err(|e| StoreError::Corrupt(format!("agent skills: {e}")))?,
        max_chats: r.try_get("max_chats")?,
        status_at: r.try_get("status_at")?,
        idle_since: r.try_get("idle_since")?,
        active: r.try_get("active")?,
    })
}

const AGENT_SELECT: &str = "SELECT a.user_id, u.username, u.display_name, a.status, a.skills, a.max_chats,
        a.status_at, a.idle_since,
        (SELECT COUNT(*) FROM handoffs h WHERE h.agent_id = a.user_id AND h.state = 'assigned') AS active
     FROM agents a JOIN users u ON u.id = a.user_id";

const HANDOFF_COLUMNS: &str = "id, tenant_id, conversation_id, queue, reason, state, agent_id, created_at, assigned_at, closed_at, disposition";

impl Store {
    /// Sets an agent's presence (and, when given, skills and capacity);
    /// creates the agent record on first use.
    pub async fn set_agent(
        &self,
        tenant_id: &str,
        user_id: &str,
        status: AgentStatus,
        skills: Option<&[String]>,
        max_chats: Option<i64>,
        now: i64,
    ) -> Result<Agent, StoreError> {
        let skills = skills
            .map(|s| serde_json::to_string(s).unwrap_or_else(|_| "[]".into()))
            .unwrap_or_else(|| "[]".into());
        let skills_given = i64::from(skills != "[]");
        sqlx::query(
            "INSERT INTO agents (tenant_id, user_id, status, skills, max_chats, status_at, idle_since)
             VALUES (?1, ?2, ?3, ?4, COALESCE(?5, 3), ?6, ?6)
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET
               status = excluded.status,
               skills = CASE WHEN ?7 = 1 THEN excluded.skills ELSE agents.skills END,
               max_chats = COALESCE(?5, agents.max_chats),
               status_at = CASE WHEN agents.status = excluded.status THEN agents.status_at ELSE excluded.status_at END,
               idle_since = CASE WHEN agents.status <> 'available' AND excluded.status = 'available'
                                 THEN excluded.status_at ELSE agents.idle_since END",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(status.as_str())
        .bind(&skills)
        .bind(max_chats)
        .bind(now)
        .bind(skills_given)
        .execute(&self.pool)
        .await?;
        self.agent(tenant_id, user_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "agent".into(),
            })
    }

    pub async fn agent(&self, tenant_id: &str, user_id: &str) -> Result<Option<Agent>, StoreError> {
        let sql = format!("{AGENT_SELECT} WHERE a.tenant_id = ?1 AND a.user_id = ?2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_agent).transpose()
    }

    /// The tenant's agents, by name.
    pub async fn agents(&self, tenant_id: &str) -> Result<Vec<Agent>, StoreError> {
        let sql = format!("{AGENT_SELECT} WHERE a.tenant_id = ?1 ORDER BY u.username");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_agent).collect()
    }

    /// Puts a conversation in a queue; the open handoff it already has,
    /// if any (a script may ask twice).
    pub async fn open_handoff(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        queue: &str,
        reason: &str,
        now: i64,
    ) -> Result<Handoff, StoreError> {
        sqlx::query(
            "INSERT INTO handoffs (id, tenant_id, conversation_id, queue, reason, state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'waiting', ?6) ON CONFLICT DO NOTHING",
        )
        .bind(new_id())
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(queue)
        .bind(reason)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.open_handoff_of(tenant_id, conversation_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "handoff".into(),
            })
    }

    /// The open (waiting or assigned) handoff of a conversation.
    pub async fn open_handoff_of(
        &self,
        tenant_id: &str,
        conversation_id: &str,
    ) -> Result<Option<Handoff>, StoreError> {
        let sql = format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE tenant_id = ?1 AND conversation_id = ?2 AND state <> 'closed'"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(conversation_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_handoff).transpose()
    }

    pub async fn handoff(&self, tenant_id: &str, id: &str) -> Result<Option<Handoff>, StoreError> {
        let sql =
            format!("SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE tenant_id = ?1 AND id = ?2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_handoff).transpose()
    }

    /// Open handoffs (waiting first, oldest first, then assigned), at most
    /// `limit`, with their conversation's channel and customer.
    pub async fn open_handoffs(
        &self,
        tenant_id: &str,
        limit: i64,
    ) -> Result<Vec<Handoff>, StoreError> {
        let sql =
            "SELECT h.id, h.tenant_id, h.conversation_id, h.queue, h.reason, h.state, h.agent_id,
                h.created_at, h.assigned_at, h.closed_at, h.disposition, c.channel, c.customer_id
             FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
             WHERE h.tenant_id = ?1 AND h.state <> 'closed'
             ORDER BY h.state = 'assigned', h.created_at, h.id LIMIT ?2";
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(limit.clamp(1, 1000))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_handoff).collect()
    }

    /// How many wait before this one in its queue (0: it is next).
    pub async fn queue_position(&self, handoff: &Handoff) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM handoffs WHERE tenant_id = ?1 AND queue = ?2 AND state = 'waiting'
             AND (created_at < ?3 OR (created_at = ?3 AND id < ?4))",
        )
        .bind(&handoff.tenant_id)
        .bind(&handoff.queue)
        .bind(handoff.created_at)
        .bind(&handoff.id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Gives waiting conversations, oldest first, to the longest-idle
    /// available agent who serves their queue and has room; returns the
    /// handoffs assigned. One transaction: no conversation goes to two
    /// agents, no agent goes past `max_chats`.
    pub async fn route_waiting(
        &self,
        tenant_id: &str,
        now: i64,
    ) -> Result<Vec<Handoff>, StoreError> {
        self.route_waiting_where(tenant_id, now, |_, _| true).await
    }

    /// [`Store::route_waiting`], giving a handoff only to agents `eligible`
    /// accepts for it (a phone call needs an agent whose phone is
    /// registered; the handoff carries its conversation's channel).
    pub async fn route_waiting_where(
        &self,
        tenant_id: &str,
        now: i64,
        eligible: impl Fn(&Handoff, &Agent) -> bool + Send,
    ) -> Result<Vec<Handoff>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Take the write lock first, so concurrent routers queue up here.
        sqlx::query("UPDATE agents SET max_chats = max_chats WHERE tenant_id = ?1 AND 0")
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        let sql =
            "SELECT h.id, h.tenant_id, h.conversation_id, h.queue, h.reason, h.state, h.agent_id,
                h.created_at, h.assigned_at, h.closed_at, h.disposition, c.channel, c.customer_id
             FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
             WHERE h.tenant_id = ?1 AND h.state = 'waiting' ORDER BY h.created_at, h.id LIMIT 200";
        let waiting = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(row_to_handoff)
            .collect::<Result<Vec<_>, _>>()?;
        if waiting.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("{AGENT_SELECT} WHERE a.tenant_id = ?1 AND a.status = 'available'");
        let mut agents = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(row_to_agent)
            .collect::<Result<Vec<_>, _>>()?;
        let mut assigned = Vec::new();
        for mut h in waiting {
            let pick = agents
                .iter_mut()
                .filter(|a| a.active < a.max_chats)
                .filter(|a| a.skills.is_empty() || a.skills.iter().any(|s| s == &h.queue))
                .filter(|a| eligible(&h, a))
                .min_by(|a, b| (a.idle_since, &a.user_id).cmp(&(b.idle_since, &b.user_id)));
            let Some(agent) = pick else { continue };
            agent.active += 1;
            // The one just given work is no longer the longest idle.
            agent.idle_since = now;
            sqlx::query(
                "UPDATE handoffs SET state = 'assigned', agent_id = ?2, assigned_at = ?3 WHERE id = ?1 AND state = 'waiting'",
            )
            .bind(&h.id)
            .bind(&agent.user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE agents SET idle_since = ?3 WHERE tenant_id = ?1 AND user_id = ?2")
                .bind(tenant_id)
                .bind(&agent.user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            h.state = HandoffState::Assigned;
            h.agent_id = Some(agent.user_id.clone());
            h.assigned_at = Some(now);
            assigned.push(h);
        }
        tx.commit().await?;
        Ok(assigned)
    }

    /// Gives a handoff to this agent: a waiting one (taking it from the
    /// queue), or, with `force`, one assigned to someone else (a
    /// supervisor's transfer). `None` when it is not open (or not waiting
    /// and not forced).
    pub async fn assign_handoff(
        &self,
        tenant_id: &str,
        id: &str,
        agent_id: &str,
        force: bool,
        now: i64,
    ) -> Result<Option<Handoff>, StoreError> {
        let done = sqlx::query(
            "UPDATE handoffs SET state = 'assigned', agent_id = ?3, assigned_at = ?4
             WHERE tenant_id = ?1 AND id = ?2 AND (state = 'waiting' OR (?5 = 1 AND state = 'assigned'))",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(agent_id)
        .bind(now)
        .bind(i64::from(force))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.handoff(tenant_id, id).await
    }

    /// Puts an assigned handoff back in its queue (the agent's phone did not
    /// answer): waiting again, at its old place, for routing to try someone
    /// else. `None` when it is no longer assigned to `agent_id`.
    pub async fn release_handoff(
        &self,
        tenant_id: &str,
        id: &str,
        agent_id: &str,
    ) -> Result<Option<Handoff>, StoreError> {
        let done = sqlx::query(
            "UPDATE handoffs SET state = 'waiting', agent_id = NULL, assigned_at = NULL
             WHERE tenant_id = ?1 AND id = ?2 AND state = 'assigned' AND agent_id = ?3",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(agent_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.handoff(tenant_id, id).await
    }

    /// Closes an open handoff with the agent's disposition; the agent's
    /// idle time starts again.
    pub async fn close_handoff(
        &self,
        tenant_id: &str,
        id: &str,
        disposition: &str,
        now: i64,
    ) -> Result<Option<Handoff>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let closed = sqlx::query(
            "UPDATE handoffs SET state = 'closed', closed_at = ?3, disposition = ?4
             WHERE tenant_id = ?1 AND id = ?2 AND state <> 'closed' RETURNING agent_id",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(now)
        .bind(disposition)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = closed else {
            return Ok(None);
        };
        let agent: Option<String> = row.try_get("agent_id")?;
        if let Some(agent) = agent {
            sqlx::query(
                "UPDATE agents SET idle_since = ?3 WHERE tenant_id = ?1 AND user_id = ?2
                 AND NOT EXISTS (SELECT 1 FROM handoffs WHERE agent_id = ?2 AND state = 'assigned')",
            )
            .bind(tenant_id)
            .bind(&agent)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.handoff(tenant_id, id).await
    }
}
