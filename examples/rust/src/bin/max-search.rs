//! `max-search`: the article's shared-maximum search. N workers, each with
//! its own session, test disjoint candidate lists for the `x` maximising a
//! function, sharing the best value found so far in a variable `max` with
//! the find / fetch / store pattern; the result is checked against a
//! sequential computation.
//!
//! Usage:
//!
//! ```text
//! max-search [--host HOST] [--port PORT] [--workers 4] [--candidates 100000] [--find-every 10]
//! cargo run --release -p nws-examples --bin max-search -- --workers 8
//! ```
//!
//! `--find-every 1` consults the shared maximum before every candidate (the
//! article's loop); larger values trade coordination traffic for failed
//! update attempts. `--host`/`--port` default to `$NWS_HOST` / `$NWS_PORT`,
//! then `localhost:8765`. Exits non-zero if the search disagrees with the
//! sequential computation.

use clap::Parser;
use nws_examples::Address;
use nws_examples::max_search::{SearchParams, search};

/// Shared-maximum search: workers update one `max` with find/fetch/store.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    server: Address,
    /// Number of workers, each with its own session.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    workers: u32,
    /// Search x in 0..CANDIDATES.
    #[arg(long, default_value_t = 100_000)]
    candidates: u64,
    /// Consult the shared maximum every this many candidates.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    find_every: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let params = SearchParams {
        workers: cli.workers,
        candidates: cli.candidates,
        find_every: cli.find_every,
    };
    let report = match search(&cli.server.to_string(), params).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("max-search: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let s = report.stats;
    println!(
        "max f(x) = {} at x = {} ({} workers, {} candidates, {:.1} ms)",
        report.found.y,
        report.found.x,
        params.workers,
        s.tested,
        report.elapsed.as_secs_f64() * 1e3
    );
    println!(
        "coordination: {} finds, {} updates, {} failed update attempts",
        s.finds, s.updates, s.failed_updates
    );
    let seq = report.sequential;
    if report.agrees() {
        println!(
            "sequential check: max f(x) = {} at x = {}: agrees",
            seq.y, seq.x
        );
        std::process::ExitCode::SUCCESS
    } else {
        println!(
            "sequential check: max f(x) = {} at x = {}: DISAGREES",
            seq.y, seq.x
        );
        std::process::ExitCode::FAILURE
    }
}
