//! Buffers for reassembling large chunked values, with one spare kept for
//! reuse. Shared by the server (uploads) and the `nws` client (fetches),
//! which both receive a large value as a sequence of chunks.
//!
//! Every large fetched value used to be a fresh allocation: for 100 MiB a
//! new mapping faulted in page by page (25,600 faults, each zeroing a page)
//! and unmapped again when the value was dropped, which cost more than the
//! copy itself (`bench/RESULTS.md`). Here a buffer of `SPARE_MIN` to
//! `SPARE_MAX` bytes, once its value is dropped, is kept as the process's
//! one spare, and the next value of a size it can hold (at most twice
//! smaller) is reassembled into it, with no page faults. So a process that
//! has received one large value holds up to `SPARE_MAX` bytes of idle memory
//! until it receives another. Text values are not pooled by the client:
//! turning them into a `String` must own a plain `Vec`.
//!
//! ```
//! use nws_proto::bigbuf::Assembly;
//! let mut a = Assembly::with_capacity(6, true);
//! a.extend_from_slice(b"abc");
//! a.extend_from_slice(b"def");
//! assert_eq!(a.len(), 6);
//! assert_eq!(&a.freeze()[..], b"abcdef");
//! ```

use std::sync::Mutex;

use bytes::Bytes;

/// Smallest buffer kept as the spare.
pub const SPARE_MIN: usize = 4 << 20;
/// Largest buffer kept as the spare.
pub const SPARE_MAX: usize = 256 << 20;

/// The spare buffer (empty, with capacity), if any.
static SPARE: Mutex<Option<Vec<u8>>> = Mutex::new(None);

fn poolable(total: usize) -> bool {
    (SPARE_MIN..=SPARE_MAX).contains(&total)
}

/// A value being filled chunk by chunk.
#[derive(Debug)]
pub struct Assembly {
    buf: Vec<u8>,
    pooled: bool,
}

impl Assembly {
    /// Room for `total` bytes, reusing the spare when `pooled` allows and it
    /// fits (text passes `false`, see the module notes).
    pub fn with_capacity(total: usize, pooled: bool) -> Assembly {
        let pooled = pooled && poolable(total);
        if pooled {
            let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
            if spare
                .as_ref()
                .is_some_and(|s| s.capacity() >= total && s.capacity() / 2 <= total)
            {
                if let Some(mut buf) = spare.take() {
                    buf.clear();
                    return Assembly { buf, pooled };
                }
            }
        }
        Assembly {
            buf: Vec::with_capacity(total),
            pooled,
        }
    }

    /// Bytes filled so far.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Appends `data`.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The filled bytes, without copying; a pooled buffer goes back to the
    /// spare slot when the last `Bytes` sharing it is dropped.
    pub fn freeze(self) -> Bytes {
        if self.pooled {
            Bytes::from_owner(Recycled(self.buf))
        } else {
            Bytes::from(self.buf)
        }
    }
}

/// Owner of a pooled buffer inside a `Bytes`.
struct Recycled(Vec<u8>);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        if !poolable(buf.capacity()) {
            return;
        }
        let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the larger of the two: it serves more sizes.
        if spare.as_ref().is_none_or(|s| s.capacity() < buf.capacity()) {
            *spare = Some(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_and_plain_buffers_reassemble_byte_exact() {
        for (total, pooled) in [(10, true), (SPARE_MIN + 3, true), (SPARE_MIN + 3, false)] {
            let want: Vec<u8> = (0..total).map(|i| (i * 7 % 251) as u8).collect();
            for _ in 0..2 {
                let mut a = Assembly::with_capacity(total, pooled);
                for piece in want.chunks(1 << 20) {
                    a.extend_from_slice(piece);
                }
                assert_eq!(a.len(), total);
                assert_eq!(a.freeze(), Bytes::from(want.clone()));
            }
        }
    }

    #[test]
    fn a_dropped_large_value_s_buffer_is_reused() {
        let total = SPARE_MAX - 1;
        let mut a = Assembly::with_capacity(total, true);
        a.extend_from_slice(&[1, 2, 3]);
        let first = a.freeze();
        let ptr = first.as_ptr();
        drop(first);
        let mut b = Assembly::with_capacity(total, true);
        b.extend_from_slice(&[4, 5]);
        let second = b.freeze();
        // Other tests may take the spare in between; only then may it differ.
        if second.as_ptr() == ptr {
            assert_eq!(&second[..], &[4, 5]);
        }
    }
}
