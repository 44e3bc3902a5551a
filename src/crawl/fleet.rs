//! This process as a member of its crawl. In a shared crawl, processes learn each
//! other's seeds (their hosts are in every process's scope and exempt from the
//! private-address guard), say every second that they are alive, and hand their
//! leases back when they leave. The frontier knows whether there is a fleet; this
//! file never asks (with the embedded frontier every call here does nothing).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use url::Url;

use super::ctx::{Ctx, Level};
use crate::frontier::Entry;

/// How often this process says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Joins the crawl with this process's seeds and learns every other process's;
/// the heartbeat runs until [`leave`].
pub(super) async fn join(ctx: &Arc<Ctx>, seeds: &[Url]) -> JoinHandle<()> {
    let all = ctx.frontier.join(seeds, &report(ctx)).await;
    learn_seeds(ctx, all);
    tokio::spawn(heartbeat(ctx.clone()))
}

/// Stops the heartbeat and leaves the crawl: what this process still holds goes
/// back at once for the others.
pub(super) async fn leave(ctx: &Ctx, heartbeat: JoinHandle<()>, stopped: bool) {
    heartbeat.abort();
    let _ = heartbeat.await;
    let recorded = ctx.stats.records.load(Ordering::Relaxed);
    ctx.frontier.leave(&report(ctx), recorded, stopped).await;
}

/// Beats every second (and learns seeds other processes add) until aborted; a
/// crawl whose shared state is lost finishes what is in flight and stops.
async fn heartbeat(ctx: Arc<Ctx>) {
    let mut seeds = None;
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let beat = ctx.frontier.beat(&report(&ctx)).await;
        if beat.lost {
            ctx.raise_stop(Level::Stopping);
            return;
        }
        // The first beat catches seeds added since this process joined.
        if seeds != Some(beat.seeds) {
            seeds = Some(beat.seeds);
            learn_seeds(&ctx, ctx.frontier.seeds().await);
        }
    }
}

/// Seeds another process was given: their hosts are in scope. They are not
/// exempt from the private-address guard: that is never decided on data read
/// back from Redis (anyone who can write there could plant a "seed").
fn learn_seeds(ctx: &Ctx, seeds: Vec<String>) {
    for s in seeds {
        if let Ok(u) = Url::parse(&s) {
            ctx.scope.add_seed(&u);
        }
    }
}

/// A leased URL was admitted by a process whose scope held it: if ours does not
/// hold its host yet, that process had seeds (or a seed's redirect) we have not
/// heard of: their hosts join our scope (the private-address guard still applies:
/// only this process's own seeds are exempt), as does any host the crawl admitted.
pub(super) async fn learn_scope(ctx: &Ctx, entry: &Entry) {
    if entry.seed {
        learn_seeds(ctx, vec![entry.url.to_string()]);
        return;
    }
    if ctx.scope.check_target(&entry.url).is_ok() {
        return;
    }
    learn_seeds(ctx, ctx.frontier.seeds().await);
    if ctx.scope.check_target(&entry.url).is_err() {
        ctx.scope.add_seed(&entry.url);
    }
}

/// This process's own counters, as its heartbeat reports them.
fn report(ctx: &Ctx) -> String {
    let s = &ctx.stats;
    serde_json::json!({
        "pages": s.records.load(Ordering::Relaxed),
        "ok": s.ok.load(Ordering::Relaxed),
        "errors": s.errors_total(),
        "bytes": s.bytes.load(Ordering::Relaxed),
        "in_flight": ctx.frontier.leased_here(),
        "uptime_secs": (s.elapsed_secs() * 10.0).round() / 10.0,
    })
    .to_string()
}
