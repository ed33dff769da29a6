//! [`Server`]: a session with an NWS server, and the workspace-level
//! operations (open, use, mktemp, delete, list).

use std::sync::Arc;

use nws_proto::v1 as pb;
use nws_proto::v1::request::Op;

use crate::connection::{Connection, DEFAULT_PORT, Payload};
use crate::error::Error;
use crate::value::WorkspaceInfo;
use crate::workspace::Workspace;

/// Facts about the server, from its answer to this session's `Hello`.
///
/// ```no_run
/// # async fn demo() -> Result<(), nws::Error> {
/// let server = nws::Server::connect("localhost:8765").await?;
/// let info = server.info();
/// println!("{} session {} max value {} bytes", info.server, info.session_id, info.max_value_size);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerInfo {
    /// The server implementation and version, e.g. `nws-server 0.1.0`.
    pub server: String,
    /// The protocol major version the server speaks.
    pub protocol_version: u32,
    /// This session's id, unique for the server's lifetime.
    pub session_id: u64,
    /// The largest piece of a value the server accepts in one message.
    pub max_chunk_size: u64,
    /// The largest single value the server accepts.
    pub max_value_size: u64,
}

/// How [`Server::open_ws_with`] opens a workspace.
///
/// ```
/// let opts = nws::OpenOptions { persistent: true, ..Default::default() };
/// assert!(!opts.must_exist && !opts.use_only);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// When this call creates or claims the workspace: it outlives this
    /// session.
    pub persistent: bool,
    /// Fail with `NO_SUCH_WORKSPACE` instead of creating a missing workspace.
    pub must_exist: bool,
    /// Use without ever owning (useWs).
    pub use_only: bool,
}

/// A session with an NWS server.
///
/// A cheap handle: clones and the [`Workspace`]s opened through it share one
/// HTTP/2 connection and one session stream, on which any number of
/// requests may be outstanding at once. The session ends with
/// [`close`](Server::close) or when the last handle is dropped; the server
/// then deletes the non-persistent workspaces it owns and returns the values
/// leased to it.
///
/// Must be used inside a tokio runtime (see [`crate::blocking`] otherwise).
///
/// ```no_run
/// # async fn demo() -> Result<(), nws::Error> {
/// let server = nws::Server::connect("localhost:8765").await?;
/// let ws = server.open_ws("demo").await?;
/// ws.store("greeting", "hello").await?;
/// assert_eq!(ws.fetch("greeting").await?.as_text(), Some("hello"));
/// server.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Server {
    pub(crate) conn: Arc<Connection>,
}

impl Server {
    /// Connects to the server at `addr` (`host:port`, `host` for port 8765,
    /// or `http://host:port`) and opens a session.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), nws::Error> {
    /// let server = nws::Server::connect("127.0.0.1:8765").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(addr: &str) -> Result<Server, Error> {
        Ok(Server {
            conn: Arc::new(Connection::connect(addr).await?),
        })
    }

    /// As [`connect`](Server::connect), introducing the session as `client`:
    /// the label listings show as the owner of the workspaces this session
    /// owns (at most 256 characters; e.g. `python 3.11 pid 4242 on node7`).
    /// Language bindings use it to name their language.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), nws::Error> {
    /// let server = nws::Server::connect_as("localhost:8765", "my-tool pid 42").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_as(addr: &str, client: &str) -> Result<Server, Error> {
        Ok(Server {
            conn: Arc::new(Connection::connect_as(addr, client.to_owned()).await?),
        })
    }

    /// Connects to `$NWS_HOST:$NWS_PORT` (defaults `localhost` and 8765).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), nws::Error> {
    /// let server = nws::Server::connect_default().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_default() -> Result<Server, Error> {
        Server::connect(&default_address()).await
    }

    /// Facts about the server and this session.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) {
    /// println!("{}", server.info().server);
    /// # }
    /// ```
    pub fn info(&self) -> &ServerInfo {
        &self.conn.info
    }

    /// This session's id, unique for the server's lifetime.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) {
    /// println!("session {}", server.session_id());
    /// # }
    /// ```
    pub fn session_id(&self) -> u64 {
        self.conn.info.session_id
    }

    /// openWs: opens the workspace `name`, creating it if missing; this
    /// session becomes its owner if it has none (an owned, non-persistent
    /// workspace is deleted when the session ends).
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// let ws = server.open_ws("results").await?;
    /// # Ok(()) }
    /// ```
    pub async fn open_ws(&self, name: &str) -> Result<Workspace, Error> {
        self.open_ws_with(name, OpenOptions::default()).await
    }

    /// useWs: uses the workspace `name` (creating it if missing) without
    /// ever owning it.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// let ws = server.use_ws("shared").await?;
    /// # Ok(()) }
    /// ```
    pub async fn use_ws(&self, name: &str) -> Result<Workspace, Error> {
        self.open_ws_with(
            name,
            OpenOptions {
                use_only: true,
                ..OpenOptions::default()
            },
        )
        .await
    }

    /// Opens a workspace with explicit options.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// use nws::OpenOptions;
    /// let ws = server.open_ws_with("archive", OpenOptions { persistent: true, ..Default::default() }).await?;
    /// assert!(ws.persistent());
    /// # Ok(()) }
    /// ```
    pub async fn open_ws_with(&self, name: &str, options: OpenOptions) -> Result<Workspace, Error> {
        let op = Op::OpenWorkspace(pb::OpenWorkspace {
            name: name.to_owned(),
            use_only: options.use_only,
            must_exist: options.must_exist,
            persistent: options.persistent,
        });
        self.workspace_reply(op, "open").await
    }

    /// A handle on the workspace `name` without a request: variable
    /// operations name their workspace and need no open, so this is how a
    /// session uses a workspace another session opened (or lists the
    /// variables of any workspace). Operations fail with
    /// `NO_SUCH_WORKSPACE` if it does not exist. The handle's
    /// [`created`](Workspace::created), [`owned`](Workspace::owned) and
    /// [`persistent`](Workspace::persistent) are all `false`: nothing was
    /// asked of the server.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// let vars = server.workspace("someone elses").list_vars().await?;
    /// # Ok(()) }
    /// ```
    pub fn workspace(&self, name: &str) -> Workspace {
        Workspace::new(
            Arc::clone(&self.conn),
            pb::WorkspaceReply {
                name: name.to_owned(),
                ..Default::default()
            },
        )
    }

    /// mktempWs: creates a workspace with a new unique name from `template`
    /// (each `%d` becomes a server counter; `None` means `__ws__%d`). This
    /// session owns it, so it is deleted when the session ends.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// let ws = server.mktemp_ws(Some("job_%d")).await?;
    /// println!("{}", ws.name());
    /// # Ok(()) }
    /// ```
    pub async fn mktemp_ws(&self, template: Option<&str>) -> Result<Workspace, Error> {
        self.mktemp_ws_with(template, false).await
    }

    /// mktempWs with a choice of lifetime: `persistent` workspaces have no
    /// owner-bound lifetime.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// let ws = server.mktemp_ws_with(None, true).await?;
    /// # Ok(()) }
    /// ```
    pub async fn mktemp_ws_with(
        &self,
        template: Option<&str>,
        persistent: bool,
    ) -> Result<Workspace, Error> {
        let op = Op::MktempWorkspace(pb::MktempWorkspace {
            template: template.unwrap_or_default().to_owned(),
            persistent,
        });
        self.workspace_reply(op, "mktemp").await
    }

    async fn workspace_reply(&self, op: Op, what: &str) -> Result<Workspace, Error> {
        match self.conn.call(op, false).await? {
            Payload::Workspace(w) => Ok(Workspace::new(Arc::clone(&self.conn), w)),
            _ => Err(Error::unexpected(what)),
        }
    }

    /// deleteWs: deletes the workspace `name`; requests waiting on it fail
    /// with `NO_SUCH_WORKSPACE`.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// server.delete_ws("old").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_ws(&self, name: &str) -> Result<(), Error> {
        let op = Op::DeleteWorkspace(pb::DeleteWorkspace {
            name: name.to_owned(),
        });
        match self.conn.call(op, false).await? {
            Payload::Done => Ok(()),
            _ => Err(Error::unexpected("deleteWs")),
        }
    }

    /// listWss: every workspace on the server, sorted by name.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) -> Result<(), nws::Error> {
    /// let names: Vec<String> = server.list_wss().await?.into_iter().map(|w| w.name).collect();
    /// # Ok(()) }
    /// ```
    pub async fn list_wss(&self) -> Result<Vec<WorkspaceInfo>, Error> {
        match self
            .conn
            .call(Op::ListWorkspaces(pb::ListWorkspaces {}), false)
            .await?
        {
            Payload::Workspaces(l) => Ok(l.into_iter().map(WorkspaceInfo::from).collect()),
            _ => Err(Error::unexpected("listWss")),
        }
    }

    /// Ends the session for every handle sharing it: requests already queued
    /// are sent, then the stream ends; pending and later calls fail with
    /// [`Error::Closed`]. Waits (a few seconds at most) until the server has
    /// ended the session.
    ///
    /// ```no_run
    /// # async fn demo(server: nws::Server) {
    /// server.close().await;
    /// # }
    /// ```
    pub async fn close(&self) {
        self.conn.close().await;
    }
}

/// `$NWS_HOST:$NWS_PORT` with defaults `localhost` and 8765.
pub(crate) fn default_address() -> String {
    let host = std::env::var("NWS_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let port = std::env::var("NWS_PORT")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_PORT.to_string());
    if host.contains(':') && !host.starts_with('[') && !host.contains("://") {
        // A bare IPv6 address.
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
