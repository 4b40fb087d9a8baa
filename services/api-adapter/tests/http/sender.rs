//! Who sent a request: the authenticated sender must be `FSPIOP-Source`, `FSPIOP-Proxy` never
//! widens it, the gateway's `X-Client-Id` counts only when the gateway is configured (and is then
//! required), no DFSP sends as the hub, and the principal in the envelope says how the sender was
//! established. mTLS and JWS cases are in `tls.rs` and `signatures.rs`.

use ferroloop_messaging::Authentication;

use crate::common::*;

fn invalid_source() -> (u16, String, String) {
    (
        400,
        "3100".to_owned(),
        "Generic validation error - Invalid fspiop-source header".to_owned(),
    )
}

fn client_id_required() -> (u16, String, String) {
    (
        400,
        "3100".to_owned(),
        "Generic validation error - X-Client-Id is required: requests must come through the authenticating gateway"
            .to_owned(),
    )
}

async fn gateway() -> TestApp {
    TestApp::start_with(|c| c.gateway_authentication = true).await
}

/// Behind an authenticating gateway: the payee's gateway identity with `FSPIOP-Proxy` naming it
/// and the payer as source is refused, whatever the proxy says; so is any proxy header.
#[tokio::test]
async fn a_gateway_identity_cannot_speak_for_another_dfsp_through_fspiop_proxy() {
    let app = gateway().await;
    let topics = app.kafka.topics();
    let steal = Req::post(&prepare_body(&new_id()))
        .with("FSPIOP-Source", Some(PAYER))
        .with("FSPIOP-Proxy", Some(PAYEE))
        .with("X-Client-Id", Some(PAYEE));
    assert_eq!(app.send(&steal).await.error(), proxy_refused());
    let own = Req::post(&prepare_body(&new_id()))
        .with("FSPIOP-Proxy", Some(PAYER))
        .with("X-Client-Id", Some(PAYER));
    assert_eq!(app.send(&own).await.error(), proxy_refused());
    // Mojaloop's rule compared X-Client-Id with the proxy: now the source, always.
    let other = Req::post(&prepare_body(&new_id())).with("X-Client-Id", Some(PAYEE));
    assert_eq!(app.send(&other).await.error(), invalid_source());
    assert_eq!(produced_count(&app.kafka, &topics.prepare), 0);

    // Without a gateway configured the proxy is refused just the same.
    let plain = TestApp::start().await;
    let topics = plain.kafka.topics();
    assert_eq!(plain.send(&steal).await.error(), proxy_refused());
    let unauthenticated = Req::put(&new_id(), &fulfil_body("COMMITTED"))
        .with("FSPIOP-Source", Some(PAYER))
        .with("FSPIOP-Proxy", Some(PAYEE));
    assert_eq!(plain.send(&unauthenticated).await.error(), proxy_refused());
    assert_eq!(produced_count(&plain.kafka, &topics.prepare), 0);
    assert_eq!(produced_count(&plain.kafka, &topics.fulfil), 0);
}

/// In gateway mode every transfer request needs `X-Client-Id`: one without it did not come
/// through the gateway, so nobody vouches for its source.
#[tokio::test]
async fn gateway_mode_requires_x_client_id() {
    let app = gateway().await;
    let topics = app.kafka.topics();
    for request in [
        Req::post(&prepare_body(&new_id())),
        Req::put(&new_id(), &fulfil_body("COMMITTED")),
        Req::put_error(&new_id(), &error_body()),
        Req::get(&new_id()),
    ] {
        assert_eq!(
            app.send(&request).await.error(),
            client_id_required(),
            "{} {}",
            request.method,
            request.path
        );
        assert_eq!(
            app.send(&request.clone().with("X-Client-Id", Some("")))
                .await
                .error(),
            client_id_required()
        );
    }
    assert_eq!(produced_count(&app.kafka, &topics.prepare), 0);
    assert_eq!(produced_count(&app.kafka, &topics.fulfil), 0);
    assert_eq!(produced_count(&app.kafka, &topics.get), 0);

    // With it, the request passes and the gateway is the principal.
    let id = new_id();
    let post = Req::post(&prepare_body(&id)).with("X-Client-Id", Some(PAYER));
    assert_eq!(app.send(&post).await.status, 202);
    let envelope = decode(&consume(&app.kafka, &topics.prepare, 1).await[0]);
    assert_eq!(envelope.id, id);
    assert_eq!(
        envelope
            .principal()
            .map(|p| (p.fsp.as_str(), p.authenticated_by)),
        Some((PAYER, Authentication::Gateway))
    );
    let (_, metrics) = app.get_ops("/metrics").await;
    assert_eq!(
        metric(
            &metrics,
            "ferroloop_api_sender_authentication{method=\"gateway\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&metrics, "ferroloop_api_sender_authenticated"),
        Some(1.0)
    );
}

/// Without sender authentication the principal is the source as written, marked `none`, even
/// when an (optional, so unauthenticating) `X-Client-Id` agrees with it; the adapter says so on
/// its metrics.
#[tokio::test]
async fn without_sender_authentication_the_principal_is_unauthenticated() {
    let app = TestApp::start().await;
    let topics = app.kafka.topics();
    let post = Req::post(&prepare_body(&new_id())).with("X-Client-Id", Some(PAYER));
    assert_eq!(app.send(&post).await.status, 202);
    // Mojaloop's comparison still applies to a present X-Client-Id.
    let other = Req::post(&prepare_body(&new_id())).with("X-Client-Id", Some(PAYEE));
    assert_eq!(app.send(&other).await.error(), invalid_source());
    let envelope = decode(&consume(&app.kafka, &topics.prepare, 1).await[0]);
    assert_eq!(
        envelope
            .principal()
            .map(|p| (p.fsp.as_str(), p.authenticated_by)),
        Some((PAYER, Authentication::None))
    );
    let (_, metrics) = app.get_ops("/metrics").await;
    assert_eq!(
        metric(&metrics, "ferroloop_api_sender_authenticated"),
        Some(0.0)
    );
    for method in ["mtls", "gateway", "jws"] {
        assert_eq!(
            metric(
                &metrics,
                &format!("ferroloop_api_sender_authentication{{method=\"{method}\"}}")
            ),
            Some(0.0),
            "{method}"
        );
    }
}

/// No DFSP sends as the hub: `FSPIOP-Source` equal to the hub's participant name (`HUB_NAME`)
/// is refused before anything is produced, on every operation.
#[tokio::test]
async fn no_dfsp_sends_as_the_hub() {
    let app = TestApp::start_with(|c| c.hub_name = "Switch".into()).await;
    let topics = app.kafka.topics();
    let as_hub = (
        400,
        "3100".to_owned(),
        "Generic validation error - FSPIOP-Source must not be the hub's own name".to_owned(),
    );
    let id = new_id();
    for request in [
        Req::post(&set(prepare_body(&id), "/payerFsp", "Switch".into())),
        Req::put(&id, &fulfil_body("COMMITTED")),
        Req::put_error(&id, &error_body()),
        Req::get(&id),
    ] {
        let request = request.with("FSPIOP-Source", Some("Switch"));
        assert_eq!(
            app.send(&request).await.error(),
            as_hub,
            "{} {}",
            request.method,
            request.path
        );
    }
    assert_eq!(produced_count(&app.kafka, &topics.prepare), 0);
    assert_eq!(produced_count(&app.kafka, &topics.fulfil), 0);
    assert_eq!(produced_count(&app.kafka, &topics.get), 0);
    // Names compare exactly: another spelling is some other participant's (or nobody's) name,
    // which the handlers judge.
    let put = Req::put(&new_id(), &fulfil_body("COMMITTED")).with("FSPIOP-Source", Some("switch"));
    assert_eq!(app.send(&put).await.status, 200);
}
