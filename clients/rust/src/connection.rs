//! The session: one bidirectional `Session` stream per [`Server`](crate::Server)
//! and the background task that routes replies to their callers.
//!
//! Outgoing: every caller pushes `ClientMessage`s into one unbounded mpsc
//! channel; tonic drains it (through [`Outgoing`]) onto the HTTP/2 stream.
//! Sending is synchronous, so all pieces of a large store are queued before
//! the caller first awaits, and `Drop` code (cancel, lease release) can send.
//!
//! Incoming: [`route`] reads `ServerMessage`s, reassembles chunked values and
//! completes the caller's oneshot registered under the request id. A caller
//! that gave up (its future was dropped) has no entry any more: its value is
//! dropped, and dropping a value's [`Lease`] gives it back to the server, so
//! nothing is lost.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use nws_proto::v1 as pb;
use nws_proto::v1::{client_message, reply, request, server_message};
use tokio::sync::{mpsc, oneshot, watch};
use tonic::transport::Endpoint;

use crate::error::Error;
use crate::lease::Lease;
use crate::server::ServerInfo;
use crate::value::Value;
use nws_proto::bigbuf::Assembly;

/// The largest piece of a value this client sends in one message (first
/// piece or `Chunk`), unless the server asks for less.
pub(crate) const PIECE_SIZE: usize = 1 << 20;
/// gRPC message size limit in both directions (tonic's default is 4 MiB).
pub(crate) const MAX_MESSAGE_SIZE: usize = 16 << 20;
/// The port of an NWS server when an address names none.
pub(crate) const DEFAULT_PORT: u16 = 8765;
/// How long [`Connection::connect`] waits for the answer to `Hello`.
const HELLO_WAIT: Duration = Duration::from_secs(30);
/// How long [`Connection::close`] waits for the server to end the stream.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Locks a std mutex, ignoring poisoning: every critical section here leaves
/// the data consistent, so a panic elsewhere does not make it unusable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a successful reply carried, already converted from the wire.
pub(crate) enum Payload {
    Done,
    Nothing,
    Value(Received),
    Hello(pb::HelloReply),
    Workspace(pb::WorkspaceReply),
    Workspaces(Vec<pb::WorkspaceInfo>),
    Variables(Vec<pb::VariableInfo>),
}

/// A value obtained by a fetch, find or iterator step.
pub(crate) struct Received {
    /// The complete value.
    pub(crate) value: Value,
    /// Its lease (inert when the value was not leased); dropping it releases
    /// the value back to the server.
    pub(crate) lease: Lease,
    /// For iterator steps: where the next step starts.
    pub(crate) cursor: Option<pb::Cursor>,
}

type Completion = oneshot::Sender<Result<Payload, Error>>;

/// The state shared by the caller-side handles and the routing task.
pub(crate) struct Shared {
    /// Into the session stream. Unbounded so that sending never awaits: large
    /// values are queued as `Bytes` slices of the caller's buffer (no copies),
    /// so the queue's memory is bounded by the values being stored.
    tx: mpsc::UnboundedSender<pb::ClientMessage>,
    /// Callers waiting for replies. A std mutex: held only for a map
    /// operation, never across an await.
    calls: Mutex<Calls>,
    /// Source of request ids; never reused within a session, so a late reply
    /// can never be mistaken for a newer request's.
    next_id: AtomicU64,
    /// Held while queueing the pieces of one chunked store so that the pieces
    /// of two concurrent large stores do not interleave.
    upload: Mutex<()>,
}

struct Calls {
    /// Request id -> the caller's completion.
    waiting: HashMap<u64, Completion>,
    /// Set once the stream has ended: why. New calls fail at once with it.
    ended: Option<Error>,
}

impl Shared {
    fn new(tx: mpsc::UnboundedSender<pb::ClientMessage>) -> Shared {
        Shared {
            tx,
            calls: Mutex::new(Calls {
                waiting: HashMap::new(),
                ended: None,
            }),
            next_id: AtomicU64::new(1),
            upload: Mutex::new(()),
        }
    }

    /// Queues one message; fails once the session has ended.
    pub(crate) fn send(&self, kind: client_message::Kind) -> Result<(), Error> {
        self.tx
            .send(pb::ClientMessage { kind: Some(kind) })
            .map_err(|_| Error::Closed)
    }

    /// Allocates a request id and registers its completion.
    fn register(&self) -> Result<(u64, oneshot::Receiver<Result<Payload, Error>>), Error> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let mut calls = lock(&self.calls);
        if let Some(e) = &calls.ended {
            return Err(e.clone());
        }
        calls.waiting.insert(id, tx);
        Ok((id, rx))
    }

    /// Hands a result to the caller of `id`. If the caller is gone the
    /// result is dropped here, which releases any lease it holds.
    fn deliver(&self, id: u64, result: Result<Payload, Error>) {
        let waiter = lock(&self.calls).waiting.remove(&id);
        match waiter {
            Some(tx) => {
                // Err means the receiver was dropped in the meantime: the
                // returned result (and its lease) is dropped, i.e. released.
                let _ = tx.send(result);
            }
            None => tracing::debug!(id, "reply for a request nobody waits for; dropped"),
        }
    }

    /// Ends every pending call with `err` and refuses new ones.
    fn fail_all(&self, err: Error) {
        let waiting = {
            let mut calls = lock(&self.calls);
            if calls.ended.is_none() {
                calls.ended = Some(err.clone());
            }
            std::mem::take(&mut calls.waiting)
        };
        for (_, tx) in waiting {
            let _ = tx.send(Err(err.clone()));
        }
    }
}

/// Unregisters a call whose future is dropped before its reply arrived, and
/// for blocking operations withdraws it with `Cancel`.
struct CallGuard<'a> {
    shared: &'a Shared,
    id: u64,
    cancellable: bool,
    armed: bool,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let was_waiting = lock(&self.shared.calls).waiting.remove(&self.id).is_some();
        if was_waiting && self.cancellable {
            // If the server already answered, the answer finds no waiter and
            // its lease is released by `deliver`.
            let _ = self
                .shared
                .send(client_message::Kind::Cancel(pb::Cancel { id: self.id }));
        }
    }
}

/// The outgoing half of the session stream: the mpsc receiver, ended by the
/// close signal after everything already queued has been sent (so a final
/// `LeaseAck` is never lost to a close).
struct Outgoing {
    rx: mpsc::UnboundedReceiver<pb::ClientMessage>,
    /// Fires (or is dropped) when the session is to end; `None` once seen.
    close: Option<oneshot::Receiver<()>>,
}

impl futures::Stream for Outgoing {
    type Item = pb::ClientMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let close_fired = match this.close.as_mut() {
            Some(close) => Pin::new(close).poll(cx).is_ready(),
            None => false,
        };
        if close_fired {
            // Stop accepting, then drain what is queued and end.
            this.rx.close();
            this.close = None;
        }
        this.rx.poll_recv(cx)
    }
}

/// One session with a server: the shared call state plus what is needed to
/// end it. Owned through an `Arc` by every [`Server`](crate::Server) and
/// [`Workspace`](crate::Workspace) handle; dropping the last one ends the
/// session.
pub(crate) struct Connection {
    pub(crate) shared: Arc<Shared>,
    /// From the server's `HelloReply`.
    pub(crate) info: ServerInfo,
    /// The size of the pieces large values are sent in.
    piece_size: usize,
    /// Dropping or firing it ends the outgoing stream (see [`Outgoing`]).
    close_tx: Mutex<Option<oneshot::Sender<()>>>,
    /// Becomes true when the routing task has finished.
    reader_done: watch::Receiver<bool>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("session_id", &self.info.session_id)
            .field("server", &self.info.server)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects, opens the session stream and exchanges `Hello`.
    pub(crate) async fn connect(addr: &str) -> Result<Connection, Error> {
        Connection::connect_as(addr, client_description()).await
    }

    /// As [`Connection::connect`], introducing the session as `label` (the
    /// owner label of the workspaces it owns).
    pub(crate) async fn connect_as(addr: &str, label: String) -> Result<Connection, Error> {
        let uri = normalize_address(addr)?;
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|_| Error::InvalidAddress(addr.to_owned()))?
            .tcp_nodelay(true)
            .tcp_keepalive(Some(Duration::from_secs(10)))
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(Duration::from_secs(1))
            .keep_alive_while_idle(true)
            .keep_alive_timeout(Duration::from_secs(20))
            .initial_stream_window_size(16u32 << 20)
            .initial_connection_window_size(64u32 << 20);
        let channel = endpoint.connect().await.map_err(Error::transport)?;
        let mut client = pb::net_work_spaces_client::NetWorkSpacesClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE);

        let (tx, rx) = mpsc::unbounded_channel();
        let (close_tx, close_rx) = oneshot::channel();
        let shared = Arc::new(Shared::new(tx));

        // Queue the Hello before opening, so it travels with the stream's
        // first frames.
        let (hello_id, hello_rx) = shared.register()?;
        shared.send(client_message::Kind::Request(pb::Request {
            id: hello_id,
            op: Some(request::Op::Hello(pb::Hello {
                client: label,
                protocol_version: nws_proto::PROTOCOL_VERSION,
            })),
        }))?;

        let outgoing = Outgoing {
            rx,
            close: Some(close_rx),
        };
        let inbound = client
            .session(outgoing)
            .await
            .map_err(Error::from_status)?
            .into_inner();
        let (done_tx, done_rx) = watch::channel(false);
        tokio::spawn(route(Arc::clone(&shared), inbound, done_tx));

        let hello = match tokio::time::timeout(HELLO_WAIT, hello_rx).await {
            Ok(Ok(Ok(Payload::Hello(h)))) => h,
            Ok(Ok(Ok(_))) => return Err(Error::unexpected("hello")),
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(_)) => return Err(Error::Closed),
            Err(_) => return Err(Error::Protocol("the server did not answer hello".into())),
        };
        let info = ServerInfo {
            server: hello.server,
            protocol_version: hello.protocol_version,
            session_id: hello.session_id,
            max_chunk_size: hello.max_chunk_size,
            max_value_size: hello.max_value_size,
        };
        Ok(Connection {
            shared,
            piece_size: piece_size(info.max_chunk_size),
            info,
            close_tx: Mutex::new(Some(close_tx)),
            reader_done: done_rx,
        })
    }

    /// Sends one request and waits for its reply. If the returned future is
    /// dropped first, the request is unregistered and, when `cancellable`
    /// (operations that may block), withdrawn with `Cancel`.
    pub(crate) async fn call(&self, op: request::Op, cancellable: bool) -> Result<Payload, Error> {
        let (id, rx) = self.shared.register()?;
        let mut guard = CallGuard {
            shared: &self.shared,
            id,
            cancellable,
            armed: true,
        };
        self.shared
            .send(client_message::Kind::Request(pb::Request {
                id,
                op: Some(op),
            }))?;
        let result = rx.await;
        guard.armed = false;
        result.unwrap_or(Err(Error::Closed))
    }

    /// Stores a value, sending it in pieces when it is large.
    pub(crate) async fn store(
        &self,
        workspace: String,
        variable: String,
        value: Value,
    ) -> Result<(), Error> {
        let (kind, codec, data) = value.into_wire_parts();
        let total_size = data.len() as u64;
        let (first, rest) = split_pieces(data, self.piece_size);
        let (id, rx) = self.shared.register()?;
        let mut guard = CallGuard {
            shared: &self.shared,
            id,
            cancellable: false,
            armed: true,
        };
        let request = client_message::Kind::Request(pb::Request {
            id,
            op: Some(request::Op::Store(pb::Store {
                workspace,
                variable,
                value: Some(pb::Value {
                    kind: kind as i32,
                    codec,
                    total_size,
                    data: first,
                }),
            })),
        });
        if rest.is_empty() {
            self.shared.send(request)?;
        } else {
            let _pieces_in_order = lock(&self.shared.upload);
            self.shared.send(request)?;
            for data in rest {
                self.shared
                    .send(client_message::Kind::Chunk(pb::Chunk { id, data }))?;
            }
        }
        let result = rx.await;
        guard.armed = false;
        match result.unwrap_or(Err(Error::Closed))? {
            Payload::Done => Ok(()),
            _ => Err(Error::unexpected("store")),
        }
    }

    /// Ends the session: lets what is queued go out, ends the stream and
    /// waits (up to a few seconds) for the server to end its side.
    pub(crate) async fn close(&self) {
        if let Some(tx) = lock(&self.close_tx).take() {
            let _ = tx.send(());
        }
        let mut done = self.reader_done.clone();
        let _ = tokio::time::timeout(CLOSE_WAIT, done.wait_for(|d| *d)).await;
    }
}

/// Splits a value's bytes into the first piece (sent inside the `Store`) and
/// the following chunks, each at most `piece` bytes, without copying.
pub(crate) fn split_pieces(mut data: Bytes, piece: usize) -> (Bytes, Vec<Bytes>) {
    let piece = piece.max(1);
    if data.len() <= piece {
        return (data, Vec::new());
    }
    let first = data.split_to(piece);
    let mut rest = Vec::with_capacity(data.len().div_ceil(piece));
    while data.len() > piece {
        rest.push(data.split_to(piece));
    }
    rest.push(data);
    (first, rest)
}

/// The piece size for a server that accepts pieces of at most `max_chunk`
/// bytes (0: unknown).
pub(crate) fn piece_size(max_chunk: u64) -> usize {
    match usize::try_from(max_chunk) {
        Ok(0) => PIECE_SIZE,
        Ok(m) => m.min(PIECE_SIZE),
        Err(_) => PIECE_SIZE,
    }
}

/// Turns `host:port`, `host`, or `http://host:port` into the URI tonic
/// expects; a missing port means [`DEFAULT_PORT`].
pub(crate) fn normalize_address(addr: &str) -> Result<String, Error> {
    let invalid = || Error::InvalidAddress(addr.to_owned());
    let trimmed = addr.trim();
    let authority = match trimmed.split_once("://") {
        Some(("http", rest)) => rest,
        Some(_) => return Err(invalid()),
        None => trimmed,
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(invalid());
    }
    // `[v6]`, `[v6]:port`, `host` or `host:port`.
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(invalid)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(invalid)?),
        };
        (format!("[{v6}]"), port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" || (!host.starts_with('[') && host.contains([':', '[', ']']))
    {
        return Err(invalid());
    }
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| invalid())?,
        None => DEFAULT_PORT,
    };
    Ok(format!("http://{host}:{port}"))
}

/// `rust nws <version> pid <pid> on <host>`, shown as the owner of the
/// workspaces this session owns.
fn client_description() -> String {
    format!(
        "rust nws {} pid {} on {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        hostname()
    )
}

fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A value whose first piece has arrived and whose chunks are awaited.
struct Partial {
    kind: i32,
    codec: String,
    total: usize,
    buf: Assembly,
    /// Held from the first piece on, so an abandoned or broken transfer
    /// gives the value back.
    lease: Lease,
    cursor: Option<pb::Cursor>,
}

/// The routing task: reads the server's messages until the stream ends, then
/// fails every pending call.
async fn route(
    shared: Arc<Shared>,
    mut inbound: tonic::Streaming<pb::ServerMessage>,
    done: watch::Sender<bool>,
) {
    let mut partials: HashMap<u64, Partial> = HashMap::new();
    let end = loop {
        match inbound.message().await {
            Ok(Some(msg)) => match msg.kind {
                Some(server_message::Kind::Reply(r)) => on_reply(&shared, &mut partials, r),
                Some(server_message::Kind::Chunk(c)) => on_chunk(&shared, &mut partials, c),
                None => tracing::debug!("empty server message ignored"),
            },
            Ok(None) => break Error::Closed,
            Err(status) => break Error::from_status(status),
        }
    };
    tracing::debug!(error = %end, "session stream ended");
    drop(partials);
    shared.fail_all(end);
    let _ = done.send(true);
}

fn on_reply(shared: &Arc<Shared>, partials: &mut HashMap<u64, Partial>, r: pb::Reply) {
    let id = r.id;
    let vr = match r.result {
        Some(reply::Result::Value(vr)) => vr,
        other => return shared.deliver(id, payload(other)),
    };
    let lease = Lease::new(shared, vr.lease_id);
    let Some(v) = vr.value else {
        return shared.deliver(
            id,
            Err(Error::Protocol("value reply without a value".into())),
        );
    };
    let have = v.data.len() as u64;
    if v.total_size <= have {
        let result = Value::from_wire_parts(v.kind, v.codec, v.data).map(|value| {
            Payload::Value(Received {
                value,
                lease,
                cursor: vr.cursor,
            })
        });
        return shared.deliver(id, result);
    }
    let Ok(total) = usize::try_from(v.total_size) else {
        return shared.deliver(
            id,
            Err(Error::Protocol("value too large for this machine".into())),
        );
    };
    let pooled = v.kind != pb::ValueKind::Text as i32;
    let mut buf = Assembly::with_capacity(total, pooled);
    buf.extend_from_slice(&v.data);
    let partial = Partial {
        kind: v.kind,
        codec: v.codec,
        total,
        buf,
        lease,
        cursor: vr.cursor,
    };
    if partials.insert(id, partial).is_some() {
        tracing::warn!(
            id,
            "a new value replaced an unfinished one with the same id"
        );
    }
}

fn on_chunk(shared: &Arc<Shared>, partials: &mut HashMap<u64, Partial>, c: pb::Chunk) {
    let Some(p) = partials.get_mut(&c.id) else {
        tracing::debug!(id = c.id, "chunk for no pending value ignored");
        return;
    };
    let overrun = p.buf.len() + c.data.len() > p.total;
    if !overrun {
        p.buf.extend_from_slice(&c.data);
        if p.buf.len() < p.total {
            return;
        }
    }
    let Some(p) = partials.remove(&c.id) else {
        return;
    };
    let result = if overrun {
        Err(Error::Protocol(
            "value chunks exceed the announced size".into(),
        ))
    } else {
        let Partial {
            kind,
            codec,
            buf,
            lease,
            cursor,
            ..
        } = p;
        Value::from_wire_parts(kind, codec, buf.freeze()).map(|value| {
            Payload::Value(Received {
                value,
                lease,
                cursor,
            })
        })
    };
    shared.deliver(c.id, result);
}

/// Converts a reply that carries no value.
fn payload(result: Option<reply::Result>) -> Result<Payload, Error> {
    match result {
        Some(reply::Result::Error(e)) => Err(Error::from_wire(e)),
        Some(reply::Result::Done(_)) => Ok(Payload::Done),
        Some(reply::Result::Nothing(_)) => Ok(Payload::Nothing),
        Some(reply::Result::Hello(h)) => Ok(Payload::Hello(h)),
        Some(reply::Result::Workspace(w)) => Ok(Payload::Workspace(w)),
        Some(reply::Result::Workspaces(l)) => Ok(Payload::Workspaces(l.workspaces)),
        Some(reply::Result::Variables(l)) => Ok(Payload::Variables(l.variables)),
        Some(reply::Result::Value(_)) => Err(Error::unexpected("a value request")),
        None => Err(Error::Protocol("reply without a result".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_travel_in_one_piece() {
        let (first, rest) = split_pieces(Bytes::from_static(b"abc"), 4);
        assert_eq!(&first[..], b"abc");
        assert!(rest.is_empty());
        let (first, rest) = split_pieces(Bytes::new(), 4);
        assert!(first.is_empty() && rest.is_empty());
    }

    #[test]
    fn a_value_of_exactly_one_piece_has_no_chunks() {
        let (first, rest) = split_pieces(Bytes::from(vec![7u8; 8]), 8);
        assert_eq!(first.len(), 8);
        assert!(rest.is_empty());
    }

    #[test]
    fn large_values_split_into_pieces_that_reassemble_without_copies() {
        let data = Bytes::from((0..10_000u32).map(|i| i as u8).collect::<Vec<_>>());
        let base = data.as_ptr();
        let (first, rest) = split_pieces(data.clone(), 1024);
        assert_eq!(first.len(), 1024);
        assert_eq!(rest.len(), 9);
        assert!(rest[..8].iter().all(|c| c.len() == 1024));
        assert_eq!(rest[8].len(), 10_000 - 9 * 1024);
        // Slices of the same buffer: no copies.
        assert_eq!(first.as_ptr(), base);
        assert_eq!(rest[0].as_ptr(), base.wrapping_add(1024));
        let mut joined = first.to_vec();
        for c in &rest {
            joined.extend_from_slice(c);
        }
        assert_eq!(joined, data.to_vec());
    }

    #[test]
    fn the_piece_size_never_exceeds_the_servers_limit() {
        assert_eq!(piece_size(0), PIECE_SIZE);
        assert_eq!(piece_size(4096), 4096);
        assert_eq!(piece_size(64 << 20), PIECE_SIZE);
    }

    #[test]
    fn addresses_are_normalized_to_http_uris() {
        let ok = |a: &str| normalize_address(a).expect(a);
        assert_eq!(ok("localhost:8765"), "http://localhost:8765");
        assert_eq!(ok("http://10.0.0.1:9000"), "http://10.0.0.1:9000");
        assert_eq!(ok("http://10.0.0.1:9000/"), "http://10.0.0.1:9000");
        assert_eq!(ok("node7"), "http://node7:8765");
        assert_eq!(ok("[::1]:1234"), "http://[::1]:1234");
        assert_eq!(ok("[::1]"), "http://[::1]:8765");
        for bad in [
            "",
            "https://x:1",
            "x:notaport",
            "x:99999",
            "a/b:1",
            "[::1:5",
        ] {
            assert!(
                matches!(normalize_address(bad), Err(Error::InvalidAddress(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn the_client_description_names_language_pid_and_host() {
        let d = client_description();
        assert!(d.starts_with("rust nws "));
        assert!(d.contains(&format!(" pid {} on ", std::process::id())));
    }

    fn shared() -> (Arc<Shared>, mpsc::UnboundedReceiver<pb::ClientMessage>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Arc::new(Shared::new(tx)), rx)
    }

    fn value_reply(id: u64, lease_id: u64, total: u64, data: &'static [u8]) -> pb::Reply {
        pb::Reply {
            id,
            result: Some(reply::Result::Value(pb::ValueReply {
                value: Some(pb::Value {
                    kind: pb::ValueKind::Raw as i32,
                    codec: String::new(),
                    total_size: total,
                    data: Bytes::from_static(data),
                }),
                lease_id,
                cursor: None,
            })),
        }
    }

    #[test]
    fn chunks_are_reassembled_before_the_caller_is_completed() {
        let (sh, _rx) = shared();
        let (id, mut done) = sh.register().expect("open");
        let mut partials = HashMap::new();
        on_reply(&sh, &mut partials, value_reply(id, 0, 6, b"ab"));
        assert!(
            done.try_recv().is_err(),
            "completed before the chunks arrived"
        );
        for piece in [&b"cd"[..], &b"ef"[..]] {
            on_chunk(
                &sh,
                &mut partials,
                pb::Chunk {
                    id,
                    data: Bytes::from_static(piece),
                },
            );
        }
        match done.try_recv() {
            Ok(Ok(Payload::Value(r))) => assert_eq!(r.value.as_bytes(), b"abcdef"),
            _ => panic!("value not delivered"),
        }
        assert!(partials.is_empty());
    }

    #[test]
    fn chunks_overrunning_the_announced_size_fail_the_call_without_panicking() {
        // A value large enough for a pooled buffer.
        let total = nws_proto::bigbuf::SPARE_MIN as u64;
        let (sh, _rx) = shared();
        let (id, mut done) = sh.register().expect("open");
        let mut partials = HashMap::new();
        on_reply(&sh, &mut partials, value_reply(id, 0, total, b"ab"));
        let piece = Bytes::from(vec![1u8; (total - 1) as usize]);
        on_chunk(&sh, &mut partials, pb::Chunk { id, data: piece });
        match done.try_recv() {
            Ok(Err(Error::Protocol(m))) => assert!(m.contains("exceed"), "{m}"),
            _ => panic!("an overrun was not reported"),
        }
        assert!(partials.is_empty());
    }

    #[test]
    fn a_value_nobody_waits_for_is_released() {
        let (sh, mut rx) = shared();
        let mut partials = HashMap::new();
        on_reply(&sh, &mut partials, value_reply(99, 42, 1, b"x"));
        match rx.try_recv().map(|m| m.kind) {
            Ok(Some(client_message::Kind::Release(r))) => assert_eq!(r.lease_ids, vec![42]),
            _ => panic!("lease not released"),
        }
    }

    #[test]
    fn a_dropped_pending_call_sends_cancel_and_its_late_value_is_released() {
        let (sh, mut rx) = shared();
        let (id, done) = sh.register().expect("open");
        drop(CallGuard {
            shared: &sh,
            id,
            cancellable: true,
            armed: true,
        });
        drop(done);
        match rx.try_recv().map(|m| m.kind) {
            Ok(Some(client_message::Kind::Cancel(c))) => assert_eq!(c.id, id),
            _ => panic!("no cancel sent"),
        }
        let mut partials = HashMap::new();
        on_reply(&sh, &mut partials, value_reply(id, 7, 1, b"x"));
        match rx.try_recv().map(|m| m.kind) {
            Ok(Some(client_message::Kind::Release(r))) => assert_eq!(r.lease_ids, vec![7]),
            _ => panic!("late value not released"),
        }
    }

    #[test]
    fn a_value_completed_but_never_received_is_released() {
        let (sh, mut rx) = shared();
        let (id, done) = sh.register().expect("open");
        let mut partials = HashMap::new();
        on_reply(&sh, &mut partials, value_reply(id, 5, 1, b"x"));
        assert!(
            rx.try_recv().is_err(),
            "released while the caller still waits"
        );
        drop(done);
        match rx.try_recv().map(|m| m.kind) {
            Ok(Some(client_message::Kind::Release(r))) => assert_eq!(r.lease_ids, vec![5]),
            _ => panic!("undelivered value not released"),
        }
    }

    #[test]
    fn the_end_of_the_stream_fails_pending_and_new_calls() {
        let (sh, _rx) = shared();
        let (_, mut done) = sh.register().expect("open");
        sh.fail_all(Error::Closed);
        assert!(matches!(done.try_recv(), Ok(Err(Error::Closed))));
        assert!(matches!(sh.register(), Err(Error::Closed)));
    }

    #[test]
    fn server_errors_keep_their_reason() {
        let r = payload(Some(reply::Result::Error(pb::Error {
            reason: pb::Reason::NoSuchWorkspace as i32,
            message: "x".into(),
        })));
        assert_eq!(
            r.err().and_then(|e| e.reason()),
            Some(crate::Reason::NoSuchWorkspace)
        );
    }
}
