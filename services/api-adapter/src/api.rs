//! The FSPIOP request path.
//!
//! Checks, in order (the first failure answers):
//!
//! 1. **Declared size** — a `Content-Length` over the limit is 3104 before anything is read
//!    (Hapi refuses an oversized payload before Mojaloop's plugins run, too).
//! 2. **Headers** (`ferroloop_fspiop::headers`, docs/fspiop-api.md#header-rules) for paths of the
//!    `transfers` and `fxTransfers` resources, on any method and also on paths that do not exist:
//!    Mojaloop's header plugin runs before openapi-backend routes the request.
//!    Then, on those resources: the **sender** ([`crate::sender`]): `FSPIOP-Proxy` refused, no
//!    `FSPIOP-Source` equal to the hub's name, the gateway's `X-Client-Id` and the client
//!    certificate's identity equal to `FSPIOP-Source` (3100) — before the body is read, so
//!    nothing is produced; and the **Date window** — a `Date` further than
//!    `FSPIOP_DATE_MAX_SKEW_SECONDS` from the adapter's clock is 3100 "Generic validation error -
//!    Date header is outside the accepted window of ±N s" (replay protection; the header is
//!    well-formed and present, so neither 3101 nor 3102, and the check stands on its own whether
//!    or not the request is signed).
//! 3. **Route** — unknown path 404 / 3002 "Unknown URI", known path with another method 405 /
//!    3000 "Generic client error - Method Not Allowed".
//! 4. **Admission** ([`crate::admission`]) — when the sender is already established (mTLS, a
//!    gateway, or no sender authentication): more than `FSPIOP_MAX_IN_FLIGHT_PER_FSP` of its
//!    requests in flight is 503 / 2003 with `Retry-After`. Then a place in the adapter's capacity
//!    (`FSPIOP_MAX_CONCURRENT_REQUESTS`; further requests wait).
//! 5. **Body** — read up to the limit (3104 "Too large payload - Payload size is too large" beyond
//!    it, for chunked bodies too), then the schema of the operation (`ferroloop_fspiop::body`:
//!    3100–3103 with `"<message> - <path> <reason>"`; invalid JSON 3101). GET bodies are not read.
//! 6. **Parameters** — after the body, as openapi-backend validates the body before the
//!    parameters: the path `{ID}` must be a transfer id (see [`check_path_id`]), and a query
//!    string is 3103 `/query must NOT have additional properties` (no transfer operation defines
//!    query parameters and openapi-backend closes the query object).
//! 7. `PATCH /transfers/{ID}` (after its body and parameters are valid, as in Mojaloop, whose
//!    handler throws) → 501 / 2002.
//! 8. `PUT /transfers/{ID}`: the `completedTimestamp` window
//!    (docs/fspiop-api.md#the-completedtimestamp-window).
//! 9. JWS (`JWS_MODE`, or `JWS_VALIDATE=true` = `required`), on non-GET requests, last because
//!    it is the costliest check: a missing `FSPIOP-Signature` is 3105 when required and passes
//!    with `verify-if-present`; a present one needs the source's key, its `FSPIOP-URI` and
//!    `FSPIOP-HTTP-Method` must name this request (the path received behind
//!    `FSPIOP_EXTERNAL_BASE_PATH`, and the method), and it must verify (raw or canonical body,
//!    protected headers equal to the HTTP headers) → 3105. A sender that only the signature
//!    establishes is admitted (step 4) now.
//! 10. Produce the boundary envelope (no key) with the **principal** — `FSPIOP-Source` and how
//!     it was authenticated — and wait for the broker's acknowledgement; a failure is 500 / 2001
//!     "Internal server error" (the broker's reason is logged, not sent to the DFSP).
//!
//! Around all of it: a deadline per request (`FSPIOP_REQUEST_TIMEOUT_MS`, queueing included)
//! answered with 2004 "Server timed out" — a produce that was already in flight may still be
//! delivered then, and the DFSP's resend is a duplicate the handlers recognise.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use ferroloop_core::error::{ErrorCode, FspiopError, method_not_allowed};
use ferroloop_core::id::TransferId;
use ferroloop_fspiop::body::{self as body_rules, CORRELATION_ID, PAYLOAD_TOO_LARGE};
use ferroloop_fspiop::headers::{self, ValidatedHeaders, names};
use ferroloop_fspiop::jws::{self, RequestTarget};
use ferroloop_messaging::events::{InboundKind, InboundRequest, inbound_envelope};
use ferroloop_messaging::{Authentication, OutboundMessage, Principal};
use futures::StreamExt as _;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use metrics::SharedString;
use serde_json::Value;

use crate::admission::{self, Admitted};
use crate::tls::Peer;
use crate::{AppState, JwsMode};

/// Detail of 3100 for a path `{ID}` that is not a transfer id: the text openapi-backend/ajv
/// produces for a path parameter whose schema is `CorrelationId`.
pub fn invalid_path_id_detail() -> String {
    format!(
        "/path/ID must match pattern \"{}\"",
        CORRELATION_ID.source()
    )
}

/// Detail of 3103 for a query string (openapi-backend closes the query object).
pub const QUERY_NOT_ALLOWED: &str = "/query must NOT have additional properties";

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .fallback(dispatch)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            observe,
        ))
        .with_state(state)
}

/// The paths the adapter serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/transfers`
    Transfers,
    /// `/transfers/{ID}`
    Transfer(&'a str),
    /// `/transfers/{ID}/error`
    TransferError(&'a str),
    /// `/health`
    Health,
    Unknown,
}

impl Route<'_> {
    /// The path template (metrics label).
    pub fn template(self) -> &'static str {
        match self {
            Route::Transfers => "/transfers",
            Route::Transfer(_) => "/transfers/{ID}",
            Route::TransferError(_) => "/transfers/{ID}/error",
            Route::Health => "/health",
            Route::Unknown => "unknown",
        }
    }
}

/// Matches a request path (without query) to a route. Segments are matched exactly: a trailing
/// slash or an empty `{ID}` is an unknown path.
pub fn classify(path: &str) -> Route<'_> {
    let Some(rest) = path.strip_prefix('/') else {
        return Route::Unknown;
    };
    let mut segments = rest.split('/');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some("transfers"), None, _, _) => Route::Transfers,
        (Some("transfers"), Some(id), None, _) if !id.is_empty() => Route::Transfer(id),
        (Some("transfers"), Some(id), Some("error"), None) if !id.is_empty() => {
            Route::TransferError(id)
        }
        (Some("health"), None, _, _) => Route::Health,
        _ => Route::Unknown,
    }
}

/// A transfer operation, after routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation<'a> {
    Prepare,
    Fulfil(&'a str),
    Error(&'a str),
    Get(&'a str),
    Patch(&'a str),
}

impl<'a> Operation<'a> {
    fn path_id(self) -> Option<&'a str> {
        match self {
            Operation::Prepare => None,
            Operation::Fulfil(id)
            | Operation::Error(id)
            | Operation::Get(id)
            | Operation::Patch(id) => Some(id),
        }
    }
}

/// Metrics and the request deadline, around everything else.
async fn observe(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = classify(request.uri().path()).template();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = match tokio::time::timeout(app.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => {
            tracing::warn!(route, method, "request timed out");
            error_response(&FspiopError::new(ErrorCode::SERVER_TIMED_OUT))
        }
    };
    metrics::counter!(
        "ferroloop_api_requests_total",
        "route" => route,
        "method" => method,
        "status" => status_label(response.status()),
    )
    .increment(1);
    metrics::histogram!("ferroloop_api_request_seconds", "route" => route, "method" => method)
        .record(started.elapsed());
    response
}

async fn dispatch(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    match handle(&app, &parts, body).await {
        Ok(response) => response,
        Err(Refusal::Fspiop(error)) => error_response(&error),
        Err(Refusal::Busy(fsp)) => busy_response(&app, &fsp),
    }
}

/// Why a request is not produced.
enum Refusal {
    Fspiop(FspiopError),
    /// The sender is over its in-flight limit.
    Busy(String),
}

impl From<FspiopError> for Refusal {
    fn from(error: FspiopError) -> Self {
        Refusal::Fspiop(error)
    }
}

async fn handle(app: &AppState, parts: &Parts, body: Body) -> Result<Response, Refusal> {
    let declared_length = content_length(&parts.headers);
    if declared_length.is_some_and(|len| len > app.max_body_bytes) {
        return Err(payload_too_large().into());
    }
    // How the sender is established so far; a verified signature may still add JWS.
    let (validated, mut authenticated_by) = check_headers(app, parts)?;

    let operation = match (classify(parts.uri.path()), &parts.method) {
        (Route::Transfers, &Method::POST) => Operation::Prepare,
        (Route::Transfer(id), &Method::PUT) => Operation::Fulfil(id),
        (Route::Transfer(id), &Method::GET) => Operation::Get(id),
        (Route::Transfer(id), &Method::PATCH) => Operation::Patch(id),
        (Route::TransferError(id), &Method::PUT) => Operation::Error(id),
        (Route::Health, &Method::GET) => return Ok(health(app)),
        (Route::Unknown, _) => return Err(FspiopError::new(ErrorCode::UNKNOWN_URI).into()),
        _ => return Err(FspiopError::from_entry(method_not_allowed(), None).into()),
    };
    // Every transfer route is on a validated resource.
    let validated = validated.ok_or_else(|| FspiopError::new(ErrorCode::INTERNAL_SERVER_ERROR))?;

    let verifies = signature_checked(app, &parts.method, &validated);
    // Admitted now unless only the signature will tell who the sender is.
    let early = if verifies && authenticated_by == Authentication::None {
        None
    } else {
        let sender = Principal::new(validated.source(), authenticated_by);
        Some(admit(app, &sender)?)
    };
    let _capacity = app
        .capacity
        .acquire()
        .await
        .map_err(|_| FspiopError::new(ErrorCode::INTERNAL_SERVER_ERROR))?;

    let (bytes, parsed) = read_and_check(app, parts, body, declared_length, operation).await?;

    if verifies {
        verify_signature(app, parts, &validated, &bytes)?;
        if authenticated_by == Authentication::None {
            authenticated_by = Authentication::Jws;
        }
    }
    let principal = Principal::new(validated.source(), authenticated_by);
    // Held until the answer: the place is the sender's while its request is in flight.
    let _admitted = match early {
        Some(admitted) => admitted,
        None => admit(app, &principal)?,
    };
    let parsed = parsed.as_ref();
    Ok(produce(app, operation, validated, principal, &bytes, parsed).await?)
}

/// Step 2 of the module documentation, on the validated resources: the header rules, the sender
/// and the Date window. Returns the validated headers (none on other resources) and how the
/// sender is authenticated so far.
fn check_headers(
    app: &AppState,
    parts: &Parts,
) -> Result<(Option<ValidatedHeaders>, Authentication), FspiopError> {
    let resource = headers::resource_from_path(parts.uri.path());
    if !headers::is_validated_resource(resource) {
        return Ok((None, Authentication::None));
    }
    let validated =
        headers::validate_request_headers(&parts.method, resource, &parts.headers, &app.versions)?;
    let authenticated_by = app.sender.check(&validated, peer_identity(parts))?;
    if let Some(window) = app.date_max_skew {
        check_date_window(&validated, window, time::OffsetDateTime::now_utc())?;
    }
    Ok((Some(validated), authenticated_by))
}

/// The verified client certificate's identity of the request's connection, if any.
fn peer_identity(parts: &Parts) -> Option<&ferroloop_tls::identity::PeerIdentity> {
    parts
        .extensions
        .get::<ConnectInfo<Peer>>()
        .and_then(|ConnectInfo(peer)| peer.identity.as_deref())
}

/// A place for one more request of `sender`, or the refusal.
fn admit(app: &AppState, sender: &Principal) -> Result<Admitted, Refusal> {
    app.admission.try_admit(sender).ok_or_else(|| {
        metrics::counter!("ferroloop_api_admission_refusals_total").increment(1);
        tracing::debug!(fsp = %sender.fsp, "over the per-DFSP in-flight limit");
        Refusal::Busy(sender.fsp.clone())
    })
}

/// 503 / 2003 with `Retry-After`.
fn busy_response(app: &AppState, fsp: &str) -> Response {
    let mut response = error_response(&admission::busy(fsp));
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(app.busy_retry_after_seconds),
    );
    response
}

/// Whether this request's signature is verified (`JWS_MODE`; never on GET).
fn signature_checked(app: &AppState, method: &Method, validated: &ValidatedHeaders) -> bool {
    if app.keys.is_none() || *method == Method::GET {
        return false;
    }
    // verify-if-present: an unsigned request passes; a signed one is checked in full.
    app.jws_mode == JwsMode::Required
        || validated
            .get(names::FSPIOP_SIGNATURE)
            .is_some_and(|s| !s.is_empty())
}

/// Steps 5–8 of the module documentation: the body and its schema, the parameters, PATCH, and
/// the `completedTimestamp` window.
async fn read_and_check(
    app: &AppState,
    parts: &Parts,
    body: Body,
    declared_length: Option<usize>,
    operation: Operation<'_>,
) -> Result<(Bytes, Option<Value>), FspiopError> {
    let bytes = match operation {
        Operation::Get(_) => Bytes::new(),
        _ => read_body(body, declared_length, app.max_body_bytes).await?,
    };
    let options = &app.body_options;
    let parsed = match operation {
        Operation::Prepare => Some(body_rules::validate_prepare_with(&bytes, options)?),
        Operation::Fulfil(_) => Some(body_rules::validate_fulfil_with(&bytes, options)?),
        Operation::Error(_) => Some(body_rules::validate_error_with(&bytes, options)?),
        Operation::Patch(_) => Some(body_rules::validate_patch_with(&bytes, options)?),
        Operation::Get(_) => None,
    };
    if let Some(id) = operation.path_id() {
        check_path_id(id)?;
    }
    check_query(parts.uri.query())?;
    match operation {
        Operation::Patch(_) => return Err(FspiopError::new(ErrorCode::NOT_IMPLEMENTED)),
        Operation::Fulfil(_) => {
            if let Some(completed) = parsed.as_ref().and_then(body_rules::completed_timestamp) {
                body_rules::check_completed_timestamp(
                    completed,
                    time::OffsetDateTime::now_utc(),
                    app.max_fulfil_timeout,
                    app.max_callback_lag,
                )?;
            }
        }
        _ => {}
    }
    Ok((bytes, parsed))
}

/// The signature must be the source's, over this body, for this request: the path (and query)
/// as the DFSP addressed it (behind `FSPIOP_EXTERNAL_BASE_PATH`) and the method.
fn verify_signature(
    app: &AppState,
    parts: &Parts,
    validated: &ValidatedHeaders,
    bytes: &[u8],
) -> Result<(), FspiopError> {
    let keys = app.keys.as_ref().map(|k| k.keys()).unwrap_or_default();
    let key = keys.get(validated.source()).ok_or_else(|| {
        FspiopError::with_detail(
            ErrorCode::INVALID_SIGNATURE,
            format!("No public key for FSPIOP-Source {}", validated.source()),
        )
    })?;
    let uri = external_uri(&app.external_base_path, &parts.uri);
    let target = RequestTarget {
        method: parts.method.as_str(),
        uri: &uri,
    };
    jws::verify_request(bytes, validated.headers(), key, target)
}

/// The URI the DFSP sent the request to: `base` + path (+ `?query`, as received).
pub fn external_uri(base: &str, uri: &http::Uri) -> String {
    match uri.query() {
        Some(query) => format!("{base}{}?{query}", uri.path()),
        None => format!("{base}{}", uri.path()),
    }
}

/// The request's `Date` must be within `window` of `now`, either way.
pub fn check_date_window(
    validated: &ValidatedHeaders,
    window: time::Duration,
    now: time::OffsetDateTime,
) -> Result<(), FspiopError> {
    let Some(date) = validated
        .get(names::DATE)
        .and_then(|d| httpdate::parse_http_date(d).ok())
    else {
        // Header validation already required a well-formed Date.
        return Ok(());
    };
    let date = time::OffsetDateTime::from(date);
    if (now - date).abs() > window {
        return Err(FspiopError::with_detail(
            ErrorCode::VALIDATION_ERROR,
            format!(
                "Date header is outside the accepted window of ±{} s",
                window.whole_seconds()
            ),
        ));
    }
    Ok(())
}

/// Builds the boundary envelope, produces it and answers once the broker acknowledged it.
async fn produce(
    app: &AppState,
    operation: Operation<'_>,
    validated: ValidatedHeaders,
    principal: Principal,
    bytes: &[u8],
    parsed: Option<&Value>,
) -> Result<Response, FspiopError> {
    let member = |name: &str| {
        parsed
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (kind, transfer_id, topic, label, success) = match operation {
        Operation::Prepare => (
            InboundKind::Prepare,
            member("transferId"),
            &app.topics.prepare,
            "prepare",
            StatusCode::ACCEPTED,
        ),
        Operation::Fulfil(id) => (
            InboundKind::Fulfil,
            id,
            &app.topics.fulfil,
            "fulfil",
            StatusCode::OK,
        ),
        Operation::Error(id) => (
            InboundKind::Error,
            id,
            &app.topics.fulfil,
            "fulfil",
            StatusCode::OK,
        ),
        Operation::Get(id) => (
            InboundKind::Get,
            id,
            &app.topics.get,
            "get",
            StatusCode::ACCEPTED,
        ),
        Operation::Patch(_) => return Err(FspiopError::new(ErrorCode::NOT_IMPLEMENTED)),
    };
    let envelope = inbound_envelope(&InboundRequest {
        kind,
        transfer_id,
        headers: validated.into_headers(),
        body: bytes,
        payer_payee: (kind == InboundKind::Prepare)
            .then(|| (member("payerFsp"), member("payeeFsp"))),
        transfer_state: (kind == InboundKind::Fulfil).then(|| member("transferState")),
        principal,
    });
    let message = OutboundMessage {
        topic: topic.clone(),
        key: None,
        payload: envelope.to_json_bytes(),
    };
    send(app, &message, label, transfer_id).await?;
    Ok(success.into_response())
}

/// Produces one message and waits for the broker's acknowledgement; a failure is 2001 to the
/// DFSP (the broker's reason is logged, not sent) and marks the broker down for readiness.
async fn send(
    app: &AppState,
    message: &OutboundMessage,
    label: &'static str,
    transfer_id: &str,
) -> Result<(), FspiopError> {
    let started = Instant::now();
    let sent = app.producer.send_all(std::slice::from_ref(message)).await;
    metrics::histogram!("ferroloop_api_produce_seconds", "topic" => label)
        .record(started.elapsed());
    match sent {
        Ok(()) => {
            app.broker_up.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(error) => {
            app.broker_up.store(false, Ordering::Relaxed);
            metrics::counter!("ferroloop_api_produce_failures_total", "topic" => label)
                .increment(1);
            tracing::error!(%error, topic = %message.topic, transfer_id, "produce failed");
            Err(FspiopError::new(ErrorCode::INTERNAL_SERVER_ERROR))
        }
    }
}

/// The path `{ID}` must be a transfer id (lowercase UUID v1–v7 or ULID, the `CorrelationId`
/// pattern). Mojaloop's OpenAPI file types the parameter as a plain string, so Mojaloop's
/// adapter lets any value through and the ledger fails later; here it is refused at once with
/// the 3100 openapi-backend gives for a path parameter that fails its pattern:
/// `"Generic validation error - /path/ID must match pattern \"…\""` (cut to 128 characters).
pub fn check_path_id(id: &str) -> Result<(), FspiopError> {
    match TransferId::parse(id) {
        Ok(_) => Ok(()),
        Err(_) => Err(FspiopError::with_detail(
            ErrorCode::VALIDATION_ERROR,
            invalid_path_id_detail(),
        )),
    }
}

/// A query string with any parameter is refused; an empty one (`?`, `?&`) is no parameter.
fn check_query(query: Option<&str>) -> Result<(), FspiopError> {
    if query.is_some_and(|q| q.split('&').any(|pair| !pair.is_empty())) {
        Err(FspiopError::with_detail(
            ErrorCode::TOO_MANY_ELEMENTS,
            QUERY_NOT_ALLOWED,
        ))
    } else {
        Ok(())
    }
}

fn payload_too_large() -> FspiopError {
    FspiopError::with_detail(ErrorCode::TOO_LARGE_PAYLOAD, PAYLOAD_TOO_LARGE)
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads the body, at most `limit` bytes (3104 beyond). A body that arrives in one chunk — the
/// usual case — is used without copying.
async fn read_body(
    body: Body,
    declared_length: Option<usize>,
    limit: usize,
) -> Result<Bytes, FspiopError> {
    let mut stream = body.into_data_stream();
    let mut first = Bytes::new();
    let mut buffer: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            tracing::debug!(%error, "request body could not be read");
            FspiopError::with_detail(
                ErrorCode::MALFORMED_SYNTAX,
                "Request body could not be read",
            )
        })?;
        total = total.saturating_add(chunk.len());
        if total > limit {
            return Err(payload_too_large());
        }
        if buffer.is_none() && first.is_empty() {
            first = chunk;
            continue;
        }
        let buffer = buffer.get_or_insert_with(|| {
            let capacity = declared_length.unwrap_or(total).max(total).min(limit);
            let mut b = BytesMut::with_capacity(capacity);
            b.extend_from_slice(&first);
            b
        });
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.map_or(first, BytesMut::freeze))
}

/// An FSPIOP error response: the code's HTTP status, `{"errorInformation": …}`,
/// `Content-Type: application/json`.
pub fn error_response(error: &FspiopError) -> Response {
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Strings and an optional list of string pairs: serialising cannot fail.
    let body = serde_json::to_vec(&error.to_body()).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Mojaloop's health document (central-services-health): 200 `OK` when the broker is reachable
/// and the listener serves, else 502 `DOWN`.
fn health(app: &AppState) -> Response {
    let broker = app.broker_up.load(Ordering::Relaxed);
    let ok = broker && app.serving.load(Ordering::Relaxed);
    let status_text = |up: bool| if up { "OK" } else { "DOWN" };
    let body = serde_json::json!({
        "status": status_text(ok),
        "uptime": app.started.elapsed().as_secs_f64(),
        "startTime": app.start_time,
        "versionNumber": env!("CARGO_PKG_VERSION"),
        "services": [{"name": "broker", "status": status_text(broker)}],
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    (status, axum::Json(body)).into_response()
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_label(status: StatusCode) -> SharedString {
    let known = match status.as_u16() {
        200 => "200",
        202 => "202",
        400 => "400",
        404 => "404",
        405 => "405",
        406 => "406",
        500 => "500",
        501 => "501",
        502 => "502",
        503 => "503",
        _ => return SharedString::from(status.as_u16().to_string()),
    };
    SharedString::const_str(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let id = "b51ec534-ee48-4575-b6a9-ead2955b8069";
        assert_eq!(classify("/transfers"), Route::Transfers);
        assert_eq!(classify(&format!("/transfers/{id}")), Route::Transfer(id));
        assert_eq!(
            classify(&format!("/transfers/{id}/error")),
            Route::TransferError(id)
        );
        assert_eq!(classify("/health"), Route::Health);
        for unknown in [
            "",
            "/",
            "/transfers/",
            "/transfers//error",
            "/transfers/x/error/",
            "/transfers/x/errors",
            "/transfers/x/error/y",
            "/Transfers",
            "/fxTransfers",
            "/health/",
            "transfers",
        ] {
            assert_eq!(classify(unknown), Route::Unknown, "{unknown:?}");
        }
    }

    #[test]
    fn query() {
        assert!(check_query(None).is_ok());
        assert!(check_query(Some("")).is_ok());
        assert!(check_query(Some("&&")).is_ok());
        for q in ["a", "a=1", "=1", "&a"] {
            let e = check_query(Some(q)).unwrap_err();
            assert_eq!(
                e.description(),
                "Too many elements - /query must NOT have additional properties"
            );
        }
    }

    #[test]
    fn path_id() {
        for ok in [
            "b51ec534-ee48-4575-b6a9-ead2955b8069",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        ] {
            assert!(check_path_id(ok).is_ok(), "{ok}");
        }
        let e = check_path_id("B51EC534-EE48-4575-B6A9-EAD2955B8069").unwrap_err();
        assert_eq!(e.code(), ErrorCode::VALIDATION_ERROR);
        assert!(
            e.description().starts_with(
                "Generic validation error - /path/ID must match pattern \"^[0-9a-f]{8}"
            )
        );
        assert_eq!(e.description().chars().count(), 128);
    }

    #[test]
    fn status_labels() {
        assert_eq!(status_label(StatusCode::OK).as_ref(), "200");
        assert_eq!(status_label(StatusCode::IM_A_TEAPOT).as_ref(), "418");
    }
}
