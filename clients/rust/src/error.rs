//! Errors: the stable [`Reason`] catalog and the crate's [`Error`] type.
//!
//! A server-side failure carries a stable reason; programs branch on
//! [`Error::reason`], never on the message text.

use std::sync::Arc;

use nws_proto::v1 as pb;
use prost::Message as _;

use crate::value::Value;

/// The stable reason of a server-side failure (mirrors `nws.v1.Reason`).
///
/// Reasons this version of the crate does not know arrive as
/// [`Reason::Unknown`] with their number; treat them like
/// [`Reason::Internal`].
///
/// ```
/// use nws::Reason;
/// assert_eq!(Reason::TimedOut.as_str(), "TIMED_OUT");
/// assert_eq!(Reason::TimedOut.to_string(), "TIMED_OUT");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The named workspace does not exist, or was deleted while the request
    /// waited.
    NoSuchWorkspace,
    /// `declare` asked for a mode different from the variable's.
    ModeConflict,
    /// A workspace or variable name breaks the naming rules.
    InvalidName,
    /// A mode was unspecified or unknown.
    InvalidMode,
    /// The variable was deleted while the request waited.
    VariableDeleted,
    /// The deadline passed with no value; nothing was consumed.
    TimedOut,
    /// One value is larger than the server's maximum value size.
    TooLarge,
    /// Storing the value would exceed the server's memory limit.
    MemoryLimit,
    /// An iterator was used on a LIFO or MULTI variable.
    IteratorMode,
    /// A field is missing or malformed.
    InvalidArgument,
    /// The request was withdrawn.
    Cancelled,
    /// The server is shutting down.
    ShuttingDown,
    /// The client broke the framing rules; the session ended.
    ProtocolError,
    /// An iterator cursor does not belong to this variable.
    InvalidCursor,
    /// A bug in the server.
    Internal,
    /// A reason number this crate does not know (including 0, which servers
    /// never send).
    Unknown(i32),
}

impl Reason {
    /// Maps the wire number of `nws.v1.Reason`.
    ///
    /// ```
    /// use nws::Reason;
    /// assert_eq!(Reason::from_code(6), Reason::TimedOut);
    /// assert_eq!(Reason::from_code(999), Reason::Unknown(999));
    /// ```
    pub fn from_code(code: i32) -> Reason {
        use pb::Reason as P;
        match P::try_from(code) {
            Ok(P::NoSuchWorkspace) => Reason::NoSuchWorkspace,
            Ok(P::ModeConflict) => Reason::ModeConflict,
            Ok(P::InvalidName) => Reason::InvalidName,
            Ok(P::InvalidMode) => Reason::InvalidMode,
            Ok(P::VariableDeleted) => Reason::VariableDeleted,
            Ok(P::TimedOut) => Reason::TimedOut,
            Ok(P::TooLarge) => Reason::TooLarge,
            Ok(P::MemoryLimit) => Reason::MemoryLimit,
            Ok(P::IteratorMode) => Reason::IteratorMode,
            Ok(P::InvalidArgument) => Reason::InvalidArgument,
            Ok(P::Cancelled) => Reason::Cancelled,
            Ok(P::ShuttingDown) => Reason::ShuttingDown,
            Ok(P::ProtocolError) => Reason::ProtocolError,
            Ok(P::InvalidCursor) => Reason::InvalidCursor,
            Ok(P::Internal) => Reason::Internal,
            Ok(P::Unspecified) | Err(_) => Reason::Unknown(code),
        }
    }

    /// The wire number of this reason.
    ///
    /// ```
    /// use nws::Reason;
    /// assert_eq!(Reason::NoSuchWorkspace.code(), 1);
    /// assert_eq!(Reason::Unknown(77).code(), 77);
    /// ```
    pub fn code(self) -> i32 {
        use pb::Reason as P;
        let p = match self {
            Reason::NoSuchWorkspace => P::NoSuchWorkspace,
            Reason::ModeConflict => P::ModeConflict,
            Reason::InvalidName => P::InvalidName,
            Reason::InvalidMode => P::InvalidMode,
            Reason::VariableDeleted => P::VariableDeleted,
            Reason::TimedOut => P::TimedOut,
            Reason::TooLarge => P::TooLarge,
            Reason::MemoryLimit => P::MemoryLimit,
            Reason::IteratorMode => P::IteratorMode,
            Reason::InvalidArgument => P::InvalidArgument,
            Reason::Cancelled => P::Cancelled,
            Reason::ShuttingDown => P::ShuttingDown,
            Reason::ProtocolError => P::ProtocolError,
            Reason::InvalidCursor => P::InvalidCursor,
            Reason::Internal => P::Internal,
            Reason::Unknown(n) => return n,
        };
        p as i32
    }

    /// The catalog identifier, e.g. `NO_SUCH_WORKSPACE`; `UNKNOWN` for
    /// [`Reason::Unknown`].
    ///
    /// ```
    /// assert_eq!(nws::Reason::ModeConflict.as_str(), "MODE_CONFLICT");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unknown(_) => "UNKNOWN",
            known => pb::Reason::try_from(known.code())
                .map(|p| p.as_str_name())
                .unwrap_or("UNKNOWN"),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Unknown(n) => write!(f, "UNKNOWN({n})"),
            r => f.write_str(r.as_str()),
        }
    }
}

/// A value that could not be encoded or decoded by a serde helper.
///
/// ```
/// # fn demo(err: nws::Error) {
/// if let nws::Error::Codec(e) = err {
///     println!("codec {} failed: {}", e.codec, e.message);
///     let raw: Option<nws::Value> = e.value; // nothing is lost
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct CodecError {
    /// The codec involved: the expected one when encoding, the value's own
    /// (`text`, `raw`, or a blob's codec) when decoding.
    pub codec: String,
    /// What went wrong.
    pub message: String,
    /// The value that could not be decoded, as it was fetched or found;
    /// `None` when encoding failed.
    pub value: Option<Value>,
}

/// Everything that can go wrong in this crate.
///
/// ```no_run
/// # async fn demo(ws: nws::Workspace) {
/// use std::time::Duration;
/// match ws.fetch_timeout("task", Duration::from_millis(10)).await {
///     Ok(v) => println!("{v:?}"),
///     Err(e) if e.reason() == Some(nws::Reason::TimedOut) => println!("no task yet"),
///     Err(e) => eprintln!("{e}"),
/// }
/// # }
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the operation with a stable reason.
    #[error("{reason}: {message}")]
    Server {
        /// The stable reason; branch on this.
        reason: Reason,
        /// A human-readable explanation; never parse it.
        message: String,
    },
    /// The connection could not be made or broke.
    #[error("transport error: {}", chain(.0.as_ref()))]
    Transport(Arc<dyn std::error::Error + Send + Sync>),
    /// The session has ended (closed by this client, or the stream ended).
    #[error("the NWS session is closed")]
    Closed,
    /// The server address could not be parsed.
    #[error("invalid server address {0:?} (expected host:port or http://host:port)")]
    InvalidAddress(String),
    /// A serde helper could not encode or decode a value.
    #[error("codec {}: {}", .0.codec, .0.message)]
    Codec(Box<CodecError>),
    /// The server sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// An error and its sources, `: `-separated, skipping repeats (tonic's
/// transport error displays only "transport error"; the cause is below).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !text.is_empty() && parts.last() != Some(&text) && text != "transport error" {
            parts.push(text);
        }
        next = err.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

impl Error {
    /// The stable reason of a server-side failure; `None` for local and
    /// transport errors.
    ///
    /// ```
    /// let e = nws::Error::Server { reason: nws::Reason::TimedOut, message: String::new() };
    /// assert_eq!(e.reason(), Some(nws::Reason::TimedOut));
    /// assert_eq!(nws::Error::Closed.reason(), None);
    /// ```
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Error::Server { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    pub(crate) fn from_wire(e: pb::Error) -> Error {
        Error::Server {
            reason: Reason::from_code(e.reason),
            message: e.message,
        }
    }

    pub(crate) fn transport(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Transport(Arc::new(e))
    }

    /// Maps the gRPC status that ended a session: its details hold an
    /// encoded `nws.v1.Error` when the server ended the stream on purpose.
    pub(crate) fn from_status(status: tonic::Status) -> Error {
        match pb::Error::decode(status.details()) {
            Ok(e) if !status.details().is_empty() && e.reason != 0 => Error::from_wire(e),
            _ => Error::transport(status),
        }
    }

    pub(crate) fn codec(
        codec: impl Into<String>,
        message: impl Into<String>,
        value: Option<Value>,
    ) -> Error {
        Error::Codec(Box::new(CodecError {
            codec: codec.into(),
            message: message.into(),
            value,
        }))
    }

    pub(crate) fn unexpected(what: &str) -> Error {
        Error::Protocol(format!("unexpected reply to {what}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_reason_maps_to_itself() {
        for code in 1..=15 {
            let r = Reason::from_code(code);
            assert!(!matches!(r, Reason::Unknown(_)), "code {code} unmapped");
            assert_eq!(r.code(), code);
            assert_ne!(r.as_str(), "UNKNOWN");
        }
    }

    #[test]
    fn unspecified_and_unknown_reasons_map_to_unknown() {
        assert_eq!(Reason::from_code(0), Reason::Unknown(0));
        assert_eq!(Reason::from_code(-3), Reason::Unknown(-3));
        assert_eq!(Reason::from_code(1000).to_string(), "UNKNOWN(1000)");
    }

    #[test]
    fn reason_names_match_the_proto_catalog() {
        assert_eq!(Reason::NoSuchWorkspace.as_str(), "NO_SUCH_WORKSPACE");
        assert_eq!(Reason::InvalidCursor.as_str(), "INVALID_CURSOR");
        assert_eq!(Reason::Internal.to_string(), "INTERNAL");
    }

    #[test]
    fn status_details_holding_an_nws_error_become_a_server_error() {
        let detail = pb::Error {
            reason: pb::Reason::ShuttingDown as i32,
            message: "bye".into(),
        };
        let status = tonic::Status::with_details(
            tonic::Code::Unavailable,
            "shutting down",
            detail.encode_to_vec().into(),
        );
        assert_eq!(
            Error::from_status(status).reason(),
            Some(Reason::ShuttingDown)
        );
    }

    #[test]
    fn status_without_details_is_a_transport_error() {
        let e = Error::from_status(tonic::Status::unavailable("gone"));
        assert!(matches!(e, Error::Transport(_)));
        assert_eq!(e.reason(), None);
    }
}
