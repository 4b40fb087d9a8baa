//! Who sent a request, as the handlers may believe it: the principal the API adapter
//! authenticated (`content.context.principal`), never a header the DFSP wrote.
//!
//! An envelope without a principal came through another adapter (Mojaloop's ml-api-adapter, for
//! instance), which authenticates at its own boundary and records nothing. Such envelopes are
//! refused unless the operator states that the boundary is trusted
//! ([`BoundaryArgs::accept_envelopes_without_principal`]); then `FSPIOP-Source` stands in for
//! the principal, as in Mojaloop.

use crate::Envelope;

/// The trust the pipeline handlers place in envelopes (flattened into their configuration).
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(feature = "kafka", derive(clap::Args))]
pub struct BoundaryArgs {
    /// Accept envelopes that carry no authenticated principal and authorise them on their
    /// FSPIOP-Source header. Only for a deployment where another adapter (such as Mojaloop's)
    /// authenticates DFSPs in front of the broker; with ferroloop's API adapter every envelope
    /// carries its principal, and an envelope without one was not produced by it, so it is
    /// refused (dead-lettered, answered to nobody).
    #[cfg_attr(
        feature = "kafka",
        arg(
            long,
            env = "ACCEPT_ENVELOPES_WITHOUT_PRINCIPAL",
            default_value_t = false,
            action = clap::ArgAction::Set
        )
    )]
    pub accept_envelopes_without_principal: bool,
}

impl BoundaryArgs {
    /// Trusts the boundary when `trusted` (tests and embedders).
    pub const fn trusting(trusted: bool) -> Self {
        Self {
            accept_envelopes_without_principal: trusted,
        }
    }

    /// The participant the request comes from: the principal, else (trusted boundary only)
    /// `FSPIOP-Source`. `None`: nobody the hub may believe, refuse the envelope.
    pub fn sender<'a>(&self, envelope: &'a Envelope) -> Option<&'a str> {
        match envelope.principal() {
            Some(principal) => Some(principal.fsp.as_str()),
            None if self.accept_envelopes_without_principal => envelope.header("fspiop-source"),
            None => None,
        }
    }
}

/// Why an envelope was refused before anything else was looked at.
pub const NO_PRINCIPAL: &str = "envelope carries no authenticated principal \
     (set ACCEPT_ENVELOPES_WITHOUT_PRINCIPAL only behind an authenticating adapter)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{InboundKind, InboundRequest, inbound_envelope};
    use crate::{Authentication, Principal};
    use std::collections::BTreeMap;

    fn envelope(principal: Option<&str>) -> Envelope {
        let headers = BTreeMap::from([("fspiop-source".to_owned(), "payerfsp".to_owned())]);
        let mut envelope = inbound_envelope(&InboundRequest {
            kind: InboundKind::Get,
            transfer_id: "t",
            headers,
            body: b"",
            payer_payee: None,
            transfer_state: None,
            principal: Principal::new(principal.unwrap_or_default(), Authentication::Mtls),
        });
        if principal.is_none() {
            envelope.content.context.as_mut().unwrap().principal = None;
        }
        envelope
    }

    #[test]
    fn the_principal_wins_over_the_header() {
        let e = envelope(Some("otherfsp"));
        assert_eq!(BoundaryArgs::default().sender(&e), Some("otherfsp"));
        assert_eq!(BoundaryArgs::trusting(true).sender(&e), Some("otherfsp"));
    }

    #[test]
    fn without_a_principal_only_a_trusted_boundary_reads_the_header() {
        let e = envelope(None);
        assert_eq!(BoundaryArgs::default().sender(&e), None);
        assert_eq!(BoundaryArgs::trusting(true).sender(&e), Some("payerfsp"));
    }
}
