//! Workspaces: openWs, useWs, ownership, persistence, mktempWs, deleteWs,
//! listWss.
//!
//! Spec anchors covered: `spec/workspaces.md#open`, `#use`, `#ownership`,
//! `#persistent`, `#mktempws`, `#deletews`, `#listwss`,
//! `spec/operations.md#placeholder` (counted in `variable_count`),
//! `spec/operations.md#model` (every variable operation on a missing
//! workspace fails, none creates one), `spec/errors.md#no-such-workspace`,
//! `spec/sessions.md#hello` (owner label).

mod common;

use std::collections::BTreeSet;

use common::*;
use nws_proto::v1 as pb;

fn ws_reply(name: &str, created: bool, owned: bool, persistent: bool) -> pb::WorkspaceReply {
    pb::WorkspaceReply {
        name: name.into(),
        created,
        owned,
        persistent,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_creates_and_owns() {
    let server = Server::start().await;
    let (mut s, _) = server.session_named("alice").await;
    assert_eq!(s.open("ws").await, ws_reply("ws", true, true, false));
    let info = s.ws_info("ws").await.expect("listed");
    assert_eq!(
        info,
        pb::WorkspaceInfo {
            name: "ws".into(),
            owner: "alice".into(),
            persistent: false,
            variable_count: 0,
            mine: true
        }
    );
    // Opening again changes nothing (persistent is ignored).
    let again = s.expect_open(ops::open_persistent("ws")).await;
    assert_eq!(again, ws_reply("ws", false, true, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_of_a_workspace_owned_by_another_session_does_not_own_it() {
    let server = Server::start().await;
    let (mut alice, _) = server.session_named("alice").await;
    let (mut bob, _) = server.session_named("bob").await;
    alice.open("ws").await;
    assert_eq!(
        bob.expect_open(ops::open_persistent("ws")).await,
        ws_reply("ws", false, false, false)
    );
    let info = bob.ws_info("ws").await.expect("listed");
    assert_eq!(
        (info.owner.as_str(), info.mine, info.persistent),
        ("alice", false, false)
    );
    assert!(alice.ws_info("ws").await.expect("listed").mine);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_never_owns() {
    let server = Server::start().await;
    let (mut s, _) = server.session_named("helper").await;
    assert_eq!(s.use_ws("ws").await, ws_reply("ws", true, false, false));
    let info = s.ws_info("ws").await.expect("listed");
    assert_eq!(
        (info.owner.as_str(), info.mine),
        ("", false),
        "created unowned"
    );
    assert_eq!(s.use_ws("ws").await, ws_reply("ws", false, false, false));
    // useWs of a workspace this session owns reports owned.
    s.open("mine").await;
    assert_eq!(s.use_ws("mine").await, ws_reply("mine", false, true, false));
    // A persistent useWs creates an unowned persistent workspace.
    assert_eq!(
        s.expect_open(ops::open_with("p", true, false, true)).await,
        ws_reply("p", true, false, true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_claims_an_unowned_workspace_and_sets_persistent() {
    let server = Server::start().await;
    let (mut helper, _) = server.session_named("helper").await;
    let (mut owner, _) = server.session_named("owner").await;
    helper.use_ws("ws").await;
    assert_eq!(
        owner.expect_open(ops::open_persistent("ws")).await,
        ws_reply("ws", false, true, true)
    );
    let info = helper.ws_info("ws").await.expect("listed");
    assert_eq!(
        (info.owner.as_str(), info.persistent, info.mine),
        ("owner", true, false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn must_exist_refuses_to_create() {
    let server = Server::start().await;
    let mut s = server.session().await;
    for use_only in [false, true] {
        let reply = s.call(ops::open_with("ws", use_only, true, false)).await;
        expect_reason(&reply, Reason::NoSuchWorkspace);
    }
    assert!(s.list_wss().await.is_empty());
    let mut other = server.session().await;
    other.use_ws("ws").await;
    assert_eq!(
        s.expect_open(ops::open_with("ws", false, true, false))
            .await,
        ws_reply("ws", false, true, false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mktemp_names_are_unique_and_owned() {
    let server = Server::start().await;
    let (mut s, _) = server.session_named("tmp").await;
    let mut names = BTreeSet::new();
    for _ in 0..20 {
        let w = s.expect_open(ops::mktemp("", false)).await;
        assert!(
            w.name.starts_with("__ws__"),
            "default template __ws__%d, got {:?}",
            w.name
        );
        assert!(w.name["__ws__".len()..].chars().all(|c| c.is_ascii_digit()));
        assert_eq!((w.created, w.owned, w.persistent), (true, true, false));
        assert!(names.insert(w.name));
    }
    let w = s.expect_open(ops::mktemp("job-%d-of-%d 100%", false)).await;
    let parts: Vec<&str> = w.name.split('-').collect();
    assert_eq!(parts.len(), 4, "{:?}", w.name);
    assert_eq!(
        parts[1],
        parts[3].trim_end_matches(" 100%"),
        "every %d is the same counter value"
    );
    assert!(w.name.ends_with(" 100%"), "other % sequences are literal");
    let w = s.expect_open(ops::mktemp("plain", false)).await;
    let suffix = w.name.strip_prefix("plain").expect("template prefix");
    assert!(
        !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_digit()),
        "counter appended: {:?}",
        w.name
    );

    let listed = s.list_wss().await;
    assert!(listed.iter().all(|w| w.mine && w.owner == "tmp"));
    assert_eq!(listed.len(), 22);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mktemp_persistent_is_unowned_and_survives_its_creator() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let w = s.expect_open(ops::mktemp("keep%d", true)).await;
    assert_eq!((w.created, w.owned, w.persistent), (true, false, true));
    let tmp = s.expect_open(ops::mktemp("drop%d", false)).await;
    s.close().await.expect("clean close");
    let mut other = server.session().await;
    other.wait_for_ws(&tmp.name, false).await;
    let info = other
        .ws_info(&w.name)
        .await
        .expect("persistent mktemp workspace survives");
    assert_eq!((info.owner.as_str(), info.persistent), ("", true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mktemp_skips_names_already_taken() {
    let server = Server::start().await;
    let mut s = server.session().await;
    // Find the counter, then occupy the next names.
    let probe = s.expect_open(ops::mktemp("probe%d", false)).await;
    let n: u64 = probe.name["probe".len()..].parse().expect("counter");
    for k in n + 1..=n + 5 {
        s.open(&format!("job{k}")).await;
    }
    let w = s.expect_open(ops::mktemp("job%d", false)).await;
    assert!(w.created);
    let k: u64 = w.name["job".len()..].parse().expect("counter");
    assert!(k > n + 5, "taken names are skipped, got {:?}", w.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_wss_is_sorted_and_shows_owner_and_mine() {
    let server = Server::start().await;
    let (mut alice, _) = server.session_named("alice").await;
    let mut anonymous = server.session().await;
    alice.open("b").await;
    alice.expect_open(ops::open_persistent("a")).await;
    anonymous.open("c").await;
    anonymous.use_ws("d").await;
    let listed = alice.list_wss().await;
    let names: Vec<&str> = listed.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    let row = |n: &str| listed.iter().find(|w| w.name == n).expect("listed").clone();
    assert_eq!(
        (row("a").owner.as_str(), row("a").persistent, row("a").mine),
        ("alice", true, true)
    );
    assert_eq!((row("b").owner.as_str(), row("b").mine), ("alice", true));
    // Without Hello the owner label is the peer address ip:port.
    let peer = row("c").owner;
    let addr: std::net::SocketAddr = peer
        .parse()
        .unwrap_or_else(|_| panic!("owner {peer:?} is not ip:port"));
    assert!(addr.ip().is_loopback());
    assert!(!row("c").mine);
    assert_eq!((row("d").owner.as_str(), row("d").mine), ("", false));
    assert!(anonymous.ws_info("c").await.expect("listed").mine);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_after_open_relabels_the_owner() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    s.hello("late label").await;
    assert_eq!(s.ws_info("ws").await.expect("listed").owner, "late label");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variable_count_includes_placeholders() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let mut other = server.session().await;
    s.open("ws").await;
    s.store_text("ws", "a", "v").await;
    s.declare("ws", "b", pb::Mode::Lifo).await;
    let waiting = other.start(ops::fetch("ws", "c")).await;
    s.wait_for_waiters("ws", "c", 1, 0).await;
    assert_eq!(s.ws_info("ws").await.expect("listed").variable_count, 3);
    other.cancel(waiting).await;
    expect_reason(&other.reply(waiting).await, Reason::Cancelled);
    assert_eq!(s.ws_info("ws").await.expect("listed").variable_count, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_ws_wakes_waiters_with_no_such_workspace() {
    let server = Server::start().await;
    let mut owner = server.session().await;
    let mut waiter = server.session().await;
    owner.open("ws").await;
    owner.store_text("ws", "full", "v").await;
    let fetch = waiter.start(ops::fetch("ws", "x")).await;
    let find = waiter.start(ops::find("ws", "y")).await;
    let iter = waiter
        .start(ops::iterate("ws", "z", pb::IterKind::Ifetch, None))
        .await;
    owner.wait_for_waiters("ws", "z", 1, 0).await;
    owner.wait_for_waiters("ws", "y", 0, 1).await;
    owner.wait_for_waiters("ws", "x", 1, 0).await;
    // Anyone may delete any workspace.
    expect_done(&waiter.call(ops::delete_ws("ws")).await);
    expect_reason(&waiter.reply(fetch).await, Reason::NoSuchWorkspace);
    expect_reason(&waiter.reply(find).await, Reason::NoSuchWorkspace);
    expect_nothing(&waiter.reply(iter).await);
    assert!(owner.list_wss().await.is_empty());
    server.expect_memory_freed().await;

    // Reopened, it is a new empty workspace.
    assert_eq!(owner.open("ws").await, ws_reply("ws", true, true, false));
    assert!(owner.list_vars("ws").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_ws_of_a_missing_workspace_is_no_such_workspace() {
    let server = Server::start().await;
    let mut s = server.session().await;
    expect_reason(
        &s.call(ops::delete_ws("nope")).await,
        Reason::NoSuchWorkspace,
    );
    s.open("ws").await;
    expect_done(&s.call(ops::delete_ws("ws")).await);
    expect_reason(&s.call(ops::delete_ws("ws")).await, Reason::NoSuchWorkspace);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_is_set_only_by_the_creating_or_claiming_call() {
    let server = Server::start().await;
    let mut a = server.session().await;
    let mut b = server.session().await;
    a.open("ws").await;
    // The owner re-opening persistent does not change the flag; nor does another session.
    assert!(!a.expect_open(ops::open_persistent("ws")).await.persistent);
    assert!(!b.expect_open(ops::open_persistent("ws")).await.persistent);
    assert!(
        !b.expect_open(ops::open_with("ws", true, false, true))
            .await
            .persistent
    );
    assert!(!a.ws_info("ws").await.expect("listed").persistent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_on_a_missing_workspace_fail() {
    let server = Server::start().await;
    let mut s = server.session().await;
    for op in [
        ops::fetch("nope", "x"),
        ops::fetch_try("nope", "x"),
        ops::find("nope", "x"),
        ops::find_try("nope", "x"),
        ops::store_text("nope", "x", "v"),
        ops::declare("nope", "x", pb::Mode::Fifo),
        ops::delete_var("nope", "x"),
        ops::list_vars("nope"),
        ops::iterate("nope", "x", pb::IterKind::Ifind, None),
    ] {
        expect_reason(&s.call(op).await, Reason::NoSuchWorkspace);
    }
    assert!(
        s.list_wss().await.is_empty(),
        "variable operations never create a workspace"
    );
}
