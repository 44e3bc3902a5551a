//! The frontier: every URL the crawl will fetch, who may fetch what next, and when
//! the crawl is done.
//!
//! One interface over a closed set of backends (an enum, not a trait object): the
//! in-process [`Embedded`] backend, and [`Shared`] in Redis for scale-out. One test
//! suite (`tests/it/frontier.rs`) runs against both.
//! Callers see the same four moves whatever the backend: `push` (admit once),
//! `next` (lease a URL whose host is ready), then exactly one of `complete`,
//! `retry` or `release` for every lease.

pub mod embedded;
pub mod redis;
pub mod schedule;
pub mod store;

use std::time::Duration;

use tokio::sync::Notify;

use crate::canon::HostKey;
pub use embedded::{Admitted, Embedded};
pub use redis::{Shared, SharedError, SharedOptions};
pub use schedule::Entry;
pub use store::{Store, StoreError};

/// A URL handed to a worker. It must come back through complete, retry or release.
#[derive(Debug)]
pub struct Lease {
    pub shard: usize,
    /// The lease's name in the shared frontier (0 in the embedded one).
    pub id: u64,
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

/// What became of each URL offered to [`Frontier::push_many`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    New,
    Seen,
    /// The host's URL budget (`max_pages_per_host`) is spent (shared frontier).
    HostBudget,
}

pub enum Frontier {
    Embedded(Embedded),
    Redis(Box<Shared>),
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

    /// Joins (or starts) a crawl shared through Redis.
    pub async fn shared(
        opts: SharedOptions,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Frontier, SharedError> {
        Ok(Frontier::Redis(Box::new(
            Shared::join(opts, settings).await?,
        )))
    }

    /// The shared backend, if this is one.
    pub fn as_shared(&self) -> Option<&Shared> {
        match self {
            Frontier::Embedded(_) => None,
            Frontier::Redis(s) => Some(s),
        }
    }

    /// Admits a URL once per crawl; false if it was already seen (or refused).
    pub async fn push(&self, entry: Entry) -> Result<bool, StoreError> {
        let (admitted, _) = self.push_many(vec![entry]).await?;
        Ok(admitted.first() == Some(&Admission::New))
    }

    /// Admits a page's URLs at once. Returns what became of each and the store
    /// ticket that says when they are durable (0 when there is nothing to wait for).
    pub async fn push_many(
        &self,
        entries: Vec<Entry>,
    ) -> Result<(Vec<Admission>, u64), StoreError> {
        match self {
            Frontier::Embedded(f) => {
                let a = f.push_many(entries)?;
                let what = a
                    .new
                    .iter()
                    .map(|&n| if n { Admission::New } else { Admission::Seen })
                    .collect();
                Ok((what, a.ticket))
            }
            Frontier::Redis(f) => {
                let what = f
                    .push_many(&entries)
                    .await
                    .into_iter()
                    .map(|a| match a {
                        Some(true) => Admission::New,
                        Some(false) => Admission::Seen,
                        None => Admission::HostBudget,
                    })
                    .collect();
                Ok((what, 0))
            }
        }
    }

    /// Loads a previous run's pending URLs and host state (embedded durable only).
    /// `on_pending` sees the host of every pending URL loaded.
    pub fn resume(
        &self,
        recorded: &std::collections::HashSet<u64>,
        on_pending: &mut dyn FnMut(&HostKey),
    ) -> Result<(u64, u64), StoreError> {
        match self {
            Frontier::Embedded(f) => f.resume(recorded, on_pending),
            Frontier::Redis(_) => Ok((0, 0)),
        }
    }

    /// Done without a record: the URL is no longer wanted.
    pub async fn discard(&self, lease: Lease) {
        match self {
            Frontier::Embedded(f) => f.discard(lease),
            Frontier::Redis(f) => f.complete(lease, true, None).await,
        }
    }

    /// Back to the queue untouched, the host paused for `delay`.
    pub async fn requeue(&self, lease: Lease, delay: Duration) {
        match self {
            Frontier::Embedded(f) => f.requeue(lease, delay),
            Frontier::Redis(f) => f.back(lease, None, delay).await,
        }
    }

    /// The spacing in force for a host's requests (rate or Crawl-delay), if any.
    pub fn host_interval(&self, host: &HostKey) -> Option<Duration> {
        match self {
            Frontier::Embedded(f) => f.host_interval(host),
            Frontier::Redis(f) => f.host_interval(host),
        }
    }

    pub fn store(&self) -> Option<&std::sync::Arc<Store>> {
        match self {
            Frontier::Embedded(f) => f.store(),
            Frontier::Redis(_) => None,
        }
    }

    /// The next URL for `worker`; `room` is how many more this process could start
    /// now (the shared frontier takes up to that many in one round trip).
    pub async fn next(&self, worker: usize, room: usize) -> Next {
        match self {
            Frontier::Embedded(f) => f.next(worker),
            Frontier::Redis(f) => f.next(room).await,
        }
    }

    /// The URL was attempted and recorded (`error`: the error kind's name, if any).
    pub async fn complete(&self, lease: Lease, error: Option<&str>) {
        match self {
            Frontier::Embedded(f) => f.complete(lease),
            Frontier::Redis(f) => f.complete(lease, false, error).await,
        }
    }

    /// Again later: the lease's entry carries its new attempt count.
    pub async fn retry(&self, lease: Lease, delay: Duration) {
        match self {
            Frontier::Embedded(f) => f.retry(lease, delay),
            Frontier::Redis(f) => {
                let entry = lease.entry.clone();
                f.back(lease, Some(&entry), delay).await
            }
        }
    }

    /// Back untouched, for someone else (shutdown).
    pub async fn release(&self, lease: Lease) {
        match self {
            Frontier::Embedded(f) => f.release(lease),
            Frontier::Redis(f) => f.back(lease, None, Duration::ZERO).await,
        }
    }

    pub async fn set_crawl_delay(&self, host: &HostKey, delay: Duration) {
        match self {
            Frontier::Embedded(f) => f.set_crawl_delay(host, delay),
            Frontier::Redis(f) => f.set_crawl_delay(host, delay).await,
        }
    }

    /// True when nothing is queued or leased (the shared frontier: as of the
    /// last heartbeat).
    pub fn is_done(&self) -> bool {
        match self {
            Frontier::Embedded(f) => f.is_done(),
            Frontier::Redis(f) => f.is_done(),
        }
    }

    /// Woken whenever work may have become available (in this process).
    pub fn notify(&self) -> &Notify {
        match self {
            Frontier::Embedded(f) => f.notify(),
            Frontier::Redis(f) => f.notify(),
        }
    }

    /// (distinct hosts, queued URLs, leased URLs) for progress and stats; the
    /// shared frontier's are the whole fleet's as of the last heartbeat.
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
            Frontier::Redis(f) => {
                let fleet = f.fleet();
                crate::stats::Gauges {
                    hosts: fleet.hosts,
                    queued: fleet.queued,
                    in_flight: fleet.leased,
                }
            }
        }
    }
}
