//! The API's route table, written once and used three ways: to generate the
//! OpenAPI document served at `/api/openapi.json`, to check in tests that every
//! documented route exists, and to drive the cross-tenant and role tests over
//! every route.

use serde_json::{Value, json};

use crate::auth::Permission;

/// One documented API operation.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// `None`: public. `Some(None)`: any signed-in user. `Some(Some(p))`: needs `p`.
    pub auth: Option<Option<Permission>>,
    /// Name of the request body schema in `components.schemas`.
    pub body: Option<&'static str>,
    /// Whether it changes state (and so must write an audit entry).
    pub changes_state: bool,
}

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    auth: Option<Option<Permission>>,
    body: Option<&'static str>,
) -> RouteDoc {
    let changes_state = !matches!(method.as_bytes(), b"GET");
    RouteDoc {
        method,
        path,
        summary,
        tag,
        auth,
        body,
        changes_state,
    }
}

const ANYONE: Option<Option<Permission>> = Some(None);
const fn needs(p: Permission) -> Option<Option<Permission>> {
    Some(Some(p))
}

pub const ROUTES: &[RouteDoc] = &[
    route(
        "GET",
        "/",
        "A page for people: what runs here and where the API is",
        "system",
        None,
        None,
    ),
    route(
        "GET",
        "/healthz",
        "Liveness: the process answers",
        "system",
        None,
        None,
    ),
    route(
        "GET",
        "/readyz",
        "Readiness: the database answers",
        "system",
        None,
        None,
    ),
    route(
        "GET",
        "/metrics",
        "Prometheus metrics",
        "system",
        None,
        None,
    ),
    route(
        "GET",
        "/api/openapi.json",
        "This document",
        "system",
        None,
        None,
    ),
    route(
        "POST",
        "/api/v1/auth/login",
        "Log in with a password; sets the session cookie",
        "auth",
        None,
        Some("LoginRequest"),
    ),
    route(
        "POST",
        "/api/v1/auth/logout",
        "End the current session",
        "auth",
        ANYONE,
        None,
    ),
    route(
        "GET",
        "/api/v1/me",
        "The signed-in user, tenant and permissions",
        "auth",
        ANYONE,
        None,
    ),
    route(
        "POST",
        "/api/v1/me/password",
        "Change one's own password",
        "auth",
        ANYONE,
        Some("ChangePassword"),
    ),
    route(
        "GET",
        "/api/v1/tenant",
        "The caller's tenant",
        "auth",
        ANYONE,
        None,
    ),
    route(
        "GET",
        "/api/v1/users",
        "List users of the tenant",
        "users",
        needs(Permission::ViewUsers),
        None,
    ),
    route(
        "POST",
        "/api/v1/users",
        "Create a user",
        "users",
        needs(Permission::ManageUsers),
        Some("CreateUser"),
    ),
    route(
        "GET",
        "/api/v1/users/{id}",
        "Read a user (anyone may read themselves)",
        "users",
        needs(Permission::ViewUsers),
        None,
    ),
    route(
        "PATCH",
        "/api/v1/users/{id}",
        "Change a user's name, role or disabled flag",
        "users",
        needs(Permission::ManageUsers),
        Some("UpdateUser"),
    ),
    route(
        "POST",
        "/api/v1/users/{id}/password",
        "Set a user's password (also unlocks the account)",
        "users",
        needs(Permission::ManageUsers),
        Some("ResetPassword"),
    ),
    route(
        "GET",
        "/api/v1/tokens",
        "List API tokens (own; admins: all of the tenant)",
        "tokens",
        ANYONE,
        None,
    ),
    route(
        "POST",
        "/api/v1/tokens",
        "Create an API token acting as the caller; the secret is shown once",
        "tokens",
        ANYONE,
        Some("CreateToken"),
    ),
    route(
        "DELETE",
        "/api/v1/tokens/{id}",
        "Revoke an API token (own; admins: any)",
        "tokens",
        ANYONE,
        None,
    ),
    route(
        "GET",
        "/api/v1/audit",
        "The tenant's audit log, newest first",
        "audit",
        needs(Permission::ViewAudit),
        None,
    ),
    route(
        "GET",
        "/api/v1/conversations",
        "List conversations, newest first (?limit=); ?live=true&active_within_secs=: those not ended, most recently active first, with their open handoff",
        "conversations",
        needs(Permission::ReadConversations),
        None,
    ),
    route(
        "POST",
        "/api/v1/conversations",
        "Start a conversation record",
        "conversations",
        needs(Permission::WriteConversations),
        Some("CreateConversation"),
    ),
    route(
        "GET",
        "/api/v1/conversations/{id}",
        "Read a conversation",
        "conversations",
        needs(Permission::ReadConversations),
        None,
    ),
    route(
        "GET",
        "/api/v1/conversations/{id}/events",
        "Read a conversation's event log",
        "conversations",
        needs(Permission::ReadConversations),
        None,
    ),
    route(
        "POST",
        "/api/v1/conversations/{id}/events",
        "Append to a conversation's event log (durable when answered)",
        "conversations",
        needs(Permission::WriteConversations),
        Some("AppendEvent"),
    ),
    route(
        "POST",
        "/api/v1/conversations/{id}/input",
        "Send a message or event to a bot-hosted conversation; returns the robot's actions",
        "conversations",
        needs(Permission::WriteConversations),
        Some("ConversationInput"),
    ),
    route(
        "GET",
        "/api/v1/conversations/{id}/stream",
        "WebSocket: the conversation's log from ?after=SEQ, then live; send input frames",
        "conversations",
        needs(Permission::ReadConversations),
        None,
    ),
    route(
        "GET",
        "/api/v1/conversations/{id}/listen",
        "WebSocket: listen in to a live call (binary frames: 20 ms of 8 kHz 16-bit LE PCM, caller and robot/agent mixed)",
        "conversations",
        needs(Permission::SuperviseHandoffs),
        None,
    ),
    route(
        "GET",
        "/api/v1/agents",
        "Every agent with presence, skills and load",
        "handoffs",
        needs(Permission::SuperviseHandoffs),
        None,
    ),
    route(
        "PUT",
        "/api/v1/agents/me",
        "Set one's own presence (available / busy / away)",
        "handoffs",
        needs(Permission::WorkHandoffs),
        Some("SetPresence"),
    ),
    route(
        "PUT",
        "/api/v1/agents/{id}",
        "Set an agent's skills (queues), capacity or presence",
        "handoffs",
        needs(Permission::SuperviseHandoffs),
        Some("SetAgent"),
    ),
    route(
        "PUT",
        "/api/v1/agents/me/phone",
        "Set one's own SIP phone account (username, password; only its digest HA1 is kept)",
        "handoffs",
        needs(Permission::WorkHandoffs),
        Some("SetPhone"),
    ),
    route(
        "PUT",
        "/api/v1/agents/{id}/phone",
        "Set an agent's SIP phone account (username, password; only its digest HA1 is kept)",
        "handoffs",
        needs(Permission::ManageUsers),
        Some("SetPhone"),
    ),
    route(
        "GET",
        "/api/v1/handoffs",
        "Open handed-over conversations one may see, queue lengths, one's presence",
        "handoffs",
        needs(Permission::WorkHandoffs),
        None,
    ),
    route(
        "GET",
        "/api/v1/handoffs/stream",
        "WebSocket: a wake-up whenever queues or agents change",
        "handoffs",
        needs(Permission::WorkHandoffs),
        None,
    ),
    route(
        "GET",
        "/api/v1/handoffs/{id}",
        "A handoff with the conversation, customer, tags, grade and suggested answers",
        "handoffs",
        needs(Permission::WorkHandoffs),
        None,
    ),
    route(
        "POST",
        "/api/v1/handoffs/{id}/take",
        "Take a waiting conversation",
        "handoffs",
        needs(Permission::WorkHandoffs),
        None,
    ),
    route(
        "POST",
        "/api/v1/handoffs/{id}/reply",
        "Say something to the customer, on their channel",
        "handoffs",
        needs(Permission::WorkHandoffs),
        Some("HandoffReply"),
    ),
    route(
        "POST",
        "/api/v1/handoffs/{id}/transfer",
        "Give an open conversation to a named agent (supervisors)",
        "handoffs",
        needs(Permission::SuperviseHandoffs),
        Some("HandoffTransfer"),
    ),
    route(
        "POST",
        "/api/v1/handoffs/{id}/close",
        "End the conversation with a disposition",
        "handoffs",
        needs(Permission::WorkHandoffs),
        Some("HandoffClose"),
    ),
    route(
        "GET",
        "/api/v1/scripts",
        "List scripts (every version)",
        "bots",
        needs(Permission::ViewBots),
        None,
    ),
    route(
        "GET",
        "/api/v1/scripts/{name}",
        "Read a script (latest, or ?version=N) and its versions",
        "bots",
        needs(Permission::ViewBots),
        None,
    ),
    route(
        "PUT",
        "/api/v1/scripts/{name}",
        "Upload a script as its next version (validated first)",
        "bots",
        needs(Permission::ManageBots),
        Some("UploadScript"),
    ),
    route(
        "GET",
        "/api/v1/knowledge-bases",
        "List knowledge bases (every version)",
        "bots",
        needs(Permission::ViewBots),
        None,
    ),
    route(
        "GET",
        "/api/v1/knowledge-bases/{name}",
        "Read a knowledge base (latest, or ?version=N) and its versions",
        "bots",
        needs(Permission::ViewBots),
        None,
    ),
    route(
        "PUT",
        "/api/v1/knowledge-bases/{name}",
        "Upload a knowledge base as its next version (validated first)",
        "bots",
        needs(Permission::ManageBots),
        Some("UploadKnowledgeBase"),
    ),
    route(
        "GET",
        "/api/v1/knowledge-bases/{name}/export",
        "The latest version as CSV (id, category, question, similar, answer, links, images)",
        "bots",
        needs(Permission::ViewBots),
        None,
    ),
    route(
        "POST",
        "/api/v1/knowledge-bases/{name}/import",
        "Import a CSV table as the next version (every bad row listed; nothing stored then)",
        "bots",
        needs(Permission::ManageBots),
        Some("ImportTable"),
    ),
    route(
        "GET",
        "/api/v1/channels",
        "List channels (secrets masked)",
        "channels",
        needs(Permission::ViewBots),
        None,
    ),
    route(
        "GET",
        "/api/v1/channels/{name}",
        "Read a channel (secrets masked)",
        "channels",
        needs(Permission::ViewBots),
        None,
    ),
    route(
        "PUT",
        "/api/v1/channels/{name}",
        "Create or replace a channel (a WeChat official account, a web chat widget, a SIP trunk)",
        "channels",
        needs(Permission::ManageBots),
        Some("PutChannel"),
    ),
    route(
        "DELETE",
        "/api/v1/channels/{name}",
        "Delete a channel (a trunk stops registering at once)",
        "channels",
        needs(Permission::ManageBots),
        None,
    ),
    route(
        "GET",
        "/channels/wechat/{tenant}/{channel}",
        "WeChat's URL check (signed by WeChat, not a user)",
        "channels",
        None,
        None,
    ),
    route(
        "POST",
        "/channels/wechat/{tenant}/{channel}",
        "WeChat messages and events (signed by WeChat; plain or safe mode)",
        "channels",
        None,
        None,
    ),
    route(
        "GET",
        "/channels/web/{tenant}/{channel}/ws",
        "Web chat WebSocket for a visitor (see docs/api.md for the protocol)",
        "channels",
        None,
        None,
    ),
    route(
        "GET",
        "/channels/web/{tenant}/{channel}/widget.js",
        "The embeddable web chat widget",
        "channels",
        None,
        None,
    ),
    route(
        "GET",
        "/api/v1/customers",
        "Find a customer by ?crm_id=, ?phone= or ?wechat_openid=",
        "customers",
        needs(Permission::ReadConversations),
        None,
    ),
    route(
        "GET",
        "/api/v1/customers/{id}",
        "A customer with their conversations on every channel",
        "customers",
        needs(Permission::ReadConversations),
        None,
    ),
    route(
        "POST",
        "/api/v1/customers/{id}/identities",
        "This customer is also known by a phone, CRM id, openid, …",
        "customers",
        needs(Permission::WriteConversations),
        Some("LinkIdentity"),
    ),
    route(
        "GET",
        "/api/v1/contact-lists",
        "Contact lists with their sizes",
        "campaigns",
        needs(Permission::ViewCampaigns),
        None,
    ),
    route(
        "POST",
        "/api/v1/contact-lists/{name}/import",
        "Import contacts from CSV or Excel into a list (created when new); bad rows are reported by row number and skipped; re-importing changes nothing",
        "campaigns",
        needs(Permission::ManageContacts),
        Some("ImportContacts"),
    ),
    route(
        "GET",
        "/api/v1/contact-lists/{id}/contacts",
        "A list's contacts (?after=&limit=)",
        "campaigns",
        needs(Permission::ManageContacts),
        None,
    ),
    route(
        "GET",
        "/api/v1/dnc",
        "The tenant's do-not-call list (?after=&limit=)",
        "campaigns",
        needs(Permission::ManageContacts),
        None,
    ),
    route(
        "POST",
        "/api/v1/dnc",
        "Never call these numbers, from any campaign",
        "campaigns",
        needs(Permission::ManageContacts),
        Some("AddDnc"),
    ),
    route(
        "DELETE",
        "/api/v1/dnc/{number}",
        "Take a number off the do-not-call list",
        "campaigns",
        needs(Permission::ManageContacts),
        None,
    ),
    route(
        "GET",
        "/api/v1/dialing-policy",
        "The frequency cap over all the tenant's campaigns",
        "campaigns",
        needs(Permission::ViewCampaigns),
        None,
    ),
    route(
        "PUT",
        "/api/v1/dialing-policy",
        "Set the frequency cap: at most max_calls answered calls per number per per_days days",
        "campaigns",
        needs(Permission::ManageCampaigns),
        Some("DialingPolicy"),
    ),
    route(
        "GET",
        "/api/v1/campaigns",
        "List campaigns",
        "campaigns",
        needs(Permission::ViewCampaigns),
        None,
    ),
    route(
        "POST",
        "/api/v1/campaigns",
        "Create a campaign (script version pinned, list, trunk, lines, windows, retries, webhook, SMS)",
        "campaigns",
        needs(Permission::ManageCampaigns),
        Some("CreateCampaign"),
    ),
    route(
        "GET",
        "/api/v1/campaigns/{id}",
        "A campaign with its progress and outcome counts (live)",
        "campaigns",
        needs(Permission::ViewCampaigns),
        None,
    ),
    route(
        "PATCH",
        "/api/v1/campaigns/{id}",
        "Change the number of lines, live",
        "campaigns",
        needs(Permission::ManageCampaigns),
        Some("UpdateCampaign"),
    ),
    route(
        "POST",
        "/api/v1/campaigns/{id}/start",
        "Start a draft campaign",
        "campaigns",
        needs(Permission::ManageCampaigns),
        None,
    ),
    route(
        "POST",
        "/api/v1/campaigns/{id}/pause",
        "Pause: calls up finish, no new ones start",
        "campaigns",
        needs(Permission::ManageCampaigns),
        None,
    ),
    route(
        "POST",
        "/api/v1/campaigns/{id}/resume",
        "Resume a paused (or completed) campaign; newly imported contacts join",
        "campaigns",
        needs(Permission::ManageCampaigns),
        None,
    ),
    route(
        "POST",
        "/api/v1/campaigns/{id}/stop",
        "Stop for good",
        "campaigns",
        needs(Permission::ManageCampaigns),
        None,
    ),
    route(
        "GET",
        "/api/v1/campaigns/{id}/attempts",
        "Every attempt with its outcome, talk time, grade, tags (?before=&limit=)",
        "campaigns",
        needs(Permission::ViewCampaigns),
        None,
    ),
    route(
        "GET",
        "/api/v1/campaigns/{id}/deliveries",
        "The delivery log of CRM webhooks and SMS",
        "campaigns",
        needs(Permission::ViewCampaigns),
        None,
    ),
];

/// Every permission, in the order documented.
pub const ALL_PERMISSIONS: [Permission; 13] = [
    Permission::ManageUsers,
    Permission::ViewUsers,
    Permission::ManageAllTokens,
    Permission::ViewAudit,
    Permission::ReadConversations,
    Permission::WriteConversations,
    Permission::ViewBots,
    Permission::ManageBots,
    Permission::WorkHandoffs,
    Permission::SuperviseHandoffs,
    Permission::ViewCampaigns,
    Permission::ManageCampaigns,
    Permission::ManageContacts,
];

fn schemas() -> Value {
    let mut all = core_schemas();
    if let (Some(all), Value::Object(more)) = (all.as_object_mut(), campaign_schemas()) {
        all.extend(more);
    }
    all
}

/// Request bodies of the campaign, contact and do-not-call routes.
fn campaign_schemas() -> Value {
    let windows = json!({ "$ref": "#/components/schemas/Windows" });
    let rule = json!({ "$ref": "#/components/schemas/RetryRule" });
    let mapping = json!({ "type": "object", "additionalProperties": false, "properties": {
        "number": { "type": "string", "description": "Header of the number column (default: 手机号/电话/phone/…)" },
        "name": { "type": "string", "description": "Header of the name column (default: 姓名/name)" },
        "timezone": { "type": "string", "description": "Header of a UTC offset column (+08:00)" },
        "columns": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Column header → script variable" },
        "drop_unmapped": { "type": "boolean", "default": false } } });
    let webhook = json!({ "type": "object", "required": ["url", "secret"], "additionalProperties": false,
        "properties": { "url": { "type": "string", "format": "uri" }, "secret": { "type": "string", "minLength": 16, "description": "write-only" } } });
    let sms = json!({ "type": "object", "required": ["gateway_url", "text"], "additionalProperties": false,
        "properties": { "gateway_url": { "type": "string", "format": "uri" }, "token": { "type": "string", "description": "write-only" },
            "text": { "type": "string", "maxLength": 500 }, "outcomes": { "type": "array", "items": { "type": "string" } },
            "grades": { "type": "array", "items": { "type": "string" } } } });
    let week = json!({ "type": "object", "additionalProperties": false, "properties": {
        "mon": windows, "tue": windows, "wed": windows, "thu": windows, "fri": windows, "sat": windows, "sun": windows } });
    let retry = json!({ "type": "object", "additionalProperties": false, "properties": {
        "busy": rule, "no_answer": rule, "rejected": rule, "unreachable": rule, "failed": rule } });
    let settings = json!({ "type": "object", "additionalProperties": false, "description": "See docs/campaigns.md",
        "properties": {
            "timezone": { "type": "string", "examples": ["+08:00"] },
            "windows": week,
            "holidays": { "type": "array", "items": { "type": "string", "format": "date" } },
            "calls_per_second": { "type": "number", "exclusiveMinimum": 0, "maximum": 1000 },
            "retry": retry,
            "webhook": webhook,
            "sms": sms } });
    let create = json!({ "type": "object", "required": ["name", "script", "list", "trunk", "max_lines"], "additionalProperties": false,
        "properties": {
            "name": { "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$" },
            "script": { "type": "string", "description": "Script name; its version is pinned at creation" },
            "script_version": { "type": "integer", "description": "Default: the latest" },
            "list": { "type": "string", "description": "Contact list name or id" },
            "trunk": { "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "description": "SIP account to call through" },
            "caller_id": { "type": "string" },
            "max_lines": { "type": "integer", "minimum": 1, "maximum": 1000 },
            "settings": settings } });
    let import = json!({ "type": "object", "required": ["format"], "additionalProperties": false,
        "description": "Exactly one of content (CSV text) and content_base64 (the file). The first non-empty row is the header.",
        "properties": {
            "format": { "type": "string", "enum": ["csv", "xlsx"] },
            "content": { "type": "string" },
            "content_base64": { "type": "string", "contentEncoding": "base64" },
            "do_not_call": { "type": "boolean", "default": false, "description": "Also put every imported number on the do-not-call list" },
            "mapping": mapping } });
    json!({
        "ImportContacts": import,
        "CreateCampaign": create,
        "AddDnc": { "type": "object", "required": ["numbers"], "additionalProperties": false,
            "properties": { "numbers": { "type": "array", "items": { "type": "string" }, "minItems": 1, "maxItems": 10000 }, "reason": { "type": "string", "maxLength": 200 } } },
        "DialingPolicy": { "type": "object", "required": ["max_calls"], "additionalProperties": false,
            "properties": { "max_calls": { "type": ["integer", "null"], "minimum": 1, "maximum": 100, "description": "null removes the cap" }, "per_days": { "type": "integer", "minimum": 1, "maximum": 365 } } },
        "UpdateCampaign": { "type": "object", "required": ["max_lines"], "additionalProperties": false,
            "properties": { "max_lines": { "type": "integer", "minimum": 1, "maximum": 1000 } } },
        "Windows": { "type": "array", "items": { "type": "string", "pattern": "^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$" } },
        "RetryRule": { "type": "object", "required": ["after_minutes", "max_retries"], "additionalProperties": false,
            "properties": { "after_minutes": { "type": "integer", "minimum": 1, "maximum": 43200 }, "max_retries": { "type": "integer", "minimum": 0, "maximum": 20 } } }
    })
}

fn core_schemas() -> Value {
    let role = json!({ "type": "string", "enum": ["admin", "supervisor", "agent", "analyst"] });
    json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": { "error": {
                "type": "object",
                "required": ["code", "message", "message_en"],
                "properties": {
                    "code": { "type": "string", "description": "Stable, machine-readable reason" },
                    "message": { "type": "string", "description": "For people, in Chinese" },
                    "message_en": { "type": "string", "description": "For people, in English" },
                    "request_id": { "type": "string", "description": "Quote it when reporting a problem" }
                }
            }}
        },
        "LoginRequest": { "type": "object", "required": ["tenant", "username", "password"], "additionalProperties": false,
            "properties": { "tenant": { "type": "string" }, "username": { "type": "string" }, "password": { "type": "string", "format": "password" } } },
        "ChangePassword": { "type": "object", "required": ["current_password", "new_password"], "additionalProperties": false,
            "properties": { "current_password": { "type": "string", "format": "password" }, "new_password": { "type": "string", "format": "password", "minLength": 8 } } },
        "CreateUser": { "type": "object", "required": ["username", "role", "password"], "additionalProperties": false,
            "properties": { "username": { "type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$" }, "display_name": { "type": "string" }, "role": role, "password": { "type": "string", "format": "password", "minLength": 8 } } },
        "UpdateUser": { "type": "object", "additionalProperties": false,
            "properties": { "display_name": { "type": "string" }, "role": role, "disabled": { "type": "boolean" } } },
        "ResetPassword": { "type": "object", "required": ["password"], "additionalProperties": false,
            "properties": { "password": { "type": "string", "format": "password", "minLength": 8 } } },
        "CreateToken": { "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": { "name": { "type": "string", "maxLength": 100 }, "expires_in_days": { "type": "integer", "minimum": 0 } } },
        "CreateConversation": { "type": "object", "required": ["channel"], "additionalProperties": false,
            "properties": {
                "channel": { "type": "string", "examples": ["phone", "web", "wechat", "api"] },
                "external_ref": { "type": "string" },
                "metadata": { "type": "object" },
                "script": { "type": "string", "description": "Host the conversation with this script's latest version; the response then carries the robot's first actions" },
                "knowledge_base": { "type": "string", "description": "Knowledge base to answer questions from; default: the one the script names" },
                "contact": { "type": "object", "additionalProperties": { "type": "string" }, "description": "CRM fields for {{variables}}" },
                "humans_available": { "type": "boolean", "default": true },
                "customer": { "type": "object", "additionalProperties": false, "description": "Who this is: the first given is looked up (or created), the others linked",
                    "properties": { "crm_id": { "type": "string" }, "phone": { "type": "string" }, "wechat_openid": { "type": "string" } } }
            } },
        "ImportTable": { "type": "object", "additionalProperties": false, "description": "exactly one of csv and xlsx_base64",
            "properties": { "csv": { "type": "string", "description": "CSV text: id, category, question, similar (| separated), answer, links (title url | …), images (| separated)" },
                "xlsx_base64": { "type": "string", "description": "an Excel workbook (.xlsx), base64; its first sheet has the same columns" } } },
        "SetPresence": { "type": "object", "required": ["status"], "additionalProperties": false,
            "properties": { "status": { "type": "string", "enum": ["available", "busy", "away"] } } },
        "SetAgent": { "type": "object", "additionalProperties": false,
            "properties": {
                "status": { "type": "string", "enum": ["available", "busy", "away"] },
                "skills": { "type": "array", "maxItems": 20, "items": { "type": "string", "minLength": 1, "maxLength": 64 }, "description": "Queues served; empty: every queue" },
                "max_chats": { "type": "integer", "minimum": 1, "maximum": 50 } } },
        "SetPhone": { "type": "object", "required": ["sip_username", "password"], "additionalProperties": false,
            "properties": {
                "sip_username": { "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$", "description": "What the phone registers as; unique across the deployment" },
                "password": { "type": "string", "minLength": 8, "maxLength": 128, "description": "write-only; stored as the digest HA1" } } },
        "HandoffReply": { "type": "object", "required": ["text"], "additionalProperties": false,
            "properties": { "text": { "type": "string", "minLength": 1, "maxLength": 2000 } } },
        "HandoffClose": { "type": "object", "required": ["disposition"], "additionalProperties": false,
            "properties": { "disposition": { "type": "string", "minLength": 1, "maxLength": 64, "description": "resolved, follow_up, complaint, ..." },
                            "note": { "type": "string", "maxLength": 2000 } } },
        "HandoffTransfer": { "type": "object", "required": ["agent_id"], "additionalProperties": false,
            "properties": { "agent_id": { "type": "string" } } },
        "ConversationInput": { "type": "object", "required": ["type"],
            "description": "An engine event: {\"type\":\"user_said\",\"text\":\"…\"}, {\"type\":\"silence\",\"ms\":6000}, {\"type\":\"dtmf\",\"digit\":\"1\"}, {\"type\":\"hangup\"}, {\"type\":\"agent_joined\"}, {\"type\":\"agent_said\",\"text\":\"…\"}, {\"type\":\"timer\",\"name\":\"…\"}",
            "properties": { "type": { "type": "string", "enum": ["user_said", "silence", "dtmf", "hangup", "agent_joined", "agent_said", "timer", "user_started_speaking", "playback_finished"] } } },
        "PutChannel": { "type": "object", "required": ["kind", "settings"], "additionalProperties": false,
            "properties": {
                "kind": { "type": "string", "enum": ["wechat", "web"] },
                "settings": { "type": "object", "description": "wechat: token, app_id, script, encoding_aes_key?, app_secret?, api_base?, knowledge_base?; web: script, knowledge_base?, title?, colour?, allowed_origins?",
                    "properties": {
                        "token": { "type": "string", "description": "Token (令牌), 3-32 letters or digits; write-only" },
                        "encoding_aes_key": { "type": "string", "description": "EncodingAESKey (43 characters), for safe mode; write-only" },
                        "app_id": { "type": "string" },
                        "app_secret": { "type": "string", "description": "For the customer-service message API; write-only" },
                        "api_base": { "type": "string", "default": "https://api.weixin.qq.com" },
                        "script": { "type": "string" },
                        "knowledge_base": { "type": "string" },
                        "title": { "type": "string" },
                        "colour": { "type": "string", "pattern": "^#[0-9a-fA-F]{6}$" },
                        "allowed_origins": { "type": "array", "items": { "type": "string" } } } } } },
        "LinkIdentity": { "type": "object", "required": ["kind", "value"], "additionalProperties": false,
            "properties": { "kind": { "type": "string", "enum": ["phone", "crm", "wechat", "web"] }, "value": { "type": "string" } } },
        "UploadScript": { "type": "object", "required": ["source"], "additionalProperties": false,
            "properties": { "source": { "type": "string", "description": "The script, YAML or JSON (see docs/scripts.md)" } } },
        "UploadKnowledgeBase": { "type": "object", "required": ["source"], "additionalProperties": false,
            "properties": { "source": { "type": "string", "description": "The knowledge base, YAML or JSON Lines" } } },
        "AppendEvent": { "type": "object", "required": ["kind"], "additionalProperties": false,
            "properties": { "kind": { "type": "string", "examples": ["user_said", "say"] }, "payload": {} } }

    })
}

/// The OpenAPI 3.1 document for [`ROUTES`].
pub fn openapi() -> Value {
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let mut op = json!({
            "summary": r.summary,
            "tags": [r.tag],
            "operationId": format!("{}_{}", r.method.to_lowercase(), r.path.trim_start_matches('/').replace(['/', '{', '}', '.'], "_")),
            "responses": {
                "2XX": { "description": "Success", "content": { "application/json": { "schema": { "type": "object" } } } },
                "default": { "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            }
        });
        match r.auth {
            None => op["security"] = json!([]),
            Some(p) => {
                if let Some(p) = p {
                    op["description"] = json!(format!("Requires permission `{}`.", p.name()));
                }
            }
        }
        if let Some(body) = r.body {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": {
                "schema": { "$ref": format!("#/components/schemas/{body}") } } } });
        }
        let params: Vec<Value> = ["id", "name", "tenant", "channel", "number"]
            .iter()
            .filter(|p| r.path.contains(&format!("{{{p}}}")))
            .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tonghua API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Tonghua (通话): self-hosted AI phone robot and customer-service platform. Errors share one shape (components.schemas.Error)."
        },
        "servers": [{ "url": "/" }],
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE },
                "token": { "type": "http", "scheme": "bearer", "description": "An API token (th_…) from POST /api/v1/tokens" }
            }
        },
        "security": [{ "session": [] }, { "token": [] }],
        "paths": paths
    })
}
