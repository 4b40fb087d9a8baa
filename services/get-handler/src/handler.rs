//! One batch of GET requests: one participant lookup and four view queries per batch.

use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_messaging::boundary::NO_PRINCIPAL;
use ferroloop_messaging::events::{self, action, event_type};
use ferroloop_messaging::{
    BatchHandler, BoundaryArgs, Envelope, EventState, HandlerError, OutboundMessage, Outputs,
    ReceivedMessage, Topics,
};
use ferroloop_store::participants::ParticipantCache;
use ferroloop_store::transfers::{self, TransferKind};
use ferroloop_store::{MySqlPool, StoreError};

/// The detail Mojaloop gives with 3208 (docs/fspiop-api.md#answering-get).
const NOT_FOUND_DETAIL: &str = "Provided Transfer ID was not found on the server.";

#[derive(Debug)]
pub struct GetHandler {
    pool: MySqlPool,
    outputs: Outputs,
    hub: String,
    boundary: BoundaryArgs,
    participants: ParticipantCache,
}

fn db_error(error: StoreError) -> HandlerError {
    let transient = error.is_transient();
    HandlerError::classified(error, transient)
}

impl GetHandler {
    pub fn new(pool: MySqlPool, topics: Topics, hub: String) -> Self {
        Self {
            pool,
            outputs: Outputs::new(topics, "get"),
            hub,
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

    async fn handle_batch(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        let mut output = Vec::new();
        let mut requests = Vec::with_capacity(batch.len());
        for message in batch {
            match Envelope::from_json_bytes(&message.payload) {
                Ok(envelope) if self.boundary.sender(&envelope).is_some() => {
                    requests.push(envelope);
                }
                Ok(_) => output.push(self.outputs.dead_letter(message, NO_PRINCIPAL)),
                Err(error) => output.push(
                    self.outputs
                        .dead_letter(message, &format!("not an envelope: {error}")),
                ),
            }
        }
        let boundary = self.boundary;
        let requester = |request: &Envelope| -> String {
            boundary
                .sender(request)
                .map(str::to_owned)
                .unwrap_or_default()
        };
        if requests.is_empty() {
            return Ok(output);
        }
        let mut conn = self.pool.acquire().await.map_err(|e| db_error(e.into()))?;
        self.participants
            .refresh(&mut conn)
            .await
            .map_err(db_error)?;
        let requesters: Vec<String> = requests.iter().map(requester).collect();
        let names: Vec<&str> = requesters.iter().map(String::as_str).collect();
        let known = self
            .participants
            .get_many(&mut conn, &names)
            .await
            .map_err(db_error)?;
        let ids: Vec<&str> = requests.iter().map(Envelope::transfer_id).collect();
        let views = transfers::load_views(&mut conn, &ids)
            .await
            .map_err(db_error)?;
        for (request, who) in requests.iter().zip(&names) {
            let who: &str = who;
            if !known.get(who).is_some_and(|p| p.is_active) {
                tracing::info!(
                    requester = who,
                    "GET from an unknown or inactive participant dropped"
                );
                metrics::counter!("ferroloop_gets_total", "outcome" => "unknown-requester")
                    .increment(1);
                continue;
            }
            // Only DFSP-to-DFSP transfers exist for FSPIOP: a funds transfer answers as unknown.
            let found = views
                .get(request.transfer_id())
                .filter(|(transfer, _)| transfer.kind == TransferKind::Transfer);
            let reply = match found {
                None => {
                    metrics::counter!("ferroloop_gets_total", "outcome" => "not-found")
                        .increment(1);
                    events::error_from_switch(
                        request,
                        &self.hub,
                        who,
                        action::GET,
                        &FspiopError::with_detail(
                            ErrorCode::TRANSFER_ID_NOT_FOUND,
                            NOT_FOUND_DETAIL,
                        ),
                    )
                }
                Some((transfer, _)) if who != transfer.payer_fsp && who != transfer.payee_fsp => {
                    metrics::counter!("ferroloop_gets_total", "outcome" => "not-a-party")
                        .increment(1);
                    events::error_from_switch(
                        request,
                        &self.hub,
                        who,
                        action::GET,
                        &FspiopError::new(ErrorCode::CLIENT_ERROR),
                    )
                }
                Some((_, view)) => {
                    metrics::counter!("ferroloop_gets_total", "outcome" => "answered").increment(1);
                    events::from_switch(
                        request,
                        &self.hub,
                        who,
                        event_type::NOTIFICATION,
                        action::GET,
                        EventState::success(),
                        events::json_payload(&view.to_state_body()),
                        None,
                    )
                }
            };
            output.push(self.outputs.notification(&reply));
        }
        Ok(output)
    }
}

impl BatchHandler for GetHandler {
    fn name(&self) -> &'static str {
        "get"
    }

    async fn handle(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        self.handle_batch(batch).await
    }
}
