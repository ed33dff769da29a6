//! Naming rules for workspaces and variables (`spec/names.md#names`).

use crate::Error;

/// Longest allowed name, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// Checks a workspace or variable name: 1 to 1024 bytes of UTF-8 with no
/// control characters. `what` is "workspace" or "variable", for the message.
///
/// ```
/// use nws_server::names::check_name;
/// assert!(check_name("workspace", "tickets").is_ok());
/// assert!(check_name("variable", "").is_err());
/// assert!(check_name("variable", "a\nb").is_err());
/// assert!(check_name("variable", "größe").is_ok());
/// ```
pub fn check_name(what: &'static str, name: &str) -> Result<(), Error> {
    let invalid = |why: String| Err(Error::InvalidName { what, why });
    if name.is_empty() {
        return invalid("empty".into());
    }
    if name.len() > MAX_NAME_BYTES {
        return invalid(format!(
            "{} bytes, at most {MAX_NAME_BYTES} allowed",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return invalid(format!("control character U+{:04X}", c as u32));
    }
    Ok(())
}
