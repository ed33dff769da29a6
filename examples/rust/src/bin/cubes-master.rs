//! `cubes-master`: the article's master. Stores `x = 0..99` in the
//! workspace `table`, then fetches the 100 results the workers store in `r`
//! and prints `f(x) = x^3`.
//!
//! Usage:
//!
//! ```text
//! cubes-master [--host HOST] [--port PORT] [-n 100]
//! cargo run --release -p nws-examples --bin cubes-worker &
//! cargo run --release -p nws-examples --bin cubes-master
//! ```
//!
//! Needs at least one `cubes-worker` running (before or after it starts:
//! until then the master waits, "please hold"). `--host`/`--port` default
//! to `$NWS_HOST` / `$NWS_PORT`, then `localhost:8765`. Exits non-zero if a
//! result is not the cube of its `x`.

use clap::Parser;
use nws_examples::{Address, cubes};

/// The cubes master: store x = 0..n-1, fetch n results r, print f(x) = r.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    server: Address,
    /// How many values of x to hand out.
    #[arg(short, long, default_value_t = 100)]
    n: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let addr = cli.server.to_string();
    let server = match nws::Server::connect(&addr).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cubes-master: cannot connect to {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let results = match cubes::master(&server, cli.n).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cubes-master: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut wrong = 0;
    for (x, r) in &results {
        println!("f({x}) = {r}");
        if cubes::cube(*x) != Some(*r) {
            wrong += 1;
        }
    }
    server.close().await;
    if wrong > 0 {
        eprintln!("cubes-master: {wrong} results are not the cube of their x");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
