//! The end of a crawl, in the stop order `crawl`'s docs give: the sinks drain and
//! sync, the journal saves how the run ended, stats.json is written.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::ctx::Ctx;
use super::start::Started;
use super::{outdir, CrawlError, Stop};
use crate::journal::RunEnd;
use crate::sink::SinkError;
use crate::stats::{StopReason, Summary};

/// Flushes every output and writes the summary (also returned).
pub(super) async fn finish(
    ctx: Arc<Ctx>,
    started: Started,
    stopped_by: Option<Stop>,
) -> Result<Summary, CrawlError> {
    let gauges = ctx.frontier.gauges();
    let budget_spent = ctx.frontier.budget_spent();
    let lost = ctx.frontier.lost();
    let output_failed = ctx.output_failed.load(Ordering::SeqCst);
    let ctx = Arc::into_inner(ctx).ok_or(CrawlError::Sink(SinkError::Closed))?;
    // No page renders any more: the browser goes first (it holds no output).
    if let Some(renderer) = &ctx.renderer {
        renderer.close().await;
    }
    // Records first (they wait for the store: commit now rather than at the next
    // interval), then the store's final state.
    started.journal.flush()?;
    for sink in ctx.sinks {
        sink.finish()?;
    }
    let end = match (stopped_by.is_none() && !output_failed, gauges.queued) {
        (true, 0) => RunEnd::Finished,
        (true, _) => RunEnd::Budget,
        _ => RunEnd::Interrupted,
    };
    started.journal.end(end)?;
    if output_failed {
        return Err(CrawlError::Sink(SinkError::Closed));
    }

    let mut summary = started.stats.summary(gauges);
    summary.completed = stopped_by.is_none() && lost.is_none();
    summary.stopped_by = match (stopped_by, &lost) {
        (_, Some(_)) => Some(StopReason::FrontierLost),
        (Some(s), None) => Some(s.reason()),
        // The page budget ended the crawl with URLs left: say so.
        (None, None) if budget_spent && gauges.queued > 0 => Some(StopReason::MaxPages),
        (None, None) => None,
    };
    let name = match &started.worker {
        Some(w) => format!("stats-{w}.json"),
        None => "stats.json".to_string(),
    };
    outdir::write_stats(&started.out, &name, &summary)?;
    match lost {
        Some(e) => Err(CrawlError::Shared(e)),
        None => Ok(summary),
    }
}
