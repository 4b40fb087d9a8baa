//! The HTTP listener of a public API with the limits that keep hostile clients from starving the
//! others (docs/reliability.md#abuse-at-the-edge): at most `max_connections` connections at once
//! (further clients wait in the kernel's listen backlog), request headers read within
//! `header_read_timeout` (also the longest a keep-alive connection may sit idle, and what frees
//! the slot of a client that connects and sends nothing or drips its headers), at most
//! `max_headers` headers of at most `max_header_bytes` in all (431 beyond, then the connection is
//! closed). Body size and the time a request may take are the application's limits.
//!
//! `axum::serve` has none of these settings; this is the same loop (hyper's HTTP/1 server per
//! connection, graceful shutdown) with them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// Connection limits of a listener (each service maps its own settings onto these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    /// Connections open at once; the process needs that many file descriptors and some more.
    pub max_connections: usize,
    /// Longest the request line and headers may take to arrive, from the moment the connection
    /// waits for them (so also the idle time allowed between keep-alive requests).
    pub header_read_timeout: Duration,
    /// Headers one request may have.
    pub max_headers: usize,
    /// Bytes of request line and headers one request may have.
    pub max_header_bytes: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            max_connections: 16_384,
            header_read_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_header_bytes: 16 * 1024,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets every
/// connection finish its request in flight, and returns once all are closed. Each request
/// carries `ConnectInfo(connect_info(&peer))`.
pub async fn serve<L, C, F>(
    mut listener: L,
    router: Router,
    limits: EdgeLimits,
    connect_info: F,
    shutdown: impl Future<Output = ()> + Send,
) where
    L: Listener,
    C: Clone + Send + Sync + 'static,
    F: Fn(&L::Addr) -> C,
{
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let closing = CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first, so that clients beyond the limit wait in the backlog, not in memory.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_closed) => break,
            },
        };
        let (io, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let info = ConnectInfo(connect_info(&peer));
        let router = router.clone();
        let closing = closing.clone();
        tokio::spawn(async move {
            let _slot = slot;
            serve_connection(io, router, info, &limits, &closing).await;
        });
    }
    // New connections are no longer accepted: the router lives on in the open ones only.
    drop(router);
    closing.cancel();
    // Every connection holds a slot until it is closed: all slots back means all closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

async fn serve_connection<I, C>(
    io: I,
    router: Router,
    info: ConnectInfo<C>,
    limits: &EdgeLimits,
    closing: &CancellationToken,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    C: Clone + Send + Sync + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(info.clone());
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(axum::body::Body::new)).await;
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended");
            }
            return;
        }
        () = closing.cancelled() => connection.as_mut().graceful_shutdown(),
    }
    if let Err(error) = connection.await {
        tracing::debug!(%error, "connection ended during shutdown");
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Instant;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    async fn start(limits: EdgeLimits) -> (SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        tokio::spawn(async move {
            serve(listener, router, limits, SocketAddr::clone, async move {
                shutdown.cancelled().await;
            })
            .await;
        });
        (addr, stop)
    }

    /// Sends `request` and reads the answer until the server closes.
    async fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
        stream.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn idle_connections_are_closed_after_the_header_read_timeout() {
        let limits = EdgeLimits {
            header_read_timeout: Duration::from_millis(300),
            ..EdgeLimits::default()
        };
        let (addr, stop) = start(limits).await;
        let mut idle = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let mut buf = [0_u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
        assert!(started.elapsed() >= Duration::from_millis(250));
        // A request is still served, with its peer's address.
        let mut client = TcpStream::connect(addr).await.unwrap();
        let answer = exchange(
            &mut client,
            b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.ends_with(&client.local_addr().unwrap().to_string()),
            "{answer}"
        );
        stop.cancel();
    }

    #[tokio::test]
    async fn header_floods_are_refused_with_431() {
        let limits = EdgeLimits {
            max_headers: 10,
            max_header_bytes: 2_048,
            ..EdgeLimits::default()
        };
        let (addr, stop) = start(limits).await;
        for extra in [
            (0..20).map(|i| format!("x-{i}: 1\r\n")).collect::<String>(),
            format!("x-big: {}\r\n", "a".repeat(4_096)),
        ] {
            let mut client = TcpStream::connect(addr).await.unwrap();
            let request = format!("GET /peer HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
            let answer = exchange(&mut client, request.as_bytes()).await;
            assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        }
        stop.cancel();
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_wait_for_a_free_slot() {
        let limits = EdgeLimits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(30),
            ..EdgeLimits::default()
        };
        let (addr, stop) = start(limits).await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        first
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0_u8; 12];
        first.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        // The kernel completes the second handshake, but nobody reads it while `first` is open.
        let mut second = TcpStream::connect(addr).await.unwrap();
        second
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
        assert!(waiting.is_err(), "served beyond the limit: {waiting:?}");
        drop(first);
        let answer = exchange(&mut second, b"").await;
        assert!(answer.contains("200 OK"), "{answer}");
        stop.cancel();
    }
}
