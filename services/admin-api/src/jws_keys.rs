//! `/participants/{name}/jwsKey`: a participant's public key for `FSPIOP-Signature` verification
//! (docs/fspiop-api.md#signatures-jws). Not a central-ledger route — Mojaloop keeps JWS keys
//! outside the ledger (a key directory mounted into ml-api-adapter, or its connection manager) — so
//! the shape is ours:
//!
//! | request | answer |
//! |---|---|
//! | `PUT {"publicKey": "<PEM>"}` | 200 with the stored key; registers or rotates it |
//! | `GET` | 200 `{"publicKey", "createdDate", "createdBy"}`; 400 / 3200 when the participant has none |
//! | `DELETE` | 204; 400 / 3200 when there was none |
//!
//! With auth on, `PUT` and `DELETE` are maker/checker requests (202, `crate::approvals`): a key
//! decides who may sign as the DFSP.
//!
//! The PEM must be an SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`) RSA key of at
//! least 2048 bits or a P-256 key — what the adapter can verify with; anything else is 3100, so a
//! bad upload never replaces a working key. The change bumps the admin change epoch: the API
//! adapter (with `JWS_KEYS_SOURCE=database`) reloads its keys within
//! `JWS_KEYS_RELOAD_INTERVAL_MS`, without a restart and without a database read per request.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_fspiop::jws::VerifyingKey;
use ferroloop_store::{MySqlConnection, admin, jws_keys};

use crate::approvals;
use crate::change::{Action, Change, Context, Executed, Executing, Executor};
use crate::guard::RequestContext;
use crate::participants::{PARTICIPANT_NOT_FOUND, participant};
use crate::{ApiError, ApiResult, AppState, Body, Params};

/// Largest PEM accepted (an RSA-8192 SPKI PEM is about 1.5 KB).
const MAX_PEM_CHARS: usize = 16 * 1024;
/// 3200 detail when a participant has no key.
pub const NO_JWS_KEY: &str = "Participant has no JWS key";

/// The changes this module executes for the approval flow.
pub const EXECUTORS: [(Action, Executor); 2] = [
    (Action::SetJwsKey, execute_stored_set),
    (Action::RemoveJwsKey, execute_stored_remove),
];

fn execute_stored_set<'a>(context: Context<'a>, conn: &'a mut MySqlConnection) -> Executing<'a> {
    Box::pin(async move {
        let pem = parse_key(context.change.body)?;
        execute_set(conn, context.change.participant, &pem, context.changed_by).await
    })
}

fn execute_stored_remove<'a>(context: Context<'a>, conn: &'a mut MySqlConnection) -> Executing<'a> {
    Box::pin(execute_remove(conn, context.change.participant))
}

fn view(stored: &jws_keys::StoredJwsKey) -> serde_json::Value {
    serde_json::json!({
        "publicKey": stored.public_key_pem,
        "createdDate": crate::output::js_date(stored.created_at),
        "createdBy": stored.created_by,
    })
}

/// Validates `{publicKey}`: a PEM the adapter can verify with (3100 otherwise).
pub fn parse_key(body: &[u8]) -> Result<String, FspiopError> {
    let pem = crate::input::parse_body(body)?.required_string("publicKey")?;
    crate::input::check_length("publicKey", &pem, MAX_PEM_CHARS)?;
    VerifyingKey::from_pem(&pem).map_err(|e| {
        FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, format!("publicKey: {e}"))
    })?;
    Ok(pem)
}

/// `PUT /participants/{name}/jwsKey` → 200 with the stored key (auth on: 202 with the pending
/// approval request — whoever replaces the key can sign as the DFSP).
pub async fn put(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(name): Params<String>,
    body: Body,
) -> ApiResult<Response> {
    parse_key(&body.0)?;
    let change = Change::new(Action::SetJwsKey, &name, &body.0);
    approvals::submit(&app, &ctx, change).await
}

/// Registers or rotates a participant's key in the caller's transaction.
pub async fn execute_set(
    conn: &mut MySqlConnection,
    name: &str,
    pem: &str,
    changed_by: &str,
) -> ApiResult<Executed> {
    admin::begin_admin_change(conn).await?;
    let found = participant(conn, name, PARTICIPANT_NOT_FOUND).await?;
    let before = jws_keys::jws_key(conn, found.participant_id).await?;
    jws_keys::set_jws_key(conn, found.participant_id, pem, changed_by).await?;
    let stored = jws_keys::jws_key(conn, found.participant_id)
        .await?
        .ok_or_else(|| ApiError::internal("JWS key vanished"))?;
    tracing::info!(participant = %name, "JWS key registered");
    Ok(Executed {
        status: StatusCode::OK,
        body: Some(view(&stored)),
        changed: true,
        before: before.map(|k| view(&k)),
        after: Some(view(&stored)),
    })
}

/// `GET /participants/{name}/jwsKey`
pub async fn get(State(app): State<AppState>, Params(name): Params<String>) -> ApiResult<Response> {
    let mut tx = app.begin().await?;
    let found = participant(&mut tx, &name, PARTICIPANT_NOT_FOUND).await?;
    let stored = jws_keys::jws_key(&mut tx, found.participant_id)
        .await?
        .ok_or_else(|| ApiError::not_found(NO_JWS_KEY))?;
    Ok(Json(view(&stored)).into_response())
}

/// `DELETE /participants/{name}/jwsKey` → 204 (auth on: 202 with the pending approval request —
/// without a key, signatures of the DFSP may go unchecked where JWS is optional).
pub async fn delete(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(name): Params<String>,
) -> ApiResult<Response> {
    let change = Change::new(Action::RemoveJwsKey, &name, b"");
    approvals::submit(&app, &ctx, change).await
}

/// Removes a participant's key in the caller's transaction (3200 when it has none).
pub async fn execute_remove(conn: &mut MySqlConnection, name: &str) -> ApiResult<Executed> {
    admin::begin_admin_change(conn).await?;
    let found = participant(conn, name, PARTICIPANT_NOT_FOUND).await?;
    let before = jws_keys::jws_key(conn, found.participant_id)
        .await?
        .ok_or_else(|| ApiError::not_found(NO_JWS_KEY))?;
    jws_keys::delete_jws_key(conn, found.participant_id).await?;
    tracing::info!(participant = %name, "JWS key removed");
    Ok(Executed {
        status: StatusCode::NO_CONTENT,
        body: None,
        changed: true,
        before: Some(view(&before)),
        after: None,
    })
}
