//! JSON body validation against the adapter's OpenAPI schemas
//! (`fspiop/ml-api-adapter-transfers-openapi.yaml`): `TransfersPostRequest` (POST /transfers),
//! `TransfersIDPutResponse` (PUT /transfers/{ID}), `ErrorInformationObject`
//! (PUT /transfers/{ID}/error) and `TransfersIDPatchResponse` (PATCH, only ever sent by the hub).
//!
//! The validator is hand-written (no JSON-schema engine) but reports the *first* failure exactly
//! as Mojaloop does: openapi-backend runs ajv v8 over the body wrapped as `requestBody`, and
//! central-services-error-handling's `createFSPIOPErrorFromOpenapiError` turns `errors[0]` into
//! an FSPIOP error (docs/fspiop-api.md#schema-errors):
//!
//! | ajv keyword | code | ajv v8 message |
//! |---|---|---|
//! | `required` | 3102 | `must have required property '<name>'` |
//! | `additionalProperties` | 3103 | `must NOT have additional properties` |
//! | `type` | 3101 | `must be string` / `must be object` / `must be array` |
//! | `enum` | 3100 | `must be equal to one of the allowed values` |
//! | `maxLength`/`minLength` | 3100 | `must NOT have more than N characters` / `… fewer than N …` |
//! | `pattern` | 3100 | `must match pattern "<pattern as written in the YAML>"` |
//! | `maxItems`/`minItems` | 3100 | `must NOT have more than N items` / `… fewer than N items` |
//!
//! **Description format.** `"<code message> - <instancePath> <ajv message>"`, where
//! `instancePath` is ajv v8's JSON pointer under openapi-backend's `requestBody` wrapper, e.g.
//! `"Missing mandatory element - /requestBody/amount must have required property 'currency'"` or
//! `"Generic validation error - /requestBody/extensionList/extension/0/key must NOT have more
//! than 32 characters"`, cut to 128 characters by [`FspiopError`]. This is the text current
//! Mojaloop services (openapi-backend 5 + ajv 8) return; the older ajv 6 form
//! (`.requestBody.amount should have …`) is no longer produced.
//!
//! **Which failure comes first** follows ajv's evaluation order: at an object, its `required`
//! list in schema order, then `additionalProperties`, then each present property in the schema's
//! property order (recursively); at an array, `maxItems`, `minItems`, then items by index; at a
//! string, `type`, then `enum`, `maxLength`, `minLength`, `pattern`. Lengths count Unicode code
//! points, as ajv does.
//!
//! Deliberate differences from Mojaloop, each for a stated reason:
//! - **No type coercion.** Mojaloop configures ajv with `coerceTypes: true`, so `"amount": 100`
//!   or `"transferState": null` are coerced in memory and accepted — yet the *original bytes* are
//!   forwarded to the payee, who then gets a number where the API mandates a string. Here any
//!   non-string where a string is required is 3101 `must be string`.
//! - **Closed objects.** The adapter's YAML has no `additionalProperties: false`, but the FSPIOP
//!   v2.0 definition (`fspiop-rest-v2.0-openapi3-snippets.yaml`) closes every one of these
//!   schemas, and the switch stores/forwards only what it knows. Unknown members are 3103 by
//!   default; [`BodyOptions::reject_additional_properties`] = `false` restores Mojaloop's leniency.
//! - **Empty body** is 3101 `/requestBody must be object` (as if the body were JSON `null`).
//! - **Invalid JSON** is 3101 `"Malformed syntax - Invalid request payload JSON format"` (Hapi's
//!   text, which Mojaloop reports).
//!
//! Patterns are matched by hand-written checks (mostly `ferroloop_core`'s parsers, which the hot
//! path needs anyway); the tests load every pattern from the YAML, compile it with a regex engine
//! and check both agree on valid and invalid examples, and that the pattern text used in the error
//! messages is the file's.

use ferroloop_core::amount::Amount;
use ferroloop_core::api::{
    EXTENSION_KEY_MAX_CHARS, EXTENSION_LIST_MAX_ITEMS, EXTENSION_VALUE_MAX_CHARS,
};
use ferroloop_core::currency::Currency;
use ferroloop_core::error::{ERROR_DESCRIPTION_MAX_CHARS, ErrorCode, FspiopError};
use ferroloop_core::fspiop_time::{self, TimeError};
use ferroloop_core::id::TransferId;
use ferroloop_core::ilp::{CONDITION_MAX_CHARS, ENCODED_LEN};
use ferroloop_core::participant::FSP_ID_MAX_CHARS;
use ferroloop_core::state::ApiTransferState;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// Largest request body the HTTP layer should accept. The biggest valid transfer body is a
/// 32 768-character `ilpPacket` plus 16 extensions of at most 32 + 128 characters (up to 6 bytes
/// each when JSON-escaped, ≈ 15 KiB) plus fixed fields — under 48 KiB even so; 64 KiB leaves room
/// for formatting whitespace while bounding what one request can make the adapter buffer.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Detail of 3104 for a body over [`MAX_BODY_BYTES`] (the header plugin's text).
pub const PAYLOAD_TOO_LARGE: &str = "Payload size is too large";
/// Detail of 3101 for a body that is not JSON (Hapi's text).
pub const INVALID_JSON: &str = "Invalid request payload JSON format";
/// ajv's `instancePath` of the body under openapi-backend's wrapper.
pub const BODY_PATH: &str = "/requestBody";

/// Default `MAX_FULFIL_TIMEOUT_DURATION_SECONDS` of the adapter.
pub const DEFAULT_MAX_FULFIL_TIMEOUT: Duration = Duration::seconds(300);
/// Default `MAX_CALLBACK_TIME_LAG_DILATION_MILLISECONDS` of the adapter.
pub const DEFAULT_MAX_CALLBACK_TIME_LAG: Duration = Duration::milliseconds(200);
/// Detail of 3100 for a `completedTimestamp` later than now plus the allowed lag.
pub const COMPLETED_TIMESTAMP_IN_FUTURE: &str =
    "completedTimestamp fails because future timestamp was provided";
/// Detail of 3100 for a `completedTimestamp` older than now minus the fulfil timeout.
pub const COMPLETED_TIMESTAMP_TOO_OLD: &str =
    "completedTimestamp fails because provided timestamp exceeded the maximum timeout duration";

/// `FspId` `minLength`.
pub const FSP_ID_MIN_CHARS: usize = 1;
/// `Currency` `minLength` = `maxLength` (never reached: the enum decides first).
pub const CURRENCY_CHARS: usize = 3;
/// `IlpPacket` `minLength`.
pub const ILP_PACKET_MIN_CHARS: usize = 1;
/// `IlpPacket` `maxLength`.
pub const ILP_PACKET_MAX_CHARS: usize = 32_768;
/// `ErrorDescription` `minLength`.
pub const ERROR_DESCRIPTION_MIN_CHARS: usize = 1;
/// `ExtensionKey` / `ExtensionValue` `minLength`.
pub const EXTENSION_MIN_CHARS: usize = 1;
/// `ExtensionList.extension` `minItems`.
pub const EXTENSION_LIST_MIN_ITEMS: usize = 1;

/// A string pattern of the OpenAPI file: its text (quoted in error messages) and an equivalent
/// matcher.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    schema: &'static str,
    source: &'static str,
    matcher: fn(&str) -> bool,
}

impl Pattern {
    /// The schema name in the OpenAPI file (`CorrelationId`, `Amount`, …).
    pub fn schema(&self) -> &'static str {
        self.schema
    }

    /// The pattern exactly as written in the OpenAPI file.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Whether `s` matches (with JavaScript `RegExp` semantics: `\d` is ASCII).
    pub fn is_match(&self, s: &str) -> bool {
        (self.matcher)(s)
    }
}

/// `CorrelationId`: lowercase UUID v1–v7 or uppercase ULID.
pub const CORRELATION_ID: Pattern = Pattern {
    schema: "CorrelationId",
    source: r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$|^[0-9A-HJKMNP-TV-Z]{26}$",
    matcher: is_correlation_id,
};
/// `Amount`: no leading/trailing zeros, ≤ 18 integer and ≤ 4 fractional digits.
pub const AMOUNT: Pattern = Pattern {
    schema: "Amount",
    source: r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$",
    matcher: is_amount,
};
/// `DateTime`: ISO 8601 with exactly three fractional digits, real calendar dates.
pub const DATE_TIME: Pattern = Pattern {
    schema: "DateTime",
    source: r"^(?:[1-9]\d{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)|(?:[1-9]\d(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)-02-29)T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:(\.\d{3}))(?:Z|[+-][01]\d:[0-5]\d)$",
    matcher: is_date_time,
};
/// `ErrorCode`: four digits, no leading zero.
pub const ERROR_CODE: Pattern = Pattern {
    schema: "ErrorCode",
    source: r"^[1-9]\d{3}$",
    matcher: is_error_code,
};
/// `IlpCondition`: 43 base64url characters (32 bytes, unpadded).
pub const ILP_CONDITION: Pattern = Pattern {
    schema: "IlpCondition",
    source: r"^[A-Za-z0-9-_]{43}$",
    matcher: is_base64url_32_bytes,
};
/// `IlpFulfilment`: same syntax as the condition.
pub const ILP_FULFILMENT: Pattern = Pattern {
    schema: "IlpFulfilment",
    source: r"^[A-Za-z0-9-_]{43}$",
    matcher: is_base64url_32_bytes,
};
/// `IlpPacket`: base64url with optional padding.
pub const ILP_PACKET: Pattern = Pattern {
    schema: "IlpPacket",
    source: r"^[A-Za-z0-9-_]+[=]{0,2}$",
    matcher: is_ilp_packet,
};

/// Every pattern the four transfer schemas use.
pub const PATTERNS: [Pattern; 7] = [
    CORRELATION_ID,
    AMOUNT,
    DATE_TIME,
    ERROR_CODE,
    ILP_CONDITION,
    ILP_FULFILMENT,
    ILP_PACKET,
];

fn is_correlation_id(s: &str) -> bool {
    TransferId::parse(s).is_ok()
}

fn is_amount(s: &str) -> bool {
    Amount::parse_api(s).is_ok()
}

/// `OutOfRange` means the text matched the pattern but the instant has no UTC representation in
/// the `time` crate (e.g. `9999-12-31T23:59:59.999-01:00`): still a pattern match.
fn is_date_time(s: &str) -> bool {
    matches!(fspiop_time::parse(s), Ok(_) | Err(TimeError::OutOfRange))
}

fn is_error_code(s: &str) -> bool {
    ErrorCode::parse(s).is_ok()
}

/// `[A-Za-z0-9-_]`: the base64url alphabet.
fn is_base64url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_base64url_32_bytes(s: &str) -> bool {
    s.len() == ENCODED_LEN && s.bytes().all(is_base64url_byte)
}

fn is_ilp_packet(s: &str) -> bool {
    let unpadded = s
        .strip_suffix("==")
        .or_else(|| s.strip_suffix('='))
        .unwrap_or(s);
    !unpadded.is_empty() && unpadded.bytes().all(is_base64url_byte)
}

/// The closed value sets (`enum`) of these schemas, checked with the core types that own them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    /// `Currency`: the ISO-4217 list of `ferroloop_core::currency`.
    Currency,
    /// `TransferState`: `ApiTransferState`.
    TransferState,
}

impl Allowed {
    fn contains(self, s: &str) -> bool {
        match self {
            Allowed::Currency => Currency::parse(s).is_ok(),
            Allowed::TransferState => s.parse::<ApiTransferState>().is_ok(),
        }
    }
}

/// A schema node, mirroring the OpenAPI file's structure.
#[derive(Debug, Clone, Copy)]
enum Schema {
    Object(&'static ObjectSchema),
    Array(&'static ArraySchema),
    String(&'static StringSchema),
}

#[derive(Debug)]
struct ObjectSchema {
    /// The OpenAPI schema name; the tests compare the tree with the file by it.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by the OpenAPI comparison tests")
    )]
    name: &'static str,
    /// In the file's order, which is ajv's evaluation order.
    properties: &'static [(&'static str, Schema)],
    required: &'static [&'static str],
}

#[derive(Debug)]
struct ArraySchema {
    items: Schema,
    min_items: usize,
    max_items: usize,
}

#[derive(Debug)]
struct StringSchema {
    /// The OpenAPI schema name; the tests compare the tree with the file by it.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by the OpenAPI comparison tests")
    )]
    name: &'static str,
    allowed: Option<Allowed>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<Pattern>,
}

const fn string(name: &'static str) -> StringSchema {
    StringSchema {
        name,
        allowed: None,
        min_length: None,
        max_length: None,
        pattern: None,
    }
}

static CORRELATION_ID_SCHEMA: StringSchema = StringSchema {
    pattern: Some(CORRELATION_ID),
    ..string("CorrelationId")
};
static FSP_ID_SCHEMA: StringSchema = StringSchema {
    min_length: Some(FSP_ID_MIN_CHARS),
    max_length: Some(FSP_ID_MAX_CHARS),
    ..string("FspId")
};
static CURRENCY_SCHEMA: StringSchema = StringSchema {
    allowed: Some(Allowed::Currency),
    min_length: Some(CURRENCY_CHARS),
    max_length: Some(CURRENCY_CHARS),
    ..string("Currency")
};
static AMOUNT_SCHEMA: StringSchema = StringSchema {
    pattern: Some(AMOUNT),
    ..string("Amount")
};
static MONEY_SCHEMA: ObjectSchema = ObjectSchema {
    name: "Money",
    properties: &[
        ("currency", Schema::String(&CURRENCY_SCHEMA)),
        ("amount", Schema::String(&AMOUNT_SCHEMA)),
    ],
    required: &["currency", "amount"],
};
static ILP_PACKET_SCHEMA: StringSchema = StringSchema {
    pattern: Some(ILP_PACKET),
    min_length: Some(ILP_PACKET_MIN_CHARS),
    max_length: Some(ILP_PACKET_MAX_CHARS),
    ..string("IlpPacket")
};
static ILP_CONDITION_SCHEMA: StringSchema = StringSchema {
    pattern: Some(ILP_CONDITION),
    max_length: Some(CONDITION_MAX_CHARS),
    ..string("IlpCondition")
};
static ILP_FULFILMENT_SCHEMA: StringSchema = StringSchema {
    pattern: Some(ILP_FULFILMENT),
    max_length: Some(CONDITION_MAX_CHARS),
    ..string("IlpFulfilment")
};
static DATE_TIME_SCHEMA: StringSchema = StringSchema {
    pattern: Some(DATE_TIME),
    ..string("DateTime")
};
static EXTENSION_KEY_SCHEMA: StringSchema = StringSchema {
    min_length: Some(EXTENSION_MIN_CHARS),
    max_length: Some(EXTENSION_KEY_MAX_CHARS),
    ..string("ExtensionKey")
};
static EXTENSION_VALUE_SCHEMA: StringSchema = StringSchema {
    min_length: Some(EXTENSION_MIN_CHARS),
    max_length: Some(EXTENSION_VALUE_MAX_CHARS),
    ..string("ExtensionValue")
};
static EXTENSION_SCHEMA: ObjectSchema = ObjectSchema {
    name: "Extension",
    properties: &[
        ("key", Schema::String(&EXTENSION_KEY_SCHEMA)),
        ("value", Schema::String(&EXTENSION_VALUE_SCHEMA)),
    ],
    required: &["key", "value"],
};
static EXTENSION_ARRAY_SCHEMA: ArraySchema = ArraySchema {
    items: Schema::Object(&EXTENSION_SCHEMA),
    min_items: EXTENSION_LIST_MIN_ITEMS,
    max_items: EXTENSION_LIST_MAX_ITEMS,
};
static EXTENSION_LIST_SCHEMA: ObjectSchema = ObjectSchema {
    name: "ExtensionList",
    properties: &[("extension", Schema::Array(&EXTENSION_ARRAY_SCHEMA))],
    required: &["extension"],
};
static TRANSFER_STATE_SCHEMA: StringSchema = StringSchema {
    allowed: Some(Allowed::TransferState),
    ..string("TransferState")
};
static ERROR_CODE_SCHEMA: StringSchema = StringSchema {
    pattern: Some(ERROR_CODE),
    ..string("ErrorCode")
};
static ERROR_DESCRIPTION_SCHEMA: StringSchema = StringSchema {
    min_length: Some(ERROR_DESCRIPTION_MIN_CHARS),
    max_length: Some(ERROR_DESCRIPTION_MAX_CHARS),
    ..string("ErrorDescription")
};
static ERROR_INFORMATION_SCHEMA: ObjectSchema = ObjectSchema {
    name: "ErrorInformation",
    properties: &[
        ("errorCode", Schema::String(&ERROR_CODE_SCHEMA)),
        (
            "errorDescription",
            Schema::String(&ERROR_DESCRIPTION_SCHEMA),
        ),
        ("extensionList", Schema::Object(&EXTENSION_LIST_SCHEMA)),
    ],
    required: &["errorCode", "errorDescription"],
};

static TRANSFERS_POST_REQUEST: ObjectSchema = ObjectSchema {
    name: "TransfersPostRequest",
    properties: &[
        ("transferId", Schema::String(&CORRELATION_ID_SCHEMA)),
        ("payeeFsp", Schema::String(&FSP_ID_SCHEMA)),
        ("payerFsp", Schema::String(&FSP_ID_SCHEMA)),
        ("amount", Schema::Object(&MONEY_SCHEMA)),
        ("ilpPacket", Schema::String(&ILP_PACKET_SCHEMA)),
        ("condition", Schema::String(&ILP_CONDITION_SCHEMA)),
        ("expiration", Schema::String(&DATE_TIME_SCHEMA)),
        ("extensionList", Schema::Object(&EXTENSION_LIST_SCHEMA)),
    ],
    required: &[
        "transferId",
        "payeeFsp",
        "payerFsp",
        "amount",
        "ilpPacket",
        "condition",
        "expiration",
    ],
};
static TRANSFERS_ID_PUT_RESPONSE: ObjectSchema = ObjectSchema {
    name: "TransfersIDPutResponse",
    properties: &[
        ("fulfilment", Schema::String(&ILP_FULFILMENT_SCHEMA)),
        ("completedTimestamp", Schema::String(&DATE_TIME_SCHEMA)),
        ("transferState", Schema::String(&TRANSFER_STATE_SCHEMA)),
        ("extensionList", Schema::Object(&EXTENSION_LIST_SCHEMA)),
    ],
    required: &["transferState"],
};
static ERROR_INFORMATION_OBJECT: ObjectSchema = ObjectSchema {
    name: "ErrorInformationObject",
    properties: &[(
        "errorInformation",
        Schema::Object(&ERROR_INFORMATION_SCHEMA),
    )],
    required: &["errorInformation"],
};
static TRANSFERS_ID_PATCH_RESPONSE: ObjectSchema = ObjectSchema {
    name: "TransfersIDPatchResponse",
    properties: &[
        ("completedTimestamp", Schema::String(&DATE_TIME_SCHEMA)),
        ("transferState", Schema::String(&TRANSFER_STATE_SCHEMA)),
        ("extensionList", Schema::Object(&EXTENSION_LIST_SCHEMA)),
    ],
    required: &["completedTimestamp", "transferState"],
};

/// Knobs of body validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyOptions {
    /// Refuse members a schema does not define (3103), as the FSPIOP v2.0 definition's
    /// `additionalProperties: false` does. Default `true`; `false` behaves like Mojaloop's adapter,
    /// whose YAML leaves the objects open.
    pub reject_additional_properties: bool,
}

impl Default for BodyOptions {
    fn default() -> Self {
        Self {
            reject_additional_properties: true,
        }
    }
}

/// Validates a `POST /transfers` body (`TransfersPostRequest`) and returns it parsed.
pub fn validate_prepare(body: &[u8]) -> Result<Value, FspiopError> {
    validate_prepare_with(body, &BodyOptions::default())
}

/// [`validate_prepare`] with explicit options.
pub fn validate_prepare_with(body: &[u8], options: &BodyOptions) -> Result<Value, FspiopError> {
    validate_body(body, &TRANSFERS_POST_REQUEST, options)
}

/// Validates a `PUT /transfers/{ID}` body (`TransfersIDPutResponse`) and returns it parsed.
/// The `completedTimestamp` window is a separate step: [`check_completed_timestamp`].
pub fn validate_fulfil(body: &[u8]) -> Result<Value, FspiopError> {
    validate_fulfil_with(body, &BodyOptions::default())
}

/// [`validate_fulfil`] with explicit options.
pub fn validate_fulfil_with(body: &[u8], options: &BodyOptions) -> Result<Value, FspiopError> {
    validate_body(body, &TRANSFERS_ID_PUT_RESPONSE, options)
}

/// Validates a `PUT /transfers/{ID}/error` body (`ErrorInformationObject`) and returns it parsed.
pub fn validate_error(body: &[u8]) -> Result<Value, FspiopError> {
    validate_error_with(body, &BodyOptions::default())
}

/// [`validate_error`] with explicit options.
pub fn validate_error_with(body: &[u8], options: &BodyOptions) -> Result<Value, FspiopError> {
    validate_body(body, &ERROR_INFORMATION_OBJECT, options)
}

/// Validates a `PATCH /transfers/{ID}` body (`TransfersIDPatchResponse`). Inbound PATCH is
/// answered 2002 by the adapter; this exists to check what the hub itself sends.
pub fn validate_patch(body: &[u8]) -> Result<Value, FspiopError> {
    validate_patch_with(body, &BodyOptions::default())
}

/// [`validate_patch`] with explicit options.
pub fn validate_patch_with(body: &[u8], options: &BodyOptions) -> Result<Value, FspiopError> {
    validate_body(body, &TRANSFERS_ID_PATCH_RESPONSE, options)
}

/// 3104 if a body of `len` bytes is over [`MAX_BODY_BYTES`]. The HTTP layer enforces the limit
/// while reading (so an oversized body is never buffered); this gives it the FSPIOP error.
pub fn check_body_size(len: usize) -> Result<(), FspiopError> {
    if len > MAX_BODY_BYTES {
        Err(FspiopError::with_detail(
            ErrorCode::TOO_LARGE_PAYLOAD,
            PAYLOAD_TOO_LARGE,
        ))
    } else {
        Ok(())
    }
}

/// The adapter's extra fulfil check (`src/lib/validator.js` in ml-api-adapter;
/// docs/fspiop-api.md#the-completedtimestamp-window): a
/// `completedTimestamp` must lie in `[now - max_fulfil_timeout, now + max_lag]`, else 3100.
/// Mojaloop skips it for a request with `FSPIOP-Proxy`; ferroloop's adapter refuses such requests
/// before the body is read, so it always applies.
pub fn check_completed_timestamp(
    completed: OffsetDateTime,
    now: OffsetDateTime,
    max_fulfil_timeout: Duration,
    max_lag: Duration,
) -> Result<(), FspiopError> {
    // An unrepresentable bound (overflow) means that side is unbounded.
    if now
        .checked_add(max_lag)
        .is_some_and(|latest| completed > latest)
    {
        return Err(FspiopError::with_detail(
            ErrorCode::VALIDATION_ERROR,
            COMPLETED_TIMESTAMP_IN_FUTURE,
        ));
    }
    if now
        .checked_sub(max_fulfil_timeout)
        .is_some_and(|earliest| completed < earliest)
    {
        return Err(FspiopError::with_detail(
            ErrorCode::VALIDATION_ERROR,
            COMPLETED_TIMESTAMP_TOO_OLD,
        ));
    }
    Ok(())
}

/// The `completedTimestamp` of a validated fulfil body, if it has one.
pub fn completed_timestamp(body: &Value) -> Option<OffsetDateTime> {
    body.get("completedTimestamp")
        .and_then(Value::as_str)
        .and_then(|s| fspiop_time::parse(s).ok())
}

fn validate_body(
    body: &[u8],
    schema: &'static ObjectSchema,
    options: &BodyOptions,
) -> Result<Value, FspiopError> {
    // An empty body is what Hapi hands on as a `null` payload.
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|_| FspiopError::with_detail(ErrorCode::MALFORMED_SYNTAX, INVALID_JSON))?
    };
    let mut path = String::from(BODY_PATH);
    check(&value, Schema::Object(schema), &mut path, options).map_err(Failure::into_error)?;
    Ok(value)
}

/// The first schema violation: an ajv error reduced to what the FSPIOP error needs.
#[derive(Debug)]
struct Failure {
    code: ErrorCode,
    path: String,
    message: String,
}

impl Failure {
    fn new(code: ErrorCode, path: &str, message: String) -> Self {
        Self {
            code,
            path: path.to_owned(),
            message,
        }
    }

    fn into_error(self) -> FspiopError {
        FspiopError::with_detail(self.code, format!("{} {}", self.path, self.message))
    }
}

fn check(
    value: &Value,
    schema: Schema,
    path: &mut String,
    options: &BodyOptions,
) -> Result<(), Failure> {
    match schema {
        Schema::Object(object) => check_object(value, object, path, options),
        Schema::Array(array) => check_array(value, array, path, options),
        Schema::String(string) => check_string(value, string, path),
    }
}

fn type_error(path: &str, expected: &str) -> Failure {
    Failure::new(
        ErrorCode::MALFORMED_SYNTAX,
        path,
        format!("must be {expected}"),
    )
}

fn check_object(
    value: &Value,
    schema: &ObjectSchema,
    path: &mut String,
    options: &BodyOptions,
) -> Result<(), Failure> {
    let Value::Object(members) = value else {
        return Err(type_error(path, "object"));
    };
    if let Some(name) = schema
        .required
        .iter()
        .find(|name| !members.contains_key(**name))
    {
        return Err(Failure::new(
            ErrorCode::MISSING_ELEMENT,
            path,
            format!("must have required property '{name}'"),
        ));
    }
    let is_defined = |key: &String| schema.properties.iter().any(|(name, _)| name == key);
    if options.reject_additional_properties && !members.keys().all(is_defined) {
        return Err(Failure::new(
            ErrorCode::TOO_MANY_ELEMENTS,
            path,
            "must NOT have additional properties".to_owned(),
        ));
    }
    for (name, property) in schema.properties {
        if let Some(member) = members.get(*name) {
            let parent_len = path.len();
            // Property names of these schemas need no JSON-pointer escaping (no `~` or `/`).
            path.push('/');
            path.push_str(name);
            check(member, *property, path, options)?;
            path.truncate(parent_len);
        }
    }
    Ok(())
}

fn check_array(
    value: &Value,
    schema: &ArraySchema,
    path: &mut String,
    options: &BodyOptions,
) -> Result<(), Failure> {
    let Value::Array(items) = value else {
        return Err(type_error(path, "array"));
    };
    if items.len() > schema.max_items {
        return Err(Failure::new(
            ErrorCode::VALIDATION_ERROR,
            path,
            format!("must NOT have more than {} items", schema.max_items),
        ));
    }
    if items.len() < schema.min_items {
        return Err(Failure::new(
            ErrorCode::VALIDATION_ERROR,
            path,
            format!("must NOT have fewer than {} items", schema.min_items),
        ));
    }
    for (index, item) in items.iter().enumerate() {
        let parent_len = path.len();
        path.push('/');
        path.push_str(&index.to_string());
        check(item, schema.items, path, options)?;
        path.truncate(parent_len);
    }
    Ok(())
}

fn check_string(value: &Value, schema: &StringSchema, path: &str) -> Result<(), Failure> {
    let Value::String(s) = value else {
        return Err(type_error(path, "string"));
    };
    let generic = |message: String| Failure::new(ErrorCode::VALIDATION_ERROR, path, message);
    if schema.allowed.is_some_and(|allowed| !allowed.contains(s)) {
        return Err(generic(
            "must be equal to one of the allowed values".to_owned(),
        ));
    }
    // Only count characters when a limit could be crossed.
    if schema.max_length.is_some() || schema.min_length.is_some() {
        let chars = s.chars().count();
        if let Some(max) = schema.max_length.filter(|max| chars > *max) {
            return Err(generic(format!("must NOT have more than {max} characters")));
        }
        if let Some(min) = schema.min_length.filter(|min| chars < *min) {
            return Err(generic(format!(
                "must NOT have fewer than {min} characters"
            )));
        }
    }
    if let Some(pattern) = schema.pattern.filter(|p| !p.is_match(s)) {
        return Err(generic(format!(
            "must match pattern \"{}\"",
            pattern.source
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
