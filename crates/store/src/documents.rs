use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Store, StoreError, new_id};

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// A sales or service script (话术), YAML or JSON.
    Script,
    /// A FAQ knowledge base, YAML or JSON Lines.
    KnowledgeBase,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Script => "script",
            DocumentKind::KnowledgeBase => "knowledge_base",
        }
    }
}

/// One version of a document, with its text.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub id: String,
    pub kind: DocumentKind,
    pub name: String,
    pub version: i64,
    pub source: String,
    pub sha256: String,
    pub created_at: i64,
    pub created_by: Option<String>,
}

/// One version of a document, without its text (for lists).
#[derive(Debug, Clone, Serialize)]
pub struct DocumentSummary {
    pub id: String,
    pub kind: DocumentKind,
    pub name: String,
    pub version: i64,
    pub sha256: String,
    pub bytes: i64,
    pub created_at: i64,
    pub created_by: Option<String>,
}

fn kind_of(s: &str) -> Result<DocumentKind, StoreError> {
    match s {
        "script" => Ok(DocumentKind::Script),
        "knowledge_base" => Ok(DocumentKind::KnowledgeBase),
        other => Err(StoreError::Corrupt(format!(
            "unknown document kind '{other}'"
        ))),
    }
}

fn row_to_document(r: &SqliteRow) -> Result<Document, StoreError> {
    let kind: String = r.try_get("kind")?;
    Ok(Document {
        id: r.try_get("id")?,
        kind: kind_of(&kind)?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        source: r.try_get("source")?,
        sha256: r.try_get("sha256")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

fn row_to_summary(r: &SqliteRow) -> Result<DocumentSummary, StoreError> {
    let kind: String = r.try_get("kind")?;
    Ok(DocumentSummary {
        id: r.try_get("id")?,
        kind: kind_of(&kind)?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        sha256: r.try_get("sha256")?,
        bytes: r.try_get("bytes")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

/// SHA-256 of a document's text, hex.
pub fn content_hash(source: &str) -> String {
    Sha256::digest(source.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// Stores `source` as the next version of `name`, unless it is identical
    /// to the latest version, which is then returned unchanged (so uploading
    /// the same file twice does not make a new version). The bool says whether
    /// a new version was created.
    pub async fn put_document(
        &self,
        tenant_id: &str,
        kind: DocumentKind,
        name: &str,
        source: &str,
        created_by: Option<&str>,
        now: i64,
    ) -> Result<(Document, bool), StoreError> {
        let sha = content_hash(source);
        if let Some(latest) = self.document(tenant_id, kind, name, None).await?
            && latest.sha256 == sha
        {
            return Ok((latest, false));
        }
        let id = new_id();
        // The version is computed inside the INSERT, and the UNIQUE constraint
        // turns a race between two uploads into a conflict, never a duplicate.
        sqlx::query(
            "INSERT INTO bot_documents (id, tenant_id, kind, name, version, source, sha256, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4,
                     (SELECT COALESCE(MAX(version), 0) + 1 FROM bot_documents WHERE tenant_id = ?2 AND kind = ?3 AND name = ?4),
                     ?5, ?6, ?7, ?8)",
        )
        .bind(&id)
        .bind(tenant_id)
        .bind(kind.as_str())
        .bind(name)
        .bind(source)
        .bind(&sha)
        .bind(now)
        .bind(created_by)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("a concurrent upload of {name}")))?;
        let doc =
            self.document_by_id(tenant_id, &id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: format!("document {id}"),
                })?;
        Ok((doc, true))
    }

    /// A version of a named document; the latest when `version` is `None`.
    pub async fn document(
        &self,
        tenant_id: &str,
        kind: DocumentKind,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<Document>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM bot_documents WHERE tenant_id = ?1 AND kind = ?2 AND name = ?3 AND (?4 IS NULL OR version = ?4)
             ORDER BY version DESC LIMIT 1",
        )
        .bind(tenant_id)
        .bind(kind.as_str())
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_to_document).transpose()
    }

    pub async fn document_by_id(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<Document>, StoreError> {
        let row = sqlx::query("SELECT * FROM bot_documents WHERE tenant_id = ?1 AND id = ?2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_document).transpose()
    }

    /// Every version of every document of a kind (or of one name), newest
    /// version first within a name.
    pub async fn document_versions(
        &self,
        tenant_id: &str,
        kind: DocumentKind,
        name: Option<&str>,
    ) -> Result<Vec<DocumentSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, name, version, sha256, LENGTH(CAST(source AS BLOB)) AS bytes, created_at, created_by
             FROM bot_documents WHERE tenant_id = ?1 AND kind = ?2 AND (?3 IS NULL OR name = ?3)
             ORDER BY name, version DESC",
        )
        .bind(tenant_id)
        .bind(kind.as_str())
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_summary).collect()
    }
}
