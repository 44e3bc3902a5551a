//! The in-process frontier: host-sharded schedules plus one shared visited set,
//! optionally backed by a durable store (the default for `trawl crawl`).
//!
//! Admission is atomic and happens once: `push` checks-and-inserts the URL's
//! fingerprint in the visited set and only a first insert queues the URL, so no URL
//! enters twice. Each shard is one [`Schedule`] behind its own mutex, owned by one
//! worker; a host always lives in the same shard (`hash(HostKey) % shards`), so its
//! politeness state is in one place. An idle worker takes ready hosts from other
//! shards, so a crawl of one site still uses every worker. Locks are held for a few
//! map operations and never across an await.
//!
//! Completion is counted, not guessed: `pending` is queued + leased over all shards,
//! changed only by push (+1) and complete (-1). A page pushes its links before it
//! completes, so `pending` cannot touch zero while work remains.
//!
//! # Durable mode
//! Every admitted URL is written to the [`Store`] (visited fingerprint + pending
//! entry) before its discoverer's record may be written; only the head of each
//! host's queue and a bounded fingerprint cache stay in memory, so the frontier can
//! be larger than memory. Sequence numbers are assigned, and store writes queued,
//! under the host's shard lock, so per host the store's committed entries are always
//! a prefix of the sequence order and a refill after the cursor never skips one.
//! A pending entry is deleted only after its record is in pages.jsonl and synced.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dashmap::DashMap;

use governor::clock::MonotonicClock;
use tokio::sync::Notify;

use super::schedule::{Poll, Schedule};
use super::store::{Op, Store, StoreError};
use super::visited::{Seen, Visited};
use super::Entry;
use super::{Admission, Contact, Lease, Limits, Next, Recorded};
use crate::canon::{fingerprint, HostKey};

/// URLs per host kept in memory in durable mode (at least twice what may be in
/// flight to the host); the rest wait on disk.
const MEM_PER_HOST: usize = 8;
/// URLs kept in memory in durable mode beyond the per-host heads, over all shards
/// (about a MB): below it nothing waits for a commit to be read back. Past it, a
/// host's next URLs are read back from the runs, which costs no measurable speed
/// now that a fast crawl commits about ten times a second (50,000 held 8 MB; issue 21).
const MEM_BUDGET: usize = 8_000;
/// Fingerprints cached in memory (per generation) in durable mode: a
/// duplicate link is most often to a URL seen lately, and an older one costs a
/// store lookup (a new URL never does: the store's Bloom filter answers). Two
/// full generations take about 40 MB.
const CACHE_PER_GENERATION: usize = 1_000_000;

/// Stable hash of a host key: the store's per-host key prefix.
pub fn host_hash(key: &HostKey) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key.as_str().as_bytes())
}

/// New URLs grouped by the shard of their host: (host, fingerprint, entry).
type ByShard = Vec<Vec<(HostKey, u64, Entry)>>;

pub struct Embedded {
    shards: Vec<Mutex<Schedule<MonotonicClock>>>,
    visited: Visited,
    store: Option<Arc<Store>>,
    next_seq: AtomicU64,
    /// Queued + leased URLs: zero means the crawl is done.
    pending: AtomicUsize,
    /// Leased URLs plus queued retries: what must still finish once the page budget is spent.
    active: AtomicUsize,
    /// Fresh URLs leased so far, against `max_leases`.
    started: AtomicU64,
    max_leases: u64,
    /// URLs admitted per host, against `max_pages_per_host` (0 = no limit), by the
    /// hash of the host's key: the count outlives the host's schedule entry, and a
    /// million hosts' names would be most of it. (Two hosts whose keys hash alike
    /// would share one budget: one chance in 2^64 a pair.)
    per_host: DashMap<u64, u64>,
    max_per_host: u64,
    max_crawl_delay: Duration,
    /// Wakes idle workers: work was pushed, a page finished, a commit came.
    notify: Arc<Notify>,
    /// Seeds are still being admitted: an empty frontier is not a finished crawl.
    seeding: AtomicBool,
}

impl Embedded {
    /// With a `store`, the frontier is durable.
    pub fn new(shards: usize, limits: Limits, store: Option<Arc<Store>>) -> Embedded {
        let durable = store.is_some();
        let notify = Arc::new(Notify::new());
        if let Some(store) = &store {
            store.wake_on_commit(notify.clone());
        }
        let conc = limits.per_host_concurrency;
        let shards = (0..shards.max(1))
            .map(|_| {
                let s = Schedule::new(MonotonicClock, conc, limits.per_host_rate)
                    .with_unreachable(limits.unreachable)
                    .with_host_limits(limits.hosts.clone());
                let head = MEM_PER_HOST.max(2 * conc);
                Mutex::new(if durable {
                    s.with_mem_per_host(head)
                        .with_mem_budget(MEM_BUDGET / shards.max(1))
                } else {
                    s
                })
            })
            .collect();
        Embedded {
            shards,
            visited: Visited::new(if durable {
                CACHE_PER_GENERATION
            } else {
                usize::MAX
            }),
            store,
            next_seq: AtomicU64::new(1),
            pending: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            max_leases: limits.max_pages,
            per_host: DashMap::new(),
            max_per_host: limits.max_pages_per_host,
            max_crawl_delay: limits.max_crawl_delay,
            notify,
            seeding: AtomicBool::new(false),
        }
    }

    fn shard(&self, i: usize) -> MutexGuard<'_, Schedule<MonotonicClock>> {
        // A poisoned shard means a panic while holding it; the data is still
        // consistent enough to keep crawling, so take it rather than cascade.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn notify(&self) -> &Notify {
        &self.notify
    }

    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Admits `entry` if its URL was never seen. Returns false for a duplicate; a
    /// duplicate found at a shallower depth lowers the depth the URL is fetched at,
    /// so `max_depth` holds even when pages finish out of order.
    pub fn push(&self, entry: Entry) -> Result<bool, StoreError> {
        Ok(self.push_many(vec![entry])?.admissions.first() == Some(&Admission::New))
    }

    /// Takes one of the host's URL slots; false when its budget is spent.
    fn reserve_host(&self, host: &HostKey) -> bool {
        if self.max_per_host == 0 {
            return true;
        }
        let mut n = self.per_host.entry(host_hash(host)).or_insert(0);
        if *n >= self.max_per_host {
            return false;
        }
        *n += 1;
        true
    }

    /// Gives back a slot taken for a URL that turned out to be a duplicate.
    fn release_host(&self, host: &HostKey) {
        if let Some(mut n) = self.per_host.get_mut(&host_hash(host)) {
            *n = n.saturating_sub(1);
        }
    }

    /// Counts URLs an earlier run admitted against their host's budget.
    fn charge_host(&self, host: &HostKey, n: u64) {
        if self.max_per_host > 0 {
            *self.per_host.entry(host_hash(host)).or_insert(0) += n;
        }
    }

    /// Admits a page's worth of URLs; the ticket covers all their store writes.
    pub fn push_many(&self, entries: Vec<Entry>) -> Result<Admitted, StoreError> {
        let (admissions, by_shard, depth_ops) = self.admit(entries)?;
        let mut ticket = self.queue(by_shard)?;
        if let Some(store) = self.store.as_deref() {
            if !depth_ops.is_empty() {
                ticket = ticket.max(store.send(depth_ops)?);
            }
            self.visited.maybe_rotate(store);
        }
        if admissions.contains(&Admission::New) {
            self.notify.notify_waiters();
        }
        Ok(Admitted { admissions, ticket })
    }

    /// Decides each URL (host budget, then the visited set); returns what became
    /// of each, the new ones by shard, and the store writes that lower a known
    /// URL's depth.
    fn admit(&self, entries: Vec<Entry>) -> Result<(Vec<Admission>, ByShard, Vec<Op>), StoreError> {
        let store = self.store.as_deref();
        let mut admissions = Vec::with_capacity(entries.len());
        let mut by_shard: ByShard = vec![Vec::new(); self.shards.len()];
        let mut depth_ops = Vec::new();
        // One store snapshot per batch, opened only if the cache cannot answer.
        let mut reader = None;
        let mut lookup = |fp: u64| -> Result<Option<u32>, StoreError> {
            let Some(store) = store.filter(|_| self.visited.forgot.load(SeqCst)) else {
                return Ok(None);
            };
            if reader.is_none() {
                reader = Some(store.reader()?);
            }
            match &reader {
                Some(r) => r.visited(fp),
                None => Ok(None),
            }
        };
        for entry in entries {
            // The host's budget first: a host over it admits nothing more. A URL
            // it refuses is still told apart from one seen before (in memory, or
            // in the store once it knows more than memory), as the shared frontier
            // does.
            let key = HostKey::of(&entry.url);
            let fp = fingerprint(&entry.url);
            if !self.reserve_host(&key) {
                let seen = self.visited.depth(fp).is_some() || lookup(fp)?.is_some();
                admissions.push(match seen {
                    true => Admission::Seen,
                    false => Admission::HostBudget(key),
                });
                continue;
            }
            match self.visited.admit(fp, entry.depth, &mut lookup)? {
                Seen::Duplicate { shallower } => {
                    self.release_host(&key);
                    admissions.push(Admission::Seen);
                    if shallower && store.is_some() {
                        depth_ops.push(Op::Visit(fp, entry.depth));
                    }
                }
                Seen::New => {
                    admissions.push(Admission::New);
                    by_shard[key.shard(self.shards.len())].push((key, fp, entry));
                }
            }
        }
        Ok((admissions, by_shard, depth_ops))
    }

    /// Queues new URLs in their shards (and, durable, in the store); returns the
    /// store ticket covering them.
    fn queue(&self, by_shard: ByShard) -> Result<u64, StoreError> {
        let mut ticket = 0;
        for (i, group) in by_shard.into_iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            self.pending.fetch_add(group.len(), SeqCst);
            let mut sched = self.shard(i);
            let Some(store) = self.store.as_deref() else {
                for (key, _, entry) in group {
                    sched.push(key, entry);
                }
                continue;
            };
            let mut ops = Vec::with_capacity(group.len() * 2);
            for (key, fp, mut entry) in group {
                entry.seq = self.next_seq.fetch_add(1, SeqCst);
                let bytes =
                    serde_json::to_vec(&entry).map_err(|e| StoreError::Io(e.to_string()))?;
                ops.push(Op::Visit(fp, entry.depth));
                ops.push(Op::Put(host_hash(&key), entry.seq, fp, bytes));
                sched.push_durable(key, entry);
            }
            // Sent under the shard lock: per host, store order = sequence order.
            ticket = ticket.max(store.send(ops)?);
        }
        Ok(ticket)
    }

    /// True once `max_pages` fresh URLs were leased.
    pub fn budget_spent(&self) -> bool {
        self.max_leases > 0 && self.started.load(SeqCst) >= self.max_leases
    }

    /// Reads spilled URLs back for hosts whose in-memory head ran low.
    fn refill(&self, sched: &mut Schedule<MonotonicClock>) {
        let Some(store) = self.store.as_deref() else {
            return;
        };
        for (key, cursor, room) in sched.take_refills() {
            let entries = match store.pending_after(host_hash(&key), cursor, room.max(1)) {
                Ok(rows) => rows
                    .into_iter()
                    .filter_map(|(seq, bytes)| {
                        let mut e: Entry = serde_json::from_slice(&bytes).ok()?;
                        e.seq = seq;
                        Some(e)
                    })
                    .collect(),
                Err(e) => {
                    tracing::warn!("frontier store read failed (will retry): {e}");
                    Vec::new()
                }
            };
            if entries.is_empty() {
                // Its URLs are queued for the next commit: have it now.
                store.nudge();
            }
            sched.refill(&key, entries);
        }
    }

    /// The next URL for worker `worker`: its own shard first, then the others.
    pub fn next(&self, worker: usize) -> Next {
        let n = self.shards.len();
        let mut wait: Option<Duration> = None;
        for i in 0..n {
            let shard = (worker + i) % n;
            let mut sched = self.shard(shard);
            self.refill(&mut sched);
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
                        if let Some(d) = self.visited.depth(fingerprint(&entry.url)) {
                            entry.depth = entry.depth.min(d);
                        }
                        self.save_host(&sched, &host);
                        return Next::Lease(Lease {
                            shard,
                            id: 0,
                            unreachable: sched.unreachable(&host),
                            // A seed page nearly always links within its host: its
                            // connection is kept for the pages it finds.
                            last: entry.depth > 0 && sched.drained(&host),
                            host,
                            entry,
                        });
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

    /// Records when a host was last asked, so a restart keeps its spacing.
    fn save_host(&self, sched: &Schedule<MonotonicClock>, host: &HostKey) {
        let Some(store) = self.store.as_deref() else {
            return;
        };
        let state = HostState {
            last_ms: unix_ms(),
            interval_ms: sched.interval(host).map_or(0, |d| d.as_millis() as u64),
        };
        if let Ok(bytes) = serde_json::to_vec(&state) {
            let _ = store.send(vec![Op::Host(host.as_str().to_string(), bytes)]);
        }
    }

    /// True when nothing is left that will ever be fetched. The seeding flag is
    /// read first: once it reads false, every seed is counted in `pending`.
    pub fn is_done(&self) -> bool {
        let seeding = self.seeding.load(SeqCst);
        (self.pending.load(SeqCst) == 0 && !seeding)
            || (self.budget_spent() && self.active.load(SeqCst) == 0)
    }

    /// Hosts not started yet with a seed queued, over all shards.
    pub fn seed_hosts_waiting(&self) -> usize {
        (0..self.shards.len())
            .map(|i| self.shard(i).seed_hosts_waiting())
            .sum()
    }

    /// Seeds are being admitted (`true`) or all are (`false`); see `is_done`.
    pub fn seeding(&self, on: bool) {
        self.seeding.store(on, SeqCst);
        if !on {
            self.notify.notify_waiters();
        }
    }

    /// The leased URL is recorded. Push its links before calling this. Returns true
    /// when `contact` made its host unreachable.
    pub fn complete(&self, lease: Lease, contact: &Contact) -> bool {
        let dead = {
            let mut sched = self.shard(lease.shard);
            sched.complete(&lease.host);
            sched.contact(&lease.host, contact)
        };
        self.active.fetch_sub(1, SeqCst);
        self.pending.fetch_sub(1, SeqCst);
        self.notify.notify_waiters();
        dead
    }

    /// The leased URL is no longer wanted (the resumed crawl's filters refuse it):
    /// done without a record, and forgotten by the store.
    pub fn discard(&self, lease: Lease) {
        if let (Some(store), true) = (&self.store, lease.entry.seq > 0) {
            let _ = store.send(vec![Op::Delete(host_hash(&lease.host), lease.entry.seq)]);
        }
        self.complete(lease, &Contact::Unknown);
    }

    /// The leased URL failed transiently: back to its host's queue front, host paused.
    /// Returns true when `contact` made its host unreachable.
    pub fn retry(&self, lease: Lease, delay: Duration, contact: &Contact) -> bool {
        // A retry stays "active" (it must finish even when the budget is spent).
        let dead = {
            let mut sched = self.shard(lease.shard);
            sched.retry(&lease.host, lease.entry, delay);
            sched.contact(&lease.host, contact)
        };
        self.notify.notify_waiters();
        dead
    }

    /// The leased URL was not processed (shutdown): back to the queue, unchanged.
    pub fn release(&self, lease: Lease) {
        self.requeue(lease, Duration::ZERO);
    }

    /// Puts a leased URL back untouched, its host paused for `delay` (its slot was
    /// used by another request, such as robots.txt).
    pub fn requeue(&self, lease: Lease, delay: Duration) {
        if lease.entry.attempt == 0 {
            self.active.fetch_sub(1, SeqCst);
            if self.max_leases > 0 {
                self.started.fetch_sub(1, SeqCst);
            }
        }
        self.shard(lease.shard)
            .retry(&lease.host, lease.entry, delay);
        self.notify.notify_waiters();
    }

    /// The host's next lease waits `delay` from now (see `Frontier::hold`).
    pub fn hold(&self, host: &HostKey, delay: Duration) {
        self.shard(host.shard(self.shards.len()))
            .pause_host(host, delay);
    }

    /// The spacing in force for a host's requests, if any.
    pub fn host_interval(&self, host: &HostKey) -> Option<Duration> {
        self.shard(host.shard(self.shards.len())).interval(host)
    }

    /// Applies a robots.txt Crawl-delay to one host (clamped to `max_crawl_delay`).
    pub fn set_crawl_delay(&self, host: &HostKey, delay: Duration) {
        let shard = host.shard(self.shards.len());
        let delay = delay.min(self.max_crawl_delay);
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

    /// Loads a previous run's state: host spacing, and every pending URL not
    /// recorded already (those URLs' stale pending entries are deleted). Recorded
    /// and pending URLs count against their hosts' budgets. Returns (pending URLs
    /// loaded, stale entries dropped).
    pub fn resume(&self, recorded: &Recorded) -> Result<(u64, u64), StoreError> {
        let Some(store) = self.store.clone() else {
            return Ok((0, 0));
        };
        for (host, n) in &recorded.per_host {
            self.charge_host(host, *n);
        }
        let recorded = &recorded.fingerprints;
        // The store now knows URLs this process never cached.
        self.visited.forgot.store(true, SeqCst);
        for i in 0..self.shards.len() {
            self.shard(i).hold_all_for_restart();
        }
        let now = unix_ms();
        for (key, bytes) in store.hosts()? {
            let Ok(state) = serde_json::from_slice::<HostState>(&bytes) else {
                continue;
            };
            let Some(host) = HostKey::parse(&key) else {
                continue;
            };
            let ready_at = state.last_ms + state.interval_ms;
            if ready_at > now {
                let shard = host.shard(self.shards.len());
                self.shard(shard)
                    .pause_host(&host, Duration::from_millis(ready_at - now));
            }
        }
        let (mut loaded, mut stale) = (0u64, 0u64);
        let mut deletes = Vec::new();
        let mut max_seq = 0;
        let mut bad = None;
        // Hosts created while loading pending URLs get the restart hold too.
        store.scan_pending(|rec| {
            let (hh, seq) = (rec.host, rec.seq);
            max_seq = max_seq.max(seq);
            // The stored fingerprint spares parsing every recorded URL's entry.
            if rec.fp != 0 && recorded.contains(&rec.fp) {
                stale += 1;
                deletes.push(Op::Delete(hh, seq));
                return;
            }
            let Ok(mut entry) = serde_json::from_slice::<Entry>(&rec.entry) else {
                bad = Some(seq);
                deletes.push(Op::Delete(hh, seq));
                return;
            };
            entry.seq = seq;
            if recorded.contains(&fingerprint(&entry.url)) {
                stale += 1;
                deletes.push(Op::Delete(hh, seq));
                return;
            }
            loaded += 1;
            let key = HostKey::of(&entry.url);
            self.charge_host(&key, 1);
            self.pending.fetch_add(1, SeqCst);
            let shard = key.shard(self.shards.len());
            let mut sched = self.shard(shard);
            sched.push_durable(key, entry);
        })?;
        if let Some(seq) = bad {
            tracing::warn!(
                seq,
                "unreadable pending entries dropped from the frontier store"
            );
        }
        self.next_seq.store(max_seq + 1, SeqCst);
        self.started.store(recorded.len() as u64, SeqCst);
        store.send(deletes)?;
        Ok((loaded, stale))
    }
}

/// What `push_many` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// Per input entry, in order.
    pub admissions: Vec<Admission>,
    /// Store ticket covering the new URLs (0: nothing to wait for).
    pub ticket: u64,
}

/// A host's politeness state as saved in the store.
#[derive(serde::Serialize, serde::Deserialize)]
struct HostState {
    /// Unix milliseconds of the last request started.
    last_ms: u64,
    /// Spacing between requests then in force.
    interval_ms: u64,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
