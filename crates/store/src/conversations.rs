use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Store, StoreError, new_id};

/// A conversation on any channel. Its content lives in the event log.
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    pub id: String,
    pub tenant_id: String,
    /// `phone`, `web`, `wechat`, `api`, ...
    pub channel: String,
    /// The channel's own id for it (a SIP Call-ID, a WeChat openid, ...).
    pub external_ref: Option<String>,
    pub created_at: i64,
    /// Sequence number of the last event; 0 when there is none.
    pub last_seq: i64,
    /// The customer this conversation is with, once recognised.
    pub customer_id: Option<String>,
    pub metadata: serde_json::Value,
    /// The engine's phase after the last turn (`active`, `transferring`,
    /// `with_agent`, `ended`); `None` before the first hosted turn or for a
    /// conversation nobody hosts.
    pub phase: Option<String>,
    /// When the last entry was appended (ms); `None` while the log is empty.
    pub last_event_at: Option<i64>,
}

pub struct NewConversation<'a> {
    pub tenant_id: &'a str,
    pub channel: &'a str,
    pub external_ref: Option<&'a str>,
    pub metadata: &'a serde_json::Value,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq)]
pub enum Appended {
    Records(Vec<EventRecord>),
    /// The tenant has no such conversation.
    NoConversation,
    /// The delivery was recorded before: nothing appended.
    Duplicate,
}

/// One entry of a conversation's event log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventRecord {
    pub conversation_id: String,
    /// 1, 2, 3, ... without gaps within a conversation.
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub payload: serde_json::Value,
}

pub(crate) fn row_to_conversation(r: &SqliteRow) -> Result<Conversation, StoreError> {
    let metadata: String = r.try_get("metadata")?;
    Ok(Conversation {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        channel: r.try_get("channel")?,
        external_ref: r.try_get("external_ref")?,
        created_at: r.try_get("created_at")?,
        last_seq: r.try_get("last_seq")?,
        customer_id: r.try_get("customer_id")?,
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| StoreError::Corrupt(format!("conversation metadata is not JSON: {e}")))?,
        phase: r.try_get("phase")?,
        last_event_at: r.try_get("last_event_at")?,
    })
}

fn row_to_event(r: &SqliteRow) -> Result<EventRecord, StoreError> {
    let payload: String = r.try_get("payload")?;
    Ok(EventRecord {
        conversation_id: r.try_get("conversation_id")?,
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        kind: r.try_get("kind")?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("event payload is not JSON: {e}")))?,
    })
}

impl Store {
    pub async fn create_conversation(
        &self,
        new: NewConversation<'_>,
        now: i64,
    ) -> Result<Conversation, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO conversations (id, tenant_id, channel, external_ref, created_at, metadata)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&id)
        .bind(new.tenant_id)
        .bind(new.channel)
        .bind(new.external_ref)
        .bind(now)
        .bind(new.metadata.to_string())
        .execute(&self.pool)
        .await?;
        self.conversation(new.tenant_id, &id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("conversation {id}"),
            })
    }

    pub async fn conversation(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        let row = sqlx::query("SELECT * FROM conversations WHERE tenant_id = ?1 AND id = ?2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_conversation).transpose()
    }

    /// Conversations of a tenant, newest first.
    /// The tenant's conversations that have not ended and had something
    /// appended since `since` (ms), most recently active first.
    pub async fn live_conversations(
        &self,
        tenant_id: &str,
        since: i64,
        limit: i64,
    ) -> Result<Vec<Conversation>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM conversations
             WHERE tenant_id = ?1 AND last_event_at >= ?2 AND coalesce(phase, '') <> 'ended'
             ORDER BY last_event_at DESC LIMIT ?3",
        )
        .bind(tenant_id)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_conversation).collect()
    }

    /// Every tenant's conversations of these channels in `phase` (after
    /// their last turn), active since `since`: what a restarted server must
    /// pick up again (a chat waiting for a person has a timer running).
    pub async fn conversations_in_phase(
        &self,
        phase: &str,
        channels: &[&str],
        since: i64,
    ) -> Result<Vec<Conversation>, StoreError> {
        let channels = serde_json::to_string(channels)
            .map_err(|e| StoreError::Corrupt(format!("channel list: {e}")))?;
        let rows = sqlx::query(
            "SELECT * FROM conversations
             WHERE phase = ?1 AND last_event_at >= ?2
               AND channel IN (SELECT value FROM json_each(?3))
             ORDER BY last_event_at LIMIT 10000",
        )
        .bind(phase)
        .bind(since)
        .bind(channels)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_conversation).collect()
    }

    pub async fn conversations(
        &self,
        tenant_id: &str,
        limit: i64,
    ) -> Result<Vec<Conversation>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM conversations WHERE tenant_id = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .bind(tenant_id)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_conversation).collect()
    }

    /// Appends one event and returns it with its sequence number. The event is
    /// durable when this returns `Ok` (see the crate's invariants), so a
    /// channel may act on it afterwards. `None` when the tenant has no such
    /// conversation.
    pub async fn append_event(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        kind: &str,
        payload: &serde_json::Value,
        now: i64,
    ) -> Result<Option<EventRecord>, StoreError> {
        let batch = [(kind.to_string(), payload.clone())];
        let appended = self
            .append_events(tenant_id, conversation_id, &batch, now)
            .await?;
        Ok(appended.and_then(|mut v| v.pop()))
    }

    /// Appends several entries in one transaction (one fsync): all or none.
    /// They get consecutive sequence numbers in the order given.
    pub async fn append_events(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        entries: &[(String, serde_json::Value)],
        now: i64,
    ) -> Result<Option<Vec<EventRecord>>, StoreError> {
        match self
            .append_events_once(tenant_id, conversation_id, entries, None, now)
            .await?
        {
            Appended::Records(r) => Ok(Some(r)),
            Appended::NoConversation | Appended::Duplicate => Ok(None),
        }
    }

    /// As [`Store::append_events`], and records the channel delivery
    /// `(channel_id, key)` in the same transaction: a delivery seen before
    /// appends nothing (`Duplicate`). One commit does both, so a retried
    /// message can neither be lost nor answered twice.
    pub async fn append_events_once(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        entries: &[(String, serde_json::Value)],
        delivery: Option<(&str, &str)>,
        now: i64,
    ) -> Result<Appended, StoreError> {
        self.append_turn(tenant_id, conversation_id, entries, delivery, None, now)
            .await
    }

    /// As [`Store::append_events_once`], also recording the engine's `phase`
    /// after this turn on the conversation, in the same transaction.
    pub async fn append_turn(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        entries: &[(String, serde_json::Value)],
        delivery: Option<(&str, &str)>,
        phase: Option<&str>,
        now: i64,
    ) -> Result<Appended, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some((channel_id, key)) = delivery {
            let first = sqlx::query(
                "INSERT INTO channel_deliveries (channel_id, key, at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            )
            .bind(channel_id)
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if first.rows_affected() == 0 {
                return Ok(Appended::Duplicate);
            }
        }
        // Taking the numbers by bumping the conversation row serialises
        // concurrent appenders on that row, so numbers never repeat or skip.
        let row = sqlx::query(
            "UPDATE conversations SET last_seq = last_seq + ?3, last_event_at = ?4, phase = coalesce(?5, phase)
             WHERE tenant_id = ?1 AND id = ?2 RETURNING last_seq",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(entries.len() as i64)
        .bind(now)
        .bind(phase)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Appended::NoConversation);
        };
        let last: i64 = row.try_get("last_seq")?;
        let first = last - entries.len() as i64 + 1;
        // One statement for all entries, however many: every statement is a
        // round trip to SQLite's worker thread, and a turn writes 5-10 entries.
        let rows: Vec<(&str, String)> = entries
            .iter()
            .map(|(kind, payload)| (kind.as_str(), payload.to_string()))
            .collect();
        let rows = serde_json::to_string(&rows)
            .map_err(|e| StoreError::Corrupt(format!("event entries: {e}")))?;
        sqlx::query(
            "INSERT INTO conversation_events (conversation_id, seq, tenant_id, at, kind, payload)
             SELECT ?1, ?2 + CAST(key AS INTEGER), ?3, ?4, json_extract(value, '$[0]'), json_extract(value, '$[1]')
             FROM json_each(?5)",
        )
        .bind(conversation_id)
        .bind(first)
        .bind(tenant_id)
        .bind(now)
        .bind(rows)
        .execute(&mut *tx)
        .await?;
        let records = entries
            .iter()
            .enumerate()
            .map(|(i, (kind, payload))| EventRecord {
                conversation_id: conversation_id.to_string(),
                seq: first + i as i64,
                at: now,
                kind: kind.clone(),
                payload: payload.clone(),
            })
            .collect();
        tx.commit().await?;
        Ok(Appended::Records(records))
    }

    /// Events of a conversation after `after_seq`, in order. `None` when the
    /// tenant has no such conversation.
    pub async fn events(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Option<Vec<EventRecord>>, StoreError> {
        if self
            .conversation(tenant_id, conversation_id)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT conversation_id, seq, at, kind, payload FROM conversation_events
             WHERE tenant_id = ?1 AND conversation_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(after_seq)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(row_to_event)
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}
