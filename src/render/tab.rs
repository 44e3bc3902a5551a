//! One page rendered in one tab: open, answer every request the page makes (in
//! `requests.rs`), wait by the wait rule within the deadline, read the DOM, close.
//! Everything here is bounded:
//! the time (the deadline, then a short grace to read the DOM of a page that did
//! not settle), the requests one page may make, those in flight at once, and the
//! DOM read back.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::fetch::EventRequestPaused;
use chromiumoxide::cdp::browser_protocol::inspector::EventTargetCrashed;
use chromiumoxide::cdp::browser_protocol::network::EventWebSocketCreated;
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

use super::requests::{answer, Pacer, Traffic};
use super::{Job, RenderError, Settings};
use crate::config::WaitRule;

/// Requests of one page fetched at once (a browser allows six per host).
const MAX_IN_FLIGHT: usize = 16;
/// Network idle: no request in flight for this long.
const QUIET: Duration = Duration::from_millis(500);
/// How often the wait rule is checked.
const POLL: Duration = Duration::from_millis(50);
/// Time a page gets to hand over its DOM once its deadline has passed.
const READ_GRACE: Duration = Duration::from_secs(3);
/// URLs a page's pushState/replaceState calls and navigations are kept for.
pub(super) const MAX_PUSHED: usize = 1000;

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
    let traffic = Traffic::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> Url {
        Url::parse(u).unwrap()
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
}
