//! The counters of two features that report only when they are on: a recrawl
//! (`--since`) and rendering (`--render`). Kept apart from the crawl's own
//! counters (`stats`), which every crawl reports.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Why pages were rendered, as the record's `render_reason` names it (see
/// `render::signal::Reason`).
pub const RENDER_REASONS: [&str; 4] = ["always", "app_root", "noscript", "little_content"];

/// Rendering's counters (`--render`); reported only when it is on.
#[derive(Debug, Default)]
pub struct RenderCounts {
    pub on: std::sync::atomic::AtomicBool,
    reasons: [AtomicU64; 4],
    /// Pages whose render failed (recorded with a `render` error, links of the
    /// plain page kept).
    pub failed: AtomicU64,
    /// Renders read at their deadline, the wait rule unmet.
    pub waited_out: AtomicU64,
    /// Requests the pages made that trawl fetched for them.
    pub requests: AtomicU64,
    /// Requests refused by resource type (`render_block`).
    pub blocked_type: AtomicU64,
    /// Requests refused by the address guard.
    pub blocked_address: AtomicU64,
    /// Requests robots.txt disallows.
    pub blocked_robots: AtomicU64,
    /// Pages rendered (their DOM read), of those attempted.
    pub done: AtomicU64,
    /// Requests refused otherwise: other schemes, a page navigating away, more
    /// than a page may make.
    pub blocked_other: AtomicU64,
    /// Requests that failed (timeouts, connection errors).
    pub request_errors: AtomicU64,
    /// Browser processes started again after one died.
    pub browser_restarts: AtomicU64,
    /// Browser processes replaced after `render_recycle` pages.
    pub browser_recycles: AtomicU64,
}

impl RenderCounts {
    /// A render begun, for this reason (a name of [`RENDER_REASONS`]).
    pub fn attempted(&self, reason: &str) {
        if let Some(i) = RENDER_REASONS.iter().position(|r| *r == reason) {
            self.reasons[i].fetch_add(1, Relaxed);
        }
    }

    pub(super) fn summary(&self) -> Option<RenderSummary> {
        if !self.on.load(Relaxed) {
            return None;
        }
        let reasons: std::collections::BTreeMap<&'static str, u64> = RENDER_REASONS
            .iter()
            .zip(&self.reasons)
            .map(|(name, n)| (*name, n.load(Relaxed)))
            .collect();
        Some(RenderSummary {
            rendered: self.done.load(Relaxed),
            reasons,
            failed: self.failed.load(Relaxed),
            waited_out: self.waited_out.load(Relaxed),
            requests: self.requests.load(Relaxed),
            blocked_type: self.blocked_type.load(Relaxed),
            blocked_address: self.blocked_address.load(Relaxed),
            blocked_robots: self.blocked_robots.load(Relaxed),
            blocked_other: self.blocked_other.load(Relaxed),
            request_errors: self.request_errors.load(Relaxed),
            browser_restarts: self.browser_restarts.load(Relaxed),
            browser_recycles: self.browser_recycles.load(Relaxed),
        })
    }
}

/// stats.json's `render` (with `--render auto|always`, or a `[[hosts]]` table's).
#[derive(Debug, Clone, Serialize)]
pub struct RenderSummary {
    /// Pages rendered (their records say `rendered: true`).
    pub rendered: u64,
    /// Renders begun, by `render_reason` (those that failed included).
    pub reasons: std::collections::BTreeMap<&'static str, u64>,
    pub failed: u64,
    pub waited_out: u64,
    pub requests: u64,
    pub blocked_type: u64,
    pub blocked_address: u64,
    pub blocked_robots: u64,
    pub blocked_other: u64,
    pub request_errors: u64,
    pub browser_restarts: u64,
    pub browser_recycles: u64,
}

/// A recrawl's counters (`--since`); reported only when it is on.
#[derive(Debug, Default)]
pub struct RecrawlCounts {
    pub on: std::sync::atomic::AtomicBool,
    read: AtomicU64,
    admitted: AtomicU64,
    skipped: AtomicU64,
    changes: [AtomicU64; 4],
}

impl RecrawlCounts {
    /// An earlier record read.
    pub fn read(&self) {
        self.read.fetch_add(1, Relaxed);
    }

    /// An earlier URL the frontier did not have.
    pub fn admitted(&self) {
        self.admitted.fetch_add(1, Relaxed);
    }

    /// Lines of the earlier crawl that were not records.
    pub fn skipped_lines(&self, n: u64) {
        self.skipped.fetch_add(n, Relaxed);
    }

    /// A response judged against its prior.
    pub fn change(&self, c: crate::recrawl::Change) {
        if let Some(i) = crate::recrawl::Change::ALL.iter().position(|x| *x == c) {
            self.changes[i].fetch_add(1, Relaxed);
        }
    }

    pub(super) fn summary(&self) -> Option<RecrawlSummary> {
        if !self.on.load(Relaxed) {
            return None;
        }
        let n = |i: usize| self.changes[i].load(Relaxed);
        Some(RecrawlSummary {
            previous_records: self.read.load(Relaxed),
            previous_admitted: self.admitted.load(Relaxed),
            previous_skipped_lines: self.skipped.load(Relaxed),
            new: n(0),
            not_modified: n(1),
            unchanged: n(2),
            changed: n(3),
        })
    }
}

/// stats.json's `recrawl` (with `--since` only). The four kinds count this run's
/// responses by their record's `recrawl` field.
#[derive(Debug, Clone, Serialize)]
pub struct RecrawlSummary {
    /// Records read from the earlier crawl.
    pub previous_records: u64,
    /// Of their URLs, those admitted (not refused by this crawl's scope, filters
    /// or trap guards, and not already queued).
    pub previous_admitted: u64,
    /// Lines of the earlier crawl that were not records.
    pub previous_skipped_lines: u64,
    pub new: u64,
    pub not_modified: u64,
    pub unchanged: u64,
    pub changed: u64,
}
