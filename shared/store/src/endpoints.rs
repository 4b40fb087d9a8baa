//! Participants' callback endpoints (`participant_endpoint`), by participant name, with the
//! read-through cache the notification handler uses.
//!
//! The cache follows the participant cache's rules (docs/architecture.md#caches): a miss reads the
//! database (one query per batch for every name missing), nothing is cached as absent — a
//! participant whose endpoints are registered a moment ago is found by the next batch — and every
//! admin change (which bumps the admin change epoch, see [`crate::admin::set_endpoint`]) empties
//! the cache at the next [`EndpointCache::refresh`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};

use crate::Result;
use crate::participants::admin_epoch;

/// One participant's endpoints: endpoint type (e.g. `FSPIOP_CALLBACK_URL_TRANSFER_PUT`) →
/// value (a URL template such as `https://dfsp.example/transfers/{{transferId}}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParticipantEndpoints {
    pub by_type: BTreeMap<String, String>,
}

impl ParticipantEndpoints {
    /// The value of an endpoint type, if registered.
    pub fn get(&self, endpoint_type: &str) -> Option<&str> {
        self.by_type.get(endpoint_type).map(String::as_str)
    }
}

/// Loads the endpoints of the participants named (exact names), in one query. A name that is
/// unknown or has no endpoint at all is absent from the result.
pub async fn load_by_names(
    conn: &mut MySqlConnection,
    names: &[&str],
) -> Result<HashMap<String, ParticipantEndpoints>> {
    let mut names = names.to_vec();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT p.name, e.endpoint_type, e.value
         FROM participant p JOIN participant_endpoint e ON e.participant_id = p.participant_id
         WHERE p.name IN (",
    );
    let mut list = builder.separated(", ");
    for name in &names {
        list.push_bind(name.to_string());
    }
    list.push_unseparated(")");
    let mut found: HashMap<String, ParticipantEndpoints> = HashMap::new();
    for row in builder.build().fetch_all(&mut *conn).await? {
        let name: String = row.try_get("name")?;
        found
            .entry(name)
            .or_default()
            .by_type
            .insert(row.try_get("endpoint_type")?, row.try_get("value")?);
    }
    Ok(found)
}

/// Read-through cache of endpoints by participant name, invalidated by the admin change epoch.
#[derive(Debug, Default)]
pub struct EndpointCache {
    epoch: Option<u64>,
    by_name: HashMap<String, Arc<ParticipantEndpoints>>,
}

impl EndpointCache {
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

    /// The endpoints of the participants named, loading the misses in one query. Names without
    /// endpoints are absent and not remembered.
    pub async fn get_many(
        &mut self,
        conn: &mut MySqlConnection,
        names: &[&str],
    ) -> Result<HashMap<String, Arc<ParticipantEndpoints>>> {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !self.by_name.contains_key(*n))
            .collect();
        if !missing.is_empty() {
            for (name, endpoints) in load_by_names(conn, &missing).await? {
                self.by_name.insert(name, Arc::new(endpoints));
            }
        }
        Ok(names
            .iter()
            .filter_map(|n| self.by_name.get(*n).map(|e| (n.to_string(), Arc::clone(e))))
            .collect())
    }

    /// How many participants are cached.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
