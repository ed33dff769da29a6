//! Leases: a fetched value belongs to the fetching session until it is
//! acknowledged; given back (or lost with the session), it returns to its
//! variable as if it had never been fetched.

use std::sync::Arc;

use nws_proto::v1 as pb;
use nws_proto::v1::client_message;

use crate::connection::Shared;
use crate::error::Error;

/// The claim on a value obtained by
/// [`Workspace::fetch_leased`](crate::Workspace::fetch_leased).
///
/// Call [`ack`](Lease::ack) once the value is safely used (it is then
/// consumed for good) or [`release`](Lease::release) to give it back.
/// Dropping a lease without either releases it, so a task that fails or
/// panics loses nothing. If the session ends first, the server returns the
/// value on its own.
///
/// ```no_run
/// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
/// let (task, lease) = ws.fetch_leased("tasks").await?;
/// ws.store("results", format!("done: {:?}", task.as_text())).await?;
/// lease.ack()?; // only now is the task gone for good
/// # Ok(()) }
/// ```
#[must_use = "dropping a Lease gives the value back; call ack() to consume it"]
pub struct Lease {
    /// The session that holds the lease; `None` once settled (or for a
    /// value that was never leased), which makes `Drop` a no-op.
    shared: Option<Arc<Shared>>,
    /// The server's lease id (nonzero while `shared` is set).
    id: u64,
}

impl Lease {
    /// A lease on `id` held by `shared`; inert when `id` is 0 (not leased).
    pub(crate) fn new(shared: &Arc<Shared>, id: u64) -> Lease {
        Lease {
            shared: (id != 0).then(|| Arc::clone(shared)),
            id,
        }
    }

    /// The server's lease id (0 for a value that was not leased).
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let (_value, lease) = ws.fetch_leased("x").await?;
    /// println!("lease {}", lease.id());
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Consumes the value for good.
    ///
    /// Fails with [`Error::Closed`] when the session has already ended, in
    /// which case the server has given the value back to its variable.
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let (_value, lease) = ws.fetch_leased("x").await?;
    /// lease.ack()?;
    /// # Ok(()) }
    /// ```
    pub fn ack(mut self) -> Result<(), Error> {
        match self.shared.take() {
            Some(shared) => shared.send(client_message::Kind::Ack(pb::LeaseAck {
                lease_ids: vec![self.id],
            })),
            None => Ok(()),
        }
    }

    /// Gives the value back to its variable, as if it had never been
    /// fetched (a waiting fetcher gets it first).
    ///
    /// ```no_run
    /// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
    /// let (_value, lease) = ws.fetch_leased("x").await?;
    /// lease.release(); // someone else may take it
    /// # Ok(()) }
    /// ```
    pub fn release(mut self) {
        self.give_back();
    }

    fn give_back(&mut self) {
        if let Some(shared) = self.shared.take() {
            // If the session has ended, the server has already returned it.
            let _ = shared.send(client_message::Kind::Release(pb::LeaseRelease {
                lease_ids: vec![self.id],
            }));
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.give_back();
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id)
            .field("settled", &self.shared.is_none())
            .finish()
    }
}
