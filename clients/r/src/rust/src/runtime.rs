//! The per-process tokio runtime every session of this R process shares,
//! [`Rt::run`] (the one way an R call waits for the network), and the R
//! interrupt check that makes those waits interruptible.
//!
//! The runtime is a current-thread runtime *driven by the R thread while it
//! waits*: a call runs its future with `Runtime::block_on` on the R thread,
//! so a reply is read and handed over without waking another thread.
//!
//! While no call runs, a small background thread (`nws-keepalive`) drives
//! the runtime for a moment every [`TICK`], so the HTTP/2 connection answers
//! the server's keepalive pings, sends queued acknowledgements and ends
//! dropped sessions even while R computes for hours between calls. That
//! thread never touches R.
//!
//! Waits run in slices of [`SLICE`]. Between slices the R thread asks R
//! whether the user interrupted (Ctrl-C, SIGINT) without letting R jump out
//! of Rust frames ([`interrupt_pending`]); if so the call's future is
//! dropped, which withdraws its request with `Cancel` (a value that crossed
//! the cancel is given back), and the caller re-raises the interrupt in R
//! once every Rust frame has returned.
//!
//! Fork (`parallel::mclapply`): a child has no keepalive thread and may have
//! inherited a runtime that thread was driving, so the runtime is keyed by
//! process id and rebuilt in a child; the parent's is leaked, never touched.
//! Only the R thread locks the registry, and R forks from that thread, so
//! no other thread can hold the lock at that moment.

use std::future::Future;
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::failure::Failure;

/// How long a call waits before checking for a user interrupt.
const SLICE: Duration = Duration::from_millis(50);
/// How often the keepalive thread drives an idle runtime (well inside the
/// server's keepalive timeout).
const TICK: Duration = Duration::from_millis(100);

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

/// The runtime of this process.
pub(crate) struct Rt {
    /// Current-thread: driven by the waiting R thread or the keepalive
    /// thread.
    rt: tokio::runtime::Runtime,
    /// The process that built it (see the module notes on fork).
    pid: u32,
    /// Calls inside `block_on` right now; the keepalive thread drives only
    /// when this is 0, so it never competes with a caller.
    drivers: AtomicUsize,
    /// Busy-poll budget in microseconds (0 = off), from `NWS_SPIN_US` or
    /// `nwsSetSpin()`: how long a caller keeps polling without sleeping.
    spin_us: AtomicU64,
}

/// The runtime of the current process, if built.
static CURRENT: Mutex<Option<Arc<Rt>>> = Mutex::new(None);

/// The runtime of this process, built on first use (and again in a forked
/// child).
pub(crate) fn runtime() -> Result<Arc<Rt>, Failure> {
    let pid = std::process::id();
    let mut current = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(rt) = current.as_ref() {
        if rt.pid == pid {
            return Ok(Arc::clone(rt));
        }
    }
    if let Some(parent) = current.take() {
        // A forked child: never drop the parent's runtime here.
        std::mem::forget(parent);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::internal(format!("cannot start the runtime: {e}")))?;
    let rt = Arc::new(Rt {
        rt,
        pid,
        drivers: AtomicUsize::new(0),
        spin_us: AtomicU64::new(spin_from_env()),
    });
    let ticker = Arc::clone(&rt);
    std::thread::Builder::new()
        .name("nws-keepalive".into())
        .spawn(move || ticker.keepalive())
        .map_err(|e| Failure::internal(format!("cannot start a thread: {e}")))?;
    *current = Some(Arc::clone(&rt));
    Ok(rt)
}

/// The busy-poll budget from `NWS_SPIN_US` (microseconds; default 0).
fn spin_from_env() -> u64 {
    std::env::var("NWS_SPIN_US")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0)
        .min(1_000_000)
}

impl Rt {
    /// The process that built this runtime.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Sets the busy-poll budget (microseconds, 0 = off).
    pub(crate) fn set_spin(&self, micros: u64) {
        self.spin_us.store(micros.min(1_000_000), Ordering::Relaxed);
    }

    /// The busy-poll budget (microseconds).
    pub(crate) fn spin(&self) -> u64 {
        self.spin_us.load(Ordering::Relaxed)
    }

    /// The keepalive thread: drives the runtime briefly whenever no caller
    /// does. Runs for the life of the process.
    fn keepalive(&self) {
        loop {
            std::thread::sleep(TICK);
            if self.drivers.load(Ordering::SeqCst) == 0 {
                self.rt.block_on(async {
                    for _ in 0..8 {
                        tokio::task::yield_now().await;
                    }
                });
            }
        }
    }

    /// Drives the runtime on this thread until `fut` completes or `limit`
    /// passes; `None` on the limit.
    fn drive<F: Future + Unpin>(&self, fut: &mut F, limit: Duration) -> Option<F::Output> {
        let spin = Duration::from_micros(self.spin());
        self.drivers.fetch_add(1, Ordering::SeqCst);
        let out = self.rt.block_on(settled(async {
            if !spin.is_zero() {
                let start = Instant::now();
                loop {
                    if let std::task::Poll::Ready(v) = futures_poll(&mut *fut).await {
                        return Some(v);
                    }
                    if start.elapsed() >= spin {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
            tokio::time::timeout(limit, &mut *fut).await.ok()
        }));
        self.drivers.fetch_sub(1, Ordering::SeqCst);
        out
    }

    /// Runs `fut` to completion on the R thread, checking for a user
    /// interrupt every [`SLICE`]. On an interrupt the future is dropped
    /// (withdrawing its request) and [`Failure::Interrupted`] returned.
    pub(crate) fn run<F: Future>(&self, fut: F) -> Result<F::Output, Failure> {
        let mut fut = Box::pin(fut);
        loop {
            if let Some(v) = self.drive(&mut fut, SLICE) {
                return Ok(v);
            }
            if interrupt_pending() {
                drop(fut);
                self.flush();
                return Err(Failure::Interrupted);
            }
        }
    }

    /// Lets queued messages (acknowledgements, cancels) go out now rather
    /// than with the next message or at the next keepalive tick: a forked
    /// child that exits right after a fetch must not leave its value
    /// unacknowledged (it would be returned to its variable).
    pub(crate) fn flush(&self) {
        self.drivers.fetch_add(1, Ordering::SeqCst);
        self.rt.block_on(async {
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        });
        self.drivers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Polls a future once (the `futures::poll!` macro without the crate).
async fn futures_poll<F: Future + Unpin>(fut: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

/// Runs `fut`, then passes once more through the scheduler's park before
/// `block_on` may return.
///
/// A task that used up its cooperative budget (the outgoing stream after
/// 128 queued messages, say) is re-woken through a deferred list that the
/// current-thread scheduler drains when it parks, and that `block_on` drops
/// when it returns (tokio 1.54). Returning right after such a task yielded
/// would leave it asleep for good: a `storeMany` of 20,000 values then
/// hung once a slice ended at the wrong moment. One `yield_now` makes the
/// scheduler park (draining the list, so those tasks are queued in the
/// runtime for the next call) before the future completes.
///
/// ```ignore
/// let out = rt.block_on(settled(async { 42 }));
/// assert_eq!(out, 42);
/// ```
async fn settled<T>(fut: impl Future<Output = T>) -> T {
    let out = fut.await;
    tokio::task::yield_now().await;
    out
}
