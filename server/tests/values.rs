//! Value kinds, codecs and the checks the server applies to a stored value.
//!
//! Spec anchors covered: `spec/values.md#values`, `#value-kinds`, `#codecs`,
//! `spec/operations.md#store`, `spec/errors.md#invalid-argument`,
//! `spec/protocol.md#chunking` (first piece longer than `total_size`),
//! `spec/limits.md#limits` (codec length).

mod common;

use bytes::Bytes;
use common::*;
use nws_proto::v1 as pb;

async fn setup(server: &Server) -> Session {
    let mut s = server.session().await;
    s.open("ws").await;
    s
}

/// Stores `value`, then checks fetch, find and an IFIND step all return it unchanged.
async fn assert_round_trip(s: &mut Session, var: &str, value: pb::Value) {
    expect_done(&s.call(ops::store("ws", var, value.clone())).await);
    let id = s.start(ops::find("ws", var)).await;
    assert_eq!(
        s.value(id).await.value,
        value,
        "find returns the stored value unchanged"
    );
    let id = s
        .start(ops::iterate("ws", var, pb::IterKind::IfindTry, None))
        .await;
    assert_eq!(
        s.value(id).await.value,
        value,
        "ifind returns the stored value unchanged"
    );
    let id = s.start(ops::fetch_no_lease("ws", var)).await;
    assert_eq!(
        s.value(id).await.value,
        value,
        "fetch returns the stored value unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_raw_and_blob_round_trip_unchanged() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    assert_round_trip(&mut s, "text", text_value("héllo wörld ✓ 🦀")).await;
    let every_byte: Vec<u8> = (0..=255u8).collect();
    assert_round_trip(&mut s, "raw", raw_value(every_byte.clone())).await;
    assert_round_trip(
        &mut s,
        "pickle",
        blob_value("python/pickle", every_byte.clone()),
    )
    .await;
    assert_round_trip(
        &mut s,
        "r",
        blob_value("r/serialize", vec![0x58, 0x0a, 0, 0, 0, 3]),
    )
    .await;
    assert_round_trip(&mut s, "cbor", blob_value("rust/cbor", vec![0x83, 1, 2, 3])).await;
    assert_round_trip(
        &mut s,
        "json",
        blob_value("json", &b"{\"a\": [1, 2.5, null]}"[..]),
    )
    .await;
    // Any syntactically valid tag is accepted; the server never decodes a blob.
    assert_round_trip(&mut s, "odd", blob_value("x-custom/format~v2!", every_byte)).await;
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_values_are_allowed() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    assert_round_trip(&mut s, "t", text_value("")).await;
    assert_round_trip(&mut s, "r", raw_value(Bytes::new())).await;
    assert_round_trip(&mut s, "b", blob_value("json", Bytes::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_raw_are_distinct_kinds() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    expect_done(&s.call(ops::store("ws", "x", raw_value(&b"abc"[..]))).await);
    let id = s.start(ops::fetch_no_lease("ws", "x")).await;
    let got = s.value(id).await;
    assert_eq!(
        got.value.kind(),
        pb::ValueKind::Raw,
        "RAW stays RAW even when its bytes are text"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_text_is_invalid_argument() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    for bad in [&b"\xff"[..], b"abc\xc3", b"\xed\xa0\x80", b"\xc0\xaf"] {
        let mut value = text_value("");
        value.data = Bytes::copy_from_slice(bad);
        value.total_size = bad.len() as u64;
        expect_reason(
            &s.call(ops::store("ws", "x", value)).await,
            Reason::InvalidArgument,
        );
    }
    assert!(
        s.list_vars("ws").await.is_empty(),
        "a failed store changes nothing"
    );
    // The same bytes are fine as RAW.
    expect_done(&s.call(ops::store("ws", "x", raw_value(&b"\xff"[..]))).await);
    let id = s.start(ops::fetch_no_lease("ws", "x")).await;
    let _ = s.value(id).await;
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_without_codec_is_invalid_argument() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    expect_reason(
        &s.call(ops::store("ws", "x", blob_value("", &b"data"[..])))
            .await,
        Reason::InvalidArgument,
    );
    assert!(s.list_vars("ws").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_on_text_or_raw_is_invalid_argument() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let mut text = text_value("hi");
    text.codec = "json".into();
    expect_reason(
        &s.call(ops::store("ws", "x", text)).await,
        Reason::InvalidArgument,
    );
    let mut raw = raw_value(&b"hi"[..]);
    raw.codec = "python/pickle".into();
    expect_reason(
        &s.call(ops::store("ws", "x", raw)).await,
        Reason::InvalidArgument,
    );
    assert!(s.list_vars("ws").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_must_be_1_to_64_printable_ascii_characters() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let longest = "c".repeat(64);
    for good in ["j", "!", "~", longest.as_str(), "python/pickle"] {
        expect_done(
            &s.call(ops::store("ws", "ok", blob_value(good, &b"x"[..])))
                .await,
        );
    }
    let too_long = "c".repeat(65);
    for bad in [
        too_long.as_str(),
        "has space",
        "tab\t",
        "nl\n",
        "é",
        "del\u{7f}",
        "\u{0}",
    ] {
        let reply = s
            .call(ops::store("ws", "bad", blob_value(bad, &b"x"[..])))
            .await;
        expect_reason(&reply, Reason::InvalidArgument);
    }
    assert!(s.var_info("ws", "bad").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unspecified_or_unknown_kind_is_invalid_argument() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    for kind in [pb::ValueKind::Unspecified as i32, 4, 42, -3] {
        let mut value = raw_value(&b"x"[..]);
        value.kind = kind;
        expect_reason(
            &s.call(ops::store("ws", "x", value)).await,
            Reason::InvalidArgument,
        );
    }
    assert!(s.list_vars("ws").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_without_a_value_is_invalid_argument() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let op = pb::request::Op::Store(pb::Store {
        workspace: "ws".into(),
        variable: "x".into(),
        value: None,
    });
    expect_reason(&s.call(op).await, Reason::InvalidArgument);
    assert!(s.list_vars("ws").await.is_empty());
    s.store_text("ws", "x", "the stream continues").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_piece_longer_than_total_size_is_invalid_argument() {
    let server = Server::start().await;
    let mut s = setup(&server).await;
    let mut value = raw_value(&b"0123456789"[..]);
    value.total_size = 4;
    let reply = s.call(ops::store("ws", "x", value)).await;
    expect_reason(&reply, Reason::InvalidArgument);
    // A reply, not a stream error: no chunks are expected and the stream goes on.
    s.store_text("ws", "y", "still here").await;
    assert_eq!(s.fetch_text("ws", "y").await, "still here");
    assert!(s.var_info("ws", "x").await.is_none());
    server.expect_memory_freed().await;
}
