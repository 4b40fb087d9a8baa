//! Callback endpoint rules: what an operator may register as a DFSP's callback URL, and which
//! network addresses the hub refuses to call (docs/security.md#callback-endpoints).
//!
//! The hub sends PUT/POST requests to whatever a DFSP's endpoints say, signed with the hub's JWS
//! key and over its mTLS client identity. An endpoint that points into the hub's own network —
//! the cloud metadata service above all — would turn the hub into a proxy for whoever can edit
//! endpoints. So:
//!
//! - endpoints of the FSPIOP callback types (`FSPIOP_CALLBACK_URL_…`) must be `http`/`https` URLs
//!   with a host, after their `{{transferId}}` placeholders are filled in;
//! - link-local addresses (`169.254.0.0/16`, `fe80::/10`) and the cloud metadata addresses and
//!   names are refused, unless the allow-list names them;
//! - other endpoint types (alarm e-mail addresses and the like) are free text, as in Mojaloop.
//!
//! The admin API applies [`validate`] at registration; the notification handler applies
//! [`AddressPolicy::check_ip`] again to every address a host name resolves to, when it connects,
//! so a DNS answer that changes after registration (DNS rebinding) is caught too.

use std::net::IpAddr;

use crate::callback::{CallbackError, render_endpoint};
use ferroloop_core::id::TransferId;

/// Prefix of the endpoint types whose values are callback URLs.
pub const CALLBACK_URL_TYPE_PREFIX: &str = "FSPIOP_CALLBACK_URL_";

/// Host names of cloud metadata services (refused like their addresses).
const METADATA_HOSTS: [&str; 3] = ["metadata.google.internal", "metadata.goog", "metadata"];

/// Whether values of this endpoint type are callback URLs the hub will call.
pub fn is_callback_url_type(endpoint_type: &str) -> bool {
    endpoint_type.starts_with(CALLBACK_URL_TYPE_PREFIX)
}

/// Why an endpoint value or an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("{0}")]
    Template(#[from] CallbackError),
    #[error("not an absolute URL: {0}")]
    NotAUrl(String),
    #[error("scheme must be http or https, not {0}")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL carries credentials (user information)")]
    Credentials,
    #[error("{address} is a {what} address; the hub does not call it unless allow-listed")]
    ForbiddenAddress { address: IpAddr, what: &'static str },
    #[error("{0} is a cloud metadata host; the hub does not call it unless allow-listed")]
    ForbiddenHost(String),
}

/// One allow-list entry: an exact host name, or an address range.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    Host(String),
    Net { base: IpAddr, prefix: u8 },
}

/// The addresses the hub refuses to call, with an operator's exceptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<Allowed>,
}

impl AddressPolicy {
    /// An allow-list from comma-separated entries: host names, addresses, or `address/prefix`
    /// ranges (e.g. `169.254.10.0/24,metadata.internal.example`). Empty → nothing allowed.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            allowed.push(parse_allowed(entry)?);
        }
        Ok(Self { allowed })
    }

    /// Refuses link-local and metadata addresses that the allow-list does not name.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), EndpointError> {
        let ip = ip.to_canonical();
        let Some(what) = forbidden_kind(ip) else {
            return Ok(());
        };
        if self
            .allowed
            .iter()
            .any(|a| matches!(a, Allowed::Net { base, prefix } if in_net(ip, *base, *prefix)))
        {
            return Ok(());
        }
        Err(EndpointError::ForbiddenAddress { address: ip, what })
    }

    /// Checks a URL's host: a literal address by [`Self::check_ip`], a metadata host name unless
    /// allow-listed. Other names are checked when they are resolved (at connect).
    pub fn check_host(&self, host: &str) -> Result<(), EndpointError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self.check_ip(ip);
        }
        let name = bare.trim_end_matches('.').to_ascii_lowercase();
        let allowed = self
            .allowed
            .iter()
            .any(|a| matches!(a, Allowed::Host(h) if *h == name));
        if METADATA_HOSTS.contains(&name.as_str()) && !allowed {
            return Err(EndpointError::ForbiddenHost(name));
        }
        Ok(())
    }
}

fn parse_allowed(entry: &str) -> Result<Allowed, String> {
    let (address, prefix) = match entry.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (entry, None),
    };
    match address.parse::<IpAddr>() {
        Ok(base) => {
            let max = if base.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("bad prefix length in {entry:?}"))?,
            };
            Ok(Allowed::Net {
                base: base.to_canonical(),
                prefix,
            })
        }
        Err(_) if prefix.is_none() && !entry.contains(char::is_whitespace) => Ok(Allowed::Host(
            entry.trim_end_matches('.').to_ascii_lowercase(),
        )),
        Err(_) => Err(format!("not a host, address or range: {entry:?}")),
    }
}

/// Which kind of refused address `ip` is, if any.
fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.octets() == [100, 100, 100, 200] || v4.octets() == [192, 0, 0, 192] {
                Some("cloud metadata")
            } else if a == 169 && b == 254 {
                Some("link-local")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            if segments == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] {
                Some("cloud metadata")
            } else if segments[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else {
                None
            }
        }
    }
}

fn in_net(ip: IpAddr, base: IpAddr, prefix: u8) -> bool {
    let (ip, base, bits) = match (ip, base) {
        (IpAddr::V4(i), IpAddr::V4(b)) => (u128::from(u32::from(i)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(i), IpAddr::V6(b)) => (u128::from(i), u128::from(b), 128),
        _ => return false,
    };
    let shift = bits - u32::from(prefix);
    shift >= bits || (ip >> shift) == (base >> shift)
}

/// Checks an endpoint value before it is stored: callback URL types must be http(s) URLs with a
/// host (placeholders filled in), no credentials, and a host the policy does not refuse. Other
/// types are accepted as they are.
pub fn validate(
    endpoint_type: &str,
    value: &str,
    policy: &AddressPolicy,
) -> Result<(), EndpointError> {
    if !is_callback_url_type(endpoint_type) {
        return Ok(());
    }
    let example =
        TransferId::parse("b51ec534-ee48-4575-b6a9-ead2955b8069").expect("a valid transfer id");
    let rendered = render_endpoint(value, &example)?;
    let uri: http::Uri = rendered
        .parse()
        .map_err(|_| EndpointError::NotAUrl(rendered.clone()))?;
    let scheme = uri
        .scheme_str()
        .ok_or_else(|| EndpointError::NotAUrl(rendered.clone()))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(EndpointError::Scheme(scheme.to_owned()));
    }
    let authority = uri.authority().ok_or(EndpointError::NoHost)?;
    if authority.as_str().contains('@') {
        return Err(EndpointError::Credentials);
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(EndpointError::NoHost);
    }
    policy.check_host(host)
}

/// A URL for logs: scheme, host, port and path only (no user information, no query), so that a
/// token embedded in an endpoint never reaches a log line.
pub fn redacted(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) => {
            let scheme = uri.scheme_str().unwrap_or("");
            let host = uri.host().unwrap_or("");
            let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{scheme}://{host}{port}{}", uri.path())
        }
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUT: &str = "FSPIOP_CALLBACK_URL_TRANSFER_PUT";

    fn ok(value: &str) -> Result<(), EndpointError> {
        validate(PUT, value, &AddressPolicy::default())
    }

    #[test]
    fn callback_urls_must_be_http_urls_with_a_host() {
        assert_eq!(ok("https://dfsp.example/transfers/{{transferId}}"), Ok(()));
        assert_eq!(
            ok("http://127.0.0.1:4000/transfers/{{transferId}}/error"),
            Ok(())
        );
        assert_eq!(ok("http://10.0.0.7/transfers"), Ok(()));
        assert!(matches!(
            ok("ftp://dfsp.example/x"),
            Err(EndpointError::Scheme(_))
        ));
        assert!(matches!(
            ok("dfsp.example/transfers"),
            Err(EndpointError::NotAUrl(_))
        ));
        assert!(matches!(ok("not a url"), Err(EndpointError::NotAUrl(_))));
        assert!(matches!(
            ok("https://dfsp/{{payerFsp}}"),
            Err(EndpointError::Template(_))
        ));
        assert_eq!(
            ok("https://user:secret@dfsp.example/x"),
            Err(EndpointError::Credentials)
        );
    }

    #[test]
    fn link_local_and_metadata_are_refused_unless_allow_listed() {
        for value in [
            "http://169.254.169.254/latest/meta-data",
            "http://169.254.10.1/transfers",
            "http://[fe80::1]/transfers",
            "http://[fd00:ec2::254]/latest",
            "http://100.100.100.200/latest",
            "http://[::ffff:169.254.169.254]/latest",
            "http://metadata.google.internal/computeMetadata/v1",
            "http://METADATA.google.internal./x",
        ] {
            assert!(
                matches!(
                    ok(value),
                    Err(EndpointError::ForbiddenAddress { .. } | EndpointError::ForbiddenHost(_))
                ),
                "{value}: {:?}",
                ok(value)
            );
        }
        let policy = AddressPolicy::parse("169.254.10.0/24, metadata.google.internal").unwrap();
        assert_eq!(validate(PUT, "http://169.254.10.1/t", &policy), Ok(()));
        assert_eq!(
            validate(PUT, "http://metadata.google.internal/t", &policy),
            Ok(())
        );
        assert!(validate(PUT, "http://169.254.169.254/t", &policy).is_err());
    }

    #[test]
    fn other_endpoint_types_are_free_text() {
        let policy = AddressPolicy::default();
        assert_eq!(
            validate(
                "NET_DEBIT_CAP_ADJUSTMENT_EMAIL",
                "ops@dfsp.example",
                &policy
            ),
            Ok(())
        );
        assert_eq!(
            validate("ALARM_NOTIFICATION_URL", "anything", &policy),
            Ok(())
        );
    }

    #[test]
    fn allow_list_parsing() {
        assert!(AddressPolicy::parse("").unwrap().allowed.is_empty());
        assert!(AddressPolicy::parse("10.0.0.0/33").is_err());
        assert!(AddressPolicy::parse("a b").is_err());
        let policy = AddressPolicy::parse("fe80::/10").unwrap();
        assert_eq!(policy.check_ip("fe80::1".parse().unwrap()), Ok(()));
        assert!(policy.check_ip("169.254.1.1".parse().unwrap()).is_err());
    }

    #[test]
    fn logs_never_see_credentials_or_queries() {
        assert_eq!(
            redacted("https://u:p@dfsp.example:8443/transfers/1?token=abc"),
            "https://dfsp.example:8443/transfers/1"
        );
    }
}
