//! What every worker and page task of one crawl shares, built once at start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use url::Url;

use super::CrawlError;
use crate::canon::HostKey;
use crate::config::Config;
use crate::extract::Extractor;
use crate::fetch::logins::Logins;
use crate::fetch::{AddressGuard, Fetcher};
use crate::frontier::Frontier;
use crate::robots::RobotsCache;
use crate::scope::Scope;
use crate::sink::Sink;
use crate::stats::Stats;
use crate::traps::Traps;

/// How far a stop has gone; it only ever rises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Level {
    Running,
    /// Lease nothing more; let in-flight pages finish within `shutdown_grace`.
    Stopping,
    /// Drop in-flight pages now.
    Abandon,
}

pub(super) struct Ctx {
    pub config: Config,
    pub frontier: Arc<Frontier>,
    pub fetcher: Fetcher,
    pub robots: RobotsCache,
    pub scope: Scope,
    pub traps: Traps,
    /// This run continues an interrupted one (its queued URLs are re-checked).
    pub resumed: bool,
    /// The earlier crawl of a recrawl (`--since`).
    pub since: Option<super::since::Previous>,
    /// The browser, when pages are rendered (`--render`).
    pub renderer: Option<Arc<crate::render::Renderer>>,
    pub stats: Arc<Stats>,
    /// pages.jsonl first, then the WARC archive when asked for.
    pub sinks: Vec<Sink>,
    /// Title, links, extras and rule fields of HTML pages.
    pub extractor: Arc<Extractor>,
    /// Our product token (see `robots::product_token`), for `X-Robots-Tag: agent: ...`.
    pub agent: String,
    /// Sitemaps admitted per host (`max_sitemaps_per_host`), and which: an index
    /// naming itself or a sitemap named twice costs nothing.
    pub sitemaps: dashmap::DashMap<HostKey, u32>,
    pub sitemaps_seen: dashmap::DashSet<u64>,
    /// Fingerprints of seeds not admitted yet (a long list goes in chunks while the
    /// crawl runs, see `admit::seeds`): a link to one enters as that seed.
    pub seeds_pending: dashmap::DashSet<u64>,
    /// Hosts whose URL budget ran out, each warned about once.
    pub budget_warned: dashmap::DashSet<HostKey>,
    /// The extra record fields of a URL that was not parsed (all null).
    pub empty_fields: serde_json::Map<String, serde_json::Value>,
    /// Requests in flight over the whole process (`concurrency`).
    pub permits: Arc<Semaphore>,
    pub stop: watch::Sender<Level>,
    /// Set when the output or the frontier store cannot be written: the crawl stops
    /// rather than lose records.
    pub output_failed: AtomicBool,
}

/// What the start step opened for the crawl, handed to [`Ctx::new`].
pub(super) struct Parts {
    pub frontier: Arc<Frontier>,
    pub sinks: Vec<Sink>,
    pub extractor: Arc<Extractor>,
    pub stats: Arc<Stats>,
    pub resumed: bool,
    pub since: Option<super::since::Previous>,
    pub renderer: Option<Arc<crate::render::Renderer>>,
}

impl Ctx {
    /// `seeds` are exempt from the private-address guard (their origins) and make
    /// the scope; `logins` are their credentials.
    pub fn new(
        config: Config,
        seeds: &[Url],
        logins: Logins,
        parts: Parts,
    ) -> Result<Ctx, CrawlError> {
        let Parts {
            frontier,
            sinks,
            extractor,
            stats,
            resumed,
            since,
            renderer,
        } = parts;
        let guard = Arc::new(AddressGuard::new(config.fetch.allow_private));
        for s in seeds {
            guard.exempt_seed(s);
        }
        let fetcher = Fetcher::new(&config, guard)
            .map_err(CrawlError::Client)?
            .with_logins(logins);
        Ok(Ctx {
            scope: Scope::new(&config, seeds)?,
            traps: Traps::new(&config.traps),
            resumed,
            since,
            renderer,
            robots: RobotsCache::new(
                &config.robots_agent(),
                Duration::from_secs_f64(config.fetch.retry_backoff),
                usize::try_from(config.politeness.robots_cache_bytes).unwrap_or(usize::MAX),
            ),
            permits: Arc::new(Semaphore::new(config.politeness.concurrency)),
            fetcher,
            frontier,
            stats,
            sinks,
            empty_fields: extractor.empty_fields(),
            agent: config.robots_agent(),
            sitemaps: dashmap::DashMap::new(),
            sitemaps_seen: dashmap::DashSet::new(),
            budget_warned: dashmap::DashSet::new(),
            seeds_pending: dashmap::DashSet::new(),
            extractor,
            stop: watch::channel(Level::Running).0,
            output_failed: AtomicBool::new(false),
            config,
        })
    }

    /// Raises the stop level (never lowers it); true if it rose.
    pub fn raise_stop(&self, to: Level) -> bool {
        self.stop.send_if_modified(|level| {
            let raise = *level < to;
            if raise {
                *level = to;
            }
            raise
        })
    }

    /// The output or the frontier store cannot be written: stop rather than lose work.
    pub fn fail_output(&self, why: &str) {
        if !self.output_failed.swap(true, Ordering::SeqCst) {
            tracing::error!("{why}: stopping the crawl so that nothing more is lost");
            self.raise_stop(Level::Abandon);
        }
    }
}
