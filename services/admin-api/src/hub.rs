//! What the admin API says about the hub itself:
//!
//! | request | answer |
//! |---|---|
//! | `GET /health` | central-ledger's health document: the datastore and the broker, 200 `OK` when both are up, else 502 `DOWN` |
//! | `GET /hub/jwsKey` | 200 `{"publicKey": "<PEM>"}`: the key DFSPs verify the hub's signed callbacks with (`HUB_JWS_PUBLIC_KEY_PATH`); 400 / 3200 when the hub publishes none |
//!
//! The broker's state comes from `ferroloop_messaging::probe`. The admin API reports it but its
//! readiness (`/health/ready`) does not follow it: reads and changes need only the database, so
//! operators keep their API through a broker outage.
//!
//! The hub's public key is read from its file on every request (a rotated key is published at
//! once) and must parse as a key the hub could sign with a matching private key (RSA ≥ 2048 bits
//! or P-256); anything else is a 500, never a key DFSPs would load.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ferroloop_fspiop::jws::VerifyingKey;
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, AppState};

/// 3200 detail when the hub publishes no key.
pub const NO_HUB_JWS_KEY: &str =
    "The hub publishes no JWS key (HUB_JWS_PUBLIC_KEY_PATH is not set)";

fn status_text(up: bool) -> &'static str {
    if up { "OK" } else { "DOWN" }
}

/// central-ledger's `GET /health` (the operations endpoints are `/health/live` and
/// `/health/ready`).
pub async fn health(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let datastore = app.begin().await.is_ok();
    let broker = app.inner.broker_up.load(Ordering::Relaxed);
    let ok = datastore && broker;
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    (
        code,
        Json(json!({
            "status": status_text(ok),
            "uptime": app.inner.started.elapsed().as_secs_f64(),
            "startTime": app.inner.start_time,
            "versionNumber": env!("CARGO_PKG_VERSION"),
            "services": [
                {"name": "datastore", "status": status_text(datastore)},
                {"name": "broker", "status": status_text(broker)},
            ],
        })),
    )
}

/// `GET /hub/jwsKey` → 200 `{"publicKey"}`.
pub async fn jws_key(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    let Some(path) = app.inner.hub_jws_public_key_path.clone() else {
        return Err(ApiError::not_found(NO_HUB_JWS_KEY));
    };
    let read = tokio::fs::read_to_string(&path).await;
    let pem = read.map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "hub JWS public key unreadable");
        ApiError::internal("The hub's JWS public key cannot be read")
    })?;
    VerifyingKey::from_pem(&pem).map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "hub JWS public key is not a usable public key");
        ApiError::internal("The hub's JWS public key is not usable")
    })?;
    Ok(Json(json!({"publicKey": pem})))
}
