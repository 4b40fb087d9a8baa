//! Settlements over closed windows: creation (netting), the accounts' state changes with their
//! settlement transfers in the ledger, abort, and the read models.
//!
//! Each settled account with a non-zero net amount gets one SETTLEMENT transfer between its
//! position account and its settlement account ([`settlement_transfer`]), which walks the
//! transfer state machine and the position journal like funds in and out: recorded
//! (RECEIVED_PREPARE) at PS_TRANSFERS_RECORDED, its debit side reserved (RESERVE) at
//! PS_TRANSFERS_RESERVED, its credit side committed (COMMIT) at PS_TRANSFERS_COMMITTED; an
//! abort reverses a reservation (REVERSE). Every step runs with the settlement row, the
//! settlement's account rows and the positions involved locked, so it happens once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ferroloop_core::currency::Currency;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use ferroloop_core::settlement::{
    AccountStep, Flow, LedgerAction, SettlementState, Side, WindowState, account_step, check_abort,
    ledger_action, net_amounts, settlement_state, settlement_transfer,
};
use ferroloop_core::state::{TransferEvent, TransferState};
use rust_decimal::Decimal;
use sqlx::mysql::MySqlRow;
use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};
use time::PrimitiveDateTime;

use super::windows::refresh_window_states;
use super::{journal_state, push_list, push_state_and_dates};
use crate::positions::{PositionChange, PositionPhase, apply_position_changes, lock_positions};
use crate::transfers::states::walk_states;
use crate::transfers::{
    DuplicateCheck, NewTransfer, TransferKind, TransferRecord, claim_duplicate_checks,
    insert_transfers, load_transfers,
};
use crate::{Result, StoreError};

/// Which window contents a settlement model settles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelScope {
    pub settlement_model_id: u32,
    pub name: String,
    pub ledger_account_type: String,
    pub settlement_account_type: String,
    /// The model's currency; `None` for a default model, which settles every currency no
    /// model of the same ledger account type names.
    pub currency: Option<String>,
    pub currencies_of_other_models: BTreeSet<String>,
}

impl ModelScope {
    pub fn covers(&self, ledger_account_type: &str, currency: &str) -> bool {
        ledger_account_type == self.ledger_account_type
            && match &self.currency {
                Some(c) => c == currency,
                None => !self.currencies_of_other_models.contains(currency),
            }
    }
}

/// The active settlement model `name` and what it covers; `None` if there is none.
pub async fn model_scope(conn: &mut MySqlConnection, name: &str) -> Result<Option<ModelScope>> {
    let rows = sqlx::query!(
        "SELECT settlement_model_id, name, ledger_account_type, settlement_account_type, currency \
         FROM settlement_model WHERE is_active",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut scope = None;
    let mut named: Vec<(String, String)> = Vec::new();
    for row in rows {
        let model_name = row.name;
        let ledger = row.ledger_account_type;
        let currency = row.currency;
        if model_name == name {
            scope = Some(ModelScope {
                settlement_model_id: row.settlement_model_id,
                name: model_name,
                ledger_account_type: ledger.clone(),
                settlement_account_type: row.settlement_account_type,
                currency: currency.clone(),
                currencies_of_other_models: BTreeSet::new(),
            });
        }
        if let Some(currency) = currency {
            named.push((ledger, currency));
        }
    }
    Ok(scope.map(|mut s| {
        s.currencies_of_other_models = named
            .into_iter()
            .filter(|(ledger, _)| *ledger == s.ledger_account_type)
            .map(|(_, c)| c)
            .collect();
        s
    }))
}

/// One settled account of a settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementAccountView {
    pub account_id: AccountId,
    pub participant_id: ParticipantId,
    pub participant_name: String,
    pub settlement_account_id: AccountId,
    pub currency: Currency,
    /// Positive: a net sender; negative: a net receiver.
    pub net_amount: Decimal,
    pub state: SettlementState,
    pub reason: Option<String>,
    pub external_reference: Option<String>,
    pub transfer_id: Option<TransferId>,
}

/// A settlement with its accounts (in account order) and windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementView {
    pub settlement_id: u64,
    pub model_name: String,
    pub state: SettlementState,
    pub reason: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub changed_at: PrimitiveDateTime,
    pub accounts: Vec<SettlementAccountView>,
    pub window_ids: Vec<u64>,
}

fn settlement_state_of(row: &MySqlRow) -> Result<SettlementState> {
    parse_settlement_state(row.try_get("state")?)
}

fn parse_settlement_state(text: &str) -> Result<SettlementState> {
    SettlementState::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown settlement state {text}")))
}

/// A settlement row as read by id.
struct SettlementRow {
    settlement_id: u64,
    model_name: String,
    state: String,
    reason: Option<String>,
    created_at: PrimitiveDateTime,
    changed_at: PrimitiveDateTime,
}

/// What creating a settlement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created(u64),
    /// A requested window does not exist.
    WindowMissing,
    /// A requested window is OPEN, already SETTLED, or wholly in another settlement.
    WindowNotSettleable(u64, WindowState),
    /// The windows hold nothing the model settles.
    NoContent,
}

/// Creates a settlement of `windows` under `scope`: the windows' contents the model covers
/// (CLOSED or ABORTED) join it, and each POSITION account in them gets its net amount
/// ([`net_amounts`]) in PENDING_SETTLEMENT.
pub async fn create_settlement(
    conn: &mut MySqlConnection,
    scope: &ModelScope,
    windows: &[u64],
    reason: &str,
    now: PrimitiveDateTime,
) -> Result<CreateOutcome> {
    let mut ids = windows.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if let Some(refused) = lock_windows(conn, &ids).await? {
        return Ok(refused);
    }
    let taken = lock_contents(conn, scope, &ids).await?;
    if taken.is_empty() {
        return Ok(CreateOutcome::NoContent);
    }
    let settlement_id = sqlx::query!(
        "INSERT INTO settlement (settlement_model_id, state, reason, created_at, changed_at) \
         VALUES (?, 'PENDING_SETTLEMENT', ?, ?, ?)",
        scope.settlement_model_id,
        reason,
        now,
        now,
    )
    .execute(&mut *conn)
    .await?
    .last_insert_id();
    insert_settlement_state_change(
        conn,
        settlement_id,
        SettlementState::PendingSettlement,
        Some(reason),
        now,
    )
    .await?;
    let content_ids: Vec<u64> = taken.iter().map(|t| t.0).collect();
    let mut builder = QueryBuilder::<MySql>::new(
        "UPDATE settlement_window_content SET state = 'PENDING_SETTLEMENT', settlement_id = ",
    );
    builder
        .push_bind(settlement_id)
        .push(", changed_at = ")
        .push_bind(now)
        .push(" WHERE settlement_window_content_id IN (");
    push_list(&mut builder, &content_ids);
    builder.build().execute(&mut *conn).await?;
    let window_ids: Vec<u64> = taken.iter().map(|t| t.1).collect();
    refresh_window_states(conn, &window_ids, Some(reason), now).await?;
    let flows = window_flows(conn, &taken).await?;
    let net =
        net_amounts(&flows).ok_or_else(|| StoreError::Corrupt("net amount overflow".into()))?;
    insert_accounts(conn, settlement_id, scope, &net, now).await?;
    Ok(CreateOutcome::Created(settlement_id))
}

/// Locks the windows (sorted, unique `ids`); the refusal when one is missing or in a state no
/// settlement may take.
async fn lock_windows(conn: &mut MySqlConnection, ids: &[u64]) -> Result<Option<CreateOutcome>> {
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT settlement_window_id, state FROM settlement_window WHERE settlement_window_id IN (",
    );
    push_list(&mut builder, ids);
    builder.push(" ORDER BY settlement_window_id FOR UPDATE");
    let rows = builder.build().fetch_all(&mut *conn).await?;
    if rows.len() != ids.len() {
        return Ok(Some(CreateOutcome::WindowMissing));
    }
    for row in &rows {
        let text: String = row.try_get("state")?;
        let state = WindowState::parse(&text)
            .ok_or_else(|| StoreError::Corrupt(format!("window state {text}")))?;
        if !matches!(
            state,
            WindowState::Closed | WindowState::Aborted | WindowState::PendingSettlement
        ) {
            return Ok(Some(CreateOutcome::WindowNotSettleable(
                row.try_get("settlement_window_id")?,
                state,
            )));
        }
    }
    Ok(None)
}

/// Locks the windows' unsettled contents the model covers: (content id, window id, currency).
async fn lock_contents(
    conn: &mut MySqlConnection,
    scope: &ModelScope,
    ids: &[u64],
) -> Result<Vec<(u64, u64, Currency)>> {
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT settlement_window_content_id, settlement_window_id, ledger_account_type, currency \
         FROM settlement_window_content WHERE state IN ('CLOSED', 'ABORTED') \
         AND settlement_window_id IN (",
    );
    push_list(&mut builder, ids);
    builder.push(" ORDER BY settlement_window_content_id FOR UPDATE");
    let mut taken: Vec<(u64, u64, Currency)> = Vec::new();
    for row in builder.build().fetch_all(&mut *conn).await? {
        let ledger: String = row.try_get("ledger_account_type")?;
        let currency = crate::columns::currency(&row, "currency")?;
        if scope.covers(&ledger, currency.as_str()) {
            taken.push((
                row.try_get("settlement_window_content_id")?,
                row.try_get("settlement_window_id")?,
                currency,
            ));
        }
    }
    Ok(taken)
}

/// The money of the taken (window, currency) contents.
async fn window_flows(
    conn: &mut MySqlConnection,
    taken: &[(u64, u64, Currency)],
) -> Result<Vec<Flow>> {
    let wanted: BTreeSet<(u64, Currency)> = taken.iter().map(|t| (t.1, t.2)).collect();
    let windows: Vec<u64> = wanted.iter().map(|w| w.0).collect();
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT settlement_window_id, payer_account_id, payee_account_id, currency, amount \
         FROM settlement_window_flow WHERE settlement_window_id IN (",
    );
    push_list(&mut builder, &windows);
    let mut flows = Vec::new();
    for row in builder.build().fetch_all(&mut *conn).await? {
        let window: u64 = row.try_get("settlement_window_id")?;
        let currency = crate::columns::currency(&row, "currency")?;
        if !wanted.contains(&(window, currency)) {
            continue;
        }
        flows.push(Flow {
            payer: row.try_get("payer_account_id")?,
            payee: row.try_get("payee_account_id")?,
            currency,
            amount: row.try_get("amount")?,
        });
    }
    Ok(flows)
}

/// One PENDING_SETTLEMENT row per netted account, with its participant and settlement account.
async fn insert_accounts(
    conn: &mut MySqlConnection,
    settlement_id: u64,
    scope: &ModelScope,
    net: &BTreeMap<(AccountId, Currency), Decimal>,
    now: PrimitiveDateTime,
) -> Result<()> {
    let accounts: Vec<AccountId> = net.keys().map(|(a, _)| *a).collect();
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT a.account_id, a.participant_id, s.account_id AS settlement_account_id \
         FROM account a LEFT JOIN account s ON s.participant_id = a.participant_id \
         AND s.currency = a.currency AND s.ledger_account_type = ",
    );
    builder
        .push_bind(scope.settlement_account_type.clone())
        .push(" WHERE a.account_id IN (");
    push_list(&mut builder, &accounts);
    let mut owners: HashMap<AccountId, (ParticipantId, Option<AccountId>)> = HashMap::new();
    for row in builder.build().fetch_all(&mut *conn).await? {
        owners.insert(
            row.try_get("account_id")?,
            (
                row.try_get("participant_id")?,
                row.try_get("settlement_account_id")?,
            ),
        );
    }
    for ((account, currency), amount) in net {
        let Some((participant, Some(settlement_account))) = owners.get(account).copied() else {
            return Err(StoreError::Corrupt(format!(
                "account {account} has no {} account",
                scope.settlement_account_type
            )));
        };
        sqlx::query!(
            "INSERT INTO settlement_participant_account (settlement_id, account_id, participant_id, \
             settlement_account_id, currency, net_amount, state, created_at, changed_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'PENDING_SETTLEMENT', ?, ?)",
            settlement_id,
            *account,
            participant,
            settlement_account,
            currency.as_str(),
            *amount,
            now,
            now,
        )
        .execute(&mut *conn)
        .await?;
        insert_account_state_change(
            conn,
            settlement_id,
            *account,
            SettlementState::PendingSettlement,
            None,
            None,
            now,
        )
        .await?;
    }
    Ok(())
}

async fn insert_settlement_state_change(
    conn: &mut MySqlConnection,
    settlement_id: u64,
    state: SettlementState,
    reason: Option<&str>,
    now: PrimitiveDateTime,
) -> Result<()> {
    let table = "settlement_state_change";
    journal_state(
        conn,
        table,
        "settlement_id",
        settlement_id,
        state.as_str(),
        reason,
        now,
    )
    .await
}

async fn insert_account_state_change(
    conn: &mut MySqlConnection,
    settlement_id: u64,
    account_id: AccountId,
    state: SettlementState,
    reason: Option<&str>,
    external_reference: Option<&str>,
    now: PrimitiveDateTime,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO settlement_account_state_change (settlement_id, account_id, state, reason, \
         external_reference, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        settlement_id,
        account_id,
        state.as_str(),
        reason,
        external_reference,
        now,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

const SETTLEMENT_COLUMNS: &str = "s.settlement_id, m.name AS model_name, s.state, s.reason, \
     s.created_at, s.changed_at";

fn settlement_from_row(row: &MySqlRow) -> Result<SettlementView> {
    Ok(SettlementView {
        settlement_id: row.try_get("settlement_id")?,
        model_name: row.try_get("model_name")?,
        state: settlement_state_of(row)?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        changed_at: row.try_get("changed_at")?,
        accounts: Vec::new(),
        window_ids: Vec::new(),
    })
}

/// The accounts and windows of `settlements` (locked with `lock`).
async fn complete(
    conn: &mut MySqlConnection,
    settlements: &mut [SettlementView],
    lock: bool,
) -> Result<()> {
    if settlements.is_empty() {
        return Ok(());
    }
    let ids: Vec<u64> = settlements.iter().map(|s| s.settlement_id).collect();
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT spa.settlement_id, spa.account_id, spa.participant_id, p.name, \
         spa.settlement_account_id, spa.currency, spa.net_amount, spa.state, spa.reason, \
         spa.external_reference, spa.transfer_id FROM settlement_participant_account spa \
         JOIN participant p ON p.participant_id = spa.participant_id WHERE spa.settlement_id IN (",
    );
    push_list(&mut builder, &ids);
    builder.push(" ORDER BY spa.settlement_id, spa.account_id");
    if lock {
        builder.push(" FOR UPDATE");
    }
    let mut accounts: HashMap<u64, Vec<SettlementAccountView>> = HashMap::new();
    for row in builder.build().fetch_all(&mut *conn).await? {
        accounts
            .entry(row.try_get("settlement_id")?)
            .or_default()
            .push(SettlementAccountView {
                account_id: row.try_get("account_id")?,
                participant_id: row.try_get("participant_id")?,
                participant_name: row.try_get("name")?,
                settlement_account_id: row.try_get("settlement_account_id")?,
                currency: crate::columns::currency(&row, "currency")?,
                net_amount: row.try_get("net_amount")?,
                state: settlement_state_of(&row)?,
                reason: row.try_get("reason")?,
                external_reference: row.try_get("external_reference")?,
                transfer_id: crate::columns::optional_transfer_id(&row, "transfer_id")?,
            });
    }
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT DISTINCT settlement_id, settlement_window_id FROM settlement_window_content \
         WHERE settlement_id IN (",
    );
    push_list(&mut builder, &ids);
    builder.push(" ORDER BY settlement_window_id");
    let mut windows: HashMap<u64, Vec<u64>> = HashMap::new();
    for row in builder.build().fetch_all(&mut *conn).await? {
        windows
            .entry(row.try_get("settlement_id")?)
            .or_default()
            .push(row.try_get("settlement_window_id")?);
    }
    for s in settlements {
        s.accounts = accounts.remove(&s.settlement_id).unwrap_or_default();
        s.window_ids = windows.remove(&s.settlement_id).unwrap_or_default();
    }
    Ok(())
}

/// One settlement; with `lock`, its row and its account rows are locked for update.
pub async fn settlement(
    conn: &mut MySqlConnection,
    settlement_id: u64,
    lock: bool,
) -> Result<Option<SettlementView>> {
    let row = if lock {
        sqlx::query_as!(
            SettlementRow,
            "SELECT s.settlement_id, m.name AS model_name, s.state, s.reason, s.created_at, \
             s.changed_at FROM settlement s JOIN settlement_model m \
             ON m.settlement_model_id = s.settlement_model_id WHERE s.settlement_id = ? FOR UPDATE",
            settlement_id
        )
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query_as!(
            SettlementRow,
            "SELECT s.settlement_id, m.name AS model_name, s.state, s.reason, s.created_at, \
             s.changed_at FROM settlement s JOIN settlement_model m \
             ON m.settlement_model_id = s.settlement_model_id WHERE s.settlement_id = ?",
            settlement_id
        )
        .fetch_optional(&mut *conn)
        .await?
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let mut found = [SettlementView {
        settlement_id: row.settlement_id,
        model_name: row.model_name,
        state: parse_settlement_state(&row.state)?,
        reason: row.reason,
        created_at: row.created_at,
        changed_at: row.changed_at,
        accounts: Vec::new(),
        window_ids: Vec::new(),
    }];
    complete(conn, &mut found, lock).await?;
    let [found] = found;
    Ok(Some(found))
}

/// The filters of `GET /settlements`.
#[derive(Debug, Clone, Default)]
pub struct SettlementFilter {
    pub state: Option<SettlementState>,
    pub from: Option<PrimitiveDateTime>,
    pub to: Option<PrimitiveDateTime>,
    pub currency: Option<Currency>,
    pub participant_id: Option<ParticipantId>,
    pub account_id: Option<AccountId>,
    pub window_id: Option<u64>,
    /// Settlements of a window created at or after / at or before.
    pub window_from: Option<PrimitiveDateTime>,
    pub window_to: Option<PrimitiveDateTime>,
}

/// Settlements matching `filter`, newest first, at most `limit`.
pub async fn list_settlements(
    conn: &mut MySqlConnection,
    filter: &SettlementFilter,
    limit: u32,
) -> Result<Vec<SettlementView>> {
    let mut builder = QueryBuilder::<MySql>::new(format!(
        "SELECT {SETTLEMENT_COLUMNS} FROM settlement s JOIN settlement_model m \
         ON m.settlement_model_id = s.settlement_model_id WHERE 1 = 1"
    ));
    let state = filter.state.map(SettlementState::as_str);
    push_state_and_dates(&mut builder, "s", state, filter.from, filter.to);
    let account_filter = |builder: &mut QueryBuilder<MySql>, column: &str| {
        builder.push(format!(
            " AND EXISTS (SELECT 1 FROM settlement_participant_account spa \
             WHERE spa.settlement_id = s.settlement_id AND spa.{column} = "
        ));
    };
    if let Some(currency) = &filter.currency {
        account_filter(&mut builder, "currency");
        builder.push_bind(currency.as_str().to_owned()).push(")");
    }
    if let Some(participant) = filter.participant_id {
        account_filter(&mut builder, "participant_id");
        builder.push_bind(participant).push(")");
    }
    if let Some(account) = filter.account_id {
        account_filter(&mut builder, "account_id");
        builder.push_bind(account).push(")");
    }
    if let Some(window) = filter.window_id {
        builder
            .push(" AND EXISTS (SELECT 1 FROM settlement_window_content c WHERE c.settlement_id = s.settlement_id AND c.settlement_window_id = ")
            .push_bind(window)
            .push(")");
    }
    if filter.window_from.is_some() || filter.window_to.is_some() {
        builder.push(
            " AND EXISTS (SELECT 1 FROM settlement_window_content c JOIN settlement_window w \
             ON w.settlement_window_id = c.settlement_window_id WHERE c.settlement_id = s.settlement_id",
        );
        push_state_and_dates(
            &mut builder,
            "w",
            None,
            filter.window_from,
            filter.window_to,
        );
        builder.push(")");
    }
    builder
        .push(" ORDER BY s.settlement_id DESC LIMIT ")
        .push_bind(limit);
    let rows = builder.build().fetch_all(&mut *conn).await?;
    let mut found = rows
        .iter()
        .map(settlement_from_row)
        .collect::<Result<Vec<_>>>()?;
    complete(conn, &mut found, false).await?;
    Ok(found)
}

/// A requested state of one settlement account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpdate {
    pub participant_id: ParticipantId,
    pub account_id: AccountId,
    pub state: SettlementState,
    pub reason: Option<String>,
    pub external_reference: Option<String>,
}

/// What a state change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Applied; `changed` is false when every account already was where asked.
    Done {
        changed: bool,
    },
    NotFound,
    /// Refused with this reason (3100); nothing changed.
    Refused(String),
}

/// The ledger work of one account's advance.
struct Advance<'a> {
    account: &'a SettlementAccountView,
    update: &'a AccountUpdate,
    action: LedgerAction,
}

/// The accounts `updates` move, each with the ledger action of its step: a refusal when an
/// update names an account outside the settlement or a step the state machine does not allow.
fn advances<'a>(
    found: &'a SettlementView,
    updates: &'a [AccountUpdate],
) -> std::result::Result<Vec<Advance<'a>>, String> {
    let mut advances = Vec::new();
    for update in updates {
        let Some(account) = found.accounts.iter().find(|a| {
            a.account_id == update.account_id && a.participant_id == update.participant_id
        }) else {
            return Err(format!(
                "Account {} of participant {} is not in settlement {}",
                update.account_id, update.participant_id, found.settlement_id
            ));
        };
        match account_step(account.state, update.state) {
            Ok(AccountStep::Unchanged) => {}
            Ok(AccountStep::Advance(to)) => advances.push(Advance {
                account,
                update,
                action: ledger_action(to),
            }),
            Err(refusal) => return Err(refusal.to_string()),
        }
    }
    Ok(advances)
}

/// Moves the settlement's accounts to the requested states, one step each, recording,
/// reserving and committing their settlement transfers as they go; then derives the
/// settlement's (and its windows') state. `new_transfer_id` names each recorded transfer.
pub async fn update_accounts(
    conn: &mut MySqlConnection,
    settlement_id: u64,
    updates: &[AccountUpdate],
    new_transfer_id: &mut (dyn FnMut() -> TransferId + Send),
    now: PrimitiveDateTime,
) -> Result<UpdateOutcome> {
    let Some(found) = settlement(conn, settlement_id, true).await? else {
        return Ok(UpdateOutcome::NotFound);
    };
    if found.state.is_final() {
        return Ok(UpdateOutcome::Refused(format!(
            "Settlement {settlement_id} is {}",
            found.state
        )));
    }
    let advances = match advances(&found, updates) {
        Ok(advances) => advances,
        Err(refusal) => return Ok(UpdateOutcome::Refused(refusal)),
    };
    if advances.is_empty() {
        return Ok(UpdateOutcome::Done { changed: false });
    }
    let locks: Vec<AccountId> = advances
        .iter()
        .flat_map(|a| [a.account.account_id, a.account.settlement_account_id])
        .collect();
    let locked = lock_positions(conn, &locks).await?;
    let mut values: HashMap<AccountId, (Decimal, Decimal)> = locked
        .iter()
        .map(|(id, p)| (*id, (p.value, p.reserved_value)))
        .collect();
    let mut journal = Vec::new();
    for advance in &advances {
        let transfer_id = apply_ledger(conn, settlement_id, advance, new_transfer_id, now).await?;
        if let Some((account_id, phase, change)) = journal_entry(advance)? {
            let (value, reserved) = values.get_mut(&account_id).ok_or_else(|| {
                StoreError::Corrupt(format!("account {account_id} has no position"))
            })?;
            *value += change;
            journal.push(PositionChange {
                account_id,
                transfer_id: transfer_id.ok_or_else(|| {
                    StoreError::Corrupt(format!("account {account_id} moved without a transfer"))
                })?,
                phase,
                change,
                value_after: *value,
                reserved_after: *reserved,
                at: now,
            });
        }
        set_account_state(conn, settlement_id, advance, transfer_id, now).await?;
    }
    apply_position_changes(conn, &journal).await?;
    derive_settlement_state(conn, settlement_id, now).await?;
    Ok(UpdateOutcome::Done { changed: true })
}

/// The account a side of a settlement transfer is.
fn account_of(account: &SettlementAccountView, side: Side) -> AccountId {
    match side {
        Side::Ledger => account.account_id,
        Side::Settlement => account.settlement_account_id,
    }
}

/// The journal entry of an advance: RESERVE (+amount) on the transfer's payer account, COMMIT
/// (−amount) on its payee account; none for a zero net amount or a step without money.
fn journal_entry(advance: &Advance<'_>) -> Result<Option<(AccountId, PositionPhase, Decimal)>> {
    let Some((payer, payee, amount)) = settlement_transfer(advance.account.net_amount) else {
        return Ok(None);
    };
    Ok(match advance.action {
        LedgerAction::Reserve => Some((
            account_of(advance.account, payer),
            PositionPhase::Reserve,
            amount,
        )),
        LedgerAction::Commit => Some((
            account_of(advance.account, payee),
            PositionPhase::Commit,
            -amount,
        )),
        LedgerAction::None | LedgerAction::Record => None,
    })
}

/// Records or moves the account's settlement transfer; returns its id (if it has one).
async fn apply_ledger(
    conn: &mut MySqlConnection,
    settlement_id: u64,
    advance: &Advance<'_>,
    new_transfer_id: &mut (dyn FnMut() -> TransferId + Send),
    now: PrimitiveDateTime,
) -> Result<Option<TransferId>> {
    let account = advance.account;
    let Some((payer, payee, amount)) = settlement_transfer(account.net_amount) else {
        return Ok(None);
    };
    match advance.action {
        LedgerAction::Record => {
            let transfer_id = new_transfer_id();
            let event = format!("settlement:{settlement_id}:{}", account.account_id);
            claim_duplicate_checks(
                conn,
                DuplicateCheck::Prepare,
                &[(transfer_id, [0; 32], event.as_str())],
            )
            .await?;
            let record = TransferRecord {
                transfer_id,
                kind: TransferKind::Settlement,
                payer_fsp: account.participant_name.clone(),
                payee_fsp: account.participant_name.clone(),
                payer_participant_id: Some(account.participant_id),
                payee_participant_id: Some(account.participant_id),
                payer_account_id: Some(account_of(account, payer)),
                payee_account_id: Some(account_of(account, payee)),
                amount: Some(amount),
                currency: account.currency.into(),
                ilp_condition: None,
                expiration: None,
                state: TransferState::ReceivedPrepare,
                state_changed_at: now,
            };
            let reason = format!("settlement {settlement_id}");
            insert_transfers(
                conn,
                &[NewTransfer {
                    record,
                    reason: Some(reason),
                }],
            )
            .await?;
            Ok(Some(transfer_id))
        }
        LedgerAction::Reserve => walk_transfer(conn, account, &[TransferEvent::Reserve], now).await,
        LedgerAction::Commit => {
            let events = [TransferEvent::FulfilAccepted, TransferEvent::Commit];
            walk_transfer(conn, account, &events, now).await
        }
        LedgerAction::None => Ok(account.transfer_id),
    }
}

/// Walks the account's settlement transfer through `events`, each checked by the state
/// machine and guarded by the state it leaves.
async fn walk_transfer(
    conn: &mut MySqlConnection,
    account: &SettlementAccountView,
    events: &[TransferEvent],
    now: PrimitiveDateTime,
) -> Result<Option<TransferId>> {
    let Some(transfer_id) = account.transfer_id else {
        return Err(StoreError::Corrupt(format!(
            "settlement account {} has no settlement transfer",
            account.account_id
        )));
    };
    let stored = load_transfers(conn, &[transfer_id], true).await?;
    let from = stored
        .get(&transfer_id)
        .map(|t| t.state)
        .ok_or_else(|| StoreError::Corrupt(format!("settlement transfer {transfer_id} missing")))?;
    let events: Vec<(TransferEvent, Option<&str>)> = events.iter().map(|e| (*e, None)).collect();
    walk_states(conn, transfer_id, from, &events, now).await?;
    Ok(Some(transfer_id))
}

async fn set_account_state(
    conn: &mut MySqlConnection,
    settlement_id: u64,
    advance: &Advance<'_>,
    transfer_id: Option<TransferId>,
    now: PrimitiveDateTime,
) -> Result<()> {
    let update = advance.update;
    let account = advance.account;
    sqlx::query!(
        "UPDATE settlement_participant_account SET state = ?, reason = COALESCE(?, reason), \
         external_reference = COALESCE(?, external_reference), transfer_id = ?, changed_at = ? \
         WHERE settlement_id = ? AND account_id = ? AND state = ?",
        update.state.as_str(),
        update.reason.as_deref(),
        update.external_reference.as_deref(),
        transfer_id.as_ref().map(TransferId::as_str),
        now,
        settlement_id,
        account.account_id,
        account.state.as_str(),
    )
    .execute(&mut *conn)
    .await?;
    insert_account_state_change(
        conn,
        settlement_id,
        account.account_id,
        update.state,
        update.reason.as_deref(),
        update.external_reference.as_deref(),
        now,
    )
    .await
}

/// Sets the settlement's state from its accounts' (`core::settlement::settlement_state`); a
/// SETTLED settlement settles its window contents.
async fn derive_settlement_state(
    conn: &mut MySqlConnection,
    settlement_id: u64,
    now: PrimitiveDateTime,
) -> Result<()> {
    let Some(current) = settlement(conn, settlement_id, false).await? else {
        return Err(StoreError::Corrupt(format!(
            "settlement {settlement_id} vanished"
        )));
    };
    let states: Vec<SettlementState> = current.accounts.iter().map(|a| a.state).collect();
    let state = settlement_state(&states);
    if state == current.state {
        return Ok(());
    }
    set_settlement_state(conn, &current, state, None, now).await
}

async fn set_settlement_state(
    conn: &mut MySqlConnection,
    current: &SettlementView,
    state: SettlementState,
    reason: Option<&str>,
    now: PrimitiveDateTime,
) -> Result<()> {
    let settlement_id = current.settlement_id;
    sqlx::query!(
        "UPDATE settlement SET state = ?, changed_at = ? WHERE settlement_id = ? AND state = ?",
        state.as_str(),
        now,
        settlement_id,
        current.state.as_str(),
    )
    .execute(&mut *conn)
    .await?;
    insert_settlement_state_change(conn, settlement_id, state, reason, now).await?;
    let content_state = match state {
        SettlementState::Settled => WindowState::Settled,
        SettlementState::Aborted => WindowState::Aborted,
        _ => return Ok(()),
    };
    sqlx::query!(
        "UPDATE settlement_window_content SET state = ?, changed_at = ? \
         WHERE settlement_id = ? AND state = 'PENDING_SETTLEMENT'",
        content_state.as_str(),
        now,
        settlement_id,
    )
    .execute(&mut *conn)
    .await?;
    refresh_window_states(conn, &current.window_ids, reason, now).await
}

/// Aborts the settlement: every reserved settlement transfer is reversed, recorded ones are
/// rejected, the accounts and the settlement become ABORTED and the windows can be settled
/// again. Refused once any account reached PS_TRANSFERS_COMMITTED.
pub async fn abort_settlement(
    conn: &mut MySqlConnection,
    settlement_id: u64,
    reason: &str,
    now: PrimitiveDateTime,
) -> Result<UpdateOutcome> {
    let Some(found) = settlement(conn, settlement_id, true).await? else {
        return Ok(UpdateOutcome::NotFound);
    };
    let states: Vec<SettlementState> = found.accounts.iter().map(|a| a.state).collect();
    if let Err(refusal) = check_abort(settlement_id, found.state, &states) {
        return Ok(UpdateOutcome::Refused(refusal.to_string()));
    }
    let journal = walk_back(conn, &found, now).await?;
    apply_position_changes(conn, &journal).await?;
    for account in &found.accounts {
        set_aborted(conn, settlement_id, account, reason, now).await?;
    }
    set_settlement_state(conn, &found, SettlementState::Aborted, Some(reason), now).await?;
    Ok(UpdateOutcome::Done { changed: true })
}

/// Walks every settlement transfer of an aborted settlement to its end (a reserved one reversed,
/// a recorded one rejected) and returns the reversals' journal entries, positions locked.
async fn walk_back(
    conn: &mut MySqlConnection,
    found: &SettlementView,
    now: PrimitiveDateTime,
) -> Result<Vec<PositionChange>> {
    let reserved: Vec<&SettlementAccountView> = found
        .accounts
        .iter()
        .filter(|a| a.state == SettlementState::PsTransfersReserved && a.transfer_id.is_some())
        .collect();
    let locks: Vec<AccountId> = reserved
        .iter()
        .flat_map(|a| [a.account_id, a.settlement_account_id])
        .collect();
    let locked = lock_positions(conn, &locks).await?;
    let mut journal = Vec::new();
    for account in &found.accounts {
        let Some(transfer_id) = account.transfer_id else {
            continue;
        };
        let events: &[TransferEvent] = match account.state {
            SettlementState::PsTransfersReserved => {
                &[TransferEvent::FundsOutReject, TransferEvent::RejectFinal]
            }
            _ => &[TransferEvent::ReservationRejected],
        };
        walk_transfer(conn, account, events, now).await?;
        if account.state == SettlementState::PsTransfersReserved {
            let Some((payer, _, amount)) = settlement_transfer(account.net_amount) else {
                continue;
            };
            let payer = account_of(account, payer);
            let position = locked
                .get(&payer)
                .ok_or_else(|| StoreError::Corrupt(format!("account {payer} has no position")))?;
            let before: Decimal = journal
                .iter()
                .filter(|c: &&PositionChange| c.account_id == payer)
                .map(|c| c.change)
                .sum();
            journal.push(PositionChange {
                account_id: payer,
                transfer_id,
                phase: PositionPhase::Reverse,
                change: -amount,
                value_after: position.value + before - amount,
                reserved_after: position.reserved_value,
                at: now,
            });
        }
    }
    Ok(journal)
}

/// Moves one account of an aborted settlement to ABORTED with the abort's reason.
async fn set_aborted(
    conn: &mut MySqlConnection,
    settlement_id: u64,
    account: &SettlementAccountView,
    reason: &str,
    now: PrimitiveDateTime,
) -> Result<()> {
    let advance = Advance {
        account,
        update: &AccountUpdate {
            participant_id: account.participant_id,
            account_id: account.account_id,
            state: SettlementState::Aborted,
            reason: Some(reason.to_owned()),
            external_reference: None,
        },
        action: LedgerAction::None,
    };
    set_account_state(conn, settlement_id, &advance, account.transfer_id, now).await
}
