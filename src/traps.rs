//! Spider-trap guards: rules that stop a crawl from wandering forever in URL spaces
//! that a server generates without end (calendars, ever-deeper relative links,
//! per-visit tokens, huge URLs).
//!
//! Each guard is on by default, configurable (0 turns it off), and counted in
//! stats.json under `traps`:
//! - `max_url_length`: canonical URLs longer than this are refused;
//! - `max_path_depth`: more path segments than this are refused (`/a/b/c/...`);
//! - `max_repeated_segments`: a path in which one segment occurs more than this many
//!   times is refused (`/a/b/a/b/a/b`, `/x/x/x/x`) — Heritrix's "pathological path";
//! - `max_query_hops`: a chain of links that keep the page's path and only change
//!   its query (`?month=7` → `?month=8` → ...) stops after this many hops — the
//!   infinite calendar; ordinary `?id=N` links from other pages are not affected;
//!
//! The per-host URL budget (`max_pages_per_host`, counted under `traps.host_budget`)
//! is a frontier rule: the frontier enforces it, for every backend. Session ids, the other classic trap, are removed by canonicalisation (`canon`).
//! This module only answers "admit?"; it never fetches or queues.

use url::Url;

use crate::config::TrapSettings;
use crate::stats::Refusal;

pub struct Traps {
    max_url_length: usize,
    max_path_depth: usize,
    max_repeated_segments: usize,
    max_query_hops: u32,
}

impl Traps {
    pub fn new(config: &TrapSettings) -> Traps {
        Traps {
            max_url_length: config.max_url_length,
            max_path_depth: config.max_path_depth,
            max_repeated_segments: config.max_repeated_segments,
            max_query_hops: config.max_query_hops,
        }
    }

    /// The URL-shape rules (length, depth, repetition, query chains).
    pub fn check(&self, url: &Url, query_hops: u32) -> Result<(), Refusal> {
        if self.max_url_length > 0 && url.as_str().len() > self.max_url_length {
            return Err(Refusal::UrlTooLong);
        }
        if self.max_path_depth > 0 || self.max_repeated_segments > 0 {
            let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
            if self.max_path_depth > 0 && segments.len() > self.max_path_depth {
                return Err(Refusal::PathTooDeep);
            }
            if self.max_repeated_segments > 0 && segments.len() > self.max_repeated_segments {
                let mut sorted = segments.clone();
                sorted.sort_unstable();
                let most = sorted
                    .chunk_by(|a, b| a == b)
                    .map(<[&str]>::len)
                    .max()
                    .unwrap_or(0);
                if most > self.max_repeated_segments {
                    return Err(Refusal::RepeatedSegments);
                }
            }
        }
        if self.max_query_hops > 0 && query_hops > self.max_query_hops {
            return Err(Refusal::QueryChain);
        }
        Ok(())
    }
}

/// Query hops of a link found on `parent`: one more than the parent's when the link
/// keeps the parent's host and path and only changes the query; zero otherwise.
pub fn query_hops(parent: &Url, parent_hops: u32, link: &Url) -> u32 {
    let same_page = link.host_str() == parent.host_str()
        && link.port_or_known_default() == parent.port_or_known_default()
        && link.path() == parent.path();
    if same_page && link.query().is_some() && link.query() != parent.query() {
        parent_hops + 1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn traps() -> Traps {
        Traps::new(&TrapSettings {
            max_url_length: 60,
            max_path_depth: 5,
            max_repeated_segments: 2,
            max_query_hops: 3,
            ..TrapSettings::default()
        })
    }

    #[test]
    fn url_shape_rules() {
        let t = traps();
        assert!(t.check(&url("http://e.com/a/b/c/d/e"), 0).is_ok());
        assert_eq!(
            t.check(&url("http://e.com/a/b/c/d/e/f"), 0),
            Err(Refusal::PathTooDeep)
        );
        assert_eq!(
            t.check(&url("http://e.com/a/a/a"), 0),
            Err(Refusal::RepeatedSegments)
        );
        assert_eq!(
            t.check(&url("http://e.com/a/b/a/b/a"), 0),
            Err(Refusal::RepeatedSegments)
        );
        assert!(t.check(&url("http://e.com/a/b/a/b"), 0).is_ok());
        let long = format!("http://e.com/{}", "x".repeat(60));
        assert_eq!(t.check(&url(&long), 0), Err(Refusal::UrlTooLong));
        assert_eq!(
            t.check(&url("http://e.com/cal?m=9"), 4),
            Err(Refusal::QueryChain)
        );
        assert!(t.check(&url("http://e.com/cal?m=9"), 3).is_ok());
    }

    #[test]
    fn zero_turns_a_guard_off() {
        let t = Traps::new(&TrapSettings {
            max_url_length: 0,
            max_path_depth: 0,
            max_repeated_segments: 0,
            max_query_hops: 0,
            ..TrapSettings::default()
        });
        let deep = format!("http://e.com/{}", "a/".repeat(500));
        assert!(t.check(&url(&deep), 10_000).is_ok());
    }

    #[test]
    fn query_hops_count_links_that_only_change_the_query() {
        let cal = url("http://e.com/cal?m=1");
        assert_eq!(query_hops(&cal, 4, &url("http://e.com/cal?m=2")), 5);
        assert_eq!(query_hops(&cal, 4, &url("http://e.com/other?m=2")), 0);
        assert_eq!(query_hops(&cal, 4, &url("http://e.com/cal")), 0);
        assert_eq!(
            query_hops(
                &url("http://e.com/list"),
                0,
                &url("http://e.com/list?page=2")
            ),
            1
        );
    }
}
