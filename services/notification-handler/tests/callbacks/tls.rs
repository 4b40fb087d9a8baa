//! Callbacks to `https` endpoints: the hub presents its client certificate and verifies the
//! DFSP's server certificate against the configured CA bundle; the files reload when they change.

use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_messaging::events::{self, action, event_type};
use ferroloop_messaging::{Envelope, EventState};
use ferroloop_testkit::pki::{TempDir, TestCa};

use crate::harness::*;

/// A hub-originated `PUT …/error` to `payer`.
fn error_to(payer: &str, id: &str) -> Envelope {
    let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
    events::HubMessage {
        to: payer,
        event_type: event_type::NOTIFICATION,
        action: action::TIMEOUT_RECEIVED.into(),
        state: EventState::error(3303, expired.description()),
        payload: events::json_payload(&expired.to_body()),
        parties: None,
    }
    .about(&transfer_id(id), HUB)
}

#[tokio::test]
async fn https_callbacks_present_the_hub_certificate_and_verify_the_dfsp() {
    let hub_ca = TestCa::new("ferroloop test hub CA");
    let dfsp_ca = TestCa::new("DFSP server CA");
    let rogue_ca = TestCa::new("rogue CA");
    let dir = TempDir::new("ferroloop-callback-tls-");
    let hub_client = hub_ca.client(HUB);
    let cert = dir.write("tls.crt", &hub_client.cert);
    let key = dir.write("tls.key", &hub_client.key);
    let ca = dir.write("ca.crt", &dfsp_ca.pem.cert);
    // The DFSP requires a client certificate from the hub CA; its own is from the DFSP CA.
    let good = Sim::start_tls(&dfsp_ca.server(), &hub_ca.pem.cert).await;
    // One whose server certificate the hub does not trust.
    let impostor = Sim::start_tls(&rogue_ca.server(), &hub_ca.pem.cert).await;
    let mut h = Harness::start_with(|c| {
        c.callbacks.tls_cert_path = Some(cert);
        c.callbacks.tls_key_path = Some(key);
        c.callbacks.tls_ca_path = Some(ca);
        c.callbacks.tls_reload_interval_ms = 50;
        c.callbacks.retry_max_attempts = 1;
    })
    .await;
    h.dfsp("payerfsp", &good).await;
    h.dfsp("otherfsp", &impostor).await;

    let id = new_id();
    h.send(&[error_to("payerfsp", &id)]).await;
    let delivered = good.one(&id).await;
    assert_eq!(delivered.method, "PUT");
    assert_eq!(
        delivered.client_names,
        [HUB],
        "the hub's client certificate"
    );
    assert_eq!(delivered.header("fspiop-source"), Some(HUB));

    // An endpoint whose certificate does not chain to CALLBACK_TLS_CA_PATH gets nothing.
    let refused = new_id();
    h.send(&[error_to("otherfsp", &refused)]).await;
    h.wait_metric(
        "ferroloop_callbacks_total",
        &[("kind", "error"), ("outcome", "failed")],
        1,
    )
    .await;
    assert!(impostor.requests().is_empty());

    // Rotating the CA bundle to trust the rogue CA (file rewritten) is picked up without a
    // restart: the next callback to that endpoint is delivered.
    let mut reloads = h.tls_reloads();
    let bundle = format!("{}{}", dfsp_ca.pem.cert, rogue_ca.pem.cert);
    dir.write("ca.crt", &bundle);
    tokio::time::timeout(WAIT, reloads.changed())
        .await
        .expect("callback TLS reloaded")
        .unwrap();
    let accepted = new_id();
    h.send(&[error_to("otherfsp", &accepted)]).await;
    assert_eq!(impostor.one(&accepted).await.client_names, [HUB]);
    h.stop().await;
}
