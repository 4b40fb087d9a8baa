//! The HTTP client of the callbacks: pooled keep-alive HTTP/1.1 over `http` and `https`, a
//! resolver that refuses a host name if any address it resolves to is one the hub does not call
//! (DNS rebinding: the name may have resolved elsewhere when the endpoint was registered), and a
//! request body that tells when the request went on the wire.

use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use ferroloop_fspiop::endpoint::{AddressPolicy, EndpointError};
use ferroloop_tls::rustls::ClientConfig;
use futures::future::BoxFuture;
use http::StatusCode;
use hyper::body::{Body, Frame, SizeHint};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::oneshot;

use super::DeliveryConfig;
use super::lane::WaitTicket;

/// Looks host names up instead of the system resolver: for embedding the handler, and for tests
/// that must control what a name resolves to. The binary always uses the system resolver.
#[derive(Clone)]
pub struct HostLookup(Arc<LookupFn>);

type LookupFn = dyn Fn(&str) -> Vec<IpAddr> + Send + Sync;

impl HostLookup {
    pub fn new(lookup: impl Fn(&str) -> Vec<IpAddr> + Send + Sync + 'static) -> Self {
        Self(Arc::new(lookup))
    }
}

impl fmt::Debug for HostLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostLookup(..)")
    }
}

/// A host name refused because one of its addresses is refused.
#[derive(Debug, thiserror::Error)]
#[error("{host}: {error}")]
pub(crate) struct Refused {
    host: String,
    error: EndpointError,
}

/// Resolves a callback host name, then checks every address with the policy.
#[derive(Clone)]
pub(crate) struct CheckedResolver {
    policy: Arc<AddressPolicy>,
    lookup: Option<HostLookup>,
}

impl tower::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> = match &this.lookup {
                Some(lookup) => (lookup.0)(&host)
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            // Every address, not only the first: the connector may fall back to any of them.
            for address in &addresses {
                this.policy
                    .check_ip(address.ip())
                    .map_err(|error| Refused {
                        host: host.clone(),
                        error,
                    })?;
            }
            Ok(addresses.into_iter())
        })
    }
}

/// A first attempt not on the wire yet: the batch waits for `sent`, and while the attempt waits
/// (for a slot, a connection) it counts towards its DFSP being behind.
#[derive(Debug)]
pub(crate) struct OnWire {
    pub(crate) sent: oneshot::Sender<()>,
    pub(crate) waiting: WaitTicket,
}

/// The request body: the callback's bytes, and a signal when the connection took them (or the
/// request was dropped unsent), so a batch can wait for its first attempts to be on the wire
/// without waiting for the answers.
pub(crate) struct SentBody {
    bytes: Option<Bytes>,
    on_wire: Option<OnWire>,
}

impl SentBody {
    pub(crate) fn new(bytes: Bytes, on_wire: Option<OnWire>) -> Self {
        Self {
            bytes: Some(bytes).filter(|b| !b.is_empty()),
            on_wire,
        }
    }

    fn signal(&mut self) {
        if let Some(OnWire { sent, waiting }) = self.on_wire.take() {
            drop(waiting);
            let _ = sent.send(());
        }
    }
}

impl Drop for SentBody {
    fn drop(&mut self) {
        self.signal();
    }
}

impl Body for SentBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = self.bytes.take().map(|b| Ok(Frame::data(b)));
        self.signal();
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.as_ref().map_or(0, |b| b.len() as u64))
    }
}

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector<CheckedResolver>>, SentBody>;

/// A pooled keep-alive HTTP/1.1 client for `http` and `https` endpoints.
pub(crate) fn build(config: &DeliveryConfig, tls: ClientConfig) -> HttpClient {
    let resolver = CheckedResolver {
        policy: Arc::new(config.address_policy.clone()),
        lookup: config.lookup.clone(),
    };
    let mut connector = HttpConnector::new_with_resolver(resolver);
    connector.set_connect_timeout(Some(config.connect_timeout));
    connector.set_nodelay(true);
    // The HTTPS connector below handles both schemes.
    connector.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(config.pool_idle_timeout)
        .pool_max_idle_per_host(config.pool_max_idle_per_host)
        .build(connector)
}

/// The result of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    Success,
    Retryable,
    /// An answer that is final (4xx but 429, 3xx, 1xx).
    Permanent,
    /// The endpoint's address is one the hub does not call: final, nothing was sent.
    Refused,
}

pub(crate) fn classify(status: StatusCode) -> (Attempt, &'static str, String) {
    let detail = format!("HTTP {}", status.as_u16());
    let (attempt, label) = if status.is_success() {
        (Attempt::Success, "2xx")
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        (Attempt::Retryable, "429")
    } else if status.is_server_error() {
        (Attempt::Retryable, "5xx")
    } else if status.is_client_error() {
        (Attempt::Permanent, "4xx")
    } else if status.is_redirection() {
        (Attempt::Permanent, "3xx")
    } else {
        (Attempt::Permanent, "1xx")
    };
    (attempt, label, detail)
}

/// An error with its sources, for logs.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether the resolver refused the host (anywhere in the error's sources).
pub(crate) fn is_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<Refused>() {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(StatusCode::OK).0, Attempt::Success);
        assert_eq!(classify(StatusCode::ACCEPTED).0, Attempt::Success);
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS).0,
            Attempt::Retryable
        );
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE).0,
            Attempt::Retryable
        );
        assert_eq!(classify(StatusCode::BAD_REQUEST).0, Attempt::Permanent);
        assert_eq!(classify(StatusCode::NOT_FOUND).0, Attempt::Permanent);
        assert_eq!(
            classify(StatusCode::MOVED_PERMANENTLY).0,
            Attempt::Permanent
        );
    }

    #[tokio::test]
    async fn a_name_is_refused_if_any_of_its_addresses_is() {
        use tower::Service as _;
        let mut resolver = CheckedResolver {
            policy: Arc::new(AddressPolicy::default()),
            lookup: Some(HostLookup::new(|host| match host {
                "mixed.test" => vec![
                    "127.0.0.1".parse().unwrap(),
                    "169.254.169.254".parse().unwrap(),
                ],
                _ => vec!["127.0.0.1".parse().unwrap()],
            })),
        };
        let ok: Vec<SocketAddr> = resolver
            .call("fine.test".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(ok, ["127.0.0.1:0".parse().unwrap()]);
        let error = resolver
            .call("mixed.test".parse().unwrap())
            .await
            .unwrap_err();
        assert!(is_refused(&*error), "{error}");
        assert!(error.to_string().contains("169.254.169.254"), "{error}");
    }
}
