use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Store, StoreError, new_id};

/// A customer organisation. Every other row belongs to exactly one tenant.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    /// Short, URL-safe name people type at login, e.g. `demo`.
    pub slug: String,
    pub name: String,
    pub created_at: i64,
}

fn row_to_tenant(r: &SqliteRow) -> Result<Tenant, sqlx::Error> {
    Ok(Tenant {
        id: r.try_get("id")?,
        slug: r.try_get("slug")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    pub async fn create_tenant(
        &self,
        slug: &str,
        name: &str,
        now: i64,
    ) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: new_id(),
            slug: slug.to_string(),
            name: name.to_string(),
            created_at: now,
        };
        sqlx::query("INSERT INTO tenants (id, slug, name, created_at) VALUES (?1, ?2, ?3, ?4)")
            .bind(&tenant.id)
            .bind(&tenant.slug)
            .bind(&tenant.name)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::conflict_or(e, format!("tenant '{slug}'")))?;
        Ok(tenant)
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE slug = ?1")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(row_to_tenant).transpose()?)
    }

    pub async fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(row_to_tenant).transpose()?)
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query("SELECT id, slug, name, created_at FROM tenants ORDER BY slug")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(row_to_tenant).collect::<Result<_, _>>()?)
    }
}
