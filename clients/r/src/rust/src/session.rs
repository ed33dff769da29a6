//! [`Session`]: what an R `nwsServer` object points to. One session is one
//! connection (one gRPC stream) to a server.
//!
//! Fork: an R process forked by `parallel::mclapply` inherits the parent's
//! session, whose connection belongs to the parent. The first call in the
//! child notices the process id changed, leaks (never touches) the parent's
//! connection and connects anew as a session of its own; workspaces are
//! addressed by name, so a `netWorkSpace` object keeps working in the child
//! (without owning anything there). Dropping a session in a child leaks it
//! too, so the parent's connection is never closed from a child.

use std::cell::RefCell;

use crate::failure::Failure;
use crate::runtime::{Rt, runtime};

/// A live connection of the process that made it.
struct Live {
    /// The runtime it runs on (the process's runtime when it connected).
    rt: Rt,
    /// The Rust client's session; cheap to clone (an `Arc`).
    server: nws::Server,
}

/// The state of a session: R objects are used from the R thread only, so a
/// `RefCell` suffices.
enum State {
    Live(Live),
    /// `nwsClose` was called: every later call fails with `DISCONNECTED`.
    Closed,
}

/// What an R `nwsServer` object's external pointer holds.
pub(crate) struct Session {
    /// `host:port` as given, for reconnecting in a forked child.
    addr: String,
    /// The start of the owner label sent in `Hello` (see [`owner_label`]).
    label: String,
    /// See [`State`].
    state: RefCell<State>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("addr", &self.addr).finish()
    }
}

/// `<label> pid <pid> on <host>`: the owner label of this process's
/// workspaces (computed at each connect, so a forked child shows its own
/// pid).
fn owner_label(label: &str) -> String {
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    format!("{label} pid {} on {host}", std::process::id())
}

fn connect(addr: &str, label: &str) -> Result<Live, Failure> {
    let rt = runtime()?;
    let label = owner_label(label);
    let server = rt
        .run(nws::Server::connect_as(addr, &label))
        .and_then(|r| r.map_err(Failure::from))
        .map_err(|e| Failure::connect(addr, e))?;
    Ok(Live { rt, server })
}

impl Session {
    /// Connects to `addr` (`host:port`), introducing itself as `label`.
    pub(crate) fn connect(addr: &str, label: &str) -> Result<Session, Failure> {
        let live = connect(addr, label)?;
        Ok(Session {
            addr: addr.to_owned(),
            label: label.to_owned(),
            state: RefCell::new(State::Live(live)),
        })
    }

    /// The runtime and client session to run a call on; reconnects first in
    /// a forked child.
    pub(crate) fn live(&self) -> Result<(Rt, nws::Server), Failure> {
        let pid = std::process::id();
        let mut state = self.state.borrow_mut();
        match &*state {
            State::Closed => Err(Failure::closed()),
            State::Live(l) if l.rt.pid() == pid => Ok((l.rt.clone(), l.server.clone())),
            State::Live(_) => {
                let fresh = connect(&self.addr, &self.label)?;
                let out = (fresh.rt.clone(), fresh.server.clone());
                if let State::Live(parent) = std::mem::replace(&mut *state, State::Live(fresh)) {
                    std::mem::forget(parent);
                }
                Ok(out)
            }
        }
    }

    /// Facts about the server and this session (connecting first in a
    /// forked child).
    pub(crate) fn info(&self) -> Result<nws::ServerInfo, Failure> {
        let (_, server) = self.live()?;
        Ok(server.info().clone())
    }

    /// Whether the session is open (a forked child's inherited session
    /// counts as open: it reconnects on use).
    pub(crate) fn is_open(&self) -> bool {
        matches!(&*self.state.borrow(), State::Live(_))
    }

    /// Ends the session (the server then deletes the non-persistent
    /// workspaces it owns). Idempotent.
    pub(crate) fn close(&self) -> Result<(), Failure> {
        let old = std::mem::replace(&mut *self.state.borrow_mut(), State::Closed);
        if let State::Live(l) = old {
            if l.rt.pid() != std::process::id() {
                std::mem::forget(l);
                return Ok(());
            }
            let server = l.server.clone();
            let r = l.rt.run(async move { server.close().await });
            drop(l);
            r?;
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let state = std::mem::replace(self.state.get_mut(), State::Closed);
        if let State::Live(l) = state {
            if l.rt.pid() != std::process::id() {
                // The parent's connection: leave it alone.
                std::mem::forget(l);
            } else {
                // Dropping the client session ends its stream; the keepalive
                // thread lets the end go out.
                drop(l);
            }
        }
    }
}

/// What an R iterator function's external pointer holds: the opaque cursor
/// of its last step and whether the iteration has ended.
#[derive(Debug)]
pub(crate) struct IterState {
    pub(crate) kind: nws::IterKind,
    pub(crate) cursor: std::cell::Cell<nws::Cursor>,
    pub(crate) ended: std::cell::Cell<bool>,
}
