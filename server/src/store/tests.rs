//! Unit tests of the state model, without gRPC, plus a property test that
//! runs random operation sequences against a small reference model.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::value::Kind;

fn text(s: &str) -> Value {
    Value {
        kind: Kind::Text,
        codec: String::new(),
        data: Bytes::copy_from_slice(s.as_bytes()),
    }
}

use bytes::Bytes;

fn setup() -> (Store, SessionHandle) {
    let store = Store::new(Limits::default());
    let session = store.open_session("test".into());
    store
        .open_ws(session.id(), "ws", false, false, false)
        .expect("open");
    (store, session)
}

fn ready_value(step: Result<Step, Error>) -> Option<(Value, u64)> {
    match step.expect("step") {
        Step::Ready(Delivery::Value { value, lease, .. }) => Some((value, lease)),
        Step::Ready(Delivery::Nothing) => None,
        Step::Wait(_) => panic!("unexpected wait"),
    }
}

fn pending(step: Result<Step, Error>) -> Pending {
    match step.expect("step") {
        Step::Wait(p) => p,
        other => panic!("expected a wait, got {other:?}"),
    }
}

fn as_text(v: &Value) -> &str {
    std::str::from_utf8(&v.data).expect("utf8")
}

#[test]
fn fifo_fetches_in_store_order() {
    let (store, s) = setup();
    for v in ["a", "b", "c"] {
        store.store("ws", "x", text(v)).expect("store");
    }
    let got: Vec<String> = (0..3)
        .map(|_| {
            as_text(
                &ready_value(store.fetch(s.id(), "ws", "x", true))
                    .expect("value")
                    .0,
            )
            .to_string()
        })
        .collect();
    assert_eq!(got, ["a", "b", "c"]);
    assert!(ready_value(store.fetch(s.id(), "ws", "x", true)).is_none());
}

#[test]
fn lifo_fetches_newest_first() {
    let (store, s) = setup();
    store.declare("ws", "x", Mode::Lifo).expect("declare");
    for v in ["a", "b"] {
        store.store("ws", "x", text(v)).expect("store");
    }
    assert_eq!(
        as_text(
            &ready_value(store.fetch(s.id(), "ws", "x", true))
                .expect("v")
                .0
        ),
        "b"
    );
}

#[test]
fn single_store_replaces_value_and_frees_memory() {
    let (store, s) = setup();
    store.declare("ws", "x", Mode::Single).expect("declare");
    store.store("ws", "x", text("old")).expect("store");
    store.store("ws", "x", text("newer")).expect("store");
    assert_eq!(store.stats().memory_used, 5);
    let (v, lease) = ready_value(store.fetch(s.id(), "ws", "x", true)).expect("v");
    assert_eq!(as_text(&v), "newer");
    store.ack(s.id(), &[lease]);
    assert_eq!(store.stats().memory_used, 0);
}

#[test]
fn declare_conflicting_mode_is_mode_conflict() {
    let (store, _s) = setup();
    store.declare("ws", "x", Mode::Fifo).expect("declare");
    store
        .declare("ws", "x", Mode::Fifo)
        .expect("same mode is fine");
    let err = store.declare("ws", "x", Mode::Lifo).expect_err("conflict");
    assert_eq!(err.reason(), nws_proto::v1::Reason::ModeConflict);
}

#[test]
fn operations_on_missing_workspace_are_no_such_workspace() {
    let (store, s) = setup();
    let err = store.store("nope", "x", text("v")).expect_err("missing");
    assert_eq!(err.reason(), nws_proto::v1::Reason::NoSuchWorkspace);
    assert!(store.fetch(s.id(), "nope", "x", true).is_err());
    assert_eq!(
        store.stats().memory_used,
        0,
        "a refused store keeps no reservation"
    );
}

#[tokio::test]
async fn store_serves_every_finder_then_oldest_fetcher() {
    let (store, s) = setup();
    let f1 = pending(store.find(s.id(), "ws", "x", false));
    let f2 = pending(store.find(s.id(), "ws", "x", false));
    let fetch1 = pending(store.fetch(s.id(), "ws", "x", false));
    let fetch2 = pending(store.fetch(s.id(), "ws", "x", false));
    let vars = store.list_vars("ws").expect("list");
    assert_eq!(
        vars[0].mode, None,
        "placeholder while only waiters reference it"
    );
    assert_eq!((vars[0].fetchers, vars[0].finders), (2, 2));
    store.store("ws", "x", text("v")).expect("store");
    let never = std::future::pending::<()>;
    for f in [f1, f2] {
        let d = f.resolve(None, never()).await.expect("find");
        assert!(matches!(d, Delivery::Value { lease: 0, .. }));
    }
    let d = fetch1.resolve(None, never()).await.expect("fetch");
    assert!(matches!(d, Delivery::Value { lease, .. } if lease != 0));
    let r = fetch2
        .resolve(Some(Duration::from_millis(10)), never())
        .await;
    assert_eq!(
        r.expect_err("second fetcher times out").reason(),
        nws_proto::v1::Reason::TimedOut
    );
    assert_eq!(
        store.list_vars("ws").expect("list")[0].value_count,
        0,
        "the value was consumed, not queued"
    );
}

#[tokio::test]
async fn timed_out_fetch_consumes_nothing_and_removes_placeholder() {
    let (store, s) = setup();
    let p = pending(store.fetch(s.id(), "ws", "x", false));
    let r = p
        .resolve(Some(Duration::from_millis(5)), std::future::pending())
        .await;
    assert_eq!(
        r.expect_err("timeout").reason(),
        nws_proto::v1::Reason::TimedOut
    );
    assert!(
        store.list_vars("ws").expect("list").is_empty(),
        "placeholder gone with its waiter"
    );
}

#[tokio::test]
async fn delete_var_wakes_fetchers_and_ends_iterators() {
    let (store, s) = setup();
    let fetch = pending(store.fetch(s.id(), "ws", "x", false));
    let it = pending(store.iterate(s.id(), "ws", "x", IterKind::IFind, Cursor::default()));
    store.delete_var("ws", "x").expect("delete");
    let err = fetch
        .resolve(None, std::future::pending())
        .await
        .expect_err("deleted");
    assert_eq!(err.reason(), nws_proto::v1::Reason::VariableDeleted);
    assert_eq!(
        it.resolve(None, std::future::pending()).await.expect("end"),
        Delivery::Nothing
    );
}

#[tokio::test]
async fn session_end_returns_lease_to_waiting_fetcher() {
    let (store, owner) = setup();
    let other = store.open_session("other".into());
    store.store("ws", "task", text("t1")).expect("store");
    let worker = store.open_session("worker".into());
    let (_v, lease) = ready_value(store.fetch(worker.id(), "ws", "task", false)).expect("v");
    assert_ne!(lease, 0);
    let waiting = pending(store.fetch(other.id(), "ws", "task", false));
    drop(worker); // the worker dies mid-task
    let d = waiting
        .resolve(Some(Duration::from_secs(1)), std::future::pending())
        .await
        .expect("re-delivered");
    match d {
        Delivery::Value { value, .. } => assert_eq!(as_text(&value), "t1"),
        Delivery::Nothing => panic!("lost"),
    }
    drop(owner);
}

#[test]
fn owner_session_end_deletes_only_non_persistent_workspaces() {
    let store = Store::new(Limits::default());
    let a = store.open_session("a".into());
    store
        .open_ws(a.id(), "temp", false, false, false)
        .expect("open");
    store
        .open_ws(a.id(), "keep", false, false, true)
        .expect("open");
    let b = store.open_session("b".into());
    let used = store
        .open_ws(b.id(), "temp", true, false, false)
        .expect("use");
    assert!(!used.owned);
    drop(a);
    let names: Vec<String> = store.list_wss(b.id()).into_iter().map(|w| w.name).collect();
    assert_eq!(names, ["keep"]);
    let reopened = store
        .open_ws(b.id(), "keep", false, false, false)
        .expect("open");
    assert!(
        reopened.owned,
        "an unowned persistent workspace is claimed by the next openWs"
    );
}

#[test]
fn iterators_refuse_lifo_and_multi() {
    let (store, s) = setup();
    store.declare("ws", "l", Mode::Lifo).expect("declare");
    let err = store
        .iterate(s.id(), "ws", "l", IterKind::IFindTry, Cursor::default())
        .expect_err("mode");
    assert_eq!(err.reason(), nws_proto::v1::Reason::IteratorMode);
}

#[tokio::test]
async fn declaring_lifo_on_a_placeholder_fails_waiting_iterators() {
    let (store, s) = setup();
    let it = pending(store.iterate(s.id(), "ws", "x", IterKind::IFind, Cursor::default()));
    let fetch = pending(store.fetch(s.id(), "ws", "x", false));
    store.declare("ws", "x", Mode::Lifo).expect("declare");
    let err = it
        .resolve(None, std::future::pending())
        .await
        .expect_err("iterator mode");
    assert_eq!(err.reason(), nws_proto::v1::Reason::IteratorMode);
    store.store("ws", "x", text("v")).expect("store");
    assert!(
        fetch
            .resolve(Some(Duration::from_secs(1)), std::future::pending())
            .await
            .is_ok()
    );
}

#[test]
fn ifind_skips_values_consumed_before_it_reached_them() {
    let (store, s) = setup();
    for v in ["a", "b", "c"] {
        store.store("ws", "x", text(v)).expect("store");
    }
    let step = |c: Cursor| match store
        .iterate(s.id(), "ws", "x", IterKind::IFindTry, c)
        .expect("step")
    {
        Step::Ready(Delivery::Value { value, cursor, .. }) => {
            Some((as_text(&value).to_string(), cursor.expect("cursor")))
        }
        _ => None,
    };
    let (v, c) = step(Cursor::default()).expect("first");
    assert_eq!(v, "a");
    let (_, lease) = ready_value(store.fetch(s.id(), "ws", "x", true)).expect("a");
    store.ack(s.id(), &[lease]);
    let (_, lease) = ready_value(store.fetch(s.id(), "ws", "x", true)).expect("b");
    store.ack(s.id(), &[lease]);
    let (v, c) = step(c).expect("second");
    assert_eq!(v, "c");
    assert!(step(c).is_none());
}

#[test]
fn memory_limit_refuses_store_beyond_it() {
    let store = Store::new(Limits {
        max_value_size: 10,
        max_memory: 12,
    });
    let s = store.open_session("t".into());
    store
        .open_ws(s.id(), "ws", false, false, false)
        .expect("open");
    store.store("ws", "x", text("12345678")).expect("fits");
    let err = store
        .store("ws", "x", text("12345"))
        .expect_err("over memory");
    assert_eq!(err.reason(), nws_proto::v1::Reason::MemoryLimit);
    let err = store
        .store("ws", "x", text("12345678901"))
        .expect_err("over size");
    assert_eq!(err.reason(), nws_proto::v1::Reason::TooLarge);
}

// ---------------------------------------------------------------------------
// Property test: random operation sequences against a reference model.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Store { var: usize, value: u8 },
    Declare { var: usize, mode: usize },
    FetchTry { session: usize, var: usize },
    FindTry { var: usize },
    DeleteVar { var: usize },
    Ack { session: usize, nth: usize },
    Release { session: usize, nth: usize },
    EndSession { session: usize },
}

const VARS: [&str; 3] = ["a", "b", "c"];
const MODES: [Mode; 4] = [Mode::Fifo, Mode::Lifo, Mode::Multi, Mode::Single];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, any::<u8>()).prop_map(|(var, value)| Op::Store { var, value }),
        1 => (0..3usize, 0..4usize).prop_map(|(var, mode)| Op::Declare { var, mode }),
        3 => (0..2usize, 0..3usize).prop_map(|(session, var)| Op::FetchTry { session, var }),
        2 => (0..3usize).prop_map(|var| Op::FindTry { var }),
        1 => (0..3usize).prop_map(|var| Op::DeleteVar { var }),
        2 => (0..2usize, 0..4usize).prop_map(|(session, nth)| Op::Ack { session, nth }),
        2 => (0..2usize, 0..4usize).prop_map(|(session, nth)| Op::Release { session, nth }),
        1 => (0..2usize).prop_map(|session| Op::EndSession { session }),
    ]
}

/// The reference model: the semantics written as plainly as possible.
#[derive(Default)]
struct Model {
    /// Per variable: (mode, generation token, values oldest first).
    vars: [Option<(Mode, u32, VecDeque<u8>)>; 3],
    next_gen: u32,
    /// Per session: outstanding leases (var, generation token, value), oldest first.
    leases: [Vec<(usize, u32, u8, u64)>; 2],
}

impl Model {
    fn var(&mut self, var: usize, mode: Mode) -> &mut (Mode, u32, VecDeque<u8>) {
        if self.vars[var].is_none() {
            self.next_gen += 1;
            self.vars[var] = Some((mode, self.next_gen, VecDeque::new()));
        }
        self.vars[var].as_mut().expect("just created")
    }
    fn give_back(&mut self, var: usize, generation: u32, value: u8) {
        if let Some((mode, g, values)) = self.vars[var].as_mut() {
            if *g != generation {
                return;
            }
            match mode {
                Mode::Fifo => values.push_front(value),
                Mode::Lifo | Mode::Multi => values.push_back(value),
                Mode::Single => {
                    if values.is_empty() {
                        values.push_back(value);
                    }
                }
            }
        }
    }
}

fn byte_of(v: &Value) -> u8 {
    v.data[0]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn store_agrees_with_reference_model(ops in proptest::collection::vec(op(), 1..80)) {
        let store = Store::new(Limits::default());
        let admin = store.open_session("admin".into());
        store.open_ws(admin.id(), "ws", false, false, true).expect("open");
        let mut sessions = [store.open_session("s0".into()), store.open_session("s1".into())];
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Store { var, value } => {
                    let v = Value { kind: Kind::Raw, codec: String::new(), data: Bytes::from(vec![value]) };
                    store.store("ws", VARS[var], v).expect("store");
                    let (mode, _, values) = model.var(var, Mode::Fifo);
                    if *mode == Mode::Single { values.clear(); }
                    values.push_back(value);
                }
                Op::Declare { var, mode } => {
                    let got = store.declare("ws", VARS[var], MODES[mode]);
                    let existing = model.vars[var].as_ref().map(|v| v.0);
                    match existing {
                        Some(m) if m != MODES[mode] => prop_assert!(got.is_err()),
                        _ => { prop_assert!(got.is_ok()); model.var(var, MODES[mode]); }
                    }
                }
                Op::FetchTry { session, var } => {
                    let got = ready_value(store.fetch(sessions[session].id(), "ws", VARS[var], true));
                    let expected = model.vars[var].as_mut().and_then(|(mode, g, values)| {
                        let g = *g;
                        match mode {
                            Mode::Fifo | Mode::Single => values.pop_front().map(|v| (v, g)),
                            Mode::Lifo => values.pop_back().map(|v| (v, g)),
                            Mode::Multi => {
                                // Any held value may come back: take the one the store chose.
                                let chosen = got.as_ref().map(|(v, _)| byte_of(v))?;
                                let pos = values.iter().position(|&x| x == chosen)?;
                                values.remove(pos).map(|v| (v, g))
                            }
                        }
                    });
                    prop_assert_eq!(got.as_ref().map(|(v, _)| byte_of(v)), expected.map(|e| e.0));
                    if let (Some((_, lease)), Some((value, g))) = (got, expected) {
                        model.leases[session].push((var, g, value, lease));
                    }
                }
                Op::FindTry { var } => {
                    let got = store.find_now("ws", VARS[var]).expect("find").map(|v| byte_of(&v));
                    let expected = model.vars[var].as_ref().and_then(|(mode, _, values)| match mode {
                        Mode::Fifo | Mode::Single => values.front().copied(),
                        Mode::Lifo => values.back().copied(),
                        Mode::Multi => got.filter(|g| values.contains(g)),
                    });
                    prop_assert_eq!(got, expected);
                }
                Op::DeleteVar { var } => {
                    store.delete_var("ws", VARS[var]).expect("delete");
                    model.vars[var] = None;
                }
                Op::Ack { session, nth } => {
                    if nth < model.leases[session].len() {
                        let (_, _, _, lease) = model.leases[session].remove(nth);
                        store.ack(sessions[session].id(), &[lease]);
                    }
                }
                Op::Release { session, nth } => {
                    if nth < model.leases[session].len() {
                        let (var, g, value, lease) = model.leases[session].remove(nth);
                        store.release(sessions[session].id(), &[lease]);
                        model.give_back(var, g, value);
                    }
                }
                Op::EndSession { session } => {
                    sessions[session] = store.open_session("again".into());
                    // Leases return oldest first.
                    for (var, g, value, _) in std::mem::take(&mut model.leases[session]) {
                        model.give_back(var, g, value);
                    }
                }
            }
            // Counts agree after every step (contents are checked by the fetches).
            let listed = store.list_vars("ws").expect("list");
            for (i, name) in VARS.iter().enumerate() {
                let held = listed.iter().find(|v| v.name == *name).map_or(0, |v| v.value_count);
                let expected = model.vars[i].as_ref().map_or(0, |v| v.2.len() as u64);
                prop_assert_eq!(held, expected, "value count of {}", name);
            }
        }
        // Ending everything frees all memory.
        drop(sessions);
        for name in VARS { store.delete_var("ws", name).expect("delete"); }
        prop_assert_eq!(store.stats().memory_used, 0);
    }
}
