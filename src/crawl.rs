//! The crawl: builds every part from the config, runs the workers, and owns the
//! order in which things stop. It is the only module that knows all the others.
//!
//! Data flows one way: seeds → frontier → worker → robots → fetch → extract → sink,
//! with stats observing. Each worker drives one frontier shard: it leases a URL
//! whose host is ready and hands it to a task; tasks run concurrently up to
//! `concurrency` in total. A task pushes the page's links *before* completing its
//! lease, so the frontier can tell "finished" from "between pages".
//!
//! # Stop order
//! 1. A stop request ([`StopRequest::Graceful`]: the first Ctrl-C or SIGTERM, or a
//!    test) stops all leasing at once.
//! 2. In-flight URLs get `shutdown_grace` seconds to finish and be recorded; what
//!    is still running then — or at once on [`StopRequest::Now`], the second
//!    signal — is abandoned (never half-recorded).
//! 3. The sink drains, writes whole lines and fsyncs.
//! 4. The frontier store commits (pending URLs of abandoned pages stay pending; the
//!    crawl is marked finished only when it ran to its end) and closes.
//! 5. stats.json is written (atomically, by rename), then the summary returned.
//!
//! # Resume
//! With the durable frontier (the default), the same command on the same `--out`
//! continues an interrupted crawl however it stopped: pages.jsonl is made whole,
//! its URLs count as done, and every URL pending in `OUT/state` is fetched. A
//! finished crawl is never silently re-run.
//!
//! A failure on one URL is data (a record with an error kind), never an error
//! here; [`CrawlError`] is only for problems that stop a crawl from starting or
//! from saving its output.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;
use url::Url;

use crate::canon::{self, fingerprint};
use crate::config::{Config, ConfigError};
use crate::extract::{self, Extractor, Link, RuleError};
use crate::fetch::{self, AddressGuard, FetchError, Fetcher, Response};
use crate::frontier::embedded::host_hash;
use crate::frontier::store::Op;
use crate::frontier::{
    Admission, Entry, Frontier, Lease, Next, SharedError, SharedOptions, Store, StoreError,
};
use crate::progress::Progress;
use crate::robots::{RobotsCache, Verdict};
use crate::scope::Scope;
use crate::sink::jsonl::recover;
use crate::sink::warc::WarcOptions;
use crate::sink::{
    Exchange, JsonlOptions, JsonlSink, Output, PageRecord, Sink, SinkError, WarcSink,
};
use crate::sitemap;
use crate::stats::{ErrorKind, Refusal, Stats, Summary};
use crate::traps::{self, Traps};

/// Bodies larger than this are parsed on the blocking pool, off the async reactor.
const INLINE_PARSE_BYTES: usize = 64 * 1024;
/// Longest an idle worker sleeps before looking again (new work also wakes it).
const MAX_IDLE: Duration = Duration::from_millis(200);
/// How often a process of a shared crawl says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a process leaving a shared crawl waits for Redis to take its leases back.
const LEAVE_WAIT: Duration = Duration::from_secs(10);
/// Longest backoff between retries of one URL.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What the crawl is asked to do, sent on a watch channel by the binary's signal
/// handler (or by a test).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopRequest {
    /// Keep crawling.
    #[default]
    Run,
    /// Stop leasing; give in-flight pages `shutdown_grace` to finish.
    Graceful(Stop),
    /// Stop leasing and abandon in-flight pages now; still flush and write stats.
    Now(Stop),
}

impl StopRequest {
    fn signal(self) -> Option<Stop> {
        match self {
            StopRequest::Run => None,
            StopRequest::Graceful(s) | StopRequest::Now(s) => Some(s),
        }
    }
}

/// Internal stop levels shared with workers.
const RUNNING: u8 = 0;
const STOPPING: u8 = 1;
const ABANDON: u8 = 2;

/// What stopped a crawl early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT / Ctrl-C (exit code 130).
    Interrupt,
    /// SIGTERM (exit code 143).
    Terminate,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid rules: {0}")]
    Rules(#[from] RuleError),
    #[error("cannot create output directory {path}: {source}")]
    OutDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} already holds a crawl that cannot be resumed (pages.jsonl but no frontier state): add --fresh to start over, or choose another --out")]
    OutputExists(PathBuf),
    #[error("{out} holds a finished crawl ({pages} pages): add --fresh to start over, or choose another --out")]
    Finished { out: PathBuf, pages: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the frontier state {0} is corrupt: add --fresh to start over, or choose another --out"
    )]
    Corrupt(PathBuf),
    #[error("{out} has records but its frontier state in {state} is empty or lost: add --fresh to start over, or choose another --out")]
    StateLost { out: PathBuf, state: PathBuf },
    #[error("the frontier state in {state} belongs to the crawl in {owner}: give that --out, or another --state")]
    StateOwner { state: PathBuf, owner: String },
    #[error("{0} is in use by another trawl crawl (its .lock is held)")]
    Locked(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP client: {0}")]
    Client(FetchError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Shared(#[from] SharedError),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Everything the workers share.
struct Ctx {
    config: Config,
    /// Private-address guard (seed hosts are exempt, the fleet's too).
    guard: Arc<AddressGuard>,
    frontier: Arc<Frontier>,
    fetcher: Fetcher,
    robots: RobotsCache,
    scope: Scope,
    traps: Traps,
    /// This run continues an interrupted one (its queued URLs are re-checked).
    resumed: bool,
    stats: Arc<Stats>,
    /// pages.jsonl first, then the WARC archive when asked for.
    sinks: Vec<Sink>,
    /// Title, links, extras and rule fields of HTML pages.
    extractor: Arc<Extractor>,
    /// Sitemaps admitted per host (`max_sitemaps_per_host`), and which: an index
    /// naming itself or a sitemap named twice costs nothing.
    sitemaps: dashmap::DashMap<crate::canon::HostKey, u32>,
    sitemaps_seen: dashmap::DashSet<u64>,
    /// The extra record fields of a URL that was not parsed (all null).
    empty_fields: serde_json::Map<String, serde_json::Value>,
    permits: Arc<Semaphore>,
    /// RUNNING, STOPPING (finish in-flight work) or ABANDON (drop it now).
    stop: watch::Sender<u8>,
    /// Set when the output or the frontier store cannot be written: the crawl stops
    /// rather than lose records.
    output_failed: AtomicBool,
}

/// Runs a crawl to completion or until a stop is requested on `stop`; returns the
/// summary also written to `out/stats.json`.
pub async fn run(
    config: Config,
    seeds: Vec<Url>,
    mut stop: watch::Receiver<StopRequest>,
) -> Result<Summary, CrawlError> {
    config.validate()?;
    let extractor = Arc::new(Extractor::new(&config)?);
    let out = config.out.clone();
    // In a shared crawl many processes may write one directory: each its own files.
    let worker_name = config.is_shared().then(|| config.worker_name());
    let _lock = lock_out_dir(&out, worker_name.as_deref())?;
    // A shared crawl's lock is named for the process: it goes when the process does.
    let _unlock = worker_name
        .as_ref()
        .map(|w| RemoveOnDrop(out.join(format!(".lock-{w}"))));
    let state_dir = config.state.clone().unwrap_or_else(|| out.join("state"));
    let resume = match worker_name {
        Some(_) => false,
        None => prepare_out_dir(&out, &state_dir, config.fresh, config.durable)?,
    };
    let stem = crate::sink::jsonl::stem_for(worker_name.as_deref());
    let pages_path = out.join(format!("{stem}.jsonl"));
    let stats = Arc::new(Stats::new());

    // The metrics port is taken first: a port in use stops the process before it
    // joins a shared crawl or writes anything.
    let metrics_listener = match &config.metrics {
        Some(addr) => {
            let at: std::net::SocketAddr = addr.parse().map_err(|_| {
                CrawlError::Config(ConfigError::Invalid {
                    key: "metrics",
                    message: format!("'{addr}' is not an IP:PORT address"),
                })
            })?;
            Some(
                crate::metrics::bind(at)
                    .await
                    .map_err(|source| CrawlError::Metrics { addr: at, source })?,
            )
        }
        None => None,
    };
    // The shared frontier is joined before anything is written: a process with
    // conflicting settings, or no Redis, stops here with one line.
    let shared = match &worker_name {
        Some(w) => Some(
            Frontier::shared(
                SharedOptions {
                    url: config.frontier.clone(),
                    crawl: config.crawl_id.clone(),
                    worker: w.clone(),
                    per_host_concurrency: config.per_host_concurrency,
                    per_host_rate: config.per_host_rate,
                    max_pages: config.max_pages,
                    max_pages_per_host: config.max_pages_per_host,
                    lease_ttl: Duration::from_secs_f64(config.lease_ttl),
                },
                &config.shared_settings(),
            )
            .await?,
        ),
        None => None,
    };

    let store = match config.durable && shared.is_none() {
        true => {
            std::fs::create_dir_all(&state_dir).map_err(|source| CrawlError::OutDir {
                path: state_dir.clone(),
                source,
            })?;
            let path = state_dir.join("frontier.redb");
            // redb panics on some kinds of corruption: report it as one clear error.
            let opened = std::panic::catch_unwind(|| Store::open(&path))
                .map_err(|_| CrawlError::Corrupt(path.clone()))?;
            Some(Arc::new(opened?))
        }
        false => None,
    };
    let traps = Traps::new(&config);
    let mut recorded = std::collections::HashSet::new();
    if let (true, Some(store)) = (resume, &store) {
        let recovered = recover(&out, |page| {
            let kind = page.error.as_deref().and_then(ErrorKind::of_error);
            stats.record_resumed(page.status, kind, page.content_length);
            // Earlier runs' pages count against each host's budget.
            if let Ok(url) = Url::parse(&page.url) {
                traps.note_host(&crate::canon::HostKey::of(&url));
            }
        })
        .map_err(|source| CrawlError::Write {
            path: pages_path.clone(),
            source,
        })?;
        let owner = store.meta("out")?;
        let here = std::fs::canonicalize(&out).unwrap_or_else(|_| out.clone());
        if let Some(owner) = owner.filter(|o| Path::new(o) != here) {
            return Err(CrawlError::StateOwner {
                state: state_dir.clone(),
                owner,
            });
        }
        match store.meta("status")?.as_deref() {
            Some("finished") => {
                return Err(CrawlError::Finished {
                    out: out.clone(),
                    pages: recovered.records,
                })
            }
            // Killed before its first commit: nothing was recorded, start afresh.
            None if recovered.records == 0 => {}
            None => {
                return Err(CrawlError::StateLost {
                    out: out.clone(),
                    state: state_dir.clone(),
                })
            }
            Some(_) => {}
        }
        if recovered.bad_lines > 0 {
            tracing::warn!(
                lines = recovered.bad_lines,
                "pages.jsonl has lines that are not records; they were skipped"
            );
        }
        if recovered.torn_bytes > 0 {
            tracing::warn!(
                bytes = recovered.torn_bytes,
                "cut a torn last line (or compressed block) off the last pages file"
            );
        }
        if recovered.unreadable_bytes > 0 {
            tracing::warn!(
                bytes = recovered.unreadable_bytes,
                "earlier pages parts end in damaged data; it was skipped and left in place"
            );
        }
        recorded = recovered.fingerprints;
    }
    let jsonl = JsonlOptions {
        compress: config.compress,
        rotate_bytes: config.rotate_size,
        confirm: worker_name.is_some(),
    };
    let mut sinks = vec![Sink::Jsonl(
        JsonlSink::open(&out, &stem, jsonl, store.clone()).map_err(|source| CrawlError::Write {
            path: pages_path.clone(),
            source,
        })?,
    )];
    if config.warc {
        let dir = match &worker_name {
            Some(w) => out.join("warc").join(w),
            None => out.join("warc"),
        };
        let opts = WarcOptions {
            dir: dir.clone(),
            rotate_bytes: config.warc_rotate_size,
            info: vec![
                ("http-header-user-agent".into(), config.user_agent.clone()),
                (
                    "robots".into(),
                    if config.ignore_robots {
                        "ignore"
                    } else {
                        "obey"
                    }
                    .into(),
                ),
            ],
        };
        let warc =
            WarcSink::open(opts).map_err(|source| CrawlError::Write { path: dir, source })?;
        sinks.push(Sink::Warc(warc));
    }

    let guard = Arc::new(AddressGuard::new(config.allow_private));
    for s in &seeds {
        if let Some(h) = s.host_str() {
            guard.exempt(h);
        }
    }
    let fetcher = Fetcher::new(&config, guard.clone()).map_err(CrawlError::Client)?;
    let workers = config.worker_count();
    let frontier = Arc::new(match shared {
        Some(f) => f,
        None => Frontier::embedded(
            workers,
            config.per_host_concurrency,
            config.per_host_rate,
            config.max_pages,
            store.clone(),
        ),
    });
    if let Some(store) = &store {
        if resume {
            let (pending, stale) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                frontier.resume(&recorded, &mut |host| traps.note_host(host))
            }))
            .map_err(|_| CrawlError::Corrupt(state_dir.join("frontier.redb")))??;
            // Recorded URLs must stay seen even if their admission never committed.
            store.send(recorded.iter().map(|fp| Op::Visit(*fp, u32::MAX)).collect())?;
            tracing::info!(
                recorded = recorded.len(),
                pending,
                stale,
                "resuming the crawl in {}",
                out.display()
            );
        }
        // The record layout (extras, rule keys) is the dataset's shape: a resumed
        // crawl that changes it gets records of two shapes, and is told so.
        let shape = extractor
            .empty_fields()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        if resume {
            if let Some(before) = store.meta("record_fields")?.filter(|b| *b != shape) {
                let show = |s: &str| {
                    if s.is_empty() {
                        "none".to_string()
                    } else {
                        s.to_string()
                    }
                };
                tracing::warn!(
                    "the earlier run's records have the extra fields [{}], this run's [{}]: \
                     pages.jsonl will mix the two (use the earlier --extras and rules, or --fresh)",
                    show(&before),
                    show(&shape)
                );
            }
        }
        let here = std::fs::canonicalize(&out).unwrap_or_else(|_| out.clone());
        store.send(vec![
            Op::Meta("status", "running".into()),
            Op::Meta("out", here.display().to_string()),
            Op::Meta("record_fields", shape),
        ])?;
    }
    drop(recorded);
    let (stop_tx, _) = watch::channel(RUNNING);
    let ctx = Arc::new(Ctx {
        scope: Scope::new(&config, &seeds)?,
        traps,
        resumed: resume,
        robots: RobotsCache::new(
            &config.robots_agent(),
            Duration::from_secs_f64(config.retry_backoff),
        ),
        permits: Arc::new(Semaphore::new(config.concurrency)),
        fetcher,
        frontier: frontier.clone(),
        guard,
        stats: stats.clone(),
        sinks,
        empty_fields: extractor.empty_fields(),
        sitemaps: dashmap::DashMap::new(),
        sitemaps_seen: dashmap::DashSet::new(),
        extractor,
        stop: stop_tx,
        output_failed: AtomicBool::new(false),
        config,
    });
    // A shared crawl's scope holds every process's seeds; its heartbeat registers
    // this process before it takes any URL.
    let heartbeat = match ctx.frontier.as_shared() {
        Some(f) => {
            f.add_seeds(&seeds).await;
            ctx.learn_seeds(f.seeds().await);
            f.beat(&ctx.report()).await;
            Some(tokio::spawn(heartbeat(ctx.clone())))
        }
        None => None,
    };
    // Seeds are the user's explicit choice: no trap rules, but they use host budget.
    // On resume they are already seen, unless new ones were added to the command.
    if ctx.config.sitemaps && ctx.config.ignore_robots {
        // No robots.txt to list them: try each seed host's /sitemap.xml.
        let mut hosts = std::collections::HashSet::new();
        for s in &seeds {
            if hosts.insert(crate::canon::HostKey::of(s)) {
                ctx.discover_sitemaps(s, Vec::new()).await;
            }
        }
    }
    let seed_entries = seeds
        .into_iter()
        .map(|s| Entry {
            seed: true,
            ..Entry::new(s, 0)
        })
        .collect();
    ctx.admit_all(seed_entries).await;
    tracing::info!(
        workers,
        concurrency = ctx.config.concurrency,
        out = %out.display(),
        "crawl started"
    );

    let metrics = metrics_listener.map(|listener| {
        if let Ok(bound) = listener.local_addr() {
            tracing::info!("metrics at http://{bound}/metrics");
        }
        let source = crate::metrics::Source {
            stats: stats.clone(),
            frontier: frontier.clone(),
            worker: worker_name
                .clone()
                .unwrap_or_else(|| ctx.config.worker_name()),
        };
        crate::metrics::serve(listener, source)
    });
    let progress = Progress::start(&ctx.config, stats.clone(), frontier.clone());
    let mut worker_set = JoinSet::new();
    for id in 0..workers {
        let c = ctx.clone();
        worker_set.spawn(worker(c, id).instrument(tracing::info_span!("worker", id)));
    }

    // Wait for the crawl to end by itself, or for a stop request.
    let mut stopped_by = None;
    let done = join_all(&mut worker_set);
    tokio::pin!(done);
    loop {
        tokio::select! {
            _ = &mut done => break,
            changed = stop.changed() => {
                let request = *stop.borrow_and_update();
                if changed.is_err() {
                    // The requester is gone: nobody can ask us to stop any more.
                    (&mut done).await;
                    break;
                }
                let Some(sig) = request.signal() else { continue };
                stopped_by = Some(sig);
                match request {
                    StopRequest::Now(_) => {
                        tracing::warn!("{}: abandoning in-flight pages now", sig.name());
                        ctx.stop.send_replace(ABANDON);
                    }
                    _ => {
                        tracing::warn!(
                            "{} received: stopping (finishing in-flight pages for up to {}s)",
                            sig.name(),
                            ctx.config.shutdown_grace
                        );
                        ctx.stop.send_if_modified(|level| {
                            let raise = *level < STOPPING;
                            if raise {
                                *level = STOPPING;
                            }
                            raise
                        });
                    }
                }
            }
        }
    }
    progress.finish().await;
    if let Some(m) = metrics {
        m.abort();
    }
    if let Some(h) = heartbeat {
        h.abort();
        let _ = h.await;
    }
    if let Some(f) = ctx.frontier.as_shared() {
        // Whatever this process still holds goes back for the others at once. A
        // Redis that stays away is not waited for: the lease expiry covers it.
        let report = ctx.report();
        let leave = async {
            f.leave(&report).await;
            f.refresh().await;
        };
        if tokio::time::timeout(LEAVE_WAIT, leave).await.is_err() {
            tracing::warn!(
                "Redis did not answer at exit: this process's leases go back after lease_ttl"
            );
        }
    }

    if let Some(f) = ctx.frontier.as_shared() {
        let fleet = f.fleet();
        if stats.records.load(Ordering::Relaxed) == 0 && fleet.done > 0 && stopped_by.is_none() {
            tracing::warn!(
                "crawl '{}' in Redis had nothing left for this process ({} pages done by \
                 the fleet; a new --crawl-id crawls again)",
                ctx.config.crawl_id,
                fleet.done
            );
        }
    }
    let gauges = ctx.frontier.gauges();
    // The page budget is the fleet's in a shared crawl.
    let spent = match ctx.frontier.as_shared() {
        Some(f) => f.fleet().started,
        None => stats.records.load(Ordering::Relaxed),
    };
    let budget_spent = ctx.config.max_pages > 0 && spent >= ctx.config.max_pages;
    let lost = ctx
        .frontier
        .as_shared()
        .filter(|f| f.is_lost())
        .map(|f| f.lost_error());
    let output_failed = ctx.output_failed.load(Ordering::SeqCst);
    let ctx = Arc::into_inner(ctx).ok_or(CrawlError::Sink(SinkError::Closed))?;
    // Records first (they wait for the store: commit now rather than at the next
    // interval), then the store's final state.
    if let Some(store) = &store {
        store.flush()?;
    }
    for sink in ctx.sinks {
        sink.finish()?;
    }
    if let Some(store) = &store {
        // "finished" only when nothing is left: a crawl that spent its page budget
        // can be continued with a larger --max-pages.
        let status = match (stopped_by.is_none() && !output_failed, gauges.queued) {
            (true, 0) => "finished",
            (true, _) => "budget",
            _ => "running",
        };
        store.send(vec![Op::Meta("status", status.into())])?;
        store.close()?;
    }
    if output_failed {
        return Err(CrawlError::Sink(SinkError::Closed));
    }

    let mut summary = stats.summary(gauges);
    summary.completed = stopped_by.is_none();
    summary.stopped_by = match stopped_by {
        Some(s) => Some(s.name().to_string()),
        // The page budget ended the crawl with URLs left: say so.
        None if budget_spent && gauges.queued > 0 => Some("max_pages".to_string()),
        None => None,
    };
    let name = match &worker_name {
        Some(w) => format!("stats-{w}.json"),
        None => "stats.json".to_string(),
    };
    if lost.is_some() {
        summary.completed = false;
        summary.stopped_by = Some("frontier_lost".to_string());
    }
    write_stats(&out, &name, &summary)?;
    if let Some(e) = lost {
        return Err(CrawlError::Shared(e));
    }
    Ok(summary)
}

async fn join_all(set: &mut JoinSet<()>) {
    while set.join_next().await.is_some() {}
}

/// Removes a file when dropped (however `run` returns).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Takes an exclusive lock on `out/.lock` for the whole crawl, so two crawls never
/// write one directory. The OS drops the lock when the process ends, however it ends.
fn lock_out_dir(out: &Path, worker: Option<&str>) -> Result<std::fs::File, CrawlError> {
    std::fs::create_dir_all(out).map_err(|source| CrawlError::OutDir {
        path: out.to_path_buf(),
        source,
    })?;
    let path = match worker {
        Some(w) => out.join(format!(".lock-{w}")),
        None => out.join(".lock"),
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| CrawlError::Write {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(CrawlError::Locked(out.to_path_buf())),
        Err(std::fs::TryLockError::Error(source)) => Err(CrawlError::Write { path, source }),
    }
}

/// Decides what happens to an earlier crawl in `out`: start over (`fresh`), resume
/// it (durable state present), or refuse (records with nothing to resume from).
/// Returns true when an earlier crawl is to be resumed.
fn prepare_out_dir(
    out: &Path,
    state: &Path,
    fresh: bool,
    durable: bool,
) -> Result<bool, CrawlError> {
    // Every pages file counts, whatever its compression or rotation.
    let pages = crate::sink::jsonl::part_paths(out).map_err(|source| CrawlError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let has_pages = pages
        .iter()
        .any(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) > 0);
    let has_state = state.join("frontier.redb").exists();
    if fresh {
        for p in pages.into_iter().chain([out.join("stats.json")]) {
            if p.exists() {
                std::fs::remove_file(&p).map_err(|source| CrawlError::Write { path: p, source })?;
            }
        }
        // The archive of the crawl being replaced goes too (trawl's own files only),
        // so OUT/warc never mixes two crawls.
        if let Ok(entries) = std::fs::read_dir(out.join("warc")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let ours = name.starts_with("trawl-")
                    && (name.ends_with(".warc.gz") || name.ends_with(".warc.gz.open"));
                if ours {
                    std::fs::remove_file(e.path()).map_err(|source| CrawlError::Write {
                        path: e.path(),
                        source,
                    })?;
                }
            }
        }
        // Only trawl's own file: `--state` may name a directory holding other things.
        let store = state.join("frontier.redb");
        if store.exists() {
            std::fs::remove_file(&store).map_err(|source| CrawlError::Write {
                path: store,
                source,
            })?;
        }
        return Ok(false);
    }
    match (durable && has_state, has_pages) {
        (true, _) => Ok(true),
        (false, true) => Err(CrawlError::OutputExists(out.to_path_buf())),
        (false, false) => Ok(false),
    }
}

fn write_stats(out: &Path, name: &str, summary: &Summary) -> Result<(), CrawlError> {
    let path = out.join(name);
    let tmp = out.join(format!("{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut text = serde_json::to_vec_pretty(summary).map_err(std::io::Error::other)?;
        text.push(b'\n');
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        CrawlError::Write {
            path: path.clone(),
            source,
        }
    })
}

/// Sends the shared crawl's heartbeat every second (and learns other processes'
/// seeds) until aborted.
async fn heartbeat(ctx: Arc<Ctx>) {
    let Some(f) = ctx.frontier.as_shared() else {
        return;
    };
    let mut seeds = f.fleet().seeds;
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let fleet = f.beat(&ctx.report()).await;
        if f.is_lost() {
            // Nothing more can be leased or completed: finish what is in flight.
            ctx.stop.send_if_modified(|level| {
                let raise = *level < STOPPING;
                if raise {
                    *level = STOPPING;
                }
                raise
            });
            return;
        }
        if fleet.seeds != seeds {
            seeds = fleet.seeds;
            ctx.learn_seeds(f.seeds().await);
        }
    }
}

/// Drives one frontier shard: lease, hand to a task, repeat; never sleeps on a host.
async fn worker(ctx: Arc<Ctx>, id: usize) {
    let mut tasks = JoinSet::new();
    let mut stop = ctx.stop.subscribe();
    loop {
        if *stop.borrow() != RUNNING {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = ctx.permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.wait_for(|s| *s != RUNNING) => break,
        };
        let notify = ctx.frontier.notify();
        let woken = notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let room = ctx.permits.available_permits() + 1;
        let next = tokio::select! {
            n = ctx.frontier.next(id, room) => n,
            _ = stop.wait_for(|s| *s != RUNNING) => {
                drop(permit);
                break;
            }
        };
        let pause = match next {
            Next::Lease(lease) => {
                let c = ctx.clone();
                tasks.spawn(
                    async move {
                        c.process(lease).await;
                        drop(permit);
                    }
                    .in_current_span(),
                );
                continue;
            }
            Next::Done => break,
            Next::Wait(d) => d.min(MAX_IDLE),
            Next::Idle => MAX_IDLE,
        };
        drop(permit);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = &mut woken => {}
            _ = stop.wait_for(|s| *s != RUNNING) => break,
        }
    }
    if *stop.borrow() != RUNNING {
        let grace = Duration::from_secs_f64(ctx.config.shutdown_grace);
        let finished = tokio::select! {
            r = tokio::time::timeout(grace, join_all(&mut tasks)) => r.is_ok(),
            _ = stop.wait_for(|s| *s >= ABANDON) => false,
        };
        if !finished {
            tracing::warn!(
                abandoned = tasks.len(),
                "in-flight pages abandoned at shutdown"
            );
            tasks.shutdown().await;
        }
    } else {
        join_all(&mut tasks).await;
    }
    // Wake the other workers: this one may have been the last with work in flight.
    ctx.frontier.notify().notify_waiters();
}

/// The end of one URL's attempt, before it becomes a record.
struct Outcome {
    status: Option<u16>,
    final_url: Option<Url>,
    error: Option<(ErrorKind, String)>,
    content_type: Option<String>,
    content_length: u64,
    title: Option<String>,
    links: usize,
    /// Store ticket of the URLs this page discovered: its record waits for it.
    ticket: u64,
    /// Extras and rule fields of a parsed page.
    fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// The exchange, for the archive.
    exchange: Option<Exchange>,
}

impl Outcome {
    fn error(kind: ErrorKind, message: impl Into<String>) -> Outcome {
        Outcome {
            status: None,
            final_url: None,
            error: Some((kind, message.into())),
            content_type: None,
            content_length: 0,
            title: None,
            links: 0,
            ticket: 0,
            fields: None,
            exchange: None,
        }
    }

    fn response(resp: &Response) -> Outcome {
        Outcome {
            status: Some(resp.status),
            final_url: None,
            error: None,
            content_type: resp.content_type.clone(),
            content_length: resp.body.len() as u64,
            title: None,
            links: 0,
            ticket: 0,
            fields: None,
            exchange: None,
        }
    }
}

impl Ctx {
    /// Seeds another process of a shared crawl was given count as ours: their hosts
    /// are in scope and exempt from the private-address guard.
    fn learn_seeds(&self, seeds: Vec<String>) {
        for s in seeds {
            if let Ok(u) = Url::parse(&s) {
                if let Some(h) = u.host_str() {
                    self.guard.exempt(h);
                }
                self.scope.add_seed(&u);
            }
        }
    }

    /// A shared crawl's URL comes from a process whose scope admitted it: if ours
    /// does not hold its host yet, that process had seeds (or a seed's redirect) we
    /// have not heard of. Seeds make their hosts ours in full (scope and the
    /// private-address guard); a host the fleet admitted otherwise joins our scope.
    async fn learn_scope(&self, f: &crate::frontier::Shared, entry: &Entry) {
        if entry.seed {
            self.learn_seeds(vec![entry.url.to_string()]);
            return;
        }
        if self.scope.check_target(&entry.url).is_ok() {
            return;
        }
        self.learn_seeds(f.seeds().await);
        if self.scope.check_target(&entry.url).is_err() {
            self.scope.add_seed(&entry.url);
        }
    }

    /// This process's own counters, as the shared crawl's heartbeat reports them.
    fn report(&self) -> String {
        let s = &self.stats;
        serde_json::json!({
            "pages": s.records.load(Ordering::Relaxed),
            "ok": s.ok.load(Ordering::Relaxed),
            "errors": s.errors_total(),
            "bytes": s.bytes.load(Ordering::Relaxed),
            "in_flight": self.frontier.as_shared().map_or(0, |f| f.leased_here()),
            "uptime_secs": (s.elapsed_secs() * 10.0).round() / 10.0,
        })
        .to_string()
    }

    /// One leased URL, from robots check to record. Always ends the lease.
    async fn process(&self, lease: Lease) {
        let started = Instant::now();
        let attempt = lease.entry.attempt;
        if let Some(f) = self.frontier.as_shared() {
            self.learn_scope(f, &lease.entry).await;
        }

        // A resumed crawl's URLs were admitted under the earlier run's flags: a new
        // --include/--exclude or trap limit applies to them too (seeds excepted).
        if self.resumed && lease.entry.depth > 0 {
            let e = &lease.entry;
            let too_deep = self.config.max_depth.is_some_and(|max| e.depth > max);
            let refused = if too_deep {
                Err(Refusal::Depth)
            } else {
                self.scope
                    .check_filters(&e.url)
                    .and_then(|()| self.traps.check(&e.url, e.query_hops))
            };
            if let Err(why) = refused {
                self.stats.refuse(why);
                self.frontier.discard(lease).await;
                return;
            }
        }

        if !self.config.ignore_robots {
            let decision = self.robots.check(&self.fetcher, &lease.entry.url).await;
            if let Some(delay) = decision.new_crawl_delay {
                let delay = delay.min(Duration::from_secs_f64(self.config.max_crawl_delay));
                tracing::debug!(host = %lease.host, ?delay, "robots.txt crawl-delay");
                self.frontier.set_crawl_delay(&lease.host, delay).await;
            }
            if let (Some(listed), true) = (decision.sitemaps, self.config.sitemaps) {
                self.discover_sitemaps(&lease.entry.url, listed).await;
            }
            match decision.verdict {
                // The robots.txt request used this host's slot: the page waits its turn.
                Verdict::Allowed if decision.fetched => {
                    if let Some(gap) = self.frontier.host_interval(&lease.host) {
                        self.frontier.requeue(lease, gap).await;
                        return;
                    }
                }
                Verdict::Allowed => {}
                Verdict::Unreachable(e) => {
                    let o = Outcome::error(e.kind, e.message);
                    return self.finish(lease, o, started).await;
                }
                Verdict::Disallowed => {
                    let o = Outcome::error(ErrorKind::Robots, "disallowed by robots.txt");
                    return self.finish(lease, o, started).await;
                }
                Verdict::Unavailable {
                    reason,
                    retry_in,
                    cause,
                } => {
                    if attempt < self.config.retries {
                        let delay = retry_in.max(self.backoff(attempt));
                        return self.retry(lease, delay, "robots.txt unavailable").await;
                    }
                    // A network failure is reported as what it is; a 5xx as robots.
                    let o = match cause {
                        Some(e) => {
                            Outcome::error(e.kind, format!("{} (fetching robots.txt)", e.message))
                        }
                        None => Outcome::error(
                            ErrorKind::Robots,
                            format!("robots.txt unavailable ({reason})"),
                        ),
                    };
                    return self.finish(lease, o, started).await;
                }
            }
        }

        // A URL named as a sitemap (robots.txt, an index) is read as one whatever
        // its body looks like (plain-text sitemaps); others are sniffed.
        let named_sitemap =
            self.config.sitemaps && self.sitemaps_seen.contains(&fingerprint(&lease.entry.url));
        // A sitemap may be larger than a page: it gets the larger cap.
        let cap = match named_sitemap || (self.config.sitemaps && sitemap_like(&lease.entry.url)) {
            true => self.config.max_body.max(self.config.max_sitemap_bytes),
            false => self.config.max_body,
        };
        let resp = match self.fetcher.get_capped(&lease.entry.url, cap).await {
            Ok(r) => r,
            Err(e) => {
                if e.is_retryable() && attempt < self.config.retries {
                    let delay = self.backoff(attempt);
                    return self.retry(lease, delay, e.kind.name()).await;
                }
                let o = Outcome::error(e.kind, e.message);
                return self.finish(lease, o, started).await;
            }
        };

        if fetch::is_retryable_status(resp.status) && attempt < self.config.retries {
            let max = Duration::from_secs_f64(self.config.max_retry_after);
            let delay = match resp.retry_after {
                Some(d) => d.min(max),
                None => self.backoff(attempt),
            };
            return self.retry(lease, delay, "retryable status").await;
        }

        let mut outcome = Outcome::response(&resp);
        let redirect = matches!(resp.status, 301 | 302 | 303 | 307 | 308);
        if redirect {
            match resp.location.as_deref().filter(|l| !l.trim().is_empty()) {
                Some(location) => self.redirect(&lease.entry, location, &mut outcome).await,
                None => {
                    outcome.error = Some((ErrorKind::Redirect, "no Location header".into()));
                }
            }
        } else if resp.truncated {
            outcome.error = Some((
                ErrorKind::TooLarge,
                format!(
                    "body exceeds max_body ({} bytes); cut and not parsed",
                    self.config.max_body
                ),
            ));
        } else if (200..300).contains(&resp.status)
            && self.config.sitemaps
            && (named_sitemap
                || sitemap::looks_like_sitemap(
                    lease.entry.url.path(),
                    resp.content_type.as_deref(),
                    &resp.body,
                ))
        {
            let (found, resp) = self.read_sitemap(resp).await;
            match found {
                Ok(map) => {
                    outcome.links = map.locs.len();
                    outcome.ticket = self.admit_sitemap(&lease.entry, map).await;
                }
                Err(e) => tracing::debug!(url = %lease.entry.url, "not a sitemap after all: {e}"),
            }
            outcome.exchange = exchange(&lease.entry.url, resp);
            return self.finish(lease, outcome, started).await;
        } else if (200..300).contains(&resp.status) && self.is_parseable(&resp) {
            let (page, resp) = self.parse(&lease.entry.url, resp).await;
            outcome.title = page.title;
            outcome.links = page.links.len();
            if let Some(serde_json::Value::String(rule)) = page.fields.get("rule") {
                if page.fields.get("data").is_some_and(|d| !d.is_null()) {
                    self.stats.rule_applied(rule);
                }
            }
            outcome.fields = Some(page.fields);
            let follow = page.follow_links || self.config.ignore_robots;
            outcome.ticket = self.admit_links(&lease.entry, page.links, follow).await;
            outcome.exchange = exchange(&lease.entry.url, resp);
            return self.finish(lease, outcome, started).await;
        }
        // A cut body is not archived: a WARC record must hold what was sent.
        if !resp.truncated {
            outcome.exchange = exchange(&lease.entry.url, Some(resp));
        }
        self.finish(lease, outcome, started).await
    }

    /// Decodes and parses an HTML body (large ones off the async reactor); the
    /// response comes back for the archive.
    async fn parse(&self, url: &Url, resp: Response) -> (extract::Page, Option<Response>) {
        let extractor = self.extractor.clone();
        let url = url.clone();
        let len = resp.body.len();
        let work = move || {
            let text = fetch::charset::decode_html(&resp.body, resp.content_type.as_deref());
            // A parser bug on one hostile page must cost that page only, never the
            // worker task (its lease would never complete).
            let page = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                extractor.page(&text, &url)
            }))
            .unwrap_or_else(|_| {
                tracing::warn!(%url, "the HTML parser failed on this page; recorded without links");
                extract::Page {
                    fields: extractor.empty_fields(),
                    ..extract::Page::default()
                }
            });
            (page, Some(resp))
        };
        if len > INLINE_PARSE_BYTES {
            tokio::task::spawn_blocking(work)
                .await
                .unwrap_or_else(|_| (extract::Page::default(), None))
        } else {
            work()
        }
    }

    /// Parses a sitemap body off the async reactor (it may be 50 MB of gzip).
    async fn read_sitemap(
        &self,
        resp: Response,
    ) -> (
        Result<sitemap::Sitemap, sitemap::SitemapError>,
        Option<Response>,
    ) {
        let limits = sitemap::Limits {
            max_bytes: self.config.max_sitemap_bytes,
            max_urls: self.config.max_sitemap_urls,
        };
        tokio::task::spawn_blocking(move || (sitemap::parse(&resp.body, &limits), Some(resp)))
            .await
            .unwrap_or((Err(sitemap::SitemapError::NotASitemap), None))
    }

    /// Queues a host's sitemaps: those its robots.txt lists, else /sitemap.xml.
    async fn discover_sitemaps(&self, page: &Url, listed: Vec<String>) {
        let urls: Vec<String> = match listed.is_empty() {
            true => page
                .join("/sitemap.xml")
                .map(|u| u.to_string())
                .into_iter()
                .collect(),
            false => listed,
        };
        let mut wanted = Vec::new();
        for raw in urls {
            match canon::parse(&raw, Some(page), self.config.canon_rules()) {
                Ok(url) => {
                    if let Some(entry) = self.sitemap_entry(url, 0) {
                        wanted.push(entry);
                    }
                }
                Err(e) => tracing::debug!("bad sitemap URL '{raw}': {e}"),
            }
        }
        self.admit_all(wanted).await;
    }

    /// A sitemap URL as a frontier entry, if in scope and within its host's budget.
    fn sitemap_entry(&self, url: Url, depth: u32) -> Option<Entry> {
        if let Err(why) = self.scope.check_target(&url) {
            self.stats.refuse(why);
            return None;
        }
        if !self.sitemaps_seen.insert(fingerprint(&url)) {
            return None;
        }
        let host = crate::canon::HostKey::of(&url);
        let mut count = self.sitemaps.entry(host).or_insert(0);
        if *count >= self.config.max_sitemaps_per_host {
            tracing::debug!(%url, "max_sitemaps_per_host reached; sitemap skipped");
            return None;
        }
        *count += 1;
        Some(Entry::new(url, depth))
    }

    /// An index's sitemaps are queued like the index (same depth); a URL set's
    /// URLs like links found on the sitemap page (scope, trap guards, one hop deeper).
    async fn admit_sitemap(&self, entry: &Entry, map: sitemap::Sitemap) -> u64 {
        self.stats.sitemaps.fetch_add(1, Ordering::Relaxed);
        self.stats
            .sitemap_urls
            .fetch_add(map.locs.len() as u64, Ordering::Relaxed);
        if map.truncated || map.malformed {
            self.stats.sitemaps_cut.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                url = %entry.url,
                truncated = map.truncated,
                malformed = map.malformed,
                urls = map.locs.len(),
                "sitemap read in part"
            );
        }
        let rules = self.config.canon_rules();
        let urls = map
            .locs
            .iter()
            .filter_map(|loc| canon::parse(loc, Some(&entry.url), rules).ok());
        match map.kind {
            sitemap::Kind::Index => {
                let wanted = urls
                    .filter_map(|u| self.sitemap_entry(u, entry.depth))
                    .collect();
                self.admit_all(wanted).await
            }
            sitemap::Kind::UrlSet => {
                let links = urls
                    .map(|url| Link {
                        url,
                        nofollow: false,
                    })
                    .collect();
                self.admit_links(entry, links, true).await
            }
        }
    }

    /// Follows a 3xx: the target is a URL like any link (scope, visited set),
    /// at the same depth, with the hop counted against `max_redirects`.
    async fn redirect(&self, entry: &Entry, location: &str, outcome: &mut Outcome) {
        let target = match canon::parse(location, Some(&entry.url), self.config.canon_rules()) {
            Ok(t) => t,
            Err(e) => {
                outcome.error = Some((
                    ErrorKind::Redirect,
                    format!("bad Location '{location}': {e}"),
                ));
                return;
            }
        };
        outcome.final_url = Some(target.clone());
        let here = fingerprint(&entry.url);
        let there = fingerprint(&target);
        if there == here || entry.via.contains(&there) {
            outcome.error = Some((
                ErrorKind::Redirect,
                format!("redirect loop back to {target}"),
            ));
            return;
        }
        if entry.via.len() as u32 >= self.config.max_redirects {
            outcome.error = Some((
                ErrorKind::Redirect,
                format!(
                    "more than max_redirects ({}) redirects",
                    self.config.max_redirects
                ),
            ));
            return;
        }
        if let Err(why) = self.scope.check_target(&target) {
            // A seed that redirects (http→https, bare→www) extends the scope, as a seed would.
            if entry.depth == 0 && why == Refusal::Scope {
                self.scope.add_seed(&target);
            } else {
                self.stats.refuse(why);
                outcome.error = Some((
                    ErrorKind::Redirect,
                    format!("target {target} is out of scope"),
                ));
                return;
            }
        }
        if let Err(why) = self.traps.check(&target, 0) {
            self.stats.refuse(why);
            outcome.error = Some((
                ErrorKind::Redirect,
                format!("target {target} refused by a trap guard ({why:?})"),
            ));
            return;
        }
        let mut via = entry.via.clone();
        via.push(here);
        let next = Entry {
            url: target,
            depth: entry.depth,
            attempt: 0,
            via,
            query_hops: 0,
            seq: 0,
            seed: false,
        };
        outcome.ticket = self.admit_all(vec![next]).await;
    }

    /// Queues wanted URLs once each: host budget, then the visited set. Returns the
    /// store ticket that makes them durable (0 in memory mode or when none is new).
    async fn admit_all(&self, entries: Vec<Entry>) -> u64 {
        let mut keep = Vec::with_capacity(entries.len());
        let mut hosts = Vec::with_capacity(entries.len());
        // The shared frontier keeps each host's budget in Redis, for the whole fleet.
        let local_budget = self.frontier.as_shared().is_none();
        for entry in entries {
            let host = crate::canon::HostKey::of(&entry.url);
            if local_budget && !self.traps.reserve_host(&host) {
                self.stats.refuse(Refusal::HostBudget);
                continue;
            }
            hosts.push(host);
            keep.push(entry);
        }
        if keep.is_empty() {
            return 0;
        }
        match self.frontier.push_many(keep).await {
            Ok((admitted, ticket)) => {
                for (host, what) in hosts.iter().zip(admitted) {
                    match what {
                        Admission::New => {}
                        Admission::Seen => {
                            if local_budget {
                                self.traps.release_host(host);
                            }
                            self.stats.refuse(Refusal::Duplicate);
                        }
                        Admission::HostBudget => self.stats.refuse(Refusal::HostBudget),
                    }
                }
                ticket
            }
            Err(e) => {
                self.fail_output(&e.to_string());
                0
            }
        }
    }

    /// The output or the frontier store cannot be written: stop rather than lose work.
    fn fail_output(&self, why: &str) {
        if !self.output_failed.swap(true, Ordering::SeqCst) {
            tracing::error!("{why}: stopping the crawl so that nothing more is lost");
            self.stop.send_replace(ABANDON);
        }
    }

    async fn admit_links(&self, entry: &Entry, links: Vec<Link>, follow: bool) -> u64 {
        let depth = entry.depth + 1;
        let mut wanted = Vec::with_capacity(links.len());
        for link in links {
            if !follow || (link.nofollow && !self.config.follow_nofollow) {
                self.stats.refuse(Refusal::Nofollow);
                continue;
            }
            if let Err(why) = self.scope.check(&link.url, depth) {
                self.stats.refuse(why);
                continue;
            }
            let hops = traps::query_hops(&entry.url, entry.query_hops, &link.url);
            if let Err(why) = self.traps.check(&link.url, hops) {
                self.stats.refuse(why);
                continue;
            }
            let mut next = Entry::new(link.url, depth);
            next.query_hops = hops;
            wanted.push(next);
        }
        self.admit_all(wanted).await
    }

    /// HTML by its label and its first bytes; an unlabelled body that starts like
    /// HTML is parsed too (servers forget Content-Type more often than they lie).
    fn is_parseable(&self, resp: &Response) -> bool {
        match resp.content_type.as_deref() {
            Some(ct) if !ct.trim().is_empty() => {
                extract::is_html(Some(ct)) && !looks_binary(&resp.body)
            }
            _ => starts_like_html(&resp.body),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = Duration::from_secs_f64(self.config.retry_backoff);
        let exp = base
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(MAX_BACKOFF);
        // ±25% jitter so that many URLs failing together do not retry together.
        exp.mul_f64(0.75 + fastrand::f64() * 0.5)
    }

    async fn retry(&self, mut lease: Lease, delay: Duration, why: &str) {
        tracing::debug!(url = %lease.entry.url, attempt = lease.entry.attempt + 1, ?delay, why, "retrying");
        lease.entry.attempt += 1;
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        self.frontier.retry(lease, delay).await;
    }

    /// Writes the record, counts it, and ends the lease (links were pushed already).
    async fn finish(&self, lease: Lease, o: Outcome, started: Instant) {
        let kind = o.error.as_ref().map(|(k, _)| *k);
        let record = PageRecord {
            url: lease.entry.url.to_string(),
            final_url: o.final_url.as_ref().unwrap_or(&lease.entry.url).to_string(),
            status: o.status,
            error: o.error.map(|(k, m)| format!("{}: {m}", k.name())),
            depth: lease.entry.depth,
            content_type: o.content_type,
            content_length: o.content_length,
            title: o.title,
            links: o.links,
            fetched_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            elapsed_ms: started.elapsed().as_millis() as u64,
            attempts: lease.entry.attempt + 1,
            extra: o.fields.unwrap_or_else(|| self.empty_fields.clone()),
            ticket: o.ticket,
            done: (lease.entry.seq > 0).then(|| (host_hash(&lease.host), lease.entry.seq)),
        };
        if let Some(e) = &record.error {
            tracing::debug!(url = %record.url, "{e}");
        }
        self.stats.record(o.status, kind, o.content_length);
        let mut out = Output {
            record: Some(record),
            exchange: o.exchange,
        };
        for sink in &self.sinks {
            if let Err(e) = sink.send(&mut out).await {
                self.fail_output(&e.to_string());
            }
        }
        self.frontier
            .complete(lease, kind.map(ErrorKind::name))
            .await;
    }
}

/// Whether a URL is probably a sitemap (named so, or XML): it is fetched with
/// the sitemap size cap.
fn sitemap_like(url: &Url) -> bool {
    let path = url.path().to_ascii_lowercase();
    path.contains("sitemap") || path.ends_with(".xml") || path.ends_with(".xml.gz")
}

/// The archive's view of a response, when the fetcher kept its wire details.
fn exchange(url: &Url, resp: Option<Response>) -> Option<Exchange> {
    let resp = resp?;
    let wire = resp.wire?;
    Some(Exchange {
        url: url.to_string(),
        fetched_at: SystemTime::now(),
        ip: wire.ip,
        request_head: wire.request_head,
        http_version: wire.version,
        status: resp.status,
        reason: String::new(),
        headers: wire.headers,
        body: resp.body,
    })
}

/// A page labelled HTML whose first bytes say otherwise: a known binary signature
/// (PDF, images, archives, compressed data), or many control bytes. A stray NUL in
/// real markup does not make a page binary.
fn looks_binary(body: &[u8]) -> bool {
    const MAGIC: [&[u8]; 10] = [
        b"%PDF-",
        b"\x89PNG",
        b"GIF8",
        b"\xFF\xD8\xFF",
        b"PK\x03\x04",
        b"\x1F\x8B",
        b"\x00\x00\x01\x00",
        b"RIFF",
        b"\x7FELF",
        b"7z\xBC\xAF",
    ];
    let head = &body[..body.len().min(1024)];
    if MAGIC.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    // UTF-16 text is full of NULs but is text: the BOM says so.
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return false;
    }
    // WHATWG's "binary data bytes": controls other than TAB, LF, FF, CR, ESC.
    let binary = head
        .iter()
        .filter(|&&b| {
            b <= 0x08 || b == 0x0B || (0x0E..=0x1A).contains(&b) || (0x1C..=0x1F).contains(&b)
        })
        .count();
    binary * 10 > head.len() || (binary > 0 && !head.contains(&b'<'))
}

/// WHATWG-style check for an unlabelled body: after a BOM and whitespace, does it
/// open with a tag HTML documents open with?
fn starts_like_html(body: &[u8]) -> bool {
    let mut head = &body[..body.len().min(512)];
    if let Some(rest) = head.strip_prefix(b"\xEF\xBB\xBF") {
        head = rest;
    }
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let head = head[start..].to_ascii_lowercase();
    [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<title",
        "<!--",
        "<a ",
        "<div",
        "<p>",
        "<p ",
    ]
    .iter()
    .any(|t| head.starts_with(t.as_bytes()))
}
