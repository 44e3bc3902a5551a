//! Joining a shared crawl: connect (failing fast, in one line, when Redis is not
//! there), refuse a worker id a live process holds, and agree on the settings.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;

use ::redis::Script;
use dashmap::DashMap;
use tokio::sync::Notify;

use super::conn::{connect, Conn};
use super::{key_prefix, message, redact, Fleet, Shared, SharedError, SharedOptions, SCRIPT};

impl Shared {
    /// Connects (failing fast with one line when Redis is unreachable) and joins
    /// the crawl: the first process stores the settings, later ones must match.
    pub async fn join(
        opts: SharedOptions,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<std::sync::Arc<Shared>, SharedError> {
        let unreachable = |e: ::redis::RedisError| SharedError::Unreachable {
            url: redact(&opts.at.url),
            message: message(&e),
        };
        let mut conn = connect(&opts.at).await?;
        if conn.is_cluster() {
            tracing::info!("Redis at {} is a cluster", redact(&opts.at.url));
        }
        let prefix = key_prefix(&opts.crawl);
        if let Some(age_ms) = heartbeat_age(&mut conn, &prefix, &opts.worker)
            .await
            .map_err(unreachable)?
        {
            // Two live processes with one name would share (and hand back) each
            // other's leases.
            if age_ms < opts.lease_ttl.as_millis() as u64 {
                return Err(SharedError::WorkerInUse {
                    crawl: opts.crawl.clone(),
                    worker: opts.worker.clone(),
                    age_ms,
                });
            }
        }
        agree_settings(&mut conn, &prefix, &opts.crawl, settings)
            .await?
            .map_err(unreachable)?;
        let limits = &opts.limits;
        let interval_ms = if limits.per_host_rate > 0.0 {
            (1000.0 / limits.per_host_rate).ceil() as u64
        } else {
            0
        };
        let shared = std::sync::Arc::new(Shared {
            conn,
            script: Script::new(SCRIPT),
            url: redact(&opts.at.url),
            prefix,
            worker: opts.worker,
            conc: limits.per_host_concurrency,
            interval_ms,
            max_pages: limits.max_pages,
            max_per_host: limits.max_pages_per_host,
            max_crawl_delay: limits.max_crawl_delay,
            unreachable: limits.unreachable,
            ttl: opts.lease_ttl,
            buffer: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            fleet: Mutex::new(Fleet::default()),
            intervals: DashMap::new(),
            host_limits: limits.hosts.clone(),
            told: dashmap::DashSet::new(),
            down: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            held: Mutex::new(std::collections::HashSet::new()),
            crawl: opts.crawl,
            lost: AtomicBool::new(false),
            refused: Mutex::new(None),
            settled: Mutex::new(Vec::new()),
            settle_wake: std::sync::Arc::new(Notify::new()),
            trips: AtomicU64::new(0),
        });
        shared.start_settler();
        Ok(shared)
    }
}

/// Milliseconds since `worker` last beat in this crawl, on Redis's clock; None if
/// it never did.
async fn heartbeat_age(
    conn: &mut Conn,
    prefix: &str,
    worker: &str,
) -> ::redis::RedisResult<Option<u64>> {
    let beat: Option<f64> = ::redis::cmd("ZSCORE")
        .arg(format!("{prefix}w"))
        .arg(worker)
        .query_async(conn)
        .await?;
    let Some(at) = beat else {
        return Ok(None);
    };
    let (secs, micros): (u64, u64) = ::redis::cmd("TIME").query_async(conn).await?;
    Ok(Some(
        (secs * 1000 + micros / 1000).saturating_sub(at as u64),
    ))
}

/// Stores this process's settings as the crawl's if it has none yet; otherwise
/// every key both sides know must match. The inner result is Redis's answer.
async fn agree_settings(
    conn: &mut Conn,
    prefix: &str,
    crawl: &str,
    settings: &serde_json::Map<String, serde_json::Value>,
) -> Result<::redis::RedisResult<()>, SharedError> {
    let reply = read_settings(conn, prefix, settings).await;
    let theirs = match reply {
        Ok(Some(theirs)) => theirs,
        Ok(None) => return Ok(Ok(())),
        Err(e) => return Ok(Err(e)),
    };
    // Keys only one side knows (a newer or older trawl) are not a conflict.
    for (k, mine) in settings {
        if let Some(t) = theirs.get(k).filter(|t| *t != mine) {
            return Err(SharedError::Settings {
                crawl: crawl.to_string(),
                key: k.clone(),
                theirs: t.to_string(),
                ours: mine.to_string(),
            });
        }
    }
    Ok(Ok(()))
}

/// Stores `settings` as the crawl's unless it has some; returns the ones it had.
async fn read_settings(
    conn: &mut Conn,
    prefix: &str,
    settings: &serde_json::Map<String, serde_json::Value>,
) -> ::redis::RedisResult<Option<serde_json::Map<String, serde_json::Value>>> {
    let ours = serde_json::Value::Object(settings.clone()).to_string();
    let key = format!("{prefix}settings");
    let set: Option<String> = ::redis::cmd("SET")
        .arg(&key)
        .arg(&ours)
        .arg("NX")
        .query_async(conn)
        .await?;
    if set.is_some() {
        return Ok(None);
    }
    let stored: Option<String> = ::redis::cmd("GET").arg(&key).query_async(conn).await?;
    Ok(Some(
        stored
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default(),
    ))
}
