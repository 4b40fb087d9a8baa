//! Participants and their accounts, with the read-through cache the handlers use.
//!
//! Whatever the admin API creates is usable by the very next request (docs/architecture.md#caches;
//! a miss reads the database, nothing is cached as absent), and changes reach the cache through the
//! admin change epoch, which every admin transaction bumps and [`ParticipantCache::refresh`]
//! compares once per batch.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};

use crate::Result;

/// A participant with its accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantRecord {
    pub participant_id: u32,
    pub name: String,
    pub is_active: bool,
    pub is_hub: bool,
    pub accounts: Vec<AccountRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub account_id: u32,
    pub participant_id: u32,
    pub currency: String,
    pub ledger_account_type: String,
    pub is_active: bool,
}

impl ParticipantRecord {
    /// The participant's account of a type in a currency.
    pub fn account(&self, currency: &str, ledger_account_type: &str) -> Option<&AccountRecord> {
        self.accounts
            .iter()
            .find(|a| a.currency == currency && a.ledger_account_type == ledger_account_type)
    }

    pub fn position_account(&self, currency: &str) -> Option<&AccountRecord> {
        self.account(currency, "POSITION")
    }
}

/// Loads participants (with accounts) by exact name; unknown names are absent.
pub async fn load_by_names(
    conn: &mut MySqlConnection,
    names: &[&str],
) -> Result<HashMap<String, ParticipantRecord>> {
    let mut names = names.to_vec();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT p.participant_id, p.name, p.is_active, p.is_hub,
                a.account_id, a.currency, a.ledger_account_type, a.is_active AS account_active
         FROM participant p LEFT JOIN account a ON a.participant_id = p.participant_id
         WHERE p.name IN (",
    );
    let mut list = builder.separated(", ");
    for name in &names {
        list.push_bind(name.to_string());
    }
    list.push_unseparated(") ORDER BY p.participant_id, a.account_id");
    let mut found: HashMap<String, ParticipantRecord> = HashMap::new();
    for row in builder.build().fetch_all(&mut *conn).await? {
        let name: String = row.try_get("name")?;
        let participant_id: u32 = row.try_get("participant_id")?;
        let entry = match found.get_mut(&name) {
            Some(entry) => entry,
            None => found.entry(name.clone()).or_insert(ParticipantRecord {
                participant_id,
                name,
                is_active: row.try_get("is_active")?,
                is_hub: row.try_get("is_hub")?,
                accounts: Vec::new(),
            }),
        };
        if let Some(account_id) = row.try_get::<Option<u32>, _>("account_id")? {
            entry.accounts.push(AccountRecord {
                account_id,
                participant_id,
                currency: row.try_get("currency")?,
                ledger_account_type: row.try_get("ledger_account_type")?,
                is_active: row.try_get("account_active")?,
            });
        }
    }
    Ok(found)
}

/// The current admin change epoch.
pub async fn admin_epoch(conn: &mut MySqlConnection) -> Result<u64> {
    Ok(
        sqlx::query_scalar::<_, u64>("SELECT epoch FROM admin_change_epoch WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Bumps the admin change epoch; call inside every admin transaction that changes participants,
/// accounts, limits or endpoints.
pub async fn bump_admin_epoch(conn: &mut MySqlConnection) -> Result<()> {
    sqlx::query("UPDATE admin_change_epoch SET epoch = epoch + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Read-through cache of participants by name, invalidated by the admin change epoch.
#[derive(Debug, Default)]
pub struct ParticipantCache {
    epoch: Option<u64>,
    by_name: HashMap<String, Arc<ParticipantRecord>>,
}

impl ParticipantCache {
    /// Drops everything if an admin change happened since the last call. Call once per batch.
    pub async fn refresh(&mut self, conn: &mut MySqlConnection) -> Result<()> {
        let epoch = admin_epoch(conn).await?;
        if self.epoch != Some(epoch) {
            self.by_name.clear();
            self.epoch = Some(epoch);
        }
        Ok(())
    }

    /// The participants named, loading misses in one query. Unknown names are absent and are
    /// not remembered, so a participant created a moment ago is found by the next batch.
    pub async fn get_many(
        &mut self,
        conn: &mut MySqlConnection,
        names: &[&str],
    ) -> Result<HashMap<String, Arc<ParticipantRecord>>> {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !self.by_name.contains_key(*n))
            .collect();
        if !missing.is_empty() {
            for (name, record) in load_by_names(conn, &missing).await? {
                self.by_name.insert(name, Arc::new(record));
            }
        }
        Ok(names
            .iter()
            .filter_map(|n| self.by_name.get(*n).map(|r| (n.to_string(), Arc::clone(r))))
            .collect())
    }
}
