//! Recrawl (`--since PREVIOUS_OUT`): a crawl that asks only for what changed since
//! an earlier one, from that crawl's pages files (every process's parts, whole
//! lines only, compressed or not).
//!
//! What an earlier record tells of its URL is a [`Prior`]: the status, the
//! validators the server sent (`ETag`, `Last-Modified`), the payload digest and
//! the date. The prior travels with the URL's frontier entry, so every process of
//! a fleet, and a resumed run, has it without a lookup table. The fetch asks with
//! `If-None-Match` / `If-Modified-Since`; a `304` is recorded `not_modified` with
//! the prior's digest, and a `200` bringing the prior's digest is `unchanged`
//! ([`Change`]).
//!
//! A 304 has no body to read links from, so the earlier crawl's URLs are all
//! admitted at start, at their earlier depth and under this crawl's scope, filters
//! and trap guards: the recrawl reaches every page the earlier one did, and a page
//! no longer linked is checked too (its 404 says it is gone), as a Heritrix recrawl
//! seeded with its previous crawl's URLs does. Changed pages are parsed as usual,
//! so new pages are found through them.
//!
//! Everything read here is checked as if hostile (the directory may come from
//! anywhere): a line that is not a record is skipped, a validator longer than a
//! header may carry or holding a byte a header cannot carry is dropped.
//!
//! This module only reads: it never writes to the earlier crawl's directory.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What an earlier crawl's record said of a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prior {
    /// The earlier record's status (null: no response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// `sha1:...` of the payload the earlier crawl had (carried over a `304`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// When the payload `digest` names was captured (RFC 3339): the earlier
    /// record's `original_date` over a 304, else its `fetched_at`. What an
    /// archive's revisit record refers to.
    pub date: String,
}

impl Prior {
    /// Whether the earlier response stands for a page we may ask about
    /// conditionally: a 2xx, or a 304 that confirmed one.
    fn had_content(&self) -> bool {
        self.status
            .is_some_and(|s| (200..300).contains(&s) || s == 304)
    }

    /// The validators to ask with, when the earlier response had content.
    pub fn validators(&self) -> (Option<&str>, Option<&str>) {
        match self.had_content() {
            true => (self.etag.as_deref(), self.last_modified.as_deref()),
            false => (None, None),
        }
    }

    /// The earlier payload's digest, when it had content.
    pub fn content_digest(&self) -> Option<&str> {
        self.digest.as_deref().filter(|_| self.had_content())
    }
}

/// What a recrawled URL's record says against its prior: the record field
/// `recrawl` (with `--since` only; a stable contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Not in the earlier crawl.
    New,
    /// The server answered `304 Not Modified` to the conditional request.
    NotModified,
    /// The earlier status and payload again (a 2xx with the earlier digest, or the
    /// same 404 page).
    Unchanged,
    /// Anything else with an answer: a new payload, or a new status.
    Changed,
}

impl Change {
    pub const ALL: [Change; 4] = [
        Change::New,
        Change::NotModified,
        Change::Unchanged,
        Change::Changed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::NotModified => "not_modified",
            Change::Unchanged => "unchanged",
            Change::Changed => "changed",
        }
    }

    /// A response's change against `prior` (`digest` is the new payload's).
    pub fn of(prior: Option<&Prior>, status: u16, digest: Option<&str>) -> Change {
        let Some(prior) = prior else {
            return Change::New;
        };
        // A 304 before stood for the 2xx it confirmed.
        let before = prior.status.map(|s| if s == 304 { 200 } else { s });
        match status {
            304 => Change::NotModified,
            _ if before == Some(status) && digest == prior.digest.as_deref() => Change::Unchanged,
            _ => Change::Changed,
        }
    }
}

/// Why `--since` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecrawlError {
    #[error("--since {0}: no earlier crawl there (no pages.jsonl files)")]
    Empty(PathBuf),
    #[error("--since {0}: its pages files hold no record of a crawl")]
    NoRecords(PathBuf),
    #[error("--since {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--since {0} is this crawl's own --out: give the earlier crawl's directory, and a new --out")]
    SameAsOut(PathBuf),
}

/// One URL of the earlier crawl, to admit again.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorUrl {
    pub url: String,
    pub depth: u32,
    /// It was fetched as a page requisite.
    pub requisite: bool,
    pub prior: Prior,
}

/// Longest ETag or Last-Modified kept (from a response or an earlier record):
/// real ones are tens of bytes, and a record must not carry a server's megabyte.
pub const MAX_VALIDATOR_BYTES: usize = 512;

/// The fields of an earlier record a recrawl reads (the rest are ignored).
#[derive(Deserialize)]
struct Line {
    url: String,
    depth: u32,
    status: Option<u16>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    fetched_at: String,
    #[serde(default)]
    original_date: Option<String>,
    #[serde(default)]
    requisite: Option<bool>,
}

/// Longest `digest` and `fetched_at` kept: real ones are 37 and 24 bytes.
const MAX_FIELD_BYTES: usize = 64;

/// One line of an earlier crawl, when it is a record.
pub fn parse(line: &[u8]) -> Option<PriorUrl> {
    let l: Line = serde_json::from_slice(line).ok()?;
    let fits = |v: &String, max: usize| {
        v.len() <= max && v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    };
    if !fits(&l.fetched_at, MAX_FIELD_BYTES) {
        return None;
    }
    Some(PriorUrl {
        url: l.url,
        depth: l.depth,
        requisite: l.requisite.unwrap_or(false),
        prior: Prior {
            status: l.status,
            etag: l.etag.filter(|v| fits(v, MAX_VALIDATOR_BYTES)),
            last_modified: l.last_modified.filter(|v| fits(v, MAX_VALIDATOR_BYTES)),
            digest: l.digest.filter(|v| fits(v, MAX_FIELD_BYTES)),
            // Over a 304, the capture the digest names is older than the record.
            date: l
                .original_date
                .filter(|v| fits(v, MAX_FIELD_BYTES))
                .unwrap_or(l.fetched_at),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prior(status: u16, digest: &str) -> Prior {
        Prior {
            status: Some(status),
            etag: Some("\"v1\"".into()),
            last_modified: None,
            digest: Some(digest.into()),
            date: "2026-12-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn change_against_the_prior() {
        let p = prior(200, "sha1:A");
        assert_eq!(Change::of(None, 200, Some("sha1:A")), Change::New);
        assert_eq!(Change::of(Some(&p), 304, None), Change::NotModified);
        assert_eq!(Change::of(Some(&p), 200, Some("sha1:A")), Change::Unchanged);
        assert_eq!(Change::of(Some(&p), 200, Some("sha1:B")), Change::Changed);
        assert_eq!(Change::of(Some(&p), 404, Some("sha1:A")), Change::Changed);
        // A 404 before: the same 404 page is unchanged, a page there now changed.
        let gone = prior(404, "sha1:A");
        assert_eq!(
            Change::of(Some(&gone), 404, Some("sha1:A")),
            Change::Unchanged
        );
        assert_eq!(
            Change::of(Some(&gone), 200, Some("sha1:A")),
            Change::Changed
        );
        // A 304 before carried its 200's digest.
        let confirmed = prior(304, "sha1:A");
        assert_eq!(
            Change::of(Some(&confirmed), 200, Some("sha1:A")),
            Change::Unchanged
        );
        // Empty bodies: the same redirect again.
        let moved = Prior {
            digest: None,
            ..prior(301, "")
        };
        assert_eq!(Change::of(Some(&moved), 301, None), Change::Unchanged);
        assert_eq!(Change::of(Some(&moved), 302, None), Change::Changed);
        assert_eq!(gone.validators(), (None, None));
        assert_eq!(p.validators(), (Some("\"v1\""), None));
    }

    #[test]
    fn hostile_lines_are_skipped_or_trimmed() {
        assert!(parse(b"not json").is_none());
        assert!(parse(br#"{"url":"http://a/","depth":0}"#).is_none());
        let long = "x".repeat(MAX_VALIDATOR_BYTES + 1);
        let line = format!(
            r#"{{"url":"http://a/","depth":2,"status":200,"etag":"{long}","last_modified":"a\nb","digest":"sha1:A","fetched_at":"2026-12-01T00:00:00.000Z"}}"#
        );
        let p = parse(line.as_bytes()).unwrap();
        assert_eq!(p.depth, 2);
        assert_eq!(p.prior.etag, None, "too long for a header");
        assert_eq!(
            p.prior.last_modified, None,
            "a newline cannot go in a header"
        );
        assert_eq!(p.prior.digest.as_deref(), Some("sha1:A"));
    }
}
