//! Scripts and knowledge bases: versioned uploads, validated before they are
//! stored, so a broken file never replaces a working one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use store::{Document, DocumentKind};

use crate::auth::{Caller, Permission};
use crate::bots;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::valid_name;
use crate::state::AppState;

/// Largest script or knowledge base accepted (the request body limit is the
/// outer bound; this one names the problem).
pub const MAX_DOCUMENT_BYTES: usize = 200 * 1024;

fn check_name(name: &str) -> ApiResult<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "名称应为 1 到 64 个字母、数字或 _ . -",
            "a name is 1-64 letters, digits or _ . -",
        ))
    }
}

fn not_found(kind: DocumentKind) -> ApiError {
    match kind {
        DocumentKind::Script => ApiError::not_found("话术", "script"),
        DocumentKind::KnowledgeBase => ApiError::not_found("知识库", "knowledge base"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    pub source: String,
}

#[derive(Debug, Deserialize)]
pub struct VersionParam {
    pub version: Option<i64>,
}

async fn list(
    state: &AppState,
    caller: &Caller,
    kind: DocumentKind,
) -> ApiResult<serde_json::Value> {
    caller.require(Permission::ViewBots)?;
    Ok(
        json!({ "documents": state.store().document_versions(&caller.tenant_id, kind, None).await? }),
    )
}

async fn get(
    state: &AppState,
    caller: &Caller,
    kind: DocumentKind,
    name: &str,
    version: Option<i64>,
) -> ApiResult<serde_json::Value> {
    caller.require(Permission::ViewBots)?;
    let doc = state
        .store()
        .document(&caller.tenant_id, kind, name, version)
        .await?
        .ok_or_else(|| not_found(kind))?;
    let versions = state
        .store()
        .document_versions(&caller.tenant_id, kind, Some(name))
        .await?;
    Ok(json!({ "document": doc, "versions": versions }))
}

async fn put(
    state: &AppState,
    caller: &Caller,
    kind: DocumentKind,
    name: &str,
    source: &str,
) -> ApiResult<(StatusCode, serde_json::Value)> {
    caller.require(Permission::ManageBots)?;
    check_name(name)?;
    if source.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::bad_request(
            format!("文件不能超过 {} KB", MAX_DOCUMENT_BYTES / 1024),
            format!("a document may be at most {} KB", MAX_DOCUMENT_BYTES / 1024),
        ));
    }
    let mut info = json!({});
    match kind {
        DocumentKind::Script => {
            // Validate against the knowledge base it names, when uploaded.
            let kb = match bots::referenced_knowledge_base(source, name) {
                Some(kb_name) => {
                    state
                        .store()
                        .document(
                            &caller.tenant_id,
                            DocumentKind::KnowledgeBase,
                            &kb_name,
                            None,
                        )
                        .await?
                }
                None => None,
            };
            let draft = Document {
                id: String::new(),
                kind,
                name: name.to_string(),
                version: 0,
                source: source.to_string(),
                sha256: String::new(),
                created_at: 0,
                created_by: None,
            };
            let bot = bots::compile(&draft, kb.as_ref()).await?;
            let misrouted = bot.misrouted_options();
            if !misrouted.is_empty() {
                let listed = misrouted
                    .iter()
                    .map(|(node, option)| format!("{node}: {option}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut e = ApiError::bad_request(
                    format!(
                        "这些快捷回复在所在节点无法被理解（会进入兜底），请为它们加分支或关键词：{listed}"
                    ),
                    format!(
                        "these quick replies are not understood at their own node (they would reach no_match); add a branch or keywords for them: {listed}"
                    ),
                );
                e.details = Some(Box::new(json!(
                    misrouted
                        .iter()
                        .map(|(node, option)| json!({ "node": node, "option": option }))
                        .collect::<Vec<_>>()
                )));
                return Err(e);
            }
            info["knowledge_base"] = json!(kb.map(|k| k.name));
        }
        DocumentKind::KnowledgeBase => {
            info["entries"] = json!(bots::check_knowledge_base(name, source).await?);
        }
    }
    let (doc, created) = state
        .store()
        .put_document(
            &caller.tenant_id,
            kind,
            name,
            source,
            Some(&caller.username),
            state.now_ms(),
        )
        .await?;
    if created {
        let action = match kind {
            DocumentKind::Script => "script.upload",
            DocumentKind::KnowledgeBase => "knowledge_base.upload",
        };
        state
            .audit(
                caller,
                action,
                Some(&doc.id),
                json!({ "name": doc.name, "version": doc.version, "sha256": doc.sha256 }),
            )
            .await?;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let summary = json!({
        "id": doc.id, "kind": doc.kind, "name": doc.name, "version": doc.version,
        "sha256": doc.sha256, "created_at": doc.created_at, "created_by": doc.created_by,
    });
    Ok((
        status,
        json!({ "document": summary, "created": created, "checked": info }),
    ))
}

pub async fn list_scripts(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(list(&state, &caller, DocumentKind::Script).await?))
}

pub async fn get_script(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(v): Query<VersionParam>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        get(&state, &caller, DocumentKind::Script, &name, v.version).await?,
    ))
}

pub async fn put_script(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<Upload>,
) -> ApiResult<impl IntoResponse> {
    let (status, body) = put(&state, &caller, DocumentKind::Script, &name, &body.source).await?;
    Ok((status, Json(body)))
}

pub async fn list_knowledge_bases(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        list(&state, &caller, DocumentKind::KnowledgeBase).await?,
    ))
}

pub async fn get_knowledge_base(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(v): Query<VersionParam>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        get(
            &state,
            &caller,
            DocumentKind::KnowledgeBase,
            &name,
            v.version,
        )
        .await?,
    ))
}

pub async fn put_knowledge_base(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<Upload>,
) -> ApiResult<impl IntoResponse> {
    let (status, body) = put(
        &state,
        &caller,
        DocumentKind::KnowledgeBase,
        &name,
        &body.source,
    )
    .await?;
    Ok((status, Json(body)))
}
