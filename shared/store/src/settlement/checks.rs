//! The settlement invariants (docs/invariants.md#s1-s3-settlement): queries that return what
//! violates them, so "holds" means "returned nothing".
//!
//! - **S1 windows**: every committed DFSP-to-DFSP transfer is in exactly one window — per
//!   (payer, payee) account pair, the windows' recorded money and transfer count equal the
//!   committed transfers'. A transfer missed or recorded twice changes one of them.
//! - **S2 netting**: each settlement's net amounts sum to zero per currency, and equal the money
//!   of its windows' contents.
//! - **S3 conservation**: per currency, the ledger holds exactly the money that is in flight:
//!   Σ(position − opening) over every account equals the sum of the reservations not yet
//!   committed or reversed. Settlement transfers move money between a DFSP's position and
//!   settlement accounts and never create any.
//! - **S4 settlement transfers**: an account past PS_TRANSFERS_COMMITTED has a COMMITTED
//!   settlement transfer of |net amount|; an ABORTED one has none that is not aborted.

use rust_decimal::Decimal;
use sqlx::{MySqlPool, Row};

use crate::Result;

/// A violation, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementViolation {
    pub invariant: &'static str,
    pub detail: String,
}

/// S1: pairs whose windows' money or count differ from their committed transfers'.
pub async fn s1_violations(pool: &MySqlPool) -> Result<Vec<SettlementViolation>> {
    let rows = sqlx::query(
        "SELECT t.payer_account_id AS payer, t.payee_account_id AS payee, t.amount AS committed, \
                t.n AS committed_count, f.amount AS recorded, f.n AS recorded_count
         FROM (SELECT payer_account_id, payee_account_id, SUM(amount) AS amount, COUNT(*) AS n
               FROM transfer WHERE kind = 'TRANSFER' AND state = 'COMMITTED'
               GROUP BY payer_account_id, payee_account_id) t
         LEFT JOIN (SELECT payer_account_id, payee_account_id, SUM(amount) AS amount,
                           SUM(transfer_count) AS n
                    FROM settlement_window_flow GROUP BY payer_account_id, payee_account_id) f
           ON f.payer_account_id = t.payer_account_id AND f.payee_account_id = t.payee_account_id
         WHERE f.amount IS NULL OR f.amount <> t.amount OR f.n <> t.n
         UNION ALL
         SELECT f.payer_account_id, f.payee_account_id, NULL, NULL, SUM(f.amount), SUM(f.transfer_count)
         FROM settlement_window_flow f
         WHERE NOT EXISTS (SELECT 1 FROM transfer t WHERE t.kind = 'TRANSFER' AND t.state = 'COMMITTED'
                             AND t.payer_account_id = f.payer_account_id
                             AND t.payee_account_id = f.payee_account_id)
         GROUP BY f.payer_account_id, f.payee_account_id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let payer: Option<u32> = row.try_get("payer")?;
            let payee: Option<u32> = row.try_get("payee")?;
            let committed: Option<Decimal> = row.try_get("committed")?;
            let recorded: Option<Decimal> = row.try_get("recorded")?;
            Ok(SettlementViolation {
                invariant: "S1",
                detail: format!(
                    "accounts {payer:?} → {payee:?}: committed {committed:?}, in windows {recorded:?}"
                ),
            })
        })
        .collect()
}

/// S2: settlements whose net amounts do not sum to zero per currency, or differ from the money
/// of their windows' contents.
pub async fn s2_violations(pool: &MySqlPool) -> Result<Vec<SettlementViolation>> {
    let unbalanced = sqlx::query(
        "SELECT settlement_id, currency, SUM(net_amount) AS total
         FROM settlement_participant_account GROUP BY settlement_id, currency
         HAVING SUM(net_amount) <> 0",
    )
    .fetch_all(pool)
    .await?;
    let mut found = Vec::new();
    for row in &unbalanced {
        let settlement: u64 = row.try_get("settlement_id")?;
        let currency = crate::columns::currency(row, "currency")?;
        let total: Decimal = row.try_get("total")?;
        found.push(SettlementViolation {
            invariant: "S2",
            detail: format!("settlement {settlement} {currency}: net amounts sum to {total}"),
        });
    }
    // Each account's net amount = what it paid − what it received in the settled contents.
    let differing = sqlx::query(
        "SELECT spa.settlement_id, spa.account_id, spa.net_amount,
                COALESCE((SELECT SUM(f.amount) FROM settlement_window_flow f
                          JOIN settlement_window_content c ON c.settlement_window_id = f.settlement_window_id
                           AND c.currency = f.currency AND c.ledger_account_type = 'POSITION'
                          WHERE c.settlement_id = spa.settlement_id AND f.payer_account_id = spa.account_id), 0)
              - COALESCE((SELECT SUM(f.amount) FROM settlement_window_flow f
                          JOIN settlement_window_content c ON c.settlement_window_id = f.settlement_window_id
                           AND c.currency = f.currency AND c.ledger_account_type = 'POSITION'
                          WHERE c.settlement_id = spa.settlement_id AND f.payee_account_id = spa.account_id), 0)
                AS expected
         FROM settlement_participant_account spa
         JOIN settlement s ON s.settlement_id = spa.settlement_id
         WHERE s.state <> 'ABORTED'",
    )
    .fetch_all(pool)
    .await?;
    for row in &differing {
        let net: Decimal = row.try_get("net_amount")?;
        let expected: Decimal = row.try_get("expected")?;
        if net != expected {
            let settlement: u64 = row.try_get("settlement_id")?;
            let account: u32 = row.try_get("account_id")?;
            found.push(SettlementViolation {
                invariant: "S2",
                detail: format!(
                    "settlement {settlement} account {account}: net {net}, windows say {expected}"
                ),
            });
        }
    }
    Ok(found)
}

/// S3: currencies whose ledger holds more or less than the money in flight.
pub async fn s3_violations(pool: &MySqlPool) -> Result<Vec<SettlementViolation>> {
    let rows = sqlx::query(
        "SELECT l.currency, l.held, COALESCE(r.in_flight, 0) AS in_flight
         FROM (SELECT a.currency, SUM(pp.value - pp.opening_value) AS held
               FROM participant_position pp JOIN account a ON a.account_id = pp.account_id
               GROUP BY a.currency) l
         LEFT JOIN (SELECT t.currency, SUM(pc.change_amount) AS in_flight
                    FROM position_change pc JOIN transfer t ON t.transfer_id = pc.transfer_id
                    WHERE pc.phase = 'RESERVE'
                      AND NOT EXISTS (SELECT 1 FROM position_change d
                                      WHERE d.transfer_id = pc.transfer_id AND d.phase IN ('COMMIT', 'REVERSE'))
                    GROUP BY t.currency) r ON r.currency = l.currency
         WHERE l.held <> COALESCE(r.in_flight, 0)",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let currency = crate::columns::currency(row, "currency")?;
            let held: Decimal = row.try_get("held")?;
            let in_flight: Decimal = row.try_get("in_flight")?;
            Ok(SettlementViolation {
                invariant: "S3",
                detail: format!(
                    "{currency}: positions moved by {held} in total, reservations in flight {in_flight}"
                ),
            })
        })
        .collect()
}

/// S4: settlement accounts whose settlement transfer does not match their state.
pub async fn s4_violations(pool: &MySqlPool) -> Result<Vec<SettlementViolation>> {
    let rows = sqlx::query(
        "SELECT spa.settlement_id, spa.account_id, spa.state, spa.net_amount, t.state AS transfer_state,
                t.amount
         FROM settlement_participant_account spa
         LEFT JOIN transfer t ON t.transfer_id = spa.transfer_id
         WHERE (spa.state IN ('PS_TRANSFERS_COMMITTED', 'SETTLED') AND spa.net_amount <> 0
                AND (t.state IS NULL OR t.state <> 'COMMITTED' OR t.amount <> ABS(spa.net_amount)))
            OR (spa.state = 'ABORTED' AND t.state IS NOT NULL AND t.state <> 'ABORTED_REJECTED')
            OR (spa.net_amount = 0 AND spa.transfer_id IS NOT NULL)",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let settlement: u64 = row.try_get("settlement_id")?;
            let account: u32 = row.try_get("account_id")?;
            let state: String = row.try_get("state")?;
            let transfer_state: Option<String> = row.try_get("transfer_state")?;
            Ok(SettlementViolation {
                invariant: "S4",
                detail: format!(
                    "settlement {settlement} account {account} is {state}, its transfer {transfer_state:?}"
                ),
            })
        })
        .collect()
}

/// Every settlement invariant; empty when all hold.
pub async fn violations(pool: &MySqlPool) -> Result<Vec<SettlementViolation>> {
    let mut found = s1_violations(pool).await?;
    found.extend(s2_violations(pool).await?);
    found.extend(s3_violations(pool).await?);
    found.extend(s4_violations(pool).await?);
    Ok(found)
}
