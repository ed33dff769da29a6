//! Request ids, pipelining and reply routing on one session stream.
//!
//! Spec anchors covered: `spec/protocol.md#session`, `#framing`,
//! `#request-ids`, `#pipelining`, `#stream-errors`,
//! `spec/errors.md#protocol-error`, `spec/sessions.md#session-end`
//! (after a protocol error).

mod common;

use common::*;
use nws_proto::v1 as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_blocked_fetches_on_one_stream_are_answered_as_stores_arrive() {
    let server = Server::start().await;
    let mut waiter = server.session().await;
    let mut storer = server.session().await;
    waiter.open("ws").await;
    const N: u64 = 100;
    let ids: Vec<u64> = (0..N).map(|n| 1000 + n).collect();
    for &id in &ids {
        waiter
            .send_request(id, ops::fetch_no_lease("ws", "q"))
            .await;
    }
    storer.wait_for_waiters("ws", "q", N, 0).await;
    for n in 0..N {
        storer.store_text("ws", "q", &format!("v{n}")).await;
    }
    // Waiting fetchers are served oldest first: the n-th fetch gets the n-th value.
    for (n, &id) in ids.iter().enumerate() {
        assert_eq!(waiter.value(id).await.text(), format!("v{n}"));
    }
    assert!(
        waiter
            .list_vars("ws")
            .await
            .iter()
            .all(|v| v.fetchers == 0 && v.value_count == 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_requests_on_different_variables_wait_independently() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let a = s.start(ops::fetch_no_lease("ws", "a")).await;
    let b = s.start(ops::find("ws", "b")).await;
    let c = s
        .start(ops::iterate("ws", "c", pb::IterKind::Ifind, None))
        .await;
    s.store_text("ws", "c", "for c").await;
    assert_eq!(s.value(c).await.text(), "for c");
    s.store_text("ws", "b", "for b").await;
    assert_eq!(s.value(b).await.text(), "for b");
    s.expect_blocked(a).await;
    s.store_text("ws", "a", "for a").await;
    assert_eq!(s.value(a).await.text(), "for a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_come_out_of_order_and_are_routed_by_id() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    s.send_request(10, ops::fetch_no_lease("ws", "x")).await;
    s.send_request(11, ops::list_wss()).await;
    s.send_request(12, ops::store_text("ws", "x", "v")).await;
    // 11 and 12 are answered although 10, sent earlier, was still waiting.
    let _ = s.reply(11).await;
    expect_done(&s.reply(12).await);
    assert_eq!(s.value(10).await.text(), "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_does_not_wait_takes_effect_before_the_next_is_read() {
    let server = Server::start().await;
    let mut s = server.session().await;
    // Sent back to back without waiting for replies.
    s.send_request(1, ops::open("ws")).await;
    s.send_request(2, ops::declare("ws", "x", pb::Mode::Lifo))
        .await;
    s.send_request(3, ops::store_text("ws", "x", "a")).await;
    s.send_request(4, ops::store_text("ws", "x", "b")).await;
    s.send_request(5, ops::fetch_try("ws", "x")).await;
    s.send_request(6, ops::delete_var("ws", "x")).await;
    s.send_request(7, ops::find_try("ws", "x")).await;
    let _ = expect_workspace(&s.reply(1).await);
    for id in 2..=4 {
        expect_done(&s.reply(id).await);
    }
    assert_eq!(
        text_of(&s.reply(5).await),
        "b",
        "LIFO declared and both stores applied in order"
    );
    expect_done(&s.reply(6).await);
    expect_nothing(&s.reply(7).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_unanswered_id_ends_stream_with_protocol_error() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let mut observer = server.session().await;
    s.open("mine").await;
    observer.open("shared").await;
    s.send_request(7, ops::fetch("shared", "x")).await;
    observer.wait_for_waiters("shared", "x", 1, 0).await;
    s.send_request(7, ops::list_wss()).await;
    let err = s
        .expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
    assert!(!err.message.is_empty());
    assert!(
        !s.has_buffered(7),
        "requests unanswered at a protocol error get no reply"
    );

    // The session ended: its waiter is gone and its workspace deleted.
    observer.wait_for_waiters("shared", "x", 0, 0).await;
    observer.wait_for_ws("mine", false).await;
    observer.store_text("shared", "x", "not lost").await;
    assert_eq!(
        observer.fetch_try_text("shared", "x").await.as_deref(),
        Some("not lost")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_may_be_reused_once_answered() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.send_request(5, ops::open("ws")).await;
    let _ = s.reply(5).await;
    for n in 0..3 {
        s.send_request(5, ops::store_text("ws", "x", &n.to_string()))
            .await;
        expect_done(&s.reply(5).await);
    }
    // A waiting request's id is free again once it has been answered.
    s.send_request(5, ops::fetch_no_lease("ws", "y")).await;
    s.expect_blocked(5).await;
    s.send_request(6, ops::store_text("ws", "y", "y")).await;
    expect_done(&s.reply(6).await);
    assert_eq!(s.value(5).await.text(), "y");
    s.send_request(5, ops::fetch_try("ws", "x")).await;
    assert_eq!(text_of(&s.reply(5).await), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_u64_is_a_valid_id_including_zero() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.send_request(0, ops::open("ws")).await;
    assert_eq!(expect_workspace(&s.reply(0).await).name, "ws");
    s.send_request(u64::MAX, ops::fetch_no_lease("ws", "x"))
        .await;
    s.send_request(0, ops::store_text("ws", "x", "max")).await;
    expect_done(&s.reply(0).await);
    assert_eq!(s.value(u64::MAX).await.text(), "max");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_id_of_an_upload_in_progress_is_a_protocol_error() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let mut value = raw_value(vec![1u8; 1024]);
    value.total_size = 4096;
    s.send_request(3, ops::store("ws", "x", value)).await;
    s.send_request(3, ops::list_wss()).await;
    s.expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_may_share_one_connection() {
    let server = Server::start().await;
    let channel = channel(server.addr).await;
    let mut a = Session::open_on(channel.clone()).await;
    let mut b = Session::open_on(channel.clone()).await;
    let ha = a.hello("a").await;
    let hb = b.hello("b").await;
    assert_ne!(
        ha.session_id, hb.session_id,
        "each stream is its own session"
    );
    a.open("a-ws").await;
    b.use_ws("a-ws").await;
    let id = b.start(ops::fetch_no_lease("a-ws", "x")).await;
    a.store_text("a-ws", "x", "across").await;
    assert_eq!(b.value(id).await.text(), "across");
    // Ending one session leaves the other (and the connection) alone.
    a.close().await.expect("clean close");
    b.wait_for_ws("a-ws", false).await;
    let mut c = Session::open_on(channel).await;
    c.open("c-ws").await;
    assert!(b.ws_info("c-ws").await.is_some());
}
