//! The cubes worker and master from the article ("Coordinated Binding
//! Behavior"):
//!
//! ```text
//! # worker                                # master
//! ws = NetWorkSpace('table')              ws = NetWorkSpace('table')
//! while True:                             for x in range(100): ws.store('x', x)
//!     ws.store('r', f(ws.fetch('x')))     for x in range(100): print 'f(%d) = %d' % (x, ws.fetch('r'))
//! ```
//!
//! Numbers travel as decimal text, so a Python or R worker or master can
//! take either side. Ownership follows the spec: the worker only *uses* the
//! workspace (it never owns it), the master *opens* it and so owns it; when
//! the master ends, the workspace and anything left in it are deleted, and
//! a waiting worker re-attaches to a fresh `table` and waits for the next
//! master.

use nws::{Reason, Server, Value};

use crate::BoxError;

/// The workspace both sides meet in.
pub const WORKSPACE: &str = "table";

/// The function the workers compute, `None` when `x^3` overflows an `i64`.
///
/// ```
/// assert_eq!(nws_examples::cubes::cube(-3), Some(-27));
/// assert_eq!(nws_examples::cubes::cube(i64::MAX), None);
/// ```
pub fn cube(x: i64) -> Option<i64> {
    x.checked_pow(3)
}

/// Reads an integer sent as decimal text.
fn as_int(v: &Value) -> Option<i64> {
    v.as_text()?.trim().parse().ok()
}

/// Runs a cubes worker on `server`: fetches `x` from the workspace
/// [`WORKSPACE`], stores `r = x^3`, and repeats, waiting while there is no
/// `x`. Stops after `limit` values (never, with `None`) and returns how
/// many it computed.
///
/// A value that is not an integer in decimal text is reported on stderr and
/// skipped. When the workspace is deleted under it (its master ended), the
/// worker re-attaches and waits for the next master.
///
/// ```no_run
/// # async fn demo() -> Result<(), nws_examples::BoxError> {
/// let server = nws::Server::connect("localhost:8765").await?;
/// nws_examples::cubes::worker(&server, None).await?;
/// # Ok(()) }
/// ```
pub async fn worker(server: &Server, limit: Option<u64>) -> Result<u64, BoxError> {
    let mut ws = server.use_ws(WORKSPACE).await?;
    let mut done = 0u64;
    while limit.is_none_or(|l| done < l) {
        let x = match ws.fetch("x").await {
            Ok(v) => v,
            Err(e) if e.reason() == Some(Reason::NoSuchWorkspace) => {
                ws = server.use_ws(WORKSPACE).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let Some(r) = as_int(&x).and_then(cube) else {
            eprintln!("cubes-worker: skipping x = {x:?}: not an integer whose cube fits in i64");
            continue;
        };
        match ws.store("r", r.to_string()).await {
            Ok(()) => done += 1,
            Err(e) if e.reason() == Some(Reason::NoSuchWorkspace) => {
                // The master left between our fetch and store: nobody wants r.
                ws = server.use_ws(WORKSPACE).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// Runs the cubes master on `server`: stores `x = 0..n` in the workspace
/// [`WORKSPACE`] (opening, and so owning, it), fetches `n` results `r`, and
/// returns the pairs `(x, r)` in order of `x`.
///
/// With one worker the results arrive in the order of `x`, as in the
/// article. With several they may arrive in any order; since `x^3`
/// increases with `x`, sorting the results restores the pairing.
///
/// ```no_run
/// # async fn demo() -> Result<(), nws_examples::BoxError> {
/// let server = nws::Server::connect("localhost:8765").await?;
/// for (x, r) in nws_examples::cubes::master(&server, 100).await? {
///     println!("f({x}) = {r}");
/// }
/// # Ok(()) }
/// ```
pub async fn master(server: &Server, n: u32) -> Result<Vec<(i64, i64)>, BoxError> {
    let ws = server.open_ws(WORKSPACE).await?;
    for x in 0..n {
        ws.store("x", x.to_string()).await?;
    }
    let mut results = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let r = ws.fetch("r").await?;
        let r = as_int(&r).ok_or_else(|| format!("result {r:?} is not an integer"))?;
        results.push(r);
    }
    results.sort_unstable();
    Ok((0..i64::from(n)).zip(results).collect())
}
