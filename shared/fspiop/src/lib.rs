//! The HTTP-facing FSPIOP rules of ferroloop, framework-agnostic (only the `http` crate's types),
//! so that the api-adapter (inbound) and the notification handler (outbound callbacks) share one
//! tested implementation:
//!
//! - [`headers`] — request header validation exactly as Mojaloop's header plugin does it
//!   (`Accept`, `Content-Type`, `Date`, `FSPIOP-Source`), with its error codes and texts
//!   (docs/fspiop-api.md#header-rules).
//! - [`body`] — JSON body validation against the adapter's OpenAPI schemas (`TransfersPostRequest`,
//!   `TransfersIDPutResponse`, `ErrorInformationObject`, `TransfersIDPatchResponse`), reporting the
//!   first failure the way openapi-backend/ajv + Mojaloop's error factory do
//!   (docs/fspiop-api.md#body-rules), and the `completedTimestamp` window check of the fulfil path.
//! - [`callback`] — the headers the hub sends on callbacks (hub-originated and forwarded), endpoint
//!   template rendering and callback paths (docs/callbacks.md#header-rules).
//! - [`jws`] — the FSPIOP `FSPIOP-Signature` (JWS with a detached, FSPIOP-specific protected
//!   header): signing and verification (docs/fspiop-api.md#signatures-jws).
//!
//! Every validation failure is a [`ferroloop_core::error::FspiopError`] carrying the code and
//! detail text a DFSP would get from Mojaloop's adapter.

pub mod body;
pub mod callback;
pub mod endpoint;
pub mod headers;
pub mod jws;

#[cfg(test)]
mod test_yaml;
