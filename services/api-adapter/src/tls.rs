//! The FSPIOP listener over TLS (docs/fspiop-api.md#client-certificates-mtls).
//!
//! With `FSPIOP_TLS_CERT_PATH` and `FSPIOP_TLS_KEY_PATH` the listener speaks only TLS; with
//! `FSPIOP_TLS_CLIENT_CA_PATH` as well, every client must present a certificate that chains to
//! that CA bundle (the hub CA) and is valid now — a certificate from another CA, an expired one or
//! none fails the handshake, before any HTTP. The certificate's identity
//! (`ferroloop_tls::identity`: subject CN or a SAN dNSName) is attached to every request of the
//! connection ([`Peer`]), and the request path requires it to be the request's `FSPIOP-Source`
//! ([`crate::sender`]; `FSPIOP-Proxy` is refused) — else 3100, before the body is read and so
//! before anything is produced.
//!
//! Handshakes run on their own tasks, at most `FSPIOP_TLS_MAX_PENDING_HANDSHAKES` at once and
//! each bounded by `FSPIOP_TLS_HANDSHAKE_TIMEOUT_MS`, so a slow or idle client never holds up
//! `accept` for the others. Each handshake takes the configuration current at that moment: a
//! reload (`ferroloop_tls::Reloading`, polled every `FSPIOP_TLS_RELOAD_INTERVAL_MS`) applies to
//! new connections; connections already open keep theirs until they close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use ferroloop_tls::Reloading;
use ferroloop_tls::identity::PeerIdentity;
use ferroloop_tls::rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The verified client certificate's identity (TLS with client certificates only).
    pub identity: Option<Arc<PeerIdentity>>,
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer {
            addr: *stream.remote_addr(),
            identity: None,
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Limits of the handshake stage.
#[derive(Debug, Clone, Copy)]
pub struct HandshakeLimits {
    pub timeout: Duration,
    pub max_pending: usize,
}

/// Accepted, handshaken TLS connections, for `axum::serve`.
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, Peer)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp`; handshakes use `config`'s current value. Stops at `shutdown`.
    pub fn start(
        tcp: TcpListener,
        config: Arc<Reloading<ServerConfig>>,
        limits: HandshakeLimits,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        let max_pending = limits.max_pending.max(1);
        // Handshaken connections wait here for axum; bounded like the handshakes themselves.
        let (sender, ready) = mpsc::channel(max_pending);
        let permits = Arc::new(Semaphore::new(max_pending));
        tokio::spawn(async move {
            loop {
                // Take a handshake slot before accepting, so excess clients wait in the
                // kernel's backlog instead of in memory here.
                let permit = tokio::select! {
                    () = shutdown.cancelled() => break,
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_closed) => break,
                    },
                };
                let (stream, addr) = tokio::select! {
                    () = shutdown.cancelled() => break,
                    accepted = tcp.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            // Out of file descriptors and the like: back off briefly, as
                            // axum's own accept loop does.
                            tracing::warn!(%error, "FSPIOP accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let acceptor = TlsAcceptor::from(config.current());
                let sender = sender.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "TCP_NODELAY");
                    }
                    match tokio::time::timeout(limits.timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let identity = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|chain| chain.first())
                                .map(|leaf| Arc::new(PeerIdentity::from_leaf(leaf)));
                            // The receiver is gone only when the server stopped.
                            let _ = sender.send((tls, Peer { addr, identity })).await;
                        }
                        Ok(Err(error)) => {
                            metrics::counter!("ferroloop_api_tls_handshake_failures_total", "reason" => "refused").increment(1);
                            tracing::info!(%addr, %error, "TLS handshake refused");
                        }
                        Err(_elapsed) => {
                            metrics::counter!("ferroloop_api_tls_handshake_failures_total", "reason" => "timeout").increment(1);
                            tracing::info!(%addr, "TLS handshake timed out");
                        }
                    }
                });
            }
        });
        Ok(Self { ready, local_addr })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept loop ended (shutdown): axum's graceful shutdown is under way and stops
            // asking; never hand out a connection again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer {
            addr: self.local_addr,
            identity: None,
        })
    }
}
