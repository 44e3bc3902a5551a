//! robots.txt: fetched once per host, cached, and asked before every page fetch.
//!
//! Parsing and matching (user-agent groups, Allow/Disallow with longest-match
//! precedence, `*` and `$` wildcards, Crawl-delay) are done by the `texting_robots`
//! crate, which is tested against Google's robots.txt suite; this module adds the
//! RFC 9309 fetch rules:
//! - 2xx: parse (first 500 KiB); up to 5 redirects are followed;
//! - 4xx (incl. 404, 401, 403): no restrictions;
//! - 5xx or a network error: the host is "unavailable": nothing is crawled there
//!   until a later attempt succeeds (the crawl retries with backoff);
//! - more than 5 redirects: no restrictions (as Google does).
//!
//! Concurrent requests for one host wait for a single robots.txt fetch. This module
//! never schedules: it answers "may I?" and says how long a host asked us to wait.

pub mod explain;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use texting_robots::Robot;
use tokio::sync::Mutex;
use url::Url;

use crate::canon::HostKey;
use crate::fetch::{FetchError, Fetcher};
use crate::stats::ErrorKind;

/// RFC 9309 asks crawlers to parse at least 500 KiB.
const ROBOTS_MAX_BYTES: u64 = 500 * 1024;
const ROBOTS_MAX_REDIRECTS: usize = 5;

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
    /// The host cannot be fetched at all (blocked address, no DNS): the page's
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
    Rules(Box<Robot>),
    /// Not cached: asked again for the next URL of the host.
    Unreachable(FetchError),
    AllowAll,
    Unavailable {
        until: Instant,
        failures: u32,
        reason: String,
        cause: Option<FetchError>,
    },
}

pub struct RobotsCache {
    agent: String,
    retry_base: Duration,
    hosts: DashMap<HostKey, Arc<Mutex<Option<Entry>>>>,
}

impl RobotsCache {
    /// `agent` is the product token matched against `User-agent:` lines.
    pub fn new(agent: &str, retry_base: Duration) -> RobotsCache {
        RobotsCache {
            agent: agent.to_string(),
            retry_base: retry_base.max(Duration::from_millis(50)),
            hosts: DashMap::new(),
        }
    }

    /// Whether `url` may be fetched; fetches the host's robots.txt on first use.
    pub async fn check(&self, fetcher: &Fetcher, url: &Url) -> Decision {
        let slot = self
            .hosts
            .entry(HostKey::of(url))
            .or_insert_with(|| Arc::new(Mutex::new(None)))
            .clone();
        let mut entry = slot.lock().await;
        let mut new_crawl_delay = None;
        let mut sitemaps = None;
        let stale = match &*entry {
            None => true,
            Some(Entry::Unavailable { until, .. }) => Instant::now() >= *until,
            Some(Entry::Unreachable(_)) => true,
            Some(_) => false,
        };
        if stale {
            let failures = match &*entry {
                Some(Entry::Unavailable { failures, .. }) => *failures,
                _ => 0,
            };
            let fetched = self.fetch(fetcher, url, failures).await;
            if let Entry::Rules(robot) = &fetched {
                new_crawl_delay = robot
                    .delay
                    .filter(|d| d.is_finite() && *d > 0.0)
                    .map(|d| Duration::from_secs_f64(f64::from(d)));
                sitemaps = Some(robot.sitemaps.clone());
            }
            if let Entry::AllowAll = &fetched {
                sitemaps = Some(Vec::new());
            }
            *entry = Some(fetched);
        }
        let verdict = match &*entry {
            Some(Entry::Rules(robot)) => {
                if robot.allowed(url.as_str()) {
                    Verdict::Allowed
                } else {
                    Verdict::Disallowed
                }
            }
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
            Some(Entry::AllowAll) | None => Verdict::Allowed,
        };
        Decision {
            verdict,
            new_crawl_delay,
            fetched: stale,
            sitemaps,
        }
    }

    async fn fetch(&self, fetcher: &Fetcher, page: &Url, failures: u32) -> Entry {
        match fetch_robots(fetcher, page).await {
            RobotsFile::Found { url, body } => match Robot::new(&self.agent, &body) {
                Ok(robot) => Entry::Rules(Box::new(robot)),
                Err(e) => {
                    tracing::debug!(%url, "unparseable robots.txt, allowing all: {e}");
                    Entry::AllowAll
                }
            },
            RobotsFile::NoRestrictions(_) => Entry::AllowAll,
            RobotsFile::Unavailable(reason, cause) => self.unavailable(failures, reason, cause),
            RobotsFile::Unreachable(e) => Entry::Unreachable(e),
        }
    }

    fn unavailable(&self, failures: u32, reason: String, cause: Option<FetchError>) -> Entry {
        let backoff = self.retry_base * 2u32.saturating_pow(failures.min(10));
        Entry::Unavailable {
            until: Instant::now() + backoff.min(Duration::from_secs(600)),
            failures: failures + 1,
            reason,
            cause,
        }
    }
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

/// Judges `urls` against robots.txt text exactly as the crawl would (same parser,
/// same agent token), naming the deciding rule where it can be traced.
pub fn judge(agent: &str, txt: &[u8], urls: &[Url]) -> Vec<Judgement> {
    let robot = Robot::new(agent, txt).ok();
    urls.iter()
        .map(|url| {
            let Some(robot) = &robot else {
                return Judgement {
                    url: url.to_string(),
                    allowed: true,
                    why: "robots.txt could not be parsed: no restrictions".into(),
                };
            };
            let allowed = robot.allowed(url.as_str());
            let e = explain::explain(agent, txt, url);
            let why = match (&e.rule, e.allowed == allowed) {
                (Some(rule), true) => format!("{rule} (group: {})", e.group),
                (None, true) => format!("no rule matches (group: {})", e.group),
                (_, false) => "deciding rule not identified".into(),
            };
            Judgement {
                url: url.to_string(),
                allowed,
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
    /// Blocked address or no DNS: the host itself cannot be fetched.
    Unreachable(FetchError),
}

/// Fetches the robots.txt that governs `page`, following up to 5 redirects.
pub async fn fetch_robots(fetcher: &Fetcher, page: &Url) -> RobotsFile {
    let mut target = match page.join("/robots.txt") {
        Ok(u) => u,
        Err(e) => return RobotsFile::NoRestrictions(format!("no robots.txt URL: {e}")),
    };
    for _ in 0..=ROBOTS_MAX_REDIRECTS {
        let resp = match fetcher.get_capped(&target, ROBOTS_MAX_BYTES).await {
            Ok(r) => r,
            Err(e) if matches!(e.kind, ErrorKind::Blocked | ErrorKind::Dns) => {
                return RobotsFile::Unreachable(e)
            }
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
mod tests {
    use texting_robots::Robot;

    /// The matching examples of RFC 9309 (section 2.2.2 and 5), checked against
    /// the parser we rely on, so a parser upgrade cannot silently change them.
    #[test]
    fn rfc9309_examples() {
        let txt =
            b"User-Agent: *\nDisallow: *.gif$\nDisallow: /example/\nAllow: /publications/\n\n\
User-Agent: foobot\nDisallow:/\nAllow:/example/page.html\nAllow:/example/allowed.gif\n\n\
User-Agent: barbot\nUser-Agent: bazbot\nDisallow: /example/page.html\n\n\
User-Agent: quxbot\n";
        let foo = Robot::new("foobot", txt).unwrap();
        assert!(foo.allowed("/example/page.html"));
        assert!(foo.allowed("/example/allowed.gif"));
        assert!(!foo.allowed("/example/disallowed.gif"));
        assert!(!foo.allowed("/"));
        let bar = Robot::new("barbot", txt).unwrap();
        assert!(!bar.allowed("/example/page.html"));
        assert!(bar.allowed("/example/"));
        let baz = Robot::new("BazBot", txt).unwrap();
        assert!(!baz.allowed("/example/page.html"));
        let qux = Robot::new("quxbot", txt).unwrap();
        assert!(qux.allowed("/example/page.html"));
        let other = Robot::new("trawl", txt).unwrap();
        assert!(!other.allowed("/x/y.gif"));
        assert!(other.allowed("/x/y.gif?z"));
        assert!(!other.allowed("/example/a"));
        assert!(other.allowed("/publications/a"));

        // Longest match wins; on a tie, Allow wins.
        let r = Robot::new("trawl", b"User-agent: *\nAllow: /p\nDisallow: /\n").unwrap();
        assert!(r.allowed("/page"));
        assert!(!r.allowed("/other"));
        let r = Robot::new(
            "trawl",
            b"User-agent: *\nAllow: /folder\nDisallow: /folder\n",
        )
        .unwrap();
        assert!(r.allowed("/folder/page"));
        let r = Robot::new("trawl", b"User-agent: *\nAllow: /page\nDisallow: /*.html\n").unwrap();
        assert!(!r.allowed("/page.html"));
        assert!(r.allowed("/page"));
        // Crawl-delay is read for the matching group.
        let r = Robot::new(
            "trawl",
            b"User-agent: trawl\nCrawl-delay: 2.5\nDisallow: /x\n",
        )
        .unwrap();
        assert_eq!(r.delay, Some(2.5));
    }
}
