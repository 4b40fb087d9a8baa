//! mTLS on the FSPIOP listener: client certificates from the hub CA, their identity bound to
//! `FSPIOP-Source`, and certificates reloaded when their files change. Real TLS over loopback
//! with an in-memory test PKI (`ferroloop_testkit::pki`).

use ferroloop_testkit::pki::{Pem, TempDir, TestCa};
use ferroloop_tls::ClientFiles;

use crate::common::*;

/// A client that trusts `server_ca` and presents `identity`, and never reuses a connection (so
/// every request is a new handshake).
fn client(dir: &TempDir, server_ca: &TestCa, identity: Option<&Pem>) -> reqwest::Client {
    ferroloop_tls::install_crypto_provider();
    let tag = new_id();
    let files = ClientFiles {
        cert_and_key: identity.map(|pem| {
            (
                dir.write(&format!("{tag}.crt"), &pem.cert),
                dir.write(&format!("{tag}.key"), &pem.key),
            )
        }),
        ca: Some(dir.write(&format!("{tag}-ca.crt"), &server_ca.pem.cert)),
    };
    let config = ferroloop_tls::client_config(&files).expect("client TLS configuration");
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// An adapter whose listener uses a server certificate of `ca` and requires client
/// certificates of `ca`; the files live in the returned directory.
async fn start(ca: &TestCa) -> (TestApp, TempDir) {
    let dir = TempDir::new("ferroloop-mtls-");
    let server = ca.server();
    let cert = dir.write("tls.crt", &server.cert);
    let key = dir.write("tls.key", &server.key);
    let client_ca = dir.write("ca.crt", &ca.pem.cert);
    let app = TestApp::start_with(|c| {
        c.tls.cert_path = Some(cert);
        c.tls.key_path = Some(key);
        c.tls.client_ca_path = Some(client_ca);
        c.tls.reload_interval_ms = 50;
    })
    .await;
    (app, dir)
}

fn mismatch() -> (u16, String, String) {
    (
        400,
        "3100".to_owned(),
        "Generic validation error - FSPIOP-Source does not match the client certificate".to_owned(),
    )
}

#[tokio::test]
async fn client_certificates_must_come_from_the_hub_ca_and_name_the_source() {
    let ca = TestCa::new("ferroloop test hub CA");
    let (app, dir) = start(&ca).await;
    let topics = app.kafka.topics();
    let payer = client(&dir, &ca, Some(&ca.client(PAYER)));

    // A valid certificate whose CN is the source: accepted and produced.
    let id = new_id();
    let answer = app
        .send_with(&payer, &Req::post(&prepare_body(&id)))
        .await
        .expect("handshake with a valid certificate");
    assert_eq!(
        answer.status,
        202,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    let produced = consume(&app.kafka, &topics.prepare, 1).await;
    assert_eq!(decode(&produced[0]).id, id);

    // The payer's certificate used to speak as the payee: refused, nothing produced.
    let as_payee = Req::put(&new_id(), &fulfil_body("COMMITTED"));
    assert_eq!(
        app.send_with(&payer, &as_payee).await.unwrap().error(),
        mismatch()
    );
    // A valid certificate of another DFSP claiming to be the payer: the same.
    let payee = client(&dir, &ca, Some(&ca.client(PAYEE)));
    assert_eq!(
        app.send_with(&payee, &Req::post(&prepare_body(&new_id())))
            .await
            .unwrap()
            .error(),
        mismatch()
    );
    // … also for GET, whose answer would otherwise go to the claimed source.
    let get = Req::get(&new_id()).with("FSPIOP-Source", Some(PAYER));
    assert_eq!(
        app.send_with(&payee, &get).await.unwrap().error(),
        mismatch()
    );
    // The payee's own request is fine.
    let own = Req::put(&new_id(), &fulfil_body("COMMITTED"));
    assert_eq!(app.send_with(&payee, &own).await.unwrap().status, 200);

    // A certificate from a CA the hub does not trust, an expired one, none: no TLS session.
    let rogue = TestCa::new("rogue CA");
    let unknown = client(&dir, &ca, Some(&rogue.client(PAYER)));
    let expired = client(&dir, &ca, Some(&ca.expired_client(PAYER)));
    let anonymous = client(&dir, &ca, None);
    for (what, client) in [
        ("unknown CA", &unknown),
        ("expired", &expired),
        ("no certificate", &anonymous),
    ] {
        let sent = app
            .send_with(client, &Req::post(&prepare_body(&new_id())))
            .await;
        assert!(sent.is_err(), "{what}: {sent:?}");
    }
    // Plain HTTP on the TLS port gets no FSPIOP answer either.
    let plain = ferroloop_testkit::http_client()
        .get(format!("http://{}/health", app.addr))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);

    // Exactly the two accepted requests were produced.
    assert_eq!(produced_count(&app.kafka, &topics.prepare), 1);
    assert_eq!(produced_count(&app.kafka, &topics.fulfil), 1);
    assert_eq!(produced_count(&app.kafka, &topics.get), 0);
}

#[tokio::test]
async fn certificates_and_the_ca_bundle_reload_when_their_files_change() {
    let ca = TestCa::new("ferroloop test hub CA");
    let (mut app, dir) = start(&ca).await;
    let mut reloads = app.tls_reloads.take().expect("TLS reloads");
    let old_client = client(&dir, &ca, Some(&ca.client(PAYER)));
    let post = || Req::post(&prepare_body(&new_id()));
    assert_eq!(
        app.send_with(&old_client, &post()).await.unwrap().status,
        202
    );

    // Rotate: a new hub CA for clients, a new server certificate (still from the old CA, which
    // the clients trust for the server).
    let new_ca = TestCa::new("ferroloop test hub CA 2");
    let server = ca.server();
    dir.write("tls.crt", &server.cert);
    dir.write("tls.key", &server.key);
    dir.write("ca.crt", &new_ca.pem.cert);
    tokio::time::timeout(WAIT, reloads.changed())
        .await
        .expect("reloaded within the wait")
        .unwrap();

    // New connections use the new configuration: the old CA's certificate is refused, the new
    // CA's accepted.
    assert!(app.send_with(&old_client, &post()).await.is_err());
    let new_client = client(&dir, &ca, Some(&new_ca.client(PAYER)));
    assert_eq!(
        app.send_with(&new_client, &post()).await.unwrap().status,
        202
    );

    // A half-written rotation (a key that is not the certificate's) keeps the working
    // configuration (`ferroloop_tls`'s unit tests pin the rule; here: the listener still serves)
    // and the completed rotation is the next reload.
    dir.write("tls.key", &ca.server().key);
    assert_eq!(
        app.send_with(&new_client, &post()).await.unwrap().status,
        202
    );
    assert_eq!(*reloads.borrow_and_update(), 1);
    dir.write("tls.key", &server.key);
    dir.write("tls.crt", &server.cert);
    assert_eq!(
        app.send_with(&new_client, &post()).await.unwrap().status,
        202
    );
}

/// The certificate is the sender, whatever `FSPIOP-Proxy` says: the payee's certificate with
/// `FSPIOP-Proxy: payeefsp` and `FSPIOP-Source: payerfsp` would otherwise prepare a transfer
/// that debits the payer. Any `FSPIOP-Proxy` is refused (interscheme proxying is not
/// supported), and nothing reaches the broker.
#[tokio::test]
async fn a_certificate_cannot_speak_for_another_dfsp_through_fspiop_proxy() {
    let ca = TestCa::new("ferroloop test hub CA");
    let (app, dir) = start(&ca).await;
    let topics = app.kafka.topics();
    let payee = client(&dir, &ca, Some(&ca.client(PAYEE)));
    let payer = client(&dir, &ca, Some(&ca.client(PAYER)));

    // A DFSP acting for another through FSPIOP-Proxy: the payee's certificate, the proxy naming
    // it, the payer as source and payerFsp: a prepare debiting the payer.
    let steal = Req::post(&prepare_body(&new_id()))
        .with("FSPIOP-Source", Some(PAYER))
        .with("FSPIOP-Proxy", Some(PAYEE));
    assert_eq!(
        app.send_with(&payee, &steal).await.unwrap().error(),
        proxy_refused()
    );
    // The same for the payee's other requests on the payer's behalf …
    let error = Req::put_error(&new_id(), &error_body())
        .with("FSPIOP-Source", Some(PAYER))
        .with("FSPIOP-Proxy", Some(PAYEE));
    assert_eq!(
        app.send_with(&payee, &error).await.unwrap().error(),
        proxy_refused()
    );
    // … and a proxy header naming the certificate's own DFSP as its own source.
    let own = Req::post(&prepare_body(&new_id())).with("FSPIOP-Proxy", Some(PAYER));
    assert_eq!(
        app.send_with(&payer, &own).await.unwrap().error(),
        proxy_refused()
    );
    assert_eq!(produced_count(&app.kafka, &topics.prepare), 0);
    assert_eq!(produced_count(&app.kafka, &topics.fulfil), 0);

    // Without the header the payer's own request passes, with the certificate as principal.
    let id = new_id();
    let answer = app
        .send_with(&payer, &Req::post(&prepare_body(&id)))
        .await
        .unwrap();
    assert_eq!(answer.status, 202);
    let envelope = decode(&consume(&app.kafka, &topics.prepare, 1).await[0]);
    assert_eq!(envelope.id, id);
    let principal = envelope.principal().expect("principal");
    assert_eq!(
        (principal.fsp.as_str(), principal.authenticated_by),
        (PAYER, ferroloop_messaging::Authentication::Mtls)
    );
}

/// With client certificates required the adapter reports that senders are authenticated.
#[tokio::test]
async fn client_certificates_count_as_sender_authentication() {
    let ca = TestCa::new("ferroloop test hub CA");
    let (app, _dir) = start(&ca).await;
    let (_, metrics) = app.get_ops("/metrics").await;
    assert_eq!(
        metric(&metrics, "ferroloop_api_sender_authenticated"),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &metrics,
            "ferroloop_api_sender_authentication{method=\"mtls\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &metrics,
            "ferroloop_api_sender_authentication{method=\"jws\"}"
        ),
        Some(0.0)
    );
}
