//! Type descriptors and language tags of the original protocol mapped to
//! our value kinds and codecs (`spec/legacy.md#descriptors`).
//!
//! The original sent a 20-digit decimal "type descriptor" with every value.
//! Bit 0 means "not serialized" (a direct string), bit 1 (with bit 0)
//! "binary data", and the top byte (`desc >> 24`) names the language that
//! wrote it: 1 Python (`0x01000000`), 3 R (`3 * 2^24`).
//!
//! ```
//! use nws_server::legacy::descriptor::{from_value, to_value};
//! use nws_server::value::Kind;
//! // A Python 2 `str`: direct string with the Python tag.
//! let v = to_value(0x0100_0001, "hi".into()).unwrap();
//! assert_eq!(v.kind, Kind::Text);
//! assert_eq!(from_value(&v), 1);
//! // A Python 2 pickle is a python/pickle blob, the same bytes.
//! let v = to_value(0x0100_0000, vec![0x80, 2, b'K', 7, b'.'].into()).unwrap();
//! assert_eq!((v.kind, v.codec.as_str()), (Kind::Blob, "python/pickle"));
//! assert_eq!(from_value(&v), 0x0100_0000);
//! ```

use bytes::Bytes;

use crate::Error;
use crate::value::{Kind, Value};

/// Bit 0: the bytes are not serialized (a direct string).
pub const DIRECT_STRING: u64 = 1;
/// Bit 1 (with bit 0): the direct bytes are binary data, not text.
pub const BINARY: u64 = 2;
/// Language tag of the original Python client (`_PythonFP`).
pub const PYTHON_FP: u64 = 0x0100_0000;
/// Language tag of the original R client (`nwsRFP = 3 * 2^24`).
pub const R_FP: u64 = 0x0300_0000;
/// Codec of blobs written with a descriptor we have no name for.
pub const LEGACY_CODEC_PREFIX: &str = "nws-legacy/";

/// A stored legacy value as one of ours.
///
/// - direct string, valid UTF-8, binary bit clear: `TEXT`
/// - direct string otherwise: `RAW`
/// - `0x01000000`: `BLOB` `python/pickle`; `0x03000000`: `BLOB` `r/serialize`
/// - any other serialized descriptor `d`: `BLOB` `nws-legacy/<d>` (so it
///   returns to legacy clients with the same descriptor)
pub fn to_value(desc: u64, data: Bytes) -> Result<Value, Error> {
    if desc & DIRECT_STRING != 0 {
        let text = desc & BINARY == 0 && std::str::from_utf8(&data).is_ok();
        let kind = if text { Kind::Text } else { Kind::Raw };
        return Value::new(kind, String::new(), data);
    }
    let codec = match desc {
        PYTHON_FP => "python/pickle".to_string(),
        R_FP => "r/serialize".to_string(),
        d => format!("{LEGACY_CODEC_PREFIX}{d}"),
    };
    Value::new(Kind::Blob, codec, data)
}

/// The descriptor a legacy client reads for one of our values.
///
/// `TEXT` is a direct string (1), `RAW` a direct binary string (3). Blobs
/// of `python/pickle` and `r/serialize` get their language's tag, so the
/// original clients unpickle or unserialize them; `json` is handed over as
/// a direct string (the JSON text); a blob of any other codec as direct
/// binary bytes, undecoded, never dropped.
pub fn from_value(v: &Value) -> u64 {
    match v.kind {
        Kind::Text => DIRECT_STRING,
        Kind::Raw => DIRECT_STRING | BINARY,
        Kind::Blob => match v.codec.as_str() {
            "python/pickle" => PYTHON_FP,
            "r/serialize" => R_FP,
            "json" => DIRECT_STRING,
            c => c
                .strip_prefix(LEGACY_CODEC_PREFIX)
                .and_then(|d| d.parse::<u64>().ok())
                .filter(|d| d & DIRECT_STRING == 0)
                .unwrap_or(DIRECT_STRING | BINARY),
        },
    }
}

/// Parses the descriptor argument of a `store` (`%020u`; R writes `%020i`).
///
/// ```
/// # use nws_server::legacy::descriptor::parse_descriptor;
/// assert_eq!(parse_descriptor(b"00000000000016777217"), Some(0x0100_0001));
/// assert_eq!(parse_descriptor(b"junk"), None);
/// ```
pub fn parse_descriptor(field: &[u8]) -> Option<u64> {
    super::framing::parse_count(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_keep_the_descriptor_that_matters() {
        for (desc, kind) in [
            (0x0300_0001, Kind::Text),
            (0x0300_0003, Kind::Raw),
            (0x0300_0000, Kind::Blob),
            (0x0200_0000, Kind::Blob),
        ] {
            let v = to_value(desc, Bytes::from_static(b"abc")).expect("value");
            assert_eq!(v.kind, kind, "{desc:#x}");
            let back = from_value(&v);
            assert_eq!(back & 3, desc & 3, "{desc:#x}");
            if kind == Kind::Blob {
                assert_eq!(back, desc);
            }
        }
    }

    #[test]
    fn non_utf8_direct_strings_are_raw() {
        let v = to_value(0x0100_0001, Bytes::from_static(b"\xff\xfe")).expect("value");
        assert_eq!(v.kind, Kind::Raw);
        assert_eq!(from_value(&v), 3);
    }

    #[test]
    fn foreign_codecs_arrive_as_bytes() {
        let v = Value::new(Kind::Blob, "rust/cbor".into(), Bytes::from_static(b"\x01")).expect("v");
        assert_eq!(from_value(&v), 3);
        let v = Value::new(Kind::Blob, "json".into(), Bytes::from_static(b"[1]")).expect("v");
        assert_eq!(from_value(&v), 1);
    }
}
