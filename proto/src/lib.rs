//! # nws-proto: the NetWorkSpaces wire contract
//!
//! Generated from `proto/nws/v1/nws.proto` at build time (no system `protoc`:
//! the build script compiles the schema with `protox`). The doc comments of the
//! `.proto` file are normative and are carried over onto the generated items.
//!
//! Module map:
//! - [`v1`]: every message, enum and the `NetWorkSpaces` service
//!   ([`v1::net_work_spaces_client`], [`v1::net_work_spaces_server`]).
//! - [`bigbuf`]: reassembly buffers for large chunked values, with one
//!   spare kept for reuse (used by the server and the `nws` client).
//!
//! ```
//! use nws_proto::v1::{ClientMessage, Request, client_message, request, Hello};
//! let msg = ClientMessage {
//!     kind: Some(client_message::Kind::Request(Request {
//!         id: 1,
//!         op: Some(request::Op::Hello(Hello { client: "doc".into(), protocol_version: 1 })),
//!     })),
//! };
//! assert!(msg.kind.is_some());
//! ```

/// Version 1 of the contract (`package nws.v1`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("nws.v1");
}

pub mod bigbuf;

/// The protocol major version this crate implements.
pub const PROTOCOL_VERSION: u32 = 1;
