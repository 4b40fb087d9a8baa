//! What the hub puts on the callbacks it sends to DFSPs (docs/callbacks.md#header-rules), the
//! callback paths, and endpoint template rendering (docs/callbacks.md#endpoints).
//!
//! Two kinds of callback:
//! - **Hub-originated** ([`hub_callback_headers`]): errors, timeouts, GET answers, duplicate
//!   answers, the RESERVE-flow PUT and PATCH, confirmation copies. `FSPIOP-Source` is the hub's
//!   name, `FSPIOP-Destination` the recipient, `Date` now (RFC 1123, UTC), `FSPIOP-URI` and
//!   `FSPIOP-HTTP-Method` describe this callback, `Content-Type` carries the configured protocol
//!   version, and there is **no** `Accept` (callbacks get no response body). A hub signature, if
//!   JWS signing is on, is added by the caller with [`crate::jws::sign`] over these headers.
//! - **Forwarded** ([`forwarded_callback_headers`]): the hub relays a DFSP's own message (prepare
//!   to the payee, commit PUT and error PUT to the payer) with the DFSP's original headers —
//!   `FSPIOP-Source`, `FSPIOP-Destination`, `FSPIOP-Signature`, `Content-Type`, `Date` … — so that
//!   the recipient can check the originator's signature over the original body bytes.
//!
//! Forwarding drops, and the reasons:
//! - hop-by-hop headers (RFC 9110 §7.6.1, including those named in `Connection`), `Content-Length`
//!   and `Host`: they describe the inbound connection; the HTTP client recomputes them;
//! - `Accept` on everything but POST (Mojaloop's header transformer; callbacks have no response
//!   body to negotiate);
//! - `Authorization`, `Proxy-Authorization`, `Cookie` and the gateway's `x-client-id`: they are
//!   the sender's credentials/identity *towards the hub*. Mojaloop copies them on; handing one
//!   DFSP's bearer token to another is a leak, and none of them is covered by the JWS.
//!
//! `Date` is normalised to RFC 1123 UTC when it parses (as Mojaloop's transformer does); inbound
//! requests were validated as RFC 1123 already, so for them this changes nothing — which matters,
//! because a signed `Date` must stay byte-identical.

use std::collections::BTreeMap;
use std::time::SystemTime;

use ferroloop_core::id::TransferId;
use http::{HeaderName, HeaderValue, Method};

use crate::headers::{ProtocolVersion, TRANSFERS_RESOURCE, content_type_value, names};

/// Default `HUB_PARTICIPANT.NAME`, the `FSPIOP-Source` of hub-originated callbacks.
pub const DEFAULT_HUB_NAME: &str = "Hub";
/// The resource prefix `FSPIOP-URI` is reduced to.
pub const TRANSFERS_PATH: &str = "/transfers";
/// Endpoint type for a forwarded prepare (POST) to the payee.
pub const FSPIOP_CALLBACK_URL_TRANSFER_POST: &str = "FSPIOP_CALLBACK_URL_TRANSFER_POST";
/// Endpoint type for `PUT` and `PATCH /transfers/{ID}`.
pub const FSPIOP_CALLBACK_URL_TRANSFER_PUT: &str = "FSPIOP_CALLBACK_URL_TRANSFER_PUT";
/// Endpoint type for `PUT /transfers/{ID}/error`.
pub const FSPIOP_CALLBACK_URL_TRANSFER_ERROR: &str = "FSPIOP_CALLBACK_URL_TRANSFER_ERROR";
/// The template placeholder for the transfer id (`{{transferId}}`).
pub const TRANSFER_ID_PLACEHOLDER: &str = "transferId";

/// Headers never forwarded: hop-by-hop (RFC 9110 §7.6.1 plus the legacy `keep-alive` and
/// `proxy-connection`), connection-specific framing, and the sender's credentials towards the
/// hub (see the module documentation).
const NOT_FORWARDED: [&str; 14] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    names::CONTENT_LENGTH,
    names::HOST,
    "authorization",
    "proxy-authorization",
    "cookie",
    names::X_CLIENT_ID,
];

/// Why callback headers or a URL could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("{name} cannot be sent as an HTTP header value: {value:?}")]
    InvalidHeaderValue { name: String, value: String },
    #[error("{0:?} is not a valid HTTP header name")]
    InvalidHeaderName(String),
    #[error("endpoint template {template:?} has an unterminated placeholder")]
    UnterminatedPlaceholder { template: String },
    #[error("endpoint template {template:?} uses the unknown placeholder {name:?}")]
    UnknownPlaceholder { template: String, name: String },
}

/// Which transfer callback is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackKind {
    /// `POST /transfers` (a prepare forwarded to the payee).
    Post,
    /// `PUT /transfers/{ID}` — and `PATCH /transfers/{ID}`, which uses the same path and endpoint.
    Put,
    /// `PUT /transfers/{ID}/error`.
    Error,
}

impl CallbackKind {
    /// The participant endpoint type whose template gives the URL.
    pub fn endpoint_type(self) -> &'static str {
        match self {
            CallbackKind::Post => FSPIOP_CALLBACK_URL_TRANSFER_POST,
            CallbackKind::Put => FSPIOP_CALLBACK_URL_TRANSFER_PUT,
            CallbackKind::Error => FSPIOP_CALLBACK_URL_TRANSFER_ERROR,
        }
    }
}

/// The `FSPIOP-URI` of a callback: `/transfers`, `/transfers/{ID}` or `/transfers/{ID}/error`.
pub fn callback_uri_path(kind: CallbackKind, transfer_id: &TransferId) -> String {
    match kind {
        CallbackKind::Post => TRANSFERS_PATH.to_owned(),
        CallbackKind::Put => format!("{TRANSFERS_PATH}/{transfer_id}"),
        CallbackKind::Error => format!("{TRANSFERS_PATH}/{transfer_id}/error"),
    }
}

/// Reduces a path or URL to the part starting at the resource, as Mojaloop does for `FSPIOP-URI`
/// (`/payeefsp/transfers/1` → `/transfers/1`): the last `/transfers` that ends the text or is
/// followed by `/` (so a host such as `transfers.example` is not mistaken for it). Unchanged if
/// there is none.
pub fn fspiop_uri(path: &str) -> &str {
    path.match_indices(TRANSFERS_PATH)
        .map(|(i, _)| i)
        .filter(|&i| {
            let after = &path[i + TRANSFERS_PATH.len()..];
            after.is_empty() || after.starts_with('/')
        })
        .last()
        .map_or(path, |i| &path[i..])
}

/// Headers of a hub-originated callback, dated now. See [`hub_callback_headers_at`].
pub fn hub_callback_headers(
    hub_name: &str,
    destination: &str,
    method: &Method,
    uri_path: &str,
    content_version: ProtocolVersion,
) -> Result<Vec<(HeaderName, HeaderValue)>, CallbackError> {
    hub_callback_headers_at(
        hub_name,
        destination,
        method,
        uri_path,
        content_version,
        SystemTime::now(),
    )
}

/// Headers of a hub-originated callback: `Content-Type` (`transfers`, `content_version`), `Date`
/// (`now`, RFC 1123), `FSPIOP-Source` = `hub_name`, `FSPIOP-Destination`, `FSPIOP-URI` (reduced
/// with [`fspiop_uri`]) and `FSPIOP-HTTP-Method`. No `Accept`.
pub fn hub_callback_headers_at(
    hub_name: &str,
    destination: &str,
    method: &Method,
    uri_path: &str,
    content_version: ProtocolVersion,
    now: SystemTime,
) -> Result<Vec<(HeaderName, HeaderValue)>, CallbackError> {
    let content_type = content_type_value(TRANSFERS_RESOURCE, content_version);
    let date = httpdate::fmt_http_date(now);
    [
        (names::CONTENT_TYPE, content_type.as_str()),
        (names::DATE, date.as_str()),
        (names::FSPIOP_SOURCE, hub_name),
        (names::FSPIOP_DESTINATION, destination),
        (names::FSPIOP_URI, fspiop_uri(uri_path)),
        (names::FSPIOP_HTTP_METHOD, method.as_str()),
    ]
    .into_iter()
    .map(|(name, value)| header(name, value))
    .collect()
}

/// Headers of a forwarded callback: the DFSP's original headers (lower-cased, as stored in the
/// Kafka message) minus what must not travel on (see the module documentation), with `FSPIOP-URI`
/// and `FSPIOP-HTTP-Method` set to this callback's and `Date` normalised.
pub fn forwarded_callback_headers(
    original: &BTreeMap<String, String>,
    method: &Method,
    uri_path: &str,
) -> Result<Vec<(HeaderName, HeaderValue)>, CallbackError> {
    // Headers named in `Connection` are hop-by-hop too.
    let connection_listed: Vec<String> = original
        .get("connection")
        .map(|c| {
            c.split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(original.len() + 2);
    for (name, value) in original {
        let name = name.to_ascii_lowercase();
        let dropped = NOT_FORWARDED.contains(&name.as_str())
            || connection_listed.contains(&name)
            || (name == names::ACCEPT && method != Method::POST)
            || name == names::FSPIOP_URI
            || name == names::FSPIOP_HTTP_METHOD;
        if dropped {
            continue;
        }
        if name == names::DATE {
            out.push(header(&name, &normalise_date(value))?);
        } else {
            out.push(header(&name, value)?);
        }
    }
    out.push(header(names::FSPIOP_URI, fspiop_uri(uri_path))?);
    out.push(header(names::FSPIOP_HTTP_METHOD, method.as_str())?);
    Ok(out)
}

/// Names the recipient in `FSPIOP-Destination` of a forwarded callback whose sender omitted the
/// header, as Mojaloop does — unless the message is signed (`FSPIOP-Signature`), which is then
/// forwarded with exactly the headers it came with. Returns whether the header was added.
///
/// Why a signed message is left alone: a signature's protected header names
/// `FSPIOP-Destination` only when the signer sent one, and Mojaloop's SDK validator refuses a
/// message whose HTTP `FSPIOP-Destination` is missing from the protected header, so adding it
/// would make the recipient refuse the sender's valid signature. A signer that knows the
/// recipient must protect the header anyway (FSPIOP signature rules), so a conforming signed
/// message carries it already (docs/callbacks.md#header-rules).
pub fn name_missing_destination(
    headers: &mut Vec<(HeaderName, HeaderValue)>,
    recipient: &str,
) -> Result<bool, CallbackError> {
    let present = |name: &str| headers.iter().any(|(n, _)| n.as_str() == name);
    if present(names::FSPIOP_DESTINATION) || present(names::FSPIOP_SIGNATURE) {
        return Ok(false);
    }
    headers.push(header(names::FSPIOP_DESTINATION, recipient)?);
    Ok(true)
}

/// RFC 1123 in UTC if `date` is any HTTP date form; unchanged otherwise (Mojaloop keeps a value
/// it cannot parse).
fn normalise_date(date: &str) -> String {
    httpdate::parse_http_date(date).map_or_else(|_| date.to_owned(), httpdate::fmt_http_date)
}

/// Builds a header; the value is turned back into the bytes it was read from (header values are
/// stored as Latin-1 text, see [`crate::headers::lower_cased_headers`]).
fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), CallbackError> {
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| CallbackError::InvalidHeaderName(name.to_owned()))?;
    let invalid = || CallbackError::InvalidHeaderValue {
        name: name.to_owned(),
        value: value.to_owned(),
    };
    let bytes: Vec<u8> = value
        .chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| invalid()))
        .collect::<Result<_, _>>()?;
    let header_value = HeaderValue::from_bytes(&bytes).map_err(|_| invalid())?;
    Ok((header_name, header_value))
}

/// Renders a participant endpoint template (Mustache syntax, as Mojaloop stores them):
/// `{{transferId}}`, `{{ transferId }}`, `{{{transferId}}}` and `{{& transferId}}` become the id
/// (ids are `[0-9a-zA-Z-]`, so Mustache's HTML escaping never applies). Any other placeholder is
/// an error — Mustache would silently render it empty and the callback would go to a wrong URL.
pub fn render_endpoint(template: &str, transfer_id: &TransferId) -> Result<String, CallbackError> {
    let mut out = String::with_capacity(template.len() + transfer_id.as_str().len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let (open, close) = if after.starts_with("{{{") {
            ("{{{", "}}}")
        } else {
            ("{{", "}}")
        };
        let inner_and_rest = &after[open.len()..];
        let end =
            inner_and_rest
                .find(close)
                .ok_or_else(|| CallbackError::UnterminatedPlaceholder {
                    template: template.to_owned(),
                })?;
        let inner = inner_and_rest[..end].trim();
        let name = inner.strip_prefix('&').map_or(inner, str::trim);
        if name != TRANSFER_ID_PLACEHOLDER {
            return Err(CallbackError::UnknownPlaceholder {
                template: template.to_owned(),
                name: name.to_owned(),
            });
        }
        out.push_str(transfer_id.as_str());
        rest = &inner_and_rest[end + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const ID: &str = "b51ec534-ee48-4575-b6a9-ead2955b8069";

    fn id() -> TransferId {
        TransferId::parse(ID).unwrap()
    }

    fn as_pairs(headers: &[(HeaderName, HeaderValue)]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn hub_headers_are_complete_and_have_no_accept() {
        // 2030-01-01T00:00:00Z
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000);
        let headers = hub_callback_headers_at(
            DEFAULT_HUB_NAME,
            "payerfsp",
            &Method::PUT,
            &callback_uri_path(CallbackKind::Error, &id()),
            ProtocolVersion::V1_1,
            now,
        )
        .unwrap();
        let expected: Vec<(String, String)> = [
            (
                "content-type",
                "application/vnd.interoperability.transfers+json;version=1.1",
            ),
            ("date", "Tue, 01 Jan 2030 00:00:00 GMT"),
            ("fspiop-source", "Hub"),
            ("fspiop-destination", "payerfsp"),
            (
                "fspiop-uri",
                "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069/error",
            ),
            ("fspiop-http-method", "PUT"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(as_pairs(&headers), expected);
        assert!(headers.iter().all(|(n, _)| n != "accept"));
        // The Date is valid for our own header validation.
        assert!(crate::headers::is_rfc1123_date(&expected[1].1));
    }

    #[test]
    fn hub_headers_now_and_patch() {
        let headers = hub_callback_headers(
            "switch",
            "payeefsp",
            &Method::PATCH,
            "/payeefsp/transfers/123",
            ProtocolVersion::V2_0,
        )
        .unwrap();
        let pairs = as_pairs(&headers);
        assert_eq!(pairs[4], ("fspiop-uri".into(), "/transfers/123".into()));
        assert_eq!(pairs[5], ("fspiop-http-method".into(), "PATCH".into()));
        assert!(crate::headers::is_rfc1123_date(&pairs[1].1));
        assert_eq!(
            hub_callback_headers(
                "Hub\n",
                "x",
                &Method::PUT,
                "/transfers",
                ProtocolVersion::V1_0
            ),
            Err(CallbackError::InvalidHeaderValue {
                name: "fspiop-source".into(),
                value: "Hub\n".into()
            })
        );
    }

    fn original() -> BTreeMap<String, String> {
        [
            (
                "accept",
                "application/vnd.interoperability.transfers+json;version=1",
            ),
            (
                "content-type",
                "application/vnd.interoperability.transfers+json;version=1.1",
            ),
            ("content-length", "512"),
            ("host", "hub.example:3000"),
            ("connection", "keep-alive, x-trace-hop"),
            ("x-trace-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("authorization", "Bearer secret"),
            ("x-client-id", "payeefsp"),
            ("date", "Tue, 01 Jan 2030 00:00:00 GMT"),
            ("fspiop-source", "payeefsp"),
            ("fspiop-destination", "payerfsp"),
            (
                "fspiop-signature",
                "{\"signature\":\"abc\",\"protectedHeader\":\"def\"}",
            ),
            ("fspiop-uri", "/transfers/old"),
            ("fspiop-http-method", "put"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("x-forwarded-for", "10.0.0.1"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
    }

    #[test]
    fn forwarded_put_keeps_the_originals_and_drops_accept_and_hop_by_hop() {
        let uri = callback_uri_path(CallbackKind::Put, &id());
        let headers = forwarded_callback_headers(&original(), &Method::PUT, &uri).unwrap();
        let pairs = as_pairs(&headers);
        let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "date",
                "fspiop-destination",
                "fspiop-signature",
                "fspiop-source",
                "traceparent",
                "x-forwarded-for",
                "fspiop-uri",
                "fspiop-http-method"
            ]
        );
        let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("fspiop-source"), Some("payeefsp"));
        assert_eq!(get("fspiop-destination"), Some("payerfsp"));
        assert_eq!(
            get("fspiop-signature"),
            original().get("fspiop-signature").map(String::as_str)
        );
        assert_eq!(get("date"), Some("Tue, 01 Jan 2030 00:00:00 GMT"));
        assert_eq!(get("fspiop-uri"), Some(uri.as_str()));
        assert_eq!(get("fspiop-http-method"), Some("PUT"));
    }

    #[test]
    fn a_missing_destination_names_the_recipient_unless_the_message_is_signed() {
        let mut unsigned = original();
        unsigned.remove("fspiop-destination");
        unsigned.remove("fspiop-signature");
        let mut headers =
            forwarded_callback_headers(&unsigned, &Method::POST, TRANSFERS_PATH).unwrap();
        assert!(name_missing_destination(&mut headers, "payeefsp").unwrap());
        let destinations: Vec<_> = as_pairs(&headers)
            .into_iter()
            .filter(|(n, _)| n == "fspiop-destination")
            .collect();
        assert_eq!(
            destinations,
            vec![("fspiop-destination".to_owned(), "payeefsp".to_owned())]
        );

        // Present: unchanged, even when it names someone else.
        let mut headers =
            forwarded_callback_headers(&original(), &Method::PUT, "/transfers/1").unwrap();
        let before = as_pairs(&headers);
        assert!(!name_missing_destination(&mut headers, "someone").unwrap());
        assert_eq!(as_pairs(&headers), before);

        // Signed without one: forwarded with the headers it was signed with.
        let mut signed = original();
        signed.remove("fspiop-destination");
        let mut headers =
            forwarded_callback_headers(&signed, &Method::POST, TRANSFERS_PATH).unwrap();
        let before = as_pairs(&headers);
        assert!(!name_missing_destination(&mut headers, "payeefsp").unwrap());
        assert_eq!(as_pairs(&headers), before);
    }

    #[test]
    fn forwarded_post_keeps_accept() {
        let headers =
            forwarded_callback_headers(&original(), &Method::POST, TRANSFERS_PATH).unwrap();
        let pairs = as_pairs(&headers);
        assert!(pairs.iter().any(|(n, _)| n == "accept"));
        assert_eq!(
            pairs.last().unwrap(),
            &("fspiop-http-method".into(), "POST".into())
        );
        assert!(pairs.contains(&("fspiop-uri".into(), "/transfers".into())));
        let patch =
            forwarded_callback_headers(&original(), &Method::PATCH, "/transfers/1").unwrap();
        assert!(as_pairs(&patch).iter().all(|(n, _)| n != "accept"));
    }

    #[test]
    fn forwarded_dates_are_normalised_and_bytes_preserved() {
        let mut h = original();
        h.insert("date".into(), "Tuesday, 01-Jan-30 00:00:00 GMT".into());
        h.insert("fspiop-source".into(), "café".into());
        let headers = forwarded_callback_headers(&h, &Method::PUT, "/transfers/1").unwrap();
        let date = headers.iter().find(|(n, _)| n == "date").unwrap();
        assert_eq!(date.1, "Tue, 01 Jan 2030 00:00:00 GMT");
        let source = headers.iter().find(|(n, _)| n == "fspiop-source").unwrap();
        assert_eq!(source.1.as_bytes(), b"caf\xe9");
        h.insert("date".into(), "not a date".into());
        let headers = forwarded_callback_headers(&h, &Method::PUT, "/transfers/1").unwrap();
        assert_eq!(
            headers.iter().find(|(n, _)| n == "date").unwrap().1,
            "not a date"
        );
        h.insert("fspiop-source".into(), "\u{263A}".into());
        assert!(matches!(
            forwarded_callback_headers(&h, &Method::PUT, "/transfers/1"),
            Err(CallbackError::InvalidHeaderValue { .. })
        ));
    }

    #[test]
    fn callback_paths_and_endpoint_types() {
        assert_eq!(callback_uri_path(CallbackKind::Post, &id()), "/transfers");
        assert_eq!(
            callback_uri_path(CallbackKind::Put, &id()),
            format!("/transfers/{ID}")
        );
        assert_eq!(
            callback_uri_path(CallbackKind::Error, &id()),
            format!("/transfers/{ID}/error")
        );
        assert_eq!(
            CallbackKind::Post.endpoint_type(),
            "FSPIOP_CALLBACK_URL_TRANSFER_POST"
        );
        assert_eq!(
            CallbackKind::Put.endpoint_type(),
            "FSPIOP_CALLBACK_URL_TRANSFER_PUT"
        );
        assert_eq!(
            CallbackKind::Error.endpoint_type(),
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR"
        );
    }

    #[test]
    fn fspiop_uri_reduction() {
        assert_eq!(fspiop_uri("/transfers"), "/transfers");
        assert_eq!(
            fspiop_uri("/payerfsp/transfers/1/error"),
            "/transfers/1/error"
        );
        assert_eq!(
            fspiop_uri("https://transfers.example/dfsp/transfers/1"),
            "/transfers/1"
        );
        assert_eq!(fspiop_uri("/transfersx/1"), "/transfersx/1");
        assert_eq!(fspiop_uri("/quotes/1"), "/quotes/1");
    }

    #[test]
    fn endpoint_templates() {
        for template in [
            "https://dfsp.example/transfers/{{transferId}}",
            "https://dfsp.example/transfers/{{ transferId }}",
            "https://dfsp.example/transfers/{{{transferId}}}",
            "https://dfsp.example/transfers/{{& transferId}}",
        ] {
            assert_eq!(
                render_endpoint(template, &id()).unwrap(),
                format!("https://dfsp.example/transfers/{ID}"),
                "{template}"
            );
        }
        assert_eq!(
            render_endpoint("https://dfsp.example/transfers/{{transferId}}/error", &id()).unwrap(),
            format!("https://dfsp.example/transfers/{ID}/error")
        );
        assert_eq!(
            render_endpoint("https://payee.example/transfers", &id()).unwrap(),
            "https://payee.example/transfers"
        );
        assert!(matches!(
            render_endpoint("https://x/{{ID}}", &id()),
            Err(CallbackError::UnknownPlaceholder { name, .. }) if name == "ID"
        ));
        assert!(matches!(
            render_endpoint("https://x/{{transferId", &id()),
            Err(CallbackError::UnterminatedPlaceholder { .. })
        ));
    }
}
