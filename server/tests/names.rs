//! Naming rules for workspaces and variables, on every name field.
//!
//! Spec anchors covered: `spec/names.md#names`, `spec/errors.md#invalid-name`,
//! `spec/workspaces.md#mktempws` (generated names), `#listwss` and
//! `spec/operations.md#listvars` (byte-order sorting).

mod common;

use common::*;
use nws_proto::v1 as pb;
use nws_proto::v1::request::Op;

/// Every request kind that carries a workspace name, with `ws` as that name.
fn ops_naming_workspace(ws: &str) -> Vec<Op> {
    vec![
        ops::open(ws),
        ops::use_ws(ws),
        ops::delete_ws(ws),
        ops::declare(ws, "v", pb::Mode::Fifo),
        ops::store_text(ws, "v", "x"),
        ops::fetch(ws, "v"),
        ops::fetch_try(ws, "v"),
        ops::find(ws, "v"),
        ops::find_try(ws, "v"),
        ops::delete_var(ws, "v"),
        ops::list_vars(ws),
        ops::iterate(ws, "v", pb::IterKind::Ifind, None),
        ops::iterate(ws, "v", pb::IterKind::IfetchTry, None),
    ]
}

/// Every request kind that carries a variable name (in the existing workspace `ws`).
fn ops_naming_variable(var: &str) -> Vec<Op> {
    vec![
        ops::declare("ws", var, pb::Mode::Fifo),
        ops::store_text("ws", var, "x"),
        ops::fetch("ws", var),
        ops::fetch_try("ws", var),
        ops::find("ws", var),
        ops::find_try("ws", var),
        ops::delete_var("ws", var),
        ops::iterate("ws", var, pb::IterKind::Ifind, None),
        ops::iterate("ws", var, pb::IterKind::IfetchTry, None),
    ]
}

/// Asserts every name field rejects `bad` with INVALID_NAME and nothing changes.
async fn assert_rejected_everywhere(bad: &str) {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    for op in ops_naming_workspace(bad) {
        let reply = s.call(op.clone()).await;
        expect_reason(&reply, Reason::InvalidName);
    }
    for op in ops_naming_variable(bad) {
        let reply = s.call(op.clone()).await;
        expect_reason(&reply, Reason::InvalidName);
    }
    let wss = s.list_wss().await;
    assert_eq!(wss.len(), 1, "only the valid workspace exists: {wss:?}");
    assert!(
        s.list_vars("ws").await.is_empty(),
        "no variable was created"
    );
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_name_is_invalid() {
    assert_rejected_everywhere("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_of_1025_bytes_is_invalid() {
    assert_rejected_everywhere(&"n".repeat(1025)).await;
    // Length counts bytes of UTF-8, not characters: 342 characters, 1026 bytes.
    assert_rejected_everywhere(&"€".repeat(342)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_of_1024_bytes_is_valid() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let long_ascii = "w".repeat(1024);
    let long_utf8 = "é".repeat(512); // 1024 bytes, 512 characters
    for ws in [&long_ascii, &long_utf8] {
        assert_eq!(&s.open(ws).await.name, ws);
        s.store_text(ws, &long_utf8, "v").await;
        assert_eq!(s.fetch_try_text(ws, &long_utf8).await.as_deref(), Some("v"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_are_invalid() {
    for c in [
        '\u{0}', '\t', '\n', '\r', '\u{1b}', '\u{1f}', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}',
    ] {
        assert_rejected_everywhere(&format!("bad{c}name")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_ascii_and_punctuation_names_are_valid() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let names = [
        "größe",
        "日本語",
        "名前 with spaces",
        "emoji 🦀",
        "a/b/c",
        "100%d",
        "__ws__",
        "\u{a0}nbsp",
        "é\u{301}",
    ];
    for name in names {
        let w = s.open(name).await;
        assert_eq!(w.name, name);
        assert!(w.created);
        s.store_text(name, name, name).await;
        assert_eq!(s.find_try_text(name, name).await.as_deref(), Some(name));
        let vars = s.list_vars(name).await;
        assert_eq!(vars.len(), 1);
        assert_eq!(vars[0].name, name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_compared_byte_for_byte() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    // Case-sensitive, and no Unicode normalization.
    for (name, value) in [
        ("x", "lower"),
        ("X", "upper"),
        ("\u{e9}", "precomposed"),
        ("e\u{301}", "combining"),
    ] {
        s.store_text("ws", name, value).await;
    }
    assert_eq!(s.list_vars("ws").await.len(), 4);
    assert_eq!(
        s.find_try_text("ws", "\u{e9}").await.as_deref(),
        Some("precomposed")
    );
    assert_eq!(
        s.find_try_text("ws", "e\u{301}").await.as_deref(),
        Some("combining")
    );
    // Workspace and variable names are separate namespaces.
    s.store_text("ws", "ws", "same name").await;
    assert!(s.ws_info("x").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_sort_by_utf8_byte_order() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let names = ["é", "b", "Z", "a", "z", "ä", "B", "🦀", "日"];
    for n in names {
        s.open(n).await;
        s.store_text("é", n, "v").await;
    }
    let mut want: Vec<&str> = names.to_vec();
    want.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let wss: Vec<String> = s.list_wss().await.into_iter().map(|w| w.name).collect();
    assert_eq!(wss, want);
    let vars: Vec<String> = s.list_vars("é").await.into_iter().map(|v| v.name).collect();
    assert_eq!(vars, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mktemp_rejects_templates_that_generate_invalid_names() {
    let server = Server::start().await;
    let mut s = server.session().await;
    expect_reason(
        &s.call(ops::mktemp("tmp\n%d", false)).await,
        Reason::InvalidName,
    );
    expect_reason(
        &s.call(ops::mktemp(&"t".repeat(1024), false)).await,
        Reason::InvalidName,
    );
    expect_reason(
        &s.call(ops::mktemp(&format!("{}%d", "t".repeat(1024)), true))
            .await,
        Reason::InvalidName,
    );
    assert!(
        s.list_wss().await.is_empty(),
        "a failed mktemp creates nothing"
    );
}
