//! The R side of the per-process runtime: [`Rt::run`] (the one way an R
//! call waits for the network), and the R interrupt check that makes those
//! waits interruptible.
//!
//! The runtime itself (a current-thread tokio runtime *driven by the R
//! thread while it waits*, the `nws-keepalive` thread that drives it while
//! R computes between calls, fork handling, the busy-poll budget) is
//! [`nws::driven::DrivenRuntime`], shared with the Python binding.
//!
//! Waits run in slices of [`nws::driven::SLICE`]. Between slices the R thread asks R
//! whether the user interrupted (Ctrl-C, SIGINT) without letting R jump out
//! of Rust frames ([`interrupt_pending`]); if so the call's future is
//! dropped, which withdraws its request with `Cancel` (a value that crossed
//! the cancel is given back), and the caller re-raises the interrupt in R
//! once every Rust frame has returned.
//!
//! Fork (`parallel::mclapply`): the runtime is keyed by process id and
//! rebuilt in a child. Only the R thread asks for it, and R forks from that
//! thread, so no other thread can hold the registry lock at that moment.

use std::future::Future;
use std::os::raw::{c_int, c_void};
use std::sync::Arc;

use nws::driven::DrivenRuntime;

use crate::failure::Failure;

unsafe extern "C" {
    /// Runs `fun(data)` in a fresh top-level context: an R error or
    /// interrupt inside it returns FALSE instead of jumping over our frames.
    fn R_ToplevelExec(fun: extern "C" fn(*mut c_void), data: *mut c_void) -> c_int;
    /// Handles a pending user interrupt (by jumping to the top level).
    fn R_CheckUserInterrupt();
    /// Signals an interrupt condition to the R handlers in force.
    fn Rf_onintr();
}

extern "C" fn check_interrupt(_data: *mut c_void) {
    // SAFETY: called by R_ToplevelExec on the R thread.
    unsafe { R_CheckUserInterrupt() }
}

/// Whether the user interrupted R since the last check. Consumes the
/// interrupt: the caller must re-raise it with [`raise_interrupt`] after its
/// Rust frames are gone. Must run on the R thread.
pub(crate) fn interrupt_pending() -> bool {
    // SAFETY: on the R thread; R_ToplevelExec contains the jump an interrupt
    // makes, so no Rust frame is skipped.
    unsafe { R_ToplevelExec(check_interrupt, std::ptr::null_mut()) == 0 }
}

/// Signals the interrupt in R: handlers for `interrupt` conditions run, then
/// R returns to the top level. Called from a wrapper that owns nothing, as
/// the last thing it does.
pub(crate) fn raise_interrupt() {
    // SAFETY: on the R thread, from a frame without destructors to skip.
    unsafe { Rf_onintr() }
}

/// The runtime of this process, as the R binding uses it (a cheap handle:
/// cloning it clones an `Arc`).
#[derive(Clone)]
pub(crate) struct Rt(Arc<DrivenRuntime>);

/// The runtime of this process, built on first use (and again in a forked
/// child).
pub(crate) fn runtime() -> Result<Rt, Failure> {
    DrivenRuntime::for_this_process(false)
        .map(Rt)
        .map_err(|e| Failure::internal(format!("cannot start the runtime: {e}")))
}

impl Rt {
    /// The process that built this runtime.
    pub(crate) fn pid(&self) -> u32 {
        self.0.pid()
    }

    /// Sets the busy-poll budget (microseconds, 0 = off).
    pub(crate) fn set_spin(&self, micros: u64) {
        self.0.set_spin(micros);
    }

    /// The busy-poll budget (microseconds).
    pub(crate) fn spin(&self) -> u64 {
        self.0.spin()
    }

    /// Runs `fut` to completion on the R thread, checking for a user
    /// interrupt between slices. On an interrupt the future is dropped
    /// (withdrawing its request) and [`Failure::Interrupted`] returned.
    pub(crate) fn run<F: Future>(&self, fut: F) -> Result<F::Output, Failure> {
        self.0.run_sliced(fut, || {
            if interrupt_pending() {
                Err(Failure::Interrupted)
            } else {
                Ok(())
            }
        })
    }

    /// Lets queued messages (acknowledgements, cancels) go out now rather
    /// than with the next message or at the next keepalive tick: a forked
    /// child that exits right after a fetch must not leave its value
    /// unacknowledged (it would be returned to its variable).
    pub(crate) fn flush(&self) {
        self.0.flush();
    }
}
