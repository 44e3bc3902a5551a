//! The frontier: every URL the crawl will fetch, who may fetch what next, and when
//! the crawl is done.
//!
//! One interface over a closed set of backends (an enum, not a trait object): today
//! the in-process [`Embedded`] backend; a Redis backend joins here for scale-out.
//! Callers see the same four moves whatever the backend: `push` (admit once),
//! `next` (lease a URL whose host is ready), then exactly one of `complete`,
//! `retry` or `release` for every lease.

pub mod embedded;
pub mod schedule;
pub mod store;

use std::time::Duration;

use tokio::sync::Notify;

use crate::canon::HostKey;
pub use embedded::{Admitted, Embedded};
pub use schedule::Entry;
pub use store::{Store, StoreError};

/// A URL handed to a worker. It must come back through complete, retry or release.
#[derive(Debug)]
pub struct Lease {
    pub shard: usize,
    pub host: HostKey,
    pub entry: Entry,
}

/// What a worker should do next.
#[derive(Debug)]
pub enum Next {
    /// Fetch this.
    Lease(Lease),
    /// Nothing may go for this long (politeness); new work may arrive sooner.
    Wait(Duration),
    /// Nothing ready; URLs in flight elsewhere may add work.
    Idle,
    /// Nothing left: the crawl is finished.
    Done,
}

pub enum Frontier {
    Embedded(Embedded),
}

impl Frontier {
    /// The embedded frontier: in memory only, or durable when given a `store`
    /// (visited set, pending URLs and host state kept there).
    pub fn embedded(
        shards: usize,
        per_host_concurrency: usize,
        per_host_rate: f64,
        max_pages: u64,
        store: Option<std::sync::Arc<Store>>,
    ) -> Frontier {
        Frontier::Embedded(Embedded::new(
            shards,
            per_host_concurrency,
            per_host_rate,
            max_pages,
            store,
        ))
    }

    /// Admits a URL once per crawl; false if it was already seen.
    pub fn push(&self, entry: Entry) -> Result<bool, StoreError> {
        match self {
            Frontier::Embedded(f) => f.push(entry),
        }
    }

    /// Admits a page's URLs at once; the ticket says when they are durable.
    pub fn push_many(&self, entries: Vec<Entry>) -> Result<Admitted, StoreError> {
        match self {
            Frontier::Embedded(f) => f.push_many(entries),
        }
    }

    /// Loads a previous run's pending URLs and host state (durable only).
    /// `on_pending` sees the host of every pending URL loaded.
    pub fn resume(
        &self,
        recorded: &std::collections::HashSet<u64>,
        on_pending: &mut dyn FnMut(&HostKey),
    ) -> Result<(u64, u64), StoreError> {
        match self {
            Frontier::Embedded(f) => f.resume(recorded, on_pending),
        }
    }

    /// Done without a record: the URL is no longer wanted.
    pub fn discard(&self, lease: Lease) {
        match self {
            Frontier::Embedded(f) => f.discard(lease),
        }
    }

    /// Back to the queue untouched, the host paused for `delay`.
    pub fn requeue(&self, lease: Lease, delay: Duration) {
        match self {
            Frontier::Embedded(f) => f.requeue(lease, delay),
        }
    }

    /// The spacing in force for a host's requests (rate or Crawl-delay), if any.
    pub fn host_interval(&self, host: &HostKey) -> Option<Duration> {
        match self {
            Frontier::Embedded(f) => f.host_interval(host),
        }
    }

    pub fn store(&self) -> Option<&std::sync::Arc<Store>> {
        match self {
            Frontier::Embedded(f) => f.store(),
        }
    }

    pub fn next(&self, worker: usize) -> Next {
        match self {
            Frontier::Embedded(f) => f.next(worker),
        }
    }

    pub fn complete(&self, lease: Lease) {
        match self {
            Frontier::Embedded(f) => f.complete(lease),
        }
    }

    pub fn retry(&self, lease: Lease, delay: Duration) {
        match self {
            Frontier::Embedded(f) => f.retry(lease, delay),
        }
    }

    pub fn release(&self, lease: Lease) {
        match self {
            Frontier::Embedded(f) => f.release(lease),
        }
    }

    pub fn set_crawl_delay(&self, host: &HostKey, delay: Duration) {
        match self {
            Frontier::Embedded(f) => f.set_crawl_delay(host, delay),
        }
    }

    pub fn is_done(&self) -> bool {
        match self {
            Frontier::Embedded(f) => f.is_done(),
        }
    }

    /// Woken whenever work may have become available.
    pub fn notify(&self) -> &Notify {
        match self {
            Frontier::Embedded(f) => f.notify(),
        }
    }

    /// (distinct hosts, queued URLs, leased URLs) for progress and stats.
    pub fn gauges(&self) -> crate::stats::Gauges {
        match self {
            Frontier::Embedded(f) => {
                let (hosts, queued) = f.sizes();
                crate::stats::Gauges {
                    hosts,
                    queued,
                    in_flight: f.leased(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn entry(u: &str) -> Entry {
        Entry::new(Url::parse(u).unwrap(), 0)
    }

    fn lease(f: &Frontier, worker: usize) -> Lease {
        match f.next(worker) {
            Next::Lease(l) => l,
            other => panic!("expected a lease, got {other:?}"),
        }
    }

    #[test]
    fn admits_once_and_finishes_when_nothing_is_left() {
        let f = Frontier::embedded(4, 2, 0.0, 0, None);
        assert!(f.push(entry("http://a.com/")).unwrap());
        assert!(!f.push(entry("http://a.com/")).unwrap());
        assert!(!f.is_done());
        let l = lease(&f, 0);
        assert!(matches!(f.next(0), Next::Idle));
        // Links pushed before completion keep the crawl alive.
        assert!(f.push(entry("http://b.com/")).unwrap());
        f.complete(l);
        assert!(!f.is_done());
        let l = lease(&f, 3);
        f.complete(l);
        assert!(f.is_done());
        assert!(matches!(f.next(1), Next::Done));
    }

    #[test]
    fn idle_workers_take_hosts_from_other_shards() {
        let f = Frontier::embedded(8, 4, 0.0, 0, None);
        for i in 0..3 {
            f.push(entry(&format!("http://one.com/{i}"))).unwrap();
        }
        // Every worker index finds the single host's work.
        for w in 0..3 {
            let l = lease(&f, w * 3 + 1);
            assert_eq!(l.host.as_str(), "http://one.com:80");
        }
    }

    #[test]
    fn page_budget_stops_fresh_leases_but_lets_retries_finish() {
        let f = Frontier::embedded(1, 4, 0.0, 2, None);
        for i in 0..5 {
            f.push(entry(&format!("http://a.com/{i}"))).unwrap();
        }
        let a = lease(&f, 0);
        let mut b = lease(&f, 0);
        assert!(matches!(f.next(0), Next::Idle));
        f.complete(a);
        b.entry.attempt = 1;
        f.retry(b, Duration::ZERO);
        assert!(!f.is_done());
        let b = lease(&f, 0);
        assert_eq!(b.entry.attempt, 1);
        f.complete(b);
        assert!(f.is_done());
        assert_eq!(f.gauges().queued, 3);
    }

    #[test]
    fn a_shallower_rediscovery_lowers_the_depth() {
        let f = Frontier::embedded(1, 1, 0.0, 0, None);
        assert!(f
            .push(Entry::new(Url::parse("http://a.com/x").unwrap(), 5))
            .unwrap());
        assert!(!f
            .push(Entry::new(Url::parse("http://a.com/x").unwrap(), 2))
            .unwrap());
        assert!(!f
            .push(Entry::new(Url::parse("http://a.com/x").unwrap(), 4))
            .unwrap());
        assert_eq!(lease(&f, 0).entry.depth, 2);
    }

    #[test]
    fn released_leases_come_back() {
        let f = Frontier::embedded(2, 1, 0.0, 0, None);
        f.push(entry("http://a.com/x")).unwrap();
        let l = lease(&f, 0);
        f.release(l);
        let l = lease(&f, 1);
        assert_eq!(l.entry.url.as_str(), "http://a.com/x");
        f.complete(l);
        assert!(f.is_done());
    }
}
