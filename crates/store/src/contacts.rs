//! Contact lists, their contacts, the do-not-call lists and the per-tenant
//! dialing policy (the frequency cap every campaign obeys).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Store, StoreError, new_id};

/// The scope of the global do-not-call list in `dnc_numbers.scope`.
pub const GLOBAL_DNC: &str = "*";

/// Rows written per transaction by an import: big enough to amortise the
/// fsync, small enough not to hold the write lock for long.
const IMPORT_BATCH: usize = 2_000;

#[derive(Debug, Clone, Serialize)]
pub struct ContactList {
    pub id: String,
    pub name: String,
    pub contacts: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A contact to import: the number already normalised to E.164.
#[derive(Debug, Clone, PartialEq)]
pub struct NewContact {
    pub number: String,
    pub name: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub utc_offset: Option<i32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub id: String,
    pub list_id: String,
    pub number: String,
    pub name: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub utc_offset: Option<i32>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DncEntry {
    /// `"tenant"` or `"global"`.
    pub scope: &'static str,
    pub number: String,
    /// `manual`, `import`, `api`, `conversation` (the callee asked), `cli`.
    pub source: String,
    pub reason: Option<String>,
    pub created_at: i64,
}

/// At most `max_calls` answered calls to one number per `window_ms`, counted
/// over every campaign of the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DialingPolicy {
    pub max_calls: i64,
    pub window_ms: i64,
}

fn row_to_contact(r: &SqliteRow) -> Result<Contact, StoreError> {
    let variables: String = r.try_get("variables")?;
    Ok(Contact {
        id: r.try_get("id")?,
        list_id: r.try_get("list_id")?,
        number: r.try_get("number")?,
        name: r.try_get("name")?,
        variables: serde_json::from_str(&variables)
            .map_err(|e| StoreError::Corrupt(format!("contact variables: {e}")))?,
        utc_offset: r.try_get("utc_offset")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn row_to_list(r: &SqliteRow) -> Result<ContactList, StoreError> {
    Ok(ContactList {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        contacts: r.try_get("contacts")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

macro_rules! list_select {
    ($where:literal) => {
        concat!(
            "SELECT l.id, l.name, l.created_at, l.updated_at,
            (SELECT COUNT(*) FROM contacts c WHERE c.list_id = l.id) AS contacts
            FROM contact_lists l ",
            $where
        )
    };
}

impl Store {
    /// The tenant's list called `name`, created when there is none.
    pub async fn ensure_contact_list(
        &self,
        tenant_id: &str,
        name: &str,
        now: i64,
    ) -> Result<ContactList, StoreError> {
        sqlx::query(
            "INSERT INTO contact_lists (id, tenant_id, name, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(new_id())
        .bind(tenant_id)
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.contact_list(tenant_id, name)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("contact list {name}"),
            })
    }

    /// A list by id or by name.
    pub async fn contact_list(
        &self,
        tenant_id: &str,
        id_or_name: &str,
    ) -> Result<Option<ContactList>, StoreError> {
        let row = sqlx::query(list_select!(
            "WHERE l.tenant_id = ?1 AND (l.id = ?2 OR l.name = ?2)"
        ))
        .bind(tenant_id)
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_to_list).transpose()
    }

    pub async fn contact_lists(&self, tenant_id: &str) -> Result<Vec<ContactList>, StoreError> {
        let rows = sqlx::query(list_select!("WHERE l.tenant_id = ?1 ORDER BY l.name"))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_list).collect()
    }

    /// Adds or updates contacts by number: importing the same rows again
    /// changes nothing (not even `updated_at`).
    pub async fn import_contacts(
        &self,
        tenant_id: &str,
        list_id: &str,
        contacts: &[NewContact],
        now: i64,
    ) -> Result<ImportCounts, StoreError> {
        let mut counts = ImportCounts::default();
        for batch in contacts.chunks(IMPORT_BATCH) {
            let mut tx = self.pool.begin().await?;
            for c in batch {
                let variables = serde_json::to_string(&c.variables)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let existing = sqlx::query(
                    "SELECT id, name, variables, utc_offset FROM contacts WHERE list_id = ?1 AND number = ?2",
                )
                .bind(list_id)
                .bind(&c.number)
                .fetch_optional(&mut *tx)
                .await?;
                match existing {
                    None => {
                        sqlx::query(
                            "INSERT INTO contacts (id, tenant_id, list_id, number, name, variables, utc_offset, created_at, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                        )
                        .bind(new_id())
                        .bind(tenant_id)
                        .bind(list_id)
                        .bind(&c.number)
                        .bind(&c.name)
                        .bind(&variables)
                        .bind(c.utc_offset)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        counts.inserted += 1;
                    }
                    Some(row) => {
                        let same = row.try_get::<Option<String>, _>("name")? == c.name
                            && row.try_get::<String, _>("variables")? == variables
                            && row.try_get::<Option<i32>, _>("utc_offset")? == c.utc_offset;
                        if same {
                            counts.unchanged += 1;
                            continue;
                        }
                        let id: String = row.try_get("id")?;
                        sqlx::query(
                            "UPDATE contacts SET name = ?2, variables = ?3, utc_offset = ?4, updated_at = ?5 WHERE id = ?1",
                        )
                        .bind(&id)
                        .bind(&c.name)
                        .bind(&variables)
                        .bind(c.utc_offset)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        counts.updated += 1;
                    }
                }
            }
            if counts.inserted + counts.updated > 0 {
                sqlx::query("UPDATE contact_lists SET updated_at = ?2 WHERE id = ?1")
                    .bind(list_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(counts)
    }

    /// Contacts of a list in id order, after `after` (keyset paging).
    pub async fn contacts(
        &self,
        tenant_id: &str,
        list_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Contact>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM contacts WHERE tenant_id = ?1 AND list_id = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
        )
        .bind(tenant_id)
        .bind(list_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_contact).collect()
    }

    /// Puts a number on the tenant's list (`tenant_id = None`: the global
    /// list). Returns false when it was already there.
    pub async fn add_dnc(
        &self,
        tenant_id: Option<&str>,
        number: &str,
        source: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO dnc_numbers (scope, number, source, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id.unwrap_or(GLOBAL_DNC))
        .bind(number)
        .bind(source)
        .bind(reason)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes a number off a list. Returns false when it was not on it.
    pub async fn remove_dnc(
        &self,
        tenant_id: Option<&str>,
        number: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM dnc_numbers WHERE scope = ?1 AND number = ?2")
            .bind(tenant_id.unwrap_or(GLOBAL_DNC))
            .bind(number)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The tenant's entries (`None`: the global list's), in number order.
    pub async fn dnc_entries(
        &self,
        tenant_id: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DncEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, source, reason, created_at FROM dnc_numbers WHERE scope = ?1 AND number > ?2 ORDER BY number LIMIT ?3",
        )
        .bind(tenant_id.unwrap_or(GLOBAL_DNC))
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DncEntry {
                    scope: if tenant_id.is_some() {
                        "tenant"
                    } else {
                        "global"
                    },
                    number: r.try_get("number")?,
                    source: r.try_get("source")?,
                    reason: r.try_get("reason")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Whether the tenant may not call this number (its own list or the global one).
    pub async fn is_dnc(&self, tenant_id: &str, number: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM dnc_numbers WHERE scope IN (?1, ?2) AND number = ?3 LIMIT 1",
        )
        .bind(tenant_id)
        .bind(GLOBAL_DNC)
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub async fn dialing_policy(
        &self,
        tenant_id: &str,
    ) -> Result<Option<DialingPolicy>, StoreError> {
        let row =
            sqlx::query("SELECT max_calls, window_ms FROM dialing_policies WHERE tenant_id = ?1")
                .bind(tenant_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(DialingPolicy {
                max_calls: r.try_get("max_calls")?,
                window_ms: r.try_get("window_ms")?,
            })
        })
        .transpose()
    }

    /// Sets (or with `None` removes) the tenant's frequency cap.
    pub async fn set_dialing_policy(
        &self,
        tenant_id: &str,
        policy: Option<DialingPolicy>,
        now: i64,
    ) -> Result<(), StoreError> {
        match policy {
            Some(p) => {
                sqlx::query(
                    "INSERT INTO dialing_policies (tenant_id, max_calls, window_ms, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant_id) DO UPDATE SET max_calls = ?2, window_ms = ?3, updated_at = ?4",
                )
                .bind(tenant_id)
                .bind(p.max_calls)
                .bind(p.window_ms)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM dialing_policies WHERE tenant_id = ?1")
                    .bind(tenant_id)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }
}
