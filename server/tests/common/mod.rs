//! Test harness for the wire-level integration tests of `nws-server`.
//!
//! - [`Server`] runs `nws_server::run_with_store` in-process on
//!   `127.0.0.1:0`, keeping the [`Store`] so tests can check memory and leases.
//! - [`Session`] is one raw `Session` stream: requests go out through a tokio
//!   mpsc channel, a reader task forwards every `ServerMessage` (and the final
//!   status) back, and replies are routed by id. Every wait is bounded (10 s by
//!   default) so no test can hang.
//! - [`ops`] builds `request::Op`s; the `expect_*` functions check replies.
//! - [`Proxy`] sits between a client and the server so a test can cut the
//!   TCP connection abruptly (process death) or freeze it (network loss).
//!
//! Each test file compiles this module separately, so not every helper is
//! used everywhere.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use nws_proto::v1 as pb;
use nws_proto::v1::net_work_spaces_client::NetWorkSpacesClient;
use nws_proto::v1::{client_message, reply, request, server_message};
use nws_server::{Config, Limits, ServerError, Store};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tonic::transport::{Channel, Endpoint};

pub use pb::Reason;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long a test watches a request to conclude that it is blocked.
pub const QUIET: Duration = Duration::from_millis(300);

/// Installs a test log subscriber once (set `RUST_LOG` to see server logs).
fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
    });
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// An in-process server on an ephemeral port.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The store it serves (shared with the server).
    pub store: Store,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
}

impl Server {
    /// A server with the default configuration.
    pub async fn start() -> Server {
        Server::start_with(Config::default()).await
    }

    /// A server with the given limits (other settings default).
    pub async fn start_with_limits(limits: Limits) -> Server {
        Server::start_with(Config {
            limits,
            ..Config::default()
        })
        .await
    }

    /// A server with the given configuration.
    pub async fn start_with(config: Config) -> Server {
        init_logging();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let store = Store::new(config.limits.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let handle = tokio::spawn(nws_server::run_with_store(
            listener,
            config,
            store.clone(),
            shutdown,
        ));
        Server {
            addr,
            store,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Opens a new session on its own connection.
    pub async fn session(&self) -> Session {
        Session::connect(self.addr).await
    }

    /// Opens a new session that has said Hello with `label`; returns the
    /// session and its id.
    pub async fn session_named(&self, label: &str) -> (Session, u64) {
        let mut s = self.session().await;
        let hello = s.hello(label).await;
        (s, hello.session_id)
    }

    /// Bytes held in values, leases and uploads.
    pub fn memory_used(&self) -> u64 {
        self.store.stats().memory_used
    }

    /// Waits until no memory is held (values consumed, uploads discarded).
    pub async fn expect_memory_freed(&self) {
        let store = self.store.clone();
        eventually("memory_used returns to 0", WAIT, move || {
            store.stats().memory_used == 0
        })
        .await;
    }

    /// Completes the shutdown future and waits (bounded) for `run` to return.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        self.trigger_shutdown();
        self.join().await
    }

    /// Completes the shutdown future without waiting.
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits (bounded) for `run` to return.
    pub async fn join(&mut self) -> Result<(), ServerError> {
        let handle = self.handle.take().expect("server already joined");
        tokio::time::timeout(WAIT, handle)
            .await
            .expect("nws_server::run did not return within 10 s of shutdown")
            .expect("server task panicked")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

/// Polls `cond` every 10 ms until it holds; panics naming `what` after `limit`.
pub async fn eventually(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        if cond() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Awaits `fut` for at most [`WAIT`], failing the test naming `what`.
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

// ---------------------------------------------------------------------------
// Raw codec: lets a test put arbitrary bytes on the wire as a ClientMessage
// ---------------------------------------------------------------------------

/// Sends pre-encoded bytes as messages and decodes `ServerMessage`s.
#[derive(Debug, Clone, Default)]
pub struct RawCodec;

/// Encoder half of [`RawCodec`].
#[derive(Debug, Clone, Default)]
pub struct RawEncoder;

/// Decoder half of [`RawCodec`].
#[derive(Debug, Clone, Default)]
pub struct ServerMessageDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = pb::ServerMessage;
    type Encoder = RawEncoder;
    type Decoder = ServerMessageDecoder;
    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }
    fn decoder(&mut self) -> Self::Decoder {
        ServerMessageDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for ServerMessageDecoder {
    type Item = pb::ServerMessage;
    type Error = Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<pb::ServerMessage>, Status> {
        let msg = pb::ServerMessage::decode(src.copy_to_bytes(src.remaining()))
            .map_err(|e| Status::internal(format!("undecodable ServerMessage: {e}")))?;
        Ok(Some(msg))
    }
}

// ---------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------

/// What the reader task forwards.
enum Event {
    Msg(pb::ServerMessage),
    End(Result<(), Status>),
}

enum Outgoing {
    Typed(mpsc::Sender<pb::ClientMessage>),
    Raw(mpsc::Sender<Bytes>),
}

/// A cloneable sending half of a session, for tests that send from another task.
#[derive(Clone)]
pub struct Sender {
    out: OutgoingClone,
}

#[derive(Clone)]
enum OutgoingClone {
    Typed(mpsc::Sender<pb::ClientMessage>),
    Raw(mpsc::Sender<Bytes>),
}

impl Sender {
    /// Sends one client message.
    pub async fn send(&self, msg: pb::ClientMessage) {
        let ok = match &self.out {
            OutgoingClone::Typed(tx) => tx.send(msg).await.is_ok(),
            OutgoingClone::Raw(tx) => tx.send(msg.encode_to_vec().into()).await.is_ok(),
        };
        assert!(ok, "session stream is closed");
    }

    /// Sends a request.
    pub async fn request(&self, id: u64, op: request::Op) {
        self.send(request_msg(id, op)).await;
    }
}

/// One `Session` stream. Replies (and chunks) are routed by id; messages for
/// other ids are kept until asked for.
pub struct Session {
    out: Option<Outgoing>,
    events: mpsc::Receiver<Event>,
    stash: HashMap<u64, VecDeque<pb::ServerMessage>>,
    ended: Option<Result<(), Status>>,
    next_id: u64,
    reader: JoinHandle<()>,
    paused: Option<oneshot::Sender<()>>,
    _channel: Channel,
}

/// The gRPC endpoint for `addr`, tuned like a client library would.
pub fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .initial_stream_window_size(16 << 20)
        .initial_connection_window_size(64 << 20)
}

/// Connects a channel to `addr`.
pub async fn channel(addr: SocketAddr) -> Channel {
    bounded("connect", endpoint(addr).connect())
        .await
        .expect("connect to the server")
}

impl Session {
    /// Connects to `addr` on a new connection and opens a session.
    pub async fn connect(addr: SocketAddr) -> Session {
        Session::open_on(channel(addr).await).await
    }

    /// Opens a session on an existing channel (several sessions may share one
    /// HTTP/2 connection).
    pub async fn open_on(channel: Channel) -> Session {
        let (tx, rx) = mpsc::channel::<pb::ClientMessage>(64);
        let mut client =
            NetWorkSpacesClient::new(channel.clone()).max_decoding_message_size(16 << 20);
        let response = bounded("open session", client.session(ReceiverStream::new(rx)))
            .await
            .expect("Session call accepted");
        Session::with_inbound(Outgoing::Typed(tx), response.into_inner(), channel)
    }

    /// Opens a session (on a connection with small HTTP/2 windows) whose
    /// reader does not read the response stream until
    /// [`Session::resume_reading`]: a client that stops consuming replies.
    pub async fn connect_paused(addr: SocketAddr) -> Session {
        let ep = endpoint(addr)
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535);
        let channel = bounded("connect", ep.connect())
            .await
            .expect("connect to the server");
        let (tx, rx) = mpsc::channel::<pb::ClientMessage>(64);
        let mut client =
            NetWorkSpacesClient::new(channel.clone()).max_decoding_message_size(16 << 20);
        let response = bounded("open session", client.session(ReceiverStream::new(rx)))
            .await
            .expect("Session call accepted");
        let (go_tx, go_rx) = oneshot::channel();
        let mut s = Session::with_inbound_after(
            Outgoing::Typed(tx),
            response.into_inner(),
            channel,
            Some(go_rx),
        );
        s.paused = Some(go_tx);
        s
    }

    /// Starts reading a session opened with [`Session::connect_paused`].
    pub fn resume_reading(&mut self) {
        if let Some(go) = self.paused.take() {
            let _ = go.send(());
        }
    }

    /// Opens a session whose messages are sent as raw bytes, so a test can
    /// send malformed messages with [`Session::send_raw`].
    pub async fn connect_raw(addr: SocketAddr) -> Session {
        let channel = channel(addr).await;
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let mut grpc =
            tonic::client::Grpc::new(channel.clone()).max_decoding_message_size(16 << 20);
        bounded("channel ready", grpc.ready())
            .await
            .expect("channel ready");
        let path =
            tonic::codegen::http::uri::PathAndQuery::from_static("/nws.v1.NetWorkSpaces/Session");
        let response = bounded(
            "open raw session",
            grpc.streaming(tonic::Request::new(ReceiverStream::new(rx)), path, RawCodec),
        )
        .await
        .expect("Session call accepted");
        Session::with_inbound(Outgoing::Raw(tx), response.into_inner(), channel)
    }

    fn with_inbound(
        out: Outgoing,
        inbound: tonic::Streaming<pb::ServerMessage>,
        channel: Channel,
    ) -> Session {
        Session::with_inbound_after(out, inbound, channel, None)
    }

    fn with_inbound_after(
        out: Outgoing,
        mut inbound: tonic::Streaming<pb::ServerMessage>,
        channel: Channel,
        go: Option<oneshot::Receiver<()>>,
    ) -> Session {
        let (ev_tx, ev_rx) = mpsc::channel::<Event>(512);
        let reader = tokio::spawn(async move {
            if let Some(go) = go {
                let _ = go.await;
            }
            loop {
                match inbound.next().await {
                    Some(Ok(msg)) => {
                        if ev_tx.send(Event::Msg(msg)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(status)) => {
                        let _ = ev_tx.send(Event::End(Err(status))).await;
                        return;
                    }
                    None => {
                        let _ = ev_tx.send(Event::End(Ok(()))).await;
                        return;
                    }
                }
            }
        });
        Session {
            out: Some(out),
            events: ev_rx,
            stash: HashMap::new(),
            ended: None,
            next_id: 1,
            reader,
            paused: None,
            _channel: channel,
        }
    }

    /// A fresh request id (a counter, as client libraries use).
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A cloneable sender for this session.
    pub fn sender(&self) -> Sender {
        let out = match self.out.as_ref().expect("session already closed") {
            Outgoing::Typed(tx) => OutgoingClone::Typed(tx.clone()),
            Outgoing::Raw(tx) => OutgoingClone::Raw(tx.clone()),
        };
        Sender { out }
    }

    /// Sends one client message.
    pub async fn send(&self, msg: pb::ClientMessage) {
        self.sender().send(msg).await;
    }

    /// Sends arbitrary bytes as one message (raw sessions only).
    pub async fn send_raw(&self, bytes: impl Into<Bytes>) {
        match self.out.as_ref().expect("session already closed") {
            Outgoing::Raw(tx) => assert!(
                tx.send(bytes.into()).await.is_ok(),
                "session stream is closed"
            ),
            Outgoing::Typed(_) => panic!("send_raw needs a session from Session::connect_raw"),
        }
    }

    /// Sends a request with the given id.
    pub async fn send_request(&self, id: u64, op: request::Op) {
        self.send(request_msg(id, op)).await;
    }

    /// Sends a request with a fresh id and returns the id.
    pub async fn start(&mut self, op: request::Op) -> u64 {
        let id = self.next_id();
        self.send_request(id, op).await;
        id
    }

    /// Sends a request with a fresh id and waits for its reply.
    pub async fn call(&mut self, op: request::Op) -> pb::Reply {
        let id = self.start(op).await;
        self.reply(id).await
    }

    /// Sends one chunk of an upload.
    pub async fn send_chunk(&self, id: u64, data: impl Into<Bytes>) {
        self.send(pb::ClientMessage {
            kind: Some(client_message::Kind::Chunk(pb::Chunk {
                id,
                data: data.into(),
            })),
        })
        .await;
    }

    /// Withdraws a waiting request.
    pub async fn cancel(&self, id: u64) {
        self.send(pb::ClientMessage {
            kind: Some(client_message::Kind::Cancel(pb::Cancel { id })),
        })
        .await;
    }

    /// Acknowledges leases.
    pub async fn ack(&self, lease_ids: &[u64]) {
        self.send(pb::ClientMessage {
            kind: Some(client_message::Kind::Ack(pb::LeaseAck {
                lease_ids: lease_ids.to_vec(),
            })),
        })
        .await;
    }

    /// Gives leases back.
    pub async fn release(&self, lease_ids: &[u64]) {
        self.send(pb::ClientMessage {
            kind: Some(client_message::Kind::Release(pb::LeaseRelease {
                lease_ids: lease_ids.to_vec(),
            })),
        })
        .await;
    }

    /// The next message (reply or chunk) with this id, waiting at most `limit`.
    /// `None` when nothing arrived in time. Panics if the stream ended first.
    pub async fn next_for_within(&mut self, id: u64, limit: Duration) -> Option<pb::ServerMessage> {
        if let Some(msg) = self.stash.get_mut(&id).and_then(VecDeque::pop_front) {
            return Some(msg);
        }
        if let Some(end) = &self.ended {
            panic!("stream ended ({end:?}) while waiting for a message with id {id}");
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => return None,
                Ok(None) => panic!("session reader gone while waiting for id {id}"),
                Ok(Some(Event::End(end))) => {
                    self.ended = Some(end.clone());
                    panic!("stream ended ({end:?}) while waiting for a message with id {id}");
                }
                Ok(Some(Event::Msg(msg))) => {
                    let mid = message_id(&msg);
                    if mid == id {
                        return Some(msg);
                    }
                    self.stash.entry(mid).or_default().push_back(msg);
                }
            }
        }
    }

    /// The next message with this id (10 s limit).
    pub async fn next_for(&mut self, id: u64) -> pb::ServerMessage {
        match self.next_for_within(id, WAIT).await {
            Some(msg) => msg,
            None => panic!("no message with id {id} within {WAIT:?}"),
        }
    }

    /// The reply to request `id` (10 s limit).
    pub async fn reply(&mut self, id: u64) -> pb::Reply {
        match self.next_for(id).await.kind {
            Some(server_message::Kind::Reply(r)) => r,
            other => panic!("expected the reply to {id}, got {other:?}"),
        }
    }

    /// The reply to request `id` if one arrives within `limit`.
    pub async fn reply_within(&mut self, id: u64, limit: Duration) -> Option<pb::Reply> {
        match self.next_for_within(id, limit).await?.kind {
            Some(server_message::Kind::Reply(r)) => Some(r),
            other => panic!("expected the reply to {id}, got {other:?}"),
        }
    }

    /// The next chunk for `id` (10 s limit).
    pub async fn chunk(&mut self, id: u64) -> Bytes {
        match self.next_for(id).await.kind {
            Some(server_message::Kind::Chunk(c)) => {
                assert!(!c.data.is_empty(), "server sent an empty chunk for {id}");
                c.data
            }
            other => panic!("expected a chunk for {id}, got {other:?}"),
        }
    }

    /// Asserts that request `id` stays unanswered for [`QUIET`].
    pub async fn expect_blocked(&mut self, id: u64) {
        if let Some(r) = self.reply_within(id, QUIET).await {
            panic!("request {id} should still be waiting, but got {r:?}");
        }
    }

    /// The reply to `id` as a complete value (first piece plus chunks joined).
    pub async fn value(&mut self, id: u64) -> Got {
        let reply = self.reply(id).await;
        self.complete(reply).await
    }

    /// Completes a value reply by reading its chunks.
    pub async fn complete(&mut self, reply: pb::Reply) -> Got {
        let id = reply.id;
        let vr = expect_value(&reply).clone();
        let mut value = vr.value.clone().expect("ValueReply.value is set");
        let total = usize::try_from(value.total_size).expect("total_size fits usize");
        assert!(
            value.data.len() <= total,
            "first piece longer than total_size"
        );
        assert!(value.data.len() <= 1 << 20, "server piece over 1 MiB");
        if value.data.len() < total {
            let mut buf = Vec::with_capacity(total);
            buf.extend_from_slice(&value.data);
            while buf.len() < total {
                let c = self.chunk(id).await;
                assert!(c.len() <= 1 << 20, "server chunk over 1 MiB");
                buf.extend_from_slice(&c);
            }
            assert_eq!(buf.len(), total, "chunks overran total_size");
            value.data = buf.into();
        }
        Got {
            value,
            lease_id: vr.lease_id,
            cursor: vr.cursor,
        }
    }

    /// Waits (10 s) for the stream to end and returns how it ended. Messages
    /// still unread are kept.
    pub async fn end(&mut self) -> Result<(), Status> {
        if let Some(end) = &self.ended {
            return end.clone();
        }
        loop {
            match bounded("the stream to end", self.events.recv()).await {
                None => panic!("session reader gone"),
                Some(Event::End(end)) => {
                    self.ended = Some(end.clone());
                    return end;
                }
                Some(Event::Msg(msg)) => self
                    .stash
                    .entry(message_id(&msg))
                    .or_default()
                    .push_back(msg),
            }
        }
    }

    /// Waits for the stream to end with an error status and returns the
    /// status and the `nws.v1.Error` decoded from its details.
    pub async fn end_error(&mut self) -> (Status, pb::Error) {
        match self.end().await {
            Ok(()) => {
                panic!("stream ended with OK, expected an error status with nws.v1.Error details")
            }
            Err(status) => {
                let err = pb::Error::decode(status.details()).unwrap_or_else(|e| {
                    panic!("status details are not an nws.v1.Error ({e}): {status:?}")
                });
                (status, err)
            }
        }
    }

    /// Asserts the stream ends with `code` and details `Error{reason}`.
    pub async fn expect_stream_error(&mut self, code: tonic::Code, reason: Reason) -> pb::Error {
        let (status, err) = self.end_error().await;
        assert_eq!(status.code(), code, "status code; status was {status:?}");
        assert_eq!(
            err.reason(),
            reason,
            "reason in status details; error was {err:?}"
        );
        err
    }

    /// Whether a message for `id` is already buffered (arrived, unread).
    pub fn has_buffered(&self, id: u64) -> bool {
        self.stash.get(&id).is_some_and(|q| !q.is_empty())
    }

    /// Ends the session cleanly: half-closes the request stream and waits for
    /// the server to complete the stream.
    pub async fn close(mut self) -> Result<(), Status> {
        self.out = None;
        self.end().await
    }

    // ----- conveniences ---------------------------------------------------

    /// Hello with a label; returns the HelloReply.
    pub async fn hello(&mut self, client: &str) -> pb::HelloReply {
        let reply = self.call(ops::hello(client)).await;
        match reply.result {
            Some(reply::Result::Hello(h)) => h,
            other => panic!("expected HelloReply, got {other:?}"),
        }
    }

    /// openWs; returns the WorkspaceReply.
    pub async fn open(&mut self, ws: &str) -> pb::WorkspaceReply {
        let reply = self.call(ops::open(ws)).await;
        expect_workspace(&reply).clone()
    }

    /// Sends an open/use/mktemp op and returns its WorkspaceReply.
    pub async fn expect_open(&mut self, op: request::Op) -> pb::WorkspaceReply {
        let reply = self.call(op).await;
        expect_workspace(&reply).clone()
    }

    /// useWs; returns the WorkspaceReply.
    pub async fn use_ws(&mut self, ws: &str) -> pb::WorkspaceReply {
        let reply = self.call(ops::use_ws(ws)).await;
        expect_workspace(&reply).clone()
    }

    /// Stores a TEXT value and expects Done.
    pub async fn store_text(&mut self, ws: &str, var: &str, text: &str) {
        let reply = self.call(ops::store(ws, var, text_value(text))).await;
        expect_done(&reply);
    }

    /// declare, expecting Done.
    pub async fn declare(&mut self, ws: &str, var: &str, mode: pb::Mode) {
        let reply = self.call(ops::declare(ws, var, mode)).await;
        expect_done(&reply);
    }

    /// fetch without lease; returns the text.
    pub async fn fetch_text(&mut self, ws: &str, var: &str) -> String {
        let id = self.start(ops::fetch_no_lease(ws, var)).await;
        let got = self.value(id).await;
        assert_eq!(got.lease_id, 0, "no_lease fetch must not lease");
        got.text()
    }

    /// fetchTry without lease; `None` for Nothing.
    pub async fn fetch_try_text(&mut self, ws: &str, var: &str) -> Option<String> {
        let reply = self.call(ops::fetch_try(ws, var)).await;
        if is_nothing(&reply) {
            return None;
        }
        let got = self.complete(reply).await;
        if got.lease_id != 0 {
            self.ack(&[got.lease_id]).await;
        }
        Some(got.text())
    }

    /// findTry; `None` for Nothing.
    pub async fn find_try_text(&mut self, ws: &str, var: &str) -> Option<String> {
        let reply = self.call(ops::find_try(ws, var)).await;
        if is_nothing(&reply) {
            return None;
        }
        Some(self.complete(reply).await.text())
    }

    /// listVars.
    pub async fn list_vars(&mut self, ws: &str) -> Vec<pb::VariableInfo> {
        let reply = self.call(ops::list_vars(ws)).await;
        match reply.result {
            Some(reply::Result::Variables(v)) => v.variables,
            other => panic!("expected VariableList, got {other:?}"),
        }
    }

    /// One variable of a listing, if present.
    pub async fn var_info(&mut self, ws: &str, var: &str) -> Option<pb::VariableInfo> {
        self.list_vars(ws).await.into_iter().find(|v| v.name == var)
    }

    /// listWss.
    pub async fn list_wss(&mut self) -> Vec<pb::WorkspaceInfo> {
        let reply = self.call(ops::list_wss()).await;
        match reply.result {
            Some(reply::Result::Workspaces(w)) => w.workspaces,
            other => panic!("expected WorkspaceList, got {other:?}"),
        }
    }

    /// Waits (bounded) until `ws`/`var` shows exactly these waiter counts, so a
    /// test knows requests sent on other streams have been registered.
    pub async fn wait_for_waiters(&mut self, ws: &str, var: &str, fetchers: u64, finders: u64) {
        let start = Instant::now();
        loop {
            let info = self.var_info(ws, var).await;
            if info.as_ref().map_or((0, 0), |v| (v.fetchers, v.finders)) == (fetchers, finders) {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "{ws}/{var} never showed {fetchers} fetchers and {finders} finders (last: {info:?})"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (bounded) until workspace `ws` is listed (`present`) or not.
    pub async fn wait_for_ws(&mut self, ws: &str, present: bool) {
        let start = Instant::now();
        while self.ws_info(ws).await.is_some() != present {
            assert!(
                start.elapsed() < WAIT,
                "workspace {ws:?} never became {}",
                if present { "listed" } else { "unlisted" }
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// One workspace of a listing, if present.
    pub async fn ws_info(&mut self, ws: &str) -> Option<pb::WorkspaceInfo> {
        self.list_wss().await.into_iter().find(|w| w.name == ws)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Dropping the reader drops the response stream: the HTTP/2 stream is
        // reset and the server ends the session.
        self.reader.abort();
    }
}

/// A complete value received from the server.
#[derive(Debug, Clone)]
pub struct Got {
    /// The value with all its bytes.
    pub value: pb::Value,
    /// `ValueReply.lease_id`.
    pub lease_id: u64,
    /// `ValueReply.cursor`.
    pub cursor: Option<pb::Cursor>,
}

impl Got {
    /// The value as text (asserting kind TEXT).
    pub fn text(&self) -> String {
        assert_eq!(self.value.kind(), pb::ValueKind::Text, "value kind");
        String::from_utf8(self.value.data.to_vec()).expect("TEXT value is UTF-8")
    }
}

/// The id a server message belongs to.
pub fn message_id(msg: &pb::ServerMessage) -> u64 {
    match &msg.kind {
        Some(server_message::Kind::Reply(r)) => r.id,
        Some(server_message::Kind::Chunk(c)) => c.id,
        None => panic!("server sent an empty ServerMessage"),
    }
}

/// A `ClientMessage` carrying one request.
pub fn request_msg(id: u64, op: request::Op) -> pb::ClientMessage {
    pb::ClientMessage {
        kind: Some(client_message::Kind::Request(pb::Request {
            id,
            op: Some(op),
        })),
    }
}

// ---------------------------------------------------------------------------
// Reply checks
// ---------------------------------------------------------------------------

/// Asserts the reply is an error with `reason`; returns the error.
pub fn expect_reason(reply: &pb::Reply, reason: Reason) -> pb::Error {
    match &reply.result {
        Some(reply::Result::Error(e)) => {
            assert_eq!(
                e.reason(),
                reason,
                "reply {} error reason (message: {:?})",
                reply.id,
                e.message
            );
            assert!(!e.message.is_empty(), "error replies carry a message");
            e.clone()
        }
        other => panic!(
            "reply {}: expected error {reason:?}, got {other:?}",
            reply.id
        ),
    }
}

/// Asserts the reply is `Done`.
pub fn expect_done(reply: &pb::Reply) {
    match &reply.result {
        Some(reply::Result::Done(_)) => {}
        other => panic!("reply {}: expected Done, got {other:?}", reply.id),
    }
}

/// Asserts the reply is `Nothing`.
pub fn expect_nothing(reply: &pb::Reply) {
    assert!(
        is_nothing(reply),
        "reply {}: expected Nothing, got {:?}",
        reply.id,
        reply.result
    );
}

/// Whether the reply is `Nothing`.
pub fn is_nothing(reply: &pb::Reply) -> bool {
    matches!(reply.result, Some(reply::Result::Nothing(_)))
}

/// Asserts the reply is a `ValueReply` and returns it.
pub fn expect_value(reply: &pb::Reply) -> &pb::ValueReply {
    match &reply.result {
        Some(reply::Result::Value(v)) => v,
        other => panic!("reply {}: expected a value, got {other:?}", reply.id),
    }
}

/// The text of a small (unchunked) TEXT value reply.
pub fn text_of(reply: &pb::Reply) -> String {
    let v = expect_value(reply)
        .value
        .as_ref()
        .expect("ValueReply.value is set");
    assert_eq!(v.kind(), pb::ValueKind::Text, "value kind");
    assert_eq!(
        v.total_size as usize,
        v.data.len(),
        "text_of needs an unchunked value"
    );
    String::from_utf8(v.data.to_vec()).expect("TEXT value is UTF-8")
}

/// Asserts the reply is a `WorkspaceReply` and returns it.
pub fn expect_workspace(reply: &pb::Reply) -> &pb::WorkspaceReply {
    match &reply.result {
        Some(reply::Result::Workspace(w)) => w,
        other => panic!("reply {}: expected WorkspaceReply, got {other:?}", reply.id),
    }
}

// ---------------------------------------------------------------------------
// Values and ops
// ---------------------------------------------------------------------------

/// A complete TEXT value.
pub fn text_value(s: &str) -> pb::Value {
    pb::Value {
        kind: pb::ValueKind::Text as i32,
        codec: String::new(),
        total_size: s.len() as u64,
        data: Bytes::copy_from_slice(s.as_bytes()),
    }
}

/// A complete RAW value.
pub fn raw_value(data: impl Into<Bytes>) -> pb::Value {
    let data = data.into();
    pb::Value {
        kind: pb::ValueKind::Raw as i32,
        codec: String::new(),
        total_size: data.len() as u64,
        data,
    }
}

/// A complete BLOB value.
pub fn blob_value(codec: &str, data: impl Into<Bytes>) -> pb::Value {
    let data = data.into();
    pb::Value {
        kind: pb::ValueKind::Blob as i32,
        codec: codec.into(),
        total_size: data.len() as u64,
        data,
    }
}

/// Builders for `request::Op`.
pub mod ops {
    use super::*;

    /// Hello.
    pub fn hello(client: &str) -> request::Op {
        request::Op::Hello(pb::Hello {
            client: client.into(),
            protocol_version: 1,
        })
    }
    /// openWs.
    pub fn open(name: &str) -> request::Op {
        request::Op::OpenWorkspace(pb::OpenWorkspace {
            name: name.into(),
            ..Default::default()
        })
    }
    /// openWs, persistent.
    pub fn open_persistent(name: &str) -> request::Op {
        request::Op::OpenWorkspace(pb::OpenWorkspace {
            name: name.into(),
            persistent: true,
            ..Default::default()
        })
    }
    /// useWs.
    pub fn use_ws(name: &str) -> request::Op {
        request::Op::OpenWorkspace(pb::OpenWorkspace {
            name: name.into(),
            use_only: true,
            ..Default::default()
        })
    }
    /// Any OpenWorkspace.
    pub fn open_with(
        name: &str,
        use_only: bool,
        must_exist: bool,
        persistent: bool,
    ) -> request::Op {
        request::Op::OpenWorkspace(pb::OpenWorkspace {
            name: name.into(),
            use_only,
            must_exist,
            persistent,
        })
    }
    /// mktempWs.
    pub fn mktemp(template: &str, persistent: bool) -> request::Op {
        request::Op::MktempWorkspace(pb::MktempWorkspace {
            template: template.into(),
            persistent,
        })
    }
    /// deleteWs.
    pub fn delete_ws(name: &str) -> request::Op {
        request::Op::DeleteWorkspace(pb::DeleteWorkspace { name: name.into() })
    }
    /// listWss.
    pub fn list_wss() -> request::Op {
        request::Op::ListWorkspaces(pb::ListWorkspaces {})
    }
    /// declare.
    pub fn declare(ws: &str, var: &str, mode: pb::Mode) -> request::Op {
        declare_raw(ws, var, mode as i32)
    }
    /// declare with any mode number.
    pub fn declare_raw(ws: &str, var: &str, mode: i32) -> request::Op {
        request::Op::Declare(pb::Declare {
            workspace: ws.into(),
            variable: var.into(),
            mode,
        })
    }
    /// store.
    pub fn store(ws: &str, var: &str, value: pb::Value) -> request::Op {
        request::Op::Store(pb::Store {
            workspace: ws.into(),
            variable: var.into(),
            value: Some(value),
        })
    }
    /// store of a TEXT value.
    pub fn store_text(ws: &str, var: &str, text: &str) -> request::Op {
        store(ws, var, text_value(text))
    }
    /// fetch (leased, waits forever).
    pub fn fetch(ws: &str, var: &str) -> request::Op {
        request::Op::Fetch(pb::Fetch {
            workspace: ws.into(),
            variable: var.into(),
            ..Default::default()
        })
    }
    /// fetch with `no_lease`.
    pub fn fetch_no_lease(ws: &str, var: &str) -> request::Op {
        request::Op::Fetch(pb::Fetch {
            workspace: ws.into(),
            variable: var.into(),
            no_lease: true,
            ..Default::default()
        })
    }
    /// fetch with a timeout (leased).
    pub fn fetch_timeout(ws: &str, var: &str, ms: u64) -> request::Op {
        request::Op::Fetch(pb::Fetch {
            workspace: ws.into(),
            variable: var.into(),
            timeout_ms: Some(ms),
            ..Default::default()
        })
    }
    /// fetchTry (leased).
    pub fn fetch_try(ws: &str, var: &str) -> request::Op {
        request::Op::Fetch(pb::Fetch {
            workspace: ws.into(),
            variable: var.into(),
            try_only: true,
            ..Default::default()
        })
    }
    /// find (waits forever).
    pub fn find(ws: &str, var: &str) -> request::Op {
        request::Op::Find(pb::Find {
            workspace: ws.into(),
            variable: var.into(),
            ..Default::default()
        })
    }
    /// find with a timeout.
    pub fn find_timeout(ws: &str, var: &str, ms: u64) -> request::Op {
        request::Op::Find(pb::Find {
            workspace: ws.into(),
            variable: var.into(),
            timeout_ms: Some(ms),
            ..Default::default()
        })
    }
    /// findTry.
    pub fn find_try(ws: &str, var: &str) -> request::Op {
        request::Op::Find(pb::Find {
            workspace: ws.into(),
            variable: var.into(),
            try_only: true,
            ..Default::default()
        })
    }
    /// deleteVar.
    pub fn delete_var(ws: &str, var: &str) -> request::Op {
        request::Op::DeleteVar(pb::DeleteVar {
            workspace: ws.into(),
            variable: var.into(),
        })
    }
    /// listVars.
    pub fn list_vars(ws: &str) -> request::Op {
        request::Op::ListVars(pb::ListVars {
            workspace: ws.into(),
        })
    }
    /// One iterator step (leased for IFETCH kinds).
    pub fn iterate(
        ws: &str,
        var: &str,
        kind: pb::IterKind,
        cursor: Option<pb::Cursor>,
    ) -> request::Op {
        request::Op::Iterate(pb::Iterate {
            workspace: ws.into(),
            variable: var.into(),
            kind: kind as i32,
            cursor,
            ..Default::default()
        })
    }
    /// Any iterator step.
    pub fn iterate_with(
        ws: &str,
        var: &str,
        kind: i32,
        cursor: Option<pb::Cursor>,
        timeout_ms: Option<u64>,
        no_lease: bool,
    ) -> request::Op {
        request::Op::Iterate(pb::Iterate {
            workspace: ws.into(),
            variable: var.into(),
            kind,
            cursor,
            timeout_ms,
            no_lease,
        })
    }
}

// ---------------------------------------------------------------------------
// Proxy: cut or freeze a connection
// ---------------------------------------------------------------------------

/// A one-connection TCP forwarder between a client and the server.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    freeze: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Forwards the first connection to `addr` to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (freeze, frozen) = watch::channel(false);
        let task = tokio::spawn(async move {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let Ok(server) = TcpStream::connect(target).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let up = pump(cr, sw, frozen.clone());
            let down = pump(sr, cw, frozen);
            let _ = tokio::join!(up, down);
        });
        Proxy { addr, freeze, task }
    }

    /// Closes both sockets at once, as the kernel does when a process dies.
    pub fn kill(&self) {
        self.task.abort();
    }

    /// Stops forwarding in both directions but keeps both sockets open, as
    /// when a network cable is pulled: no FIN, no RST, no bytes.
    pub fn freeze(&self) {
        let _ = self.freeze.send(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let read = tokio::select! {
            biased;
            _ = frozen.wait_for(|f| *f) => None,
            n = from.read(&mut buf) => Some(n),
        };
        match read {
            // Frozen: hold both halves forever, so the connection stays open
            // but silent.
            None => std::future::pending::<()>().await,
            Some(Ok(0) | Err(_)) => {
                let _ = to.shutdown().await;
                return;
            }
            Some(Ok(n)) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
