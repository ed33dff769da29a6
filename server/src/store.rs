//! The state model: workspaces, variables, waiters, leases and sessions.
//!
//! Everything lives behind one `std::sync::Mutex` inside an `Arc` (the cheap
//! [`Store`] handle). The lock is never held across an `.await`: every
//! operation takes it, changes state, hands values to waiters through one-shot
//! channels (a send never blocks) and returns. Blocked callers are explicit
//! waiters, not a broadcast, so a store wakes exactly whom it serves.
//!
//! Semantics follow `spec/operations.md`, `spec/iterators.md`,
//! `spec/leases.md` and `spec/sessions.md`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{Notify, oneshot};

use crate::names::check_name;
use crate::{Error, Limits, Value};

/// Identifies a session for the lifetime of the server.
pub type SessionId = u64;

/// How a variable queues its values (`spec/modes.md#modes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// First in, first out.
    Fifo,
    /// Last in, first out.
    Lifo,
    /// A bag: fetch and find pick uniformly at random.
    Multi,
    /// At most one value; store replaces it.
    Single,
}

impl Mode {
    /// The mode's name as the spec writes it.
    ///
    /// ```
    /// assert_eq!(nws_server::store::Mode::Fifo.name(), "FIFO");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Mode::Fifo => "FIFO",
            Mode::Lifo => "LIFO",
            Mode::Multi => "MULTI",
            Mode::Single => "SINGLE",
        }
    }
}

/// Which iterator a step belongs to (`spec/iterators.md#iterate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IterKind {
    /// Consume; wait when empty.
    IFetch,
    /// Consume; end when empty.
    IFetchTry,
    /// Read without consuming; wait for new values.
    IFind,
    /// Read without consuming; end when nothing unread is left.
    IFindTry,
}

/// Where an iterator stands (`spec/iterators.md#cursor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    /// Generation of the variable walked; 0 before the first step.
    pub generation: u64,
    /// Absolute index of the next value to read.
    pub index: u64,
}

/// What a fetch, find or iterator step produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// A value; `lease` is nonzero when it is leased to the session.
    Value {
        /// The value.
        value: Value,
        /// Lease id (0 = not leased).
        lease: u64,
        /// Iterator position after this value (iterator steps only).
        cursor: Option<Cursor>,
    },
    /// Try found nothing, or an iterator ended.
    Nothing,
}

/// The result of a possibly blocking operation.
pub enum Step {
    /// Answered at once.
    Ready(Delivery),
    /// Must wait: await [`Pending::resolve`].
    Wait(Pending),
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Ready(d) => f.debug_tuple("Ready").field(d).finish(),
            Step::Wait(_) => f.write_str("Wait"),
        }
    }
}

type Outcome = Result<Delivery, Error>;

/// What a waiter waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WaitKind {
    Fetch,
    Find,
    IFetch { generation: u64 },
    IFind { generation: u64, index: u64 },
}

impl WaitKind {
    fn consumes(self) -> bool {
        matches!(self, WaitKind::Fetch | WaitKind::IFetch { .. })
    }
    fn is_iterator(self) -> bool {
        matches!(self, WaitKind::IFetch { .. } | WaitKind::IFind { .. })
    }
}

/// A blocked request, registered on its variable. The receiving half lives in
/// a [`Pending`]; dropping that removes this entry.
struct Waiter {
    id: u64,
    session: SessionId,
    kind: WaitKind,
    /// One-shot: a send never blocks, so it is safe under the lock.
    tx: oneshot::Sender<Outcome>,
}

/// A variable: its mode, queue and waiters.
struct Variable {
    /// `None` for a placeholder that exists only while requests wait on it.
    mode: Option<Mode>,
    /// New each time the variable is created, so iterators over a deleted and
    /// recreated variable end instead of continuing on the new one.
    generation: u64,
    /// The queue; `VecDeque` because FIFO takes from the front and stores at the back.
    values: VecDeque<Value>,
    /// Values removed from the front since creation: makes iterator cursors
    /// absolute indices (value `i` of `values` has index `consumed + i`).
    consumed: u64,
    /// Blocked requests in arrival order (fetchers are served oldest first).
    waiters: VecDeque<Waiter>,
}

impl Variable {
    fn new(mode: Option<Mode>, generation: u64) -> Self {
        Variable {
            mode,
            generation,
            values: VecDeque::new(),
            consumed: 0,
            waiters: VecDeque::new(),
        }
    }
    fn is_disposable_placeholder(&self) -> bool {
        self.mode.is_none() && self.values.is_empty() && self.waiters.is_empty()
    }
}

/// A workspace: its owner and variables (sorted, for listings).
struct Workspace {
    /// The owning session; `None` when unowned (created by use, persistent
    /// after its owner left, or mktemp'd persistent).
    owner: Option<SessionId>,
    /// Owner's label, kept for listings.
    owner_label: String,
    /// Survives its owner's session end.
    persistent: bool,
    vars: BTreeMap<String, Variable>,
}

/// A value fetched but not yet acknowledged (`spec/leases.md`).
struct Lease {
    workspace: String,
    variable: String,
    generation: u64,
    value: Value,
}

/// Per-session state kept by the store.
struct SessionState {
    label: String,
    leases: HashMap<u64, Lease>,
}

struct State {
    workspaces: BTreeMap<String, Workspace>,
    sessions: HashMap<SessionId, SessionState>,
    next_session: u64,
    next_generation: u64,
    next_lease: u64,
    next_waiter: u64,
    next_temp: u64,
    /// Bytes held in values, leases and reservations.
    memory_used: u64,
    shutting_down: bool,
    /// For MULTI's uniform choice.
    rng: SmallRng,
}

struct Shared {
    state: Mutex<State>,
    limits: Limits,
    /// Change notification for watchers (the web UI's live updates); kept
    /// outside the mutex so that waiting for a change never takes the lock.
    changes: ChangeFeed,
}

/// A change counter with wake-ups for whoever waits on it.
///
/// The hot path (every mutation) pays one atomic increment and one atomic
/// load; `Notify::notify_waiters` runs only while a watcher is registered.
#[derive(Default)]
struct ChangeFeed {
    /// Mutations so far (atomic: read without the state lock).
    count: AtomicU64,
    /// Tasks inside [`Store::changed`] (so the hot path can skip the notify).
    watchers: AtomicUsize,
    /// Wakes the watchers.
    notify: Notify,
}

impl ChangeFeed {
    fn bump(&self) {
        // SeqCst pairs with `watch` + the count load in `Store::changed`:
        // either this load sees the watcher, or the watcher's load sees
        // this increment.
        self.count.fetch_add(1, Ordering::SeqCst);
        if self.watchers.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    fn watch(&self) -> WatchGuard<'_> {
        self.watchers.fetch_add(1, Ordering::SeqCst);
        WatchGuard(self)
    }
}

/// Unregisters a watcher on drop (also when its future is cancelled).
struct WatchGuard<'a>(&'a ChangeFeed);

impl Drop for WatchGuard<'_> {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Cheap handle to the whole state; clone it freely.
///
/// ```
/// use nws_server::store::{Store, Mode};
/// use nws_server::{Limits, Value, value::Kind};
/// let store = Store::new(Limits::default());
/// let session = store.open_session("doc".into());
/// store.open_ws(session.id(), "ws", false, false, false).unwrap();
/// let v = Value::new(Kind::Text, String::new(), "hello".into()).unwrap();
/// store.store("ws", "x", v.clone()).unwrap();
/// assert_eq!(store.find_now("ws", "x").unwrap(), Some(v));
/// ```
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

/// Answer to open/mktemp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceOpened {
    /// The workspace name.
    pub name: String,
    /// This call created it.
    pub created: bool,
    /// The caller owns it.
    pub owned: bool,
    /// It is persistent.
    pub persistent: bool,
}

/// A workspace in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceInfo {
    /// Name.
    pub name: String,
    /// Owner label, empty when unowned.
    pub owner: String,
    /// Persistent flag.
    pub persistent: bool,
    /// Number of variables, placeholders included.
    pub variable_count: u64,
    /// The asking session owns it.
    pub mine: bool,
}

/// A variable in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableInfo {
    /// Name.
    pub name: String,
    /// Mode, `None` for a placeholder.
    pub mode: Option<Mode>,
    /// Values held (leased ones not counted).
    pub value_count: u64,
    /// Waiting fetch/ifetch requests.
    pub fetchers: u64,
    /// Waiting find/ifind requests.
    pub finders: u64,
}

/// What a variable holds, read without consuming ([`Store::peek_values`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ValuesView {
    /// The variable exists (a missing one reads as empty).
    pub exists: bool,
    /// Mode, `None` for a placeholder.
    pub mode: Option<Mode>,
    /// The variable's generation (new each time it is created).
    pub generation: u64,
    /// Values consumed from the front since creation (FIFO and SINGLE):
    /// `values[i]` has the absolute index `first_index + i`.
    pub first_index: u64,
    /// Values held (leased ones not counted).
    pub total: u64,
    /// The first `limit` values in queue order.
    pub values: Vec<Value>,
}

/// Totals for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Workspaces.
    pub workspaces: u64,
    /// Live sessions.
    pub sessions: u64,
    /// Bytes held in values, leases and reservations.
    pub memory_used: u64,
}

impl Store {
    /// An empty store with the given limits.
    pub fn new(limits: Limits) -> Self {
        let state = State {
            workspaces: BTreeMap::new(),
            sessions: HashMap::new(),
            next_session: 1,
            next_generation: 1,
            next_lease: 1,
            next_waiter: 1,
            next_temp: 1,
            memory_used: 0,
            shutting_down: false,
            rng: SmallRng::from_os_rng(),
        };
        Store {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                limits,
                changes: ChangeFeed::default(),
            }),
        }
    }

    /// Locks the state to change it: also counts a change for
    /// [`Store::changed`] (after the lock is taken, so a watcher that wakes
    /// and reads sees the state after this change).
    fn lock(&self) -> MutexGuard<'_, State> {
        let guard = self.read();
        self.shared.changes.bump();
        guard
    }

    /// Locks the state to read it (no change is counted).
    fn read(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug; keep serving with the
        // state as it stands rather than wedging every session.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A number that grows whenever the state may have changed: every
    /// mutating operation adds at least one (spurious additions happen, e.g.
    /// a fetchTry that found nothing). For watchers such as the web UI.
    pub fn change_count(&self) -> u64 {
        self.shared.changes.count.load(Ordering::SeqCst)
    }

    /// Waits until [`Store::change_count`] differs from `seen` and returns
    /// the new count. Cheap for the store: a mutation costs one atomic
    /// increment, plus a wake-up only while someone waits here. Callers that
    /// render should coalesce (the web UI waits 100 ms after a change).
    pub async fn changed(&self, seen: u64) -> u64 {
        let feed = &self.shared.changes;
        let _watching = feed.watch();
        loop {
            let notified = feed.notify.notified();
            tokio::pin!(notified);
            // Registered before the count is read: a bump after the read
            // wakes this future (`notify_waiters` wakes enabled futures).
            notified.as_mut().enable();
            let now = feed.count.load(Ordering::SeqCst);
            if now != seen {
                return now;
            }
            notified.await;
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Totals for monitoring.
    pub fn stats(&self) -> Stats {
        let st = self.read();
        Stats {
            workspaces: st.workspaces.len() as u64,
            sessions: st.sessions.len() as u64,
            memory_used: st.memory_used,
        }
    }

    // ----- sessions -----------------------------------------------------

    /// Starts a session; dropping the handle ends it (`spec/sessions.md#session-end`).
    pub fn open_session(&self, label: String) -> SessionHandle {
        let mut st = self.lock();
        let id = st.next_session;
        st.next_session += 1;
        st.sessions.insert(
            id,
            SessionState {
                label,
                leases: HashMap::new(),
            },
        );
        SessionHandle {
            store: self.clone(),
            id,
        }
    }

    /// Replaces a session's label (from `Hello.client`).
    pub fn set_session_label(&self, session: SessionId, label: String) {
        let mut st = self.lock();
        if let Some(s) = st.sessions.get_mut(&session) {
            s.label = label.clone();
        }
        for ws in st.workspaces.values_mut() {
            if ws.owner == Some(session) {
                ws.owner_label = label.clone();
            }
        }
    }

    fn end_session(&self, session: SessionId) {
        let mut st = self.lock();
        let Some(state) = st.sessions.remove(&session) else {
            return;
        };
        // Waiters of this session are skipped (and dropped) lazily wherever
        // they stand: `sessions` no longer holds the id.
        // 1. Leases return first, oldest first (so a FIFO gets its values
        //    back in a deterministic order, and another session waiting on a
        //    variable of a workspace about to go still receives its value).
        let mut leases: Vec<(u64, Lease)> = state.leases.into_iter().collect();
        leases.sort_unstable_by_key(|(id, _)| *id);
        for (_, lease) in leases {
            st.return_lease(lease);
        }
        // 2. Then ownership: non-persistent workspaces go, persistent ones
        //    become unowned.
        let owned: Vec<String> = st
            .workspaces
            .iter()
            .filter(|(_, ws)| ws.owner == Some(session))
            .map(|(name, _)| name.clone())
            .collect();
        for name in owned {
            let persistent = st.workspaces.get(&name).is_some_and(|ws| ws.persistent);
            if persistent {
                if let Some(ws) = st.workspaces.get_mut(&name) {
                    ws.owner = None;
                    ws.owner_label.clear();
                }
            } else {
                st.delete_ws_locked(&name);
            }
        }
        drop_dead_waiters(&mut st);
    }

    /// Wakes every waiter with SHUTTING_DOWN and refuses new waits.
    pub fn shutdown(&self) {
        let mut st = self.lock();
        st.shutting_down = true;
        for ws in st.workspaces.values_mut() {
            for var in ws.vars.values_mut() {
                for w in var.waiters.drain(..) {
                    let _ = w.tx.send(Err(Error::ShuttingDown));
                }
            }
            ws.vars.retain(|_, v| !v.is_disposable_placeholder());
        }
    }

    // ----- workspaces ---------------------------------------------------

    /// openWs (`use_only = false`) or useWs (`true`) (`spec/workspaces.md#open`).
    pub fn open_ws(
        &self,
        session: SessionId,
        name: &str,
        use_only: bool,
        must_exist: bool,
        persistent: bool,
    ) -> Result<WorkspaceOpened, Error> {
        check_name("workspace", name)?;
        let mut st = self.lock();
        let label = st
            .sessions
            .get(&session)
            .map(|s| s.label.clone())
            .unwrap_or_default();
        let created = !st.workspaces.contains_key(name);
        if created {
            if must_exist {
                return Err(Error::NoSuchWorkspace(name.to_string()));
            }
            st.workspaces.insert(
                name.to_string(),
                Workspace {
                    owner: None,
                    owner_label: String::new(),
                    persistent,
                    vars: BTreeMap::new(),
                },
            );
        }
        let ws = st
            .workspaces
            .get_mut(name)
            .ok_or_else(|| Error::Internal("workspace vanished".into()))?;
        if !use_only && ws.owner.is_none() {
            ws.owner = Some(session);
            ws.owner_label = label;
            ws.persistent = persistent;
        }
        Ok(WorkspaceOpened {
            name: name.to_string(),
            created,
            owned: ws.owner == Some(session),
            persistent: ws.persistent,
        })
    }

    /// mktempWs (`spec/workspaces.md#mktempws`).
    pub fn mktemp_ws(
        &self,
        session: SessionId,
        template: &str,
        persistent: bool,
    ) -> Result<WorkspaceOpened, Error> {
        let template = if template.is_empty() {
            "__ws__%d"
        } else {
            template
        };
        let mut st = self.lock();
        let label = st
            .sessions
            .get(&session)
            .map(|s| s.label.clone())
            .unwrap_or_default();
        loop {
            let n = st.next_temp;
            st.next_temp += 1;
            let name = fill_template(template, n);
            check_name("workspace", &name)?;
            if st.workspaces.contains_key(&name) {
                continue;
            }
            let (owner, owner_label) = if persistent {
                (None, String::new())
            } else {
                (Some(session), label)
            };
            st.workspaces.insert(
                name.clone(),
                Workspace {
                    owner,
                    owner_label,
                    persistent,
                    vars: BTreeMap::new(),
                },
            );
            return Ok(WorkspaceOpened {
                name,
                created: true,
                owned: !persistent,
                persistent,
            });
        }
    }

    /// deleteWs (`spec/workspaces.md#deletews`).
    pub fn delete_ws(&self, name: &str) -> Result<(), Error> {
        check_name("workspace", name)?;
        let mut st = self.lock();
        if st.delete_ws_locked(name) {
            Ok(())
        } else {
            Err(Error::NoSuchWorkspace(name.to_string()))
        }
    }

    /// listWss (`spec/workspaces.md#listwss`), sorted by name.
    pub fn list_wss(&self, session: SessionId) -> Vec<WorkspaceInfo> {
        let st = self.read();
        st.workspaces
            .iter()
            .map(|(name, ws)| WorkspaceInfo {
                name: name.clone(),
                owner: ws.owner_label.clone(),
                persistent: ws.persistent,
                variable_count: ws.vars.len() as u64,
                mine: ws.owner == Some(session),
            })
            .collect()
    }

    // ----- variables ----------------------------------------------------

    /// declare (`spec/operations.md#declare`).
    pub fn declare(&self, ws: &str, var: &str, mode: Mode) -> Result<(), Error> {
        check_names(ws, var)?;
        let mut st = self.lock();
        let generation = st.next_generation;
        let w = st
            .workspaces
            .get_mut(ws)
            .ok_or_else(|| Error::NoSuchWorkspace(ws.to_string()))?;
        match w.vars.get_mut(var) {
            None => {
                w.vars
                    .insert(var.to_string(), Variable::new(Some(mode), generation));
                st.next_generation += 1;
            }
            Some(v) => match v.mode {
                None => {
                    v.mode = Some(mode);
                    if matches!(mode, Mode::Lifo | Mode::Multi) {
                        // Iterator steps waiting on the placeholder cannot
                        // walk a LIFO or MULTI variable.
                        let (iters, rest): (VecDeque<Waiter>, VecDeque<Waiter>) =
                            v.waiters.drain(..).partition(|w| w.kind.is_iterator());
                        v.waiters = rest;
                        for w in iters {
                            let _ =
                                w.tx.send(Err(Error::IteratorMode(var.to_string(), mode.name())));
                        }
                    }
                }
                Some(m) if m == mode => {}
                Some(m) => {
                    return Err(Error::ModeConflict {
                        variable: var.to_string(),
                        existing: m.name(),
                        requested: mode.name(),
                    });
                }
            },
        }
        Ok(())
    }

    /// Reserves `size` bytes for a value about to be stored (checks the
    /// value-size and memory limits before any bytes arrive).
    pub fn reserve(&self, size: u64) -> Result<Reservation, Error> {
        let limits = &self.shared.limits;
        if size > limits.max_value_size {
            return Err(Error::TooLarge {
                size,
                max: limits.max_value_size,
            });
        }
        let mut st = self.lock();
        if st.memory_used.saturating_add(size) > limits.max_memory {
            return Err(Error::MemoryLimit {
                size,
                used: st.memory_used,
                max: limits.max_memory,
            });
        }
        st.memory_used += size;
        Ok(Reservation {
            store: self.clone(),
            size,
        })
    }

    /// Whether a workspace exists (checked when a chunked store begins).
    pub fn workspace_exists(&self, ws: &str) -> bool {
        self.read().workspaces.contains_key(ws)
    }

    /// store with its own reservation (`spec/operations.md#store`).
    pub fn store(&self, ws: &str, var: &str, value: Value) -> Result<(), Error> {
        let reservation = self.reserve(value.len())?;
        self.store_reserved(ws, var, value, reservation)
    }

    /// store of a value whose bytes were reserved with [`Store::reserve`].
    pub fn store_reserved(
        &self,
        ws: &str,
        var: &str,
        value: Value,
        reservation: Reservation,
    ) -> Result<(), Error> {
        check_names(ws, var)?;
        let mut st = self.lock();
        if !st.workspaces.contains_key(ws) {
            return Err(Error::NoSuchWorkspace(ws.to_string()));
        }
        // From here on the bytes belong to the store's accounting.
        let mut reservation = reservation;
        reservation.size = value.len().min(reservation.size);
        let extra = reservation.size;
        std::mem::forget(reservation);
        if extra < value.len() {
            st.memory_used += value.len() - extra;
        }
        st.deliver_new(ws, var, value);
        Ok(())
    }

    /// fetch / fetchTry (`spec/operations.md#fetch`). The value is leased to
    /// `session`; the caller acks it (at once for `no_lease`).
    pub fn fetch(
        &self,
        session: SessionId,
        ws: &str,
        var: &str,
        try_only: bool,
    ) -> Result<Step, Error> {
        self.take_or_wait(session, ws, var, try_only, WaitKind::Fetch)
    }

    /// find / findTry (`spec/operations.md#find`).
    pub fn find(
        &self,
        session: SessionId,
        ws: &str,
        var: &str,
        try_only: bool,
    ) -> Result<Step, Error> {
        self.take_or_wait(session, ws, var, try_only, WaitKind::Find)
    }

    /// findTry without a session, for tests and the web UI.
    pub fn find_now(&self, ws: &str, var: &str) -> Result<Option<Value>, Error> {
        match self.find(0, ws, var, true)? {
            Step::Ready(Delivery::Value { value, .. }) => Ok(Some(value)),
            _ => Ok(None),
        }
    }

    fn take_or_wait(
        &self,
        session: SessionId,
        ws: &str,
        var: &str,
        try_only: bool,
        kind: WaitKind,
    ) -> Result<Step, Error> {
        check_names(ws, var)?;
        let mut st = self.lock();
        let st = &mut *st;
        let w = st
            .workspaces
            .get_mut(ws)
            .ok_or_else(|| Error::NoSuchWorkspace(ws.to_string()))?;
        if let Some(v) = w.vars.get_mut(var) {
            if let Some(mode) = v.mode {
                if !v.values.is_empty() {
                    let value = if kind.consumes() {
                        take(v, mode, &mut st.rng)
                    } else {
                        peek(v, mode, &mut st.rng)
                    };
                    let Some(value) = value else {
                        return Err(Error::Internal("empty queue".into()));
                    };
                    let lease = if kind.consumes() {
                        let generation = v.generation;
                        st.new_lease(session, ws, var, generation, value.clone())
                    } else {
                        0
                    };
                    return Ok(Step::Ready(Delivery::Value {
                        value,
                        lease,
                        cursor: None,
                    }));
                }
            }
        }
        if try_only {
            return Ok(Step::Ready(Delivery::Nothing));
        }
        Ok(Step::Wait(self.register(st, session, ws, var, kind)?))
    }

    /// One iterator step (`spec/iterators.md#iterate`).
    pub fn iterate(
        &self,
        session: SessionId,
        ws: &str,
        var: &str,
        kind: IterKind,
        cursor: Cursor,
    ) -> Result<Step, Error> {
        check_names(ws, var)?;
        let mut st = self.lock();
        let st = &mut *st;
        let Some(w) = st.workspaces.get_mut(ws) else {
            return if cursor.generation == 0 {
                Err(Error::NoSuchWorkspace(ws.to_string()))
            } else {
                Ok(Step::Ready(Delivery::Nothing))
            };
        };
        let blocking = matches!(kind, IterKind::IFetch | IterKind::IFind);
        let consuming = matches!(kind, IterKind::IFetch | IterKind::IFetchTry);
        let Some(v) = w.vars.get_mut(var) else {
            if cursor.generation != 0 || !blocking {
                return Ok(Step::Ready(Delivery::Nothing));
            }
            let wait = if consuming {
                WaitKind::IFetch { generation: 0 }
            } else {
                WaitKind::IFind {
                    generation: 0,
                    index: 0,
                }
            };
            return Ok(Step::Wait(self.register(st, session, ws, var, wait)?));
        };
        if let Some(m @ (Mode::Lifo | Mode::Multi)) = v.mode {
            return Err(Error::IteratorMode(var.to_string(), m.name()));
        }
        if cursor.generation != 0 && cursor.generation != v.generation {
            return Ok(Step::Ready(Delivery::Nothing));
        }
        let end = v.consumed + v.values.len() as u64;
        if cursor.generation != 0 && cursor.index > end {
            return Err(Error::InvalidCursor(format!(
                "index {} is beyond the {} values variable {var:?} has held",
                cursor.index, end
            )));
        }
        let generation = v.generation;
        if consuming {
            if let Some(mode) = v.mode {
                if let Some(value) = take(v, mode, &mut st.rng) {
                    let next = Cursor {
                        generation,
                        index: v.consumed,
                    };
                    let lease = st.new_lease(session, ws, var, generation, value.clone());
                    return Ok(Step::Ready(Delivery::Value {
                        value,
                        lease,
                        cursor: Some(next),
                    }));
                }
            }
            if !blocking {
                return Ok(Step::Ready(Delivery::Nothing));
            }
            return Ok(Step::Wait(self.register(
                st,
                session,
                ws,
                var,
                WaitKind::IFetch { generation },
            )?));
        }
        let index = cursor.index.max(v.consumed);
        if index < end {
            let value = v.values[(index - v.consumed) as usize].clone();
            let next = Cursor {
                generation,
                index: index + 1,
            };
            return Ok(Step::Ready(Delivery::Value {
                value,
                lease: 0,
                cursor: Some(next),
            }));
        }
        if !blocking {
            return Ok(Step::Ready(Delivery::Nothing));
        }
        Ok(Step::Wait(self.register(
            st,
            session,
            ws,
            var,
            WaitKind::IFind { generation, index },
        )?))
    }

    fn register(
        &self,
        st: &mut State,
        session: SessionId,
        ws: &str,
        var: &str,
        kind: WaitKind,
    ) -> Result<Pending, Error> {
        if st.shutting_down {
            return Err(Error::ShuttingDown);
        }
        let id = st.next_waiter;
        st.next_waiter += 1;
        let generation = st.next_generation;
        let w = st
            .workspaces
            .get_mut(ws)
            .ok_or_else(|| Error::NoSuchWorkspace(ws.to_string()))?;
        let v = w.vars.entry(var.to_string()).or_insert_with(|| {
            st.next_generation += 1;
            Variable::new(None, generation)
        });
        // Bind a first iterator step to the variable it now waits on.
        let kind = match kind {
            WaitKind::IFetch { generation: 0 } => WaitKind::IFetch {
                generation: v.generation,
            },
            WaitKind::IFind {
                generation: 0,
                index,
            } => WaitKind::IFind {
                generation: v.generation,
                index,
            },
            k => k,
        };
        let (tx, rx) = oneshot::channel();
        v.waiters.push_back(Waiter {
            id,
            session,
            kind,
            tx,
        });
        Ok(Pending {
            store: self.clone(),
            session,
            workspace: ws.to_string(),
            variable: var.to_string(),
            waiter: id,
            rx: Some(rx),
        })
    }

    /// deleteVar (`spec/operations.md#deletevar`); idempotent.
    pub fn delete_var(&self, ws: &str, var: &str) -> Result<(), Error> {
        check_names(ws, var)?;
        let mut st = self.lock();
        let w = st
            .workspaces
            .get_mut(ws)
            .ok_or_else(|| Error::NoSuchWorkspace(ws.to_string()))?;
        if let Some(v) = w.vars.remove(var) {
            let freed: u64 = v.values.iter().map(Value::len).sum();
            for waiter in v.waiters {
                let outcome = if waiter.kind.is_iterator() {
                    Ok(Delivery::Nothing)
                } else {
                    Err(Error::VariableDeleted(var.to_string()))
                };
                let _ = waiter.tx.send(outcome);
            }
            st.free(freed);
        }
        Ok(())
    }

    /// listVars (`spec/operations.md#listvars`), sorted by name.
    pub fn list_vars(&self, ws: &str) -> Result<Vec<VariableInfo>, Error> {
        check_name("workspace", ws)?;
        let st = self.read();
        let w = st
            .workspaces
            .get(ws)
            .ok_or_else(|| Error::NoSuchWorkspace(ws.to_string()))?;
        Ok(w.vars
            .iter()
            .map(|(name, v)| {
                let live = v
                    .waiters
                    .iter()
                    .filter(|w| st.sessions.contains_key(&w.session) || w.session == 0);
                let fetchers = live.clone().filter(|w| w.kind.consumes()).count() as u64;
                let finders = live.filter(|w| !w.kind.consumes()).count() as u64;
                VariableInfo {
                    name: name.clone(),
                    mode: v.mode,
                    value_count: v.values.len() as u64,
                    fetchers,
                    finders,
                }
            })
            .collect())
    }

    /// One workspace's listing entry, if it exists (for the web UI).
    pub fn workspace_info(&self, ws: &str) -> Option<WorkspaceInfo> {
        let st = self.read();
        st.workspaces.get(ws).map(|w| WorkspaceInfo {
            name: ws.to_string(),
            owner: w.owner_label.clone(),
            persistent: w.persistent,
            variable_count: w.vars.len() as u64,
            mine: false,
        })
    }

    /// The values a variable holds, without consuming or leasing any: at
    /// most `limit` of them, in queue order (front first: the next FIFO or
    /// SINGLE fetch takes `values[0]`, the next LIFO fetch the last one).
    /// Leased values are not included. Cheap: values share their buffers.
    ///
    /// ```
    /// use nws_server::store::{Store, Mode};
    /// use nws_server::{Limits, Value, value::Kind};
    /// let store = Store::new(Limits::default());
    /// let session = store.open_session("doc".into());
    /// store.open_ws(session.id(), "ws", false, false, false).unwrap();
    /// for s in ["a", "b", "c"] {
    ///     store.store("ws", "x", Value::new(Kind::Text, String::new(), s.into()).unwrap()).unwrap();
    /// }
    /// let view = store.peek_values("ws", "x", 2).unwrap();
    /// assert_eq!((view.total, view.values.len(), view.mode), (3, 2, Some(Mode::Fifo)));
    /// assert_eq!(store.find_now("ws", "x").unwrap().unwrap().data, "a");
    /// ```
    pub fn peek_values(&self, ws: &str, var: &str, limit: usize) -> Result<ValuesView, Error> {
        check_names(ws, var)?;
        let st = self.read();
        let w = st
            .workspaces
            .get(ws)
            .ok_or_else(|| Error::NoSuchWorkspace(ws.to_string()))?;
        let Some(v) = w.vars.get(var) else {
            return Ok(ValuesView {
                exists: false,
                mode: None,
                generation: 0,
                first_index: 0,
                total: 0,
                values: Vec::new(),
            });
        };
        Ok(ValuesView {
            exists: true,
            mode: v.mode,
            generation: v.generation,
            first_index: v.consumed,
            total: v.values.len() as u64,
            values: v.values.iter().take(limit).cloned().collect(),
        })
    }

    // ----- leases -------------------------------------------------------

    /// Acknowledges leases: their values are consumed for good (`spec/leases.md#ack`).
    pub fn ack(&self, session: SessionId, leases: &[u64]) {
        let mut st = self.lock();
        let mut freed = 0;
        if let Some(s) = st.sessions.get_mut(&session) {
            for id in leases {
                if let Some(lease) = s.leases.remove(id) {
                    freed += lease.value.len();
                }
            }
        }
        st.free(freed);
    }

    /// Gives leased values back (`spec/leases.md#release`).
    pub fn release(&self, session: SessionId, leases: &[u64]) {
        let mut st = self.lock();
        for id in leases {
            let lease = st
                .sessions
                .get_mut(&session)
                .and_then(|s| s.leases.remove(id));
            if let Some(lease) = lease {
                st.return_lease(lease);
            }
        }
    }

    /// Number of leases a session holds (for tests and listings).
    pub fn lease_count(&self, session: SessionId) -> usize {
        self.read()
            .sessions
            .get(&session)
            .map_or(0, |s| s.leases.len())
    }

    fn remove_waiter(&self, ws: &str, var: &str, waiter: u64) -> bool {
        let mut st = self.lock();
        let Some(w) = st.workspaces.get_mut(ws) else {
            return false;
        };
        let Some(v) = w.vars.get_mut(var) else {
            return false;
        };
        let Some(pos) = v.waiters.iter().position(|w| w.id == waiter) else {
            return false;
        };
        v.waiters.remove(pos);
        if v.is_disposable_placeholder() {
            w.vars.remove(var);
        }
        true
    }
}

impl State {
    /// Returns `n` bytes to the memory budget.
    fn free(&mut self, n: u64) {
        debug_assert!(self.memory_used >= n, "memory accounting went negative");
        self.memory_used = self.memory_used.saturating_sub(n);
    }

    fn new_lease(
        &mut self,
        session: SessionId,
        ws: &str,
        var: &str,
        generation: u64,
        value: Value,
    ) -> u64 {
        let id = self.next_lease;
        self.next_lease += 1;
        let lease = Lease {
            workspace: ws.to_string(),
            variable: var.to_string(),
            generation,
            value,
        };
        match self.sessions.get_mut(&session) {
            Some(s) => {
                s.leases.insert(id, lease);
                id
            }
            None => {
                // No live session to hold it (session 0 is the store's own
                // reader): consumed at once.
                self.free(lease.value.len());
                0
            }
        }
    }

    /// Hands a newly stored value to waiters or queues it
    /// (`spec/operations.md#store-delivery`).
    fn deliver_new(&mut self, ws: &str, var: &str, value: Value) {
        let generation = self.next_generation;
        let Some(w) = self.workspaces.get_mut(ws) else {
            return;
        };
        let v = w.vars.entry(var.to_string()).or_insert_with(|| {
            self.next_generation += 1;
            Variable::new(Some(Mode::Fifo), generation)
        });
        let mode = *v.mode.get_or_insert(Mode::Fifo);
        // The absolute index the value takes (`spec/iterators.md#cursor`).
        let index = v.consumed + v.values.len() as u64;
        // 1. every waiting finder gets it (shared buffer), 2. the oldest
        // live fetcher consumes it, 3. else it is queued by mode.
        serve_finders(v, &self.sessions, &value, Some(index));
        let mut leases = Leases {
            sessions: &mut self.sessions,
            next: &mut self.next_lease,
        };
        let Some(value) = leases.hand_to_fetcher(v, ws, var, value, index + 1) else {
            if matches!(mode, Mode::Fifo | Mode::Single) {
                // Taken at its own index: counted as consumed from the front.
                v.consumed += 1;
            }
            return;
        };
        if mode == Mode::Single {
            if let Some(old) = v.values.pop_front() {
                v.consumed += 1;
                // Field-level borrow: `v` still borrows `self.workspaces`.
                self.memory_used = self.memory_used.saturating_sub(old.len());
            }
        }
        v.values.push_back(value);
    }

    /// Returns a leased value to its variable (`spec/leases.md#return`).
    fn return_lease(&mut self, lease: Lease) {
        let size = lease.value.len();
        let v = self
            .workspaces
            .get_mut(&lease.workspace)
            .and_then(|w| w.vars.get_mut(&lease.variable))
            .filter(|v| v.generation == lease.generation);
        let Some(v) = v else {
            // Deleted (or deleted and recreated) meanwhile: dropped.
            self.memory_used = self.memory_used.saturating_sub(size);
            return;
        };
        let mode = v.mode.unwrap_or(Mode::Fifo);
        if mode == Mode::Single && !v.values.is_empty() {
            // Superseded by a newer store.
            self.memory_used = self.memory_used.saturating_sub(size);
            return;
        }
        // Plain finders waiting on the empty variable see it too; IFIND
        // steps wait at later indices and do not.
        serve_finders(v, &self.sessions, &lease.value, None);
        let mut leases = Leases {
            sessions: &mut self.sessions,
            next: &mut self.next_lease,
        };
        let Some(value) = leases.hand_to_fetcher(
            v,
            &lease.workspace,
            &lease.variable,
            lease.value,
            v.consumed,
        ) else {
            return;
        };
        match mode {
            Mode::Fifo | Mode::Single => {
                v.consumed = v.consumed.saturating_sub(1);
                v.values.push_front(value);
            }
            Mode::Lifo | Mode::Multi => v.values.push_back(value),
        }
    }

    fn delete_ws_locked(&mut self, name: &str) -> bool {
        let Some(ws) = self.workspaces.remove(name) else {
            return false;
        };
        let mut freed = 0;
        for v in ws.vars.into_values() {
            freed += v.values.iter().map(Value::len).sum::<u64>();
            for waiter in v.waiters {
                let outcome = if waiter.kind.is_iterator() {
                    Ok(Delivery::Nothing)
                } else {
                    Err(Error::NoSuchWorkspace(name.to_string()))
                };
                let _ = waiter.tx.send(outcome);
            }
        }
        self.free(freed);
        true
    }
}

/// Whether a waiter's session is still live (session 0 is the store's own reader).
fn is_alive(sessions: &HashMap<SessionId, SessionState>, w: &Waiter) -> bool {
    w.session == 0 || sessions.contains_key(&w.session)
}

/// Answers every waiting finder of `v` with `value`: plain finds always, IFIND
/// steps only when `index` is given and their cursor has not passed it.
/// Waiters of ended sessions are dropped on the way.
fn serve_finders(
    v: &mut Variable,
    sessions: &HashMap<SessionId, SessionState>,
    value: &Value,
    index: Option<u64>,
) {
    let generation = v.generation;
    let mut i = 0;
    while i < v.waiters.len() {
        let wt = &v.waiters[i];
        let cursor = match (wt.kind, index) {
            (WaitKind::Find, _) => Some(None),
            (
                WaitKind::IFind {
                    generation: g,
                    index: at,
                },
                Some(index),
            ) if g == generation && at <= index => Some(Some(Cursor {
                generation: g,
                index: index + 1,
            })),
            _ => None,
        };
        let alive = is_alive(sessions, wt);
        match cursor {
            Some(cursor) => {
                if let Some(wt) = v.waiters.remove(i) {
                    if alive {
                        let _ = wt.tx.send(Ok(Delivery::Value {
                            value: value.clone(),
                            lease: 0,
                            cursor,
                        }));
                    }
                }
            }
            None if !alive => {
                v.waiters.remove(i);
            }
            None => i += 1,
        }
    }
}

/// The session table and the lease counter, borrowed apart from the
/// workspaces so a variable can be changed while a lease is recorded.
struct Leases<'a> {
    sessions: &'a mut HashMap<SessionId, SessionState>,
    next: &'a mut u64,
}

impl Leases<'_> {
    /// Hands `value` to the oldest live waiting fetcher (fetch or IFETCH) of
    /// `v`, leased to its session, with an IFETCH cursor at `next_index`.
    /// Gives the value back when no fetcher takes it.
    fn hand_to_fetcher(
        &mut self,
        v: &mut Variable,
        ws: &str,
        var: &str,
        value: Value,
        next_index: u64,
    ) -> Option<Value> {
        while let Some(pos) = v.waiters.iter().position(|w| w.kind.consumes()) {
            let Some(wt) = v.waiters.remove(pos) else {
                break;
            };
            let Some(session) = self.sessions.get_mut(&wt.session) else {
                continue;
            };
            let cursor = match wt.kind {
                WaitKind::IFetch { generation } => Some(Cursor {
                    generation,
                    index: next_index,
                }),
                _ => None,
            };
            let id = *self.next;
            let delivery = Delivery::Value {
                value: value.clone(),
                lease: id,
                cursor,
            };
            if wt.tx.send(Ok(delivery)).is_ok() {
                *self.next += 1;
                let lease = Lease {
                    workspace: ws.to_string(),
                    variable: var.to_string(),
                    generation: v.generation,
                    value,
                };
                session.leases.insert(id, lease);
                return None;
            }
        }
        Some(value)
    }
}

/// Removes waiters whose session has ended (and placeholders left empty).
fn drop_dead_waiters(st: &mut State) {
    let sessions = &st.sessions;
    for ws in st.workspaces.values_mut() {
        for v in ws.vars.values_mut() {
            v.waiters
                .retain(|w| w.session == 0 || sessions.contains_key(&w.session));
        }
        ws.vars.retain(|_, v| !v.is_disposable_placeholder());
    }
}

fn take(v: &mut Variable, mode: Mode, rng: &mut SmallRng) -> Option<Value> {
    match mode {
        Mode::Fifo | Mode::Single => {
            let value = v.values.pop_front()?;
            v.consumed += 1;
            Some(value)
        }
        Mode::Lifo => v.values.pop_back(),
        Mode::Multi => {
            if v.values.is_empty() {
                return None;
            }
            let i = rng.random_range(0..v.values.len());
            v.values.swap_remove_back(i)
        }
    }
}

fn peek(v: &Variable, mode: Mode, rng: &mut SmallRng) -> Option<Value> {
    match mode {
        Mode::Fifo | Mode::Single => v.values.front().cloned(),
        Mode::Lifo => v.values.back().cloned(),
        Mode::Multi => {
            if v.values.is_empty() {
                return None;
            }
            let i = rng.random_range(0..v.values.len());
            v.values.get(i).cloned()
        }
    }
}

fn check_names(ws: &str, var: &str) -> Result<(), Error> {
    check_name("workspace", ws)?;
    check_name("variable", var)
}

/// Bytes set aside for a value being uploaded; returned on drop unless the
/// value was stored.
pub struct Reservation {
    store: Store,
    size: u64,
}

impl Reservation {
    /// The reserved size.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut st = self.store.lock();
        st.memory_used = st.memory_used.saturating_sub(self.size);
    }
}

/// A session's registration; dropping it ends the session
/// (`spec/sessions.md#session-end`).
pub struct SessionHandle {
    store: Store,
    id: SessionId,
}

impl SessionHandle {
    /// The session id.
    pub fn id(&self) -> SessionId {
        self.id
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        self.store.end_session(self.id);
    }
}

/// A blocked request. Await [`Pending::resolve`]; dropping it withdraws the
/// request, returning any value that was already handed to it.
pub struct Pending {
    store: Store,
    session: SessionId,
    workspace: String,
    variable: String,
    waiter: u64,
    rx: Option<oneshot::Receiver<Outcome>>,
}

impl Pending {
    /// Waits for the outcome, at most `timeout`, or until `cancel` completes.
    /// A value that arrives at the instant of a timeout is delivered rather
    /// than lost; on cancel it is given back.
    pub async fn resolve(
        mut self,
        timeout: Option<Duration>,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<Delivery, Error> {
        let Some(mut rx) = self.rx.take() else {
            return Err(Error::Internal("resolved twice".into()));
        };
        let sleep = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let timed_out = tokio::select! {
            outcome = &mut rx => return outcome.unwrap_or(Err(Error::ShuttingDown)),
            () = sleep => true,
            () = cancel => false,
        };
        let removed = self
            .store
            .remove_waiter(&self.workspace, &self.variable, self.waiter);
        if removed {
            return Err(if timed_out {
                Error::TimedOut(
                    timeout.map_or(0, |t| t.as_millis() as u64),
                    self.variable.clone(),
                )
            } else {
                Error::Cancelled
            });
        }
        // Served under the lock before we could withdraw: the outcome is there.
        let outcome = rx.try_recv().unwrap_or(Err(Error::ShuttingDown));
        if timed_out {
            return outcome;
        }
        if let Ok(Delivery::Value { lease, .. }) = outcome {
            if lease != 0 {
                self.store.release(self.session, &[lease]);
            }
        }
        Err(Error::Cancelled)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            if !self
                .store
                .remove_waiter(&self.workspace, &self.variable, self.waiter)
            {
                if let Ok(Ok(Delivery::Value { lease, .. })) = rx.try_recv() {
                    if lease != 0 {
                        self.store.release(self.session, &[lease]);
                    }
                }
            }
        }
    }
}

/// The name mktempWs makes of `template` with counter value `n`
/// (`spec/workspaces.md#mktempws`): every `%d` becomes `n`, every `%0Nd`
/// (N from 1 to 20) becomes `n` zero-padded to N digits, other `%`
/// sequences stay as written, and a template with no conversion gets `n`
/// appended.
///
/// ```
/// # use nws_server::store::fill_template;
/// assert_eq!(fill_template("job_%d", 7), "job_7");
/// assert_eq!(fill_template("__Rws__%010d", 42), "__Rws__0000000042");
/// assert_eq!(fill_template("%d-%d", 3), "3-3");
/// assert_eq!(fill_template("w%5d_%d", 3), "w%5d_3");
/// assert_eq!(fill_template("plain", 9), "plain9");
/// ```
pub fn fill_template(template: &str, n: u64) -> String {
    let mut out = String::with_capacity(template.len() + 20);
    let mut replaced = false;
    let mut rest = template;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        let width = if digits == 0 {
            Some(0)
        } else {
            zero_pad_width(&tail[..digits])
        };
        match width.filter(|_| tail[digits..].starts_with('d')) {
            Some(w) => {
                out.push_str(&format!("{n:0w$}"));
                replaced = true;
                rest = &tail[digits + 1..];
            }
            None => {
                out.push('%');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    if !replaced {
        out.push_str(&n.to_string());
    }
    out
}

/// The width of a zero-padded conversion's flag and width (`"010"` in
/// `%010d`): `Some(N)` for `0` followed by N from 1 to 20, else `None`. The
/// one rule mktempWs templates follow, in the store and the legacy front end.
///
/// ```
/// # use nws_server::store::zero_pad_width;
/// assert_eq!(zero_pad_width("010"), Some(10));
/// assert_eq!(zero_pad_width("05"), Some(5));
/// assert_eq!(zero_pad_width("5"), None);
/// assert_eq!(zero_pad_width("00"), None);
/// assert_eq!(zero_pad_width("021"), None);
/// ```
pub fn zero_pad_width(spec: &str) -> Option<usize> {
    let width = spec.strip_prefix('0')?;
    if width.is_empty() || !width.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    width.parse().ok().filter(|w| (1..=20).contains(w))
}

#[cfg(test)]
mod tests;
