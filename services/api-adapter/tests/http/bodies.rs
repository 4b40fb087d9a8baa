//! Body validation through HTTP for POST /transfers, PUT /transfers/{ID} and
//! PUT /transfers/{ID}/error: every pattern of the adapter's OpenAPI file with valid and invalid
//! examples, enumerations, lengths, item counts, required and additional members, types and
//! malformed JSON — each asserted end to end (HTTP status, errorCode, exact errorDescription).
//! Pattern texts in the expected descriptions are read from the OpenAPI file.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::common::*;

const GENERIC: &str = "Generic validation error";
const MALFORMED: &str = "Malformed syntax";
const MISSING: &str = "Missing mandatory element";
const TOO_MANY: &str = "Too many elements";

/// Which request a body goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Post,
    Put,
    PutError,
}

impl Kind {
    fn request(self, body: Vec<u8>) -> Req {
        let id = new_id();
        match self {
            Kind::Post => Req::new("POST", "/transfers"),
            Kind::Put => Req::new("PUT", format!("/transfers/{id}")),
            Kind::PutError => Req::new("PUT", format!("/transfers/{id}/error")),
        }
        .body(body)
    }

    fn success(self) -> u16 {
        match self {
            Kind::Post => 202,
            Kind::Put | Kind::PutError => 200,
        }
    }

    fn valid_body(self) -> Value {
        match self {
            Kind::Post => prepare_body(&new_id()),
            Kind::Put => fulfil_body("COMMITTED"),
            Kind::PutError => error_body(),
        }
    }
}

struct Case {
    name: String,
    kind: Kind,
    body: Vec<u8>,
    /// `None`: accepted; else (code, exact description).
    error: Option<(&'static str, String)>,
}

#[derive(Default)]
struct Cases(Vec<Case>);

impl Cases {
    fn ok(&mut self, kind: Kind, name: impl Into<String>, body: &Value) {
        self.raw(kind, name, serde_json::to_vec(body).unwrap(), None);
    }

    fn fail(
        &mut self,
        kind: Kind,
        name: impl Into<String>,
        body: &Value,
        code: &'static str,
        message: &str,
        detail: &str,
    ) {
        self.raw(
            kind,
            name,
            serde_json::to_vec(body).unwrap(),
            Some((code, description(message, detail))),
        );
    }

    fn raw(
        &mut self,
        kind: Kind,
        name: impl Into<String>,
        body: Vec<u8>,
        error: Option<(&'static str, String)>,
    ) {
        self.0.push(Case {
            name: format!("{kind:?} {}", name.into()),
            kind,
            body,
            error,
        });
    }

    /// Valid and invalid values of a pattern-checked member.
    fn pattern(
        &mut self,
        kind: Kind,
        pointer: &str,
        schema: &str,
        valid: &[&str],
        invalid: &[&str],
    ) {
        let pattern = yaml_pattern(schema);
        for v in valid {
            self.ok(
                kind,
                format!("{pointer} = {v:?}"),
                &set(kind.valid_body(), pointer, json!(v)),
            );
        }
        for v in invalid {
            self.fail(
                kind,
                format!("{pointer} = {v:?}"),
                &set(kind.valid_body(), pointer, json!(v)),
                "3100",
                GENERIC,
                &format!("/requestBody{pointer} must match pattern \"{pattern}\""),
            );
        }
    }

    /// A value of the wrong type.
    fn not_a(&mut self, kind: Kind, pointer: &str, value: Value, expected: &str) {
        self.fail(
            kind,
            format!("{pointer} = {value}"),
            &set(kind.valid_body(), pointer, value),
            "3101",
            MALFORMED,
            &format!("/requestBody{pointer} must be {expected}"),
        );
    }

    /// A string at, and one over, a length limit; and one under a minimum.
    fn lengths(&mut self, kind: Kind, pointer: &str, min: usize, max: usize, fill: char) {
        let at_max: String = std::iter::repeat_n(fill, max).collect();
        self.ok(
            kind,
            format!("{pointer} of {max} chars"),
            &set(kind.valid_body(), pointer, json!(at_max)),
        );
        let over: String = std::iter::repeat_n(fill, max + 1).collect();
        self.fail(
            kind,
            format!("{pointer} of {} chars", max + 1),
            &set(kind.valid_body(), pointer, json!(over)),
            "3100",
            GENERIC,
            &format!("/requestBody{pointer} must NOT have more than {max} characters"),
        );
        if min > 0 {
            let under: String = std::iter::repeat_n(fill, min - 1).collect();
            self.fail(
                kind,
                format!("{pointer} of {} chars", min - 1),
                &set(kind.valid_body(), pointer, json!(under)),
                "3100",
                GENERIC,
                &format!("/requestBody{pointer} must NOT have fewer than {min} characters"),
            );
        }
    }

    fn required(&mut self, kind: Kind, parent: &str, name: &str) {
        self.fail(
            kind,
            format!("{parent}/{name} missing"),
            &remove(kind.valid_body(), &format!("{parent}/{name}")),
            "3102",
            MISSING,
            &format!("/requestBody{parent} must have required property '{name}'"),
        );
    }

    fn additional(&mut self, kind: Kind, parent: &str) {
        self.fail(
            kind,
            format!("extra member in {parent:?}"),
            &set(
                kind.valid_body(),
                &format!("{parent}/unexpected"),
                json!("x"),
            ),
            "3103",
            TOO_MANY,
            &format!("/requestBody{parent} must NOT have additional properties"),
        );
    }

    /// The extension list rules at `pointer`.
    fn extension_list(&mut self, kind: Kind, pointer: &str) {
        let extension = |i: usize| json!({"key": format!("k{i}"), "value": "v"});
        let sixteen: Vec<Value> = (0..16).map(extension).collect();
        self.ok(
            kind,
            format!("{pointer} with 16 extensions"),
            &set(
                kind.valid_body(),
                &format!("{pointer}/extension"),
                json!(sixteen),
            ),
        );
        let seventeen: Vec<Value> = (0..17).map(extension).collect();
        self.fail(
            kind,
            format!("{pointer} with 17 extensions"),
            &set(
                kind.valid_body(),
                &format!("{pointer}/extension"),
                json!(seventeen),
            ),
            "3100",
            GENERIC,
            &format!("/requestBody{pointer}/extension must NOT have more than 16 items"),
        );
        self.fail(
            kind,
            format!("{pointer} with no extension"),
            &set(
                kind.valid_body(),
                &format!("{pointer}/extension"),
                json!([]),
            ),
            "3100",
            GENERIC,
            &format!("/requestBody{pointer}/extension must NOT have fewer than 1 items"),
        );
        self.required(kind, pointer, "extension");
        self.required(kind, &format!("{pointer}/extension/0"), "key");
        self.required(kind, &format!("{pointer}/extension/0"), "value");
        self.additional(kind, pointer);
        self.additional(kind, &format!("{pointer}/extension/0"));
        self.lengths(kind, &format!("{pointer}/extension/0/key"), 1, 32, 'k');
        self.lengths(kind, &format!("{pointer}/extension/0/value"), 1, 128, 'é');
        self.not_a(kind, &format!("{pointer}/extension"), json!({}), "array");
        self.not_a(
            kind,
            &format!("{pointer}/extension/0"),
            json!("k=v"),
            "object",
        );
        self.not_a(
            kind,
            &format!("{pointer}/extension/0/value"),
            json!(1),
            "string",
        );
    }

    /// What every body shares: not JSON, not an object, empty.
    fn whole_body(&mut self, kind: Kind) {
        for (name, body) in [
            ("truncated JSON", &br#"{"transferId": "#[..]),
            ("not JSON", b"transferId=1"),
            ("two documents", br#"{} {}"#),
        ] {
            self.raw(
                kind,
                name,
                body.to_vec(),
                Some((
                    "3101",
                    description(MALFORMED, "Invalid request payload JSON format"),
                )),
            );
        }
        for (name, body) in [
            ("empty body", &b""[..]),
            ("blank body", b" \r\n"),
            ("array", b"[]"),
            ("string", br#""x""#),
            ("null", b"null"),
        ] {
            self.raw(
                kind,
                name,
                body.to_vec(),
                Some((
                    "3101",
                    description(MALFORMED, "/requestBody must be object"),
                )),
            );
        }
        self.additional(kind, "");
    }
}

/// A `DateTime` of now in another offset (`+hh:mm`).
fn now_with_offset(hours: i8, minutes: i8) -> String {
    let offset = time::UtcOffset::from_hms(hours, minutes, 0).unwrap();
    OffsetDateTime::now_utc()
        .to_offset(offset)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
        ))
        .unwrap()
}

const DATE_TIME_INVALID: [&str; 15] = [
    "2030-01-01T00:00:00Z",
    "2030-01-01T00:00:00.00Z",
    "2030-01-01T00:00:00.0000Z",
    "2030-01-01T00:00:00.000",
    "2030-01-01 00:00:00.000Z",
    "2030-01-01T00:00:00.000z",
    "2023-02-29T00:00:00.000Z",
    "1900-02-29T00:00:00.000Z",
    "2030-04-31T00:00:00.000Z",
    "2030-13-01T00:00:00.000Z",
    "2030-01-01T24:00:00.000Z",
    "2030-01-01T00:60:00.000Z",
    "0999-01-01T00:00:00.000Z",
    "2030-01-01T00:00:00.000+2:00",
    "",
];

fn prepare_cases(cases: &mut Cases) {
    let k = Kind::Post;
    cases.ok(k, "as given", &k.valid_body());
    cases.ok(
        k,
        "without extensionList",
        &remove(k.valid_body(), "/extensionList"),
    );
    cases.whole_body(k);
    for name in [
        "transferId",
        "payeeFsp",
        "payerFsp",
        "amount",
        "ilpPacket",
        "condition",
        "expiration",
    ] {
        cases.required(k, "", name);
    }
    // Required members come before additional ones.
    cases.fail(
        k,
        "missing and extra members",
        &set(
            remove(k.valid_body(), "/condition"),
            "/unexpected",
            json!(1),
        ),
        "3102",
        MISSING,
        "/requestBody must have required property 'condition'",
    );

    cases.pattern(
        k,
        "/transferId",
        "CorrelationId",
        &[
            "b51ec534-ee48-4575-b6a9-ead2955b8069",
            "b51ec534-ee48-1575-86a9-ead2955b8069",
            "0190d5a4-2a3e-7c4f-9f2b-3c0c7e6c8a11",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        ],
        &[
            "B51EC534-EE48-4575-B6A9-EAD2955B8069",
            "b51ec534-ee48-8575-b6a9-ead2955b8069",
            "b51ec534-ee48-0575-b6a9-ead2955b8069",
            "b51ec534-ee48-4575-c6a9-ead2955b8069",
            "b51ec534ee484575b6a9ead2955b8069",
            "{b51ec534-ee48-4575-b6a9-ead2955b8069}",
            "01arz3ndektsv4rrffq69g5fav",
            "01ARZ3NDEKTSV4RRFFQ69G5FAI",
            "01ARZ3NDEKTSV4RRFFQ69G5FAL",
            "01ARZ3NDEKTSV4RRFFQ69G5FAO",
            "01ARZ3NDEKTSV4RRFFQ69G5FAU",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
            "",
        ],
    );
    cases.pattern(
        k,
        "/amount/amount",
        "Amount",
        &[
            "0",
            "1",
            "123.45",
            "0.0001",
            "1.1234",
            "100",
            "5.5",
            "999999999999999999",
            "999999999999999999.9999",
        ],
        &[
            "01",
            "1.0",
            "1.10",
            "1.",
            ".5",
            "-1",
            "+1",
            "1.12345",
            "1000000000000000000",
            "1e5",
            " 1",
            "1 ",
            "1,5",
            "0.0000",
            "",
        ],
    );
    cases.pattern(
        k,
        "/ilpPacket",
        "IlpPacket",
        &["AYIB", "abc=", "abc==", "a-_b", "Z"],
        &["abc===", "ab+c", "ab/c", "=abc", "a=b", "abc=\n"],
    );
    cases.lengths(k, "/ilpPacket", 1, 32_768, 'A');
    cases.pattern(
        k,
        "/condition",
        "IlpCondition",
        &[
            "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM",
            "___________________________________________",
        ],
        &[
            "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAf",
            "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfMM",
            "GRzLaTP7DJ9t4P+a/BA0WA9wzzlsugf00-Tn6kESAfM",
            "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAf=",
            "",
        ],
    );
    // maxLength 48 is checked before the pattern.
    cases.fail(
        k,
        "/condition of 49 chars",
        &set(k.valid_body(), "/condition", json!("A".repeat(49))),
        "3100",
        GENERIC,
        "/requestBody/condition must NOT have more than 48 characters",
    );
    cases.pattern(
        k,
        "/expiration",
        "DateTime",
        &[
            "2030-01-01T00:00:00.000Z",
            "2024-02-29T23:59:59.999+05:30",
            "2000-02-29T00:00:00.000-12:00",
            "2030-12-31T23:59:59.999+00:00",
        ],
        &DATE_TIME_INVALID,
    );
    for pointer in ["/payerFsp", "/payeeFsp"] {
        cases.lengths(k, pointer, 1, 32, 'f');
        cases.not_a(k, pointer, json!(7), "string");
    }
    cases.required(k, "/amount", "currency");
    cases.required(k, "/amount", "amount");
    cases.additional(k, "/amount");
    for currency in ["USD", "XOF", "EUR", "JPY"] {
        cases.ok(
            k,
            format!("currency {currency}"),
            &set(k.valid_body(), "/amount/currency", json!(currency)),
        );
    }
    for currency in ["usd", "ABC", "US", "USDD", ""] {
        cases.fail(
            k,
            format!("currency {currency:?}"),
            &set(k.valid_body(), "/amount/currency", json!(currency)),
            "3100",
            GENERIC,
            "/requestBody/amount/currency must be equal to one of the allowed values",
        );
    }
    // No type coercion: a number where a string is required is refused.
    cases.not_a(k, "/amount/amount", json!(100), "string");
    cases.not_a(k, "/amount", json!("100 USD"), "object");
    cases.not_a(k, "/transferId", Value::Null, "string");
    cases.not_a(k, "/extensionList", json!([]), "object");
    cases.extension_list(k, "/extensionList");
}

fn fulfil_cases(cases: &mut Cases) {
    let k = Kind::Put;
    cases.ok(k, "as given", &k.valid_body());
    cases.ok(
        k,
        "transferState only",
        &json!({"transferState": "COMMITTED"}),
    );
    cases.whole_body(k);
    cases.required(k, "", "transferState");
    for state in ["COMMITTED", "RESERVED", "ABORTED", "RECEIVED"] {
        cases.ok(
            k,
            format!("transferState {state}"),
            &set(k.valid_body(), "/transferState", json!(state)),
        );
    }
    for state in ["committed", "PENDING", "COMMITED", ""] {
        cases.fail(
            k,
            format!("transferState {state:?}"),
            &set(k.valid_body(), "/transferState", json!(state)),
            "3100",
            GENERIC,
            "/requestBody/transferState must be equal to one of the allowed values",
        );
    }
    cases.not_a(k, "/transferState", json!(1), "string");
    cases.pattern(
        k,
        "/fulfilment",
        "IlpFulfilment",
        &["UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA"],
        &[
            "UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVF",
            "UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFAA",
            "UNlJ98hZTY/dsw0cAqw4i+UN3v4utt7CZFB4yfLbVFA",
            "",
        ],
    );
    cases.fail(
        k,
        "/fulfilment of 49 chars",
        &set(k.valid_body(), "/fulfilment", json!("A".repeat(49))),
        "3100",
        GENERIC,
        "/requestBody/fulfilment must NOT have more than 48 characters",
    );
    // Valid timestamps must also lie in the completedTimestamp window: now, in other offsets.
    let valid = [
        now_timestamp(),
        now_with_offset(5, 30),
        now_with_offset(-3, 0),
    ];
    let valid: Vec<&str> = valid.iter().map(String::as_str).collect();
    cases.pattern(
        k,
        "/completedTimestamp",
        "DateTime",
        &valid,
        &DATE_TIME_INVALID,
    );
    cases.extension_list(k, "/extensionList");
}

fn error_cases(cases: &mut Cases) {
    let k = Kind::PutError;
    cases.ok(k, "as given", &k.valid_body());
    cases.ok(
        k,
        "without extensionList",
        &remove(k.valid_body(), "/errorInformation/extensionList"),
    );
    cases.whole_body(k);
    cases.required(k, "", "errorInformation");
    cases.required(k, "/errorInformation", "errorCode");
    cases.required(k, "/errorInformation", "errorDescription");
    cases.additional(k, "/errorInformation");
    cases.not_a(k, "/errorInformation", json!("5105"), "object");
    cases.not_a(k, "/errorInformation/errorCode", json!(5105), "string");
    cases.pattern(
        k,
        "/errorInformation/errorCode",
        "ErrorCode",
        &["5105", "1000", "9999", "3100"],
        &["0999", "510", "51050", "abcd", "5l05", "+510", " 5105", ""],
    );
    cases.lengths(k, "/errorInformation/errorDescription", 1, 128, 'd');
    cases.extension_list(k, "/errorInformation/extensionList");
}

#[tokio::test]
async fn bodies_against_the_openapi_schemas() {
    let app = TestApp::start().await;
    let mut cases = Cases::default();
    prepare_cases(&mut cases);
    fulfil_cases(&mut cases);
    error_cases(&mut cases);

    let mut failures = Vec::new();
    for case in &cases.0 {
        let answer = app.send(&case.kind.request(case.body.clone())).await;
        match &case.error {
            None => {
                if answer.status != case.kind.success() {
                    failures.push(format!(
                        "{}: expected {}, got {} {}",
                        case.name,
                        case.kind.success(),
                        answer.status,
                        String::from_utf8_lossy(&answer.body)
                    ));
                }
            }
            Some((code, description)) => {
                let got = answer.error();
                let want = (400, (*code).to_owned(), description.clone());
                if got != want {
                    failures.push(format!(
                        "{}:\n  expected {want:?}\n  got      {got:?}",
                        case.name
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.0.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn lenient_bodies_when_additional_properties_are_allowed() {
    let app = TestApp::start_with(|c| c.reject_additional_properties = false).await;
    let body = set(prepare_body(&new_id()), "/unexpected", json!("x"));
    assert_eq!(app.send(&Req::post(&body)).await.status, 202);
    let body = set(fulfil_body("COMMITTED"), "/unexpected", json!("x"));
    assert_eq!(app.send(&Req::put(&new_id(), &body)).await.status, 200);
}
