//! Starts an in-process NWS server on 127.0.0.1:0 for the integration tests.

#![allow(dead_code)]

use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A server running on the current tokio runtime; stops when dropped.
pub struct TestServer {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    /// Starts the server's graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a server with the default configuration on the current runtime.
pub async fn start() -> TestServer {
    start_with(nws_server::Config::default()).await
}

/// Starts a server with `config` on the current runtime.
pub async fn start_with(config: nws_server::Config) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address").to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = nws_server::run(listener, config, shutdown).await {
            eprintln!("test server failed: {e}");
        }
    });
    TestServer {
        addr,
        stop: Some(stop),
    }
}

/// A server running on its own runtime thread, for tests of the blocking
/// facade (which must not run inside a tokio runtime).
pub struct BackgroundServer {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    _runtime: tokio::runtime::Runtime,
    _server: TestServer,
}

/// Starts a server on a fresh multi-thread runtime.
pub fn start_in_background() -> BackgroundServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let server = runtime.block_on(start());
    BackgroundServer {
        addr: server.addr.clone(),
        _runtime: runtime,
        _server: server,
    }
}

/// Connects a new session to `server`.
pub async fn connect(server: &TestServer) -> nws::Server {
    nws::Server::connect(&server.addr).await.expect("connect")
}
