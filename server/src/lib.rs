//! # nws-server: the NetWorkSpaces reference server
//!
//! A coordination service: named workspaces hold named variables, each a
//! queue of values that programs `store`, `fetch` (consume, waiting while
//! empty) and `find` (read, waiting while empty). The contract is
//! `proto/nws/v1/nws.proto`; the prose is in `spec/`.
//!
//! Module map:
//! - [`store`]: the state model (workspaces, variables, waiters, leases,
//!   sessions) behind one cheap `Arc` handle; no protobuf, no async locks.
//! - [`session`](crate::session): drives one `Session` stream: request ids, chunked uploads,
//!   blocked requests as tasks, session end.
//! - [`service`]: the protobuf edge: the tonic service and the conversions.
//! - [`value`], [`names`]: what a value and a valid name are.
//! - [`config`]: limits and network tuning.
//! - [`error`]: the domain error enum, one stable reason per variant.
//! - [`web`]: the web UI and its JSON API ([`web::serve`], on its own
//!   listener over the same [`Store`]), and the server's side of the
//!   babelfish protocol (`spec/babelfish.md`).
//! - [`legacy`]: the original 2007 NWS wire protocol, sniffed on the same
//!   port as gRPC (or on its own `--legacy-port`), so the original Python
//!   and R clients (and others speaking the same bytes) work unchanged
//!   (`spec/legacy.md`).
//!
//! The binary (`src/main.rs`) is CLI and logging around [`run_with_store`]
//! and [`web::serve`].

pub mod config;
pub mod error;
pub mod legacy;
pub mod names;
pub mod service;
pub(crate) mod session;
pub mod store;
pub mod value;
pub mod web;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use nws_proto::v1::net_work_spaces_server::NetWorkSpacesServer;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;

pub use config::{Config, Limits};
pub use error::{Error, ServerError};
pub use store::Store;
pub use value::Value;

/// Largest gRPC message the server accepts or sends: a 4 MiB chunk plus framing.
const MAX_MESSAGE: usize = 8 << 20;

/// Serves NetWorkSpaces on `listener` until `shutdown` completes.
///
/// On shutdown every blocked request is answered SHUTTING_DOWN, every session
/// stream ends with an UNAVAILABLE status, and the function returns once the
/// connections have closed.
///
/// With [`Config::legacy`] (the default) the same port also speaks the
/// original NWS protocol: each connection's first byte decides
/// ([`legacy::classify`]).
///
/// ```no_run
/// # async fn doc() -> Result<(), nws_server::ServerError> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// println!("listening on {}", listener.local_addr()?);
/// nws_server::run(listener, nws_server::Config::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let store = Store::new(config.limits.clone());
    run_with_store(listener, config, store, shutdown).await
}

/// Like [`run`], but serving an existing [`Store`] (so a caller can also
/// inspect it, e.g. tests or the web UI).
///
/// ```no_run
/// # async fn doc() -> Result<(), nws_server::ServerError> {
/// let store = nws_server::Store::new(Default::default());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// nws_server::run_with_store(listener, Default::default(), store.clone(), std::future::pending()).await?;
/// # Ok(()) }
/// ```
pub async fn run_with_store(
    listener: TcpListener,
    config: Config,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (down_tx, down_rx) = watch::channel(false);
    let keepalive = (config.keepalive_interval, config.keepalive_timeout);
    let config_legacy = config.legacy;
    let legacy_store = store.clone();
    let service = service::Service {
        store: store.clone(),
        config: Arc::new(config),
        shutdown: down_rx,
    };
    let mut stopping = down_rx_for_deadline(&down_tx);
    let legacy_down = down_tx.subscribe();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: waking every waiter");
        store.shutdown();
        let _ = down_tx.send(true);
    };
    let router = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(keepalive.0))
        .http2_keepalive_timeout(Some(keepalive.1))
        .initial_stream_window_size(16 << 20)
        .initial_connection_window_size(64 << 20)
        .max_frame_size(1 << 20)
        .add_service(
            NetWorkSpacesServer::new(service)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        );
    type Serving = Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>>;
    let (serve, acceptor): (Serving, _) = if config_legacy {
        // One port, two protocols: our accept loop sniffs each connection
        // and feeds the HTTP/2 ones to tonic through this channel.
        let (tx, rx) = mpsc::channel(128);
        let acceptor = tokio::spawn(legacy::accept_loop(
            listener,
            Some(tx),
            legacy_store,
            legacy_down,
        ));
        let serve = router.serve_with_incoming_shutdown(ReceiverStream::new(rx), signal);
        (Box::pin(serve), Some(acceptor))
    } else {
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let serve = router.serve_with_incoming_shutdown(incoming, signal);
        (Box::pin(serve), None)
    };
    // Graceful shutdown waits for every connection to finish; a client that
    // stopped reading never lets its stream finish, so give up after a grace
    // period rather than hang (spec/sessions.md#shutdown).
    let deadline = async move {
        let _ = stopping.wait_for(|down| *down).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = serve => served?,
        () = deadline => tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after shutdown; closing anyway"),
    }
    if let Some(acceptor) = acceptor {
        // The accept loop closes the legacy connections within its own grace.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, acceptor).await;
    }
    Ok(())
}

/// How long shutdown waits for connections to close on their own.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

fn down_rx_for_deadline(tx: &watch::Sender<bool>) -> watch::Receiver<bool> {
    tx.subscribe()
}
