//! Crawl-wide counters, shared by every worker, and the names they are reported under.
//!
//! Counters are plain atomics so that counting never takes a lock on the hot path;
//! readers (progress display, stats.json) take a [`Summary`] snapshot. This module
//! observes outcomes and never changes what the crawl does.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;

mod features;
pub use features::*;

/// Why a URL produced no usable response. The name is the prefix of the record's
/// `error` string (`"timeout: ..."`), the key in stats.json and a stable contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The whole-request deadline passed.
    Timeout,
    /// TCP or TLS connection could not be made or was reset.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// The body was longer than `max_body` (after decompression).
    TooLarge,
    /// The host resolves to a private/loopback/link-local address.
    Blocked,
    /// robots.txt disallows the URL, or could not be fetched.
    Robots,
    /// Too many redirects, a loop, a bad Location or an off-scope target.
    Redirect,
    /// The server broke HTTP: invalid status line, truncated body, bad encoding.
    Protocol,
    /// Anything else.
    Other,
    /// Not fetched: the host was declared unreachable after connection-level
    /// failures in a row (the message names the last one).
    Unreachable,
    /// The page was fetched but its render failed (a tab that hung or crashed, a
    /// browser that died): recorded with the plain page's fields and links.
    Render,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Dns,
        ErrorKind::TooLarge,
        ErrorKind::Blocked,
        ErrorKind::Robots,
        ErrorKind::Redirect,
        ErrorKind::Protocol,
        ErrorKind::Other,
        ErrorKind::Unreachable,
        ErrorKind::Render,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Dns => "dns",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Blocked => "blocked",
            ErrorKind::Robots => "robots",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Other => "other",
            ErrorKind::Unreachable => "host_unreachable",
            ErrorKind::Render => "render",
        }
    }

    /// Whether an error of this kind says the host could not be reached at all
    /// (no response): these count toward declaring a host unreachable.
    pub fn is_connection_level(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout | ErrorKind::Connect | ErrorKind::Dns
        )
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The kind of a record's `error` string (`"timeout: ..."` → Timeout).
    pub fn of_error(error: &str) -> Option<ErrorKind> {
        let name = error.split(':').next()?;
        ErrorKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// What ended a crawl before the frontier ran dry; its name is stats.json's
/// `stopped_by` (a stable contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StopReason {
    /// SIGINT / Ctrl-C (exit code 130).
    #[serde(rename = "SIGINT")]
    Interrupt,
    /// SIGTERM (exit code 143).
    #[serde(rename = "SIGTERM")]
    Terminate,
    /// The page budget ended the crawl with URLs left.
    #[serde(rename = "max_pages")]
    MaxPages,
    /// The shared crawl's state is gone from Redis (or Redis refused it for good).
    #[serde(rename = "frontier_lost")]
    FrontierLost,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Interrupt => "SIGINT",
            StopReason::Terminate => "SIGTERM",
            StopReason::MaxPages => "max_pages",
            StopReason::FrontierLost => "frontier_lost",
        }
    }
}

/// Why a discovered link was not admitted to the frontier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Outside `scope`.
    Scope,
    /// Deeper than `max_depth`.
    Depth,
    /// Failed `include`/`exclude`.
    Filter,
    /// Marked nofollow (link rel or meta robots).
    Nofollow,
    /// Already seen this crawl.
    Duplicate,
    /// Trap guard: URL longer than `max_url_length`.
    UrlTooLong,
    /// Trap guard: more path segments than `max_path_depth`.
    PathTooDeep,
    /// Trap guard: a path segment repeated more than `max_repeated_segments` times.
    RepeatedSegments,
    /// Trap guard: more than `max_query_hops` query-only hops.
    QueryChain,
    /// Trap guard: the host's `max_pages_per_host` is spent.
    HostBudget,
    /// The path ends in an extension of `skip_extensions` (never HTML).
    Extension,
}

#[derive(Default)]
pub struct Stats {
    started: Option<Instant>,
    /// Records carried over from an interrupted run (counted, but not this run's speed).
    resumed: AtomicU64,
    pub records: AtomicU64,
    pub ok: AtomicU64,
    pub bytes: AtomicU64,
    pub retries: AtomicU64,
    errors: [AtomicU64; 11],
    statuses: StatusCounts,
    refused_scope: AtomicU64,
    refused_depth: AtomicU64,
    refused_filter: AtomicU64,
    refused_nofollow: AtomicU64,
    refused_extension: AtomicU64,
    duplicates: AtomicU64,
    traps: [AtomicU64; 5],
    robots_disallowed: AtomicU64,
    blocked_private: AtomicU64,
    /// Sitemaps read, the URLs they listed, and those a bound cut short.
    pub sitemaps: AtomicU64,
    pub sitemap_urls: AtomicU64,
    pub sitemaps_cut: AtomicU64,
    /// Links dropped beyond `max_links_per_page`.
    pub links_cut: AtomicU64,
    /// Hosts declared unreachable (see `unreachable_after`).
    pub hosts_unreachable: AtomicU64,
    /// Pages each extraction rule set filled `data` for.
    rule_pages: dashmap::DashMap<String, u64>,
    /// Durations, for the metrics endpoint (stats.json has no use for them).
    pub timings: Timings,
    /// Set once the crawl is over and its outputs are written.
    pub finished: std::sync::atomic::AtomicBool,
    /// What a recrawl (`--since`) found.
    pub recrawl: RecrawlCounts,
    /// What rendering (`--render`) did.
    pub render: RenderCounts,
}

/// Upper bounds, in seconds, of the fetch-time histogram's buckets: from a
/// loopback answer to the longest timeout worth telling apart.
pub const FETCH_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// How long things took. A histogram takes a short lock per observation (one per
/// fetch, never per byte), which the 20,000-page bench does not see.
#[derive(Debug, Clone)]
pub struct Timings {
    /// One HTTP fetch, request to whole body, every attempt (retries included).
    pub fetch: Histogram,
    /// Time workers sat idle because every host with queued URLs was waiting out
    /// its politeness interval, and how many times they did.
    pub politeness_wait_seconds: Counter<f64, AtomicU64>,
    pub politeness_waits: Counter,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            fetch: Histogram::new(FETCH_BUCKETS),
            politeness_wait_seconds: Counter::default(),
            politeness_waits: Counter::default(),
        }
    }
}

impl Timings {
    pub fn fetched(&self, took: Duration) {
        self.fetch.observe(took.as_secs_f64());
    }

    pub fn politeness_wait(&self, took: Duration) {
        self.politeness_wait_seconds.inc_by(took.as_secs_f64());
        self.politeness_waits.inc();
    }
}

struct StatusCounts([AtomicU64; 600]);

impl Default for StatusCounts {
    fn default() -> Self {
        StatusCounts(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            started: Some(Instant::now()),
            ..Stats::default()
        }
    }

    /// Counts a page an extraction rule set filled.
    pub fn rule_applied(&self, name: &str) {
        match self.rule_pages.get_mut(name) {
            Some(mut n) => *n += 1,
            None => *self.rule_pages.entry(name.to_string()).or_insert(0) += 1,
        }
    }

    /// Counts a record an earlier run wrote (resume).
    pub fn record_resumed(&self, status: Option<u16>, error: Option<ErrorKind>, bytes: u64) {
        self.resumed.fetch_add(1, Relaxed);
        self.record(status, error, bytes);
    }

    /// Counts one finished URL (one pages.jsonl line).
    pub fn record(&self, status: Option<u16>, error: Option<ErrorKind>, bytes: u64) {
        self.records.fetch_add(1, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        if let Some(s) = status {
            if let Some(c) = self.statuses.0.get(s as usize) {
                c.fetch_add(1, Relaxed);
            }
        }
        match error {
            Some(k) => {
                self.errors[k.index()].fetch_add(1, Relaxed);
                match k {
                    ErrorKind::Robots => self.robots_disallowed.fetch_add(1, Relaxed),
                    ErrorKind::Blocked => self.blocked_private.fetch_add(1, Relaxed),
                    _ => 0,
                };
            }
            None if status.is_some_and(|s| (200..300).contains(&s)) => {
                self.ok.fetch_add(1, Relaxed);
            }
            None => {}
        }
    }

    pub fn refuse(&self, why: Refusal) {
        let c = match why {
            Refusal::Scope => &self.refused_scope,
            Refusal::Depth => &self.refused_depth,
            Refusal::Filter => &self.refused_filter,
            Refusal::Nofollow => &self.refused_nofollow,
            Refusal::Extension => &self.refused_extension,
            Refusal::Duplicate => &self.duplicates,
            Refusal::UrlTooLong => &self.traps[0],
            Refusal::PathTooDeep => &self.traps[1],
            Refusal::RepeatedSegments => &self.traps[2],
            Refusal::QueryChain => &self.traps[3],
            Refusal::HostBudget => &self.traps[4],
        };
        c.fetch_add(1, Relaxed);
    }

    /// Responses by status class ("2xx"...), every class present even at zero so
    /// a dashboard's series exist from the first scrape.
    pub fn status_classes(&self) -> [(&'static str, u64); 5] {
        let mut out = [("1xx", 0), ("2xx", 0), ("3xx", 0), ("4xx", 0), ("5xx", 0)];
        for (code, c) in self.statuses.0.iter().enumerate().skip(100) {
            if let Some(slot) = out.get_mut(code / 100 - 1) {
                slot.1 += c.load(Relaxed);
            }
        }
        out
    }

    /// Recorded failures of one kind.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()].load(Relaxed)
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.iter().map(|c| c.load(Relaxed)).sum()
    }

    pub fn elapsed_secs(&self) -> f64 {
        self.started.map_or(0.0, |s| s.elapsed().as_secs_f64())
    }

    /// A consistent-enough snapshot for stats.json and progress lines.
    pub fn summary(&self, gauges: Gauges) -> Summary {
        let duration = self.elapsed_secs();
        let records = self.records.load(Relaxed);
        let failures = ErrorKind::ALL
            .iter()
            .filter_map(|k| {
                let n = self.errors[k.index()].load(Relaxed);
                (n > 0).then(|| (k.name().to_string(), n))
            })
            .collect();
        let statuses = self
            .statuses
            .0
            .iter()
            .enumerate()
            .filter_map(|(s, c)| {
                let n = c.load(Relaxed);
                (n > 0).then(|| (s.to_string(), n))
            })
            .collect();
        Summary {
            pages: records,
            pages_ok: self.ok.load(Relaxed),
            failures,
            statuses,
            bytes: self.bytes.load(Relaxed),
            retries: self.retries.load(Relaxed),
            resumed_pages: self.resumed.load(Relaxed),
            duration_secs: round3(duration),
            pages_per_sec: if duration > 0.0 {
                round3(records.saturating_sub(self.resumed.load(Relaxed)) as f64 / duration)
            } else {
                0.0
            },
            hosts: gauges.hosts,
            queued: gauges.queued,
            in_flight: gauges.in_flight,
            refused: Refused {
                scope: self.refused_scope.load(Relaxed),
                depth: self.refused_depth.load(Relaxed),
                filter: self.refused_filter.load(Relaxed),
                nofollow: self.refused_nofollow.load(Relaxed),
                extension: self.refused_extension.load(Relaxed),
                robots: self.robots_disallowed.load(Relaxed),
                blocked: self.blocked_private.load(Relaxed),
                duplicate: self.duplicates.load(Relaxed),
            },
            traps: Traps {
                url_length: self.traps[0].load(Relaxed),
                path_depth: self.traps[1].load(Relaxed),
                repeated_segments: self.traps[2].load(Relaxed),
                query_hops: self.traps[3].load(Relaxed),
                host_budget: self.traps[4].load(Relaxed),
            },
            sitemaps: self.sitemaps.load(Relaxed),
            sitemap_urls: self.sitemap_urls.load(Relaxed),
            sitemaps_cut: self.sitemaps_cut.load(Relaxed),
            links_cut: self.links_cut.load(Relaxed),
            hosts_unreachable: self.hosts_unreachable.load(Relaxed),
            rules: self
                .rule_pages
                .iter()
                .map(|e| (e.key().clone(), *e.value()))
                .collect(),
            peak_rss_mb: peak_rss_mb(),
            finished_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            completed: false,
            stopped_by: None,
            recrawl: self.recrawl.summary(),
            render: self.render.summary(),
            redis_round_trips: gauges.redis_round_trips,
        }
    }
}

/// The process's peak resident memory in MiB (Linux: VmHWM), if the OS tells.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(round3(kib / 1024.0))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Live frontier numbers the stats do not own.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub hosts: u64,
    pub queued: u64,
    pub in_flight: u64,
    /// Calls this process made to Redis (shared frontier only).
    pub redis_round_trips: Option<u64>,
}

/// URLs refused before they were fetched, by reason.
#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    /// Links outside `scope`.
    pub scope: u64,
    /// Links deeper than `max_depth`.
    pub depth: u64,
    /// Links failing `include`/`exclude`.
    pub filter: u64,
    /// Links not followed because of nofollow.
    pub nofollow: u64,
    /// Links not fetched because their path ends in an extension of
    /// `skip_extensions` (files that are never HTML).
    pub extension: u64,
    /// URLs disallowed by robots.txt (also in `failures.robots`).
    pub robots: u64,
    /// URLs on private/loopback addresses (also in `failures.blocked`).
    pub blocked: u64,
    /// Links already seen.
    pub duplicate: u64,
}

/// URLs refused by the spider-trap guards, by guard.
#[derive(Debug, Clone, Serialize)]
pub struct Traps {
    pub url_length: u64,
    pub path_depth: u64,
    pub repeated_segments: u64,
    pub query_hops: u64,
    pub host_budget: u64,
}

/// The content of stats.json (and of the end-of-crawl summary line).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// URLs attempted: lines in pages.jsonl.
    pub pages: u64,
    /// Records with a 2xx status and no error, and a recrawl's `304`s (a page
    /// confirmed unchanged).
    pub pages_ok: u64,
    /// Records with an error, by kind.
    pub failures: BTreeMap<String, u64>,
    /// Records by HTTP status.
    pub statuses: BTreeMap<String, u64>,
    /// Body bytes received (after decompression).
    pub bytes: u64,
    /// Retries made after transient failures.
    pub retries: u64,
    /// Of `pages`, those recorded by earlier runs of a resumed crawl.
    pub resumed_pages: u64,
    /// This run's duration and speed (resumed pages excluded).
    pub duration_secs: f64,
    pub pages_per_sec: f64,
    /// Distinct hosts (scheme+host+port) seen by the frontier.
    pub hosts: u64,
    /// URLs still queued when the crawl ended (non-zero after a stop or max_pages).
    pub queued: u64,
    pub in_flight: u64,
    pub refused: Refused,
    pub traps: Traps,
    /// Sitemaps read (indexes included) and the URLs they listed (before scope);
    /// sitemaps cut short by `max_sitemap_urls` or `max_sitemap_bytes`, or broken.
    pub sitemaps: u64,
    pub sitemap_urls: u64,
    pub sitemaps_cut: u64,
    /// Links found on pages beyond `max_links_per_page`, dropped unread.
    pub links_cut: u64,
    /// Hosts this process declared unreachable (connection failures in a row);
    /// their URLs are recorded as `host_unreachable` without a fetch.
    pub hosts_unreachable: u64,
    /// Pages whose `data` each rule set filled, by rule set name.
    pub rules: BTreeMap<String, u64>,
    /// Peak resident memory of the crawling process, in MiB (null where unknown).
    pub peak_rss_mb: Option<f64>,
    pub finished_at: String,
    /// True when the frontier ran dry or max_pages was reached; false when stopped by a signal.
    pub completed: bool,
    /// What stopped the crawl early, if anything.
    pub stopped_by: Option<StopReason>,
    /// What a recrawl found (`--since` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recrawl: Option<RecrawlSummary>,
    /// What rendering did (`--render` other than never only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub render: Option<RenderSummary>,
    /// Calls this process made to Redis, retries included (shared frontier only):
    /// about one a page, since a page's end rides on its next call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_round_trips: Option<u64>,
}

/// Error kinds that mean the server was never reached (no HTTP response).
const UNREACHED: [&str; 5] = ["dns", "connect", "timeout", "host_unreachable", "blocked"];

impl Summary {
    /// URLs were attempted and not one reached a server: every record failed
    /// before any HTTP response (DNS, connect, timeout, unreachable, blocked).
    /// A dead crawl, which the exit code tells from a good one (as wget's does).
    pub fn reached_nothing(&self) -> bool {
        self.pages > 0
            && self.statuses.is_empty()
            && self
                .failures
                .keys()
                .all(|k| UNREACHED.contains(&k.as_str()))
    }

    /// The limits and guards that left URLs out of this crawl, by setting name,
    /// with how many each left out (only those that did).
    pub fn left_out(&self) -> Vec<(&'static str, u64)> {
        let queued = match self.stopped_by {
            Some(StopReason::MaxPages) => self.queued,
            _ => 0,
        };
        [
            ("max_pages", queued),
            ("max_pages_per_host", self.traps.host_budget),
            ("max_depth", self.refused.depth),
            ("max_url_length", self.traps.url_length),
            ("max_path_depth", self.traps.path_depth),
            ("max_repeated_segments", self.traps.repeated_segments),
            ("max_query_hops", self.traps.query_hops),
            ("max_links_per_page", self.links_cut),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(records: &[(Option<u16>, Option<ErrorKind>)]) -> Summary {
        let stats = Stats::new();
        for (status, kind) in records {
            stats.record(*status, *kind, 0);
        }
        stats.summary(Gauges::default())
    }

    #[test]
    fn a_crawl_that_reached_no_server_is_dead() {
        let dns = (None, Some(ErrorKind::Dns));
        let connect = (None, Some(ErrorKind::Connect));
        assert!(summary(&[dns, connect, (None, Some(ErrorKind::Unreachable))]).reached_nothing());
        // One answer, even a 404, or a robots.txt that answered: not dead.
        assert!(!summary(&[dns, (Some(404), None)]).reached_nothing());
        assert!(!summary(&[dns, (None, Some(ErrorKind::Robots))]).reached_nothing());
        assert!(!summary(&[]).reached_nothing());
    }
}
