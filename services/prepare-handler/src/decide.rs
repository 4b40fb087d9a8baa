//! The prepare step's decision: pure, from the loaded [`Snapshot`] to a [`Plan`]
//! (docs/duplicates-and-replays.md#prepare).
//!
//! Every message is classified against its id's duplicate-check record with the replay rule
//! (`ferroloop_core::replay`), in batch order; what an earlier message of the same batch
//! created counts as written. New prepares are validated with `ferroloop_core::prepare` and
//! become `RECEIVED_PREPARE` (a position message) or `INVALID` (3100 to the payer).

use std::collections::HashMap;
use std::sync::Arc;

use ferroloop_core::api::{ErrorInformation, Extension, PrepareBody};
use ferroloop_core::currency::Currency;
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::hash::RequestHash;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::AccountId;
use ferroloop_core::prepare::{
    AccountView, ParticipantView, PrepareCheck, PrepareRejection, validate_prepare,
};
use ferroloop_core::replay::{Fingerprint, Progress, Replay, classify};
use ferroloop_core::state::{TransferEvent, TransferState, transition};
use ferroloop_core::view::TransferView;
use ferroloop_messaging::events::{self, HubMessage, action, event_type};
use ferroloop_messaging::{Envelope, HandlerError, OutboundMessage, Outputs};
use ferroloop_pipeline::{Decide, Plan};
use ferroloop_store::db_time;
use ferroloop_store::participants::ParticipantRecord;
use ferroloop_store::transfers::{
    DuplicateRecord, ExtensionPhase, ExtensionRow, NewTransfer, TransferCurrency, TransferErrorRow,
    TransferKind, TransferRecord,
};
use time::{OffsetDateTime, PrimitiveDateTime};

const PREPARES: &str = "ferroloop_prepares_total";

/// Widths of the columns an INVALID prepare's free text lands in.
const FSP_NAME_MAX_CHARS: usize = 32;
const CONDITION_MAX_CHARS: usize = 48;

/// A decoded prepare message.
#[derive(Debug, Clone)]
pub struct Item {
    pub envelope: Envelope,
    pub body: PrepareBody,
    pub transfer_id: TransferId,
    pub hash: RequestHash,
    pub event_id: String,
}

impl Item {
    fn id(&self) -> &str {
        self.transfer_id.as_str()
    }

    fn fingerprint(&self) -> Fingerprint<'_> {
        Fingerprint::new(&self.event_id, Some(self.hash))
    }
}

/// Everything a batch reads before deciding.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// The payers and payees named by the batch (names too long for the column are not asked).
    pub participants: HashMap<String, Arc<ParticipantRecord>>,
    /// The duplicate-check record every id has after this batch's claims.
    pub records: HashMap<TransferId, DuplicateRecord>,
    /// Transfers stored before this batch.
    pub existing: HashMap<TransferId, TransferRecord>,
    /// Recorded errors of INVALID transfers whose prepare is replayed.
    pub errors: HashMap<TransferId, TransferErrorRow>,
    /// State bodies of finished transfers whose prepare was resent.
    pub views: HashMap<TransferId, TransferView>,
}

impl Snapshot {
    /// The record's fingerprint: the first request's event and hash.
    pub fn first(&self, id: &str) -> Option<Fingerprint<'_>> {
        self.records.get(id).map(|record| {
            let hash = record.request_hash;
            Fingerprint::new(&record.source_event_id, hash)
        })
    }
}

/// Everything a batch writes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Writes {
    pub transfers: Vec<NewTransfer>,
    /// (transfer id, ILP packet).
    pub ilp_packets: Vec<(TransferId, String)>,
    pub extensions: Vec<ExtensionRow>,
    pub errors: Vec<TransferErrorRow>,
    /// (transfer id, expiration): the timeout handler's rows.
    pub timeouts: Vec<(TransferId, PrimitiveDateTime)>,
}

/// The step's settings and where its messages go.
#[derive(Debug, Clone)]
pub struct Context {
    pub outputs: Outputs,
    pub hub: String,
    /// Payer = payee allowed (`ENABLE_ON_US_TRANSFERS`).
    pub allow_on_us: bool,
    /// How far ahead an expiration may lie (`TRANSFER_MAX_EXPIRY_SECONDS`).
    pub max_expiry: time::Duration,
}

/// What this batch created for an id (for later messages of the same batch).
#[derive(Debug, Clone)]
struct Created {
    hash: RequestHash,
    view: TransferView,
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
        let mut created: HashMap<&str, Created> = HashMap::new();
        for item in items {
            let id = item.id();
            let Some(mut first) = snapshot.first(id) else {
                return Err(HandlerError::permanent(format!(
                    "duplicate check record of {id} missing after claim"
                )));
            };
            let in_batch = created.get(id);
            if let Some(c) = in_batch {
                first.hash = Some(c.hash);
            }
            let state = in_batch
                .map(|c| c.view.state)
                .or_else(|| snapshot.existing.get(id).map(|s| s.state));
            match classify(first, item.fingerprint(), Progress::of_prepare(state)) {
                Replay::New => {
                    let made = create(context, snapshot, item, now, &mut plan);
                    created.insert(id, made);
                }
                // Delivered twice within this batch: answered once already.
                Replay::OwnReplay if in_batch.is_some() => {}
                Replay::OwnReplay => replay(context, snapshot, item, &mut plan),
                Replay::Modified => {
                    plan.count(PREPARES, "modified");
                    let error = FspiopError::new(ErrorCode::MODIFIED_REQUEST);
                    plan.outputs.push(error_to_payer(context, item, &error));
                }
                // In progress (or a racing first request): the DFSP will hear about it.
                Replay::ResendInFlight => plan.count(PREPARES, "duplicate"),
                // Prepare counts RESERVED as finished: the payer gets the state.
                Replay::ResendFinished => {
                    plan.count(PREPARES, "duplicate");
                    let view = in_batch.map(|c| &c.view).or_else(|| snapshot.views.get(id));
                    if let Some(view) = view {
                        plan.outputs.push(state_to_payer(context, item, view));
                    }
                }
            }
        }
        Ok(plan)
    }
}

/// A replay of a message processed before (a crash between the commit and storing offsets):
/// the same output again while the transfer is still in the state this step left it in; if
/// it moved on, the output was consumed already.
fn replay(context: &Context, snapshot: &Snapshot, item: &Item, plan: &mut Plan<Writes>) {
    plan.count(PREPARES, "replay");
    let Some(stored) = snapshot.existing.get(item.id()) else {
        return;
    };
    match stored.state {
        TransferState::ReceivedPrepare => {
            if let Some(account) = stored.payer_account_id {
                plan.outputs.push(position(context, item, account));
            }
        }
        TransferState::Invalid => {
            if let Some(error) = snapshot.errors.get(item.id()) {
                let recorded = ErrorInformation {
                    error_code: error.error_code.to_string(),
                    error_description: error.error_description.clone(),
                    extension_list: None,
                };
                let envelope = HubMessage::error(&item.body.payer_fsp, action::PREPARE, &recorded)
                    .answering(&item.envelope, &context.hub);
                plan.outputs.push(context.outputs.notification(&envelope));
            }
        }
        _ => {}
    }
}

/// Validates a new prepare and plans its transfer: `RECEIVED_PREPARE` and a position message,
/// or `INVALID` with 3100 to the payer.
fn create(
    context: &Context,
    snapshot: &Snapshot,
    item: &Item,
    now: OffsetDateTime,
    plan: &mut Plan<Writes>,
) -> Created {
    let id = item.transfer_id;
    plan.writes.extensions.extend(prepare_extensions(item));
    let (record, reason, error) = match validated(context, snapshot, item, now) {
        Validated::Valid {
            record,
            payer_account_id,
        } => {
            let expiration = record.expiration.unwrap_or(db_time(now));
            plan.writes.timeouts.push((id, expiration));
            plan.writes
                .ilp_packets
                .push((id, item.body.ilp_packet.clone()));
            plan.outputs.push(position(context, item, payer_account_id));
            plan.count(PREPARES, "received");
            (record, None, None)
        }
        Validated::Invalid { record, reason } => {
            let error = FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, reason.clone());
            plan.writes.errors.push(TransferErrorRow {
                transfer_id: id,
                state: TransferState::Invalid,
                error_code: error.code().as_u16(),
                error_description: error.description().to_owned(),
            });
            plan.outputs.push(error_to_payer(context, item, &error));
            plan.count(PREPARES, "invalid");
            let recorded = (error.code().as_u16(), error.description().to_owned());
            (record, Some(reason), Some(recorded))
        }
    };
    let made = Created {
        hash: item.hash,
        view: view_of(&record, item, error),
    };
    plan.writes.transfers.push(NewTransfer { record, reason });
    made
}

/// The payer's or payee's view for `validate_prepare`. A currency the API does not know has no
/// account (stored accounts hold known currencies only); the validation refuses it first.
fn participant_view(
    snapshot: &Snapshot,
    name: &str,
    currency: Option<Currency>,
) -> Option<ParticipantView> {
    snapshot.participants.get(name).map(|p| ParticipantView {
        participant_id: p.participant_id,
        is_active: p.is_active,
        position_account: currency
            .and_then(|c| p.position_account(c))
            .map(|a| AccountView {
                account_id: a.account_id,
                is_active: a.is_active,
            }),
    })
}

/// A new prepare's transfer row: valid, with the payer's position account (the key of its
/// position message), or INVALID with the reason.
enum Validated {
    Valid {
        record: TransferRecord,
        payer_account_id: AccountId,
    },
    Invalid {
        record: TransferRecord,
        reason: String,
    },
}

/// Validates a new prepare with `ferroloop_core::prepare` (central-ledger's rule order).
fn validated(
    context: &Context,
    snapshot: &Snapshot,
    item: &Item,
    now: OffsetDateTime,
) -> Validated {
    let body = &item.body;
    let currency = Currency::parse(&body.amount.currency).ok();
    let payer = participant_view(snapshot, &body.payer_fsp, currency);
    let payee = participant_view(snapshot, &body.payee_fsp, currency);
    let check = PrepareCheck {
        body,
        source: item.envelope.header("fspiop-source"),
        payer: payer.as_ref(),
        payee: payee.as_ref(),
        now,
        allow_on_us: context.allow_on_us,
        max_expiry: context.max_expiry,
    };
    let now_db = db_time(now);
    match validate_prepare(&check) {
        Ok(valid) => {
            let state = transition(None, TransferEvent::PrepareAccepted)
                .expect("a new transfer may be accepted");
            let record = TransferRecord {
                transfer_id: item.transfer_id,
                kind: TransferKind::Transfer,
                payer_fsp: body.payer_fsp.clone(),
                payee_fsp: body.payee_fsp.clone(),
                payer_participant_id: Some(valid.payer_participant_id),
                payee_participant_id: Some(valid.payee_participant_id),
                payer_account_id: Some(valid.payer_account_id),
                payee_account_id: Some(valid.payee_account_id),
                amount: Some(valid.amount.value()),
                currency: valid.currency.into(),
                ilp_condition: Some(body.condition.clone()),
                expiration: Some(db_time(valid.expiration)),
                state,
                state_changed_at: now_db,
            };
            Validated::Valid {
                record,
                payer_account_id: valid.payer_account_id,
            }
        }
        Err(rejection) => {
            let record = invalid_record(item, payer.as_ref(), payee.as_ref(), &rejection, now_db);
            Validated::Invalid {
                record,
                reason: rejection.reason,
            }
        }
    }
}

/// The row of an INVALID prepare: whatever of the body fits its columns.
fn invalid_record(
    item: &Item,
    payer: Option<&ParticipantView>,
    payee: Option<&ParticipantView>,
    rejection: &PrepareRejection,
    now_db: PrimitiveDateTime,
) -> TransferRecord {
    let body = &item.body;
    let currency = body.amount.currency.as_str();
    let state =
        transition(None, TransferEvent::PrepareRejected).expect("a new transfer may be rejected");
    let account =
        |p: Option<&ParticipantView>| p.and_then(|p| p.position_account.map(|a| a.account_id));
    TransferRecord {
        transfer_id: item.transfer_id,
        kind: TransferKind::Transfer,
        payer_fsp: truncate(&body.payer_fsp, FSP_NAME_MAX_CHARS),
        payee_fsp: truncate(&body.payee_fsp, FSP_NAME_MAX_CHARS),
        payer_participant_id: payer.map(|p| p.participant_id),
        payee_participant_id: payee.map(|p| p.participant_id),
        payer_account_id: account(payer),
        payee_account_id: account(payee),
        amount: rejection.amount,
        currency: TransferCurrency::from_column(if currency.len() == 3 && currency.is_ascii() {
            currency.to_owned()
        } else {
            String::new()
        }),
        ilp_condition: (body.condition.chars().count() <= CONDITION_MAX_CHARS)
            .then(|| body.condition.clone()),
        expiration: rejection.expiration.map(db_time),
        state,
        state_changed_at: now_db,
    }
}

/// Names the batch asks the participant cache for (longer names cannot be stored anyway).
pub fn participant_names(items: &[Item]) -> Vec<&str> {
    items
        .iter()
        .flat_map(|i| [i.body.payer_fsp.as_str(), i.body.payee_fsp.as_str()])
        .filter(|n| n.chars().count() <= FSP_NAME_MAX_CHARS)
        .collect()
}

fn position(context: &Context, item: &Item, payer_account_id: AccountId) -> OutboundMessage {
    let message = events::forward(&item.envelope, event_type::POSITION, action::PREPARE);
    context.outputs.position(&message, payer_account_id)
}

fn error_to_payer(context: &Context, item: &Item, error: &FspiopError) -> OutboundMessage {
    let answer = HubMessage::fspiop_error(&item.body.payer_fsp, action::PREPARE, error);
    context
        .outputs
        .notification(&answer.answering(&item.envelope, &context.hub))
}

fn state_to_payer(context: &Context, item: &Item, view: &TransferView) -> OutboundMessage {
    let body = events::json_payload(&view.to_state_body());
    let answer = HubMessage::notification(&item.body.payer_fsp, action::PREPARE_DUPLICATE, body);
    context
        .outputs
        .notification(&answer.answering(&item.envelope, &context.hub))
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn prepare_extensions(item: &Item) -> Vec<ExtensionRow> {
    item.body
        .extension_list
        .iter()
        .flat_map(|list| list.extension.iter())
        .map(|e| ExtensionRow {
            transfer_id: item.transfer_id,
            phase: ExtensionPhase::Prepare,
            key: e.key.clone(),
            value: e.value.clone(),
        })
        .collect()
}

fn view_of(record: &TransferRecord, item: &Item, error: Option<(u16, String)>) -> TransferView {
    TransferView {
        state: record.state,
        state_changed_at: record.state_changed_at.assume_utc(),
        fulfilment: None,
        prepare_extensions: item
            .body
            .extension_list
            .iter()
            .flat_map(|l| l.extension.iter().cloned())
            .collect::<Vec<Extension>>(),
        fulfil_extensions: Vec::new(),
        error,
    }
}

#[cfg(test)]
mod tests;
