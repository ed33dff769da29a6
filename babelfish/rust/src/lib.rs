//! # nws-babelfish: the Rust babelfish
//!
//! Shows values stored by Rust programs (codec `rust/cbor`: CBOR of the
//! serde data model, written by `nws::serde_value`) readably in the
//! NetWorkSpaces web UI. It is an ordinary client (`spec/babelfish.md`): it
//! opens the workspace `Rust babelfish`, fetches requests from `food` and
//! stores answers into `doof`.
//!
//! Module map (one file):
//! - [`answer`]: one request in, one answer out (the protocol, no I/O);
//! - [`show_cbor`]: CBOR to text, pretty and bounded;
//! - [`serve`]: the client loop (reconnects; stops when asked).
//!
//! CBOR carries no Rust type names, so a value is shown in the serde data
//! model: structs and maps as `{"field": value}`, sequences and tuples as
//! `[...]`, enums as `{"Variant": ...}` (serde's external tagging), bytes
//! as `b"..."`. Decoding builds only `ciborium::Value`s (nesting limited by
//! ciborium's recursion limit), so a hostile value can run no code.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ciborium::Value as Cbor;
use nws::{Mode, Reason};

/// The workspace this translator serves.
pub const WORKSPACE: &str = "Rust babelfish";
/// The codec it reads.
pub const CODEC: &str = nws::RUST_CBOR;
/// Characters shown when a request does not say.
pub const DEFAULT_MAX_CHARS: usize = 10_000;
/// Line width the pretty printer aims for.
const WIDTH: usize = 88;
/// Items of one array or map shown.
const MAX_ITEMS: usize = 500;

/// The answer to one request taken from `food` (`<id> ok|error`, a
/// newline, the text), or `None` when it is not a request.
///
/// ```
/// let value = nws::serde_value::to_value(&(1, "two")).unwrap();
/// let (_, bytes) = value.as_blob().unwrap();
/// let mut request = b"nws-babelfish 1 9 rust/cbor 100\n".to_vec();
/// request.extend_from_slice(bytes);
/// assert_eq!(nws_babelfish::answer(&request).unwrap(), "9 ok\n[1, \"two\"]");
/// ```
pub fn answer(request: &[u8]) -> Option<String> {
    let nl = request.iter().position(|&b| b == b'\n')?;
    let head = std::str::from_utf8(&request[..nl]).ok()?;
    let payload = &request[nl + 1..];
    let parts: Vec<&str> = head.split(' ').collect();
    if parts.len() < 3 || parts[0] != "nws-babelfish" {
        return None;
    }
    let id: u64 = parts[2].parse().ok()?;
    if parts[1] != "1" {
        return Some(format!(
            "{id} error\nunsupported request version {}",
            parts[1]
        ));
    }
    let codec = parts.get(3).copied().unwrap_or("");
    let max_chars = parts
        .get(4)
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|&m| m > 0)
        .unwrap_or(DEFAULT_MAX_CHARS)
        .min(1_000_000);
    if codec != CODEC {
        return Some(format!(
            "{id} error\nthe Rust babelfish does not read {codec}"
        ));
    }
    Some(match show_cbor(payload, max_chars) {
        Ok(text) => format!("{id} ok\n{text}"),
        Err(why) => format!("{id} error\n{why}"),
    })
}

/// Decodes CBOR and renders it, at most about `max_chars` characters.
///
/// ```
/// let value = nws::serde_value::to_value(&std::collections::BTreeMap::from([("a", vec![1, 2])])).unwrap();
/// let text = nws_babelfish::show_cbor(value.as_bytes(), 100).unwrap();
/// assert_eq!(text, r#"{"a": [1, 2]}"#);
/// ```
pub fn show_cbor(data: &[u8], max_chars: usize) -> Result<String, String> {
    let value: Cbor =
        ciborium::de::from_reader(data).map_err(|e| format!("cannot decode CBOR: {e}"))?;
    let mut p = Printer {
        out: String::new(),
        budget: max_chars,
    };
    match p.pretty(&value, 0, 0) {
        Ok(()) => Ok(p.out),
        Err(Full) => {
            let cut: String = p.out.chars().take(max_chars).collect();
            Ok(cut + "\n... (cut short)")
        }
    }
}

struct Full;

struct Printer {
    out: String,
    budget: usize,
}

impl Printer {
    fn emit(&mut self, s: &str) -> Result<(), Full> {
        self.out.push_str(s);
        if self.out.len() > self.budget.saturating_mul(4) || self.out.chars().count() > self.budget
        {
            return Err(Full);
        }
        Ok(())
    }

    fn pretty(&mut self, v: &Cbor, indent: usize, col: usize) -> Result<(), Full> {
        let room = WIDTH.saturating_sub(col).max(20);
        if let Some(one) = flat(v, room) {
            return self.emit(&one);
        }
        let step = indent + 4;
        let pad = " ".repeat(step);
        match v {
            Cbor::Array(items) => {
                self.emit("[\n")?;
                if items.iter().all(is_scalar) {
                    let mut line = pad.clone();
                    for (i, item) in items.iter().enumerate() {
                        let word = if i >= MAX_ITEMS {
                            format!("... ({} more),", items.len() - i)
                        } else {
                            format!("{},", scalar(item))
                        };
                        if line.len() > pad.len() && line.len() + 1 + word.len() > WIDTH {
                            self.emit(&line)?;
                            self.emit("\n")?;
                            line = pad.clone();
                        }
                        if line.len() > pad.len() {
                            line.push(' ');
                        }
                        line.push_str(&word);
                        if i >= MAX_ITEMS {
                            break;
                        }
                    }
                    self.emit(&line)?;
                    self.emit("\n")?;
                } else {
                    for (i, item) in items.iter().enumerate() {
                        if i >= MAX_ITEMS {
                            self.emit(&format!("{pad}... ({} more)\n", items.len() - i))?;
                            break;
                        }
                        self.emit(&pad)?;
                        self.pretty(item, step, step)?;
                        self.emit(",\n")?;
                    }
                }
                self.emit(&" ".repeat(indent))?;
                self.emit("]")
            }
            Cbor::Map(entries) => {
                self.emit("{\n")?;
                for (i, (k, val)) in entries.iter().enumerate() {
                    if i >= MAX_ITEMS {
                        self.emit(&format!("{pad}... ({} more)\n", entries.len() - i))?;
                        break;
                    }
                    let key = flat(k, WIDTH).unwrap_or_else(|| "{...}".into()) + ": ";
                    self.emit(&pad)?;
                    self.emit(&key)?;
                    self.pretty(val, step, step + key.len())?;
                    self.emit(",\n")?;
                }
                self.emit(&" ".repeat(indent))?;
                self.emit("}")
            }
            Cbor::Tag(tag, inner) => {
                let open = format!("tag({tag}, ");
                self.emit(&open)?;
                self.pretty(inner, indent, col + open.len())?;
                self.emit(")")
            }
            other => self.emit(&scalar(other)),
        }
    }
}

fn is_scalar(v: &Cbor) -> bool {
    !matches!(v, Cbor::Array(_) | Cbor::Map(_) | Cbor::Tag(..))
}

/// The one-line form of `v`, or `None` if it is longer than `limit`.
fn flat(v: &Cbor, limit: usize) -> Option<String> {
    let mut out = String::new();
    flat_into(v, &mut out, limit).then_some(out)
}

fn flat_into(v: &Cbor, out: &mut String, limit: usize) -> bool {
    match v {
        Cbor::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if out.len() > limit || !flat_into(item, out, limit) {
                    return false;
                }
            }
            out.push(']');
        }
        Cbor::Map(entries) => {
            out.push('{');
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if out.len() > limit || !flat_into(k, out, limit) {
                    return false;
                }
                out.push_str(": ");
                if !flat_into(val, out, limit) {
                    return false;
                }
            }
            out.push('}');
        }
        Cbor::Tag(tag, inner) => {
            let _ = write!(out, "tag({tag}, ");
            if !flat_into(inner, out, limit) {
                return false;
            }
            out.push(')');
        }
        other => out.push_str(&scalar(other)),
    }
    out.chars().count() <= limit
}

fn scalar(v: &Cbor) -> String {
    match v {
        Cbor::Integer(i) => i128::from(*i).to_string(),
        Cbor::Float(f) => {
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
                format!("{f:.1}")
            } else {
                f.to_string()
            }
        }
        Cbor::Text(s) => {
            if s.chars().count() > 2000 {
                let cut: String = s.chars().take(2000).collect();
                format!("{cut:?}... ({} characters)", s.chars().count())
            } else {
                format!("{s:?}")
            }
        }
        Cbor::Bytes(b) => {
            let shown = &b[..b.len().min(2000)];
            let mut s = String::from("b\"");
            for &c in shown {
                s.extend(std::ascii::escape_default(c).map(char::from));
            }
            s.push('"');
            if b.len() > shown.len() {
                let _ = write!(s, "... ({} bytes)", b.len());
            }
            s
        }
        Cbor::Bool(b) => b.to_string(),
        Cbor::Null => "null".into(),
        Cbor::Array(_) | Cbor::Map(_) | Cbor::Tag(..) => "...".into(),
        _ => "<unknown CBOR item>".into(),
    }
}

fn open(server: &nws::blocking::Server) -> Result<nws::blocking::Workspace, nws::Error> {
    let ws = server.open_ws(WORKSPACE)?;
    ws.declare("food", Mode::Fifo)?;
    ws.declare("doof", Mode::Fifo)?;
    Ok(ws)
}

/// Serves translation requests for the server at `addr` until `stop` is
/// set (checked at least every half second), reconnecting when the server
/// is not (yet) reachable. `log` receives progress messages.
pub fn serve(addr: &str, stop: &AtomicBool, log: &dyn Fn(&str)) {
    let mut waiting_said = false;
    while !stop.load(Ordering::Relaxed) {
        let server = match nws::blocking::Server::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                if !waiting_said {
                    log(&format!("waiting for the server at {addr} ({e})"));
                    waiting_said = true;
                }
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        waiting_said = false;
        match serve_session(&server, stop, log) {
            Ok(()) => return,
            Err(e) => log(&format!("lost the server ({e}); reconnecting")),
        }
        server.close();
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn serve_session(
    server: &nws::blocking::Server,
    stop: &AtomicBool,
    log: &dyn Fn(&str),
) -> Result<(), nws::Error> {
    let mut ws = open(server)?;
    log(&format!(
        "serving {WORKSPACE:?} on {addr}",
        addr = server.info().server
    ));
    while !stop.load(Ordering::Relaxed) {
        let request = match ws.fetch_timeout("food", Duration::from_millis(500)) {
            Ok(v) => v,
            Err(e) => match e.reason() {
                Some(Reason::TimedOut) => continue,
                Some(Reason::NoSuchWorkspace) => {
                    // Deleted (from the web UI, say): open it again.
                    ws = open(server)?;
                    continue;
                }
                _ => return Err(e),
            },
        };
        let Some(reply) = request.as_raw().and_then(|raw| answer(raw)) else {
            continue;
        };
        match ws.store("doof", reply) {
            Ok(()) => {}
            Err(e) if e.reason() == Some(Reason::NoSuchWorkspace) => ws = open(server)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbor(v: Cbor) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(&v, &mut out).expect("cbor");
        out
    }

    #[test]
    fn long_arrays_fill_lines() {
        let v = Cbor::Array((0..100).map(|i| Cbor::Integer(i.into())).collect());
        let text = show_cbor(&cbor(v), 10_000).expect("shows");
        assert!(text.starts_with("[\n    0, 1, 2,"), "{text}");
        assert!(text.lines().all(|l| l.len() <= WIDTH), "{text}");
    }

    #[test]
    fn output_is_cut_at_the_budget() {
        let v = Cbor::Array(
            (0..10_000)
                .map(|i| Cbor::Text(format!("item {i}")))
                .collect(),
        );
        let text = show_cbor(&cbor(v), 300).expect("shows");
        assert!(text.ends_with("... (cut short)"));
        assert!(text.chars().count() < 330);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(show_cbor(&[0xff, 0x00, 0x13], 100).is_err());
        assert!(show_cbor(&[0x9f; 10_000], 100).is_err()); // nesting beyond the limit
    }

    #[test]
    fn requests_for_other_codecs_are_refused() {
        let reply = answer(b"nws-babelfish 1 4 python/pickle 100\n\x80").expect("a request");
        assert_eq!(
            reply,
            "4 error\nthe Rust babelfish does not read python/pickle"
        );
        assert_eq!(answer(b"hello"), None);
    }
}
