//! Server configuration: limits and network tuning (`spec/limits.md#limits`).

use std::time::Duration;

/// Resource limits enforced by the store.
///
/// ```
/// let limits = nws_server::Limits::default();
/// assert!(limits.max_value_size <= limits.max_memory);
/// ```
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest single value in bytes (TOO_LARGE beyond it).
    pub max_value_size: u64,
    /// Most bytes held in values, leases and uploads at once (MEMORY_LIMIT beyond it).
    pub max_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_value_size: 2 << 30,
            max_memory: 8 << 30,
        }
    }
}

/// Everything [`crate::run`] needs besides the listener.
///
/// ```
/// let config = nws_server::Config::default();
/// assert_eq!(config.chunk_size, 1 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Resource limits.
    pub limits: Limits,
    /// Size of the chunks the server sends large values in.
    pub chunk_size: usize,
    /// Largest chunk the server accepts from clients.
    pub max_chunk_size: usize,
    /// HTTP/2 keepalive ping interval (detects network loss).
    pub keepalive_interval: Duration,
    /// How long an unanswered keepalive ping may wait before the session ends.
    pub keepalive_timeout: Duration,
    /// Most requests one session may have waiting at once (each costs a
    /// task and a waiter entry); beyond it a request fails with MEMORY_LIMIT.
    pub max_waiting_per_session: usize,
    /// Also speak the original NWS protocol on the gRPC port, told apart
    /// by each connection's first byte (`spec/legacy.md#port`).
    pub legacy: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            chunk_size: 1 << 20,
            max_chunk_size: 4 << 20,
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(1),
            max_waiting_per_session: 65_536,
            legacy: true,
        }
    }
}
