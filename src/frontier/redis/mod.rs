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

mod fleet;
mod join;
mod leases;
mod status;
mod wire;

pub use status::{status, Status, WorkerStatus};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;
use wire::{message, permanent};

use ::redis::aio::ConnectionManager;
use ::redis::{Script, Value};
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
}

/// How to join a shared crawl.
#[derive(Debug, Clone)]
pub struct SharedOptions {
    pub url: String,
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
    conn: ConnectionManager,
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
    /// lost Redis pauses the crawl, it never fails a page.
    async fn run(&self, op: &str, args: &[String]) -> Value {
        self.retrying(|mut conn| async move {
            let mut call = self.script.prepare_invoke();
            call.arg(&self.prefix).arg(op);
            for a in args {
                call.arg(a);
            }
            call.invoke_async::<Value>(&mut conn).await
        })
        .await
    }

    /// Runs `call` until Redis answers, with backoff (to 5 s, jittered): a lost Redis
    /// pauses the crawl. An error that retrying cannot cure stops the crawl instead
    /// (see `refuse`) and gives `Nil`.
    async fn retrying<'a, F, Fut>(&'a self, mut call: F) -> Value
    where
        F: FnMut(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = ::redis::RedisResult<Value>> + 'a,
    {
        let mut backoff = Duration::from_millis(100);
        loop {
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
