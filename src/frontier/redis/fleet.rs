//! The fleet: seeds every process shares, Crawl-delay for everyone, heartbeats
//! (which hand back the leases of silent processes), leaving, and the robots.txt
//! files one process fetched for all.

use std::time::Duration;

use ::redis::Value;

use super::wire::{parse_beat, text};
use super::{Fleet, Shared};
use crate::canon::HostKey;
use crate::robots::kept::Kept;

impl Shared {
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

    /// Says whether this process is still admitting its seeds: while any live
    /// process is, the fleet's empty frontier is not a finished crawl.
    pub async fn seeding(&self, on: bool) {
        let flag = if on { "1" } else { "0" };
        self.run("seeding", &args![self.worker, flag]).await;
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

    /// robots.txt Crawl-delay (clamped to `max_crawl_delay`): the host is slowed
    /// for the whole fleet.
    pub async fn set_crawl_delay(&self, host: &HostKey, delay: Duration) {
        let delay = delay.min(self.max_crawl_delay);
        let effective = delay.max(self.base_interval(host).unwrap_or_default());
        self.intervals.insert(host.clone(), effective);
        let ms = effective.as_millis() as u64;
        self.run("delay", &args![host.as_str(), ms]).await;
    }

    /// The host's next request, by any process, waits `delay` from now.
    pub async fn hold(&self, host: &HostKey, delay: Duration) {
        let ms = delay.as_millis().min(u128::from(u32::MAX)) as u64;
        self.run("hold", &args![host.as_str(), ms]).await;
    }

    pub fn host_interval(&self, host: &HostKey) -> Option<Duration> {
        self.intervals
            .get(host)
            .map(|d| *d)
            .or_else(|| self.base_interval(host))
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
}

/// robots.txt kept for the fleet (see `frontier::kept`): `P.."rb:"..H` holds the
/// copy (binary, expiring with it), `P.."rbl:"..H` the claim of the process
/// fetching it. Both carry the crawl's hash tag, so a cluster keeps them in the
/// crawl's slot.
impl Shared {
    pub async fn robots_kept(&self, host: &HostKey) -> Option<Vec<u8>> {
        let key = format!("{}rb:{}", self.prefix, host.as_str());
        match self.command(::redis::cmd("GET").arg(&key)).await {
            ::redis::Value::BulkString(b) => Some(b),
            _ => None,
        }
    }

    /// True if this process now holds the claim (it was free).
    pub async fn robots_claim(&self, host: &HostKey, for_how_long: Duration) -> bool {
        let key = format!("{}rbl:{}", self.prefix, host.as_str());
        let cmd = ::redis::cmd("SET")
            .arg(&key)
            .arg(&self.worker)
            .arg("NX")
            .arg("PX")
            .arg(for_how_long.as_millis() as u64)
            .to_owned();
        matches!(
            self.command(&cmd).await,
            ::redis::Value::Okay | ::redis::Value::SimpleString(_)
        )
    }

    pub async fn robots_keep(&self, host: &HostKey, answer: Option<&Kept>) {
        if let Some(k) = answer {
            let ms = k.ttl_left().as_millis() as u64;
            if ms > 0 {
                let key = format!("{}rb:{}", self.prefix, host.as_str());
                let cmd = ::redis::cmd("SET")
                    .arg(&key)
                    .arg(k.encode())
                    .arg("PX")
                    .arg(ms)
                    .to_owned();
                self.command(&cmd).await;
            }
        }
        let claim = format!("{}rbl:{}", self.prefix, host.as_str());
        self.command(::redis::cmd("DEL").arg(&claim)).await;
    }
}
