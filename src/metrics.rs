//! Prometheus text metrics for a running crawl, at `http://ADDR/metrics`.
//!
//! Counters are this process's (a fleet is summed by Prometheus across its
//! processes, labelled by `worker`); queue depth, hosts and heartbeats are the
//! frontier's: the whole fleet's in a shared crawl. This module only reads
//! snapshots; it never changes the crawl, and a slow scraper never slows it.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::frontier::Frontier;
use crate::stats::{ErrorKind, Stats};

/// What the metrics are read from.
pub struct Source {
    pub stats: Arc<Stats>,
    pub frontier: Arc<Frontier>,
    /// This process's name (its worker id in a shared crawl).
    pub worker: String,
}

/// Binds `addr`: done before the crawl starts, so a taken port is a start-up error
/// that leaves nothing behind.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves metrics on `listener` until the returned task is aborted.
pub fn serve(listener: TcpListener, source: Source) -> JoinHandle<()> {
    let source = Arc::new(source);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let source = source.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let source = source.clone();
                    async move { Ok::<_, Infallible>(respond(req.uri().path(), &source).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

async fn respond(path: &str, source: &Source) -> Response<Full<Bytes>> {
    let (status, body) = match path {
        "/metrics" => (StatusCode::OK, render(source).await),
        _ => (
            StatusCode::NOT_FOUND,
            "not found: try /metrics\n".to_string(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = "text/plain; version=0.0.4; charset=utf-8".parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// A label value with `\`, `"` and newlines escaped, as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

/// The metrics page.
pub async fn render(source: &Source) -> String {
    // First: it brings a shared crawl's counters up to now (a bounded wait).
    let beats = source.frontier.heartbeats(&source.worker).await;
    let mut out = String::with_capacity(4096);
    process_metrics(&mut out, source);
    crawl_metrics(&mut out, source, beats);
    out
}

/// This process's counters, labelled with its worker name.
fn process_metrics(out: &mut String, source: &Source) {
    use std::sync::atomic::Ordering::Relaxed;
    let s = &source.stats;
    let w = format!("{{worker=\"{}\"}}", label(&source.worker));
    let one = |v: u64| vec![(w.clone(), v as f64)];
    metric(
        out,
        "trawl_pages_total",
        "counter",
        "URLs attempted and recorded by this process.",
        &one(s.records.load(Relaxed)),
    );
    metric(
        out,
        "trawl_pages_ok_total",
        "counter",
        "Recorded URLs that answered 2xx.",
        &one(s.ok.load(Relaxed)),
    );
    let summary = s.summary(source.frontier.gauges());
    let errors: Vec<(String, f64)> = ErrorKind::ALL
        .iter()
        .map(|k| {
            let n = summary.failures.get(k.name()).copied().unwrap_or(0);
            (
                format!(
                    "{{worker=\"{}\",kind=\"{}\"}}",
                    label(&source.worker),
                    k.name()
                ),
                n as f64,
            )
        })
        .collect();
    metric(
        out,
        "trawl_errors_total",
        "counter",
        "Recorded URLs that failed, by error kind.",
        &errors,
    );
    metric(
        out,
        "trawl_bytes_total",
        "counter",
        "Body bytes received.",
        &one(s.bytes.load(Relaxed)),
    );
    metric(
        out,
        "trawl_retries_total",
        "counter",
        "Fetch attempts that will be retried.",
        &one(s.retries.load(Relaxed)),
    );
}

/// The frontier's gauges (the whole fleet's in a shared crawl) and every live
/// process's heartbeat.
fn crawl_metrics(out: &mut String, source: &Source, beats: Vec<(String, f64)>) {
    let g = source.frontier.gauges();
    metric(
        out,
        "trawl_queue_depth",
        "gauge",
        "URLs queued in the frontier (the whole fleet's in a shared crawl).",
        &[(String::new(), g.queued as f64)],
    );
    metric(
        out,
        "trawl_in_flight",
        "gauge",
        "URLs leased and not yet finished (the whole fleet's in a shared crawl).",
        &[(String::new(), g.in_flight as f64)],
    );
    metric(
        out,
        "trawl_hosts",
        "gauge",
        "Distinct hosts seen by the frontier.",
        &[(String::new(), g.hosts as f64)],
    );
    let beats: Vec<(String, f64)> = beats
        .into_iter()
        .map(|(name, at)| (format!("{{worker=\"{}\"}}", label(&name)), at))
        .collect();
    metric(
        out,
        "trawl_worker_heartbeat_timestamp_seconds",
        "gauge",
        "Unix time of each live process's last heartbeat.",
        &beats,
    );
}
