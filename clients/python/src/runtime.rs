//! The per-process tokio runtime every session of this process shares, and
//! [`Rt::run`], the one way Python calls wait for the network.
//!
//! The runtime is a current-thread runtime *driven by whichever thread
//! waits*: a Python call releases the GIL and runs its future with
//! `Runtime::block_on` on its own thread, so a reply is read, decoded and
//! handed over on the thread that wants it, without waking another thread
//! (the cheapest crossing measured in `toolchain.md`). Several Python threads
//! may wait at once: tokio lets one of them drive I/O while the others poll
//! their own futures, so they share one connection.
//!
//! While no call runs, a small background thread (`nws-keepalive`) drives
//! the runtime for a moment every [`TICK`]: the HTTP/2 connection then
//! answers the server's keepalive pings (the server ends a session whose
//! ping goes unanswered for 1 s), sends queued acknowledgements and ends
//! closed sessions, even while Python computes for hours without calling.
//! That thread never touches Python.
//!
//! Measured here (16-byte store+fetch, one process, same server): driven
//! by the caller, 35 us and 14 us of client CPU per operation; driven by a
//! background thread that callers wait on (`NWS_PY_DRIVER=background`, kept
//! as a switch for that comparison), 100-125 us and 50 us. `NWS_SPIN_US`
//! (default 0) adds a busy-poll before a caller sleeps: faster on an idle
//! machine, slower when the CPUs are shared, so it is off by default.
//!
//! Waits run in slices of [`SLICE`]; between slices the GIL is taken back
//! to run Python's signal handlers, so Ctrl-C interrupts a blocked call
//! (`KeyboardInterrupt`); dropping the call's future withdraws its request
//! with `Cancel`, and a value that crossed the cancel is given back.
//!
//! Fork: a child process has no keepalive thread and may have inherited a
//! runtime that another thread of the parent was driving, so the runtime is
//! keyed by process id and rebuilt in a child; the parent's is leaked, never
//! touched. The registry is locked only while holding the GIL, and `fork()`
//! from Python happens with the GIL held, so no other thread can hold the
//! lock at that moment.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// How long a call waits before taking the GIL back to check for signals.
const SLICE: Duration = Duration::from_millis(50);
/// How often the keepalive thread drives an idle runtime (well inside the
/// server's 1 s keepalive timeout).
const TICK: Duration = Duration::from_millis(100);

/// The runtime of this process.
pub(crate) struct Rt {
    /// Current-thread: driven by waiting callers or the keepalive thread.
    rt: tokio::runtime::Runtime,
    /// The process that built it (see the module notes on fork).
    pid: u32,
    /// Threads inside `block_on` right now; the keepalive thread drives
    /// only when this is 0, so it never competes with a caller.
    drivers: AtomicUsize,
    /// Busy-poll budget in microseconds (0 = off): how long a caller keeps
    /// polling the network without sleeping before it parks. Set from
    /// `NWS_SPIN_US`, or by `nws._nws.set_spin`.
    spin_us: AtomicU64,
}

/// The runtime of the current process, if built. Locked only with the GIL
/// held (the `Python` token of [`runtime`]).
static CURRENT: Mutex<Option<Arc<Rt>>> = Mutex::new(None);

/// The runtime of this process, built on first use (and again in a forked
/// child).
pub(crate) fn runtime(_py: Python<'_>) -> PyResult<Arc<Rt>> {
    let pid = std::process::id();
    let mut current = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(rt) = current.as_ref() {
        if rt.pid == pid {
            return Ok(Arc::clone(rt));
        }
    }
    // A forked child: the parent's runtime must not be dropped here (its
    // driver state may belong to a thread that does not exist any more).
    if let Some(parent) = current.take() {
        std::mem::forget(parent);
    }
    let rt = Arc::new(Rt::new(pid)?);
    let ticker = Arc::clone(&rt);
    std::thread::Builder::new()
        .name("nws-keepalive".into())
        .spawn(move || ticker.keepalive())
        .map_err(|e| PyRuntimeError::new_err(format!("nws: cannot start a thread: {e}")))?;
    *current = Some(Arc::clone(&rt));
    Ok(rt)
}

/// The runtime of this process if it exists, without building one (for
/// `Drop` code, which has no GIL token; it is called with the GIL held).
pub(crate) fn current() -> Option<Arc<Rt>> {
    let current = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
    current
        .as_ref()
        .filter(|rt| rt.pid == std::process::id())
        .map(Arc::clone)
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
    fn new(pid: u32) -> PyResult<Rt> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("nws: cannot start the runtime: {e}")))?;
        Ok(Rt {
            rt,
            pid,
            drivers: AtomicUsize::new(0),
            spin_us: AtomicU64::new(spin_from_env()),
        })
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
        if std::env::var("NWS_PY_DRIVER").is_ok_and(|v| v.trim() == "background") {
            // The alternative measured against (bench/python_bench.py): this
            // thread drives the runtime all the time, and callers only poll
            // their own futures, woken from here.
            self.rt.block_on(std::future::pending::<()>());
        }
        loop {
            std::thread::sleep(TICK);
            if self.drivers.load(Ordering::SeqCst) == 0 {
                self.rt.block_on(async {
                    // Each yield lets the scheduler poll the socket without
                    // blocking and run what became ready (ping replies,
                    // queued acks, stream ends).
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
                // Busy-poll: keep the socket and the future polled without
                // sleeping, so a quick reply does not pay for waking a
                // sleeping CPU.
                let start = Instant::now();
                loop {
                    if let std::task::Poll::Ready(v) = futures::poll!(&mut *fut) {
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

    /// Runs `fut` to completion with the GIL released, checking for signals
    /// every [`SLICE`]. If a signal handler raises (Ctrl-C:
    /// `KeyboardInterrupt`), the future is dropped, which withdraws its
    /// request, and the exception is returned.
    pub(crate) fn run<F>(&self, py: Python<'_>, fut: F) -> PyResult<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let mut fut = Box::pin(fut);
        let result = py.detach(|| {
            loop {
                if let Some(v) = self.drive(&mut fut, SLICE) {
                    return Ok(v);
                }
                Python::attach(|py| py.check_signals())?;
            }
        });
        if result.is_err() {
            // Withdraw the request (Cancel), and let it go out now rather
            // than at the next keepalive tick.
            drop(fut);
            py.detach(|| self.flush());
        }
        result
    }

    /// Lets queued messages (acks, cancels) go out.
    pub(crate) fn flush(&self) {
        let mut nothing = Box::pin(async {
            for _ in 0..8 {
                tokio::task::yield_now().await;
            }
        });
        let _ = self.drive(&mut nothing, Duration::from_millis(10));
    }
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
