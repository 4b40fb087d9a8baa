//! The only code of this crate that calls C: librdkafka's mock-cluster API.
//!
//! `rdkafka` wraps the mock cluster as `rdkafka::mocking::MockCluster`, but keeps its pointer
//! private, and the group initial-rebalance delay (3 s by default, paid on every group join) has
//! no safe wrapper. So this module owns the cluster itself: a librdkafka producer handle the
//! cluster lives in, and the cluster pointer, destroyed before the handle. Every `unsafe` block
//! is one FFI call, with the reason it is sound beside it.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::bindings::{
    rd_kafka_mock_cluster_bootstraps, rd_kafka_mock_cluster_destroy, rd_kafka_mock_cluster_new,
    rd_kafka_mock_cluster_t, rd_kafka_mock_group_initial_rebalance_delay_ms,
    rd_kafka_mock_topic_create,
};
use rdkafka::producer::{BaseProducer, Producer as _};
use rdkafka::types::RDKafkaErrorCode;

/// A running librdkafka mock cluster with one broker, listening on a loopback port of its own
/// choosing. Dropping it stops the broker.
pub struct MockBroker {
    cluster: NonNull<rd_kafka_mock_cluster_t>,
    /// The librdkafka handle the cluster belongs to; it must outlive `cluster` (see `Drop`).
    handle: BaseProducer,
}

impl std::fmt::Debug for MockBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockBroker")
            .field("bootstrap", &self.bootstrap())
            .finish_non_exhaustive()
    }
}

impl MockBroker {
    /// Starts a one-broker mock cluster whose consumer groups rebalance without delay.
    pub fn start() -> anyhow::Result<Self> {
        let handle: BaseProducer = ClientConfig::new()
            .set("client.id", "ferroloop-mock-broker")
            .create()?;
        // SAFETY: `native_ptr` is the live `rd_kafka_t` owned by `handle`. The cluster keeps
        // using it, so `handle` is stored beside the cluster and dropped only after
        // `rd_kafka_mock_cluster_destroy` (see `Drop`).
        let raw = unsafe { rd_kafka_mock_cluster_new(handle.client().native_ptr(), 1) };
        let cluster = NonNull::new(raw)
            .ok_or_else(|| anyhow::anyhow!("librdkafka could not create the mock cluster"))?;
        let broker = Self { cluster, handle };
        // SAFETY: `cluster` is a live mock cluster (non-null, not yet destroyed: destruction
        // happens only in `Drop`); the call posts an operation to the cluster's own thread.
        unsafe { rd_kafka_mock_group_initial_rebalance_delay_ms(broker.cluster.as_ptr(), 0) };
        Ok(broker)
    }

    /// Creates a topic with the given partition count (replication factor 1).
    pub fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let name_c = CString::new(name)?;
        // SAFETY: `cluster` is live (see `start`); `name_c` is a NUL-terminated string that
        // outlives the call, and librdkafka copies the name before returning.
        let code = unsafe {
            rd_kafka_mock_topic_create(self.cluster.as_ptr(), name_c.as_ptr(), partitions, 1)
        };
        match RDKafkaErrorCode::from(code) {
            RDKafkaErrorCode::NoError => Ok(()),
            error => anyhow::bail!("creating topic {name} ({partitions} partitions): {error}"),
        }
    }

    /// The cluster's `bootstrap.servers` (`127.0.0.1:<port>`).
    pub fn bootstrap(&self) -> String {
        // SAFETY: `cluster` is live; librdkafka returns a NUL-terminated string owned by the
        // cluster and valid until it is destroyed, which cannot happen while `&self` is
        // borrowed. It is copied before the borrow ends.
        let raw = unsafe { rd_kafka_mock_cluster_bootstraps(self.cluster.as_ptr()) };
        if raw.is_null() {
            return String::new();
        }
        // SAFETY: `raw` is non-null and NUL-terminated (above).
        unsafe { CStr::from_ptr(raw) }
            .to_string_lossy()
            .into_owned()
    }

    /// Serves the handle's own event queue (librdkafka log lines), so nothing piles up there
    /// while the broker runs.
    pub fn poll(&self) {
        self.handle.poll(Duration::ZERO);
    }
}

impl Drop for MockBroker {
    fn drop(&mut self) {
        // SAFETY: `cluster` is live and destroyed exactly once, here; `handle`, which it uses,
        // is dropped only after this method returns (fields drop after `Drop::drop`).
        unsafe { rd_kafka_mock_cluster_destroy(self.cluster.as_ptr()) };
    }
}
