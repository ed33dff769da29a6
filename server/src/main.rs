//! `nws-server`: command line and logging around [`nws_server::run`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use clap::Parser;
use nws_server::{Config, Limits};
use tracing_subscriber::EnvFilter;

/// NetWorkSpaces server: shared workspaces of variables for Python, R and Rust programs.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Port for client sessions (gRPC).
    #[arg(long, env = "NWS_SERVER_PORT", default_value_t = 8765)]
    port: u16,
    /// Port for the web UI (served from issue 6 on; accepted and reported now).
    #[arg(long, env = "NWS_WEB_PORT", default_value_t = 8766)]
    web_port: u16,
    /// Address to listen on. Keep loopback unless the network is trusted.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Largest single value, e.g. 2GiB, 512MiB, 1000000.
    #[arg(long, default_value = "2GiB", value_parser = parse_size)]
    max_value_size: u64,
    /// Most bytes held in values at once (stores beyond it fail with MEMORY_LIMIT).
    #[arg(long, default_value = "8GiB", value_parser = parse_size)]
    max_memory: u64,
    /// Seconds between HTTP/2 keepalive pings (network-loss detection).
    #[arg(long, default_value_t = 1.0)]
    keepalive: f64,
    /// Runtime worker threads; default: the CPUs this process may run on
    /// (so `taskset -c 0 nws-server` runs one worker instead of two threads
    /// taking turns on one CPU).
    #[arg(long)]
    workers: Option<usize>,
    /// Log filter (error, warn, info, debug, trace, or a tracing directive).
    #[arg(long, env = "NWS_LOG", default_value = "info")]
    log_level: String,
}

/// Parses `123`, `4KiB`, `16MiB`, `2GiB` (also KB/MB/GB as powers of 1000).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 512MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB, GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn main() -> std::process::ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    let filter = match EnvFilter::try_new(&cli.log_level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("nws-server: invalid --log-level {:?}: {e}", cli.log_level);
            return std::process::ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
    if cli.max_value_size > cli.max_memory {
        tracing::warn!("--max-value-size exceeds --max-memory; values are capped by memory");
    }
    if !(0.05..=3600.0).contains(&cli.keepalive) {
        eprintln!("nws-server: --keepalive must be between 0.05 and 3600 seconds");
        return std::process::ExitCode::from(2);
    }
    let config = Config {
        limits: Limits {
            max_value_size: cli.max_value_size,
            max_memory: cli.max_memory,
        },
        keepalive_interval: Duration::from_secs_f64(cli.keepalive),
        keepalive_timeout: Duration::from_secs_f64(cli.keepalive),
        ..Config::default()
    };
    let workers = cli
        .workers
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        })
        .clamp(1, 256);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nws-server: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let addr = SocketAddr::new(cli.bind, cli.port);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        tracing::info!(
            addr = %local,
            startup_ms = started.elapsed().as_secs_f64() * 1e3,
            max_value_size = config.limits.max_value_size,
            max_memory = config.limits.max_memory,
            workers,
            "nws-server {} listening on {local} (web UI port {} reserved)",
            env!("CARGO_PKG_VERSION"),
            cli.web_port
        );
        nws_server::run(listener, config, shutdown_signal()).await
    });
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nws-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
