//! The fulfil step's decision: pure, from the loaded [`Snapshot`] to a [`Plan`]
//! (docs/transfer-states.md#payee-responses, docs/duplicates-and-replays.md#fulfil).
//!
//! Per message, in batch order: [`screen`] refuses strangers before any duplicate check (so a
//! stranger cannot occupy the record); the replay rule (`ferroloop_core::replay`) tells the
//! holder of the record from a resend; the holder is answered by
//! `ferroloop_core::payee_response`; a RESERVED transfer is decided (fulfil or abort).

use std::collections::HashMap;

use ferroloop_core::api::{
    ErrorInformation, ErrorInformationObject, Extension, ExtensionList, FulfilBody, PatchBody,
};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::hash::RequestHash;
use ferroloop_core::id::TransferId;
use ferroloop_core::ilp::verify_fulfilment;
use ferroloop_core::ledger_id::AccountId;
use ferroloop_core::payee_response::{self, Answer, PayeeRequest, Situation};
use ferroloop_core::replay::{self, Fingerprint, Progress, Replay};
use ferroloop_core::state::{ApiTransferState, TransferEvent, TransferState, transition};
use ferroloop_core::view::TransferView;
use ferroloop_messaging::events::{self, HubMessage, action, event_type};
use ferroloop_messaging::{Action, Envelope, EventState, HandlerError, OutboundMessage, Outputs};
use ferroloop_pipeline::{Decide, Plan};
use ferroloop_store::db_time;
use ferroloop_store::transfers::{
    DecidingEvents, DuplicateCheck, DuplicateRecord, ExtensionPhase, ExtensionRow, FulfilmentRow,
    StateChange, TransferErrorRow, TransferKind, TransferRecord,
};
use time::OffsetDateTime;

const FULFILS: &str = "ferroloop_fulfils_total";

/// What the payee sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `PUT /transfers/{id}` with COMMITTED (or anything but RESERVED/ABORTED).
    Commit,
    /// `PUT /transfers/{id}` with RESERVED: commit, then PATCH the payee.
    Reserve,
    /// `PUT /transfers/{id}` with ABORTED: not a way to abort since FSPIOP v1.1.
    Reject,
    /// `PUT /transfers/{id}/error`.
    Abort,
}

impl Kind {
    pub fn of(action: &Action) -> Option<Self> {
        match action {
            Action::Commit => Some(Kind::Commit),
            Action::Reserve => Some(Kind::Reserve),
            Action::Reject => Some(Kind::Reject),
            Action::Abort => Some(Kind::Abort),
            _ => None,
        }
    }

    pub const fn duplicate_check(self) -> DuplicateCheck {
        match self {
            Kind::Abort => DuplicateCheck::Error,
            Kind::Commit | Kind::Reserve | Kind::Reject => DuplicateCheck::Fulfil,
        }
    }

    const fn duplicate_action(self) -> &'static str {
        match self {
            Kind::Abort => action::ABORT_DUPLICATE,
            Kind::Commit | Kind::Reserve | Kind::Reject => action::FULFIL_DUPLICATE,
        }
    }

    const fn request(self) -> PayeeRequest {
        match self {
            Kind::Abort => PayeeRequest::Error,
            Kind::Commit | Kind::Reserve | Kind::Reject => PayeeRequest::Fulfil,
        }
    }
}

/// A decoded payee response.
#[derive(Debug, Clone)]
pub struct Item {
    pub envelope: Envelope,
    pub kind: Kind,
    /// The transfer the response is about; `None` when the message's id is no valid
    /// `TransferId`, which is no transfer's and is answered like an unknown one.
    pub transfer_id: Option<TransferId>,
    pub hash: RequestHash,
    pub bytes: Vec<u8>,
    pub event_id: String,
    /// The authenticated sender (the envelope's principal), never a header the DFSP wrote.
    pub sender: String,
}

impl Item {
    fn destination(&self) -> Option<&str> {
        self.envelope.header("fspiop-destination")
    }

    /// `Content-Type: …;version=1.0`.
    fn is_version_1_0(&self) -> bool {
        self.envelope
            .header("content-type")
            .is_some_and(|ct| ct.replace(' ', "").ends_with("version=1.0"))
    }
}

/// Everything a batch reads before deciding.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// The batch's transfers, locked.
    pub transfers: HashMap<TransferId, TransferRecord>,
    /// The duplicate-check record of every screened request, per table, after the claims.
    pub records: HashMap<DuplicateCheck, HashMap<TransferId, DuplicateRecord>>,
    /// For transfers that are not RESERVED: the events recorded with their states.
    pub deciding: HashMap<(TransferId, TransferState), String>,
    /// Recorded errors of transfers a replayed fulfilment may have made the hub abort.
    pub errors: HashMap<TransferId, TransferErrorRow>,
    /// State bodies of finished transfers (duplicates are answered with them).
    pub views: HashMap<TransferId, TransferView>,
}

/// Everything a batch writes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Writes {
    pub changes: Vec<StateChange>,
    pub fulfilments: Vec<FulfilmentRow>,
    pub extensions: Vec<ExtensionRow>,
    pub errors: Vec<TransferErrorRow>,
    /// The event that made each change (by transfer id).
    pub deciding: DecidingEvents,
}

/// Where the step's messages go and the hub's name.
#[derive(Debug, Clone)]
pub struct Context {
    pub outputs: Outputs,
    pub hub: String,
}

/// The checks before the duplicate check.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    /// Goes on to the duplicate check.
    Pass,
    /// A v1.0 RESERVED response: FSPIOP v1.0 has no PATCH to tell the payee the outcome, so
    /// Mojaloop drops it and the transfer times out.
    Drop,
    /// Answered to the sender alone with this error; nothing is stored (with the counter's
    /// outcome, when counted).
    Refuse(FspiopError, Option<&'static str>),
}

/// The checks that come before the duplicate check, so that a stranger's request cannot occupy
/// the transfer's record: the transfer must exist and be a DFSP-to-DFSP transfer (a funds
/// transfer answers as unknown, and so does an id that is no `TransferId`), the authenticated
/// sender must be its payee (names compare exactly), a `PUT /error` must name the payer as its
/// destination, and ABORTED is refused.
pub fn screen(item: &Item, transfers: &HashMap<TransferId, TransferRecord>) -> Screen {
    if item.kind == Kind::Reserve && item.is_version_1_0() {
        return Screen::Drop;
    }
    match item.transfer_id.and_then(|id| transfers.get(&id)) {
        None => Screen::Refuse(not_found(), None),
        Some(t) if t.kind != TransferKind::Transfer => Screen::Refuse(not_found(), None),
        Some(t) if item.sender != t.payee_fsp => Screen::Refuse(
            validation("fspiop-source does not match payee fsp on the Fulfil callback response"),
            Some("not-payee"),
        ),
        Some(t) if item.kind == Kind::Abort && item.destination() != Some(&t.payer_fsp) => {
            Screen::Refuse(
                validation("fspiop-destination does not match payer fsp on the Error callback"),
                Some("wrong-destination"),
            )
        }
        Some(_) if item.kind == Kind::Reject => Screen::Refuse(
            validation(
                "transferState ABORTED is not supported, use PUT /transfers/{ID}/error to abort",
            ),
            None,
        ),
        Some(_) => Screen::Pass,
    }
}

impl Decide for Context {
    type Item = Item;
    type Snapshot = Snapshot;
    type Writes = Writes;

    /// The batch's plan.
    fn decide(
        &self,
        snapshot: &Snapshot,
        items: &[Item],
        now: OffsetDateTime,
    ) -> Result<Plan<Writes>, HandlerError> {
        let context = self;
        let mut plan = Plan::default();
        let mut batch = Batch::default();
        for item in items {
            match screen(item, &snapshot.transfers) {
                Screen::Pass => decide_one(context, snapshot, item, now, &mut batch, &mut plan)?,
                Screen::Drop => {
                    let transfer_id = item.envelope.transfer_id();
                    tracing::info!(transfer_id = %transfer_id, "v1.0 RESERVED response dropped");
                    plan.count(FULFILS, "dropped-v1.0-reserved");
                }
                Screen::Refuse(error, outcome) => {
                    if let Some(outcome) = outcome {
                        plan.count(FULFILS, outcome);
                    }
                    plan.outputs.push(to_sender(context, item, &error));
                }
            }
        }
        Ok(plan)
    }
}

/// What earlier messages of the batch changed: the new state and the event that made it.
#[derive(Debug, Default)]
struct Batch<'a> {
    changed: HashMap<TransferId, (TransferState, &'a str)>,
}

/// One screened request.
fn decide_one<'a>(
    context: &Context,
    snapshot: &Snapshot,
    item: &'a Item,
    now: OffsetDateTime,
    batch: &mut Batch<'a>,
    plan: &mut Plan<Writes>,
) -> Result<(), HandlerError> {
    // The screen passed only requests whose id names a loaded transfer.
    let mut transfer = item
        .transfer_id
        .and_then(|id| snapshot.transfers.get(&id))
        .cloned()
        .ok_or_else(|| HandlerError::permanent("a screened request names no loaded transfer"))?;
    let id = transfer.transfer_id;
    let changed = batch.changed.get(&id).copied();
    if changed.is_some_and(|(_, event)| event == item.event_id) {
        return Ok(()); // delivered twice in one batch
    }
    if let Some((state, _)) = changed {
        transfer.state = state;
    }
    let record = snapshot
        .records
        .get(&item.kind.duplicate_check())
        .and_then(|r| r.get(&id))
        .ok_or_else(|| HandlerError::permanent(format!("duplicate check of {id} missing")))?;
    let first = Fingerprint::new(&record.source_event_id, record.request_hash);
    let this = Fingerprint::new(&item.event_id, Some(item.hash));
    // The holder of the record (first request or its redelivery) is answered by
    // `payee_response`, which knows who decided the transfer; anyone else is a resend.
    let replay = replay::classify(first, this, Progress::of_payee_response(transfer.state));
    if !matches!(replay, Replay::New | Replay::OwnReplay) {
        another_request_came_first(context, snapshot, item, replay, plan);
        return Ok(());
    }
    let decided_it = changed.is_some_and(|(_, event)| event == item.event_id)
        || snapshot
            .deciding
            .get(&(transfer.transfer_id, transfer.state))
            == Some(&item.event_id);
    let situation = Situation {
        request: item.kind.request(),
        state: transfer.state,
        redelivered: record.stored_before,
        decided_it,
    };
    let new_state = match payee_response::classify(situation) {
        Answer::Decide if item.kind == Kind::Abort => abort(context, item, &transfer, now, plan)?,
        Answer::Decide => fulfil(context, item, &transfer, now, plan)?,
        answer => {
            answer_without_deciding(context, snapshot, answer, item, &transfer, plan)?;
            None
        }
    };
    if let Some(state) = new_state {
        batch.changed.insert(id, (state, item.event_id.as_str()));
    }
    Ok(())
}

/// A request whose kind's duplicate-check record another request holds: a DFSP resend
/// (`ferroloop_core::replay`).
fn another_request_came_first(
    context: &Context,
    snapshot: &Snapshot,
    item: &Item,
    replay: Replay,
    plan: &mut Plan<Writes>,
) {
    let outcome = match replay {
        Replay::Modified => {
            plan.outputs.push(modified(context, item));
            "modified"
        }
        Replay::ResendFinished => {
            send_state(context, snapshot, item, plan);
            "duplicate-resent"
        }
        Replay::ResendInFlight | Replay::New | Replay::OwnReplay => "duplicate-ignored",
    };
    plan.count(FULFILS, outcome);
}

/// The payee's request meets a transfer that is not RESERVED
/// (`ferroloop_core::payee_response`).
fn answer_without_deciding(
    context: &Context,
    snapshot: &Snapshot,
    answer: Answer,
    item: &Item,
    transfer: &TransferRecord,
    plan: &mut Plan<Writes>,
) -> Result<(), HandlerError> {
    let outcome = match answer {
        Answer::Decide => return Ok(()),
        Answer::RepeatAccepted => {
            plan.outputs.push(accepted_output(context, item, transfer)?);
            "replay"
        }
        Answer::RepeatHubAbort => {
            // The hub's abort again, from the recorded error.
            if let Some(error) = snapshot.errors.get(&transfer.transfer_id) {
                let information = ErrorInformation {
                    error_code: error.error_code.to_string(),
                    error_description: error.error_description.clone(),
                    extension_list: None,
                };
                let aborted_at = transfer.state_changed_at.assume_utc();
                let repeated =
                    abort_validation_output(context, item, transfer, &information, aborted_at)?;
                plan.outputs.extend(repeated);
            }
            "replay"
        }
        Answer::Nothing => "nothing-more",
        Answer::SendState => {
            send_state(context, snapshot, item, plan);
            "duplicate-resent"
        }
        Answer::Modified => {
            plan.outputs.push(modified(context, item));
            "modified"
        }
        Answer::Expired => {
            let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
            plan.outputs.push(to_sender(context, item, &expired));
            "expired"
        }
        Answer::NotReserved => {
            let error = validation("non-RESERVED transfer state");
            plan.outputs.push(to_sender(context, item, &error));
            "not-reserved"
        }
    };
    plan.count(FULFILS, outcome);
    Ok(())
}

/// A duplicate of a finished transfer: its state body to the sender.
fn send_state(context: &Context, snapshot: &Snapshot, item: &Item, plan: &mut Plan<Writes>) {
    let Some(view) = item.transfer_id.and_then(|id| snapshot.views.get(&id)) else {
        return;
    };
    plan.outputs.push(
        context.outputs.notification(
            &HubMessage::notification(
                &item.sender,
                item.kind.duplicate_action(),
                events::json_payload(&view.to_state_body()),
            )
            .answering(&item.envelope, &context.hub),
        ),
    );
}

/// A `PUT` with a fulfilment for a RESERVED transfer. Returns the new state if it changed.
fn fulfil(
    context: &Context,
    item: &Item,
    transfer: &TransferRecord,
    now: OffsetDateTime,
    plan: &mut Plan<Writes>,
) -> Result<Option<TransferState>, HandlerError> {
    let body: Option<FulfilBody> = serde_json::from_slice(&item.bytes).ok();
    // Destination must be the payer (when named): a payee answering to someone else aborts.
    if item.destination().is_some_and(|d| d != transfer.payer_fsp) {
        plan.count(FULFILS, "wrong-destination");
        let error = validation(
            "fspiop-destination does not match payer fsp on the Fulfil callback response",
        );
        return abort_validation(context, item, transfer, &error, now, plan).map(Some);
    }
    let fulfilment = body.as_ref().and_then(|b| b.fulfilment.clone());
    let valid = match (&fulfilment, &transfer.ilp_condition) {
        (Some(f), Some(condition)) => verify_fulfilment(f, condition).is_ok(),
        _ => false,
    };
    if !valid {
        plan.count(FULFILS, "invalid-fulfilment");
        let error = validation("invalid fulfilment");
        return abort_validation(context, item, transfer, &error, now, plan).map(Some);
    }
    if is_expired(transfer, now) {
        plan.count(FULFILS, "expired");
        let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
        plan.outputs.push(to_sender(context, item, &expired));
        return Ok(None);
    }
    let to = change(
        item,
        transfer,
        TransferEvent::FulfilAccepted,
        None,
        now,
        plan,
    )?;
    record_fulfilment(
        item,
        transfer,
        body.as_ref(),
        fulfilment,
        now,
        &mut plan.writes,
    );
    plan.count(FULFILS, "accepted");
    plan.outputs.push(accepted_output(context, item, transfer)?);
    Ok(Some(to))
}

/// The accepted fulfilment and the payee's extensions.
fn record_fulfilment(
    item: &Item,
    transfer: &TransferRecord,
    body: Option<&FulfilBody>,
    fulfilment: Option<String>,
    now: OffsetDateTime,
    writes: &mut Writes,
) {
    let completed = body
        .and_then(|b| b.completed_timestamp.as_deref())
        .and_then(|t| ferroloop_core::fspiop_time::parse(t).ok())
        .unwrap_or(now);
    writes.fulfilments.push(FulfilmentRow {
        transfer_id: transfer.transfer_id,
        ilp_fulfilment: fulfilment,
        completed_at: db_time(completed),
        requested_state: if item.kind == Kind::Reserve {
            "RESERVED"
        } else {
            "COMMITTED"
        },
    });
    let extensions = body.iter().flat_map(|b| b.extension_list.iter());
    writes
        .extensions
        .extend(extension_rows(transfer, ExtensionPhase::Fulfil, extensions));
}

fn extension_rows<'a>(
    transfer: &'a TransferRecord,
    phase: ExtensionPhase,
    lists: impl Iterator<Item = &'a ExtensionList> + 'a,
) -> impl Iterator<Item = ExtensionRow> + 'a {
    lists
        .flat_map(|l| l.extension.iter())
        .map(move |e| ExtensionRow {
            transfer_id: transfer.transfer_id,
            phase,
            key: e.key.clone(),
            value: e.value.clone(),
        })
}

/// A `PUT /error` for a RESERVED transfer.
fn abort(
    context: &Context,
    item: &Item,
    transfer: &TransferRecord,
    now: OffsetDateTime,
    plan: &mut Plan<Writes>,
) -> Result<Option<TransferState>, HandlerError> {
    if is_expired(transfer, now) {
        let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
        plan.outputs.push(to_sender(context, item, &expired));
        return Ok(None);
    }
    let (code, description) = payee_error(&item.bytes);
    let to = change(
        item,
        transfer,
        TransferEvent::PayeeAbort,
        Some(&description),
        now,
        plan,
    )?;
    plan.writes.errors.push(TransferErrorRow {
        transfer_id: transfer.transfer_id,
        state: to,
        error_code: code,
        error_description: description,
    });
    if let Ok(body) = serde_json::from_slice::<ErrorInformationObject>(&item.bytes) {
        let lists = body.error_information.extension_list.iter();
        let rows: Vec<ExtensionRow> =
            extension_rows(transfer, ExtensionPhase::Error, lists).collect();
        plan.writes.extensions.extend(rows);
    }
    plan.count(FULFILS, "payee-abort");
    plan.outputs.push(accepted_output(context, item, transfer)?);
    Ok(Some(to))
}

/// The hub aborts a reserved transfer (invalid fulfilment, wrong destination): the payer's
/// reservation is reversed by the position handler, which then tells payer and payee.
fn abort_validation(
    context: &Context,
    item: &Item,
    transfer: &TransferRecord,
    error: &FspiopError,
    now: OffsetDateTime,
    plan: &mut Plan<Writes>,
) -> Result<TransferState, HandlerError> {
    let reason = Some(error.description());
    let to = change(item, transfer, TransferEvent::PayeeAbort, reason, now, plan)?;
    plan.writes.errors.push(TransferErrorRow {
        transfer_id: transfer.transfer_id,
        state: to,
        error_code: error.code().as_u16(),
        error_description: error.description().to_owned(),
    });
    let aborted_at = db_time(now).assume_utc();
    let information = error.to_error_information();
    let output = abort_validation_output(context, item, transfer, &information, aborted_at)?;
    plan.outputs.extend(output);
    Ok(to)
}

/// What a hub abort produces (also on replay, from the recorded error): the reversal for the
/// position handler and, in the RESERVED flow, the PATCH to the payee.
fn abort_validation_output(
    context: &Context,
    item: &Item,
    transfer: &TransferRecord,
    error: &ErrorInformation,
    aborted_at: OffsetDateTime,
) -> Result<Vec<OutboundMessage>, HandlerError> {
    let message = HubMessage::error(&transfer.payer_fsp, action::ABORT_VALIDATION, error)
        .of_type(event_type::POSITION)
        .with_parties(&transfer.payer_fsp, &transfer.payee_fsp)
        .answering(&item.envelope, &context.hub);
    let mut output = vec![context.outputs.position(&message, payer_account(transfer)?)];
    if item.kind == Kind::Reserve {
        output.push(reserved_aborted(context, item, transfer, error, aborted_at));
    }
    Ok(output)
}

/// `PATCH` with ABORTED to a payee that answered RESERVED (`reserved-aborted`,
/// docs/callbacks.md#the-reserved-flow).
fn reserved_aborted(
    context: &Context,
    item: &Item,
    transfer: &TransferRecord,
    error: &ErrorInformation,
    aborted_at: OffsetDateTime,
) -> OutboundMessage {
    let mut patch = PatchBody::new(aborted_at, ApiTransferState::Aborted);
    patch.extension_list = Some(ExtensionList {
        extension: vec![Extension {
            key: "cause".to_owned(),
            value: format!("{}: {}", error.error_code, error.error_description)
                .chars()
                .take(ferroloop_core::api::EXTENSION_VALUE_MAX_CHARS)
                .collect(),
        }],
    });
    let message = HubMessage::notification(
        &transfer.payee_fsp,
        action::RESERVED_ABORTED,
        events::json_payload(&patch),
    )
    .with_parties(&transfer.payer_fsp, &transfer.payee_fsp);
    context
        .outputs
        .notification(&message.answering(&item.envelope, &context.hub))
}

/// Records a state change made by this message.
fn change(
    item: &Item,
    transfer: &TransferRecord,
    event: TransferEvent,
    reason: Option<&str>,
    now: OffsetDateTime,
    plan: &mut Plan<Writes>,
) -> Result<TransferState, HandlerError> {
    let to = transition(Some(transfer.state), event)
        .map_err(|e| HandlerError::permanent(format!("{}: {e}", transfer.transfer_id)))?;
    let writes = &mut plan.writes;
    writes
        .deciding
        .insert(transfer.transfer_id, item.event_id.clone());
    writes.changes.push(StateChange {
        transfer_id: transfer.transfer_id,
        from: Some(transfer.state),
        to,
        reason: reason.map(str::to_owned),
        at: db_time(now),
    });
    Ok(to)
}

/// The output of an accepted request (also what a replay produces again).
fn accepted_output(
    context: &Context,
    item: &Item,
    transfer: &TransferRecord,
) -> Result<OutboundMessage, HandlerError> {
    if item.kind == Kind::Abort {
        let (code, description) = payee_error(&item.bytes);
        let message = item.envelope.next_event(
            event_type::POSITION,
            action::ABORT,
            EventState::error(code, description),
        );
        return Ok(context.outputs.position(&message, payer_account(transfer)?));
    }
    let action = if item.kind == Kind::Reserve {
        action::RESERVE
    } else {
        action::COMMIT
    };
    let message = events::forward(&item.envelope, event_type::POSITION, action);
    let payee_account = transfer.payee_account_id.ok_or_else(|| {
        HandlerError::permanent(format!(
            "transfer {} has no payee account",
            transfer.transfer_id
        ))
    })?;
    Ok(context.outputs.position(&message, payee_account))
}

/// An error only for the sender (action `commit` → `PUT …/error` to it); no state change.
pub fn to_sender(context: &Context, item: &Item, error: &FspiopError) -> OutboundMessage {
    let answer = HubMessage::fspiop_error(&item.sender, action::COMMIT, error);
    context
        .outputs
        .notification(&answer.answering(&item.envelope, &context.hub))
}

/// 3106 to the sender: the transfer was answered differently before.
fn modified(context: &Context, item: &Item) -> OutboundMessage {
    let error = FspiopError::new(ErrorCode::MODIFIED_REQUEST);
    let answer = HubMessage::fspiop_error(&item.sender, item.kind.duplicate_action(), &error);
    context
        .outputs
        .notification(&answer.answering(&item.envelope, &context.hub))
}

pub fn validation(detail: &str) -> FspiopError {
    FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, detail)
}

/// The payee's error: its code when the catalogue knows it, else 3100 "API specification
/// undefined errorCode" (the transfer still aborts, docs/transfer-states.md#payee-responses).
fn payee_error(bytes: &[u8]) -> (u16, String) {
    let undefined = || {
        let error = validation("API specification undefined errorCode");
        (error.code().as_u16(), error.description().to_owned())
    };
    let Ok(body) = serde_json::from_slice::<ErrorInformationObject>(bytes) else {
        return undefined();
    };
    match ErrorCode::parse(&body.error_information.error_code) {
        Ok(code) if code.entry().is_some() => (
            code.as_u16(),
            body.error_information
                .error_description
                .chars()
                .take(128)
                .collect(),
        ),
        _ => undefined(),
    }
}

/// The answer to a request about a transfer the hub does not know as a DFSP-to-DFSP transfer.
fn not_found() -> FspiopError {
    FspiopError::with_detail(ErrorCode::INTERNAL_SERVER_ERROR, "transfer not found")
}

fn is_expired(transfer: &TransferRecord, now: OffsetDateTime) -> bool {
    transfer.expiration.is_some_and(|e| e.assume_utc() <= now)
}

fn payer_account(transfer: &TransferRecord) -> Result<AccountId, HandlerError> {
    transfer.payer_account_id.ok_or_else(|| {
        HandlerError::permanent(format!(
            "transfer {} has no payer account",
            transfer.transfer_id
        ))
    })
}

#[cfg(test)]
mod tests;
