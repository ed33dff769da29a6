//! A synchronous facade: the same operations as the async API, for programs
//! without an async runtime.
//!
//! Each [`Server`] owns a small tokio runtime: a current-thread runtime
//! driven by one background thread (`nws-io`), so the connection keeps
//! answering HTTP/2 keepalive pings while the caller computes for hours
//! between calls. Calls block the calling thread until their reply arrives;
//! many threads may share one `Server` (their requests are pipelined on the
//! one connection). Do not call these methods from inside an async runtime:
//! use the async API there.
//!
//! After `fork()`, a handle inherited by the child is unusable (its runtime
//! thread does not exist there): calls fail with [`Error::Closed`] and
//! dropping it leaks instead of touching the parent's connection. Connect
//! anew in the child.
//!
//! ```no_run
//! use nws::blocking::Server;
//! let server = Server::connect("localhost:8765")?;
//! let ws = server.open_ws("demo")?;
//! ws.store("x", "hello")?;
//! assert_eq!(ws.fetch("x")?.as_text(), Some("hello"));
//! for v in ws.ifind_try("log") {
//!     println!("{:?}", v?);
//! }
//! # Ok::<(), nws::Error>(())
//! ```

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use crate::error::Error;
use crate::iter::ValueStream;
use crate::lease::Lease;
use crate::server::{OpenOptions, ServerInfo};
use crate::value::{Mode, Value, VariableInfo, WorkspaceInfo};

/// The runtime of a blocking session: a handle for callers, and the thread
/// that drives the runtime's I/O and tasks until stopped.
struct Runtime {
    /// Callers `block_on` through it; the driver thread owns the runtime.
    handle: tokio::runtime::Handle,
    /// Tells the driver thread to stop (taken in `Drop`).
    stop: Option<oneshot::Sender<()>>,
    /// Joined in `Drop`, so the runtime is gone when the last handle is.
    driver: Option<thread::JoinHandle<()>>,
    /// The process that built it: after `fork()` the driver thread does not
    /// exist, so the runtime must not be used (or joined) any more.
    pid: u32,
}

impl Runtime {
    fn new() -> Result<Arc<Runtime>, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::transport)?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let driver = thread::Builder::new()
            .name("nws-io".into())
            .spawn(move || {
                // Only `Runtime::block_on` drives a current-thread runtime's
                // I/O and timers; callers' `Handle::block_on` rely on it.
                let _ = rt.block_on(stopped);
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(Error::transport)?;
        Ok(Arc::new(Runtime {
            handle,
            stop: Some(stop),
            driver: Some(driver),
            pid: std::process::id(),
        }))
    }

    fn forked(&self) -> bool {
        self.pid != std::process::id()
    }

    /// Runs `f` to completion on the calling thread.
    fn run<T>(&self, f: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        if self.forked() {
            return Err(Error::Closed);
        }
        self.handle.block_on(f)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.forked() {
            // The driver thread exists only in the parent.
            std::mem::forget(self.stop.take());
            std::mem::forget(self.driver.take());
            return;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(driver) = self.driver.take() {
            // Never join ourselves (a handle dropped by code running on the
            // runtime's own thread): the thread ends on its own once stopped.
            if driver.thread().id() != thread::current().id() {
                let _ = driver.join();
            }
        }
    }
}

/// A blocking session with an NWS server (see [`crate::Server`]).
///
/// ```no_run
/// let server = nws::blocking::Server::connect_default()?;
/// let ws = server.mktemp_ws(None)?;
/// println!("{}", ws.name());
/// # Ok::<(), nws::Error>(())
/// ```
#[derive(Clone)]
pub struct Server {
    // Declared before `rt`: the session is dropped while its runtime still
    // exists.
    inner: crate::Server,
    rt: Arc<Runtime>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::Server")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.rt.forked() {
            // Keep the parent's connection untouched: never drop it here.
            std::mem::forget(self.inner.clone());
        }
    }
}

impl Server {
    /// Connects to `addr` (`host:port`, `host`, or `http://host:port`).
    ///
    /// ```no_run
    /// let server = nws::blocking::Server::connect("127.0.0.1:8765")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn connect(addr: &str) -> Result<Server, Error> {
        let rt = Runtime::new()?;
        let inner = rt.run(crate::Server::connect(addr))?;
        Ok(Server { inner, rt })
    }

    /// Connects to `$NWS_HOST:$NWS_PORT` (defaults `localhost` and 8765).
    ///
    /// ```no_run
    /// let server = nws::blocking::Server::connect_default()?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn connect_default() -> Result<Server, Error> {
        Server::connect(&crate::server::default_address())
    }

    fn wrap(&self, ws: crate::Workspace) -> Workspace {
        Workspace {
            inner: ws,
            rt: Arc::clone(&self.rt),
        }
    }

    /// Facts about the server and this session.
    ///
    /// ```no_run
    /// # let server = nws::blocking::Server::connect_default()?;
    /// println!("{}", server.info().server);
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn info(&self) -> &ServerInfo {
        self.inner.info()
    }

    /// This session's id.
    ///
    /// ```no_run
    /// # let server = nws::blocking::Server::connect_default()?;
    /// println!("{}", server.session_id());
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn session_id(&self) -> u64 {
        self.inner.session_id()
    }

    /// openWs (see [`crate::Server::open_ws`]).
    ///
    /// ```no_run
    /// # let server = nws::blocking::Server::connect_default()?;
    /// let ws = server.open_ws("results")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn open_ws(&self, name: &str) -> Result<Workspace, Error> {
        self.rt.run(self.inner.open_ws(name)).map(|w| self.wrap(w))
    }

    /// useWs (see [`crate::Server::use_ws`]).
    ///
    /// ```no_run
    /// # let server = nws::blocking::Server::connect_default()?;
    /// let ws = server.use_ws("shared")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn use_ws(&self, name: &str) -> Result<Workspace, Error> {
        self.rt.run(self.inner.use_ws(name)).map(|w| self.wrap(w))
    }

    /// Opens a workspace with explicit options (see
    /// [`crate::Server::open_ws_with`]).
    ///
    /// ```no_run
    /// # let server = nws::blocking::Server::connect_default()?;
    /// let opts = nws::OpenOptions { must_exist: true, ..Default::default() };
    /// let ws = server.open_ws_with("existing", opts)?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn open_ws_with(&self, name: &str, options: OpenOptions) -> Result<Workspace, Error> {
        self.rt
            .run(self.inner.open_ws_with(name, options))
            .map(|w| self.wrap(w))
    }

    /// mktempWs (see [`crate::Server::mktemp_ws`]).
    ///
    /// ```no_run
    /// # let server = nws::blocking::Server::connect_default()?;
    /// let ws = server.mktemp_ws(Some("job_%d"))?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn mktemp_ws(&self, template: Option<&str>) -> Result<Workspace, Error> {
        self.rt
            .run(self.inner.mktemp_ws(template))
            .map(|w| self.wrap(w))
    }

    /// mktempWs with a choice of lifetime (see
    /// [`crate::Server::mktemp_ws_with`]).
    ///
    /// ```no_run
    /// # let server = nws::blocking::Server::connect_default()?;
    /// let ws = server.mktemp_ws_with(None, true)?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn mktemp_ws_with(
        &self,
        template: Option<&str>,
        persistent: bool,
    ) -> Result<Workspace, Error> {
        self.rt
            .run(self.inner.mktemp_ws_with(template, persistent))
            .map(|w| self.wrap(w))
    }

    /// deleteWs (see [`crate::Server::delete_ws`]).
    ///
    /// ```no_run
    /// # let server = nws::blocking::Server::connect_default()?;
    /// server.delete_ws("old")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn delete_ws(&self, name: &str) -> Result<(), Error> {
        self.rt.run(self.inner.delete_ws(name))
    }

    /// listWss (see [`crate::Server::list_wss`]).
    ///
    /// ```no_run
    /// # let server = nws::blocking::Server::connect_default()?;
    /// for ws in server.list_wss()? {
    ///     println!("{}", ws.name);
    /// }
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn list_wss(&self) -> Result<Vec<WorkspaceInfo>, Error> {
        self.rt.run(self.inner.list_wss())
    }

    /// Ends the session (see [`crate::Server::close`]).
    ///
    /// ```no_run
    /// # let server = nws::blocking::Server::connect_default()?;
    /// server.close();
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn close(&self) {
        let _ = self.rt.run(async {
            self.inner.close().await;
            Ok(())
        });
    }
}

/// A blocking handle on a workspace (see [`crate::Workspace`]).
///
/// ```no_run
/// # let server = nws::blocking::Server::connect_default()?;
/// let ws = server.open_ws("w")?;
/// ws.store("x", 42.to_string())?;
/// let v = ws.fetch("x")?;
/// # Ok::<(), nws::Error>(())
/// ```
#[derive(Clone)]
pub struct Workspace {
    // Declared before `rt` (see `Server`).
    inner: crate::Workspace,
    rt: Arc<Runtime>,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::Workspace")
            .field("name", &self.inner.name())
            .finish()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if self.rt.forked() {
            std::mem::forget(self.inner.clone());
        }
    }
}

impl Workspace {
    /// The workspace's name.
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// assert_eq!(ws.name(), "w");
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Whether opening this handle created the workspace.
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// println!("{}", ws.created());
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.inner.created()
    }

    /// Whether this session owned the workspace when it was opened.
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// println!("{}", ws.owned());
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn owned(&self) -> bool {
        self.inner.owned()
    }

    /// Whether the workspace outlives its owner's session.
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// println!("{}", ws.persistent());
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn persistent(&self) -> bool {
        self.inner.persistent()
    }

    /// The blocking session this workspace belongs to.
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let other = ws.server().open_ws("other")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn server(&self) -> Server {
        Server {
            inner: self.inner.server(),
            rt: Arc::clone(&self.rt),
        }
    }

    /// Adds a value (see [`crate::Workspace::store`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// ws.store("x", "text")?;
    /// ws.store("y", vec![1u8, 2, 3])?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn store(&self, var: &str, value: impl Into<Value>) -> Result<(), Error> {
        self.rt.run(self.inner.store(var, value))
    }

    /// Declares a variable's mode (see [`crate::Workspace::declare`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// ws.declare("stack", nws::Mode::Lifo)?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn declare(&self, var: &str, mode: Mode) -> Result<(), Error> {
        self.rt.run(self.inner.declare(var, mode))
    }

    /// Removes a variable (see [`crate::Workspace::delete_var`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// ws.delete_var("x")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn delete_var(&self, var: &str) -> Result<(), Error> {
        self.rt.run(self.inner.delete_var(var))
    }

    /// Lists the variables (see [`crate::Workspace::list_vars`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// for v in ws.list_vars()? {
    ///     println!("{} {}", v.name, v.value_count);
    /// }
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn list_vars(&self) -> Result<Vec<VariableInfo>, Error> {
        self.rt.run(self.inner.list_vars())
    }

    /// Removes and returns a value, waiting while empty (see
    /// [`crate::Workspace::fetch`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let v = ws.fetch("x")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn fetch(&self, var: &str) -> Result<Value, Error> {
        self.rt.run(self.inner.fetch(var))
    }

    /// fetchTry (see [`crate::Workspace::fetch_try`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let maybe = ws.fetch_try("x")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn fetch_try(&self, var: &str) -> Result<Option<Value>, Error> {
        self.rt.run(self.inner.fetch_try(var))
    }

    /// fetch with a deadline (see [`crate::Workspace::fetch_timeout`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let r = ws.fetch_timeout("x", std::time::Duration::from_secs(2));
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn fetch_timeout(&self, var: &str, timeout: Duration) -> Result<Value, Error> {
        self.rt.run(self.inner.fetch_timeout(var, timeout))
    }

    /// fetch under a [`Lease`] (see [`crate::Workspace::fetch_leased`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let (task, lease) = ws.fetch_leased("tasks")?;
    /// lease.ack()?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn fetch_leased(&self, var: &str) -> Result<(Value, Lease), Error> {
        self.rt.run(self.inner.fetch_leased(var))
    }

    /// Returns a value without removing it, waiting while empty (see
    /// [`crate::Workspace::find`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let v = ws.find("config")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn find(&self, var: &str) -> Result<Value, Error> {
        self.rt.run(self.inner.find(var))
    }

    /// findTry (see [`crate::Workspace::find_try`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let maybe = ws.find_try("config")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn find_try(&self, var: &str) -> Result<Option<Value>, Error> {
        self.rt.run(self.inner.find_try(var))
    }

    /// find with a deadline (see [`crate::Workspace::find_timeout`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let r = ws.find_timeout("config", std::time::Duration::from_millis(100));
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn find_timeout(&self, var: &str, timeout: Duration) -> Result<Value, Error> {
        self.rt.run(self.inner.find_timeout(var, timeout))
    }

    fn values(&self, stream: ValueStream) -> Values {
        Values {
            inner: stream,
            rt: Arc::clone(&self.rt),
        }
    }

    /// ifetch as a blocking iterator (see [`crate::Workspace::ifetch`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// for v in ws.ifetch("queue") {
    ///     println!("{:?}", v?);
    /// }
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn ifetch(&self, var: &str) -> Values {
        self.values(self.inner.ifetch(var))
    }

    /// ifetchTry as a blocking iterator (see [`crate::Workspace::ifetch_try`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let all: Result<Vec<nws::Value>, nws::Error> = ws.ifetch_try("queue").collect();
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn ifetch_try(&self, var: &str) -> Values {
        self.values(self.inner.ifetch_try(var))
    }

    /// ifind as a blocking iterator (see [`crate::Workspace::ifind`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// for line in ws.ifind("log").take(10) {
    ///     println!("{:?}", line?);
    /// }
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn ifind(&self, var: &str) -> Values {
        self.values(self.inner.ifind(var))
    }

    /// ifindTry as a blocking iterator (see [`crate::Workspace::ifind_try`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let n = ws.ifind_try("log").count();
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn ifind_try(&self, var: &str) -> Values {
        self.values(self.inner.ifind_try(var))
    }

    /// Stores a serde value as a `rust/cbor` blob (see
    /// [`crate::Workspace::store_serde`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// ws.store_serde("point", &(1.0f64, 2.0f64))?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn store_serde<T: Serialize + ?Sized>(&self, var: &str, value: &T) -> Result<(), Error> {
        self.rt.run(self.inner.store_serde(var, value))
    }

    /// Fetches and decodes a `rust/cbor` blob (see
    /// [`crate::Workspace::fetch_serde`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let p: (f64, f64) = ws.fetch_serde("point")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn fetch_serde<T: DeserializeOwned>(&self, var: &str) -> Result<T, Error> {
        self.rt.run(self.inner.fetch_serde(var))
    }

    /// fetchTry and decode (see [`crate::Workspace::fetch_try_serde`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let p: Option<(f64, f64)> = ws.fetch_try_serde("point")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn fetch_try_serde<T: DeserializeOwned>(&self, var: &str) -> Result<Option<T>, Error> {
        self.rt.run(self.inner.fetch_try_serde(var))
    }

    /// Finds and decodes a `rust/cbor` blob (see
    /// [`crate::Workspace::find_serde`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let p: (f64, f64) = ws.find_serde("point")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn find_serde<T: DeserializeOwned>(&self, var: &str) -> Result<T, Error> {
        self.rt.run(self.inner.find_serde(var))
    }

    /// findTry and decode (see [`crate::Workspace::find_try_serde`]).
    ///
    /// ```no_run
    /// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
    /// let p: Option<(f64, f64)> = ws.find_try_serde("point")?;
    /// # Ok::<(), nws::Error>(())
    /// ```
    pub fn find_try_serde<T: DeserializeOwned>(&self, var: &str) -> Result<Option<T>, Error> {
        self.rt.run(self.inner.find_try_serde(var))
    }
}

/// The values of an iterator, one blocking step per [`Iterator::next`]
/// (see [`crate::ValueStream`]).
///
/// ```no_run
/// # let ws = nws::blocking::Server::connect_default()?.open_ws("w")?;
/// let mut it = ws.ifetch_try("queue");
/// while let Some(v) = it.next() {
///     println!("{:?}", v?);
/// }
/// # Ok::<(), nws::Error>(())
/// ```
pub struct Values {
    // Declared before `rt` (see `Server`).
    inner: ValueStream,
    rt: Arc<Runtime>,
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::Values").finish_non_exhaustive()
    }
}

impl Iterator for Values {
    type Item = Result<Value, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rt.forked() {
            return Some(Err(Error::Closed));
        }
        self.rt.handle.block_on(self.inner.next())
    }
}
