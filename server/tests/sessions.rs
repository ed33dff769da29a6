//! Sessions, leases, Cancel and placeholders.
//!
//! Spec anchors covered: `spec/sessions.md#hello`, `#session-end`, `#close`,
//! `#crash` (stream dropped), `#cancel`, `spec/leases.md#leases`, `#ack`,
//! `#release`, `#return`, `#single`, `spec/operations.md#placeholder`,
//! `#store-delivery` (waiters of ended sessions are skipped),
//! `spec/workspaces.md#ownership`, `#persistent`, `spec/errors.md#cancelled`,
//! `#invalid-argument` (Hello rules).

mod common;

use common::*;
use nws_proto::v1 as pb;

// ----- Hello ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_reports_the_server_facts() {
    let server = Server::start().await;
    let mut a = server.session().await;
    let mut b = server.session().await;
    let ha = a.hello("python 3.11 pid 4242 on node7").await;
    let hb = b.hello("").await;
    assert!(
        ha.server.starts_with("nws-server "),
        "server: {:?}",
        ha.server
    );
    assert_eq!(ha.protocol_version, 1);
    assert_eq!(ha.max_chunk_size, 4 << 20);
    assert_eq!(ha.max_value_size, 2 << 30);
    assert_ne!(ha.session_id, hb.session_id, "session ids are unique");
    assert_ne!(ha.session_id, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_is_optional_and_protocol_version_0_means_1() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    s.store_text("ws", "x", "no hello needed").await;
    let op = pb::request::Op::Hello(pb::Hello {
        client: "late".into(),
        protocol_version: 0,
    });
    let reply = s.call(op).await;
    match reply.result {
        Some(pb::reply::Result::Hello(h)) => assert_eq!(h.protocol_version, 1),
        other => panic!("expected HelloReply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_hello_is_invalid_argument() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.hello("first").await;
    expect_reason(&s.call(ops::hello("second")).await, Reason::InvalidArgument);
    s.open("ws").await;
    assert_eq!(
        s.ws_info("ws").await.expect("listed").owner,
        "first",
        "the second Hello changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_client_over_256_characters_is_invalid_argument() {
    let server = Server::start().await;
    let mut s = server.session().await;
    expect_reason(
        &s.call(ops::hello(&"x".repeat(257))).await,
        Reason::InvalidArgument,
    );
    // 256 characters are fine even when they take more bytes.
    let label = "é".repeat(256);
    s.hello(&label).await;
    s.open("ws").await;
    assert_eq!(s.ws_info("ws").await.expect("listed").owner, label);
}

// ----- session end ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_stream_deletes_the_owners_non_persistent_workspaces() {
    let server = Server::start().await;
    let (mut owner, _) = server.session_named("owner").await;
    let mut other = server.session().await;
    owner.open("temp").await;
    owner.use_ws("used").await;
    owner.store_text("temp", "x", "v").await;
    owner.store_text("used", "x", "stays").await;
    let fetch = other.start(ops::fetch("temp", "y")).await;
    let iter = other
        .start(ops::iterate("temp", "z", pb::IterKind::Ifind, None))
        .await;
    other.wait_for_waiters("temp", "z", 0, 1).await;
    other.wait_for_waiters("temp", "y", 1, 0).await;

    owner
        .close()
        .await
        .expect("a clean close completes the stream with OK");
    // Other sessions' waiters wake as by deleteWs.
    expect_reason(&other.reply(fetch).await, Reason::NoSuchWorkspace);
    expect_nothing(&other.reply(iter).await);
    assert!(other.ws_info("temp").await.is_none());
    // Workspaces the session only used, and values it stored there, are unaffected.
    assert_eq!(
        other.fetch_try_text("used", "x").await.as_deref(),
        Some("stays")
    );
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_workspace_survives_its_owner_unowned() {
    let server = Server::start().await;
    let (mut owner, _) = server.session_named("owner").await;
    let (mut other, _) = server.session_named("other").await;
    owner.expect_open(ops::open_persistent("keep")).await;
    owner.store_text("keep", "x", "v").await;
    drop(owner);
    let store = server.store.clone();
    eventually("the owner's session ended", WAIT, move || {
        store.stats().sessions == 1
    })
    .await;
    let info = other
        .ws_info("keep")
        .await
        .expect("persistent workspace survives");
    assert_eq!(
        (info.owner.as_str(), info.persistent, info.mine),
        ("", true, false)
    );
    assert_eq!(other.find_try_text("keep", "x").await.as_deref(), Some("v"));
    // Unowned, it can be claimed.
    assert!(other.open("keep").await.owned);
    assert_eq!(other.ws_info("keep").await.expect("listed").owner, "other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_end_withdraws_its_waiters_so_no_value_is_lost() {
    let server = Server::start().await;
    let mut owner = server.session().await;
    owner.open("ws").await;
    let mut waiter = server.session().await;
    let _ = waiter.start(ops::fetch("ws", "x")).await;
    let _ = waiter.start(ops::find("ws", "x")).await;
    owner.wait_for_waiters("ws", "x", 1, 1).await;
    drop(waiter);
    // The placeholder goes with its last waiter.
    let start = std::time::Instant::now();
    while owner.var_info("ws", "x").await.is_some() {
        assert!(
            start.elapsed() < WAIT,
            "the placeholder outlived its waiters' session"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    owner.store_text("ws", "x", "v").await;
    assert_eq!(
        owner.fetch_try_text("ws", "x").await.as_deref(),
        Some("v"),
        "no dead fetcher took it"
    );
}

// ----- leases --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_value_returns_to_another_sessions_waiting_fetcher_when_the_stream_is_dropped() {
    let server = Server::start().await;
    let (mut worker, worker_id) = server.session_named("worker").await;
    let mut other = server.session().await;
    other.use_ws("tasks").await;
    other.store_text("tasks", "t", "task 1").await;

    let id = worker.start(ops::fetch("tasks", "t")).await;
    let got = worker.value(id).await;
    assert_eq!(got.text(), "task 1");
    assert_ne!(got.lease_id, 0, "fetch leases by default");
    assert_eq!(server.store.lease_count(worker_id), 1);
    assert_eq!(
        other
            .var_info("tasks", "t")
            .await
            .expect("listed")
            .value_count,
        0,
        "leased values are not counted"
    );

    let waiting = other.start(ops::fetch_no_lease("tasks", "t")).await;
    other.expect_blocked(waiting).await;
    drop(worker); // dies without acknowledging
    assert_eq!(
        other.value(waiting).await.text(),
        "task 1",
        "the value came back to the waiting fetcher"
    );
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_fifo_value_goes_back_to_the_front() {
    let server = Server::start().await;
    let mut worker = server.session().await;
    let mut other = server.session().await;
    other.use_ws("ws").await;
    for v in ["a", "b", "c"] {
        other.store_text("ws", "q", v).await;
    }
    let id = worker.start(ops::fetch("ws", "q")).await;
    assert_eq!(worker.value(id).await.text(), "a");
    worker.close().await.expect("clean close");
    let mut order = Vec::new();
    let start = std::time::Instant::now();
    while order.len() < 3 {
        assert!(start.elapsed() < WAIT, "values missing: {order:?}");
        match other.fetch_try_text("ws", "q").await {
            Some(v) => order.push(v),
            None => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
    assert_eq!(
        order,
        ["a", "b", "c"],
        "the returned value counts as never fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_makes_it_permanent() {
    let server = Server::start().await;
    let (mut worker, worker_id) = server.session_named("worker").await;
    let mut other = server.session().await;
    other.use_ws("ws").await;
    other.store_text("ws", "x", "done").await;
    let id = worker.start(ops::fetch("ws", "x")).await;
    let got = worker.value(id).await;
    worker.ack(&[got.lease_id]).await;
    // Acks carry no reply; a later request on the stream is applied after it.
    let _ = worker.list_wss().await;
    assert_eq!(server.store.lease_count(worker_id), 0);
    server.expect_memory_freed().await;
    // Repeated and unknown ids are ignored.
    worker.ack(&[got.lease_id, 999_999]).await;
    worker.release(&[got.lease_id, 999_999]).await;
    worker.close().await.expect("clean close");
    expect_nothing(&other.call(ops::fetch_try("ws", "x")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_returns_it() {
    let server = Server::start().await;
    let (mut s, sid) = server.session_named("s").await;
    s.open("ws").await;
    s.declare("ws", "stack", pb::Mode::Lifo).await;
    for v in ["a", "b"] {
        s.store_text("ws", "q", v).await;
        s.store_text("ws", "stack", v).await;
    }
    let fq = s.start(ops::fetch("ws", "q")).await;
    let fs = s.start(ops::fetch("ws", "stack")).await;
    let (gq, gs) = (s.value(fq).await, s.value(fs).await);
    assert_eq!((gq.text().as_str(), gs.text().as_str()), ("a", "b"));
    assert_eq!(server.store.lease_count(sid), 2);
    s.release(&[gq.lease_id, gs.lease_id]).await;
    assert_eq!(s.var_info("ws", "q").await.expect("listed").value_count, 2);
    assert_eq!(server.store.lease_count(sid), 0);
    // FIFO: back to the front; LIFO: back on top.
    assert_eq!(s.fetch_try_text("ws", "q").await.as_deref(), Some("a"));
    assert_eq!(s.fetch_try_text("ws", "stack").await.as_deref(), Some("b"));
    // Releasing again is ignored: nothing is duplicated.
    s.release(&[gq.lease_id, gs.lease_id]).await;
    assert_eq!(s.fetch_try_text("ws", "q").await.as_deref(), Some("b"));
    assert_eq!(s.fetch_try_text("ws", "stack").await.as_deref(), Some("a"));
    expect_nothing(&s.call(ops::fetch_try("ws", "q")).await);
    expect_nothing(&s.call(ops::fetch_try("ws", "stack")).await);
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_ids_are_meaningful_only_in_their_own_session() {
    let server = Server::start().await;
    let (mut a, a_id) = server.session_named("a").await;
    let mut b = server.session().await;
    a.open("ws").await;
    a.store_text("ws", "x", "v").await;
    let id = a.start(ops::fetch("ws", "x")).await;
    let lease = a.value(id).await.lease_id;
    b.ack(&[lease]).await;
    b.release(&[lease]).await;
    let _ = b.list_wss().await;
    assert_eq!(
        server.store.lease_count(a_id),
        1,
        "another session cannot end this lease"
    );
    assert!(b.find_try_text("ws", "x").await.is_none());
    a.release(&[lease]).await;
    let _ = a.list_wss().await; // the release is applied before this is answered
    assert_eq!(b.find_try_text("ws", "x").await.as_deref(), Some("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_value_serves_waiting_finds_and_then_the_oldest_fetcher() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let mut w = server.session().await;
    s.open("ws").await;
    s.store_text("ws", "x", "v").await;
    let id = s.start(ops::fetch("ws", "x")).await;
    let lease = s.value(id).await.lease_id;
    let find = w.start(ops::find("ws", "x")).await;
    let fetch1 = w.start(ops::fetch_no_lease("ws", "x")).await;
    s.wait_for_waiters("ws", "x", 1, 1).await;
    let fetch2 = w.start(ops::fetch("ws", "x")).await;
    s.wait_for_waiters("ws", "x", 2, 1).await;
    s.release(&[lease]).await;
    assert_eq!(w.value(find).await.text(), "v");
    let got = w.value(fetch1).await;
    assert_eq!(
        (got.text().as_str(), got.lease_id),
        ("v", 0),
        "received as a newly fetched value"
    );
    w.expect_blocked(fetch2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_value_of_a_deleted_variable_is_dropped() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    s.store_text("ws", "x", "old").await;
    s.store_text("ws", "y", "gone").await;
    let fx = s.start(ops::fetch("ws", "x")).await;
    let fy = s.start(ops::fetch("ws", "y")).await;
    let (lx, ly) = (s.value(fx).await.lease_id, s.value(fy).await.lease_id);
    expect_done(&s.call(ops::delete_var("ws", "x")).await);
    expect_done(&s.call(ops::delete_var("ws", "y")).await);
    s.store_text("ws", "x", "new").await; // same name, new generation
    s.release(&[lx, ly]).await;
    assert_eq!(s.fetch_try_text("ws", "x").await.as_deref(), Some("new"));
    expect_nothing(&s.call(ops::fetch_try("ws", "x")).await);
    assert!(
        s.var_info("ws", "y").await.is_none(),
        "a dropped return creates nothing"
    );
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superseded_single_lease_is_dropped() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    s.declare("ws", "status", pb::Mode::Single).await;
    s.store_text("ws", "status", "old").await;
    let id = s.start(ops::fetch("ws", "status")).await;
    let old = s.value(id).await.lease_id;
    s.store_text("ws", "status", "newer").await;
    s.release(&[old]).await;
    assert_eq!(
        s.var_info("ws", "status")
            .await
            .expect("listed")
            .value_count,
        1
    );
    assert_eq!(
        s.fetch_try_text("ws", "status").await.as_deref(),
        Some("newer")
    );
    expect_nothing(&s.call(ops::fetch_try("ws", "status")).await);
    server.expect_memory_freed().await;

    // With no newer value, the returned value is held again.
    s.store_text("ws", "status", "only").await;
    let id = s.start(ops::fetch("ws", "status")).await;
    let lease = s.value(id).await.lease_id;
    s.release(&[lease]).await;
    assert_eq!(
        s.fetch_try_text("ws", "status").await.as_deref(),
        Some("only")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_lease_fetches_consume_at_once() {
    let server = Server::start().await;
    let (mut s, sid) = server.session_named("s").await;
    s.open("ws").await;
    s.store_text("ws", "x", "v").await;
    let id = s.start(ops::fetch_no_lease("ws", "x")).await;
    assert_eq!(s.value(id).await.lease_id, 0);
    assert_eq!(server.store.lease_count(sid), 0);
    server.expect_memory_freed().await;
    // find never leases.
    s.store_text("ws", "x", "v").await;
    let reply = s.call(ops::find("ws", "x")).await;
    assert_eq!(expect_value(&reply).lease_id, 0);
    assert_eq!(server.store.lease_count(sid), 0);
}

// ----- Cancel and placeholders ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_answers_cancelled_and_loses_nothing() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let fetch = s.start(ops::fetch("ws", "x")).await;
    let find = s.start(ops::find("ws", "x")).await;
    let iter = s
        .start(ops::iterate("ws", "x", pb::IterKind::Ifetch, None))
        .await;
    s.wait_for_waiters("ws", "x", 2, 1).await;
    for id in [fetch, find, iter] {
        s.cancel(id).await;
        expect_reason(&s.reply(id).await, Reason::Cancelled);
    }
    s.store_text("ws", "x", "kept").await;
    assert_eq!(
        s.var_info("ws", "x").await.expect("listed").value_count,
        1,
        "no cancelled waiter took it"
    );
    assert_eq!(s.fetch_try_text("ws", "x").await.as_deref(), Some("kept"));
    // The id is free again after its CANCELLED reply.
    s.send_request(fetch, ops::list_wss()).await;
    let _ = s.reply(fetch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_of_an_answered_unknown_or_non_waiting_request_is_ignored() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    s.store_text("ws", "x", "v").await;
    let id = s.start(ops::fetch_no_lease("ws", "x")).await;
    assert_eq!(s.value(id).await.text(), "v");
    s.cancel(id).await;
    s.cancel(424_242).await;
    // A store is not withdrawn by Cancel.
    let store = s
        .start(ops::store(
            "ws",
            "y",
            raw_value(vec![0u8; 10]).with_total(20),
        ))
        .await;
    s.cancel(store).await;
    s.send_chunk(store, vec![1u8; 10]).await;
    expect_done(&s.reply(store).await);
    assert!(
        s.reply_within(id, QUIET).await.is_none(),
        "no second reply for an answered request"
    );
    assert_eq!(s.var_info("ws", "y").await.expect("listed").value_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placeholder_variable_is_listed_while_a_fetch_waits_and_goes_after_cancel() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let mut observer = server.session().await;
    s.open("ws").await;
    let fetch = s.start(ops::fetch("ws", "ph")).await;
    let find = s.start(ops::find("ws", "ph")).await;
    observer.wait_for_waiters("ws", "ph", 1, 1).await;
    let info = observer
        .var_info("ws", "ph")
        .await
        .expect("placeholder listed");
    assert_eq!(
        info,
        pb::VariableInfo {
            name: "ph".into(),
            mode: pb::Mode::Unspecified as i32,
            value_count: 0,
            fetchers: 1,
            finders: 1
        }
    );
    s.cancel(fetch).await;
    expect_reason(&s.reply(fetch).await, Reason::Cancelled);
    assert!(
        observer.var_info("ws", "ph").await.is_some(),
        "one waiter is left"
    );
    s.cancel(find).await;
    expect_reason(&s.reply(find).await, Reason::Cancelled);
    assert!(
        observer.var_info("ws", "ph").await.is_none(),
        "the placeholder goes with its last waiter"
    );
    // fetchTry and findTry never create one.
    expect_nothing(&s.call(ops::fetch_try("ws", "ph")).await);
    assert!(observer.list_vars("ws").await.is_empty());
}

/// Lets a test build an incomplete first piece.
trait WithTotal {
    fn with_total(self, total: u64) -> Self;
}

impl WithTotal for pb::Value {
    fn with_total(mut self, total: u64) -> Self {
        self.total_size = total;
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn session_end_returns_leases_before_deleting_owned_workspaces() {
    let server = Server::start().await;
    let mut owner = server.session().await;
    let mut other = server.session().await;
    owner.open("w").await;
    owner.store_text("w", "x", "task").await;
    let id = owner.start(ops::fetch("w", "x")).await;
    let _ = owner.value(id).await; // leased, not acknowledged
    let waiting = other.start(ops::fetch_no_lease("w", "x")).await;
    owner.wait_for_waiters("w", "x", 1, 0).await;
    owner.close().await.expect("clean close");
    // Step 2 (return leases) comes before step 3 (delete owned workspaces):
    // the returned value reaches the waiting fetcher before the workspace goes.
    let reply = other.reply(waiting).await;
    let got = other.complete(reply).await;
    assert_eq!(got.text(), "task");
    other.wait_for_ws("w", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn a_hello_with_a_newer_protocol_version_is_answered_with_the_servers_version() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let op = pb::request::Op::Hello(pb::Hello {
        client: "from the future".into(),
        protocol_version: 2,
    });
    let reply = s.call(op).await;
    match reply.result {
        Some(pb::reply::Result::Hello(h)) => assert_eq!(h.protocol_version, 1),
        other => panic!("expected HelloReply, got {other:?}"),
    }
}
