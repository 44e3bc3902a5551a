//! The requests a rendered page makes, each answered by trawl: the page's own
//! document with the body trawl fetched, a refusal (a blocked type, another scheme,
//! a navigation away, robots.txt, a page over its budget), or trawl's own fetch
//! through the address guard and the rest of `fetch`, spaced per host by the
//! [`Pacer`]. Nothing here talks to the network but through [`crate::fetch`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::fetch::{
    EventRequestPaused, FailRequestParams, FulfillRequestParams, HeaderEntry,
};
use chromiumoxide::cdp::browser_protocol::network::{ErrorReason, ResourceType};
use chromiumoxide::Page;
use tokio::time::Instant;
use url::Url;

use super::tab::MAX_PUSHED;
use super::{Job, Settings};
use crate::fetch::SubRequest;
use crate::stats::ErrorKind;

/// Requests one page may make; later ones are refused (a page fetching in a loop).
const MAX_REQUESTS_PER_PAGE: u64 = 1000;
/// Spaces the requests rendered pages make to each host by the host's interval,
/// across all tabs of the process: the page's own fetch took the host's slot, so
/// its first request waits one interval after it.
#[derive(Default)]
pub(super) struct Pacer {
    next: Mutex<HashMap<String, Instant>>,
}

/// Hosts remembered by the pacer before the ones whose slot has passed are dropped.
const PACER_HOSTS: usize = 10_000;

impl Pacer {
    /// Takes the next slot for `host` (spaced by `interval`) and waits for it.
    pub(super) async fn wait(&self, host: &str, interval: Option<Duration>) {
        let Some(interval) = interval.filter(|i| !i.is_zero()) else {
            return;
        };
        let at = {
            let Ok(mut next) = self.next.lock() else {
                return;
            };
            let now = Instant::now();
            if next.len() >= PACER_HOSTS {
                next.retain(|_, t| *t > now);
            }
            let slot = next.entry(host.to_string()).or_insert(now);
            let at = (*slot).max(now);
            *slot = at + interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// How long until `host`'s next slot, if it is in the future.
    pub(super) fn wait_for(&self, host: &str) -> Option<Duration> {
        let next = self.next.lock().ok()?;
        let at = *next.get(host)?;
        let left = at.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// The page itself was just fetched from `host`: its next slot is one interval on.
    pub(super) fn fetched(&self, host: &str, interval: Option<Duration>) {
        let Some(interval) = interval.filter(|i| !i.is_zero()) else {
            return;
        };
        if let Ok(mut next) = self.next.lock() {
            let now = Instant::now();
            let slot = next.entry(host.to_string()).or_insert(now);
            *slot = (*slot).max(now + interval);
        }
    }
}

/// What one tab's requests have done so far (read by the wait rule).
pub(super) struct Traffic {
    pub(super) in_flight: AtomicUsize,
    /// Milliseconds since `start` of the last request's start or end.
    pub(super) last: AtomicU64,
    pub(super) start: Instant,
    pub(super) made: AtomicU64,
    pub(super) document_served: AtomicBool,
    pub(super) navigations: Mutex<Vec<String>>,
}

impl Traffic {
    pub(super) fn new() -> Traffic {
        Traffic {
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            start: Instant::now(),
            made: AtomicU64::new(0),
            document_served: AtomicBool::new(false),
            navigations: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }

    pub(super) fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// What to do with one paused request.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// The page's own document: answered with trawl's body.
    Document,
    /// Refused, and why (a stats counter).
    Refuse(Refused),
    /// Fetched by trawl.
    Fetch(Url),
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum Refused {
    /// A resource type in `render_block`.
    Type,
    /// Not http(s), a navigation away from the page, or over the page's budget.
    Other,
}

/// The decision for one request, from what the browser says of it.
fn decide(
    raw_url: &str,
    kind: &ResourceType,
    page: &Url,
    main_frame: bool,
    document_served: bool,
    block: &[String],
    made: u64,
) -> Verdict {
    let Ok(url) = Url::parse(raw_url) else {
        return Verdict::Refuse(Refused::Other);
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Verdict::Refuse(Refused::Other);
    }
    if *kind == ResourceType::Document && main_frame {
        let mut bare = url.clone();
        bare.set_fragment(None);
        let mut own = page.clone();
        own.set_fragment(None);
        return match !document_served && bare == own {
            true => Verdict::Document,
            // The page navigating away (location.href = ...): the tab stays; the
            // URL is kept as a link.
            false => Verdict::Refuse(Refused::Other),
        };
    }
    if block.iter().any(|b| b == type_name(kind)) {
        return Verdict::Refuse(Refused::Type);
    }
    if *kind == ResourceType::WebSocket || made >= MAX_REQUESTS_PER_PAGE {
        return Verdict::Refuse(Refused::Other);
    }
    Verdict::Fetch(url)
}

/// `render_block`'s name of a resource type.
fn type_name(kind: &ResourceType) -> &'static str {
    match kind {
        ResourceType::Image => "image",
        ResourceType::Media => "media",
        ResourceType::Font => "font",
        ResourceType::Stylesheet => "stylesheet",
        ResourceType::TextTrack => "texttrack",
        ResourceType::Manifest => "manifest",
        ResourceType::Ping | ResourceType::CspViolationReport => "ping",
        ResourceType::Document => "document",
        ResourceType::Script => "script",
        ResourceType::Xhr => "xhr",
        ResourceType::Fetch | ResourceType::EventSource | ResourceType::Preflight => "fetch",
        ResourceType::WebSocket => "websocket",
        _ => "other",
    }
}

/// Answers one paused request: trawl's document, a refusal, or trawl's fetch.
pub(super) async fn answer(
    page: &Page,
    settings: &Settings,
    pacer: &Pacer,
    job: &Job<'_>,
    traffic: &Traffic,
    event: std::sync::Arc<EventRequestPaused>,
) {
    let id = event.request_id.clone();
    let main_frame = page
        .mainframe()
        .await
        .ok()
        .flatten()
        .is_none_or(|f| f == event.frame_id);
    let made = traffic.made.fetch_add(1, Ordering::Relaxed);
    let verdict = decide(
        &event.request.url,
        &event.resource_type,
        job.url,
        main_frame,
        traffic.document_served.load(Ordering::Relaxed),
        &settings.block,
        made,
    );
    let counts = job.counts;
    let reply = match verdict {
        Verdict::Document => {
            traffic.document_served.store(true, Ordering::Relaxed);
            // Decoded as the plain parse decodes it (header, BOM, meta, detection)
            // and handed over as UTF-8, so the browser cannot guess otherwise.
            let text = crate::fetch::charset::decode_html(job.body, job.content_type);
            let headers = vec![HeaderEntry::new("content-type", "text/html; charset=utf-8")];
            fulfil(page, id, job.status, headers, text.as_bytes()).await
        }
        Verdict::Refuse(why) => {
            match why {
                Refused::Type => counts.blocked_type.fetch_add(1, Ordering::Relaxed),
                Refused::Other => counts.blocked_other.fetch_add(1, Ordering::Relaxed),
            };
            if why == Refused::Other && event.resource_type == ResourceType::Document && main_frame
            {
                if let Ok(mut seen) = traffic.navigations.lock() {
                    if seen.len() < MAX_PUSHED {
                        seen.push(event.request.url.clone());
                    }
                }
                // A navigation answered 204 No Content is abandoned and the page
                // stays as it is (HTML's navigate algorithm), where a refusal would
                // replace it with an error page.
                fulfil(page, id, 204, Vec::new(), b"").await
            } else {
                fail(page, id, ErrorReason::BlockedByClient).await
            }
        }
        Verdict::Fetch(url) if !(job.allowed)(url.clone()).await => {
            counts.blocked_robots.fetch_add(1, Ordering::Relaxed);
            fail(page, id, ErrorReason::BlockedByClient).await
        }
        Verdict::Fetch(url) => {
            let sub = sub_request(&event);
            if let Some(host) = url.host_str() {
                pacer.wait(host, (job.interval)(&url)).await;
            }
            match job.fetcher.forward(&url, &sub).await {
                Ok(resp) => {
                    counts.requests.fetch_add(1, Ordering::Relaxed);
                    let headers = resp
                        .wire
                        .as_ref()
                        .map(|w| passed_headers(&w.headers))
                        .unwrap_or_default();
                    fulfil(page, id, resp.status, headers, &resp.body).await
                }
                Err(e) => {
                    let reason = match e.kind {
                        ErrorKind::Blocked => {
                            counts.blocked_address.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%url, "a rendered page's request refused: {e}");
                            ErrorReason::AddressUnreachable
                        }
                        _ => {
                            counts.request_errors.fetch_add(1, Ordering::Relaxed);
                            ErrorReason::Failed
                        }
                    };
                    fail(page, id, reason).await
                }
            }
        }
    };
    if let Err(e) = reply {
        tracing::debug!("a paused request could not be answered: {e}");
    }
    traffic.in_flight.fetch_sub(1, Ordering::Relaxed);
    traffic.touch();
}

/// The browser's method and body, and its Content-Type (nothing else of its
/// headers: trawl's own go with every request).
fn sub_request(event: &EventRequestPaused) -> SubRequest {
    let method = reqwest::Method::from_bytes(event.request.method.as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let body = event.request.post_data_entries.as_ref().map(|entries| {
        entries
            .iter()
            .filter_map(|e| e.bytes.as_ref())
            .filter_map(|b| {
                let text: &str = b.as_ref();
                data_encoding::BASE64.decode(text.as_bytes()).ok()
            })
            .flatten()
            .collect::<Vec<u8>>()
    });
    let content_type = event
        .request
        .headers
        .inner()
        .as_object()
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .and_then(|(_, v)| v.as_str())
        })
        .and_then(|v| reqwest::header::HeaderValue::from_str(v).ok());
    SubRequest {
        method,
        body,
        content_type,
    }
}

/// Response headers handed to the browser: not those about the transfer (the body
/// it gets is decoded and whole).
fn passed_headers(headers: &[(String, Vec<u8>)]) -> Vec<HeaderEntry> {
    const DROPPED: [&str; 6] = [
        "content-encoding",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "trailer",
    ];
    headers
        .iter()
        .filter(|(name, _)| !DROPPED.contains(&name.to_ascii_lowercase().as_str()))
        .take(100)
        .map(|(name, value)| HeaderEntry::new(name.clone(), String::from_utf8_lossy(value)))
        .collect()
}

async fn fulfil(
    page: &Page,
    id: chromiumoxide::cdp::browser_protocol::fetch::RequestId,
    status: u16,
    headers: Vec<HeaderEntry>,
    body: &[u8],
) -> Result<(), chromiumoxide::error::CdpError> {
    let mut params = FulfillRequestParams::new(id, i64::from(status));
    params.response_headers = Some(headers);
    params.body = Some(data_encoding::BASE64.encode(body).into());
    page.execute(params).await.map(|_| ())
}

async fn fail(
    page: &Page,
    id: chromiumoxide::cdp::browser_protocol::fetch::RequestId,
    reason: ErrorReason,
) -> Result<(), chromiumoxide::error::CdpError> {
    page.execute(FailRequestParams::new(id, reason))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> Url {
        Url::parse(u).unwrap()
    }

    #[test]
    fn each_request_is_answered_by_its_kind() {
        let page = url("http://a.test/app#top");
        let block = ["image".to_string(), "media".into(), "font".into()];
        let d = |u: &str, kind: ResourceType, main: bool, served: bool| {
            decide(u, &kind, &page, main, served, &block, 0)
        };
        assert_eq!(
            d("http://a.test/app", ResourceType::Document, true, false),
            Verdict::Document
        );
        // Once served, the main frame going elsewhere (or back) is refused.
        assert_eq!(
            d("http://a.test/app", ResourceType::Document, true, true),
            Verdict::Refuse(Refused::Other)
        );
        assert_eq!(
            d("http://a.test/other", ResourceType::Document, true, false),
            Verdict::Refuse(Refused::Other)
        );
        // A frame's document is fetched like any request.
        assert_eq!(
            d("http://b.test/frame", ResourceType::Document, false, true),
            Verdict::Fetch(url("http://b.test/frame"))
        );
        for kind in [ResourceType::Image, ResourceType::Media, ResourceType::Font] {
            assert_eq!(
                d("http://a.test/x", kind, true, true),
                Verdict::Refuse(Refused::Type)
            );
        }
        for kind in [ResourceType::Script, ResourceType::Xhr, ResourceType::Fetch] {
            assert_eq!(
                d("http://a.test/x", kind, true, true),
                Verdict::Fetch(url("http://a.test/x"))
            );
        }
        assert_eq!(
            d("ws://a.test/live", ResourceType::WebSocket, true, true),
            Verdict::Refuse(Refused::Other)
        );
        assert_eq!(
            d("file:///etc/passwd", ResourceType::Xhr, true, true),
            Verdict::Refuse(Refused::Other)
        );
        assert_eq!(
            d("not a url", ResourceType::Xhr, true, true),
            Verdict::Refuse(Refused::Other)
        );
        // A page over its budget of requests gets no more.
        assert_eq!(
            decide(
                "http://a.test/x",
                &ResourceType::Xhr,
                &page,
                true,
                true,
                &block,
                MAX_REQUESTS_PER_PAGE
            ),
            Verdict::Refuse(Refused::Other)
        );
    }

    #[test]
    fn transfer_headers_are_not_passed_on() {
        let h = |n: &str| (n.to_string(), b"v".to_vec());
        let kept = passed_headers(&[
            h("Content-Type"),
            h("Content-Encoding"),
            h("content-length"),
            h("access-control-allow-origin"),
        ]);
        let names: Vec<&str> = kept.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Content-Type", "access-control-allow-origin"]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spaces_a_hosts_requests_across_tabs() {
        let pacer = Pacer::default();
        let start = Instant::now();
        let gap = Some(Duration::from_secs(1));
        pacer.fetched("a.test", gap);
        pacer.wait("a.test", gap).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        pacer.wait("a.test", gap).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        // Another host, or no interval, does not wait.
        pacer.wait("b.test", gap).await;
        pacer.wait("a.test", None).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
