//! `[[hosts]]` politeness as the frontier sees it: the rate and concurrency of the
//! first table matching a host, asked by both backends when they first meet it.
//! Headers, credentials and cookies of a table never come here (they stay in the
//! process; a fleet shares only this).

use std::sync::Arc;
use std::time::Duration;

use crate::canon::HostKey;

/// `[[hosts]]` politeness: the first table matching a host gives it its own rate
/// and concurrency (a table that sets neither leaves the crawl's). Both backends
/// ask this when they first meet a host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostLimits(Arc<[HostLimit]>);

/// One table's politeness.
#[derive(Debug, Clone, PartialEq)]
pub struct HostLimit {
    /// The table's `match`: a host, or `*.domain`.
    pub pattern: String,
    /// Requests per second (0 = no limit).
    pub rate: Option<f64>,
    pub concurrency: Option<usize>,
}

impl HostLimits {
    /// The tables' politeness, in their order, secrets left behind.
    pub fn from_rules(rules: &[crate::config::HostRule]) -> HostLimits {
        HostLimits(
            rules
                .iter()
                .map(|r| HostLimit {
                    pattern: r.pattern.clone(),
                    rate: r.rate,
                    concurrency: r.concurrency,
                })
                .collect(),
        )
    }

    /// The politeness of the first table matching the key's host, when it sets any.
    pub fn for_host(&self, key: &HostKey) -> Option<&HostLimit> {
        if self.0.is_empty() {
            return None;
        }
        let host = host_of(key)?;
        self.0
            .iter()
            .find(|l| crate::config::hosts::pattern_matches(&l.pattern, host))
            .filter(|l| l.rate.is_some() || l.concurrency.is_some())
    }

    /// A host's concurrency and spacing (None: no rate limit), given the crawl's.
    pub fn resolve(&self, key: &HostKey, conc: usize, rate: f64) -> (usize, Option<Duration>) {
        let own = self.for_host(key);
        let conc = own.and_then(|l| l.concurrency).unwrap_or(conc);
        let rate = own.and_then(|l| l.rate).unwrap_or(rate);
        (conc, interval_of(rate))
    }

    /// The longest spacing any host may have (the crawl's or a table's).
    pub fn longest_interval(&self, rate: f64) -> Option<Duration> {
        self.0
            .iter()
            .filter_map(|l| l.rate)
            .chain([rate])
            .filter_map(interval_of)
            .max()
    }

    pub fn is_empty(&self) -> bool {
        self.0
            .iter()
            .all(|l| l.rate.is_none() && l.concurrency.is_none())
    }
}

/// Requests per second as the spacing between them (0 = no limit).
pub fn interval_of(rate: f64) -> Option<Duration> {
    (rate > 0.0 && rate.is_finite()).then(|| Duration::from_secs_f64(1.0 / rate))
}

/// The host part of a host key (`scheme://host:port`).
fn host_of(key: &HostKey) -> Option<&str> {
    let rest = key.as_str().split_once("://")?.1;
    Some(rest.rsplit_once(':').map_or(rest, |(h, _)| h))
}
