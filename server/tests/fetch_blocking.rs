//! Blocking fetch and find ("please hold"), Try variants and deadlines.
//!
//! Spec anchors covered: `spec/operations.md#fetch`, `#fetch-try`, `#find`,
//! `#find-try`, `#deadlines`, `#store-delivery`, `#deletevar` (waking
//! waiters), `spec/errors.md#timed-out`, `#variable-deleted`,
//! `spec/limits.md#limits` (`timeout_ms` range), `spec/protocol.md#pipelining`
//! and `spec/sessions.md#cancel` (atomic timeouts and cancels racing stores:
//! no value lost or duplicated).

mod common;

use std::time::{Duration, Instant};

use common::*;
use nws_proto::v1 as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_blocks_until_store() {
    let server = Server::start().await;
    let mut a = server.session().await;
    let mut b = server.session().await;
    a.open("ws").await;
    let fetch = a.start(ops::fetch_no_lease("ws", "x")).await;
    a.expect_blocked(fetch).await;
    b.store_text("ws", "x", "hello").await;
    let got = a.value(fetch).await;
    assert_eq!(got.text(), "hello");
    assert_eq!(
        a.fetch_try_text("ws", "x").await,
        None,
        "the value was consumed"
    );
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_serves_oldest_fetcher_first() {
    let server = Server::start().await;
    let mut owner = server.session().await;
    owner.open("ws").await;
    let mut fetchers = Vec::new();
    for n in 1..=3u64 {
        let mut s = server.session().await;
        let id = s.start(ops::fetch_no_lease("ws", "jobs")).await;
        // Each fetcher is registered before the next one arrives.
        owner.wait_for_waiters("ws", "jobs", n, 0).await;
        fetchers.push((s, id));
    }
    for v in ["first", "second", "third"] {
        owner.store_text("ws", "jobs", v).await;
    }
    let mut got = Vec::new();
    for (s, id) in &mut fetchers {
        got.push(s.value(*id).await.text());
    }
    assert_eq!(
        got,
        ["first", "second", "third"],
        "waiting fetchers are served oldest first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_waiters_all_see_store() {
    let server = Server::start().await;
    let mut owner = server.session().await;
    owner.open("ws").await;
    let mut finders = Vec::new();
    for _ in 0..3 {
        let mut s = server.session().await;
        let id = s.start(ops::find("ws", "x")).await;
        finders.push((s, id));
    }
    let mut fetcher = server.session().await;
    let fid = fetcher.start(ops::fetch_no_lease("ws", "x")).await;
    owner.wait_for_waiters("ws", "x", 1, 3).await;

    owner.store_text("ws", "x", "broadcast").await;
    for (s, id) in &mut finders {
        let got = s.value(*id).await;
        assert_eq!(got.text(), "broadcast");
        assert_eq!(got.lease_id, 0, "find never leases");
        assert!(got.cursor.is_none(), "find has no cursor");
    }
    assert_eq!(
        fetcher.value(fid).await.text(),
        "broadcast",
        "the fetcher also gets it"
    );
    assert_eq!(
        owner.find_try_text("ws", "x").await,
        None,
        "the fetcher consumed the value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_consumes_nothing() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let started = Instant::now();
    let reply = s.call(ops::fetch_timeout("ws", "x", 200)).await;
    expect_reason(&reply, Reason::TimedOut);
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "answered too early: {:?}",
        started.elapsed()
    );
    assert!(
        s.list_vars("ws").await.is_empty(),
        "a timed-out fetch leaves no placeholder"
    );

    // A store after the timeout goes to the next fetch, not to the timed-out one.
    s.store_text("ws", "x", "kept").await;
    let reply = s.call(ops::find_timeout("ws", "y", 100)).await;
    expect_reason(&reply, Reason::TimedOut);
    assert_eq!(s.fetch_try_text("ws", "x").await.as_deref(), Some("kept"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_zero_is_immediate() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let started = Instant::now();
    expect_reason(
        &s.call(ops::fetch_timeout("ws", "x", 0)).await,
        Reason::TimedOut,
    );
    expect_reason(
        &s.call(ops::find_timeout("ws", "x", 0)).await,
        Reason::TimedOut,
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "timeout 0 must not wait"
    );
    assert!(s.list_vars("ws").await.is_empty());

    // With a value present, timeout 0 obtains it.
    s.store_text("ws", "x", "v").await;
    assert_eq!(text_of(&s.call(ops::find_timeout("ws", "x", 0)).await), "v");
    let reply = s.call(ops::fetch_timeout("ws", "x", 0)).await;
    assert_eq!(text_of(&reply), "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_timeout_waits_like_no_timeout() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let id = s.start(ops::fetch_timeout("ws", "x", u64::MAX)).await;
    s.expect_blocked(id).await;
    let mut other = server.session().await;
    other.store_text("ws", "x", "late").await;
    assert_eq!(s.value(id).await.text(), "late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_arriving_before_the_timeout_is_delivered() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let mut other = server.session().await;
    s.open("ws").await;
    let id = s.start(ops::fetch_timeout("ws", "x", 5_000)).await;
    s.expect_blocked(id).await;
    other.store_text("ws", "x", "in time").await;
    assert_eq!(s.value(id).await.text(), "in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_try_and_find_try_answer_nothing_without_waiting() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    expect_nothing(&s.call(ops::fetch_try("ws", "missing")).await);
    expect_nothing(&s.call(ops::find_try("ws", "missing")).await);
    // timeout_ms is ignored by Try variants.
    let try_timeout = pb::request::Op::Fetch(pb::Fetch {
        workspace: "ws".into(),
        variable: "missing".into(),
        try_only: true,
        timeout_ms: Some(60_000),
        no_lease: false,
    });
    expect_nothing(&s.call(try_timeout).await);
    assert!(
        s.list_vars("ws").await.is_empty(),
        "Try variants create no placeholder"
    );

    s.declare("ws", "empty", pb::Mode::Fifo).await;
    expect_nothing(&s.call(ops::fetch_try("ws", "empty")).await);
    expect_nothing(&s.call(ops::find_try("ws", "empty")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_reads_without_removing() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    s.store_text("ws", "x", "one").await;
    s.store_text("ws", "x", "two").await;
    for _ in 0..3 {
        assert_eq!(text_of(&s.call(ops::find("ws", "x")).await), "one");
    }
    let info = s.var_info("ws", "x").await.expect("variable listed");
    assert_eq!(info.value_count, 2);
    assert_eq!(s.fetch_text("ws", "x").await, "one");
    assert_eq!(s.find_try_text("ws", "x").await.as_deref(), Some("two"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_find_sees_the_store_and_leaves_the_value() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let mut other = server.session().await;
    s.open("ws").await;
    let id = s.start(ops::find("ws", "x")).await;
    s.expect_blocked(id).await;
    other.store_text("ws", "x", "seen").await;
    assert_eq!(s.value(id).await.text(), "seen");
    assert_eq!(
        s.fetch_text("ws", "x").await,
        "seen",
        "find did not consume it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_var_wakes_waiting_fetch_and_find_with_variable_deleted() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let mut other = server.session().await;
    s.open("ws").await;
    let fetch = s.start(ops::fetch("ws", "x")).await;
    let find = s.start(ops::find("ws", "x")).await;
    s.expect_blocked(fetch).await;
    expect_done(&other.call(ops::delete_var("ws", "x")).await);
    expect_reason(&s.reply(fetch).await, Reason::VariableDeleted);
    expect_reason(&s.reply(find).await, Reason::VariableDeleted);
    assert!(
        s.list_vars("ws").await.is_empty(),
        "the placeholder is gone"
    );
    // deleteVar is idempotent.
    expect_done(&other.call(ops::delete_var("ws", "x")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetcher_that_took_a_value_is_not_woken_by_delete_var() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    s.store_text("ws", "x", "v").await;
    let reply = s.call(ops::fetch("ws", "x")).await;
    let lease = expect_value(&reply).lease_id;
    assert_ne!(lease, 0);
    expect_done(&s.call(ops::delete_var("ws", "x")).await);
    // The lease's variable is gone: releasing drops the value.
    s.release(&[lease]).await;
    expect_nothing(&s.call(ops::fetch_try("ws", "x")).await);
    server.expect_memory_freed().await;
}

/// Fetchers with tiny timeouts, and fetchers that cancel at once, race a
/// storer: every value must end up received exactly once or still held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_cancels_racing_stores_never_lose_or_duplicate_a_value() {
    const VALUES: usize = 600;
    let server = Server::start().await;
    let mut owner = server.session().await;
    owner.open("ws").await;
    let mut fetchers = Vec::new();
    for f in 0..3u64 {
        let addr = server.addr;
        fetchers.push(tokio::spawn(async move {
            let mut s = Session::connect(addr).await;
            let mut got = Vec::new();
            let mut seed = 0x2545_f491_4f6c_dd1d_u64 ^ f;
            for round in 0..400u64 {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let cancel = f == 2;
                let op = if cancel && round % 2 == 0 {
                    ops::fetch("ws", "q")
                } else {
                    ops::fetch_timeout("ws", "q", (seed >> 60) % 3)
                };
                let id = s.start(op).await;
                if cancel && round % 2 == 0 {
                    s.cancel(id).await;
                }
                let reply = s.reply(id).await;
                match &reply.result {
                    Some(pb::reply::Result::Value(_)) => {
                        let value = s.complete(reply).await;
                        if value.lease_id != 0 {
                            s.ack(&[value.lease_id]).await;
                        }
                        got.push(value.text());
                    }
                    Some(pb::reply::Result::Error(e))
                        if matches!(e.reason(), Reason::TimedOut | Reason::Cancelled) => {}
                    other => panic!("unexpected reply {other:?}"),
                }
                if cancel && round % 2 == 1 {
                    // Cancel after the answer: ignored.
                    s.cancel(id).await;
                }
            }
            let _ = s.list_wss().await; // every ack applied
            got
        }));
    }
    let addr = server.addr;
    let storer = tokio::spawn(async move {
        let mut s = Session::connect(addr).await;
        for n in 0..VALUES {
            s.store_text("ws", "q", &format!("v{n}")).await;
        }
    });
    bounded("storer", storer).await.expect("storer");
    let mut seen = Vec::new();
    for f in fetchers {
        seen.extend(bounded("fetcher", f).await.expect("fetcher"));
    }
    while let Some(v) = owner.fetch_try_text("ws", "q").await {
        seen.push(v);
    }
    seen.sort();
    let mut want: Vec<String> = (0..VALUES).map(|n| format!("v{n}")).collect();
    want.sort();
    assert_eq!(seen.len(), VALUES, "values lost or duplicated");
    assert_eq!(seen, want);
    server.expect_memory_freed().await;
}
