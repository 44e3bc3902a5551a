//! The shared frontier: one crawl across many processes and containers, kept in
//! Redis. Any number of processes join a crawl by its name, at any time; together
//! they act as one crawler.
//!
//! What lives in Redis (the key layout is documented in `redis.lua`): the visited
//! set (fingerprints, not URLs), each host's queue and politeness state, every
//! process's leases and heartbeat, the crawl's counters and its settings. Every
//! change is one Lua script, so admission (check-and-insert), leasing and
//! completion are atomic however many processes race.
//!
//! # Politeness across the fleet
//! Rate state lives in Redis, not in processes: a host's next-allowed time and its
//! in-flight count are read and moved forward inside the `take` script, on Redis's
//! clock, so the combined rate and concurrency to a host never exceed
//! `per_host_rate` and `per_host_concurrency` whatever the number of processes. We
//! chose this over leasing whole hosts to one process: it needs no host rebalancing
//! when processes come and go, and a one-site crawl still spreads over the fleet.
//!
//! # Leases and crashes
//! A taken URL is recorded under its process's lease hash. Processes send a
//! heartbeat every second; whoever beats next hands back the leases of a process
//! silent for `lease_ttl` (kill -9, lost container). A page's links are admitted
//! before its record is written, and the record before the lease completes, so a
//! crash loses nothing; a crash between record and completion can record a page
//! twice across the outputs, which `trawl merge` removes (at-least-once, deduplicated
//! on merge).
//!
//! # One round trip a page
//! A process takes URLs in batches (`take`), and a lease that ended without news
//! that could make its host unreachable is not reported on its own: its end rides
//! on this process's next call (a page's admission of its links, the next `take`,
//! the heartbeat), which settles it before anything else. So a page costs about one
//! call to Redis. The price: a process killed with settled leases not yet sent has
//! them handed back after `lease_ttl`, and those pages are recorded twice across
//! the outputs (still deduplicated by `trawl merge`); a clean exit sends them. A
//! lease that finds no call to ride on within `SETTLE_WAIT` (10 ms: a quiet
//! process, the crawl's last pages) is sent on its own, so other processes see
//! a host's slot free or the crawl finished that much later at most.
//!
//! # Redis as people run it
//! One server or a Redis Cluster (every key of a crawl shares one hash tag, and
//! every script names the crawl's counter key, so it runs on the node serving that
//! slot), over TLS (`rediss://`) or not, with a password or an ACL user: see
//! `conn.rs`.
//!
//! # Redis going away
//! Every operation is retried with backoff until Redis answers again: processes
//! pause, lose nothing and carry on (with Redis persistence on, e.g. AOF). Only the
//! first connection fails fast, with one line.
//!
//! This module never fetches or writes records; it only answers the four frontier
//! moves (push, next, complete/retry/release) for the crawl.

/// Script arguments as strings (Redis sends every argument as one).
macro_rules! args {
    ($($a:expr),* $(,)?) => { [$($a.to_string()),*] };
}

mod conn;
mod fleet;
mod join;
mod leases;
mod status;
mod wire;

pub use conn::Endpoint;
pub use status::{status, Status, WorkerStatus};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;
use wire::{message, permanent};

use ::redis::{Script, Value};
use conn::Conn;
use dashmap::DashMap;
use tokio::sync::Notify;

use super::{Lease, Limits};
use crate::canon::HostKey;

/// The operations, one script (see the file for the key layout).
const SCRIPT: &str = include_str!("redis.lua");
/// URLs asked for per `take` at most: fewer round trips without hoarding leases.
const TAKE_BATCH: usize = 16;
/// How long an idle process waits before asking again (other processes' pages
/// may add work; they cannot wake us).
const IDLE_POLL: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Problems that stop a process from joining a shared crawl.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("cannot reach Redis at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("crawl '{crawl}' in Redis has {key} = {theirs}, this process has {ours}: use the crawl's settings, or another --crawl-id")]
    Settings {
        crawl: String,
        key: String,
        theirs: String,
        ours: String,
    },
    #[error("worker id '{worker}' is in use by a live process of crawl '{crawl}' (heartbeat {age_ms} ms ago): give each process its own --worker-id")]
    WorkerInUse {
        crawl: String,
        worker: String,
        age_ms: u64,
    },
    #[error("the state of crawl '{crawl}' is gone from Redis at {url} (restarted without persistence, flushed or evicted?): stopped; the records written so far are kept")]
    Lost { crawl: String, url: String },
    #[error("Redis at {url} refused a frontier operation ({message}): stopped; the records written so far are kept")]
    Refused { url: String, message: String },
    #[error("cannot use {path} as redis_ca (the CA of a rediss:// server): {message}")]
    Ca { path: String, message: String },
}

/// How to join a shared crawl.
#[derive(Debug, Clone)]
pub struct SharedOptions {
    pub at: Endpoint,
    pub crawl: String,
    pub worker: String,
    pub limits: Limits,
    pub lease_ttl: Duration,
}

/// The fleet's counters, as of the last heartbeat.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Fleet {
    pub queued: u64,
    pub leased: u64,
    pub done: u64,
    pub discarded: u64,
    pub errors: u64,
    pub hosts: u64,
    pub seeds: u64,
    /// Fresh URLs leased so far (the page budget's count).
    pub started: u64,
    /// Leases handed back from processes that stopped beating.
    pub reaped: u64,
    /// Leases Redis holds for this process.
    pub mine: u64,
    /// The crawl's settings are gone from Redis: its state was lost.
    pub lost: bool,
}

pub struct Shared {
    conn: Conn,
    script: Script,
    url: String,
    prefix: String,
    worker: String,
    conc: usize,
    interval_ms: u64,
    max_pages: u64,
    max_per_host: u64,
    max_crawl_delay: Duration,
    /// When a host is declared unreachable.
    unreachable: crate::frontier::Unreachable,
    ttl: Duration,
    /// Leases taken in a batch and not yet handed to a task.
    buffer: Mutex<VecDeque<Lease>>,
    notify: Notify,
    fleet: Mutex<Fleet>,
    /// Crawl-delay spacing learnt here (Redis holds the fleet's).
    intervals: DashMap<HostKey, Duration>,
    /// `[[hosts]]` rate and concurrency, and the hosts this process has told Redis
    /// about (every process tells: they agree on the tables, and Redis keeps one).
    host_limits: crate::frontier::HostLimits,
    told: dashmap::DashSet<HostKey>,
    /// Set while Redis does not answer (logged once per outage).
    down: AtomicBool,
    in_flight: AtomicU64,
    /// Ids of the leases this process knows it holds: a lease whose `take` reply
    /// was lost on the wire is found in Redis and adopted (see `beat`).
    held: Mutex<std::collections::HashSet<u64>>,
    crawl: String,
    /// Set once the crawl's state is found gone from Redis.
    lost: AtomicBool,
    /// Set when Redis refuses an operation for good (a script error, out of memory):
    /// retrying cannot help, so the crawl stops and says why.
    refused: Mutex<Option<String>>,
    /// Leases ended here and not yet reported, by id, each as the script reads it
    /// ("id counter kind news;"): they ride on the next call (see the module docs).
    settled: Mutex<Vec<(u64, String)>>,
    /// Wakes the settler: leases were settled and may find no call to ride on.
    settle_wake: std::sync::Arc<Notify>,
    /// Calls made to Redis (retries included): stats.json's `redis_round_trips`.
    trips: AtomicU64,
}

impl Shared {
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// The crawl's name (`--crawl-id`).
    pub fn crawl(&self) -> &str {
        &self.crawl
    }

    /// True once the fleet has leased `max_pages` fresh URLs (as of the last heartbeat).
    pub fn budget_spent(&self) -> bool {
        self.max_pages > 0 && self.fleet().started >= self.max_pages
    }

    /// Runs one script operation, retrying with backoff until Redis answers: a
    /// lost Redis pauses the crawl, it never fails a page. The leases settled here
    /// since the last call ride along when `op` can carry them (its first
    /// argument is this worker).
    async fn run(&self, op: &str, args: &[String]) -> Value {
        let carry = matches!(
            op,
            "admit" | "take" | "done" | "back" | "beat" | "leave" | "settle"
        );
        // Taken out while this call carries them, so that concurrent calls do not
        // carry them too; put back if the call is dropped before Redis answered.
        let mut carried = Carried {
            shared: self,
            batch: match carry {
                true => self
                    .settled
                    .lock()
                    .map(|mut s| std::mem::take(&mut *s))
                    .unwrap_or_default(),
                false => Vec::new(),
            },
            sent: false,
        };
        let list: String = carried.batch.iter().map(|(_, s)| s.as_str()).collect();
        let key = format!("{}c", self.prefix);
        let reply = self
            .retrying(|mut conn| {
                let (key, list) = (&key, &list);
                async move {
                    let mut call = self.script.prepare_invoke();
                    call.key(key).arg(&self.prefix).arg(op).arg(list);
                    for a in args {
                        call.arg(a);
                    }
                    call.invoke_async::<Value>(&mut conn).await
                }
            })
            .await;
        if !self.is_lost() {
            carried.sent = true;
            if let Ok(mut held) = self.held.lock() {
                for (id, _) in &carried.batch {
                    held.remove(id);
                }
            }
        }
        reply
    }

    /// Calls made to Redis so far (each attempt of a retried call counts).
    pub fn round_trips(&self) -> u64 {
        self.trips.load(Relaxed)
    }

    /// Runs `call` until Redis answers, with backoff (to 5 s, jittered): a lost Redis
    /// pauses the crawl. An error that retrying cannot cure stops the crawl instead
    /// (see `refuse`) and gives `Nil`.
    async fn retrying<'a, F, Fut>(&'a self, mut call: F) -> Value
    where
        F: FnMut(Conn) -> Fut,
        Fut: std::future::Future<Output = ::redis::RedisResult<Value>> + 'a,
    {
        let mut backoff = Duration::from_millis(100);
        loop {
            self.trips.fetch_add(1, Relaxed);
            match call(self.conn.clone()).await {
                Ok(v) => {
                    if self.down.swap(false, Relaxed) {
                        tracing::warn!("Redis at {} answers again: carrying on", self.url);
                    }
                    return v;
                }
                Err(e) if permanent(&e) => {
                    self.refuse(&e);
                    return Value::Nil;
                }
                Err(e) => {
                    if !self.down.swap(true, Relaxed) {
                        tracing::warn!(
                            "Redis at {} does not answer ({}): pausing, retrying with backoff",
                            self.url,
                            message(&e)
                        );
                    }
                    tokio::time::sleep(backoff.mul_f64(0.75 + fastrand::f64() * 0.5)).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn command(&self, cmd: &::redis::Cmd) -> Value {
        self.retrying(|mut conn| async move { cmd.query_async::<Value>(&mut conn).await })
            .await
    }

    fn refuse(&self, e: &::redis::RedisError) {
        if let Ok(mut r) = self.refused.lock() {
            if r.is_none() {
                *r = Some(message(e));
                tracing::error!("{}", self.lost_error());
            }
        }
    }

    fn mark_lost(&self) {
        if !self.lost.swap(true, Relaxed) {
            tracing::error!("{}", self.lost_error());
        }
    }

    /// True once the crawl cannot go on: its state is gone from Redis, or Redis
    /// refused an operation for good.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Relaxed) || self.refused.lock().map_or(true, |r| r.is_some())
    }

    /// Why the crawl cannot go on (see [`Shared::is_lost`]).
    pub fn lost_error(&self) -> SharedError {
        match self.refused.lock().ok().and_then(|r| r.clone()) {
            Some(message) => SharedError::Refused {
                url: self.url.clone(),
                message,
            },
            None => SharedError::Lost {
                crawl: self.crawl.clone(),
                url: self.url.clone(),
            },
        }
    }

    pub fn notify(&self) -> &Notify {
        &self.notify
    }

    pub fn fleet(&self) -> Fleet {
        self.fleet.lock().map(|f| f.clone()).unwrap_or_default()
    }

    pub fn is_done(&self) -> bool {
        let f = self.fleet();
        f.queued == 0 && f.leased == 0
    }

    /// Leases this process holds (taken, not yet completed or handed back).
    pub fn leased_here(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }
}

/// Settled leases one call carries (see [`Shared::run`]): back to the waiting list
/// unless Redis got them.
struct Carried<'a> {
    shared: &'a Shared,
    batch: Vec<(u64, String)>,
    sent: bool,
}

impl Drop for Carried<'_> {
    fn drop(&mut self) {
        if !self.sent && !self.batch.is_empty() {
            if let Ok(mut s) = self.shared.settled.lock() {
                s.append(&mut self.batch);
            }
        }
    }
}

/// A Redis URL fit for messages: any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The key prefix of a crawl; the braces keep all its keys in one cluster slot.
pub fn key_prefix(crawl: &str) -> String {
    format!("trawl:{{{crawl}}}:")
}
