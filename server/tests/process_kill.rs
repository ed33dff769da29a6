//! Death of processes and networks: a client process killed with SIGKILL, a
//! TCP connection cut abruptly, a network that goes silent, and the real
//! `nws-server` binary starting and stopping on signals.
//!
//! Spec anchors covered: `spec/sessions.md#session-end`, `#crash`,
//! `#network-loss`, `#shutdown`, `spec/leases.md#leases` (a dead worker's
//! task returns), `spec/limits.md#limits` (keepalive, `--port`,
//! `--max-value-size`), `spec/protocol.md#stream-errors`.
//!
//! The client process for the SIGKILL test is this test binary itself,
//! re-executed to run only [`crash_helper_client_process`] with
//! `NWS_TEST_CRASH_HELPER` set; run normally, that test does nothing.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use common::*;

/// Environment variable that turns [`crash_helper_client_process`] into the
/// client process of the SIGKILL test; its value is the server address.
const HELPER_ENV: &str = "NWS_TEST_CRASH_HELPER";

// ----- the real binary -------------------------------------------------------

/// A running `nws-server` child process.
struct Binary {
    child: Child,
    addr: SocketAddr,
    /// Every line the server logged (stdout and stderr).
    lines: std_mpsc::Receiver<String>,
}

impl Binary {
    fn start(extra_args: &[&str]) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nws-server"))
            .args(["--port", "0", "--web-port", "0", "--log-level", "info"])
            .args(extra_args)
            .env("NO_COLOR", "1")
            .env_remove("NWS_SERVER_PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nws-server");
        let (tx, lines) = std_mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            // Keep draining so the server never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + WAIT;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines.recv_timeout(left).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("nws-server did not log `listening on` within {WAIT:?}")
            });
            if let Some(addr) = parse_listening(&line) {
                break addr;
            }
        };
        Binary { child, addr, lines }
    }

    /// Sends a signal with the `kill` command.
    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits (bounded) for the process to exit; returns its exit code.
    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let logged: Vec<String> = self.lines.try_iter().collect();
                panic!("nws-server did not exit within {WAIT:?}; log: {logged:#?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a line like `... listening on 127.0.0.1:40123 (web UI ...`.
fn parse_listening(line: &str) -> Option<SocketAddr> {
    let at = line.find("listening on ")? + "listening on ".len();
    let token: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    token.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_starts_serves_hello_and_exits_0_on_sigterm() {
    let mut server = Binary::start(&[]);
    assert!(server.addr.ip().is_loopback(), "binds 127.0.0.1 by default");
    let mut s = Session::connect(server.addr).await;
    let hello = s.hello("binary test").await;
    assert!(hello.server.starts_with("nws-server "));
    assert_eq!(hello.protocol_version, 1);
    s.open("ws").await;
    let fetch = s.start(ops::fetch("ws", "x")).await;
    s.expect_blocked(fetch).await;

    server.signal("TERM");
    expect_reason(&s.reply(fetch).await, Reason::ShuttingDown);
    s.expect_stream_error(tonic::Code::Unavailable, Reason::ShuttingDown)
        .await;
    let code = tokio::task::spawn_blocking(move || server.wait_exit())
        .await
        .expect("join");
    assert_eq!(code, Some(0), "exit status after SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_0_on_sigint() {
    let mut server = Binary::start(&[]);
    let mut s = Session::connect(server.addr).await;
    s.hello("sigint").await;
    server.signal("INT");
    s.expect_stream_error(tonic::Code::Unavailable, Reason::ShuttingDown)
        .await;
    let code = tokio::task::spawn_blocking(move || server.wait_exit())
        .await
        .expect("join");
    assert_eq!(code, Some(0), "exit status after SIGINT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_applies_its_size_flags() {
    let server = Binary::start(&["--max-value-size", "1MiB", "--max-memory", "3MiB"]);
    let mut s = Session::connect(server.addr).await;
    assert_eq!(s.hello("flags").await.max_value_size, 1 << 20);
    s.open("ws").await;
    let big = raw_value(vec![0u8; (1 << 20) + 1]);
    expect_reason(&s.call(ops::store("ws", "x", big)).await, Reason::TooLarge);
    for _ in 0..3 {
        expect_done(
            &s.call(ops::store("ws", "x", raw_value(vec![0u8; 1 << 20])))
                .await,
        );
    }
    let one_more = s
        .call(ops::store("ws", "x", raw_value(vec![0u8; 1 << 20])))
        .await;
    expect_reason(&one_more, Reason::MemoryLimit);
}

// ----- a client process killed with SIGKILL -----------------------------------

/// Run normally this does nothing. Re-executed by
/// [`kill_9_of_a_client_process_returns_its_lease_and_deletes_its_workspace`]
/// with `NWS_TEST_CRASH_HELPER=<addr>`, it is that test's client process: it
/// owns a workspace, fetches a task without acknowledging it, reports
/// `LEASED <lease id>` on stdout and waits to be killed.
#[test]
fn crash_helper_client_process() {
    let Ok(addr) = std::env::var(HELPER_ENV) else {
        return;
    };
    let addr: SocketAddr = addr.parse().expect("helper address");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let mut s = Session::connect(addr).await;
        s.hello("doomed worker").await;
        s.open("crash-owned").await;
        let id = s.start(ops::fetch("tasks", "t")).await;
        let got = s.value(id).await;
        println!("LEASED {} {}", got.lease_id, got.text());
        // Never acknowledge; wait to be killed (give up after a minute).
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_client_process_returns_its_lease_and_deletes_its_workspace() {
    let server = Binary::start(&[]);
    let mut s = Session::connect(server.addr).await;
    s.use_ws("tasks").await;
    s.store_text("tasks", "t", "the task").await;

    let mut helper = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "crash_helper_client_process",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(HELPER_ENV, server.addr.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the helper client process");
    let stdout = helper.stdout.take().expect("helper stdout");
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let leased = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                // libtest may print "test ... " before it on the same line.
                Ok(line) if line.contains("LEASED ") => return line,
                Ok(_) => {}
                Err(_) => return String::new(),
            }
        }
    })
    .await
    .expect("join");
    assert!(
        leased.ends_with("the task"),
        "helper never reported its lease: {leased:?}"
    );
    assert!(s.ws_info("crash-owned").await.is_some());
    let waiting = s.start(ops::fetch_no_lease("tasks", "t")).await;
    s.expect_blocked(waiting).await;

    helper.kill().expect("SIGKILL the helper");
    let killed = Instant::now();
    let _ = helper.wait();
    let got = tokio::time::timeout(Duration::from_secs(3), s.value(waiting))
        .await
        .expect("the killed worker's task came back within 3 s");
    assert_eq!(got.text(), "the task");
    s.wait_for_ws("crash-owned", false).await;
    assert!(
        killed.elapsed() < Duration::from_secs(3),
        "session end took {:?}",
        killed.elapsed()
    );
}

// ----- connections cut or silenced, in-process server ---------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_abruptly_ends_its_session_within_3_s() {
    let server = Server::start().await;
    let mut observer = server.session().await;
    observer.use_ws("tasks").await;
    observer.store_text("tasks", "t", "work").await;
    let proxy = Proxy::start(server.addr).await;
    let mut victim = Session::connect(proxy.addr).await;
    let victim_id = victim.hello("victim").await.session_id;
    victim.open("victim-owned").await;
    let id = victim.start(ops::fetch("tasks", "t")).await;
    let lease = victim.value(id).await.lease_id;
    assert_ne!(lease, 0);
    let _blocked = victim.start(ops::fetch("tasks", "other")).await;
    observer.wait_for_waiters("tasks", "other", 1, 0).await;
    assert_eq!(server.store.lease_count(victim_id), 1);
    let waiting = observer.start(ops::fetch_no_lease("tasks", "t")).await;
    observer.expect_blocked(waiting).await;

    let cut = Instant::now();
    proxy.kill();
    let got = tokio::time::timeout(Duration::from_secs(3), observer.value(waiting))
        .await
        .expect("the lease came back within 3 s of the cut");
    assert_eq!(got.text(), "work");
    observer.wait_for_ws("victim-owned", false).await;
    observer.wait_for_waiters("tasks", "other", 0, 0).await;
    assert!(
        cut.elapsed() < Duration::from_secs(3),
        "session end took {:?}",
        cut.elapsed()
    );
    assert_eq!(server.store.lease_count(victim_id), 0);
    drop(victim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_network_is_detected_by_keepalive_in_about_2_s() {
    let server = Server::start().await;
    let mut observer = server.session().await;
    observer.use_ws("tasks").await;
    observer.store_text("tasks", "t", "work").await;
    let proxy = Proxy::start(server.addr).await;
    let mut victim = Session::connect(proxy.addr).await;
    victim.hello("victim").await;
    victim.open("victim-owned").await;
    let id = victim.start(ops::fetch("tasks", "t")).await;
    let _ = victim.value(id).await; // leased, never acknowledged
    let waiting = observer.start(ops::fetch_no_lease("tasks", "t")).await;
    observer.expect_blocked(waiting).await;

    // No FIN, no RST: only the HTTP/2 keepalive PING (1 s, 1 s timeout) can tell.
    let frozen = Instant::now();
    proxy.freeze();
    let got = tokio::time::timeout(Duration::from_secs(6), observer.value(waiting))
        .await
        .expect("the lease came back after keepalive detected the silent peer");
    let took = frozen.elapsed();
    assert_eq!(got.text(), "work");
    observer.wait_for_ws("victim-owned", false).await;
    assert!(
        took < Duration::from_secs(4),
        "network loss detected after {took:?}, spec says about 2 s"
    );
    drop(victim);
}
