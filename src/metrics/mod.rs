//! The metrics endpoint of a running crawl: Prometheus text at
//! `http://ADDR/metrics` (see `exposition` for what it says) and a live status page
//! at `http://ADDR/` (`status.html`: one self-contained file that reads `/metrics`,
//! so the page and Prometheus always see the same numbers).
//!
//! Counters are this process's (a fleet is summed by Prometheus across its
//! processes, labelled by `worker`); queue depth, hosts and heartbeats are the
//! frontier's: the whole fleet's in a shared crawl. This module only reads
//! snapshots; it never changes the crawl, and a slow scraper never slows it.
//! After the crawl the endpoint may stay up (`metrics_linger`) so that the last
//! scrape sees the finished counts.
//!
//! The port may be reachable by more than Prometheus, so a client can never hold
//! more than a bounded share of the file descriptors the crawl needs: at most
//! [`MAX_CONNECTIONS`] at once (when full, the oldest connection that is not inside
//! a request is closed to make room, so an idle crowd cannot lock a scraper out), a
//! request head must arrive within [`HEADER_TIMEOUT`] (idle keep-alive included),
//! and no connection lives longer than [`CONNECTION_LIFETIME`].

mod exposition;
pub mod process;

use std::collections::BTreeMap;
use std::convert::Infallible;
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
use crate::stats::Stats;

/// What the metrics are read from.
pub struct Source {
    pub stats: Arc<Stats>,
    pub frontier: Arc<Frontier>,
    /// This process's name in the frontier (whose heartbeat is its own).
    pub worker: String,
    /// This process's `worker` label: its configured id, or its host name, never
    /// a process id, so a restarted process continues its series.
    pub label: String,
}

/// The status page: one file, no external scripts, styles or fonts.
const STATUS_PAGE: &str = include_str!("status.html");

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
    let (status, kind, body) = match path {
        "/metrics" => (
            StatusCode::OK,
            exposition::CONTENT_TYPE,
            render(source).await,
        ),
        "/" | "/index.html" => (
            StatusCode::OK,
            "text/html; charset=utf-8",
            STATUS_PAGE.to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /metrics or /\n".to_string(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = kind.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    // The page's script may only talk to this origin; nothing is cached.
    for (name, value) in [
        (
            hyper::header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
        ),
        (hyper::header::CACHE_CONTROL, "no-store"),
        (hyper::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        if let Ok(v) = value.parse() {
            r.headers_mut().insert(name, v);
        }
    }
    r
}

/// The metrics page: the frontier's numbers brought up to now first (a shared
/// crawl's counters come from Redis, a bounded wait), then encoded.
pub async fn render(source: &Source) -> String {
    let beats = source.frontier.heartbeats(&source.worker).await;
    exposition::encode(&exposition::Snapshot {
        stats: &source.stats,
        gauges: source.frontier.gauges(),
        beats,
        worker: &source.label,
    })
}
