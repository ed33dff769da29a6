//! Harness for the web UI tests: an in-process server (gRPC and web on
//! `127.0.0.1:0`, one [`Store`]), a minimal HTTP/1.1 client over a plain
//! `TcpStream` (so the tests exercise the real listener, headers and
//! all), and a fake translator that speaks the babelfish protocol through
//! the store. Every wait is bounded.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nws_server::store::{Delivery, Step};
use nws_server::value::{Kind, Value};
use nws_server::web::WebConfig;
use nws_server::{Config, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long any single wait may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server with its web UI.
pub struct Web {
    /// gRPC address.
    pub grpc: SocketAddr,
    /// Web UI address.
    pub addr: SocketAddr,
    /// The store both serve.
    pub store: Store,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Web {
    /// Default web settings with a short babelfish deadline.
    pub async fn start() -> Web {
        Web::start_with(WebConfig {
            babelfish_timeout: Duration::from_millis(1500),
            ..WebConfig::default()
        })
        .await
    }

    /// The given web settings.
    pub async fn start_with(config: WebConfig) -> Web {
        let store = Store::new(Default::default());
        let grpc_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let web_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let grpc = grpc_listener.local_addr().expect("addr");
        let addr = web_listener.local_addr().expect("addr");
        let (stop, rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let s = store.clone();
        let r = rx.clone();
        let t1 = tokio::spawn(async move {
            let _ =
                nws_server::run_with_store(grpc_listener, Config::default(), s, stopped(r)).await;
        });
        let s = store.clone();
        let t2 = tokio::spawn(async move {
            nws_server::web::serve(web_listener, s, config, stopped(rx))
                .await
                .expect("web UI runs");
        });
        Web {
            grpc,
            addr,
            store,
            stop,
            tasks: vec![t1, t2],
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Resp {
        request(self.addr, "GET", path, &[], None).await
    }

    /// `GET path` with extra headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        request(self.addr, "GET", path, headers, None).await
    }

    /// `POST path` with a form body (`Accept: application/json`).
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.post_form_with(path, form, &[("Accept", "application/json")])
            .await
    }

    /// `POST path` with a form body and extra headers.
    pub async fn post_form_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        let body = nws_server::web::render::query_string(form);
        let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
        h.extend_from_slice(headers);
        request(self.addr, "POST", path, &h, Some(&body)).await
    }

    /// Opens workspace `ws` owned by a new session (kept alive by the
    /// returned handle) and stores `values` into `var`.
    pub fn open(
        &self,
        label: &str,
        ws: &str,
        persistent: bool,
    ) -> nws_server::store::SessionHandle {
        let session = self.store.open_session(label.into());
        self.store
            .open_ws(session.id(), ws, false, false, persistent)
            .expect("open_ws");
        session
    }

    /// Stores a value.
    pub fn store(&self, ws: &str, var: &str, value: Value) {
        self.store.store(ws, var, value).expect("store");
    }

    /// Stops both servers.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(WAIT, t).await;
        }
    }
}

/// A text value.
pub fn text(s: &str) -> Value {
    Value::new(Kind::Text, String::new(), s.to_string().into()).expect("text")
}

/// A raw value.
pub fn raw(b: &[u8]) -> Value {
    Value::new(Kind::Raw, String::new(), b.to_vec().into()).expect("raw")
}

/// A blob value.
pub fn blob(codec: &str, b: &[u8]) -> Value {
    Value::new(Kind::Blob, codec.into(), b.to_vec().into()).expect("blob")
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lower case.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Resp {
    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    let fut = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req.push_str(&format!("Host: {addr}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = body.unwrap_or("");
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.expect("read");
        parse(&buf)
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{method} {path} took over {WAIT:?}"))
}

fn parse(buf: &[u8]) -> Resp {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..nl])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = nl + 2;
        out.extend_from_slice(&b[start..start + size]);
        b = &b[start + size + 2..];
    }
    out
}

/// A server-sent event stream being read.
pub struct Events {
    stream: TcpStream,
    buf: String,
}

impl Events {
    /// Opens `GET path` and checks it is an event stream.
    pub async fn open(addr: SocketAddr, path: &str) -> Events {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        stream.write_all(req.as_bytes()).await.expect("write");
        let mut ev = Events {
            stream,
            buf: String::new(),
        };
        let head = ev.until("\r\n\r\n", WAIT).await.expect("response head");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("text/event-stream"),
            "{head}"
        );
        ev
    }

    async fn until(&mut self, marker: &str, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(at) = self.buf.find(marker) {
                let out = self.buf[..at + marker.len()].to_string();
                self.buf.drain(..at + marker.len());
                return Some(out);
            }
            let mut chunk = [0u8; 4096];
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => return None,
            };
            self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    }

    /// The name of the next event (skipping keep-alive comments), if one
    /// arrives within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let block = self.until("\n\n", left).await?;
            if let Some(line) = block.lines().find(|l| l.contains("event: ")) {
                let name = line
                    .split("event: ")
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string();
                return Some(name);
            }
        }
    }
}

/// A translator that answers through the store like a real babelfish:
/// opens `ws`, fetches `food`, stores `answer(id, header, payload)` into
/// `doof` (no answer when it returns `None`). Counts requests.
pub struct FakeTranslator {
    /// Requests seen.
    pub requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FakeTranslator {
    /// Starts one on `store`.
    pub fn start(
        store: &Store,
        ws: &str,
        answer: impl Fn(u64, &str, &[u8]) -> Option<String> + Send + 'static,
    ) -> FakeTranslator {
        let store = store.clone();
        let ws = ws.to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = requests.clone();
        let session = store.open_session("fake babelfish".into());
        store
            .open_ws(session.id(), &ws, false, false, false)
            .expect("open translator workspace");
        let task = tokio::spawn(async move {
            let session = session;
            loop {
                let delivery = match store.fetch(session.id(), &ws, "food", false) {
                    Ok(Step::Ready(d)) => d,
                    Ok(Step::Wait(p)) => match p.resolve(None, std::future::pending()).await {
                        Ok(d) => d,
                        Err(_) => return,
                    },
                    Err(_) => return,
                };
                let Delivery::Value { value, lease, .. } = delivery else {
                    continue;
                };
                store.ack(session.id(), &[lease]);
                seen.fetch_add(1, Ordering::SeqCst);
                let data = &value.data[..];
                let nl = data.iter().position(|&b| b == b'\n').expect("header line");
                let header = std::str::from_utf8(&data[..nl]).expect("ascii header");
                let id: u64 = header
                    .split(' ')
                    .nth(2)
                    .expect("id")
                    .parse()
                    .expect("numeric id");
                if let Some(reply) = answer(id, header, &data[nl + 1..]) {
                    let _ = store.store(&ws, "doof", text(&reply));
                }
            }
        });
        FakeTranslator { requests, task }
    }

    /// Requests seen so far.
    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FakeTranslator {
    fn drop(&mut self) {
        self.task.abort();
    }
}
