//! # nws._nws: the native half of the NetWorkSpaces Python client
//!
//! Private mechanical glue between the Rust client (`nws`) and the typed
//! public package `nws` (`python/nws/client.py`), which is what users
//! import. Nothing here is public API.
//!
//! ## Module map
//!
//! - `runtime`: the per-process tokio runtime, driven by the waiting caller
//!   with the GIL released, a keepalive thread for idle times, Ctrl-C
//!   between wait slices, and rebuilding after `fork()`.
//! - `session`: the classes `Session`, `Workspace`, `ValueIter` and
//!   `Lease`.
//! - `convert`: Python objects <-> NWS values (str, bytes, pickle, json,
//!   `Blob`), and NWS errors -> the exceptions of `nws._exceptions`.

use pyo3::prelude::*;

mod convert;
mod runtime;
mod session;

/// Sets the busy-poll budget of this process's runtime in microseconds
/// (0 turns it off): how long a waiting call keeps polling the socket
/// before it sleeps. Also read from `NWS_SPIN_US` at start.
#[pyfunction]
fn set_spin(py: Python<'_>, micros: u64) -> PyResult<()> {
    runtime::runtime(py)?.set_spin(micros);
    Ok(())
}

/// The busy-poll budget in microseconds.
#[pyfunction]
fn get_spin(py: Python<'_>) -> PyResult<u64> {
    Ok(runtime::runtime(py)?.spin())
}

/// The native module `nws._nws`.
#[pymodule]
fn _nws(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<session::Session>()?;
    m.add_class::<session::Workspace>()?;
    m.add_class::<session::ValueIter>()?;
    m.add_class::<session::Lease>()?;
    m.add_class::<convert::Blob>()?;
    m.add_function(wrap_pyfunction!(set_spin, m)?)?;
    m.add_function(wrap_pyfunction!(get_spin, m)?)?;
    m.add("PYTHON_PICKLE", convert::PYTHON_PICKLE)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
