//! The web UI: every workspace, variable and value, live, in a browser.
//!
//! Served by [`serve`] on its own listener (the binary's `--web-port`,
//! loopback by default) beside the gRPC server, over the same [`Store`].
//!
//! Module map:
//! - this file: configuration, the router, request guards (Host check,
//!   token, cross-site POST refusal), the HTML and JSON handlers and the
//!   server-sent event stream;
//! - [`render`](self::render): HTML escaping and the page fragments (all HTML is
//!   built here, server side, so escaping lives in one tested place);
//! - [`babelfish`](self::babelfish): asking translator clients to show blobs
//!   (`spec/babelfish.md`);
//! - `assets/`: the stylesheet, the script and the icon, compiled in with
//!   `include_str!` (no files needed at run time, no framework).
//!
//! Pages (`GET /`, `?ws=NAME`, `?ws=NAME&var=NAME`) are rendered on the
//! server; the script keeps one `EventSource` on `/api/events` for the view
//! and, when it reports a change, fetches the same page with `fragment=1`
//! and swaps the `<main>` element. Names travel in query strings, so any
//! valid name (`..`, `/`, `%`, `<script>`) addresses its workspace.
//!
//! JSON API (what the page and the tests use; every name is a query
//! parameter, every reply `application/json`):
//!
//! | request | reply |
//! |---|---|
//! | `GET /api/workspaces` | `{server, workspaces: [{name, owner, persistent, variables}]}` |
//! | `GET /api/variables?ws=W` | `{workspace, sleigh, variables: [{name, mode, values, fetchers, finders}]}` |
//! | `GET /api/values?ws=W&var=V&limit=N` | `{workspace, variable, mode, count, shown, values: [{position, kind, codec, size, display, shown_as, translator}]}` |
//! | `GET /api/babelfish` | `{translators: [{language, workspace, running}]}` |
//! | `GET /api/events?ws=W&var=V` | server-sent events: `change` when the view's data changed (at most ~10/s) |
//! | `POST /api/delete-workspace` (form `ws`, `confirm=yes`) | `{deleted: "workspace", workspace}` |
//! | `POST /api/delete-variable` (form `ws`, `var`, `confirm=yes`) | `{deleted: "variable", workspace, variable}` |
//!
//! Errors are `{error: REASON, message}` with a 4xx status. Nothing changes
//! state over GET; a POST without `confirm=yes` changes nothing (an HTML
//! form gets a confirmation page instead).

pub mod babelfish;
pub mod render;

use std::collections::hash_map::DefaultHasher;
use std::convert::Infallible;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Query, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::store::{Mode, Store};
use crate::{Error, ServerError};

use self::babelfish::{Babelfish, Shown};
use self::render::{Page, ValueRow, VarView, WsView};

/// Settings of the web UI.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// When set, every request must carry it (`Authorization: Bearer`,
    /// the `nws_token` cookie, or `?token=` once, which sets the cookie).
    pub token: Option<String>,
    /// How long a page waits for babelfish translations before showing the
    /// fallback (`spec/babelfish.md#deadline`).
    pub babelfish_timeout: Duration,
    /// Values shown per variable page unless `limit=` asks otherwise.
    pub values_shown: usize,
    /// The client address shown in the page footer (e.g. `127.0.0.1:8765`).
    pub grpc_address: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            token: None,
            babelfish_timeout: Duration::from_secs(2),
            values_shown: 50,
            grpc_address: String::new(),
        }
    }
}

/// Most values one page or API call shows.
pub const MAX_VALUES_SHOWN: usize = 1000;
/// Live updates are computed at most this often per open page.
pub const COALESCE: Duration = Duration::from_millis(100);

/// Everything the handlers share.
struct App {
    store: Store,
    config: WebConfig,
    babelfish: Arc<Babelfish>,
    /// Bound to a loopback address: refuse foreign `Host` headers (DNS
    /// rebinding) unless a token protects the UI.
    check_host: bool,
    /// Ends the event streams and translator waits on shutdown.
    shutdown: watch::Receiver<bool>,
}

type Shared = Arc<App>;

/// Serves the web UI on `listener` until `shutdown` completes.
///
/// ```no_run
/// # async fn doc() -> Result<(), nws_server::ServerError> {
/// let store = nws_server::Store::new(Default::default());
/// let web = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// println!("web UI on http://{}", web.local_addr()?);
/// nws_server::web::serve(web, store, Default::default(), std::future::pending()).await?;
/// # Ok(()) }
/// ```
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: WebConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let local = listener.local_addr()?;
    let (down_tx, down_rx) = watch::channel(false);
    let babelfish = Babelfish::new(store.clone(), config.babelfish_timeout, down_rx.clone());
    let app = Arc::new(App {
        check_host: local.ip().is_loopback() && config.token.is_none(),
        store,
        config,
        babelfish,
        shutdown: down_rx,
    });
    let router = router(app.clone());
    let signal = async move {
        shutdown.await;
        let _ = down_tx.send(true);
    };
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(signal)
        .await;
    // Drop requests still in flight (they hold the translator state).
    app.babelfish.close();
    served?;
    Ok(())
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/static/nws.css", get(css))
        .route("/static/nws.js", get(js))
        .route("/static/icon.svg", get(icon))
        .route("/favicon.ico", get(icon))
        .route("/api/workspaces", get(api_workspaces))
        .route("/api/variables", get(api_variables))
        .route("/api/values", get(api_values))
        .route("/api/babelfish", get(api_babelfish))
        .route("/api/events", get(api_events))
        .route("/api/delete-workspace", post(delete_workspace))
        .route("/api/delete-variable", post(delete_variable))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

// ---------------------------------------------------------------------------
// Guards: Host, token, cross-site POST; security headers on every reply.
// ---------------------------------------------------------------------------

/// Name of the cookie that carries the token.
const TOKEN_COOKIE: &str = "nws_token";

async fn guard(State(app): State<Shared>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if app.check_host && !host_is_local(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "this web UI answers only to localhost or an IP address (start nws-server with \
             --web-token to allow other host names)",
        );
    }
    if let Some(token) = &app.config.token {
        let query_token = query_param(request.uri().query(), "token");
        if query_token
            .as_deref()
            .is_some_and(|t| same_secret(t, token))
        {
            // Trade the token in the address for a cookie, and drop it
            // from the address bar.
            let mut clean = url_without_token(request.uri());
            if clean.is_empty() {
                clean = "/".into();
            }
            let mut response = Redirect::to(&clean).into_response();
            let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            return secure(response);
        }
        if !request_has_token(headers, token) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "this web UI needs its token: open the address nws-server printed \
                 (…/?token=…) or send Authorization: Bearer <token>",
            );
        }
    }
    if request.method() == Method::POST && is_cross_site(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "cross-site POST refused: changes must come from this web UI's own pages",
        );
    }
    secure(next.run(request).await)
}

/// Adds the headers every reply carries: a strict content security policy
/// (no inline script or style: a missed escape still runs nothing),
/// no framing, no MIME sniffing, no referrer.
fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn refuse(status: StatusCode, reason: &str, message: &str) -> Response {
    secure((status, Json(json!({"error": reason, "message": message}))).into_response())
}

/// `Host` names a loopback or literal address (`localhost`, `127.0.0.1`,
/// `[::1]`, any IP): a DNS-rebinding page on some domain sends its domain.
fn host_is_local(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return true; // HTTP/1.0 without Host: not a browser on a domain
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest
            .split(']')
            .next()
            .is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok());
    } else {
        host.rsplit_once(':').map_or(host, |(n, _)| n)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// A browser marks requests from other sites: `Sec-Fetch-Site`, or an
/// `Origin` whose host differs from `Host`.
fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return true;
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .split_once("://")
            .map_or(origin, |(_, rest)| rest)
            .trim_end_matches('/');
        return origin == "null" || !origin_host.eq_ignore_ascii_case(host);
    }
    false
}

fn request_has_token(headers: &HeaderMap, token: &str) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same_secret(t.trim(), token));
    bearer
        || headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(k, v)| k == TOKEN_COOKIE && same_secret(v, token))
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    let query = query?;
    serde_urlencoded_pairs(query)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}").parse().unwrap_or_default(),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}

fn url_without_token(uri: &axum::http::Uri) -> String {
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(uri.query().unwrap_or(""))
        .into_iter()
        .filter(|(k, _)| k != "token")
        .collect();
    let mut url = uri.path().to_string();
    if !pairs.is_empty() {
        url.push('?');
        url.push_str(&render::query_string(
            &pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        ));
    }
    url
}

// ---------------------------------------------------------------------------
// Static assets
// ---------------------------------------------------------------------------

const CSS: &str = include_str!("assets/nws.css");
const JS: &str = include_str!("assets/nws.js");
const ICON: &str = include_str!("assets/icon.svg");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}
async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}
async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

async fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such page")
}

// ---------------------------------------------------------------------------
// Data shared by the HTML and JSON views
// ---------------------------------------------------------------------------

/// A failed lookup, shown as JSON or as a page.
struct Failure {
    status: StatusCode,
    reason: &'static str,
    message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match e {
            Error::NoSuchWorkspace(_) => StatusCode::NOT_FOUND,
            Error::InvalidName { .. } | Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure {
            status,
            reason: e.reason().as_str_name(),
            message: e.to_string(),
        }
    }
}

fn api_error(status: StatusCode, reason: &str, message: &str) -> Response {
    (status, Json(json!({"error": reason, "message": message}))).into_response()
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        api_error(self.status, self.reason, &self.message)
    }
}

fn mode_name(mode: Option<Mode>) -> &'static str {
    mode.map_or("unknown", Mode::name)
}

fn workspaces_view(app: &App) -> render::WssView {
    let stats = app.store.stats();
    render::WssView {
        workspaces: app.store.list_wss(0),
        sessions: stats.sessions,
        memory_used: stats.memory_used,
    }
}

fn ws_view(app: &App, ws: &str) -> Result<WsView, Failure> {
    crate::names::check_name("workspace", ws)?;
    let info = app
        .store
        .workspace_info(ws)
        .ok_or_else(|| Error::NoSuchWorkspace(ws.to_string()))?;
    let vars = app.store.list_vars(ws)?;
    Ok(WsView { info, vars })
}

async fn var_view(app: &App, ws: &str, var: &str, limit: usize) -> Result<VarView, Failure> {
    crate::names::check_name("workspace", ws)?;
    crate::names::check_name("variable", var)?;
    let info = app.store.list_vars(ws)?.into_iter().find(|v| v.name == var);
    let peek = app
        .store
        .peek_values(ws, var, limit.min(MAX_VALUES_SHOWN))?;
    let shown =
        futures::future::join_all(peek.values.iter().map(|value| app.babelfish.show(value))).await;
    let values = peek
        .values
        .iter()
        .zip(shown)
        .enumerate()
        .map(|(i, (value, shown))| ValueRow {
            position: i as u64,
            value: value.clone(),
            shown,
        })
        .collect();
    Ok(VarView {
        workspace: ws.to_string(),
        variable: var.to_string(),
        info,
        total: peek.total,
        values,
    })
}

// ---------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct ViewQuery {
    ws: Option<String>,
    var: Option<String>,
    limit: Option<usize>,
    /// Any value: only `<main>`'s contents (for live updates).
    fragment: Option<String>,
}

async fn page(State(app): State<Shared>, Query(q): Query<ViewQuery>) -> Response {
    let limit = q.limit.unwrap_or(app.config.values_shown);
    let (status, view) = match (&q.ws, &q.var) {
        (None, _) => (StatusCode::OK, Page::Workspaces(workspaces_view(&app))),
        (Some(ws), None) => match ws_view(&app, ws) {
            Ok(v) => (StatusCode::OK, Page::Workspace(v)),
            Err(f) => (f.status, Page::Missing(ws.clone(), None, f.message)),
        },
        (Some(ws), Some(var)) => match var_view(&app, ws, var, limit).await {
            Ok(v) => (StatusCode::OK, Page::Variable(v)),
            Err(f) => (
                f.status,
                Page::Missing(ws.clone(), Some(var.clone()), f.message),
            ),
        },
    };
    let body = if q.fragment.is_some() {
        render::fragment(&view)
    } else {
        let footer = render::Footer {
            version: env!("CARGO_PKG_VERSION"),
            grpc_address: &app.config.grpc_address,
            translators: app.babelfish.translators(),
        };
        render::document(&view, &footer)
    };
    let mut response = (status, Html(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------------------
// JSON API
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct WsQuery {
    ws: String,
}

#[derive(Debug, Deserialize)]
struct VarQuery {
    ws: String,
    var: String,
    limit: Option<usize>,
}

async fn api_workspaces(State(app): State<Shared>) -> Response {
    let view = workspaces_view(&app);
    Json(json!({
        "server": {
            "version": env!("CARGO_PKG_VERSION"),
            "sessions": view.sessions,
            "memory_used": view.memory_used,
            "workspaces": view.workspaces.len(),
        },
        "workspaces": view.workspaces.iter().map(|w| json!({
            "name": w.name,
            "owner": w.owner,
            "persistent": w.persistent,
            "variables": w.variable_count,
        })).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn api_variables(State(app): State<Shared>, Query(q): Query<WsQuery>) -> Response {
    match ws_view(&app, &q.ws) {
        Ok(v) => Json(ws_json(&v)).into_response(),
        Err(f) => f.into_response(),
    }
}

fn ws_json(v: &WsView) -> Json_ {
    json!({
        "workspace": {
            "name": v.info.name,
            "owner": v.info.owner,
            "persistent": v.info.persistent,
            "variables": v.info.variable_count,
        },
        "sleigh": render::sleigh_summary(&v.vars).map(|s| json!({
            "tasks": s.tasks, "results": s.results, "workers_waiting": s.workers_waiting,
        })),
        "variables": v.vars.iter().map(|x| json!({
            "name": x.name,
            "mode": mode_name(x.mode),
            "values": x.value_count,
            "fetchers": x.fetchers,
            "finders": x.finders,
        })).collect::<Vec<_>>(),
    })
}

async fn api_values(State(app): State<Shared>, Query(q): Query<VarQuery>) -> Response {
    let limit = q.limit.unwrap_or(app.config.values_shown);
    match var_view(&app, &q.ws, &q.var, limit).await {
        Ok(v) => Json(json!({
            "workspace": v.workspace,
            "variable": v.variable,
            "exists": v.info.is_some(),
            "mode": mode_name(v.info.as_ref().and_then(|i| i.mode)),
            "count": v.total,
            "fetchers": v.info.as_ref().map_or(0, |i| i.fetchers),
            "finders": v.info.as_ref().map_or(0, |i| i.finders),
            "shown": v.values.len(),
            "values": v.values.iter().map(value_json).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(f) => f.into_response(),
    }
}

fn value_json(row: &ValueRow) -> Json_ {
    let v = &row.value;
    let Shown {
        text,
        how,
        translator,
        truncated,
    } = &row.shown;
    json!({
        "position": row.position,
        "kind": render::kind_name(v.kind),
        "codec": if v.codec.is_empty() { Json_::Null } else { Json_::from(v.codec.clone()) },
        "size": v.len(),
        "shown_as": how.name(),
        "display": text,
        "truncated": truncated,
        "translator": translator,
    })
}

async fn api_babelfish(State(app): State<Shared>) -> Response {
    Json(json!({
        "translators": app.babelfish.translators().iter().map(|t| json!({
            "language": t.language,
            "workspace": t.workspace,
            "running": t.running,
        })).collect::<Vec<_>>(),
    }))
    .into_response()
}

// ---------------------------------------------------------------------------
// Deletion (POST with confirmation)
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct DeleteForm {
    ws: String,
    var: Option<String>,
    #[serde(default)]
    confirm: String,
}

/// Whether the caller wants JSON (the page's script, tests) rather than a
/// page (a plain HTML form without script).
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    !accept.contains("text/html")
}

async fn delete_workspace(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<DeleteForm>,
) -> Response {
    delete(&app, &headers, DeleteForm { var: None, ..form })
}

async fn delete_variable(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<DeleteForm>,
) -> Response {
    if form.var.is_none() {
        return api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "missing form field `var`",
        );
    }
    delete(&app, &headers, form)
}

fn delete(app: &App, headers: &HeaderMap, form: DeleteForm) -> Response {
    let json = wants_json(headers);
    if form.confirm != "yes" {
        if json {
            return api_error(
                StatusCode::BAD_REQUEST,
                "CONFIRMATION_REQUIRED",
                "nothing deleted: send confirm=yes to delete",
            );
        }
        let view = Page::Confirm(
            form.ws.clone(),
            form.var.clone(),
            confirm_counts(app, &form),
        );
        let footer = render::Footer {
            version: env!("CARGO_PKG_VERSION"),
            grpc_address: &app.config.grpc_address,
            translators: app.babelfish.translators(),
        };
        return Html(render::document(&view, &footer)).into_response();
    }
    let result = match &form.var {
        None => app.store.delete_ws(&form.ws),
        Some(var) => app.store.delete_var(&form.ws, var),
    };
    if let Err(e) = result {
        return Failure::from(e).into_response();
    }
    tracing::info!(workspace = %form.ws, variable = ?form.var, "deleted from the web UI");
    if json {
        return match &form.var {
            None => Json(json!({"deleted": "workspace", "workspace": form.ws})).into_response(),
            Some(var) => {
                Json(json!({"deleted": "variable", "workspace": form.ws, "variable": var}))
                    .into_response()
            }
        };
    }
    let back = match &form.var {
        None => "/".to_string(),
        Some(_) => render::ws_href(&form.ws),
    };
    Redirect::to(&back).into_response()
}

/// What a deletion would discard, for the confirmation text.
fn confirm_counts(app: &App, form: &DeleteForm) -> Option<u64> {
    match &form.var {
        None => app.store.workspace_info(&form.ws).map(|w| w.variable_count),
        Some(var) => app
            .store
            .list_vars(&form.ws)
            .ok()?
            .into_iter()
            .find(|v| &v.name == var)
            .map(|v| v.value_count),
    }
}

// ---------------------------------------------------------------------------
// Live updates
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct EventsQuery {
    ws: Option<String>,
    var: Option<String>,
}

/// A fingerprint of what a view shows, so that a change elsewhere (another
/// workspace, a babelfish exchange) sends nothing.
fn digest(app: &App, q: &EventsQuery) -> u64 {
    let mut h = DefaultHasher::new();
    match (&q.ws, &q.var) {
        (None, _) => {
            let stats = app.store.stats();
            (stats.sessions, stats.memory_used).hash(&mut h);
            for w in app.store.list_wss(0) {
                (w.name, w.owner, w.persistent, w.variable_count).hash(&mut h);
            }
        }
        (Some(ws), None) => match (app.store.workspace_info(ws), app.store.list_vars(ws)) {
            (Some(info), Ok(vars)) => {
                (info.owner, info.persistent).hash(&mut h);
                for v in vars {
                    (
                        v.name,
                        v.mode.map(Mode::name),
                        v.value_count,
                        v.fetchers,
                        v.finders,
                    )
                        .hash(&mut h);
                }
            }
            _ => "gone".hash(&mut h),
        },
        (Some(ws), Some(var)) => {
            match app.store.list_vars(ws) {
                Ok(vars) => {
                    if let Some(v) = vars.into_iter().find(|v| &v.name == var) {
                        (v.mode.map(Mode::name), v.value_count, v.fetchers, v.finders).hash(&mut h);
                    }
                }
                Err(_) => "gone".hash(&mut h),
            }
            if let Ok(peek) = app.store.peek_values(ws, var, MAX_VALUES_SHOWN) {
                (peek.exists, peek.generation, peek.first_index, peek.total).hash(&mut h);
                for v in &peek.values {
                    // Identity of the shared buffer: a replaced value differs.
                    (v.data.as_ptr() as usize, v.data.len()).hash(&mut h);
                }
            }
        }
    }
    h.finish()
}

async fn api_events(State(app): State<Shared>, Query(q): Query<EventsQuery>) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(4);
    let mut down = app.shutdown.clone();
    tokio::spawn(async move {
        let mut seen = app.store.change_count();
        let mut last = digest(&app, &q);
        let hello = Event::default()
            .event("ready")
            .data(json!({"seq": seen}).to_string());
        if tx.send(Ok(hello)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                _ = app.store.changed(seen) => {}
                _ = down.wait_for(|d| *d) => return,
                () = tx.closed() => return,
            }
            // Coalesce a burst of changes into one update.
            tokio::select! {
                () = tokio::time::sleep(COALESCE) => {}
                _ = down.wait_for(|d| *d) => return,
                () = tx.closed() => return,
            }
            seen = app.store.change_count();
            let now = digest(&app, &q);
            if now != last {
                last = now;
                let event = Event::default()
                    .event("change")
                    .data(json!({"seq": seen}).to_string());
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut response = Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The address the binary prints for a listener (`http://127.0.0.1:8766`).
pub fn url_for(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
