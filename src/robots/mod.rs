//! robots.txt: fetched once per host, cached, and asked before every page fetch.
//!
//! Reading (`parse.rs`: user-agent groups, Allow/Disallow, Crawl-delay, Sitemap)
//! and matching (`matcher.rs`: longest match wins, `*` and `$` wildcards) are our
//! own, linear in the file and with memory proportional to it; `cache.rs` keeps
//! the parsed files within a byte budget. Both follow Google's open-source parser
//! (google/robotstxt) where it and RFC 9309 differ: product tokens, escapes,
//! `index.html` and line length (see `parse.rs`), and every rule matched against
//! path plus query, without the fragment ([`rule_path`]). Crawl-delay, which
//! Google ignores, is honoured. This module adds the RFC 9309 fetch rules:
//! - 2xx: parse (first 500 KiB); up to 5 redirects are followed;
//! - 4xx (incl. 404, 401, 403): no restrictions;
//! - 5xx or a network error: the host is "unavailable": nothing is crawled there
//!   until a later attempt succeeds (the crawl retries with backoff);
//! - more than 5 redirects: no restrictions (as Google does).
//!
//! Concurrent requests for one host wait for a single robots.txt fetch. An answer
//! is used for 24 hours (RFC 9309), and kept beyond this process in the crawl's
//! frontier when it can keep it (`kept.rs`): a resumed crawl reads it back, and a
//! fleet fetches each host's robots.txt once (one process claims the fetch, the
//! others wait for its copy). This module never schedules: it answers "may I?" and
//! says how long a host asked us to wait. Every number read from robots.txt is
//! range-checked before it becomes a duration.

mod cache;
pub mod explain;
pub mod kept;
pub mod matcher;
pub mod parse;

use std::borrow::Cow;
use std::sync::{Mutex as StdMutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use url::{Position, Url};

use crate::canon::HostKey;
use crate::fetch::{FetchError, Fetcher};
use crate::frontier::Frontier;
use crate::stats::ErrorKind;
use kept::Kept;

pub use matcher::Rules;
pub use parse::{product_token, Robots, MAX_LINE_BYTES, ROBOTS_MAX_BYTES};

const ROBOTS_MAX_REDIRECTS: usize = 5;
/// How long a process waits for the robots.txt another process of the fleet is
/// fetching, before fetching it itself.
pub const SHELF_WAIT: Duration = Duration::from_secs(10);
const SHELF_POLL: Duration = Duration::from_millis(100);

/// The answer for one URL.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Allowed,
    Disallowed,
    /// robots.txt could not be fetched (5xx or network error): do not crawl yet.
    /// `retry_in` is when asking again makes sense.
    Unavailable {
        reason: String,
        retry_in: Duration,
        /// The network error behind it, when it was not an HTTP 5xx.
        cause: Option<FetchError>,
    },
    /// The host cannot be fetched at all (its address is blocked): the page's
    /// own fetch would fail the same way, so this error is its record.
    Unreachable(FetchError),
}

/// A verdict plus, the first time a host's robots.txt is read, its Crawl-delay.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    /// Set only by the call that fetched robots.txt, so the caller applies it once.
    pub new_crawl_delay: Option<Duration>,
    /// This call fetched robots.txt: that request used the host's politeness slot.
    pub fetched: bool,
    /// Set only by the call that fetched robots.txt and got an answer (rules or
    /// none): the `Sitemap:` URLs it lists, for sitemap discovery.
    pub sitemaps: Option<Vec<String>>,
}

enum Entry {
    /// The rules, and when they were fetched (used for [`kept::TTL`]).
    Rules(Rules, Instant),
    /// Not cached: asked again for the next URL of the host.
    Unreachable(FetchError),
    AllowAll(Instant),
    Unavailable {
        until: Instant,
        failures: u32,
        reason: String,
        cause: Option<FetchError>,
    },
}

impl Entry {
    /// Heap bytes beyond the slot itself, for the cache's budget.
    fn heap_bytes(&self) -> usize {
        let error = |e: &FetchError| e.message.len();
        match self {
            Entry::Rules(rules, _) => rules.heap_bytes(),
            Entry::Unreachable(e) => error(e),
            Entry::AllowAll(_) => 0,
            Entry::Unavailable { reason, cause, .. } => {
                reason.len() + cause.as_ref().map_or(0, error)
            }
        }
    }
}

type Slot = Mutex<Option<Entry>>;

pub struct RobotsCache {
    agent: String,
    retry_base: Duration,
    hosts: StdMutex<cache::Lru<HostKey, Slot>>,
}

impl RobotsCache {
    /// `agent` is the product token matched against `User-agent:` lines; parsed
    /// files are kept up to about `budget_bytes`, least recently used out first.
    pub fn new(agent: &str, retry_base: Duration, budget_bytes: usize) -> RobotsCache {
        RobotsCache {
            agent: agent.to_string(),
            retry_base: retry_base.max(Duration::from_millis(50)),
            hosts: StdMutex::new(cache::Lru::new(budget_bytes)),
        }
    }

    fn hosts(&self) -> std::sync::MutexGuard<'_, cache::Lru<HostKey, Slot>> {
        // The lock guards no invariant a panic could break half-way.
        self.hosts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `url` may be fetched; fetches the host's robots.txt on first use
    /// (or again, after the host's entry was evicted or 24 hours old).
    pub async fn check(&self, fetcher: &Fetcher, url: &Url) -> Decision {
        self.check_kept(fetcher, url, None).await
    }

    /// [`RobotsCache::check`], with answers kept beyond this process in `shelf`
    /// (the crawl's frontier): a copy there is used instead of a fetch, and a fetch
    /// puts its answer there. In a fleet, one process fetches; the others wait (at
    /// most [`SHELF_WAIT`]) for its copy.
    pub async fn check_kept(
        &self,
        fetcher: &Fetcher,
        url: &Url,
        shelf: Option<&Frontier>,
    ) -> Decision {
        let key = HostKey::of(url);
        let slot = self.hosts().slot(&key, || Mutex::new(None));
        let mut entry = slot.lock().await;
        let mut new_crawl_delay = None;
        let mut sitemaps = None;
        let mut fetched = false;
        let stale = match &*entry {
            None => true,
            Some(Entry::Unavailable { until, .. }) => Instant::now() >= *until,
            Some(Entry::Unreachable(_)) => true,
            Some(Entry::Rules(_, at) | Entry::AllowAll(at)) => at.elapsed() >= kept::TTL,
        };
        if stale {
            let failures = match &*entry {
                Some(Entry::Unavailable { failures, .. }) => *failures,
                _ => 0,
            };
            // A blocked host is not asked of the shelf (it is never kept there).
            let shelf = shelf.filter(|_| !matches!(&*entry, Some(Entry::Unreachable(_))));
            let from_shelf = match shelf {
                Some(s) => self.shelved(s, &key).await,
                None => None,
            };
            let next = match from_shelf {
                Some((kept, entry)) => {
                    // The fetching process (or run) applied Crawl-delay and read the
                    // sitemaps; the delay is applied again (it is idempotent), so a
                    // process that never fetched still spaces the host.
                    if let Some(body) = &kept.body {
                        new_crawl_delay = Robots::parse(&self.agent, body).crawl_delay;
                    }
                    entry
                }
                None => {
                    fetched = true;
                    let file = fetch_robots(fetcher, url).await;
                    if let Some(s) = shelf {
                        let answer = match &file {
                            RobotsFile::Found { body, .. } => Some(Kept::now(Some(body.clone()))),
                            RobotsFile::NoRestrictions(_) => Some(Kept::now(None)),
                            _ => None,
                        };
                        s.robots_keep(&key, answer.as_ref()).await;
                    }
                    match file {
                        RobotsFile::Found { body, .. } => {
                            let robots = Robots::parse(&self.agent, &body);
                            new_crawl_delay = robots.crawl_delay;
                            sitemaps = Some(robots.sitemaps);
                            Entry::Rules(robots.rules, Instant::now())
                        }
                        RobotsFile::NoRestrictions(_) => {
                            sitemaps = Some(Vec::new());
                            Entry::AllowAll(Instant::now())
                        }
                        RobotsFile::Unavailable(reason, cause) => {
                            self.unavailable(failures, reason, cause)
                        }
                        RobotsFile::Unreachable(e) => Entry::Unreachable(e),
                    }
                }
            };
            let bytes = key.as_str().len() + next.heap_bytes();
            *entry = Some(next);
            self.hosts().resize(&key, &slot, bytes);
        }
        let verdict = match &*entry {
            Some(Entry::Rules(rules, _)) => match allowed(rules, url) {
                true => Verdict::Allowed,
                false => Verdict::Disallowed,
            },
            Some(Entry::Unavailable {
                until,
                reason,
                cause,
                ..
            }) => Verdict::Unavailable {
                reason: reason.clone(),
                retry_in: until.saturating_duration_since(Instant::now()),
                cause: cause.clone(),
            },
            Some(Entry::Unreachable(e)) => Verdict::Unreachable(e.clone()),
            Some(Entry::AllowAll(_)) | None => Verdict::Allowed,
        };
        Decision {
            verdict,
            new_crawl_delay,
            fetched,
            sitemaps,
        }
    }

    /// A fresh copy of `key`'s robots.txt from the shelf, as an entry. When there
    /// is none, this process claims the fetch; if another one holds the claim, its
    /// copy is waited for (polled, at most [`SHELF_WAIT`]). `None`: fetch it here.
    async fn shelved(&self, shelf: &Frontier, key: &HostKey) -> Option<(Kept, Entry)> {
        if let Some(found) = self.kept(shelf, key).await {
            return Some(found);
        }
        if shelf.robots_claim(key).await {
            return None;
        }
        let deadline = Instant::now() + SHELF_WAIT;
        while Instant::now() < deadline {
            tokio::time::sleep(SHELF_POLL).await;
            if let Some(found) = self.kept(shelf, key).await {
                return Some(found);
            }
        }
        None
    }

    /// The shelf's copy of `key`'s robots.txt, if there is a fresh one.
    async fn kept(&self, shelf: &Frontier, key: &HostKey) -> Option<(Kept, Entry)> {
        let kept = shelf.robots_kept(key).await?;
        let age = kept.age()?;
        let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        let entry = match &kept.body {
            Some(body) => Entry::Rules(Robots::parse(&self.agent, body).rules, at),
            None => Entry::AllowAll(at),
        };
        Some((kept, entry))
    }

    fn unavailable(&self, failures: u32, reason: String, cause: Option<FetchError>) -> Entry {
        let backoff = self
            .retry_base
            .saturating_mul(2u32.saturating_pow(failures.min(10)))
            .min(Duration::from_secs(600));
        Entry::Unavailable {
            until: Instant::now() + backoff,
            failures: failures.saturating_add(1),
            reason,
            cause,
        }
    }
}

/// The text of `url` every rule is matched against, as Google's matcher sees it:
/// path, params and query (whether or not the pattern has a `?`), never the
/// fragment; normalised as patterns are (`%aa` reads `%AA`). Borrowed unless the
/// normalising changes something, so a check allocates at most once.
pub fn rule_path(url: &Url) -> Cow<'_, str> {
    parse::normalise_path(&url[Position::BeforePath..Position::AfterQuery])
}

/// Whether `rules` let `url` be fetched; /robots.txt itself always may be.
pub fn allowed(rules: &Rules, url: &Url) -> bool {
    let path = rule_path(url);
    path == "/robots.txt" || rules.allowed(&path)
}

/// One line of `trawl robots` output: the crawl's verdict on a URL and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub url: String,
    pub allowed: bool,
    pub why: String,
}

impl std::fmt::Display for Judgement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.allowed {
            "allowed"
        } else {
            "disallowed"
        };
        write!(f, "{verdict}\t{}\t{}", self.url, self.why)
    }
}

/// Judges `urls` against robots.txt text exactly as the crawl would (same reader,
/// same matcher, same agent token), naming the deciding rule.
pub fn judge(agent: &str, txt: &[u8], urls: &[Url]) -> Vec<Judgement> {
    let robots = Robots::parse(agent, txt);
    urls.iter()
        .map(|url| {
            let e = explain::explain_parsed(&robots, txt, url);
            let why = match &e.rule {
                Some(rule) => format!("{rule} (group: {})", e.group),
                None => format!("no rule matches (group: {})", e.group),
            };
            Judgement {
                url: url.to_string(),
                allowed: e.allowed,
                why,
            }
        })
        .collect()
}

/// The same verdict for every URL, when robots.txt gave no rules to read.
pub fn judge_all(urls: &[Url], allowed: bool, why: &str) -> Vec<Judgement> {
    urls.iter()
        .map(|u| Judgement {
            url: u.to_string(),
            allowed,
            why: why.to_string(),
        })
        .collect()
}

/// What fetching a host's robots.txt found (RFC 9309 section 2.3).
#[derive(Debug)]
pub enum RobotsFile {
    /// 2xx: the rules (first 500 KiB), and the URL they came from after redirects.
    Found { url: Url, body: Vec<u8> },
    /// 4xx, or more than 5 redirects: no restrictions. The reason says which.
    NoRestrictions(String),
    /// 5xx or a network error (the error, when it was one): crawl nothing on this host yet.
    Unavailable(String, Option<FetchError>),
    /// A blocked address: the host itself may not be fetched.
    Unreachable(FetchError),
}

/// Fetches the robots.txt that governs `page`, following up to 5 redirects.
pub async fn fetch_robots(fetcher: &Fetcher, page: &Url) -> RobotsFile {
    let mut target = match page.join("/robots.txt") {
        Ok(u) => u,
        Err(e) => return RobotsFile::NoRestrictions(format!("no robots.txt URL: {e}")),
    };
    for _ in 0..=ROBOTS_MAX_REDIRECTS {
        let resp = match fetcher.get_capped(&target, ROBOTS_MAX_BYTES as u64).await {
            Ok(r) => r,
            Err(e) if e.kind == ErrorKind::Blocked => return RobotsFile::Unreachable(e),
            Err(e) => return RobotsFile::Unavailable(e.to_string(), Some(e)),
        };
        match resp.status {
            200..=299 => {
                return RobotsFile::Found {
                    url: target,
                    body: resp.body,
                }
            }
            300..=399 => match resp.location.as_deref().and_then(|l| target.join(l).ok()) {
                Some(next) => target = next,
                None => {
                    return RobotsFile::NoRestrictions(format!(
                        "robots.txt answered HTTP {} without a usable Location",
                        resp.status
                    ))
                }
            },
            400..=499 => {
                return RobotsFile::NoRestrictions(format!(
                    "robots.txt answered HTTP {}",
                    resp.status
                ))
            }
            s => return RobotsFile::Unavailable(format!("robots.txt answered HTTP {s}"), None),
        }
    }
    RobotsFile::NoRestrictions(format!("more than {ROBOTS_MAX_REDIRECTS} redirects"))
}

#[cfg(test)]
mod tests;
