//! [`Failure`]: everything a call can end with instead of a result, and its
//! R form.
//!
//! Failures are *returned* to R, never thrown from Rust: a call answers an
//! object of class `nws_failure` (fields `reason`, `message`), and the R
//! layer (`R/conditions.R`) turns it into a condition of class
//! `nws_error_<reason in lower case>` raised from the user's call, or
//! re-raises a user interrupt. No R error ever jumps over a Rust frame.

use extendr_api::prelude::*;

/// Why a call did not produce its result.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An error of the Rust client (server reasons, transport, ...).
    Nws(nws::Error),
    /// The user interrupted a wait; the request was withdrawn.
    Interrupted,
    /// A client-side failure with a reason of this binding (`CONNECT`,
    /// `DISCONNECTED`, `INVALID_ARGUMENT`, `INTERNAL`).
    Local {
        /// Upper-case reason, as in the catalog.
        reason: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl From<nws::Error> for Failure {
    fn from(e: nws::Error) -> Self {
        Failure::Nws(e)
    }
}

impl Failure {
    pub(crate) fn internal(message: impl Into<String>) -> Failure {
        Failure::Local {
            reason: "INTERNAL",
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Failure {
        Failure::Local {
            reason: "INVALID_ARGUMENT",
            message: message.into(),
        }
    }

    pub(crate) fn closed() -> Failure {
        Failure::Local {
            reason: "DISCONNECTED",
            message: "the NWS session is closed (nwsClose was called)".into(),
        }
    }

    /// A connection attempt failed: anything but a server's reply is
    /// reported as `CONNECT`.
    pub(crate) fn connect(addr: &str, e: Failure) -> Failure {
        match e {
            Failure::Nws(nws::Error::Server { .. }) | Failure::Interrupted => e,
            other => Failure::Local {
                reason: "CONNECT",
                message: format!(
                    "cannot connect to the NWS server at {addr}: {}",
                    other.message()
                ),
            },
        }
    }

    /// The catalog name of the reason (`TIMED_OUT`, ...) or of a
    /// client-side reason (`DISCONNECTED`, `INTERRUPTED`, ...).
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Failure::Interrupted => "INTERRUPTED",
            Failure::Local { reason, .. } => reason,
            Failure::Nws(e) => match e {
                nws::Error::Server { reason, .. } => match reason {
                    // A reason this client does not know is INTERNAL.
                    nws::Reason::Unknown(_) => "INTERNAL",
                    r => r.as_str(),
                },
                nws::Error::Transport(_) | nws::Error::Closed => "DISCONNECTED",
                nws::Error::InvalidAddress(_) => "CONNECT",
                nws::Error::Codec(_) => "DECODE",
                nws::Error::Protocol(_) => "PROTOCOL_ERROR",
                _ => "INTERNAL",
            },
        }
    }

    /// A human-readable message.
    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Interrupted => "interrupted".into(),
            Failure::Local { message, .. } => message.clone(),
            Failure::Nws(nws::Error::Server { message, .. }) => message.clone(),
            Failure::Nws(e) => e.to_string(),
        }
    }

    /// The R form: `list(reason =, message =)` of class `nws_failure`.
    pub(crate) fn into_robj(self) -> Robj {
        let mut l: Robj = List::from_names_and_values(
            ["reason", "message"],
            [Robj::from(self.reason()), Robj::from(self.message())],
        )
        .map(Robj::from)
        .unwrap_or_else(|_| Robj::from(()));
        let _ = l.set_class(["nws_failure"]);
        l
    }
}

/// Converts a call's outcome to what the R layer receives.
pub(crate) fn answer(r: Result<Robj, Failure>) -> Robj {
    r.unwrap_or_else(Failure::into_robj)
}
