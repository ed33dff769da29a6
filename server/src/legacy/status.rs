//! Status codes of legacy replies (`spec/legacy.md#status`).
//!
//! The original clients only test a status for zero, so the codes are for
//! people and logs. Where the original had a code for the situation it is
//! kept (`1` failure or "no value", `100` no such workspace, `2000`
//! internal); situations the original could not report get `1000 +` the
//! number of our `nws.v1.Reason`.
//!
//! ```
//! use nws_server::Error;
//! use nws_server::legacy::status::status_of;
//! assert_eq!(status_of(&Error::NoSuchWorkspace("w".into())), 100);
//! assert_eq!(status_of(&Error::TooLarge { size: 2, max: 1 }), 1007);
//! assert_eq!(status_of(&Error::VariableDeleted("x".into())), 1);
//! ```

use crate::Error;

/// Success.
pub const OK: u16 = 0;
/// A failure the original reported with 1, and "no value available".
pub const FAILED: u16 = 1;
/// The workspace does not exist (the original's 100).
pub const NO_SUCH_WORKSPACE: u16 = 100;
/// A server bug (the original's 2000).
pub const INTERNAL: u16 = 2000;

/// The status a legacy client reads for `e`.
pub fn status_of(e: &Error) -> u16 {
    match e {
        Error::NoSuchWorkspace(_) => NO_SUCH_WORKSPACE,
        Error::Internal(_) => INTERNAL,
        Error::TooLarge { .. }
        | Error::MemoryLimit { .. }
        | Error::TooManyWaiting { .. }
        | Error::IteratorMode(..)
        | Error::ShuttingDown => 1000 + e.reason() as u16,
        _ => FAILED,
    }
}
