//! One page rendered in one tab: open, answer every request the page makes (its
//! document with trawl's body; the rest refused or fetched by trawl), wait by the
//! wait rule within the deadline, read the DOM, close. Everything here is bounded:
//! the time (the deadline, then a short grace to read the DOM of a page that did
//! not settle), the requests one page may make, those in flight at once, and the
//! DOM read back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::fetch::{
    EventRequestPaused, FailRequestParams, FulfillRequestParams, HeaderEntry,
};
use chromiumoxide::cdp::browser_protocol::inspector::EventTargetCrashed;
use chromiumoxide::cdp::browser_protocol::network::{
    ErrorReason, EventWebSocketCreated, ResourceType,
};
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, EventJavascriptDialogOpening,
    HandleJavaScriptDialogParams, NavigateParams,
};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::{Browser, Page};
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use tokio::time::Instant;
use url::Url;

use super::{Job, RenderError, Settings};
use crate::config::WaitRule;
use crate::fetch::SubRequest;
use crate::stats::ErrorKind;

/// Requests one page may make; later ones are refused (a page fetching in a loop).
const MAX_REQUESTS_PER_PAGE: u64 = 1000;
/// Requests of one page fetched at once (a browser allows six per host).
const MAX_IN_FLIGHT: usize = 16;
/// Network idle: no request in flight for this long.
const QUIET: Duration = Duration::from_millis(500);
/// How often the wait rule is checked.
const POLL: Duration = Duration::from_millis(50);
/// Time a page gets to hand over its DOM once its deadline has passed.
const READ_GRACE: Duration = Duration::from_secs(3);
/// URLs a page's pushState/replaceState calls and navigations are kept for.
const MAX_PUSHED: usize = 1000;

/// What a render gives back.
#[derive(Debug, Default)]
pub struct Rendered {
    /// The DOM serialised (doctype included), cut at `max_body` bytes.
    pub html: String,
    /// Where the page ended (`location.href` after pushState), when not its URL.
    pub location: Option<String>,
    /// URLs the page moved to without loading them: `history.pushState` and
    /// `replaceState`, and navigations it tried (refused: the tab stays).
    pub pushed: Vec<String>,
    /// The wait rule was not met by the deadline: the DOM was read as it stood.
    pub waited_out: bool,
}

/// Set in every document before its scripts run: remembers the URLs of
/// `history.pushState`/`replaceState` (an app's own navigations) for the crawl.
const INIT_SCRIPT: &str = r#"(() => {
  const seen = [];
  const keep = (u) => {
    try { if (u !== undefined && u !== null && seen.length < 1000) seen.push(String(new URL(String(u), location.href))); } catch (e) {}
  };
  for (const name of ['pushState', 'replaceState']) {
    const original = history[name];
    history[name] = function (state, title, url) { keep(url); return original.apply(this, arguments); };
  }
  Object.defineProperty(window, '__trawl_pushed', { value: seen, enumerable: false });
})();"#;

/// Read once the page is ready: the serialised DOM, where it is, where it went.
const READ_SCRIPT: &str = r#"JSON.stringify({
  html: (document.doctype ? new XMLSerializer().serializeToString(document.doctype) + '\n' : '') +
        (document.documentElement ? document.documentElement.outerHTML : ''),
  href: String(location.href),
  pushed: Array.isArray(window.__trawl_pushed) ? window.__trawl_pushed.slice(0, 1000).map(String) : []
})"#;

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
    async fn wait(&self, host: &str, interval: Option<Duration>) {
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
    fn fetched(&self, host: &str, interval: Option<Duration>) {
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
struct Traffic {
    in_flight: AtomicUsize,
    /// Milliseconds since `start` of the last request's start or end.
    last: AtomicU64,
    start: Instant,
    made: AtomicU64,
    document_served: AtomicBool,
    navigations: Mutex<Vec<String>>,
}

impl Traffic {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
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

/// Renders `job` in a new tab of `browser`.
pub(super) async fn render(
    browser: &Browser,
    settings: &Settings,
    pacer: &Pacer,
    job: &Job<'_>,
    gone: tokio::sync::watch::Receiver<bool>,
) -> Result<Rendered, RenderError> {
    let opened = tokio::time::timeout(settings.timeout, browser.new_page("about:blank")).await;
    let page = match opened {
        Ok(Ok(page)) => page,
        Ok(Err(e)) => return Err(RenderError::Browser(format!("no new tab: {e}"))),
        Err(_) => return Err(RenderError::Browser("no new tab in time".into())),
    };
    let out = in_tab(&page, settings, pacer, job, gone).await;
    if matches!(out, Err(RenderError::Died)) {
        return out;
    }
    // A hung tab is closed too: the browser ends its renderer.
    let closed = tokio::time::timeout(super::CLOSE_TIMEOUT, page.close()).await;
    match (out, closed) {
        (Ok(r), Ok(Ok(()))) => Ok(r),
        (Ok(_), _) => Err(RenderError::Browser("the tab could not be closed".into())),
        (Err(e), _) => Err(e),
    }
}

async fn in_tab(
    page: &Page,
    settings: &Settings,
    pacer: &Pacer,
    job: &Job<'_>,
    gone: tokio::sync::watch::Receiver<bool>,
) -> Result<Rendered, RenderError> {
    let cdp = |e: chromiumoxide::error::CdpError| RenderError::Browser(e.to_string());
    let mut paused = page
        .event_listener::<EventRequestPaused>()
        .await
        .map_err(cdp)?;
    let mut dialogs = page
        .event_listener::<EventJavascriptDialogOpening>()
        .await
        .map_err(cdp)?;
    let mut crashed = page
        .event_listener::<EventTargetCrashed>()
        .await
        .map_err(cdp)?;
    // WebSockets are not paused with other requests: the browser's only way out is
    // the proxy that does not exist (see `browser_args`), so each fails; counted.
    let mut sockets = page
        .event_listener::<EventWebSocketCreated>()
        .await
        .map_err(cdp)?;
    page.execute(AddScriptToEvaluateOnNewDocumentParams::new(INIT_SCRIPT))
        .await
        .map_err(cdp)?;
    let traffic = Traffic {
        in_flight: AtomicUsize::new(0),
        last: AtomicU64::new(0),
        start: Instant::now(),
        made: AtomicU64::new(0),
        document_served: AtomicBool::new(false),
        navigations: Mutex::new(Vec::new()),
    };
    if let Some(host) = job.url.host_str() {
        pacer.fetched(host, (job.interval)(job.url));
    }
    let deadline = Instant::now() + settings.timeout;
    let drive = drive(page, settings, job, &traffic, deadline);
    // The browser may die under the page (killed, or crashed): noticed at once.
    let died = until_gone(gone);
    tokio::pin!(died);
    tokio::pin!(drive);
    let mut work = FuturesUnordered::new();
    loop {
        tokio::select! {
            result = &mut drive => {
                let mut rendered = result?;
                if let Ok(mut moved) = traffic.navigations.lock() {
                    rendered.pushed.append(&mut moved);
                }
                rendered.pushed.truncate(MAX_PUSHED);
                return Ok(rendered);
            }
            Some(event) = paused.next(), if work.len() < MAX_IN_FLIGHT => {
                traffic.in_flight.fetch_add(1, Ordering::Relaxed);
                traffic.touch();
                work.push(answer(page, settings, pacer, job, &traffic, event));
            }
            Some(()) = work.next(), if !work.is_empty() => {}
            Some(dialog) = dialogs.next() => {
                // alert(), confirm(), prompt() would block the page's scripts.
                let _ = dialog;
                let _ = page.execute(HandleJavaScriptDialogParams::new(false)).await;
            }
            Some(_) = crashed.next() => return Err(RenderError::Crashed),
            () = &mut died => return Err(RenderError::Died),
            Some(socket) = sockets.next() => {
                tracing::debug!(url = %socket.url, "a rendered page's WebSocket refused");
                job.counts.blocked_other.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Resolves once the browser's connection has ended.
async fn until_gone(mut gone: tokio::sync::watch::Receiver<bool>) {
    // The borrowed value is dropped at once: nothing is held across an await.
    let _ = gone.wait_for(|g| *g).await.map(|_| ());
}

/// Navigates, waits by the rule, and reads the DOM.
async fn drive(
    page: &Page,
    settings: &Settings,
    job: &Job<'_>,
    traffic: &Traffic,
    deadline: Instant,
) -> Result<Rendered, RenderError> {
    let navigate = page.goto(NavigateParams::new(job.url.as_str()));
    let loaded = matches!(tokio::time::timeout_at(deadline, navigate).await, Ok(Ok(_)));
    let mut waited_out = !loaded;
    if loaded {
        waited_out = match &settings.wait {
            WaitRule::Load => false,
            WaitRule::Idle => {
                !until(deadline, || async {
                    traffic.in_flight.load(Ordering::Relaxed) == 0 && traffic.quiet_for() >= QUIET
                })
                .await
            }
            WaitRule::Selector(css) => {
                let probe = format!(
                    "document.querySelector({}) !== null",
                    serde_json::Value::String(css.clone())
                );
                !until(deadline, || async {
                    let ask = EvaluateParams::builder()
                        .expression(probe.clone())
                        .return_by_value(true)
                        .build();
                    let Ok(ask) = ask else { return false };
                    let asked =
                        tokio::time::timeout(Duration::from_secs(1), page.evaluate_expression(ask))
                            .await;
                    match asked {
                        Ok(Ok(r)) => r.into_value::<bool>().unwrap_or(false),
                        _ => false,
                    }
                })
                .await
            }
        };
    }
    // Read what the page holds now; a page that cannot answer within the grace is
    // hung (a script that never yields).
    let read_by = Instant::now().max(deadline) + READ_GRACE;
    let ask = EvaluateParams::builder()
        .expression(READ_SCRIPT)
        .return_by_value(true)
        .build()
        .map_err(RenderError::Browser)?;
    let read = match tokio::time::timeout_at(read_by, page.evaluate_expression(ask)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(RenderError::Browser(e.to_string())),
        Err(_) => return Err(RenderError::Hung(traffic.start.elapsed().as_secs())),
    };
    let text: String = read
        .into_value()
        .map_err(|e| RenderError::Browser(format!("the DOM could not be read: {e}")))?;
    let mut rendered = read_dom(&text, job.url, settings.max_body)
        .ok_or_else(|| RenderError::Browser("the DOM came back unreadable".into()))?;
    rendered.waited_out = waited_out;
    Ok(rendered)
}

/// Checks `ready` every [`POLL`] until it holds (true) or the deadline passes (false).
async fn until<F, Fut>(deadline: Instant, ready: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if ready().await {
            return true;
        }
        if Instant::now() + POLL >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The read script's answer, bounded: the DOM cut at `max_body` bytes (on a
/// character boundary), at most [`MAX_PUSHED`] URLs.
fn read_dom(text: &str, url: &Url, max_body: u64) -> Option<Rendered> {
    #[derive(serde::Deserialize)]
    struct Dom {
        html: String,
        href: String,
        pushed: Vec<String>,
    }
    let mut dom: Dom = serde_json::from_str(text).ok()?;
    let cap = usize::try_from(max_body).unwrap_or(usize::MAX);
    if dom.html.len() > cap {
        let mut end = cap;
        while !dom.html.is_char_boundary(end) {
            end -= 1;
        }
        dom.html.truncate(end);
    }
    dom.pushed.truncate(MAX_PUSHED);
    let location = (dom.href != url.as_str()).then_some(dom.href);
    Some(Rendered {
        html: dom.html,
        location,
        pushed: dom.pushed,
        waited_out: false,
    })
}

/// Answers one paused request: trawl's document, a refusal, or trawl's fetch.
async fn answer(
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
    fn the_dom_read_back_is_bounded() {
        let page = url("http://a.test/");
        let text = serde_json::json!({
            "html": "é".repeat(100),
            "href": "http://a.test/next",
            "pushed": (0..2000).map(|i| format!("http://a.test/{i}")).collect::<Vec<_>>(),
        })
        .to_string();
        let r = read_dom(&text, &page, 51).unwrap();
        assert_eq!(r.html.len(), 50, "cut on a character boundary");
        assert_eq!(r.pushed.len(), MAX_PUSHED);
        assert_eq!(r.location.as_deref(), Some("http://a.test/next"));
        let same = serde_json::json!({"html": "", "href": "http://a.test/", "pushed": []});
        assert_eq!(
            read_dom(&same.to_string(), &page, 10).unwrap().location,
            None
        );
        assert!(read_dom("not json", &page, 10).is_none());
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
