//! The per-host slots of the robots.txt cache, least recently used first out, by
//! bytes rather than by hosts: a crawl of a million hosts, or of a few hosts with
//! 500 KiB robots.txt files, holds at most the budget (plus the slots in use).
//!
//! A slot is shared (`Arc`) by everyone asking about its host at once, which is how
//! concurrent requests wait for one robots.txt fetch. A slot someone holds is never
//! evicted; an evicted host simply gets a new, empty slot next time (its robots.txt
//! is fetched again). This module knows nothing of robots.txt; it must never block
//! on anything but its own short lock.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Arc;

/// Bytes counted for a slot beyond its value's own heap: the map entries, the
/// `Arc` and the lock around the value (an estimate, on the generous side).
pub const SLOT_OVERHEAD: usize = 192;

struct Node<V> {
    slot: Arc<V>,
    bytes: usize,
    tick: u64,
}

/// Slots by key, evicted least recently used first once their bytes pass the budget.
pub struct Lru<K, V> {
    budget: usize,
    used: usize,
    tick: u64,
    nodes: HashMap<K, Node<V>>,
    /// Recency: tick of last use → key.
    order: BTreeMap<u64, K>,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub fn new(budget: usize) -> Lru<K, V> {
        Lru {
            budget,
            used: 0,
            tick: 0,
            nodes: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// The slot for `key` (made by `make` if absent), now the most recently used.
    pub fn slot(&mut self, key: &K, make: impl FnOnce() -> V) -> Arc<V> {
        self.tick += 1;
        let tick = self.tick;
        if let Some(node) = self.nodes.get_mut(key) {
            self.order.remove(&node.tick);
            node.tick = tick;
            self.order.insert(tick, key.clone());
            return node.slot.clone();
        }
        let slot = Arc::new(make());
        self.nodes.insert(
            key.clone(),
            Node {
                slot: slot.clone(),
                bytes: SLOT_OVERHEAD,
                tick,
            },
        );
        self.order.insert(tick, key.clone());
        self.used += SLOT_OVERHEAD;
        self.evict();
        slot
    }

    /// Records that `slot` (if it is still `key`'s) now holds `heap` bytes, and
    /// evicts others to stay within the budget.
    pub fn resize(&mut self, key: &K, slot: &Arc<V>, heap: usize) {
        if let Some(node) = self
            .nodes
            .get_mut(key)
            .filter(|n| Arc::ptr_eq(&n.slot, slot))
        {
            let bytes = SLOT_OVERHEAD.saturating_add(heap);
            self.used = self.used.saturating_sub(node.bytes).saturating_add(bytes);
            node.bytes = bytes;
        }
        self.evict();
    }

    /// Drops idle slots, oldest first, until the bytes fit the budget. Slots in use
    /// (held outside the cache) are skipped: they stay until released and a later
    /// call evicts them. A slot is only handed out under the caller's lock on this
    /// cache, so its count cannot rise while we look.
    fn evict(&mut self) {
        if self.used <= self.budget {
            return;
        }
        let mut gone = Vec::new();
        let mut freed = 0usize;
        for (tick, key) in &self.order {
            if self.used.saturating_sub(freed) <= self.budget {
                break;
            }
            if let Some(node) = self.nodes.get(key) {
                if Arc::strong_count(&node.slot) == 1 {
                    freed = freed.saturating_add(node.bytes);
                    gone.push(*tick);
                }
            }
        }
        for tick in gone {
            if let Some(key) = self.order.remove(&tick) {
                self.nodes.remove(&key);
            }
        }
        self.used = self.used.saturating_sub(freed);
    }

    /// Bytes counted now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    #[cfg(test)]
    pub fn contains(&self, key: &K) -> bool {
        self.nodes.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KB: usize = 1000;

    #[test]
    fn evicts_least_recently_used_by_bytes() {
        let mut lru: Lru<&str, u32> = Lru::new(3 * KB + 3 * SLOT_OVERHEAD);
        for k in ["a", "b", "c"] {
            let s = lru.slot(&k, || 0);
            lru.resize(&k, &s, KB);
        }
        assert_eq!(lru.len(), 3);
        // "a" used again: "b" is now the oldest.
        drop(lru.slot(&"a", || 0));
        let d = lru.slot(&"d", || 0);
        lru.resize(&"d", &d, KB);
        drop(d);
        assert!(lru.contains(&"a") && !lru.contains(&"b"));
        assert!(lru.contains(&"c") && lru.contains(&"d"));
        assert!(lru.used() <= 3 * KB + 3 * SLOT_OVERHEAD);
        // One big entry pushes out as many as it needs, and no more.
        let e = lru.slot(&"e", || 0);
        lru.resize(&"e", &e, 2 * KB);
        drop(e);
        assert!(lru.contains(&"e") && lru.contains(&"d"));
        assert!(!lru.contains(&"a") && !lru.contains(&"c"));
        // Many small hosts are bounded by bytes too.
        for i in 0..10_000 {
            let k: &'static str = Box::leak(format!("h{i}").into_boxed_str());
            drop(lru.slot(&k, || 0));
        }
        assert!(lru.used() <= 3 * KB + 3 * SLOT_OVERHEAD);
        assert!(lru.len() <= 3 * KB / SLOT_OVERHEAD + 3);
    }

    #[test]
    fn a_slot_in_use_is_never_evicted_and_a_new_one_replaces_an_evicted_one() {
        let mut lru: Lru<&str, u32> = Lru::new(KB);
        let held = lru.slot(&"held", || 7);
        lru.resize(&"held", &held, 10 * KB);
        assert!(lru.contains(&"held"), "over budget but in use");
        // The same slot is handed to a second asker while the first holds it.
        assert!(Arc::ptr_eq(&held, &lru.slot(&"held", || 0)));
        drop(held);
        drop(lru.slot(&"other", || 0));
        assert!(!lru.contains(&"held"), "evicted once released");
        assert!(lru.used() <= KB);
        // A size reported for an evicted slot does not count against its successor.
        let old = Arc::new(7);
        let new = lru.slot(&"held", || 8);
        lru.resize(&"held", &old, 100 * KB);
        assert_eq!(*new, 8);
        assert!(lru.used() <= KB);
    }
}
