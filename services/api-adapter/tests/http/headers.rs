//! Every header rule of docs/fspiop-api.md#header-rules through HTTP: status, errorCode, exact
//! errorDescription (and the supported-versions extension list of 3001).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::common::*;

const TRANSFERS_JSON: &str = "application/vnd.interoperability.transfers+json";

struct Row {
    name: String,
    request: Req,
    expected: Expected,
}

enum Expected {
    Success(u16),
    Error {
        status: u16,
        code: &'static str,
        description: String,
        extension_list: Option<Value>,
    },
}

fn error(status: u16, code: &'static str, description: &str) -> Expected {
    Expected::Error {
        status,
        code,
        description: description.to_owned(),
        extension_list: None,
    }
}

/// ml-api-adapter's defaults: FSPIOP 1.x (2.0 only with `PROTOCOL_VERSIONS_ENABLE_2_0`).
fn accept_versions() -> Value {
    json!({"extension": [
        {"key": "1", "value": "0"},
        {"key": "1", "value": "1"}
    ]})
}

fn content_versions() -> Value {
    json!({"extension": [
        {"key": "1", "value": "1"},
        {"key": "1", "value": "0"}
    ]})
}

/// A valid request of each kind, and its success status.
fn requests() -> Vec<(&'static str, Req, u16)> {
    vec![
        ("POST /transfers", Req::post(&prepare_body(&new_id())), 202),
        ("GET /transfers/{ID}", Req::get(&new_id()), 202),
        (
            "PUT /transfers/{ID}",
            Req::put(&new_id(), &fulfil_body("COMMITTED")),
            200,
        ),
        (
            "PUT /transfers/{ID}/error",
            Req::put_error(&new_id(), &error_body()),
            200,
        ),
    ]
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let mut row = |name: String, request: Req, expected: Expected| {
        rows.push(Row {
            name,
            request,
            expected,
        });
    };
    for (kind, request, ok) in requests() {
        let is_put = request.method == "PUT";
        // As sent: valid.
        row(
            format!("{kind}: valid"),
            request.clone(),
            Expected::Success(ok),
        );

        // Accept: required for GET and POST, optional (validated when present) for PUT.
        row(
            format!("{kind}: Accept missing"),
            request.clone().with("Accept", None),
            if is_put {
                Expected::Success(ok)
            } else {
                error(
                    400,
                    "3102",
                    "Missing mandatory element - Accept is required",
                )
            },
        );
        row(
            format!("{kind}: Accept empty"),
            request.clone().with("Accept", Some("")),
            if is_put {
                Expected::Success(ok)
            } else {
                error(400, "3101", "Malformed syntax - Invalid accept header")
            },
        );
        for malformed in [
            "application/json",
            "application/vnd.interoperability.quotes+json;version=1",
            "application/vnd.interoperability.transfers+json;version=",
            "application/vnd.interoperability.transfers+json;version=1.1.1",
            "application/vnd.interoperability.transfers+json;version=1, application/vnd.interoperability.transfers+json;version=2",
            "application/vnd.interoperability.transfers+json; charset=utf-8",
        ] {
            row(
                format!("{kind}: Accept {malformed:?}"),
                request.clone().with("Accept", Some(malformed)),
                error(400, "3101", "Malformed syntax - Invalid accept header"),
            );
        }
        for unsupported in ["3", "3.0", "1.2", "01", "2", "2.0"] {
            row(
                format!("{kind}: Accept version {unsupported}"),
                request
                    .clone()
                    .with("Accept", Some(&format!("{TRANSFERS_JSON};version={unsupported}"))),
                Expected::Error {
                    status: 406,
                    code: "3001",
                    description: "Unacceptable version requested - The Client requested an unsupported version, see extension list for supported version(s).".into(),
                    extension_list: Some(accept_versions()),
                },
            );
        }
        for supported in [
            TRANSFERS_JSON.to_owned(),
            format!("{TRANSFERS_JSON};version=1"),
            format!("{TRANSFERS_JSON};version=1.0"),
            format!("{TRANSFERS_JSON} ; version=1.1"),
            format!("{TRANSFERS_JSON};version=3,{TRANSFERS_JSON};version=1"),
        ] {
            row(
                format!("{kind}: Accept {supported:?}"),
                request.clone().with("Accept", Some(&supported)),
                Expected::Success(ok),
            );
        }

        // Content-Type: always required, GET included.
        row(
            format!("{kind}: Content-Type missing"),
            request.clone().with("Content-Type", None),
            error(
                400,
                "3102",
                "Missing mandatory element - Content-type is required",
            ),
        );
        for malformed in [
            "",
            "application/json",
            TRANSFERS_JSON,
            "application/vnd.interoperability.transfers+json;version=1",
            "application/vnd.interoperability.transfers+json;version=1.1;charset=utf-8",
            "application/vnd.interoperability.transfers+json;  version=1.1",
        ] {
            row(
                format!("{kind}: Content-Type {malformed:?}"),
                request.clone().with("Content-Type", Some(malformed)),
                error(
                    400,
                    "3101",
                    "Malformed syntax - Invalid content-type header",
                ),
            );
        }
        for unsupported in ["2.1", "1.2", "3.0", "2.0"] {
            row(
                format!("{kind}: Content-Type version {unsupported}"),
                request.clone().with(
                    "Content-Type",
                    Some(&format!("{TRANSFERS_JSON};version={unsupported}")),
                ),
                Expected::Error {
                    status: 406,
                    code: "3001",
                    description: "Unacceptable version requested - Client supplied a protocol version which is not supported by the server".into(),
                    extension_list: Some(content_versions()),
                },
            );
        }
        for supported in ["1.0", "1.1"] {
            row(
                format!("{kind}: Content-Type version {supported}"),
                request.clone().with(
                    "Content-Type",
                    Some(&format!("{TRANSFERS_JSON} ; version={supported}")),
                ),
                Expected::Success(ok),
            );
        }

        // Date: always required, RFC 1123.
        row(
            format!("{kind}: Date missing"),
            request.clone().with("Date", None),
            error(
                400,
                "3102",
                "Missing mandatory element - Missing required date header",
            ),
        );
        for invalid in [
            "2030-01-01T00:00:00.000Z",
            "Tue, 1 Jan 2030 00:00:00 GMT",
            "Wed, 01 Jan 2030 00:00:00 GMT",
            "Tue, 01 Jan 2030 00:00:00 UTC",
            "Tuesday, 01-Jan-30 00:00:00 GMT",
        ] {
            row(
                format!("{kind}: Date {invalid:?}"),
                request.clone().with("Date", Some(invalid)),
                error(400, "3101", "Malformed syntax - Invalid date header"),
            );
        }
        // Within FSPIOP_DATE_MAX_SKEW_SECONDS (300 s) either way: fine; beyond: a replay.
        let near = Duration::from_secs(240);
        for (what, at) in [
            ("earlier", SystemTime::now() - near),
            ("later", SystemTime::now() + near),
        ] {
            let date = httpdate::fmt_http_date(at);
            row(
                format!("{kind}: Date 240 s {what}"),
                request.clone().with("Date", Some(&date)),
                Expected::Success(ok),
            );
        }
        for date in [
            "Thu, 29 Feb 2024 23:59:59 GMT",
            "Tue, 01 Jan 2036 00:00:00 GMT",
        ] {
            row(
                format!("{kind}: Date {date} outside the window"),
                request.clone().with("Date", Some(date)),
                error(
                    400,
                    "3100",
                    "Generic validation error - Date header is outside the accepted window of ±300 s",
                ),
            );
        }

        // FSPIOP-Source: required (and non-empty); FSPIOP-Destination optional.
        for source in [None, Some("")] {
            row(
                format!("{kind}: FSPIOP-Source {source:?}"),
                request.clone().with("FSPIOP-Source", source),
                error(
                    400,
                    "3102",
                    "Missing mandatory element - /header must have required property 'fspiop-source'",
                ),
            );
        }
        row(
            format!("{kind}: FSPIOP-Destination missing"),
            request.clone().with("FSPIOP-Destination", None),
            Expected::Success(ok),
        );

        // A gateway's X-Client-Id must be the source; FSPIOP-Proxy is refused, whatever the
        // client id (Mojaloop compared the client id with the proxy instead: the rule that let
        // one DFSP speak for another).
        let source = request.header("FSPIOP-Source").unwrap().to_owned();
        row(
            format!("{kind}: X-Client-Id = source"),
            request.clone().with("X-Client-Id", Some(&source)),
            Expected::Success(ok),
        );
        row(
            format!("{kind}: X-Client-Id ≠ source"),
            request.clone().with("X-Client-Id", Some("someone-else")),
            error(
                400,
                "3100",
                "Generic validation error - Invalid fspiop-source header",
            ),
        );
        let (status, code, description) = proxy_refused();
        for client_id in [source.as_str(), "proxy1"] {
            row(
                format!("{kind}: FSPIOP-Proxy with X-Client-Id {client_id}"),
                request
                    .clone()
                    .with("X-Client-Id", Some(client_id))
                    .with("FSPIOP-Proxy", Some("proxy1")),
                error(status, "3100", &description),
            );
            assert_eq!(code, "3100");
        }

        // The first failure wins: Accept, then Date, then Content-Type, then FSPIOP-Source.
        let bare = request
            .clone()
            .with("Date", None)
            .with("Content-Type", None)
            .with("FSPIOP-Source", None);
        row(
            format!("{kind}: Date, Content-Type and Source missing"),
            bare.clone(),
            error(
                400,
                "3102",
                "Missing mandatory element - Missing required date header",
            ),
        );
        if !is_put {
            row(
                format!("{kind}: everything missing"),
                bare.with("Accept", None),
                error(
                    400,
                    "3102",
                    "Missing mandatory element - Accept is required",
                ),
            );
        }
    }

    // Headers are checked before routing on the transfers resource: an unknown path or a
    // method without a route still gets the header error first.
    let id = new_id();
    row(
        "DELETE /transfers/{ID}: Accept missing".into(),
        Req::new("DELETE", format!("/transfers/{id}")).with("Accept", None),
        error(
            400,
            "3102",
            "Missing mandatory element - Accept is required",
        ),
    );
    row(
        "GET /transfers/{ID}/x: Date missing".into(),
        Req::new("GET", format!("/transfers/{id}/x")).with("Date", None),
        error(
            400,
            "3102",
            "Missing mandatory element - Missing required date header",
        ),
    );
    // Outside the validated resources nothing is required.
    row(
        "GET /health: no FSPIOP headers".into(),
        Req {
            method: "GET".into(),
            path: "/health".into(),
            headers: vec![("Accept".into(), "application/json".into())],
            body: Vec::new(),
        },
        Expected::Success(200),
    );
    rows
}

#[tokio::test]
async fn header_rules_of_reference_1_2() {
    let app = TestApp::start().await;
    // /health is 200 once the broker probe answered.
    wait_for_health(&app).await;
    let mut failures = Vec::new();
    let rows = rows();
    for row in &rows {
        let answer = app.send(&row.request).await;
        match &row.expected {
            Expected::Success(status) => {
                if answer.status != *status {
                    failures.push(format!(
                        "{}: expected {status}, got {} {}",
                        row.name,
                        answer.status,
                        String::from_utf8_lossy(&answer.body)
                    ));
                }
            }
            Expected::Error {
                status,
                code,
                description,
                extension_list,
            } => {
                let got = answer.error();
                let want = (*status, (*code).to_owned(), description.clone());
                if got != want {
                    failures.push(format!("{}: expected {want:?}, got {got:?}", row.name));
                    continue;
                }
                let list = &answer.json()["errorInformation"]["extensionList"];
                let want_list = extension_list.clone().unwrap_or(Value::Null);
                if *list != want_list {
                    failures.push(format!(
                        "{}: extension list {list}, expected {want_list}",
                        row.name
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

pub async fn wait_for_health(app: &TestApp) {
    let request = Req {
        method: "GET".into(),
        path: "/health".into(),
        headers: vec![("Accept".into(), "application/json".into())],
        body: Vec::new(),
    };
    tokio::time::timeout(WAIT, async {
        while app.send(&request).await.status != 200 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("/health reports OK");
}

/// FSPIOP 2.0 is one setting away: `PROTOCOL_VERSIONS_ENABLE_2_0=true` accepts it in `Accept`
/// and `Content-Type` (refused by default: `header_rules_of_reference_1_2`).
#[tokio::test]
async fn version_2_0_is_accepted_once_enabled() {
    let app = TestApp::start_with(|c| c.enable_2_0 = true).await;
    wait_for_health(&app).await;
    for (name, value) in [
        ("Accept", format!("{TRANSFERS_JSON};version=2")),
        ("Accept", format!("{TRANSFERS_JSON};version=2.0")),
        ("Content-Type", format!("{TRANSFERS_JSON};version=2.0")),
    ] {
        let request = Req::post(&prepare_body(&new_id())).with(name, Some(&value));
        let answer = app.send(&request).await;
        assert_eq!(
            answer.status,
            202,
            "{name}: {value}: {}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    // The 3001 list names 2.0 too.
    let request = Req::post(&prepare_body(&new_id())).with(
        "Content-Type",
        Some(&format!("{TRANSFERS_JSON};version=3.0")),
    );
    let answer = app.send(&request).await;
    assert_eq!(
        answer.json()["errorInformation"]["extensionList"],
        json!({"extension": [
            {"key": "1", "value": "1"},
            {"key": "1", "value": "0"},
            {"key": "2", "value": "0"}
        ]})
    );
}
