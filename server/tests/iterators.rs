//! Iterators: ifetch, ifetchTry, ifind, ifindTry, cursors and the end of
//! iteration.
//!
//! Spec anchors covered: `spec/iterators.md#iterate`, `#cursor`, `#ifetch`,
//! `#ifetch-try`, `#ifind`, `#ifind-try`, `#end`, `#iterator-mode`,
//! `spec/operations.md#placeholder`, `#declare` (placeholder turned LIFO or
//! MULTI), `#deletevar`, `spec/workspaces.md#deletews`,
//! `spec/errors.md#iterator-mode`, `#invalid-cursor`, `#invalid-argument`.

mod common;

use common::*;
use nws_proto::v1 as pb;
use pb::IterKind::{Ifetch, IfetchTry, Ifind, IfindTry};

/// One iterator step; returns the reply.
async fn step(
    s: &mut Session,
    var: &str,
    kind: pb::IterKind,
    cursor: Option<pb::Cursor>,
) -> pb::Reply {
    s.call(ops::iterate("ws", var, kind, cursor)).await
}

/// One step expected to yield a small TEXT value; returns it and the next cursor.
async fn step_value(
    s: &mut Session,
    var: &str,
    kind: pb::IterKind,
    cursor: Option<pb::Cursor>,
) -> (String, pb::Cursor) {
    let reply = step(s, var, kind, cursor).await;
    let text = text_of(&reply);
    let next = expect_value(&reply)
        .cursor
        .expect("iterator steps return a cursor");
    assert_ne!(
        next.generation, 0,
        "a cursor returned with a value is bound"
    );
    (text, next)
}

/// Runs a Try iterator to its end and returns the values seen.
async fn drain(s: &mut Session, var: &str, kind: pb::IterKind) -> Vec<String> {
    let mut cursor = None;
    let mut out = Vec::new();
    loop {
        let reply = step(s, var, kind, cursor).await;
        if is_nothing(&reply) {
            return out;
        }
        let vr = expect_value(&reply);
        if vr.lease_id != 0 {
            s.ack(&[vr.lease_id]).await;
        }
        cursor = vr.cursor;
        out.push(text_of(&reply));
    }
}

async fn setup(server: &Server) -> Session {
    let mut s = server.session().await;
    s.open("ws").await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ifind_sees_values_in_order_and_waits_for_new_ones() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let mut other = server.session().await;
    for v in ["a", "b", "c"] {
        s.store_text("ws", "x", v).await;
    }
    let mut cursor = None;
    let mut seen = Vec::new();
    for expected_index in 1..=3 {
        let (v, next) = step_value(&mut s, "x", Ifind, cursor).await;
        assert_eq!(
            next.index, expected_index,
            "the cursor holds the absolute index of the next value"
        );
        seen.push(v);
        cursor = Some(next);
    }
    assert_eq!(seen, ["a", "b", "c"]);
    let waiting = s.start(ops::iterate("ws", "x", Ifind, cursor)).await;
    s.expect_blocked(waiting).await;
    other.store_text("ws", "x", "d").await;
    let got = s.value(waiting).await;
    assert_eq!(got.text(), "d");
    assert_eq!(got.cursor.expect("cursor").index, 4);
    assert_eq!(got.lease_id, 0, "ifind never leases");
    assert_eq!(
        s.var_info("ws", "x").await.expect("listed").value_count,
        4,
        "ifind consumes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ifind_try_ends_when_no_unread_value_is_left() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    expect_nothing(&step(&mut s, "x", IfindTry, None).await);
    assert!(
        s.list_vars("ws").await.is_empty(),
        "a Try step creates no placeholder"
    );
    for v in ["1", "2"] {
        s.store_text("ws", "x", v).await;
    }
    assert_eq!(drain(&mut s, "x", IfindTry).await, ["1", "2"]);
    // Empty but existing variable: ends at once.
    s.declare("ws", "e", pb::Mode::Fifo).await;
    expect_nothing(&step(&mut s, "e", IfindTry, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ifetch_consumes_values_in_order_with_leases() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    for v in ["1", "2", "3"] {
        s.store_text("ws", "x", v).await;
    }
    let mut cursor = None;
    let mut leases = Vec::new();
    for (i, want) in ["1", "2", "3"].iter().enumerate() {
        let reply = step(&mut s, "x", Ifetch, cursor).await;
        assert_eq!(text_of(&reply), *want);
        let vr = expect_value(&reply);
        assert_ne!(vr.lease_id, 0, "IFETCH leases unless no_lease");
        leases.push(vr.lease_id);
        let c = vr.cursor.expect("cursor");
        assert_eq!(c.index, i as u64 + 1);
        cursor = Some(c);
    }
    assert_eq!(s.var_info("ws", "x").await.expect("listed").value_count, 0);
    s.ack(&leases).await;
    server.expect_memory_freed().await;

    // no_lease: lease id 0.
    s.store_text("ws", "x", "4").await;
    let op = ops::iterate_with("ws", "x", Ifetch as i32, cursor, None, true);
    let reply = s.call(op).await;
    assert_eq!(text_of(&reply), "4");
    assert_eq!(expect_value(&reply).lease_id, 0);
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ifetch_try_ends_when_empty() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    expect_nothing(&step(&mut s, "x", IfetchTry, None).await);
    for v in ["a", "b"] {
        s.store_text("ws", "x", v).await;
    }
    assert_eq!(drain(&mut s, "x", IfetchTry).await, ["a", "b"]);
    assert_eq!(s.fetch_try_text("ws", "x").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ifetch_waits_and_is_served_with_the_fetches_oldest_first() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let mut other = server.session().await;
    s.store_text("ws", "x", "first").await;
    let (_, cursor) = step_value(&mut s, "x", IfetchTry, None).await;
    let it = s
        .start(ops::iterate_with(
            "ws",
            "x",
            Ifetch as i32,
            Some(cursor),
            None,
            true,
        ))
        .await;
    other.wait_for_waiters("ws", "x", 1, 0).await;
    let fetch = other.start(ops::fetch_no_lease("ws", "x")).await;
    s.wait_for_waiters("ws", "x", 2, 0).await;
    s.store_text("ws", "x", "second").await;
    s.store_text("ws", "x", "third").await;
    let got = s.value(it).await;
    assert_eq!(got.text(), "second", "the iterator step waited longest");
    assert_eq!(got.cursor.expect("cursor").index, 2);
    assert_eq!(other.value(fetch).await.text(), "third");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_var_ends_a_waiting_iterator() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let mut other = server.session().await;
    s.store_text("ws", "x", "v").await;
    let (_, c1) = step_value(&mut s, "x", Ifind, None).await;
    let ifind = s.start(ops::iterate("ws", "x", Ifind, Some(c1))).await;
    let ifetch = s.start(ops::iterate("ws", "y", Ifetch, None)).await; // first step, placeholder
    other.wait_for_waiters("ws", "x", 0, 1).await;
    other.wait_for_waiters("ws", "y", 1, 0).await;
    expect_done(&other.call(ops::delete_var("ws", "x")).await);
    expect_done(&other.call(ops::delete_var("ws", "y")).await);
    expect_nothing(&s.reply(ifind).await);
    expect_nothing(&s.reply(ifetch).await);
    // Later steps with the old cursor end too.
    expect_nothing(&step(&mut s, "x", Ifind, Some(c1)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_recreate_ends_the_old_cursor() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.store_text("ws", "x", "old").await;
    let (_, old) = step_value(&mut s, "x", IfindTry, None).await;
    expect_done(&s.call(ops::delete_var("ws", "x")).await);
    s.store_text("ws", "x", "new 1").await;
    s.store_text("ws", "x", "new 2").await;
    for kind in [Ifind, IfindTry, Ifetch, IfetchTry] {
        expect_nothing(&step(&mut s, "x", kind, Some(old)).await);
    }
    assert_eq!(
        s.var_info("ws", "x").await.expect("listed").value_count,
        2,
        "nothing consumed"
    );
    let (v, fresh) = step_value(&mut s, "x", IfindTry, None).await;
    assert_eq!(v, "new 1");
    assert_ne!(
        fresh.generation, old.generation,
        "a recreated variable has a new generation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_ws_ends_iterators_and_the_first_step_on_a_missing_workspace_fails() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let mut other = server.session().await;
    s.store_text("ws", "x", "v").await;
    let (_, c) = step_value(&mut s, "x", IfindTry, None).await;
    let waiting = s.start(ops::iterate("ws", "x", Ifind, Some(c))).await;
    other.wait_for_waiters("ws", "x", 0, 1).await;
    expect_done(&other.call(ops::delete_ws("ws")).await);
    expect_nothing(&s.reply(waiting).await);
    // A bound cursor into a deleted workspace ends; a first step fails.
    expect_nothing(&step(&mut s, "x", IfindTry, Some(c)).await);
    expect_reason(
        &step(&mut s, "x", Ifind, None).await,
        Reason::NoSuchWorkspace,
    );
    // Recreating the workspace and variable does not revive old cursors.
    s.open("ws").await;
    s.store_text("ws", "x", "v2").await;
    expect_nothing(&step(&mut s, "x", Ifind, Some(c)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifo_and_multi_variables_are_iterator_mode() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    for (var, mode) in [("l", pb::Mode::Lifo), ("m", pb::Mode::Multi)] {
        s.declare("ws", var, mode).await;
        // Empty and non-empty: never a silent end.
        for _ in 0..2 {
            for kind in [Ifetch, IfetchTry, Ifind, IfindTry] {
                expect_reason(&step(&mut s, var, kind, None).await, Reason::IteratorMode);
            }
            s.store_text("ws", var, "v").await;
        }
        assert_eq!(
            s.var_info("ws", var).await.expect("listed").value_count,
            2,
            "nothing consumed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_bound_before_a_variable_changed_mode_gets_iterator_mode_or_ends() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.store_text("ws", "x", "v").await;
    let (_, c) = step_value(&mut s, "x", IfindTry, None).await;
    expect_done(&s.call(ops::delete_var("ws", "x")).await);
    s.declare("ws", "x", pb::Mode::Lifo).await;
    // Step 3 (mode) comes before step 4 (generation): errors are never an end.
    expect_reason(
        &step(&mut s, "x", Ifind, Some(c)).await,
        Reason::IteratorMode,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_step_on_a_missing_variable_waits_on_a_placeholder() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let mut other = server.session().await;
    let ifind = s.start(ops::iterate("ws", "x", Ifind, None)).await;
    let ifetch = s
        .start(ops::iterate_with(
            "ws",
            "x",
            Ifetch as i32,
            None,
            None,
            true,
        ))
        .await;
    other.wait_for_waiters("ws", "x", 1, 1).await;
    let info = other.var_info("ws", "x").await.expect("placeholder listed");
    assert_eq!((info.mode(), info.value_count), (pb::Mode::Unspecified, 0));
    other.store_text("ws", "x", "created").await;
    let found = s.value(ifind).await;
    let fetched = s.value(ifetch).await;
    assert_eq!(
        (found.text(), fetched.text()),
        ("created".to_string(), "created".to_string())
    );
    let (fc, tc) = (
        found.cursor.expect("cursor"),
        fetched.cursor.expect("cursor"),
    );
    assert_ne!(
        fc.generation, 0,
        "a waiting first step binds to the variable that answers it"
    );
    assert_eq!(fc.generation, tc.generation);
    assert_eq!((fc.index, tc.index), (1, 1));
    // The bound cursor continues on that variable.
    other.store_text("ws", "x", "next").await;
    assert_eq!(step_value(&mut s, "x", IfindTry, Some(fc)).await.0, "next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_a_placeholder_lifo_or_multi_fails_its_waiting_iterator_steps() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let mut other = server.session().await;
    for (var, mode) in [("l", pb::Mode::Lifo), ("m", pb::Mode::Multi)] {
        let it = s.start(ops::iterate("ws", var, Ifind, None)).await;
        let fetch = s.start(ops::fetch_no_lease("ws", var)).await;
        other.wait_for_waiters("ws", var, 1, 1).await;
        other.declare("ws", var, mode).await;
        expect_reason(&s.reply(it).await, Reason::IteratorMode);
        // A plain fetch keeps waiting.
        s.expect_blocked(fetch).await;
        other.store_text("ws", var, "v").await;
        assert_eq!(s.value(fetch).await.text(), "v");
    }
    // FIFO and SINGLE keep iterator steps waiting.
    let it = s.start(ops::iterate("ws", "s", Ifind, None)).await;
    other.wait_for_waiters("ws", "s", 0, 1).await;
    other.declare("ws", "s", pb::Mode::Single).await;
    s.expect_blocked(it).await;
    other.store_text("ws", "s", "v").await;
    assert_eq!(s.value(it).await.text(), "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_beyond_the_variable_is_invalid_cursor() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.store_text("ws", "x", "v").await;
    let (_, c) = step_value(&mut s, "x", IfindTry, None).await;
    assert_eq!(c.index, 1);
    // index == consumed + held is "nothing unread yet", not an error.
    expect_nothing(&step(&mut s, "x", IfindTry, Some(c)).await);
    let forged = pb::Cursor {
        generation: c.generation,
        index: 2,
    };
    for kind in [Ifind, IfindTry, Ifetch, IfetchTry] {
        expect_reason(
            &step(&mut s, "x", kind, Some(forged)).await,
            Reason::InvalidCursor,
        );
    }
    assert_eq!(s.var_info("ws", "x").await.expect("listed").value_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_iterator_kind_is_invalid_argument() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.store_text("ws", "x", "v").await;
    for kind in [pb::IterKind::Unspecified as i32, 5, 100] {
        let reply = s
            .call(ops::iterate_with("ws", "x", kind, None, None, false))
            .await;
        expect_reason(&reply, Reason::InvalidArgument);
    }
    assert_eq!(s.var_info("ws", "x").await.expect("listed").value_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ifind_skips_values_consumed_before_it_reached_them() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    for v in ["0", "1", "2", "3"] {
        s.store_text("ws", "x", v).await;
    }
    let (v, c) = step_value(&mut s, "x", IfindTry, None).await;
    assert_eq!(v, "0");
    // Someone fetches "0", "1" and "2" meanwhile.
    for _ in 0..3 {
        let _ = s.fetch_text("ws", "x").await;
    }
    let (v, c) = step_value(&mut s, "x", IfindTry, Some(c)).await;
    assert_eq!(
        (v.as_str(), c.index),
        ("3", 4),
        "values consumed before the iterator reached them are skipped"
    );
    expect_nothing(&step(&mut s, "x", IfindTry, Some(c)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterators_on_single_see_each_new_value_once() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.declare("ws", "st", pb::Mode::Single).await;
    s.store_text("ws", "st", "a").await;
    let (v, c) = step_value(&mut s, "st", IfindTry, None).await;
    assert_eq!(v, "a");
    expect_nothing(&step(&mut s, "st", IfindTry, Some(c)).await);
    // b is replaced by c before the iterator reads it: b is skipped.
    s.store_text("ws", "st", "b").await;
    s.store_text("ws", "st", "c").await;
    let (v, c) = step_value(&mut s, "st", IfindTry, Some(c)).await;
    assert_eq!(v, "c");
    expect_nothing(&step(&mut s, "st", IfindTry, Some(c)).await);
    // IFETCH consumes the held value.
    let (v, _) = step_value(&mut s, "st", IfetchTry, None).await;
    assert_eq!(v, "c");
    expect_nothing(&step(&mut s, "st", IfetchTry, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_iterator_steps_time_out_and_try_kinds_ignore_the_timeout() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    for kind in [Ifind, Ifetch] {
        let reply = s
            .call(ops::iterate_with(
                "ws",
                "x",
                kind as i32,
                None,
                Some(100),
                false,
            ))
            .await;
        expect_reason(&reply, Reason::TimedOut);
    }
    assert!(
        s.list_vars("ws").await.is_empty(),
        "timed-out steps leave no placeholder"
    );
    for kind in [IfindTry, IfetchTry] {
        let reply = s
            .call(ops::iterate_with(
                "ws",
                "x",
                kind as i32,
                None,
                Some(60_000),
                false,
            ))
            .await;
        expect_nothing(&reply);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_used_on_another_variable_ends() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    s.store_text("ws", "a", "a").await;
    s.store_text("ws", "b", "b").await;
    let (_, ca) = step_value(&mut s, "a", IfindTry, None).await;
    expect_nothing(&step(&mut s, "b", IfindTry, Some(ca)).await);
}
