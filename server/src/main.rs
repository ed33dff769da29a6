//! `nws-server`: command line and logging around [`nws_server::run`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use clap::Parser;
use nws_server::web::WebConfig;
use nws_server::{Config, Limits, Store};
use tracing_subscriber::EnvFilter;

/// NetWorkSpaces server: shared workspaces of variables for Python, R and Rust programs.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Port for client sessions: gRPC, and the original NWS protocol
    /// unless --no-legacy.
    #[arg(long, env = "NWS_SERVER_PORT", default_value_t = 8765)]
    port: u16,
    /// Do not speak the original NWS protocol on --port (by default each
    /// connection's first byte tells a gRPC client from an original
    /// Python or R client; see spec/legacy.md).
    #[arg(long)]
    no_legacy: bool,
    /// Also serve the original NWS protocol alone on this port (e.g. when
    /// --port is not 8765, where the original clients look by default).
    #[arg(long, env = "NWS_LEGACY_PORT")]
    legacy_port: Option<u16>,
    /// Port for the web UI (0 picks a free one; the address is logged).
    #[arg(long, env = "NWS_WEB_PORT", default_value_t = 8766)]
    web_port: u16,
    /// Do not serve the web UI.
    #[arg(long)]
    no_web: bool,
    /// Require this token for the web UI (open the logged address once, or
    /// send `Authorization: Bearer <token>`).
    #[arg(long, env = "NWS_WEB_TOKEN", hide_env_values = true)]
    web_token: Option<String>,
    /// Seconds a web page waits for babelfish translators before showing
    /// a fallback.
    #[arg(long, default_value_t = 2.0)]
    babelfish_timeout: f64,
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    if cli.max_value_size > cli.max_memory {
        tracing::warn!("--max-value-size exceeds --max-memory; values are capped by memory");
    }
    if !(0.05..=60.0).contains(&cli.babelfish_timeout) {
        eprintln!("nws-server: --babelfish-timeout must be between 0.05 and 60 seconds");
        return std::process::ExitCode::from(2);
    }
    if cli.web_token.as_deref().is_some_and(|t| {
        t.is_empty()
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    }) {
        eprintln!(
            "nws-server: --web-token must be non-empty letters, digits, '-', '.', '_' or '~'"
        );
        return std::process::ExitCode::from(2);
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
        legacy: !cli.no_legacy,
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
        let web_listener = if cli.no_web {
            None
        } else {
            let web_addr = SocketAddr::new(cli.bind, cli.web_port);
            match tokio::net::TcpListener::bind(web_addr).await {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!(
                        "nws-server: cannot serve the web UI on {web_addr}: {e} \
                         (choose another --web-port, or --no-web)"
                    );
                    return Err(e.into());
                }
            }
        };
        let legacy_listener = match cli.legacy_port {
            Some(port) => {
                let legacy_addr = SocketAddr::new(cli.bind, port);
                match tokio::net::TcpListener::bind(legacy_addr).await {
                    Ok(l) => Some(l),
                    Err(e) => {
                        eprintln!(
                            "nws-server: cannot serve the legacy protocol on {legacy_addr}: {e} \
                             (choose another --legacy-port)"
                        );
                        return Err(e.into());
                    }
                }
            }
            None => None,
        };
        tracing::info!(
            addr = %local,
            legacy = config.legacy,
            startup_ms = started.elapsed().as_secs_f64() * 1e3,
            max_value_size = config.limits.max_value_size,
            max_memory = config.limits.max_memory,
            workers,
            "nws-server {} listening on {local}",
            env!("CARGO_PKG_VERSION"),
        );
        let store = Store::new(config.limits.clone());
        // One signal stops both servers.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let web = match web_listener {
            Some(web_listener) => {
                let web_local = web_listener.local_addr()?;
                let url = nws_server::web::url_for(web_local);
                match &cli.web_token {
                    Some(token) => tracing::info!("web UI on {url}/?token={token}"),
                    None => tracing::info!("web UI on {url}"),
                }
                let web_config = WebConfig {
                    token: cli.web_token.clone(),
                    babelfish_timeout: Duration::from_secs_f64(cli.babelfish_timeout),
                    grpc_address: local.to_string(),
                    ..WebConfig::default()
                };
                let web_stop = stopped(stop_rx.clone());
                let store = store.clone();
                Some(tokio::spawn(async move {
                    nws_server::web::serve(web_listener, store, web_config, web_stop).await
                }))
            }
            None => None,
        };
        let legacy = match legacy_listener {
            Some(legacy_listener) => {
                tracing::info!(
                    "original NWS protocol only on {}",
                    legacy_listener.local_addr()?
                );
                let (store, stop) = (store.clone(), stopped(stop_rx.clone()));
                Some(tokio::spawn(nws_server::legacy::serve(
                    legacy_listener,
                    store,
                    stop,
                )))
            }
            None => None,
        };
        let served = nws_server::run_with_store(listener, config, store, stopped(stop_rx)).await;
        if let Some(legacy) = legacy {
            let _ = tokio::time::timeout(Duration::from_secs(3), legacy).await;
        }
        if let Some(web) = web {
            match tokio::time::timeout(Duration::from_secs(3), web).await {
                Ok(Ok(Err(e))) => tracing::warn!("web UI: {e}"),
                Ok(_) => {}
                Err(_) => tracing::warn!("web UI still open 3 s after shutdown; closing anyway"),
            }
        }
        served
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
