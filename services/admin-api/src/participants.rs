//! Participants, hub accounts, accounts, positions, initial position and limits, limits and
//! callback endpoints (central-ledger's routes; docs/positions.md#onboarding).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferroloop_core::currency::Currency;
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use ferroloop_fspiop::endpoint;
use ferroloop_store::MySqlConnection;
use ferroloop_store::admin;
use ferroloop_store::participants::limits::InitialPositionOutcome;
use ferroloop_store::participants::views::ParticipantView;
use ferroloop_store::participants::{self, accounts, endpoints, limits, views};
use ferroloop_store::settlement::models;
use rust_decimal::Decimal;
use serde_json::json;

use crate::approvals;
use crate::change::{Action, Change, Context, Executed, Executing, Executor};
use crate::guard::RequestContext;
use crate::input;
use crate::output::{AccountBalance, CurrencyLimit, Limit, ParticipantEntity, Position};
use crate::{ApiError, ApiResult, AppState, Body, Params};

/// central-ledger's text for a name (or name and currency) that resolves to nothing.
pub const PARTICIPANT_NOT_FOUND: &str = "Participant does not exist";
/// central-ledger's text for `GET /participants/{name}` (and settlement models).
pub const RESOURCE_NOT_FOUND: &str = "The requested resource could not be found.";

/// The changes this module executes for the approval flow.
pub const EXECUTORS: [(Action, Executor); 5] = [
    (Action::AdjustLimit, execute_stored_limit_change),
    (Action::InitialPositionAndLimits, execute_stored_initial),
    (Action::SetEndpoint, execute_stored_endpoint),
    (
        Action::ParticipantActivation,
        execute_stored_participant_activation,
    ),
    (Action::AccountActivation, execute_stored_account_activation),
];

fn execute_stored_limit_change<'a>(
    context: Context<'a>,
    conn: &'a mut MySqlConnection,
) -> Executing<'a> {
    Box::pin(async move {
        let change = parse_limit_change(context.change.body)?;
        execute_limit_change(
            conn,
            context.change.participant,
            &change,
            context.changed_by,
        )
        .await
    })
}

fn execute_stored_initial<'a>(
    context: Context<'a>,
    conn: &'a mut MySqlConnection,
) -> Executing<'a> {
    Box::pin(async move {
        let initial = parse_initial(context.change.body)?;
        execute_initial(
            conn,
            context.change.participant,
            &initial,
            context.changed_by,
        )
        .await
    })
}

fn execute_stored_endpoint<'a>(
    context: Context<'a>,
    conn: &'a mut MySqlConnection,
) -> Executing<'a> {
    Box::pin(async move {
        let endpoint = parse_endpoint(context.change.body, context.app.callback_policy())?;
        let name = context.change.participant;
        execute_endpoint(conn, name, &endpoint, context.changed_by).await
    })
}

fn execute_stored_participant_activation<'a>(
    context: Context<'a>,
    conn: &'a mut MySqlConnection,
) -> Executing<'a> {
    Box::pin(async move {
        let is_active = parse_activation(context.change.body)?;
        let name = context.change.participant;
        execute_participant_activation(context.app, conn, name, is_active).await
    })
}

fn execute_stored_account_activation<'a>(
    context: Context<'a>,
    conn: &'a mut MySqlConnection,
) -> Executing<'a> {
    Box::pin(async move {
        let change = context.change;
        let is_active = parse_activation(change.body)?;
        execute_account_activation(conn, change.participant, change.account()?, is_active).await
    })
}

pub const POSITION: &str = "POSITION";
pub const SETTLEMENT: &str = "SETTLEMENT";
pub const HUB_RECONCILIATION: &str = "HUB_RECONCILIATION";
pub const HUB_MULTILATERAL_SETTLEMENT: &str = "HUB_MULTILATERAL_SETTLEMENT";
/// Hub account types the hub may create (central-ledger's `HUB_PARTICIPANT.ACCOUNTS`, less
/// HUB_FEE, which this ledger does not have).
const HUB_ACCOUNT_TYPES: [&str; 2] = [HUB_RECONCILIATION, HUB_MULTILATERAL_SETTLEMENT];
/// Alarm percentage of a limit set by `initialPositionAndLimits` (the column default).
const DEFAULT_ALARM_PERCENTAGE: u32 = 10;

pub use ferroloop_admin_input::requests::{
    InitialPosition, LimitChange, NET_DEBIT_CAP, NewEndpoint, NewParticipant, parse_activation,
    parse_endpoint, parse_initial, parse_limit_change, parse_participant,
};

/// The participant with this name, or 3200 with `detail`.
pub async fn participant(
    tx: &mut MySqlConnection,
    name: &str,
    detail: &str,
) -> ApiResult<ParticipantView> {
    views::participant_by_name(tx, name)
        .await?
        .ok_or_else(|| ApiError::not_found(detail))
}

fn entity(app: &AppState, participant: &ParticipantView) -> ParticipantEntity {
    ParticipantEntity::new(participant, app.public_url())
}

/// Reloads a participant inside the transaction that changed it.
async fn reload(
    tx: &mut MySqlConnection,
    participant_id: ParticipantId,
) -> ApiResult<ParticipantView> {
    views::participant_by_id(tx, participant_id)
        .await?
        .ok_or_else(|| ApiError::internal("participant vanished"))
}

/// A `currency` query parameter, validated like the body's (3101 when not a currency).
fn query_currency(query: &HashMap<String, String>) -> ApiResult<Option<Currency>> {
    match query.get("currency").map(String::as_str) {
        None => Ok(None),
        Some(value) => Ok(Some(input::parse_currency("currency", value)?)),
    }
}

fn query_text<'q>(query: &'q HashMap<String, String>, key: &str) -> Option<&'q str> {
    query.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

/// `GET /participants[?isProxy=]`
pub async fn list(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<ParticipantEntity>>> {
    let is_proxy = match query.get("isProxy").map(String::as_str) {
        None | Some("") => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(_) => {
            return Err(input::not_one_of("isProxy", &["false", "0", "true", "1"]).into());
        }
    };
    let mut tx = app.begin().await?;
    let all = views::participants(&mut tx, is_proxy).await?;
    Ok(Json(all.iter().map(|p| entity(&app, p)).collect()))
}

/// `GET /participants/{name}`
pub async fn get_one(
    State(app): State<AppState>,
    Params(name): Params<String>,
) -> ApiResult<Json<ParticipantEntity>> {
    let mut tx = app.begin().await?;
    let found = participant(&mut tx, &name, RESOURCE_NOT_FOUND).await?;
    Ok(Json(entity(&app, &found)))
}

/// `POST /participants` `{name, currency, isProxy?}` → 201 with the participant entity.
pub async fn create(
    State(app): State<AppState>,
    ctx: RequestContext,
    body: Body,
) -> ApiResult<(StatusCode, Json<ParticipantEntity>)> {
    let NewParticipant {
        name,
        currency,
        is_proxy,
    } = parse_participant(&body.0)?;
    let by = ctx.created_by();

    let mut tx = app.begin().await?;
    admin::begin_admin_change(&mut tx).await?;
    check_hub_accounts(&mut tx, currency).await?;
    let participant_id = match views::participant_by_name(&mut tx, &name).await? {
        Some(existing) if existing.has_currency(currency) => {
            return Err(ApiError::client(
                "Participant currency has already been registered",
            ));
        }
        Some(existing) => existing.participant_id,
        None => {
            refuse_case_variant(&mut tx, &name).await?;
            participants::create_participant_with_proxy(&mut tx, &name, is_proxy, &by).await?
        }
    };
    let models = models::settlement_models_for_currency(&mut tx, currency.as_str()).await?;
    let mut account_types: Vec<String> = Vec::new();
    if models.is_empty() {
        if app.inner.require_settlement_model {
            return Err(FspiopError::with_detail(
                ErrorCode::GENERIC_SETTLEMENT_ERROR,
                "Unable to find a matching or default, Settlement Model",
            )
            .into());
        }
        account_types.extend([POSITION.to_owned(), SETTLEMENT.to_owned()]);
    }
    for model in &models {
        for account_type in [&model.ledger_account_type, &model.settlement_account_type] {
            if !account_types.contains(account_type) {
                account_types.push(account_type.clone());
            }
        }
    }
    for account_type in &account_types {
        accounts::create_account(&mut tx, participant_id, currency, account_type, false, &by)
            .await?;
    }
    let created = reload(&mut tx, participant_id).await?;
    let created = entity(&app, &created);
    ctx.commit(
        tx,
        StatusCode::CREATED,
        None,
        serde_json::to_value(&created).ok(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A new name must not equal an existing one but for letter case (3000, as for a name already
/// registered): FSPIOP names are compared exactly, and a look-alike could pass for the other
/// participant wherever a comparison folds case. Admin changes run one at a time
/// (`begin_admin_change`), so two racing look-alikes cannot both pass this check.
async fn refuse_case_variant(tx: &mut MySqlConnection, name: &str) -> ApiResult<()> {
    match views::participant_name_case_variant(tx, name).await? {
        Some(existing) => Err(ApiError::client(&format!(
            "Participant name {name} differs only in letter case from the existing participant {existing}"
        ))),
        None => Ok(()),
    }
}

/// The hub must have its reconciliation and multilateral settlement accounts in the currency
/// before a participant (or settlement model) can use it (3003 otherwise).
pub async fn check_hub_accounts(
    tx: &mut MySqlConnection,
    currency: Currency,
) -> ApiResult<ParticipantView> {
    let hub = views::hub(tx).await?;
    if hub.account(currency, HUB_RECONCILIATION).is_none() {
        return Err(ApiError::add_party(
            "Hub reconciliation account for the specified currency does not exist",
        ));
    }
    if hub.account(currency, HUB_MULTILATERAL_SETTLEMENT).is_none() {
        return Err(ApiError::add_party(
            "Hub multilateral net settlement account for the specified currency does not exist",
        ));
    }
    Ok(hub)
}

/// Runs an activation change: an activation waits for a checker (auth on); a deactivation —
/// which only takes away, and must work at once when a participant misbehaves — executes
/// directly.
async fn submit_activation(
    app: &AppState,
    ctx: &RequestContext,
    change: Change<'_>,
    is_active: bool,
) -> ApiResult<Response> {
    if is_active {
        approvals::submit(app, ctx, change).await
    } else {
        approvals::execute_now(app, ctx, change).await
    }
}

/// `PUT /participants/{name}` `{isActive}` → 200 with the participant entity (activation with
/// auth on: 202 with the pending approval request).
pub async fn update(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(name): Params<String>,
    body: Body,
) -> ApiResult<Response> {
    let is_active = parse_activation(&body.0)?;
    let change = Change::new(Action::ParticipantActivation, &name, &body.0);
    submit_activation(&app, &ctx, change, is_active).await
}

/// Activates or deactivates a participant in the caller's transaction.
pub async fn execute_participant_activation(
    app: &AppState,
    conn: &mut MySqlConnection,
    name: &str,
    is_active: bool,
) -> ApiResult<Executed> {
    admin::begin_admin_change(conn).await?;
    let found = participant(conn, name, PARTICIPANT_NOT_FOUND).await?;
    participants::set_participant_active(conn, found.participant_id, is_active).await?;
    tracing::info!(participant = %name, is_active, "participant activation changed");
    let updated = reload(conn, found.participant_id).await?;
    Ok(Executed {
        status: StatusCode::OK,
        body: serde_json::to_value(entity(app, &updated)).ok(),
        changed: true,
        before: Some(json!({"isActive": found.is_active})),
        after: Some(json!({"isActive": updated.is_active})),
    })
}

/// `POST /participants/{name}/accounts` `{currency, type}`: hub accounts only → 201 with the
/// hub's entity. The checks and their order are central-ledger's (`createHubAccount`).
pub async fn create_hub_account(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(name): Params<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<ParticipantEntity>)> {
    let obj = body.object()?;
    let currency = obj.required_currency("currency")?;
    let account_type = obj.required_string("type")?;
    let mut tx = app.begin().await?;
    admin::begin_admin_change(&mut tx).await?;
    let Some(found) = views::participant_by_name(&mut tx, &name).await? else {
        return Err(ApiError::add_party("Participant was not found."));
    };
    let known = accounts::ledger_account_types(&mut tx).await?;
    if !known.iter().any(|t| t.is_active && t.name == account_type) {
        return Err(ApiError::add_party("Ledger account type was not found."));
    }
    if found.account(currency, &account_type).is_some() {
        return Err(ApiError::add_party(
            "Hub account has already been registered.",
        ));
    }
    if !found.is_hub {
        return Err(ApiError::add_party(
            "Endpoint is reserved for creation of Hub account types only.",
        ));
    }
    if !HUB_ACCOUNT_TYPES.contains(&account_type.as_str()) {
        return Err(ApiError::add_party(
            "The requested hub operator account type is not allowed.",
        ));
    }
    accounts::create_account(
        &mut tx,
        found.participant_id,
        currency,
        &account_type,
        true,
        &ctx.created_by(),
    )
    .await?;
    let hub = reload(&mut tx, found.participant_id).await?;
    ctx.commit(
        tx,
        StatusCode::CREATED,
        None,
        Some(json!({"participant": name, "currency": currency, "type": account_type})),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(entity(&app, &hub))))
}

/// `GET /participants/{name}/accounts[?currency=]`: every account with its balance.
pub async fn get_accounts(
    State(app): State<AppState>,
    Params(name): Params<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<AccountBalance>>> {
    let currency = query_currency(&query)?;
    let mut tx = app.begin().await?;
    let found = participant(&mut tx, &name, PARTICIPANT_NOT_FOUND).await?;
    Ok(Json(
        found
            .accounts
            .iter()
            .filter(|a| currency.is_none_or(|c| a.currency == c))
            .map(AccountBalance::from)
            .collect(),
    ))
}

/// `PUT /participants/{name}/accounts/{id}` `{isActive}`: POSITION accounts only → 200
/// (activation with auth on: 202 with the pending approval request).
pub async fn update_account(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params((name, id)): Params<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let account_id = AccountId(input::path_id("id", &id)?);
    let is_active = parse_activation(&body.0)?;
    let change = Change::new(Action::AccountActivation, &name, &body.0).on_account(account_id);
    submit_activation(&app, &ctx, change, is_active).await
}

/// Activates or deactivates a POSITION account in the caller's transaction.
pub async fn execute_account_activation(
    conn: &mut MySqlConnection,
    name: &str,
    account_id: AccountId,
    is_active: bool,
) -> ApiResult<Executed> {
    admin::begin_admin_change(conn).await?;
    let found = participant(conn, name, PARTICIPANT_NOT_FOUND).await?;
    let Some(account) = found.account_by_id(account_id) else {
        return Err(
            if accounts::account_owner(conn, account_id).await?.is_some() {
                ApiError::internal("Participant/account mismatch")
            } else {
                ApiError::internal("Account not found")
            },
        );
    };
    if account.ledger_account_type != POSITION {
        return Err(ApiError::internal(
            "Only position account update is permitted",
        ));
    }
    let was_active = account.is_active;
    accounts::set_account_active(conn, account_id, is_active).await?;
    tracing::info!(participant = %name, account_id = account_id.get(), is_active, "account activation changed");
    Ok(Executed {
        status: StatusCode::OK,
        body: None,
        changed: true,
        before: Some(json!({"accountId": account_id, "isActive": was_active})),
        after: Some(json!({"accountId": account_id, "isActive": is_active})),
    })
}

/// `GET /participants/{name}/positions[?currency=]`: the POSITION accounts' positions (one
/// object with a currency, else an array).
pub async fn get_positions(
    State(app): State<AppState>,
    Params(name): Params<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let currency = query_currency(&query)?;
    let mut tx = app.begin().await?;
    let found = participant(&mut tx, &name, PARTICIPANT_NOT_FOUND).await?;
    Ok(match currency {
        Some(currency) => {
            let account = found
                .account(currency, POSITION)
                .ok_or_else(|| ApiError::not_found(PARTICIPANT_NOT_FOUND))?;
            Json(Position::from(account)).into_response()
        }
        None => Json(
            found
                .accounts
                .iter()
                .filter(|a| a.ledger_account_type == POSITION)
                .map(Position::from)
                .collect::<Vec<_>>(),
        )
        .into_response(),
    })
}

/// `POST /participants/{name}/initialPositionAndLimits`
/// `{currency, limit: {type: "NET_DEBIT_CAP", value}, initialPosition?}` → 201 (auth on: 202
/// with the pending approval request).
pub async fn initial_position_and_limits(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(name): Params<String>,
    body: Body,
) -> ApiResult<Response> {
    parse_initial(&body.0)?;
    let change = Change::new(Action::InitialPositionAndLimits, &name, &body.0);
    approvals::submit(&app, &ctx, change).await
}

/// Sets the opening position and net debit cap, and activates the accounts, in the caller's
/// transaction.
pub async fn execute_initial(
    conn: &mut MySqlConnection,
    name: &str,
    initial: &InitialPosition,
    changed_by: &str,
) -> ApiResult<Executed> {
    let currency = initial.currency;
    admin::begin_admin_change(conn).await?;
    let found = participant(conn, name, PARTICIPANT_NOT_FOUND).await?;
    let (Some(position), Some(settlement)) = (
        found.account(currency, POSITION),
        found.account(currency, SETTLEMENT),
    ) else {
        return Err(ApiError::not_found(PARTICIPANT_NOT_FOUND));
    };
    let outcome = limits::set_initial_position_and_limit(
        conn,
        position.account_id,
        settlement.account_id,
        initial.position,
        initial.net_debit_cap,
        Decimal::from(DEFAULT_ALARM_PERCENTAGE),
        changed_by,
    )
    .await?;
    if outcome == InitialPositionOutcome::AlreadySet {
        return Err(ApiError::internal(
            "Participant Limit or Initial Position already set",
        ));
    }
    tracing::info!(participant = %name, %currency, initial_position = %initial.position, net_debit_cap = %initial.net_debit_cap, "initial position and limits set");
    Ok(Executed {
        status: StatusCode::CREATED,
        body: None,
        changed: true,
        before: None,
        after: Some(json!({"currency": currency,
            "initialPosition": initial.position.to_string(),
            "netDebitCap": initial.net_debit_cap.to_string()})),
    })
}

fn currency_limit(view: &limits::LimitView, with_name: bool) -> CurrencyLimit {
    CurrencyLimit {
        name: with_name.then(|| view.participant_name.clone()),
        currency: view.currency,
        limit: Limit {
            limit_type: view.limit_type.clone(),
            value: view.value,
            alarm_percentage: view.alarm_percentage,
        },
    }
}

/// `GET /participants/{name}/limits[?currency=&type=]`
pub async fn get_limits(
    State(app): State<AppState>,
    Params(name): Params<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<CurrencyLimit>>> {
    let currency = query_currency(&query)?;
    let mut tx = app.begin().await?;
    let found = participant(&mut tx, &name, PARTICIPANT_NOT_FOUND).await?;
    if let Some(currency) = currency
        && found.account(currency, POSITION).is_none()
    {
        return Err(ApiError::not_found(PARTICIPANT_NOT_FOUND));
    }
    let limits = limits::limits(
        &mut tx,
        Some(found.participant_id),
        currency,
        query_text(&query, "type"),
    )
    .await?;
    Ok(Json(
        limits.iter().map(|l| currency_limit(l, false)).collect(),
    ))
}

/// `GET /participants/limits[?currency=&type=]`: every participant's limits, with names.
pub async fn all_limits(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<CurrencyLimit>>> {
    let currency = query_currency(&query)?;
    let mut tx = app.begin().await?;
    let limits = limits::limits(&mut tx, None, currency, query_text(&query, "type")).await?;
    Ok(Json(
        limits.iter().map(|l| currency_limit(l, true)).collect(),
    ))
}

/// Sets the net debit cap in the caller's transaction.
pub async fn execute_limit_change(
    conn: &mut MySqlConnection,
    name: &str,
    change: &LimitChange,
    changed_by: &str,
) -> ApiResult<Executed> {
    let currency = change.currency;
    admin::begin_admin_change(conn).await?;
    let found = participant(conn, name, PARTICIPANT_NOT_FOUND).await?;
    let Some(position) = found.account(currency, POSITION) else {
        return Err(ApiError::not_found(PARTICIPANT_NOT_FOUND));
    };
    let before = limits::limits(
        conn,
        Some(found.participant_id),
        Some(currency),
        Some(NET_DEBIT_CAP),
    )
    .await?
    .first()
    .map(|l| serde_json::to_value(currency_limit(l, false)).unwrap_or_default());
    limits::set_net_debit_cap(
        conn,
        position.account_id,
        change.value,
        change.alarm_percentage,
        changed_by,
    )
    .await?;
    tracing::info!(participant = %name, currency = %currency, net_debit_cap = %change.value, "limit adjusted");
    let after = CurrencyLimit {
        name: None,
        currency,
        limit: Limit {
            limit_type: NET_DEBIT_CAP.to_owned(),
            value: change.value,
            alarm_percentage: change.alarm_percentage,
        },
    };
    let after = serde_json::to_value(&after).unwrap_or_default();
    Ok(Executed {
        status: StatusCode::OK,
        body: Some(after.clone()),
        changed: true,
        before,
        after: Some(after),
    })
}

/// `PUT /participants/{name}/limits` `{currency, limit: {type, value, alarmPercentage}}` → 200
/// `{currency, limit}` (auth on: 202 with the pending approval request). No check that the new
/// net debit cap covers the current position (deliberate in central-ledger, project#511).
pub async fn adjust_limits(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(name): Params<String>,
    body: Body,
) -> ApiResult<Response> {
    parse_limit_change(&body.0)?;
    let change = Change::new(Action::AdjustLimit, &name, &body.0);
    approvals::submit(&app, &ctx, change).await
}

/// `POST /participants/{name}/endpoints` `{type, value}` → 201 (insert or replace; auth on:
/// 202 with the pending approval request).
pub async fn add_endpoint(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(name): Params<String>,
    body: Body,
) -> ApiResult<Response> {
    parse_endpoint(&body.0, app.callback_policy())?;
    let change = Change::new(Action::SetEndpoint, &name, &body.0);
    approvals::submit(&app, &ctx, change).await
}

/// Stores an endpoint in the caller's transaction.
pub async fn execute_endpoint(
    conn: &mut MySqlConnection,
    name: &str,
    endpoint: &NewEndpoint,
    changed_by: &str,
) -> ApiResult<Executed> {
    let NewEndpoint {
        endpoint_type,
        value,
    } = endpoint;
    admin::begin_admin_change(conn).await?;
    let found = participant(conn, name, PARTICIPANT_NOT_FOUND).await?;
    let before = endpoints::of_participant(conn, found.participant_id)
        .await?
        .into_iter()
        .find(|(t, _)| t == endpoint_type)
        .map(|(_, v)| json!({"type": endpoint_type, "value": v}));
    endpoints::set_endpoint(conn, found.participant_id, endpoint_type, value, changed_by).await?;
    tracing::info!(participant = %name, %endpoint_type, value = %endpoint::redacted(value), "endpoint set");
    Ok(Executed {
        status: StatusCode::CREATED,
        body: None,
        changed: true,
        before,
        after: Some(json!({"type": endpoint_type, "value": value})),
    })
}

#[derive(Debug, serde::Serialize)]
pub struct Endpoint {
    #[serde(rename = "type")]
    endpoint_type: String,
    value: String,
}

/// `GET /participants/{name}/endpoints[?type=]`: every endpoint, or with `type` that one
/// (`{}` when it is not registered).
pub async fn get_endpoints(
    State(app): State<AppState>,
    Params(name): Params<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let mut tx = app.begin().await?;
    let found = participant(&mut tx, &name, PARTICIPANT_NOT_FOUND).await?;
    let endpoints: Vec<Endpoint> = endpoints::of_participant(&mut tx, found.participant_id)
        .await?
        .into_iter()
        .map(|(endpoint_type, value)| Endpoint {
            endpoint_type,
            value,
        })
        .collect();
    Ok(match query_text(&query, "type") {
        Some(wanted) => match endpoints.into_iter().find(|e| e.endpoint_type == wanted) {
            Some(endpoint) => Json(endpoint).into_response(),
            None => Json(serde_json::json!({})).into_response(),
        },
        None => Json(endpoints).into_response(),
    })
}
