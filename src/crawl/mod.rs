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
//!    seconds (a stop signal ends the wait), then the summary is returned.
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
/// (see `fetch::logins`).
pub async fn run(
    config: Config,
    seeds: Vec<Url>,
    logins: Logins,
    stop: watch::Receiver<StopRequest>,
) -> Result<Summary, CrawlError> {
    // Start: every start-up problem stops the crawl here, before the first request.
    let (mut started, ctx) = start::Started::open(config, &seeds, logins).await?;
    let ctx = Arc::new(ctx);
    // Admit the seeds: this process joins the crawl first (a shared crawl's scope
    // holds every process's seeds).
    let heartbeat = fleet::join(&ctx, &seeds).await;
    admit::seeds(&ctx, seeds).await;
    let watchers = started.watch(&ctx);
    // Run the workers until the frontier runs dry or a stop is asked for.
    let after = stop.clone();
    let stopped_by = workers::run(&ctx, stop).await;
    let endpoint = watchers.stop().await;
    fleet::leave(&ctx, heartbeat, stopped_by.is_some()).await;
    let linger = ctx.config.run.metrics_linger;
    // Drain and finish: sinks, journal, stats.json.
    let summary = finish::finish(ctx, started, stopped_by).await;
    // The outputs are safe: the metrics endpoint may now show the final numbers.
    if let Some(endpoint) = endpoint {
        endpoint.linger(linger, after).await;
    }
    summary
}
