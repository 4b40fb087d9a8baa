//! The one read-through cache of the handlers: values by participant name, emptied when the
//! admin change epoch moves (docs/architecture.md#caches).
//!
//! A miss reads the database — one query for every name a batch misses — and nothing is cached
//! as absent, so a participant created (or given endpoints) a moment ago is found by the next
//! batch. Every admin change bumps the epoch ([`crate::epoch::begin_admin_change`]), and
//! [`ReadThrough::refresh`], called once per batch, drops everything when it moved.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::mysql::MySqlRow;
use sqlx::{MySql, MySqlConnection, QueryBuilder};

use crate::Result;
use crate::epoch::admin_epoch;

/// What a [`ReadThrough`] cache holds: a value loaded by participant name, many names in one
/// statement ([`load_by_names`]).
pub trait LoadByName: Sized + Send + Sync {
    /// The statement up to its list of names: `SELECT … FROM participant p … WHERE p.name IN (`.
    const SELECT: &'static str;
    /// What follows the closed list (an `ORDER BY`, or nothing).
    const AFTER_NAMES: &'static str;

    /// Adds one row of the statement to the values found so far, by name.
    fn add_row(found: &mut HashMap<String, Self>, row: &MySqlRow) -> Result<()>;
}

/// The values of the names given (exact names, possibly repeated), in one statement; unknown
/// names are absent.
pub async fn load_by_names<V: LoadByName>(
    conn: &mut MySqlConnection,
    names: &[&str],
) -> Result<HashMap<String, V>> {
    let names = crate::statements::sorted_unique(names.to_vec());
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let mut builder = QueryBuilder::<MySql>::new(V::SELECT);
    let mut list = builder.separated(", ");
    for name in &names {
        list.push_bind(name.to_string());
    }
    list.push_unseparated(")");
    builder.push(V::AFTER_NAMES);
    let mut found = HashMap::new();
    for row in builder.build().fetch_all(&mut *conn).await? {
        V::add_row(&mut found, &row)?;
    }
    Ok(found)
}

/// Read-through cache of `V` by participant name, invalidated by the admin change epoch.
#[derive(Debug)]
pub struct ReadThrough<V> {
    epoch: Option<u64>,
    by_name: HashMap<String, Arc<V>>,
}

impl<V> Default for ReadThrough<V> {
    fn default() -> Self {
        Self {
            epoch: None,
            by_name: HashMap::new(),
        }
    }
}

impl<V: LoadByName> ReadThrough<V> {
    /// Drops everything if an admin change happened since the last call. Call once per batch.
    /// Returns true when the cache was emptied.
    pub async fn refresh(&mut self, conn: &mut MySqlConnection) -> Result<bool> {
        let epoch = admin_epoch(conn).await?;
        if self.epoch == Some(epoch) {
            return Ok(false);
        }
        self.by_name.clear();
        self.epoch = Some(epoch);
        Ok(true)
    }

    /// The values of the names given, loading the misses in one query. Unknown names are absent
    /// and not remembered.
    pub async fn get_many(
        &mut self,
        conn: &mut MySqlConnection,
        names: &[&str],
    ) -> Result<HashMap<String, Arc<V>>> {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !self.by_name.contains_key(*n))
            .collect();
        if !missing.is_empty() {
            for (name, value) in load_by_names::<V>(conn, &missing).await? {
                self.by_name.insert(name, Arc::new(value));
            }
        }
        Ok(names
            .iter()
            .filter_map(|n| self.by_name.get(*n).map(|v| (n.to_string(), Arc::clone(v))))
            .collect())
    }

    /// How many names are cached.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
