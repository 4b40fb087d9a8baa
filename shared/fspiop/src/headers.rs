//! Request header validation, exactly as Mojaloop's `fspiop-api-protocol-version-header-validator`
//! plugin (central-services-shared `src/util/hapi/plugins/headerValidation.js` and
//! `src/util/headerValidation`) does it for the adapter's `transfers` and `fxTransfers`
//! resources (docs/fspiop-api.md#header-rules).
//!
//! Checks, in the plugin's order (the first failure is reported):
//!
//! 1. The plugin's first rule — a gateway's `x-client-id` must name the sender — is not here: who
//!    sent a request is the API adapter's sender authentication (`services/api-adapter`,
//!    `sender.rs`), which compares `x-client-id` with `FSPIOP-Source` only (never with
//!    `FSPIOP-Proxy`, which the adapter refuses) and reports [`INVALID_SOURCE_HEADER`].
//! 2. `Accept` — required for GET, POST and DELETE (docs/fspiop-api.md#content-type-and-accept),
//!    validated when present and non-empty for PUT/PATCH: missing → 3102 `"Accept is required"`;
//!    not `application/vnd.interoperability.<resource>+json[;version=X[.Y]]` (comma-separated
//!    list, no space after the comma) → 3101 `"Invalid accept header"`; no listed version
//!    supported (a missing version means "any") → 3001 with the supported versions as
//!    `{key: major, value: minor}` extensions.
//! 3. `Date` — always required, strict RFC 1123 (`ddd, DD MMM YYYY HH:mm:ss GMT`): 3102
//!    `"Missing required date header"` / 3101 `"Invalid date header"`.
//! 4. `Content-Type` — always required, **also for GET** (the plugin has no method exemption and
//!    the OpenAPI file declares it `required: true` at path level for `/transfers/{ID}`; a DFSP
//!    client that omits it on GET gets 3102 from Mojaloop too):
//!    `^application/vnd\.interoperability\.<resource>\+json\s?;\s?version=(\d+\.\d+)$`, version in
//!    the content list: 3102 `"Content-type is required"` / 3101 `"Invalid content-type header"` /
//!    3001.
//! 5. `FSPIOP-Source` — required by the OpenAPI definition; Mojaloop reports it from
//!    openapi-backend's parameter validation as 3102
//!    `"/header must have required property 'fspiop-source'"`, which is the detail used here. An
//!    empty value is refused the same way (ajv would let `""` through, but no participant has an
//!    empty name, and every later check would fail less clearly).
//!
//! Ambiguities decided here:
//! - The order Accept → Date → Content-Type follows the plugin's code; descriptions of the plugin
//!   list its rules in other orders without saying which is checked first.
//! - In Mojaloop, body schema errors are found by openapi-backend *before* a missing
//!   `FSPIOP-Source` (body validators run before parameter validators); here all header checks,
//!   including `FSPIOP-Source`, run before the body is looked at. Only the precedence between two
//!   simultaneous errors differs.
//! - Header values are read the way Node.js reads them: bytes as Latin-1, duplicate lines joined
//!   with `", "` except for the headers Node keeps only once (first wins) — so two `Accept` lines
//!   become one value with `", "` that the Accept pattern then refuses, as in Mojaloop.
//! - The `Content-Length` check of the plugin is a no-op in Mojaloop (it compares against an
//!   undefined constant; docs/mojaloop-differences.md#path-id-query-string-and-body-size); the body
//!   size limit lives in [`crate::body::MAX_BODY_BYTES`] and is enforced by the HTTP layer.

use std::collections::BTreeMap;
use std::fmt;

use ferroloop_core::api::{Extension, ExtensionList};
use ferroloop_core::error::{ErrorCode, FspiopError};
use http::{HeaderMap, Method};

/// Lower-case names of the headers this crate reads or writes (Node.js lower-cases all names).
pub mod names {
    pub const ACCEPT: &str = "accept";
    pub const CONTENT_TYPE: &str = "content-type";
    pub const CONTENT_LENGTH: &str = "content-length";
    pub const DATE: &str = "date";
    pub const HOST: &str = "host";
    pub const FSPIOP_SOURCE: &str = "fspiop-source";
    pub const FSPIOP_DESTINATION: &str = "fspiop-destination";
    pub const FSPIOP_SIGNATURE: &str = "fspiop-signature";
    pub const FSPIOP_URI: &str = "fspiop-uri";
    pub const FSPIOP_HTTP_METHOD: &str = "fspiop-http-method";
    pub const FSPIOP_PROXY: &str = "fspiop-proxy";
    pub const FSPIOP_ENCRYPTION: &str = "fspiop-encryption";
    /// Set by an API gateway (Oathkeeper in Mojaloop deployments) to the authenticated client.
    pub const X_CLIENT_ID: &str = "x-client-id";
}

/// The FSPIOP resource whose requests this switch serves.
pub const TRANSFERS_RESOURCE: &str = "transfers";
/// The resources the adapter runs header validation for (docs/fspiop-api.md#header-rules).
pub const VALIDATED_RESOURCES: [&str; 2] = ["transfers", "fxTransfers"];

/// Every `Accept` version Mojaloop's header validator knows (its `protocolVersions`, 1.x and 2.x).
pub const KNOWN_ACCEPT_VERSIONS: [&str; 5] = ["1", "1.0", "1.1", "2", "2.0"];
/// Accept versions ml-api-adapter supports by default (`PROTOCOL_VERSIONS.ACCEPT.VALIDATELIST`):
/// FSPIOP 1.x. Version 2.0 is one setting away ([`VersionConfig::with_2_0`]).
pub const DEFAULT_ACCEPT_VERSIONS: [&str; 3] = ["1", "1.0", "1.1"];
/// Content-Type versions supported by default (`PROTOCOL_VERSIONS.CONTENT.VALIDATELIST`); the
/// order is Mojaloop's and shows in the 3001 extension list
/// (docs/fspiop-api.md#content-type-and-accept).
pub const DEFAULT_CONTENT_VERSIONS: [&str; 2] = ["1.1", "1.0"];
/// What enabling FSPIOP 2.0 adds to the `Accept` versions.
pub const V2_0_ACCEPT_VERSIONS: [&str; 2] = ["2", "2.0"];
/// What enabling FSPIOP 2.0 adds to the `Content-Type` versions.
pub const V2_0_CONTENT_VERSIONS: [&str; 1] = ["2.0"];

/// Detail of 3102 for a missing `Accept`.
pub const REQUIRE_ACCEPT_HEADER: &str = "Accept is required";
/// Detail of 3101 for a malformed `Accept`.
pub const INVALID_ACCEPT_HEADER: &str = "Invalid accept header";
/// Detail of 3001 for an `Accept` without any supported version.
pub const REQUESTED_VERSION_NOT_SUPPORTED: &str =
    "The Client requested an unsupported version, see extension list for supported version(s).";
/// Detail of 3102 for a missing `Content-Type`.
pub const REQUIRE_CONTENT_TYPE_HEADER: &str = "Content-type is required";
/// Detail of 3101 for a malformed `Content-Type`.
pub const INVALID_CONTENT_TYPE_HEADER: &str = "Invalid content-type header";
/// Detail of 3001 for an unsupported `Content-Type` version.
pub const SUPPLIED_VERSION_NOT_SUPPORTED: &str =
    "Client supplied a protocol version which is not supported by the server";
/// Detail of 3102 for a missing `Date`.
pub const MISSING_DATE_HEADER: &str = "Missing required date header";
/// Detail of 3101 for a `Date` that is not RFC 1123.
pub const INVALID_DATE_HEADER: &str = "Invalid date header";
/// Detail of 3102 for a missing `FSPIOP-Source` (openapi-backend's parameter error text).
pub const MISSING_SOURCE_HEADER: &str = "/header must have required property 'fspiop-source'";
/// Detail of 3100 when `FSPIOP-Source` differs from the gateway's `x-client-id`.
pub const INVALID_SOURCE_HEADER: &str = "Invalid fspiop-source header";

/// Headers whose repeated lines Node.js discards, keeping the first (`http.IncomingMessage`
/// `headers`); every other repeated header is joined with `", "` (`cookie` with `"; "`).
const NODE_SINGLE_VALUE_HEADERS: [&str; 18] = [
    "age",
    "authorization",
    "content-length",
    "content-type",
    "etag",
    "expires",
    "from",
    "host",
    "if-modified-since",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "proxy-authorization",
    "referer",
    "retry-after",
    "server",
    "user-agent",
];

/// An FSPIOP protocol version `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion {
    pub major: u16,
    pub minor: u16,
}

impl ProtocolVersion {
    pub const V1_0: ProtocolVersion = ProtocolVersion::new(1, 0);
    pub const V1_1: ProtocolVersion = ProtocolVersion::new(1, 1);
    pub const V2_0: ProtocolVersion = ProtocolVersion::new(2, 0);

    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// Parses `"X.Y"` (ASCII digits on both sides).
    pub fn parse(s: &str) -> Option<Self> {
        let (major, minor) = s.split_once('.')?;
        Some(Self::new(parse_digits(major)?, parse_digits(minor)?))
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

fn parse_digits(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Which protocol versions the adapter accepts.
///
/// Versions are compared as text, as the plugin does (`"1"` and `"1.0"` are different entries;
/// `"01.1"` is well-formed but matches nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionConfig {
    /// Versions an `Accept` entry may name.
    pub accept_versions: Vec<String>,
    /// Whether an `Accept` entry without `;version=` ("any version") is acceptable — Mojaloop's
    /// adapter adds `protocolVersions.anyVersion` to its list, so it is by default.
    pub accept_any_version: bool,
    /// Versions a `Content-Type` may carry (always `major.minor`).
    pub content_versions: Vec<String>,
}

impl Default for VersionConfig {
    /// ml-api-adapter's defaults: FSPIOP 1.x only.
    fn default() -> Self {
        Self {
            accept_versions: DEFAULT_ACCEPT_VERSIONS.map(str::to_owned).to_vec(),
            accept_any_version: true,
            content_versions: DEFAULT_CONTENT_VERSIONS.map(str::to_owned).to_vec(),
        }
    }
}

impl VersionConfig {
    /// These versions and FSPIOP 2.0 (`2`, `2.0` in `Accept`, `2.0` in `Content-Type`), each
    /// added at the end of its list unless it is there already.
    #[must_use]
    pub fn with_2_0(mut self) -> Self {
        fn add(list: &mut Vec<String>, extra: &[&str]) {
            for version in extra {
                if !list.iter().any(|v| v == version) {
                    list.push((*version).to_owned());
                }
            }
        }
        add(&mut self.accept_versions, &V2_0_ACCEPT_VERSIONS);
        add(&mut self.content_versions, &V2_0_CONTENT_VERSIONS);
        self
    }
}

/// The result of a successful [`validate_request_headers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedHeaders {
    content_version: ProtocolVersion,
    source: String,
    destination: Option<String>,
    headers: BTreeMap<String, String>,
}

impl ValidatedHeaders {
    /// The version of the `Content-Type` header.
    pub fn content_version(&self) -> ProtocolVersion {
        self.content_version
    }

    /// `FSPIOP-Source`, non-empty.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `FSPIOP-Destination`, if present and non-empty.
    pub fn destination(&self) -> Option<&str> {
        self.destination.as_deref()
    }

    /// One header by lower-case name.
    pub fn get(&self, lower_case_name: &str) -> Option<&str> {
        self.headers.get(lower_case_name).map(String::as_str)
    }

    /// All headers, lower-cased names, values as Node.js reads them — what Mojaloop copies into
    /// the Kafka message (`content.headers`).
    pub fn headers(&self) -> &BTreeMap<String, String> {
        &self.headers
    }

    pub fn into_headers(self) -> BTreeMap<String, String> {
        self.headers
    }
}

/// The first path segment, which the plugin uses as the resource name
/// (`path.replace(/^\//, '').split('/')[0]`): `/transfers/{ID}/error` → `transfers`.
pub fn resource_from_path(path: &str) -> &str {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split('/').next().unwrap_or_default()
}

/// Whether the adapter validates headers of requests on this resource.
pub fn is_validated_resource(resource: &str) -> bool {
    VALIDATED_RESOURCES.contains(&resource)
}

/// All headers with lower-cased names and values read as Node.js reads them: bytes as Latin-1
/// (so nothing is ever lost or refused at this stage) and repeated lines joined with `", "`
/// (`"; "` for `cookie`), except the headers Node keeps once, where the first line wins.
pub fn lower_cased_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in headers.keys() {
        // `HeaderName`s are already lower case.
        let name = name.as_str();
        let mut values = headers.get_all(name).iter().map(|v| latin1(v.as_bytes()));
        let Some(first) = values.next() else {
            continue;
        };
        let value = if NODE_SINGLE_VALUE_HEADERS.contains(&name) {
            first
        } else {
            let separator = if name == "cookie" { "; " } else { ", " };
            values.fold(first, |mut acc, v| {
                acc.push_str(separator);
                acc.push_str(&v);
                acc
            })
        };
        out.insert(name.to_owned(), value);
    }
    out
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Validates the headers of an FSPIOP request on `resource` (see the module documentation for
/// the rules and their order). Call it only for [`VALIDATED_RESOURCES`], as the adapter does.
pub fn validate_request_headers(
    method: &Method,
    resource: &str,
    headers: &HeaderMap,
    config: &VersionConfig,
) -> Result<ValidatedHeaders, FspiopError> {
    let headers = lower_cased_headers(headers);
    let get = |name: &str| headers.get(name).map(String::as_str);

    // The plugin tests `headers.accept === undefined` for the required case and the header's
    // truthiness for the optional one, so an empty Accept is "malformed" on GET/POST/DELETE and
    // ignored on PUT/PATCH.
    let accept = get(names::ACCEPT);
    let accept_required = [Method::GET, Method::POST, Method::DELETE].contains(method);
    if accept_required || accept.is_some_and(|a| !a.is_empty()) {
        let accept = accept.ok_or_else(|| missing(REQUIRE_ACCEPT_HEADER))?;
        let versions =
            parse_accept(resource, accept).ok_or_else(|| malformed(INVALID_ACCEPT_HEADER))?;
        let supported = versions.iter().any(|v| match v {
            AcceptVersion::Any => config.accept_any_version,
            AcceptVersion::Listed(v) => config.accept_versions.iter().any(|s| s == v),
        });
        if !supported {
            return Err(unacceptable(
                REQUESTED_VERSION_NOT_SUPPORTED,
                &config.accept_versions,
            ));
        }
    }

    let date = get(names::DATE).ok_or_else(|| missing(MISSING_DATE_HEADER))?;
    if !is_rfc1123_date(date) {
        return Err(malformed(INVALID_DATE_HEADER));
    }

    let content_type =
        get(names::CONTENT_TYPE).ok_or_else(|| missing(REQUIRE_CONTENT_TYPE_HEADER))?;
    let version = parse_content_type(resource, content_type)
        .ok_or_else(|| malformed(INVALID_CONTENT_TYPE_HEADER))?;
    let content_version = config
        .content_versions
        .iter()
        .any(|s| s == version)
        .then(|| ProtocolVersion::parse(version))
        .flatten()
        .ok_or_else(|| unacceptable(SUPPLIED_VERSION_NOT_SUPPORTED, &config.content_versions))?;

    let source = get(names::FSPIOP_SOURCE)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing(MISSING_SOURCE_HEADER))?
        .to_owned();
    let destination = get(names::FSPIOP_DESTINATION)
        .filter(|d| !d.is_empty())
        .map(str::to_owned);

    Ok(ValidatedHeaders {
        content_version,
        source,
        destination,
        headers,
    })
}

fn missing(detail: &str) -> FspiopError {
    FspiopError::with_detail(ErrorCode::MISSING_ELEMENT, detail)
}

fn malformed(detail: &str) -> FspiopError {
    FspiopError::with_detail(ErrorCode::MALFORMED_SYNTAX, detail)
}

/// 3001 with the supported versions as extensions (HTTP 406).
fn unacceptable(detail: &str, supported: &[String]) -> FspiopError {
    let error = FspiopError::with_detail(ErrorCode::UNACCEPTABLE_VERSION, detail);
    let list = supported_versions_extension_list(supported);
    if list.extension.is_empty() {
        error
    } else {
        error.with_extension_list(list)
    }
}

/// `convertSupportedVersionToExtensionList`: `"X.Y"` → `{key: "X", value: "Y"}`, `"X"` →
/// `{key: "X", value: "0"}`, anything else skipped, duplicates removed (first kept).
pub fn supported_versions_extension_list(versions: &[String]) -> ExtensionList {
    let mut extension: Vec<Extension> = Vec::new();
    for version in versions {
        let parts: Vec<&str> = version.split('.').filter(|p| !p.is_empty()).collect();
        let (key, value) = match parts.as_slice() {
            [major, minor] => (*major, *minor),
            [major] => (*major, "0"),
            _ => continue,
        };
        let candidate = Extension {
            key: key.to_owned(),
            value: value.to_owned(),
        };
        if !extension.contains(&candidate) {
            extension.push(candidate);
        }
    }
    ExtensionList { extension }
}

/// One entry of an `Accept` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptVersion {
    /// No `;version=`: any version.
    Any,
    /// The version text as written (`"1"`, `"1.1"`).
    Listed(String),
}

/// Parses `Accept` against
/// `^X(,X)*$` with `X = application/vnd\.interoperability\.<resource>\+json(\s?;\s?version=\d+(\.\d+)?)?`.
/// Since `X` contains no comma, splitting on `,` and matching each piece whole is the same as the
/// regex. `None` if malformed.
pub fn parse_accept(resource: &str, header: &str) -> Option<Vec<AcceptVersion>> {
    header
        .split(',')
        .map(|entry| {
            let rest = strip_media_type(resource, entry)?;
            if rest.is_empty() {
                return Some(AcceptVersion::Any);
            }
            let version = strip_version_parameter(rest)?;
            let (major, minor) = match version.split_once('.') {
                Some((major, minor)) => (major, Some(minor)),
                None => (version, None),
            };
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            (digits(major) && minor.is_none_or(digits))
                .then(|| AcceptVersion::Listed(version.to_owned()))
        })
        .collect()
}

/// The `Content-Type` the hub sends: `application/vnd.interoperability.<resource>+json;version=X.Y`.
pub fn content_type_value(resource: &str, version: ProtocolVersion) -> String {
    format!("application/vnd.interoperability.{resource}+json;version={version}")
}

/// Parses `Content-Type` against
/// `^application/vnd\.interoperability\.<resource>\+json\s?;\s?version=(\d+\.\d+)$` and returns
/// the version text. `None` if malformed.
pub fn parse_content_type<'a>(resource: &str, header: &'a str) -> Option<&'a str> {
    let rest = strip_media_type(resource, header)?;
    let version = strip_version_parameter(rest)?;
    let (major, minor) = version.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(major) && digits(minor)).then_some(version)
}

/// Strips `application/vnd.interoperability.<resource>+json` (case-sensitive, as the regex).
fn strip_media_type<'a>(resource: &str, s: &'a str) -> Option<&'a str> {
    s.strip_prefix("application/vnd.interoperability.")?
        .strip_prefix(resource)?
        .strip_prefix("+json")
}

/// Strips `\s?;\s?version=` and returns the rest.
fn strip_version_parameter(s: &str) -> Option<&str> {
    let s = strip_one_js_space(s);
    let s = s.strip_prefix(';')?;
    strip_one_js_space(s).strip_prefix("version=")
}

/// Removes at most one character of JavaScript's `\s` class. Header values are Latin-1, where
/// that class is TAB, LF, VT, FF, CR, SPACE and NO-BREAK SPACE (not NEL, unlike Rust's
/// `char::is_whitespace`).
fn strip_one_js_space(s: &str) -> &str {
    let mut chars = s.chars();
    match chars.next() {
        Some('\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | ' ' | '\u{a0}') => chars.as_str(),
        _ => s,
    }
}

/// Whether `date` is an IMF-fixdate exactly as moment's strict `ddd, DD MMM YYYY HH:mm:ss [GMT]`
/// accepts it: parsed, it must print back identically — which also refuses a weekday that does
/// not match the date (moment's `weekdayMismatch`), one-digit days, other time zones and the
/// obsolete RFC 850 / asctime forms that `httpdate` would otherwise parse.
pub fn is_rfc1123_date(date: &str) -> bool {
    httpdate::parse_http_date(date).is_ok_and(|t| httpdate::fmt_http_date(t) == date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const CONTENT_TYPE_1_1: &str = "application/vnd.interoperability.transfers+json;version=1.1";
    const ACCEPT_1: &str = "application/vnd.interoperability.transfers+json;version=1";
    const DATE: &str = "Tue, 01 Jan 2030 00:00:00 GMT";

    /// Mojaloop's header rules (`testdata/header-rules.json`, extracted from
    /// central-services-shared by `scripts/testdata/extract.py`).
    fn mojaloop_rules() -> serde_json::Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/header-rules.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("header-rules.json"))
            .expect("JSON")
    }

    #[test]
    fn error_details_are_mojaloops_texts() {
        let rules = mojaloop_rules();
        let messages = &rules["errorMessages"];
        for (ours, name) in [
            (
                REQUESTED_VERSION_NOT_SUPPORTED,
                "REQUESTED_VERSION_NOT_SUPPORTED",
            ),
            (INVALID_ACCEPT_HEADER, "INVALID_ACCEPT_HEADER"),
            (INVALID_CONTENT_TYPE_HEADER, "INVALID_CONTENT_TYPE_HEADER"),
            (INVALID_SOURCE_HEADER, "INVALID_SOURCE_HEADER"),
            (REQUIRE_ACCEPT_HEADER, "REQUIRE_ACCEPT_HEADER"),
            (REQUIRE_CONTENT_TYPE_HEADER, "REQUIRE_CONTENT_TYPE_HEADER"),
            (
                SUPPLIED_VERSION_NOT_SUPPORTED,
                "SUPPLIED_VERSION_NOT_SUPPORTED",
            ),
        ] {
            assert_eq!(Some(ours), messages[name].as_str(), "{name}");
        }
        assert_eq!(
            Some(MISSING_DATE_HEADER),
            rules["missingDateMessage"].as_str()
        );
        assert_eq!(
            Some(INVALID_DATE_HEADER),
            rules["invalidDateMessage"].as_str()
        );
    }

    #[test]
    fn accept_is_required_for_mojaloops_methods() {
        let rules = mojaloop_rules();
        let listed: Vec<&str> = rules["methodsRequiringAccept"]
            .as_array()
            .expect("list")
            .iter()
            .map(|m| m.as_str().expect("method"))
            .collect();
        for method in [
            Method::GET,
            Method::POST,
            Method::DELETE,
            Method::PUT,
            Method::PATCH,
        ] {
            let lower = method.as_str().to_ascii_lowercase();
            let missing = check(&method, &with("Accept", None));
            assert_eq!(
                missing.is_err(),
                listed.contains(&lower.as_str()),
                "{method}: {missing:?}"
            );
        }
    }

    #[test]
    fn known_versions_are_mojaloops() {
        let rules = mojaloop_rules();
        let versions = &rules["protocolVersions"];
        let upstream: Vec<&str> = ["ONE", "TWO"]
            .iter()
            .flat_map(|major| versions[major].as_array().expect("versions"))
            .map(|v| v.as_str().expect("version"))
            .collect();
        assert_eq!(KNOWN_ACCEPT_VERSIONS.to_vec(), upstream);
        assert!(DEFAULT_ACCEPT_VERSIONS.iter().all(|v| v.starts_with('1')));
        let all = VersionConfig::default().with_2_0();
        assert_eq!(all.accept_versions, KNOWN_ACCEPT_VERSIONS.to_vec());
        assert_eq!(all.content_versions, ["1.1", "1.0", "2.0"]);
        assert_eq!(all.clone().with_2_0(), all, "enabling twice adds nothing");
    }

    #[test]
    fn version_2_0_is_refused_by_default_and_accepted_when_enabled() {
        let accept_2 = with(
            "Accept",
            Some("application/vnd.interoperability.transfers+json;version=2.0"),
        );
        let content_2 = with(
            "Content-Type",
            Some("application/vnd.interoperability.transfers+json;version=2.0"),
        );
        for headers in [&accept_2, &content_2] {
            let e = check(&Method::POST, headers).unwrap_err();
            assert_eq!((e.code().as_u16(), e.http_status()), (3001, 406));
        }
        let enabled = VersionConfig::default().with_2_0();
        for headers in [&accept_2, &content_2] {
            assert!(
                validate_request_headers(&Method::POST, "transfers", headers, &enabled).is_ok()
            );
        }
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Accept", ACCEPT_1),
            ("Content-Type", CONTENT_TYPE_1_1),
            ("Date", DATE),
            ("FSPIOP-Source", "payerfsp"),
            ("FSPIOP-Destination", "payeefsp"),
        ]
    }

    fn with(replace: &str, value: Option<&'static str>) -> HeaderMap {
        let mut pairs: Vec<(&str, &str)> = good()
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(replace))
            .collect();
        if let Some(v) = value {
            pairs.push((replace, v));
        }
        map(&pairs)
    }

    fn check(method: &Method, headers: &HeaderMap) -> Result<ValidatedHeaders, FspiopError> {
        validate_request_headers(method, "transfers", headers, &VersionConfig::default())
    }

    fn err(method: &Method, headers: &HeaderMap) -> (u16, String) {
        let e = check(method, headers).unwrap_err();
        (e.code().as_u16(), e.description().to_owned())
    }

    #[test]
    fn valid_request_exposes_version_source_destination_and_lower_cased_headers() {
        let mut h = map(&good());
        h.append("X-Custom", HeaderValue::from_static("a"));
        h.append("X-Custom", HeaderValue::from_static("b"));
        let v = check(&Method::POST, &h).unwrap();
        assert_eq!(v.content_version(), ProtocolVersion::V1_1);
        assert_eq!(v.source(), "payerfsp");
        assert_eq!(v.destination(), Some("payeefsp"));
        assert_eq!(v.get("content-type"), Some(CONTENT_TYPE_1_1));
        assert_eq!(v.get("x-custom"), Some("a, b"));
        assert!(
            v.headers()
                .keys()
                .all(|k| k.chars().all(|c| !c.is_ascii_uppercase()))
        );
        assert_eq!(v.headers().len(), 6);
    }

    #[test]
    fn accept_is_required_for_get_post_delete_only() {
        for m in [Method::GET, Method::POST, Method::DELETE] {
            assert_eq!(
                err(&m, &with("Accept", None)),
                (
                    3102,
                    "Missing mandatory element - Accept is required".into()
                )
            );
        }
        for m in [Method::PUT, Method::PATCH] {
            assert!(check(&m, &with("Accept", None)).is_ok(), "{m}");
            // Empty counts as absent for the optional case (the plugin tests truthiness) …
            assert!(check(&m, &with("Accept", Some(""))).is_ok());
        }
        // … and as malformed for the required one.
        assert_eq!(
            err(&Method::POST, &with("Accept", Some(""))),
            (3101, "Malformed syntax - Invalid accept header".into())
        );
        // Present on PUT: validated.
        assert_eq!(
            err(&Method::PUT, &with("Accept", Some("application/json"))).0,
            3101
        );
    }

    #[test]
    fn accept_syntax() {
        let ok = [
            "application/vnd.interoperability.transfers+json",
            "application/vnd.interoperability.transfers+json;version=1",
            "application/vnd.interoperability.transfers+json;version=1.0",
            "application/vnd.interoperability.transfers+json ; version=1.1",
            "application/vnd.interoperability.transfers+json\t;version=1.1",
            "application/vnd.interoperability.transfers+json;version=3,application/vnd.interoperability.transfers+json;version=1",
        ];
        for a in ok {
            assert!(check(&Method::GET, &with("Accept", Some(a))).is_ok(), "{a}");
        }
        let malformed = [
            "application/json",
            "application/vnd.interoperability.quotes+json;version=1",
            "application/vnd.interoperability.transfers+json;version=",
            "application/vnd.interoperability.transfers+json;version=1.",
            "application/vnd.interoperability.transfers+json;version=1.1.1",
            "application/vnd.interoperability.transfers+json;  version=1",
            "application/vnd.interoperability.transfers+json;version=a",
            "application/vnd.interoperability.transfers+json;version=1, application/vnd.interoperability.transfers+json;version=2",
            "application/vnd.interoperability.transfers+json;version=1,",
            "Application/vnd.interoperability.transfers+json;version=1",
            "application/vnd.interoperability.transfers+json; charset=utf-8",
        ];
        for a in malformed {
            assert_eq!(
                err(&Method::GET, &with("Accept", Some(a))),
                (3101, "Malformed syntax - Invalid accept header".into()),
                "{a}"
            );
        }
    }

    #[test]
    fn unsupported_accept_version_is_3001_with_extension_list() {
        let e = check(
            &Method::GET,
            &with(
                "Accept",
                Some("application/vnd.interoperability.transfers+json;version=3.0"),
            ),
        )
        .unwrap_err();
        assert_eq!(e.code().as_u16(), 3001);
        assert_eq!(e.http_status(), 406);
        assert_eq!(
            e.description(),
            "Unacceptable version requested - The Client requested an unsupported version, see extension list for supported version(s)."
        );
        let body = serde_json::to_value(e.to_body()).unwrap();
        assert_eq!(
            body["errorInformation"]["extensionList"],
            serde_json::json!({"extension": [
                {"key": "1", "value": "0"},
                {"key": "1", "value": "1"}
            ]})
        );
        // Versions are compared as text: "01" is not "1".
        assert_eq!(
            err(
                &Method::GET,
                &with(
                    "Accept",
                    Some("application/vnd.interoperability.transfers+json;version=01")
                )
            )
            .0,
            3001
        );
        // Without "any", a version-less Accept is unsupported.
        let config = VersionConfig {
            accept_any_version: false,
            ..VersionConfig::default()
        };
        let e = validate_request_headers(
            &Method::GET,
            "transfers",
            &with(
                "Accept",
                Some("application/vnd.interoperability.transfers+json"),
            ),
            &config,
        )
        .unwrap_err();
        assert_eq!(e.code().as_u16(), 3001);
    }

    #[test]
    fn content_type_rules() {
        assert_eq!(
            err(&Method::POST, &with("Content-Type", None)),
            (
                3102,
                "Missing mandatory element - Content-type is required".into()
            )
        );
        // Required for GET too (docs/fspiop-api.md#content-type-and-accept: always required).
        assert_eq!(
            err(&Method::GET, &with("Content-Type", None)),
            (
                3102,
                "Missing mandatory element - Content-type is required".into()
            )
        );
        for ct in [
            "application/json",
            "application/vnd.interoperability.transfers+json",
            "application/vnd.interoperability.transfers+json;version=1",
            "application/vnd.interoperability.transfers+json;version=1.1;charset=utf-8",
            "application/vnd.interoperability.transfers+json;version=1.1 ",
            "",
        ] {
            assert_eq!(
                err(&Method::POST, &with("Content-Type", Some(ct))),
                (
                    3101,
                    "Malformed syntax - Invalid content-type header".into()
                ),
                "{ct:?}"
            );
        }
        for (ct, version) in [
            (
                "application/vnd.interoperability.transfers+json;version=1.0",
                ProtocolVersion::V1_0,
            ),
            (
                "application/vnd.interoperability.transfers+json ; version=1.1",
                ProtocolVersion::V1_1,
            ),
        ] {
            let v = check(&Method::POST, &with("Content-Type", Some(ct))).unwrap();
            assert_eq!(v.content_version(), version);
        }
        let e = check(
            &Method::POST,
            &with(
                "Content-Type",
                Some("application/vnd.interoperability.transfers+json;version=2.1"),
            ),
        )
        .unwrap_err();
        assert_eq!(e.code().as_u16(), 3001);
        assert_eq!(
            e.description(),
            "Unacceptable version requested - Client supplied a protocol version which is not supported by the server"
        );
        assert_eq!(
            serde_json::to_value(e.to_body()).unwrap()["errorInformation"]["extensionList"],
            serde_json::json!({"extension": [
                {"key": "1", "value": "1"},
                {"key": "1", "value": "0"}
            ]})
        );
    }

    #[test]
    fn date_rules() {
        assert_eq!(
            err(&Method::POST, &with("Date", None)),
            (
                3102,
                "Missing mandatory element - Missing required date header".into()
            )
        );
        for d in [
            "",
            "2030-01-01T00:00:00.000Z",
            "Tue, 1 Jan 2030 00:00:00 GMT",
            "Wed, 01 Jan 2030 00:00:00 GMT",
            "Tue, 01 Jan 2030 00:00:00 UTC",
            "Tuesday, 01-Jan-30 00:00:00 GMT",
            "Tue Jan  1 00:00:00 2030",
            "Tue, 01 Jan 2030 24:00:00 GMT",
        ] {
            assert_eq!(
                err(&Method::POST, &with("Date", Some(d))),
                (3101, "Malformed syntax - Invalid date header".into()),
                "{d:?}"
            );
        }
        assert!(
            check(
                &Method::POST,
                &with("Date", Some("Thu, 29 Feb 2024 23:59:59 GMT"))
            )
            .is_ok()
        );
    }

    #[test]
    fn source_is_required_and_non_empty() {
        for source in [None, Some("")] {
            assert_eq!(
                err(&Method::POST, &with("FSPIOP-Source", source)),
                (
                    3102,
                    "Missing mandatory element - /header must have required property 'fspiop-source'"
                        .into()
                )
            );
        }
        let v = check(&Method::PUT, &with("FSPIOP-Destination", None)).unwrap();
        assert_eq!(v.destination(), None);
    }

    #[test]
    fn order_of_checks_is_the_plugins() {
        // Accept before Date before Content-Type before FSPIOP-Source.
        let h = map(&[]);
        assert_eq!(
            err(&Method::POST, &h).1,
            "Missing mandatory element - Accept is required"
        );
        let h = map(&[("Accept", ACCEPT_1)]);
        assert_eq!(
            err(&Method::POST, &h).1,
            "Missing mandatory element - Missing required date header"
        );
        let h = map(&[("Accept", ACCEPT_1), ("Date", DATE)]);
        assert_eq!(
            err(&Method::POST, &h).1,
            "Missing mandatory element - Content-type is required"
        );
    }

    #[test]
    fn fx_transfers_use_their_own_media_type() {
        let h = map(&[
            (
                "Accept",
                "application/vnd.interoperability.fxTransfers+json;version=2",
            ),
            (
                "Content-Type",
                "application/vnd.interoperability.fxTransfers+json;version=2.0",
            ),
            ("Date", DATE),
            ("FSPIOP-Source", "fxp"),
        ]);
        let v = validate_request_headers(
            &Method::POST,
            "fxTransfers",
            &h,
            &VersionConfig::default().with_2_0(),
        )
        .unwrap();
        assert_eq!(v.content_version(), ProtocolVersion::V2_0);
        assert_eq!(err(&Method::POST, &h).0, 3101);
    }

    #[test]
    fn node_style_header_reading() {
        let mut h = HeaderMap::new();
        h.append("content-type", HeaderValue::from_static("first"));
        h.append("content-type", HeaderValue::from_static("second"));
        h.append("accept", HeaderValue::from_static("a"));
        h.append("accept", HeaderValue::from_static("b"));
        h.append("cookie", HeaderValue::from_static("x=1"));
        h.append("cookie", HeaderValue::from_static("y=2"));
        h.append(
            "fspiop-source",
            HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        let m = lower_cased_headers(&h);
        assert_eq!(m["content-type"], "first");
        assert_eq!(m["accept"], "a, b");
        assert_eq!(m["cookie"], "x=1; y=2");
        assert_eq!(m["fspiop-source"], "café");
    }

    #[test]
    fn resource_from_path_takes_the_first_segment() {
        assert_eq!(resource_from_path("/transfers"), "transfers");
        assert_eq!(resource_from_path("/transfers/abc/error"), "transfers");
        assert_eq!(resource_from_path("/fxTransfers/abc"), "fxTransfers");
        assert_eq!(resource_from_path("/transfers?x=1"), "transfers");
        assert_eq!(resource_from_path("/"), "");
        assert_eq!(resource_from_path("/health"), "health");
        assert!(is_validated_resource(resource_from_path("/transfers/1")));
        assert!(!is_validated_resource(resource_from_path("/health")));
    }

    #[test]
    fn extension_list_conversion() {
        let versions: Vec<String> = ["1", "1.0", "2.1", "3.0.1", "", "4."]
            .map(str::to_owned)
            .to_vec();
        let list = supported_versions_extension_list(&versions);
        let pairs: Vec<(&str, &str)> = list
            .extension
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(pairs, [("1", "0"), ("2", "1"), ("4", "0")]);
    }

    #[test]
    fn content_type_value_round_trips() {
        let v = content_type_value(TRANSFERS_RESOURCE, ProtocolVersion::V2_0);
        assert_eq!(
            v,
            "application/vnd.interoperability.transfers+json;version=2.0"
        );
        assert_eq!(parse_content_type(TRANSFERS_RESOURCE, &v), Some("2.0"));
    }

    #[test]
    fn protocol_version_parse_and_display() {
        assert_eq!(ProtocolVersion::parse("1.1"), Some(ProtocolVersion::V1_1));
        assert_eq!(
            ProtocolVersion::parse("10.20").unwrap().to_string(),
            "10.20"
        );
        for bad in ["1", "1.", ".1", "a.b", "1.1.1", "99999999.1"] {
            assert_eq!(ProtocolVersion::parse(bad), None, "{bad}");
        }
    }
}
