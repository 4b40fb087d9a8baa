//! Callback endpoints are checked again when connecting: every address a host name resolves to
//! must be one the hub calls (no link-local, no cloud metadata, unless allow-listed), so a name
//! that resolved somewhere harmless at registration and points at the metadata service later
//! (DNS rebinding) is refused. A refused address is a final failure, counted and logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ferroloop_notification_handler::HostLookup;

use crate::harness::*;

/// What the test's resolver answers, changeable while the handler runs.
#[derive(Clone, Default)]
struct Names(Arc<Mutex<HashMap<String, Vec<IpAddr>>>>);

impl Names {
    fn set(&self, host: &str, addresses: &[&str]) {
        let addresses = addresses.iter().map(|a| a.parse().unwrap()).collect();
        self.0.lock().unwrap().insert(host.to_owned(), addresses);
    }

    fn lookup(&self) -> HostLookup {
        let names = self.clone();
        HostLookup::new(move |host| {
            names
                .0
                .lock()
                .unwrap()
                .get(host)
                .cloned()
                .unwrap_or_default()
        })
    }
}

async fn outcome(h: &Harness, outcome: &str) -> u64 {
    h.metric(
        "ferroloop_callbacks_total",
        &[("kind", "error"), ("outcome", outcome)],
    )
    .await
}

/// Onboards `name` with its endpoints on `host` at the simulator's port.
async fn dfsp_at(h: &Harness, name: &str, host: &str, sim: &Sim) {
    let id = h.participant(name).await;
    h.point_endpoints(id, name, &format!("http://{host}:{}", sim.addr.port()))
        .await;
}

#[tokio::test]
async fn a_host_that_resolves_to_a_refused_address_is_not_called() {
    let sim = Sim::start().await;
    let names = Names::default();
    names.set("harmless.dfsp.test", &["127.0.0.1"]);
    names.set("rebinding.dfsp.test", &["127.0.0.1"]);
    names.set("metadata.dfsp.test", &["169.254.169.254"]);
    let lookup = names.lookup();
    let mut h = Harness::start_with(|c| {
        c.callbacks.lookup = Some(lookup);
        // No idle connections: every callback connects, and so resolves, anew.
        c.callbacks.pool_max_idle_per_host = 0;
    })
    .await;
    dfsp_at(&h, "harmless", "harmless.dfsp.test", &sim).await;
    dfsp_at(&h, "rebinding", "rebinding.dfsp.test", &sim).await;
    dfsp_at(&h, "metadata", "metadata.dfsp.test", &sim).await;
    dfsp_at(&h, "literal", "169.254.169.254", &sim).await;

    // While the rebinding name resolves to the simulator, it is called.
    let first = new_id();
    h.send(&[expired_error_to(&first, "rebinding")]).await;
    sim.one(&first).await;

    // Then it answers with the metadata address too (first the simulator, which a connector
    // without the check would call): refused, like a name or a literal address that is only
    // the metadata service.
    names.set("rebinding.dfsp.test", &["127.0.0.1", "169.254.169.254"]);
    let (rebound, metadata, literal, harmless) = (new_id(), new_id(), new_id(), new_id());
    h.send(&[
        expired_error_to(&rebound, "rebinding"),
        expired_error_to(&metadata, "metadata"),
        expired_error_to(&literal, "literal"),
        expired_error_to(&harmless, "harmless"),
    ])
    .await;
    sim.one(&harmless).await;
    h.wait_processed().await;
    for id in [&rebound, &metadata, &literal] {
        assert!(sim.requests_for(id).is_empty(), "{id} reached the listener");
    }
    assert_eq!(outcome(&h, "refused_address").await, 3);
    assert_eq!(outcome(&h, "delivered").await, 2);
    // Final at once: nothing waits for a retry.
    assert_eq!(
        h.metric(
            "ferroloop_callback_attempts_total",
            &[("result", "refused_address")]
        )
        .await,
        3
    );
    assert_eq!(h.metric("ferroloop_callback_retries_pending", &[]).await, 0);
}

#[tokio::test]
async fn the_allow_list_lets_a_named_range_through() {
    let sim = Sim::start().await;
    let names = Names::default();
    names.set("internal.dfsp.test", &["127.0.0.1", "169.254.10.1"]);
    let lookup = names.lookup();
    let mut h = Harness::start_with(|c| {
        c.callbacks.lookup = Some(lookup);
        c.callbacks.address_allow_list = "169.254.10.0/24".into();
    })
    .await;
    dfsp_at(&h, "internal", "internal.dfsp.test", &sim).await;
    let id = new_id();
    h.send(&[expired_error_to(&id, "internal")]).await;
    sim.one(&id).await;
    h.wait_processed().await;
    assert_eq!(outcome(&h, "delivered").await, 1);
    assert_eq!(outcome(&h, "refused_address").await, 0);
}
