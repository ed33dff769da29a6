//! Values: what a variable holds, and the plain types of listings.
//!
//! A [`Value`] is text, raw bytes, or a blob tagged with the codec that wrote
//! it. The wire form (`nws.v1.Value`) never appears in the public API: the
//! conversions live here as crate-private functions.

use bytes::Bytes;
use nws_proto::v1 as pb;

use crate::error::Error;

/// The codec tag of blobs written by this crate's serde helpers
/// ([`Workspace::store_serde`](crate::Workspace::store_serde)): CBOR via
/// `ciborium`.
///
/// ```
/// assert_eq!(nws::RUST_CBOR, "rust/cbor");
/// ```
pub const RUST_CBOR: &str = "rust/cbor";

/// One value held by a variable.
///
/// `Text` travels natively between languages (Python `str`, R
/// `character(1)`); `Raw` is uninterpreted bytes (Python `bytes`, R `raw`);
/// `Blob` is bytes written by a serializer named by `codec` (`python/pickle`,
/// `r/serialize`, `rust/cbor`, ...). Bytes are [`bytes::Bytes`], so cloning a
/// value never copies its contents.
///
/// ```
/// use nws::Value;
/// let t = Value::from("hello");
/// assert_eq!(t.as_text(), Some("hello"));
/// let r = Value::from(vec![1u8, 2, 3]);
/// assert_eq!(r.as_raw().map(|b| b.len()), Some(3));
/// let b = Value::blob("json", "[1,2]");
/// assert_eq!(b.codec(), Some("json"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// UTF-8 text.
    Text(String),
    /// Uninterpreted bytes.
    Raw(Bytes),
    /// Bytes produced by the serializer `codec` (`<language>/<format>`, 1 to
    /// 64 printable ASCII characters).
    Blob {
        /// The serializer's name, e.g. `rust/cbor` or `python/pickle`.
        codec: String,
        /// The serialized bytes.
        data: Bytes,
    },
}

impl Value {
    /// Builds a [`Value::Blob`] from a codec name and its bytes.
    ///
    /// ```
    /// let v = nws::Value::blob("r/serialize", vec![0x58u8, 0x0a]);
    /// assert_eq!(v.as_blob().map(|(c, d)| (c, d.len())), Some(("r/serialize", 2)));
    /// ```
    pub fn blob(codec: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Value::Blob {
            codec: codec.into(),
            data: data.into(),
        }
    }

    /// The text, if this is [`Value::Text`].
    ///
    /// ```
    /// assert_eq!(nws::Value::from("x").as_text(), Some("x"));
    /// assert_eq!(nws::Value::from(vec![1u8]).as_text(), None);
    /// ```
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is [`Value::Raw`].
    ///
    /// ```
    /// let v = nws::Value::from(&b"ab"[..]);
    /// assert_eq!(v.as_raw().map(|b| &b[..]), Some(&b"ab"[..]));
    /// ```
    pub fn as_raw(&self) -> Option<&Bytes> {
        match self {
            Value::Raw(b) => Some(b),
            _ => None,
        }
    }

    /// The codec and bytes, if this is a [`Value::Blob`].
    ///
    /// ```
    /// let v = nws::Value::blob("json", "1");
    /// assert_eq!(v.as_blob().map(|(c, _)| c), Some("json"));
    /// ```
    pub fn as_blob(&self) -> Option<(&str, &Bytes)> {
        match self {
            Value::Blob { codec, data } => Some((codec, data)),
            _ => None,
        }
    }

    /// The codec of a blob; `None` for text and raw values.
    ///
    /// ```
    /// assert_eq!(nws::Value::from("t").codec(), None);
    /// ```
    pub fn codec(&self) -> Option<&str> {
        self.as_blob().map(|(c, _)| c)
    }

    /// Consumes the value and returns its text, if it is [`Value::Text`].
    ///
    /// ```
    /// assert_eq!(nws::Value::from("x").into_text().as_deref(), Some("x"));
    /// ```
    pub fn into_text(self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Consumes the value and returns its bytes, whatever its kind (the UTF-8
    /// bytes of text, the serialized bytes of a blob). Does not copy.
    ///
    /// ```
    /// assert_eq!(&nws::Value::from("hi").into_bytes()[..], b"hi");
    /// ```
    pub fn into_bytes(self) -> Bytes {
        match self {
            Value::Text(s) => Bytes::from(s),
            Value::Raw(b) => b,
            Value::Blob { data, .. } => data,
        }
    }

    /// The value's bytes, whatever its kind.
    ///
    /// ```
    /// assert_eq!(nws::Value::blob("json", "[]").as_bytes(), b"[]");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Text(s) => s.as_bytes(),
            Value::Raw(b) => b,
            Value::Blob { data, .. } => data,
        }
    }

    /// The size of the value in bytes.
    ///
    /// ```
    /// assert_eq!(nws::Value::from("héllo").len(), 6);
    /// ```
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the value holds no bytes.
    ///
    /// ```
    /// assert!(nws::Value::from("").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A short name of the kind, as shown in error messages and listings:
    /// `text`, `raw`, or the blob's codec.
    ///
    /// ```
    /// assert_eq!(nws::Value::from("x").kind_name(), "text");
    /// assert_eq!(nws::Value::blob("json", "1").kind_name(), "json");
    /// ```
    pub fn kind_name(&self) -> &str {
        match self {
            Value::Text(_) => "text",
            Value::Raw(_) => "raw",
            Value::Blob { codec, .. } => codec,
        }
    }

    /// Splits the value into its wire kind, codec and bytes (no copy).
    pub(crate) fn into_wire_parts(self) -> (pb::ValueKind, String, Bytes) {
        match self {
            Value::Text(s) => (pb::ValueKind::Text, String::new(), Bytes::from(s)),
            Value::Raw(b) => (pb::ValueKind::Raw, String::new(), b),
            Value::Blob { codec, data } => (pb::ValueKind::Blob, codec, data),
        }
    }

    /// Rebuilds a value from its wire kind, codec and complete bytes.
    pub(crate) fn from_wire_parts(kind: i32, codec: String, data: Bytes) -> Result<Value, Error> {
        match pb::ValueKind::try_from(kind) {
            Ok(pb::ValueKind::Text) => {
                // Zero-copy when `data` is the sole owner of a Vec-backed buffer
                // (the case for reassembled large values).
                String::from_utf8(Vec::from(data))
                    .map(Value::Text)
                    .map_err(|_| {
                        Error::Protocol("server sent a text value that is not UTF-8".into())
                    })
            }
            Ok(pb::ValueKind::Raw) => Ok(Value::Raw(data)),
            Ok(pb::ValueKind::Blob) => Ok(Value::Blob { codec, data }),
            _ => Err(Error::Protocol(format!(
                "server sent a value of unknown kind {kind}"
            ))),
        }
    }
}

impl From<&str> for Value {
    /// ```
    /// assert_eq!(nws::Value::from("a"), nws::Value::Text("a".into()));
    /// ```
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    /// ```
    /// assert_eq!(nws::Value::from(String::from("a")).as_text(), Some("a"));
    /// ```
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<&String> for Value {
    /// ```
    /// let s = String::from("a");
    /// assert_eq!(nws::Value::from(&s).as_text(), Some("a"));
    /// ```
    fn from(s: &String) -> Self {
        Value::Text(s.clone())
    }
}

impl From<Vec<u8>> for Value {
    /// ```
    /// assert!(nws::Value::from(vec![0u8; 4]).as_raw().is_some());
    /// ```
    fn from(v: Vec<u8>) -> Self {
        Value::Raw(Bytes::from(v))
    }
}

impl From<&[u8]> for Value {
    /// ```
    /// assert!(nws::Value::from(&[1u8, 2][..]).as_raw().is_some());
    /// ```
    fn from(v: &[u8]) -> Self {
        Value::Raw(Bytes::copy_from_slice(v))
    }
}

impl From<Bytes> for Value {
    /// ```
    /// let b = bytes::Bytes::from_static(b"xyz");
    /// assert_eq!(nws::Value::from(b.clone()).as_raw(), Some(&b));
    /// ```
    fn from(b: Bytes) -> Self {
        Value::Raw(b)
    }
}

/// How a variable queues its values.
///
/// ```
/// use nws::Mode;
/// assert_eq!(Mode::default(), Mode::Fifo);
/// assert_eq!(Mode::Single.to_string(), "single");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// First in, first out (the default of a variable created by store).
    #[default]
    Fifo,
    /// Last in, first out.
    Lifo,
    /// A bag: fetch and find return a uniformly random value.
    Multi,
    /// At most one value: store replaces the current value.
    Single,
    /// Only in listings: a placeholder variable that exists because requests
    /// wait on it. Declaring it fails with `INVALID_MODE`.
    Unknown,
}

impl Mode {
    pub(crate) fn to_wire(self) -> pb::Mode {
        match self {
            Mode::Fifo => pb::Mode::Fifo,
            Mode::Lifo => pb::Mode::Lifo,
            Mode::Multi => pb::Mode::Multi,
            Mode::Single => pb::Mode::Single,
            Mode::Unknown => pb::Mode::Unspecified,
        }
    }

    pub(crate) fn from_wire(mode: i32) -> Mode {
        match pb::Mode::try_from(mode) {
            Ok(pb::Mode::Fifo) => Mode::Fifo,
            Ok(pb::Mode::Lifo) => Mode::Lifo,
            Ok(pb::Mode::Multi) => Mode::Multi,
            Ok(pb::Mode::Single) => Mode::Single,
            _ => Mode::Unknown,
        }
    }

    /// The lower-case name used by the original NWS (`fifo`, `lifo`,
    /// `multi`, `single`, `unknown`).
    ///
    /// ```
    /// assert_eq!(nws::Mode::Lifo.as_str(), "lifo");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Fifo => "fifo",
            Mode::Lifo => "lifo",
            Mode::Multi => "multi",
            Mode::Single => "single",
            Mode::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One workspace in a listing ([`Server::list_wss`](crate::Server::list_wss)).
///
/// ```no_run
/// # async fn demo() -> Result<(), nws::Error> {
/// let server = nws::Server::connect("localhost:8765").await?;
/// for ws in server.list_wss().await? {
///     println!("{} owner={:?} vars={} mine={}", ws.name, ws.owner, ws.variable_count, ws.mine);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkspaceInfo {
    /// Its name.
    pub name: String,
    /// The owner's client description; empty when unowned.
    pub owner: String,
    /// Whether it outlives its owner's session.
    pub persistent: bool,
    /// Number of variables, including placeholders that exist only while
    /// requests wait on them.
    pub variable_count: u64,
    /// Whether the session that asked owns it.
    pub mine: bool,
}

impl From<pb::WorkspaceInfo> for WorkspaceInfo {
    fn from(w: pb::WorkspaceInfo) -> Self {
        WorkspaceInfo {
            name: w.name,
            owner: w.owner,
            persistent: w.persistent,
            variable_count: w.variable_count,
            mine: w.mine,
        }
    }
}

/// One variable in a listing ([`Workspace::list_vars`](crate::Workspace::list_vars)).
///
/// ```no_run
/// # async fn demo(ws: nws::Workspace) -> Result<(), nws::Error> {
/// for v in ws.list_vars().await? {
///     println!("{} {} values={} fetchers={} finders={}", v.name, v.mode, v.value_count, v.fetchers, v.finders);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VariableInfo {
    /// Its name.
    pub name: String,
    /// Its mode; [`Mode::Unknown`] for a placeholder.
    pub mode: Mode,
    /// Values held (not counting values leased out).
    pub value_count: u64,
    /// Requests waiting to fetch.
    pub fetchers: u64,
    /// Requests waiting to find.
    pub finders: u64,
}

impl From<pb::VariableInfo> for VariableInfo {
    fn from(v: pb::VariableInfo) -> Self {
        VariableInfo {
            name: v.name,
            mode: Mode::from_wire(v.mode),
            value_count: v.value_count,
            fetchers: v.fetchers,
            finders: v.finders,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_through_wire_parts() {
        let (k, c, d) = Value::from("héllo").into_wire_parts();
        assert_eq!(k, pb::ValueKind::Text);
        assert!(c.is_empty());
        let v = Value::from_wire_parts(k as i32, c, d).expect("valid text");
        assert_eq!(v, Value::Text("héllo".into()));
    }

    #[test]
    fn raw_and_blob_round_trip_through_wire_parts() {
        for v in [
            Value::from(vec![0u8, 255, 7]),
            Value::blob("python/pickle", vec![1u8, 2]),
        ] {
            let (k, c, d) = v.clone().into_wire_parts();
            assert_eq!(Value::from_wire_parts(k as i32, c, d).expect("valid"), v);
        }
    }

    #[test]
    fn invalid_utf8_text_from_the_wire_is_an_error() {
        let r = Value::from_wire_parts(
            pb::ValueKind::Text as i32,
            String::new(),
            Bytes::from_static(&[0xff, 0xfe]),
        );
        assert!(matches!(r, Err(Error::Protocol(_))));
    }

    #[test]
    fn unknown_value_kind_from_the_wire_is_an_error() {
        let r = Value::from_wire_parts(99, String::new(), Bytes::new());
        assert!(matches!(r, Err(Error::Protocol(_))));
        let r = Value::from_wire_parts(0, String::new(), Bytes::new());
        assert!(matches!(r, Err(Error::Protocol(_))));
    }

    #[test]
    fn conversions_pick_the_right_kind() {
        assert!(matches!(Value::from("a"), Value::Text(_)));
        assert!(matches!(Value::from(String::from("a")), Value::Text(_)));
        assert!(matches!(Value::from(vec![1u8]), Value::Raw(_)));
        assert!(matches!(
            Value::from(Bytes::from_static(b"a")),
            Value::Raw(_)
        ));
        assert!(matches!(Value::from(&b"a"[..]), Value::Raw(_)));
        assert_eq!(Value::from("abc").len(), 3);
        assert_eq!(Value::from("abc").into_bytes(), Bytes::from_static(b"abc"));
        assert_eq!(Value::blob("json", "1").kind_name(), "json");
        assert_eq!(Value::from(vec![1u8]).kind_name(), "raw");
    }

    #[test]
    fn modes_map_to_and_from_the_wire() {
        for m in [
            Mode::Fifo,
            Mode::Lifo,
            Mode::Multi,
            Mode::Single,
            Mode::Unknown,
        ] {
            assert_eq!(Mode::from_wire(m.to_wire() as i32), m);
        }
        assert_eq!(Mode::from_wire(42), Mode::Unknown);
    }
}
