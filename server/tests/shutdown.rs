//! Server shutdown: waiters answered SHUTTING_DOWN, streams ended UNAVAILABLE,
//! `run` returns.
//!
//! Spec anchors covered: `spec/sessions.md#shutdown`,
//! `spec/protocol.md#stream-errors`, `spec/errors.md#shutting-down`.

mod common;

use std::time::Duration;

use common::*;
use nws_proto::v1 as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_a_blocked_fetch_shutting_down_and_ends_the_stream_unavailable() {
    let mut server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let fetch = s.start(ops::fetch("ws", "x")).await;
    s.expect_blocked(fetch).await;
    server.trigger_shutdown();
    expect_reason(&s.reply(fetch).await, Reason::ShuttingDown);
    let err = s
        .expect_stream_error(tonic::Code::Unavailable, Reason::ShuttingDown)
        .await;
    assert!(!err.message.is_empty());
    server
        .join()
        .await
        .expect("run() returns Ok after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_every_waiting_request_in_every_session() {
    let mut server = Server::start().await;
    let mut a = server.session().await;
    let mut b = server.session().await;
    let mut idle = server.session().await;
    a.open("ws").await;
    let waits_a = [
        a.start(ops::fetch("ws", "x")).await,
        a.start(ops::find("ws", "x")).await,
        a.start(ops::fetch_timeout("ws", "y", 60_000)).await,
    ];
    let waits_b = [
        b.start(ops::iterate("ws", "x", pb::IterKind::Ifind, None))
            .await,
        b.start(ops::iterate("ws", "z", pb::IterKind::Ifetch, None))
            .await,
    ];
    idle.wait_for_waiters("ws", "z", 1, 0).await;
    idle.wait_for_waiters("ws", "x", 1, 2).await;
    server.trigger_shutdown();
    for id in waits_a {
        expect_reason(&a.reply(id).await, Reason::ShuttingDown);
    }
    for id in waits_b {
        expect_reason(&b.reply(id).await, Reason::ShuttingDown);
    }
    for s in [&mut a, &mut b, &mut idle] {
        s.expect_stream_error(tonic::Code::Unavailable, Reason::ShuttingDown)
            .await;
    }
    server
        .join()
        .await
        .expect("run() returns Ok after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_returns_and_the_port_is_closed_after_shutdown() {
    let server = Server::start().await;
    let addr = server.addr;
    let mut s = server.session().await;
    s.open("ws").await;
    let store = server.store.clone();
    server
        .shutdown()
        .await
        .expect("run() returns Ok after shutdown");
    s.expect_stream_error(tonic::Code::Unavailable, Reason::ShuttingDown)
        .await;
    let refused =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await;
    assert!(
        matches!(refused, Ok(Err(_))),
        "the server stopped accepting connections: {refused:?}"
    );
    // Every session ended with the server.
    eventually("sessions ended", WAIT, move || store.stats().sessions == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_an_upload_in_progress_ends_the_stream_and_frees_its_memory() {
    let mut server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let mut first = raw_value(vec![7u8; 1024]);
    first.total_size = 1 << 20;
    let _ = s.start(ops::store("ws", "v", first)).await;
    let store = server.store.clone();
    eventually("the upload reserved memory", WAIT, move || {
        store.stats().memory_used > 0
    })
    .await;
    server.trigger_shutdown();
    s.expect_stream_error(tonic::Code::Unavailable, Reason::ShuttingDown)
        .await;
    server
        .join()
        .await
        .expect("run() returns Ok after shutdown");
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn shutdown_completes_even_when_a_client_has_stopped_reading_its_stream() {
    let mut server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    expect_done(
        &s.call(ops::store("ws", "big", raw_value(vec![1u8; 1 << 20])))
            .await,
    );
    // A client that keeps sending but never reads: its replies back up until
    // the server's session task is stuck sending.
    let mut stalled = Session::connect_paused(server.addr).await;
    for _ in 0..400 {
        let _ = stalled.start(ops::find("ws", "big")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = s.start(ops::fetch("ws", "x")).await;
    s.expect_blocked(idle).await;
    server.trigger_shutdown();
    expect_reason(&s.reply(idle).await, Reason::ShuttingDown);
    s.expect_stream_error(tonic::Code::Unavailable, Reason::ShuttingDown)
        .await;
    server
        .join()
        .await
        .expect("run() returns although one client stopped reading");
    drop(stalled);
}
