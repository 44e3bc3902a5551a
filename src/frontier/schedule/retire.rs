//! Retiring finished hosts (see the schedule's module docs): when an idle host's
//! entry may go, and dropping those that are due. Only the newest plan for a host
//! counts, so a host that went again since is never dropped early.

use std::cmp::Reverse;

use governor::clock::Clock;

use super::Schedule;
use crate::canon::HostKey;

impl<C: Clock + Clone> Schedule<C> {
    /// Queues an idle host (nothing queued, in flight or spilled) for retirement
    /// once its spacing since now, its last request's end, has passed.
    pub(super) fn retire_when_idle(&mut self, key: &HostKey, now: C::Instant) {
        let Some(host) = self.hosts.get_mut(key) else {
            return;
        };
        if host.in_flight > 0 || !host.queue.is_empty() || host.spilled > 0 {
            return;
        }
        let at = match host.interval.or(host.base) {
            Some(gap) => now + gap.into(),
            None => now,
        };
        host.retire_at = Some(at);
        self.seq += 1;
        self.retiring.push(Reverse((at, self.seq, key.clone())));
    }

    /// Drops the hosts whose retirement is due and who have nothing to remember.
    pub(super) fn retire_due(&mut self, now: C::Instant) {
        while let Some(Reverse((at, _, _))) = self.retiring.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, _, key))) = self.retiring.pop() else {
                break;
            };
            let Some(host) = self.hosts.get(&key) else {
                continue;
            };
            let keep = host.retire_at != Some(at)
                || host.in_flight > 0
                || !host.queue.is_empty()
                || host.spilled > 0
                || host.wants_refill
                || host.interval.is_some()
                || host.trouble.is_some()
                || host.blocked_until.is_some_and(|b| b > now);
            if !keep {
                self.hosts.remove(&key);
            }
        }
        // A map emptied of most of its hosts gives its room back.
        let cap = self.hosts.capacity();
        if cap > 4096 && self.hosts.len() < cap / 8 {
            self.hosts.shrink_to(self.hosts.len() * 2);
        }
    }
}
