//! Rendering script-built pages in headless Chromium (`--render auto|always`), so
//! their links and text come from the DOM scripts built. The browser is driven over
//! the DevTools protocol (chromiumoxide); this module owns its process: found at
//! start (a missing browser is one error then, not one per page), restarted when it
//! dies, replaced after `render_recycle` pages so its memory stays bounded, and
//! closed at the end. A bounded pool of tabs (`render_concurrency`) renders pages;
//! one tab's render is `tab.rs`, the requests it makes `requests.rs`.
//!
//! Every request a rendered page makes is trawl's request: the browser fetches
//! nothing itself. The page's own document is answered with the body trawl already
//! fetched (it passed scope, robots, traps and politeness as a plain fetch), and
//! each other request is paused by the browser (the Fetch domain, every URL) and
//! either refused or fetched by trawl's [`Fetcher`] (the address guard, headers,
//! credentials, proxy, deadline, body cap) and handed back. As a second wall, the
//! browser is started with a proxy that does not exist and a resolver that resolves
//! nothing, so a request that somehow escaped interception fails inside the
//! machine instead of reaching the network.
//!
//! This module never admits URLs or writes records: it returns what it rendered.

mod requests;
pub mod signal;
mod tab;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use futures_util::StreamExt;
use tokio::sync::{RwLock, Semaphore};
use url::Url;

use crate::config::{Config, RenderMode, WaitRule};
use crate::fetch::Fetcher;
use crate::stats::RenderCounts;
pub use tab::Rendered;

/// Browsers looked for on the PATH, in order, when `--browser` is not given.
pub const BROWSERS: [&str; 5] = [
    "chromium-headless-shell",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "chrome",
];

/// Time a browser gets to start and to close.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// After a launch failed, the time before the next try.
const RELAUNCH_AFTER: Duration = Duration::from_secs(30);

/// Why a page could not be rendered, or rendering could not start.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no browser to render with: none of {} is on the PATH (install chromium-headless-shell or chromium, or give --browser PATH)", BROWSERS.join(", "))]
    NoBrowser,
    #[error("the browser {path} is not an executable file")]
    NotExecutable { path: PathBuf },
    #[error("the browser {path} did not start: {message}")]
    Launch { path: PathBuf, message: String },
    #[error("the page did not answer after {0} s (a script that never yields, or a hung tab); the tab was closed")]
    Hung(u64),
    #[error("the tab crashed")]
    Crashed,
    #[error("the browser died while the page was rendered; it is started again for the next page")]
    Died,
    #[error("the browser failed: {0}")]
    Browser(String),
}

/// What the crawl asked of rendering, checked.
#[derive(Debug, Clone)]
struct Settings {
    executable: PathBuf,
    concurrency: usize,
    timeout: Duration,
    wait: WaitRule,
    recycle: u64,
    block: Vec<String>,
    max_body: u64,
    user_agent: String,
}

/// A running browser: its process, the task reading its DevTools socket, and how
/// many pages it has rendered.
struct Live {
    browser: Browser,
    events: tokio::task::JoinHandle<()>,
    /// True once the DevTools connection ended (the browser died): pages in
    /// flight stop at once instead of waiting out their deadline.
    gone: tokio::sync::watch::Sender<bool>,
    rendered: AtomicU64,
    /// Set when a command to it failed: it is replaced before the next page.
    broken: AtomicBool,
    profile: PathBuf,
}

impl Live {
    fn usable(&self, recycle: u64) -> bool {
        !self.events.is_finished()
            && !*self.gone.borrow()
            && !self.broken.load(Ordering::Relaxed)
            && (recycle == 0 || self.rendered.load(Ordering::Relaxed) < recycle)
    }
}

/// The crawl's browser and its tabs.
pub struct Renderer {
    settings: Settings,
    tabs: Semaphore,
    /// Renders hold it shared; replacing the browser takes it alone, after the
    /// renders in flight have finished with the old one.
    live: RwLock<Option<Live>>,
    launches: AtomicU64,
    /// The browser's own sandbox works here (false once it could not start).
    sandbox: AtomicBool,
    /// The last launch that failed, and why: pages wait [`RELAUNCH_AFTER`] before
    /// another try (each meanwhile fails with the same error).
    failed_launch: std::sync::Mutex<Option<(std::time::Instant, String)>>,
    /// Per-host spacing of the pages' requests (see `requests::Pacer`).
    pacer: requests::Pacer,
}

/// One page to render: what trawl fetched, and what it fetches the page's own
/// requests with.
pub struct Job<'a> {
    pub url: &'a Url,
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    pub fetcher: &'a Fetcher,
    /// The spacing between requests to a host (its politeness), if any.
    pub interval: &'a (dyn Fn(&Url) -> Option<Duration> + Sync),
    /// Whether robots.txt lets trawl fetch a URL the page asks for.
    pub allowed: &'a (dyn Fn(Url) -> futures_util::future::BoxFuture<'a, bool> + Sync),
    pub counts: &'a RenderCounts,
}

impl Renderer {
    /// Whether this crawl renders anything (the crawl's mode or a `[[hosts]]` table's).
    pub fn wanted(config: &Config) -> bool {
        config.render.render != RenderMode::Never
            || config
                .fetch
                .hosts
                .iter()
                .any(|h| h.render.is_some_and(|m| m != RenderMode::Never))
    }

    /// Finds the browser (a missing one is one error at start) and, when every
    /// page is to be rendered (`render = "always"`), starts it, so that a browser
    /// that cannot run is one error at start too. Otherwise (`auto`, or only some
    /// hosts' tables) it starts when the first page needs it: a crawl of pages
    /// that never look script-built pays nothing for it.
    pub async fn start(config: &Config) -> Result<Renderer, RenderError> {
        let executable = match &config.render.browser {
            Some(path) => executable(path)?,
            None => find_on_path().ok_or(RenderError::NoBrowser)?,
        };
        let r = &config.render;
        let renderer = Renderer {
            settings: Settings {
                executable,
                concurrency: r.render_concurrency,
                timeout: Duration::from_secs_f64(r.render_timeout),
                wait: r.render_wait.clone(),
                recycle: r.render_recycle,
                block: r.render_block.clone(),
                max_body: config.fetch.max_body,
                user_agent: config.fetch.user_agent.clone(),
            },
            tabs: Semaphore::new(r.render_concurrency),
            live: RwLock::new(None),
            launches: AtomicU64::new(0),
            sandbox: AtomicBool::new(true),
            failed_launch: std::sync::Mutex::new(None),
            pacer: requests::Pacer::default(),
        };
        if config.render.render == RenderMode::Always {
            let live = renderer.launch().await?;
            *renderer.live.write().await = Some(live);
        }
        Ok(renderer)
    }

    /// How long until the next request to `url`'s host is due, given the requests
    /// rendered pages made to it (the frontier is told, so that the host's next
    /// page waits for it too).
    pub fn host_busy_for(&self, url: &Url) -> Option<Duration> {
        self.pacer.wait_for(url.host_str()?)
    }

    /// Tabs open at once.
    pub fn concurrency(&self) -> usize {
        self.settings.concurrency
    }

    /// Renders one page within `render_timeout`. A page that hangs or crashes is
    /// an error for that page only; a browser that died is started again for the
    /// next one.
    pub async fn render(&self, job: &Job<'_>) -> Result<Rendered, RenderError> {
        let _tab = self
            .tabs
            .acquire()
            .await
            .map_err(|_| RenderError::Browser("the renderer is closed".into()))?;
        let live = self.browser(job.counts).await?;
        live.rendered.fetch_add(1, Ordering::Relaxed);
        let gone = live.gone.subscribe();
        let out = tab::render(&live.browser, &self.settings, &self.pacer, job, gone).await;
        match &out {
            Err(RenderError::Browser(why)) => {
                tracing::warn!(url = %job.url, "the browser failed ({why}); it is started again");
                live.broken.store(true, Ordering::Relaxed);
            }
            Err(RenderError::Died) => live.broken.store(true, Ordering::Relaxed),
            _ => {}
        }
        out
    }

    /// The running browser, started again first when it died or has rendered
    /// its `render_recycle` pages.
    async fn browser(
        &self,
        counts: &RenderCounts,
    ) -> Result<tokio::sync::RwLockReadGuard<'_, Live>, RenderError> {
        for _ in 0..3 {
            {
                let held = self.live.read().await;
                if let Ok(live) = tokio::sync::RwLockReadGuard::try_map(held, |l| {
                    l.as_ref().filter(|l| l.usable(self.settings.recycle))
                }) {
                    return Ok(live);
                }
            }
            let mut slot = self.live.write().await;
            if slot
                .as_ref()
                .is_some_and(|l| l.usable(self.settings.recycle))
            {
                continue;
            }
            if let Some(old) = slot.take() {
                let died = old.events.is_finished() || old.broken.load(Ordering::Relaxed);
                match died {
                    true => counts.browser_restarts.fetch_add(1, Ordering::Relaxed),
                    false => counts.browser_recycles.fetch_add(1, Ordering::Relaxed),
                };
                close(old).await;
            }
            if let Ok(failed) = self.failed_launch.lock() {
                let recent = failed
                    .as_ref()
                    .filter(|(at, _)| at.elapsed() < RELAUNCH_AFTER);
                if let Some((_, why)) = recent {
                    return Err(RenderError::Launch {
                        path: self.settings.executable.clone(),
                        message: why.clone(),
                    });
                }
            }
            match self.launch().await {
                Ok(live) => *slot = Some(live),
                Err(e) => {
                    tracing::error!("{e}; pages that need rendering are recorded with this error");
                    if let Ok(mut failed) = self.failed_launch.lock() {
                        *failed = Some((std::time::Instant::now(), e.to_string()));
                    }
                    return Err(e);
                }
            }
        }
        Err(RenderError::Browser(
            "the browser kept being replaced while in use".into(),
        ))
    }

    /// Starts a browser: with its sandbox when it can have one, else without (see
    /// [`Renderer::launch_with`]).
    async fn launch(&self) -> Result<Live, RenderError> {
        // Chromium refuses to run as root with its sandbox (containers run as root).
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        if root || !self.sandbox.load(Ordering::Relaxed) {
            return self.launch_with(false).await;
        }
        match self.launch_with(true).await {
            Ok(live) => Ok(live),
            Err(first) => {
                // A container without user namespaces has no room for the sandbox;
                // trawl's own walls (every request paused, no network) still hold.
                let live = self.launch_with(false).await.map_err(|_| first)?;
                tracing::warn!(
                    "the browser's sandbox could not start here (no user namespaces?): rendering without it"
                );
                self.sandbox.store(false, Ordering::Relaxed);
                Ok(live)
            }
        }
    }

    async fn launch_with(&self, sandbox: bool) -> Result<Live, RenderError> {
        let s = &self.settings;
        let n = self.launches.fetch_add(1, Ordering::Relaxed);
        let profile =
            std::env::temp_dir().join(format!("trawl-browser-{}-{n}", std::process::id()));
        let failed = |message: String| RenderError::Launch {
            path: s.executable.clone(),
            message,
        };
        let mut builder = BrowserConfig::builder()
            .chrome_executable(&s.executable)
            .user_data_dir(&profile)
            .launch_timeout(LAUNCH_TIMEOUT)
            .request_timeout(s.timeout + CLOSE_TIMEOUT)
            .enable_request_intercept()
            .disable_cache();
        for (key, value) in browser_args(&s.user_agent, &s.block) {
            builder = match value {
                Some(v) => builder.arg((key, v.as_str())),
                None => builder.arg(key),
            };
        }
        if !sandbox {
            builder = builder.no_sandbox();
        }
        let config = builder.build().map_err(failed)?;
        let (browser, mut handler) = match tokio::time::timeout(
            LAUNCH_TIMEOUT,
            Browser::launch(config),
        )
        .await
        {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                let said = e.to_string();
                // chromiumoxide's wording for a program that is not a browser.
                let message = match said.contains("before websocket URL") {
                        true => "it exited before it could be driven over the DevTools protocol (is it Chromium, Chrome or chromium-headless-shell?)".to_string(),
                        false => said,
                    };
                return Err(failed(message));
            }
            Err(_) => return Err(failed(format!("no answer within {LAUNCH_TIMEOUT:?}"))),
        };
        // The DevTools socket is read here until the browser goes away: a closed
        // socket is how a dead browser is noticed, and every page in flight is told.
        let gone = tokio::sync::watch::Sender::new(false);
        let tell = gone.clone();
        let events = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                match event {
                    Err(chromiumoxide::error::CdpError::Ws(e)) => {
                        tracing::debug!("the browser's connection ended: {e}");
                        break;
                    }
                    Err(e) => tracing::debug!("browser message: {e}"),
                    Ok(()) => {}
                }
            }
            tell.send_replace(true);
        });
        tracing::debug!(browser = %s.executable.display(), "browser started");
        Ok(Live {
            browser,
            events,
            gone,
            rendered: AtomicU64::new(0),
            broken: AtomicBool::new(false),
            profile,
        })
    }

    /// Closes the browser (the crawl is over).
    pub async fn close(&self) {
        if let Some(live) = self.live.write().await.take() {
            close(live).await;
        }
    }
}

/// Ends a browser process and removes its profile.
async fn close(mut live: Live) {
    // A dead browser's socket would never answer a close.
    let alive = !*live.gone.borrow() && !live.events.is_finished();
    if alive
        && tokio::time::timeout(CLOSE_TIMEOUT, live.browser.close())
            .await
            .is_err()
    {
        tracing::debug!("the browser did not close in time; killed");
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, live.browser.kill()).await;
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, live.browser.wait()).await;
    live.events.abort();
    let _ = std::fs::remove_dir_all(&live.profile);
}

/// The browser's flags. Beyond a quiet headless browser: every site in one process
/// per tab (so a frame's requests are paused with its page's), and the second wall
/// (see the module docs): a proxy on a closed loopback port, for loopback too, a
/// resolver that resolves nothing, and WebRTC kept off UDP.
fn browser_args(user_agent: &str, block: &[String]) -> Vec<(&'static str, Option<String>)> {
    let value = |k: &'static str, v: &str| (k, Some(v.to_string()));
    let flag = |k: &'static str| (k, None);
    let mut args = vec![
        value("proxy-server", "http://127.0.0.1:9"),
        value("proxy-bypass-list", "<-loopback>"),
        value("host-resolver-rules", "MAP * ~NOTFOUND"),
        value(
            "force-webrtc-ip-handling-policy",
            "disable_non_proxied_udp",
        ),
        value("webrtc-ip-handling-policy", "disable_non_proxied_udp"),
        value(
            "disable-features",
            "IsolateOrigins,site-per-process,Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
        ),
        flag("disable-site-isolation-trials"),
        flag("disable-gpu"),
        flag("disable-dev-shm-usage"),
        flag("disable-component-update"),
        flag("disable-domain-reliability"),
        flag("disable-sync"),
        flag("no-pings"),
        flag("no-default-browser-check"),
        value("user-agent", user_agent),
    ];
    // Blocked images are not even asked for (no round trip to refuse each).
    if block.iter().any(|b| b == "image") {
        args.push(value("blink-settings", "imagesEnabled=false"));
    }
    args
}

/// `--browser PATH`, checked.
fn executable(path: &Path) -> Result<PathBuf, RenderError> {
    use std::os::unix::fs::PermissionsExt;
    let found = if path.components().count() == 1 && !path.exists() {
        search_path(&path.to_string_lossy())
    } else {
        Some(path.to_path_buf())
    };
    let not = || RenderError::NotExecutable {
        path: path.to_path_buf(),
    };
    let found = found.ok_or_else(not)?;
    let meta = std::fs::metadata(&found).map_err(|_| not())?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(not());
    }
    Ok(found)
}

fn find_on_path() -> Option<PathBuf> {
    BROWSERS.iter().find_map(|name| search_path(name))
}

fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_that_is_not_there_or_not_a_program_is_refused() {
        let dir = std::env::temp_dir();
        assert!(matches!(
            executable(&dir.join("no-such-browser-here")),
            Err(RenderError::NotExecutable { .. })
        ));
        assert!(matches!(
            executable(&dir),
            Err(RenderError::NotExecutable { .. })
        ));
        let text = tempfile::NamedTempFile::new().unwrap();
        assert!(matches!(
            executable(text.path()),
            Err(RenderError::NotExecutable { .. })
        ));
        // A bare name is looked for on the PATH.
        assert!(executable(Path::new("sh")).is_ok());
    }

    #[test]
    fn the_browser_cannot_reach_the_network_by_itself() {
        let args = browser_args("trawl/test", &["image".to_string()]);
        let has = |k: &str, v: &str| args.iter().any(|(a, b)| *a == k && b.as_deref() == Some(v));
        assert!(has("proxy-server", "http://127.0.0.1:9"));
        assert!(has("proxy-bypass-list", "<-loopback>"));
        assert!(has("host-resolver-rules", "MAP * ~NOTFOUND"));
        assert!(has("user-agent", "trawl/test"));
        assert!(has("blink-settings", "imagesEnabled=false"));
        let images = browser_args("trawl/test", &[]);
        assert!(images.iter().all(|(k, _)| *k != "blink-settings"));
        // Keys only: chromiumoxide adds the dashes (a "--" here would be doubled).
        assert!(args.iter().all(|(k, _)| !k.starts_with('-')));
    }
}
