//! Errors of the admin API, answered as FSPIOP error objects with the catalogue's HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_store::StoreError;

/// A failed request: an FSPIOP error chosen by the handler, or a storage failure (answered as
/// 2001 Internal server error, or 2003 Service currently unavailable when a retry can succeed).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Fspiop(#[from] FspiopError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No token, or a token that does not verify: 401 with `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A valid token without the route's privilege, or a maker deciding their own request: 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 3200 Generic ID not found, with central-ledger's text.
    pub fn not_found(detail: &str) -> Self {
        FspiopError::with_detail(ErrorCode::ID_NOT_FOUND, detail).into()
    }

    /// 2001 Internal server error: what central-ledger answers for most domain refusals
    /// (`createInternalServerFSPIOPError`).
    pub fn internal(detail: impl Into<String>) -> Self {
        FspiopError::with_detail(ErrorCode::INTERNAL_SERVER_ERROR, detail).into()
    }

    /// 3003 Add Party information error (hub accounts, hub account checks).
    pub fn add_party(detail: &str) -> Self {
        FspiopError::with_detail(ErrorCode::ADD_PARTY_INFO_ERROR, detail).into()
    }

    /// 3000 Generic client error.
    pub fn client(detail: &str) -> Self {
        FspiopError::with_detail(ErrorCode::CLIENT_ERROR, detail).into()
    }

    /// The HTTP status and FSPIOP error body this error is answered with.
    pub fn parts(self) -> (StatusCode, serde_json::Value) {
        match self {
            ApiError::Unauthorized(detail) => {
                (StatusCode::UNAUTHORIZED, denial("Unauthorized", &detail))
            }
            ApiError::Forbidden(detail) => (StatusCode::FORBIDDEN, denial("Forbidden", &detail)),
            other => {
                let error = other.fspiop();
                let status = StatusCode::from_u16(error.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (
                    status,
                    serde_json::to_value(error.to_body()).unwrap_or_default(),
                )
            }
        }
    }

    /// True when retrying the same transaction can succeed (deadlock, lost connection).
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Store(e) if e.is_transient())
    }

    fn fspiop(self) -> FspiopError {
        match self {
            ApiError::Unauthorized(detail) | ApiError::Forbidden(detail) => {
                FspiopError::with_detail(ErrorCode::CLIENT_ERROR, detail)
            }
            ApiError::Fspiop(error) => error,
            ApiError::Store(error) if error.is_transient() => {
                tracing::warn!(%error, "transient database error");
                FspiopError::with_detail(
                    ErrorCode::SERVICE_CURRENTLY_UNAVAILABLE,
                    "database busy, please retry",
                )
            }
            ApiError::Store(error) => {
                tracing::error!(%error, "database error");
                FspiopError::new(ErrorCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

/// The response for an FSPIOP error.
pub fn error_response(error: &FspiopError) -> Response {
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(error.to_body())).into_response()
}

/// The FSPIOP has no code for authentication: 3000 Generic client error with the reason, under
/// HTTP 401/403.
fn denial(what: &str, detail: &str) -> serde_json::Value {
    serde_json::json!({"errorInformation": {
        "errorCode": "3000",
        "errorDescription": format!("Generic client error - {what}: {detail}"),
    }})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = matches!(self, ApiError::Unauthorized(_));
        let (status, body) = self.parts();
        tracing::info!(%status, description = body["errorInformation"]["errorDescription"].as_str().unwrap_or_default(), "request refused");
        let mut response = (status, Json(body)).into_response();
        if unauthorized {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}
