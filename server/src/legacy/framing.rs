//! Request framing and reply encoding of the original protocol
//! (`spec/legacy.md#framing`).
//!
//! A request is an optional metadata dictionary (only when the client asked
//! for `MetadataToServer`) followed by an argument tuple:
//!
//! ```text
//! dict  = count(4 digits) { len(4) key len(4) value }
//! tuple = count(4 digits) { len(20 digits) bytes }
//! ```
//!
//! The first argument is the verb (`store`, `fetch`, `list wss`, ...). Only
//! the value of a `store` (its fifth argument) may be large; every other
//! argument is capped at [`MAX_SMALL_ARG`] bytes.
//!
//! Replies are short (a 4-digit status) or long (status, 20-digit type
//! descriptor, optionally the 40-byte iterator cookie, 20-digit length, the
//! bytes), each optionally preceded by a metadata dictionary.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt};

use crate::Error;
use crate::store::{Reservation, Store};

/// Largest argument other than a stored value: names, verbs, cookies.
pub const MAX_SMALL_ARG: u64 = 64 << 10;
/// Most arguments in one request (the largest verb takes five).
pub const MAX_ARGS: usize = 16;
/// Most entries in one metadata dictionary.
pub const MAX_DICT_ENTRIES: usize = 256;

/// One request as read from the wire.
pub(crate) struct Request {
    /// The arguments; `args[0]` is the verb. A `store` value is not here.
    pub args: Vec<Bytes>,
    /// The value of a `store`, already checked against the limits and
    /// reserved, or the limit error (its bytes were read and discarded).
    pub value: Option<Result<(Bytes, Reservation), Error>>,
}

/// Why reading a request stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The connection failed or closed in the middle of a request.
    Io(std::io::Error),
    /// The bytes are not the protocol; the connection is closed.
    Malformed(String),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Parses a fixed-width decimal field (`%04d`, `%020d`). Like the
/// original's `int()`, surrounding blanks are allowed; a sign is not.
///
/// ```
/// # use nws_server::legacy::framing::parse_count;
/// assert_eq!(parse_count(b"0042"), Some(42));
/// assert_eq!(parse_count(b"00000000000000000007"), Some(7));
/// assert_eq!(parse_count(b"  12"), Some(12));
/// assert_eq!(parse_count(b"-001"), None);
/// assert_eq!(parse_count(b"X000"), None);
/// ```
pub fn parse_count(field: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(field).ok()?.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

async fn read_field<R: AsyncRead + Unpin, const N: usize>(r: &mut R) -> std::io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b).await?;
    Ok(b)
}

async fn read_count<R: AsyncRead + Unpin, const N: usize>(
    r: &mut R,
    what: &str,
) -> Result<u64, ReadError> {
    let field = read_field::<R, N>(r).await?;
    parse_count(&field).ok_or_else(|| {
        ReadError::Malformed(format!(
            "{what}: {:?} is not a count",
            String::from_utf8_lossy(&field)
        ))
    })
}

async fn read_small<R: AsyncRead + Unpin>(r: &mut R, n: u64) -> Result<Bytes, ReadError> {
    if n > MAX_SMALL_ARG {
        return Err(ReadError::Malformed(format!(
            "argument of {n} bytes (at most {MAX_SMALL_ARG} outside a stored value)"
        )));
    }
    let mut buf = vec![0u8; n as usize];
    r.read_exact(&mut buf).await?;
    Ok(Bytes::from(buf))
}

/// Reads a metadata or options dictionary: `count(4) {len(4) key len(4) value}`.
pub(crate) async fn read_dict<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<Vec<(String, String)>, ReadError> {
    let n = read_count::<R, 4>(r, "dictionary size").await? as usize;
    if n > MAX_DICT_ENTRIES {
        return Err(ReadError::Malformed(format!("dictionary of {n} entries")));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let klen = read_count::<R, 4>(r, "dictionary key length").await?;
        let k = read_small(r, klen).await?;
        let vlen = read_count::<R, 4>(r, "dictionary value length").await?;
        let v = read_small(r, vlen).await?;
        out.push((
            String::from_utf8_lossy(&k).into_owned(),
            String::from_utf8_lossy(&v).into_owned(),
        ));
    }
    Ok(out)
}

/// Encodes a dictionary the way the original did (`%04d` count, then
/// `%04d key %04d value` per entry).
///
/// ```
/// # use nws_server::legacy::framing::encode_dict;
/// let d = encode_dict(&[("SSL", "")]);
/// assert_eq!(d, b"00010003SSL0000");
/// ```
pub fn encode_dict(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("{:04}", entries.len()).into_bytes();
    for (k, v) in entries {
        out.extend_from_slice(format!("{:04}", k.len()).as_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(format!("{:04}", v.len()).as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// Reads one request. `Ok(None)` is a clean end of the connection (EOF
/// before the first byte of a request).
pub(crate) async fn read_request<R: AsyncBufRead + Unpin>(
    r: &mut R,
    metadata: bool,
    store: &Store,
) -> Result<Option<Request>, ReadError> {
    if r.fill_buf().await?.is_empty() {
        return Ok(None);
    }
    if metadata {
        // Read and set aside: no verb of ours takes metadata.
        let _ = read_dict(r).await?;
    }
    let n = read_count::<R, 4>(r, "argument count").await? as usize;
    if n == 0 {
        return Err(ReadError::Malformed("empty argument list".into()));
    }
    if n > MAX_ARGS {
        return Err(ReadError::Malformed(format!("{n} arguments")));
    }
    let mut args = Vec::with_capacity(n);
    let mut value = None;
    for i in 0..n {
        let len = read_count::<R, 20>(r, "argument length").await?;
        if i == 4 && args.first().is_some_and(|v: &Bytes| v.as_ref() == b"store") {
            value = Some(read_value(r, len, store).await?);
        } else {
            args.push(read_small(r, len).await?);
        }
    }
    Ok(Some(Request { args, value }))
}

/// Reads a stored value of `len` bytes. A value beyond the limits is read
/// and discarded, so the connection stays in step, and its error returned.
async fn read_value<R: AsyncRead + Unpin>(
    r: &mut R,
    len: u64,
    store: &Store,
) -> Result<Result<(Bytes, Reservation), Error>, ReadError> {
    let reservation = match store.reserve(len) {
        Ok(res) => res,
        Err(e) => {
            let copied = tokio::io::copy(&mut (&mut *r).take(len), &mut tokio::io::sink()).await?;
            if copied < len {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            return Ok(Err(e));
        }
    };
    let cap = usize::try_from(len).map_err(|_| ReadError::Malformed("value too large".into()))?;
    let mut buf = BytesMut::with_capacity(cap);
    let mut limited = (&mut *r).take(len);
    while (buf.len() as u64) < len {
        if limited.read_buf(&mut buf).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(Ok((buf.freeze(), reservation)))
}

/// The iterator cookie of a long reply: the variable id (20 characters,
/// left-justified) and the index of the value returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cookie {
    /// Variable id; empty when there is none.
    pub var_id: String,
    /// Index of the value returned.
    pub index: u64,
}

/// Encodes a short reply: `[metadata] status(4)`.
///
/// ```
/// # use nws_server::legacy::framing::short_reply;
/// assert_eq!(short_reply(0, None), b"0000");
/// assert_eq!(short_reply(100, Some(&[])), b"00000100");
/// ```
pub fn short_reply(status: u16, metadata: Option<&[(&str, &str)]>) -> Vec<u8> {
    let mut out = metadata.map(encode_dict).unwrap_or_default();
    out.extend_from_slice(format!("{:04}", status.min(9999)).as_bytes());
    out
}

/// Encodes the header of a long reply: `[metadata] status(4) desc(20)
/// [var_id(20) index(20)] length(20)`; the value's bytes follow it.
///
/// ```
/// # use nws_server::legacy::framing::{long_header, Cookie};
/// let h = long_header(0, 1, Some(&Cookie { var_id: "7".into(), index: 3 }), 2, None);
/// assert_eq!(h.len(), 4 + 20 + 40 + 20);
/// assert!(h.starts_with(b"000000000000000000000001"));
/// assert_eq!(&h[24..44], b"7                   ");
/// let old = long_header(1, 0, None, 0, None);
/// assert_eq!(old, b"00010000000000000000000000000000000000000000".to_vec());
/// ```
pub fn long_header(
    status: u16,
    desc: u64,
    cookie: Option<&Cookie>,
    len: u64,
    metadata: Option<&[(&str, &str)]>,
) -> Vec<u8> {
    let mut out = metadata.map(encode_dict).unwrap_or_default();
    out.extend_from_slice(format!("{:04}{desc:020}", status.min(9999)).as_bytes());
    if let Some(c) = cookie {
        let id: String = c.var_id.chars().take(20).collect();
        out.extend_from_slice(format!("{id:<20}{:020}", c.index).as_bytes());
    }
    out.extend_from_slice(format!("{len:020}").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn store() -> Store {
        Store::new(Limits {
            max_value_size: 10,
            max_memory: 100,
        })
    }

    #[tokio::test]
    async fn reads_a_tuple_with_metadata() {
        let wire = format!("00010001k0001v0002{:020}fetch{:020}ws", 5, 2).into_bytes();
        let mut r = std::io::Cursor::new(wire);
        let req = read_request(&mut r, true, &store())
            .await
            .expect("read")
            .expect("some");
        assert_eq!(req.args, vec![Bytes::from("fetch"), Bytes::from("ws")]);
        assert!(req.value.is_none());
    }

    #[tokio::test]
    async fn a_store_value_over_the_limit_is_drained_and_refused() {
        let mut wire = b"0005".to_vec();
        for a in ["store", "ws", "x", "00000000000000000001"] {
            wire.extend_from_slice(format!("{:020}{a}", a.len()).as_bytes());
        }
        wire.extend_from_slice(format!("{:020}", 11).as_bytes());
        wire.extend_from_slice(b"hello world0001");
        let mut r = std::io::Cursor::new(wire);
        let req = read_request(&mut r, false, &store())
            .await
            .expect("read")
            .expect("some");
        assert!(matches!(req.value, Some(Err(Error::TooLarge { .. }))));
        // The stream is still in step: the next bytes are the next count.
        let mut rest = String::new();
        r.read_to_string(&mut rest).await.expect("rest");
        assert_eq!(rest, "0001");
    }

    #[tokio::test]
    async fn garbage_is_malformed_and_eof_is_clean() {
        let mut r = std::io::Cursor::new(b"PRI * HTTP/2.0".to_vec());
        assert!(matches!(
            read_request(&mut r, false, &store()).await,
            Err(ReadError::Malformed(_))
        ));
        let mut r = std::io::Cursor::new(Vec::new());
        assert!(matches!(
            read_request(&mut r, false, &store()).await,
            Ok(None)
        ));
    }
}
