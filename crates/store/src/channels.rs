use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Store, StoreError, new_id};

/// A way customers reach a tenant's robot, with its settings.
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// `wechat`, `web` or `sip` (a carrier trunk).
    pub kind: String,
    /// Includes secrets; callers must mask them before showing.
    pub settings: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

fn row_to_channel(r: &SqliteRow) -> Result<Channel, StoreError> {
    let settings: String = r.try_get("settings")?;
    Ok(Channel {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(format!("channel settings are not JSON: {e}")))?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Creates or replaces a channel's settings; returns it and whether it is new.
    pub async fn put_channel(
        &self,
        tenant_id: &str,
        name: &str,
        kind: &str,
        settings: &serde_json::Value,
        now: i64,
    ) -> Result<(Channel, bool), StoreError> {
        let existing = self.channel(tenant_id, name).await?;
        match &existing {
            Some(c) if c.kind != kind => {
                return Err(StoreError::Conflict {
                    what: format!("channel '{name}' of another kind"),
                });
            }
            Some(_) => {
                sqlx::query("UPDATE channels SET settings = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND name = ?2")
                    .bind(tenant_id)
                    .bind(name)
                    .bind(settings.to_string())
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO channels (id, tenant_id, name, kind, settings, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                )
                .bind(new_id())
                .bind(tenant_id)
                .bind(name)
                .bind(kind)
                .bind(settings.to_string())
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(|e| StoreError::conflict_or(e, format!("channel '{name}'")))?;
            }
        }
        let channel = self
            .channel(tenant_id, name)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("channel {name}"),
            })?;
        Ok((channel, existing.is_none()))
    }

    pub async fn channel(
        &self,
        tenant_id: &str,
        name: &str,
    ) -> Result<Option<Channel>, StoreError> {
        let row = sqlx::query("SELECT * FROM channels WHERE tenant_id = ?1 AND name = ?2")
            .bind(tenant_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_channel).transpose()
    }

    pub async fn channels(&self, tenant_id: &str) -> Result<Vec<Channel>, StoreError> {
        let rows = sqlx::query("SELECT * FROM channels WHERE tenant_id = ?1 ORDER BY name")
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_channel).collect()
    }

    /// Every tenant's channels of one kind (the phone channel finds the trunk
    /// a dialled number belongs to, and which trunks to register).
    pub async fn channels_of_kind(&self, kind: &str) -> Result<Vec<Channel>, StoreError> {
        let rows = sqlx::query("SELECT * FROM channels WHERE kind = ?1 ORDER BY tenant_id, name")
            .bind(kind)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_channel).collect()
    }

    /// Deletes a channel; `None` when it does not exist. Its delivery
    /// records go with it.
    pub async fn delete_channel(
        &self,
        tenant_id: &str,
        name: &str,
    ) -> Result<Option<Channel>, StoreError> {
        let Some(channel) = self.channel(tenant_id, name).await? else {
            return Ok(None);
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM channel_deliveries WHERE channel_id = ?1")
            .bind(&channel.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM channels WHERE id = ?1")
            .bind(&channel.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(channel))
    }

    /// Records a delivery; `true` the first time its key is seen on the
    /// channel, `false` for a retry or replay (on any node).
    pub async fn first_delivery(
        &self,
        channel_id: &str,
        key: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO channel_deliveries (channel_id, key, at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )
        .bind(channel_id)
        .bind(key)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether a delivery was handled already (without recording it): a
    /// cheap early answer for a retry; the record itself is written with the
    /// turn (`append_events_once`), so a failed turn leaves it unrecorded.
    pub async fn delivery_seen(&self, channel_id: &str, key: &str) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT 1 FROM channel_deliveries WHERE channel_id = ?1 AND key = ?2")
                .bind(channel_id)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Forgets deliveries recorded before `before` (platforms stop retrying
    /// within minutes); returns how many.
    pub async fn purge_deliveries(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM channel_deliveries WHERE at < ?1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The newest conversation of a channel with this external reference
    /// (a WeChat openid, ...).
    pub async fn latest_conversation_by_ref(
        &self,
        tenant_id: &str,
        channel: &str,
        external_ref: &str,
    ) -> Result<Option<crate::Conversation>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM conversations WHERE tenant_id = ?1 AND channel = ?2 AND external_ref = ?3 ORDER BY id DESC LIMIT 1",
        )
        .bind(tenant_id)
        .bind(channel)
        .bind(external_ref)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(crate::conversations::row_to_conversation)
            .transpose()
    }
}
