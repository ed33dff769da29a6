//! # nws-bench: NetWorkSpaces side by side with Redis
//!
//! `make bench` runs `bench/run.sh`, which builds this binary and
//! `nws-server` in release mode, starts an nws-server and a redis-server on
//! free loopback ports, and calls `nws-bench run`. That orchestrator pins
//! the servers (`taskset -a -p`) and re-invokes this binary as measuring
//! children pinned with `taskset -c` (hidden subcommands `pairs`,
//! `pingpong`, `many`, `large`), each printing one `RESULT k=v ...` line.
//! It prints progress and a table, and writes the table to
//! `bench/out/latest.md`.
//!
//! Usage:
//!
//! ```text
//! make bench                      # the whole thing (a few minutes)
//! nws-bench run --nws-addr 127.0.0.1:PORT --nws-pid PID --redis-addr 127.0.0.1:PORT \
//!     --redis-pid PID --nws-bin target/release/nws-server [--secs 1.5]
//! nws-bench free-port             # print a free loopback port
//! nws-bench serve --workers 1     # experiment: in-process server, 1 worker
//!                                 # (0 = current-thread runtime)
//! ```
//!
//! Module map:
//! - `orchestrate`: the cases, placements, fresh servers, targets.
//! - `client`: the measuring children, one function per case and system.
//! - `procs`: pinned children, `/proc` readings (CPU, context switches,
//!   VmHWM), spawning and stopping servers.
//! - `report`: rows, progress lines, the markdown table.

mod client;
mod orchestrate;
mod procs;
mod report;

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// The error type of the benchmark.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// NetWorkSpaces vs Redis benchmarks (see bench/RESULTS.md).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Which server a child measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum System {
    /// nws-server through the nws client.
    Nws,
    /// redis-server through the redis crate.
    Redis,
}

/// Warm-up and measuring time of a child.
#[derive(Debug, Clone, Copy, clap::Args)]
struct TimingArgs {
    /// Seconds measured.
    #[arg(long, default_value_t = 1.5)]
    secs: f64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 0.3)]
    warm: f64,
}

impl TimingArgs {
    fn timing(self) -> client::Timing {
        client::Timing {
            warm: Duration::from_secs_f64(self.warm.max(0.0)),
            run: Duration::from_secs_f64(self.secs.max(0.01)),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run every case against running servers and print the table.
    Run(orchestrate::RunArgs),
    /// Print a free loopback TCP port.
    FreePort,
    /// Experiment: serve NWS in-process on a runtime of WORKERS threads
    /// (0 = current-thread), to compare runtime flavours with `run`.
    #[command(hide = true)]
    Serve {
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[arg(long, default_value_t = 0)]
        workers: usize,
    },
    /// Child: store+fetch pairs from CLIENTS sessions.
    #[command(hide = true)]
    Pairs {
        #[arg(long)]
        system: System,
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 1)]
        clients: usize,
        #[command(flatten)]
        timing: TimingArgs,
    },
    /// Child: one side of a ping-pong through blocking fetches.
    #[command(hide = true)]
    Pingpong {
        #[arg(long)]
        system: System,
        #[arg(long)]
        addr: String,
        #[arg(long)]
        role: client::Role,
        #[arg(long)]
        tag: String,
        #[command(flatten)]
        timing: TimingArgs,
    },
    /// Child: N blocked fetches, then one store each.
    #[command(hide = true)]
    Many {
        #[arg(long)]
        system: System,
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 1000)]
        n: usize,
        #[arg(long)]
        tag: String,
    },
    /// Child: store and fetch one SIZE-byte value REPS times.
    #[command(hide = true)]
    Large {
        #[arg(long)]
        system: System,
        #[arg(long)]
        addr: String,
        #[arg(long)]
        size: usize,
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
}

/// Runs `nws_server::run` on a runtime of `workers` threads (0: a
/// current-thread runtime) until Ctrl-C or SIGTERM.
fn serve(port: u16, workers: usize) -> Result<(), BoxError> {
    let rt = if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?
    };
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        nws_server::run(listener, nws_server::Config::default(), stop).await?;
        Ok(())
    })
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run(a) => orchestrate::run(a),
        Cmd::FreePort => procs::free_port().map(|p| println!("{p}")),
        Cmd::Serve { port, workers } => serve(port, workers),
        Cmd::Pairs {
            system,
            addr,
            clients,
            timing,
        } => match system {
            System::Nws => client::nws_pairs(&addr, clients.max(1), timing.timing()),
            System::Redis => client::redis_pairs(&addr, clients.max(1), timing.timing()),
        },
        Cmd::Pingpong {
            system,
            addr,
            role,
            tag,
            timing,
        } => match system {
            System::Nws => client::nws_pingpong(&addr, role, &tag, timing.timing()),
            System::Redis => client::redis_pingpong(&addr, role, &tag, timing.timing()),
        },
        Cmd::Many {
            system,
            addr,
            n,
            tag,
        } => match system {
            System::Nws => client::nws_many(&addr, n, &tag),
            System::Redis => client::redis_many(&addr, n, &tag),
        },
        Cmd::Large {
            system,
            addr,
            size,
            reps,
        } => match system {
            System::Nws => client::nws_large(&addr, size, reps.max(1)),
            System::Redis => client::redis_large(&addr, size, reps.max(1)),
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nws-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
