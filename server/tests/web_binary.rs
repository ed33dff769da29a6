//! The binary's web UI flags: `--web-port 0` logs the address it picked and
//! serves there; `--no-web` serves none; `--web-token` is required then.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Bin {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Bin {
    fn start(args: &[&str]) -> Bin {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nws-server"))
            .args(["--port", "0", "--log-level", "info"])
            .args(args)
            .env_remove("NWS_WEB_PORT")
            .env_remove("NWS_WEB_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nws-server");
        let (tx, lines) = mpsc::channel();
        for out in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Bin { child, lines }
    }

    /// Lines until one contains `needle` (or the log goes quiet).
    fn until(&self, needle: &str) -> Option<String> {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            if line.contains(needle) {
                return Some(line);
            }
        }
        None
    }
}

impl Drop for Bin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(addr: &str, path: &str, extra: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

fn web_addr(line: &str) -> String {
    let at = line.find("http://").expect("url") + "http://".len();
    line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect()
}

#[test]
fn web_port_0_logs_the_address_it_serves_on() {
    let bin = Bin::start(&["--web-port", "0"]);
    let line = bin
        .until("web UI on http://127.0.0.1:")
        .expect("web UI line");
    let addr = web_addr(&line);
    let reply = get(&addr, "/api/workspaces", "");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains(r#""workspaces":[]"#), "{reply}");
    let page = get(&addr, "/", "");
    assert!(
        page.contains("<title>Workspaces · NetWorkSpaces</title>"),
        "{page}"
    );
}

#[test]
fn no_web_serves_no_web_ui() {
    let bin = Bin::start(&["--no-web"]);
    let listening = bin.until("listening on").expect("listening");
    assert!(!listening.contains("web UI"));
    // Nothing else mentions a web UI before the server is idle.
    std::thread::sleep(Duration::from_millis(300));
    while let Ok(line) = bin.lines.try_recv() {
        assert!(!line.contains("web UI on"), "{line}");
    }
}

#[test]
fn a_web_token_is_logged_in_the_address_and_required() {
    let bin = Bin::start(&["--web-port", "0", "--web-token", "tok-123"]);
    let line = bin.until("web UI on http://").expect("web UI line");
    assert!(line.contains("/?token=tok-123"), "{line}");
    let addr = web_addr(&line);
    assert!(get(&addr, "/api/workspaces", "").starts_with("HTTP/1.1 401"));
    let ok = get(
        &addr,
        "/api/workspaces",
        "Authorization: Bearer tok-123\r\n",
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

#[test]
fn a_malformed_web_token_is_refused_at_startup() {
    let out = Command::new(env!("CARGO_BIN_EXE_nws-server"))
        .args(["--port", "0", "--web-port", "0", "--web-token", "has space"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--web-token"));
}
