//! One batch of GET requests: one participant lookup and four view queries per batch.

use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_messaging::events::{self, action, event_type};
use ferroloop_messaging::{
    BatchHandler, Envelope, EventState, HandlerError, OutboundMessage, Outputs, ReceivedMessage,
    Topics,
};
use ferroloop_store::participants::ParticipantCache;
use ferroloop_store::transfers;
use ferroloop_store::{MySqlPool, StoreError};

/// The detail Mojaloop gives with 3208 (docs/fspiop-api.md#answering-get).
const NOT_FOUND_DETAIL: &str = "Provided Transfer ID was not found on the server.";

#[derive(Debug)]
pub struct GetHandler {
    pool: MySqlPool,
    outputs: Outputs,
    hub: String,
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
            participants: ParticipantCache::default(),
        }
    }

    async fn handle_batch(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        let mut output = Vec::new();
        let mut requests = Vec::with_capacity(batch.len());
        for message in batch {
            match Envelope::from_json_bytes(&message.payload) {
                Ok(envelope) => requests.push(envelope),
                Err(error) => output.push(
                    self.outputs
                        .dead_letter(message, &format!("not an envelope: {error}")),
                ),
            }
        }
        if requests.is_empty() {
            return Ok(output);
        }
        let mut conn = self.pool.acquire().await.map_err(|e| db_error(e.into()))?;
        self.participants
            .refresh(&mut conn)
            .await
            .map_err(db_error)?;
        let requesters: Vec<&str> = requests.iter().map(requester).collect();
        let known = self
            .participants
            .get_many(&mut conn, &requesters)
            .await
            .map_err(db_error)?;
        let ids: Vec<&str> = requests.iter().map(Envelope::transfer_id).collect();
        let views = transfers::load_views(&mut conn, &ids)
            .await
            .map_err(db_error)?;
        for request in &requests {
            let who = requester(request);
            if !known.get(who).is_some_and(|p| p.is_active) {
                tracing::info!(
                    requester = who,
                    "GET from an unknown or inactive participant dropped"
                );
                metrics::counter!("ferroloop_gets_total", "outcome" => "unknown-requester")
                    .increment(1);
                continue;
            }
            let reply = match views.get(request.transfer_id()) {
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

/// The participant asking: `FSPIOP-Source`, else the envelope's `from`.
fn requester(request: &Envelope) -> &str {
    request
        .header("fspiop-source")
        .unwrap_or(request.from.as_str())
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
