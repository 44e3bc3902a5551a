//! The fleet: seeds every process shares, Crawl-delay for everyone, heartbeats
//! (which hand back the leases of silent processes), and leaving.

use std::time::Duration;

use ::redis::Value;

use super::wire::{parse_beat, text};
use super::{Fleet, Shared};
use crate::canon::HostKey;

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
