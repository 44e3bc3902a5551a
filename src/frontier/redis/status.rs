//! `trawl status`: a read-only view of a shared crawl.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use ::redis::RedisResult;

use super::conn::{connect, Conn, Endpoint};
use super::{key_prefix, message, redact, SharedError};

/// A read-only view of a shared crawl, for `trawl status`.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub crawl: String,
    pub counters: BTreeMap<String, i64>,
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
pub async fn status(at: &Endpoint, crawl: &str) -> Result<Status, SharedError> {
    let unreachable = |message: String| SharedError::Unreachable {
        url: redact(&at.url),
        message,
    };
    let mut conn = connect(at).await?;
    tokio::time::timeout(Duration::from_secs(10), read(&mut conn, crawl))
        .await
        .map_err(|_| unreachable("no answer within 10 s".into()))?
        .map_err(|e| unreachable(message(&e)))
}

async fn read(conn: &mut Conn, crawl: &str) -> RedisResult<Status> {
    let p = key_prefix(crawl);
    let counters: BTreeMap<String, i64> = ::redis::cmd("HGETALL")
        .arg(format!("{p}c"))
        .query_async(conn)
        .await?;
    let (secs, micros): (u64, u64) = ::redis::cmd("TIME").query_async(conn).await?;
    let now = secs * 1000 + micros / 1000;
    let mut ready_hosts: u64 = 0;
    for set in ["ready", "fresh"] {
        let n: u64 = ::redis::cmd("ZCARD")
            .arg(format!("{p}{set}"))
            .query_async(conn)
            .await?;
        ready_hosts += n;
    }
    let mut workers = Vec::new();
    for w in worker_names(conn, &p).await? {
        workers.push(worker(conn, &p, w, now).await?);
    }
    Ok(Status {
        crawl: crawl.to_string(),
        counters,
        ready_hosts,
        workers,
    })
}

/// Every process that ever joined the crawl: the crawl's set of them, or for a
/// crawl begun by an older trawl on one server, a bounded SCAN.
async fn worker_names(conn: &mut Conn, p: &str) -> RedisResult<Vec<String>> {
    let mut names: Vec<String> = ::redis::cmd("SMEMBERS")
        .arg(format!("{p}ws"))
        .query_async(conn)
        .await?;
    if !names.is_empty() || conn.is_cluster() {
        names.sort();
        return Ok(names);
    }
    let mut cursor = 0u64;
    for _ in 0..10_000 {
        let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{p}wi:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
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
    Ok(names)
}

/// One process's state, as of `now` (Redis's clock, ms).
async fn worker(conn: &mut Conn, p: &str, w: String, now: u64) -> RedisResult<WorkerStatus> {
    let info: HashMap<String, String> = ::redis::cmd("HGETALL")
        .arg(format!("{p}wi:{w}"))
        .query_async(conn)
        .await?;
    let leased: u64 = ::redis::cmd("HLEN")
        .arg(format!("{p}l:{w}"))
        .query_async(conn)
        .await?;
    let seen: u64 = info.get("seen").and_then(|s| s.parse().ok()).unwrap_or(0);
    let age_ms = now.saturating_sub(seen);
    // Heartbeats go every second: three missed is a process that is not beating.
    let state = match info.get("how") {
        Some(how) if info.contains_key("left") => how.clone(),
        _ if age_ms > 3000 => "silent".to_string(),
        _ => "alive".to_string(),
    };
    Ok(WorkerStatus {
        worker: w,
        heartbeat_age_secs: age_ms as f64 / 1000.0,
        state,
        leased,
        report: info
            .get("report")
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(serde_json::Value::Null),
    })
}
