//! The crawl: builds every part from the config, runs the workers, and owns the
//! order in which things stop. It is the only module that knows all the others.
//!
//! Data flows one way: seeds → frontier → worker → robots → fetch → extract → sink,
//! with stats observing. [`run`] below is the whole outline; each step is a file:
//!
//! | step | file |
//! |---|---|
//! | the out dir: lock, fresh, resume or refuse; stats.json | `outdir.rs` |
//! | start: metrics port, frontier, journal, sinks | `start.rs` (state: `ctx.rs`) |
//! | fleet membership: join, heartbeat, seeds of other processes | `fleet.rs` |
//! | workers: lease, hand to a task, stop on request | `workers.rs` |
//! | one page: robots, fetch, retry, what the response is | `page.rs` |
//! | parsing a body off the reactor; what is HTML | `content.rs` |
//! | link, redirect and seed admission | `admit.rs` |
//! | sitemaps: discovery and reading | `sitemaps.rs` |
//! | rendering: which pages, and the rendered page as the record's | `rendered.rs` |
//! | recrawl: the earlier crawl read, its URLs admitted | `since.rs` |
//! | the record of a page and its lease's end | `record.rs` |
//! | drain and finish: sinks, journal, summary | `finish.rs` |
//!
//! # Stop order
//! 1. A stop request ([`StopRequest::Graceful`]: the first Ctrl-C or SIGTERM, or a
//!    test) stops all leasing at once.
//! 2. In-flight URLs get `shutdown_grace` seconds to finish and be recorded; what
//!    is still running then — or at once on [`StopRequest::Now`], the second
//!    signal — is abandoned (never half-recorded).
//! 3. The process leaves the frontier (a shared crawl's leases go back at once).
//! 4. The sinks drain, write whole lines and fsync.
//! 5. The journal commits (pending URLs of abandoned pages stay pending; the crawl
//!    is marked finished only when it ran to its end) and closes.
//! 6. stats.json is written (atomically, by rename).
//! 7. With `--metrics`, the endpoint serves the final numbers for `metrics_linger`
//!    seconds (a stop signal ends the wait). [`run_until_written`] hands the summary
//!    back before this step, so that the binary prints it first.
//!
//! # Resume
//! With the durable frontier (the default), the same command on the same `--out`
//! continues an interrupted crawl however it stopped: see `journal` for why no
//! page is lost or written twice. A finished crawl is never silently re-run.
//!
//! A failure on one URL is data (a record with an error kind), never an error
//! here; [`CrawlError`] is only for problems that stop a crawl from starting or
//! from saving its output.

mod admit;
mod content;
mod ctx;
mod error;
mod finish;
mod fleet;
mod outdir;
mod page;
mod record;
mod rendered;
mod since;
mod sitemaps;
mod start;
mod unwind;
mod workers;

use std::sync::Arc;

use tokio::sync::watch;
use url::Url;

use crate::config::Config;
use crate::fetch::logins::Logins;
use crate::stats::Summary;
pub use error::CrawlError;
pub use workers::{Stop, StopRequest};

/// Runs a crawl to completion or until a stop is requested on `stop`; returns the
/// summary also written to `out/stats.json`. `logins` are the seeds' credentials
/// (see `fetch::logins`). With `--metrics`, returns after the endpoint's linger.
pub async fn run(
    config: Config,
    seeds: Vec<Url>,
    logins: Logins,
    stop: watch::Receiver<StopRequest>,
) -> Result<Summary, CrawlError> {
    let (summary, after) = run_until_written(config, seeds, logins, stop).await;
    after.linger().await;
    summary
}

/// Like [`run`], but returns as soon as every output is written, so that the
/// caller can report the summary before the metrics endpoint's linger
/// ([`Lingering::linger`]), which it must then await.
pub async fn run_until_written(
    config: Config,
    seeds: Vec<Url>,
    logins: Logins,
    stop: watch::Receiver<StopRequest>,
) -> (Result<Summary, CrawlError>, Lingering) {
    let linger = config.run.metrics_linger;
    let after = stop.clone();
    let nothing = |after| Lingering {
        endpoint: None,
        secs: 0.0,
        stop: after,
    };
    // Start: every start-up problem stops the crawl here, before the first request.
    let (mut started, ctx) = match start::Started::open(config, &seeds, logins).await {
        Ok(opened) => opened,
        Err(e) => return (Err(e), nothing(after)),
    };
    let ctx = Arc::new(ctx);
    // Admit the seeds: this process joins the crawl first (a shared crawl's scope
    // holds every process's seeds).
    let heartbeat = fleet::join(&ctx, &seeds).await;
    // A recrawl's seeds keep what the earlier crawl knew of them; then every URL
    // of the earlier crawl is admitted.
    let priors = since::seed_priors(&ctx, &seeds).await;
    let seeding = admit::seeds(&ctx, seeds, priors).await;
    since::admit(&ctx).await;
    let watchers = started.watch(&ctx);
    // Run the workers until the frontier runs dry or a stop is asked for (a long
    // seed list is still being admitted as they start).
    let stopped_by = workers::run(&ctx, stop).await;
    seeding.end().await;
    let endpoint = watchers.stop().await;
    fleet::leave(&ctx, heartbeat, stopped_by.is_some()).await;
    let stats = started.stats.clone();
    // Drain and finish: sinks, journal, stats.json.
    let summary = finish::finish(ctx, started, stopped_by).await;
    // The outputs are safe: the metrics endpoint may now show the final numbers.
    stats
        .finished
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let lingering = Lingering {
        endpoint,
        secs: linger,
        stop: after,
    };
    (summary, lingering)
}

/// The metrics endpoint after a crawl, serving its final numbers for
/// `metrics_linger` seconds (see step 7 above).
pub struct Lingering {
    endpoint: Option<start::Endpoint>,
    secs: f64,
    stop: watch::Receiver<StopRequest>,
}

impl Lingering {
    /// Serves the final numbers for the linger (a stop signal ends it), then closes.
    pub async fn linger(self) {
        if let Some(endpoint) = self.endpoint {
            endpoint.linger(self.secs, self.stop).await;
        }
    }
}
