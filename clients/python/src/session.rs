//! The Python classes of the native module: [`Session`] (one NWS session,
//! shared by every thread of the process), [`Workspace`] (variable
//! operations on one workspace of a session), [`ValueIter`] (ifetch,
//! ifind and their Try variants, restartable) and [`Lease`] (a value
//! fetched with `fetch_leased`, consumed only when acknowledged).
//!
//! Every blocking call goes through [`Rt::run`](crate::runtime::Rt::run):
//! GIL released, Ctrl-C honoured. Handles remember the process that made
//! them: in a forked child a session reconnects on first use (a new session
//! of its own; the parent's connection is leaked, never touched), and its
//! workspaces are used by name without reopening, so the child never takes
//! ownership of anything.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nws::{Cursor, IterKind, Mode};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::{self, Phase};
use crate::runtime::{self, Rt, runtime};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many stores `store_many` has in flight at once.
const STORE_WINDOW: usize = 1024;

/// A timeout in seconds from Python (`None`: wait forever).
fn duration(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() || t < 0.0 => Err(PyValueError::new_err(format!(
            "timeout must be a number of seconds >= 0 or None, not {t}"
        ))),
        Some(t) => Ok(Some(
            Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX),
        )),
    }
}

/// A value owned by one process: dropped normally there, leaked in a forked
/// child (whose runtime never drove it).
struct PidBound<T> {
    pid: u32,
    value: Option<T>,
}

impl<T> PidBound<T> {
    fn new(value: T) -> PidBound<T> {
        PidBound {
            pid: std::process::id(),
            value: Some(value),
        }
    }

    /// The value, if it belongs to this process.
    fn get(&self) -> Option<&T> {
        if self.pid == std::process::id() {
            self.value.as_ref()
        } else {
            None
        }
    }

    /// The value if it belongs to this process (else it is leaked).
    fn take_current(mut self) -> Option<T> {
        if self.pid == std::process::id() {
            self.value.take()
        } else {
            None
        }
    }

    fn set(&mut self, value: T) {
        let old = std::mem::replace(self, PidBound::new(value));
        drop(old);
    }
}

impl<T> Drop for PidBound<T> {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            std::mem::forget(self.value.take());
        }
    }
}

/// What a session and its workspaces share.
struct Conn {
    /// `host:port` as given.
    addr: String,
    /// `python 3.11.7 nws 0.1.0`: the session label without pid and host,
    /// which are added at connect time (a forked child has its own pid).
    label: String,
    /// The host name shown in the label.
    host: String,
    /// The connection of this process, if connected.
    server: Mutex<Option<PidBound<nws::Server>>>,
    /// Set by `close()`: later calls fail instead of reconnecting.
    closed: Mutex<bool>,
}

impl Conn {
    /// The session of this process: connects on first use and in a forked
    /// child.
    fn server(&self, py: Python<'_>, rt: &Rt) -> PyResult<nws::Server> {
        {
            let guard = lock(&self.server);
            if let Some(s) = guard.as_ref().and_then(PidBound::get) {
                return Ok(s.clone());
            }
        }
        if *lock(&self.closed) {
            return Err(convert::error(py, nws::Error::Closed, Phase::Session));
        }
        let label = format!("{} pid {} on {}", self.label, std::process::id(), self.host);
        let addr = self.addr.clone();
        let connected = rt
            .run(
                py,
                async move { nws::Server::connect_as(&addr, &label).await },
            )?
            .map_err(|e| match e {
                nws::Error::Server { .. } => convert::error(py, e, Phase::Connect),
                other => convert::connect_error(
                    py,
                    format!(
                        "unable to connect to the NWS server at {}: {other}",
                        self.addr
                    ),
                ),
            })?;
        let mut guard = lock(&self.server);
        if let Some(s) = guard.as_ref().and_then(PidBound::get) {
            // Another thread connected meanwhile: use its session.
            return Ok(s.clone());
        }
        match guard.as_mut() {
            Some(bound) => bound.set(connected.clone()),
            None => *guard = Some(PidBound::new(connected.clone())),
        }
        Ok(connected)
    }
}

impl Drop for Conn {
    /// The last handle is gone: the session ends. Its queued messages (acks
    /// of values this process received) and the end of the stream are
    /// pushed onto the socket now, not at the next keepalive tick, so a
    /// program that exits right after dropping its last handle still
    /// leaves its fetched values consumed.
    fn drop(&mut self) {
        let bound = self
            .server
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(server) = bound.and_then(PidBound::take_current) {
            drop(server);
            if let Some(rt) = runtime::current() {
                rt.flush();
            }
        }
    }
}

/// One NWS session: `Session(addr, label, host)` connects.
#[pyclass(frozen, module = "nws._nws")]
pub(crate) struct Session {
    conn: Arc<Conn>,
}

/// One workspace of a listing: `(name, mine, owner, persistent,
/// variable_count, variable names)`.
type WorkspaceRow = (String, bool, String, bool, u64, Vec<String>);

/// One variable of a listing: `(name, values, fetchers, finders, mode)`.
type VariableRow = (String, u64, u64, u64, &'static str);

fn workspace_info(w: nws::WorkspaceInfo, vars: Vec<String>) -> WorkspaceRow {
    (
        w.name,
        w.mine,
        w.owner,
        w.persistent,
        w.variable_count,
        vars,
    )
}

#[pymethods]
impl Session {
    #[new]
    fn new(py: Python<'_>, addr: String, label: String, host: String) -> PyResult<Session> {
        let conn = Arc::new(Conn {
            addr,
            label,
            host,
            server: Mutex::new(None),
            closed: Mutex::new(false),
        });
        let rt = runtime(py)?;
        conn.server(py, &rt)?;
        Ok(Session { conn })
    }

    /// The address this session connects to.
    #[getter]
    fn addr(&self) -> &str {
        &self.conn.addr
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        *lock(&self.conn.closed)
    }

    /// `(server, protocol_version, session_id, max_chunk_size, max_value_size)`.
    fn info(&self, py: Python<'_>) -> PyResult<(String, u32, u64, u64, u64)> {
        let rt = runtime(py)?;
        let s = self.conn.server(py, &rt)?;
        let i = s.info();
        Ok((
            i.server.clone(),
            i.protocol_version,
            i.session_id,
            i.max_chunk_size,
            i.max_value_size,
        ))
    }

    /// openWs (`use_only=False`) or useWs (`use_only=True`).
    fn open_ws(
        &self,
        py: Python<'_>,
        name: String,
        use_only: bool,
        must_exist: bool,
        persistent: bool,
    ) -> PyResult<Workspace> {
        let rt = runtime(py)?;
        let server = self.conn.server(py, &rt)?;
        let opts = nws::OpenOptions {
            persistent,
            must_exist,
            use_only,
        };
        let ws = rt
            .run(py, async move { server.open_ws_with(&name, opts).await })?
            .map_err(|e| convert::error(py, e, Phase::Session))?;
        Ok(Workspace::new(Arc::clone(&self.conn), ws))
    }

    /// A workspace handle by name, without a request.
    fn workspace(&self, py: Python<'_>, name: String) -> PyResult<Workspace> {
        let rt = runtime(py)?;
        let server = self.conn.server(py, &rt)?;
        Ok(Workspace::new(
            Arc::clone(&self.conn),
            server.workspace(&name),
        ))
    }

    /// mktempWs: the new workspace (owned by this session unless
    /// `persistent`).
    #[pyo3(signature = (template=None, persistent=false))]
    fn mktemp_ws(
        &self,
        py: Python<'_>,
        template: Option<String>,
        persistent: bool,
    ) -> PyResult<Workspace> {
        let rt = runtime(py)?;
        let server = self.conn.server(py, &rt)?;
        let ws = rt
            .run(py, async move {
                server.mktemp_ws_with(template.as_deref(), persistent).await
            })?
            .map_err(|e| convert::error(py, e, Phase::Session))?;
        Ok(Workspace::new(Arc::clone(&self.conn), ws))
    }

    /// deleteWs.
    fn delete_ws(&self, py: Python<'_>, name: String) -> PyResult<()> {
        let rt = runtime(py)?;
        let server = self.conn.server(py, &rt)?;
        rt.run(py, async move { server.delete_ws(&name).await })?
            .map_err(|e| convert::error(py, e, Phase::Session))
    }

    /// listWss: `(name, mine, owner, persistent, variable_count, variables)`
    /// for each workspace, sorted by name; `variables` are the names of its
    /// variables (one listVars per workspace, all in flight at once).
    fn list_wss(&self, py: Python<'_>) -> PyResult<Vec<WorkspaceRow>> {
        let rt = runtime(py)?;
        let server = self.conn.server(py, &rt)?;
        let listed = rt
            .run(py, async move {
                let wss = server.list_wss().await?;
                let vars = futures::future::join_all(wss.iter().map(|w| {
                    let ws = server.workspace(&w.name);
                    async move {
                        // A workspace deleted meanwhile lists no variables.
                        ws.list_vars()
                            .await
                            .map(|vs| vs.into_iter().map(|v| v.name).collect::<Vec<_>>())
                            .unwrap_or_default()
                    }
                }))
                .await;
                Ok::<_, nws::Error>(wss.into_iter().zip(vars).collect::<Vec<_>>())
            })?
            .map_err(|e| convert::error(py, e, Phase::Session))?;
        Ok(listed
            .into_iter()
            .map(|(w, vars)| workspace_info(w, vars))
            .collect())
    }

    /// Ends the session: queued messages (acks) go out first; the server
    /// then deletes the non-persistent workspaces this session owns.
    /// Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        {
            let mut closed = lock(&self.conn.closed);
            if *closed {
                return Ok(());
            }
            *closed = true;
        }
        let server = lock(&self.conn.server)
            .as_ref()
            .and_then(PidBound::get)
            .cloned();
        if let Some(server) = server {
            let rt = runtime(py)?;
            rt.run(py, async move { server.close().await })?;
        }
        Ok(())
    }
}

/// The handle on one workspace of a session.
#[pyclass(frozen, module = "nws._nws")]
pub(crate) struct Workspace {
    conn: Arc<Conn>,
    name: String,
    created: bool,
    owned: bool,
    persistent: bool,
    /// The Rust handle of this process (rebuilt by name in a forked child).
    handle: Mutex<PidBound<nws::Workspace>>,
}

fn mode(name: &str) -> PyResult<Mode> {
    match name {
        "fifo" => Ok(Mode::Fifo),
        "lifo" => Ok(Mode::Lifo),
        "multi" => Ok(Mode::Multi),
        "single" => Ok(Mode::Single),
        other => Err(PyValueError::new_err(format!(
            "illegal mode: {other:?} (use FIFO, LIFO, MULTI or SINGLE)"
        ))),
    }
}

impl Workspace {
    fn new(conn: Arc<Conn>, ws: nws::Workspace) -> Workspace {
        Workspace {
            conn,
            name: ws.name().to_owned(),
            created: ws.created(),
            owned: ws.owned(),
            persistent: ws.persistent(),
            handle: Mutex::new(PidBound::new(ws)),
        }
    }

    /// The runtime and the Rust handle of this process.
    fn handle(&self, py: Python<'_>) -> PyResult<(Rt, nws::Workspace)> {
        let rt = runtime(py)?;
        if let Some(ws) = lock(&self.handle).get() {
            return Ok((rt, ws.clone()));
        }
        let server = self.conn.server(py, &rt)?;
        let ws = server.workspace(&self.name);
        lock(&self.handle).set(ws.clone());
        Ok((rt, ws))
    }

    fn fail(&self, py: Python<'_>, e: nws::Error) -> PyErr {
        convert::error(py, e, Phase::Session)
    }

    /// Decodes a leased value; one that cannot be decoded is consumed (as
    /// by `fetch`) and its error returned.
    fn leased(
        &self,
        py: Python<'_>,
        var: &str,
        value: nws::Value,
        lease: nws::Lease,
    ) -> PyResult<(Py<PyAny>, Lease)> {
        match convert::decode(py, value, &self.name, var) {
            Ok(obj) => Ok((obj, Lease::new(lease))),
            Err(e) => {
                // Consumed, like a fetch whose value does not decode: the
                // exception carries the raw value.
                let _ = lease.ack();
                Err(e)
            }
        }
    }

    /// One fetch or find: `Ok(None)` when a Try variant found nothing.
    fn retrieve(
        &self,
        py: Python<'_>,
        var: &str,
        fetch: bool,
        try_only: bool,
        timeout: Option<f64>,
    ) -> PyResult<Option<nws::Value>> {
        let timeout = duration(timeout)?;
        let (rt, ws) = self.handle(py)?;
        let var = var.to_owned();
        rt.run(py, async move {
            match (fetch, try_only, timeout) {
                (true, true, _) => ws.fetch_try(&var).await,
                (true, false, None) => ws.fetch(&var).await.map(Some),
                (true, false, Some(t)) => ws.fetch_timeout(&var, t).await.map(Some),
                (false, true, _) => ws.find_try(&var).await,
                (false, false, None) => ws.find(&var).await.map(Some),
                (false, false, Some(t)) => ws.find_timeout(&var, t).await.map(Some),
            }
        })?
        .map_err(|e| self.fail(py, e))
    }
}

#[pymethods]
impl Workspace {
    /// The workspace name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether opening this handle created the workspace.
    #[getter]
    fn created(&self) -> bool {
        self.created
    }

    /// Whether this session owned the workspace when it was opened.
    #[getter]
    fn owned(&self) -> bool {
        self.owned
    }

    /// Whether the workspace outlives its owner's session.
    #[getter]
    fn persistent(&self) -> bool {
        self.persistent
    }

    /// store: str as text, bytes as raw, NwsBlob as itself, else pickled.
    fn store(&self, py: Python<'_>, var: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = convert::encode(value, &self.name, var)?;
        let (rt, ws) = self.handle(py)?;
        let var = var.to_owned();
        rt.run(py, async move { ws.store(&var, v).await })?
            .map_err(|e| self.fail(py, e))
    }

    /// fetch (waits; `timeout` in seconds).
    #[pyo3(signature = (var, timeout=None))]
    fn fetch(&self, py: Python<'_>, var: &str, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match self.retrieve(py, var, true, false, timeout)? {
            Some(v) => convert::decode(py, v, &self.name, var),
            None => Ok(py.None()),
        }
    }

    /// fetchTry: `missing` when there is no value.
    #[pyo3(signature = (var, missing=None))]
    fn fetch_try(
        &self,
        py: Python<'_>,
        var: &str,
        missing: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match self.retrieve(py, var, true, true, None)? {
            Some(v) => convert::decode(py, v, &self.name, var),
            None => Ok(missing.unwrap_or_else(|| py.None())),
        }
    }

    /// fetch under a lease (waits; `timeout` in seconds): `(value, Lease)`.
    /// The value is consumed only by `Lease.ack()`; `release()`, dropping
    /// the lease or the end of the session give it back. A value that
    /// cannot be decoded is consumed and raises like `fetch`.
    #[pyo3(signature = (var, timeout=None))]
    fn fetch_leased(
        &self,
        py: Python<'_>,
        var: &str,
        timeout: Option<f64>,
    ) -> PyResult<(Py<PyAny>, Lease)> {
        let timeout = duration(timeout)?;
        let (rt, ws) = self.handle(py)?;
        let name = var.to_owned();
        let (value, lease) = rt
            .run(py, async move {
                match timeout {
                    None => ws.fetch_leased(&name).await,
                    Some(t) => ws.fetch_leased_timeout(&name, t).await,
                }
            })?
            .map_err(|e| self.fail(py, e))?;
        self.leased(py, var, value, lease)
    }

    /// fetchTry under a lease: `(value, Lease)`, or `None` when there is no
    /// value.
    fn fetch_try_leased(&self, py: Python<'_>, var: &str) -> PyResult<Option<(Py<PyAny>, Lease)>> {
        let (rt, ws) = self.handle(py)?;
        let name = var.to_owned();
        let got = rt
            .run(py, async move { ws.fetch_try_leased(&name).await })?
            .map_err(|e| self.fail(py, e))?;
        match got {
            Some((value, lease)) => self.leased(py, var, value, lease).map(Some),
            None => Ok(None),
        }
    }

    /// Stores every value of `values` in `var`, in order, pipelined: all the
    /// requests go out before the first reply is awaited.
    fn store_many(&self, py: Python<'_>, var: &str, values: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut encoded = Vec::new();
        for item in values.try_iter()? {
            encoded.push(convert::encode(&item?, &self.name, var)?);
        }
        if encoded.is_empty() {
            return Ok(());
        }
        let (rt, ws) = self.handle(py)?;
        let name = var.to_owned();
        rt.run(py, async move {
            let (ws, name) = (&ws, &name);
            let mut values = encoded.into_iter().peekable();
            while values.peek().is_some() {
                // join_all polls the futures in order the first time, and a
                // store sends its request on its first poll: the values
                // arrive (and are applied) in the order given. At most
                // STORE_WINDOW replies are awaited at a time: a client that
                // pipelines many more stalls (the server stops reading while
                // its replies wait to be read).
                let stores = values
                    .by_ref()
                    .take(STORE_WINDOW)
                    .map(|v| ws.store(name, v));
                for r in futures::future::join_all(stores).await {
                    r?;
                }
            }
            Ok::<(), nws::Error>(())
        })?
        .map_err(|e| self.fail(py, e))
    }

    /// find (waits; `timeout` in seconds).
    #[pyo3(signature = (var, timeout=None))]
    fn find(&self, py: Python<'_>, var: &str, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match self.retrieve(py, var, false, false, timeout)? {
            Some(v) => convert::decode(py, v, &self.name, var),
            None => Ok(py.None()),
        }
    }

    /// findTry: `missing` when there is no value.
    #[pyo3(signature = (var, missing=None))]
    fn find_try(
        &self,
        py: Python<'_>,
        var: &str,
        missing: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match self.retrieve(py, var, false, true, None)? {
            Some(v) => convert::decode(py, v, &self.name, var),
            None => Ok(missing.unwrap_or_else(|| py.None())),
        }
    }

    /// The value's bytes undecoded (`None` when a Try variant found
    /// nothing): for fetchFile and friends.
    #[pyo3(signature = (var, fetch, try_only, timeout=None))]
    fn retrieve_bytes(
        &self,
        py: Python<'_>,
        var: &str,
        fetch: bool,
        try_only: bool,
        timeout: Option<f64>,
    ) -> PyResult<Option<Py<PyAny>>> {
        Ok(self
            .retrieve(py, var, fetch, try_only, timeout)?
            .map(|v| convert::raw_bytes(py, &v)))
    }

    /// declare with a mode name (`fifo`, `lifo`, `multi`, `single`).
    fn declare(&self, py: Python<'_>, var: &str, mode_name: &str) -> PyResult<()> {
        let m = mode(mode_name)?;
        let (rt, ws) = self.handle(py)?;
        let var = var.to_owned();
        rt.run(py, async move { ws.declare(&var, m).await })?
            .map_err(|e| self.fail(py, e))
    }

    /// deleteVar.
    fn delete_var(&self, py: Python<'_>, var: &str) -> PyResult<()> {
        let (rt, ws) = self.handle(py)?;
        let var = var.to_owned();
        rt.run(py, async move { ws.delete_var(&var).await })?
            .map_err(|e| self.fail(py, e))
    }

    /// listVars of this workspace, or of the workspace `ws_name`:
    /// `(name, values, fetchers, finders, mode)` sorted by name.
    #[pyo3(signature = (ws_name=None))]
    fn list_vars(&self, py: Python<'_>, ws_name: Option<String>) -> PyResult<Vec<VariableRow>> {
        let (rt, ws) = self.handle(py)?;
        let target = match ws_name {
            Some(n) if n != self.name => ws.server().workspace(&n),
            _ => ws,
        };
        let vars = rt
            .run(py, async move { target.list_vars().await })?
            .map_err(|e| self.fail(py, e))?;
        Ok(vars
            .into_iter()
            .map(|v| {
                (
                    v.name,
                    v.value_count,
                    v.fetchers,
                    v.finders,
                    v.mode.as_str(),
                )
            })
            .collect())
    }

    /// An iterator: `kind` is `ifetch`, `ifetchTry`, `ifind` or `ifindTry`.
    #[pyo3(signature = (var, kind, timeout=None))]
    fn iterate(
        slf: &Bound<'_, Self>,
        var: String,
        kind: &str,
        timeout: Option<f64>,
    ) -> PyResult<ValueIter> {
        let kind = match kind {
            "ifetch" => IterKind::Ifetch,
            "ifetchTry" => IterKind::IfetchTry,
            "ifind" => IterKind::Ifind,
            "ifindTry" => IterKind::IfindTry,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown iterator kind {other:?}"
                )));
            }
        };
        Ok(ValueIter {
            ws: slf.clone().unbind(),
            var,
            kind,
            timeout: duration(timeout)?,
            state: Mutex::new(IterState {
                cursor: Cursor::default(),
                stopped: false,
            }),
        })
    }
}

/// A leased value's claim (`Workspace.fetch_leased`): `ack()` consumes the
/// value for good, `release()` gives it back to its variable; dropping an
/// unsettled lease releases it. A forked child never settles its parent's
/// leases (they end with the parent's session).
#[pyclass(frozen, module = "nws._nws")]
pub(crate) struct Lease {
    /// The server's lease id (0: the value was not leased).
    id: u64,
    /// The Rust lease until settled; `None` afterwards.
    inner: Mutex<Option<PidBound<nws::Lease>>>,
}

impl Lease {
    fn new(lease: nws::Lease) -> Lease {
        Lease {
            id: lease.id(),
            inner: Mutex::new(Some(PidBound::new(lease))),
        }
    }

    /// The lease if unsettled and owned by this process.
    fn take(&self) -> Option<nws::Lease> {
        lock(&self.inner).take().and_then(PidBound::take_current)
    }
}

/// Lets queued messages (an ack, a release) go out now.
fn flush(py: Python<'_>) {
    if let Some(rt) = runtime::current() {
        py.detach(|| rt.flush());
    }
}

#[pymethods]
impl Lease {
    /// Consumes the value for good. Idempotent; a later `release()` does
    /// nothing. Raises `NwsConnectionDroppedException` if the session has
    /// already ended (the server has then given the value back).
    ///
    /// The acknowledgement is pushed onto the socket before this returns,
    /// not at the next call: a process that dies right after `ack()` (a
    /// Sleigh task calling `os._exit`) has still consumed the value.
    fn ack(&self, py: Python<'_>) -> PyResult<()> {
        match self.take() {
            Some(lease) => {
                lease
                    .ack()
                    .map_err(|e| convert::error(py, e, Phase::Session))?;
                flush(py);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Gives the value back to its variable, as if it had never been
    /// fetched (the message goes out before this returns). Idempotent;
    /// does nothing after `ack()`.
    fn release(&self, py: Python<'_>) {
        if let Some(lease) = self.take() {
            lease.release();
            flush(py);
        }
    }

    /// The server's lease id.
    #[getter]
    fn id(&self) -> u64 {
        self.id
    }

    /// Whether the lease has been acknowledged or released.
    #[getter]
    fn settled(&self) -> bool {
        lock(&self.inner).is_none()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Leaving a `with` block acknowledges the lease, or releases it when
    /// the block raised.
    #[pyo3(signature = (exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        match exc_type {
            Some(t) if !t.is_none() => self.release(py),
            _ => self.ack(py)?,
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "<NwsLease {}{}>",
            self.id,
            if self.settled() { " settled" } else { "" }
        )
    }
}

struct IterState {
    cursor: Cursor,
    stopped: bool,
}

/// A Python iterator over the values of one variable (one request per
/// step; the server keeps no state). After the end it stays ended until
/// `restart()` (continue after the last value seen) or `reset()` (start
/// over).
#[pyclass(frozen, module = "nws._nws")]
pub(crate) struct ValueIter {
    ws: Py<Workspace>,
    var: String,
    kind: IterKind,
    timeout: Option<Duration>,
    state: Mutex<IterState>,
}

impl ValueIter {
    fn step(&self, py: Python<'_>) -> PyResult<Option<nws::Value>> {
        let cursor = {
            let st = lock(&self.state);
            if st.stopped {
                return Ok(None);
            }
            st.cursor
        };
        let wsobj = self.ws.get();
        let (rt, ws) = wsobj.handle(py)?;
        let (var, kind, timeout) = (self.var.clone(), self.kind, self.timeout);
        let r = rt
            .run(
                py,
                async move { ws.iterate(&var, kind, cursor, timeout).await },
            )?
            .map_err(|e| wsobj.fail(py, e))?;
        let mut st = lock(&self.state);
        match r {
            Some((v, next)) => {
                st.cursor = next;
                Ok(Some(v))
            }
            None => {
                st.stopped = true;
                Ok(None)
            }
        }
    }
}

#[pymethods]
impl ValueIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.step(py)? {
            Some(v) => convert::decode(py, v, &self.ws.get().name, &self.var).map(Some),
            None => Ok(None),
        }
    }

    /// The next value's bytes undecoded, or `None` at the end.
    fn next_bytes(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.step(py)?.map(|v| convert::raw_bytes(py, &v)))
    }

    /// Continue after the last value seen (an ended iterator resumes).
    fn restart(&self) {
        lock(&self.state).stopped = false;
    }

    /// Start over from the first value.
    fn reset(&self) {
        let mut st = lock(&self.state);
        st.cursor = Cursor::default();
        st.stopped = false;
    }

    /// The variable iterated over.
    #[getter]
    fn var(&self) -> &str {
        &self.var
    }
}
