//! The `list wss` and `list vars` text formats of the original
//! (`spec/legacy.md#listings`).
//!
//! `list wss`: one line per workspace, each ending in `\n`:
//! `<mine><name>\t<owner>\t<True|False>\t<variable count>\t<names,comma,separated>`,
//! where `<mine>` is `>` for a workspace the asking connection owns and a
//! blank otherwise.
//!
//! `list vars`: lines joined by `\n` (no final newline):
//! `<name>\t<values>\t<fetchers>\t<finders>\t<mode>`, the mode in lower case
//! (`fifo`, `lifo`, `multi`, `single`, `unknown`).
//!
//! ```
//! use nws_server::legacy::listing::{ws_line, vars_text};
//! use nws_server::store::{Mode, VariableInfo};
//! assert_eq!(ws_line(true, "ws", "me", false, &["a".into(), "b".into()]), ">ws\tme\tFalse\t2\ta,b\n");
//! let v = VariableInfo { name: "x".into(), mode: Some(Mode::Fifo), value_count: 2, fetchers: 0, finders: 1 };
//! assert_eq!(vars_text(&[v]), "x\t2\t0\t1\tfifo");
//! ```

use crate::store::{Mode, SessionId, Store, VariableInfo};

/// The legacy name of a mode (`None` is a placeholder: `unknown`).
pub fn mode_name(mode: Option<Mode>) -> &'static str {
    match mode {
        Some(Mode::Fifo) => "fifo",
        Some(Mode::Lifo) => "lifo",
        Some(Mode::Multi) => "multi",
        Some(Mode::Single) => "single",
        None => "unknown",
    }
}

/// The legacy mode argument of `declare var` as ours.
///
/// ```
/// # use nws_server::legacy::listing::parse_mode;
/// # use nws_server::store::Mode;
/// assert_eq!(parse_mode("multi"), Some(Mode::Multi));
/// assert_eq!(parse_mode("__barrier"), None);
/// ```
pub fn parse_mode(s: &str) -> Option<Mode> {
    match s {
        "fifo" => Some(Mode::Fifo),
        "lifo" => Some(Mode::Lifo),
        "multi" => Some(Mode::Multi),
        "single" => Some(Mode::Single),
        _ => None,
    }
}

/// One line of `list wss`.
pub fn ws_line(mine: bool, name: &str, owner: &str, persistent: bool, vars: &[String]) -> String {
    format!(
        "{}{name}\t{owner}\t{}\t{}\t{}\n",
        if mine { '>' } else { ' ' },
        if persistent { "True" } else { "False" },
        vars.len(),
        vars.join(","),
    )
}

/// The whole `list wss` text for `session`, optionally one workspace only.
/// A workspace deleted while the listing is built is left out.
pub fn wss_text(store: &Store, session: SessionId, only: Option<&str>) -> String {
    let mut out = String::new();
    for ws in store.list_wss(session) {
        if only.is_some_and(|o| o != ws.name) {
            continue;
        }
        let Ok(vars) = store.list_vars(&ws.name) else {
            continue;
        };
        let names: Vec<String> = vars.into_iter().map(|v| v.name).collect();
        out.push_str(&ws_line(
            ws.mine,
            &ws.name,
            &ws.owner,
            ws.persistent,
            &names,
        ));
    }
    if out.is_empty() {
        // The original always ended the listing with a newline.
        out.push('\n');
    }
    out
}

/// The `list vars` text.
pub fn vars_text(vars: &[VariableInfo]) -> String {
    vars.iter()
        .map(|v| {
            format!(
                "{}\t{}\t{}\t{}\t{}",
                v.name,
                v.value_count,
                v.fetchers,
                v.finders,
                mode_name(v.mode)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks an original `mktemp ws` template and returns it with its one
/// integer conversion written `%d`, or `%0Nd` for a zero-padded width
/// (what [`Store::mktemp_ws`] fills in). The original applied Python's `%`
/// operator, so a template without a conversion, with two, or with another
/// conversion failed; other flags and widths are accepted and dropped.
///
/// ```
/// # use nws_server::legacy::listing::mktemp_template;
/// assert_eq!(mktemp_template("__pyws__%d").as_deref(), Some("__pyws__%d"));
/// assert_eq!(mktemp_template("__Rws__%010d").as_deref(), Some("__Rws__%010d"));
/// assert_eq!(mktemp_template("w%-5i").as_deref(), Some("w%d"));
/// assert!(mktemp_template("foo").is_none());
/// assert!(mktemp_template("%d%d").is_none());
/// assert!(mktemp_template("%s").is_none());
/// ```
pub fn mktemp_template(t: &str) -> Option<String> {
    let mut out = String::new();
    let mut conversions = 0;
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(c) = chars.next_if(|c| "-+ #0123456789".contains(*c)) {
            spec.push(c);
        }
        match chars.next() {
            Some('d' | 'i' | 'u') => {
                conversions += 1;
                // A zero-padded width (`%010d`) is kept: the store pads
                // too. Other flags and widths are dropped.
                if crate::store::zero_pad_width(&spec).is_some() {
                    out.push('%');
                    out.push_str(&spec);
                    out.push('d');
                } else {
                    out.push_str("%d");
                }
            }
            // A literal percent sign would be ambiguous for the store's
            // template; the original's names never needed one.
            _ => return None,
        }
    }
    (conversions == 1).then_some(out)
}
