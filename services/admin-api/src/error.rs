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

    fn fspiop(self) -> FspiopError {
        match self {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.fspiop();
        tracing::info!(code = %error.code(), description = error.description(), "request refused");
        error_response(&error)
    }
}
