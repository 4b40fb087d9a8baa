//! central-settlement's settlement API (docs/settlement.md): `POST /settlements` over closed
//! windows under a settlement model, `GET /settlements[/{id}]`, `PUT /settlements/{id}` (the
//! participants' accounts' new states, or `{state: "ABORTED", reason}`), and
//! `GET`/`PUT /settlements/{sid}/participants/{pid}/accounts/{aid}`.
//!
//! Every change is an operator action under maker/checker when auth is on (approval actions
//! `createSettlement`, `updateSettlement`, `abortSettlement`, `updateSettlementAccount`),
//! audited in the hash chain with the settlement before and after. Errors are
//! central-settlement's: 3100 with its texts, HTTP 400.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ferroloop_core::error::FspiopError;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use ferroloop_core::settlement::{ModelSpec, SettlementState, validate_model};
use ferroloop_store::MySqlConnection;
use ferroloop_store::settlement::settlements::{
    self, AccountUpdate, CreateOutcome, SettlementFilter, SettlementView, UpdateOutcome,
};
use ferroloop_store::settlement::{models, windows};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::approvals;
use crate::change::{Action, Change, Context, Executed, Executing, Executor};
use crate::guard::RequestContext;
use crate::input::{self, Obj};
use crate::settlement_windows::{path_u64, query_date, window_json};
use crate::{ApiError, ApiResult, AppState, Body, Params};

/// The changes this module executes for the approval flow.
pub const EXECUTORS: [(Action, Executor); 5] = [
    (Action::CreateSettlement, execute_stored),
    (Action::UpdateSettlement, execute_stored),
    (Action::AbortSettlement, execute_stored),
    (Action::UpdateSettlementAccount, execute_stored),
    (Action::UpdateSettlementParticipant, execute_stored),
];

fn execute_stored<'a>(context: Context<'a>, conn: &'a mut MySqlConnection) -> Executing<'a> {
    let change = context.change;
    Box::pin(execute(
        conn,
        change.action,
        change.participant,
        change.account_id,
        change.body,
    ))
}

fn store_error(e: impl Into<ferroloop_store::StoreError>) -> ApiError {
    ApiError::Store(e.into())
}

fn now() -> time::PrimitiveDateTime {
    ferroloop_store::db_time(time::OffsetDateTime::now_utc())
}

/// An amount as a JSON number (central-settlement prints numbers). Amounts of up to 15
/// significant digits print exactly.
fn amount_json(amount: Decimal) -> Value {
    serde_json::from_str(&amount.normalize().to_string()).unwrap_or(Value::Null)
}

/// `participants: [{id, accounts: [{id, state, reason, externalReference, netSettlementAmount}]}]`
fn participants_json(settlement: &SettlementView) -> Vec<Value> {
    let mut by_participant: BTreeMap<ParticipantId, Vec<Value>> = BTreeMap::new();
    for a in &settlement.accounts {
        by_participant.entry(a.participant_id).or_default().push(json!({
            "id": a.account_id,
            "state": a.state.as_str(),
            "reason": a.reason,
            "externalReference": a.external_reference,
            "netSettlementAmount": {"amount": amount_json(a.net_amount), "currency": a.currency},
        }));
    }
    by_participant
        .into_iter()
        .map(|(id, accounts)| json!({"id": id, "accounts": accounts}))
        .collect()
}

/// A settlement as central-settlement prints it, with its windows.
async fn settlement_json(
    conn: &mut MySqlConnection,
    settlement: &SettlementView,
) -> ApiResult<Value> {
    let mut windows_json = Vec::with_capacity(settlement.window_ids.len());
    for id in &settlement.window_ids {
        if let Some(window) = windows::window(conn, *id).await? {
            windows_json.push(window_json(&window));
        }
    }
    Ok(json!({
        "id": settlement.settlement_id,
        "state": settlement.state.as_str(),
        "reason": settlement.reason,
        "settlementModel": settlement.model_name,
        "createdDate": crate::output::js_date(settlement.created_at),
        "changedDate": crate::output::js_date(settlement.changed_at),
        "settlementWindows": windows_json,
        "participants": participants_json(settlement),
    }))
}

async fn load(conn: &mut MySqlConnection, settlement_id: u64) -> ApiResult<SettlementView> {
    settlements::settlement(conn, settlement_id, false)
        .await?
        .ok_or_else(|| input::invalid("Settlement not found").into())
}

/// `GET /settlements/{id}`
pub async fn get_one(
    State(app): State<AppState>,
    Params(id): Params<String>,
) -> ApiResult<Json<Value>> {
    let settlement_id = path_u64("id", &id)?;
    let mut conn = app.pool().acquire().await.map_err(store_error)?;
    let found = load(&mut conn, settlement_id).await?;
    Ok(Json(settlement_json(&mut conn, &found).await?))
}

const LIST_FILTERS: [&str; 9] = [
    "state",
    "fromDateTime",
    "toDateTime",
    "currency",
    "settlementWindowId",
    "fromSettlementWindowDateTime",
    "toSettlementWindowDateTime",
    "participantId",
    "accountId",
];

fn settlement_filter(query: &BTreeMap<String, String>) -> Result<SettlementFilter, FspiopError> {
    let mut filter = SettlementFilter::default();
    for (key, value) in query {
        match key.as_str() {
            "state" => {
                let names = SettlementState::ALL.map(SettlementState::as_str);
                filter.state = Some(
                    SettlementState::parse(value)
                        .ok_or_else(|| input::not_one_of("state", &names))?,
                );
            }
            "fromDateTime" => filter.from = Some(query_date(key, value)?),
            "toDateTime" => filter.to = Some(query_date(key, value)?),
            "currency" => {
                filter.currency = Some(input::parse_currency(key, value)?);
            }
            "settlementWindowId" => filter.window_id = Some(path_u64(key, value)?),
            "fromSettlementWindowDateTime" => filter.window_from = Some(query_date(key, value)?),
            "toSettlementWindowDateTime" => filter.window_to = Some(query_date(key, value)?),
            "participantId" => {
                filter.participant_id = Some(ParticipantId(input::path_id(key, value)?));
            }
            "accountId" => filter.account_id = Some(AccountId(input::path_id(key, value)?)),
            _ => {}
        }
    }
    Ok(filter)
}

/// `GET /settlements?state&fromDateTime&toDateTime&currency&settlementWindowId&participantId&accountId`:
/// at least one filter, newest first, at most `SETTLEMENT_LIST_LIMIT`.
pub async fn list(
    State(app): State<AppState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult<Json<Vec<Value>>> {
    let query: BTreeMap<String, String> = query
        .into_iter()
        .filter(|(k, v)| LIST_FILTERS.contains(&k.as_str()) && !v.is_empty())
        .collect();
    if query.is_empty() {
        return Err(input::invalid(
            "Use at least one parameter: state, fromDateTime, toDateTime, currency, settlementWindowId, fromSettlementWindowDateTime, toSettlementWindowDateTime, participantId, accountId",
        )
        .into());
    }
    let filter = settlement_filter(&query)?;
    let mut conn = app.pool().acquire().await.map_err(store_error)?;
    let found =
        settlements::list_settlements(&mut conn, &filter, app.settlement_list_limit()).await?;
    if found.is_empty() {
        return Err(input::invalid("Settlements not found").into());
    }
    let mut out = Vec::with_capacity(found.len());
    for settlement in &found {
        out.push(settlement_json(&mut conn, settlement).await?);
    }
    Ok(Json(out))
}

/// `POST /settlements` is validated by the admin input crate (the fuzzed parser).
pub use ferroloop_admin_input::requests::{CreateRequest, parse_create};

/// Creates the settlement in the caller's transaction; answers with it.
pub async fn execute_create(
    conn: &mut MySqlConnection,
    request: &CreateRequest,
) -> ApiResult<Executed> {
    let model = models::settlement_model_by_name(conn, &request.model)
        .await?
        .filter(|m| m.is_active)
        .ok_or_else(|| input::invalid(format!("Settlement model {} not found", request.model)))?;
    validate_model(&ModelSpec {
        granularity: &model.settlement_granularity,
        interchange: &model.settlement_interchange,
        delay: &model.settlement_delay,
        ledger_account_type: &model.ledger_account_type,
        settlement_account_type: &model.settlement_account_type,
        require_liquidity_check: model.require_liquidity_check,
        auto_position_reset: model.auto_position_reset,
    })
    .map_err(|refusal| input::invalid(refusal.to_string()))?;
    let scope = settlements::model_scope(conn, &request.model)
        .await?
        .ok_or_else(|| input::invalid(format!("Settlement model {} not found", request.model)))?;
    let outcome =
        settlements::create_settlement(conn, &scope, &request.windows, &request.reason, now())
            .await?;
    let settlement_id = match outcome {
        CreateOutcome::Created(id) => id,
        CreateOutcome::WindowMissing => {
            return Err(
                input::invalid("At least one provided settlement window does not exist").into(),
            );
        }
        CreateOutcome::WindowNotSettleable(..) => {
            return Err(input::invalid(
                "At least one settlement window is not in closed or aborted state",
            )
            .into());
        }
        CreateOutcome::NoContent => {
            return Err(input::invalid(format!(
                "The settlement windows hold nothing settlement model {} settles",
                request.model
            ))
            .into());
        }
    };
    let created = load(conn, settlement_id).await?;
    let body = settlement_json(conn, &created).await?;
    tracing::info!(settlement_id, model = %request.model, windows = ?request.windows, "settlement created");
    Ok(Executed {
        status: StatusCode::OK,
        body: Some(body.clone()),
        changed: true,
        before: None,
        after: Some(body),
    })
}

/// `POST /settlements` → 200 with the settlement (auth on: 202 with the pending request).
pub async fn create(
    State(app): State<AppState>,
    ctx: RequestContext,
    body: Body,
) -> ApiResult<Response> {
    parse_create(&body.0)?;
    approvals::submit(
        &app,
        &ctx,
        Change::new(Action::CreateSettlement, "settlements", &body.0),
    )
    .await
}

/// A validated state change of a settlement.
#[derive(Debug, Clone)]
pub enum UpdateRequest {
    Abort { reason: String },
    Accounts(Vec<AccountUpdate>),
}

const ACCOUNT_STATES: [&str; 5] = [
    "PENDING_SETTLEMENT",
    "PS_TRANSFERS_RECORDED",
    "PS_TRANSFERS_RESERVED",
    "PS_TRANSFERS_COMMITTED",
    "SETTLED",
];

/// `{id?, state, reason, externalReference?}` of one account.
fn account_update(
    obj: &Obj,
    participant_id: ParticipantId,
    account_id: AccountId,
) -> Result<AccountUpdate, FspiopError> {
    let state = obj
        .one_of("state", &obj.label("state"), &ACCOUNT_STATES, true)?
        .and_then(|s| SettlementState::parse(&s))
        .ok_or_else(|| input::required(&obj.label("state")))?;
    let reason = obj.string("reason", false)?;
    if let Some(reason) = &reason {
        input::check_length("reason", reason, 512)?;
    }
    let external_reference = obj.string("externalReference", false)?;
    if let Some(reference) = &external_reference {
        input::check_length("externalReference", reference, 256)?;
    }
    Ok(AccountUpdate {
        participant_id,
        account_id,
        state,
        reason,
        external_reference,
    })
}

fn integer_id(obj: &Obj, key: &str) -> Result<u32, FspiopError> {
    let id = obj.required_number(key, input::NumberRule::new(input::Sign::Positive, 0, 10))?;
    u32::try_from(id)
        .map_err(|_| input::invalid(format!("\"{}\" must be an integer", obj.label(key))))
}

/// Validates `PUT /settlements/{id}`: `{state: "ABORTED", reason}` or `{participants: [{id,
/// accounts: [{id, state, reason, externalReference?}]}]}`.
pub fn parse_update(body: &[u8]) -> Result<UpdateRequest, FspiopError> {
    let obj = input::parse_body(body)?;
    if let Some(state) = obj.string("state", false)? {
        if state != SettlementState::Aborted.as_str() {
            return Err(input::not_one_of("state", &["ABORTED"]));
        }
        let reason = obj.required_string("reason")?;
        input::check_length("reason", &reason, 512)?;
        return Ok(UpdateRequest::Abort { reason });
    }
    let participants = obj.objects("participants", true)?.unwrap_or_default();
    let mut updates = Vec::new();
    for participant in &participants {
        let participant_id = ParticipantId(integer_id(participant, "id")?);
        updates.extend(accounts_of(participant, participant_id)?);
    }
    if updates.is_empty() {
        return Err(input::invalid(
            "\"participants\" must name at least one account",
        ));
    }
    Ok(UpdateRequest::Accounts(updates))
}

/// `accounts: [{id, state, reason, externalReference?}]` of one participant.
fn accounts_of(
    obj: &Obj,
    participant_id: ParticipantId,
) -> Result<Vec<AccountUpdate>, FspiopError> {
    let accounts = obj.objects("accounts", true)?.unwrap_or_default();
    if accounts.is_empty() {
        return Err(input::invalid(format!(
            "\"{}\" must contain at least 1 items",
            obj.label("accounts")
        )));
    }
    accounts
        .iter()
        .map(|account| {
            let account_id = AccountId(integer_id(account, "id")?);
            account_update(account, participant_id, account_id)
        })
        .collect()
}

/// The settlement id of an approval target written by the routes below.
fn settlement_of_target(target: &str) -> Option<u64> {
    target
        .strip_prefix("settlement/")?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// Applies a state change in the caller's transaction; answers with the settlement.
pub async fn execute_update(
    conn: &mut MySqlConnection,
    settlement_id: u64,
    request: &UpdateRequest,
) -> ApiResult<Executed> {
    let before = load(conn, settlement_id).await?;
    let before_json = settlement_json(conn, &before).await?;
    let outcome = match request {
        UpdateRequest::Abort { reason } => {
            settlements::abort_settlement(conn, settlement_id, reason, now()).await?
        }
        UpdateRequest::Accounts(updates) => {
            let mut new_id = TransferId::new_uuid_v7;
            settlements::update_accounts(conn, settlement_id, updates, &mut new_id, now()).await?
        }
    };
    let changed = match outcome {
        UpdateOutcome::Done { changed } => changed,
        UpdateOutcome::NotFound => return Err(input::invalid("Settlement not found").into()),
        UpdateOutcome::Refused(reason) => return Err(input::invalid(reason).into()),
    };
    let after = load(conn, settlement_id).await?;
    let body = settlement_json(conn, &after).await?;
    tracing::info!(settlement_id, state = %after.state, changed, "settlement state change");
    metrics::counter!("ferroloop_settlement_changes_total", "state" => after.state.as_str())
        .increment(1);
    Ok(Executed {
        status: StatusCode::OK,
        body: Some(body.clone()),
        changed,
        before: Some(before_json),
        after: Some(body),
    })
}

/// `PUT /settlements/{id}` → 200 with the settlement (auth on: 202 with the pending request).
pub async fn update(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(id): Params<String>,
    body: Body,
) -> ApiResult<Response> {
    let settlement_id = path_u64("id", &id)?;
    let action = match parse_update(&body.0)? {
        UpdateRequest::Abort { .. } => Action::AbortSettlement,
        UpdateRequest::Accounts(_) => Action::UpdateSettlement,
    };
    let target = format!("settlement/{settlement_id}");
    approvals::submit(&app, &ctx, Change::new(action, &target, &body.0)).await
}

/// The settlement narrowed to one account, as central-settlement answers the account routes.
fn narrowed(
    mut settlement: SettlementView,
    participant_id: ParticipantId,
    account_id: Option<AccountId>,
) -> ApiResult<SettlementView> {
    if !settlement
        .accounts
        .iter()
        .any(|a| a.participant_id == participant_id)
    {
        return Err(input::invalid("Participant not in settlement").into());
    }
    settlement.accounts.retain(|a| {
        a.participant_id == participant_id && account_id.is_none_or(|id| a.account_id == id)
    });
    if settlement.accounts.is_empty() {
        return Err(input::invalid("Account not in settlement").into());
    }
    Ok(settlement)
}

/// `GET /settlements/{sid}/participants/{pid}/accounts/{aid}`
pub async fn get_account(
    State(app): State<AppState>,
    Params((sid, pid, aid)): Params<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let settlement_id = path_u64("sid", &sid)?;
    let participant_id = ParticipantId(input::path_id("pid", &pid)?);
    let account_id = AccountId(input::path_id("aid", &aid)?);
    let mut conn = app.pool().acquire().await.map_err(store_error)?;
    let found = narrowed(
        load(&mut conn, settlement_id).await?,
        participant_id,
        Some(account_id),
    )?;
    Ok(Json(settlement_json(&mut conn, &found).await?))
}

/// `GET /settlements/{sid}/participants/{pid}`
pub async fn get_participant(
    State(app): State<AppState>,
    Params((sid, pid)): Params<(String, String)>,
) -> ApiResult<Json<Value>> {
    let settlement_id = path_u64("sid", &sid)?;
    let participant_id = ParticipantId(input::path_id("pid", &pid)?);
    let mut conn = app.pool().acquire().await.map_err(store_error)?;
    let found = narrowed(load(&mut conn, settlement_id).await?, participant_id, None)?;
    Ok(Json(settlement_json(&mut conn, &found).await?))
}

/// `PUT /settlements/{sid}/participants/{pid}` `{accounts: [{id, state, reason,
/// externalReference?}]}` → 200 with the settlement (auth on: 202 with the pending request).
pub async fn update_participant(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params((sid, pid)): Params<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let settlement_id = path_u64("sid", &sid)?;
    let participant_id = ParticipantId(input::path_id("pid", &pid)?);
    accounts_of(&input::parse_body(&body.0)?, participant_id)?;
    let target = format!("settlement/{settlement_id}/participant/{participant_id}");
    let change = Change::new(Action::UpdateSettlementParticipant, &target, &body.0);
    approvals::submit(&app, &ctx, change).await
}

/// `PUT /settlements/{sid}/participants/{pid}/accounts/{aid}` `{state, reason,
/// externalReference?}` → 200 with the settlement (auth on: 202 with the pending request).
pub async fn update_account(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params((sid, pid, aid)): Params<(String, String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let settlement_id = path_u64("sid", &sid)?;
    let participant_id = ParticipantId(input::path_id("pid", &pid)?);
    let account_id = AccountId(input::path_id("aid", &aid)?);
    account_update(&input::parse_body(&body.0)?, participant_id, account_id)?;
    let target = format!("settlement/{settlement_id}/participant/{participant_id}");
    let change =
        Change::new(Action::UpdateSettlementAccount, &target, &body.0).on_account(account_id);
    approvals::submit(&app, &ctx, change).await
}

/// Executes a stored settlement action: `target` is what the route stored as the approval's
/// participant (`settlementWindow/{id}`, `settlements`, `settlement/{id}[/participant/{pid}]`).
async fn execute(
    conn: &mut MySqlConnection,
    action: Action,
    target: &str,
    account_id: Option<AccountId>,
    body: &[u8],
) -> ApiResult<Executed> {
    let bad_target = || ApiError::internal(format!("approval target {target} is not a settlement"));
    match action {
        Action::CreateSettlement => execute_create(conn, &parse_create(body)?).await,
        Action::UpdateSettlement | Action::AbortSettlement => {
            let settlement_id = settlement_of_target(target).ok_or_else(bad_target)?;
            execute_update(conn, settlement_id, &parse_update(body)?).await
        }
        _ => {
            let settlement_id = settlement_of_target(target).ok_or_else(bad_target)?;
            let participant_id = target
                .rsplit('/')
                .next()
                .and_then(|p| p.parse().ok())
                .map(ParticipantId)
                .ok_or_else(bad_target)?;
            let obj = input::parse_body(body)?;
            let updates = match account_id {
                // PUT …/participants/{pid}/accounts/{aid}
                Some(account_id) => vec![account_update(&obj, participant_id, account_id)?],
                // PUT …/participants/{pid}
                None => accounts_of(&obj, participant_id)?,
            };
            execute_update(conn, settlement_id, &UpdateRequest::Accounts(updates)).await
        }
    }
}
