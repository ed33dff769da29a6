//! One session: drives a `Session` stream (`spec/protocol.md#session`).
//!
//! The session task reads client messages in order. Operations that answer at
//! once are answered inline (the cheap path: no task spawn). A request that
//! must wait becomes a task in the session's `JoinSet`, with a cancel handle
//! in `cancels`; a large value upload is collected in `uploads` until its last
//! chunk. When the stream ends the tasks are aborted first and the store's
//! session handle is dropped last, so ownership rules and lease returns see a
//! quiet session (`spec/sessions.md#session-end`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use nws_proto::v1 as pb;
use nws_proto::v1::{client_message, reply, request, server_message};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tonic::{Status, Streaming};

use crate::service::{
    cursor_from_pb, cursor_to_pb, iter_kind_from_pb, kind_from_pb, kind_to_pb, mode_from_pb,
    mode_to_pb,
};
use crate::store::{Delivery, Reservation, SessionHandle, Step, Store, WorkspaceOpened};
use crate::value::{Kind, Value};
use crate::{Config, Error};
use nws_proto::bigbuf::Assembly;

type Out = mpsc::Sender<Result<pb::ServerMessage, Status>>;

/// Longest `Hello.client` label.
const MAX_LABEL: usize = 256;

/// A value arriving in chunks.
struct Upload {
    workspace: String,
    variable: String,
    kind: Kind,
    codec: String,
    total: u64,
    received: u64,
    /// `None` once the upload has failed (the error was answered); the rest is
    /// read and discarded.
    buf: Option<Assembly>,
    reservation: Option<Reservation>,
}

/// State of one session stream.
pub(crate) struct Session {
    store: Store,
    config: Arc<Config>,
    out: Out,
    peer: String,
    shutdown: watch::Receiver<bool>,
    /// Tasks answering blocked requests; aborted when the session ends.
    tasks: JoinSet<()>,
    /// Cancel handles of blocked requests by request id; each task removes
    /// its own entry when it answers (hence shared).
    cancels: Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>>,
    uploads: HashMap<u64, Upload>,
    /// A Hello was answered (at most one per session).
    greeted: bool,
}

impl Session {
    pub(crate) fn new(
        store: Store,
        config: Arc<Config>,
        out: Out,
        peer: String,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Session {
            store,
            config,
            out,
            peer,
            shutdown,
            tasks: JoinSet::new(),
            cancels: Arc::new(Mutex::new(HashMap::new())),
            uploads: HashMap::new(),
            greeted: false,
        }
    }

    /// Runs until the stream ends, the client breaks the protocol or the
    /// server shuts down.
    pub(crate) async fn run(mut self, mut inbound: Streaming<pb::ClientMessage>) {
        let handle = self.store.open_session(self.peer.clone());
        tracing::debug!(session = handle.id(), peer = %self.peer, "session started");
        let mut shutdown = self.shutdown.clone();
        let shutdown = async move {
            let _ = shutdown.wait_for(|down| *down).await;
        };
        tokio::pin!(shutdown);
        let end: Option<Error> = loop {
            tokio::select! {
                biased;
                msg = inbound.message() => match msg {
                    Ok(Some(msg)) => {
                        // A session stuck sending to a client that stopped
                        // reading must still see the shutdown.
                        let handled = tokio::select! {
                            r = self.handle(&handle, msg) => r,
                            () = &mut shutdown => Err(Error::ShuttingDown),
                        };
                        if let Err(e) = handled {
                            break Some(e);
                        }
                    }
                    Ok(None) => break None,
                    Err(status) => {
                        tracing::debug!(session = handle.id(), %status, "stream ended");
                        break stream_error(&status);
                    }
                },
                // Reap finished tasks so the set does not grow without bound.
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
                () = &mut shutdown => break Some(Error::ShuttingDown),
            }
        };
        if let Some(e) = end {
            if !matches!(e, Error::ShuttingDown) {
                tracing::warn!(session = handle.id(), peer = %self.peer, error = %e, "ending session");
            }
            // Let blocked requests answer SHUTTING_DOWN before the final status.
            if matches!(e, Error::ShuttingDown) {
                let drain = async { while self.tasks.join_next().await.is_some() {} };
                let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
            }
            // Bounded: a client that stopped reading must not hold us here.
            let _ =
                tokio::time::timeout(Duration::from_secs(1), self.out.send(Err(Status::from(e))))
                    .await;
        }
        self.tasks.shutdown().await;
        tracing::debug!(session = handle.id(), "session ended");
        drop(handle);
    }

    /// Handles one client message. An `Err` ends the stream.
    async fn handle(
        &mut self,
        session: &SessionHandle,
        msg: pb::ClientMessage,
    ) -> Result<(), Error> {
        match msg.kind {
            Some(client_message::Kind::Request(req)) => self.request(session, req).await,
            Some(client_message::Kind::Chunk(chunk)) => self.chunk(session, chunk).await,
            Some(client_message::Kind::Cancel(c)) => {
                let tx = self
                    .cancels
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&c.id);
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
                Ok(())
            }
            Some(client_message::Kind::Ack(a)) => {
                self.store.ack(session.id(), &a.lease_ids);
                Ok(())
            }
            Some(client_message::Kind::Release(r)) => {
                self.store.release(session.id(), &r.lease_ids);
                Ok(())
            }
            None => Err(Error::Protocol("empty ClientMessage".into())),
        }
    }

    fn id_in_use(&self, id: u64) -> bool {
        self.uploads.contains_key(&id)
            || self
                .cancels
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&id)
    }

    async fn request(&mut self, session: &SessionHandle, req: pb::Request) -> Result<(), Error> {
        let id = req.id;
        if self.id_in_use(id) {
            return Err(Error::Protocol(format!(
                "request id {id} is already in use"
            )));
        }
        let sid = session.id();
        let store = &self.store;
        let result: Result<reply::Result, Error> = match req.op {
            None => Err(Error::InvalidArgument(
                "request.op: no operation set".into(),
            )),
            Some(request::Op::Hello(h)) => {
                if self.greeted {
                    Err(Error::InvalidArgument(
                        "hello: a session says Hello at most once".into(),
                    ))
                } else if h.client.chars().count() > MAX_LABEL {
                    Err(Error::InvalidArgument(format!(
                        "hello.client: longer than {MAX_LABEL} characters"
                    )))
                } else {
                    // A newer client learns the server's version from the
                    // reply and decides (spec/sessions.md#hello).
                    self.greeted = true;
                    if !h.client.is_empty() {
                        store.set_session_label(sid, h.client);
                    }
                    Ok(reply::Result::Hello(pb::HelloReply {
                        server: format!("nws-server {}", env!("CARGO_PKG_VERSION")),
                        protocol_version: nws_proto::PROTOCOL_VERSION,
                        session_id: sid,
                        max_chunk_size: self.config.max_chunk_size as u64,
                        max_value_size: store.limits().max_value_size,
                    }))
                }
            }
            Some(request::Op::OpenWorkspace(o)) => store
                .open_ws(sid, &o.name, o.use_only, o.must_exist, o.persistent)
                .map(|w| reply::Result::Workspace(opened_to_pb(w))),
            Some(request::Op::MktempWorkspace(m)) => store
                .mktemp_ws(sid, &m.template, m.persistent)
                .map(|w| reply::Result::Workspace(opened_to_pb(w))),
            Some(request::Op::DeleteWorkspace(d)) => store
                .delete_ws(&d.name)
                .map(|()| reply::Result::Done(pb::Done {})),
            Some(request::Op::ListWorkspaces(_)) => {
                Ok(reply::Result::Workspaces(pb::WorkspaceList {
                    workspaces: store
                        .list_wss(sid)
                        .into_iter()
                        .map(|w| pb::WorkspaceInfo {
                            name: w.name,
                            owner: w.owner,
                            persistent: w.persistent,
                            variable_count: w.variable_count,
                            mine: w.mine,
                        })
                        .collect(),
                }))
            }
            Some(request::Op::Declare(d)) => mode_from_pb(d.mode)
                .and_then(|m| store.declare(&d.workspace, &d.variable, m))
                .map(|()| reply::Result::Done(pb::Done {})),
            Some(request::Op::DeleteVar(d)) => store
                .delete_var(&d.workspace, &d.variable)
                .map(|()| reply::Result::Done(pb::Done {})),
            Some(request::Op::ListVars(l)) => store.list_vars(&l.workspace).map(|vars| {
                reply::Result::Variables(pb::VariableList {
                    variables: vars
                        .into_iter()
                        .map(|v| pb::VariableInfo {
                            name: v.name,
                            mode: mode_to_pb(v.mode) as i32,
                            value_count: v.value_count,
                            fetchers: v.fetchers,
                            finders: v.finders,
                        })
                        .collect(),
                })
            }),
            Some(request::Op::Store(s)) => return self.store_request(id, s).await,
            Some(request::Op::Fetch(f)) => {
                let step = store.fetch(sid, &f.workspace, &f.variable, f.try_only);
                return self
                    .answer_step(sid, id, step, f.timeout_ms, f.no_lease)
                    .await;
            }
            Some(request::Op::Find(f)) => {
                let step = store.find(sid, &f.workspace, &f.variable, f.try_only);
                return self.answer_step(sid, id, step, f.timeout_ms, false).await;
            }
            Some(request::Op::Iterate(it)) => {
                let step = iter_kind_from_pb(it.kind).and_then(|k| {
                    store.iterate(
                        sid,
                        &it.workspace,
                        &it.variable,
                        k,
                        cursor_from_pb(it.cursor),
                    )
                });
                return self
                    .answer_step(sid, id, step, it.timeout_ms, it.no_lease)
                    .await;
            }
        };
        send_reply(&self.out, id, result).await;
        Ok(())
    }

    async fn store_request(&mut self, id: u64, s: pb::Store) -> Result<(), Error> {
        let Some(v) = s.value else {
            send_reply(
                &self.out,
                id,
                Err(Error::InvalidArgument("store.value: missing".into())),
            )
            .await;
            return Ok(());
        };
        let first = v.data.len() as u64;
        if first > self.config.max_chunk_size as u64 {
            return Err(Error::Protocol(format!(
                "store.value.data: {first} bytes exceed the chunk limit of {}",
                self.config.max_chunk_size
            )));
        }
        if first > v.total_size {
            let e = Error::InvalidArgument(format!(
                "store.value.data: {first} bytes but total_size is {}",
                v.total_size
            ));
            send_reply(&self.out, id, Err(e)).await;
            return Ok(());
        }
        let header = kind_from_pb(v.kind, &v.codec)
            .and_then(|kind| crate::names::check_name("workspace", &s.workspace).map(|()| kind))
            .and_then(|kind| crate::names::check_name("variable", &s.variable).map(|()| kind));
        if first == v.total_size {
            // The common case: the whole value in one message.
            let result = header
                .and_then(|kind| Value::new(kind, v.codec, v.data))
                .and_then(|value| self.store.store(&s.workspace, &s.variable, value))
                .map(|()| reply::Result::Done(pb::Done {}));
            send_reply(&self.out, id, result).await;
            return Ok(());
        }
        let header = header.and_then(|kind| {
            if self.store.workspace_exists(&s.workspace) {
                Ok(kind)
            } else {
                Err(Error::NoSuchWorkspace(s.workspace.clone()))
            }
        });
        let mut upload = Upload {
            workspace: s.workspace,
            variable: s.variable,
            kind: Kind::Raw,
            codec: v.codec,
            total: v.total_size,
            received: first,
            buf: None,
            reservation: None,
        };
        match header.and_then(|kind| self.store.reserve(v.total_size).map(|r| (kind, r))) {
            Ok((kind, reservation)) => {
                let cap = usize::try_from(v.total_size).map_err(|_| {
                    Error::InvalidArgument(
                        "store.value.total_size: too large for this server".into(),
                    )
                })?;
                let mut buf = Assembly::with_capacity(cap, true);
                buf.extend_from_slice(&v.data);
                upload.kind = kind;
                upload.buf = Some(buf);
                upload.reservation = Some(reservation);
            }
            Err(e) => send_reply(&self.out, id, Err(e)).await,
        }
        self.uploads.insert(id, upload);
        Ok(())
    }

    async fn chunk(&mut self, _session: &SessionHandle, chunk: pb::Chunk) -> Result<(), Error> {
        let Some(upload) = self.uploads.get_mut(&chunk.id) else {
            return Err(Error::Protocol(format!(
                "chunk for request {} which has no upload in progress",
                chunk.id
            )));
        };
        let n = chunk.data.len() as u64;
        if n == 0 || n > self.config.max_chunk_size as u64 {
            return Err(Error::Protocol(format!(
                "chunk of {n} bytes (1 to {} allowed)",
                self.config.max_chunk_size
            )));
        }
        if upload.received + n > upload.total {
            return Err(Error::Protocol(format!(
                "chunks for request {} overrun total_size {}",
                chunk.id, upload.total
            )));
        }
        upload.received += n;
        if let Some(buf) = upload.buf.as_mut() {
            buf.extend_from_slice(&chunk.data);
        }
        if upload.received < upload.total {
            return Ok(());
        }
        let Some(upload) = self.uploads.remove(&chunk.id) else {
            return Ok(());
        };
        if let (Some(buf), Some(reservation)) = (upload.buf, upload.reservation) {
            let result = Value::new(upload.kind, upload.codec, buf.freeze())
                .and_then(|value| {
                    self.store.store_reserved(
                        &upload.workspace,
                        &upload.variable,
                        value,
                        reservation,
                    )
                })
                .map(|()| reply::Result::Done(pb::Done {}));
            send_reply(&self.out, chunk.id, result).await;
        }
        Ok(())
    }

    /// Answers a fetch/find/iterator step: inline when ready, else in a task.
    async fn answer_step(
        &mut self,
        session: u64,
        id: u64,
        step: Result<Step, Error>,
        timeout_ms: Option<u64>,
        no_lease: bool,
    ) -> Result<(), Error> {
        match step {
            Err(e) => send_reply(&self.out, id, Err(e)).await,
            Ok(Step::Ready(delivery)) => {
                let big = matches!(&delivery, Delivery::Value { value, .. } if value.data.len() > self.config.chunk_size);
                if big {
                    // Stream large values from a task so other requests keep flowing.
                    let (store, out, chunk) =
                        (self.store.clone(), self.out.clone(), self.config.chunk_size);
                    self.tasks.spawn(async move {
                        send_delivery(&store, session, &out, id, delivery, chunk, no_lease).await
                    });
                } else {
                    send_delivery(
                        &self.store,
                        session,
                        &self.out,
                        id,
                        delivery,
                        self.config.chunk_size,
                        no_lease,
                    )
                    .await;
                }
            }
            Ok(Step::Wait(pending)) => {
                let waiting = self.cancels.lock().unwrap_or_else(|p| p.into_inner()).len();
                if waiting >= self.config.max_waiting_per_session {
                    drop(pending); // withdraws the waiter
                    let e = Error::TooManyWaiting {
                        waiting: waiting as u64,
                        max: self.config.max_waiting_per_session as u64,
                    };
                    send_reply(&self.out, id, Err(e)).await;
                    return Ok(());
                }
                let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
                self.cancels
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id, cancel_tx);
                let (store, out, chunk) =
                    (self.store.clone(), self.out.clone(), self.config.chunk_size);
                let cancels = self.cancels.clone();
                self.tasks.spawn(async move {
                    let cancel = async {
                        // A dropped sender (session ending) is not a cancel.
                        if cancel_rx.await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    };
                    let outcome = pending
                        .resolve(timeout_ms.map(Duration::from_millis), cancel)
                        .await;
                    cancels
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&id);
                    match outcome {
                        Ok(delivery) => {
                            send_delivery(&store, session, &out, id, delivery, chunk, no_lease)
                                .await
                        }
                        Err(e) => send_reply(&out, id, Err(e)).await,
                    }
                });
            }
        }
        Ok(())
    }
}

/// Tells a malformed message (the client broke the protocol: undecodable
/// bytes, invalid UTF-8 in a string, an oversize message) from the stream
/// simply going away (reset, disconnect), which is a normal session end.
fn stream_error(status: &Status) -> Option<Error> {
    match status.code() {
        tonic::Code::Internal | tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => Some(
            Error::Protocol(format!("malformed message: {}", status.message())),
        ),
        _ => None,
    }
}

fn opened_to_pb(w: WorkspaceOpened) -> pb::WorkspaceReply {
    pb::WorkspaceReply {
        name: w.name,
        created: w.created,
        owned: w.owned,
        persistent: w.persistent,
    }
}

async fn send_reply(out: &Out, id: u64, result: Result<reply::Result, Error>) {
    let result = match result {
        Ok(r) => r,
        Err(e) => reply::Result::Error(pb::Error::from(&e)),
    };
    let msg = pb::ServerMessage {
        kind: Some(server_message::Kind::Reply(pb::Reply {
            id,
            result: Some(result),
        })),
    };
    // A closed channel means the stream is gone; the session loop ends on its own.
    let _ = out.send(Ok(msg)).await;
}

/// Sends a delivery, chunking large values (shared buffer slices, no copies).
/// A `no_lease` value is acknowledged once its reply is queued.
async fn send_delivery(
    store: &Store,
    session: u64,
    out: &Out,
    id: u64,
    delivery: Delivery,
    chunk: usize,
    no_lease: bool,
) {
    let (value, lease, cursor) = match delivery {
        Delivery::Nothing => {
            send_reply(out, id, Ok(reply::Result::Nothing(pb::Nothing {}))).await;
            return;
        }
        Delivery::Value {
            value,
            lease,
            cursor,
        } => (value, lease, cursor),
    };
    let data: Bytes = value.data;
    let total = data.len();
    let first = data.slice(..total.min(chunk));
    let reply = reply::Result::Value(pb::ValueReply {
        value: Some(pb::Value {
            kind: kind_to_pb(value.kind) as i32,
            codec: value.codec,
            total_size: total as u64,
            data: first,
        }),
        lease_id: if no_lease { 0 } else { lease },
        cursor: cursor.map(cursor_to_pb),
    });
    send_reply(out, id, Ok(reply)).await;
    let mut at = total.min(chunk);
    while at < total {
        let end = (at + chunk).min(total);
        let msg = pb::ServerMessage {
            kind: Some(server_message::Kind::Chunk(pb::Chunk {
                id,
                data: data.slice(at..end),
            })),
        };
        if out.send(Ok(msg)).await.is_err() {
            return;
        }
        at = end;
    }
    if no_lease && lease != 0 {
        store.ack(session, &[lease]);
    }
}
