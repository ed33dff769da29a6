//! Malformed input, forward compatibility and load on one stream.
//!
//! Spec anchors covered: `spec/protocol.md#framing` (no op; undecodable
//! messages; invalid UTF-8 in a string field), `#stream-errors`,
//! `#pipelining`, `spec/README.md#versioning` (unknown request kinds and
//! unknown fields), `spec/errors.md#invalid-argument`, `#protocol-error`,
//! `spec/limits.md#limits` (no limit on pipelining depth or sessions).

mod common;

use std::collections::HashSet;

use common::*;
use nws_proto::v1 as pb;
use prost::Message;

// Hand-made protobuf encoding, for messages the generated types cannot express.

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A varint field.
fn field_varint(tag: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(tag) << 3, &mut out);
    varint(value, &mut out);
    out
}

/// A length-delimited field.
fn field_bytes(tag: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint((u64::from(tag) << 3) | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// `ClientMessage{request: Request{id, <op_tag>: op_payload}}`.
fn request_bytes(id: u64, op_tag: u32, op_payload: &[u8]) -> Vec<u8> {
    let mut request = field_varint(1, id);
    request.extend(field_bytes(op_tag, op_payload));
    field_bytes(1, &request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_client_message_ends_the_stream_with_protocol_error() {
    let server = Server::start().await;
    let mut s = server.session().await;
    let mut observer = server.session().await;
    s.open("mine").await;
    s.send(pb::ClientMessage { kind: None }).await;
    s.expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
    observer.wait_for_ws("mine", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_no_op_is_invalid_argument_and_the_stream_continues() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.send(pb::ClientMessage {
        kind: Some(pb::client_message::Kind::Request(pb::Request {
            id: 4,
            op: None,
        })),
    })
    .await;
    expect_reason(&s.reply(4).await, Reason::InvalidArgument);
    s.open("ws").await;
    s.store_text("ws", "x", "still fine").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_request_kind_is_invalid_argument_and_the_stream_continues() {
    let server = Server::start().await;
    let mut s = Session::connect_raw(server.addr).await;
    // A newer client's request kind: Request field 99, unknown to this server.
    s.send_raw(request_bytes(5, 99, &field_bytes(1, b"whatever")))
        .await;
    expect_reason(&s.reply(5).await, Reason::InvalidArgument);
    s.open("ws").await;
    assert_eq!(s.list_wss().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_in_a_known_request_are_ignored() {
    let server = Server::start().await;
    let mut s = Session::connect_raw(server.addr).await;
    s.open("ws").await;
    s.store_text("ws", "x", "v").await;
    let mut find = pb::Find {
        workspace: "ws".into(),
        variable: "x".into(),
        ..Default::default()
    }
    .encode_to_vec();
    find.extend(field_varint(77, 1)); // a field added in a later minor version
    find.extend(field_bytes(78, b"more"));
    s.send_raw(request_bytes(9, 23, &find)).await;
    assert_eq!(text_of(&s.reply(9).await), "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn an_undecodable_message_ends_the_stream_with_protocol_error() {
    let server = Server::start().await;
    let mut s = Session::connect_raw(server.addr).await;
    s.open("ws").await;
    s.send_raw(vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])
        .await; // length far beyond the message
    s.expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn a_string_field_with_invalid_utf8_ends_the_stream_with_protocol_error() {
    let server = Server::start().await;
    let mut s = Session::connect_raw(server.addr).await;
    s.open("ws").await;
    // Hello{client: b"\xff\xfe"}: well-formed protobuf, but not a valid `string`.
    s.send_raw(request_bytes(3, 2, &field_bytes(1, b"\xff\xfe")))
        .await;
    s.expect_stream_error(tonic::Code::InvalidArgument, Reason::ProtocolError)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_ends_the_session() {
    // Whatever status it ends with, a broken message must end the session:
    // the owner's workspaces go and no later request is served.
    let server = Server::start().await;
    let mut s = Session::connect_raw(server.addr).await;
    let mut observer = server.session().await;
    s.open("mine").await;
    s.send_raw(request_bytes(3, 2, &field_bytes(1, b"\xff\xfe")))
        .await;
    let _ = s.end().await;
    observer.wait_for_ws("mine", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_10k_pipelined_requests_is_all_answered() {
    let server = Server::start().await;
    let mut s = server.session().await;
    s.open("ws").await;
    const N: u64 = 10_000;
    // Send from another task while this one reads, as a client library would.
    let sender = s.sender();
    let writer = tokio::spawn(async move {
        for id in 100..100 + N {
            let op = match id % 4 {
                0 | 1 => ops::store_text("ws", "q", &id.to_string()),
                2 => ops::find_try("ws", "q"),
                _ => ops::list_vars("ws"),
            };
            sender.request(id, op).await;
        }
    });
    let mut answered = HashSet::new();
    let mut stores = 0;
    for id in 100..100 + N {
        let reply = s.reply(id).await;
        match id % 4 {
            0 | 1 => {
                expect_done(&reply);
                stores += 1;
            }
            2 => {
                let _ = expect_value(&reply);
            }
            _ => assert!(matches!(
                reply.result,
                Some(pb::reply::Result::Variables(_))
            )),
        }
        assert!(answered.insert(id));
    }
    bounded("writer", writer).await.expect("writer task");
    assert_eq!(answered.len() as u64, N);
    let info = s.var_info("ws", "q").await.expect("listed");
    assert_eq!(info.value_count, stores);
    // FIFO order survived the flood.
    let first = s.fetch_text("ws", "q").await;
    assert_eq!(first, "100");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_sessions_each_get_their_own_answers() {
    let server = Server::start().await;
    let mut owner = server.session().await;
    owner.open("ws").await;
    let mut tasks = Vec::new();
    for n in 0..50u64 {
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mut s = Session::connect(addr).await;
            let hello = s.hello(&format!("client {n}")).await;
            let id = s
                .start(ops::fetch_no_lease("ws", &format!("for-{n}")))
                .await;
            s.store_text("ws", &format!("from-{n}"), &n.to_string())
                .await;
            let got = s.value(id).await.text();
            (hello.session_id, got)
        }));
    }
    for n in 0..50u64 {
        // Answer each client on its own variable; reading `from-n` proves its store arrived.
        let v = owner.fetch_text("ws", &format!("from-{n}")).await;
        owner
            .store_text("ws", &format!("for-{n}"), &format!("reply {v}"))
            .await;
    }
    let mut ids = HashSet::new();
    for (n, t) in tasks.into_iter().enumerate() {
        let (sid, got) = bounded("client task", t).await.expect("client task");
        assert_eq!(got, format!("reply {n}"));
        assert!(ids.insert(sid), "session ids are unique");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_vanishing_with_many_blocked_requests_leaves_nothing_behind() {
    let server = Server::start().await;
    let mut observer = server.session().await;
    observer.use_ws("ws").await;
    let s = server.session().await;
    for n in 0..1000u64 {
        s.send_request(n, ops::fetch("ws", &format!("v{}", n % 10)))
            .await;
    }
    observer.wait_for_waiters("ws", "v9", 100, 0).await;
    drop(s);
    let start = std::time::Instant::now();
    while !observer.list_vars("ws").await.is_empty() {
        assert!(
            start.elapsed() < WAIT,
            "placeholders outlived their waiters"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let store = server.store.clone();
    eventually("the session ended", WAIT, move || {
        store.stats().sessions == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_requests_beyond_the_per_session_limit_get_memory_limit() {
    let config = nws_server::Config {
        max_waiting_per_session: 3,
        ..nws_server::Config::default()
    };
    let server = Server::start_with(config).await;
    let mut s = server.session().await;
    s.open("ws").await;
    for id in 101..=103 {
        s.send_request(id, ops::fetch("ws", "q")).await;
    }
    s.send_request(104, ops::fetch("ws", "q")).await;
    let refused = s.reply(104).await;
    expect_reason(&refused, Reason::MemoryLimit);
    // The three that wait are intact and the session keeps serving.
    for n in 0..3 {
        expect_done(&s.call(ops::store_text("ws", "q", &n.to_string())).await);
    }
    for id in 101..=103 {
        let _ = expect_value(&s.reply(id).await);
    }
}
