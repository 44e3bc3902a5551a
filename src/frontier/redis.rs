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

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Script, Value};
use dashmap::DashMap;
use tokio::sync::Notify;

use super::schedule::Entry;
use super::{Lease, Next};
use crate::canon::{fingerprint, HostKey};

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
    pub per_host_concurrency: usize,
    pub per_host_rate: f64,
    pub max_pages: u64,
    pub max_pages_per_host: u64,
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
    ttl: Duration,
    /// Leases taken in a batch and not yet handed to a task.
    buffer: Mutex<VecDeque<Lease>>,
    notify: Notify,
    fleet: Mutex<Fleet>,
    /// Crawl-delay spacing learnt here (Redis holds the fleet's).
    intervals: DashMap<HostKey, Duration>,
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

/// Script arguments as strings (Redis sends every argument as one).
macro_rules! args {
    ($($a:expr),* $(,)?) => { [$($a.to_string()),*] };
}

/// An error that retrying cannot cure (a script error, out of memory, a wrong type):
/// everything else (connection lost, timeout, loading data) is waited out.
fn permanent(e: &::redis::RedisError) -> bool {
    matches!(e.retry_method(), ::redis::RetryMethod::NoRetry)
}

/// One line for a Redis error.
fn message(e: &::redis::RedisError) -> String {
    e.to_string().replace('\n', " ")
}

impl Shared {
    /// Connects (failing fast with one line when Redis is unreachable) and joins
    /// the crawl: the first process stores the settings, later ones must match.
    pub async fn join(
        opts: SharedOptions,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Shared, SharedError> {
        let unreachable = |message: String| SharedError::Unreachable {
            url: redact(&opts.url),
            message,
        };
        let client =
            ::redis::Client::open(opts.url.as_str()).map_err(|e| unreachable(message(&e)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(1);
        let connect = ConnectionManager::new_with_config(client, config);
        let mut conn = tokio::time::timeout(Duration::from_secs(5), connect)
            .await
            .map_err(|_| unreachable("no answer within 5 s".into()))?
            .map_err(|e| unreachable(message(&e)))?;
        let _: String = ::redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| unreachable(message(&e)))?;
        let prefix = key_prefix(&opts.crawl);
        // Two live processes with one name would share (and hand back) each other's leases.
        let beat: Option<f64> = ::redis::cmd("ZSCORE")
            .arg(format!("{prefix}w"))
            .arg(&opts.worker)
            .query_async(&mut conn)
            .await
            .map_err(|e| unreachable(message(&e)))?;
        if let Some(at) = beat {
            let (secs, micros): (u64, u64) = ::redis::cmd("TIME")
                .query_async(&mut conn)
                .await
                .map_err(|e| unreachable(message(&e)))?;
            let age_ms = (secs * 1000 + micros / 1000).saturating_sub(at as u64);
            if age_ms < opts.lease_ttl.as_millis() as u64 {
                return Err(SharedError::WorkerInUse {
                    crawl: opts.crawl.clone(),
                    worker: opts.worker.clone(),
                    age_ms,
                });
            }
        }
        let ours = serde_json::Value::Object(settings.clone()).to_string();
        let key = format!("{prefix}settings");
        let set: Option<String> = ::redis::cmd("SET")
            .arg(&key)
            .arg(&ours)
            .arg("NX")
            .query_async(&mut conn)
            .await
            .map_err(|e| unreachable(message(&e)))?;
        if set.is_none() {
            let stored: Option<String> = ::redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .map_err(|e| unreachable(message(&e)))?;
            let theirs: serde_json::Map<String, serde_json::Value> = stored
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            // Keys only one side knows (a newer or older trawl) are not a conflict.
            for (k, mine) in settings {
                if let Some(t) = theirs.get(k).filter(|t| *t != mine) {
                    return Err(SharedError::Settings {
                        crawl: opts.crawl.clone(),
                        key: k.clone(),
                        theirs: t.to_string(),
                        ours: mine.to_string(),
                    });
                }
            }
        }
        let interval_ms = if opts.per_host_rate > 0.0 {
            (1000.0 / opts.per_host_rate).ceil() as u64
        } else {
            0
        };
        Ok(Shared {
            conn,
            script: Script::new(SCRIPT),
            url: redact(&opts.url),
            prefix,
            worker: opts.worker,
            conc: opts.per_host_concurrency,
            interval_ms,
            max_pages: opts.max_pages,
            max_per_host: opts.max_pages_per_host,
            ttl: opts.lease_ttl,
            buffer: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            fleet: Mutex::new(Fleet::default()),
            intervals: DashMap::new(),
            down: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            held: Mutex::new(std::collections::HashSet::new()),
            crawl: opts.crawl,
            lost: AtomicBool::new(false),
            refused: Mutex::new(None),
        })
    }

    pub fn worker(&self) -> &str {
        &self.worker
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

    /// Adds seeds to the crawl's seed list (their hosts are in every process's scope).
    pub async fn add_seeds(&self, seeds: &[url::Url]) {
        if seeds.is_empty() {
            return;
        }
        let key = format!("{}seeds", self.prefix);
        let urls: Vec<&str> = seeds.iter().map(|s| s.as_str()).collect();
        self.command(::redis::cmd("SADD").arg(&key).arg(&urls))
            .await;
    }

    /// Every seed URL any process of the crawl was given.
    pub async fn seeds(&self) -> Vec<String> {
        let key = format!("{}seeds", self.prefix);
        match self.command(::redis::cmd("SMEMBERS").arg(&key)).await {
            Value::Array(items) => items.iter().filter_map(text).collect(),
            Value::Set(items) => items.iter().filter_map(text).collect(),
            _ => Vec::new(),
        }
    }

    async fn command(&self, cmd: &::redis::Cmd) -> Value {
        self.retrying(|mut conn| async move { cmd.query_async::<Value>(&mut conn).await })
            .await
    }

    /// Admits URLs once per crawl, across every process. Per URL: true if new.
    /// URLs refused for the host budget come back as `None`.
    pub async fn push_many(&self, entries: &[Entry]) -> Vec<Option<bool>> {
        if entries.is_empty() {
            return Vec::new();
        }
        let mut args: Vec<String> = Vec::with_capacity(2 + entries.len() * 4);
        args.push(self.conc.to_string());
        args.push(self.max_per_host.to_string());
        for e in entries {
            let fp = fingerprint(&e.url);
            args.push((fp >> 48).to_string());
            args.push((fp & 0xFFFF_FFFF_FFFF).to_string());
            args.push(HostKey::of(&e.url).as_str().to_string());
            args.push(item(e));
        }
        let codes = match self.run("admit", &args).await {
            Value::Array(v) => v,
            _ => Vec::new(),
        };
        let admitted: Vec<Option<bool>> = (0..entries.len())
            .map(|i| match codes.get(i) {
                Some(Value::Int(1)) => Some(true),
                Some(Value::Int(2)) => None,
                _ => Some(false),
            })
            .collect();
        if admitted.contains(&Some(true)) {
            self.notify.notify_waiters();
        }
        admitted
    }

    /// The next URL this process may fetch, taking a batch from Redis when the
    /// local buffer is empty. `room` is how many more this process could start now.
    pub async fn next(&self, room: usize) -> Next {
        if self.is_lost() {
            return Next::Done;
        }
        if let Some(lease) = self.pop() {
            return Next::Lease(lease);
        }
        let n = room.clamp(1, TAKE_BATCH);
        let reply = self
            .run(
                "take",
                &args![self.worker, n, self.conc, self.interval_ms, self.max_pages,],
            )
            .await;
        let Value::Array(items) = reply else {
            return Next::Wait(IDLE_POLL);
        };
        match items.first() {
            Some(first) if text(first).as_deref() == Some("done") => return Next::Done,
            Some(first) if text(first).as_deref() == Some("lost") => {
                self.mark_lost();
                return Next::Done;
            }
            Some(first) if text(first).as_deref() == Some("wait") => {
                let ms = match items.get(1) {
                    Some(Value::Int(ms)) => (*ms).max(1) as u64,
                    _ => IDLE_POLL.as_millis() as u64,
                };
                return Next::Wait(Duration::from_millis(ms).min(IDLE_POLL * 4));
            }
            Some(first) if text(first).as_deref() == Some("idle") => return Next::Wait(IDLE_POLL),
            None => return Next::Wait(IDLE_POLL),
            _ => {}
        }
        let mut taken = VecDeque::new();
        for t in items.chunks(3) {
            let [Value::Int(id), host, raw] = t else {
                continue;
            };
            if let Some(lease) = self.own(*id as u64, host, raw).await {
                taken.push_back(lease);
            }
        }
        let first = taken.pop_front();
        if !taken.is_empty() {
            if let Ok(mut b) = self.buffer.lock() {
                b.extend(taken);
            }
        }
        match first {
            Some(l) => Next::Lease(l),
            None => Next::Wait(IDLE_POLL),
        }
    }

    /// Makes a lease Redis handed out this process's: once (a lease adopted after a
    /// lost reply may also come back in the reply), and readable.
    async fn own(&self, id: u64, host: &Value, raw: &Value) -> Option<Lease> {
        if !self.held.lock().ok()?.insert(id) {
            return None;
        }
        self.lease_from(id, host, raw).await
    }

    /// A reserved lease id (in `held`) made a lease; an unreadable one is dropped.
    async fn lease_from(&self, id: u64, host: &Value, raw: &Value) -> Option<Lease> {
        self.in_flight.fetch_add(1, Relaxed);
        let host = text(host).and_then(|h| HostKey::parse(&h));
        let raw = text(raw).unwrap_or_default();
        match (host, parse_item(&raw)) {
            (Some(host), Some(entry)) => Some(Lease {
                shard: 0,
                id,
                host,
                entry,
            }),
            _ => {
                // Not ours to read (a newer trawl?): drop the lease, keep going.
                tracing::warn!("skipping an unreadable frontier entry: {raw}");
                let a = args![self.worker, id, self.conc, "discarded", ""];
                self.finish_lease(id, "done", &a).await;
                None
            }
        }
    }

    /// Runs `done` or `back` for a lease and forgets it.
    async fn finish_lease(&self, id: u64, op: &str, args: &[String]) {
        self.run(op, args).await;
        if let Ok(mut held) = self.held.lock() {
            if held.remove(&id) {
                self.in_flight.fetch_sub(1, Relaxed);
            }
        }
        self.notify.notify_waiters();
    }

    /// Takes in leases Redis holds for this process that it does not know of (a
    /// `take` whose reply was lost): they would otherwise stay leased for ever.
    async fn adopt(&self) {
        let key = format!("{}l:{}", self.prefix, self.worker);
        let pairs: Vec<Value> = match self.command(::redis::cmd("HGETALL").arg(&key)).await {
            Value::Array(v) => v,
            Value::Map(m) => m.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            _ => return,
        };
        let mut adopted = Vec::new();
        for pair in pairs.chunks(2) {
            let [id, stored] = pair else { continue };
            let Some(id) = text(id).and_then(|i| i.parse::<u64>().ok()) else {
                continue;
            };
            if self.held.lock().map(|h| h.contains(&id)).unwrap_or(true) {
                continue;
            }
            let Some((host, item)) = text(stored).and_then(|v| {
                v.split_once('\n')
                    .map(|(h, i)| (h.to_string(), i.to_string()))
            }) else {
                continue;
            };
            // Reserve the id first, then make sure Redis still has the lease: one that
            // completed since HGETALL (its task let go of it just now) must not be
            // taken again, and once reserved, nobody else can complete it.
            if !self.held.lock().map(|mut h| h.insert(id)).unwrap_or(false) {
                continue;
            }
            let still = self
                .command(::redis::cmd("HEXISTS").arg(&key).arg(id))
                .await;
            if !matches!(still, Value::Int(1) | Value::Boolean(true)) {
                if let Ok(mut h) = self.held.lock() {
                    h.remove(&id);
                }
                continue;
            }
            let host = Value::BulkString(host.into_bytes());
            let item = Value::BulkString(item.into_bytes());
            if let Some(lease) = self.lease_from(id, &host, &item).await {
                adopted.push(lease);
            }
        }
        if !adopted.is_empty() {
            tracing::warn!(
                urls = adopted.len(),
                "took back leases whose reply was lost on the way from Redis"
            );
            if let Ok(mut b) = self.buffer.lock() {
                b.extend(adopted);
            }
            self.notify.notify_waiters();
        }
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

    fn pop(&self) -> Option<Lease> {
        self.buffer.lock().ok()?.pop_front()
    }

    /// Finishes a lease: recorded (`discarded`: no record) with an error kind or none.
    pub async fn complete(&self, lease: Lease, discarded: bool, error: Option<&str>) {
        let counter = if discarded { "discarded" } else { "done" };
        let a = args![
            self.worker,
            lease.id,
            self.conc,
            counter,
            error.unwrap_or("")
        ];
        self.finish_lease(lease.id, "done", &a).await;
    }

    /// Hands a lease back: `retry` with its new attempt count, or untouched
    /// (`None`) after a robots.txt fetch or at shutdown; the host waits `delay`.
    pub async fn back(&self, lease: Lease, retry: Option<&Entry>, delay: Duration) {
        let new_item = retry.map(item).unwrap_or_default();
        let ms = delay.as_millis() as u64;
        let a = args![self.worker, lease.id, self.conc, ms, new_item];
        self.finish_lease(lease.id, "back", &a).await;
    }

    /// robots.txt Crawl-delay: the host is slowed for the whole fleet.
    pub async fn set_crawl_delay(&self, host: &HostKey, delay: Duration) {
        let effective = delay.max(Duration::from_millis(self.interval_ms));
        self.intervals.insert(host.clone(), effective);
        let ms = effective.as_millis() as u64;
        self.run("delay", &args![host.as_str(), ms]).await;
    }

    pub fn host_interval(&self, host: &HostKey) -> Option<Duration> {
        self.intervals
            .get(host)
            .map(|d| *d)
            .or_else(|| (self.interval_ms > 0).then(|| Duration::from_millis(self.interval_ms)))
    }

    /// Sends this process's heartbeat (with `report`, its own counters as JSON),
    /// hands back the leases of silent processes, and refreshes the fleet counters.
    pub async fn beat(&self, report: &str) -> Fleet {
        let ttl = self.ttl.as_millis() as u64;
        let reply = self
            .run("beat", &args![self.worker, ttl, self.conc, report])
            .await;
        let fleet = parse_beat(&reply);
        if fleet.lost {
            self.mark_lost();
        }
        let held = self.held.lock().map(|h| h.len() as u64).unwrap_or(0);
        if fleet.mine > held {
            self.adopt().await;
        }
        if fleet.reaped > 0 {
            tracing::warn!(
                urls = fleet.reaped,
                "handed back the leased URLs of a process that stopped sending heartbeats"
            );
            self.notify.notify_waiters();
        }
        if let Ok(mut f) = self.fleet.lock() {
            *f = fleet.clone();
        }
        fleet
    }

    /// Each live process's last heartbeat (unix seconds), for metrics; empty when
    /// Redis does not answer within 2 s.
    pub async fn heartbeats(&self) -> Vec<(String, f64)> {
        let mut conn = self.conn.clone();
        let cmd = ::redis::cmd("ZRANGE")
            .arg(format!("{}w", self.prefix))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .to_owned();
        let read = cmd.query_async::<Vec<(String, f64)>>(&mut conn);
        match tokio::time::timeout(Duration::from_secs(2), read).await {
            Ok(Ok(v)) => v.into_iter().map(|(w, ms)| (w, ms / 1000.0)).collect(),
            _ => Vec::new(),
        }
    }

    /// Re-reads the fleet's counters without a heartbeat (after leaving).
    pub async fn refresh(&self) {
        let reply = self
            .command(::redis::cmd("HGETALL").arg(format!("{}c", self.prefix)))
            .await;
        // Shaped like a heartbeat's reply: now, reaped, seeds, settings exist, mine.
        let mut flat = vec![
            Value::Int(0),
            Value::Int(0),
            Value::Int(0),
            Value::Int(1),
            Value::Int(0),
        ];
        match reply {
            Value::Array(v) => flat.extend(v),
            Value::Map(m) => flat.extend(m.into_iter().flat_map(|(k, v)| [k, v])),
            _ => return,
        }
        let seeds = self.fleet().seeds;
        let mut fleet = parse_beat(&Value::Array(flat));
        fleet.seeds = seeds;
        if let Ok(mut f) = self.fleet.lock() {
            *f = fleet;
        }
    }

    /// A clean exit: buffered and unfinished leases go back to the queue at once.
    pub async fn leave(&self, report: &str) {
        if let Ok(mut b) = self.buffer.lock() {
            b.clear();
        }
        self.run("leave", &args![self.worker, self.conc, report])
            .await;
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

/// A queued URL as stored: "F" (fresh) or "R" (a retry) and the entry as JSON.
fn item(e: &Entry) -> String {
    let json = serde_json::to_string(e).unwrap_or_default();
    format!("{}{json}", if e.attempt == 0 { 'F' } else { 'R' })
}

fn parse_item(raw: &str) -> Option<Entry> {
    serde_json::from_str(raw.get(1..)?).ok()
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> u64 {
    match v {
        Value::Int(i) => (*i).max(0) as u64,
        other => text(other)
            .and_then(|s| s.parse::<i64>().ok())
            .map_or(0, |i| i.max(0) as u64),
    }
}

fn parse_beat(reply: &Value) -> Fleet {
    let Value::Array(v) = reply else {
        return Fleet::default();
    };
    let mut f = Fleet {
        reaped: v.get(1).map_or(0, int),
        seeds: v.get(2).map_or(0, int),
        lost: v.get(3).is_some_and(|e| int(e) == 0),
        mine: v.get(4).map_or(0, int),
        ..Fleet::default()
    };
    for pair in v.get(5..).unwrap_or_default().chunks(2) {
        let [k, val] = pair else { continue };
        let n = int(val);
        match text(k).as_deref() {
            Some("queued") => f.queued = n,
            Some("leased") => f.leased = n,
            Some("done") => f.done = n,
            Some("discarded") => f.discarded = n,
            Some("errors") => f.errors = n,
            Some("hosts") => f.hosts = n,
            Some("started") => f.started = n,
            _ => {}
        }
    }
    f
}

/// A read-only view of a shared crawl, for `trawl status`.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub crawl: String,
    pub counters: std::collections::BTreeMap<String, i64>,
    pub ready_hosts: u64,
    pub workers: Vec<WorkerStatus>,
}

#[derive(Debug, serde::Serialize)]
pub struct WorkerStatus {
    pub worker: String,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_secs: f64,
    /// "alive", "silent" (no heartbeat for over 3 s), "exited", or "lost" (silent for
    /// lease_ttl: its leases were handed back).
    pub state: String,
    pub leased: u64,
    /// Its own counters as it last reported them.
    pub report: serde_json::Value,
}

/// Reads a crawl's counters and each process's heartbeat.
pub async fn status(url: &str, crawl: &str) -> Result<Status, SharedError> {
    let unreachable = |message: String| SharedError::Unreachable {
        url: redact(url),
        message,
    };
    let client = ::redis::Client::open(url).map_err(|e| unreachable(message(&e)))?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| unreachable("no answer within 5 s".into()))?
    .map_err(|e| unreachable(message(&e)))?;
    let p = key_prefix(crawl);
    let q = |e: ::redis::RedisError| unreachable(message(&e));
    let counters: std::collections::BTreeMap<String, i64> = ::redis::cmd("HGETALL")
        .arg(format!("{p}c"))
        .query_async(&mut conn)
        .await
        .map_err(q)?;
    let (secs, micros): (u64, u64) = ::redis::cmd("TIME")
        .query_async(&mut conn)
        .await
        .map_err(q)?;
    let now = secs * 1000 + micros / 1000;
    let ready_hosts: u64 = ::redis::cmd("ZCARD")
        .arg(format!("{p}ready"))
        .query_async(&mut conn)
        .await
        .map_err(q)?;
    let mut names: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    for _ in 0..10_000 {
        let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{p}wi:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .map_err(q)?;
        names.extend(
            keys.into_iter()
                .filter_map(|k| k.strip_prefix(&format!("{p}wi:")).map(str::to_owned)),
        );
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    names.sort();
    names.dedup();
    let mut workers = Vec::new();
    for w in names {
        let info: std::collections::HashMap<String, String> = ::redis::cmd("HGETALL")
            .arg(format!("{p}wi:{w}"))
            .query_async(&mut conn)
            .await
            .map_err(q)?;
        let leased: u64 = ::redis::cmd("HLEN")
            .arg(format!("{p}l:{w}"))
            .query_async(&mut conn)
            .await
            .map_err(q)?;
        let seen: u64 = info.get("seen").and_then(|s| s.parse().ok()).unwrap_or(0);
        let age_ms = now.saturating_sub(seen);
        // Heartbeats go every second: three missed is a process that is not beating.
        let state = match info.get("how") {
            Some(how) if info.contains_key("left") => how.clone(),
            _ if age_ms > 3000 => "silent".to_string(),
            _ => "alive".to_string(),
        };
        workers.push(WorkerStatus {
            worker: w,
            heartbeat_age_secs: age_ms as f64 / 1000.0,
            state,
            leased,
            report: info
                .get("report")
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or(serde_json::Value::Null),
        });
    }
    Ok(Status {
        crawl: crawl.to_string(),
        counters,
        ready_hosts,
        workers,
    })
}
