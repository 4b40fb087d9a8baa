//! The GET step's decision: pure, from the loaded [`Snapshot`] to the callbacks
//! (docs/fspiop-api.md#answering-get).

use std::collections::HashMap;
use std::sync::Arc;

use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::id::TransferId;
use ferroloop_core::view::TransferView;
use ferroloop_messaging::events::{self, HubMessage, action};
use ferroloop_messaging::{Envelope, HandlerError, Outputs};
use ferroloop_pipeline::{Decide, Plan};
use ferroloop_store::participants::ParticipantRecord;
use ferroloop_store::transfers::{TransferKind, TransferRecord};
use time::OffsetDateTime;

const GETS: &str = "ferroloop_gets_total";

/// The detail Mojaloop gives with 3208 (docs/fspiop-api.md#answering-get).
const NOT_FOUND_DETAIL: &str = "Provided Transfer ID was not found on the server.";

/// A GET request and its authenticated requester.
#[derive(Debug, Clone)]
pub struct Item {
    pub envelope: Envelope,
    pub requester: String,
}

/// The requesters and the asked-for transfers with their state bodies.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub requesters: HashMap<String, Arc<ParticipantRecord>>,
    pub views: HashMap<TransferId, (TransferRecord, TransferView)>,
}

/// Where answers go and the hub's name.
#[derive(Debug, Clone)]
pub struct Context {
    pub outputs: Outputs,
    pub hub: String,
}

impl Decide for Context {
    type Item = Item;
    type Snapshot = Snapshot;
    type Writes = ();

    /// The answers: the state body to the payer or payee, 3000 to anyone else, 3208 for an unknown
    /// id or a funds transfer; nothing for a requester that is not an active participant (it has no
    /// endpoint to answer to). GET writes nothing.
    fn decide(
        &self,
        snapshot: &Snapshot,
        items: &[Item],
        _now: OffsetDateTime,
    ) -> Result<Plan<()>, HandlerError> {
        let context = self;
        let mut plan = Plan::default();
        for item in items {
            let who = item.requester.as_str();
            if !snapshot.requesters.get(who).is_some_and(|p| p.is_active) {
                tracing::info!(
                    requester = who,
                    "GET from an unknown or inactive participant dropped"
                );
                plan.count(GETS, "unknown-requester");
                continue;
            }
            // Only DFSP-to-DFSP transfers exist for FSPIOP: a funds transfer answers as unknown.
            let found = snapshot
                .views
                .get(item.envelope.transfer_id())
                .filter(|(transfer, _)| transfer.kind == TransferKind::Transfer);
            let error = |error: FspiopError| {
                HubMessage::fspiop_error(who, action::GET, &error)
                    .answering(&item.envelope, &context.hub)
            };
            let reply = match found {
                None => {
                    plan.count(GETS, "not-found");
                    error(FspiopError::with_detail(
                        ErrorCode::TRANSFER_ID_NOT_FOUND,
                        NOT_FOUND_DETAIL,
                    ))
                }
                Some((transfer, _)) if who != transfer.payer_fsp && who != transfer.payee_fsp => {
                    plan.count(GETS, "not-a-party");
                    error(FspiopError::new(ErrorCode::CLIENT_ERROR))
                }
                Some((_, view)) => {
                    plan.count(GETS, "answered");
                    let body = events::json_payload(&view.to_state_body());
                    HubMessage::notification(who, action::GET, body)
                        .answering(&item.envelope, &context.hub)
                }
            };
            plan.outputs.push(context.outputs.notification(&reply));
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests;
