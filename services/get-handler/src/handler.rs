//! The GET step on the runner: decode, load (requesters, state bodies: one participant lookup
//! and four view queries per batch, on a pooled connection), decide (`decide.rs`, pure).

use ferroloop_core::id::TransferId;
use ferroloop_messaging::boundary::NO_PRINCIPAL;
use ferroloop_messaging::{
    BoundaryArgs, Envelope, OutboundMessage, Outputs, ReceivedMessage, Topics,
};
use ferroloop_pipeline::Step;
use ferroloop_store::participants::ParticipantCache;
use ferroloop_store::transfers;
use ferroloop_store::{MySqlConnection as Conn, StoreError};

use crate::decide::{Context, Item, Snapshot};

/// The get handler's step (run it with `ferroloop_pipeline::Runner`).
#[derive(Debug)]
pub struct GetStep {
    context: Context,
    boundary: BoundaryArgs,
    participants: ParticipantCache,
}

impl GetStep {
    pub fn new(topics: Topics, hub: String) -> Self {
        Self {
            context: Context {
                outputs: Outputs::new(topics, "get"),
                hub,
            },
            boundary: BoundaryArgs::default(),
            participants: ParticipantCache::default(),
        }
    }

    /// Whether envelopes without a principal are believed (`ACCEPT_ENVELOPES_WITHOUT_PRINCIPAL`).
    #[must_use]
    pub fn with_boundary(mut self, boundary: BoundaryArgs) -> Self {
        self.boundary = boundary;
        self
    }
}

impl Step for GetStep {
    type Decide = Context;

    /// GET only reads: no transaction, no BEGIN/COMMIT round trips.
    const TRANSACTIONAL: bool = false;

    fn decider(&self) -> &Context {
        &self.context
    }

    fn name(&self) -> &'static str {
        "get"
    }

    fn decode(&self, message: &ReceivedMessage) -> Result<Item, OutboundMessage> {
        let outputs = &self.context.outputs;
        let envelope = Envelope::from_json_bytes(&message.payload)
            .map_err(|error| outputs.dead_letter(message, &format!("not an envelope: {error}")))?;
        let Some(requester) = self.boundary.sender(&envelope).map(str::to_owned) else {
            return Err(outputs.dead_letter(message, NO_PRINCIPAL));
        };
        Ok(Item {
            envelope,
            requester,
        })
    }

    async fn load(&mut self, conn: &mut Conn, items: &[Item]) -> Result<Snapshot, StoreError> {
        self.participants.refresh(conn).await?;
        let names: Vec<&str> = items.iter().map(|i| i.requester.as_str()).collect();
        let requesters = self.participants.get_many(conn, &names).await?;
        // The message carries the id as the request's text: an id that is no `TransferId` is
        // no transfer's, so it is not asked for and is simply absent, answered as unknown.
        let ids: Vec<TransferId> = items
            .iter()
            .filter_map(|i| TransferId::parse(i.envelope.transfer_id()).ok())
            .collect();
        let views = transfers::load_views(conn, &ids).await?;
        Ok(Snapshot { requesters, views })
    }

    async fn apply(&mut self, _: &mut Conn, _: &Snapshot, (): &()) -> Result<(), StoreError> {
        Ok(())
    }
}
