//! Domain errors of the store and sessions.
//!
//! Each variant maps to exactly one stable [`Reason`] of the contract
//! (`spec/errors.md`); the message text is for people and never parsed.

use nws_proto::v1::Reason;

/// A failure of one operation. `reason()` gives the stable identifier.
///
/// ```
/// use nws_server::Error;
/// use nws_proto::v1::Reason;
/// let e = Error::NoSuchWorkspace("scratch".into());
/// assert_eq!(e.reason(), Reason::NoSuchWorkspace);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The workspace does not exist (or was deleted while waiting).
    #[error("no workspace named {0:?}")]
    NoSuchWorkspace(String),
    /// declare asked for a mode other than the variable's.
    #[error("variable {variable:?} has mode {existing}, cannot declare it {requested}")]
    ModeConflict {
        /// The variable.
        variable: String,
        /// Its mode.
        existing: &'static str,
        /// The mode asked for.
        requested: &'static str,
    },
    /// A name breaks the naming rules.
    #[error("invalid {what} name: {why}")]
    InvalidName {
        /// "workspace" or "variable".
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A mode field was unspecified or unknown.
    #[error("invalid mode {0}: expected FIFO, LIFO, MULTI or SINGLE")]
    InvalidMode(i32),
    /// The variable was deleted while the request waited.
    #[error("variable {0:?} was deleted")]
    VariableDeleted(String),
    /// The deadline passed; nothing was consumed.
    #[error("timed out after {0} ms waiting for {1:?}")]
    TimedOut(u64, String),
    /// A value is bigger than the configured maximum.
    #[error("value of {size} bytes exceeds the maximum value size of {max} bytes")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Storing would exceed the memory limit.
    #[error("storing {size} bytes would exceed the memory limit ({used} of {max} bytes in use)")]
    MemoryLimit {
        /// The value's size.
        size: u64,
        /// Bytes in use.
        used: u64,
        /// The limit.
        max: u64,
    },
    /// A session has as many requests waiting as the server allows.
    #[error("{waiting} requests of this session are already waiting (at most {max})")]
    TooManyWaiting {
        /// Requests waiting now.
        waiting: u64,
        /// The limit.
        max: u64,
    },
    /// Iterators work on FIFO and SINGLE variables only.
    #[error("variable {0:?} is {1}: iterators need FIFO or SINGLE")]
    IteratorMode(String, &'static str),
    /// A field is missing or malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Withdrawn by the client.
    #[error("request cancelled")]
    Cancelled,
    /// The server is shutting down.
    #[error("server is shutting down")]
    ShuttingDown,
    /// The client broke the framing rules; the stream ends.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The cursor does not fit the variable.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable reason identifier for this error.
    ///
    /// ```
    /// use nws_server::Error;
    /// use nws_proto::v1::Reason;
    /// assert_eq!(Error::Cancelled.reason(), Reason::Cancelled);
    /// ```
    pub fn reason(&self) -> Reason {
        match self {
            Error::NoSuchWorkspace(_) => Reason::NoSuchWorkspace,
            Error::ModeConflict { .. } => Reason::ModeConflict,
            Error::InvalidName { .. } => Reason::InvalidName,
            Error::InvalidMode(_) => Reason::InvalidMode,
            Error::VariableDeleted(_) => Reason::VariableDeleted,
            Error::TimedOut(..) => Reason::TimedOut,
            Error::TooLarge { .. } => Reason::TooLarge,
            Error::MemoryLimit { .. } | Error::TooManyWaiting { .. } => Reason::MemoryLimit,
            Error::IteratorMode(..) => Reason::IteratorMode,
            Error::InvalidArgument(_) => Reason::InvalidArgument,
            Error::Cancelled => Reason::Cancelled,
            Error::ShuttingDown => Reason::ShuttingDown,
            Error::Protocol(_) => Reason::ProtocolError,
            Error::InvalidCursor(_) => Reason::InvalidCursor,
            Error::Internal(_) => Reason::Internal,
        }
    }
}

/// A failure to start or run the server as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The gRPC transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Binding or reading the listener failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
