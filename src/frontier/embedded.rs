//! The in-process frontier: host-sharded schedules plus one shared visited set.
//!
//! Admission is atomic and happens once: `push` inserts the URL's fingerprint into
//! the visited set and only a first insert queues the URL, so no URL enters twice.
//! Each shard is one [`Schedule`] behind its own mutex, owned by one worker; a host
//! always lives in the same shard (`hash(HostKey) % shards`), so its politeness state
//! is in one place. An idle worker takes ready hosts from other shards, so a crawl
//! of one site still uses every worker. Locks are held for a few map operations and
//! never across an await.
//!
//! Completion is counted, not guessed: `pending` is queued + leased over all shards,
//! changed only by push (+1) and complete (-1). A page pushes its links before it
//! completes, so `pending` cannot touch zero while work remains.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::MonotonicClock;
use tokio::sync::Notify;

use super::schedule::{Entry, Poll, Schedule};
use super::{Lease, Next};
use crate::canon::{fingerprint, HostKey};

pub struct Embedded {
    shards: Vec<Mutex<Schedule<MonotonicClock>>>,
    /// Fingerprint → the shallowest depth the URL was found at.
    visited: DashMap<u64, u32>,
    /// Queued + leased URLs: zero means the crawl is done.
    pending: AtomicUsize,
    /// Leased URLs plus queued retries: what must still finish once the page budget is spent.
    active: AtomicUsize,
    /// Fresh URLs leased so far, against `max_leases`.
    started: AtomicU64,
    max_leases: u64,
    notify: Notify,
}

impl Embedded {
    /// `max_leases` = 0 means no page budget.
    pub fn new(
        shards: usize,
        per_host_concurrency: usize,
        per_host_rate: f64,
        max_leases: u64,
    ) -> Embedded {
        let shards = (0..shards.max(1))
            .map(|_| {
                Mutex::new(Schedule::new(
                    MonotonicClock,
                    per_host_concurrency,
                    per_host_rate,
                ))
            })
            .collect();
        Embedded {
            shards,
            visited: DashMap::new(),
            pending: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            max_leases,
            notify: Notify::new(),
        }
    }

    fn shard(&self, i: usize) -> MutexGuard<'_, Schedule<MonotonicClock>> {
        // A poisoned shard means a panic while holding it; the data is still
        // consistent enough to keep crawling, so take it rather than cascade.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    pub fn notify(&self) -> &Notify {
        &self.notify
    }

    /// Admits `entry` if its URL was never seen. Returns false for a duplicate; a
    /// duplicate found at a shallower depth lowers the depth the URL is fetched at,
    /// so `max_depth` holds even when pages finish out of order.
    pub fn push(&self, entry: Entry) -> bool {
        match self.visited.entry(fingerprint(&entry.url)) {
            dashmap::Entry::Occupied(mut seen) => {
                if entry.depth < *seen.get() {
                    seen.insert(entry.depth);
                }
                return false;
            }
            dashmap::Entry::Vacant(slot) => {
                slot.insert(entry.depth);
            }
        }
        let key = HostKey::of(&entry.url);
        self.pending.fetch_add(1, SeqCst);
        let shard = key.shard(self.shards.len());
        self.shard(shard).push(key, entry);
        self.notify.notify_waiters();
        true
    }

    /// Marks a URL as seen without queueing it (true if it was new).
    pub fn mark_seen(&self, fp: u64) -> bool {
        self.visited.insert(fp, u32::MAX).is_none()
    }

    fn budget_spent(&self) -> bool {
        self.max_leases > 0 && self.started.load(SeqCst) >= self.max_leases
    }

    /// The next URL for worker `worker`: its own shard first, then the others.
    pub fn next(&self, worker: usize) -> Next {
        let n = self.shards.len();
        let mut wait: Option<Duration> = None;
        for i in 0..n {
            let shard = (worker + i) % n;
            let mut sched = self.shard(shard);
            loop {
                let only_retries = self.budget_spent();
                match sched.lease(only_retries) {
                    Poll::Ready(host, entry) => {
                        if entry.attempt == 0
                            && self.max_leases > 0
                            && self.started.fetch_add(1, SeqCst) >= self.max_leases
                        {
                            sched.release(&host, entry);
                            continue;
                        }
                        if entry.attempt == 0 {
                            self.active.fetch_add(1, SeqCst);
                        }
                        let mut entry = entry;
                        if let Some(d) = self.visited.get(&fingerprint(&entry.url)) {
                            entry.depth = entry.depth.min(*d);
                        }
                        return Next::Lease(Lease { shard, host, entry });
                    }
                    Poll::Wait(d) => {
                        wait = Some(wait.map_or(d, |w| w.min(d)));
                        break;
                    }
                    Poll::Idle => break,
                }
            }
        }
        if self.is_done() {
            return Next::Done;
        }
        match wait {
            Some(d) => Next::Wait(d),
            None => Next::Idle,
        }
    }

    /// True when nothing is left that will ever be fetched.
    pub fn is_done(&self) -> bool {
        self.pending.load(SeqCst) == 0 || (self.budget_spent() && self.active.load(SeqCst) == 0)
    }

    /// The leased URL is recorded. Push its links before calling this.
    pub fn complete(&self, lease: Lease) {
        self.shard(lease.shard).complete(&lease.host);
        self.active.fetch_sub(1, SeqCst);
        self.pending.fetch_sub(1, SeqCst);
        self.notify.notify_waiters();
    }

    /// The leased URL failed transiently: back to its host's queue front, host paused.
    pub fn retry(&self, lease: Lease, delay: Duration) {
        // A retry stays "active" (it must finish even when the budget is spent).
        self.shard(lease.shard)
            .retry(&lease.host, lease.entry, delay);
        self.notify.notify_waiters();
    }

    /// The leased URL was not processed (shutdown): back to the queue, unchanged.
    pub fn release(&self, lease: Lease) {
        if lease.entry.attempt == 0 {
            self.active.fetch_sub(1, SeqCst);
            if self.max_leases > 0 {
                self.started.fetch_sub(1, SeqCst);
            }
        }
        self.shard(lease.shard).release(&lease.host, lease.entry);
        self.notify.notify_waiters();
    }

    /// Applies a robots.txt Crawl-delay to one host.
    pub fn set_crawl_delay(&self, host: &HostKey, delay: Duration) {
        let shard = host.shard(self.shards.len());
        self.shard(shard).set_min_interval(host, delay);
    }

    /// (hosts, queued) over all shards.
    pub fn sizes(&self) -> (u64, u64) {
        (0..self.shards.len()).fold((0, 0), |(h, q), i| {
            let s = self.shard(i);
            (h + s.hosts() as u64, q + s.queued() as u64)
        })
    }

    pub fn leased(&self) -> u64 {
        let pending = self.pending.load(SeqCst) as u64;
        pending.saturating_sub(self.sizes().1)
    }
}
