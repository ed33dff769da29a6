//! `nws-babelfish`: shows `rust/cbor` values in the NetWorkSpaces web UI.
//!
//! ```text
//! nws-babelfish --host localhost --port 8765
//! ```

use std::sync::atomic::AtomicBool;

use clap::Parser;

/// The Rust babelfish: translates rust/cbor values for the NWS web UI.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Server host.
    #[arg(long, env = "NWS_HOST", default_value = "localhost")]
    host: String,
    /// Server port (client sessions).
    #[arg(long, env = "NWS_PORT", default_value_t = 8765)]
    port: u16,
    /// Log nothing.
    #[arg(long)]
    quiet: bool,
}

fn main() {
    let cli = Cli::parse();
    let addr = format!("{}:{}", cli.host, cli.port);
    let quiet = cli.quiet;
    let log = move |msg: &str| {
        if !quiet {
            eprintln!("nws-babelfish: {msg}");
        }
    };
    // Runs until the process is interrupted.
    static STOP: AtomicBool = AtomicBool::new(false);
    nws_babelfish::serve(&addr, &STOP, &log);
}
