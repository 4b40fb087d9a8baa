//! FSPIOP errors: the code catalogue (code, name, message, HTTP status) and [`FspiopError`], the
//! error a handler sends to a DFSP.
//!
//! HTTP status rule (central-services-error-handling): the per-code status declared in
//! `error-codes.json` if any, else by range — 10xx → 503, 2002 → 501, 2003 → 503, other 20xx →
//! 500, 3001 → 406, 3002 → 404, everything else → 400. Code 3000 has two entries: the generic
//! client error (400) that [`lookup`] returns, and the "Method Not Allowed" variant (405) from
//! [`method_not_allowed`].

mod catalogue;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::api::{ErrorInformation, ErrorInformationObject, ExtensionList};

pub use catalogue::CATALOGUE;

/// `maxLength` of the FSPIOP `ErrorDescription`.
pub const ERROR_DESCRIPTION_MAX_CHARS: usize = 128;
/// Catalogue name of the 405 variant of 3000.
const METHOD_NOT_ALLOWED_NAME: &str = "METHOD_NOT_ALLOWED";

/// An FSPIOP error code: four digits, no leading zero (`^[1-9]\d{3}$`). Named constants (one per
/// catalogue name, e.g. [`ErrorCode::VALIDATION_ERROR`] = 3100) are generated with the catalogue.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCode(u16);

/// A string or number that is not a four-digit error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error code must be four digits without a leading zero")]
pub struct InvalidErrorCode;

impl ErrorCode {
    /// `Some` for 1000..=9999.
    pub const fn new(code: u16) -> Option<ErrorCode> {
        if code >= 1000 && code <= 9999 {
            Some(ErrorCode(code))
        } else {
            None
        }
    }

    /// Parses the wire form, exactly `^[1-9]\d{3}$`.
    pub fn parse(s: &str) -> Result<ErrorCode, InvalidErrorCode> {
        match s.as_bytes() {
            [first @ b'1'..=b'9', rest @ ..]
                if rest.len() == 3 && rest.iter().all(u8::is_ascii_digit) =>
            {
                let code = [*first]
                    .iter()
                    .chain(rest)
                    .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
                ErrorCode::new(code).ok_or(InvalidErrorCode)
            }
            _ => Err(InvalidErrorCode),
        }
    }

    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// The catalogue entry (the generic one for 3000), `None` for codes outside the catalogue.
    pub fn entry(self) -> Option<&'static CatalogueEntry> {
        lookup(self)
    }

    /// The HTTP status for a synchronous response with this code.
    pub fn http_status(self) -> u16 {
        lookup(self).map_or_else(|| http_status_rule(self.0, None), |e| e.http_status)
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorCode({})", self.0)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl FromStr for ErrorCode {
    type Err = InvalidErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The wire form is a 4-digit string (`"3100"`).
impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        ErrorCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where a catalogue entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryOrigin {
    /// `fspiop/error-codes.json`.
    ErrorCodesJson,
    /// Added from central-ledger, which uses it (6000 "Generic Settlement Error";
    /// docs/fspiop-api.md#error-codes-and-http-status).
    Reference,
}

/// One FSPIOP error definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueEntry {
    pub code: ErrorCode,
    /// Mojaloop's constant name, e.g. `VALIDATION_ERROR`.
    pub name: &'static str,
    /// The exact message, the first part of every `errorDescription`.
    pub message: &'static str,
    /// The status declared for this code in the source file, if any.
    pub declared_http_status: Option<u16>,
    /// The effective HTTP status (declared, else by range).
    pub http_status: u16,
    pub origin: EntryOrigin,
}

const fn entry(
    code: u16,
    name: &'static str,
    message: &'static str,
    declared_http_status: Option<u16>,
    origin: EntryOrigin,
) -> CatalogueEntry {
    CatalogueEntry {
        code: ErrorCode(code),
        name,
        message,
        declared_http_status,
        http_status: http_status_rule(code, declared_http_status),
        origin,
    }
}

/// The HTTP status of a code: the declared override, else by range.
pub const fn http_status_rule(code: u16, declared: Option<u16>) -> u16 {
    if let Some(status) = declared {
        return status;
    }
    match code {
        1000..=1099 => 503,
        2002 => 501,
        2003 => 503,
        2000..=2099 => 500,
        3001 => 406,
        3002 => 404,
        _ => 400,
    }
}

/// The catalogue entry for `code` (for 3000 the generic 400 entry), `None` if not catalogued.
pub fn lookup(code: ErrorCode) -> Option<&'static CatalogueEntry> {
    CATALOGUE
        .iter()
        .find(|e| e.code == code && e.name != METHOD_NOT_ALLOWED_NAME)
}

/// The entry with Mojaloop's constant `name`.
pub fn lookup_name(name: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.iter().find(|e| e.name == name)
}

/// 3000 "Generic client error - Method Not Allowed", HTTP 405.
pub fn method_not_allowed() -> &'static CatalogueEntry {
    match lookup_name(METHOD_NOT_ALLOWED_NAME) {
        Some(e) => e,
        None => unreachable!("the catalogue has a METHOD_NOT_ALLOWED entry"),
    }
}

/// Message and status for a code outside the catalogue: those of the closest generic code of
/// its category (e.g. 5199 → 5100 "Generic Payee rejection", 5999 → 5000), as a DFSP reading it
/// would understand it.
fn message_and_status(code: ErrorCode) -> (&'static str, u16) {
    let candidates = [code.0, code.0 / 100 * 100, code.0 / 1000 * 1000];
    candidates
        .into_iter()
        .filter_map(|c| ErrorCode::new(c).and_then(lookup))
        .map(|e| (e.message, e.http_status))
        .next()
        .unwrap_or(("Unknown error", http_status_rule(code.0, None)))
}

/// An error to report to a DFSP: `errorCode`, `errorDescription` and an optional extension list.
///
/// The description is `"<message>"` or `"<message> - <detail>"`, cut to 128 characters (never
/// inside a character), exactly as Mojaloop builds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("FSPIOP error {code}: {description}")]
pub struct FspiopError {
    code: ErrorCode,
    message: &'static str,
    http_status: u16,
    detail: Option<String>,
    description: String,
    extension_list: Option<ExtensionList>,
}

impl FspiopError {
    /// An error with the catalogue message only.
    pub fn new(code: ErrorCode) -> Self {
        let (message, http_status) = message_and_status(code);
        Self::build(code, message, http_status, None)
    }

    /// An error with a detail appended to the message. An empty detail counts as none.
    pub fn with_detail(code: ErrorCode, detail: impl Into<String>) -> Self {
        let (message, http_status) = message_and_status(code);
        Self::build(code, message, http_status, Some(detail.into()))
    }

    /// An error for a specific catalogue entry (e.g. [`method_not_allowed`]).
    pub fn from_entry(entry: &'static CatalogueEntry, detail: Option<String>) -> Self {
        Self::build(entry.code, entry.message, entry.http_status, detail)
    }

    fn build(
        code: ErrorCode,
        message: &'static str,
        http_status: u16,
        detail: Option<String>,
    ) -> Self {
        let detail = detail.filter(|d| !d.is_empty());
        let full = match &detail {
            Some(d) => format!("{message} - {d}"),
            None => message.to_owned(),
        };
        let description = truncate_chars(full, ERROR_DESCRIPTION_MAX_CHARS);
        debug_assert!(description.chars().count() <= ERROR_DESCRIPTION_MAX_CHARS);
        Self {
            code,
            message,
            http_status,
            detail,
            description,
            extension_list: None,
        }
    }

    pub fn with_extension_list(mut self, extension_list: ExtensionList) -> Self {
        self.extension_list = Some(extension_list);
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The catalogue message.
    pub fn message(&self) -> &'static str {
        self.message
    }

    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// `errorDescription`: the message and detail, at most 128 characters.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Status for a synchronous HTTP response.
    pub fn http_status(&self) -> u16 {
        self.http_status
    }

    pub fn extension_list(&self) -> Option<&ExtensionList> {
        self.extension_list.as_ref()
    }

    /// The `errorInformation` member of an FSPIOP error body.
    pub fn to_error_information(&self) -> ErrorInformation {
        ErrorInformation {
            error_code: self.code.to_string(),
            error_description: self.description.clone(),
            extension_list: self.extension_list.clone(),
        }
    }

    /// The full FSPIOP error body `{"errorInformation": {...}}`.
    pub fn to_body(&self) -> ErrorInformationObject {
        ErrorInformationObject {
            error_information: self.to_error_information(),
        }
    }
}

/// Cuts `s` to at most `max` characters (Unicode scalar values), never splitting one.
pub fn truncate_chars(mut s: String, max: usize) -> String {
    if let Some((byte_index, _)) = s.char_indices().nth(max) {
        s.truncate(byte_index);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn catalogue_equals_error_codes_json_entry_by_entry() {
        let file: Value = crate::testdata::json("error-codes.json");
        let codes = file["codes"].as_array().expect("codes");
        let from_file: Vec<&CatalogueEntry> = CATALOGUE
            .iter()
            .filter(|e| e.origin == EntryOrigin::ErrorCodesJson)
            .collect();
        assert_eq!(from_file.len(), codes.len());
        for (entry, json) in from_file.iter().zip(codes) {
            assert_eq!(
                entry.code.to_string(),
                json["code"].as_str().unwrap(),
                "{json}"
            );
            assert_eq!(entry.name, json["name"].as_str().unwrap(), "{json}");
            assert_eq!(entry.message, json["message"].as_str().unwrap(), "{json}");
            let declared = json["httpStatusCode"]
                .as_u64()
                .map(|s| u16::try_from(s).unwrap());
            assert_eq!(entry.declared_http_status, declared, "{json}");
            assert_eq!(
                entry.http_status,
                http_status_rule(entry.code.as_u16(), declared)
            );
            // Every name has a constant with the same code.
            assert_eq!(lookup_name(entry.name).map(|e| e.code), Some(entry.code));
        }
        // Only central-ledger's extra (6000) sits outside the file.
        let extras: Vec<_> = CATALOGUE
            .iter()
            .filter(|e| e.origin == EntryOrigin::Reference)
            .collect();
        assert_eq!(extras.len(), 1);
        assert_eq!(
            (extras[0].code, extras[0].message, extras[0].http_status),
            (
                ErrorCode::GENERIC_SETTLEMENT_ERROR,
                "Generic Settlement Error",
                400
            )
        );
    }

    #[test]
    fn http_status_follows_the_rule() {
        let status = |c: u16| ErrorCode::new(c).unwrap().http_status();
        assert_eq!(status(1000), 503);
        assert_eq!(status(1001), 503);
        assert_eq!(status(2000), 500);
        assert_eq!(status(2001), 500);
        assert_eq!(status(2002), 501);
        assert_eq!(status(2003), 503);
        assert_eq!(status(2004), 500);
        assert_eq!(status(3000), 400);
        assert_eq!(method_not_allowed().http_status, 405);
        assert_eq!(method_not_allowed().code, ErrorCode::CLIENT_ERROR);
        assert_eq!(status(3001), 406);
        assert_eq!(status(3002), 404);
        for c in [3100, 3106, 3208, 3303, 4001, 4200, 5100, 6000, 7000] {
            assert_eq!(status(c), 400, "{c}");
        }
    }

    #[test]
    fn switch_codes_are_catalogued() {
        for (code, n) in [
            (ErrorCode::INTERNAL_SERVER_ERROR, 2001),
            (ErrorCode::NOT_IMPLEMENTED, 2002),
            (ErrorCode::CLIENT_ERROR, 3000),
            (ErrorCode::UNACCEPTABLE_VERSION, 3001),
            (ErrorCode::UNKNOWN_URI, 3002),
            (ErrorCode::VALIDATION_ERROR, 3100),
            (ErrorCode::MALFORMED_SYNTAX, 3101),
            (ErrorCode::MISSING_ELEMENT, 3102),
            (ErrorCode::TOO_MANY_ELEMENTS, 3103),
            (ErrorCode::TOO_LARGE_PAYLOAD, 3104),
            (ErrorCode::INVALID_SIGNATURE, 3105),
            (ErrorCode::MODIFIED_REQUEST, 3106),
            (ErrorCode::TRANSFER_ID_NOT_FOUND, 3208),
            (ErrorCode::TRANSFER_EXPIRED, 3303),
            (ErrorCode::PAYER_FSP_INSUFFICIENT_LIQUIDITY, 4001),
            (ErrorCode::PAYER_LIMIT_ERROR, 4200),
            (ErrorCode::GENERIC_SETTLEMENT_ERROR, 6000),
        ] {
            assert_eq!(code.as_u16(), n);
            assert!(code.entry().is_some(), "{code}");
        }
        assert_eq!(
            lookup(ErrorCode::CLIENT_ERROR).unwrap().message,
            "Generic client error"
        );
        assert_eq!(lookup(ErrorCode::new(3999).unwrap()), None);
    }

    #[test]
    fn code_syntax() {
        assert_eq!(ErrorCode::parse("3100"), Ok(ErrorCode::VALIDATION_ERROR));
        for bad in ["0310", "310", "31000", "31a0", "", "+310", " 3100"] {
            assert_eq!(ErrorCode::parse(bad), Err(InvalidErrorCode), "{bad:?}");
        }
        assert_eq!(ErrorCode::new(999), None);
        assert_eq!(ErrorCode::new(10000), None);
        assert_eq!(
            serde_json::to_string(&ErrorCode::PAYER_LIMIT_ERROR).unwrap(),
            "\"4200\""
        );
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"4001\"")
                .unwrap()
                .as_u16(),
            4001
        );
        assert!(serde_json::from_str::<ErrorCode>("4001").is_err());
    }

    #[test]
    fn description_is_message_dash_detail_cut_to_128_chars() {
        let e = FspiopError::new(ErrorCode::MODIFIED_REQUEST);
        assert_eq!(e.description(), "Modified request");
        let e = FspiopError::with_detail(ErrorCode::MISSING_ELEMENT, "Accept is required");
        assert_eq!(
            e.description(),
            "Missing mandatory element - Accept is required"
        );
        assert_eq!(
            e.to_string(),
            "FSPIOP error 3102: Missing mandatory element - Accept is required"
        );
        assert_eq!(
            FspiopError::with_detail(ErrorCode::MODIFIED_REQUEST, "").description(),
            "Modified request"
        );
        // Multi-byte characters are counted as characters and never split.
        let e = FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, "é".repeat(200));
        assert_eq!(e.description().chars().count(), 128);
        assert!(e.description().starts_with("Generic validation error - éé"));
        assert_eq!(e.detail().map(|d| d.chars().count()), Some(200));
        assert_eq!(e.http_status(), 400);
    }

    #[test]
    fn uncatalogued_codes_use_their_category() {
        let e = FspiopError::new(ErrorCode::new(5199).unwrap());
        assert_eq!(
            (e.message(), e.http_status()),
            ("Generic Payee rejection", 400)
        );
        let e = FspiopError::new(ErrorCode::new(5999).unwrap());
        assert_eq!(e.message(), "Generic Payee error");
        let e = FspiopError::new(ErrorCode::new(9999).unwrap());
        assert_eq!(e.message(), "Unknown error");
        let e = FspiopError::from_entry(method_not_allowed(), None);
        assert_eq!((e.code().as_u16(), e.http_status()), (3000, 405));
    }

    #[test]
    fn body_uses_fspiop_field_names() {
        use crate::api::{Extension, ExtensionList};
        let e = FspiopError::with_detail(
            ErrorCode::VALIDATION_ERROR,
            "Amount 1.12345 exceeds allowed scale of 4",
        )
        .with_extension_list(ExtensionList {
            extension: vec![Extension {
                key: "cause".into(),
                value: "x".into(),
            }],
        });
        let json = serde_json::to_string(&e.to_body()).unwrap();
        assert_eq!(
            json,
            r#"{"errorInformation":{"errorCode":"3100","errorDescription":"Generic validation error - Amount 1.12345 exceeds allowed scale of 4","extensionList":{"extension":[{"key":"cause","value":"x"}]}}}"#
        );
        let plain = serde_json::to_string(&FspiopError::new(ErrorCode::TRANSFER_EXPIRED).to_body())
            .unwrap();
        assert_eq!(
            plain,
            r#"{"errorInformation":{"errorCode":"3303","errorDescription":"Transfer expired"}}"#
        );
    }
}
