//! One host's waiting URLs, in the order the schedule hands them out: retries and
//! handed-back URLs first, then shallowest first, then in arrival order. Pure data,
//! used only by `schedule.rs`; it knows nothing of time or politeness.

use std::collections::BTreeMap;

use super::Entry;

/// One host's waiting URLs, shallowest first; `push_front` entries go before all,
/// retries before fresh URLs handed back, so a spent page budget (which stops fresh
/// URLs only) never strands a retry behind one.
#[derive(Default)]
pub(super) struct HostQueue {
    /// (0 = retry front / 1 = fresh front / 2 = normal, depth, arrival) → entry.
    entries: BTreeMap<(u8, u32, u64), Entry>,
    seq: u64,
}

impl HostQueue {
    pub(super) fn push_back(&mut self, entry: Entry) {
        self.seq += 1;
        self.entries.insert((2, entry.depth, self.seq), entry);
    }

    pub(super) fn push_front(&mut self, entry: Entry) {
        // Later fronts go before earlier ones, as with a deque.
        self.seq += 1;
        let class = if entry.attempt > 0 { 0 } else { 1 };
        self.entries.insert((class, 0, u64::MAX - self.seq), entry);
    }

    pub(super) fn pop_front(&mut self) -> Option<Entry> {
        self.entries.pop_first().map(|(_, e)| e)
    }

    pub(super) fn front(&self) -> Option<&Entry> {
        self.entries.first_key_value().map(|(_, e)| e)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}
