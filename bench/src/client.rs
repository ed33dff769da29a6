//! The measuring children: one function per case and system. Each runs in
//! its own process (pinned by the orchestrator with `taskset`), measures,
//! and prints one `RESULT k=v ...` line.
//!
//! NWS uses the async client (a current-thread runtime for one client, a
//! two-worker runtime for several sessions); Redis uses the `redis` crate's
//! synchronous connection, one thread per connection, with TCP_NODELAY set
//! as the NWS client does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use redis::IntoConnectionInfo;

use crate::BoxError;
use crate::procs::{own_cpu_secs, print_result};

/// The value moved in the small-value cases: 16 bytes.
pub const PAYLOAD: &str = "0123456789abcdef";

/// Timing of a measured loop.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How long to run unmeasured first.
    pub warm: Duration,
    /// How long to measure.
    pub run: Duration,
}

fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, BoxError> {
    let rt = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?
    };
    Ok(rt)
}

/// A synchronous Redis connection with TCP_NODELAY.
fn redis_conn(addr: &str) -> Result<redis::Connection, BoxError> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("bad address {addr:?}"))?;
    let info = redis::ConnectionAddr::Tcp(host.to_owned(), port.parse()?)
        .into_connection_info()?
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    Ok(redis::Client::open(info)?.get_connection()?)
}

/// Counts of one client's loop: measured pairs, all pairs (with warm-up),
/// measured seconds.
type LoopCount = (u64, u64, f64);

fn report_loops(counts: &[LoopCount], extra: &[(&str, f64)]) {
    let ops: u64 = counts.iter().map(|c| c.0).sum();
    let all: u64 = counts.iter().map(|c| c.1).sum();
    let secs = counts.iter().map(|c| c.2).sum::<f64>() / counts.len().max(1) as f64;
    let mut r = vec![
        ("ops", ops as f64),
        ("all_ops", all as f64),
        ("secs", secs),
        ("client_cpu", own_cpu_secs()),
    ];
    r.extend_from_slice(extra);
    print_result(&r);
}

// --- store+fetch pairs ---------------------------------------------------

/// `clients` sessions, each storing then fetching on its own variable.
pub fn nws_pairs(addr: &str, clients: usize, t: Timing) -> Result<(), BoxError> {
    let rt = runtime(if clients > 1 { 2 } else { 1 })?;
    let counts = rt.block_on(async {
        let barrier = Arc::new(tokio::sync::Barrier::new(clients));
        let mut tasks = Vec::new();
        for i in 0..clients {
            let addr = addr.to_owned();
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                let s = nws::Server::connect(&addr).await?;
                let ws = s.use_ws("bench").await?;
                let var = format!("q{i}_{}", std::process::id());
                let pair = || async {
                    ws.store(&var, PAYLOAD).await?;
                    let v = ws.fetch(&var).await?;
                    if v.len() != PAYLOAD.len() {
                        return Err::<(), BoxError>(format!("fetched {v:?}").into());
                    }
                    Ok(())
                };
                let mut all = 0u64;
                let w = Instant::now();
                while w.elapsed() < t.warm {
                    pair().await?;
                    all += 1;
                }
                barrier.wait().await;
                let t0 = Instant::now();
                let mut n = 0u64;
                while t0.elapsed() < t.run {
                    pair().await?;
                    n += 1;
                }
                let secs = t0.elapsed().as_secs_f64();
                s.close().await;
                Ok::<LoopCount, BoxError>((n, all + n, secs))
            }));
        }
        let mut counts = Vec::new();
        for task in tasks {
            counts.push(task.await??);
        }
        Ok::<_, BoxError>(counts)
    })?;
    report_loops(&counts, &[]);
    Ok(())
}

/// `clients` connections, each on its own list: LPUSH+LPOP for one client,
/// RPUSH+BLPOP for several.
pub fn redis_pairs(addr: &str, clients: usize, t: Timing) -> Result<(), BoxError> {
    let barrier = std::sync::Barrier::new(clients);
    let blocking = clients > 1;
    let counts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || -> Result<LoopCount, BoxError> {
                    let mut c = redis_conn(addr)?;
                    let key = format!("q{i}_{}", std::process::id());
                    redis::cmd("DEL").arg(&key).query::<()>(&mut c)?;
                    let pair = |c: &mut redis::Connection| -> Result<(), BoxError> {
                        if blocking {
                            redis::cmd("RPUSH").arg(&key).arg(PAYLOAD).query::<i64>(c)?;
                            let v: Option<(Vec<u8>, Vec<u8>)> =
                                redis::cmd("BLPOP").arg(&key).arg(0).query(c)?;
                            if v.is_none_or(|(_, v)| v.len() != PAYLOAD.len()) {
                                return Err("BLPOP returned no value".into());
                            }
                        } else {
                            redis::cmd("LPUSH").arg(&key).arg(PAYLOAD).query::<i64>(c)?;
                            let v: Option<Vec<u8>> = redis::cmd("LPOP").arg(&key).query(c)?;
                            if v.is_none_or(|v| v.len() != PAYLOAD.len()) {
                                return Err("LPOP returned no value".into());
                            }
                        }
                        Ok(())
                    };
                    let mut all = 0u64;
                    let w = Instant::now();
                    while w.elapsed() < t.warm {
                        pair(&mut c)?;
                        all += 1;
                    }
                    barrier.wait();
                    let t0 = Instant::now();
                    let mut n = 0u64;
                    while t0.elapsed() < t.run {
                        pair(&mut c)?;
                        n += 1;
                    }
                    Ok((n, all + n, t0.elapsed().as_secs_f64()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| BoxError::from("client thread panicked"))?
            })
            .collect::<Result<Vec<_>, BoxError>>()
    })?;
    report_loops(&counts, &[]);
    Ok(())
}

// --- ping-pong -----------------------------------------------------------

/// Which side of the ping-pong a process plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Stores ping, waits for pong, measures.
    Ping,
    /// Waits for ping, stores pong; stops on "stop".
    Pong,
}

fn latency_report(rtts: &mut [u64], all: u64, secs: f64) {
    rtts.sort_unstable();
    let pct = |p: usize| -> f64 {
        if rtts.is_empty() {
            return 0.0;
        }
        let i = (rtts.len() * p / 100).min(rtts.len() - 1);
        rtts[i] as f64 / 1e3
    };
    let (p50, p99) = (pct(50), pct(99));
    print_result(&[
        ("ops", rtts.len() as f64),
        ("all_ops", all as f64),
        ("secs", secs),
        ("p50_us", p50),
        ("p99_us", p99),
        ("client_cpu", own_cpu_secs()),
    ]);
}

/// NWS ping-pong through blocking fetches on two variables.
pub fn nws_pingpong(addr: &str, role: Role, tag: &str, t: Timing) -> Result<(), BoxError> {
    let rt = runtime(1)?;
    rt.block_on(async {
        let s = nws::Server::connect(addr).await?;
        let ws = s.use_ws("bench_pp").await?;
        let (ping, pong) = (format!("ping_{tag}"), format!("pong_{tag}"));
        match role {
            Role::Pong => loop {
                let v = ws.fetch(&ping).await?;
                if v.as_text() == Some("stop") {
                    break;
                }
                ws.store(&pong, v).await?;
            },
            Role::Ping => {
                let mut all = 0u64;
                let w = Instant::now();
                while w.elapsed() < t.warm {
                    ws.store(&ping, "p").await?;
                    ws.fetch(&pong).await?;
                    all += 1;
                }
                let mut rtts = Vec::with_capacity(1 << 16);
                let t0 = Instant::now();
                while t0.elapsed() < t.run {
                    let r = Instant::now();
                    ws.store(&ping, "p").await?;
                    ws.fetch(&pong).await?;
                    rtts.push(r.elapsed().as_nanos() as u64);
                }
                let secs = t0.elapsed().as_secs_f64();
                ws.store(&ping, "stop").await?;
                all += rtts.len() as u64;
                latency_report(&mut rtts, all, secs);
            }
        }
        s.close().await;
        Ok::<(), BoxError>(())
    })
}

/// Redis ping-pong through BLPOP on two lists.
pub fn redis_pingpong(addr: &str, role: Role, tag: &str, t: Timing) -> Result<(), BoxError> {
    let mut c = redis_conn(addr)?;
    let (ping, pong) = (format!("ping_{tag}"), format!("pong_{tag}"));
    let blpop = |c: &mut redis::Connection, key: &str| -> Result<Vec<u8>, BoxError> {
        let v: Option<(Vec<u8>, Vec<u8>)> = redis::cmd("BLPOP").arg(key).arg(0).query(c)?;
        Ok(v.ok_or("BLPOP returned nothing")?.1)
    };
    match role {
        Role::Pong => loop {
            let v = blpop(&mut c, &ping)?;
            if v == b"stop" {
                break;
            }
            redis::cmd("RPUSH").arg(&pong).arg(v).query::<i64>(&mut c)?;
        },
        Role::Ping => {
            let mut all = 0u64;
            let w = Instant::now();
            while w.elapsed() < t.warm {
                redis::cmd("RPUSH")
                    .arg(&ping)
                    .arg("p")
                    .query::<i64>(&mut c)?;
                blpop(&mut c, &pong)?;
                all += 1;
            }
            let mut rtts = Vec::with_capacity(1 << 16);
            let t0 = Instant::now();
            while t0.elapsed() < t.run {
                let r = Instant::now();
                redis::cmd("RPUSH")
                    .arg(&ping)
                    .arg("p")
                    .query::<i64>(&mut c)?;
                blpop(&mut c, &pong)?;
                rtts.push(r.elapsed().as_nanos() as u64);
            }
            let secs = t0.elapsed().as_secs_f64();
            redis::cmd("RPUSH")
                .arg(&ping)
                .arg("stop")
                .query::<i64>(&mut c)?;
            all += rtts.len() as u64;
            latency_report(&mut rtts, all, secs);
        }
    }
    Ok(())
}

// --- many blocked sessions -----------------------------------------------

/// `n` sessions each block in a fetch on their own variable; once the
/// server shows all `n` waiting, one more session stores one value for each
/// (pipelined). Reports the time to open the sessions and the time from the
/// first store until every fetch has returned.
pub fn nws_many(addr: &str, n: usize, tag: &str) -> Result<(), BoxError> {
    let rt = runtime(2)?;
    let (connect_ms, serve_ms, served) = rt.block_on(async {
        let name = format!("bench_many_{tag}");
        let t0 = Instant::now();
        let sessions: Vec<nws::Server> = futures::stream::iter(0..n)
            .map(|_| nws::Server::connect(addr))
            .buffer_unordered(64)
            .try_collect()
            .await?;
        let connect_ms = t0.elapsed().as_secs_f64() * 1e3;

        let storer = nws::Server::connect(addr).await?;
        let sws = storer.use_ws(&name).await?;
        let mut waiters = Vec::with_capacity(n);
        for (i, s) in sessions.into_iter().enumerate() {
            let name = name.clone();
            waiters.push(tokio::spawn(async move {
                let ws = s.use_ws(&name).await?;
                ws.fetch(&format!("v{i}")).await?;
                Ok::<(Instant, nws::Server), BoxError>((Instant::now(), s))
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let waiting: u64 = sws.list_vars().await?.iter().map(|v| v.fetchers).sum();
            if waiting as usize >= n {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("only {waiting} of {n} fetches are waiting").into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }

        let t1 = Instant::now();
        futures::future::try_join_all((0..n).map(|i| {
            let ws = sws.clone();
            async move { ws.store(&format!("v{i}"), "go").await }
        }))
        .await?;
        let mut last = t1;
        let mut served = 0usize;
        let mut keep = Vec::with_capacity(n);
        for w in waiters {
            let (done, s) = w.await??;
            last = last.max(done);
            served += 1;
            keep.push(s);
        }
        let serve_ms = (last - t1).as_secs_f64() * 1e3;
        let _ = storer.delete_ws(&name).await;
        futures::future::join_all(keep.iter().map(|s| s.close())).await;
        storer.close().await;
        Ok::<_, BoxError>((connect_ms, serve_ms, served))
    })?;
    print_result(&[
        ("connect_ms", connect_ms),
        ("serve_ms", serve_ms),
        ("served", served as f64),
    ]);
    Ok(())
}

/// `n` connections each block in BLPOP on their own list; once INFO shows
/// all `n` blocked, one more connection RPUSHes one value to each
/// (pipelined).
pub fn redis_many(addr: &str, n: usize, tag: &str) -> Result<(), BoxError> {
    let connected = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut threads = Vec::with_capacity(n);
    for i in 0..n {
        let addr = addr.to_owned();
        let key = format!("many_{tag}_{i}");
        let connected = Arc::clone(&connected);
        threads.push(std::thread::Builder::new().stack_size(256 << 10).spawn(
            move || -> Result<Instant, BoxError> {
                let mut c = redis_conn(&addr)?;
                connected.fetch_add(1, Ordering::SeqCst);
                let v: Option<(Vec<u8>, Vec<u8>)> =
                    redis::cmd("BLPOP").arg(&key).arg(0).query(&mut c)?;
                v.ok_or("BLPOP returned nothing")?;
                Ok(Instant::now())
            },
        )?);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected.load(Ordering::SeqCst) < n {
        if Instant::now() > deadline {
            return Err("connections did not all open".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let connect_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut c = redis_conn(addr)?;
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c)?;
        let blocked: usize = info
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if blocked >= n {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {blocked} of {n} BLPOPs are blocked").into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let t1 = Instant::now();
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("RPUSH")
            .arg(format!("many_{tag}_{i}"))
            .arg("go")
            .ignore();
    }
    pipe.query::<()>(&mut c)?;
    let mut last = t1;
    let mut served = 0usize;
    for t in threads {
        let done = t.join().map_err(|_| BoxError::from("thread panicked"))??;
        last = last.max(done);
        served += 1;
    }
    print_result(&[
        ("connect_ms", connect_ms),
        ("serve_ms", (last - t1).as_secs_f64() * 1e3),
        ("served", served as f64),
    ]);
    Ok(())
}

// --- large values --------------------------------------------------------

fn pattern(size: usize) -> Bytes {
    Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
}

/// Stores then fetches one `size`-byte value `reps` times, timing each
/// direction separately (one value held at a time).
pub fn nws_large(addr: &str, size: usize, reps: usize) -> Result<(), BoxError> {
    let data = pattern(size);
    let rt = runtime(2)?;
    let (store_s, fetch_s) = rt.block_on(async {
        let s = nws::Server::connect(addr).await?;
        let ws = s.use_ws("bench_large").await?;
        let (mut store_s, mut fetch_s) = (0.0, 0.0);
        for _ in 0..reps {
            let t = Instant::now();
            ws.store("big", data.clone()).await?;
            store_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let v = ws.fetch("big").await?;
            fetch_s += t.elapsed().as_secs_f64();
            if v.len() != size {
                return Err(format!("fetched {} bytes, stored {size}", v.len()).into());
            }
        }
        s.close().await;
        Ok::<_, BoxError>((store_s, fetch_s))
    })?;
    let bytes = (size * reps) as f64;
    print_result(&[
        ("store_mbps", bytes / store_s / 1e6),
        ("fetch_mbps", bytes / fetch_s / 1e6),
    ]);
    Ok(())
}

/// SET then GET one `size`-byte value `reps` times, timing each direction.
pub fn redis_large(addr: &str, size: usize, reps: usize) -> Result<(), BoxError> {
    let data = pattern(size);
    let mut c = redis_conn(addr)?;
    let (mut store_s, mut fetch_s) = (0.0, 0.0);
    for _ in 0..reps {
        let t = Instant::now();
        redis::cmd("SET")
            .arg("big")
            .arg(&data[..])
            .query::<()>(&mut c)?;
        store_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let v: Vec<u8> = redis::cmd("GET").arg("big").query(&mut c)?;
        fetch_s += t.elapsed().as_secs_f64();
        if v.len() != size {
            return Err(format!("GET returned {} bytes, SET {size}", v.len()).into());
        }
    }
    let bytes = (size * reps) as f64;
    print_result(&[
        ("store_mbps", bytes / store_s / 1e6),
        ("fetch_mbps", bytes / fetch_s / 1e6),
    ]);
    Ok(())
}

/// INFO memory's `used_memory_peak` of the Redis at `addr`, in bytes.
pub fn redis_used_memory_peak(addr: &str) -> Result<f64, BoxError> {
    let mut c = redis_conn(addr)?;
    let info: String = redis::cmd("INFO").arg("memory").query(&mut c)?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory_peak:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "INFO memory has no used_memory_peak".into())
}
