//! # nws-r: the native part of the R package `nws`
//!
//! Private, mechanical glue between R and the Rust client crate `nws`. The
//! user API (argument checks, S4 classes, value encoding with `serialize()`,
//! conditions) is hand-written R in `R/`; every function here is called only
//! from there, through the `.Call` shims in `R/extendr-wrappers.R`.
//!
//! ## Module map
//!
//! - `runtime`: the per-process tokio runtime, driven by the R thread while
//!   it waits and by a keepalive thread while it does not; waits in slices
//!   with an R interrupt check between them; rebuilt after `fork()`.
//! - `session`: [`session::Session`] (an R `nwsServer`'s connection,
//!   reconnecting in a forked child) and the iterator state.
//! - `failure`: [`failure::Failure`], returned to R as an `nws_failure`
//!   object that the R layer raises as an `nws_error_<reason>` condition.
//! - here: the functions R calls, and the conversion of values.
//!
//! ## Values
//!
//! The R layer decides the kind: it passes a `character(1)` for text, a raw
//! vector and an empty codec for raw bytes, or a raw vector and a codec
//! (`r/serialize`, ...) for a blob. Fetched values come back as a
//! `character(1)` (text), a raw vector (raw), or a raw vector with an
//! attribute `codec` (blob, decoded in R); `NULL` means "nothing" (a Try
//! that found nothing, or the end of an iteration).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use extendr_api::prelude::*;

mod failure;
mod runtime;
mod session;

use failure::{Failure, answer};
use session::{IterState, Session};

/// The process that loaded the package (set by `R_init_nws`).
static LOADED_BY: AtomicU32 = AtomicU32::new(0);

/// Called once by `R_init_nws` (src/entrypoint.c) when the package loads.
#[unsafe(no_mangle)]
pub extern "C" fn nws_r_loaded() {
    LOADED_BY.store(std::process::id(), Ordering::Relaxed);
}

/// Whether this is a child forked after the package loaded (mclapply,
/// mcparallel). Such a child ends with `_exit`, skipping the exit
/// finalizer that closes its sessions, so acknowledgements must go out
/// before each call returns.
fn in_forked_child() -> bool {
    LOADED_BY.load(Ordering::Relaxed) != std::process::id()
}

/// The session an R `nwsServer` object points to.
fn session(x: &Robj) -> Result<&Session, Failure> {
    let p = <&ExternalPtr<Session>>::try_from(x).map_err(|_| {
        Failure::invalid("not a live NWS session (an nwsServer saved and restored cannot be used)")
    })?;
    p.try_addr()
        .map_err(|_| Failure::invalid("the NWS session pointer is NULL"))
}

/// A fetched value in its R form (see the crate notes).
fn value_robj(v: nws::Value) -> Robj {
    match v {
        nws::Value::Text(s) => Robj::from(s),
        nws::Value::Raw(b) => Raw::from_bytes(&b).into(),
        nws::Value::Blob { codec, data } => {
            let mut r: Robj = Raw::from_bytes(&data).into();
            let _ = r.set_attrib("codec", codec);
            r
        }
    }
}

/// A value from R (see the crate notes).
fn value_from_r(value: &Robj, codec: &str) -> Result<nws::Value, Failure> {
    if let Some(bytes) = value.as_raw_slice() {
        return Ok(if codec.is_empty() {
            nws::Value::from(bytes.to_vec())
        } else {
            nws::Value::blob(codec, bytes.to_vec())
        });
    }
    if value.is_string() && value.len() == 1 && !value.is_na() {
        if let Some(s) = value.as_str() {
            return Ok(nws::Value::Text(s.to_owned()));
        }
    }
    Err(Failure::invalid(
        "a value travels as a character(1) that is not NA, or a raw vector",
    ))
}

fn mode_from_r(mode: &str) -> Result<nws::Mode, Failure> {
    match mode.to_ascii_lowercase().as_str() {
        "fifo" => Ok(nws::Mode::Fifo),
        "lifo" => Ok(nws::Mode::Lifo),
        "multi" => Ok(nws::Mode::Multi),
        "single" => Ok(nws::Mode::Single),
        _ => Err(Failure::Local {
            reason: "INVALID_MODE",
            message: format!(
                "unknown mode {mode:?} (expected 'fifo', 'lifo', 'multi' or 'single')"
            ),
        }),
    }
}

/// `list(name, created, owned, persistent)` for an opened workspace.
fn workspace_robj(ws: &nws::Workspace) -> Robj {
    List::from_names_and_values(
        ["name", "created", "owned", "persistent"],
        [
            Robj::from(ws.name()),
            Robj::from(ws.created()),
            Robj::from(ws.owned()),
            Robj::from(ws.persistent()),
        ],
    )
    .map(Robj::from)
    .unwrap_or_else(|_| Robj::from(()))
}

/// Connects; answers the session's external pointer.
/// @noRd
#[extendr]
fn nws_connect(addr: &str, label: &str) -> Robj {
    answer(Session::connect(addr, label).map(|s| ExternalPtr::new(s).into()))
}

/// `list(server, protocol_version, session_id, max_chunk_size,
/// max_value_size)`; the 64-bit numbers as doubles.
/// @noRd
#[extendr]
fn nws_session_info(sess: Robj) -> Robj {
    answer((|| {
        let s = session(&sess)?;
        let i = s.info()?;
        Ok(List::from_names_and_values(
            [
                "server",
                "protocol_version",
                "session_id",
                "max_chunk_size",
                "max_value_size",
            ],
            [
                Robj::from(i.server),
                Robj::from(i.protocol_version as f64),
                Robj::from(i.session_id as f64),
                Robj::from(i.max_chunk_size as f64),
                Robj::from(i.max_value_size as f64),
            ],
        )
        .map(Robj::from)
        .unwrap_or_else(|_| Robj::from(())))
    })())
}

/// Whether the session is open.
/// @noRd
#[extendr]
fn nws_is_open(sess: Robj) -> bool {
    session(&sess).map(Session::is_open).unwrap_or(false)
}

/// Ends the session.
/// @noRd
#[extendr]
fn nws_close(sess: Robj) -> Robj {
    answer(
        session(&sess)
            .and_then(Session::close)
            .map(|_| Robj::from(())),
    )
}

/// openWs / useWs.
/// @noRd
#[extendr]
fn nws_open_ws(sess: Robj, name: &str, use_only: bool, must_exist: bool, persistent: bool) -> Robj {
    answer((|| {
        let (rt, server) = session(&sess)?.live()?;
        let opts = nws::OpenOptions {
            persistent,
            must_exist,
            use_only,
        };
        let ws = rt.run(server.open_ws_with(name, opts))??;
        Ok(workspace_robj(&ws))
    })())
}

/// mktempWs.
/// @noRd
#[extendr]
fn nws_mktemp_ws(sess: Robj, template: &str, persistent: bool) -> Robj {
    answer((|| {
        let (rt, server) = session(&sess)?.live()?;
        let t = (!template.is_empty()).then_some(template);
        let ws = rt.run(server.mktemp_ws_with(t, persistent))??;
        Ok(workspace_robj(&ws))
    })())
}

/// deleteWs.
/// @noRd
#[extendr]
fn nws_delete_ws(sess: Robj, name: &str) -> Robj {
    answer((|| {
        let (rt, server) = session(&sess)?.live()?;
        rt.run(server.delete_ws(name))??;
        Ok(Robj::from(()))
    })())
}

/// listWss, as columns.
/// @noRd
#[extendr]
fn nws_list_wss(sess: Robj) -> Robj {
    answer((|| {
        let (rt, server) = session(&sess)?.live()?;
        let l = rt.run(server.list_wss())??;
        let names: Vec<String> = l.iter().map(|w| w.name.clone()).collect();
        let owners: Vec<String> = l.iter().map(|w| w.owner.clone()).collect();
        let persistent: Vec<bool> = l.iter().map(|w| w.persistent).collect();
        let counts: Vec<f64> = l.iter().map(|w| w.variable_count as f64).collect();
        let mine: Vec<bool> = l.iter().map(|w| w.mine).collect();
        Ok(List::from_names_and_values(
            ["name", "owner", "persistent", "variable_count", "mine"],
            [
                Robj::from(names),
                Robj::from(owners),
                Robj::from(persistent),
                Robj::from(counts),
                Robj::from(mine),
            ],
        )
        .map(Robj::from)
        .unwrap_or_else(|_| Robj::from(())))
    })())
}

/// declare.
/// @noRd
#[extendr]
fn nws_declare(sess: Robj, ws: &str, var: &str, mode: &str) -> Robj {
    answer((|| {
        let mode = mode_from_r(mode)?;
        let (rt, server) = session(&sess)?.live()?;
        let w = server.workspace(ws);
        rt.run(w.declare(var, mode))??;
        Ok(Robj::from(()))
    })())
}

/// deleteVar.
/// @noRd
#[extendr]
fn nws_delete_var(sess: Robj, ws: &str, var: &str) -> Robj {
    answer((|| {
        let (rt, server) = session(&sess)?.live()?;
        let w = server.workspace(ws);
        rt.run(w.delete_var(var))??;
        Ok(Robj::from(()))
    })())
}

/// listVars, as columns.
/// @noRd
#[extendr]
fn nws_list_vars(sess: Robj, ws: &str) -> Robj {
    answer((|| {
        let (rt, server) = session(&sess)?.live()?;
        let w = server.workspace(ws);
        let l = rt.run(w.list_vars())??;
        let names: Vec<String> = l.iter().map(|v| v.name.clone()).collect();
        let modes: Vec<String> = l.iter().map(|v| v.mode.as_str().to_owned()).collect();
        let counts: Vec<f64> = l.iter().map(|v| v.value_count as f64).collect();
        let fetchers: Vec<f64> = l.iter().map(|v| v.fetchers as f64).collect();
        let finders: Vec<f64> = l.iter().map(|v| v.finders as f64).collect();
        Ok(List::from_names_and_values(
            ["name", "mode", "value_count", "fetchers", "finders"],
            [
                Robj::from(names),
                Robj::from(modes),
                Robj::from(counts),
                Robj::from(fetchers),
                Robj::from(finders),
            ],
        )
        .map(Robj::from)
        .unwrap_or_else(|_| Robj::from(())))
    })())
}

/// store: `value` is a character(1) (text) or a raw vector (raw when
/// `codec` is empty, else a blob with that codec).
/// @noRd
#[extendr]
fn nws_store(sess: Robj, ws: &str, var: &str, value: Robj, codec: &str) -> Robj {
    answer((|| {
        let v = value_from_r(&value, codec)?;
        let (rt, server) = session(&sess)?.live()?;
        let w = server.workspace(ws);
        rt.run(w.store(var, v))??;
        Ok(Robj::from(()))
    })())
}

/// fetch (op 0), fetchTry (1), find (2), findTry (3). `timeout` in seconds;
/// negative or NA: none (ignored by the Try kinds).
/// @noRd
#[extendr]
fn nws_retrieve(sess: Robj, ws: &str, var: &str, op: i32, timeout: f64) -> Robj {
    answer((|| {
        let (rt, server) = session(&sess)?.live()?;
        let w = server.workspace(ws);
        // Negative, NA or absurdly large: no deadline.
        let limit = Duration::try_from_secs_f64(timeout).ok();
        let got = match (op, limit) {
            (0, None) => rt.run(w.fetch(var))?.map(Some),
            (0, Some(t)) => rt.run(w.fetch_timeout(var, t))?.map(Some),
            (1, _) => rt.run(w.fetch_try(var))?,
            (2, None) => rt.run(w.find(var))?.map(Some),
            (2, Some(t)) => rt.run(w.find_timeout(var, t))?.map(Some),
            (3, _) => rt.run(w.find_try(var))?,
            _ => return Err(Failure::invalid(format!("unknown retrieve op {op}"))),
        };
        if op < 2 && in_forked_child() {
            // Let the acknowledgement go out now (see `in_forked_child`);
            // elsewhere it travels with the next message, the keepalive
            // tick, or the close at exit.
            rt.flush();
        }
        Ok(got?.map(value_robj).unwrap_or_else(|| Robj::from(())))
    })())
}

/// How many stores `nws_store_many` has in flight at once.
const STORE_WINDOW: usize = 1024;

/// The claim on a value taken by `nws_fetch_leased`, owned by an R external
/// pointer: settled by `nws_lease_settle`, released when garbage collected
/// unsettled (spec/leases.md).
struct LeaseCell(std::cell::RefCell<Option<nws::Lease>>);

/// fetch (`try_only` FALSE; `timeout` as for `nws_retrieve`) or fetchTry
/// (TRUE) under a lease: `list(value, lease)`, or `NULL` when a Try found
/// nothing. The value is consumed only by `nws_lease_settle(lease, TRUE)`.
/// @noRd
#[extendr]
fn nws_fetch_leased(sess: Robj, ws: &str, var: &str, try_only: bool, timeout: f64) -> Robj {
    answer((|| {
        let (rt, server) = session(&sess)?.live()?;
        let w = server.workspace(ws);
        let limit = Duration::try_from_secs_f64(timeout).ok();
        let got = match (try_only, limit) {
            (true, _) => rt.run(w.fetch_try_leased(var))??,
            (false, None) => Some(rt.run(w.fetch_leased(var))??),
            (false, Some(t)) => Some(rt.run(w.fetch_leased_timeout(var, t))??),
        };
        Ok(match got {
            None => Robj::from(()),
            Some((v, lease)) => {
                let cell: Robj =
                    ExternalPtr::new(LeaseCell(std::cell::RefCell::new(Some(lease)))).into();
                List::from_values([value_robj(v), cell]).into()
            }
        })
    })())
}

/// Acknowledges (`ack` TRUE: the value is consumed) or releases (FALSE: it
/// goes back to its variable) a lease; the message goes out before this
/// returns. A settled lease is left alone.
/// @noRd
#[extendr]
fn nws_lease_settle(lease: Robj, ack: bool) -> Robj {
    answer((|| {
        let cell = <&ExternalPtr<LeaseCell>>::try_from(&lease)
            .ok()
            .and_then(|p| p.try_addr().ok())
            .ok_or_else(|| Failure::invalid("not an NWS lease"))?;
        let taken = cell.0.borrow_mut().take();
        if let Some(l) = taken {
            if ack {
                l.ack()?;
            } else {
                l.release();
            }
            runtime::runtime()?.flush();
        }
        Ok(Robj::from(()))
    })())
}

/// Stores every raw vector of `values` in `var` (a blob with `codec`, raw
/// when `codec` is empty), in order, pipelined: one wait for all the
/// replies.
/// @noRd
#[extendr]
fn nws_store_many(sess: Robj, ws: &str, var: &str, values: List, codec: &str) -> Robj {
    answer((|| {
        let vals = values
            .values()
            .map(|v| value_from_r(&v, codec))
            .collect::<Result<Vec<_>, _>>()?;
        let (rt, server) = session(&sess)?.live()?;
        let w = server.workspace(ws);
        let mut values = vals.into_iter().peekable();
        while values.peek().is_some() {
            // join_all polls the stores in order the first time, and a store
            // sends its request on its first poll: they are applied in
            // order. At most STORE_WINDOW replies are awaited at a time (a
            // client that pipelines many more stalls: the server stops
            // reading while its replies wait to be read).
            let stores = values
                .by_ref()
                .take(STORE_WINDOW)
                .map(|v| w.store(var, v))
                .collect::<Vec<_>>();
            for r in rt.run(futures::future::join_all(stores))? {
                r?;
            }
        }
        Ok(Robj::from(()))
    })())
}

/// A new iterator state: kind 0 ifetch, 1 ifetchTry, 2 ifind, 3 ifindTry.
/// @noRd
#[extendr]
fn nws_iter_new(kind: i32) -> Robj {
    let kind = match kind {
        0 => nws::IterKind::Ifetch,
        1 => nws::IterKind::IfetchTry,
        2 => nws::IterKind::Ifind,
        _ => nws::IterKind::IfindTry,
    };
    ExternalPtr::new(IterState {
        kind,
        cursor: std::cell::Cell::new(nws::Cursor::default()),
        ended: std::cell::Cell::new(false),
    })
    .into()
}

/// One iterator step: the value, `NULL` at the end (and ever after), or a
/// failure (the iterator stays where it was, so a step interrupted by the
/// user can be retried).
/// @noRd
#[extendr]
fn nws_iter_step(sess: Robj, ws: &str, var: &str, iter: Robj) -> Robj {
    answer((|| {
        let st = <&ExternalPtr<IterState>>::try_from(&iter)
            .ok()
            .and_then(|p| p.try_addr().ok())
            .ok_or_else(|| Failure::invalid("not an NWS iterator state"))?;
        if st.ended.get() {
            return Ok(Robj::from(()));
        }
        let (rt, server) = session(&sess)?.live()?;
        let w = server.workspace(ws);
        let step = rt.run(w.iterate(var, st.kind, st.cursor.get(), None))??;
        if matches!(st.kind, nws::IterKind::Ifetch | nws::IterKind::IfetchTry) && in_forked_child()
        {
            rt.flush();
        }
        match step {
            Some((v, next)) => {
                st.cursor.set(next);
                Ok(value_robj(v))
            }
            None => {
                st.ended.set(true);
                Ok(Robj::from(()))
            }
        }
    })())
}

/// Re-raises a user interrupt that a call consumed (see `runtime`).
/// @noRd
#[extendr]
fn nws_raise_interrupt() {
    runtime::raise_interrupt();
}

/// Sets the busy-poll budget of this process's runtime, in microseconds
/// (0 = off); answers the previous budget.
/// @noRd
#[extendr]
fn nws_set_spin(micros: f64) -> Robj {
    answer((|| {
        let rt = runtime::runtime()?;
        let old = rt.spin();
        if micros.is_finite() && micros >= 0.0 {
            rt.set_spin(micros as u64);
        }
        Ok(Robj::from(old as f64))
    })())
}

extendr_module! {
    mod nws;
    fn nws_connect;
    fn nws_session_info;
    fn nws_is_open;
    fn nws_close;
    fn nws_open_ws;
    fn nws_mktemp_ws;
    fn nws_delete_ws;
    fn nws_list_wss;
    fn nws_declare;
    fn nws_delete_var;
    fn nws_list_vars;
    fn nws_store;
    fn nws_retrieve;
    fn nws_fetch_leased;
    fn nws_lease_settle;
    fn nws_store_many;
    fn nws_iter_new;
    fn nws_iter_step;
    fn nws_raise_interrupt;
    fn nws_set_spin;
}
