//! # nws-conformance: the conformance suite's Rust executor
//!
//! One process plays one session of a conformance case through the public
//! `nws` crate. It reads steps as JSON lines on stdin
//! (`{"id": 7, "op": "fetch", "ws": "w", "var": "x"}`) and answers each with
//! one JSON line on stdout (`{"id": 7, "result": {...}}`). Every step runs
//! in its own task, so the runner may leave a step outstanding (a blocked
//! fetch) and send more: replies come in completion order, routed by id.
//! The protocol is described in `conformance-tests/README.md`.
//!
//! Module map (one file):
//! - `main`: the stdin loop, job bookkeeping, `cancel` (drops a job's
//!   future, which makes the client send `Cancel`).
//! - `run`: one step against the client.
//! - value helpers: building values from step specs, reporting received
//!   values (text, raw, decoded `rust/cbor`, or an undecodable blob).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use nws::{
    Cursor, Error, IterKind, Lease, Mode, OpenOptions, Server, Value, ValueStream, Workspace,
};
use serde_json::{Value as Json, json};
use std::io::{BufRead, Write};
use tokio::sync::mpsc;

/// Values up to this many bytes are reported in full; longer ones as a digest.
const INLINE_LIMIT: usize = 4096;

/// What the executor's steps share.
#[derive(Default)]
struct State {
    /// The session (None before `connect` and after `reset`).
    server: Option<Server>,
    /// Workspace handles by name, from open/use/mktemp/handle.
    handles: HashMap<String, Workspace>,
    /// Iterators by the case's name for them. A tokio mutex: a step holds
    /// its iterator across the await of the step.
    iters: HashMap<String, Arc<tokio::sync::Mutex<Iter>>>,
    /// Leases from `fetch_leased`, by the case's name for them.
    leases: HashMap<String, Lease>,
    /// Steps still running, by request id: whoever removes the entry
    /// (the step finishing, or `cancel`) sends the reply, exactly once.
    /// For an iterator step, also the iterator's name.
    jobs: HashMap<u64, (tokio::task::AbortHandle, Option<String>)>,
}

/// An iterator: the client's stream, or explicit steps with a deadline.
enum Iter {
    Stream(ValueStream),
    Steps {
        ws: Workspace,
        var: String,
        kind: IterKind,
        cursor: Cursor,
        timeout: Option<Duration>,
        ended: bool,
    },
}

type Shared = Arc<Mutex<State>>;

fn lock(s: &Shared) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A failure of the harness itself (bad step, missing handle), not of NWS.
fn harness(msg: impl Into<String>) -> Json {
    json!({"harness_error": msg.into()})
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // stdin and stdout are served by plain threads (the workspace's tokio
    // has no io-std feature).
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    let writer = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        while let Some(line) = out_rx.blocking_recv() {
            let mut out = stdout.lock();
            if writeln!(out, "{line}").is_err() || out.flush().is_err() {
                break;
            }
        }
    });
    let (in_tx, mut in_rx) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) => {
                    if in_tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    let caps = [
        "concurrent",
        "lease",
        "cancel",
        "iter_timeout",
        "server_info",
        "hello_label",
        "handle_without_open",
        "nul_strings",
    ];
    let _ = out_tx.send(json!({"ready": true, "lang": "rust", "caps": caps}).to_string());

    let state: Shared = Arc::default();
    while let Some(line) = in_rx.recv().await {
        if line.trim().is_empty() {
            continue;
        }
        let req: Json = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let _ =
                    out_tx.send(json!({"id": null, "result": harness(e.to_string())}).to_string());
                continue;
            }
        };
        let id = req["id"].as_u64().unwrap_or(0);
        let op = req["op"].as_str().unwrap_or("").to_owned();
        if op == "cancel" {
            // Drop the job's future: the client withdraws its request.
            let job = req["job"].as_u64().unwrap_or(0);
            let handle = {
                let mut g = lock(&state);
                let h = g.jobs.remove(&job);
                // Giving up an iterator step means giving up the iterator:
                // the step's request lives in the stream, and dropping the
                // stream withdraws it (dropping only `next()` would leave it
                // waiting for a later `next()`).
                if let Some((_, Some(it))) = &h {
                    g.iters.remove(it);
                }
                h
            };
            let result = match handle {
                Some((h, _)) => {
                    h.abort();
                    let _ =
                        out_tx.send(json!({"id": job, "result": {"cancelled": true}}).to_string());
                    json!({"ok": true})
                }
                None => json!({"ok": true, "note": "job already answered"}),
            };
            let _ = out_tx.send(json!({"id": id, "result": result}).to_string());
            continue;
        }
        if op == "exit" {
            break;
        }
        let op_name = op.clone();
        let it_name = req["it"].as_str().unwrap_or("").to_owned();
        let st = Arc::clone(&state);
        let tx = out_tx.clone();
        // Hold the lock while registering so the task cannot finish first.
        let mut guard = lock(&state);
        let task = tokio::spawn(async move {
            let result = run(&st, &op, &req).await;
            let mine = lock(&st).jobs.remove(&id).is_some();
            if mine {
                let _ = tx.send(json!({"id": id, "result": result}).to_string());
            }
        });
        let it = (op_name == "next").then_some(it_name);
        guard.jobs.insert(id, (task.abort_handle(), it));
        drop(guard);
    }
    drop(out_tx);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
}

fn s<'a>(req: &'a Json, key: &str) -> &'a str {
    req[key].as_str().unwrap_or("")
}

fn flag(req: &Json, key: &str, default: bool) -> bool {
    req[key].as_bool().unwrap_or(default)
}

fn timeout(req: &Json) -> Option<Duration> {
    req["timeout_ms"].as_u64().map(Duration::from_millis)
}

fn server(st: &Shared) -> Result<Server, Json> {
    lock(st)
        .server
        .clone()
        .ok_or_else(|| harness("not connected"))
}

fn handle(st: &Shared, req: &Json) -> Result<Workspace, Json> {
    let name = s(req, "ws");
    lock(st).handles.get(name).cloned().ok_or_else(|| {
        harness(format!(
            "no handle for workspace {name:?}: open, use or handle it first"
        ))
    })
}

fn ws_report(ws: &Workspace) -> Json {
    json!({"name": ws.name(), "created": ws.created(), "owned": ws.owned(), "persistent": ws.persistent()})
}

fn mode(name: &str) -> Mode {
    match name {
        "fifo" => Mode::Fifo,
        "lifo" => Mode::Lifo,
        "multi" => Mode::Multi,
        "single" => Mode::Single,
        // "unknown", or anything else: MODE_UNSPECIFIED on the wire.
        _ => Mode::Unknown,
    }
}

/// Runs one step; the JSON result the runner checks. A panic inside the
/// client is reported as such (the step's task would otherwise die silently).
async fn run(st: &Shared, op: &str, req: &Json) -> Json {
    use futures::FutureExt as _;
    match std::panic::AssertUnwindSafe(step(st, op, req))
        .catch_unwind()
        .await
    {
        Ok(Ok(v)) => v,
        Ok(Err(StepErr::Json(j))) => j,
        Ok(Err(StepErr::Nws(e))) => error_report(&e),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            json!({"error": {"reason": null, "kind": "panic", "classes": ["panic"], "message": msg}})
        }
    }
}

enum StepErr {
    Json(Json),
    Nws(Error),
}

impl From<Json> for StepErr {
    fn from(j: Json) -> Self {
        StepErr::Json(j)
    }
}

impl From<Error> for StepErr {
    fn from(e: Error) -> Self {
        StepErr::Nws(e)
    }
}

async fn step(st: &Shared, op: &str, req: &Json) -> Result<Json, StepErr> {
    let ok = json!({"ok": true});
    match op {
        "connect" => {
            let addr = s(req, "addr");
            let server = match req["label"].as_str() {
                Some(label) => Server::connect_as(addr, label).await?,
                None => Server::connect(addr).await?,
            };
            lock(st).server = Some(server);
            Ok(ok)
        }
        "reset" => {
            let me = req["id"].as_u64().unwrap_or(0);
            let old = {
                let mut g = lock(st);
                let others: Vec<u64> = g.jobs.keys().copied().filter(|&id| id != me).collect();
                for id in others {
                    if let Some((h, _)) = g.jobs.remove(&id) {
                        h.abort();
                    }
                }
                g.handles.clear();
                g.iters.clear();
                g.leases.clear();
                g.server.take()
            };
            if let Some(server) = old {
                server.close().await;
            }
            Ok(ok)
        }
        "close" => {
            let server = server(st)?;
            server.close().await;
            Ok(ok)
        }
        "server_info" => {
            let server = server(st)?;
            let i = server.info();
            Ok(json!({"info": {
                "server": i.server,
                "protocol_version": i.protocol_version,
                "session_id": i.session_id,
                "max_chunk_size": i.max_chunk_size,
                "max_value_size": i.max_value_size,
            }}))
        }
        "open" | "use" => {
            let server = server(st)?;
            let options = OpenOptions {
                persistent: flag(req, "persistent", false),
                must_exist: !flag(req, "create", true),
                use_only: op == "use",
            };
            let ws = server.open_ws_with(s(req, "ws"), options).await?;
            let report = ws_report(&ws);
            lock(st).handles.insert(s(req, "ws").to_owned(), ws);
            Ok(json!({"ws": report}))
        }
        "handle" => {
            let server = server(st)?;
            let ws = server.workspace(s(req, "ws"));
            lock(st).handles.insert(s(req, "ws").to_owned(), ws);
            Ok(ok)
        }
        "mktemp" => {
            let server = server(st)?;
            let ws = server
                .mktemp_ws_with(req["template"].as_str(), flag(req, "persistent", false))
                .await?;
            let report = ws_report(&ws);
            let name = ws.name().to_owned();
            lock(st).handles.insert(name.clone(), ws);
            Ok(json!({"name": name, "ws": report}))
        }
        "delete_ws" => {
            server(st)?.delete_ws(s(req, "ws")).await?;
            Ok(ok)
        }
        "list_wss" => {
            let l = server(st)?.list_wss().await?;
            let wss: Vec<Json> = l
                .into_iter()
                .map(|w| {
                    json!({"name": w.name, "owner": w.owner, "persistent": w.persistent,
                           "variable_count": w.variable_count, "mine": w.mine})
                })
                .collect();
            Ok(json!({"wss": wss}))
        }
        "declare" => {
            handle(st, req)?
                .declare(s(req, "var"), mode(s(req, "mode")))
                .await?;
            Ok(ok)
        }
        "store" => {
            let v = make_value(&req["value"])?;
            handle(st, req)?.store(s(req, "var"), v).await?;
            Ok(ok)
        }
        "fetch" | "find" => {
            let ws = handle(st, req)?;
            let var = s(req, "var");
            let v = match (op, timeout(req)) {
                ("fetch", None) => ws.fetch(var).await?,
                ("fetch", Some(t)) => ws.fetch_timeout(var, t).await?,
                (_, None) => ws.find(var).await?,
                (_, Some(t)) => ws.find_timeout(var, t).await?,
            };
            Ok(report(v))
        }
        "relay" => {
            // Fetch a value and store it again as received (a blob keeps its
            // codec and bytes: the client never decodes on fetch).
            let ws = handle(st, req)?;
            let v = ws.fetch(s(req, "var")).await?;
            let how = match &v {
                Value::Blob { codec, .. }
                    if codec != nws::RUST_CBOR && codec != nws::serde_value::JSON =>
                {
                    "undecodable"
                }
                _ => "decoded",
            };
            ws.store(s(req, "to"), v).await?;
            Ok(json!({"ok": true, "relayed": how}))
        }
        "fetch_try" | "find_try" => {
            let ws = handle(st, req)?;
            let var = s(req, "var");
            let v = if op == "fetch_try" {
                ws.fetch_try(var).await?
            } else {
                ws.find_try(var).await?
            };
            Ok(v.map(report).unwrap_or_else(|| json!({"nothing": true})))
        }
        "fetch_leased" => {
            let ws = handle(st, req)?;
            let (v, lease) = ws.fetch_leased(s(req, "var")).await?;
            lock(st).leases.insert(s(req, "lease").to_owned(), lease);
            Ok(report(v))
        }
        "ack" | "release" => {
            let lease = lock(st).leases.remove(s(req, "lease"));
            let Some(lease) = lease else {
                return Err(harness(format!("no lease {:?}", s(req, "lease"))).into());
            };
            if op == "ack" {
                lease.ack()?;
            } else {
                lease.release();
            }
            Ok(ok)
        }
        "delete_var" => {
            handle(st, req)?.delete_var(s(req, "var")).await?;
            Ok(ok)
        }
        "list_vars" => {
            let l = handle(st, req)?.list_vars().await?;
            let vars: Vec<Json> = l
                .into_iter()
                .map(|v| {
                    json!({"name": v.name, "mode": v.mode.as_str(), "value_count": v.value_count,
                           "fetchers": v.fetchers, "finders": v.finders})
                })
                .collect();
            Ok(json!({"vars": vars}))
        }
        "iter" => {
            let ws = handle(st, req)?;
            let var = s(req, "var");
            let kind = match s(req, "kind") {
                "ifetch" => IterKind::Ifetch,
                "ifetchTry" => IterKind::IfetchTry,
                "ifind" => IterKind::Ifind,
                "ifindTry" => IterKind::IfindTry,
                other => return Err(harness(format!("unknown iterator kind {other:?}")).into()),
            };
            let it = match timeout(req) {
                None => Iter::Stream(match kind {
                    IterKind::Ifetch => ws.ifetch(var),
                    IterKind::IfetchTry => ws.ifetch_try(var),
                    IterKind::Ifind => ws.ifind(var),
                    IterKind::IfindTry => ws.ifind_try(var),
                }),
                Some(t) => Iter::Steps {
                    ws,
                    var: var.to_owned(),
                    kind,
                    cursor: Cursor::default(),
                    timeout: Some(t),
                    ended: false,
                },
            };
            lock(st).iters.insert(
                s(req, "it").to_owned(),
                Arc::new(tokio::sync::Mutex::new(it)),
            );
            Ok(ok)
        }
        "next" => {
            let it = lock(st).iters.get(s(req, "it")).cloned();
            let Some(it) = it else {
                return Err(harness(format!("no iterator {:?}", s(req, "it"))).into());
            };
            let mut it = it.lock().await;
            match &mut *it {
                Iter::Stream(stream) => match stream.next().await {
                    Some(Ok(v)) => Ok(report(v)),
                    Some(Err(e)) => Err(e.into()),
                    None => Ok(json!({"nothing": true})),
                },
                Iter::Steps {
                    ws,
                    var,
                    kind,
                    cursor,
                    timeout,
                    ended,
                } => {
                    if *ended {
                        return Ok(json!({"nothing": true}));
                    }
                    match ws.iterate(var, *kind, *cursor, *timeout).await? {
                        Some((v, next)) => {
                            *cursor = next;
                            Ok(report(v))
                        }
                        None => {
                            *ended = true;
                            Ok(json!({"nothing": true}))
                        }
                    }
                }
            }
        }
        other => Err(harness(format!("unknown op {other:?}")).into()),
    }
}

/// The deterministic bytes of a generated value (same in every executor).
fn generated(size: usize, seed: u64) -> Vec<u8> {
    (0..size as u64)
        .map(|i| ((i * 7 + seed * 13 + (i >> 8)) % 256) as u8)
        .collect()
}

fn generated_text(size: usize, seed: u64) -> String {
    (0..size as u64)
        .map(|i| char::from(32 + ((i * 7 + seed * 13 + (i >> 8)) % 95) as u8))
        .collect()
}

fn unhex(h: &str) -> Result<Vec<u8>, Json> {
    if h.len() % 2 != 0 {
        return Err(harness("odd hex length"));
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).map_err(|e| harness(e.to_string())))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A value from its step spec: text, raw (hex), native (this language's
/// serializer: CBOR of the JSON value), json (a `json` blob), blob (codec
/// and hex), gen (generated text or raw of a given size).
fn make_value(spec: &Json) -> Result<Value, Json> {
    if let Some(t) = spec.get("text") {
        return Ok(Value::from(t.as_str().unwrap_or("")));
    }
    if let Some(h) = spec.get("raw") {
        return Ok(Value::from(unhex(h.as_str().unwrap_or(""))?));
    }
    if let Some(n) = spec.get("native") {
        return nws::serde_value::to_value(n).map_err(|e| harness(e.to_string()));
    }
    if let Some(j) = spec.get("json") {
        return Ok(Value::blob("json", j.to_string().into_bytes()));
    }
    if let Some(b) = spec.get("blob") {
        let codec = b["codec"].as_str().unwrap_or("");
        return Ok(Value::blob(codec, unhex(b["hex"].as_str().unwrap_or(""))?));
    }
    if let Some(g) = spec.get("gen") {
        let size = g["size"].as_u64().unwrap_or(0) as usize;
        let seed = g["seed"].as_u64().unwrap_or(0);
        return Ok(match g["kind"].as_str() {
            Some("text") => Value::from(generated_text(size, seed)),
            _ => Value::from(generated(size, seed)),
        });
    }
    Err(harness(format!("bad value spec {spec}")))
}

/// Size, MD5 and first bytes: how a long value is reported.
fn digest(b: &[u8]) -> Json {
    use md5::Digest as _;
    let md5 = md5::Md5::digest(b);
    json!({"size": b.len(), "md5": hex(&md5), "head": hex(&b[..b.len().min(16)])})
}

/// How a received value is reported: text and raw as such (a digest when
/// long), a `rust/cbor` or `json` blob decoded (the client's serde
/// helper), any other blob as undecodable (the client's codec error).
fn report(v: Value) -> Json {
    match v {
        Value::Text(t) if t.len() <= INLINE_LIMIT => json!({"value": {"text": t}}),
        Value::Text(t) => json!({"value": {"text_digest": digest(t.as_bytes())}}),
        Value::Raw(b) if b.len() <= INLINE_LIMIT => json!({"value": {"raw": hex(&b)}}),
        Value::Raw(b) => json!({"value": {"raw_digest": digest(&b)}}),
        blob => match nws::serde_value::from_value::<Json>(blob) {
            Ok(n) => json!({"value": {"native": n}}),
            Err(e) => error_report(&e),
        },
    }
}

fn error_report(e: &Error) -> Json {
    match e {
        Error::Server { reason, message } => json!({"error": {
            "reason": reason.as_str(), "kind": "server", "classes": ["Error::Server"], "message": message}}),
        Error::Codec(c) => json!({"undecodable": {
            "codec": c.codec,
            "size": c.value.as_ref().map(|v| v.len()).unwrap_or(0),
            "classes": ["Error::Codec"],
            "message": c.message}}),
        Error::Closed => {
            json!({"error": {"reason": null, "kind": "closed", "classes": ["Error::Closed"], "message": e.to_string()}})
        }
        Error::Transport(_) => {
            json!({"error": {"reason": null, "kind": "dropped", "classes": ["Error::Transport"], "message": e.to_string()}})
        }
        other => {
            json!({"error": {"reason": other.reason().map(|r| r.as_str()), "kind": "client", "classes": ["Error"], "message": other.to_string()}})
        }
    }
}
