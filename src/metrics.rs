//! Prometheus text metrics for a running crawl, at `http://ADDR/metrics`.
//!
//! Counters are this process's (a fleet is summed by Prometheus across its
//! processes, labelled by `worker`); queue depth, hosts and heartbeats are the
//! frontier's: the whole fleet's in a shared crawl. This module only reads
//! snapshots; it never changes the crawl, and a slow scraper never slows it.
//!
//! The port may be reachable by more than Prometheus, so a client can never hold
//! more than a bounded share of the file descriptors the crawl needs: at most
//! [`MAX_CONNECTIONS`] at once (when full, the oldest connection that is not inside
//! a request is closed to make room, so an idle crowd cannot lock a scraper out), a
//! request head must arrive within [`HEADER_TIMEOUT`] (idle keep-alive included),
//! and no connection lives longer than [`CONNECTION_LIFETIME`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
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

/// Connections served at once; one more closes the oldest idle one.
pub const MAX_CONNECTIONS: usize = 64;
/// Time a client has to send a whole request head, from its connection or from its
/// previous reply (a keep-alive connection idle longer is closed).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a connection is kept, whatever it does (a client that never reads
/// its reply included).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// One open connection, as the accept loop sees it.
#[derive(Default)]
struct Slot {
    /// Inside a request (head read, reply not yet handed to hyper): not evictable.
    busy: AtomicBool,
    /// Told to close (its place is given to a newer connection).
    close: Notify,
}

/// The open connections, oldest first (keys grow).
#[derive(Default)]
struct Slots {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Slot>>>,
}

impl Slots {
    /// A place for a new connection: free, or taken from the oldest idle one.
    /// None when every place is inside a request.
    fn admit(self: &Arc<Self>) -> Option<SlotGuard> {
        let mut open = self.open.lock().ok()?;
        if open.len() >= MAX_CONNECTIONS {
            let oldest_idle = open
                .iter()
                .find(|(_, s)| !s.busy.load(Ordering::Acquire))
                .map(|(k, _)| *k)?;
            if let Some(evicted) = open.remove(&oldest_idle) {
                evicted.close.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        open.insert(id, slot.clone());
        Some(SlotGuard {
            slots: self.clone(),
            id,
            slot,
        })
    }
}

/// Frees its place however the connection's task ends.
struct SlotGuard {
    slots: Arc<Slots>,
    id: u64,
    slot: Arc<Slot>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Ok(mut open) = self.slots.open.lock() {
            open.remove(&self.id);
        }
    }
}

/// Serves metrics on `listener` until the returned task is aborted.
pub fn serve(listener: TcpListener, source: Source) -> JoinHandle<()> {
    let source = Arc::new(source);
    let slots = Arc::new(Slots::default());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // No place: dropping the stream closes it at once.
            if let Some(guard) = slots.admit() {
                tokio::spawn(connection(stream, guard, source.clone()));
            }
        }
    })
}

/// Serves one connection within its limits.
async fn connection(stream: TcpStream, guard: SlotGuard, source: Arc<Source>) {
    let slot = guard.slot.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let source = source.clone();
        let slot = slot.clone();
        async move {
            slot.busy.store(true, Ordering::Release);
            let reply = respond(req.uri().path(), &source).await;
            slot.busy.store(false, Ordering::Release);
            Ok::<_, Infallible>(reply)
        }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(16 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    // Leaving the select drops the connection, which closes the socket.
    tokio::select! {
        _ = served => {}
        _ = guard.slot.close.notified() => {}
        _ = tokio::time::sleep(CONNECTION_LIFETIME) => {}
    }
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
