//! The shared-maximum search from the article ("Other Coordination
//! Patterns"): workers test disjoint candidate lists for the `x` maximising
//! a function and keep one shared maximum in the variable `max`:
//!
//! ```text
//! for x in MyCandidateList:
//!     currentMax = ws.find('max')         # read, do not consume
//!     y = f(x)
//!     if y > currentMax:
//!         currentMax = ws.fetch('max')    # take it: nobody else can update now
//!         if y > currentMax: currentMax = y
//!         ws.store('max', currentMax)     # exactly one value again
//! ```
//!
//! `find` lets a worker consult the maximum without taking it; the
//! fetch/store pair makes the update atomic, because while one worker holds
//! the only value every other would-be updater waits in its `fetch`. As the
//! article suggests, `find` may be done only every k-th candidate: a stale
//! maximum costs a failed update attempt, never a wrong answer, since the
//! fetched value is always checked again.
//!
//! Each worker has its own session (its own connection), as separate
//! programs would. The `max` record is a `rust/cbor` blob holding both the
//! value and where it was found.

use std::time::{Duration, Instant};

use nws::{Server, Workspace};
use serde::{Deserialize, Serialize};

use crate::BoxError;

/// The function searched: a bumpy, deterministic map of `x` onto
/// `0..1_000_003` (a quadratic modulo a prime), with many local maxima and
/// no shortcut to the global one.
///
/// ```
/// use nws_examples::max_search::f;
/// assert_eq!(f(0), 7);
/// assert_eq!(f(1), 55);
/// assert!((0..10_000).all(|x| f(x) < 1_000_003));
/// ```
pub fn f(x: u64) -> u64 {
    let x = u128::from(x);
    let y = (31 * x * x + 17 * x + 7) % 1_000_003;
    // The modulus is below 2^20, so the remainder always fits.
    u64::try_from(y).unwrap_or(u64::MAX)
}

/// The shared maximum: the best value found so far and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Best {
    /// `f(x)`.
    pub y: u64,
    /// The candidate that gave it.
    pub x: u64,
}

/// How a search is run.
#[derive(Clone, Copy, Debug)]
pub struct SearchParams {
    /// Number of workers, each with its own session.
    pub workers: u32,
    /// Candidates are `0..candidates`; worker `k` tests those with
    /// `x % workers == k`.
    pub candidates: u64,
    /// Consult the shared maximum (find) every this many candidates; 1 is
    /// the article's loop.
    pub find_every: u64,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            workers: 4,
            candidates: 100_000,
            find_every: 10,
        }
    }
}

/// What one worker did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Candidates tested.
    pub tested: u64,
    /// `find` calls on `max`.
    pub finds: u64,
    /// Updates that raised the shared maximum.
    pub updates: u64,
    /// fetch/store pairs that found the maximum already at least as high
    /// (the price of a stale `find`).
    pub failed_updates: u64,
}

impl std::ops::AddAssign for WorkerStats {
    fn add_assign(&mut self, o: WorkerStats) {
        self.tested += o.tested;
        self.finds += o.finds;
        self.updates += o.updates;
        self.failed_updates += o.failed_updates;
    }
}

/// The outcome of [`search`], with the sequential check.
#[derive(Clone, Copy, Debug)]
pub struct SearchReport {
    /// The maximum the workers agreed on.
    pub found: Best,
    /// The maximum computed sequentially, without NWS.
    pub sequential: Best,
    /// All workers' counters added up.
    pub stats: WorkerStats,
    /// Wall time of the parallel search (workers connected to all done).
    pub elapsed: Duration,
}

impl SearchReport {
    /// Whether the parallel search found the true maximum (ties may pick a
    /// different `x`, so the value is compared and `x` is checked to give it).
    pub fn agrees(&self) -> bool {
        self.found.y == self.sequential.y && f(self.found.x) == self.found.y
    }
}

/// The maximum of [`f`] over `0..candidates`, computed sequentially (the
/// smallest `x` on ties).
///
/// ```
/// let best = nws_examples::max_search::sequential_max(1000);
/// assert!((0..1000).all(|x| nws_examples::max_search::f(x) <= best.y));
/// ```
pub fn sequential_max(candidates: u64) -> Best {
    (0..candidates)
        .map(|x| Best { y: f(x), x })
        .fold(
            Best { y: f(0), x: 0 },
            |best, b| {
                if b.y > best.y { b } else { best }
            },
        )
}

/// One worker: tests `candidates`, updating the shared `max` in `ws` with
/// the article's find / fetch / store pattern.
///
/// ```no_run
/// # async fn demo(ws: nws::Workspace) -> Result<(), nws_examples::BoxError> {
/// let stats = nws_examples::max_search::worker(&ws, (0..1000).step_by(4), 10).await?;
/// println!("{} failed update attempts", stats.failed_updates);
/// # Ok(()) }
/// ```
pub async fn worker(
    ws: &Workspace,
    candidates: impl IntoIterator<Item = u64>,
    find_every: u64,
) -> Result<WorkerStats, BoxError> {
    let find_every = find_every.max(1);
    let mut stats = WorkerStats::default();
    let mut current: Best = ws.find_serde("max").await?;
    stats.finds += 1;
    for x in candidates {
        if stats.tested > 0 && stats.tested % find_every == 0 {
            current = ws.find_serde("max").await?;
            stats.finds += 1;
        }
        stats.tested += 1;
        let y = f(x);
        if y > current.y {
            // Take the only value: other updaters now wait in their fetch.
            let mut latest: Best = ws.fetch_serde("max").await?;
            if y > latest.y {
                latest = Best { y, x };
                stats.updates += 1;
            } else {
                stats.failed_updates += 1;
            }
            ws.store_serde("max", &latest).await?;
            current = latest;
        }
    }
    Ok(stats)
}

/// Runs a whole search against the server at `addr`: a coordinating
/// session creates a temporary workspace holding `max` (deleted when the
/// search ends), `params.workers` tasks each connect their own session and
/// run [`worker`] on disjoint candidate lists, and the result is checked
/// against [`sequential_max`].
///
/// ```no_run
/// # async fn demo() -> Result<(), nws_examples::BoxError> {
/// use nws_examples::max_search::{search, SearchParams};
/// let report = search("localhost:8765", SearchParams::default()).await?;
/// assert!(report.agrees());
/// # Ok(()) }
/// ```
pub async fn search(addr: &str, params: SearchParams) -> Result<SearchReport, BoxError> {
    if params.workers == 0 {
        return Err("max-search needs at least one worker".into());
    }
    let coordinator = Server::connect(addr).await?;
    let ws = coordinator.mktemp_ws(Some("max_search_%d")).await?;
    ws.store_serde("max", &Best { y: f(0), x: 0 }).await?;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..params.workers {
        let addr = addr.to_owned();
        let name = ws.name().to_owned();
        tasks.push(tokio::spawn(async move {
            let server = Server::connect(&addr).await?;
            let ws = server.use_ws(&name).await?;
            let mine = (u64::from(k)..params.candidates).step_by(params.workers as usize);
            let stats = worker(&ws, mine, params.find_every).await;
            server.close().await;
            stats
        }));
    }
    let mut stats = WorkerStats::default();
    for t in tasks {
        stats += t.await??;
    }
    let elapsed = started.elapsed();

    let found: Best = ws.find_serde("max").await?;
    coordinator.close().await;
    Ok(SearchReport {
        found,
        sequential: sequential_max(params.candidates),
        stats,
        elapsed,
    })
}
