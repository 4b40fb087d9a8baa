//! The gate every admin route passes: who is asking (token or auth off), may they use this
//! route, and the audit row of every action.
//!
//! Actions that change something append their audit row inside their own transaction
//! ([`RequestContext::commit`]), so the row exists exactly when the change does. Whatever did
//! not — a refusal (401, 403, a validation or domain error), a failure, a request that changed
//! nothing — is appended here after the handler answered, in a transaction of its own. Reads
//! that succeed are not audited (they change nothing); refused reads are.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferroloop_store::audit::{self, Appended, AuditEntry};
use ferroloop_store::{MySql, Transaction};
use serde_json::Value;

use crate::auth::{Identity, Privilege};
use crate::{ApiError, ApiResult, AppState};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// central-ledger's `/health`: no token, not audited.
    Public,
    Needs(Privilege),
    /// A route this table does not know: refused, so a new route is never open by accident.
    Nobody,
}

/// The privilege each route needs (see the README's table).
pub fn required_access(method: &Method, route: &str) -> Access {
    use Privilege::*;
    if route == "/health" {
        return Access::Public;
    }
    if method == Method::GET || method == Method::HEAD {
        return Access::Needs(if route.starts_with("/approvals") {
            ApprovalsRead
        } else if route.starts_with("/audit") {
            AuditRead
        } else {
            Read
        });
    }
    let privilege = match (method.as_str(), route) {
        ("POST", "/participants")
        | ("PUT", "/participants/{name}")
        | ("PUT", "/participants/{name}/accounts/{id}")
        | ("POST", "/participants/{name}/initialPositionAndLimits") => ParticipantsWrite,
        ("POST", "/participants/{name}/endpoints") => EndpointsWrite,
        // A participant's JWS key is part of its onboarding, like its endpoints.
        ("PUT" | "DELETE", "/participants/{name}/jwsKey") => ParticipantsWrite,
        ("POST", "/participants/{name}/accounts") => HubAccountsWrite,
        // Ledger account types are what settlement models name: the same reference data.
        ("POST", "/settlementModels")
        | ("PUT", "/settlementModels/{name}")
        | ("POST", "/ledgerAccountTypes") => SettlementModelsWrite,
        ("PUT", "/participants/{name}/limits") => LimitsRequest,
        ("POST", "/participants/{name}/accounts/{id}")
        | ("PUT", "/participants/{name}/accounts/{id}/transfers/{transfer_id}") => FundsRequest,
        ("POST", "/settlementWindows/{id}")
        | ("POST", "/settlements")
        | ("PUT", "/settlements/{id}")
        | ("PUT", "/settlements/{sid}/participants/{pid}")
        | ("PUT", "/settlements/{sid}/participants/{pid}/accounts/{aid}") => SettlementsRequest,
        ("POST", "/approvals/{id}/approve") | ("POST", "/approvals/{id}/reject") => ApprovalsDecide,
        _ => return Access::Nobody,
    };
    Access::Needs(privilege)
}

#[derive(Debug, Default)]
struct Slot {
    body: Option<Bytes>,
    recorded: bool,
}

/// One request as the audit log sees it; handlers take it as an extractor.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub identity: Identity,
    pub method: String,
    pub route: String,
    pub path: String,
    fspiop_source: Option<String>,
    slot: Arc<Mutex<Slot>>,
}

/// A row to append for this request.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub outcome: &'static str,
    pub http_status: u16,
    pub approval_id: Option<String>,
    /// Overrides the request body (e.g. an approval names the request it executes).
    pub request: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub detail: Option<String>,
}

impl RequestContext {
    fn new(identity: Identity, method: &Method, route: &str, request: &Request) -> Self {
        Self {
            identity,
            method: method.to_string(),
            route: route.to_owned(),
            path: request.uri().path().to_owned(),
            fspiop_source: request
                .headers()
                .get("fspiop-source")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(|v| v.chars().take(128).collect()),
            slot: Arc::default(),
        }
    }

    /// Who a change is stored as made by (`created_by`, `changed_by`): the token's subject; with
    /// auth off, as before, the `FSPIOP-Source` header onboarding scripts send, else
    /// central-ledger's `unknown`.
    pub fn created_by(&self) -> String {
        if self.identity.authenticated {
            self.identity.subject.clone()
        } else {
            self.fspiop_source
                .clone()
                .unwrap_or_else(|| "unknown".to_owned())
        }
    }

    /// Keeps the request body for the audit row (the body extractor calls it).
    pub fn keep_body(&self, body: &Bytes) {
        if let Ok(mut slot) = self.slot.lock() {
            slot.body = Some(body.clone());
        }
    }

    pub fn body_text(&self) -> Option<String> {
        let slot = self.slot.lock().ok()?;
        slot.body
            .as_ref()
            .filter(|b| !b.is_empty())
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    fn recorded(&self) -> bool {
        self.slot.lock().is_ok_and(|s| s.recorded)
    }

    fn mark_recorded(&self) {
        if let Ok(mut slot) = self.slot.lock() {
            slot.recorded = true;
        }
    }

    fn entry(&self, record: Record) -> AuditEntry {
        let mut detail = record.detail;
        if !self.identity.authenticated
            && let Some(source) = &self.fspiop_source
        {
            // With auth off the header is all there is to say who asked; keep it.
            detail = Some(match detail {
                Some(d) => format!("{d}; FSPIOP-Source: {source}"),
                None => format!("FSPIOP-Source: {source}"),
            });
        }
        AuditEntry {
            at: ferroloop_store::db_time(time::OffsetDateTime::now_utc()),
            actor: self.identity.subject.clone(),
            roles: self.identity.roles.join(" "),
            method: self.method.clone(),
            route: self.route.clone(),
            path: self.path.clone(),
            outcome: record.outcome.to_owned(),
            http_status: record.http_status,
            approval_id: record.approval_id,
            request: record.request.or_else(|| self.body_text()),
            before: record.before.map(|v| v.to_string()),
            after: record.after.map(|v| v.to_string()),
            detail,
        }
    }

    /// Appends a row in the caller's transaction (committed with it).
    pub async fn append(
        &self,
        conn: &mut ferroloop_store::MySqlConnection,
        record: Record,
    ) -> ApiResult<Appended> {
        let appended = audit::append(conn, &self.entry(record)).await?;
        Ok(appended)
    }

    /// Appends `record` and commits the action's transaction with it.
    pub async fn finish(
        &self,
        mut tx: Transaction<'static, MySql>,
        record: Record,
    ) -> ApiResult<()> {
        let appended = self.append(&mut tx, record).await?;
        tx.commit().await.map_err(|e| ApiError::Store(e.into()))?;
        self.mark_recorded();
        log_appended(&appended, self);
        Ok(())
    }

    /// Commits a successful change with its audit row.
    pub async fn commit(
        &self,
        tx: Transaction<'static, MySql>,
        status: StatusCode,
        before: Option<Value>,
        after: Option<Value>,
    ) -> ApiResult<()> {
        self.finish(
            tx,
            Record {
                outcome: "ok",
                http_status: status.as_u16(),
                before,
                after,
                ..Record::default()
            },
        )
        .await
    }
}

/// Every append is logged with the new head, so the chain can be anchored outside the database
/// (`admin-api verify-audit --expect SEQ:HASH`).
fn log_appended(appended: &Appended, ctx: &RequestContext) {
    tracing::info!(
        audit_seq = appended.seq,
        audit_hash = %ferroloop_core::audit::hex(&appended.row_hash),
        actor = %ctx.identity.subject,
        method = %ctx.method,
        path = %ctx.path,
        "audit appended"
    );
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(|| ApiError::internal("request context missing"))
    }
}

fn outcome_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "ok",
        401 => "unauthenticated",
        403 => "forbidden",
        400..=499 => "refused",
        _ => "failed",
    }
}

/// The error description of an error response (its body is read and put back).
async fn error_detail(response: Response, limit: usize) -> (Response, Option<String>) {
    if response.status().as_u16() < 400 {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.unwrap_or_default();
    let detail = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
        v["errorInformation"]["errorDescription"]
            .as_str()
            .map(str::to_owned)
    });
    (
        Response::from_parts(parts, axum::body::Body::from(bytes)),
        detail,
    )
}

/// Appends the row of a request whose handler did not (own transaction). A failure to append is
/// logged and counted; the answer to the request stands.
/// Refusals by the gate happen before the body is read, so their rows carry no request body:
/// an unauthenticated caller cannot fill the log with text of its choosing.
async fn audit_after(
    app: &AppState,
    ctx: &RequestContext,
    status: StatusCode,
    detail: Option<String>,
) {
    let outcome = outcome_of(status);
    let record = Record {
        outcome,
        http_status: status.as_u16(),
        detail: Some(detail.unwrap_or_else(|| {
            if outcome == "ok" {
                "no change".to_owned()
            } else {
                status.to_string()
            }
        })),
        ..Record::default()
    };
    let appended = async {
        let mut tx = app.begin().await?;
        let appended = ctx.append(&mut tx, record).await?;
        tx.commit().await.map_err(|e| ApiError::Store(e.into()))?;
        ApiResult::Ok(appended)
    }
    .await;
    match appended {
        Ok(appended) => log_appended(&appended, ctx),
        Err(error) => {
            metrics::counter!("ferroloop_admin_audit_failures_total").increment(1);
            tracing::error!(%error, path = %ctx.path, "audit row of a refused request not appended");
        }
    }
}

/// The route middleware: authenticate, authorise, run the handler, audit what it did not.
pub async fn guard(
    State(app): State<AppState>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = matched.map_or_else(String::new, |m| m.as_str().to_owned());
    let method = request.method().clone();
    let access = required_access(&method, &route);
    if access == Access::Public {
        return next.run(request).await;
    }
    let identity = match app.auth().authenticate(request.headers()) {
        Ok(identity) => identity,
        Err(error) => {
            let ctx = RequestContext::new(
                Identity {
                    subject: "unauthenticated".into(),
                    roles: Vec::new(),
                    privileges: Default::default(),
                    authenticated: true,
                },
                &method,
                &route,
                &request,
            );
            let detail = error.to_string();
            metrics::counter!("ferroloop_admin_auth_refusals_total", "status" => "401")
                .increment(1);
            audit_after(&app, &ctx, StatusCode::UNAUTHORIZED, Some(detail.clone())).await;
            return ApiError::Unauthorized(detail).into_response();
        }
    };
    let ctx = RequestContext::new(identity, &method, &route, &request);
    let denied = match access {
        Access::Needs(privilege) if !ctx.identity.may(privilege) => Some(format!(
            "{} needs the {} privilege",
            ctx.identity.subject,
            privilege.as_str()
        )),
        Access::Nobody => Some("no role may use this route".to_owned()),
        _ => None,
    };
    if let Some(detail) = denied {
        metrics::counter!("ferroloop_admin_auth_refusals_total", "status" => "403").increment(1);
        audit_after(&app, &ctx, StatusCode::FORBIDDEN, Some(detail.clone())).await;
        return ApiError::Forbidden(detail).into_response();
    }
    request.extensions_mut().insert(ctx.clone());
    let response = next.run(request).await;
    if (method == Method::GET || method == Method::HEAD) && response.status().is_success() {
        return response;
    }
    if ctx.recorded() {
        return response;
    }
    let status = response.status();
    let (response, detail) = error_detail(response, app.body_limit()).await;
    audit_after(&app, &ctx, status, detail).await;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_privilege() {
        let routes = [
            ("GET", "/participants"),
            ("POST", "/participants"),
            ("GET", "/participants/limits"),
            ("GET", "/participants/{name}"),
            ("PUT", "/participants/{name}"),
            ("POST", "/participants/{name}/endpoints"),
            ("GET", "/participants/{name}/jwsKey"),
            ("PUT", "/participants/{name}/jwsKey"),
            ("DELETE", "/participants/{name}/jwsKey"),
            ("PUT", "/participants/{name}/limits"),
            ("POST", "/participants/{name}/accounts"),
            ("POST", "/participants/{name}/initialPositionAndLimits"),
            ("POST", "/participants/{name}/accounts/{id}"),
            ("PUT", "/participants/{name}/accounts/{id}"),
            (
                "PUT",
                "/participants/{name}/accounts/{id}/transfers/{transfer_id}",
            ),
            ("POST", "/settlementModels"),
            ("PUT", "/settlementModels/{name}"),
            ("POST", "/ledgerAccountTypes"),
            ("GET", "/settlementWindows"),
            ("POST", "/settlementWindows/{id}"),
            ("POST", "/settlements"),
            ("PUT", "/settlements/{id}"),
            (
                "PUT",
                "/settlements/{sid}/participants/{pid}/accounts/{aid}",
            ),
            ("GET", "/approvals"),
            ("POST", "/approvals/{id}/approve"),
            ("POST", "/approvals/{id}/reject"),
            ("GET", "/audit"),
            ("GET", "/audit/verify"),
        ];
        for (method, route) in routes {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert!(
                matches!(required_access(&method, route), Access::Needs(_)),
                "{method} {route}"
            );
        }
        assert_eq!(required_access(&Method::GET, "/health"), Access::Public);
        assert_eq!(
            required_access(&Method::DELETE, "/participants"),
            Access::Nobody
        );
        assert_eq!(
            required_access(&Method::GET, "/audit/verify"),
            Access::Needs(Privilege::AuditRead)
        );
    }
}
