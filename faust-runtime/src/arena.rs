//! Chunks that many small byte strings are copied into, so that they share one allocation and
//! one reference count instead of one each, and lie next to each other in memory.

use bytes::{Bytes, BytesMut};

/// Size of a chunk; a longer byte string gets a chunk of its own length.
const CHUNK: usize = 64 * 1024;

/// Copies byte strings into shared chunks. A chunk is freed once the last string in it is.
#[derive(Default)]
pub(crate) struct Arena {
    chunk: BytesMut,
}

impl Arena {
    /// `b`, copied next to the previous string.
    #[inline]
    pub(crate) fn copy(&mut self, b: &[u8]) -> Bytes {
        if self.chunk.capacity() - self.chunk.len() < b.len() {
            self.chunk = BytesMut::with_capacity(CHUNK.max(b.len()));
        }
        self.chunk.extend_from_slice(b);
        self.chunk.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_keep_their_bytes_and_small_ones_sit_side_by_side() {
        let mut arena = Arena::default();
        let strings: Vec<Vec<u8>> = (0..2000usize)
            .map(|i| (0..(i * 97) % 5000).map(|j| (i * 31 + j) as u8).collect())
            .collect();
        let copies: Vec<Bytes> = strings.iter().map(|s| arena.copy(s)).collect();
        for (s, c) in strings.iter().zip(&copies) {
            assert_eq!(&s[..], &c[..]);
        }
        let (a, b) = (arena.copy(b"first"), arena.copy(b"second"));
        assert_eq!(b.as_ptr(), a.as_ptr().wrapping_add(a.len()));
    }
}
