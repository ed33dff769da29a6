//! `nws-bench run`: runs every case against the long-lived servers started
//! by `bench/run.sh` (and fresh ones where a fresh process matters), with
//! the server and client processes pinned as each placement says.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::BoxError;
use crate::client::redis_used_memory_peak;
use crate::procs::{
    Cpus, Fields, ProcStat, child_command, field, logged_startup_ms, run_child, set_affinity,
    spawn_nws, spawn_redis, vm_bytes, wait_child,
};
use crate::report::{ProfileRow, Report, Row, ratio, si, verdict};

/// Where the servers are and how long to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The long-lived nws-server (host:port).
    #[arg(long)]
    pub nws_addr: String,
    /// Its pid (for pinning and /proc).
    #[arg(long)]
    pub nws_pid: u32,
    /// The long-lived redis-server (host:port).
    #[arg(long)]
    pub redis_addr: String,
    /// Its pid.
    #[arg(long)]
    pub redis_pid: u32,
    /// nws-server binary, for the fresh-server cases (startup, large values).
    #[arg(long)]
    pub nws_bin: PathBuf,
    /// redis-server binary, for the fresh-server cases.
    #[arg(long, default_value = "redis-server")]
    pub redis_bin: PathBuf,
    /// redis-benchmark binary.
    #[arg(long, default_value = "redis-benchmark")]
    pub redis_benchmark: PathBuf,
    /// Seconds measured per throughput or latency run.
    #[arg(long, default_value_t = 1.0)]
    pub secs: f64,
    /// Runs per case and system (interleaved NWS, Redis, NWS, ...); the
    /// table shows the median.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Seconds of unmeasured warm-up per run.
    #[arg(long, default_value_t = 0.3)]
    pub warm: f64,
    /// Requests per redis-benchmark test (-n).
    #[arg(long, default_value_t = 15_000)]
    pub rb_requests: u32,
    /// Sessions in the many-blocked-fetches case.
    #[arg(long, default_value_t = 1000)]
    pub many: usize,
    /// Where to write the markdown table.
    #[arg(long, default_value = "bench/out/latest.md")]
    pub out: PathBuf,
}

/// Server and client CPU lists of one placement.
struct Placement {
    name: &'static str,
    server: Cpus,
    client: Cpus,
}

fn placements() -> Vec<Placement> {
    let mut p = vec![Placement {
        name: "same core",
        server: Cpus("0".into()),
        client: Cpus("0".into()),
    }];
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        p.push(Placement {
            name: "cross core",
            server: Cpus("0".into()),
            client: Cpus("1".into()),
        });
    }
    p.push(Placement {
        name: "unpinned",
        server: Cpus::all(),
        client: Cpus::all(),
    });
    p
}

struct Bench {
    a: RunArgs,
    report: Report,
    tag: u32,
}

impl Bench {
    fn timing_args(&self) -> Vec<String> {
        vec![
            "--secs".into(),
            self.a.secs.to_string(),
            "--warm".into(),
            self.a.warm.to_string(),
        ]
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("{}_{}", std::process::id(), self.tag)
    }

    fn pin_servers(&self, cpus: &Cpus) -> Result<(), BoxError> {
        set_affinity(self.a.nws_pid, cpus)?;
        set_affinity(self.a.redis_pid, cpus)
    }

    /// Runs a child against one system and adds to its result the derived
    /// figures: `rate` (ops/s), and per operation `srv_cpu_us`, `srv_ctx`
    /// (server CPU and context switches) and `cli_cpu_us` (client CPU),
    /// warm-up included in both counts.
    fn measured(
        &self,
        server_pid: u32,
        run: impl FnOnce() -> Result<Fields, BoxError>,
    ) -> Result<Fields, BoxError> {
        let before = ProcStat::read(server_pid);
        let mut f = run()?;
        let stat = ProcStat::read(server_pid).since(before);
        let all = field(&f, "all_ops")?.max(1.0);
        let rate = field(&f, "ops")? / field(&f, "secs")?;
        let client = field(&f, "client_cpu")?;
        f.insert("rate".into(), rate);
        f.insert("srv_cpu_us".into(), stat.cpu_ns / 1e3 / all);
        f.insert("srv_ctx".into(), stat.ctx_switches / all);
        f.insert("cli_cpu_us".into(), client * 1e6 / all);
        Ok(f)
    }

    /// Runs `one(system)` `reps` times per system, interleaved (NWS, Redis,
    /// NWS, ...) so drifting background load hits both alike, and returns
    /// the per-key medians for NWS and for Redis.
    fn interleaved(
        &mut self,
        mut one: impl FnMut(&mut Self, &str) -> Result<Fields, BoxError>,
    ) -> Result<(Fields, Fields), BoxError> {
        let (mut n, mut r) = (Vec::new(), Vec::new());
        for _ in 0..self.a.reps.max(1) {
            n.push(one(self, "nws")?);
            r.push(one(self, "redis")?);
        }
        Ok((medians(&n), medians(&r)))
    }

    fn pairs(&self, system: &str, clients: usize, cpus: &Cpus) -> Result<Fields, BoxError> {
        let (addr, pid) = self.server(system);
        let mut args: Vec<String> = ["pairs", "--system", system, "--addr", addr, "--clients"]
            .map(str::to_owned)
            .to_vec();
        args.push(clients.to_string());
        args.extend(self.timing_args());
        self.measured(pid, || run_child(cpus, &args))
    }

    fn server(&self, system: &str) -> (&str, u32) {
        if system == "nws" {
            (&self.a.nws_addr, self.a.nws_pid)
        } else {
            (&self.a.redis_addr, self.a.redis_pid)
        }
    }

    fn profile(
        &mut self,
        case: &str,
        placement: &str,
        nws: &Fields,
        redis: &Fields,
    ) -> Result<(), BoxError> {
        let pick =
            |k: &str| -> Result<(f64, f64), BoxError> { Ok((field(nws, k)?, field(redis, k)?)) };
        self.report.profile.push(ProfileRow {
            case: case.into(),
            placement: placement.into(),
            server_cpu_us: pick("srv_cpu_us")?,
            client_cpu_us: pick("cli_cpu_us")?,
            server_ctx: pick("srv_ctx")?,
        });
        Ok(())
    }

    /// redis-benchmark -c 1 LPUSH and LPOP (requests/s each).
    fn redis_benchmark(&self, cpus: &Cpus, clients: u32) -> Result<(f64, f64), BoxError> {
        let (host, port) = self
            .a
            .redis_addr
            .rsplit_once(':')
            .ok_or("bad redis address")?;
        let out = std::process::Command::new("taskset")
            .arg("-c")
            .arg(&cpus.0)
            .arg(&self.a.redis_benchmark)
            .args(["-h", host, "-p", port, "-c", &clients.to_string()])
            .args(["-n", &self.a.rb_requests.to_string()])
            .args(["-t", "lpush,lpop", "-q", "--csv"])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let rps = |test: &str| -> Result<f64, BoxError> {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("\"{test}\"")))
                .ok_or_else(|| format!("redis-benchmark printed no {test} line: {text:?}"))?;
            let v = line.split(',').nth(1).ok_or("short redis-benchmark line")?;
            Ok(v.trim_matches('"').parse()?)
        };
        Ok((rps("LPUSH")?, rps("LPOP")?))
    }

    // --- cases -----------------------------------------------------------

    fn startup(&mut self) -> Result<(), BoxError> {
        println!("startup: spawn the server, poll-connect until accepted (5 NWS, 3 Redis runs)");
        let (mut accept, mut session, mut logged) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            let s = spawn_nws(&self.a.nws_bin)?;
            accept.push(s.wait_accepting(Duration::from_secs(10))?.as_secs_f64() * 1e3);
            let c = nws::blocking::Server::connect(&s.addr)?;
            session.push(s.spawned.elapsed().as_secs_f64() * 1e3);
            drop(c);
            let log = s.stop();
            if let Some(ms) = logged_startup_ms(&log) {
                logged.push(ms);
            }
        }
        let mut redis_accept = Vec::new();
        for _ in 0..3 {
            let s = spawn_redis(&self.a.redis_bin)?;
            redis_accept.push(s.wait_accepting(Duration::from_secs(10))?.as_secs_f64() * 1e3);
            s.stop();
        }
        let (a_med, a_max) = med_max(&mut accept);
        let (r_med, r_max) = med_max(&mut redis_accept);
        self.report.add(Row {
            case: "server start → accepting TCP (ms, median / max)".into(),
            placement: "unpinned".into(),
            nws: format!("{a_med:.1} / {a_max:.1}"),
            redis: format!("{r_med:.1} / {r_max:.1}"),
            ratio: ratio(a_med, r_med),
            target: format!("≤ 50 ms: {}", verdict(a_max <= 50.0)),
        });
        let (s_med, s_max) = med_max(&mut session);
        self.report.add(Row {
            case: "server start → first NWS session open (ms, median / max)".into(),
            placement: "unpinned".into(),
            nws: format!("{s_med:.1} / {s_max:.1}"),
            redis: String::new(),
            ratio: String::new(),
            target: String::new(),
        });
        let (l_med, l_max) = med_max(&mut logged);
        self.report.add(Row {
            case: "startup_ms logged by nws-server (median / max)".into(),
            placement: "unpinned".into(),
            nws: format!("{l_med:.2} / {l_max:.2}"),
            redis: String::new(),
            ratio: String::new(),
            target: String::new(),
        });
        Ok(())
    }

    fn single_client(&mut self, p: &Placement) -> Result<(f64, f64), BoxError> {
        println!("store+fetch, 1 client, {}", p.name);
        self.pin_servers(&p.server)?;
        let (nws, redis) = self.interleaved(|b, system| b.pairs(system, 1, &p.client))?;
        let (n, r) = (field(&nws, "rate")?, field(&redis, "rate")?);
        self.report.add(Row {
            case: "store+fetch pairs/s, 1 client (Redis: LPUSH+LPOP, redis crate)".into(),
            placement: p.name.into(),
            nws: si(n),
            redis: si(r),
            ratio: ratio(n, r),
            target: String::new(),
        });
        let (mut push, mut pop) = (Vec::new(), Vec::new());
        for _ in 0..self.a.reps.max(1) {
            let (a, b) = self.redis_benchmark(&p.client, 1)?;
            push.push(a);
            pop.push(b);
        }
        let (push, pop) = (med_max(&mut push).0, med_max(&mut pop).0);
        let rb = 1.0 / (1.0 / push + 1.0 / pop);
        self.report.add(Row {
            case: format!(
                "store+fetch pairs/s, 1 client vs redis-benchmark -c 1 (LPUSH {}/s, LPOP {}/s)",
                si(push),
                si(pop)
            ),
            placement: p.name.into(),
            nws: si(n),
            redis: si(rb),
            ratio: ratio(n, rb),
            target: format!("≥ 1.0x: {}", verdict(n >= rb)),
        });
        self.profile("store+fetch, 1 client", p.name, &nws, &redis)?;
        Ok((n, r))
    }

    /// `one`: the unpinned 1-client rates (NWS, Redis); `best`: the best
    /// 1-client rates of any placement.
    fn eight_clients(&mut self, one: (f64, f64), best: (f64, f64)) -> Result<(), BoxError> {
        let p = Cpus::all();
        println!("store+fetch, 8 concurrent clients, unpinned");
        self.pin_servers(&p)?;
        let (nws, redis) = self.interleaved(|b, system| b.pairs(system, 8, &p))?;
        let (n, r) = (field(&nws, "rate")?, field(&redis, "rate")?);
        let (one, r1) = one;
        self.report.add(Row {
            case: "store+fetch pairs/s, 8 clients (Redis: RPUSH+BLPOP)".into(),
            placement: "unpinned".into(),
            nws: si(n),
            redis: si(r),
            ratio: ratio(n, r),
            target: String::new(),
        });
        self.report.add(Row {
            case: "8-client rate / unpinned 1-client rate".into(),
            placement: "unpinned".into(),
            nws: ratio(n, one),
            redis: ratio(r, r1),
            ratio: String::new(),
            target: format!("NWS ≥ 2x: {}", verdict(n >= 2.0 * one)),
        });
        self.report.add(Row {
            case: "8-client rate / best 1-client rate of any placement".into(),
            placement: "unpinned".into(),
            nws: ratio(n, best.0),
            redis: ratio(r, best.1),
            ratio: String::new(),
            target: format!("NWS ≥ 2x: {}", verdict(n >= 2.0 * best.0)),
        });
        self.profile("store+fetch, 8 clients", "unpinned", &nws, &redis)?;
        Ok(())
    }

    fn pingpong_one(&mut self, system: &str, cpus: &Cpus) -> Result<Fields, BoxError> {
        let (addr, pid) = self.server(system);
        let addr = addr.to_owned();
        let tag = self.next_tag();
        let base = |role: &str| -> Vec<String> {
            [
                "pingpong", "--system", system, "--addr", &addr, "--role", role, "--tag", &tag,
            ]
            .map(str::to_owned)
            .to_vec()
        };
        let mut ping_args = base("ping");
        ping_args.extend(self.timing_args());
        self.measured(pid, || {
            let pong = child_command(cpus, &base("pong"))?.spawn()?;
            let ping = run_child(cpus, &ping_args);
            let pong = wait_child(pong, "pong");
            let mut ping = ping?;
            // The pong side's CPU counts too: a round trip needs both clients.
            if let (Ok(pong), Some(c)) = (pong, ping.get_mut("client_cpu")) {
                *c += pong.get("client_cpu").copied().unwrap_or(0.0);
            }
            Ok(ping)
        })
    }

    fn pingpong(&mut self, p: &Placement) -> Result<(), BoxError> {
        println!("ping-pong between two processes, {}", p.name);
        self.pin_servers(&p.server)?;
        let (nws, redis) = self.interleaved(|b, system| b.pingpong_one(system, &p.client))?;
        let (n, r) = (field(&nws, "rate")?, field(&redis, "rate")?);
        self.report.add(Row {
            case: "ping-pong round trips/s (blocking fetch; Redis BLPOP)".into(),
            placement: p.name.into(),
            nws: si(n),
            redis: si(r),
            ratio: ratio(n, r),
            target: String::new(),
        });
        for (key, label) in [("p50_us", "p50"), ("p99_us", "p99")] {
            let (a, b) = (field(&nws, key)?, field(&redis, key)?);
            self.report.add(Row {
                case: format!("ping-pong round trip {label} (µs, 2 wake-ups; lower is better)"),
                placement: p.name.into(),
                nws: format!("{a:.1}"),
                redis: format!("{b:.1}"),
                ratio: ratio(a, b),
                target: String::new(),
            });
        }
        self.profile("ping-pong round trip", p.name, &nws, &redis)?;
        Ok(())
    }

    fn many(&mut self) -> Result<(), BoxError> {
        let n = self.a.many;
        println!("{n} sessions each blocked in a fetch, then one store each, unpinned");
        let all = Cpus::all();
        self.pin_servers(&all)?;
        let mut res = Vec::new();
        for system in ["nws", "redis"] {
            let (addr, _) = self.server(system);
            let mut args: Vec<String> = ["many", "--system", system, "--addr", addr, "--n"]
                .map(str::to_owned)
                .to_vec();
            args.push(n.to_string());
            args.push("--tag".into());
            args.push(self.next_tag());
            res.push(run_child(&all, &args)?);
        }
        let (nws, redis) = (&res[0], &res[1]);
        let (ns, rs) = (field(nws, "served")?, field(redis, "served")?);
        let (nt, rt) = (field(nws, "serve_ms")?, field(redis, "serve_ms")?);
        self.report.add(Row {
            case: format!("{n} blocked fetches, then {n} stores: all served (ms)"),
            placement: "unpinned".into(),
            nws: format!("{nt:.1} ({ns:.0} served)"),
            redis: format!("{rt:.1} ({rs:.0} served)"),
            ratio: ratio(nt, rt),
            target: format!("all served: {}", verdict(ns as usize == n)),
        });
        let (nc, rc) = (field(nws, "connect_ms")?, field(redis, "connect_ms")?);
        self.report.add(Row {
            case: format!("open {n} sessions / connections (ms)"),
            placement: "unpinned".into(),
            nws: format!("{nc:.1}"),
            redis: format!("{rc:.1}"),
            ratio: ratio(nc, rc),
            target: String::new(),
        });
        Ok(())
    }

    fn large(&mut self) -> Result<(), BoxError> {
        println!("large values in fresh servers, unpinned: 100 MiB x 3, then 1 MiB x 100");
        let all = Cpus::all();
        let nws = spawn_nws(&self.a.nws_bin)?;
        nws.wait_accepting(Duration::from_secs(10))?;
        let redis = spawn_redis(&self.a.redis_bin)?;
        redis.wait_accepting(Duration::from_secs(10))?;
        let nws_base = vm_bytes(nws.pid(), "VmRSS:").unwrap_or(0.0);
        let mut figures = Vec::new();
        let mut hwm = (0.0, 0.0, 0.0);
        for (size, reps) in [(100usize << 20, 3usize), (1 << 20, 100)] {
            let mut pair = Vec::new();
            for (system, addr) in [("nws", &nws.addr), ("redis", &redis.addr)] {
                let args: Vec<String> = vec![
                    "large".into(),
                    "--system".into(),
                    system.into(),
                    "--addr".into(),
                    addr.clone(),
                    "--size".into(),
                    size.to_string(),
                    "--reps".into(),
                    reps.to_string(),
                ];
                pair.push(run_child(&all, &args)?);
            }
            if size == 100 << 20 {
                hwm = (
                    vm_bytes(nws.pid(), "VmHWM:").unwrap_or(f64::NAN),
                    vm_bytes(redis.pid(), "VmHWM:").unwrap_or(f64::NAN),
                    redis_used_memory_peak(&redis.addr).unwrap_or(f64::NAN),
                );
            }
            figures.push((size, pair));
        }
        drop(nws);
        drop(redis);
        for (size, pair) in &figures {
            let label = if *size == 100 << 20 {
                "100 MiB"
            } else {
                "1 MiB"
            };
            for (key, dir) in [("store_mbps", "store (SET)"), ("fetch_mbps", "fetch (GET)")] {
                let (a, b) = (field(&pair[0], key)?, field(&pair[1], key)?);
                let target = if *size == 100 << 20 {
                    format!("≥ 1000 MB/s: {}", verdict(a >= 1000.0))
                } else {
                    String::new()
                };
                self.report.add(Row {
                    case: format!("{label} value, {dir} MB/s (10^6 B/s)"),
                    placement: "unpinned".into(),
                    nws: format!("{a:.0}"),
                    redis: format!("{b:.0}"),
                    ratio: ratio(a, b),
                    target,
                });
            }
        }
        let held = (100u64 << 20) as f64;
        let mib = |b: f64| b / f64::from(1u32 << 20);
        self.report.add(Row {
            case: "server peak RSS holding one 100 MiB value (MiB; NWS VmHWM, Redis VmHWM / used_memory_peak)".into(),
            placement: "unpinned".into(),
            nws: format!("{:.0} ({:.2}x data; base {:.0})", mib(hwm.0), hwm.0 / held, mib(nws_base)),
            redis: format!("{:.0} / {:.0}", mib(hwm.1), mib(hwm.2)),
            ratio: ratio(hwm.0, hwm.1),
            target: format!("≤ 2x data held: {}", verdict(hwm.0 <= 2.0 * held)),
        });
        Ok(())
    }
}

/// The median of every key over several runs.
fn medians(runs: &[Fields]) -> Fields {
    let mut out = Fields::new();
    if let Some(first) = runs.first() {
        for k in first.keys() {
            let mut v: Vec<f64> = runs.iter().filter_map(|r| r.get(k).copied()).collect();
            out.insert(k.clone(), med_max(&mut v).0);
        }
    }
    out
}

fn med_max(v: &mut [f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    format!("{cpus} CPUs, {model}, Linux {kernel}")
}

/// Busy share of all CPUs (0 to 1) over `d`, from /proc/stat, sampled
/// while this benchmark is idle: the background load others put on the
/// machine.
fn background_busy(d: Duration) -> f64 {
    let sample = || -> Option<(f64, f64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
        let v: Vec<f64> = cpu
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let idle = v.get(3)? + v.get(4).unwrap_or(&0.0);
        Some((v.iter().take(8).sum(), idle))
    };
    let Some((t0, i0)) = sample() else {
        return f64::NAN;
    };
    std::thread::sleep(d);
    let Some((t1, i1)) = sample() else {
        return f64::NAN;
    };
    if t1 > t0 {
        1.0 - (i1 - i0) / (t1 - t0)
    } else {
        f64::NAN
    }
}

fn date() -> String {
    std::process::Command::new("date")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Runs every case, prints the table, writes the markdown.
pub fn run(a: RunArgs) -> Result<(), BoxError> {
    let started = Instant::now();
    let out = a.out.clone();
    let mut b = Bench {
        a,
        report: Report::default(),
        tag: 0,
    };
    println!("nws-bench: {} ({})", machine(), date());
    let busy_before = background_busy(Duration::from_secs(1));
    println!(
        "background CPU load before the run: {:.0}%",
        busy_before * 100.0
    );
    b.startup()?;
    let mut unpinned_one = (f64::NAN, f64::NAN);
    let mut best_one = (0.0f64, 0.0f64);
    for p in placements() {
        let one = b.single_client(&p)?;
        best_one = (best_one.0.max(one.0), best_one.1.max(one.1));
        if p.name == "unpinned" {
            unpinned_one = one;
        }
    }
    b.eight_clients(unpinned_one, best_one)?;
    for p in placements() {
        b.pingpong(&p)?;
    }
    b.many()?;
    b.large()?;
    b.pin_servers(&Cpus::all())?;
    let busy_after = background_busy(Duration::from_secs(1));
    let mut load_note = format!(
        "background CPU load (other processes, sampled 1 s while idle): {:.0}% before, {:.0}% after the run",
        busy_before * 100.0,
        busy_after * 100.0
    );
    if busy_before.max(busy_after) > 0.10 {
        load_note.push_str(": the machine was shared, so absolute figures are noisy; ratios from interleaved runs hold better");
    }
    b.report.notes = vec![
        load_note,
        "placement: same core = server and client(s) all pinned to CPU 0; cross core = server on CPU 0, client(s) on CPU 1 (both ping-pong processes too); unpinned = no pinning".into(),
        format!("each figure is the median of {} interleaved runs of {} s (after {} s warm-up)", b.a.reps, b.a.secs, b.a.warm),
        "a pair is one store (LPUSH/RPUSH) plus one fetch (LPOP/BLPOP) of a 16-byte value; redis-benchmark pairs/s = 1 / (1/LPUSH rate + 1/LPOP rate)".into(),
        "NWS client: async nws crate (current-thread runtime for 1 client, 2 workers for 8 and 1000 sessions); Redis client: redis crate, synchronous, TCP_NODELAY, one thread per connection".into(),
        "profile: CPU µs and context switches per pair or round trip, from /proc/PID/task/*/schedstat and status of the server, /proc/self/stat of the client process(es), warm-up included".into(),
        format!("whole run: {:.0} s", started.elapsed().as_secs_f64()),
    ];
    let md = b.report.markdown();
    println!("\n{md}");
    let header = format!("# nws-bench: latest run\n\n{} — {}\n\n", date(), machine());
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, format!("{header}{md}"))?;
    println!("wrote {}", out.display());
    Ok(())
}
