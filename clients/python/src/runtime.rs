//! The Python side of the per-process runtime: [`Rt::run`], the one way
//! Python calls wait for the network.
//!
//! The runtime itself (a current-thread tokio runtime driven by whichever
//! thread waits, the `nws-keepalive` thread, fork handling, the busy-poll
//! budget) is [`nws::driven::DrivenRuntime`], shared with the R binding.
//! What is Python's: a waiting call releases the GIL while it drives, and
//! between slices takes the GIL back to run Python's signal handlers, so
//! Ctrl-C interrupts a blocked call (`KeyboardInterrupt`); dropping the
//! call's future withdraws its request with `Cancel`, and a value that
//! crossed the cancel is given back.
//!
//! `NWS_PY_DRIVER=background` makes the keepalive thread drive the runtime
//! all the time (callers only poll their own futures): kept as a switch for
//! the comparison in `bench/python_bench.py`. The registry of runtimes is
//! locked only while holding the GIL, and `fork()` from Python happens with
//! the GIL held, so no other thread can hold that lock at that moment.

use std::future::Future;
use std::sync::Arc;

use nws::driven::DrivenRuntime;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The runtime of this process, as the Python binding uses it (a cheap
/// handle: cloning it clones an `Arc`).
#[derive(Clone)]
pub(crate) struct Rt(Arc<DrivenRuntime>);

/// The runtime of this process, built on first use (and again in a forked
/// child).
pub(crate) fn runtime(_py: Python<'_>) -> PyResult<Rt> {
    let background = std::env::var("NWS_PY_DRIVER").is_ok_and(|v| v.trim() == "background");
    DrivenRuntime::for_this_process(background)
        .map(Rt)
        .map_err(|e| PyRuntimeError::new_err(format!("nws: cannot start the runtime: {e}")))
}

/// The runtime of this process if it exists, without building one (for
/// `Drop` code, which has no GIL token; it is called with the GIL held).
pub(crate) fn current() -> Option<Rt> {
    DrivenRuntime::current().map(Rt)
}

impl Rt {
    /// Sets the busy-poll budget (microseconds, 0 = off).
    pub(crate) fn set_spin(&self, micros: u64) {
        self.0.set_spin(micros);
    }

    /// The busy-poll budget (microseconds).
    pub(crate) fn spin(&self) -> u64 {
        self.0.spin()
    }

    /// Runs `fut` to completion with the GIL released, checking for signals
    /// between slices. If a signal handler raises (Ctrl-C:
    /// `KeyboardInterrupt`), the future is dropped, which withdraws its
    /// request, and the exception is returned.
    pub(crate) fn run<F>(&self, py: Python<'_>, fut: F) -> PyResult<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        py.detach(|| {
            self.0
                .run_sliced(fut, || Python::attach(|py| py.check_signals()))
        })
    }

    /// Lets queued messages (acks, cancels) go out.
    pub(crate) fn flush(&self) {
        self.0.flush();
    }
}
