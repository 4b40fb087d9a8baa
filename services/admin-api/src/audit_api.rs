//! `GET /audit` (the log, newest first) and `GET /audit/verify` (walk the chain) for auditors.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use ferroloop_core::audit::{AuditRow, hex, parse_hex};
use ferroloop_store::audit::{self, Verification};
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, AppState, input};

fn row_json(row: &AuditRow) -> Value {
    let c = &row.content;
    let parsed = |text: &Option<String>| {
        text.as_deref()
            .map(|t| serde_json::from_str::<Value>(t).unwrap_or_else(|_| json!(t)))
    };
    json!({
        "seq": c.seq,
        "at": c.at,
        "actor": c.actor,
        "roles": c.roles,
        "method": c.method,
        "route": c.route,
        "path": c.path,
        "outcome": c.outcome,
        "httpStatus": c.http_status,
        "approvalId": c.approval_id,
        "request": parsed(&c.request),
        "before": parsed(&c.before),
        "after": parsed(&c.after),
        "detail": c.detail,
        "prevHash": hex(&row.prev_hash),
        "rowHash": hex(&row.row_hash),
    })
}

fn query_number(query: &HashMap<String, String>, key: &str) -> ApiResult<Option<u64>> {
    match query.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| input::malformed(format!("\"{key}\" must be a number")).into()),
    }
}

/// `GET /audit[?before=SEQ&limit=N]`: rows newest first, at most `ADMIN_AUDIT_PAGE_SIZE`.
pub async fn list(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<Value>>> {
    let max = app.inner.audit_page_size;
    let limit =
        query_number(&query, "limit")?.map_or(max, |l| u32::try_from(l).unwrap_or(max).min(max));
    let before = query_number(&query, "before")?;
    let mut conn = app
        .pool()
        .acquire()
        .await
        .map_err(|e| ApiError::Store(e.into()))?;
    let rows = audit::rows_before(&mut conn, before, limit).await?;
    Ok(Json(rows.iter().map(row_json).collect()))
}

/// `GET /audit/verify[?anchorSeq=N&anchorHash=HEX]`: `{intact: true, rows, head}` or
/// `{intact: false, firstBrokenSeq, problem}`.
pub async fn verify(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let anchor = match (query_number(&query, "anchorSeq")?, query.get("anchorHash")) {
        (Some(seq), Some(hash)) => Some((
            seq,
            parse_hex(hash)
                .ok_or_else(|| input::malformed("\"anchorHash\" must be 64 hex digits"))?,
        )),
        (None, None) => None,
        _ => return Err(input::malformed("give both anchorSeq and anchorHash").into()),
    };
    let verification = audit::verify(app.pool(), app.inner.audit_page_size, anchor).await?;
    Ok(Json(verification_json(&verification)))
}

/// The JSON `GET /audit/verify` and `admin-api verify-audit --json` print.
pub fn verification_json(verification: &Verification) -> Value {
    match verification {
        Verification::Intact(chain) => json!({
            "intact": true,
            "rows": chain.rows,
            "head": {"seq": chain.rows, "hash": hex(&chain.head_hash)},
        }),
        Verification::Broken(broken) => json!({
            "intact": false,
            "firstBrokenSeq": broken.seq(),
            "problem": broken.to_string(),
        }),
    }
}
