//! What `/metrics` says: the crawl's counters, timings and frontier gauges, and
//! the process's own `process_*` series, in Prometheus's text format (0.0.4),
//! encoded by `prometheus-client`.
//!
//! The counters themselves live in [`Stats`] (stats.json reads the same atomics, so
//! the two never disagree); a registry is built for each scrape from a snapshot,
//! which costs microseconds every scrape interval and nothing on the hot path.
//!
//! Labels: this process's series carry `worker`, its configured `--worker-id` (or
//! its host name), so a restarted container continues its own series. The
//! frontier's gauges (queue depth, in flight, hosts) are the whole fleet's in a
//! shared crawl and carry no `worker`: a dashboard takes their `max`, never `sum`.

use std::borrow::Cow;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::process;
use crate::stats::{ErrorKind, Gauges, Stats};

/// The Content-Type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

type Labels = Vec<(Cow<'static, str>, Cow<'static, str>)>;

/// What one scrape reports.
pub struct Snapshot<'a> {
    pub stats: &'a Stats,
    pub gauges: Gauges,
    /// Each live process's last heartbeat (unix seconds), by its frontier name.
    pub beats: Vec<(String, f64)>,
    /// This process's `worker` label.
    pub worker: &'a str,
}

/// The metrics page text.
pub fn encode(s: &Snapshot) -> String {
    let mut root = Registry::default();
    crawl(&mut root, s);
    let own = root.sub_registry_with_label(("worker".into(), s.worker.to_string().into()));
    counters(own, s.stats);
    process::register(&mut root);
    let mut out = String::with_capacity(8192);
    // Writing to a String cannot fail; an encoder error would only cut the page.
    let _ = prometheus_text::encode(&mut out, &root);
    out
}

/// This process's counters and timings.
fn counters(r: &mut Registry, stats: &Stats) {
    use std::sync::atomic::Ordering::Relaxed;
    r.register(
        "trawl_build",
        "The running trawl's version",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    let counters = [
        (
            "trawl_pages",
            "URLs attempted and recorded by this process",
            &stats.records,
        ),
        (
            "trawl_pages_ok",
            "Recorded URLs that answered 2xx",
            &stats.ok,
        ),
        ("trawl_bytes", "Body bytes received", &stats.bytes),
        (
            "trawl_retries",
            "Fetch attempts that will be retried",
            &stats.retries,
        ),
    ];
    for (name, help, value) in counters {
        r.register(name, help, ConstCounter::new(value.load(Relaxed)));
    }
    r.register(
        "trawl_crawl_finished",
        "1 once this process's crawl is over and its outputs are written (the endpoint lingers)",
        ConstGauge::new(i64::from(stats.finished.load(Relaxed))),
    );
    let responses = Family::<Labels, Counter>::default();
    for (class, n) in stats.status_classes() {
        responses
            .get_or_create(&vec![("class".into(), class.into())])
            .inc_by(n);
    }
    r.register(
        "trawl_responses",
        "Recorded responses by status class",
        responses,
    );
    let errors = Family::<Labels, Counter>::default();
    for kind in ErrorKind::ALL {
        errors
            .get_or_create(&vec![("kind".into(), kind.name().into())])
            .inc_by(stats.errors_of(kind));
    }
    r.register(
        "trawl_errors",
        "Recorded URLs that failed, by error kind",
        errors,
    );
    let t = &stats.timings;
    r.register(
        "trawl_fetch_duration_seconds",
        "Time of one HTTP fetch, request to whole body, every attempt",
        t.fetch.clone(),
    );
    r.register(
        "trawl_politeness_wait_seconds",
        "Seconds workers sat idle because every host with queued URLs was waiting out its politeness interval or a retry delay",
        t.politeness_wait_seconds.clone(),
    );
    r.register(
        "trawl_politeness_waits",
        "Times workers waited so",
        t.politeness_waits.clone(),
    );
}

/// The frontier's gauges and every live process's heartbeat.
fn crawl(r: &mut Registry, s: &Snapshot) {
    let g = s.gauges;
    let whole_fleet = [
        (
            "trawl_queue_depth",
            "URLs queued in the frontier (the whole fleet's in a shared crawl)",
            g.queued,
        ),
        (
            "trawl_in_flight",
            "URLs leased and not yet finished (the whole fleet's in a shared crawl)",
            g.in_flight,
        ),
        (
            "trawl_hosts",
            "Distinct hosts seen by the frontier",
            g.hosts,
        ),
    ];
    for (name, help, value) in whole_fleet {
        r.register(name, help, ConstGauge::new(value as i64));
    }
    let beats = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for (name, at) in &s.beats {
        beats
            .get_or_create(&vec![("worker".into(), name.clone().into())])
            .set(*at);
    }
    r.register(
        "trawl_worker_heartbeat_timestamp_seconds",
        "Unix time of each live process's last heartbeat",
        beats,
    );
}
