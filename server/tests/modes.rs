//! Variable modes: FIFO, LIFO, MULTI, SINGLE, declare and its errors.
//!
//! Spec anchors covered: `spec/modes.md#modes`, `spec/operations.md#declare`,
//! `#store`, `#fetch`, `#find`, `#listvars`, `spec/errors.md#mode-conflict`,
//! `#invalid-mode`, `spec/original.md#diff-multi` (MULTI is not LIFO).

mod common;

use std::collections::BTreeSet;

use common::*;
use nws_proto::v1 as pb;

async fn store_all(s: &mut Session, var: &str, values: &[&str]) {
    for v in values {
        s.store_text("ws", var, v).await;
    }
}

async fn fetch_all(s: &mut Session, var: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(v) = s.fetch_try_text("ws", var).await {
        out.push(v);
    }
    out
}

async fn setup(server: &Server) -> Session {
    let mut s = server.session().await;
    s.open("ws").await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_creates_a_fifo_variable() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.store_text("ws", "x", "v").await;
    let info = s.var_info("ws", "x").await.expect("listed");
    assert_eq!(info.mode(), pb::Mode::Fifo);
    assert_eq!(info.value_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_fetch_and_find_take_the_oldest() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.declare("ws", "q", pb::Mode::Fifo).await;
    store_all(&mut s, "q", &["1", "2", "3"]).await;
    assert_eq!(s.find_try_text("ws", "q").await.as_deref(), Some("1"));
    assert_eq!(fetch_all(&mut s, "q").await, ["1", "2", "3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifo_fetch_and_find_take_the_newest() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.declare("ws", "stack", pb::Mode::Lifo).await;
    store_all(&mut s, "stack", &["1", "2", "3"]).await;
    assert_eq!(s.find_try_text("ws", "stack").await.as_deref(), Some("3"));
    assert_eq!(fetch_all(&mut s, "stack").await, ["3", "2", "1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_returns_the_set() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.declare("ws", "bag", pb::Mode::Multi).await;
    let values: Vec<String> = (0..20).map(|n| format!("v{n}")).collect();
    for v in &values {
        s.store_text("ws", "bag", v).await;
    }
    let found = s.find_try_text("ws", "bag").await.expect("a value");
    assert!(values.contains(&found), "find reads one of the values held");
    assert_eq!(
        s.var_info("ws", "bag").await.expect("listed").value_count,
        20,
        "find removes nothing"
    );
    let got: BTreeSet<String> = fetch_all(&mut s, "bag").await.into_iter().collect();
    let want: BTreeSet<String> = values.into_iter().collect();
    assert_eq!(got, want, "every value comes out exactly once");
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_is_random_not_lifo_or_fifo() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.declare("ws", "bag", pb::Mode::Multi).await;
    let values: Vec<String> = (0..10).map(|n| n.to_string()).collect();
    let fifo: Vec<String> = values.clone();
    let lifo: Vec<String> = values.iter().rev().cloned().collect();
    // The chance that 5 rounds of 10 uniformly random draws are all in LIFO
    // or FIFO order is about (2/10!)^5: effectively never.
    let mut orders = Vec::new();
    for _ in 0..5 {
        for v in &values {
            s.store_text("ws", "bag", v).await;
        }
        orders.push(fetch_all(&mut s, "bag").await);
    }
    assert!(
        orders.iter().any(|o| *o != fifo && *o != lifo),
        "MULTI must choose uniformly at random, got only FIFO/LIFO orders: {orders:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_replaces_the_held_value() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.declare("ws", "status", pb::Mode::Single).await;
    store_all(&mut s, "status", &["starting", "running", "done"]).await;
    let info = s.var_info("ws", "status").await.expect("listed");
    assert_eq!(info.mode(), pb::Mode::Single);
    assert_eq!(info.value_count, 1, "SINGLE holds at most one value");
    assert_eq!(
        s.find_try_text("ws", "status").await.as_deref(),
        Some("done")
    );
    assert_eq!(
        s.fetch_try_text("ws", "status").await.as_deref(),
        Some("done")
    );
    assert_eq!(
        s.fetch_try_text("ws", "status").await,
        None,
        "a fetch empties a SINGLE variable"
    );
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_creates_an_empty_variable_and_is_idempotent() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    for (name, mode) in [
        ("f", pb::Mode::Fifo),
        ("l", pb::Mode::Lifo),
        ("m", pb::Mode::Multi),
        ("s", pb::Mode::Single),
    ] {
        s.declare("ws", name, mode).await;
        s.declare("ws", name, mode).await;
    }
    let vars = s.list_vars("ws").await;
    let listed: Vec<(String, pb::Mode, u64)> = vars
        .iter()
        .map(|v| (v.name.clone(), v.mode(), v.value_count))
        .collect();
    assert_eq!(
        listed,
        [
            ("f".to_string(), pb::Mode::Fifo, 0),
            ("l".to_string(), pb::Mode::Lifo, 0),
            ("m".to_string(), pb::Mode::Multi, 0),
            ("s".to_string(), pb::Mode::Single, 0),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_mode_conflict() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.declare("ws", "x", pb::Mode::Lifo).await;
    s.store_text("ws", "x", "v").await;
    for other in [pb::Mode::Fifo, pb::Mode::Multi, pb::Mode::Single] {
        expect_reason(
            &s.call(ops::declare("ws", "x", other)).await,
            Reason::ModeConflict,
        );
    }
    let info = s.var_info("ws", "x").await.expect("listed");
    assert_eq!(
        (info.mode(), info.value_count),
        (pb::Mode::Lifo, 1),
        "the variable is unchanged"
    );

    // A variable created by store is FIFO.
    s.store_text("ws", "y", "v").await;
    expect_reason(
        &s.call(ops::declare("ws", "y", pb::Mode::Single)).await,
        Reason::ModeConflict,
    );
    s.declare("ws", "y", pb::Mode::Fifo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_mode() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    for mode in [pb::Mode::Unspecified as i32, 5, 99, -1] {
        expect_reason(
            &s.call(ops::declare_raw("ws", "x", mode)).await,
            Reason::InvalidMode,
        );
    }
    assert!(
        s.list_vars("ws").await.is_empty(),
        "a failed declare creates nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_variable_may_be_declared_with_another_mode() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.declare("ws", "x", pb::Mode::Lifo).await;
    s.store_text("ws", "x", "old").await;
    expect_done(&s.call(ops::delete_var("ws", "x")).await);
    s.declare("ws", "x", pb::Mode::Single).await;
    assert_eq!(
        s.var_info("ws", "x").await.expect("listed").mode(),
        pb::Mode::Single
    );
    assert_eq!(
        s.fetch_try_text("ws", "x").await,
        None,
        "values went with the deleted variable"
    );
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_turns_a_placeholder_into_a_variable_and_its_fetchers_keep_waiting() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let mut other = server.session().await;
    let fetch = s.start(ops::fetch_no_lease("ws", "x")).await;
    other.wait_for_waiters("ws", "x", 1, 0).await;
    assert_eq!(
        other.var_info("ws", "x").await.expect("listed").mode(),
        pb::Mode::Unspecified
    );
    other.declare("ws", "x", pb::Mode::Lifo).await;
    s.expect_blocked(fetch).await;
    let info = other.var_info("ws", "x").await.expect("listed");
    assert_eq!((info.mode(), info.fetchers), (pb::Mode::Lifo, 1));
    other.store_text("ws", "x", "v").await;
    assert_eq!(s.value(fetch).await.text(), "v");
    // Still LIFO after the store (store does not reset the declared mode).
    assert_eq!(
        other.var_info("ws", "x").await.expect("listed").mode(),
        pb::Mode::Lifo
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_on_a_placeholder_makes_it_fifo() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let mut other = server.session().await;
    let find = s.start(ops::find("ws", "x")).await;
    other.wait_for_waiters("ws", "x", 0, 1).await;
    other.store_text("ws", "x", "v").await;
    assert_eq!(s.value(find).await.text(), "v");
    let info = other.var_info("ws", "x").await.expect("listed");
    assert_eq!(
        (info.mode(), info.value_count, info.finders),
        (pb::Mode::Fifo, 1, 0)
    );
}
