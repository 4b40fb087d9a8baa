use std::collections::BTreeSet;

use ferroloop_core::currency::CURRENCY_CODES;
use proptest::prelude::*;
use regex::{Regex, RegexBuilder};
use serde_json::{Value, json};
use time::macros::datetime;

use super::*;
use crate::test_yaml::{self, ADAPTER_OPENAPI, FSPIOP_V2_OPENAPI, Node};

type Validator = fn(&[u8]) -> Result<Value, FspiopError>;

const TOP_LEVEL: [(&str, &ObjectSchema); 4] = [
    ("TransfersPostRequest", &TRANSFERS_POST_REQUEST),
    ("TransfersIDPutResponse", &TRANSFERS_ID_PUT_RESPONSE),
    ("ErrorInformationObject", &ERROR_INFORMATION_OBJECT),
    ("TransfersIDPatchResponse", &TRANSFERS_ID_PATCH_RESPONSE),
];

// ---------------------------------------------------------------------------------------------
// Fixtures

fn prepare() -> Value {
    json!({
        "transferId": "b51ec534-ee48-4575-b6a9-ead2955b8069",
        "payerFsp": "payerfsp",
        "payeeFsp": "payeefsp",
        "amount": {"currency": "USD", "amount": "123.45"},
        "ilpPacket": "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF81MDdqUUZERmZlakgyOVc4bXFmNEpLMHlGTFGCAUBQU0svMS4wCk5vbmNlOiB1SXlweUYzY3pYSXBFdzVVc05TYWh3CkVuY3J5cHRpb246IG5vbmUKUGF5bWVudC1JZDogMTMyMzZhM2ItOGZhOC00MTYzLTg0NDctNGMzZWQzZGE5OGE3CgpDb250ZW50LUxlbmd0aDogMTM1CkNvbnRlbnQtVHlwZTogYXBwbGljYXRpb24vanNvbgpTZW5kZXItSWRlbnRpZmllcjogOTI4MDYzOTEKCiJ7XCJmZWVcIjowLFwidHJhbnNmZXJDb2RlXCI6XCJpbnZvaWNlXCIsXCJkZWJpdE5hbWVcIjpcImFsaWNlIGNvb3BlclwiLFwiY3JlZGl0TmFtZVwiOlwibWVyIGNoYW50XCIsXCJkZWJpdElkZW50aWZpZXJcIjpcIjkyODA2MzkxXCJ9IgA",
        "condition": "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM",
        "expiration": "2030-01-01T00:00:00.000Z",
        "extensionList": {"extension": [{"key": "k", "value": "v"}]}
    })
}

fn fulfil() -> Value {
    json!({
        "fulfilment": "UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA",
        "completedTimestamp": "2029-12-31T23:59:59.000Z",
        "transferState": "COMMITTED",
        "extensionList": {"extension": [{"key": "k", "value": "v"}]}
    })
}

fn error_body() -> Value {
    json!({
        "errorInformation": {
            "errorCode": "5105",
            "errorDescription": "Payee FSP rejected transaction",
            "extensionList": {"extension": [{"key": "k", "value": "v"}]}
        }
    })
}

fn patch() -> Value {
    json!({
        "completedTimestamp": "2029-12-31T23:59:59.000Z",
        "transferState": "COMMITTED",
        "extensionList": {"extension": [{"key": "k", "value": "v"}]}
    })
}

/// Sets (or adds) the member at a JSON pointer.
fn set(mut value: Value, pointer: &str, new: Value) -> Value {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    match value.pointer_mut(parent).unwrap() {
        Value::Object(map) => {
            map.insert(last.to_owned(), new);
        }
        Value::Array(items) => items[last.parse::<usize>().unwrap()] = new,
        other => panic!("cannot set {pointer} in {other}"),
    }
    value
}

fn remove(mut value: Value, pointer: &str) -> Value {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    value
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(last)
        .unwrap();
    value
}

fn run(validator: Validator, body: &Value) -> Result<Value, FspiopError> {
    validator(&serde_json::to_vec(body).unwrap())
}

fn failure(validator: Validator, body: &Value) -> (u16, String) {
    let e = run(validator, body).expect_err("must fail");
    (e.code().as_u16(), e.description().to_owned())
}

// ---------------------------------------------------------------------------------------------
// The schemas and patterns are the OpenAPI file's

fn yaml_ref(node: &Node) -> Option<&str> {
    node.str("$ref").map(|r| {
        r.strip_prefix("#/components/schemas/")
            .expect("a schema reference")
    })
}

fn schema_name(schema: Schema) -> Option<&'static str> {
    match schema {
        Schema::Object(o) => Some(o.name),
        Schema::String(s) => Some(s.name),
        Schema::Array(_) => None,
    }
}

/// Compares one of our schema nodes with the YAML, recursively, and collects the names seen.
fn assert_schema_equals_yaml(schema: Schema, yaml: &Node, all: &Node, seen: &mut BTreeSet<String>) {
    match schema {
        Schema::Object(object) => {
            seen.insert(object.name.to_owned());
            assert_eq!(yaml.str("type"), Some("object"), "{}", object.name);
            let properties = yaml.get("properties").expect("properties");
            let names: Vec<&str> = object.properties.iter().map(|(n, _)| *n).collect();
            assert_eq!(
                names,
                properties.keys(),
                "property order of {}",
                object.name
            );
            assert_eq!(
                Some(object.required.to_vec()),
                yaml.strings("required"),
                "required of {}",
                object.name
            );
            for (name, property) in object.properties {
                let yaml_property = properties.get(name).unwrap();
                match yaml_ref(yaml_property) {
                    Some(referenced) => {
                        assert_eq!(
                            schema_name(*property),
                            Some(referenced),
                            "{}.{name}",
                            object.name
                        );
                        let target = all.get(referenced).expect(referenced);
                        assert_schema_equals_yaml(*property, target, all, seen);
                    }
                    None => assert_schema_equals_yaml(*property, yaml_property, all, seen),
                }
            }
        }
        Schema::Array(array) => {
            assert_eq!(yaml.str("type"), Some("array"));
            assert_eq!(yaml.usize("minItems"), Some(array.min_items));
            assert_eq!(yaml.usize("maxItems"), Some(array.max_items));
            let referenced = yaml_ref(yaml.get("items").unwrap()).unwrap();
            assert_eq!(schema_name(array.items), Some(referenced));
            assert_schema_equals_yaml(array.items, all.get(referenced).unwrap(), all, seen);
        }
        Schema::String(string) => {
            seen.insert(string.name.to_owned());
            assert_eq!(yaml.str("type"), Some("string"), "{}", string.name);
            assert_eq!(
                yaml.str("pattern"),
                string.pattern.map(|p| p.source()),
                "pattern of {}",
                string.name
            );
            if let Some(p) = string.pattern {
                assert_eq!(p.schema(), string.name);
            }
            assert_eq!(
                yaml.usize("minLength"),
                string.min_length,
                "{}",
                string.name
            );
            assert_eq!(
                yaml.usize("maxLength"),
                string.max_length,
                "{}",
                string.name
            );
            let yaml_enum = yaml.strings("enum");
            match string.allowed {
                None => assert_eq!(yaml_enum, None, "{}", string.name),
                Some(Allowed::Currency) => {
                    assert_eq!(yaml_enum.unwrap(), CURRENCY_CODES.to_vec());
                }
                Some(Allowed::TransferState) => {
                    let ours: Vec<&str> =
                        ApiTransferState::ALL.iter().map(|s| s.as_str()).collect();
                    assert_eq!(yaml_enum.unwrap(), ours);
                }
            }
        }
    }
}

#[test]
fn schemas_equal_the_adapter_openapi_file() {
    let all = test_yaml::schemas(ADAPTER_OPENAPI);
    let mut seen = BTreeSet::new();
    for (name, schema) in TOP_LEVEL {
        assert_eq!(schema.name, name);
        assert_schema_equals_yaml(
            Schema::Object(schema),
            all.get(name).unwrap(),
            &all,
            &mut seen,
        );
    }
    let expected: BTreeSet<String> = [
        "Amount",
        "CorrelationId",
        "Currency",
        "DateTime",
        "ErrorCode",
        "ErrorDescription",
        "ErrorInformation",
        "ErrorInformationObject",
        "Extension",
        "ExtensionKey",
        "ExtensionList",
        "ExtensionValue",
        "FspId",
        "IlpCondition",
        "IlpFulfilment",
        "IlpPacket",
        "Money",
        "TransferState",
        "TransfersIDPatchResponse",
        "TransfersIDPutResponse",
        "TransfersPostRequest",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(seen, expected);
}

#[test]
fn every_pattern_of_these_schemas_is_the_files() {
    let all = test_yaml::schemas(ADAPTER_OPENAPI);
    for pattern in PATTERNS {
        let yaml = all.get(pattern.schema()).unwrap();
        assert_eq!(
            yaml.str("pattern"),
            Some(pattern.source()),
            "{}",
            pattern.schema()
        );
    }
    // …and the v2.0 definition has the same patterns.
    let v2 = test_yaml::schemas(FSPIOP_V2_OPENAPI);
    for pattern in PATTERNS {
        let yaml = v2.get(pattern.schema()).unwrap();
        assert_eq!(
            yaml.str("pattern"),
            Some(pattern.source()),
            "{}",
            pattern.schema()
        );
    }
}

#[test]
fn closed_objects_are_those_of_the_v2_definition() {
    // The FSPIOP v2.0 definition closes every object schema used here (the reason 3103 is
    // enforced by default); the adapter's file leaves them all open (the reason it is optional).
    let v2 = test_yaml::schemas(FSPIOP_V2_OPENAPI);
    let adapter = test_yaml::schemas(ADAPTER_OPENAPI);
    let objects = [
        "TransfersPostRequest",
        "TransfersIDPutResponse",
        "ErrorInformationObject",
        "TransfersIDPatchResponse",
        "ErrorInformation",
        "ExtensionList",
        "Extension",
        "Money",
    ];
    for name in objects {
        assert_eq!(
            v2.get(name).unwrap().str("additionalProperties"),
            Some("false"),
            "{name}"
        );
        assert_eq!(
            adapter.get(name).unwrap().str("additionalProperties"),
            None,
            "{name}"
        );
    }
}

/// The pattern compiled as JavaScript's `RegExp` reads it: `\d` and classes are ASCII.
fn js_regex(source: &str) -> Regex {
    RegexBuilder::new(source).unicode(false).build().unwrap()
}

fn file_regexes() -> Vec<(Pattern, Regex)> {
    let all = test_yaml::schemas(ADAPTER_OPENAPI);
    PATTERNS
        .iter()
        .map(|p| {
            (
                *p,
                js_regex(all.get(p.schema()).unwrap().str("pattern").unwrap()),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Pattern tables: valid and invalid examples for every pattern, checked against the regex loaded
// from the file and against our matcher.

struct PatternCase {
    pattern: Pattern,
    valid: &'static [&'static str],
    invalid: &'static [&'static str],
}

const PATTERN_CASES: [PatternCase; 7] = [
    PatternCase {
        pattern: CORRELATION_ID,
        valid: &[
            "b51ec534-ee48-4575-b6a9-ead2955b8069",
            "c232ab00-9414-11ec-b3c8-9e6bdeced846",
            "01890a5d-ac96-774b-bcce-b302099a8057",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        ],
        invalid: &[
            "B51EC534-EE48-4575-B6A9-EAD2955B8069",
            "b51ec534-ee48-8575-b6a9-ead2955b8069",
            "b51ec534-ee48-0575-b6a9-ead2955b8069",
            "b51ec534-ee48-4575-c6a9-ead2955b8069",
            "b51ec534ee484575b6a9ead2955b8069",
            "b51ec534-ee48-4575-b6a9-ead2955b80690",
            "01arz3ndektsv4rrffq69g5fav",
            "01ARZ3NDEKTSV4RRFFQ69G5FAI",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
            "",
        ],
    },
    PatternCase {
        pattern: AMOUNT,
        valid: &[
            "0",
            "5",
            "123.45",
            "1.0001",
            "0.5",
            "999999999999999999",
            "100",
        ],
        invalid: &[
            "01",
            "1.10",
            "1.",
            ".5",
            "-1",
            "1.12345",
            "1000000000000000000",
            "1e3",
            " 1",
            "1,5",
            "",
        ],
    },
    PatternCase {
        pattern: DATE_TIME,
        valid: &[
            "2016-05-24T08:38:08.699-04:00",
            "2030-01-01T00:00:00.000Z",
            "2024-02-29T12:00:00.000+05:30",
            "2000-02-29T00:00:00.000Z",
            "1000-01-01T00:00:00.000+19:59",
            "9999-12-31T23:59:59.999-01:00",
        ],
        invalid: &[
            "2023-02-29T00:00:00.000Z",
            "1900-02-29T00:00:00.000Z",
            "2016-04-31T00:00:00.000Z",
            "2016-05-24T08:38:08Z",
            "2016-05-24T08:38:08.69Z",
            "2016-05-24T08:38:08.6999Z",
            "2016-05-24 08:38:08.699Z",
            "2016-05-24T24:00:00.000Z",
            "2016-05-24T08:60:00.000Z",
            "0999-01-01T00:00:00.000Z",
            "2016-05-24T08:38:08.699+20:00",
            "2016-05-24T08:38:08.699+0400",
            "2016-05-24T08:38:08.699z",
            "2016-05-24",
        ],
    },
    PatternCase {
        pattern: ERROR_CODE,
        valid: &["5100", "1000", "9999", "3303"],
        invalid: &["0999", "510", "51000", "51a0", "", "+510", "5100 "],
    },
    PatternCase {
        pattern: ILP_CONDITION,
        valid: &[
            "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM",
            "safmEwXdD-DagaLwV3CMoHURelacgaFCwu0Hgcc89IY",
            "-------------------------------------------",
        ],
        invalid: &[
            "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAf",
            "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfMA",
            "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM=",
            "GRzLaTP7DJ9t4P+a/BA0WA9wzzlsugf00-Tn6kESAfM",
            "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAf!",
        ],
    },
    PatternCase {
        pattern: ILP_FULFILMENT,
        valid: &[
            "UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA",
            "WLctttbu2HvTsa1XWvUoGRcQozHsqeu9Ahl2JW9Bsu8",
        ],
        invalid: &[
            "UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVF",
            "UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA=",
            "UNlJ98hZTY/dsw0cAqw4i+UN3v4utt7CZFB4yfLbVFA",
            " UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVF",
        ],
    },
    PatternCase {
        pattern: ILP_PACKET,
        valid: &["AYIB", "AYIBgQ==", "AYIBgQ=", "a-_", "A"],
        invalid: &["AYIB===", "AY+B", "AY/B", "=AB", "==", "A B", "AYIB=A", ""],
    },
];

#[test]
fn pattern_tables_agree_with_the_files_regexes() {
    let regexes = file_regexes();
    for case in PATTERN_CASES {
        let regex = &regexes
            .iter()
            .find(|(p, _)| p.schema() == case.pattern.schema())
            .unwrap()
            .1;
        assert!(case.valid.len() >= 2 && case.invalid.len() >= 2);
        for s in case.valid {
            assert!(
                regex.is_match(s),
                "file regex {}: {s:?}",
                case.pattern.schema()
            );
            assert!(
                case.pattern.is_match(s),
                "matcher {}: {s:?}",
                case.pattern.schema()
            );
        }
        for s in case.invalid {
            assert!(
                !regex.is_match(s),
                "file regex {}: {s:?}",
                case.pattern.schema()
            );
            assert!(
                !case.pattern.is_match(s),
                "matcher {}: {s:?}",
                case.pattern.schema()
            );
        }
    }
    // A Unicode digit is not `\d` in JavaScript.
    assert!(!ERROR_CODE.is_match("5١00"));
    assert!(!regexes[3].1.is_match("5١00"));
}

/// Random edits of valid examples, so that the comparison explores the pattern's boundaries.
fn mutated(
    seeds: &'static [&'static str],
    alphabet: &'static str,
) -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = alphabet.chars().collect();
    let edits = proptest::collection::vec(
        (
            0usize..3,
            any::<prop::sample::Index>(),
            prop::sample::select(alphabet),
        ),
        0..4,
    );
    (prop::sample::select(seeds), edits).prop_map(|(seed, edits)| {
        let mut chars: Vec<char> = seed.chars().collect();
        for (op, at, c) in edits {
            let len = chars.len();
            match op {
                0 if len > 0 => chars[at.index(len)] = c,
                1 => chars.insert(at.index(len + 1), c),
                _ if len > 0 => {
                    chars.remove(at.index(len));
                }
                _ => {}
            }
        }
        chars.into_iter().collect()
    })
}

const ALPHABET: &str = "0123456789abcdefghzABCFHIJKLOUVZ-_=+/.:T ١";

proptest! {
    #[test]
    fn matchers_agree_with_the_files_regexes_on_edited_examples(
        (which, s) in (0usize..PATTERN_CASES.len())
            .prop_flat_map(|w| mutated(PATTERN_CASES[w].valid, ALPHABET).prop_map(move |s| (w, s)))
    ) {
        let pattern = PATTERN_CASES[which].pattern;
        let regex = js_regex(pattern.source());
        prop_assert_eq!(pattern.is_match(&s), regex.is_match(&s), "{} {:?}", pattern.schema(), s);
    }

    #[test]
    fn date_time_matcher_agrees_on_calendar_edges(
        year in 999u32..10_000,
        month in 0u32..14,
        day in 0u32..33,
        hour in 0u32..25,
        minute in 0u32..61,
        zone in prop::sample::select(vec!["Z", "+00:00", "-04:00", "+19:59", "+20:00", "-09:60"]),
    ) {
        let s = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:00.000{zone}");
        let regex = js_regex(DATE_TIME.source());
        prop_assert_eq!(DATE_TIME.is_match(&s), regex.is_match(&s), "{}", s);
    }

    #[test]
    fn amount_matcher_agrees_on_digit_strings(s in "[0-9]{0,20}([.][0-9]{0,5})?") {
        let regex = js_regex(AMOUNT.source());
        prop_assert_eq!(AMOUNT.is_match(&s), regex.is_match(&s), "{}", s);
    }

    #[test]
    fn edited_ids_agree(s in mutated(PATTERN_CASES[0].valid, "0123456789abcdefgABCDEFGHIJKLMNOPQRSTUVWXYZ-")) {
        let regex = js_regex(CORRELATION_ID.source());
        prop_assert_eq!(CORRELATION_ID.is_match(&s), regex.is_match(&s), "{}", s);
    }
}

// ---------------------------------------------------------------------------------------------
// Every pattern and limit through the body validators, at every place it is used

struct FieldCase {
    validator: Validator,
    base: fn() -> Value,
    pointer: &'static str,
    valid: Vec<Value>,
    /// Invalid value and the ajv message it must produce (all 3100).
    invalid: Vec<(Value, String)>,
}

fn pattern_message(p: Pattern) -> String {
    format!("must match pattern \"{}\"", p.source())
}

fn pattern_field(
    validator: Validator,
    base: fn() -> Value,
    pointer: &'static str,
    case: &PatternCase,
) -> FieldCase {
    FieldCase {
        validator,
        base,
        pointer,
        valid: case.valid.iter().map(|s| json!(s)).collect(),
        invalid: case
            .invalid
            .iter()
            .map(|s| (json!(s), pattern_message(case.pattern)))
            // Empty strings of min-length schemas fail on length first; tested separately.
            .filter(|(v, _)| v != "" || !["/ilpPacket"].contains(&pointer))
            .collect(),
    }
}

fn more_than(n: usize) -> String {
    format!("must NOT have more than {n} characters")
}

fn fewer_than(n: usize) -> String {
    format!("must NOT have fewer than {n} characters")
}

fn field_cases() -> Vec<FieldCase> {
    let [
        correlation,
        amount,
        date_time,
        error_code,
        condition,
        fulfilment,
        packet,
    ] = &PATTERN_CASES;
    let not_allowed = "must be equal to one of the allowed values".to_owned();
    let mut cases = vec![
        pattern_field(validate_prepare, prepare, "/transferId", correlation),
        pattern_field(validate_prepare, prepare, "/amount/amount", amount),
        pattern_field(validate_prepare, prepare, "/expiration", date_time),
        pattern_field(validate_fulfil, fulfil, "/completedTimestamp", date_time),
        pattern_field(validate_patch, patch, "/completedTimestamp", date_time),
        pattern_field(
            validate_error,
            error_body,
            "/errorInformation/errorCode",
            error_code,
        ),
        pattern_field(validate_prepare, prepare, "/condition", condition),
        pattern_field(validate_fulfil, fulfil, "/fulfilment", fulfilment),
        pattern_field(validate_prepare, prepare, "/ilpPacket", packet),
    ];
    // Lengths (and the maxLength that comes before the pattern).
    cases.push(FieldCase {
        validator: validate_prepare,
        base: prepare,
        pointer: "/ilpPacket",
        valid: vec![
            json!("A".repeat(ILP_PACKET_MAX_CHARS)),
            json!(format!("{}==", "A".repeat(ILP_PACKET_MAX_CHARS - 2))),
        ],
        invalid: vec![
            (json!(""), fewer_than(1)),
            (
                json!("A".repeat(ILP_PACKET_MAX_CHARS + 1)),
                more_than(ILP_PACKET_MAX_CHARS),
            ),
            (
                json!("+".repeat(ILP_PACKET_MAX_CHARS + 1)),
                more_than(ILP_PACKET_MAX_CHARS),
            ),
        ],
    });
    for (validator, base, pointer) in [
        (
            validate_prepare as Validator,
            prepare as fn() -> Value,
            "/condition",
        ),
        (validate_fulfil, fulfil, "/fulfilment"),
    ] {
        cases.push(FieldCase {
            validator,
            base,
            pointer,
            valid: vec![json!("A".repeat(43)), json!("_".repeat(43))],
            invalid: vec![
                (json!("A".repeat(49)), more_than(48)),
                (json!("=".repeat(100)), more_than(48)),
                (json!("A".repeat(48)), pattern_message(ILP_CONDITION)),
            ],
        });
    }
    for pointer in ["/payerFsp", "/payeeFsp"] {
        cases.push(FieldCase {
            validator: validate_prepare,
            base: prepare,
            pointer,
            valid: vec![
                json!("a"),
                json!("x".repeat(32)),
                json!("é".repeat(32)),
                json!("payer fsp/1"),
            ],
            invalid: vec![
                (json!(""), fewer_than(1)),
                (json!("x".repeat(33)), more_than(32)),
                (json!("é".repeat(33)), more_than(32)),
            ],
        });
    }
    cases.push(FieldCase {
        validator: validate_prepare,
        base: prepare,
        pointer: "/amount/currency",
        valid: vec![json!("USD"), json!("XXX"), json!("XTS"), json!("EUR")],
        invalid: ["usd", "US", "USDD", "ABC", ""]
            .iter()
            .map(|s| (json!(s), not_allowed.clone()))
            .collect(),
    });
    for (validator, base) in [
        (validate_fulfil as Validator, fulfil as fn() -> Value),
        (validate_patch, patch),
    ] {
        cases.push(FieldCase {
            validator,
            base,
            pointer: "/transferState",
            valid: ["RECEIVED", "RESERVED", "COMMITTED", "ABORTED"]
                .iter()
                .map(|s| json!(s))
                .collect(),
            invalid: ["committed", "SETTLED", "", "COMMITTED "]
                .iter()
                .map(|s| (json!(s), not_allowed.clone()))
                .collect(),
        });
    }
    cases.push(FieldCase {
        validator: validate_error,
        base: error_body,
        pointer: "/errorInformation/errorDescription",
        valid: vec![json!("x"), json!("d".repeat(128)), json!("ü".repeat(128))],
        invalid: vec![
            (json!(""), fewer_than(1)),
            (json!("d".repeat(129)), more_than(128)),
            (json!("ü".repeat(129)), more_than(128)),
        ],
    });
    // Extension key/value/list limits, in every schema that has an extension list.
    for (validator, base, list) in [
        (
            validate_prepare as Validator,
            prepare as fn() -> Value,
            "/extensionList",
        ),
        (validate_fulfil, fulfil, "/extensionList"),
        (validate_patch, patch, "/extensionList"),
        (
            validate_error,
            error_body,
            "/errorInformation/extensionList",
        ),
    ] {
        let key: &'static str = Box::leak(format!("{list}/extension/0/key").into_boxed_str());
        let value: &'static str = Box::leak(format!("{list}/extension/0/value").into_boxed_str());
        let items: &'static str = Box::leak(format!("{list}/extension").into_boxed_str());
        cases.push(FieldCase {
            validator,
            base,
            pointer: key,
            valid: vec![json!("k"), json!("k".repeat(32))],
            invalid: vec![
                (json!(""), fewer_than(1)),
                (json!("k".repeat(33)), more_than(32)),
            ],
        });
        cases.push(FieldCase {
            validator,
            base,
            pointer: value,
            valid: vec![json!("v"), json!("v".repeat(128))],
            invalid: vec![
                (json!(""), fewer_than(1)),
                (json!("v".repeat(129)), more_than(128)),
            ],
        });
        let extension = |n: usize| json!(vec![json!({"key": "k", "value": "v"}); n]);
        cases.push(FieldCase {
            validator,
            base,
            pointer: items,
            valid: vec![extension(1), extension(16)],
            invalid: vec![
                (extension(0), "must NOT have fewer than 1 items".to_owned()),
                (extension(17), "must NOT have more than 16 items".to_owned()),
            ],
        });
    }
    cases
}

#[test]
fn every_pattern_and_limit_through_the_validators() {
    let mut checked = 0;
    for case in field_cases() {
        assert!(
            case.valid.len() >= 2 && case.invalid.len() >= 2,
            "{}",
            case.pointer
        );
        for valid in &case.valid {
            let body = set((case.base)(), case.pointer, valid.clone());
            let parsed = run(case.validator, &body)
                .unwrap_or_else(|e| panic!("{} = {valid}: {}", case.pointer, e.description()));
            assert_eq!(parsed, body);
            checked += 1;
        }
        for (invalid, message) in &case.invalid {
            let body = set((case.base)(), case.pointer, invalid.clone());
            let expected = FspiopError::with_detail(
                ErrorCode::VALIDATION_ERROR,
                format!("{BODY_PATH}{} {message}", case.pointer),
            );
            let got = run(case.validator, &body).expect_err(case.pointer);
            assert_eq!(
                got.code(),
                ErrorCode::VALIDATION_ERROR,
                "{} = {invalid}",
                case.pointer
            );
            assert_eq!(
                got.description(),
                expected.description(),
                "{} = {invalid}",
                case.pointer
            );
            assert_eq!(got.http_status(), 400);
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked}");
}

#[test]
fn fixtures_are_valid() {
    for (validator, base) in [
        (validate_prepare as Validator, prepare as fn() -> Value),
        (validate_fulfil, fulfil),
        (validate_error, error_body),
        (validate_patch, patch),
    ] {
        assert_eq!(run(validator, &base()).unwrap(), base());
    }
    // Optional members may be left out.
    run(validate_prepare, &remove(prepare(), "/extensionList")).unwrap();
    run(validate_fulfil, &json!({"transferState": "RESERVED"})).unwrap();
    run(
        validate_error,
        &json!({"errorInformation": {"errorCode": "3100", "errorDescription": "x"}}),
    )
    .unwrap();
    run(validate_patch, &remove(patch(), "/extensionList")).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Codes and descriptions for missing, extra and mistyped members, at nested paths

#[test]
fn missing_members_are_3102_in_required_order() {
    for (validator, base, pointer, expected) in [
        (
            validate_prepare as Validator,
            prepare as fn() -> Value,
            "/payerFsp",
            "Missing mandatory element - /requestBody must have required property 'payerFsp'",
        ),
        (
            validate_prepare,
            prepare,
            "/amount/currency",
            "Missing mandatory element - /requestBody/amount must have required property 'currency'",
        ),
        (
            validate_prepare,
            prepare,
            "/extensionList/extension/0/value",
            "Missing mandatory element - /requestBody/extensionList/extension/0 must have required property 'value'",
        ),
        (
            validate_prepare,
            prepare,
            "/extensionList/extension",
            "Missing mandatory element - /requestBody/extensionList must have required property 'extension'",
        ),
        (
            validate_fulfil,
            fulfil,
            "/transferState",
            "Missing mandatory element - /requestBody must have required property 'transferState'",
        ),
        (
            validate_error,
            error_body,
            "/errorInformation/errorCode",
            "Missing mandatory element - /requestBody/errorInformation must have required property 'errorCode'",
        ),
        (
            validate_error,
            error_body,
            "/errorInformation",
            "Missing mandatory element - /requestBody must have required property 'errorInformation'",
        ),
        (
            validate_patch,
            patch,
            "/completedTimestamp",
            "Missing mandatory element - /requestBody must have required property 'completedTimestamp'",
        ),
    ] {
        let body = if pointer.ends_with("/0/value") {
            set(base(), "/extensionList/extension/0", json!({"key": "k"}))
        } else {
            remove(base(), pointer)
        };
        assert_eq!(
            failure(validator, &body),
            (3102, expected.to_owned()),
            "{pointer}"
        );
    }
    // Several missing: the first of the schema's `required` list is reported.
    let body = remove(remove(prepare(), "/expiration"), "/payeeFsp");
    assert_eq!(
        failure(validate_prepare, &body).1,
        "Missing mandatory element - /requestBody must have required property 'payeeFsp'"
    );
    assert_eq!(
        failure(validate_prepare, &json!({})).1,
        "Missing mandatory element - /requestBody must have required property 'transferId'"
    );
}

type ValidatorWith = fn(&[u8], &BodyOptions) -> Result<Value, FspiopError>;

#[test]
fn extra_members_are_3103() {
    for (validator, body, expected) in [
        (
            validate_prepare_with as ValidatorWith,
            set(prepare(), "/foo", json!(1)),
            "Too many elements - /requestBody must NOT have additional properties",
        ),
        (
            validate_prepare_with,
            set(prepare(), "/amount/scale", json!("2")),
            "Too many elements - /requestBody/amount must NOT have additional properties",
        ),
        (
            validate_prepare_with,
            set(prepare(), "/extensionList/extension/0/extra", json!("x")),
            "Too many elements - /requestBody/extensionList/extension/0 must NOT have additional properties",
        ),
        (
            validate_prepare_with,
            set(prepare(), "/extensionList/more", json!([])),
            "Too many elements - /requestBody/extensionList must NOT have additional properties",
        ),
        (
            validate_fulfil_with,
            set(fulfil(), "/transferId", json!("x")),
            "Too many elements - /requestBody must NOT have additional properties",
        ),
        (
            validate_error_with,
            set(error_body(), "/errorInformation/cause", json!("x")),
            "Too many elements - /requestBody/errorInformation must NOT have additional properties",
        ),
        (
            validate_error_with,
            set(error_body(), "/transferId", json!("x")),
            "Too many elements - /requestBody must NOT have additional properties",
        ),
        (
            validate_patch_with,
            set(
                patch(),
                "/fulfilment",
                json!("UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA"),
            ),
            "Too many elements - /requestBody must NOT have additional properties",
        ),
    ] {
        let bytes = serde_json::to_vec(&body).unwrap();
        let e = validator(&bytes, &BodyOptions::default()).unwrap_err();
        assert_eq!((e.code().as_u16(), e.description()), (3103, expected));
        // Mojaloop's adapter leaves the objects open.
        let lenient = BodyOptions {
            reject_additional_properties: false,
        };
        assert_eq!(validator(&bytes, &lenient).unwrap(), body);
    }
}

#[test]
fn wrong_types_are_3101() {
    for (validator, body, expected) in [
        (
            validate_prepare as Validator,
            json!([]),
            "Malformed syntax - /requestBody must be object",
        ),
        (
            validate_prepare,
            json!("text"),
            "Malformed syntax - /requestBody must be object",
        ),
        (
            validate_prepare,
            set(prepare(), "/amount", json!("123.45")),
            "Malformed syntax - /requestBody/amount must be object",
        ),
        // No coercion: a number amount is refused (Mojaloop would coerce it).
        (
            validate_prepare,
            set(prepare(), "/amount/amount", json!(100)),
            "Malformed syntax - /requestBody/amount/amount must be string",
        ),
        (
            validate_prepare,
            set(prepare(), "/amount/currency", json!(null)),
            "Malformed syntax - /requestBody/amount/currency must be string",
        ),
        (
            validate_prepare,
            set(
                prepare(),
                "/extensionList/extension",
                json!({"key": "k", "value": "v"}),
            ),
            "Malformed syntax - /requestBody/extensionList/extension must be array",
        ),
        (
            validate_prepare,
            set(prepare(), "/extensionList/extension/0", json!("k=v")),
            "Malformed syntax - /requestBody/extensionList/extension/0 must be object",
        ),
        (
            validate_prepare,
            set(prepare(), "/extensionList/extension/0/value", json!(true)),
            "Malformed syntax - /requestBody/extensionList/extension/0/value must be string",
        ),
        (
            validate_fulfil,
            set(fulfil(), "/transferState", json!(["COMMITTED"])),
            "Malformed syntax - /requestBody/transferState must be string",
        ),
        (
            validate_error,
            set(error_body(), "/errorInformation/errorCode", json!(5105)),
            "Malformed syntax - /requestBody/errorInformation/errorCode must be string",
        ),
        (
            validate_patch,
            json!(null),
            "Malformed syntax - /requestBody must be object",
        ),
    ] {
        assert_eq!(failure(validator, &body), (3101, expected.to_owned()));
    }
}

#[test]
fn bad_patterns_at_nested_paths_are_3100() {
    let body = set(prepare(), "/amount/amount", json!("10.50"));
    assert_eq!(
        failure(validate_prepare, &body),
        (
            3100,
            r#"Generic validation error - /requestBody/amount/amount must match pattern "^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$""#.to_owned()
        )
    );
    // The DateTime pattern is long: the description is cut to 128 characters.
    let body = set(prepare(), "/expiration", json!("2030-01-01"));
    let (code, description) = failure(validate_prepare, &body);
    assert_eq!(code, 3100);
    assert_eq!(description.chars().count(), 128);
    assert!(description.starts_with(
        r#"Generic validation error - /requestBody/expiration must match pattern "^(?:[1-9]\d{3}-"#
    ));
    let e = run(validate_prepare, &body).unwrap_err();
    assert_eq!(
        e.detail(),
        Some(format!("/requestBody/expiration {}", pattern_message(DATE_TIME)).as_str())
    );
}

#[test]
fn first_failure_follows_ajv_order() {
    // required before additionalProperties before properties.
    let body = set(remove(prepare(), "/condition"), "/zzz", json!(1));
    assert_eq!(failure(validate_prepare, &body).0, 3102);
    let body = set(
        set(prepare(), "/zzz", json!(1)),
        "/transferId",
        json!("bad"),
    );
    assert_eq!(failure(validate_prepare, &body).0, 3103);
    // Properties in the schema's order: transferId before amount before expiration.
    let body = set(
        set(prepare(), "/expiration", json!("x")),
        "/amount/amount",
        json!("x"),
    );
    assert!(
        failure(validate_prepare, &body)
            .1
            .contains("/requestBody/amount/amount")
    );
    let body = set(
        set(prepare(), "/expiration", json!("x")),
        "/transferId",
        json!("x"),
    );
    assert!(
        failure(validate_prepare, &body)
            .1
            .contains("/requestBody/transferId")
    );
    // Array items by index, after the item count.
    let body = set(
        prepare(),
        "/extensionList/extension",
        json!([{"key": "k", "value": "v"}, {"key": "", "value": "v"}, {"key": 1, "value": "v"}]),
    );
    assert_eq!(
        failure(validate_prepare, &body).1,
        "Generic validation error - /requestBody/extensionList/extension/1/key must NOT have fewer than 1 characters"
    );
    // maxLength before pattern; enum before length.
    let body = set(prepare(), "/condition", json!("!".repeat(49)));
    assert!(
        failure(validate_prepare, &body)
            .1
            .ends_with("must NOT have more than 48 characters")
    );
    let body = set(prepare(), "/amount/currency", json!("USDX"));
    assert!(
        failure(validate_prepare, &body)
            .1
            .ends_with("must be equal to one of the allowed values")
    );
}

#[test]
fn invalid_or_empty_json() {
    for bytes in [
        &b"{"[..],
        b"{\"transferId\": }",
        b"not json",
        b"\xff\xfe",
        b"{} {}",
    ] {
        let e = validate_prepare(bytes).unwrap_err();
        assert_eq!(
            (e.code().as_u16(), e.description()),
            (
                3101,
                "Malformed syntax - Invalid request payload JSON format"
            ),
            "{bytes:?}"
        );
    }
    for bytes in [&b""[..], b"  \n"] {
        let e = validate_fulfil(bytes).unwrap_err();
        assert_eq!(
            (e.code().as_u16(), e.description()),
            (3101, "Malformed syntax - /requestBody must be object")
        );
    }
    // The original bytes are kept by the caller; the parsed value is returned.
    let raw = br#"{ "transferState" : "COMMITTED" }"#;
    assert_eq!(
        validate_fulfil(raw).unwrap(),
        json!({"transferState": "COMMITTED"})
    );
}

#[test]
fn body_size_limit() {
    assert!(check_body_size(MAX_BODY_BYTES).is_ok());
    let e = check_body_size(MAX_BODY_BYTES + 1).unwrap_err();
    assert_eq!(
        (e.code().as_u16(), e.description()),
        (3104, "Too large payload - Payload size is too large")
    );
    // The largest valid prepare fits, even pretty-printed.
    let mut body = set(
        prepare(),
        "/ilpPacket",
        json!("A".repeat(ILP_PACKET_MAX_CHARS)),
    );
    body = set(
        body,
        "/extensionList/extension",
        json!(vec![
            json!({"key": "k".repeat(32), "value": "\u{1F600}".repeat(128)});
            16
        ]),
    );
    let pretty = serde_json::to_vec_pretty(&body).unwrap();
    assert!(validate_prepare(&pretty).is_ok());
    assert!(check_body_size(pretty.len()).is_ok(), "{}", pretty.len());
}

// ---------------------------------------------------------------------------------------------
// completedTimestamp window

#[test]
fn completed_timestamp_window() {
    let now = datetime!(2030-01-01 12:00:00 UTC);
    let check = |t| {
        check_completed_timestamp(
            t,
            now,
            DEFAULT_MAX_FULFIL_TIMEOUT,
            DEFAULT_MAX_CALLBACK_TIME_LAG,
        )
    };
    assert!(check(now).is_ok());
    assert!(check(datetime!(2030-01-01 12:00:00.2 UTC)).is_ok());
    assert!(check(datetime!(2030-01-01 11:55:00 UTC)).is_ok());
    let future = check(datetime!(2030-01-01 12:00:00.201 UTC)).unwrap_err();
    assert_eq!(
        (future.code().as_u16(), future.description()),
        (
            3100,
            "Generic validation error - completedTimestamp fails because future timestamp was provided"
        )
    );
    let old = check(datetime!(2030-01-01 11:54:59.999 UTC)).unwrap_err();
    assert_eq!(
        (old.code().as_u16(), old.description()),
        (
            3100,
            "Generic validation error - completedTimestamp fails because provided timestamp exceeded the maximum timeout duration"
        )
    );
    // Offsets are instants, not wall-clock text.
    assert!(check(datetime!(2030-01-01 13:00:00 +01:00)).is_ok());
    assert_eq!(DEFAULT_MAX_FULFIL_TIMEOUT, Duration::seconds(300));
    assert_eq!(DEFAULT_MAX_CALLBACK_TIME_LAG, Duration::milliseconds(200));

    let body = validate_fulfil(
        br#"{"transferState":"COMMITTED","completedTimestamp":"2030-01-01T13:00:00.000+01:00"}"#,
    )
    .unwrap();
    assert_eq!(completed_timestamp(&body), Some(now));
    assert_eq!(
        completed_timestamp(&json!({"transferState": "COMMITTED"})),
        None
    );
}
