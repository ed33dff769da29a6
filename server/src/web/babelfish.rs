//! Showing values readably: text and raw bytes by the server itself, blobs
//! by babelfish translators (`spec/babelfish.md`).
//!
//! The server never decodes a blob. For a blob of codec `python/pickle` it
//! acts as a client of the workspace `Python babelfish` (opened by the
//! translator; the server never creates it): it stores a request (the
//! blob's bytes behind a one-line header naming a request id) into the
//! variable `food`, and one dispatcher task per translator workspace
//! fetches the answers from `doof` and hands each to the page request
//! waiting for its id. A page waits at most the configured deadline and
//! then shows a readable fallback (`python/pickle, 412 bytes, no answer
//! from Python babelfish within 2 s`).
//!
//! Answers are cached by (codec, length, keyed hash of the bytes), so a page
//! that updates live asks once per distinct value; identical requests in
//! flight share one answer.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared as SharedFuture};
use tokio::sync::{oneshot, watch};

use crate::store::{Delivery, SessionHandle, Step, Store};
use crate::value::{Kind, Value};

use super::render::thousands;

/// Variable the server stores translation requests into.
pub const FOOD: &str = "food";
/// Variable translators store their answers into.
pub const DOOF: &str = "doof";
/// First word of a request header (`spec/babelfish.md#request`).
pub const MAGIC: &str = "nws-babelfish";
/// Version of the request format.
pub const VERSION: u32 = 1;
/// Most characters of a translation or a text value shown.
pub const MAX_CHARS: usize = 10_000;
/// Bytes of a raw value shown as hex.
pub const HEX_PREVIEW: usize = 256;
/// Largest blob sent to a translator.
pub const MAX_TRANSLATE: u64 = 4 << 20;
/// Most requests left unanswered in a translator's `food` before the server
/// stops adding more (a stuck translator must not fill memory).
pub const MAX_QUEUED: u64 = 64;
/// Translations remembered.
const CACHE_ENTRIES: usize = 2048;

/// How a value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownAs {
    /// A text value (or a `json` blob), as it is.
    Text,
    /// Raw bytes: a hex dump of the first bytes.
    Hex,
    /// A translator's answer.
    Translated,
    /// A translator's error message (e.g. a refused pickle).
    TranslatorError,
    /// No translation: codec, size and why.
    Fallback,
}

impl ShownAs {
    /// The name the JSON API uses.
    pub fn name(self) -> &'static str {
        match self {
            ShownAs::Text => "text",
            ShownAs::Hex => "hex",
            ShownAs::Translated => "translated",
            ShownAs::TranslatorError => "translator-error",
            ShownAs::Fallback => "fallback",
        }
    }
}

/// A value made readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// What to show (not escaped).
    pub text: String,
    /// How it was obtained.
    pub how: ShownAs,
    /// The translator workspace that answered (or was asked).
    pub translator: Option<String>,
    /// `text` is cut short.
    pub truncated: bool,
}

impl Shown {
    fn fallback(value: &Value, translator: Option<&str>, why: &str) -> Shown {
        Shown {
            text: format!("{}, {} bytes, {why}", value.codec, thousands(value.len())),
            how: ShownAs::Fallback,
            translator: translator.map(str::to_string),
            truncated: false,
        }
    }
}

/// A translator language the footer lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translator {
    /// `Python`, `R`, `Rust`, ...
    pub language: String,
    /// Its workspace, `Python babelfish`.
    pub workspace: String,
    /// The workspace exists (a translator has it open).
    pub running: bool,
}

/// The language and translator workspace for a codec: the codec's text
/// before the first `/`, first letter upper case (`python/pickle` →
/// `Python`, `Python babelfish`; `r/serialize` → `R`, `R babelfish`).
///
/// ```
/// use nws_server::web::babelfish::workspace_for;
/// assert_eq!(workspace_for("python/pickle"), Some(("Python".into(), "Python babelfish".into())));
/// assert_eq!(workspace_for("r/serialize").unwrap().1, "R babelfish");
/// assert_eq!(workspace_for("/x"), None);
/// ```
pub fn workspace_for(codec: &str) -> Option<(String, String)> {
    let lang = codec.split('/').next().filter(|l| !l.is_empty())?;
    let mut chars = lang.chars();
    let first = chars.next()?;
    let language: String = first.to_uppercase().chain(chars).collect();
    let ws = format!("{language} babelfish");
    Some((language, ws))
}

/// The request the server stores into `food`: the header line
/// `nws-babelfish 1 <id> <codec> <max_chars>\n`, then the blob's bytes.
///
/// ```
/// use nws_server::web::babelfish::envelope;
/// let e = envelope(7, "python/pickle", b"\x80\x04K\x01.");
/// assert!(e.starts_with(b"nws-babelfish 1 7 python/pickle 10000\n\x80"));
/// ```
pub fn envelope(id: u64, codec: &str, data: &[u8]) -> Bytes {
    let header = format!("{MAGIC} {VERSION} {id} {codec} {MAX_CHARS}\n");
    let mut out = BytesMut::with_capacity(header.len() + data.len());
    out.put_slice(header.as_bytes());
    out.put_slice(data);
    out.freeze()
}

/// Splits an answer `<id> ok|error\n<text>`.
///
/// ```
/// use nws_server::web::babelfish::parse_answer;
/// assert_eq!(parse_answer("7 ok\n{'a': 1}"), Some((7, true, "{'a': 1}")));
/// assert_eq!(parse_answer("8 error\nrefused"), Some((8, false, "refused")));
/// assert_eq!(parse_answer("junk"), None);
/// ```
pub fn parse_answer(text: &str) -> Option<(u64, bool, &str)> {
    let (head, body) = text.split_once('\n').unwrap_or((text, ""));
    let (id, status) = head.trim_end_matches('\r').split_once(' ')?;
    let id = id.parse().ok()?;
    let ok = match status.trim() {
        "ok" => true,
        "error" => false,
        _ => return None,
    };
    Some((id, ok, body))
}

/// Cuts `s` to at most `max` characters; says whether it cut.
fn cut(s: &str, max: usize) -> (String, bool) {
    match s.char_indices().nth(max) {
        Some((at, _)) => (s[..at].to_string(), true),
        None => (s.to_string(), false),
    }
}

/// A hex dump of the first [`HEX_PREVIEW`] bytes, 16 a line, with the
/// printable ASCII beside them.
///
/// ```
/// use nws_server::web::babelfish::hex_preview;
/// assert_eq!(hex_preview(b"NWS\x00\x01"), "00000000  4e 57 53 00 01                                    |NWS..|");
/// ```
pub fn hex_preview(data: &[u8]) -> String {
    let mut out = String::new();
    for (line, chunk) in data.chunks(16).take(HEX_PREVIEW / 16).enumerate() {
        if line > 0 {
            out.push('\n');
        }
        let _ = write!(out, "{:08x} ", line * 16);
        for i in 0..16 {
            if i == 8 {
                out.push(' ');
            }
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, " {b:02x}");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push('|');
    }
    out
}

type Key = (String, u64, u64);

/// Requests waiting for answers from one translator workspace.
#[derive(Default)]
struct Route {
    /// Request id → the page request waiting for it.
    pending: HashMap<u64, oneshot::Sender<(bool, String)>>,
    /// A dispatcher task is fetching `doof` for this workspace.
    running: bool,
}

/// The server's side of the babelfish protocol.
pub struct Babelfish {
    store: Store,
    /// The server's own session (it owns nothing; it fetches `doof`).
    session: SessionHandle,
    timeout: Duration,
    next_id: AtomicU64,
    routes: Mutex<HashMap<String, Route>>,
    cache: Mutex<HashMap<Key, Shown>>,
    inflight: Mutex<HashMap<Key, SharedFuture<BoxFuture<'static, Shown>>>>,
    hasher: RandomState,
    shutdown: watch::Receiver<bool>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Babelfish {
    /// The translator side of the web UI, asking through `store`.
    pub fn new(store: Store, timeout: Duration, shutdown: watch::Receiver<bool>) -> Arc<Self> {
        let session = store.open_session("nws-server web UI".into());
        Arc::new(Babelfish {
            store,
            session,
            timeout,
            next_id: AtomicU64::new(1),
            routes: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
            shutdown,
        })
    }

    /// Forgets every request in flight (when the web UI stops): their
    /// futures hold this struct, which holds the server's session.
    pub fn close(&self) {
        // Taken out first: dropping them locks `routes` (see `Withdraw`).
        let inflight = std::mem::take(&mut *locked(&self.inflight));
        drop(inflight);
        let routes = std::mem::take(&mut *locked(&self.routes));
        drop(routes);
    }

    /// The Python, R and Rust translators and any other running one.
    pub fn translators(&self) -> Vec<Translator> {
        let mut out: Vec<Translator> = ["Python", "R", "Rust"]
            .iter()
            .map(|l| {
                let workspace = format!("{l} babelfish");
                Translator {
                    language: (*l).to_string(),
                    running: self.store.workspace_exists(&workspace),
                    workspace,
                }
            })
            .collect();
        for w in self.store.list_wss(0) {
            if let Some(language) = w.name.strip_suffix(" babelfish") {
                if !out.iter().any(|t| t.workspace == w.name) && !language.is_empty() {
                    out.push(Translator {
                        language: language.to_string(),
                        workspace: w.name.clone(),
                        running: true,
                    });
                }
            }
        }
        out
    }

    /// Makes `value` readable: text as is, raw bytes as hex, a blob by its
    /// translator (or a fallback after the deadline).
    pub async fn show(self: &Arc<Self>, value: &Value) -> Shown {
        match value.kind {
            Kind::Text => {
                let (text, truncated) = cut(&String::from_utf8_lossy(&value.data), MAX_CHARS);
                Shown {
                    text,
                    how: ShownAs::Text,
                    translator: None,
                    truncated,
                }
            }
            Kind::Raw => Shown {
                text: hex_preview(&value.data),
                how: ShownAs::Hex,
                translator: None,
                truncated: value.data.len() > HEX_PREVIEW,
            },
            Kind::Blob if value.codec == "json" => match std::str::from_utf8(&value.data) {
                // JSON is text by definition: showing it decodes nothing.
                Ok(s) => {
                    let (text, truncated) = cut(s, MAX_CHARS);
                    Shown {
                        text,
                        how: ShownAs::Text,
                        translator: None,
                        truncated,
                    }
                }
                Err(_) => Shown::fallback(value, None, "not valid UTF-8"),
            },
            Kind::Blob => self.translate(value).await,
        }
    }

    fn key(&self, value: &Value) -> Key {
        (
            value.codec.clone(),
            value.len(),
            self.hasher.hash_one(&value.data[..]),
        )
    }

    async fn translate(self: &Arc<Self>, value: &Value) -> Shown {
        let Some((_, ws)) = workspace_for(&value.codec) else {
            return Shown::fallback(value, None, "no translator for this codec");
        };
        if value.len() > MAX_TRANSLATE {
            return Shown::fallback(
                value,
                Some(&ws),
                &format!(
                    "too large to translate (over {} bytes)",
                    thousands(MAX_TRANSLATE)
                ),
            );
        }
        let key = self.key(value);
        if let Some(hit) = locked(&self.cache).get(&key) {
            return hit.clone();
        }
        let shared = {
            let mut inflight = locked(&self.inflight);
            inflight
                .entry(key.clone())
                .or_insert_with(|| {
                    let this = self.clone();
                    let value = value.clone();
                    let key = key.clone();
                    async move {
                        let shown = this.ask(&ws, &value).await;
                        if matches!(shown.how, ShownAs::Translated | ShownAs::TranslatorError) {
                            let mut cache = locked(&this.cache);
                            if cache.len() >= CACHE_ENTRIES {
                                cache.clear();
                            }
                            cache.insert(key.clone(), shown.clone());
                        }
                        locked(&this.inflight).remove(&key);
                        shown
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        shared.await
    }

    /// One request to the translator workspace `ws`, with the deadline.
    async fn ask(self: &Arc<Self>, ws: &str, value: &Value) -> Shown {
        if !self.store.workspace_exists(ws) {
            return Shown::fallback(value, Some(ws), "no translator running");
        }
        let queued = self
            .store
            .list_vars(ws)
            .ok()
            .and_then(|vars| vars.into_iter().find(|v| v.name == FOOD))
            .map_or(0, |v| v.value_count);
        if queued >= MAX_QUEUED {
            return Shown::fallback(
                value,
                Some(ws),
                &format!("translator busy ({queued} requests waiting)"),
            );
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut routes = locked(&self.routes);
            let route = routes.entry(ws.to_string()).or_default();
            route.pending.insert(id, tx);
            if !route.running {
                route.running = true;
                tokio::spawn(self.clone().dispatch(ws.to_string()));
            }
        }
        // Withdraws the id however this ends (answer, deadline, dropped page).
        let _withdraw = Withdraw {
            babelfish: self,
            ws,
            id,
        };
        let request = Value {
            kind: Kind::Raw,
            codec: String::new(),
            data: envelope(id, &value.codec, &value.data),
        };
        if self.store.store(ws, FOOD, request).is_err() {
            return Shown::fallback(value, Some(ws), "no translator running");
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok((ok, text))) => {
                let (text, truncated) = cut(&text, MAX_CHARS);
                Shown {
                    text,
                    how: if ok {
                        ShownAs::Translated
                    } else {
                        ShownAs::TranslatorError
                    },
                    translator: Some(ws.to_string()),
                    truncated,
                }
            }
            Ok(Err(_)) => Shown::fallback(value, Some(ws), "translator stopped before answering"),
            Err(_) => Shown::fallback(
                value,
                Some(ws),
                &format!(
                    "no answer from {ws} within {}",
                    human_duration(self.timeout)
                ),
            ),
        }
    }

    /// Fetches answers from `ws`'s `doof` and routes them by id, until no
    /// request is pending (or the workspace goes, or the server stops).
    async fn dispatch(self: Arc<Self>, ws: String) {
        let session = self.session.id();
        loop {
            let mut down = self.shutdown.clone();
            let outcome = match self.store.fetch(session, &ws, DOOF, false) {
                Ok(Step::Ready(d)) => Ok(d),
                Ok(Step::Wait(p)) => {
                    p.resolve(None, async move {
                        let _ = down.wait_for(|d| *d).await;
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(Delivery::Value { value, lease, .. }) => {
                    if lease != 0 {
                        self.store.ack(session, &[lease]);
                    }
                    let mut routes = locked(&self.routes);
                    let Some(route) = routes.get_mut(&ws) else {
                        return;
                    };
                    match std::str::from_utf8(&value.data).ok().and_then(parse_answer) {
                        Some((id, ok, text)) => {
                            if let Some(tx) = route.pending.remove(&id) {
                                let _ = tx.send((ok, text.to_string()));
                            } // else: late (after its deadline); dropped
                        }
                        None => {
                            tracing::debug!(workspace = %ws, "ignoring a malformed babelfish answer")
                        }
                    }
                    if route.pending.is_empty() {
                        route.running = false;
                        return;
                    }
                }
                Ok(Delivery::Nothing) => {}
                Err(e) => {
                    tracing::debug!(workspace = %ws, error = %e, "babelfish dispatcher ends");
                    // Dropping the senders tells every waiting page.
                    locked(&self.routes).remove(&ws);
                    return;
                }
            }
        }
    }
}

/// Removes a request id from its route when its page request is done.
struct Withdraw<'a> {
    babelfish: &'a Babelfish,
    ws: &'a str,
    id: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if let Some(route) = locked(&self.babelfish.routes).get_mut(self.ws) {
            route.pending.remove(&self.id);
        }
    }
}

fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_counts_characters_not_bytes() {
        assert_eq!(cut("héllo", 2), ("hé".to_string(), true));
        assert_eq!(cut("hé", 2), ("hé".to_string(), false));
    }

    #[test]
    fn hex_preview_stops_after_the_preview_size() {
        let data = vec![0u8; 1000];
        assert_eq!(hex_preview(&data).lines().count(), HEX_PREVIEW / 16);
    }

    #[test]
    fn answers_with_crlf_or_empty_text_parse() {
        assert_eq!(parse_answer("3 ok\r\n"), Some((3, true, "")));
        assert_eq!(parse_answer("3 ok"), Some((3, true, "")));
        assert_eq!(parse_answer("x ok\nhi"), None);
    }
}
