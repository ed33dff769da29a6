//! One port, two protocols: gRPC sessions and original-protocol (legacy)
//! connections share the listener and the store (`spec/legacy.md#port`).
//! The full legacy suite is `tests/legacy/` (`make test-legacy`).

mod common;

use common::*;
use nws_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A legacy request tuple: `%04d` count, then `%020d` length and bytes each.
fn tuple(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("{:04}", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("{:020}", a.len()).as_bytes());
        out.extend_from_slice(a);
    }
    out
}

async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    bounded("legacy reply", s.read_exact(&mut b))
        .await
        .expect("read");
    b
}

/// Old handshake `1112` (CRAN nws 1.7): answered `2223`, cookies on.
async fn legacy(server: &Server) -> TcpStream {
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(b"1112").await.expect("write");
    assert_eq!(read_n(&mut s, 4).await, b"2223");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_crosses_between_a_legacy_connection_and_a_grpc_session_on_one_port() {
    let server = Server::start().await;
    let mut g = server.session().await;
    g.open("shared").await;
    let mut l = legacy(&server).await;
    // legacy store of a Python 2 str (descriptor 0x01000001)
    l.write_all(&tuple(&[
        b"store",
        b"shared",
        b"x",
        b"00000000000016777217",
        b"from legacy",
    ]))
    .await
    .expect("write");
    assert_eq!(read_n(&mut l, 4).await, b"0000");
    let id = g.start(ops::fetch("shared", "x")).await;
    assert_eq!(text_of(&g.reply(id).await), "from legacy");
    // and back: a gRPC TEXT value reaches the legacy client as a direct string
    let id = g.start(ops::store_text("shared", "y", "from grpc")).await;
    expect_done(&g.reply(id).await);
    l.write_all(&tuple(&[b"fetch", b"shared", b"y"]))
        .await
        .expect("write");
    let head = read_n(&mut l, 4 + 20 + 40 + 20).await;
    assert_eq!(&head[..4], b"0000");
    assert_eq!(&head[4..24], b"00000000000000000001");
    assert_eq!(&head[64..84], b"00000000000000000009");
    assert_eq!(read_n(&mut l, 9).await, b"from grpc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_connection_is_a_session_that_owns_what_it_opens() {
    let server = Server::start().await;
    let mut l = legacy(&server).await;
    l.write_all(&tuple(&[b"open ws", b"mine", b"99", b"no"]))
        .await
        .expect("write");
    assert_eq!(read_n(&mut l, 4).await, b"0000");
    assert!(server.store.workspace_exists("mine"));
    drop(l);
    eventually("owned workspace purged", WAIT, || {
        !server.store.workspace_exists("mine")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_legacy_the_port_speaks_only_grpc() {
    let server = Server::start_with(Config {
        legacy: false,
        ..Config::default()
    })
    .await;
    let mut g = server.session().await;
    g.open("ws").await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(b"1112").await.expect("write");
    let mut b = [0u8; 4];
    let got = tokio::time::timeout(QUIET, s.read(&mut b)).await;
    // hyper answers with an HTTP/2 frame or closes; never the legacy `2223`
    if let Ok(Ok(n)) = got {
        assert_ne!(&b[..n], b"2223");
    }
}
