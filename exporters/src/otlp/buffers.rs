//! Reused encode buffers: an export that encodes into a scratch buffer and then
//! compresses it takes the scratch buffer from here instead of allocating one each time.

use std::sync::Mutex;

/// Buffers above this capacity are dropped rather than kept, so that one huge export does
/// not pin its memory for the life of the process.
const MAX_KEPT_CAPACITY: usize = 4 << 20;
/// Most buffers kept (one per concurrent export is enough).
const MAX_KEPT: usize = 8;

#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// An empty buffer with at least `capacity` bytes reserved.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let reused = self.free.lock().ok().and_then(|mut free| free.pop());
        let mut buf = reused.unwrap_or_default();
        buf.clear();
        buf.reserve(capacity);
        buf
    }

    /// Hands a buffer back for the next export.
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() > MAX_KEPT_CAPACITY {
            return;
        }
        if let Ok(mut free) = self.free.lock() {
            if free.len() < MAX_KEPT {
                free.push(buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_buffer_is_reused_empty_and_huge_ones_are_not_kept() {
        let pool = BufferPool::default();
        let mut buf = pool.take(100);
        buf.extend_from_slice(b"abc");
        let ptr = buf.as_ptr();
        pool.give(buf);
        let again = pool.take(10);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), ptr, "the same allocation comes back");
        pool.give(Vec::with_capacity(MAX_KEPT_CAPACITY + 1));
        assert_eq!(pool.free.lock().unwrap().len(), 0);
    }
}
