//! Values as the store holds them (`spec/values.md`).
//!
//! The bytes are a [`Bytes`]: cloning a value for many finders shares one
//! buffer, and slicing it into chunks for sending copies nothing.

use bytes::Bytes;

use crate::Error;

/// How a value's bytes are read; mirrors `nws.v1.ValueKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// Uninterpreted bytes.
    Raw,
    /// Serialized by the codec named in [`Value::codec`].
    Blob,
}

/// One stored value. The server never decodes blobs.
///
/// ```
/// use nws_server::value::{Kind, Value};
/// let v = Value::new(Kind::Text, String::new(), "hi".into()).unwrap();
/// assert_eq!(v.len(), 2);
/// assert!(Value::new(Kind::Blob, String::new(), "x".into()).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// How to read `data`.
    pub kind: Kind,
    /// The serializer for blobs (`python/pickle`, ...); empty otherwise.
    pub codec: String,
    /// The bytes, shared between every holder of the value.
    pub data: Bytes,
}

/// Longest codec tag.
pub const MAX_CODEC_LEN: usize = 64;

impl Value {
    /// Builds a value after checking the kind/codec rules and UTF-8 for text.
    pub fn new(kind: Kind, codec: String, data: Bytes) -> Result<Value, Error> {
        check_header(kind, &codec)?;
        if kind == Kind::Text && std::str::from_utf8(&data).is_err() {
            return Err(Error::InvalidArgument(
                "value.data: TEXT value is not valid UTF-8".into(),
            ));
        }
        Ok(Value { kind, codec, data })
    }

    /// Size in bytes (what counts against the limits).
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Whether the value has no bytes.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Checks the codec rule: BLOB needs 1..=64 printable ASCII, TEXT/RAW none.
///
/// ```
/// use nws_server::value::{check_header, Kind};
/// assert!(check_header(Kind::Blob, "python/pickle").is_ok());
/// assert!(check_header(Kind::Raw, "python/pickle").is_err());
/// ```
pub fn check_header(kind: Kind, codec: &str) -> Result<(), Error> {
    match kind {
        Kind::Blob => {
            if codec.is_empty() || codec.len() > MAX_CODEC_LEN {
                return Err(Error::InvalidArgument(format!(
                    "value.codec: a BLOB needs a codec of 1 to {MAX_CODEC_LEN} characters"
                )));
            }
            if !codec.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                return Err(Error::InvalidArgument(
                    "value.codec: only printable ASCII without spaces is allowed".into(),
                ));
            }
        }
        Kind::Text | Kind::Raw => {
            if !codec.is_empty() {
                return Err(Error::InvalidArgument(
                    "value.codec: must be empty for TEXT and RAW values".into(),
                ));
            }
        }
    }
    Ok(())
}
