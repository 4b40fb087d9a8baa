//! The pure domain of ferroloop, a Rust FSPIOP (Mojaloop) transfer switch.
//!
//! Everything here is synchronous and free of I/O, so every rule the handlers rely on can be
//! unit- and property-tested in isolation:
//!
//! - [`id`] — [`TransferId`](id::TransferId), the FSPIOP `CorrelationId` (lowercase UUID or
//!   uppercase ULID), printed back exactly as received.
//! - [`amount`] — [`Amount`](amount::Amount) (exact decimal, scale ≤ 4, precision ≤ 18) and
//!   [`Money`](amount::Money); the FSPIOP amount syntax and the ledger's scale/precision rules.
//! - [`currency`] — [`Currency`](currency::Currency), the ISO-4217 codes the FSPIOP API accepts.
//! - [`ledger_id`] — [`ParticipantId`](ledger_id::ParticipantId) and
//!   [`AccountId`](ledger_id::AccountId), the ledger rows' identities as distinct types.
//! - [`participant`] — [`FspId`](participant::FspId), a DFSP's FSPIOP name.
//! - [`state`] — the transfer state machine: internal states, their API enumeration and the one
//!   total [`transition`](state::transition) function.
//! - [`ilp`] — condition/fulfilment checks and an ILP packet decoder for diagnostics.
//! - [`hash`] — the duplicate-request hash over canonical (sorted-key, compact) JSON.
//! - [`position`] — the reservation rule (liquidity cover, then net debit cap) and in-order batch
//!   application of position changes.
//! - [`funds_out`] — how much liquidity a funds-out may take (what backs no obligation).
//! - [`prepare`] — semantic validation of a prepare, in central-ledger's rule order.
//! - [`replay`] — the replay rule: new, own replay, resend in flight or finished, modified.
//! - [`settlement`] — settlement windows and models, the netting rule and the settlement state
//!   machine (docs/settlement.md).
//! - [`error`] — the FSPIOP error catalogue and [`FspiopError`](error::FspiopError).
//! - [`view`] — the state body (GET and duplicate responses) of a stored transfer.
//! - [`api`] — serde wire types of the FSPIOP transfer bodies.
//! - [`fspiop_time`] — the FSPIOP `DateTime` format (parse and print).
//! - [`audit`] — the admin audit chain: canonical rows, their hash links, the verifier.

pub mod amount;
pub mod api;
pub mod audit;
pub mod currency;
pub mod error;
pub mod fspiop_time;
pub mod funds_out;
pub mod hash;
pub mod id;
pub mod ilp;
pub mod ledger_id;
pub mod participant;
pub mod payee_response;
pub mod position;
pub mod prepare;
pub mod replay;
pub mod settlement;
pub mod state;
pub mod view;

/// The crate's test data (`testdata/`, extracted from upstream documents by
/// `scripts/testdata/extract.py`; never edited by hand).
#[cfg(test)]
pub(crate) mod testdata {
    use serde_json::Value;

    pub fn path(relative: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(relative)
    }

    pub fn text(relative: &str) -> String {
        let path = path(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn json(relative: &str) -> Value {
        serde_json::from_str(&text(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    /// A string member of a JSON object, by `/`-separated pointer.
    pub fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{pointer} is not a string"))
    }
}
