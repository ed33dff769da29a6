//! Processes: pinned children, fresh servers, affinity changes and what
//! `/proc` says about a process (CPU time, context switches, peak RSS).

use std::collections::HashMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BoxError;

/// The key=value pairs of a child's `RESULT` line.
pub type Fields = HashMap<String, f64>;

/// Reads a number from a child's result.
pub fn field(f: &Fields, key: &str) -> Result<f64, BoxError> {
    f.get(key)
        .copied()
        .ok_or_else(|| format!("child result lacks {key:?}: {f:?}").into())
}

/// Prints the line the orchestrator parses: `RESULT k=v k=v ...`.
pub fn print_result(pairs: &[(&str, f64)]) {
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", body.join(" "));
}

/// Parses the last `RESULT` line of a child's stdout.
pub fn parse_result(stdout: &str) -> Result<Fields, BoxError> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| format!("child printed no RESULT line: {stdout:?}"))?;
    let mut f = Fields::new();
    for kv in line["RESULT ".len()..].split_whitespace() {
        if let Some((k, v)) = kv.split_once('=') {
            f.insert(k.to_owned(), v.parse()?);
        }
    }
    Ok(f)
}

/// A CPU list for `taskset -c`.
#[derive(Clone, Debug)]
pub struct Cpus(pub String);

impl Cpus {
    /// Every CPU of the machine (unpinned).
    pub fn all() -> Cpus {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        Cpus(if n > 1 {
            format!("0-{}", n - 1)
        } else {
            "0".into()
        })
    }
}

/// This benchmark binary, to re-invoke as a measuring child.
fn self_exe() -> Result<PathBuf, BoxError> {
    Ok(std::env::current_exe()?)
}

/// Builds `taskset -c CPUS nws-bench ARGS...` with stdout piped.
pub fn child_command(cpus: &Cpus, args: &[String]) -> Result<Command, BoxError> {
    let mut c = Command::new("taskset");
    c.arg("-c")
        .arg(&cpus.0)
        .arg(self_exe()?)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    Ok(c)
}

/// Runs a measuring child pinned to `cpus` and returns its result.
pub fn run_child(cpus: &Cpus, args: &[String]) -> Result<Fields, BoxError> {
    let out = child_command(cpus, args)?.output()?;
    if !out.status.success() {
        return Err(format!("child {args:?} failed: {}", out.status).into());
    }
    parse_result(&String::from_utf8_lossy(&out.stdout))
}

/// Waits for a spawned child and returns its result.
pub fn wait_child(child: Child, what: &str) -> Result<Fields, BoxError> {
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("child {what} failed: {}", out.status).into());
    }
    parse_result(&String::from_utf8_lossy(&out.stdout))
}

/// Pins every thread of a running process to `cpus`.
pub fn set_affinity(pid: u32, cpus: &Cpus) -> Result<(), BoxError> {
    let st = Command::new("taskset")
        .args(["-a", "-p", "-c", &cpus.0, &pid.to_string()])
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        return Err(format!("taskset -a -p -c {} {pid} failed", cpus.0).into());
    }
    Ok(())
}

/// CPU time (ns) and context switches of a process, summed over its live
/// threads (`/proc/PID/task/*/schedstat` and `status`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStat {
    /// Nanoseconds on a CPU.
    pub cpu_ns: f64,
    /// Voluntary plus involuntary context switches.
    pub ctx_switches: f64,
}

impl ProcStat {
    /// Reads the counters of `pid` now.
    pub fn read(pid: u32) -> ProcStat {
        let mut s = ProcStat::default();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return s;
        };
        for t in tasks.flatten() {
            let p = t.path();
            if let Ok(sched) = std::fs::read_to_string(p.join("schedstat")) {
                let ns: f64 = sched
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
                s.cpu_ns += ns;
            }
            if let Ok(status) = std::fs::read_to_string(p.join("status")) {
                for l in status.lines() {
                    if l.starts_with("voluntary_ctxt_switches")
                        || l.starts_with("nonvoluntary_ctxt_switches")
                    {
                        s.ctx_switches += l
                            .split_whitespace()
                            .nth(1)
                            .and_then(|v| v.parse::<f64>().ok())
                            .unwrap_or(0.0);
                    }
                }
            }
        }
        s
    }

    /// The counters accumulated since `before`.
    pub fn since(self, before: ProcStat) -> ProcStat {
        ProcStat {
            cpu_ns: self.cpu_ns - before.cpu_ns,
            ctx_switches: self.ctx_switches - before.ctx_switches,
        }
    }
}

/// CPU seconds this process has used, all threads including exited ones
/// (`/proc/self/stat` utime + stime, in clock ticks of 10 ms).
pub fn own_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15, i.e. the 12th and 13th after it.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    match (f.get(11), f.get(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => 0.0,
    }
}

/// A `VmXXX:` line of `/proc/PID/status`, in bytes.
pub fn vm_bytes(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A server process the orchestrator started; killed when dropped.
pub struct Spawned {
    /// The process.
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// When it was spawned.
    pub spawned: Instant,
}

impl Spawned {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls TCP connects every 100 µs until one is accepted; returns the
    /// time from spawn to that moment.
    pub fn wait_accepting(&self, limit: Duration) -> Result<Duration, BoxError> {
        loop {
            if TcpStream::connect(&self.addr).is_ok() {
                return Ok(self.spawned.elapsed());
            }
            if self.spawned.elapsed() > limit {
                return Err(format!("{} not accepting after {limit:?}", self.addr).into());
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Stops it and returns what it printed on stdout.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a fresh `nws-server` on a free loopback port (stdout piped, so
/// its log line can be read after [`Spawned::stop`]).
pub fn spawn_nws(bin: &Path) -> Result<Spawned, BoxError> {
    let port = free_port()?;
    let spawned = Instant::now();
    let child = Command::new(bin)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--log-level", "info"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Spawned {
        child,
        addr: format!("127.0.0.1:{port}"),
        spawned,
    })
}

/// Starts a fresh `redis-server` on a free loopback port, without
/// persistence.
pub fn spawn_redis(bin: &Path) -> Result<Spawned, BoxError> {
    let port = free_port()?;
    let spawned = Instant::now();
    let child = Command::new(bin)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
        .args(["--daemonize", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Spawned {
        child,
        addr: format!("127.0.0.1:{port}"),
        spawned,
    })
}

/// The `startup_ms=` figure of an nws-server log, ANSI colours stripped.
pub fn logged_startup_ms(log: &str) -> Option<f64> {
    let mut clean = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip an escape sequence up to its final letter.
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            clean.push(c);
        }
    }
    let at = clean.find("startup_ms=")? + "startup_ms=".len();
    let num: String = clean[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}
