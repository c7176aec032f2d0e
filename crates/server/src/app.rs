//! The HTTP application: routes plus the layers every request passes through.

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use store::NewAuditEntry;
use tower_http::LatencyUnit;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::{ApiError, DeniedCaller, ErrorBody};
use crate::routes::{
    agent_phones, audit, auth, campaigns, channels, contacts, conversations, customers, documents,
    handoffs, kb_table, listen, system, tokens, users, webchat, wechat,
};
use crate::state::AppState;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}

pub fn router(state: AppState) -> Router {
    crate::telemetry::install_metrics();
    let api = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/me/password", post(auth::change_password))
        .route("/tenant", get(auth::tenant))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(users::get).patch(users::update))
        .route("/users/{id}/password", post(users::reset_password))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/audit", get(audit::list))
        .route(
            "/conversations",
            get(conversations::list).post(conversations::create),
        )
        .route("/conversations/{id}", get(conversations::get))
        .route(
            "/conversations/{id}/events",
            get(conversations::events).post(conversations::append),
        )
        .route("/conversations/{id}/input", post(conversations::input))
        .route("/conversations/{id}/stream", get(conversations::stream))
        .route("/conversations/{id}/listen", get(listen::listen))
        .route("/agents", get(handoffs::agents))
        .route("/agents/me", put(handoffs::set_me))
        .route("/agents/{id}", put(handoffs::set_agent))
        .route("/agents/me/phone", put(agent_phones::set_my_phone))
        .route("/agents/{id}/phone", put(agent_phones::set_phone))
        .route("/handoffs", get(handoffs::list))
        .route("/handoffs/stream", get(handoffs::stream))
        .route("/handoffs/{id}", get(handoffs::get))
        .route("/handoffs/{id}/take", post(handoffs::take))
        .route("/handoffs/{id}/reply", post(handoffs::reply))
        .route("/handoffs/{id}/close", post(handoffs::close))
        .route("/handoffs/{id}/transfer", post(handoffs::transfer))
        .route("/channels", get(channels::list))
        .route(
            "/channels/{name}",
            get(channels::get)
                .put(channels::put)
                .delete(channels::delete),
        )
        .route("/customers", get(customers::find))
        .route("/customers/{id}", get(customers::get))
        .route("/customers/{id}/identities", post(customers::link))
        .route("/contact-lists", get(contacts::lists))
        .route(
            "/contact-lists/{name}/import",
            post(contacts::import).layer(DefaultBodyLimit::max(contacts::MAX_IMPORT_BYTES)),
        )
        .route("/contact-lists/{id}/contacts", get(contacts::contacts))
        .route("/dnc", get(contacts::dnc_list).post(contacts::dnc_add))
        .route("/dnc/{number}", axum::routing::delete(contacts::dnc_remove))
        .route(
            "/dialing-policy",
            get(campaigns::policy).put(campaigns::put_policy),
        )
        .route("/campaigns", get(campaigns::list).post(campaigns::create))
        .route(
            "/campaigns/{id}",
            get(campaigns::get).patch(campaigns::update),
        )
        .route("/campaigns/{id}/start", post(campaigns::start))
        .route("/campaigns/{id}/pause", post(campaigns::pause))
        .route("/campaigns/{id}/resume", post(campaigns::resume))
        .route("/campaigns/{id}/stop", post(campaigns::stop))
        .route("/campaigns/{id}/attempts", get(campaigns::attempts))
        .route("/campaigns/{id}/deliveries", get(campaigns::deliveries))
        .route("/scripts", get(documents::list_scripts))
        .route(
            "/scripts/{name}",
            get(documents::get_script).put(documents::put_script),
        )
        .route("/knowledge-bases", get(documents::list_knowledge_bases))
        .route("/knowledge-bases/{name}/export", get(kb_table::export))
        .route("/knowledge-bases/{name}/import", post(kb_table::import))
        .route(
            "/knowledge-bases/{name}",
            get(documents::get_knowledge_base).put(documents::put_knowledge_base),
        );

    Router::new()
        .route("/", get(system::landing))
        .route("/console", get(system::console))
        .route(
            "/channels/wechat/{tenant}/{channel}",
            get(wechat::verify).post(wechat::receive),
        )
        .route("/channels/web/{tenant}/{channel}/ws", get(webchat::connect))
        .route("/channels/web/{tenant}/{channel}/widget.js", get(webchat::widget))
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .route("/api/openapi.json", get(system::openapi))
        .nest("/api/v1", api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), finish_errors))
        .layer(middleware::from_fn(crate::telemetry::track_http))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<Body>| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                // One access-log line per request, with status and latency.
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Millis)),
        )
        .layer(SetRequestIdLayer::x_request_id(NewRequestId))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "没有这个接口",
        "no such endpoint",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "该接口不支持此 HTTP 方法",
        "this endpoint does not accept that HTTP method",
    )
}

/// Adds the request id to every JSON error body and writes an audit entry
/// for every refused attempt by a signed-in caller.
async fn finish_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let mut response = next.run(req).await;
    if let Some(denied) = response.extensions_mut().remove::<DeniedCaller>() {
        let entry = NewAuditEntry {
            tenant_id: Some(denied.tenant_id),
            actor_kind: denied.actor_kind.to_string(),
            actor_id: Some(denied.actor_id),
            actor_name: Some(denied.actor_name),
            action: "access.denied".to_string(),
            target: Some(format!("{method} {path}")),
            outcome: "denied".to_string(),
            client_ip: ip,
            request_id: request_id.clone(),
            detail: serde_json::json!({ "permission": denied.permission }),
        };
        if let Err(e) = state.store().append_audit(&entry, state.now_ms()).await {
            tracing::error!(error = %e, "could not audit a denied request");
        }
    }
    if let Some(mut body) = response.extensions_mut().remove::<ErrorBody>() {
        body.request_id = request_id;
        let status = response.status();
        let headers = response.headers().clone();
        let mut rebuilt =
            (status, axum::Json(serde_json::json!({ "error": body }))).into_response();
        for (name, value) in headers.iter() {
            if name != axum::http::header::CONTENT_LENGTH {
                rebuilt.headers_mut().insert(name.clone(), value.clone());
            }
        }
        return rebuilt;
    }
    response
}
