//! One legacy connection: the handshake, then requests answered in order
//! against the shared [`Store`] (`spec/legacy.md#session`).
//!
//! A connection is one session of the store: it owns the workspaces it
//! `open ws`es first (our ownership rules), and when it closes its owned
//! non-persistent workspaces are purged. A fetched value is leased to the
//! session and acknowledged once its reply has been written to the socket;
//! if the write fails the connection ends and the lease returns the value,
//! so nothing is lost. While a request waits for a value the connection
//! watches the socket: a client that disconnects withdraws its request, as
//! in the original.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::descriptor::{self, DIRECT_STRING};
use super::framing::{self, Cookie, ReadError, Request};
use super::handshake::{self, Negotiated};
use super::listing;
use super::status::{self, status_of};
use crate::Error;
use crate::store::{Cursor, Delivery, IterKind, SessionId, Step, Store};

/// The workspace the original always had; legacy clients use it by default.
pub const DEFAULT_WORKSPACE: &str = "__default";
/// Longest time a connection may take to say its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Values up to this size are written in one piece with their header.
const INLINE_WRITE: usize = 64 << 10;
/// Read buffer per connection.
const READ_BUFFER: usize = 64 << 10;

/// The connection ended (closed, failed, or the server is shutting down).
struct Gone;

/// The answer to one long-reply request.
enum Long {
    /// A value, with the lease to acknowledge once written.
    Value {
        desc: u64,
        data: Bytes,
        cookie: Cookie,
        lease: u64,
    },
    /// "no value available": a Try found nothing or an iterator ended.
    Nothing,
    /// A failure; `iterator` failures carry the message as the value so an
    /// original client does not mistake them for the end of iteration.
    Failed { error: Error, iterator: bool },
}

/// Serves one accepted connection until it closes or the server shuts down.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    store: Store,
    shutdown: watch::Receiver<bool>,
) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "unknown peer".to_string(), |a| a.to_string());
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
    let mut down = shutdown.clone();
    let negotiated = tokio::select! {
        r = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake::accept(&mut rd, &mut wr)) => r,
        () = super::stopped(&mut down) => return,
    };
    let negotiated = match negotiated {
        Ok(Ok(Some(n))) => n,
        Ok(Ok(None)) => {
            tracing::info!(%peer, "legacy client asked for an option we do not offer; refused");
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, ?e, "legacy handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "legacy handshake timed out");
            return;
        }
    };
    if negotiated.kill_server_on_close {
        tracing::info!(%peer, "legacy client asked for KillServerOnClose; ignored");
    }
    let handle = store.open_session(peer.clone());
    // The original always had a `__default` workspace (persistent, unowned).
    let _ = store.open_ws(handle.id(), DEFAULT_WORKSPACE, true, false, true);
    tracing::debug!(session = handle.id(), %peer, ?negotiated, "legacy session started");
    let mut session = Session {
        store: store.clone(),
        sid: handle.id(),
        peer,
        label: None,
        negotiated,
        shutdown,
    };
    loop {
        let read = tokio::select! {
            biased;
            () = super::stopped(&mut down) => break,
            r = framing::read_request(&mut rd, negotiated.metadata_to_server, &store) => r,
        };
        match read {
            Ok(Some(req)) => {
                if session.handle(req, &mut rd, &mut wr).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(ReadError::Io(e)) => {
                tracing::debug!(session = session.sid, error = %e, "legacy connection lost");
                break;
            }
            Err(ReadError::Malformed(why)) => {
                tracing::warn!(session = session.sid, peer = %session.peer, %why, "legacy protocol error; closing");
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
    tracing::debug!(session = handle.id(), "legacy session ended");
    drop(handle);
}

struct Session {
    store: Store,
    sid: SessionId,
    peer: String,
    /// The owner label last set from `open ws`.
    label: Option<String>,
    negotiated: Negotiated,
    shutdown: watch::Receiver<bool>,
}

fn text(b: &Bytes, what: &str) -> Result<String, Error> {
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| Error::InvalidArgument(format!("{what}: not UTF-8")))
}

fn arg(req: &Request, i: usize, what: &str) -> Result<String, Error> {
    match req.args.get(i) {
        Some(b) => text(b, what),
        None => Err(Error::InvalidArgument(format!(
            "{}: missing argument {what}",
            String::from_utf8_lossy(&req.args[0])
        ))),
    }
}

/// Reads the cookie a client sent with an iterator step.
fn cursor_of(req: &Request) -> Cursor {
    let id = req
        .args
        .get(3)
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .unwrap_or_default();
    if id.is_empty() {
        return Cursor::default();
    }
    // An id we never issued matches no variable: the iterator ends.
    let generation = match id.parse::<u64>() {
        Ok(g) if g != 0 => g,
        _ => u64::MAX,
    };
    let last: i64 = req
        .args
        .get(4)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(-1);
    Cursor {
        generation,
        index: u64::try_from(last + 1).unwrap_or(0),
    }
}

/// Resolves when the peer closes its side (or the socket fails). Bytes of a
/// next request arriving instead are left in the buffer and the watch
/// stops (the original never sent a request before the previous reply).
async fn peer_gone<R: AsyncBufRead + Unpin>(r: &mut R) {
    match r.fill_buf().await {
        Ok(b) if !b.is_empty() => std::future::pending().await,
        _ => {}
    }
}

impl Session {
    async fn handle<R, W>(&mut self, req: Request, rd: &mut R, wr: &mut W) -> Result<(), Gone>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let verb = String::from_utf8_lossy(&req.args[0]).into_owned();
        match verb.as_str() {
            "open ws" | "use ws" => {
                let r = self.open(&req, verb == "use ws");
                self.short(wr, r).await
            }
            "delete ws" => {
                let r = arg(&req, 1, "workspace").and_then(|ws| self.store.delete_ws(&ws));
                self.short(wr, r).await
            }
            "declare var" => {
                let r = self.declare(&req);
                self.short(wr, r).await
            }
            "delete var" => {
                let r = arg(&req, 1, "workspace").and_then(|ws| {
                    arg(&req, 2, "variable").and_then(|v| self.store.delete_var(&ws, &v))
                });
                self.short(wr, r).await
            }
            "store" => {
                let r = self.store_value(req);
                self.short(wr, r).await
            }
            "deadman" => {
                tracing::info!(session = self.sid, "legacy deadman request ignored");
                self.short(wr, Ok(())).await
            }
            "list wss" => {
                let only = req
                    .args
                    .get(1)
                    .map(|b| String::from_utf8_lossy(b).into_owned());
                let only = only.filter(|s| !s.is_empty());
                let text = listing::wss_text(&self.store, self.sid, only.as_deref());
                self.long(wr, text_reply(text)).await
            }
            "list vars" => {
                let r = arg(&req, 1, "workspace")
                    .and_then(|ws| self.store.list_vars(&ws))
                    .map(|vars| text_reply(listing::vars_text(&vars)));
                self.long(wr, r.unwrap_or_else(failed)).await
            }
            "mktemp ws" => {
                let r = self.mktemp(&req).map(text_reply);
                self.long(wr, r.unwrap_or_else(failed)).await
            }
            "fetch" | "fetchTry" | "find" | "findTry" | "ifetch" | "ifetchTry" | "ifind"
            | "ifindTry" => {
                let answer = self.get(&verb, &req, rd).await?;
                self.long(wr, answer).await
            }
            _ => {
                tracing::debug!(session = self.sid, %verb, "unknown legacy verb");
                let e = Error::InvalidArgument(format!("unknown verb {verb:?}"));
                self.short(wr, Err(e)).await
            }
        }
    }

    fn open(&mut self, req: &Request, use_only: bool) -> Result<(), Error> {
        let ws = arg(req, 1, "workspace")?;
        let owner = req
            .args
            .get(2)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let persistent = req.args.get(3).is_some_and(|b| b.as_ref() == b"yes");
        let must_exist = req.args.get(4).is_some_and(|b| b.as_ref() == b"no");
        if !use_only && !owner.is_empty() {
            let label = format!("{} ({owner})", self.peer);
            if self.label.as_deref() != Some(label.as_str()) {
                self.store.set_session_label(self.sid, label.clone());
                self.label = Some(label);
            }
        }
        self.store
            .open_ws(self.sid, &ws, use_only, must_exist, persistent)
            .map(|_| ())
    }

    fn declare(&self, req: &Request) -> Result<(), Error> {
        let ws = arg(req, 1, "workspace")?;
        let var = arg(req, 2, "variable")?;
        let mode = arg(req, 3, "mode")?;
        let Some(mode) = listing::parse_mode(&mode) else {
            return Err(Error::InvalidArgument(format!(
                "mode {mode:?}: legacy clients may declare fifo, lifo, multi or single"
            )));
        };
        self.store.declare(&ws, &var, mode)
    }

    fn store_value(&self, req: Request) -> Result<(), Error> {
        let ws = arg(&req, 1, "workspace")?;
        let var = arg(&req, 2, "variable")?;
        let desc = req
            .args
            .get(3)
            .and_then(|b| descriptor::parse_descriptor(b))
            .ok_or_else(|| Error::InvalidArgument("store: bad type descriptor".into()))?;
        let (data, reservation) = req
            .value
            .ok_or_else(|| Error::InvalidArgument("store: missing value".into()))??;
        let value = descriptor::to_value(desc, data)?;
        self.store.store_reserved(&ws, &var, value, reservation)
    }

    fn mktemp(&self, req: &Request) -> Result<String, Error> {
        let template = match req.args.get(1) {
            Some(b) => text(b, "template")?,
            None => "__ws__%d".to_string(),
        };
        let normalized = listing::mktemp_template(&template).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "mktemp: bad template {template:?} (needs exactly one %d)"
            ))
        })?;
        self.store
            .mktemp_ws(self.sid, &normalized, false)
            .map(|w| w.name)
    }

    /// fetch, find, their Try variants and the four iterator steps.
    async fn get<R: AsyncBufRead + Unpin>(
        &mut self,
        verb: &str,
        req: &Request,
        rd: &mut R,
    ) -> Result<Long, Gone> {
        let iterator = verb.starts_with('i');
        let (ws, var) =
            match arg(req, 1, "workspace").and_then(|w| Ok((w, arg(req, 2, "variable")?))) {
                Ok(p) => p,
                Err(error) => return Ok(Long::Failed { error, iterator }),
            };
        let step = match verb {
            "fetch" => self.store.fetch(self.sid, &ws, &var, false),
            "fetchTry" => self.store.fetch(self.sid, &ws, &var, true),
            "find" => self.store.find(self.sid, &ws, &var, false),
            "findTry" => self.store.find(self.sid, &ws, &var, true),
            _ => {
                let kind = match verb {
                    "ifetch" => IterKind::IFetch,
                    "ifetchTry" => IterKind::IFetchTry,
                    "ifind" => IterKind::IFind,
                    _ => IterKind::IFindTry,
                };
                self.store
                    .iterate(self.sid, &ws, &var, kind, cursor_of(req))
            }
        };
        let delivery = match step {
            Ok(Step::Ready(d)) => Ok(d),
            Ok(Step::Wait(pending)) => {
                let mut down = self.shutdown.clone();
                let gone = async {
                    tokio::select! {
                        () = peer_gone(rd) => {}
                        () = super::stopped(&mut down) => {}
                    }
                };
                match pending.resolve(None, gone).await {
                    Err(Error::Cancelled) => return Err(Gone),
                    other => other,
                }
            }
            Err(e) => Err(e),
        };
        Ok(match delivery {
            Ok(Delivery::Nothing) => Long::Nothing,
            Ok(Delivery::Value {
                value,
                lease,
                cursor,
            }) => Long::Value {
                desc: descriptor::from_value(&value),
                data: value.data,
                cookie: cursor.map_or_else(Cookie::default, |c| Cookie {
                    var_id: format!("{:020}", c.generation),
                    index: c.index.saturating_sub(1),
                }),
                lease,
            },
            Err(error) => Long::Failed { error, iterator },
        })
    }

    fn metadata(&self, reason: Option<(&str, &str)>) -> Option<Vec<(&'static str, String)>> {
        if !self.negotiated.metadata_from_server {
            return None;
        }
        Some(match reason {
            Some((name, message)) => vec![
                ("nwsReason", message.to_string()),
                ("nwsError", name.to_string()),
            ],
            None => Vec::new(),
        })
    }

    async fn short<W: AsyncWrite + Unpin>(
        &mut self,
        wr: &mut W,
        r: Result<(), Error>,
    ) -> Result<(), Gone> {
        let (code, message) = match &r {
            Ok(()) => (status::OK, None),
            Err(e) => (
                status_of(e),
                Some((e.reason().as_str_name(), e.to_string())),
            ),
        };
        let meta = self.metadata(message.as_ref().map(|(n, m)| (*n, m.as_str())));
        let meta: Option<Vec<(&str, &str)>> = meta
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (*k, v.as_str())).collect());
        let bytes = framing::short_reply(code, meta.as_deref());
        wr.write_all(&bytes).await.map_err(|_| Gone)?;
        if matches!(r, Err(Error::ShuttingDown)) {
            return Err(Gone);
        }
        Ok(())
    }

    async fn long<W: AsyncWrite + Unpin>(&mut self, wr: &mut W, answer: Long) -> Result<(), Gone> {
        // After a SHUTTING_DOWN answer the connection closes.
        let mut closing = false;
        let (code, desc, data, cookie, lease, reason) = match answer {
            Long::Value {
                desc,
                data,
                cookie,
                lease,
            } => (status::OK, desc, data, cookie, lease, None),
            Long::Nothing => (
                status::FAILED,
                0,
                Bytes::new(),
                Cookie::default(),
                0,
                Some(("NOTHING", "no value available".to_string())),
            ),
            Long::Failed { error, iterator } => {
                let message = error.to_string();
                let (desc, data) = if iterator {
                    (DIRECT_STRING, Bytes::from(message.clone()))
                } else {
                    (0, Bytes::new())
                };
                let name = error.reason().as_str_name();
                closing = matches!(error, Error::ShuttingDown);
                (
                    status_of(&error),
                    desc,
                    data,
                    Cookie::default(),
                    0,
                    Some((name, message)),
                )
            }
        };
        self.write_long(
            wr,
            code,
            desc,
            &data,
            &cookie,
            reason.as_ref().map(|(n, m)| (*n, m.as_str())),
        )
        .await?;
        if lease != 0 {
            self.store.ack(self.sid, &[lease]);
        }
        if closing {
            return Err(Gone);
        }
        Ok(())
    }

    async fn write_long<W: AsyncWrite + Unpin>(
        &self,
        wr: &mut W,
        code: u16,
        desc: u64,
        data: &Bytes,
        cookie: &Cookie,
        reason: Option<(&str, &str)>,
    ) -> Result<(), Gone> {
        let meta = self.metadata(reason);
        let meta: Option<Vec<(&str, &str)>> = meta
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (*k, v.as_str())).collect());
        let cookie = self.negotiated.cookies.then_some(cookie);
        let mut head = framing::long_header(code, desc, cookie, data.len() as u64, meta.as_deref());
        if data.len() <= INLINE_WRITE {
            head.extend_from_slice(data);
            wr.write_all(&head).await.map_err(|_| Gone)?;
        } else {
            wr.write_all(&head).await.map_err(|_| Gone)?;
            wr.write_all(data).await.map_err(|_| Gone)?;
        }
        Ok(())
    }
}

fn text_reply(text: String) -> Long {
    Long::Value {
        desc: DIRECT_STRING,
        data: Bytes::from(text),
        cookie: Cookie::default(),
        lease: 0,
    }
}

fn failed(error: Error) -> Long {
    Long::Failed {
        error,
        iterator: false,
    }
}
