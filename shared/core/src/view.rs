//! The transfer's state as the hub reports it to a DFSP: GET responses and duplicate resends
//! (docs/callbacks.md#bodies).

use time::OffsetDateTime;

use crate::api::{
    EXTENSION_LIST_MAX_ITEMS, EXTENSION_VALUE_MAX_CHARS, Extension, ExtensionList,
    TransferStateBody,
};
use crate::state::{ApiTransferState, TransferState};

/// What is stored about a transfer that its state body needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferView {
    pub state: TransferState,
    /// When the current state was entered (`completedTimestamp`, even for non-final states).
    pub state_changed_at: OffsetDateTime,
    pub fulfilment: Option<String>,
    pub prepare_extensions: Vec<Extension>,
    pub fulfil_extensions: Vec<Extension>,
    /// The error that aborted the transfer: (code, description).
    pub error: Option<(u16, String)>,
}

/// Funds in/out store no real fulfilment; central-ledger writes "0" and never reports it.
const NO_FULFILMENT: &str = "0";

impl TransferView {
    /// `{completedTimestamp, transferState, fulfilment?, extensionList?}`: the fulfilment when
    /// there is a real one; the fulfil extensions when a fulfilment exists, else the prepare's;
    /// plus a `cause` extension `"<code>: <description>"` when the transfer aborted with an error.
    pub fn to_state_body(&self) -> TransferStateBody {
        let api_state = self.state.api_state();
        let fulfilment = self
            .fulfilment
            .clone()
            .filter(|f| !f.is_empty() && f != NO_FULFILMENT);
        let mut extensions = if fulfilment.is_some() {
            self.fulfil_extensions.clone()
        } else {
            self.prepare_extensions.clone()
        };
        if let (ApiTransferState::Aborted, Some((code, description))) = (api_state, &self.error) {
            let value: String = format!("{code}: {description}")
                .chars()
                .take(EXTENSION_VALUE_MAX_CHARS)
                .collect();
            // The FSPIOP list holds at most 16 items; the cause matters more than the last.
            extensions.truncate(EXTENSION_LIST_MAX_ITEMS - 1);
            extensions.push(Extension {
                key: "cause".to_owned(),
                value,
            });
        }
        let extension_list = (!extensions.is_empty()).then_some(ExtensionList {
            extension: extensions,
        });
        TransferStateBody::new(self.state_changed_at, api_state, fulfilment, extension_list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ext(key: &str) -> Extension {
        Extension {
            key: key.to_owned(),
            value: "v".to_owned(),
        }
    }

    fn view(state: TransferState) -> TransferView {
        TransferView {
            state,
            state_changed_at: datetime!(2026-11-22 10:00:00.123 UTC),
            fulfilment: None,
            prepare_extensions: vec![ext("p")],
            fulfil_extensions: vec![ext("f")],
            error: None,
        }
    }

    #[test]
    fn committed_reports_the_fulfilment_and_its_extensions() {
        let mut v = view(TransferState::Committed);
        v.fulfilment = Some("UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA".into());
        let body = v.to_state_body();
        assert_eq!(body.transfer_state, ApiTransferState::Committed);
        assert_eq!(body.completed_timestamp, "2026-11-22T10:00:00.123Z");
        assert_eq!(
            body.fulfilment.as_deref(),
            Some("UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA")
        );
        assert_eq!(body.extension_list.unwrap().extension, vec![ext("f")]);
    }

    #[test]
    fn internal_states_map_to_the_api_enumeration() {
        assert_eq!(
            view(TransferState::ReceivedFulfil)
                .to_state_body()
                .transfer_state,
            ApiTransferState::Reserved
        );
        assert_eq!(
            view(TransferState::ReceivedPrepare)
                .to_state_body()
                .transfer_state,
            ApiTransferState::Received
        );
        assert_eq!(
            view(TransferState::ExpiredReserved)
                .to_state_body()
                .transfer_state,
            ApiTransferState::Aborted
        );
    }

    #[test]
    fn an_aborted_transfer_carries_its_cause_and_no_placeholder_fulfilment() {
        let mut v = view(TransferState::AbortedRejected);
        v.fulfilment = Some("0".into());
        v.error = Some((4200, "Payer limit error".into()));
        let body = v.to_state_body();
        assert_eq!(body.fulfilment, None);
        let list = body.extension_list.unwrap().extension;
        assert_eq!(list.last().unwrap().key, "cause");
        assert_eq!(list.last().unwrap().value, "4200: Payer limit error");
        assert_eq!(list[0], ext("p"));
    }

    #[test]
    fn no_extensions_means_no_list() {
        let mut v = view(TransferState::Reserved);
        v.prepare_extensions.clear();
        assert!(v.to_state_body().extension_list.is_none());
    }
}
