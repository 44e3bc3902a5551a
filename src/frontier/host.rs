//! One host's state in the schedule: its queue, its limiter, what is in flight,
//! its spacing and what its failures have shown. Pure data, used only by
//! `schedule.rs`, which decides with it (politeness, retirement, unreachable);
//! kept apart so the schedule reads as its rules and this as what a host costs
//! (a million hosts' entries were most of the schedule's memory).

use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::queue::HostQueue;

pub(super) type Limiter<C> =
    RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

pub(super) struct Host<C: Clock> {
    pub(super) queue: HostQueue,
    pub(super) in_flight: u32,
    pub(super) limiter: Option<Limiter<C>>,
    pub(super) blocked_until: Option<C::Instant>,
    /// When this host, idle since, may be retired; any lease cancels it. Only the
    /// retire-heap entry with this exact instant retires the host.
    pub(super) retire_at: Option<C::Instant>,
    /// True while this host has an entry in a ready heap (at most one).
    pub(super) in_ready: bool,
    /// Leased from at least once: its wake-ups go to the `ready` heap, else to
    /// `fresh`.
    pub(super) started: bool,
    /// Not started, with a seed queued: counted in `seed_hosts_waiting`.
    pub(super) seed_waiting: bool,
    /// URLs of this host stored on disk and not loaded (durable mode).
    pub(super) spilled: u64,
    /// Highest store sequence loaded into `queue`.
    pub(super) cursor: u64,
    /// True while the host is on the refill list.
    pub(super) wants_refill: bool,
    /// Spacing set by robots.txt Crawl-delay, when slower than the configured rate.
    pub(super) interval: Option<Duration>,
    /// This host's configured concurrency and spacing (`per_host_*`, or its
    /// `[[hosts]]` table's).
    pub(super) cap: u32,
    pub(super) base: Option<Duration>,
    /// Connection failures, boxed: most hosts never fail, and a million hosts'
    /// entries are the schedule's memory.
    pub(super) trouble: Option<Box<Trouble<C>>>,
}

/// What a host's connection failures have shown so far.
pub(super) struct Trouble<C: Clock> {
    /// Connection-level failures in a row, when the first and the last counted came.
    pub(super) failures: u32,
    pub(super) first_failure: Option<C::Instant>,
    pub(super) last_failure: Option<C::Instant>,
    /// Set once the host is declared unreachable (the last failure): its URLs then
    /// go at once, without politeness, to be recorded without a fetch.
    pub(super) unreachable: Option<Arc<str>>,
}

impl<C: Clock> Default for Trouble<C> {
    fn default() -> Self {
        Trouble {
            failures: 0,
            first_failure: None,
            last_failure: None,
            unreachable: None,
        }
    }
}

pub(super) fn limiter<C: Clock + Clone>(
    interval: Option<Duration>,
    clock: &C,
) -> Option<Limiter<C>> {
    let quota = Quota::with_period(interval?)?;
    Some(RateLimiter::direct_with_clock(quota, clock.clone()))
}

impl<C: Clock> Host<C> {
    pub(super) fn new(
        cap: u32,
        base: Option<Duration>,
        limiter: Option<Limiter<C>>,
        blocked_until: Option<C::Instant>,
    ) -> Host<C> {
        Host {
            queue: HostQueue::default(),
            in_flight: 0,
            cap,
            base,
            limiter,
            blocked_until,
            retire_at: None,
            in_ready: false,
            started: false,
            seed_waiting: false,
            spilled: 0,
            cursor: 0,
            wants_refill: false,
            interval: None,
            trouble: None,
        }
    }

    pub(super) fn unreachable(&self) -> Option<&Arc<str>> {
        self.trouble.as_ref()?.unreachable.as_ref()
    }
}
