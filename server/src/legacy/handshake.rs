//! The two handshakes of the original protocol (`spec/legacy.md#handshake`).
//!
//! The client speaks first, four bytes:
//!
//! - **old** (CRAN `nws` 1.7 sends `1112`; older clients `0000` or `1111`):
//!   the server answers `2223`. Clients that sent `0000`/`1111` get replies
//!   without iterator cookies, every other one with cookies.
//! - **new** (python-big 1.6 and server 2.0; any 4 bytes starting `X`, in
//!   practice `X000`): the server advertises its options, `P000` and a
//!   dictionary; the client answers `R000` and a dictionary of the options it
//!   wants; the server accepts with `A000` (then cookies are on) or refuses
//!   with `F000` and closes.
//!
//! ```text
//! client: X000
//! server: P000 0003 0016MetadataToServer0000 0018MetadataFromServer0000 0017KillServerOnClose0000
//! client: R000 0001 0018MetadataFromServer00011
//! server: A000
//! ```

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::framing::{ReadError, encode_dict, read_dict};

/// Options the server advertises; the empty value means "any value".
pub const ADVERTISED: [(&str, &str); 3] = [
    ("MetadataToServer", ""),
    ("MetadataFromServer", ""),
    ("KillServerOnClose", ""),
];

/// What the handshake settled for the rest of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Negotiated {
    /// Long replies carry the 40-byte iterator cookie.
    pub cookies: bool,
    /// Each request starts with a metadata dictionary.
    pub metadata_to_server: bool,
    /// Each reply starts with a metadata dictionary.
    pub metadata_from_server: bool,
    /// The client asked for `KillServerOnClose` (accepted and ignored).
    pub kill_server_on_close: bool,
    /// The new (options) handshake was used.
    pub new_handshake: bool,
}

/// Decides the options a client asked for: `None` refuses (an option the
/// server did not advertise).
///
/// ```
/// # use nws_server::legacy::handshake::negotiate;
/// let n = negotiate(&[("MetadataFromServer".into(), "1".into())]).unwrap();
/// assert!(n.metadata_from_server && n.cookies && !n.metadata_to_server);
/// assert!(negotiate(&[("SSL".into(), "1".into())]).is_none());
/// ```
pub fn negotiate(requested: &[(String, String)]) -> Option<Negotiated> {
    let mut n = Negotiated {
        cookies: true,
        new_handshake: true,
        ..Negotiated::default()
    };
    for (k, v) in requested {
        let (_, required) = ADVERTISED.iter().find(|(name, _)| name == k)?;
        if !required.is_empty() && required != v {
            return None;
        }
        match k.as_str() {
            "MetadataToServer" => n.metadata_to_server = v == "1",
            "MetadataFromServer" => n.metadata_from_server = v == "1",
            "KillServerOnClose" => n.kill_server_on_close = v == "1",
            _ => {}
        }
    }
    Some(n)
}

/// Runs the server side of the handshake. `Ok(None)`: the client was
/// refused (`F000` was sent) and the connection should close.
pub(crate) async fn accept<R, W>(r: &mut R, w: &mut W) -> Result<Option<Negotiated>, ReadError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut hello = [0u8; 4];
    r.read_exact(&mut hello).await?;
    if hello[0] != b'X' {
        w.write_all(b"2223").await?;
        return Ok(Some(Negotiated {
            cookies: &hello != b"0000" && &hello != b"1111",
            ..Negotiated::default()
        }));
    }
    let mut advertise = b"P000".to_vec();
    advertise.extend_from_slice(&encode_dict(&ADVERTISED));
    w.write_all(&advertise).await?;
    let mut answer = [0u8; 4];
    r.read_exact(&mut answer).await?;
    if &answer != b"R000" {
        return Err(ReadError::Malformed(format!(
            "handshake answer {:?}, expected R000",
            String::from_utf8_lossy(&answer)
        )));
    }
    let requested = read_dict(r).await?;
    match negotiate(&requested) {
        Some(n) => {
            w.write_all(b"A000").await?;
            Ok(Some(n))
        }
        None => {
            w.write_all(b"F000").await?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(client: &[u8]) -> (Option<Negotiated>, Vec<u8>) {
        let mut r = std::io::Cursor::new(client.to_vec());
        let mut w = Vec::new();
        let n = accept(&mut r, &mut w).await.expect("handshake");
        (n, w)
    }

    #[tokio::test]
    async fn old_handshakes() {
        let (n, w) = run(b"1112").await;
        assert_eq!(w, b"2223");
        assert!(n.expect("accepted").cookies);
        let (n, w) = run(b"0000").await;
        assert_eq!(w, b"2223");
        assert!(!n.expect("accepted").cookies);
    }

    #[tokio::test]
    async fn new_handshake_with_options() {
        let (n, w) = run(b"X000R00000010018MetadataFromServer00011").await;
        let n = n.expect("accepted");
        assert!(n.cookies && n.metadata_from_server && n.new_handshake);
        assert!(w.starts_with(b"P0000003"));
        assert!(w.ends_with(b"A000"));
    }

    #[tokio::test]
    async fn unknown_options_are_refused() {
        let (n, w) = run(b"X000R00000010003SSL0000").await;
        assert!(n.is_none());
        assert!(w.ends_with(b"F000"));
    }
}
