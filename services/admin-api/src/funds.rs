//! Funds in and out (docs/positions.md#funds-in-and-out), recorded synchronously in one transaction
//! each.
//!
//! `POST /participants/{name}/accounts/{id}` records a funds-in (`recordFundsIn`: hub
//! reconciliation +X, DFSP settlement −X, COMMITTED at once) or reserves a funds-out
//! (`recordFundsOutPrepareReserve`: DFSP settlement +X, RESERVED — or ABORTED_REJECTED "Aborted
//! due to insufficient funds" when the settlement position would become positive, or when the
//! cover left would not cover the DFSP's net debit position and reservations,
//! `ferroloop_core::funds_out`);
//! `PUT …/transfers/{transferId}` commits (hub reconciliation −X) or aborts (settlement reversed)
//! a reserved funds-out. All answer 202 like central-ledger, whose admin handler does the same
//! work asynchronously. Where central-ledger's handler only logs a refusal (a reused id with a
//! different body, a commit of a transfer that is not RESERVED), the synchronous answer here is
//! the FSPIOP error instead.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ferroloop_core::currency::Currency;
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::hash::RequestHash;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::AccountId;
use ferroloop_store::MySqlConnection;
use ferroloop_store::admin;
use ferroloop_store::participants::views::{self, AccountView, ParticipantView};
use ferroloop_store::transfers::funds::{
    self, FundsAccount, FundsInOutcome, FundsOutDecision, FundsOutFinish, FundsOutOutcome,
    FundsRequest,
};
use ferroloop_store::transfers::{self, TransferKind};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::approvals;
use crate::change::{Action, Change, Context, Executed, Executing, Executor};
use crate::guard::RequestContext;
use crate::input;
use crate::participants::{HUB_RECONCILIATION, PARTICIPANT_NOT_FOUND, SETTLEMENT, participant};
use crate::{ApiError, ApiResult, AppState, Body, Params};
use ferroloop_admin_input::requests;

/// The changes this module executes for the approval flow.
pub const EXECUTORS: [(Action, Executor); 4] = [
    (Action::RecordFundsIn, execute_stored_record),
    (Action::RecordFundsOutPrepareReserve, execute_stored_record),
    (Action::RecordFundsOutCommit, execute_stored_finish),
    (Action::RecordFundsOutAbort, execute_stored_finish),
];

fn execute_stored_record<'a>(context: Context<'a>, conn: &'a mut MySqlConnection) -> Executing<'a> {
    Box::pin(async move {
        let change = context.change;
        let request = parse_record(change.account()?, change.body)?;
        execute_record(conn, change.participant, &request).await
    })
}

fn execute_stored_finish<'a>(context: Context<'a>, conn: &'a mut MySqlConnection) -> Executing<'a> {
    Box::pin(async move {
        let change = context.change;
        let request = parse_finish(change.account()?, change.transfer()?, change.body)?;
        execute_finish(conn, change.participant, &request).await
    })
}

/// The action the input crate accepted, as the change type (it accepts only funds actions).
fn typed_action(name: &str) -> Result<Action, FspiopError> {
    Action::parse(name).ok_or_else(|| input::required(ACTION_LABEL))
}
/// central-ledger's Joi label of `action`.
const ACTION_LABEL: &str = "action is missing or not supported";
/// central-ledger's text when the account is not the participant's in that currency.
const ACCOUNT_MISMATCH: &str = "The account does not match participant or currency specified";

/// The accounts a funds request moves: the DFSP's settlement account and the hub's
/// reconciliation account in the same currency.
struct FundsAccounts {
    participant: ParticipantView,
    settlement: AccountView,
    hub: ParticipantView,
    hub_reconciliation: AccountView,
}

/// central-ledger's checks (`recordFundsInOut`): the participant exists and is active, and
/// `{id}` is its active SETTLEMENT account (in `currency` when given), all 2001; then the hub's
/// reconciliation account in that currency (3003).
async fn funds_accounts(
    tx: &mut MySqlConnection,
    name: &str,
    account_id: AccountId,
    currency: Option<Currency>,
) -> ApiResult<FundsAccounts> {
    let participant = participant(tx, name, PARTICIPANT_NOT_FOUND).await?;
    if !participant.is_active {
        return Err(ApiError::internal("Participant is currently set inactive"));
    }
    let Some(settlement) = participant
        .accounts
        .iter()
        .find(|a| a.account_id == account_id && currency.is_none_or(|c| a.currency == c))
        .cloned()
    else {
        return Err(ApiError::internal(ACCOUNT_MISMATCH));
    };
    if !settlement.is_active {
        return Err(ApiError::internal("Account is currently set inactive"));
    }
    if settlement.ledger_account_type != SETTLEMENT {
        return Err(ApiError::internal("Account is not SETTLEMENT type"));
    }
    let hub = views::hub(tx).await?;
    let Some(hub_reconciliation) = hub
        .account(settlement.currency, HUB_RECONCILIATION)
        .cloned()
    else {
        return Err(ApiError::add_party(
            "Hub reconciliation account for the specified currency does not exist",
        ));
    };
    Ok(FundsAccounts {
        participant,
        settlement,
        hub,
        hub_reconciliation,
    })
}

fn modified_request() -> ApiError {
    FspiopError::with_detail(
        ErrorCode::MODIFIED_REQUEST,
        "Transfer ID has already been used with different parameters",
    )
    .into()
}

/// The balances a funds movement changes, for the audit row's before/after.
fn balances(accounts: &FundsAccounts) -> Value {
    json!({
        "settlementAccount": {"id": accounts.settlement.account_id, "value": accounts.settlement.value.to_string()},
        "hubReconciliationAccount": {"id": accounts.hub_reconciliation.account_id, "value": accounts.hub_reconciliation.value.to_string()},
    })
}

/// A validated funds-in or funds-out prepare request.
#[derive(Debug, Clone)]
pub struct RecordFunds {
    account_id: AccountId,
    transfer_id: TransferId,
    action: Action,
    reason: String,
    amount: Decimal,
    currency: Currency,
    extension_rows: Vec<(String, String)>,
    hash: RequestHash,
}

/// Validates `{transferId, externalReference, action, reason, amount: {amount, currency},
/// extensionList?}` with central-ledger's error contract.
pub fn parse_record(account_id: AccountId, body: &[u8]) -> Result<RecordFunds, FspiopError> {
    // The validation is the admin input crate's, which the fuzz target exercises.
    let r = requests::parse_record(account_id, body)?;
    Ok(RecordFunds {
        account_id: r.account_id,
        transfer_id: r.transfer_id,
        action: typed_action(&r.action)?,
        reason: r.reason,
        amount: r.amount,
        currency: r.currency,
        extension_rows: r.extension_rows,
        hash: r.hash,
    })
}

/// Records a funds-in or reserves a funds-out in the caller's transaction.
pub async fn execute_record(
    conn: &mut MySqlConnection,
    name: &str,
    request: &RecordFunds,
) -> ApiResult<Executed> {
    let account_id = request.account_id;
    admin::begin_admin_change(conn).await?;
    let accounts = funds_accounts(conn, name, account_id, Some(request.currency)).await?;
    let before = balances(&accounts);
    let funds = FundsRequest {
        transfer_id: request.transfer_id,
        request_hash: request.hash,
        hub_account: FundsAccount {
            account_id: accounts.hub_reconciliation.account_id,
            participant_id: accounts.hub.participant_id,
            participant_name: &accounts.hub.name,
        },
        settlement_account: FundsAccount {
            account_id: accounts.settlement.account_id,
            participant_id: accounts.participant.participant_id,
            participant_name: &accounts.participant.name,
        },
        currency: request.currency,
        amount: request.amount,
        reason: &request.reason,
        extensions: &request.extension_rows,
        now: ferroloop_store::db_time(time::OffsetDateTime::now_utc()),
    };
    let (outcome, kind, new) = record(conn, request.action, &funds).await?;
    let action = request.action.as_str();
    metrics::counter!("ferroloop_admin_funds_total", "action" => action, "outcome" => outcome.clone())
        .increment(1);
    tracing::info!(
        participant = %name, account_id = account_id.get(), transfer_id = %request.transfer_id, %action,
        amount = %request.amount, currency = %request.currency, %outcome, "funds request"
    );
    match new {
        Some(true) => {
            let after = funds_accounts(conn, name, account_id, Some(request.currency)).await?;
            Ok(Executed {
                status: StatusCode::ACCEPTED,
                body: None,
                changed: true,
                before: Some(before),
                after: Some(json!({"outcome": outcome, "balances": balances(&after)})),
            })
        }
        Some(false) => resend(conn, request, kind, accounts.settlement.account_id).await,
        None => Err(modified_request()),
    }
}

/// Records the request; the outcome's name, the transfer kind, and whether the request was new
/// (`Some(true)`), a resend (`Some(false)`) or a modified request (`None`).
async fn record(
    conn: &mut MySqlConnection,
    action: Action,
    funds: &FundsRequest<'_>,
) -> ApiResult<(String, TransferKind, Option<bool>)> {
    if action == Action::RecordFundsIn {
        let outcome = funds::record_funds_in_request(conn, funds).await?;
        let new = match outcome {
            FundsInOutcome::Recorded => Some(true),
            FundsInOutcome::Duplicate => Some(false),
            FundsInOutcome::ModifiedRequest => None,
        };
        return Ok((format!("{outcome:?}"), TransferKind::FundsIn, new));
    }
    let outcome = funds::record_funds_out_prepare(conn, funds).await?;
    let new = match outcome {
        FundsOutOutcome::Reserved
        | FundsOutOutcome::InsufficientFunds
        | FundsOutOutcome::BacksPosition => Some(true),
        FundsOutOutcome::Duplicate => Some(false),
        FundsOutOutcome::ModifiedRequest => None,
    };
    Ok((format!("{outcome:?}"), TransferKind::FundsOut, new))
}

/// Same id, same body: a resend, unchanged — if it also names the same settlement account.
async fn resend(
    conn: &mut MySqlConnection,
    request: &RecordFunds,
    kind: TransferKind,
    settlement_account_id: AccountId,
) -> ApiResult<Executed> {
    let existing = transfers::load_transfers(conn, &[request.transfer_id], false)
        .await?
        .remove(&request.transfer_id);
    let settlement_side = existing.as_ref().and_then(|t| match kind {
        TransferKind::FundsIn => t.payee_account_id,
        _ => t.payer_account_id,
    });
    if existing.is_some_and(|t| t.kind == kind) && settlement_side == Some(settlement_account_id) {
        Ok(Executed {
            status: StatusCode::ACCEPTED,
            body: None,
            changed: false,
            before: None,
            after: None,
        })
    } else {
        Err(modified_request())
    }
}

/// `POST /participants/{name}/accounts/{id}`
/// `{transferId, externalReference, action, reason, amount: {amount, currency}, extensionList?}`
/// → 202 (auth on: 202 with the pending approval request).
pub async fn record_funds(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params((name, id)): Params<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let account_id = AccountId(input::path_id("id", &id)?);
    let request = parse_record(account_id, &body.0)?;
    let change = Change::new(request.action, &name, &body.0)
        .on_transfer(account_id, request.transfer_id.as_str());
    approvals::submit(&app, &ctx, change).await
}

/// A validated funds-out commit or abort.
#[derive(Debug, Clone)]
pub struct FinishFunds {
    account_id: AccountId,
    transfer_id: TransferId,
    action: Action,
    reason: String,
}

/// Validates `{action, reason}` of a funds-out commit or abort.
pub fn parse_finish(
    account_id: AccountId,
    transfer_id: &str,
    body: &[u8],
) -> Result<FinishFunds, FspiopError> {
    let r = requests::parse_finish(account_id, transfer_id, body)?;
    Ok(FinishFunds {
        account_id: r.account_id,
        transfer_id: r.transfer_id,
        action: typed_action(&r.action)?,
        reason: r.reason,
    })
}

/// Commits or aborts a reserved funds-out in the caller's transaction.
pub async fn execute_finish(
    conn: &mut MySqlConnection,
    name: &str,
    request: &FinishFunds,
) -> ApiResult<Executed> {
    let decision = if request.action == Action::RecordFundsOutCommit {
        FundsOutDecision::Commit
    } else {
        FundsOutDecision::Abort
    };
    let account_id = request.account_id;
    let transfer_id = request.transfer_id;
    let action = request.action.as_str();
    admin::begin_admin_change(conn).await?;
    let accounts = funds_accounts(conn, name, account_id, None).await?;
    let before = balances(&accounts);
    let outcome = funds::finish_funds_out(
        conn,
        transfer_id,
        accounts.settlement.account_id,
        decision,
        &request.reason,
        ferroloop_store::db_time(time::OffsetDateTime::now_utc()),
    )
    .await?;
    metrics::counter!("ferroloop_admin_funds_total", "action" => action, "outcome" => format!("{outcome:?}"))
        .increment(1);
    tracing::info!(participant = %name, account_id = account_id.get(), %transfer_id, %action, ?outcome, "funds-out decision");
    let unchanged = Executed {
        status: StatusCode::ACCEPTED,
        body: None,
        changed: false,
        before: None,
        after: None,
    };
    match outcome {
        FundsOutFinish::Done => {
            let after = funds_accounts(conn, name, account_id, None).await?;
            Ok(Executed {
                changed: true,
                before: Some(before),
                after: Some(balances(&after)),
                ..unchanged
            })
        }
        FundsOutFinish::AlreadyDone => Ok(unchanged),
        FundsOutFinish::NotFound => Err(FspiopError::new(ErrorCode::TRANSFER_ID_NOT_FOUND).into()),
        FundsOutFinish::WrongAccount => Err(ApiError::internal(ACCOUNT_MISMATCH)),
        FundsOutFinish::NotReserved(state) => Err(ApiError::internal(format!(
            "Invalid State: {state} - expected: RESERVED"
        ))),
    }
}

/// `PUT /participants/{name}/accounts/{id}/transfers/{transferId}` `{action, reason}` → 202
/// (auth on: 202 with the pending approval request).
pub async fn finish_funds_out(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params((name, id, transfer_id)): Params<(String, String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let account_id = AccountId(input::path_id("id", &id)?);
    let request = parse_finish(account_id, &transfer_id, &body.0)?;
    let change = Change::new(request.action, &name, &body.0)
        .on_transfer(account_id, request.transfer_id.as_str());
    approvals::submit(&app, &ctx, change).await
}
