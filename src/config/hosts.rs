//! `[[hosts]]`: settings for the hosts a table matches, the first match winning:
//! headers, credentials (HTTP Basic or a bearer token) and whether robots.txt is
//! obeyed. A table names a host (`api.example.com`) or a domain with its subdomains
//! (`*.example.com`). Credentials go to the hosts a table matches and nowhere else:
//! a redirect to another host is a new request, matched anew.
//!
//!
//! A table may also set its hosts' politeness (`rate`, `concurrency`: each host the
//! table matches gets them, in place of `per_host_rate` and `per_host_concurrency`;
//! enforced by the frontier, `frontier::HostLimits`) and cookies sent to them from
//! the start (put in the crawl's jar, scoped to the table's host or domain), and
//! whether its pages are rendered in a browser (`render`, in place of the crawl's).
//! An unknown key is refused, never silently ignored.

use serde::{Deserialize, Serialize};

use super::values::{header_table, Header};

/// One `[[hosts]]` table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRule {
    /// `host`, or `*.domain` for the domain and every subdomain.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Headers for these hosts, on top of the crawl's (same name: this one).
    #[serde(default, with = "header_table", skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Header>,
    /// `user:password` for HTTP Basic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<String>,
    /// A bearer token (`Authorization: Bearer ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer: Option<String>,
    /// `obey` or `ignore` robots.txt for these hosts (unset: the crawl's setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robots: Option<RobotsMode>,
    /// Requests per second to each of these hosts (0 = no limit; unset: `per_host_rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Requests in flight to each of these hosts (unset: `per_host_concurrency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Cookies (name = value) in the jar for these hosts from the start.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub cookies: std::collections::BTreeMap<String, String>,
    /// `never`, `auto` or `always` render these hosts' pages (unset: `render`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render: Option<super::values::RenderMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RobotsMode {
    Obey,
    Ignore,
}

/// Most `[[hosts]]` tables: they are tried in order for every request.
pub const MAX_HOST_RULES: usize = 1000;

impl HostRule {
    /// Whether this table applies to `host` (lower case, as URLs hold it).
    pub fn matches(&self, host: &str) -> bool {
        pattern_matches(&self.pattern, host)
    }

    /// One line naming what is wrong with the table, if anything.
    pub fn check(&self) -> Result<(), String> {
        let p = self.pattern.strip_prefix("*.").unwrap_or(&self.pattern);
        let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
        if p.is_empty() || !p.chars().all(fine) || p != p.to_ascii_lowercase() {
            return Err(format!(
                "match '{}' is not a lower-case host or *.domain",
                self.pattern
            ));
        }
        // A table applies to a host on every port and scheme: a port (outside an
        // IPv6 literal's brackets) or a trailing dot would match nothing, silently.
        let port = match p.strip_prefix('[').and_then(|v6| v6.strip_suffix(']')) {
            // An IPv6 literal: all of it within one pair of brackets.
            Some(inside) => inside.contains(['[', ']']),
            None => p.contains([':', '[', ']']),
        };
        if port || p.ends_with('.') || p.starts_with('.') || p.contains("..") {
            return Err(format!(
                "match '{}' is not a host name (a table matches a host on every port: \
                 give no port, and no leading or trailing dot)",
                self.pattern
            ));
        }
        if self.basic_auth.is_some() && self.bearer.is_some() {
            return Err(format!(
                "{}: basic_auth and bearer are two ways to log in; give one",
                self.pattern
            ));
        }
        if self.basic_auth.as_deref().is_some_and(|b| !b.contains(':')) {
            return Err(format!(
                "{}: basic_auth is written user:password",
                self.pattern
            ));
        }
        if self.rate.is_some_and(|r| !super::rate_in_range(r)) {
            return Err(format!("{}: rate {}", self.pattern, super::RATE_RANGE));
        }
        if self.concurrency.is_some_and(|c| !(1..=10_000).contains(&c)) {
            return Err(format!(
                "{}: concurrency must be between 1 and 10000",
                self.pattern
            ));
        }
        if self.cookies.len() > 64 {
            return Err(format!("{}: at most 64 cookies", self.pattern));
        }
        for (name, value) in &self.cookies {
            // RFC 6265: a name is a token; a value has no controls, space, '"', ',',
            // ';' or '\\'.
            let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
            let octet = |c: char| c.is_ascii_graphic() && !"\",;\\".contains(c);
            if name.is_empty() || !name.chars().all(token) || name.len() > 256 {
                return Err(format!("{}: '{name}' is not a cookie name", self.pattern));
            }
            if value.len() > 4096 || !value.chars().all(octet) {
                return Err(format!(
                    "{}: cookie {name} has a value a cookie cannot carry",
                    self.pattern
                ));
            }
        }
        if self.bearer.as_deref().is_some_and(|t| {
            t.is_empty() || reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")).is_err()
        }) {
            return Err(format!(
                "{}: the bearer token cannot be sent as a header",
                self.pattern
            ));
        }
        Ok(())
    }
}

/// Whether `pattern` (a table's `match`) covers `host`.
pub fn pattern_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => {
            host == domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|rest| rest.ends_with('.'))
        }
        None => host == pattern,
    }
}

/// The first table of `rules` that matches `host`.
pub fn rule_for<'a>(rules: &'a [HostRule], host: &str) -> Option<&'a HostRule> {
    rules.iter().find(|r| r.matches(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p: &str) -> HostRule {
        HostRule {
            pattern: p.into(),
            ..HostRule::default()
        }
    }

    #[test]
    fn a_host_or_a_domain_with_its_subdomains_matches() {
        assert!(rule("api.example.com").matches("api.example.com"));
        assert!(!rule("api.example.com").matches("www.api.example.com"));
        let d = rule("*.example.com");
        assert!(d.matches("example.com") && d.matches("a.b.example.com"));
        assert!(!d.matches("badexample.com") && !d.matches("example.com.evil"));
        let rules = [rule("a.test"), rule("*.test")];
        assert_eq!(
            rule_for(&rules, "a.test").map(|r| r.pattern.as_str()),
            Some("a.test")
        );
        assert_eq!(
            rule_for(&rules, "b.test").map(|r| r.pattern.as_str()),
            Some("*.test")
        );
        assert!(rule_for(&rules, "c.other").is_none());
    }

    #[test]
    fn an_ipv6_literal_is_a_host() {
        let r = rule("[::1]");
        assert!(r.check().is_ok());
        assert!(r.matches("[::1]"));
    }

    #[test]
    fn a_bad_table_is_one_line() {
        let both = HostRule {
            basic_auth: Some("u:p".into()),
            bearer: Some("t".into()),
            ..rule("a.test")
        };
        for (r, needle) in [
            (rule(""), "not a lower-case host"),
            (rule("A.test"), "not a lower-case host"),
            (rule("a b"), "not a lower-case host"),
            (rule("a.test:8080"), "give no port"),
            (rule("[::1]:80"), "give no port"),
            (rule("a.test."), "trailing dot"),
            (rule("*..a.test"), "not a host name"),
            (both, "give one"),
            (
                HostRule {
                    basic_auth: Some("nocolon".into()),
                    ..rule("a.test")
                },
                "user:password",
            ),
            (
                HostRule {
                    rate: Some(f64::NAN),
                    ..rule("a.test")
                },
                "rate must be",
            ),
            (
                HostRule {
                    rate: Some(-1.0),
                    ..rule("a.test")
                },
                "rate must be",
            ),
            (
                HostRule {
                    concurrency: Some(0),
                    ..rule("a.test")
                },
                "concurrency must be",
            ),
            (
                HostRule {
                    cookies: [("a b".to_string(), "1".to_string())].into(),
                    ..rule("a.test")
                },
                "not a cookie name",
            ),
            (
                HostRule {
                    cookies: [("sid".to_string(), "x;y".to_string())].into(),
                    ..rule("a.test")
                },
                "cannot carry",
            ),
        ] {
            let e = r.check().unwrap_err();
            assert!(e.contains(needle) && !e.contains('\n'), "{e}");
        }
    }
}
