//! # nws: the NetWorkSpaces client for Rust
//!
//! NetWorkSpaces (NWS) is a coordination service: a server holds named
//! **workspaces**, a workspace holds named **variables**, a variable holds a
//! queue of **values**. Programs in any language `store` values, `fetch`
//! them (consume; waits while empty), `find` them (read without consuming)
//! and iterate over them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), nws::Error> {
//! let server = nws::Server::connect("localhost:8765").await?;
//! let ws = server.open_ws("demo").await?;
//! ws.store("x", "hello").await?;
//! let v = ws.fetch("x").await?;
//! assert_eq!(v.as_text(), Some("hello"));
//! # Ok(()) }
//! ```
//!
//! One [`Server`] is one session: one HTTP/2 connection carrying one
//! bidirectional gRPC stream, on which any number of requests (including
//! several blocked fetches) are outstanding at once. A background task
//! routes each reply to the call waiting for it. Fetched values are leased
//! and acknowledged on receipt, so a value in flight when a session dies is
//! returned to its variable, never lost.
//!
//! ## Module map
//!
//! - `value`: [`Value`] (text, raw bytes, codec-tagged blob), [`Mode`],
//!   and the listing structs [`WorkspaceInfo`], [`VariableInfo`].
//! - `error`: [`Error`] and the stable [`Reason`] catalog.
//! - `connection`: the session stream, request ids, the reply-routing task,
//!   chunking of large values (private).
//! - `server`: [`Server`] (workspace-level operations), [`OpenOptions`],
//!   [`ServerInfo`].
//! - `workspace`: [`Workspace`] (variable operations).
//! - `iter`: [`ValueStream`], the async iterators (`ifetch`, `ifind`, ...).
//! - `lease`: [`Lease`], the claim on a value fetched with
//!   [`Workspace::fetch_leased`].
//! - [`serde_value`]: serde types as `rust/cbor` (CBOR) or neutral `json` blobs.
//! - [`blocking`]: the same API for synchronous programs.

mod connection;
mod error;
mod iter;
mod lease;
mod server;
mod value;
mod workspace;

pub mod blocking;
pub mod driven;
pub mod serde_value;

pub use error::{CodecError, Error, Reason};
pub use iter::{Cursor, IterKind, ValueStream};
pub use lease::Lease;
pub use server::{OpenOptions, Server, ServerInfo};
pub use value::{Mode, RUST_CBOR, Value, VariableInfo, WorkspaceInfo};
pub use workspace::Workspace;

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send_sync<T: Send + Sync>() {}
    fn is_send<T: Send>(_: &T) {}

    #[test]
    fn handles_are_send_and_sync() {
        is_send_sync::<Server>();
        is_send_sync::<Workspace>();
        is_send_sync::<Lease>();
        is_send_sync::<Error>();
        is_send_sync::<Value>();
        is_send_sync::<blocking::Server>();
        is_send_sync::<blocking::Workspace>();
    }

    /// Never run: it only has to compile, proving the futures can be
    /// spawned on a multi-thread runtime.
    #[allow(dead_code, unused_must_use)]
    fn operation_futures_are_send(server: Server, ws: Workspace) {
        is_send(&server.open_ws("w"));
        is_send(&server.list_wss());
        is_send(&server.close());
        is_send(&ws.store("x", "v"));
        is_send(&ws.fetch("x"));
        is_send(&ws.fetch_leased("x"));
        is_send(&ws.find_timeout("x", std::time::Duration::ZERO));
        is_send(&ws.store_serde("x", &1u8));
        is_send(&ws.fetch_serde::<u8>("x"));
        is_send(&ws.ifetch("x"));
    }
}
