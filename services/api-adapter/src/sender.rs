//! Who sent a request: the sender authentication of the FSPIOP edge.
//!
//! One rule: the identity the adapter authenticated **is** the request's `FSPIOP-Source`,
//! whatever the method — the client certificate's identity (mTLS), the `X-Client-Id` an
//! authenticating gateway set (gateway mode), or the participant whose key verified the
//! signature (JWS, checked later in [`crate::api`] because it needs the body). That identity
//! becomes the envelope's [`Principal`](ferroloop_messaging::Principal), on which the handlers
//! authorise.
//!
//! The header-time checks, in order (all 400 / 3100, before the body is read, so nothing of a
//! refused request reaches the broker):
//!
//! 1. **`FSPIOP-Proxy`** present (any value) → refused. Interscheme proxying — a registered proxy
//!    participant sending for FSPs of another scheme — is not supported until it is specified;
//!    accepting the header would let whoever names itself proxy speak for any source.
//! 2. **`FSPIOP-Source` = the hub's name** (`HUB_NAME`) → refused: only the hub sends as the hub.
//! 3. **`X-Client-Id`**: in gateway mode (`FSPIOP_GATEWAY_AUTHENTICATION`) required and equal to
//!    `FSPIOP-Source`; otherwise, with `ENABLED_SOURCE_HEADER_VALIDATION` (Mojaloop's switch),
//!    compared only when present — an optional header authenticates nobody.
//! 4. **Client certificate** (client certificates required): its identity must be
//!    `FSPIOP-Source`.

use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_fspiop::headers::{INVALID_SOURCE_HEADER, ValidatedHeaders, names};
use ferroloop_messaging::Authentication;
use ferroloop_tls::identity::PeerIdentity;

/// Detail of 3100 for a request with `FSPIOP-Proxy`.
pub const PROXY_NOT_ACCEPTED: &str =
    "FSPIOP-Proxy is not accepted: interscheme proxying is not supported";
/// Detail of 3100 for `FSPIOP-Source` equal to the hub's name.
pub const SOURCE_IS_HUB: &str = "FSPIOP-Source must not be the hub's own name";
/// Detail of 3100 for a request without `X-Client-Id` in gateway mode.
pub const CLIENT_ID_REQUIRED: &str =
    "X-Client-Id is required: requests must come through the authenticating gateway";
/// Detail of 3100 when the client certificate is not the request's source.
pub const CERTIFICATE_MISMATCH: &str = "FSPIOP-Source does not match the client certificate";

/// How the deployment authenticates senders (from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderRules {
    /// Client certificates are required; their identity must be the source.
    pub client_certificates: bool,
    /// `FSPIOP_GATEWAY_AUTHENTICATION`: `X-Client-Id` required and equal to the source.
    pub gateway: bool,
    /// `ENABLED_SOURCE_HEADER_VALIDATION`: a present `X-Client-Id` must equal the source.
    pub compare_client_id: bool,
    /// Every non-GET request must carry a signature that verifies (`JWS_MODE=required`).
    pub signatures_required: bool,
    /// `HUB_NAME`.
    pub hub_name: String,
}

impl SenderRules {
    /// The methods every request must pass, for the start-up report and the gauge. A method a
    /// request may skip (`verify-if-present`, an optional `X-Client-Id`) authenticates nobody.
    pub fn enforced(&self) -> [(Authentication, bool); 3] {
        [
            (Authentication::Mtls, self.client_certificates),
            (Authentication::Gateway, self.gateway),
            (Authentication::Jws, self.signatures_required),
        ]
    }

    /// Whether any enforced method establishes the sender.
    pub fn authenticates(&self) -> bool {
        self.enforced().iter().any(|(_, on)| *on)
    }

    /// The header-time checks (module documentation); on success, how the source is
    /// authenticated so far (`None` until a signature verifies, or for good).
    pub fn check(
        &self,
        validated: &ValidatedHeaders,
        certificate: Option<&PeerIdentity>,
    ) -> Result<Authentication, FspiopError> {
        let source = validated.source();
        if validated.get(names::FSPIOP_PROXY).is_some() {
            return Err(refused(PROXY_NOT_ACCEPTED));
        }
        if source == self.hub_name {
            return Err(refused(SOURCE_IS_HUB));
        }
        let client_id = validated.get(names::X_CLIENT_ID).filter(|c| !c.is_empty());
        match client_id {
            None if self.gateway => return Err(refused(CLIENT_ID_REQUIRED)),
            Some(id) if id != source && (self.gateway || self.compare_client_id) => {
                return Err(refused(INVALID_SOURCE_HEADER));
            }
            _ => {}
        }
        if self.client_certificates {
            match certificate {
                Some(identity) if identity.is(source) => {}
                other => {
                    metrics::counter!("ferroloop_api_identity_mismatches_total").increment(1);
                    tracing::warn!(source, certificate = %other.map(ToString::to_string).unwrap_or_default(),
                        "FSPIOP-Source is not the client certificate's identity");
                    return Err(refused(CERTIFICATE_MISMATCH));
                }
            }
            return Ok(Authentication::Mtls);
        }
        Ok(if self.gateway {
            Authentication::Gateway
        } else {
            Authentication::None
        })
    }

    /// Logs the deployment's sender authentication and exports it as gauges:
    /// `ferroloop_api_sender_authentication{method}` (1 enforced, 0 not) and
    /// `ferroloop_api_sender_authenticated` (0: `FSPIOP-Source` is taken as written).
    pub fn report(&self) {
        for (method, on) in self.enforced() {
            metrics::gauge!("ferroloop_api_sender_authentication", "method" => method_label(method))
                .set(f64::from(u8::from(on)));
        }
        let authenticated = self.authenticates();
        metrics::gauge!("ferroloop_api_sender_authenticated")
            .set(f64::from(u8::from(authenticated)));
        if authenticated {
            let methods: Vec<&str> = self
                .enforced()
                .iter()
                .filter(|(_, on)| *on)
                .map(|(m, _)| method_label(*m))
                .collect();
            tracing::info!(methods = %methods.join(","), "senders are authenticated");
        } else {
            tracing::warn!(
                "NO SENDER AUTHENTICATION: FSPIOP-Source is taken as written, so anyone who reaches \
                 the FSPIOP port can act for any DFSP. Require client certificates \
                 (FSPIOP_TLS_CLIENT_CA_PATH), signatures (JWS_MODE=required) or an authenticating \
                 gateway (FSPIOP_GATEWAY_AUTHENTICATION) outside development"
            );
        }
    }
}

fn refused(detail: &str) -> FspiopError {
    FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, detail)
}

/// The `method` label of the gauges.
pub fn method_label(method: Authentication) -> &'static str {
    match method {
        Authentication::Mtls => "mtls",
        Authentication::Gateway => "gateway",
        Authentication::Jws => "jws",
        Authentication::None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroloop_fspiop::headers::{VersionConfig, validate_request_headers};
    use http::{HeaderMap, HeaderName, HeaderValue, Method};

    fn headers(extra: &[(&str, &str)]) -> ValidatedHeaders {
        let mut map = HeaderMap::new();
        let base = [
            (
                "accept",
                "application/vnd.interoperability.transfers+json;version=1",
            ),
            (
                "content-type",
                "application/vnd.interoperability.transfers+json;version=1.1",
            ),
            ("date", "Tue, 01 Jan 2030 00:00:00 GMT"),
            ("fspiop-source", "payerfsp"),
        ];
        for (name, value) in base.iter().chain(extra) {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        validate_request_headers(&Method::POST, "transfers", &map, &VersionConfig::default())
            .unwrap()
    }

    fn rules() -> SenderRules {
        SenderRules {
            client_certificates: false,
            gateway: false,
            compare_client_id: true,
            signatures_required: false,
            hub_name: "Hub".into(),
        }
    }

    fn detail(result: Result<Authentication, FspiopError>) -> String {
        result.unwrap_err().description().to_owned()
    }

    #[test]
    fn proxy_and_hub_name_are_refused_whatever_the_method() {
        for gateway in [false, true] {
            let rules = SenderRules { gateway, ..rules() };
            let proxied = headers(&[("fspiop-proxy", "payerfsp"), ("x-client-id", "payerfsp")]);
            assert!(detail(rules.check(&proxied, None)).ends_with(PROXY_NOT_ACCEPTED));
            let empty_proxy = headers(&[("fspiop-proxy", ""), ("x-client-id", "payerfsp")]);
            assert!(detail(rules.check(&empty_proxy, None)).ends_with(PROXY_NOT_ACCEPTED));
            let hub = headers(&[("fspiop-source", "Hub"), ("x-client-id", "Hub")]);
            assert!(detail(rules.check(&hub, None)).ends_with(SOURCE_IS_HUB));
        }
        // Exact comparison: "hub" is not the hub's name.
        let hub = headers(&[("fspiop-source", "hub")]);
        assert_eq!(rules().check(&hub, None), Ok(Authentication::None));
    }

    #[test]
    fn x_client_id_authenticates_only_in_gateway_mode() {
        let same = headers(&[("x-client-id", "payerfsp")]);
        let other = headers(&[("x-client-id", "payeefsp")]);
        let absent = headers(&[]);
        // Mojaloop's comparison: optional, so no authentication.
        assert_eq!(rules().check(&same, None), Ok(Authentication::None));
        assert!(detail(rules().check(&other, None)).ends_with(INVALID_SOURCE_HEADER));
        assert_eq!(rules().check(&absent, None), Ok(Authentication::None));
        let off = SenderRules {
            compare_client_id: false,
            ..rules()
        };
        assert_eq!(off.check(&other, None), Ok(Authentication::None));
        // Gateway mode: required and equal, whatever the Mojaloop switch says.
        let gateway = SenderRules {
            gateway: true,
            compare_client_id: false,
            ..rules()
        };
        assert_eq!(gateway.check(&same, None), Ok(Authentication::Gateway));
        assert!(detail(gateway.check(&other, None)).ends_with(INVALID_SOURCE_HEADER));
        assert!(detail(gateway.check(&absent, None)).ends_with(CLIENT_ID_REQUIRED));
        let empty = headers(&[("x-client-id", "")]);
        assert!(detail(gateway.check(&empty, None)).ends_with(CLIENT_ID_REQUIRED));
    }

    #[test]
    fn enforced_methods() {
        assert!(!rules().authenticates());
        for (rules, method) in [
            (
                SenderRules {
                    client_certificates: true,
                    ..rules()
                },
                Authentication::Mtls,
            ),
            (
                SenderRules {
                    gateway: true,
                    ..rules()
                },
                Authentication::Gateway,
            ),
            (
                SenderRules {
                    signatures_required: true,
                    ..rules()
                },
                Authentication::Jws,
            ),
        ] {
            assert!(rules.authenticates());
            let on: Vec<Authentication> = rules
                .enforced()
                .iter()
                .filter(|(_, on)| *on)
                .map(|(m, _)| *m)
                .collect();
            assert_eq!(on, [method]);
        }
    }
}
