//! serde helpers: any `Serialize` type as a CBOR blob (codec `rust/cbor`,
//! via `ciborium`) or as the neutral `json` codec every client decodes
//! (via `serde_json`; `spec/values.md#codecs`), and back.
//!
//! Typed decoding is strict: only a blob tagged `rust/cbor` or `json` is
//! decoded; anything else is an [`Error::Codec`] that carries the value
//! unchanged.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::value::{RUST_CBOR, Value};

/// The neutral codec: one JSON value, decoded by every client into its
/// native structures (Python dict/list, R named list/vector, Rust serde).
pub const JSON: &str = "json";

/// Serializes `value` into a `rust/cbor` blob.
///
/// ```
/// let v = nws::serde_value::to_value(&vec![1u32, 2, 3]).unwrap();
/// assert_eq!(v.codec(), Some("rust/cbor"));
/// ```
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    let mut buf = Vec::new();
    ciborium::into_writer(value, &mut buf)
        .map_err(|e| Error::codec(RUST_CBOR, e.to_string(), None))?;
    Ok(Value::blob(RUST_CBOR, buf))
}

/// Serializes `value` into a `json` blob, which Python and R programs
/// receive as their own dicts, lists and vectors.
///
/// ```
/// let v = nws::serde_value::to_json_value(&vec![1u32, 2, 3]).unwrap();
/// assert_eq!(v.codec(), Some("json"));
/// let back: Vec<u32> = nws::serde_value::from_value(v).unwrap();
/// assert_eq!(back, [1, 2, 3]);
/// ```
pub fn to_json_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    let buf = serde_json::to_vec(value).map_err(|e| Error::codec(JSON, e.to_string(), None))?;
    Ok(Value::blob(JSON, buf))
}

/// Decodes a `rust/cbor` or `json` blob. Any other value (text, raw, a
/// blob of another codec, or bytes that do not decode as `T`) gives
/// [`Error::Codec`] with the value inside.
///
/// ```
/// use nws::serde_value::{from_value, to_value};
/// let v = to_value(&("pi", 3.14f64)).unwrap();
/// let back: (String, f64) = from_value(v).unwrap();
/// assert_eq!(back.0, "pi");
///
/// let err = from_value::<u32>(nws::Value::blob("python/pickle", vec![0x80u8])).unwrap_err();
/// match err {
///     nws::Error::Codec(e) => assert_eq!(e.codec, "python/pickle"),
///     _ => unreachable!(),
/// }
/// ```
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    match &value {
        Value::Blob { codec, data } if codec == RUST_CBOR => match ciborium::from_reader(&data[..])
        {
            Ok(v) => Ok(v),
            Err(e) => Err(Error::codec(RUST_CBOR, e.to_string(), Some(value))),
        },
        Value::Blob { codec, data } if codec == JSON => match serde_json::from_slice(&data[..]) {
            Ok(v) => Ok(v),
            Err(e) => Err(Error::codec(JSON, e.to_string(), Some(value))),
        },
        other => {
            let codec = other.kind_name().to_owned();
            let message = format!("expected a {RUST_CBOR} or {JSON} blob, got a {codec} value");
            Err(Error::codec(codec, message, Some(value)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Task {
        id: u32,
        name: String,
        weights: Vec<f64>,
        tags: BTreeMap<String, bool>,
    }

    #[test]
    fn structs_round_trip_through_cbor_blobs() {
        let t = Task {
            id: 7,
            name: "cube".into(),
            weights: vec![0.5, -1.0],
            tags: [("hot".to_string(), true)].into_iter().collect(),
        };
        let v = to_value(&t).expect("encodes");
        assert_eq!(v.codec(), Some(RUST_CBOR));
        assert_eq!(from_value::<Task>(v).expect("decodes"), t);
    }

    #[test]
    fn a_blob_of_another_codec_is_a_codec_error_carrying_the_value() {
        let v = Value::blob("python/pickle", vec![0x80u8, 4]);
        match from_value::<u32>(v.clone()) {
            Err(Error::Codec(e)) => {
                assert_eq!(e.codec, "python/pickle");
                assert_eq!(e.value, Some(v));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn text_and_raw_values_are_codec_errors() {
        for v in [Value::from("1"), Value::from(vec![1u8])] {
            let err = from_value::<u32>(v.clone()).expect_err("not cbor");
            assert!(matches!(err, Error::Codec(ref e) if e.value.as_ref() == Some(&v)));
            assert_eq!(err.reason(), None);
        }
    }

    #[test]
    fn json_blobs_decode_into_serde_types() {
        let v = Value::blob(
            JSON,
            br#"{"numbers": [1, 2, 3.5], "name": "nws", "flag": true}"#.to_vec(),
        );
        let m: BTreeMap<String, serde_json::Value> = from_value(v).expect("json decodes");
        assert_eq!(m["name"], "nws");
        assert_eq!(m["numbers"][2], 3.5);
        assert_eq!(m["flag"], true);
    }

    #[test]
    fn undecodable_json_is_a_codec_error_carrying_the_value() {
        let err = from_value::<u32>(Value::blob(JSON, b"{not json".to_vec()))
            .expect_err("bad json is an error");
        match err {
            Error::Codec(e) => {
                assert_eq!(e.codec, JSON);
                assert_eq!(e.value.map(|v| v.len()), Some(9));
            }
            other => panic!("expected a codec error, got {other:?}"),
        }
    }

    #[test]
    fn undecodable_cbor_is_a_codec_error() {
        let v = to_value("not a number").expect("encodes");
        assert!(matches!(from_value::<u64>(v), Err(Error::Codec(_))));
    }
}
