//! Serde wire types of the FSPIOP transfer bodies, with FSPIOP's exact field names.
//!
//! Inbound bodies keep their fields as strings: the handlers must produce Mojaloop's own reasons
//! for bad values (e.g. "Amount 1.12345 exceeds allowed scale of 4"), so parsing into domain types
//! ([`TransferId`](crate::id::TransferId), [`Amount`](crate::amount::Amount), …) is their step,
//! not serde's. Unknown fields are tolerated here; schema strictness (3103) belongs to the
//! HTTP-facing validation.
//!
//! Fields are declared in alphabetical order so that bodies the hub builds serialise with sorted
//! keys — the form Mojaloop's SDK signs and verifies with JWS.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::fspiop_time;
use crate::state::ApiTransferState;

/// `maxLength` of an extension key.
pub const EXTENSION_KEY_MAX_CHARS: usize = 32;
/// `maxLength` of an extension value.
pub const EXTENSION_VALUE_MAX_CHARS: usize = 128;
/// `maxItems` of an extension list (`minItems` is 1).
pub const EXTENSION_LIST_MAX_ITEMS: usize = 16;

/// FSPIOP `Extension`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub key: String,
    pub value: String,
}

/// FSPIOP `ExtensionList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionList {
    pub extension: Vec<Extension>,
}

/// FSPIOP `ErrorInformation`. `errorCode` stays a string so that a payee's malformed or unknown
/// code can be reported as such (3100 "API specification undefined errorCode").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInformation {
    pub error_code: String,
    pub error_description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
}

/// FSPIOP `ErrorInformationObject`: the body of `PUT /transfers/{ID}/error` and of every error
/// response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInformationObject {
    pub error_information: ErrorInformation,
}

/// FSPIOP `Money` as received: both parts unparsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyBody {
    pub amount: String,
    pub currency: String,
}

/// `POST /transfers` (`TransfersPostRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrepareBody {
    pub amount: MoneyBody,
    pub condition: String,
    pub expiration: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
    pub ilp_packet: String,
    pub payee_fsp: String,
    pub payer_fsp: String,
    pub transfer_id: String,
}

/// `PUT /transfers/{ID}` from the payee (`TransfersIDPutResponse`). `transferState` is kept as
/// text: the adapter maps any value other than `ABORTED`/`RESERVED` to a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfilBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfilment: Option<String>,
    pub transfer_state: String,
}

/// The transfer's state as the hub reports it: duplicate resends, GET responses and the
/// RESERVE-flow `PUT` to the payer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferStateBody {
    pub completed_timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfilment: Option<String>,
    pub transfer_state: ApiTransferState,
}

impl TransferStateBody {
    pub fn new(
        completed: OffsetDateTime,
        transfer_state: ApiTransferState,
        fulfilment: Option<String>,
        extension_list: Option<ExtensionList>,
    ) -> Self {
        Self {
            completed_timestamp: fspiop_time::format(completed),
            extension_list,
            fulfilment,
            transfer_state,
        }
    }
}

/// `PATCH /transfers/{ID}` the hub sends to a payee that answered `RESERVED`
/// (`TransfersIDPatchResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchBody {
    pub completed_timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
    pub transfer_state: ApiTransferState,
}

impl PatchBody {
    pub fn new(completed: OffsetDateTime, transfer_state: ApiTransferState) -> Self {
        Self {
            completed_timestamp: fspiop_time::format(completed),
            extension_list: None,
            transfer_state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn prepare_body_uses_fspiop_names() {
        let text = r#"{"transferId":"b51ec534-ee48-4575-b6a9-ead2955b8069","payerFsp":"payerfsp","payeeFsp":"payeefsp","amount":{"currency":"USD","amount":"100"},"ilpPacket":"AYIB","condition":"safmEwXdD-DagaLwV3CMoHURelacgaFCwu0Hgcc89IY","expiration":"2030-01-01T00:00:00.000Z","extensionList":{"extension":[{"key":"k","value":"v"}]}}"#;
        let body: PrepareBody = serde_json::from_str(text).unwrap();
        assert_eq!(body.transfer_id, "b51ec534-ee48-4575-b6a9-ead2955b8069");
        assert_eq!(body.amount.amount, "100");
        assert_eq!(body.extension_list.as_ref().unwrap().extension[0].key, "k");
        // Re-serialised with sorted keys, the same value.
        let out = serde_json::to_string(&body).unwrap();
        let reparsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        let original: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(reparsed, original);
        assert_eq!(out, crate::hash::canonical_json(&original));
    }

    #[test]
    fn fulfil_body_optional_fields() {
        let body: FulfilBody = serde_json::from_str(r#"{"transferState":"COMMITTED"}"#).unwrap();
        assert_eq!(body.transfer_state, "COMMITTED");
        assert_eq!(body.fulfilment, None);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"transferState":"COMMITTED"}"#
        );
        // Unknown states stay text for the handler to judge.
        let body: FulfilBody =
            serde_json::from_str(r#"{"transferState":"WHATEVER","fulfilment":"x"}"#).unwrap();
        assert_eq!(body.transfer_state, "WHATEVER");
    }

    #[test]
    fn hub_bodies_serialise_sorted_and_in_fspiop_form() {
        let body = TransferStateBody::new(
            datetime!(2030-01-01 00:00:00.5 +01:00),
            ApiTransferState::Committed,
            Some("UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA".into()),
            None,
        );
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"completedTimestamp":"2029-12-31T23:00:00.500Z","fulfilment":"UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA","transferState":"COMMITTED"}"#
        );
        let patch = PatchBody::new(
            datetime!(2030-01-01 00:00:00 UTC),
            ApiTransferState::Aborted,
        );
        assert_eq!(
            serde_json::to_string(&patch).unwrap(),
            r#"{"completedTimestamp":"2030-01-01T00:00:00.000Z","transferState":"ABORTED"}"#
        );
    }

    #[test]
    fn error_body_round_trip() {
        let text =
            r#"{"errorInformation":{"errorCode":"5100","errorDescription":"Payee rejected"}}"#;
        let body: ErrorInformationObject = serde_json::from_str(text).unwrap();
        assert_eq!(body.error_information.error_code, "5100");
        assert_eq!(serde_json::to_string(&body).unwrap(), text);
    }
}
