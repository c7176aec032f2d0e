use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Conversation, Store, StoreError, new_id};

/// A way to recognise a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A phone number in E.164 (+8613800138000).
    Phone,
    /// A WeChat openid.
    Wechat,
    /// The business's own customer id.
    Crm,
    /// A web chat visitor (a hash of the browser's token).
    Web,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Phone => "phone",
            IdentityKind::Wechat => "wechat",
            IdentityKind::Crm => "crm",
            IdentityKind::Web => "web",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            IdentityKind::Phone,
            IdentityKind::Wechat,
            IdentityKind::Crm,
            IdentityKind::Web,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub id: String,
    pub tenant_id: String,
    pub name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub identities: Vec<Identity>,
}

fn row_to_identity(r: &SqliteRow) -> Result<Identity, StoreError> {
    let kind: String = r.try_get("kind")?;
    Ok(Identity {
        kind: IdentityKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("identity kind '{kind}'")))?,
        value: r.try_get("value")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// The customer recognised by this identity, created (with the identity)
    /// when there is none yet. Safe against two channels racing to create.
    pub async fn customer_for(
        &self,
        tenant_id: &str,
        kind: IdentityKind,
        value: &str,
        now: i64,
    ) -> Result<Customer, StoreError> {
        if let Some(id) = self.customer_id_by_identity(tenant_id, kind, value).await? {
            return self
                .customer(tenant_id, &id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: format!("customer {id}"),
                });
        }
        let id = new_id();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO customers (id, tenant_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        )
        .bind(&id)
        .bind(tenant_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let linked = sqlx::query(
            "INSERT INTO customer_identities (tenant_id, kind, value, customer_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(kind.as_str())
        .bind(value)
        .bind(&id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if linked.rows_affected() == 0 {
            // Someone else just created this customer: use theirs.
            tx.rollback().await?;
            let existing = self
                .customer_id_by_identity(tenant_id, kind, value)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "customer".into(),
                })?;
            return self.customer(tenant_id, &existing).await?.ok_or_else(|| {
                StoreError::NotFound {
                    what: format!("customer {existing}"),
                }
            });
        }
        tx.commit().await?;
        self.customer(tenant_id, &id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("customer {id}"),
            })
    }

    /// The customer known by this identity, if any.
    pub async fn find_customer(
        &self,
        tenant_id: &str,
        kind: IdentityKind,
        value: &str,
    ) -> Result<Option<Customer>, StoreError> {
        match self.customer_id_by_identity(tenant_id, kind, value).await? {
            Some(id) => self.customer(tenant_id, &id).await,
            None => Ok(None),
        }
    }

    async fn customer_id_by_identity(
        &self,
        tenant_id: &str,
        kind: IdentityKind,
        value: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT customer_id FROM customer_identities WHERE tenant_id = ?1 AND kind = ?2 AND value = ?3")
            .bind(tenant_id)
            .bind(kind.as_str())
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("customer_id")).transpose()?)
    }

    pub async fn customer(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<Customer>, StoreError> {
        let row = sqlx::query("SELECT * FROM customers WHERE tenant_id = ?1 AND id = ?2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let identities = sqlx::query(
            "SELECT kind, value, created_at FROM customer_identities WHERE tenant_id = ?1 AND customer_id = ?2 ORDER BY created_at, kind",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(row_to_identity)
        .collect::<Result<_, _>>()?;
        Ok(Some(Customer {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            identities,
        }))
    }

    /// Adds an identity to a customer. `Conflict` when it already belongs to
    /// another customer (merging two people is a decision for a person).
    pub async fn link_identity(
        &self,
        tenant_id: &str,
        customer_id: &str,
        kind: IdentityKind,
        value: &str,
        now: i64,
    ) -> Result<Customer, StoreError> {
        if self.customer(tenant_id, customer_id).await?.is_none() {
            return Err(StoreError::NotFound {
                what: format!("customer {customer_id}"),
            });
        }
        match self.customer_id_by_identity(tenant_id, kind, value).await? {
            Some(owner) if owner == customer_id => {}
            Some(_) => {
                return Err(StoreError::Conflict {
                    what: format!("{} {value} (it belongs to another customer)", kind.as_str()),
                });
            }
            None => {
                sqlx::query(
                    "INSERT INTO customer_identities (tenant_id, kind, value, customer_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .bind(tenant_id)
                .bind(kind.as_str())
                .bind(value)
                .bind(customer_id)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(|e| StoreError::conflict_or(e, format!("{} {value}", kind.as_str())))?;
                sqlx::query(
                    "UPDATE customers SET updated_at = ?3 WHERE tenant_id = ?1 AND id = ?2",
                )
                .bind(tenant_id)
                .bind(customer_id)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
        }
        self.customer(tenant_id, customer_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("customer {customer_id}"),
            })
    }

    /// Attaches a conversation to its customer.
    pub async fn set_conversation_customer(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        customer_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE conversations SET customer_id = ?3 WHERE tenant_id = ?1 AND id = ?2")
            .bind(tenant_id)
            .bind(conversation_id)
            .bind(customer_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A customer's conversations on every channel, newest first.
    pub async fn customer_conversations(
        &self,
        tenant_id: &str,
        customer_id: &str,
        limit: i64,
    ) -> Result<Vec<Conversation>, StoreError> {
        let rows = sqlx::query("SELECT * FROM conversations WHERE tenant_id = ?1 AND customer_id = ?2 ORDER BY id DESC LIMIT ?3")
            .bind(tenant_id)
            .bind(customer_id)
            .bind(limit.clamp(1, 1000))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(crate::conversations::row_to_conversation)
            .collect()
    }
}
