//! `cubes-worker`: the article's worker. Fetches `x` from the workspace
//! `table`, stores `r = x^3`, and repeats, waiting while there is no `x`.
//!
//! Usage:
//!
//! ```text
//! cubes-worker [--host HOST] [--port PORT] [--count N]
//! cargo run --release -p nws-examples --bin cubes-worker &
//! cargo run --release -p nws-examples --bin cubes-master
//! ```
//!
//! Start any number of workers, then the master (`cubes-master`). A worker
//! keeps waiting after its master ends and serves the next one; `--count N`
//! makes it exit after N results. `--host`/`--port` default to `$NWS_HOST` /
//! `$NWS_PORT`, then `localhost:8765`.

use clap::Parser;
use nws_examples::{Address, cubes};

/// The cubes worker: fetch x from workspace "table", store r = x^3, repeat.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    server: Address,
    /// Exit after computing this many results (default: run until killed).
    #[arg(long)]
    count: Option<u64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let addr = cli.server.to_string();
    let server = match nws::Server::connect(&addr).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cubes-worker: cannot connect to {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    eprintln!(
        "cubes-worker: waiting for x in workspace {:?} on {addr}",
        cubes::WORKSPACE
    );
    match cubes::worker(&server, cli.count).await {
        Ok(n) => {
            eprintln!("cubes-worker: computed {n} cubes");
            server.close().await;
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cubes-worker: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
