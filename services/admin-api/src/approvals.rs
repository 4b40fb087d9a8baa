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

use crate::change::{Action, Change, Context, Executed};
use crate::guard::{Record, RequestContext};
use crate::output::js_date;
use crate::{ApiError, ApiResult, AppState, Body, Params, input};

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

fn store_error(e: impl Into<ferroloop_store::StoreError>) -> ApiError {
    ApiError::Store(e.into())
}

fn now() -> PrimitiveDateTime {
    ferroloop_store::db_time(time::OffsetDateTime::now_utc())
}

/// Executes a stored (or about to be stored) change in the caller's transaction, with the
/// executor its action's module registered.
async fn execute(
    app: &AppState,
    conn: &mut MySqlConnection,
    change: &Change<'_>,
    changed_by: &str,
) -> ApiResult<Executed> {
    let context = Context {
        app,
        change,
        changed_by,
    };
    app.executors().execute(context, conn).await
}

/// Runs a validated change: with maker/checker (auth on) as a request for a checker, else at
/// once.
pub async fn submit(
    app: &AppState,
    ctx: &RequestContext,
    change: Change<'_>,
) -> ApiResult<Response> {
    if app.maker_checker() {
        return request(app, ctx, change).await;
    }
    execute_now(app, ctx, change).await
}

/// Executes a validated change at once, whatever the auth mode (deactivation, and everything
/// with auth off), and commits it with its audit row.
pub async fn execute_now(
    app: &AppState,
    ctx: &RequestContext,
    change: Change<'_>,
) -> ApiResult<Response> {
    let mut tx = app.begin().await?;
    let done = execute(app, &mut tx, &change, &ctx.created_by()).await?;
    finish_direct(ctx, tx, done).await
}

/// The maker's side: dry-run, store PENDING, 202 with the request and its `Location`.
async fn request(app: &AppState, ctx: &RequestContext, change: Change<'_>) -> ApiResult<Response> {
    let body_text = std::str::from_utf8(change.body)
        .map_err(|_| input::malformed("Invalid request payload JSON format"))?;
    let mut tx = app.begin().await?;
    admin::begin_admin_change(&mut tx).await?;
    {
        let mut dry_run = ferroloop_store::savepoint(&mut tx).await?;
        let tried = execute(app, &mut dry_run, &change, &ctx.created_by()).await;
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
            action: change.action.as_str(),
            participant_name: change.participant,
            account_id: change.account_id,
            transfer_id: change.transfer_id,
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
            detail: Some(format!("{} awaits a checker", change.action.as_str())),
            ..Record::default()
        },
    )
    .await?;
    metrics::counter!("ferroloop_admin_approvals_total", "action" => change.action.as_str(), "status" => "PENDING").increment(1);
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
        return Err(refuse_expired(ctx, tx, &found, at).await);
    }
    let to = match decision {
        Decision::Approve => ApprovalStatus::Executed,
        Decision::Reject => ApprovalStatus::Rejected,
    };
    // The guard of exactly-once: only a PENDING, unexpired request someone else made moves.
    if !approvals::claim(&mut tx, id, to, &checker, reason.as_deref(), at).await? {
        return Err(ApiError::client("Approval request was decided meanwhile"));
    }
    let mut record = decision_record(&found, reason.as_deref());
    if decision == Decision::Approve {
        execute_approved(app, &mut tx, &found, &checker, &mut record).await?;
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

/// Marks a request decided too late EXPIRED, audits the refusal, and returns the error to answer.
async fn refuse_expired(
    ctx: &RequestContext,
    mut tx: Transaction<'static, MySql>,
    found: &ApprovalView,
    at: PrimitiveDateTime,
) -> ApiError {
    let id = found.approval_id.as_str();
    if let Err(error) = approvals::expire(&mut tx, id, at).await {
        return error.into();
    }
    let detail = format!("expired at {}", js_date(found.expires_at));
    let record = Record {
        outcome: "refused",
        http_status: 400,
        approval_id: Some(id.to_owned()),
        detail: Some(detail.clone()),
        ..Record::default()
    };
    if let Err(error) = ctx.finish(tx, record).await {
        return error;
    }
    FspiopError::with_detail(
        ErrorCode::EXPIRED_ERROR,
        format!("Approval request {detail}"),
    )
    .into()
}

/// The audit row of a decision, as a rejection; an approval fills in its outcome.
fn decision_record(found: &ApprovalView, reason: Option<&str>) -> Record {
    Record {
        outcome: "rejected",
        http_status: 200,
        approval_id: Some(found.approval_id.clone()),
        request: Some(found.request_body.clone()),
        detail: Some(format!(
            "{} for {} requested by {}{}",
            found.action,
            found.participant_name,
            found.maker,
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        )),
        ..Record::default()
    }
}

/// Executes an approved request in a savepoint of the decision's transaction and records its
/// result: EXECUTED with the change's answer, or FAILED with the refusal (the savepoint rolled
/// back). Storage trouble fails the whole decision, so the request stays PENDING.
async fn execute_approved(
    app: &AppState,
    tx: &mut MySqlConnection,
    found: &ApprovalView,
    checker: &str,
    record: &mut Record,
) -> ApiResult<()> {
    let action = Action::parse(&found.action)
        .ok_or_else(|| ApiError::internal(format!("unknown approval action {}", found.action)))?;
    let change = Change {
        action,
        participant: &found.participant_name,
        account_id: found.account_id,
        transfer_id: found.transfer_id.as_deref(),
        body: found.request_body.as_bytes(),
    };
    let changed_by: String = format!("{} approved by {checker}", found.maker)
        .chars()
        .take(128)
        .collect();
    let mut savepoint = ferroloop_store::savepoint(tx).await?;
    let executed = execute(app, &mut savepoint, &change, &changed_by).await;
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
        Err(error @ ApiError::Store(_)) => return Err(error),
        Err(refusal) => {
            savepoint.rollback().await.map_err(store_error)?;
            let (status, body) = refusal.parts();
            record.outcome = "failed";
            (ApprovalStatus::Failed, status, Some(body))
        }
    };
    let result_text = result_body.map_or_else(|| "null".to_owned(), |b| b.to_string());
    let id = &found.approval_id;
    approvals::record_result(tx, id, status, result_status.as_u16(), &result_text).await?;
    Ok(())
}
