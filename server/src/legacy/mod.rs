//! The original NWS wire protocol, served beside gRPC (`spec/legacy.md`).
//!
//! Programs written against the 2007 NetWorkSpaces server (the Python
//! `nws.client` of python-big 1.6, the CRAN `nws` 1.7 R package, and any
//! other client sending the same bytes) connect to this server unchanged.
//! Each legacy connection is one session of the shared [`Store`], so values
//! travel between legacy clients and our gRPC clients.
//!
//! Both protocols share one port by default: a gRPC (HTTP/2) client's first
//! bytes are the preface `PRI * HTTP/2.0\r\n\r\n`, while a legacy client's
//! first bytes are its four-byte handshake (`X000`, `1112`, `0000`, `1111`),
//! which never starts with `P`. [`accept_loop`] accepts connections itself,
//! peeks at the first byte of each in its own task (one peek per
//! connection; the accept loop never waits on a client), and hands the
//! stream to tonic or to [`session`]. `--no-legacy` turns the sniffing off;
//! `--legacy-port` adds a listener that speaks only the legacy protocol
//! ([`serve`]).
//!
//! Module map: [`handshake`] (both handshakes and option negotiation),
//! [`framing`] (request tuples, short and long replies), [`descriptor`]
//! (type descriptors and language tags), [`listing`] (`list wss` /
//! `list vars` texts, mode names, mktemp templates), [`status`] (status
//! codes), [`session`] (one connection against the store).
//!
//! ```no_run
//! # async fn doc() -> std::io::Result<()> {
//! // A legacy-only listener over an existing store:
//! let store = nws_server::Store::new(Default::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:18765").await?;
//! nws_server::legacy::serve(listener, store, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await;
//! # Ok(()) }
//! ```

pub mod descriptor;
pub mod framing;
pub mod handshake;
pub mod listing;
pub mod session;
pub mod status;

use std::future::Future;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::Store;

/// How long a new connection may stay silent before it is closed (both
/// protocols' clients speak first, at once).
pub const SNIFF_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for legacy connections to close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Where a connection goes, decided from its first byte.
///
/// ```
/// use nws_server::legacy::{classify, Route};
/// assert_eq!(classify(b'P'), Route::Grpc);
/// assert_eq!(classify(b'X'), Route::Legacy);
/// assert_eq!(classify(b'1'), Route::Legacy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// HTTP/2: the preface starts with `PRI`.
    Grpc,
    /// Anything else: a legacy handshake.
    Legacy,
}

/// Classifies a connection by its first byte.
pub fn classify(first: u8) -> Route {
    if first == b'P' {
        Route::Grpc
    } else {
        Route::Legacy
    }
}

/// Accepts on `listener` until `shutdown` turns true. With `grpc` set,
/// each connection is sniffed and HTTP/2 ones are sent there (tonic serves
/// that channel as its incoming stream); without it every connection is a
/// legacy one. Returns after the legacy connections have closed (or the
/// grace period passed).
pub async fn accept_loop(
    listener: TcpListener,
    grpc: Option<mpsc::Sender<std::io::Result<TcpStream>>>,
    store: Store,
    shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    let mut down = shutdown.clone();
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut down) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let (grpc, store, shutdown) = (grpc.clone(), store.clone(), shutdown.clone());
                    conns.spawn(route(stream, grpc, store, shutdown));
                }
                Err(e) => {
                    // Out of descriptors and the like: do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(grpc);
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(CLOSE_GRACE, drain).await.is_err() {
        conns.abort_all();
    }
}

async fn route(
    stream: TcpStream,
    grpc: Option<mpsc::Sender<std::io::Result<TcpStream>>>,
    store: Store,
    shutdown: watch::Receiver<bool>,
) {
    let Some(grpc) = grpc else {
        return session::serve_connection(stream, store, shutdown).await;
    };
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(SNIFF_TIMEOUT, stream.peek(&mut first)).await;
    // Closed, failed or silent connections are dropped.
    if let Ok(Ok(1)) = peeked {
        match classify(first[0]) {
            Route::Grpc => {
                let _ = grpc.send(Ok(stream)).await;
            }
            Route::Legacy => {
                drop(grpc);
                session::serve_connection(stream, store, shutdown).await;
            }
        }
    }
}

/// Resolves once `rx` holds `true` (or its sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|d| *d).await;
}

/// Serves only the legacy protocol on `listener` (the `--legacy-port`
/// listener) until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = watch::channel(false);
    let signal = tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
        // Keep the sender alive until the loop has seen it.
        std::future::pending::<()>().await;
    });
    accept_loop(listener, None, store, rx).await;
    signal.abort();
}
