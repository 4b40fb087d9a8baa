//! Maker/checker for every change that moves money, limits or trust (auth on).
//!
//! A maker's funds in/out (`POST /participants/{name}/accounts/{id}`, `PUT
//! …/transfers/{transferId}`), limit change (`PUT /participants/{name}/limits`), opening
//! position and limit (`POST …/initialPositionAndLimits`), callback endpoint (`POST
//! …/endpoints`), JWS key (`PUT`/`DELETE …/jwsKey`) or activation (`PUT /participants/{name}`,
//! `PUT …/accounts/{id}` with `isActive: true`) is validated, dry-run in a savepoint that is
//! rolled back (so a request that cannot execute is refused at once), stored as a PENDING
//! request and answered 202 with it. A different person with the `approvals:decide` privilege
//! then approves (`POST /approvals/{id}/approve`) — which executes the stored request — or
//! rejects it (`…/reject`), before it expires. Deactivation takes away rather than grants, and
//! must work at once in an emergency: it executes directly, audited like everything else.
//!
//! Exactly once: the decision locks the request row and moves it out of PENDING with a
//! conditional UPDATE in the same transaction as the execution. A storage failure rolls both
//! back (the request stays PENDING and can be approved again); a domain refusal at execution
//! (say the account was deactivated meanwhile) rolls back only the execution's savepoint and
//! leaves the request FAILED with the refusal as its result.
//!
//! With auth off (`ADMIN_AUTH=off`, local development) every change executes directly, as in
//! central-ledger.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_store::admin;
use ferroloop_store::approvals::{self, ApprovalStatus, ApprovalView, NewApproval};
use ferroloop_store::{MySql, MySqlConnection, Transaction};
use serde_json::{Value, json};
use time::PrimitiveDateTime;

use crate::guard::{Record, RequestContext};
use crate::output::js_date;
use crate::{
    ApiError, ApiResult, AppState, Body, Params, funds, input, jws_keys, participants, settlements,
};

/// The approval action of a limit change (funds use their `action` names).
pub const ADJUST_LIMIT: &str = "adjustLimit";
/// The approval action of an opening position and net debit cap.
pub const INITIAL_POSITION_AND_LIMITS: &str = "initialPositionAndLimits";
/// The approval action of a callback endpoint (insert or replace).
pub const SET_ENDPOINT: &str = "setEndpoint";
/// The approval action of a JWS key registration or rotation.
pub const SET_JWS_KEY: &str = "setJwsKey";
/// The approval action of a JWS key removal.
pub const REMOVE_JWS_KEY: &str = "removeJwsKey";
/// The approval action of a participant's activation (or, with auth off, deactivation).
pub const PARTICIPANT_ACTIVATION: &str = "participantActivation";
/// The approval action of a POSITION account's activation (or, with auth off, deactivation).
pub const ACCOUNT_ACTIVATION: &str = "accountActivation";

/// What an executed change answers, and what its audit row records.
#[derive(Debug, Clone)]
pub struct Executed {
    pub status: StatusCode,
    pub body: Option<Value>,
    /// False when nothing changed (a resend of a request already applied).
    pub changed: bool,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Executed {
    pub fn response(&self) -> Response {
        match &self.body {
            Some(body) => (self.status, Json(body.clone())).into_response(),
            None => self.status.into_response(),
        }
    }
}

/// Ends a change executed directly: committed with its audit row when it changed
/// something, else rolled back (the guard audits it as "no change").
async fn finish_direct(
    ctx: &RequestContext,
    tx: Transaction<'static, MySql>,
    done: Executed,
) -> ApiResult<Response> {
    if done.changed {
        ctx.commit(tx, done.status, done.before.clone(), done.after.clone())
            .await?;
    }
    Ok(done.response())
}

/// A change waiting for a checker.
#[derive(Debug, Clone, Copy)]
pub struct Pending<'a> {
    pub action: &'a str,
    pub participant: &'a str,
    pub account_id: Option<u32>,
    pub transfer_id: Option<&'a str>,
    pub body: &'a [u8],
}

impl<'a> Pending<'a> {
    /// A change of a participant that names no account or transfer.
    pub fn new(action: &'a str, participant: &'a str, body: &'a [u8]) -> Self {
        Self {
            action,
            participant,
            account_id: None,
            transfer_id: None,
            body,
        }
    }

    /// The same change, about a transfer of an account (funds in/out).
    pub fn on_transfer(self, account_id: u32, transfer_id: &'a str) -> Self {
        Self {
            account_id: Some(account_id),
            transfer_id: Some(transfer_id),
            ..self
        }
    }
}

fn store_error(e: impl Into<ferroloop_store::StoreError>) -> ApiError {
    ApiError::Store(e.into())
}

fn now() -> PrimitiveDateTime {
    ferroloop_store::db_time(time::OffsetDateTime::now_utc())
}

/// Executes a stored (or about to be stored) change in the caller's transaction.
async fn execute(
    app: &AppState,
    conn: &mut MySqlConnection,
    pending: &Pending<'_>,
    changed_by: &str,
) -> ApiResult<Executed> {
    let missing = || ApiError::internal("approval request lacks its account or transfer id");
    let (name, body) = (pending.participant, pending.body);
    match pending.action {
        funds::RECORD_FUNDS_IN | funds::RECORD_FUNDS_OUT_PREPARE_RESERVE => {
            let request = funds::parse_record(pending.account_id.ok_or_else(missing)?, body)?;
            funds::execute_record(conn, name, &request).await
        }
        funds::RECORD_FUNDS_OUT_COMMIT | funds::RECORD_FUNDS_OUT_ABORT => {
            let request = funds::parse_finish(
                pending.account_id.ok_or_else(missing)?,
                pending.transfer_id.ok_or_else(missing)?,
                body,
            )?;
            funds::execute_finish(conn, name, &request).await
        }
        ADJUST_LIMIT => {
            let change = participants::parse_limit_change(body)?;
            participants::execute_limit_change(conn, name, &change, changed_by).await
        }
        INITIAL_POSITION_AND_LIMITS => {
            let initial = participants::parse_initial(body)?;
            participants::execute_initial(conn, name, &initial, changed_by).await
        }
        SET_ENDPOINT => {
            let endpoint = participants::parse_endpoint(body, app.callback_policy())?;
            participants::execute_endpoint(conn, name, &endpoint, changed_by).await
        }
        SET_JWS_KEY => {
            let pem = jws_keys::parse_key(body)?;
            jws_keys::execute_set(conn, name, &pem, changed_by).await
        }
        REMOVE_JWS_KEY => jws_keys::execute_remove(conn, name).await,
        PARTICIPANT_ACTIVATION => {
            let is_active = participants::parse_activation(body)?;
            participants::execute_participant_activation(app, conn, name, is_active).await
        }
        ACCOUNT_ACTIVATION => {
            let is_active = participants::parse_activation(body)?;
            let account_id = pending.account_id.ok_or_else(missing)?;
            participants::execute_account_activation(conn, name, account_id, is_active).await
        }
        action if settlements::is_settlement_action(action) => {
            settlements::execute(conn, action, name, pending.account_id, body).await
        }
        other => Err(ApiError::internal(format!(
            "unknown approval action {other}"
        ))),
    }
}

/// Runs a validated change: with maker/checker (auth on) as a request for a checker, else at
/// once.
pub async fn submit(
    app: &AppState,
    ctx: &RequestContext,
    pending: Pending<'_>,
) -> ApiResult<Response> {
    if app.maker_checker() {
        return request(app, ctx, pending).await;
    }
    execute_now(app, ctx, pending).await
}

/// Executes a validated change at once, whatever the auth mode (deactivation, and everything
/// with auth off), and commits it with its audit row.
pub async fn execute_now(
    app: &AppState,
    ctx: &RequestContext,
    pending: Pending<'_>,
) -> ApiResult<Response> {
    let mut tx = app.begin().await?;
    let done = execute(app, &mut tx, &pending, &ctx.created_by()).await?;
    finish_direct(ctx, tx, done).await
}

/// The maker's side: dry-run, store PENDING, 202 with the request and its `Location`.
async fn request(
    app: &AppState,
    ctx: &RequestContext,
    pending: Pending<'_>,
) -> ApiResult<Response> {
    let body_text = std::str::from_utf8(pending.body)
        .map_err(|_| input::malformed("Invalid request payload JSON format"))?;
    let mut tx = app.begin().await?;
    admin::begin_admin_change(&mut tx).await?;
    {
        let mut dry_run = ferroloop_store::savepoint(&mut tx).await?;
        let tried = execute(app, &mut dry_run, &pending, &ctx.created_by()).await;
        dry_run.rollback().await.map_err(store_error)?;
        tried?;
    }
    let created_at = now();
    let ttl = time::Duration::try_from(app.inner.approval_ttl).unwrap_or(time::Duration::DAY);
    let approval_id = uuid::Uuid::now_v7().to_string();
    approvals::insert(
        &mut tx,
        &NewApproval {
            approval_id: &approval_id,
            action: pending.action,
            participant_name: pending.participant,
            account_id: pending.account_id,
            transfer_id: pending.transfer_id,
            request_path: &ctx.path,
            request_body: body_text,
            maker: &ctx.identity.subject,
            created_at,
            expires_at: created_at.saturating_add(ttl),
        },
    )
    .await?;
    let view = approvals::get(&mut tx, &approval_id, false)
        .await?
        .ok_or_else(|| ApiError::internal("approval request vanished"))?;
    let body = approval_json(&view, created_at);
    ctx.finish(
        tx,
        Record {
            outcome: "pending",
            http_status: StatusCode::ACCEPTED.as_u16(),
            approval_id: Some(approval_id.clone()),
            after: Some(body.clone()),
            detail: Some(format!("{} awaits a checker", pending.action)),
            ..Record::default()
        },
    )
    .await?;
    metrics::counter!("ferroloop_admin_approvals_total", "action" => pending.action.to_owned(), "status" => "PENDING").increment(1);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/approvals/{approval_id}"))],
        Json(body),
    )
        .into_response())
}

/// A request as the API shows it; a PENDING one past its expiry shows as EXPIRED.
fn approval_json(view: &ApprovalView, now: PrimitiveDateTime) -> Value {
    let status = if view.status == ApprovalStatus::Pending && view.expires_at <= now {
        ApprovalStatus::Expired
    } else {
        view.status
    };
    let request: Value =
        serde_json::from_str(&view.request_body).unwrap_or_else(|_| json!(view.request_body));
    let result = view.result_status.map(|status| {
        json!({
            "httpStatus": status,
            "body": view.result_body.as_deref().and_then(|b| serde_json::from_str::<Value>(b).ok()),
        })
    });
    json!({
        "approvalId": view.approval_id,
        "action": view.action,
        "participant": view.participant_name,
        "accountId": view.account_id,
        "transferId": view.transfer_id,
        "path": view.request_path,
        "request": request,
        "status": status.as_str(),
        "maker": view.maker,
        "checker": view.checker,
        "createdDate": js_date(view.created_at),
        "expiresAt": js_date(view.expires_at),
        "decidedDate": view.decided_at.map(js_date),
        "reason": view.decision_reason,
        "result": result,
    })
}

/// `GET /approvals[?status=PENDING|EXECUTED|FAILED|REJECTED|EXPIRED]`, newest first.
pub async fn list(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<Value>>> {
    let wanted = match query.get("status").map(String::as_str) {
        None | Some("") => None,
        Some(text) => Some(ApprovalStatus::parse(text).ok_or_else(|| {
            input::not_one_of(
                "status",
                &["PENDING", "EXECUTED", "FAILED", "REJECTED", "EXPIRED"],
            )
        })?),
    };
    // Expired requests are still stored as PENDING until someone tries to decide them.
    let stored = match wanted {
        Some(ApprovalStatus::Expired) => None,
        other => other,
    };
    let mut conn = app.pool().acquire().await.map_err(store_error)?;
    let found = approvals::list(&mut conn, stored, app.inner.approvals_list_limit).await?;
    let at = now();
    Ok(Json(
        found
            .iter()
            .map(|v| approval_json(v, at))
            .filter(|v| wanted.is_none_or(|w| v["status"] == w.as_str()))
            .collect(),
    ))
}

const NOT_FOUND: &str = "Approval request does not exist";

/// `GET /approvals/{id}`
pub async fn get_one(
    State(app): State<AppState>,
    Params(id): Params<String>,
) -> ApiResult<Json<Value>> {
    let mut conn = app.pool().acquire().await.map_err(store_error)?;
    let found = approvals::get(&mut conn, &id, false)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(approval_json(&found, now())))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Approve,
    Reject,
}

/// An optional `{reason}` body.
fn reason(body: &Body) -> ApiResult<Option<String>> {
    let obj = body.object()?;
    let reason = obj.string("reason", false)?;
    if let Some(reason) = &reason {
        input::check_length("reason", reason, 512)?;
    }
    Ok(reason)
}

/// `POST /approvals/{id}/approve` `{reason?}` → 200 with the request, EXECUTED (its result is
/// the executed action's answer) or FAILED (the action refused at execution; nothing changed).
pub async fn approve(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(id): Params<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let reason = reason(&body)?;
    decide(&app, &ctx, &id, Decision::Approve, reason).await
}

/// `POST /approvals/{id}/reject` `{reason?}` → 200 with the request, REJECTED; never executes.
pub async fn reject(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(id): Params<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let reason = reason(&body)?;
    decide(&app, &ctx, &id, Decision::Reject, reason).await
}

async fn decide(
    app: &AppState,
    ctx: &RequestContext,
    id: &str,
    decision: Decision,
    reason: Option<String>,
) -> ApiResult<Json<Value>> {
    let checker = ctx.identity.subject.clone();
    let mut tx = app.begin().await?;
    admin::begin_admin_change(&mut tx).await?;
    let at = now();
    let found = approvals::get(&mut tx, id, true)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if found.status != ApprovalStatus::Pending {
        return Err(ApiError::client(&format!(
            "Approval request is already {}",
            found.status.as_str()
        )));
    }
    if found.maker == checker {
        return Err(ApiError::Forbidden(
            "nobody may approve or reject their own request".into(),
        ));
    }
    if found.expires_at <= at {
        approvals::expire(&mut tx, id, at).await?;
        let detail = format!("expired at {}", js_date(found.expires_at));
        ctx.finish(
            tx,
            Record {
                outcome: "refused",
                http_status: 400,
                approval_id: Some(id.to_owned()),
                detail: Some(detail.clone()),
                ..Record::default()
            },
        )
        .await?;
        return Err(FspiopError::with_detail(
            ErrorCode::EXPIRED_ERROR,
            format!("Approval request {detail}"),
        )
        .into());
    }
    let to = match decision {
        Decision::Approve => ApprovalStatus::Executed,
        Decision::Reject => ApprovalStatus::Rejected,
    };
    // The guard of exactly-once: only a PENDING, unexpired request someone else made moves.
    if !approvals::claim(&mut tx, id, to, &checker, reason.as_deref(), at).await? {
        return Err(ApiError::client("Approval request was decided meanwhile"));
    }
    let pending = Pending {
        action: &found.action,
        participant: &found.participant_name,
        account_id: found.account_id,
        transfer_id: found.transfer_id.as_deref(),
        body: found.request_body.as_bytes(),
    };
    let mut record = Record {
        outcome: "rejected",
        http_status: 200,
        approval_id: Some(id.to_owned()),
        request: Some(found.request_body.clone()),
        detail: Some(format!(
            "{} for {} requested by {}{}",
            found.action,
            found.participant_name,
            found.maker,
            reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )),
        ..Record::default()
    };
    if decision == Decision::Approve {
        let changed_by: String = format!("{} approved by {checker}", found.maker)
            .chars()
            .take(128)
            .collect();
        let mut savepoint = ferroloop_store::savepoint(&mut tx).await?;
        let executed = execute(app, &mut savepoint, &pending, &changed_by).await;
        let (status, result_status, result_body) = match executed {
            Ok(done) => {
                if done.changed {
                    savepoint.commit().await.map_err(store_error)?;
                } else {
                    savepoint.rollback().await.map_err(store_error)?;
                }
                record.outcome = "approved";
                record.before = done.before.clone();
                record.after = done.after.clone();
                (ApprovalStatus::Executed, done.status, done.body)
            }
            // Storage trouble: everything rolls back, the request stays PENDING.
            Err(error @ ApiError::Store(_)) => return Err(error),
            Err(refusal) => {
                savepoint.rollback().await.map_err(store_error)?;
                let (status, body) = refusal.parts();
                record.outcome = "failed";
                (ApprovalStatus::Failed, status, Some(body))
            }
        };
        let result_text = result_body.map_or_else(|| "null".to_owned(), |b| b.to_string());
        approvals::record_result(&mut tx, id, status, result_status.as_u16(), &result_text).await?;
    }
    let view = approvals::get(&mut tx, id, false)
        .await?
        .ok_or_else(|| ApiError::internal("approval request vanished"))?;
    let body = approval_json(&view, at);
    record.after = record.after.or_else(|| Some(body.clone()));
    ctx.finish(tx, record).await?;
    metrics::counter!("ferroloop_admin_approvals_total", "action" => found.action.clone(), "status" => view.status.as_str()).increment(1);
    tracing::info!(approval_id = %id, action = %found.action, maker = %found.maker, %checker, status = view.status.as_str(), "approval decided");
    Ok(Json(body))
}
