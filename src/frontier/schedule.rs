//! Per-host queues and politeness: which URL may be fetched next, and when.
//!
//! A host (scheme + host + port) is *ready* when it has URLs queued, fewer than
//! `per_host_concurrency` requests in flight, is not blocked (Retry-After, robots
//! backoff), and its rate limiter lets one more request through. Ready hosts sit in a
//! min-heap keyed by the earliest instant they may go, so finding the next URL is
//! O(log hosts) and a slow host never stands in front of a ready one.
//!
//! Hosts already started (leased from at least once) go before hosts not started
//! yet, when both may go now: the crawl finishes what it began before it opens
//! more. A seed list of 100,000 hosts then fetches its first pages at once
//! (robots.txt first, then the page, host after host) instead of fetching every
//! host's robots.txt before any page, and the hosts in progress at once (their
//! connections, their state) are as many as the crawl's speed needs, not all of
//! them. Hosts not started still take every slot the started ones leave free.
//!
//! Within a host, URLs go shallowest first (retries and released leases before
//! anything), so a crawl is breadth-first per host even with many requests in
//! flight, and `max_depth` cuts where a reader expects.
//!
//! The rate limit is a governor GCRA limiter per host, burst 1, so requests to one
//! host are spaced at least `1 / per_host_rate` apart; a robots.txt Crawl-delay swaps
//! in a slower limiter for that host. Politeness lives here and only here: workers
//! never sleep on a host.
//!
//! With a durable store, only the head of each host's queue is kept here (up to
//! `mem_per_host` URLs); the rest are *spilled* (counted, stored on disk in
//! sequence order) and read back when the head runs low. `cursor` is the highest
//! sequence number loaded, so a refill asks the store for what comes after it.
//!
//! A host costs memory only while it has work: once its queue is empty, nothing of
//! it is in flight or spilled, and its spacing since its last request has passed,
//! its entry is dropped (a *retired* host), so a seed list of a million hosts does
//! not keep a million limiters and queues for the whole crawl. A retired host that
//! gets a URL again starts afresh, which is polite because its spacing has already
//! passed. Hosts with something to remember are kept: a robots.txt Crawl-delay
//! (applied only when robots.txt is read), connection failures counting toward
//! unreachable, or a block (Retry-After) still running.
//!
//! This is pure data: no I/O, no locks, no tasks. Time comes from the clock it is
//! given, so tests drive it with governor's fake clock and explicit instants.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock, Reference};

use super::host::{limiter, Host};

mod retire;
use super::{Contact, Count, Entry, Unreachable};
use crate::canon::HostKey;

/// What the schedule says when asked for work.
#[derive(Debug, PartialEq)]
pub enum Poll {
    /// Fetch this now; call `complete`, `retry` or `release` when done.
    Ready(HostKey, Entry),
    /// Nothing may go yet; the earliest host is ready after this long.
    Wait(Duration),
    /// Nothing is queued that could go (everything is in flight or empty).
    Idle,
}

pub struct Schedule<C: Clock + Clone = MonotonicClock> {
    clock: C,
    /// Boxed: the map's slots then cost a pointer each, and growing the map moves
    /// pointers, not whole entries, when a seed list brings a million hosts at once.
    hosts: HashMap<HostKey, Box<Host<C>>>,
    /// Hash of every host ever met (a retired host counts once): the crawl's
    /// distinct hosts, for stats.
    seen: HashSet<u64>,
    /// Hosts not started yet with a seed queued: how far the crawl is behind its
    /// seed list (the crawl admits more seeds as this falls).
    seed_hosts_waiting: usize,
    /// Idle hosts to retire, by when each may go (see the module docs).
    retiring: BinaryHeap<Reverse<(C::Instant, u64, HostKey)>>,
    ready: BinaryHeap<Reverse<(C::Instant, u64, HostKey)>>,
    /// Hosts never leased from, by the same key (see the module docs).
    fresh: BinaryHeap<Reverse<(C::Instant, u64, HostKey)>>,
    seq: u64,
    per_host_concurrency: u32,
    /// Minimum spacing between requests to one host (None = no rate limit).
    interval: Option<Duration>,
    queued: usize,
    queued_retries: usize,
    /// URLs kept in memory per host before spilling (usize::MAX: never spill).
    mem_per_host: usize,
    /// URLs this schedule may keep in memory beyond the per-host heads, in all: a
    /// host with nothing spilled keeps its new URLs in memory while the schedule is
    /// under budget, so a small crawl never waits for a spilled URL's commit.
    mem_budget: usize,
    /// Queued URLs that wait on disk (counted in `queued`).
    spilled_total: usize,
    /// Hosts whose in-memory head ran low while URLs wait on disk.
    refills: Vec<HostKey>,
    /// After a restart, no host may be asked before this (its last request before
    /// the restart may have been moments ago).
    start_block: Option<C::Instant>,
    /// When a host is declared unreachable.
    unreachable: Unreachable,
    /// `[[hosts]]` tables' rate and concurrency, asked when a host is first met.
    host_limits: super::HostLimits,
}

impl<C: Clock + Clone> Schedule<C> {
    /// `per_host_rate` in requests per second (0 = unlimited).
    pub fn new(clock: C, per_host_concurrency: usize, per_host_rate: f64) -> Schedule<C> {
        let interval = (per_host_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / per_host_rate));
        Schedule {
            clock,
            hosts: HashMap::new(),
            seen: HashSet::new(),
            seed_hosts_waiting: 0,
            retiring: BinaryHeap::new(),
            ready: BinaryHeap::new(),
            fresh: BinaryHeap::new(),
            seq: 0,
            per_host_concurrency: per_host_concurrency.clamp(1, u32::MAX as usize) as u32,
            interval,
            queued: 0,
            queued_retries: 0,
            mem_per_host: usize::MAX,
            mem_budget: 0,
            spilled_total: 0,
            refills: Vec::new(),
            start_block: None,
            unreachable: Unreachable {
                after: 0,
                ..Unreachable::default()
            },
            host_limits: super::HostLimits::default(),
        }
    }

    /// Gives the hosts `[[hosts]]` tables match their own rate and concurrency.
    pub fn with_host_limits(mut self, limits: super::HostLimits) -> Self {
        self.host_limits = limits;
        self
    }

    /// Declares hosts unreachable by this rule (by default never).
    pub fn with_unreachable(mut self, rule: Unreachable) -> Self {
        self.unreachable = rule;
        self
    }

    /// Holds every host, present or yet to come, for one request interval from now:
    /// a restarted crawl cannot know how recently each host was last asked.
    pub fn hold_all_for_restart(&mut self) {
        // Hosts not met yet may have a table's slower rate: hold them the longest.
        let rate = self.interval.map_or(0.0, |i| 1.0 / i.as_secs_f64());
        let Some(longest) = self.host_limits.longest_interval(rate) else {
            return;
        };
        let until = self.clock.now() + longest.into();
        self.start_block = Some(until);
        let held: Vec<(HostKey, Duration)> = self
            .hosts
            .iter()
            .filter_map(|(k, h)| Some((k.clone(), h.base?)))
            .collect();
        for (key, interval) in held {
            self.pause_host(&key, interval);
        }
    }

    /// Keeps at most `n` URLs per host in memory; the rest are spilled to the store.
    pub fn with_mem_per_host(mut self, n: usize) -> Self {
        self.mem_per_host = n.max(2);
        self
    }

    /// Lets up to `n` URLs in all stay in memory beyond the per-host heads.
    pub fn with_mem_budget(mut self, n: usize) -> Self {
        self.mem_budget = n;
        self
    }

    pub fn queued(&self) -> usize {
        self.queued
    }

    pub fn queued_retries(&self) -> usize {
        self.queued_retries
    }

    /// Distinct hosts met, retired ones included.
    pub fn hosts(&self) -> usize {
        self.seen.len()
    }

    /// Hosts not started yet that have a seed queued.
    pub fn seed_hosts_waiting(&self) -> usize {
        self.seed_hosts_waiting
    }

    /// Counts a seed's host as waiting to start, once.
    fn note_seed(&mut self, key: &HostKey, entry: &Entry) {
        if !entry.seed {
            return;
        }
        let host = self.host_mut(key);
        if !host.started && !host.seed_waiting {
            host.seed_waiting = true;
            self.seed_hosts_waiting += 1;
        }
    }

    /// Hosts with an entry now (work queued or in flight, or something to remember).
    pub fn live_hosts(&self) -> usize {
        self.hosts.len()
    }

    fn host_mut(&mut self, key: &HostKey) -> &mut Host<C> {
        let (interval, clock, start_block) = (self.interval, &self.clock, self.start_block);
        let (conc, base) = (self.per_host_concurrency, &self.host_limits);
        let seen = &mut self.seen;
        self.hosts.entry(key.clone()).or_insert_with(|| {
            seen.insert(xxhash_rust::xxh3::xxh3_64(key.as_str().as_bytes()));
            let (cap, base) = match base.for_host(key) {
                Some(own) => (
                    own.concurrency
                        .map_or(conc, |c| c.clamp(1, u32::MAX as usize) as u32),
                    match own.rate {
                        Some(rate) => super::interval_of(rate),
                        None => interval,
                    },
                ),
                None => (conc, interval),
            };
            Box::new(Host::new(cap, base, limiter(base, clock), start_block))
        })
    }
}

impl<C: Clock + Clone> Schedule<C> {
    /// Queues a durable URL (its `seq` set, in increasing order per host): in memory
    /// when the host's head has room and nothing is spilled before it, else counted
    /// as spilled. Returns true when it was kept in memory.
    pub fn push_durable(&mut self, key: HostKey, entry: Entry) -> bool {
        self.note_seed(&key, &entry);
        let cap = self.mem_per_host;
        let under_budget = self.queued - self.spilled_total < self.mem_budget;
        let host = self.host_mut(&key);
        if host.spilled == 0 && (host.queue.len() < cap || under_budget) {
            host.cursor = host.cursor.max(entry.seq);
            self.push(key, entry);
            true
        } else {
            self.note_spilled(key);
            false
        }
    }

    /// Hosts to refill, each with the cursor to read after and room for how many.
    pub fn take_refills(&mut self) -> Vec<(HostKey, u64, usize)> {
        let cap = self.mem_per_host;
        let keys = std::mem::take(&mut self.refills);
        keys.into_iter()
            .filter_map(|k| {
                let h = self.hosts.get_mut(&k)?;
                h.wants_refill = false;
                (h.spilled > 0).then(|| (k, h.cursor, cap.saturating_sub(h.queue.len())))
            })
            .collect()
    }

    /// Loads URLs read back from the store (in sequence order) into a host's head.
    /// An empty read (not committed yet) leaves the host on the refill list.
    pub fn refill(&mut self, key: &HostKey, entries: Vec<Entry>) {
        let Some(host) = self.hosts.get_mut(key) else {
            return;
        };
        if entries.is_empty() {
            if host.spilled > 0 && !host.wants_refill {
                host.wants_refill = true;
                self.refills.push(key.clone());
            }
            return;
        }
        for entry in entries {
            host.cursor = host.cursor.max(entry.seq);
            if host.spilled > 0 {
                self.spilled_total = self.spilled_total.saturating_sub(1);
            }
            host.spilled = host.spilled.saturating_sub(1);
            if entry.attempt > 0 {
                self.queued_retries += 1;
            }
            host.queue.push_back(entry);
        }
        let now = self.clock.now();
        self.wake(key, now);
    }

    /// Counts a URL found on disk at resume without loading it.
    pub fn note_spilled(&mut self, key: HostKey) {
        self.queued += 1;
        self.spilled_total += 1;
        let host = self.host_mut(&key);
        host.spilled += 1;
        if host.queue.is_empty() && !host.wants_refill {
            host.wants_refill = true;
            self.refills.push(key);
        }
    }

    /// Keeps a host waiting `delay` from now (politeness carried over a restart).
    pub fn pause_host(&mut self, key: &HostKey, delay: Duration) {
        let until = self.clock.now() + delay.into();
        let host = self.host_mut(key);
        if host.blocked_until.is_none_or(|b| b < until) {
            host.blocked_until = Some(until);
        }
    }

    /// The spacing a host's requests currently keep (rate or Crawl-delay).
    pub fn interval(&self, key: &HostKey) -> Option<Duration> {
        let host = self.hosts.get(key)?;
        host.interval.or(host.base)
    }

    /// Puts the host in the ready heap at `at` if it could be leased from.
    fn wake(&mut self, key: &HostKey, at: C::Instant) {
        let Some(host) = self.hosts.get_mut(key) else {
            return;
        };
        let cap = host.cap;
        let dead = host.unreachable().is_some();
        if host.in_ready || host.queue.is_empty() || (host.in_flight >= cap && !dead) {
            return;
        }
        let at = match host.blocked_until {
            Some(b) if b > at && !dead => b,
            _ => at,
        };
        host.in_ready = true;
        self.seq += 1;
        let heap = match host.started {
            true => &mut self.ready,
            false => &mut self.fresh,
        };
        heap.push(Reverse((at, self.seq, key.clone())));
    }

    /// Queues an already-admitted URL at the back of its host's queue.
    pub fn push(&mut self, key: HostKey, entry: Entry) {
        self.note_seed(&key, &entry);
        self.queued += 1;
        if entry.attempt > 0 {
            self.queued_retries += 1;
        }
        self.host_mut(&key).queue.push_back(entry);
        let now = self.clock.now();
        self.wake(&key, now);
    }

    /// The next URL that may be fetched now. With `only_retries`, fresh URLs are
    /// left queued (the page budget is spent) and only retries of started ones go.
    pub fn lease(&mut self, only_retries: bool) -> Poll {
        let now = self.clock.now();
        self.retire_due(now);
        let mut parked = Vec::new();
        let poll = self.lease_at(now, only_retries, &mut parked);
        // Hosts passed over for holding only fresh URLs stay schedulable.
        for key in parked {
            self.wake(&key, now);
        }
        poll
    }

    fn lease_at(&mut self, now: C::Instant, only_retries: bool, parked: &mut Vec<HostKey>) -> Poll {
        loop {
            // A started host that may go now first, else a fresh one, else wait for
            // the earlier of the two.
            let started = self.ready.peek().map(|r| r.0 .0);
            let fresh = self.fresh.peek().map(|r| r.0 .0);
            let heap = match (started, fresh) {
                (Some(a), _) if a <= now => &mut self.ready,
                (_, Some(b)) if b <= now => &mut self.fresh,
                (None, None) => return Poll::Idle,
                (a, b) => {
                    let at = a.into_iter().chain(b).min().unwrap_or(now);
                    return Poll::Wait(at.duration_since(now).into());
                }
            };
            let Some(Reverse((_, _, key))) = heap.pop() else {
                return Poll::Idle;
            };
            let Some(host) = self.hosts.get_mut(&key) else {
                continue;
            };
            let cap = host.cap;
            host.in_ready = false;
            // An unreachable host's URLs are only recorded: no politeness to keep.
            let dead = host.unreachable().is_some();
            if host.queue.is_empty() || (host.in_flight >= cap && !dead) {
                continue;
            }
            if let (Some(b), false) = (host.blocked_until, dead) {
                if b > now {
                    self.wake(&key, b);
                    continue;
                }
                host.blocked_until = None;
            }
            if only_retries && host.queue.front().is_some_and(|e| e.attempt == 0) {
                parked.push(key);
                continue;
            }
            if let (Some(lim), false) = (&host.limiter, dead) {
                if let Err(not_until) = lim.check() {
                    let at = not_until.earliest_possible();
                    self.wake(&key, at);
                    continue;
                }
            }
            let Some(entry) = host.queue.pop_front() else {
                continue;
            };
            if host.spilled > 0 && host.queue.len() < self.mem_per_host / 2 && !host.wants_refill {
                host.wants_refill = true;
                self.refills.push(key.clone());
            }
            host.in_flight += 1;
            host.started = true;
            host.retire_at = None;
            if host.seed_waiting {
                host.seed_waiting = false;
                self.seed_hosts_waiting -= 1;
            }
            self.queued -= 1;
            if entry.attempt > 0 {
                self.queued_retries -= 1;
            }
            self.wake(&key, now);
            return Poll::Ready(key, entry);
        }
    }

    /// True when the host has nothing queued, in memory or spilled. (Another of its
    /// requests may be in flight and find more: that one's connection then serves.)
    pub fn drained(&self, key: &HostKey) -> bool {
        self.hosts
            .get(key)
            .is_none_or(|h| h.queue.is_empty() && h.spilled == 0)
    }

    /// Why a host was declared unreachable, once it was.
    pub fn unreachable(&self, key: &HostKey) -> Option<Arc<str>> {
        self.hosts.get(key)?.unreachable().cloned()
    }

    /// What an attempt learned of its host: a response resets the failure count; a
    /// connection-level failure adds to it (a failure older than the window starts
    /// the count again). Returns true when this failure made the host unreachable.
    pub fn contact(&mut self, key: &HostKey, contact: &Contact) -> bool {
        let (rule, now) = (self.unreachable, self.clock.now());
        let Some(host) = self.hosts.get_mut(key) else {
            return false;
        };
        match contact {
            Contact::Unknown => return false,
            Contact::Reached => {
                // A host that reached its server has no failures to remember.
                if host.unreachable().is_none() {
                    host.trouble = None;
                }
                return false;
            }
            Contact::Failed(_) | Contact::Refused(_)
                if rule.after == 0 || host.unreachable().is_some() =>
            {
                return false
            }
            Contact::Refused(cause) => {
                host.trouble.get_or_insert_with(Box::default).unreachable =
                    Some(Arc::from(cause.as_str()));
                host.in_ready = false;
            }
            Contact::Failed(cause) => {
                let since =
                    |t: Option<C::Instant>| t.map(|t| Duration::from(now.duration_since(t)));
                let t = host.trouble.get_or_insert_with(Box::default);
                match rule.count(since(t.first_failure), since(t.last_failure)) {
                    Count::Same => return false,
                    Count::Restart => {
                        t.failures = 0;
                        t.first_failure = Some(now);
                    }
                    Count::Add => {}
                }
                t.failures += 1;
                t.last_failure = Some(now);
                if t.failures < rule.after {
                    return false;
                }
                t.unreachable = Some(Arc::from(cause.as_str()));
                // It may wait in the heap for a later time: queue it again for now.
                host.in_ready = false;
            }
        }
        self.wake(key, now);
        true
    }

    /// A leased URL is finished (recorded); its host slot is free again.
    pub fn complete(&mut self, key: &HostKey) {
        if let Some(host) = self.hosts.get_mut(key) {
            host.in_flight = host.in_flight.saturating_sub(1);
        }
        let now = self.clock.now();
        self.wake(key, now);
        self.retire_when_idle(key, now);
    }

    /// A leased URL goes back to the front of its host's queue, and the whole host
    /// waits `delay` (transient failure, Retry-After, robots.txt unavailable).
    pub fn retry(&mut self, key: &HostKey, entry: Entry, delay: Duration) {
        let now = self.clock.now();
        let until = now + delay.into();
        let host = self.host_mut(key);
        host.in_flight = host.in_flight.saturating_sub(1);
        if host.blocked_until.is_none_or(|b| b < until) {
            host.blocked_until = Some(until);
        }
        if entry.attempt > 0 {
            self.queued_retries += 1;
        }
        self.queued += 1;
        self.host_mut(key).queue.push_front(entry);
        self.wake(key, now);
    }

    /// A leased URL goes back untouched (shutdown, or a lease that could not be used).
    pub fn release(&mut self, key: &HostKey, entry: Entry) {
        self.retry(key, entry, Duration::ZERO);
    }

    /// Slows one host down to at most one request per `interval` (robots.txt
    /// Crawl-delay); never speeds it up beyond the configured rate.
    pub fn set_min_interval(&mut self, key: &HostKey, interval: Duration) {
        let clock = self.clock.clone();
        let host = self.host_mut(key);
        let effective = match host.base {
            Some(i) if i >= interval => i,
            _ => interval,
        };
        host.limiter = limiter(Some(effective), &clock);
        host.interval = Some(effective);
        // The new limiter starts fresh; keep the old spacing by not letting the host
        // go before one interval from now.
        let until = clock.now() + effective.into();
        host.blocked_until = Some(match host.blocked_until {
            Some(b) if b > until => b,
            _ => until,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use url::Url;

    fn e(u: &str) -> Entry {
        Entry::new(Url::parse(u).unwrap(), 0)
    }

    fn key(u: &str) -> HostKey {
        HostKey::of(&Url::parse(u).unwrap())
    }

    /// The stored form (durable store, Redis queues) keeps the requisite mark, and
    /// leaves it out when false, so older stored entries read back as before.
    #[test]
    fn an_entry_remembers_it_is_a_requisite_when_stored() {
        let plain = e("http://a.test/p");
        let json = serde_json::to_string(&plain).unwrap();
        assert!(!json.contains("requisite"), "{json}");
        let old: Entry = serde_json::from_str(r#"{"url":"http://a.test/p","depth":0}"#).unwrap();
        assert_eq!(old, plain);
        let requisite = Entry {
            requisite: true,
            ..Entry::new(Url::parse("http://a.test/logo.png").unwrap(), 3)
        };
        let json = serde_json::to_string(&requisite).unwrap();
        let back: Entry = serde_json::from_str(&json).unwrap();
        assert!(back.requisite, "{json}");
        assert_eq!(back, requisite);
        assert!(!json.contains("prior"), "{json}");
    }

    /// A recrawl's prior goes with the entry through the store and Redis.
    #[test]
    fn an_entry_keeps_its_prior_when_stored() {
        let prior = crate::recrawl::Prior {
            status: Some(200),
            etag: Some("\"v1\"".into()),
            last_modified: Some("Tue, 01 Dec 2026 10:00:00 GMT".into()),
            digest: Some("sha1:ABC".into()),
            date: "2026-12-01T10:00:00.000Z".into(),
        };
        let entry = Entry {
            prior: Some(Box::new(prior)),
            ..e("http://a.test/p")
        };
        let json = serde_json::to_string(&entry).unwrap();
        let back: Entry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, entry, "{json}");
    }

    fn ready_url(p: Poll) -> String {
        match p {
            Poll::Ready(_, e) => e.url.to_string(),
            other => panic!("expected a ready URL, got {other:?}"),
        }
    }

    #[test]
    fn rate_limit_spaces_requests_to_one_host() {
        let clock = FakeRelativeClock::default();
        let mut s = Schedule::new(clock.clone(), 10, 2.0); // 500 ms apart
        let a = key("http://a/");
        s.push(a.clone(), e("http://a/1"));
        s.push(a.clone(), e("http://a/2"));
        assert_eq!(ready_url(s.lease(false)), "http://a/1");
        assert_eq!(s.lease(false), Poll::Wait(Duration::from_millis(500)));
        clock.advance(Duration::from_millis(499));
        assert!(matches!(s.lease(false), Poll::Wait(_)));
        clock.advance(Duration::from_millis(1));
        assert_eq!(ready_url(s.lease(false)), "http://a/2");
        assert_eq!(s.lease(false), Poll::Idle);
    }

    #[test]
    fn a_waiting_host_never_blocks_a_ready_one() {
        let clock = FakeRelativeClock::default();
        let mut s = Schedule::new(clock.clone(), 10, 1.0);
        s.push(key("http://slow/"), e("http://slow/1"));
        s.push(key("http://slow/"), e("http://slow/2"));
        assert_eq!(ready_url(s.lease(false)), "http://slow/1");
        s.push(key("http://fast/"), e("http://fast/1"));
        assert_eq!(ready_url(s.lease(false)), "http://fast/1");
    }

    /// A seed list's hosts: the one started (its robots.txt fetched, say) goes
    /// again as soon as its interval allows, before hosts waiting since earlier but
    /// not started; those still take every turn it leaves.
    #[test]
    fn a_started_host_goes_before_hosts_not_started() {
        let clock = FakeRelativeClock::default();
        let mut s = Schedule::new(clock.clone(), 1, 5.0); // 200 ms apart
        for h in ["a", "b", "c", "d"] {
            for p in 1..=2 {
                s.push(key(&format!("http://{h}/")), e(&format!("http://{h}/{p}")));
            }
        }
        assert_eq!(ready_url(s.lease(false)), "http://a/1");
        s.complete(&key("http://a/"));
        // a waits its interval: the hosts not started take the turns meanwhile.
        assert_eq!(ready_url(s.lease(false)), "http://b/1");
        s.complete(&key("http://b/"));
        clock.advance(Duration::from_millis(200));
        // c and d have waited longer, but a and b were started: they go first.
        let mut started = [ready_url(s.lease(false)), ready_url(s.lease(false))];
        started.sort();
        assert_eq!(started, ["http://a/2", "http://b/2"]);
        assert_eq!(ready_url(s.lease(false)), "http://c/1");
        assert_eq!(ready_url(s.lease(false)), "http://d/1");
    }

    #[test]
    fn shallow_urls_go_first_within_a_host() {
        let clock = FakeRelativeClock::default();
        let mut s = Schedule::new(clock.clone(), 10, 0.0);
        let a = key("http://a/");
        let at = |u: &str, d: u32| Entry::new(Url::parse(u).unwrap(), d);
        s.push(a.clone(), at("http://a/deep", 3));
        s.push(a.clone(), at("http://a/shallow", 1));
        s.push(a.clone(), at("http://a/mid", 2));
        s.push(a.clone(), at("http://a/shallow2", 1));
        let order: Vec<String> = (0..4).map(|_| ready_url(s.lease(false))).collect();
        assert_eq!(
            order,
            [
                "http://a/shallow",
                "http://a/shallow2",
                "http://a/mid",
                "http://a/deep"
            ]
        );
    }

    #[test]
    fn heads_spill_and_refill_in_sequence_order() {
        let clock = FakeRelativeClock::default();
        let mut s = Schedule::new(clock.clone(), 10, 0.0).with_mem_per_host(4);
        let a = key("http://a/");
        let mk = |i: u64| {
            let mut e = e(&format!("http://a/{i}"));
            e.seq = i;
            e
        };
        let kept: Vec<bool> = (1..=6).map(|i| s.push_durable(a.clone(), mk(i))).collect();
        assert_eq!(kept, [true, true, true, true, false, false]);
        assert_eq!(s.queued(), 6);
        assert!(s.take_refills().is_empty(), "head is full");
        for i in 1..=3 {
            assert_eq!(ready_url(s.lease(false)), format!("http://a/{i}"));
        }
        // The head ran low: read after seq 4, room for 3.
        assert_eq!(s.take_refills(), vec![(a.clone(), 4, 3)]);
        s.refill(&a, vec![mk(5), mk(6)]);
        let rest: Vec<String> = (0..3).map(|_| ready_url(s.lease(false))).collect();
        assert_eq!(rest, ["http://a/4", "http://a/5", "http://a/6"]);
        assert_eq!(s.queued(), 0);
    }

    #[test]
    fn per_host_concurrency_caps_in_flight() {
        let clock = FakeRelativeClock::default();
        let mut s = Schedule::new(clock.clone(), 2, 0.0);
        let a = key("http://a/");
        for i in 0..4 {
            s.push(a.clone(), e(&format!("http://a/{i}")));
        }
        assert_eq!(ready_url(s.lease(false)), "http://a/0");
        assert_eq!(ready_url(s.lease(false)), "http://a/1");
        assert_eq!(s.lease(false), Poll::Idle);
        s.complete(&a);
        assert_eq!(ready_url(s.lease(false)), "http://a/2");
        assert_eq!(s.lease(false), Poll::Idle);
    }

    #[test]
    fn retry_blocks_the_host_and_goes_first() {
        let clock = FakeRelativeClock::default();
        let mut s = Schedule::new(clock.clone(), 1, 0.0);
        let a = key("http://a/");
        s.push(a.clone(), e("http://a/1"));
        s.push(a.clone(), e("http://a/2"));
        let Poll::Ready(k, mut entry) = s.lease(false) else {
            panic!()
        };
        entry.attempt += 1;
        s.retry(&k, entry, Duration::from_secs(3));
        assert_eq!(s.queued_retries(), 1);
        assert_eq!(s.lease(false), Poll::Wait(Duration::from_secs(3)));
        clock.advance(Duration::from_secs(3));
        assert_eq!(ready_url(s.lease(true)), "http://a/1");
        assert_eq!(s.queued_retries(), 0);
        s.complete(&a);
        // With the budget spent, fresh URLs stay queued.
        assert_eq!(s.lease(true), Poll::Idle);
        assert_eq!(s.queued(), 1);
        assert_eq!(ready_url(s.lease(false)), "http://a/2");
    }

    /// A finished host's entry goes once its spacing has passed, and no sooner: a
    /// URL found for it meanwhile still waits; one found after goes at once.
    #[test]
    fn a_finished_host_is_retired_once_its_spacing_has_passed() {
        let clock = FakeRelativeClock::default();
        let mut s = Schedule::new(clock.clone(), 1, 2.0); // 500 ms apart
        let a = key("http://a/");
        s.push(a.clone(), e("http://a/1"));
        assert_eq!(ready_url(s.lease(false)), "http://a/1");
        s.complete(&a);
        clock.advance(Duration::from_millis(499));
        assert_eq!(s.lease(false), Poll::Idle);
        assert_eq!(
            (s.live_hosts(), s.hosts()),
            (1, 1),
            "spacing not passed yet"
        );
        clock.advance(Duration::from_millis(1));
        assert_eq!(s.lease(false), Poll::Idle);
        assert_eq!(
            (s.live_hosts(), s.hosts()),
            (0, 1),
            "retired, still counted"
        );
        s.push(a.clone(), e("http://a/2"));
        assert_eq!(ready_url(s.lease(false)), "http://a/2");
        assert_eq!(s.hosts(), 1, "a host met again counts once");
        // Before its spacing has passed, a finished host keeps its limiter.
        s.complete(&a);
        clock.advance(Duration::from_millis(100));
        s.push(a.clone(), e("http://a/3"));
        assert_eq!(s.lease(false), Poll::Wait(Duration::from_millis(400)));
    }

    /// Seed hosts not started are counted once each (however many seeds), and
    /// leave the count when first leased from; other URLs never count.
    #[test]
    fn seed_hosts_waiting_counts_each_seed_host_until_it_starts() {
        let clock = FakeRelativeClock::default();
        let mut s = Schedule::new(clock.clone(), 1, 0.0);
        let seed = |u: &str| Entry { seed: true, ..e(u) };
        s.push(key("http://a/"), seed("http://a/1"));
        s.push(key("http://a/"), seed("http://a/2"));
        s.push(key("http://b/"), seed("http://b/1"));
        s.push(key("http://c/"), e("http://c/1"));
        assert_eq!(s.seed_hosts_waiting(), 2);
        let mut leased = Vec::new();
        for _ in 0..3 {
            let Poll::Ready(host, _) = s.lease(false) else {
                panic!("three hosts are ready")
            };
            leased.push(host);
        }
        assert_eq!(s.seed_hosts_waiting(), 0);
        // A seed for a host already started does not count.
        s.push(key("http://b/"), seed("http://b/2"));
        assert_eq!(s.seed_hosts_waiting(), 0);
        assert_eq!(leased.len(), 3);
    }

    /// A retirement planned before the host's latest request must not retire it:
    /// only the newest one counts. (A slow first fetch plans its retirement late,
    /// after the second request has gone and ended.)
    #[test]
    fn a_stale_retirement_leaves_a_host_that_went_again() {
        let clock = FakeRelativeClock::default();
        let mut s = Schedule::new(clock.clone(), 1, 2.0); // 500 ms apart
        let a = key("http://a/");
        s.push(a.clone(), e("http://a/1"));
        assert_eq!(ready_url(s.lease(false)), "http://a/1"); // asked at 0 ms
        clock.advance(Duration::from_millis(400));
        s.complete(&a); // may retire at 900 ms
        s.push(a.clone(), e("http://a/2"));
        assert_eq!(s.lease(false), Poll::Wait(Duration::from_millis(100)));
        clock.advance(Duration::from_millis(100));
        assert_eq!(ready_url(s.lease(false)), "http://a/2"); // asked at 500 ms
        clock.advance(Duration::from_millis(50));
        s.complete(&a); // may retire at 1050 ms; the 900 ms plan is stale
        clock.advance(Duration::from_millis(350));
        assert_eq!(s.lease(false), Poll::Idle);
        assert_eq!(s.live_hosts(), 1, "retired 400 ms after its last request");
        s.push(a.clone(), e("http://a/3"));
        assert_eq!(s.lease(false), Poll::Wait(Duration::from_millis(100)));
    }

    /// Hosts with something to remember stay: a Crawl-delay (read only with
    /// robots.txt), failures counting toward unreachable.
    #[test]
    fn hosts_with_something_to_remember_are_not_retired() {
        let clock = FakeRelativeClock::default();
        let rule = Unreachable {
            after: 3,
            ..Unreachable::default()
        };
        let mut s = Schedule::new(clock.clone(), 1, 0.0).with_unreachable(rule);
        let (slow, flaky, plain) = (
            key("http://slow/"),
            key("http://flaky/"),
            key("http://plain/"),
        );
        for (h, u) in [
            (&slow, "http://slow/"),
            (&flaky, "http://flaky/"),
            (&plain, "http://plain/"),
        ] {
            s.push(h.clone(), e(u));
        }
        for _ in 0..3 {
            let Poll::Ready(host, _) = s.lease(false) else {
                panic!("three hosts are ready")
            };
            s.complete(&host);
            let contact = match host == flaky {
                true => Contact::Failed("connect refused".into()),
                false => Contact::Reached,
            };
            s.contact(&host, &contact);
        }
        // robots.txt, read with the page, says Crawl-delay: 1.
        s.set_min_interval(&slow, Duration::from_secs(1));
        clock.advance(Duration::from_secs(5));
        assert_eq!(s.lease(false), Poll::Idle);
        assert_eq!(
            (s.live_hosts(), s.hosts()),
            (2, 3),
            "only the plain host goes"
        );
        assert_eq!(s.interval(&slow), Some(Duration::from_secs(1)));
        assert!(s.interval(&plain).is_none());
    }

    #[test]
    fn crawl_delay_slows_a_host_but_never_speeds_it_up() {
        let clock = FakeRelativeClock::default();
        let mut s = Schedule::new(clock.clone(), 4, 10.0); // 100 ms
        let a = key("http://a/");
        for i in 0..3 {
            s.push(a.clone(), e(&format!("http://a/{i}")));
        }
        assert_eq!(ready_url(s.lease(false)), "http://a/0");
        s.set_min_interval(&a, Duration::from_secs(2));
        assert_eq!(s.lease(false), Poll::Wait(Duration::from_secs(2)));
        clock.advance(Duration::from_secs(2));
        assert_eq!(ready_url(s.lease(false)), "http://a/1");
        assert_eq!(s.lease(false), Poll::Wait(Duration::from_secs(2)));
        // A crawl-delay shorter than the configured spacing changes nothing.
        let b = key("http://b/");
        s.push(b.clone(), e("http://b/0"));
        s.push(b.clone(), e("http://b/1"));
        s.set_min_interval(&b, Duration::from_millis(1));
        clock.advance(Duration::from_millis(100));
        assert_eq!(ready_url(s.lease(false)), "http://b/0");
    }
}
