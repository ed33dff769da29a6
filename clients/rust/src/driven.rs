//! A runtime for language bindings: a current-thread tokio runtime *driven
//! by whichever thread waits*, kept alive between calls by a small thread.
//!
//! The Python and R bindings wait for the network through
//! [`DrivenRuntime::run_sliced`]: the calling thread runs the call's future
//! with `block_on` itself, so a reply is read, decoded and handed over on
//! the thread that wants it without waking another thread (the cheapest
//! crossing measured in `toolchain.md`: 35 us and 14 us of client CPU per
//! operation, against 100-125 us and 50 us when a background thread drives
//! and callers wait on it). Several threads may wait at once: tokio lets
//! one of them drive I/O while the others poll their own futures.
//!
//! While no call runs, a thread named `nws-keepalive` drives the runtime for
//! a moment every [`TICK`], so the HTTP/2 connection answers the server's
//! keepalive pings (the server ends a session whose ping goes unanswered for
//! 1 s), sends queued acknowledgements and ends closed sessions, even while
//! the program computes for hours between calls. That thread never calls
//! back into the binding's language.
//!
//! Waits run in slices of [`SLICE`]; between slices the binding checks for
//! an interrupt (Python's signal handlers, R's user interrupt). On an
//! interrupt the call's future is dropped, which withdraws its request with
//! `Cancel` (a value that crossed the cancel is given back).
//!
//! Fork (`multiprocessing`, `parallel::mclapply`): a child has no keepalive
//! thread and may have inherited a runtime another thread was driving, so
//! [`DrivenRuntime::for_this_process`] keys the runtime by process id and
//! builds a new one in a child; the parent's is leaked, never touched.
//!
//! ```
//! let rt = nws::driven::DrivenRuntime::for_this_process(false).unwrap();
//! let out = rt.run_sliced(async { 6 * 7 }, || Ok::<(), ()>(())).unwrap();
//! assert_eq!(out, 42);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

/// How long a call waits before the binding checks for an interrupt.
pub const SLICE: Duration = Duration::from_millis(50);
/// How often the keepalive thread drives an idle runtime (well inside the
/// server's 1 s keepalive timeout).
pub const TICK: Duration = Duration::from_millis(100);

/// The per-process runtime every session of a binding shares.
pub struct DrivenRuntime {
    /// Current-thread: driven by waiting callers or the keepalive thread.
    rt: tokio::runtime::Runtime,
    /// The process that built it (see the module notes on fork).
    pid: u32,
    /// Callers inside `block_on` right now; the keepalive thread drives only
    /// when this is 0, so it never competes with a caller.
    drivers: AtomicUsize,
    /// Busy-poll budget in microseconds (0 = off): how long a caller keeps
    /// polling the network without sleeping before it parks.
    spin_us: AtomicU64,
}

impl std::fmt::Debug for DrivenRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrivenRuntime")
            .field("pid", &self.pid)
            .field("spin_us", &self.spin())
            .finish_non_exhaustive()
    }
}

/// The runtime of the current process, if built.
static CURRENT: Mutex<Option<Arc<DrivenRuntime>>> = Mutex::new(None);

impl DrivenRuntime {
    /// The runtime of this process, built (with its keepalive thread) on
    /// first use and again in a forked child. With `background_driver` the
    /// keepalive thread drives the runtime all the time instead, and callers
    /// only poll their own futures (kept to measure the two against each
    /// other). The busy-poll budget starts from `NWS_SPIN_US`.
    ///
    /// Call it from the binding's main thread (the one that forks), so no
    /// other thread holds the registry lock when a process forks.
    ///
    /// ```
    /// use nws::driven::DrivenRuntime;
    /// let a = DrivenRuntime::for_this_process(false).unwrap();
    /// let b = DrivenRuntime::for_this_process(false).unwrap();
    /// assert!(std::sync::Arc::ptr_eq(&a, &b));
    /// ```
    pub fn for_this_process(background_driver: bool) -> std::io::Result<Arc<DrivenRuntime>> {
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
        let rt = Arc::new(DrivenRuntime {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            pid,
            drivers: AtomicUsize::new(0),
            spin_us: AtomicU64::new(spin_from_env()),
        });
        let ticker = Arc::clone(&rt);
        std::thread::Builder::new()
            .name("nws-keepalive".into())
            .spawn(move || ticker.keepalive(background_driver))?;
        *current = Some(Arc::clone(&rt));
        Ok(rt)
    }

    /// The runtime of this process if it exists, without building one (for
    /// `Drop` code).
    ///
    /// ```
    /// use nws::driven::DrivenRuntime;
    /// let rt = DrivenRuntime::for_this_process(false).unwrap();
    /// assert!(DrivenRuntime::current().is_some_and(|c| std::sync::Arc::ptr_eq(&c, &rt)));
    /// ```
    pub fn current() -> Option<Arc<DrivenRuntime>> {
        let current = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .filter(|rt| rt.pid == std::process::id())
            .map(Arc::clone)
    }

    /// The process that built this runtime (a handle kept across a fork
    /// names the parent).
    ///
    /// ```
    /// let rt = nws::driven::DrivenRuntime::for_this_process(false).unwrap();
    /// assert_eq!(rt.pid(), std::process::id());
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sets the busy-poll budget (microseconds, 0 = off, at most 1 s).
    ///
    /// ```
    /// let rt = nws::driven::DrivenRuntime::for_this_process(false).unwrap();
    /// rt.set_spin(0);
    /// assert_eq!(rt.spin(), 0);
    /// ```
    pub fn set_spin(&self, micros: u64) {
        self.spin_us.store(micros.min(1_000_000), Ordering::Relaxed);
    }

    /// The busy-poll budget (microseconds).
    ///
    /// ```
    /// let rt = nws::driven::DrivenRuntime::for_this_process(false).unwrap();
    /// assert!(rt.spin() <= 1_000_000);
    /// ```
    pub fn spin(&self) -> u64 {
        self.spin_us.load(Ordering::Relaxed)
    }

    /// The keepalive thread: drives the runtime briefly whenever no caller
    /// does. Runs for the life of the process.
    fn keepalive(&self, background_driver: bool) {
        if background_driver {
            self.rt.block_on(std::future::pending::<()>());
        }
        loop {
            std::thread::sleep(TICK);
            if self.drivers.load(Ordering::SeqCst) == 0 {
                // Each yield lets the scheduler poll the socket without
                // blocking and run what became ready (ping replies, queued
                // acks, stream ends).
                self.rt.block_on(yields(8));
            }
        }
    }

    /// Drives the runtime on this thread until `fut` completes or `limit`
    /// passes; `None` on the limit.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = nws::driven::DrivenRuntime::for_this_process(false).unwrap();
    /// let mut never = Box::pin(std::future::pending::<()>());
    /// assert_eq!(rt.drive(&mut never, Duration::from_millis(5)), None);
    /// ```
    pub fn drive<F: Future + Unpin>(&self, fut: &mut F, limit: Duration) -> Option<F::Output> {
        let spin = Duration::from_micros(self.spin());
        self.drivers.fetch_add(1, Ordering::SeqCst);
        let out = self.rt.block_on(settled(async {
            if !spin.is_zero() {
                // Busy-poll: keep the socket and the future polled without
                // sleeping, so a quick reply does not pay for waking a
                // sleeping CPU.
                let start = Instant::now();
                loop {
                    if let Poll::Ready(v) = poll_once(&mut *fut).await {
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

    /// Runs `fut` to completion on this thread in slices of [`SLICE`],
    /// calling `between` after each slice that did not finish it. If
    /// `between` fails (the user interrupted), the future is dropped, which
    /// withdraws its request, queued messages are let out, and the error is
    /// returned.
    ///
    /// ```
    /// let rt = nws::driven::DrivenRuntime::for_this_process(false).unwrap();
    /// let stopped = rt.run_sliced(std::future::pending::<()>(), || Err("interrupted"));
    /// assert_eq!(stopped, Err("interrupted"));
    /// ```
    pub fn run_sliced<F: Future, E>(
        &self,
        fut: F,
        mut between: impl FnMut() -> Result<(), E>,
    ) -> Result<F::Output, E> {
        let mut fut = Box::pin(fut);
        loop {
            if let Some(v) = self.drive(&mut fut, SLICE) {
                return Ok(v);
            }
            if let Err(e) = between() {
                drop(fut);
                self.flush();
                return Err(e);
            }
        }
    }

    /// Lets queued messages (acknowledgements, cancels) go out now rather
    /// than with the next message or at the next keepalive tick (a forked
    /// child that exits right after a fetch must not leave its value
    /// unacknowledged).
    ///
    /// ```
    /// nws::driven::DrivenRuntime::for_this_process(false).unwrap().flush();
    /// ```
    pub fn flush(&self) {
        // Two passes through the scheduler (and the one every drive ends
        // with) run the tasks that write queued messages: the body pipe and
        // the connection task are woken inside the runtime and run in the
        // same pass. Eight, as before, cost a worker ~8 epoll_wait calls per
        // acknowledged task.
        let mut nothing = Box::pin(yields(2));
        let _ = self.drive(&mut nothing, Duration::from_millis(10));
    }
}

/// The busy-poll budget from `NWS_SPIN_US` (microseconds; default 0).
fn spin_from_env() -> u64 {
    std::env::var("NWS_SPIN_US")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0)
        .min(1_000_000)
}

/// Yields to the scheduler `n` times.
async fn yields(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// Polls a future once.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// Runs `fut`, then passes once more through the scheduler's park before
/// `block_on` may return.
///
/// A task that used up its cooperative budget (the outgoing stream after
/// 128 queued messages, say) is re-woken through a deferred list that the
/// current-thread scheduler drains when it parks, and that `block_on` drops
/// when it returns (tokio 1.54). Returning right after such a task yielded
/// would leave it asleep for good: a Python `storeMany` of 20,000 values
/// hung once a slice ended at the wrong moment. One `yield_now` makes the
/// scheduler park (draining the list, so those tasks wait in the runtime
/// for the next call) before the future completes.
async fn settled<T>(fut: impl Future<Output = T>) -> T {
    let out = fut.await;
    tokio::task::yield_now().await;
    out
}
