//! Large values: chunked uploads and downloads, size and memory limits, and
//! the framing rules for chunks.
//!
//! Spec anchors covered: `spec/protocol.md#chunking`, `#request-ids` (an
//! upload's id stays in use), `#stream-errors`, `spec/values.md#large-values`,
//! `spec/limits.md#limits` (max value size, memory, 4 MiB pieces in, 1 MiB
//! pieces out), `spec/errors.md#too-large`, `#memory-limit`,
//! `#protocol-error`, `spec/operations.md#store` (workspace checked when the
//! first piece arrives; deleted while uploading), `spec/sessions.md#hello`
//! (`max_chunk_size`, `max_value_size`), `spec/sessions.md#session-end`
//! (unfinished uploads discarded).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use nws_proto::v1 as pb;
use nws_proto::v1::{reply, server_message};
use nws_server::{Config, Limits};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

/// Deterministic pseudo-random bytes for piece `index` of a value.
fn piece(index: u64, len: usize) -> Bytes {
    let mut x = index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v.into()
}

/// A position-sensitive checksum (Fletcher-style over bytes) that does not
/// depend on how the bytes are split into pieces.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Checksum {
    len: u64,
    a: u64,
    b: u64,
}

impl Checksum {
    fn update(&mut self, data: &[u8]) {
        let (mut a, mut b) = (self.a, self.b);
        for &x in data {
            a = a.wrapping_add(u64::from(x));
            b = b.wrapping_add(a);
        }
        self.a = a;
        self.b = b;
        self.len += data.len() as u64;
    }
}

/// A RAW value header whose first piece is `first` and whose full size is `total`.
fn raw_header(first: Bytes, total: usize) -> pb::Value {
    pb::Value {
        kind: pb::ValueKind::Raw as i32,
        codec: String::new(),
        total_size: total as u64,
        data: first,
    }
}

/// Uploads `total` bytes in pieces of `piece_len` as one store and returns
/// the store's id and the checksum of what was sent; does not wait for the reply.
async fn upload(
    s: &mut Session,
    ws: &str,
    var: &str,
    total: usize,
    piece_len: usize,
) -> (u64, Checksum) {
    let mut sum = Checksum::default();
    let first = piece(0, piece_len.min(total));
    sum.update(&first);
    let id = s
        .start(ops::store(ws, var, raw_header(first.clone(), total)))
        .await;
    let mut sent = first.len();
    let mut index = 1;
    while sent < total {
        let data = piece(index, piece_len.min(total - sent));
        sum.update(&data);
        sent += data.len();
        s.send_chunk(id, data).await;
        index += 1;
    }
    (id, sum)
}

/// Receives the value replying to `id` piece by piece, checking piece sizes,
/// and returns its checksum (without keeping the bytes), its lease id and the
/// number of pieces.
async fn download(s: &mut Session, id: u64) -> (Checksum, u64, usize) {
    let reply = s.reply(id).await;
    let vr = expect_value(&reply);
    let value = vr.value.as_ref().expect("value");
    assert_eq!(value.kind(), pb::ValueKind::Raw);
    let total = value.total_size;
    let mut sum = Checksum::default();
    assert!(value.data.len() <= MIB, "server pieces are at most 1 MiB");
    sum.update(&value.data);
    let mut pieces = 1;
    while sum.len < total {
        let c = s.chunk(id).await;
        assert!(
            c.len() <= MIB,
            "server chunks are at most 1 MiB, got {}",
            c.len()
        );
        sum.update(&c);
        pieces += 1;
        assert!(sum.len <= total, "server chunks overran total_size");
    }
    (sum, vr.lease_id, pieces)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gib_value_is_stored_in_4_mib_chunks_and_fetched_back_in_chunks() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let hello = s.hello("large").await;
    assert_eq!(hello.max_chunk_size, 4 * MIB as u64);
    assert_eq!(hello.max_value_size, 2 * GIB as u64);
    s.open("big").await;

    // Upload all but the last chunk; the store must not be answered yet.
    let total = GIB;
    let piece_len = 4 * MIB;
    let mut sent = Checksum::default();
    let first = piece(0, piece_len);
    sent.update(&first);
    let id = s
        .start(ops::store("big", "v", raw_header(first, total)))
        .await;
    let pieces = total / piece_len;
    for index in 1..pieces as u64 - 1 {
        let data = piece(index, piece_len);
        sent.update(&data);
        s.send_chunk(id, data).await;
    }
    assert!(
        s.reply_within(id, Duration::from_millis(200))
            .await
            .is_none(),
        "answered before the last chunk"
    );
    assert_eq!(
        server.memory_used(),
        total as u64,
        "the full total_size is reserved at the first piece"
    );
    let last = piece(pieces as u64 - 1, piece_len);
    sent.update(&last);
    s.send_chunk(id, last).await;
    let done = tokio::time::timeout(Duration::from_secs(120), s.reply(id))
        .await
        .expect("store answered");
    expect_done(&done);
    assert_eq!(sent.len, total as u64);
    let info = s.var_info("big", "v").await.expect("listed");
    assert_eq!(info.value_count, 1);
    assert_eq!(
        server.memory_used(),
        total as u64,
        "one copy of the value is held"
    );

    // Fetch it back (leased) and compare length and checksum.
    let fid = s.start(ops::fetch("big", "v")).await;
    let (got, lease, received_pieces) = download(&mut s, fid).await;
    assert_eq!(got, sent, "the fetched value differs from the stored one");
    assert_eq!(received_pieces, GIB / MIB, "1 MiB pieces");
    assert_ne!(lease, 0);
    assert_eq!(
        server.memory_used(),
        total as u64,
        "a leased value still counts"
    );
    s.ack(&[lease]).await;
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_value_reaches_waiting_finders_and_the_fetcher_intact() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let mut f1 = server.session().await;
    let mut f2 = server.session().await;
    s.open("ws").await;
    let find1 = f1.start(ops::find("ws", "v")).await;
    let find2 = f2
        .start(ops::iterate("ws", "v", pb::IterKind::Ifind, None))
        .await;
    let fetch = f2.start(ops::fetch_no_lease("ws", "v")).await;
    s.wait_for_waiters("ws", "v", 1, 2).await;
    let total = 3 * MIB + 12_345;
    let (id, sent) = upload(&mut s, "ws", "v", total, MIB + 7).await;
    expect_done(&s.reply(id).await);
    assert_eq!(download(&mut f1, find1).await.0, sent);
    assert_eq!(download(&mut f2, find2).await.0, sent);
    let (got, lease, _) = download(&mut f2, fetch).await;
    assert_eq!(got, sent);
    assert_eq!(lease, 0);
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_split_anywhere_is_reassembled_exactly() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    // A TEXT value whose multi-byte characters straddle chunk boundaries is
    // valid: UTF-8 is checked on the complete value.
    let text = "€".repeat(100_000);
    let bytes = Bytes::from(text.clone());
    let value = pb::Value {
        kind: pb::ValueKind::Text as i32,
        codec: String::new(),
        total_size: bytes.len() as u64,
        data: bytes.slice(..1),
    };
    let id = s.start(ops::store("ws", "t", value)).await;
    let mut at = 1;
    for step in [1usize, 2, 3, 1000, 65_536].iter().cycle() {
        if at >= bytes.len() {
            break;
        }
        let end = (at + step).min(bytes.len());
        s.send_chunk(id, bytes.slice(at..end)).await;
        at = end;
    }
    expect_done(&s.reply(id).await);
    let fid = s.start(ops::fetch_no_lease("ws", "t")).await;
    assert_eq!(s.value(fid).await.text(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_chunked_text_value_is_rejected_when_complete() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let value = pb::Value {
        kind: pb::ValueKind::Text as i32,
        codec: String::new(),
        total_size: 6,
        data: Bytes::from_static(b"abc"),
    };
    let id = s.start(ops::store("ws", "t", value)).await;
    s.send_chunk(id, Bytes::from_static(b"\xff\xfe")).await;
    s.send_chunk(id, Bytes::from_static(b"z")).await;
    expect_reason(&s.reply(id).await, Reason::InvalidArgument);
    assert!(s.var_info("ws", "t").await.is_none());
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_over_max_value_size_is_too_large_before_the_chunks() {
    let limits = Limits {
        max_value_size: MIB as u64,
        max_memory: 64 * MIB as u64,
    };
    let server = Server::start_with_limits(limits).await;
    let mut s = server.session().await;
    assert_eq!(s.hello("limits").await.max_value_size, MIB as u64);
    s.open("ws").await;

    // Answered when the first piece arrives, before any chunk is sent.
    let total = 8 * MIB;
    let id = s
        .start(ops::store("ws", "v", raw_header(piece(0, 64 * KIB), total)))
        .await;
    expect_reason(&s.reply(id).await, Reason::TooLarge);
    assert_eq!(
        server.memory_used(),
        0,
        "nothing reserved for a refused value"
    );
    // The remaining chunks are read and discarded; the stream stays usable.
    let mut sent = 64 * KIB;
    let mut index = 1;
    while sent < total {
        let n = (total - sent).min(4 * MIB);
        s.send_chunk(id, piece(index, n)).await;
        sent += n;
        index += 1;
    }
    s.store_text("ws", "after", "still usable").await;
    assert_eq!(s.fetch_text("ws", "after").await, "still usable");
    assert!(
        s.var_info("ws", "v").await.is_none(),
        "the refused value was not stored"
    );
    assert!(
        !s.has_buffered(id),
        "a refused upload gets exactly one reply"
    );

    // A value of exactly the limit is fine; one byte more in a single message is not.
    expect_done(
        &s.call(ops::store("ws", "v", raw_value(piece(9, MIB))))
            .await,
    );
    expect_reason(
        &s.call(ops::store("ws", "w", raw_value(piece(9, MIB + 1))))
            .await,
        Reason::TooLarge,
    );
    let fid = s.start(ops::fetch_no_lease("ws", "v")).await;
    assert_eq!(s.value(fid).await.value.data.len(), MIB);
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_keeps_its_id_in_use_until_its_chunks_arrive() {
    let limits = Limits {
        max_value_size: KIB as u64,
        max_memory: MIB as u64,
    };
    let server = Server::start_with_limits(limits).await;
    let mut s = server.session().await;
    s.open("ws").await;
    s.send_request(9, ops::store("ws", "v", raw_header(piece(0, 10), 4 * KIB)))
        .await;
    expect_reason(&s.reply(9).await, Reason::TooLarge);
    s.send_request(9, ops::list_wss()).await;
    s.expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_with_a_small_configured_limit() {
    let limits = Limits {
        max_value_size: 2 * MIB as u64,
        max_memory: 3 * MIB as u64,
    };
    let server = Server::start_with_limits(limits).await;
    let mut s = server.session().await;
    s.open("ws").await;
    let two = 2 * MIB;

    expect_done(
        &s.call(ops::store("ws", "a", raw_value(piece(1, two))))
            .await,
    );
    assert_eq!(server.memory_used(), two as u64);
    // A second 2 MiB value would exceed 3 MiB: refused at the first piece.
    let id = s
        .start(ops::store("ws", "b", raw_header(piece(2, 512 * KIB), two)))
        .await;
    expect_reason(&s.reply(id).await, Reason::MemoryLimit);
    s.send_chunk(id, piece(3, two - 512 * KIB)).await;
    expect_reason(
        &s.call(ops::store("ws", "b", raw_value(piece(2, two))))
            .await,
        Reason::MemoryLimit,
    );
    assert!(s.var_info("ws", "b").await.is_none());

    // A leased value still counts; acknowledging it frees the memory.
    let fid = s.start(ops::fetch("ws", "a")).await;
    let got = s.value(fid).await;
    expect_reason(
        &s.call(ops::store("ws", "b", raw_value(piece(2, two))))
            .await,
        Reason::MemoryLimit,
    );
    s.ack(&[got.lease_id]).await;
    server.expect_memory_freed().await;

    // An upload in progress reserves its full size.
    let up = s
        .start(ops::store("ws", "c", raw_header(piece(4, 1024), two)))
        .await;
    assert!(
        s.reply_within(up, Duration::from_millis(100))
            .await
            .is_none()
    );
    assert_eq!(server.memory_used(), two as u64);
    expect_reason(
        &s.call(ops::store("ws", "d", raw_value(piece(5, two))))
            .await,
        Reason::MemoryLimit,
    );
    s.send_chunk(up, piece(6, two - 1024)).await;
    expect_done(&s.reply(up).await);

    // The store succeeds once memory has been freed.
    expect_done(&s.call(ops::delete_var("ws", "c")).await);
    server.expect_memory_freed().await;
    expect_done(
        &s.call(ops::store("ws", "d", raw_value(piece(5, two))))
            .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_chunked_store_is_answered_at_the_first_piece() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let mut bad_codec = raw_header(piece(0, KIB), 3 * KIB);
    bad_codec.codec = "json".into();
    let cases = [
        (
            ops::store("", "v", raw_header(piece(0, KIB), 3 * KIB)),
            Reason::InvalidName,
        ),
        (
            ops::store("ws", "bad\nname", raw_header(piece(0, KIB), 3 * KIB)),
            Reason::InvalidName,
        ),
        (ops::store("ws", "v", bad_codec), Reason::InvalidArgument),
    ];
    for (op, reason) in cases {
        let id = s.start(op).await;
        expect_reason(&s.reply(id).await, reason);
        s.send_chunk(id, piece(1, 2 * KIB)).await;
    }
    s.store_text("ws", "ok", "stream still usable").await;
    assert_eq!(s.list_vars("ws").await.len(), 1);
    let _ = s.fetch_text("ws", "ok").await;
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn a_chunked_store_to_a_missing_workspace_is_refused_before_the_chunks() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let id = s
        .start(ops::store(
            "missing",
            "v",
            raw_header(piece(0, MIB), 64 * MIB),
        ))
        .await;
    let early = s.reply_within(id, Duration::from_secs(2)).await;
    let reply =
        early.expect("the store must be answered when its first piece arrives, before the chunks");
    expect_reason(&reply, Reason::NoSuchWorkspace);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_deleted_during_an_upload_fails_the_store() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let mut other = server.session().await;
    s.open("ws").await;
    let id = s
        .start(ops::store("ws", "v", raw_header(piece(0, MIB), 2 * MIB)))
        .await;
    expect_done(&other.call(ops::delete_ws("ws")).await);
    s.send_chunk(id, piece(1, MIB)).await;
    expect_reason(&s.reply(id).await, Reason::NoSuchWorkspace);
    server.expect_memory_freed().await;
    assert!(
        s.list_wss().await.is_empty(),
        "the store did not recreate the workspace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_flow_while_an_upload_is_in_progress() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let a = s
        .start(ops::store("ws", "a", raw_header(piece(0, MIB), 3 * MIB)))
        .await;
    let b = s
        .start(ops::store("ws", "b", raw_header(piece(10, MIB), 2 * MIB)))
        .await;
    s.send_chunk(a, piece(1, MIB)).await;
    // The store takes effect only when its value is complete.
    expect_nothing(&s.call(ops::fetch_try("ws", "a")).await);
    s.store_text("ws", "small", "in between").await;
    assert_eq!(s.fetch_text("ws", "small").await, "in between");
    s.send_chunk(b, piece(11, MIB)).await;
    expect_done(&s.reply(b).await);
    s.send_chunk(a, piece(2, MIB)).await;
    expect_done(&s.reply(a).await);
    let fa = s.start(ops::fetch_no_lease("ws", "a")).await;
    let fb = s.start(ops::fetch_no_lease("ws", "b")).await;
    let (va, vb) = (s.value(fa).await.value.data, s.value(fb).await.value.data);
    let want_a: Vec<u8> = (0..3).flat_map(|i| piece(i, MIB).to_vec()).collect();
    let want_b: Vec<u8> = (10..12).flat_map(|i| piece(i, MIB).to_vec()).collect();
    assert!(
        va == want_a && vb == want_b,
        "interleaved uploads were mixed up"
    );
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_upload_is_discarded_when_the_session_ends() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let mut other = server.session().await;
    other.use_ws("ws").await;
    let _ = s
        .start(ops::store("ws", "v", raw_header(piece(0, MIB), 10 * MIB)))
        .await;
    let store = server.store.clone();
    eventually("the upload reserved its size", WAIT, move || {
        store.stats().memory_used > 0
    })
    .await;
    s.close().await.expect("clean close");
    server.expect_memory_freed().await;
    assert!(
        other.var_info("ws", "v").await.is_none(),
        "an unfinished store has no effect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_for_unknown_id_is_a_protocol_error() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    s.send_chunk(77, Bytes::from_static(b"orphan")).await;
    s.expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_after_the_value_is_complete_is_a_protocol_error() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let id = s
        .start(ops::store("ws", "v", raw_header(piece(0, 10), 20)))
        .await;
    s.send_chunk(id, piece(1, 10)).await;
    expect_done(&s.reply(id).await);
    s.send_chunk(id, piece(2, 1)).await;
    s.expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_overrunning_total_size_is_a_protocol_error() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let id = s
        .start(ops::store("ws", "v", raw_header(piece(0, 10), 20)))
        .await;
    s.send_chunk(id, piece(1, 11)).await;
    s.expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_chunk_is_a_protocol_error() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let id = s
        .start(ops::store("ws", "v", raw_header(piece(0, 10), 20)))
        .await;
    s.send_chunk(id, Bytes::new()).await;
    s.expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_piece_over_4_mib_is_a_protocol_error() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let big = piece(0, 4 * MIB + 1);
    s.send_request(1, ops::store("ws", "v", raw_value(big)))
        .await;
    s.expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
    server.expect_memory_freed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_over_4_mib_is_a_protocol_error() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    // Pieces of exactly 4 MiB are accepted.
    let (id, _) = upload(&mut s, "ws", "ok", 8 * MIB, 4 * MIB).await;
    expect_done(&s.reply(id).await);
    let id = s
        .start(ops::store("ws", "v", raw_header(piece(0, 10), 16 * MIB)))
        .await;
    s.send_chunk(id, piece(1, 4 * MIB + 1)).await;
    s.expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_chunk_size_bounds_every_piece_the_server_sends() {
    let config = Config {
        chunk_size: 64 * KIB,
        ..Config::default()
    };
    let server = Server::start_with(config).await;
    let mut s = server.session().await;
    s.open("ws").await;
    let (id, sent) = upload(&mut s, "ws", "v", MIB + 1, MIB).await;
    expect_done(&s.reply(id).await);
    let fid = s.start(ops::find("ws", "v")).await;
    // Read the raw messages: a reply and then chunks, each at most 64 KiB.
    let mut sum = Checksum::default();
    let mut pieces = 0;
    while sum.len < sent.len {
        let data = match s.next_for(fid).await.kind {
            Some(server_message::Kind::Reply(r)) => match r.result {
                Some(reply::Result::Value(v)) => v.value.expect("value").data,
                other => panic!("expected a value, got {other:?}"),
            },
            Some(server_message::Kind::Chunk(c)) => c.data,
            None => panic!("empty message"),
        };
        assert!(
            !data.is_empty() && data.len() <= 64 * KIB,
            "piece of {} bytes",
            data.len()
        );
        sum.update(&data);
        pieces += 1;
    }
    assert_eq!(sum, sent);
    assert_eq!(pieces, 17);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_first_piece_is_allowed() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    let id = s
        .start(ops::store("ws", "v", raw_header(Bytes::new(), 10)))
        .await;
    s.send_chunk(id, piece(1, 10)).await;
    expect_done(&s.reply(id).await);
    let fid = s.start(ops::fetch_no_lease("ws", "v")).await;
    assert_eq!(s.value(fid).await.value.data, piece(1, 10));
}
