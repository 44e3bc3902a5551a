//! Starting a crawl: every part is built, and every start-up problem found, before
//! the first request. The order matters: the out dir is locked (and, with
//! `--fresh`, cleared), then the metrics port is taken (a port in use stops the
//! process before it joins a shared crawl or opens any output), then
//! the shared frontier is joined (conflicting settings, or no Redis, stop here with
//! one line), then the journal is opened and an earlier crawl read back, and only
//! then are the output files opened.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use url::Url;

use crate::fetch::logins::Logins;

use super::ctx::{Ctx, Parts};
use super::outdir::{self, OutLock};
use super::{CrawlError, StopRequest};
use crate::config::{Config, ConfigError};
use crate::extract::Extractor;
use crate::frontier::{Frontier, Limits, Recorded, SharedOptions, Unreachable};
use crate::journal::{Journal, JournalError};
use crate::progress::Progress;
use crate::sink::warc::WarcOptions;
use crate::sink::{JsonlOptions, JsonlSink, Sink, WarcSink};
use crate::stats::{ErrorKind, Stats};

/// What the crawl keeps from its start until it finishes.
pub(super) struct Started {
    pub out: PathBuf,
    /// This process's name in a shared crawl (its files carry it).
    pub worker: Option<String>,
    pub journal: Journal,
    pub stats: Arc<Stats>,
    _lock: OutLock,
    metrics: Option<TcpListener>,
}

/// The displays that watch a running crawl: progress line, metrics endpoint.
pub(super) struct Watchers {
    progress: Progress,
    metrics: Option<Endpoint>,
}

/// The metrics endpoint's task, and where it listens.
pub(super) struct Endpoint {
    task: tokio::task::JoinHandle<()>,
    at: Option<std::net::SocketAddr>,
}

impl Watchers {
    /// Ends the progress display; the metrics endpoint, if any, is handed back to
    /// serve the final numbers (see [`Endpoint::linger`]).
    pub async fn stop(self) -> Option<Endpoint> {
        self.progress.finish().await;
        self.metrics
    }
}

impl Endpoint {
    /// Keeps serving for `metrics_linger` seconds (the crawl's outputs are already
    /// written), or until a stop is asked for; then closes.
    pub async fn linger(self, secs: f64, mut stop: watch::Receiver<StopRequest>) {
        let wait = Duration::from_secs_f64(secs);
        if !wait.is_zero() && *stop.borrow_and_update() == StopRequest::Run {
            if let Some(at) = self.at {
                tracing::info!(
                    "crawl over: metrics at http://{at}/ keep the final values for {secs}s (Ctrl-C ends this)"
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
        self.task.abort();
    }
}

impl Started {
    /// Validates, locks the out dir, joins or opens the frontier and the journal,
    /// reads back an earlier run, and opens the sinks: the crawl's shared state.
    pub async fn open(
        config: Config,
        seeds: &[Url],
        logins: Logins,
    ) -> Result<(Started, Ctx), CrawlError> {
        config.validate()?;
        let extractor = Arc::new(Extractor::new(&config)?);
        // A cookies file that cannot be read stops the crawl before its out dir
        // is touched (the fetcher reads it again when it is built).
        if !config.fetch.no_cookies {
            crate::fetch::cookies::jar(config.fetch.cookies.as_deref(), &config.fetch.hosts)
                .map_err(|message| {
                    CrawlError::Config(ConfigError::Invalid {
                        key: "cookies",
                        message,
                    })
                })?;
        }
        let out = config.output.out.clone();
        // So does an earlier crawl (`--since`) that is not there.
        let since = match &config.output.since {
            Some(dir) => Some(super::since::Previous::open(dir, &out)?),
            None => None,
        };
        // So does a browser that is missing or does not start (`--render`).
        let renderer = match crate::render::Renderer::wanted(&config) {
            true => Some(Arc::new(crate::render::Renderer::start(&config).await?)),
            false => None,
        };
        let worker = config.is_shared().then(|| config.worker_name());
        let lock = outdir::lock(&out, worker.as_deref())?;
        let state_dir = config
            .frontier
            .state
            .clone()
            .unwrap_or_else(|| out.join("state"));
        outdir::refuse_planted_links(&out, &state_dir, worker.as_deref())?;
        let resumed = match worker {
            Some(_) => false,
            None => outdir::prepare(
                &out,
                &state_dir,
                config.output.fresh,
                config.frontier.durable,
            )?,
        };
        let metrics = bind_metrics(&config).await?;
        let shared = match &worker {
            Some(w) => Some(join_shared(&config, w).await?),
            None => None,
        };
        let journal = match config.frontier.durable && shared.is_none() {
            true => Journal::open(&out, &state_dir)?,
            false => Journal::none(&out),
        };
        let stats = Arc::new(Stats::new());
        stats
            .recrawl
            .on
            .store(since.is_some(), std::sync::atomic::Ordering::Relaxed);
        stats
            .render
            .on
            .store(renderer.is_some(), std::sync::atomic::Ordering::Relaxed);
        let recorded = match resumed {
            true => journal
                .recover(|page| {
                    let kind = page.error.as_deref().and_then(ErrorKind::of_error);
                    stats.record_resumed(page.status, kind, page.content_length);
                })
                .map_err(|e| new_seeds_after_finish(e, &journal, seeds))?,
            false => Recorded::default(),
        };
        let sinks = open_sinks(&config, &out, worker.as_deref(), &journal)?;
        let frontier = Arc::new(match shared {
            Some(f) => f,
            None => Frontier::embedded(config.worker_count(), limits(&config), journal.store()),
        });
        if resumed {
            journal.resume(&frontier, &recorded)?;
        }
        // The record layout (extras, rule keys) is the dataset's shape.
        let shape = extractor
            .empty_fields()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        journal.begin(&shape, resumed)?;
        let parts = Parts {
            frontier,
            sinks,
            extractor,
            stats: stats.clone(),
            resumed,
            since,
            renderer,
        };
        let ctx = Ctx::new(config, seeds, logins, parts)?;
        let started = Started {
            out,
            worker,
            journal,
            stats,
            _lock: lock,
            metrics,
        };
        Ok((started, ctx))
    }

    /// Starts the progress display and the metrics endpoint.
    pub fn watch(&mut self, ctx: &Ctx) -> Watchers {
        let metrics = self.metrics.take().map(|listener| {
            let at = listener.local_addr().ok();
            if let Some(bound) = at {
                tracing::info!("metrics at http://{bound}/metrics, status page at http://{bound}/");
            }
            let source = crate::metrics::Source {
                stats: self.stats.clone(),
                frontier: ctx.frontier.clone(),
                // A fleet's heartbeats are named as the fleet knows them; alone, the
                // process is its label.
                worker: self
                    .worker
                    .clone()
                    .unwrap_or_else(|| ctx.config.metrics_label()),
                label: ctx.config.metrics_label(),
            };
            Endpoint {
                task: crate::metrics::serve(listener, source),
                at,
            }
        });
        let progress = Progress::start(&ctx.config, self.stats.clone(), ctx.frontier.clone());
        Watchers { progress, metrics }
    }
}

/// The frontier rules the crawl's settings ask for.
fn limits(config: &Config) -> Limits {
    Limits {
        per_host_concurrency: config.politeness.per_host_concurrency,
        per_host_rate: config.politeness.per_host_rate,
        max_pages: config.scope.max_pages,
        max_pages_per_host: config.traps.max_pages_per_host,
        max_crawl_delay: Duration::from_secs_f64(config.politeness.max_crawl_delay),
        unreachable: Unreachable {
            after: config.fetch.unreachable_after,
            window: Duration::from_secs_f64(config.fetch.unreachable_window),
            gap: Unreachable::GAP,
        },
        hosts: crate::frontier::HostLimits::from_rules(&config.fetch.hosts),
    }
}

async fn bind_metrics(config: &Config) -> Result<Option<TcpListener>, CrawlError> {
    let Some(addr) = &config.run.metrics else {
        return Ok(None);
    };
    let at = crate::config::listen_addr(addr).map_err(|message| {
        CrawlError::Config(ConfigError::Invalid {
            key: "metrics",
            message,
        })
    })?;
    let listener = crate::metrics::bind(at)
        .await
        .map_err(|source| CrawlError::Metrics { addr: at, source })?;
    Ok(Some(listener))
}

async fn join_shared(config: &Config, worker: &str) -> Result<Frontier, CrawlError> {
    let opts = SharedOptions {
        at: crate::frontier::redis::Endpoint {
            url: config.frontier.backend.to_string(),
            ca: config.frontier.redis_ca.clone(),
        },
        crawl: config.frontier.crawl_id.clone(),
        worker: worker.to_string(),
        limits: limits(config),
        lease_ttl: Duration::from_secs_f64(config.frontier.lease_ttl),
    };
    Ok(Frontier::shared(opts, &config.shared_settings()).await?)
}

/// pages.jsonl first (`pages-<worker>.jsonl` in a shared crawl), then the WARC
/// archive when asked for.
fn open_sinks(
    config: &Config,
    out: &std::path::Path,
    worker: Option<&str>,
    journal: &Journal,
) -> Result<Vec<Sink>, CrawlError> {
    let stem = crate::sink::jsonl::stem_for(worker);
    let jsonl = JsonlOptions {
        compress: config.output.compress,
        rotate_bytes: config.output.rotate_size,
        confirm: worker.is_some(),
    };
    let pages = JsonlSink::open(out, &stem, jsonl, journal.clone()).map_err(|source| {
        CrawlError::Write {
            path: out.join(format!("{stem}.jsonl")),
            source,
        }
    })?;
    let mut sinks = vec![Sink::Jsonl(pages)];
    if config.output.warc {
        let dir = match worker {
            Some(w) => out.join("warc").join(w),
            None => out.join("warc"),
        };
        let robots = if config.politeness.ignore_robots {
            "ignore"
        } else {
            "obey"
        };
        let opts = WarcOptions {
            dir: dir.clone(),
            rotate_bytes: config.output.warc_rotate_size,
            info: vec![
                (
                    "http-header-user-agent".into(),
                    config.fetch.user_agent.clone(),
                ),
                ("robots".into(), robots.into()),
            ],
        };
        let warc =
            WarcSink::open(opts).map_err(|source| CrawlError::Write { path: dir, source })?;
        sinks.push(Sink::Warc(warc));
    }
    Ok(sinks)
}

/// A finished crawl run again is nothing to do (exit 0), unless the command names
/// a seed that crawl never saw: then it is not the same command, and saying
/// "nothing to do" would hide that the new seed is not crawled.
fn new_seeds_after_finish(e: JournalError, journal: &Journal, seeds: &[Url]) -> JournalError {
    let JournalError::Finished { out, pages } = e else {
        return e;
    };
    let Some(store) = journal.store() else {
        return JournalError::Finished { out, pages };
    };
    let new: Vec<&Url> = seeds
        .iter()
        .filter(|s| matches!(store.visited(crate::canon::fingerprint(s)), Ok(None)))
        .collect();
    match new.first() {
        None => JournalError::Finished { out, pages },
        Some(first) => JournalError::FinishedNewSeeds {
            out,
            pages,
            seed: first.to_string(),
            more: new.len() - 1,
        },
    }
}
