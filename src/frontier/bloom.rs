//! The durable visited set's in-memory filter: "certainly never seen" for almost
//! every new URL, so admitting a new URL never reads the disk.
//!
//! A *scalable* blocked Bloom filter: a list of filters, each twice the capacity
//! of the one before; inserts go to the newest, and a new one is added when it is
//! full, so nothing is ever rebuilt while the crawl runs and memory follows the
//! crawl's size (2 bytes a URL, at most twice that just after growing).
//! Each key sets [`PROBES`] bits inside one 64-byte block (one cache line), so a
//! lookup costs one cache miss per filter. Bits are atomics: readers never lock,
//! and the store's writer sets bits before it publishes the commit they belong to.
//!
//! It must never say "absent" for a key that was inserted: callers skip the disk on
//! that answer. "Present" may be wrong (about 0.1% of new keys per full filter: some
//! 0.5% at 100 million URLs, in eight filters), and then the runs on disk decide.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::RwLock;

/// Bits set per key, all within one 512-bit block.
const PROBES: u32 = 8;
/// Bits a key at the filter's capacity: about 0.1% false positives for a full
/// blocked filter (12 bits gave 0.5%, and each false positive reads a dozen runs).
const BITS_PER_KEY: u64 = 16;
/// Capacity of the first filter (2 MiB, all of it touched when made): a small crawl
/// pays little; 100 million URLs make eight filters.
const FIRST: u64 = 1 << 20;

struct Filter {
    /// 8 words (512 bits) a block.
    words: Vec<AtomicU64>,
    blocks: u64,
    capacity: u64,
    len: AtomicU64,
}

impl Filter {
    fn new(capacity: u64) -> Filter {
        let blocks = (capacity * BITS_PER_KEY).div_ceil(512).max(1);
        Filter {
            words: (0..blocks * 8).map(|_| AtomicU64::new(0)).collect(),
            blocks,
            capacity,
            len: AtomicU64::new(0),
        }
    }

    /// The block and the bit positions of `key` (already a uniform 64-bit hash).
    fn probes(&self, key: u64) -> (usize, impl Iterator<Item = (usize, u64)>) {
        let block = ((u128::from(key) * u128::from(self.blocks)) >> 64) as usize;
        // A second, independent-enough hash for the bits inside the block.
        let mut h = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (key >> 29);
        let base = block * 8;
        let bits = (0..PROBES).map(move |_| {
            h = h.rotate_left(9);
            let bit = (h & 511) as usize;
            (base + bit / 64, 1u64 << (bit % 64))
        });
        (block, bits)
    }

    fn insert(&self, key: u64) {
        let (_, bits) = self.probes(key);
        for (word, mask) in bits {
            self.words[word].fetch_or(mask, Relaxed);
        }
        self.len.fetch_add(1, Relaxed);
    }

    fn contains(&self, key: u64) -> bool {
        let (_, mut bits) = self.probes(key);
        bits.all(|(word, mask)| self.words[word].load(Relaxed) & mask != 0)
    }

    fn bytes(&self) -> u64 {
        self.blocks * 64
    }
}

/// A growing filter of 64-bit fingerprints.
pub struct Bloom {
    filters: RwLock<Vec<Filter>>,
}

impl Default for Bloom {
    fn default() -> Self {
        Bloom::with_capacity(FIRST)
    }
}

impl Bloom {
    /// A filter sized for `capacity` keys before it first grows.
    pub fn with_capacity(capacity: u64) -> Bloom {
        Bloom {
            filters: RwLock::new(vec![Filter::new(capacity.max(1024))]),
        }
    }

    /// False only when `key` was certainly never inserted.
    pub fn may_contain(&self, key: u64) -> bool {
        let filters = self.filters.read().unwrap_or_else(|p| p.into_inner());
        filters.iter().rev().any(|f| f.contains(key))
    }

    /// Inserts many keys (one commit's), growing first if they would overfill.
    pub fn insert_all(&self, keys: impl ExactSizeIterator<Item = u64>) {
        let n = keys.len() as u64;
        {
            let filters = self.filters.read().unwrap_or_else(|p| p.into_inner());
            if let Some(last) = filters.last() {
                if last.len.load(Relaxed) + n <= last.capacity {
                    keys.for_each(|k| last.insert(k));
                    return;
                }
            }
        }
        let mut filters = self.filters.write().unwrap_or_else(|p| p.into_inner());
        let next = filters.last().map_or(FIRST, |f| f.capacity * 2).max(n);
        // (Capacity doubles: the sum of the filters' error rates stays small.)
        filters.push(Filter::new(next));
        if let Some(last) = filters.last() {
            keys.for_each(|k| last.insert(k));
        }
    }

    /// Memory held by the bit arrays.
    pub fn bytes(&self) -> u64 {
        let filters = self.filters.read().unwrap_or_else(|p| p.into_inner());
        filters.iter().map(Filter::bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes())
    }

    #[test]
    fn never_forgets_a_key_and_grows_past_its_capacity() {
        let first = 1 << 16;
        let b = Bloom::with_capacity(first);
        let n = 3 * first;
        for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
            b.insert_all(chunk.iter().map(|&i| key(i)));
        }
        assert!((0..n).all(|i| b.may_contain(key(i))));
        assert!(b.filters.read().unwrap().len() >= 2, "it grew");
        // New keys: mostly reported absent (about 1% each filter may not).
        let wrong = (n..n + 100_000).filter(|&i| b.may_contain(key(i))).count();
        assert!(wrong < 1_000, "{wrong} false positives in 100,000");
        assert!(wrong > 0, "a filter this small has some false positives");
    }

    #[test]
    fn an_empty_filter_contains_nothing() {
        let b = Bloom::default();
        assert!((0..10_000).all(|i| !b.may_contain(key(i))));
        assert!(b.bytes() >= FIRST * BITS_PER_KEY / 8);
    }
}
