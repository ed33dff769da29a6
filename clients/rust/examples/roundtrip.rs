//! Round-trip rate of the Rust client against a running server.
//!
//! ```text
//! nws-server &                                   # or NWS_HOST / NWS_PORT
//! cargo run --release -p nws --example roundtrip -- 20000
//! ```
//!
//! Prints operations per second for: sequential store+fetch pairs (async and
//! blocking facade), and 16 requests in flight on one session.

use std::time::Instant;

use futures::StreamExt;

fn rate(n: usize, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    format!(
        "{:>9.0} ops/s  ({:.1} us/op)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    )
}

fn main() -> Result<(), nws::Error> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);

    // Blocking facade first (it must not run inside a runtime).
    {
        let server = nws::blocking::Server::connect_default()?;
        let ws = server.mktemp_ws(None)?;
        let started = Instant::now();
        for i in 0..n {
            ws.store("x", i.to_string())?;
            ws.fetch("x")?;
        }
        println!(
            "blocking store+fetch (2 round trips each): {}",
            rate(2 * n, started)
        );
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| nws::Error::Protocol(e.to_string()))?;
    rt.block_on(async {
        let server = nws::Server::connect_default().await?;
        let ws = server.mktemp_ws(None).await?;
        let started = Instant::now();
        for i in 0..n {
            ws.store("x", i.to_string()).await?;
            ws.fetch("x").await?;
        }
        println!(
            "async store+fetch    (2 round trips each): {}",
            rate(2 * n, started)
        );

        let started = Instant::now();
        let results: Vec<_> = futures::stream::iter(0..n)
            .map(|i| {
                let ws = ws.clone();
                async move {
                    ws.store("y", i.to_string()).await?;
                    ws.fetch("y").await
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for r in results {
            r?;
        }
        println!(
            "async, 16 in flight  (store+fetch pairs):  {}",
            rate(2 * n, started)
        );
        Ok(())
    })
}
