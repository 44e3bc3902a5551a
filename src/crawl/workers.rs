//! The workers: each drives one frontier shard — lease a URL whose host is ready,
//! hand it to a page task, repeat — and never sleeps on one host while another is
//! ready. Tasks run concurrently up to `concurrency` in total. Stop requests arrive
//! here and are passed to every worker as a [`Level`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::ctx::{Ctx, Level};
use crate::frontier::Next;
use crate::stats::StopReason;

/// Longest an idle worker sleeps before looking again (new work also wakes it).
const MAX_IDLE: Duration = Duration::from_millis(200);

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

/// The signal that stops a crawl early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT / Ctrl-C (exit code 130).
    Interrupt,
    /// SIGTERM (exit code 143).
    Terminate,
}

impl Stop {
    pub fn name(self) -> &'static str {
        self.reason().name()
    }

    pub fn reason(self) -> StopReason {
        match self {
            Stop::Interrupt => StopReason::Interrupt,
            Stop::Terminate => StopReason::Terminate,
        }
    }
}

/// Runs the workers until the crawl ends by itself or a stop is requested;
/// returns the signal that stopped it, if one did.
pub(super) async fn run(ctx: &Arc<Ctx>, mut stop: watch::Receiver<StopRequest>) -> Option<Stop> {
    tracing::info!(
        workers = ctx.config.worker_count(),
        concurrency = ctx.config.politeness.concurrency,
        out = %ctx.config.output.out.display(),
        "crawl started"
    );
    let mut set = JoinSet::new();
    for id in 0..ctx.config.worker_count() {
        let c = ctx.clone();
        set.spawn(worker(c, id).instrument(tracing::info_span!("worker", id)));
    }
    let mut stopped_by = None;
    let done = join_all(&mut set);
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
                if let StopRequest::Now(_) = request {
                    tracing::warn!("{}: abandoning in-flight pages now", sig.name());
                    ctx.raise_stop(Level::Abandon);
                } else {
                    tracing::warn!(
                        "{} received: stopping (finishing in-flight pages for up to {}s)",
                        sig.name(),
                        ctx.config.run.shutdown_grace
                    );
                    ctx.raise_stop(Level::Stopping);
                }
            }
        }
    }
    stopped_by
}

async fn join_all(set: &mut JoinSet<()>) {
    while set.join_next().await.is_some() {}
}

/// Drives one frontier shard: lease, hand to a task, repeat; never sleeps on a host.
async fn worker(ctx: Arc<Ctx>, id: usize) {
    let mut tasks = JoinSet::new();
    let mut stop = ctx.stop.subscribe();
    let running = |l: &Level| *l == Level::Running;
    loop {
        if !running(&stop.borrow()) {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = ctx.permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.wait_for(|l| !running(l)) => break,
        };
        // Registered before asking, so work pushed meanwhile still wakes us.
        let woken = ctx.frontier.notify().notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let room = ctx.permits.available_permits() + 1;
        let next = tokio::select! {
            n = ctx.frontier.next(id, room) => n,
            _ = stop.wait_for(|l| !running(l)) => break,
        };
        let polite = matches!(next, Next::Wait(_));
        let pause = match next {
            Next::Lease(lease) => {
                let c = ctx.clone();
                tasks.spawn(
                    async move {
                        super::page::run(&c, lease).await;
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
        let idle = std::time::Instant::now();
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = &mut woken => {}
            _ = stop.wait_for(|l| !running(l)) => break,
        }
        // Only a wait on a host's politeness interval is counted (not an empty queue).
        if polite {
            ctx.stats.timings.politeness_wait(idle.elapsed());
        }
    }
    drain(&ctx, &mut tasks, &mut stop).await;
    // Wake the other workers: this one may have been the last with work in flight.
    ctx.frontier.notify().notify_waiters();
}

/// Lets in-flight pages finish: all of them when the crawl ended by itself, within
/// `shutdown_grace` on a stop, none on an abandon.
async fn drain(ctx: &Ctx, tasks: &mut JoinSet<()>, stop: &mut watch::Receiver<Level>) {
    if *stop.borrow() == Level::Running {
        join_all(tasks).await;
        return;
    }
    let grace = Duration::from_secs_f64(ctx.config.run.shutdown_grace);
    let finished = tokio::select! {
        r = tokio::time::timeout(grace, join_all(tasks)) => r.is_ok(),
        _ = stop.wait_for(|l| *l >= Level::Abandon) => false,
    };
    if !finished {
        tracing::warn!(
            abandoned = tasks.len(),
            "in-flight pages abandoned at shutdown"
        );
        tasks.shutdown().await;
    }
}
