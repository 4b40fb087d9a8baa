//! central-settlement's settlement window API (docs/settlement.md): `GET /settlementWindows`,
//! `GET /settlementWindows/{id}` and `POST /settlementWindows/{id}` `{state: "CLOSED",
//! reason}`, which closes the OPEN window and opens the next in one transaction, answering with
//! the new window as central-settlement does. With auth on the close waits for a checker like
//! every settlement action (approval action `closeSettlementWindow`).
//!
//! Errors are central-settlement's: 3100 with its texts, HTTP 400.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ferroloop_core::error::FspiopError;
use ferroloop_core::ledger_id::ParticipantId;
use ferroloop_core::settlement::WindowState;
use ferroloop_store::MySqlConnection;
use ferroloop_store::settlement::windows::{
    self, CloseOutcome, ContentView, WindowFilter, WindowView,
};
use serde_json::{Value, json};
use time::PrimitiveDateTime;

use crate::approvals;
use crate::change::{Action, Change, Context, Executed, Executing, Executor};
use crate::guard::RequestContext;
use crate::input;
use crate::output::js_date;
use crate::{ApiError, ApiResult, AppState, Body, Params};

/// The approval action of a window close.
/// The changes this module executes for the approval flow.
pub const EXECUTORS: [(Action, Executor); 1] =
    [(Action::CloseSettlementWindow, execute_stored_close)];

fn execute_stored_close<'a>(context: Context<'a>, conn: &'a mut MySqlConnection) -> Executing<'a> {
    Box::pin(async move {
        let target = context.change.participant;
        let window = window_of_target(target).ok_or_else(|| {
            ApiError::internal(format!(
                "approval target {target} is not a settlement window"
            ))
        })?;
        let request = parse_close(window, context.change.body)?;
        execute_close(conn, &request).await
    })
}
/// The approval target of a window (`admin_approval.participant_name`).
const WINDOW_TARGET: &str = "settlementWindow/";

fn content_json(content: &ContentView) -> Value {
    json!({
        "id": content.content_id,
        "state": content.state.as_str(),
        "ledgerAccountType": content.ledger_account_type,
        "currencyId": content.currency,
        "createdDate": js_date(content.created_at),
        "changedDate": js_date(content.changed_at),
        "settlementId": content.settlement_id,
    })
}

/// A window as central-settlement prints it.
pub fn window_json(window: &WindowView) -> Value {
    json!({
        "id": window.window_id,
        "state": window.state.as_str(),
        "reason": window.reason,
        "createdDate": js_date(window.created_at),
        "changedDate": js_date(window.changed_at),
        "content": window.content.iter().map(content_json).collect::<Vec<_>>(),
    })
}

/// A positive integer id in the path, 3100 otherwise.
pub fn path_u64(name: &str, value: &str) -> Result<u64, FspiopError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| input::invalid(format!("'{name}' URI path parameter")))
}

/// An RFC 3339 query date (`2017-07-20T17:32:28Z`), 3100 otherwise.
pub fn query_date(name: &str, text: &str) -> Result<PrimitiveDateTime, FspiopError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(ferroloop_store::db_time)
        .map_err(|_| input::invalid(format!("\"{name}\" must be a valid ISO 8601 date")))
}

fn window_filter(query: &BTreeMap<String, String>) -> Result<WindowFilter, FspiopError> {
    let mut filter = WindowFilter::default();
    if let Some(id) = query.get("participantId") {
        filter.participant_id = Some(ParticipantId(input::path_id("participantId", id)?));
    }
    if let Some(state) = query.get("state") {
        let names = WindowState::ALL.map(WindowState::as_str);
        filter.state =
            Some(WindowState::parse(state).ok_or_else(|| input::not_one_of("state", &names))?);
    }
    if let Some(from) = query.get("fromDateTime") {
        filter.from = Some(query_date("fromDateTime", from)?);
    }
    if let Some(to) = query.get("toDateTime") {
        filter.to = Some(query_date("toDateTime", to)?);
    }
    if let Some(currency) = query.get("currency") {
        filter.currency = Some(input::parse_currency("currency", currency)?);
    }
    Ok(filter)
}

/// `GET /settlementWindows?participantId&state&fromDateTime&toDateTime&currency`: at least one
/// filter (central-settlement's rule), newest first, at most `SETTLEMENT_LIST_LIMIT` windows.
pub async fn list(
    State(app): State<AppState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult<Json<Vec<Value>>> {
    const FILTERS: [&str; 5] = [
        "participantId",
        "state",
        "fromDateTime",
        "toDateTime",
        "currency",
    ];
    let query: BTreeMap<String, String> = query
        .into_iter()
        .filter(|(k, v)| FILTERS.contains(&k.as_str()) && !v.is_empty())
        .collect();
    if query.is_empty() {
        return Err(input::invalid(
            "Use at least one parameter: participantId, state, fromDateTime, toDateTime",
        )
        .into());
    }
    let filter = window_filter(&query)?;
    let mut conn = app.pool().acquire().await.map_err(store_error)?;
    let found = windows::list_windows(&mut conn, &filter, app.settlement_list_limit()).await?;
    if found.is_empty() {
        let shown: Vec<String> = query.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        return Err(input::invalid(format!(
            "settlementWindow by filters: {{{}}} not found",
            shown.join(",")
        ))
        .into());
    }
    Ok(Json(found.iter().map(window_json).collect()))
}

fn store_error(e: impl Into<ferroloop_store::StoreError>) -> ApiError {
    ApiError::Store(e.into())
}

/// `GET /settlementWindows/{id}`
pub async fn get_one(
    State(app): State<AppState>,
    Params(id): Params<String>,
) -> ApiResult<Json<Value>> {
    let window_id = path_u64("id", &id)?;
    let mut conn = app.pool().acquire().await.map_err(store_error)?;
    let found = windows::window(&mut conn, window_id)
        .await?
        .ok_or_else(|| input::invalid(format!("settlementWindowId: {window_id} not found")))?;
    Ok(Json(window_json(&found)))
}

pub use ferroloop_admin_input::requests::{CloseRequest, parse_close};

/// The window id of an approval target written by [`close`].
pub fn window_of_target(target: &str) -> Option<u64> {
    target.strip_prefix(WINDOW_TARGET)?.parse().ok()
}

/// Closes the window and opens the next in the caller's transaction; answers with the new
/// OPEN window.
pub async fn execute_close(
    conn: &mut MySqlConnection,
    request: &CloseRequest,
) -> ApiResult<Executed> {
    let window_id = request.window_id;
    let now = ferroloop_store::db_time(time::OffsetDateTime::now_utc());
    let outcome = windows::close_window(conn, window_id, &request.reason, now).await?;
    let label = match outcome {
        CloseOutcome::Closed { .. } => "closed",
        CloseOutcome::NotFound => "not_found",
        CloseOutcome::NotOpen(_) => "not_open",
        CloseOutcome::Empty => "empty",
    };
    metrics::counter!("ferroloop_settlement_window_closes_total", "outcome" => label).increment(1);
    let (closed, opened) = match outcome {
        CloseOutcome::Closed { closed, opened } => (closed, opened),
        CloseOutcome::NotFound => {
            return Err(input::invalid(format!("Window {window_id} does not exist")).into());
        }
        CloseOutcome::NotOpen(_) => {
            return Err(input::invalid(format!("Window {window_id} is not open")).into());
        }
        CloseOutcome::Empty => {
            return Err(input::invalid(format!("Window {window_id} is empty")).into());
        }
    };
    tracing::info!(closed, opened, reason = %request.reason, "settlement window closed");
    let (Some(old), Some(new)) = (
        windows::window(conn, closed).await?,
        windows::window(conn, opened).await?,
    ) else {
        return Err(ApiError::internal("settlement window vanished"));
    };
    Ok(Executed {
        status: StatusCode::OK,
        body: Some(window_json(&new)),
        changed: true,
        before: Some(json!({"id": closed, "state": WindowState::Open.as_str()})),
        after: Some(json!({"closed": window_json(&old), "opened": new.window_id})),
    })
}

/// `POST /settlementWindows/{id}` `{state: "CLOSED", reason}` → 200 with the new OPEN window
/// (auth on: 202 with the pending approval request).
pub async fn close(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(id): Params<String>,
    body: Body,
) -> ApiResult<Response> {
    let window_id = path_u64("id", &id)?;
    parse_close(window_id, &body.0)?;
    let target = format!("{WINDOW_TARGET}{window_id}");
    approvals::submit(
        &app,
        &ctx,
        Change::new(Action::CloseSettlementWindow, &target, &body.0),
    )
    .await
}
