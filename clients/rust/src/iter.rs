//! Iterators (ifetch, ifetchTry, ifind, ifindTry) as async streams.
//!
//! The server keeps no iterator state: each step is an `Iterate` request
//! carrying the cursor the previous step returned, and the end of the
//! iteration is a `Nothing` reply. An abandoned iterator costs nothing.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use nws_proto::v1 as pb;

use crate::error::Error;
use crate::value::Value;
use crate::workspace::Workspace;

/// The values of one variable, one iterator step at a time
/// ([`Workspace::ifetch`], [`Workspace::ifind`], ...).
///
/// A [`Stream`] of `Result<Value, Error>`; it ends at the end of the
/// iteration and then stays ended. An error (a timeout, a closed session)
/// is yielded as an item without ending it. Dropping it while a step waits
/// withdraws the step (an `ifetch` value already on its way is given back).
///
/// ```no_run
/// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
/// use futures::StreamExt;
/// let mut it = ws.ifind_try("log");
/// while let Some(v) = it.next().await {
///     println!("{:?}", v?);
/// }
/// # Ok(()) }
/// ```
pub struct ValueStream {
    inner: BoxStream<'static, Result<Value, Error>>,
}

impl std::fmt::Debug for ValueStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueStream").finish_non_exhaustive()
    }
}

impl Stream for ValueStream {
    type Item = Result<Value, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

struct State {
    ws: Workspace,
    var: String,
    kind: pb::IterKind,
    cursor: Option<pb::Cursor>,
    /// The session is gone: after yielding that error once, the stream ends
    /// (every further step would fail the same way).
    closed: bool,
}

/// The stream of values of `var` for the iterator `kind`.
///
/// An error is yielded as an item and does not end the stream
/// (`spec/iterators.md#end`): only the server's end of iteration does, or an
/// error that ended the session itself; an ended stream stays ended (fused).
pub(crate) fn values(ws: Workspace, var: &str, kind: pb::IterKind) -> ValueStream {
    let state = State {
        ws,
        var: var.to_owned(),
        kind,
        cursor: None,
        closed: false,
    };
    let inner = futures::stream::unfold(state, |mut st| async move {
        if st.closed {
            return None;
        }
        match st.ws.iterate_step(&st.var, st.kind, st.cursor).await {
            Ok(Some(r)) => {
                if r.cursor.is_some() {
                    st.cursor = r.cursor;
                }
                // ifetch values are leased: acknowledge on receipt, as fetch.
                match r.lease.ack() {
                    Ok(()) => Some((Ok(r.value), st)),
                    Err(e) => {
                        st.closed = is_session_gone(&e);
                        Some((Err(e), st))
                    }
                }
            }
            Ok(None) => None,
            Err(e) => {
                st.closed = is_session_gone(&e);
                Some((Err(e), st))
            }
        }
    });
    ValueStream {
        inner: inner.fuse().boxed(),
    }
}

/// Errors after which no further step can succeed on this session.
fn is_session_gone(e: &Error) -> bool {
    matches!(e, Error::Closed | Error::Transport(_))
        || matches!(
            e.reason(),
            Some(crate::Reason::ShuttingDown | crate::Reason::ProtocolError)
        )
}

/// Which iterator an explicit step ([`Workspace::iterate`]) takes.
///
/// ```
/// assert_ne!(nws::IterKind::Ifind, nws::IterKind::IfindTry);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IterKind {
    /// Consume values one by one; wait when empty; end when deleted.
    Ifetch,
    /// Consume values one by one; end when empty.
    IfetchTry,
    /// Read each value once; wait for new values; end when deleted.
    Ifind,
    /// Read each value once; end when no unread value is left.
    IfindTry,
}

impl IterKind {
    pub(crate) fn to_wire(self) -> pb::IterKind {
        match self {
            IterKind::Ifetch => pb::IterKind::Ifetch,
            IterKind::IfetchTry => pb::IterKind::IfetchTry,
            IterKind::Ifind => pb::IterKind::Ifind,
            IterKind::IfindTry => pb::IterKind::IfindTry,
        }
    }
}

/// Where an iterator stands (opaque): the default is "before the first
/// step"; each step of [`Workspace::iterate`] returns the next one.
///
/// ```
/// let start = nws::Cursor::default();
/// assert_eq!(start, nws::Cursor::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cursor {
    generation: u64,
    index: u64,
}

impl Cursor {
    pub(crate) fn to_wire(self) -> pb::Cursor {
        pb::Cursor {
            generation: self.generation,
            index: self.index,
        }
    }

    pub(crate) fn from_wire(c: pb::Cursor) -> Cursor {
        Cursor {
            generation: c.generation,
            index: c.index,
        }
    }
}
