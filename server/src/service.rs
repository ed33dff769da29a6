//! The protobuf edge: the tonic service and named conversions between
//! `nws.v1` messages and the domain types. Nothing else in the crate sees
//! protobuf types except `session.rs`, which frames replies.

use std::sync::Arc;

use nws_proto::v1 as pb;
use nws_proto::v1::net_work_spaces_server::NetWorkSpaces;
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::store::{Cursor, IterKind, Mode, Store};
use crate::value::{Kind, check_header};
use crate::{Config, Error};

/// The gRPC service: one [`crate::session`] task per `Session` stream.
pub struct Service {
    pub(crate) store: Store,
    pub(crate) config: Arc<Config>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl NetWorkSpaces for Service {
    type SessionStream = ReceiverStream<Result<pb::ServerMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<pb::ClientMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let peer = request
            .remote_addr()
            .map_or_else(|| "unknown peer".to_string(), |a| a.to_string());
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(256);
        let session = crate::session::Session::new(
            self.store.clone(),
            self.config.clone(),
            tx,
            peer,
            self.shutdown.clone(),
        );
        tokio::spawn(session.run(inbound));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

impl From<&Error> for pb::Error {
    fn from(e: &Error) -> Self {
        pb::Error {
            reason: e.reason() as i32,
            message: e.to_string(),
        }
    }
}

/// The one conversion from a domain error to a gRPC status that ends a
/// stream; the encoded `nws.v1.Error` travels in the status details.
impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let code = match e {
            Error::ShuttingDown => tonic::Code::Unavailable,
            Error::Internal(_) => tonic::Code::Internal,
            _ => tonic::Code::InvalidArgument,
        };
        let details = pb::Error::from(&e).encode_to_vec();
        Status::with_details(code, e.to_string(), details.into())
    }
}

/// `nws.v1.Mode` to the domain mode; MODE_UNSPECIFIED and unknown numbers are INVALID_MODE.
pub fn mode_from_pb(mode: i32) -> Result<Mode, Error> {
    match pb::Mode::try_from(mode) {
        Ok(pb::Mode::Fifo) => Ok(Mode::Fifo),
        Ok(pb::Mode::Lifo) => Ok(Mode::Lifo),
        Ok(pb::Mode::Multi) => Ok(Mode::Multi),
        Ok(pb::Mode::Single) => Ok(Mode::Single),
        _ => Err(Error::InvalidMode(mode)),
    }
}

/// The domain mode (None = placeholder) to `nws.v1.Mode`.
pub fn mode_to_pb(mode: Option<Mode>) -> pb::Mode {
    match mode {
        None => pb::Mode::Unspecified,
        Some(Mode::Fifo) => pb::Mode::Fifo,
        Some(Mode::Lifo) => pb::Mode::Lifo,
        Some(Mode::Multi) => pb::Mode::Multi,
        Some(Mode::Single) => pb::Mode::Single,
    }
}

/// `nws.v1.ValueKind` to the domain kind, checking the codec rule.
pub fn kind_from_pb(kind: i32, codec: &str) -> Result<Kind, Error> {
    let kind = match pb::ValueKind::try_from(kind) {
        Ok(pb::ValueKind::Text) => Kind::Text,
        Ok(pb::ValueKind::Raw) => Kind::Raw,
        Ok(pb::ValueKind::Blob) => Kind::Blob,
        _ => {
            return Err(Error::InvalidArgument(format!(
                "value.kind: {kind} is not TEXT, RAW or BLOB"
            )));
        }
    };
    check_header(kind, codec)?;
    Ok(kind)
}

/// The domain kind to `nws.v1.ValueKind`.
pub fn kind_to_pb(kind: Kind) -> pb::ValueKind {
    match kind {
        Kind::Text => pb::ValueKind::Text,
        Kind::Raw => pb::ValueKind::Raw,
        Kind::Blob => pb::ValueKind::Blob,
    }
}

/// `nws.v1.IterKind` to the domain iterator kind.
pub fn iter_kind_from_pb(kind: i32) -> Result<IterKind, Error> {
    match pb::IterKind::try_from(kind) {
        Ok(pb::IterKind::Ifetch) => Ok(IterKind::IFetch),
        Ok(pb::IterKind::IfetchTry) => Ok(IterKind::IFetchTry),
        Ok(pb::IterKind::Ifind) => Ok(IterKind::IFind),
        Ok(pb::IterKind::IfindTry) => Ok(IterKind::IFindTry),
        _ => Err(Error::InvalidArgument(format!(
            "iterate.kind: {kind} is not a known iterator"
        ))),
    }
}

/// Cursor conversions.
pub fn cursor_from_pb(c: Option<pb::Cursor>) -> Cursor {
    c.map_or_else(Cursor::default, |c| Cursor {
        generation: c.generation,
        index: c.index,
    })
}

/// Cursor conversions.
pub fn cursor_to_pb(c: Cursor) -> pb::Cursor {
    pb::Cursor {
        generation: c.generation,
        index: c.index,
    }
}
