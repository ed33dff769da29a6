//! HTML for the web UI: escaping and the page fragments.
//!
//! Every piece of text that comes from a user (workspace, variable and
//! owner names, values, translations, error messages) goes through [`esc`],
//! which escapes for element content and for double-quoted attributes alike;
//! every address built from a name goes through [`query_string`]
//! (percent-encoding) and then [`esc`]. Nothing here emits inline script or
//! style, so the content security policy can forbid both.

use std::fmt::Write as _;

use crate::store::{Mode, VariableInfo, WorkspaceInfo};
use crate::value::{Kind, Value};

use super::babelfish::{Shown, ShownAs, Translator};

/// Escapes text for HTML element content and double- or single-quoted
/// attribute values.
///
/// ```
/// use nws_server::web::render::esc;
/// assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
/// ```
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query string from pairs (everything but unreserved
/// characters is encoded, so a name can never break out of its parameter).
///
/// ```
/// use nws_server::web::render::query_string;
/// assert_eq!(query_string(&[("ws", "a b&c/..")]), "ws=a%20b%26c%2F..");
/// ```
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        pct(&mut out, k);
        out.push('=');
        pct(&mut out, v);
    }
    out
}

fn pct(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// The page address of a workspace (not yet HTML-escaped).
pub fn ws_href(ws: &str) -> String {
    format!("/?{}", query_string(&[("ws", ws)]))
}

/// The page address of a variable (not yet HTML-escaped).
pub fn var_href(ws: &str, var: &str) -> String {
    format!("/?{}", query_string(&[("ws", ws), ("var", var)]))
}

fn events_href(ws: Option<&str>, var: Option<&str>) -> String {
    let mut pairs = Vec::new();
    if let Some(ws) = ws {
        pairs.push(("ws", ws));
    }
    if let Some(var) = var {
        pairs.push(("var", var));
    }
    if pairs.is_empty() {
        "/api/events".into()
    } else {
        format!("/api/events?{}", query_string(&pairs))
    }
}

/// `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `412 B`, `1.5 KiB`, `12 MiB`.
pub fn size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

/// The kind as the API names it.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text",
        Kind::Raw => "raw",
        Kind::Blob => "blob",
    }
}

/// The workspaces page.
#[derive(Debug)]
pub struct WssView {
    /// Every workspace, by name.
    pub workspaces: Vec<WorkspaceInfo>,
    /// Live sessions.
    pub sessions: u64,
    /// Bytes held.
    pub memory_used: u64,
}

/// One workspace's page.
#[derive(Debug)]
pub struct WsView {
    /// The workspace.
    pub info: WorkspaceInfo,
    /// Its variables, by name.
    pub vars: Vec<VariableInfo>,
}

/// One value on a variable's page.
#[derive(Debug)]
pub struct ValueRow {
    /// 0-based position in queue order.
    pub position: u64,
    /// The value.
    pub value: Value,
    /// How it is shown.
    pub shown: Shown,
}

/// One variable's page.
#[derive(Debug)]
pub struct VarView {
    /// Workspace name.
    pub workspace: String,
    /// Variable name.
    pub variable: String,
    /// The listing entry, `None` when the variable does not exist.
    pub info: Option<VariableInfo>,
    /// Values held.
    pub total: u64,
    /// The values shown.
    pub values: Vec<ValueRow>,
}

/// What a page shows.
#[derive(Debug)]
pub enum Page {
    /// All workspaces.
    Workspaces(WssView),
    /// One workspace.
    Workspace(WsView),
    /// One variable.
    Variable(VarView),
    /// A workspace (and variable) that could not be shown, with why.
    Missing(String, Option<String>, String),
    /// Confirm deleting a workspace (or a variable), with how many
    /// variables (values) it holds.
    Confirm(String, Option<String>, Option<u64>),
}

/// The footer's facts.
#[derive(Debug)]
pub struct Footer<'a> {
    /// Server version.
    pub version: &'a str,
    /// Where clients connect.
    pub grpc_address: &'a str,
    /// Known translators and whether they run.
    pub translators: Vec<Translator>,
}

/// A Sleigh's progress, read off its `task` and `result` variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SleighSummary {
    /// Tasks waiting to be taken.
    pub tasks: u64,
    /// Results waiting for the master.
    pub results: u64,
    /// Workers waiting for a task.
    pub workers_waiting: u64,
}

/// A workspace with both `task` and `result` variables is a Sleigh's (the
/// original's convention): its counts are shown as progress.
pub fn sleigh_summary(vars: &[VariableInfo]) -> Option<SleighSummary> {
    let task = vars.iter().find(|v| v.name == "task")?;
    let result = vars.iter().find(|v| v.name == "result")?;
    Some(SleighSummary {
        tasks: task.value_count,
        results: result.value_count,
        workers_waiting: task.fetchers,
    })
}

fn title(page: &Page) -> String {
    match page {
        Page::Workspaces(_) => "Workspaces".into(),
        Page::Workspace(v) => v.info.name.clone(),
        Page::Variable(v) => format!("{} · {}", v.variable, v.workspace),
        Page::Missing(ws, None, _) => ws.clone(),
        Page::Missing(ws, Some(var), _) => format!("{var} · {ws}"),
        Page::Confirm(..) => "Confirm deletion".into(),
    }
}

fn crumbs(page: &Page) -> String {
    let (ws, var) = match page {
        Page::Workspaces(_) => (None, None),
        Page::Workspace(v) => (Some(v.info.name.as_str()), None),
        Page::Variable(v) => (Some(v.workspace.as_str()), Some(v.variable.as_str())),
        Page::Missing(ws, var, _) | Page::Confirm(ws, var, _) => {
            (Some(ws.as_str()), var.as_deref())
        }
    };
    let mut out = String::from(r#"<a href="/">Workspaces</a>"#);
    if let Some(ws) = ws {
        let _ = write!(
            out,
            r#"<span class="sep">/</span><a href="{}">{}</a>"#,
            esc(&ws_href(ws)),
            esc(ws)
        );
        if let Some(var) = var {
            let _ = write!(
                out,
                r#"<span class="sep">/</span><a href="{}">{}</a>"#,
                esc(&var_href(ws, var)),
                esc(var)
            );
        }
    }
    out
}

fn events_for(page: &Page) -> Option<String> {
    match page {
        Page::Workspaces(_) => Some(events_href(None, None)),
        Page::Workspace(v) => Some(events_href(Some(&v.info.name), None)),
        Page::Variable(v) => Some(events_href(Some(&v.workspace), Some(&v.variable))),
        Page::Missing(ws, var, _) => Some(events_href(Some(ws), var.as_deref())),
        Page::Confirm(..) => None,
    }
}

/// A whole HTML document for `page`.
pub fn document(page: &Page, footer: &Footer<'_>) -> String {
    let mut out = String::with_capacity(8 << 10);
    let events = events_for(page)
        .map(|e| format!(r#" data-events="{}""#, esc(&e)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · NetWorkSpaces</title>
<link rel="icon" href="/static/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/nws.css">
<script src="/static/nws.js" defer></script>
</head>
<body{events}>
<header class="top">
<a class="brand" href="/"><img src="/static/icon.svg" alt="" width="22" height="22">NetWorkSpaces</a>
<nav class="crumbs">{crumbs}</nav>
<span id="live" class="live" title="live updates">connecting</span>
</header>
<main id="main">
{main}</main>
<footer class="foot">{foot}</footer>
<dialog id="confirm">
<form method="dialog">
<h2>Please confirm</h2>
<p class="msg"></p>
<div class="actions"><button value="cancel" class="plain" autofocus>Cancel</button> <button value="delete" class="danger solid">Delete</button></div>
</form>
</dialog>
</body>
</html>"#,
        title = esc(&title(page)),
        events = events,
        crumbs = crumbs(page),
        main = fragment(page),
        foot = footer_html(footer),
    );
    out
}

fn footer_html(f: &Footer<'_>) -> String {
    let mut out = format!("nws-server {}", esc(f.version));
    if !f.grpc_address.is_empty() {
        let _ = write!(
            out,
            " · clients connect to <code>{}</code>",
            esc(f.grpc_address)
        );
    }
    out.push_str(r#" · translators: <span class="translators">"#);
    for t in &f.translators {
        let _ = write!(
            out,
            r#"<span class="chip {}" title="{}">{}</span>"#,
            if t.running { "on" } else { "off" },
            esc(&format!(
                "{}: {}",
                t.workspace,
                if t.running { "running" } else { "not running" }
            )),
            esc(&t.language),
        );
    }
    out.push_str("</span>");
    out
}

/// The contents of `<main>` for `page` (what live updates swap in).
pub fn fragment(page: &Page) -> String {
    match page {
        Page::Workspaces(v) => workspaces(v),
        Page::Workspace(v) => workspace(v),
        Page::Variable(v) => variable(v),
        Page::Missing(ws, var, why) => missing(ws, var.as_deref(), why),
        Page::Confirm(ws, var, count) => confirm(ws, var.as_deref(), *count),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn delete_form(ws: &str, var: Option<&str>, question: &str, after: Option<&str>) -> String {
    let (action, hidden_var) = match var {
        None => ("/api/delete-workspace", String::new()),
        Some(var) => (
            "/api/delete-variable",
            format!(r#"<input type="hidden" name="var" value="{}">"#, esc(var)),
        ),
    };
    let after = after
        .map(|a| format!(r#" data-after="{}""#, esc(a)))
        .unwrap_or_default();
    let label = match var {
        None => format!("Delete workspace {ws}"),
        Some(var) => format!("Delete variable {var}"),
    };
    format!(
        r#"<form class="del" method="post" action="{action}" data-confirm="{q}"{after}><input type="hidden" name="ws" value="{ws}">{hidden_var}<button class="danger" title="{label}" aria-label="{label}">Delete</button></form>"#,
        q = esc(question),
        ws = esc(ws),
        label = esc(&label),
    )
}

fn workspaces(v: &WssView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<div class="head"><h1>Workspaces <span class="count">{}</span></h1><p class="meta">{} · {} held</p></div>"#,
        thousands(v.workspaces.len() as u64),
        plural(v.sessions, "session", "sessions"),
        size(v.memory_used),
    );
    if v.workspaces.is_empty() {
        out.push_str(
            r#"<div class="empty"><p>No workspaces yet.</p><p>Store a value from a client, e.g. in Python:</p><pre>from nws.client import NetWorkSpace
ws = NetWorkSpace('demo')
ws.store('greeting', 'hello')</pre></div>
"#,
        );
        return out;
    }
    out.push_str(
        r#"<table class="list">
<thead><tr><th>Name</th><th>Owner</th><th>Persistent</th><th class="num">Variables</th><th class="act"></th></tr></thead>
<tbody>
"#,
    );
    for w in &v.workspaces {
        let owner = if w.owner.is_empty() {
            r#"<span class="none">none</span>"#.to_string()
        } else {
            esc(&w.owner)
        };
        let persistent = if w.persistent {
            r#"<span class="tag yes">persistent</span>"#
        } else {
            r#"<span class="none">no</span>"#
        };
        let question = format!(
            "Delete workspace “{}” and its {}? Programs waiting on it get NO_SUCH_WORKSPACE.",
            w.name,
            plural(w.variable_count, "variable", "variables")
        );
        let _ = writeln!(
            out,
            r#"<tr data-name="{name}"><td class="name"><a href="{href}">{name}</a>{fish}</td><td>{owner}</td><td>{persistent}</td><td class="num">{vars}</td><td class="act">{del}</td></tr>"#,
            name = esc(&w.name),
            fish = if w.name.ends_with(" babelfish") {
                r#" <span class="tag fish" title="a translator for the web UI (spec/babelfish.md)">translator</span>"#
            } else {
                ""
            },
            href = esc(&ws_href(&w.name)),
            vars = thousands(w.variable_count),
            del = delete_form(&w.name, None, &question, None),
        );
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

fn mode_badge(mode: Option<Mode>) -> String {
    match mode {
        Some(m) => format!(
            r#"<span class="mode {}">{}</span>"#,
            m.name().to_ascii_lowercase(),
            m.name()
        ),
        None => {
            r#"<span class="mode unknown" title="only waiting requests refer to it">unknown</span>"#
                .into()
        }
    }
}

fn waiting(n: u64) -> String {
    if n == 0 {
        r#"<span class="none">0</span>"#.into()
    } else {
        format!(r#"<span class="waiting">{}</span>"#, thousands(n))
    }
}

fn workspace(v: &WsView) -> String {
    let w = &v.info;
    let mut out = String::new();
    let owner = if w.owner.is_empty() {
        "no owner".to_string()
    } else {
        format!("owned by {}", esc(&w.owner))
    };
    let _ = writeln!(
        out,
        r#"<div class="head"><h1><span class="label">Workspace</span> {name} <span class="count">{n}</span></h1><p class="meta">{owner} · {persistent}</p>{del}</div>"#,
        name = esc(&w.name),
        n = thousands(v.vars.len() as u64),
        persistent = if w.persistent {
            "persistent"
        } else {
            "deleted when its owner's session ends"
        },
        del = delete_form(
            &w.name,
            None,
            &format!(
                "Delete workspace “{}” and its {}?",
                w.name,
                plural(v.vars.len() as u64, "variable", "variables")
            ),
            Some("/"),
        ),
    );
    if let Some(s) = sleigh_summary(&v.vars) {
        let _ = writeln!(
            out,
            r#"<div class="sleigh"><strong>Sleigh</strong> <span>{} waiting</span> <span>{} ready</span> <span>{} waiting for a task</span></div>"#,
            plural(s.tasks, "task", "tasks"),
            plural(s.results, "result", "results"),
            plural(s.workers_waiting, "worker", "workers"),
        );
    }
    if v.vars.is_empty() {
        out.push_str(r#"<div class="empty"><p>No variables yet.</p></div>"#);
        out.push('\n');
        return out;
    }
    out.push_str(
        r#"<table class="list">
<thead><tr><th>Variable</th><th>Mode</th><th class="num">Values</th><th class="num">Fetchers waiting</th><th class="num">Finders waiting</th><th class="act"></th></tr></thead>
<tbody>
"#,
    );
    for x in &v.vars {
        let question = format!(
            "Delete variable “{}” from workspace “{}”? Its {} {} discarded; programs waiting on it get VARIABLE_DELETED.",
            x.name,
            w.name,
            plural(x.value_count, "value", "values"),
            if x.value_count == 1 { "is" } else { "are" },
        );
        let _ = writeln!(
            out,
            r#"<tr data-name="{name}"><td class="name"><a href="{href}">{name}</a></td><td>{mode}</td><td class="num">{values}</td><td class="num">{fetchers}</td><td class="num">{finders}</td><td class="act">{del}</td></tr>"#,
            name = esc(&x.name),
            href = esc(&var_href(&w.name, &x.name)),
            mode = mode_badge(x.mode),
            values = thousands(x.value_count),
            fetchers = waiting(x.fetchers),
            finders = waiting(x.finders),
            del = delete_form(&w.name, Some(&x.name), &question, None),
        );
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

fn order_hint(mode: Option<Mode>) -> &'static str {
    match mode {
        Some(Mode::Fifo) => "first in, first out: the next fetch takes #1",
        Some(Mode::Lifo) => "last in, first out: the next fetch takes the last one",
        Some(Mode::Multi) => "a bag: fetch takes any one at random",
        Some(Mode::Single) => "holds one value; a store replaces it",
        None => "only waiting requests refer to it",
    }
}

fn variable(v: &VarView) -> String {
    let mut out = String::new();
    let Some(info) = &v.info else {
        return missing(
            &v.workspace,
            Some(&v.variable),
            "no such variable (deleted?)",
        );
    };
    let _ = writeln!(
        out,
        r#"<div class="head"><h1><span class="label">Variable</span> {name} {mode} <span class="count">{n}</span></h1><p class="meta">{values} · {fetchers} and {finders} waiting · {hint}</p>{del}</div>"#,
        name = esc(&v.variable),
        mode = mode_badge(info.mode),
        n = thousands(v.total),
        values = plural(v.total, "value", "values"),
        fetchers = plural(info.fetchers, "fetcher", "fetchers"),
        finders = plural(info.finders, "finder", "finders"),
        hint = order_hint(info.mode),
        del = delete_form(
            &v.workspace,
            Some(&v.variable),
            &format!(
                "Delete variable “{}” from workspace “{}”? Its {} discarded.",
                v.variable,
                v.workspace,
                plural(v.total, "value is", "values are"),
            ),
            Some(&ws_href(&v.workspace)),
        ),
    );
    if v.values.is_empty() {
        out.push_str(r#"<div class="empty"><p>No values: a fetch or find would wait.</p></div>"#);
        out.push('\n');
        return out;
    }
    if (v.values.len() as u64) < v.total {
        let _ = writeln!(
            out,
            r#"<p class="note">Showing the first {} of {} values (<a href="{}">show up to 1,000</a>).</p>"#,
            thousands(v.values.len() as u64),
            thousands(v.total),
            esc(&format!(
                "/?{}",
                query_string(&[
                    ("ws", &v.workspace),
                    ("var", &v.variable),
                    ("limit", "1000")
                ])
            )),
        );
    }
    out.push_str("<ol class=\"values\">\n");
    for row in &v.values {
        out.push_str(&value_item(row));
    }
    out.push_str("</ol>\n");
    out
}

fn value_item(row: &ValueRow) -> String {
    let v = &row.value;
    let kind = match v.kind {
        Kind::Text => r#"<span class="kind text">text</span>"#.to_string(),
        Kind::Raw => r#"<span class="kind raw">raw bytes</span>"#.to_string(),
        Kind::Blob => format!(r#"<span class="kind blob">{}</span>"#, esc(&v.codec)),
    };
    let via = match (&row.shown.how, &row.shown.translator) {
        (ShownAs::Translated | ShownAs::TranslatorError, Some(t)) => {
            format!(r#"<span class="via">shown by {}</span>"#, esc(t))
        }
        _ => String::new(),
    };
    let class = match row.shown.how {
        ShownAs::Text => "text",
        ShownAs::Hex => "hex",
        ShownAs::Translated => "translated",
        ShownAs::TranslatorError => "error",
        ShownAs::Fallback => "fallback",
    };
    let more = if row.shown.truncated {
        r#"<p class="more">… cut short for display</p>"#
    } else {
        ""
    };
    let body = if row.shown.text.is_empty() && row.shown.how == ShownAs::Text {
        r#"<span class="none">(empty string)</span>"#.to_string()
    } else {
        esc(&row.shown.text)
    };
    format!(
        r#"<li class="value"><div class="vhead"><span class="pos">#{pos}</span>{kind}<span class="size">{size}</span>{via}</div><pre class="{class}">{body}</pre>{more}</li>
"#,
        pos = row.position + 1,
        size = size(v.len()),
    )
}

fn missing(ws: &str, var: Option<&str>, why: &str) -> String {
    let back = match var {
        Some(_) => format!(
            r#"<a href="{}">back to workspace {}</a>"#,
            esc(&ws_href(ws)),
            esc(ws)
        ),
        None => r#"<a href="/">back to all workspaces</a>"#.to_string(),
    };
    format!(
        r#"<div class="empty gone"><h1>Not here</h1><p>{}</p><p>{back}</p></div>
"#,
        esc(why)
    )
}

fn confirm(ws: &str, var: Option<&str>, count: Option<u64>) -> String {
    let (question, action, hidden, cancel) = match var {
        None => (
            format!(
                "Delete workspace “{ws}”{}?",
                count.map_or(String::new(), |n| format!(
                    " and its {}",
                    plural(n, "variable", "variables")
                ))
            ),
            "/api/delete-workspace",
            String::new(),
            "/".to_string(),
        ),
        Some(var) => (
            format!(
                "Delete variable “{var}” from workspace “{ws}”{}?",
                count.map_or(String::new(), |n| format!(
                    " with its {}",
                    plural(n, "value", "values")
                ))
            ),
            "/api/delete-variable",
            format!(r#"<input type="hidden" name="var" value="{}">"#, esc(var)),
            ws_href(ws),
        ),
    };
    format!(
        r#"<div class="confirm-page"><h1>Please confirm</h1><p>{q}</p><form method="post" action="{action}"><input type="hidden" name="ws" value="{ws}">{hidden}<input type="hidden" name="confirm" value="yes"><a class="button plain" href="{cancel}">Cancel</a> <button class="danger solid">Delete</button></form></div>
"#,
        q = esc(&question),
        ws = esc(ws),
        cancel = esc(&cancel),
    )
}
