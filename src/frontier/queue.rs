//! One host's waiting URLs, in the order the schedule hands them out: retries and
//! handed-back URLs first, then shallowest first, then in arrival order. Pure data,
//! used only by `schedule.rs`; it knows nothing of time or politeness.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::Entry;

/// (0 = retry front / 1 = fresh front / 2 = normal, depth, arrival)
type Key = (u8, u32, u64);

/// An entry with its place in the queue; ordered by the key alone.
struct Queued(Key, Entry);

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// One host's waiting URLs, shallowest first; `push_front` entries go before all,
/// retries before fresh URLs handed back, so a spent page budget (which stops fresh
/// URLs only) never strands a retry behind one.
///
/// A heap in one vector, not a B-tree: a host holds a handful of URLs (its head in
/// durable mode), and a B-tree's first leaf alone is eleven entries' room, which
/// was a fifth of the heap per host with many hosts. An emptied queue frees its
/// vector: a finished host keeps no room.
#[derive(Default)]
pub(super) struct HostQueue {
    entries: BinaryHeap<Reverse<Queued>>,
    seq: u64,
}

impl HostQueue {
    pub(super) fn push_back(&mut self, entry: Entry) {
        self.seq += 1;
        self.room_for_one();
        self.entries
            .push(Reverse(Queued((2, entry.depth, self.seq), entry)));
    }

    pub(super) fn push_front(&mut self, entry: Entry) {
        // Later fronts go before earlier ones, as with a deque.
        self.seq += 1;
        let class = if entry.attempt > 0 { 0 } else { 1 };
        self.room_for_one();
        self.entries
            .push(Reverse(Queued((class, 0, u64::MAX - self.seq), entry)));
    }

    /// An empty queue's first entry gets room for itself alone: most hosts of a
    /// long seed list hold one URL (the seed), and a vector's first growth is room
    /// for four.
    fn room_for_one(&mut self) {
        if self.entries.capacity() == 0 {
            self.entries.reserve_exact(1);
        }
    }

    pub(super) fn pop_front(&mut self) -> Option<Entry> {
        let entry = self.entries.pop().map(|Reverse(Queued(_, e))| e);
        if self.entries.is_empty() {
            self.entries = BinaryHeap::new();
        }
        entry
    }

    pub(super) fn front(&self) -> Option<&Entry> {
        self.entries.peek().map(|Reverse(Queued(_, e))| e)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}
