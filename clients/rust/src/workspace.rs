//! [`Workspace`]: the variable operations (store, fetch, find, declare,
//! delete, list, iterate) on one workspace.

use std::sync::Arc;
use std::time::Duration;

use nws_proto::v1 as pb;
use nws_proto::v1::request::Op;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connection::{Connection, Payload, Received};
use crate::error::Error;
use crate::iter::{self, Cursor, IterKind, ValueStream};
use crate::lease::Lease;
use crate::serde_value;
use crate::server::Server;
use crate::value::{Mode, Value, VariableInfo};

/// A workspace opened by a [`Server`].
///
/// A cheap handle (clone freely) sharing its server's session: operations
/// from many tasks run concurrently on the one connection.
///
/// ```no_run
/// # async fn demo() -> Result<(), nws::Error> {
/// let server = nws::Server::connect("localhost:8765").await?;
/// let ws = server.open_ws("squares").await?;
/// for i in 0..3 {
///     ws.store("in", i.to_string()).await?;
/// }
/// while let Some(v) = ws.fetch_try("in").await? {
///     let n: i64 = v.as_text().unwrap_or("0").parse().unwrap_or(0);
///     ws.store("out", (n * n).to_string()).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Workspace {
    conn: Arc<Connection>,
    /// Shared by clones; copied into each request.
    name: Arc<str>,
    created: bool,
    owned: bool,
    persistent: bool,
}

/// Rounds a timeout up to whole milliseconds, so a short non-zero timeout
/// still waits.
fn millis(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

impl Workspace {
    pub(crate) fn new(conn: Arc<Connection>, reply: pb::WorkspaceReply) -> Workspace {
        Workspace {
            conn,
            name: Arc::from(reply.name),
            created: reply.created,
            owned: reply.owned,
            persistent: reply.persistent,
        }
    }

    /// The workspace's name (for [`Server::mktemp_ws`], the generated one).
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// assert_eq!(server.open_ws("w").await?.name(), "w");
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether opening this handle created the workspace.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// let first = server.open_ws("fresh").await?;
    /// assert!(first.created());
    /// # Ok(()) }
    /// ```
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether this session owned the workspace when the handle was opened.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// assert!(!server.use_ws("shared").await?.owned());
    /// # Ok(()) }
    /// ```
    pub fn owned(&self) -> bool {
        self.owned
    }

    /// Whether the workspace outlives its owner's session.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// println!("{}", server.open_ws("w").await?.persistent());
    /// # Ok(()) }
    /// ```
    pub fn persistent(&self) -> bool {
        self.persistent
    }

    /// The session this workspace belongs to.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let other = ws.server().open_ws("other").await?;
    /// # Ok(()) }
    /// ```
    pub fn server(&self) -> Server {
        Server {
            conn: Arc::clone(&self.conn),
        }
    }

    fn ws(&self) -> String {
        self.name.to_string()
    }

    async fn done(&self, op: Op, what: &str) -> Result<(), Error> {
        match self.conn.call(op, false).await? {
            Payload::Done => Ok(()),
            _ => Err(Error::unexpected(what)),
        }
    }

    /// Adds a value to the variable `var`, creating it (FIFO) if missing.
    /// Values of any size are streamed in pieces.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// ws.store("text", "hello").await?;
    /// ws.store("bytes", vec![0u8, 1, 2]).await?;
    /// ws.store("blob", nws::Value::blob("json", "[1,2,3]")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn store(&self, var: &str, value: impl Into<Value>) -> Result<(), Error> {
        self.conn
            .store(self.ws(), var.to_owned(), value.into())
            .await
    }

    /// Creates the variable `var` with `mode`, or checks that an existing
    /// one has it (`MODE_CONFLICT` otherwise).
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// ws.declare("latest", nws::Mode::Single).await?;
    /// # Ok(()) }
    /// ```
    pub async fn declare(&self, var: &str, mode: Mode) -> Result<(), Error> {
        let op = Op::Declare(pb::Declare {
            workspace: self.ws(),
            variable: var.to_owned(),
            mode: mode.to_wire() as i32,
        });
        self.done(op, "declare").await
    }

    /// Removes the variable `var` and its values; requests waiting on it
    /// fail with `VARIABLE_DELETED` (iterators simply end).
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// ws.delete_var("scratch").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_var(&self, var: &str) -> Result<(), Error> {
        let op = Op::DeleteVar(pb::DeleteVar {
            workspace: self.ws(),
            variable: var.to_owned(),
        });
        self.done(op, "deleteVar").await
    }

    /// Every variable of the workspace, sorted by name.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// for v in ws.list_vars().await? {
    ///     println!("{} ({}) holds {}", v.name, v.mode, v.value_count);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_vars(&self) -> Result<Vec<VariableInfo>, Error> {
        let op = Op::ListVars(pb::ListVars {
            workspace: self.ws(),
        });
        match self.conn.call(op, false).await? {
            Payload::Variables(l) => Ok(l.into_iter().map(VariableInfo::from).collect()),
            _ => Err(Error::unexpected("listVars")),
        }
    }

    // --- fetch -----------------------------------------------------------

    async fn fetch_op(
        &self,
        var: &str,
        try_only: bool,
        timeout: Option<Duration>,
    ) -> Result<Option<Received>, Error> {
        let op = Op::Fetch(pb::Fetch {
            workspace: self.ws(),
            variable: var.to_owned(),
            try_only,
            timeout_ms: timeout.map(millis),
            no_lease: false,
        });
        match self.conn.call(op, !try_only).await? {
            Payload::Value(r) => Ok(Some(r)),
            Payload::Nothing if try_only => Ok(None),
            _ => Err(Error::unexpected("fetch")),
        }
    }

    /// Acknowledges the lease of a value just received and hands it over.
    fn consume(r: Received) -> Result<Value, Error> {
        r.lease.ack()?;
        Ok(r.value)
    }

    /// Removes and returns a value of `var`, waiting while it is empty
    /// ("please hold"). If this future is dropped while waiting, the request
    /// is withdrawn and no value is lost.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let task = ws.fetch("tasks").await?;
    /// # Ok(()) }
    /// ```
    pub async fn fetch(&self, var: &str) -> Result<Value, Error> {
        let r = self.fetch_op(var, false, None).await?;
        Self::consume(r.ok_or_else(|| Error::unexpected("fetch"))?)
    }

    /// fetchTry: removes and returns a value of `var` if it has one.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// if let Some(v) = ws.fetch_try("tasks").await? {
    ///     println!("{v:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn fetch_try(&self, var: &str) -> Result<Option<Value>, Error> {
        self.fetch_op(var, true, None)
            .await?
            .map(Self::consume)
            .transpose()
    }

    /// Like [`fetch`](Workspace::fetch), but gives up after `timeout` with
    /// reason `TIMED_OUT`, consuming nothing.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// use std::time::Duration;
    /// match ws.fetch_timeout("tasks", Duration::from_secs(1)).await {
    ///     Err(e) if e.reason() == Some(nws::Reason::TimedOut) => println!("idle"),
    ///     other => println!("{other:?}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn fetch_timeout(&self, var: &str, timeout: Duration) -> Result<Value, Error> {
        let r = self.fetch_op(var, false, Some(timeout)).await?;
        Self::consume(r.ok_or_else(|| Error::unexpected("fetch"))?)
    }

    /// Fetches a value under a [`Lease`]: it is consumed only when the lease
    /// is acknowledged, and returns to the variable if the lease is released
    /// or dropped, or the session ends first.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let (task, lease) = ws.fetch_leased("tasks").await?;
    /// // ... work on the task; if this panics, the task goes back ...
    /// lease.ack()?;
    /// # Ok(()) }
    /// ```
    pub async fn fetch_leased(&self, var: &str) -> Result<(Value, Lease), Error> {
        let r = self
            .fetch_op(var, false, None)
            .await?
            .ok_or_else(|| Error::unexpected("fetch"))?;
        Ok((r.value, r.lease))
    }

    /// Like [`fetch_leased`](Workspace::fetch_leased), but gives up after
    /// `timeout` with reason `TIMED_OUT`, taking nothing.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// use std::time::Duration;
    /// let (task, lease) = ws.fetch_leased_timeout("tasks", Duration::from_secs(1)).await?;
    /// lease.ack()?;
    /// # Ok(()) }
    /// ```
    pub async fn fetch_leased_timeout(
        &self,
        var: &str,
        timeout: Duration,
    ) -> Result<(Value, Lease), Error> {
        let r = self
            .fetch_op(var, false, Some(timeout))
            .await?
            .ok_or_else(|| Error::unexpected("fetch"))?;
        Ok((r.value, r.lease))
    }

    /// fetchTry under a [`Lease`]: a value of `var` and its lease if it has
    /// one, without waiting.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// if let Some((task, lease)) = ws.fetch_try_leased("tasks").await? {
    ///     lease.ack()?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn fetch_try_leased(&self, var: &str) -> Result<Option<(Value, Lease)>, Error> {
        Ok(self
            .fetch_op(var, true, None)
            .await?
            .map(|r| (r.value, r.lease)))
    }

    // --- find ------------------------------------------------------------

    async fn find_op(
        &self,
        var: &str,
        try_only: bool,
        timeout: Option<Duration>,
    ) -> Result<Option<Value>, Error> {
        let op = Op::Find(pb::Find {
            workspace: self.ws(),
            variable: var.to_owned(),
            try_only,
            timeout_ms: timeout.map(millis),
        });
        match self.conn.call(op, !try_only).await? {
            Payload::Value(r) => Ok(Some(r.value)),
            Payload::Nothing if try_only => Ok(None),
            _ => Err(Error::unexpected("find")),
        }
    }

    /// Returns a value of `var` without removing it, waiting while it is
    /// empty.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let config = ws.find("config").await?;
    /// # Ok(()) }
    /// ```
    pub async fn find(&self, var: &str) -> Result<Value, Error> {
        self.find_op(var, false, None)
            .await?
            .ok_or_else(|| Error::unexpected("find"))
    }

    /// findTry: returns a value of `var` without removing it, if it has one.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let maybe = ws.find_try("config").await?;
    /// # Ok(()) }
    /// ```
    pub async fn find_try(&self, var: &str) -> Result<Option<Value>, Error> {
        self.find_op(var, true, None).await
    }

    /// Like [`find`](Workspace::find), but gives up after `timeout` with
    /// reason `TIMED_OUT`.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let v = ws.find_timeout("config", std::time::Duration::from_millis(500)).await;
    /// # Ok(()) }
    /// ```
    pub async fn find_timeout(&self, var: &str, timeout: Duration) -> Result<Value, Error> {
        self.find_op(var, false, Some(timeout))
            .await?
            .ok_or_else(|| Error::unexpected("find"))
    }

    // --- iterators -------------------------------------------------------

    /// One iterator step: `None` at the end of the iteration.
    pub(crate) async fn iterate_step(
        &self,
        var: &str,
        kind: pb::IterKind,
        cursor: Option<pb::Cursor>,
    ) -> Result<Option<Received>, Error> {
        self.iterate_step_timeout(var, kind, cursor, None).await
    }

    /// One iterator step with an optional deadline (blocking kinds only).
    async fn iterate_step_timeout(
        &self,
        var: &str,
        kind: pb::IterKind,
        cursor: Option<pb::Cursor>,
        timeout: Option<Duration>,
    ) -> Result<Option<Received>, Error> {
        let op = Op::Iterate(pb::Iterate {
            workspace: self.ws(),
            variable: var.to_owned(),
            kind: kind as i32,
            cursor,
            timeout_ms: timeout.map(millis),
            no_lease: false,
        });
        let blocking = matches!(kind, pb::IterKind::Ifetch | pb::IterKind::Ifind);
        match self.conn.call(op, blocking).await? {
            Payload::Value(r) => Ok(Some(r)),
            Payload::Nothing => Ok(None),
            _ => Err(Error::unexpected("iterate")),
        }
    }

    /// ifetch: consumes the values of `var` one by one, waiting for more
    /// when it is empty; ends when the variable is deleted.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// use futures::StreamExt;
    /// let mut values = ws.ifetch("queue");
    /// while let Some(v) = values.next().await {
    ///     println!("{:?}", v?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ifetch(&self, var: &str) -> ValueStream {
        iter::values(self.clone(), var, pb::IterKind::Ifetch)
    }

    /// ifetchTry: consumes the values of `var` one by one; ends when it is
    /// empty.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// use futures::TryStreamExt;
    /// let drained: Vec<nws::Value> = ws.ifetch_try("queue").try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn ifetch_try(&self, var: &str) -> ValueStream {
        iter::values(self.clone(), var, pb::IterKind::IfetchTry)
    }

    /// ifind: reads each value of `var` once, in order, without consuming;
    /// waits for new values; ends when the variable is deleted.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// use futures::StreamExt;
    /// let mut log = ws.ifind("log");
    /// while let Some(line) = log.next().await {
    ///     println!("{:?}", line?.as_text());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ifind(&self, var: &str) -> ValueStream {
        iter::values(self.clone(), var, pb::IterKind::Ifind)
    }

    /// ifindTry: reads each value of `var` once, in order, without
    /// consuming; ends when no unread value is left.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// use futures::TryStreamExt;
    /// let snapshot: Vec<nws::Value> = ws.ifind_try("log").try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn ifind_try(&self, var: &str) -> ValueStream {
        iter::values(self.clone(), var, pb::IterKind::IfindTry)
    }

    /// One explicit iterator step, for callers that keep the iterator's
    /// position themselves (language bindings whose iterators can be
    /// restarted or reset). Start with [`Cursor::default()`] and pass the
    /// returned cursor to the next step; `None` is the end of the
    /// iteration. A fetched value is acknowledged on receipt, as by
    /// [`fetch`](Workspace::fetch). `timeout` bounds a waiting step of the
    /// blocking kinds (reason `TIMED_OUT`, nothing consumed) and is ignored
    /// by the Try kinds.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// use nws::{Cursor, IterKind};
    /// let mut cursor = Cursor::default();
    /// while let Some((v, next)) = ws.iterate("log", IterKind::IfindTry, cursor, None).await? {
    ///     println!("{v:?}");
    ///     cursor = next;
    /// }
    /// // Later: continue after the last value seen.
    /// let newer = ws.iterate("log", IterKind::IfindTry, cursor, None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn iterate(
        &self,
        var: &str,
        kind: IterKind,
        cursor: Cursor,
        timeout: Option<Duration>,
    ) -> Result<Option<(Value, Cursor)>, Error> {
        let wire = (cursor != Cursor::default()).then(|| cursor.to_wire());
        match self
            .iterate_step_timeout(var, kind.to_wire(), wire, timeout)
            .await?
        {
            Some(r) => {
                let next = r.cursor.map(Cursor::from_wire).unwrap_or(cursor);
                r.lease.ack()?;
                Ok(Some((r.value, next)))
            }
            None => Ok(None),
        }
    }

    // --- serde -----------------------------------------------------------

    /// Stores `value` serialized as CBOR (a blob with codec `rust/cbor`).
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Task { id: u32, input: Vec<f64> }
    /// ws.store_serde("tasks", &Task { id: 1, input: vec![1.0, 2.0] }).await?;
    /// let t: Task = ws.fetch_serde("tasks").await?;
    /// # Ok(()) }
    /// ```
    pub async fn store_serde<T: Serialize + ?Sized>(
        &self,
        var: &str,
        value: &T,
    ) -> Result<(), Error> {
        self.store(var, serde_value::to_value(value)?).await
    }

    /// Fetches a value and decodes it from CBOR. A value of another kind or
    /// codec gives [`Error::Codec`] carrying the value (already consumed,
    /// but not lost: it is in the error).
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let point: (f64, f64) = ws.fetch_serde("points").await?;
    /// # Ok(()) }
    /// ```
    pub async fn fetch_serde<T: DeserializeOwned>(&self, var: &str) -> Result<T, Error> {
        serde_value::from_value(self.fetch(var).await?)
    }

    /// fetchTry and decode from CBOR (see [`fetch_serde`](Workspace::fetch_serde)).
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let maybe: Option<Vec<u32>> = ws.fetch_try_serde("batches").await?;
    /// # Ok(()) }
    /// ```
    pub async fn fetch_try_serde<T: DeserializeOwned>(
        &self,
        var: &str,
    ) -> Result<Option<T>, Error> {
        self.fetch_try(var)
            .await?
            .map(serde_value::from_value)
            .transpose()
    }

    /// Finds a value and decodes it from CBOR (see
    /// [`fetch_serde`](Workspace::fetch_serde)).
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let params: std::collections::HashMap<String, f64> = ws.find_serde("params").await?;
    /// # Ok(()) }
    /// ```
    pub async fn find_serde<T: DeserializeOwned>(&self, var: &str) -> Result<T, Error> {
        serde_value::from_value(self.find(var).await?)
    }

    /// findTry and decode from CBOR (see [`fetch_serde`](Workspace::fetch_serde)).
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let maybe: Option<String> = ws.find_try_serde("status").await?;
    /// # Ok(()) }
    /// ```
    pub async fn find_try_serde<T: DeserializeOwned>(&self, var: &str) -> Result<Option<T>, Error> {
        self.find_try(var)
            .await?
            .map(serde_value::from_value)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::millis;
    use std::time::Duration;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::from_micros(1)), 1);
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::from_micros(1500)), 2);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
