//! Routes, what they put on the broker, and the adapter's own rules: path id, query, PATCH,
//! unknown paths, wrong methods, the completedTimestamp window, the body limit, a broker that
//! does not answer, health and metrics, and a graceful shutdown.

use std::collections::BTreeMap;
use std::time::Duration;

use ferroloop_messaging::envelope::{Payload, decode_data_uri};
use ferroloop_messaging::{Authentication, Envelope, KafkaArgs};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::common::*;
use crate::headers::wait_for_health;

const ULID: &str = "01HZX3NDEKTSV4RRFFQ69G5FAV";

/// Checks what every boundary envelope carries, and that the body travels byte for byte.
fn assert_carries(envelope: &Envelope, request: &Req, id: &str) {
    assert_eq!(envelope.id, id);
    assert_eq!(envelope.metadata.correlation_id, id);
    let state = &envelope.metadata.event.state;
    assert_eq!(
        (
            state.status.as_str(),
            &state.code,
            state.description.as_str()
        ),
        ("success", &json!(0), "action successful")
    );
    assert!(envelope.metadata.event.response_to.is_none());
    // Headers: every one received, names lower-cased, values as sent.
    for (name, value) in &request.headers {
        assert_eq!(
            envelope.header(&name.to_ascii_lowercase()),
            Some(value.as_str()),
            "header {name}"
        );
    }
    assert!(
        envelope
            .content
            .headers
            .keys()
            .all(|k| !k.bytes().any(|b| b.is_ascii_uppercase())),
        "{:?}",
        envelope.content.headers
    );
    let content_type = request.header("Content-Type").unwrap();
    assert_eq!(envelope.content_type, content_type);
    // The sender, as the adapter established it (no sender authentication configured here).
    let principal = envelope.principal().expect("the adapter's principal");
    assert_eq!(
        Some(principal.fsp.as_str()),
        request.header("FSPIOP-Source")
    );
    assert_eq!(principal.authenticated_by, Authentication::None);
    if request.method == "GET" {
        assert_eq!(envelope.content.payload, Payload::Json(json!({})));
        let context = envelope.content.context.as_ref().unwrap();
        assert!(context.original_request_payload.is_none());
        return;
    }
    let Payload::Text(uri) = &envelope.content.payload else {
        panic!("payload is a data URI: {:?}", envelope.content.payload);
    };
    assert!(
        uri.starts_with(&format!("data:{content_type};base64,")),
        "{uri}"
    );
    assert_eq!(decode_data_uri(uri).unwrap(), request.body, "exact bytes");
    let context = envelope.content.context.as_ref().unwrap();
    assert_eq!(
        context.original_request_payload.as_deref(),
        Some(uri.as_str())
    );
    assert_eq!(envelope.original_body().unwrap(), request.body);
}

#[tokio::test]
async fn each_route_answers_and_produces_the_boundary_envelope() {
    let app = TestApp::start().await;
    let topics = app.kafka.topics();

    // POST: odd whitespace, key order, escapes and non-ASCII survive byte for byte; the message
    // goes from the body's payer to its payee, whatever the headers say.
    let id = new_id();
    let body = format!(
        "{{\n  \"payeeFsp\" :\"{PAYEE}\",\t\"transferId\": \"{id}\",\r\n \"payerFsp\":\"{PAYER}\",  \
         \"amount\":{{\"amount\":\"1.5\",   \"currency\":\"XOF\"}},\"ilpPacket\":\"AYIB\",\
         \"condition\":\"GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM\",\"expiration\":\"2030-01-01T00:00:00.000Z\" ,\
         \"extensionList\":{{\"extension\":[{{\"value\":\"caf\\u00e9 – ü\",\"key\":\"k\"}}]}}}}\n\n"
    );
    let prepare = Req::new("POST", "/transfers")
        .body(body)
        .with(
            "Content-Type",
            Some("application/vnd.interoperability.transfers+json;version=1.0"),
        )
        .with("FSPIOP-Destination", Some("someone-else"))
        .with("X-Custom-Header", Some("Some Value"))
        .with(
            "FSPIOP-Signature",
            Some(r#"{"signature":"abc","protectedHeader":"def"}"#),
        )
        .with("FSPIOP-URI", Some("/transfers"))
        .with("FSPIOP-HTTP-Method", Some("POST"));
    let answer = app.send(&prepare).await;
    assert_eq!((answer.status, answer.body.as_slice()), (202, &b""[..]));

    let messages = consume(&app.kafka, &topics.prepare, 1).await;
    assert!(messages[0].key.is_none(), "produced without a key");
    let envelope = decode(&messages[0]);
    assert_carries(&envelope, &prepare, &id);
    assert_eq!(
        (envelope.from.as_str(), envelope.to.as_str()),
        (PAYER, PAYEE)
    );
    assert_eq!(
        (envelope.event_type(), envelope.action()),
        ("prepare", "prepare")
    );
    assert!(envelope.content.uri_params.is_none());

    // PUT by state, and PUT /error: all on the fulfil topic, from source to destination.
    let mut expected: BTreeMap<String, (Req, &str)> = BTreeMap::new();
    for (state, action) in [
        ("COMMITTED", "commit"),
        ("RESERVED", "reserve"),
        ("ABORTED", "reject"),
        ("RECEIVED", "commit"),
    ] {
        let id = new_id();
        let body = format!(
            "{{ \"transferState\" : \"{state}\" ,\n\"completedTimestamp\":\"{}\",\"fulfilment\":\"UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA\" }}",
            now_timestamp()
        );
        let request = Req::new("PUT", format!("/transfers/{id}"))
            .body(body)
            .with("Accept", None);
        let answer = app.send(&request).await;
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (200, &b""[..]),
            "{state}"
        );
        expected.insert(id, (request, action));
    }
    let error_request = Req::new("PUT", format!("/transfers/{ULID}/error")).body(
        "{\"errorInformation\":{\"errorDescription\":\"Payee rejected\",  \"errorCode\":\"5100\"}}",
    );
    let answer = app.send(&error_request).await;
    assert_eq!((answer.status, answer.body.as_slice()), (200, &b""[..]));
    expected.insert(ULID.to_owned(), (error_request, "abort"));

    let messages = consume(&app.kafka, &topics.fulfil, expected.len()).await;
    for message in &messages {
        assert!(message.key.is_none());
        let envelope = decode(message);
        let (request, action) = expected
            .remove(&envelope.id)
            .unwrap_or_else(|| panic!("unexpected message {}", envelope.id));
        let id = envelope.id.clone();
        assert_carries(&envelope, &request, &id);
        assert_eq!(
            (envelope.event_type(), envelope.action()),
            ("fulfil", action)
        );
        assert_eq!(
            (envelope.from.as_str(), envelope.to.as_str()),
            (PAYEE, PAYER)
        );
        assert_eq!(envelope.content.uri_params.as_ref().unwrap().id, id);
    }
    assert!(expected.is_empty(), "not produced: {expected:?}");

    // GET.
    let id = new_id();
    let get = Req::get(&id);
    let answer = app.send(&get).await;
    assert_eq!((answer.status, answer.body.as_slice()), (202, &b""[..]));
    let messages = consume(&app.kafka, &topics.get, 1).await;
    assert!(messages[0].key.is_none());
    let envelope = decode(&messages[0]);
    assert_carries(&envelope, &get, &id);
    assert_eq!((envelope.event_type(), envelope.action()), ("get", "get"));
    assert_eq!(
        (envelope.from.as_str(), envelope.to.as_str()),
        (PAYEE, PAYER)
    );
    assert_eq!(envelope.content.uri_params.as_ref().unwrap().id, id);
}

#[tokio::test]
async fn patch_unknown_paths_wrong_methods_path_ids_and_queries() {
    let app = TestApp::start().await;
    let id = new_id();
    let check = |answer: Answer, want: (u16, &str, String), what: &str| {
        assert_eq!(
            answer.error(),
            (want.0, want.1.to_owned(), want.2),
            "{what}"
        );
    };

    // PATCH is only ever sent by the hub: 501 / 2002 once the request is otherwise valid.
    let patch_body = json!({"completedTimestamp": now_timestamp(), "transferState": "COMMITTED"});
    let patch = Req::new("PATCH", format!("/transfers/{id}")).json(&patch_body);
    check(
        app.send(&patch).await,
        (501, "2002", "Not implemented".into()),
        "PATCH",
    );
    check(
        app.send(&patch.clone().json(&json!({"transferState": "COMMITTED"}))).await,
        (
            400,
            "3102",
            "Missing mandatory element - /requestBody must have required property 'completedTimestamp'".into(),
        ),
        "PATCH with an invalid body",
    );

    // Unknown paths.
    for path in [
        "/".to_owned(),
        "/foo".into(),
        "/transfer".into(),
        "/transfers/".into(),
        format!("/transfers/{id}/"),
        format!("/transfers/{id}/bar"),
        format!("/transfers/{id}/error/x"),
        "/health/x".into(),
    ] {
        check(
            app.send(&Req::new("GET", path.clone())).await,
            (404, "3002", "Unknown URI".into()),
            &path,
        );
    }

    // Known paths, other methods.
    for (method, path) in [
        ("GET", "/transfers".to_owned()),
        ("PUT", "/transfers".into()),
        ("PATCH", "/transfers".into()),
        ("DELETE", "/transfers".into()),
        ("POST", format!("/transfers/{id}")),
        ("DELETE", format!("/transfers/{id}")),
        ("GET", format!("/transfers/{id}/error")),
        ("POST", format!("/transfers/{id}/error")),
        ("PATCH", format!("/transfers/{id}/error")),
        ("POST", "/health".into()),
        ("OPTIONS", format!("/transfers/{id}")),
    ] {
        let request = Req::new(method, path.clone()).json(&prepare_body(&id));
        check(
            app.send(&request).await,
            (
                405,
                "3000",
                "Generic client error - Method Not Allowed".into(),
            ),
            &format!("{method} {path}"),
        );
    }

    // {ID} must be a transfer id: 3100 as openapi-backend words a path parameter pattern error.
    let path_error = description(
        "Generic validation error",
        &format!(
            "/path/ID must match pattern \"{}\"",
            yaml_pattern("CorrelationId")
        ),
    );
    for bad in [
        "not-a-transfer-id",
        "B51EC534-EE48-4575-B6A9-EAD2955B8069",
        "b51ec534-ee48-8575-b6a9-ead2955b8069",
        "01arz3ndektsv4rrffq69g5fav",
        "%62%35",
    ] {
        check(
            app.send(&Req::get(bad)).await,
            (400, "3100", path_error.clone()),
            &format!("GET {bad}"),
        );
        check(
            app.send(&Req::put(bad, &fulfil_body("COMMITTED"))).await,
            (400, "3100", path_error.clone()),
            &format!("PUT {bad}"),
        );
        check(
            app.send(&Req::put_error(bad, &error_body())).await,
            (400, "3100", path_error.clone()),
            &format!("PUT {bad}/error"),
        );
        check(
            app.send(&Req::new("PATCH", format!("/transfers/{bad}")).json(&patch_body))
                .await,
            (400, "3100", path_error.clone()),
            &format!("PATCH {bad}"),
        );
    }
    // The body is validated before the parameters (openapi-backend's order).
    check(
        app.send(&Req::put("bad", &json!({}))).await,
        (
            400,
            "3102",
            "Missing mandatory element - /requestBody must have required property 'transferState'"
                .into(),
        ),
        "bad id and bad body",
    );
    // ULIDs are transfer ids too.
    assert_eq!(app.send(&Req::get(ULID)).await.status, 202);
    assert_eq!(
        app.send(&Req::put(ULID, &fulfil_body("COMMITTED")))
            .await
            .status,
        200
    );

    // No transfer operation has query parameters.
    for query in ["a=1", "a", "transferId=x&b=2"] {
        check(
            app.send(&Req::new("GET", format!("/transfers/{id}?{query}")))
                .await,
            (
                400,
                "3103",
                "Too many elements - /query must NOT have additional properties".into(),
            ),
            query,
        );
    }
    let empty_query = Req::new("POST", "/transfers?").json(&prepare_body(&new_id()));
    assert_eq!(app.send(&empty_query).await.status, 202);
}

fn timestamp(offset: time::Duration) -> String {
    ferroloop_core::fspiop_time::format(OffsetDateTime::now_utc() + offset)
}

fn fulfil_at(completed: &str) -> Value {
    set(
        fulfil_body("COMMITTED"),
        "/completedTimestamp",
        json!(completed),
    )
}

#[tokio::test]
async fn completed_timestamp_window() {
    let future = (
        400,
        "3100".to_owned(),
        "Generic validation error - completedTimestamp fails because future timestamp was provided"
            .to_owned(),
    );
    let too_old = (
        400,
        "3100".to_owned(),
        "Generic validation error - completedTimestamp fails because provided timestamp exceeded the maximum timeout duration"
            .to_owned(),
    );

    // Mojaloop's defaults (docs/fspiop-api.md#the-completedtimestamp-window): 300 s back, 200 ms
    // ahead.
    let app = TestApp::start().await;
    let put = |offset: time::Duration| Req::put(&new_id(), &fulfil_at(&timestamp(offset)));
    assert_eq!(
        app.send(&put(time::Duration::seconds(5))).await.error(),
        future
    );
    assert_eq!(
        app.send(&put(time::Duration::seconds(-301))).await.error(),
        too_old
    );
    assert_eq!(
        app.send(&put(time::Duration::milliseconds(100)))
            .await
            .status,
        200
    );
    assert_eq!(
        app.send(&put(time::Duration::seconds(-290))).await.status,
        200
    );
    // Mojaloop skips the window for a proxied request; here a proxied request is refused before
    // the body is looked at (interscheme proxying is not supported).
    for offset in [time::Duration::seconds(5), time::Duration::seconds(-301)] {
        let proxied = put(offset).with("FSPIOP-Proxy", Some("proxy1"));
        assert_eq!(app.send(&proxied).await.error(), proxy_refused());
    }
    // Only PUT /transfers/{ID} has the window.
    let error = set(
        error_body(),
        "/errorInformation/extensionList/extension/0/value",
        json!(timestamp(time::Duration::days(-10))),
    );
    assert_eq!(
        app.send(&Req::put_error(&new_id(), &error)).await.status,
        200
    );
    drop(app);

    // Configured: 10 s back, 5 s ahead.
    let app = TestApp::start_with(|c| {
        c.max_fulfil_timeout_seconds = 10;
        c.max_callback_time_lag_ms = 5_000;
    })
    .await;
    assert_eq!(
        app.send(&put(time::Duration::seconds(-20))).await.error(),
        too_old
    );
    assert_eq!(
        app.send(&put(time::Duration::seconds(10))).await.error(),
        future
    );
    assert_eq!(app.send(&put(time::Duration::seconds(3))).await.status, 200);
    assert_eq!(
        app.send(&put(time::Duration::seconds(-5))).await.status,
        200
    );
}

/// A prepare body padded with spaces to exactly `len` bytes.
fn padded_prepare(len: usize) -> Vec<u8> {
    let mut body = serde_json::to_vec(&prepare_body(&new_id())).unwrap();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

#[tokio::test]
async fn body_size_limit() {
    let too_large = (
        400,
        "3104".to_owned(),
        "Too large payload - Payload size is too large".to_owned(),
    );
    // The default: 64 KiB.
    let app = TestApp::start().await;
    let at_limit = Req::new("POST", "/transfers").body(padded_prepare(65_536));
    assert_eq!(app.send(&at_limit).await.status, 202);
    let over = Req::new("POST", "/transfers").body(padded_prepare(65_537));
    assert_eq!(app.send(&over).await.error(), too_large);
    // Without a Content-Length (chunked) the limit applies while reading.
    assert_eq!(raw(app.addr, &at_limit, true).await.status, 202);
    assert_eq!(raw(app.addr, &over, true).await.error(), too_large);
    // A declared length over the limit is refused before headers are looked at.
    let bad_headers = over.clone().with("Date", None);
    assert_eq!(app.send(&bad_headers).await.error(), too_large);
    drop(app);

    // Configured.
    let app = TestApp::start_with(|c| c.max_body_bytes = 2_048).await;
    let at_limit = Req::new("POST", "/transfers").body(padded_prepare(2_048));
    assert_eq!(app.send(&at_limit).await.status, 202);
    let over = Req::new("POST", "/transfers").body(padded_prepare(2_049));
    assert_eq!(app.send(&over).await.error(), too_large);
    assert_eq!(raw(app.addr, &over, true).await.error(), too_large);
    let put = Req::new("PUT", format!("/transfers/{}", new_id())).body(vec![b' '; 4_000]);
    assert_eq!(app.send(&put).await.error(), too_large);
}

#[tokio::test]
async fn a_broker_that_does_not_acknowledge_is_500_2001() {
    // Nothing listens on port 1; messages time out after 1.5 s.
    let mut kafka = KafkaArgs::local("127.0.0.1:1", format!("ft-dead-{}-", new_id()));
    kafka.kafka_message_timeout_ms = 1_500;
    let app = TestApp::start_on(kafka, None, |c| {
        c.kafka.broker_health_check_interval_ms = 200
    })
    .await;
    let internal = (500, "2001".to_owned(), "Internal server error".to_owned());
    assert_eq!(
        app.send(&Req::post(&prepare_body(&new_id()))).await.error(),
        internal
    );
    assert_eq!(app.send(&Req::get(&new_id())).await.error(), internal);
    assert_eq!(
        app.send(&Req::put(&new_id(), &fulfil_body("COMMITTED")))
            .await
            .error(),
        internal
    );
    // Validation still answers without the broker.
    assert_eq!(
        app.send(&Req::get(&new_id()).with("Date", None))
            .await
            .error()
            .1,
        "3102"
    );

    let health = app
        .send(&Req {
            method: "GET".into(),
            path: "/health".into(),
            headers: vec![("Accept".into(), "application/json".into())],
            body: Vec::new(),
        })
        .await;
    assert_eq!(health.status, 502);
    let health = health.json();
    assert_eq!(health["status"], "DOWN");
    assert_eq!(
        health["services"],
        json!([{"name": "broker", "status": "DOWN"}])
    );
    let (status, text) = app.get_ops("/health/ready").await;
    assert_eq!(status, 503);
    assert!(text.contains("broker"), "{text}");
}

#[tokio::test]
async fn health_and_metrics() {
    let app = TestApp::start().await;
    wait_for_health(&app).await;
    let health = app
        .send(&Req {
            method: "GET".into(),
            path: "/health".into(),
            headers: vec![("Accept".into(), "application/json".into())],
            body: Vec::new(),
        })
        .await;
    assert_eq!(health.status, 200);
    let health = health.json();
    assert_eq!(health["status"], "OK");
    assert_eq!(
        health["services"],
        json!([{"name": "broker", "status": "OK"}])
    );
    assert!(health["uptime"].is_number());
    assert!(health["startTime"].is_string());
    assert_eq!(health["versionNumber"], env!("CARGO_PKG_VERSION"));

    assert_eq!(app.get_ops("/health/live").await.0, 200);
    assert_eq!(app.get_ops("/health/ready").await, (200, "READY".into()));
    // Operations endpoints are not on the FSPIOP port.
    assert_eq!(
        app.send(&Req::new("GET", "/metrics")).await.error().1,
        "3002"
    );

    assert_eq!(
        app.send(&Req::post(&prepare_body(&new_id()))).await.status,
        202
    );
    assert_eq!(app.send(&Req::get("bad")).await.status, 400);
    let (status, metrics) = app.get_ops("/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        r#"ferroloop_api_requests_total{route="/transfers",method="POST",status="202"} 1"#,
        r#"ferroloop_api_requests_total{route="/transfers/{ID}",method="GET",status="400"} 1"#,
        r#"ferroloop_api_produce_seconds_count{topic="prepare"} 1"#,
        "ferroloop_api_request_seconds",
    ] {
        assert!(metrics.contains(expected), "{expected} in\n{metrics}");
    }
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_then_stops() {
    let mut app = TestApp::start().await;
    // A prepare whose body is still arriving when the shutdown starts.
    let request = Req::new("POST", "/transfers").json(&prepare_body(&new_id()));
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(&raw_head(app.addr, &request, true))
        .await
        .unwrap();
    let (first, rest) = request.body.split_at(10);
    stream
        .write_all(format!("{:x}\r\n", first.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(first).await.unwrap();
    stream.write_all(b"\r\n").await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // No new connections are served.
    let refused = match TcpStream::connect(app.addr).await {
        Err(_) => true,
        Ok(late) => {
            let late_request = Req::get(&new_id());
            let mut late = late;
            let _ = late
                .write_all(&raw_head(app.addr, &late_request, false))
                .await;
            let mut buf = [0u8; 1];
            matches!(
                tokio::time::timeout(
                    Duration::from_secs(2),
                    tokio::io::AsyncReadExt::read(&mut late, &mut buf)
                )
                .await,
                Ok(Ok(0) | Err(_)) | Err(_)
            )
        }
    };
    assert!(
        refused,
        "a new connection after the shutdown began was served"
    );

    // The request in flight completes.
    stream
        .write_all(format!("{:x}\r\n", rest.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(rest).await.unwrap();
    stream.write_all(b"\r\n0\r\n\r\n").await.unwrap();
    let answer = read_answer(stream).await;
    assert_eq!(answer.status, 202);
    app.stop().await;
    // And its message is on the topic.
    let messages = consume(&app.kafka, &app.kafka.topics().prepare, 1).await;
    assert_eq!(decode(&messages[0]).original_body().unwrap(), request.body);
}

#[tokio::test]
async fn requests_in_flight_are_bounded_and_have_a_deadline() {
    let app = TestApp::start_with(|c| {
        c.max_concurrent_requests = 1;
        c.request_timeout_ms = 2_000;
    })
    .await;
    // A prepare whose body never completes holds the only slot until its deadline.
    let slow = Req::new("POST", "/transfers").json(&prepare_body(&new_id()));
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(&raw_head(app.addr, &slow, true))
        .await
        .unwrap();
    stream.write_all(b"5\r\n{\"tra\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let slow_answer = tokio::spawn(read_answer(stream));

    // A second request waits for the slot, then is served within its own deadline.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let waited = std::time::Instant::now();
    let answer = app.send(&Req::get(&new_id())).await;
    assert_eq!(answer.status, 202);
    assert!(
        waited.elapsed() >= Duration::from_millis(700),
        "the second request waited for the slot ({:?})",
        waited.elapsed()
    );

    let slow_answer = slow_answer.await.unwrap();
    assert_eq!(
        slow_answer.error(),
        (500, "2004".to_owned(), "Server timed out".to_owned())
    );
    assert!(started.elapsed() >= Duration::from_millis(2_000));
}
