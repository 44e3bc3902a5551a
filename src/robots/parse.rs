//! Reading robots.txt text: lines, then statements (`User-agent`, `Allow`,
//! `Disallow`, `Sitemap`, `Crawl-delay`), then the one group of rules that applies
//! to our agent.
//!
//! The reading began as the one `texting_robots` 0.2 does (which trawl used before,
//! and which its tests still use as a reference): NUL, CR and LF end lines, `#`
//! starts a comment, a key is matched case-insensitively with its common
//! misspellings and is followed by `:` or blanks, values are trimmed of Unicode white
//! space, an empty `Disallow:` allows everything, our agent's own groups are read if
//! any name it, else the `*` groups.
//!
//! Where Google's parser (google/robotstxt, `robots.cc`) reads differently on the
//! points below, we now read as Google does, because that is the reading sites are
//! written and tested against (README, "robots.txt as Google reads it"):
//! - a `User-agent:` value names the product token it starts with: its leading
//!   letters, `-` and `_` (`FOO BAR`, `foo/1.0` and `foo2` all name `foo`), compared
//!   case-insensitively; `*`, alone or followed by a space, is the any-agent group;
//!   our own name is cut the same way ([`product_token`]);
//! - patterns are normalised before matching ([`normalise_into`]): bytes outside
//!   ASCII are percent-encoded one by one (UTF-8 text as UTF-8; other bytes too,
//!   where we used to drop the rule) and the hex digits of `%xx` escapes are
//!   upper-cased; the URL path gets the same treatment, so `%aa` and `%AA` compare
//!   equal either way round. Unlike Google, escapes of unreserved characters
//!   (letters, digits, `-._~`) are decoded, as RFC 9309 and trawl's canonical URLs
//!   do: a crawled URL never keeps `%7E`, so a site's `Disallow: /%7Euser/` must
//!   match `/~user/` or it would never be obeyed;
//! - an Allow whose last `/` starts `/index.htm` also allows its directory: Google's
//!   implicit `Allow: <dir>/$`, added from the same line;
//! - a line longer than [`MAX_LINE_BYTES`] is cut there (the rest up to its end is
//!   ignored), as Google's fixed line buffer does, rather than read whole.
//!
//! This module must never panic, allocate per line beyond what it keeps, or take
//! more than one pass over the text per question; and it never lets a number from
//! the file through unchecked (see [`crawl_delay`]).

pub use crate::config::product_token;
use std::borrow::Cow;
use std::time::Duration;

use super::matcher::{Rules, RulesBuilder};

/// RFC 9309 asks crawlers to parse at least 500 KiB; the rest of a file is not read
/// (the crawl's fetch stops there too, so `trawl robots` reads the same text).
pub const ROBOTS_MAX_BYTES: usize = 500 * 1024;

/// The longest Crawl-delay kept, in seconds (a day: the most `max_crawl_delay` may
/// be, and the frontier clamps to that setting). Longer or infinite values are
/// clamped to it rather than dropped: the site asked for a long wait.
pub const CRAWL_DELAY_CAP_SECS: f64 = 86_400.0;

/// The most bytes of one line that are read. Google reads a line into a buffer of
/// 8 x 2,083 bytes (eight times the longest URL old browsers took), one of which
/// holds the C string's closing NUL; what does not fit is dropped up to the line's
/// end. A pattern cut there still matches (as a prefix) the URLs it began to name.
pub const MAX_LINE_BYTES: usize = 2083 * 8 - 1;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Key {
    UserAgent,
    Allow,
    Disallow,
    Sitemap,
    CrawlDelay,
}

/// The spellings accepted for each key. No name is a prefix of another (a test
/// checks it), so the first name that starts a line is the only one.
const KEYS: &[(Key, &[&str])] = &[
    (Key::UserAgent, &["user-agent", "user agent", "useragent"]),
    (Key::Allow, &["allow"]),
    (
        Key::Disallow,
        &[
            "disallow",
            "dissallow",
            "dissalow",
            "disalow",
            "diasllow",
            "disallaw",
        ],
    ),
    (Key::Sitemap, &["sitemap", "site-map", "site map"]),
    (
        Key::CrawlDelay,
        &["crawl-delay", "crawl delay", "crawldelay"],
    ),
];

/// One `key: value` line; `line` is 1-based.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Statement<'a> {
    pub line: usize,
    pub key: Key,
    pub value: &'a [u8],
}

/// The statements of `txt` (its first [`ROBOTS_MAX_BYTES`]), in order.
pub(crate) fn statements(txt: &[u8]) -> impl Iterator<Item = Statement<'_>> {
    let txt = &txt[..txt.len().min(ROBOTS_MAX_BYTES)];
    let mut at = 0;
    for bom in [0xEF, 0xBB, 0xBF] {
        if txt.get(at) == Some(&bom) {
            at += 1;
        }
    }
    Lines { txt, at, line: 0 }.filter_map(|(line, content)| {
        let (key, value) = statement(content)?;
        Some(Statement { line, key, value })
    })
}

/// Lines as (1-based number, content without its end). A line ends at the first CR,
/// LF or NUL; a run of CRs and one LF (or NUL) after it is one line end.
struct Lines<'a> {
    txt: &'a [u8],
    at: usize,
    line: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.txt.get(self.at..).filter(|r| !r.is_empty())?;
        let len = rest
            .iter()
            .position(|b| matches!(b, b'\n' | b'\r' | 0))
            .unwrap_or(rest.len());
        let mut end = len;
        while rest.get(end) == Some(&b'\r') {
            end += 1;
        }
        if matches!(rest.get(end), Some(b'\n' | 0)) {
            end += 1;
        }
        self.at += end;
        self.line += 1;
        Some((self.line, &rest[..len.min(MAX_LINE_BYTES)]))
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A line's key and value, if it is a statement we read.
fn statement(content: &[u8]) -> Option<(Key, &[u8])> {
    let start = content.iter().position(|&b| !is_blank(b))?;
    let s = &content[start..];
    let (key, rest) = KEYS.iter().find_map(|(key, names)| {
        names.iter().find_map(|name| {
            let head = s.get(..name.len())?;
            head.eq_ignore_ascii_case(name.as_bytes())
                .then(|| (*key, &s[name.len()..]))
        })
    })?;
    let value = after_separator(rest)?;
    let value = match value.iter().position(|&b| b == b'#') {
        Some(hash) => &value[..hash],
        None => value,
    };
    Some((key, trim(value)))
}

/// What follows `:` (blanks allowed before it), or else one or more blanks.
fn after_separator(rest: &[u8]) -> Option<&[u8]> {
    let blanks = rest.iter().take_while(|&&b| is_blank(b)).count();
    if rest.get(blanks) == Some(&b':') {
        return Some(&rest[blanks + 1..]);
    }
    (blanks > 0).then(|| &rest[blanks..])
}

/// `bytes` without leading and trailing Unicode white space (a byte sequence that
/// is not UTF-8 stops the trim, as it is no white space).
pub(crate) fn trim(mut bytes: &[u8]) -> &[u8] {
    while let Some(n) = first_char(bytes).filter(|(c, _)| c.is_whitespace()) {
        bytes = &bytes[n.1..];
    }
    while let Some(n) = last_char(bytes).filter(|(c, _)| c.is_whitespace()) {
        bytes = &bytes[..bytes.len() - n.1];
    }
    bytes
}

fn first_char(b: &[u8]) -> Option<(char, usize)> {
    let n = match *b.first()? {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return None,
    };
    let c = std::str::from_utf8(b.get(..n)?).ok()?.chars().next()?;
    Some((c, n))
}

fn last_char(b: &[u8]) -> Option<(char, usize)> {
    let start = (1..=b.len().min(4)).find(|&n| b[b.len() - n] & 0xC0 != 0x80)?;
    let c = std::str::from_utf8(&b[b.len() - start..])
        .ok()?
        .chars()
        .next()?;
    Some((c, start))
}

/// What a `User-agent:` value names, read as Google reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Agent<'a> {
    /// `*`, alone or followed by white space (`* # all` or `* bots` is still `*`).
    Any,
    /// The product token the value starts with (possibly empty: `*bot`, `9bot`).
    Named(&'a [u8]),
}

/// Reads a `User-agent:` value. Google keeps a value's leading letters, `-` and
/// `_` and ignores the rest (`Googlebot/2.1` is `Googlebot`, `Foo Bar` is `Foo`).
pub(crate) fn agent_of(value: &[u8]) -> Agent<'_> {
    match value {
        [b'*'] => Agent::Any,
        // C's isspace: the blanks plus VT and FF (CR and LF end the line first).
        [b'*', b' ' | b'\t' | 0x0B | 0x0C, ..] => Agent::Any,
        _ => Agent::Named(product_token(value)),
    }
}

/// Whether `b` is percent-encoded when it stands raw in a pattern or path: Google
/// encodes every byte outside ASCII; we also encode the few ASCII bytes a URL never
/// holds raw (controls, space, `"`, `<`, `>`, `` ` ``), which Google leaves as they
/// are, so that a rule written with them can match the URLs it names.
fn needs_escape(b: u8) -> bool {
    b >= 0x80 || b.is_ascii_control() || matches!(b, b' ' | b'"' | b'<' | b'>' | b'`')
}

/// The two hex digits of the `%xx` escape `s` starts with, if it starts with one
/// (a `%` not followed by two hex digits is a plain character, as for Google).
fn escape_at(s: &[u8]) -> Option<[u8; 2]> {
    match s {
        [b'%', h, l, ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => Some([*h, *l]),
        _ => None,
    }
}

/// The unreserved character an escape's hex digits stand for, if it is one
/// (letters, digits, `-`, `.`, `_`, `~`): those are decoded, as `canon` decodes
/// them in every URL the crawl holds. Never `*` or `$`, so no wildcard appears.
fn unreserved([h, l]: [u8; 2]) -> Option<char> {
    let digit = |d: u8| char::from(d).to_digit(16);
    let b = u8::try_from(digit(h)? * 16 + digit(l)?).ok()?;
    (b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')).then(|| char::from(b))
}

/// Appends `raw` normalised for matching, as Google's `MaybeEscapePattern` does:
/// each byte that [`needs_escape`] becomes `%XX` (so UTF-8 text is percent-encoded
/// as UTF-8) and the hex digits of an existing `%xx` are upper-cased (`%aa` is
/// `%AA`); and, as trawl's canonical URLs are, an escape of an unreserved
/// character is decoded (`%7E` is `~`). Linear in `raw`.
pub(crate) fn normalise_into(raw: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut at = 0;
    while let Some(&b) = raw.get(at) {
        if let Some(c) = escape_at(&raw[at..]).and_then(unreserved) {
            out.push(c);
            at += 3;
        } else if let Some([h, l]) = escape_at(&raw[at..]) {
            out.push('%');
            out.push(char::from(h.to_ascii_uppercase()));
            out.push(char::from(l.to_ascii_uppercase()));
            at += 3;
        } else if needs_escape(b) {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
            at += 1;
        } else {
            out.push(char::from(b));
            at += 1;
        }
    }
}

/// `path` (a URL's path and query) normalised as patterns are, borrowed when it
/// already is: a URL from the `url` crate is encoded already, so usually only the
/// case of an escape's hex digits can change, and most paths are returned as is.
pub(crate) fn normalise_path(path: &str) -> Cow<'_, str> {
    let bytes = path.as_bytes();
    let mut at = 0;
    let changes = loop {
        let Some(&b) = bytes.get(at) else {
            break false;
        };
        if let Some(hex) = escape_at(&bytes[at..]) {
            if hex.iter().any(u8::is_ascii_lowercase) || unreserved(hex).is_some() {
                break true;
            }
            at += 3;
        } else if needs_escape(b) {
            break true;
        } else {
            at += 1;
        }
    };
    if !changes {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 8);
    normalise_into(bytes, &mut out);
    Cow::Owned(out)
}

/// For a normalised Allow pattern whose last `/` starts `/index.htm` (Google's
/// test, case-sensitive: `/index.html`, `/index.htm`, `/index.html$`...), the
/// length of the directory part up to and including that `/`.
fn index_directory(pattern: &str) -> Option<usize> {
    let slash = pattern.rfind('/')?;
    pattern[slash..]
        .starts_with("/index.htm")
        .then_some(slash + 1)
}

/// A `Crawl-delay` value as a duration, range-checked: not a number, NaN or
/// negative is no delay (`None`, the line is ignored); zero is `Some(ZERO)`;
/// infinite or longer than [`CRAWL_DELAY_CAP_SECS`] is the cap.
pub fn crawl_delay(value: &[u8]) -> Option<Duration> {
    let secs: f64 = std::str::from_utf8(value).ok()?.parse().ok()?;
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs.min(CRAWL_DELAY_CAP_SECS)))
}

/// One robots.txt as our agent reads it.
#[derive(Debug)]
pub struct Robots {
    pub rules: Rules,
    /// The group's Crawl-delay (else one given before any `User-agent` line);
    /// `None` when absent or zero.
    pub crawl_delay: Option<Duration>,
    /// Every `Sitemap:` URL, whichever group it is in.
    pub sitemaps: Vec<String>,
    /// The group read: our agent's name (lower case) or `*`.
    pub group: String,
}

impl Robots {
    /// Reads `txt` for `agent`: our name, of which only its [`product_token`]
    /// counts. Never fails: what cannot be read is ignored, as robots.txt readers
    /// must.
    pub fn parse(agent: &str, txt: &[u8]) -> Robots {
        let agent =
            String::from_utf8_lossy(product_token(agent.trim().as_bytes())).to_ascii_lowercase();
        // An empty token (a name starting with a digit or `(`) is named by no line.
        let names_us = |value: &[u8]| {
            matches!(agent_of(value), Agent::Named(n) if !n.is_empty()
                && n.eq_ignore_ascii_case(agent.as_bytes()))
        };
        let (named, any_agent) = statements(txt)
            .filter(|s| s.key == Key::UserAgent)
            .fold((false, false), |(named, _), s| {
                (named || names_us(s.value), true)
            });
        // Our own groups if any line names us, else the `*` groups.
        let ours = |value: &[u8]| match named {
            true => names_us(value),
            false => agent_of(value) == Agent::Any,
        };
        let group = if named {
            agent.clone()
        } else {
            "*".to_string()
        };
        let mut rules = RulesBuilder::default();
        let mut sitemaps = Vec::new();
        let (mut group_delay, mut top_delay) = (None, None);
        let mut seen_agent = false;
        let mut capturing = !any_agent;
        let mut in_agent_run = false;
        for s in statements(txt) {
            let delay = match s.key {
                Key::Sitemap => {
                    if let Ok(url) = std::str::from_utf8(s.value) {
                        sitemaps.push(url.to_string());
                    }
                    continue;
                }
                // An unreadable Crawl-delay is no statement at all (it does not end
                // a run of User-agent lines).
                Key::CrawlDelay => match crawl_delay(s.value) {
                    Some(d) => Some(d),
                    None => continue,
                },
                _ => None,
            };
            if s.key == Key::UserAgent {
                // A run of User-agent lines opens one group for all of them.
                capturing = (capturing && in_agent_run) || ours(s.value);
                in_agent_run = true;
                seen_agent = true;
                continue;
            }
            in_agent_run = false;
            if !seen_agent && delay.is_some() {
                top_delay = delay;
            }
            if capturing {
                group_delay = group_delay.or(delay);
                add_rule(&mut rules, &s);
            }
        }
        Robots {
            rules: rules.build(),
            crawl_delay: group_delay.or(top_delay).filter(|d| !d.is_zero()),
            sitemaps,
            group,
        }
    }
}

/// Adds an Allow or Disallow statement (others are ignored) as a normalised
/// pattern ([`normalise_into`]), and for an Allow of `<dir>/index.htm...` Google's
/// implicit `Allow: <dir>/$` from the same line.
fn add_rule(rules: &mut RulesBuilder, s: &Statement<'_>) {
    let (allow, value) = match s.key {
        Key::Disallow if s.value.is_empty() => (true, &b"/"[..]),
        Key::Disallow => (false, s.value),
        Key::Allow => (true, s.value),
        _ => return,
    };
    let kept = rules.push_with(allow, s.line, |out| normalise_into(value, out));
    // Google adds the implicit rule only when the Allow itself does not match; it
    // is shorter than the Allow, so where both match the Allow wins anyway and
    // adding it always decides the same.
    let index_dir = kept
        .filter(|_| s.key == Key::Allow)
        .and_then(index_directory);
    if let Some(dir_len) = index_dir {
        rules.push_implied_directory(dir_len, s.line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_name_is_a_prefix_of_another() {
        let names: Vec<&str> = KEYS.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        for a in &names {
            for b in &names {
                assert!(a == b || !b.starts_with(a), "{a} starts {b}");
            }
        }
    }

    #[test]
    fn lines_end_at_cr_lf_and_nul() {
        let lines: Vec<_> = Lines {
            txt: b"a\r\nb\rc\n\nd\0e\r\r\nf",
            at: 0,
            line: 0,
        }
        .map(|(n, l)| (n, String::from_utf8_lossy(l).into_owned()))
        .collect();
        let want = [
            (1, "a"),
            (2, "b"),
            (3, "c"),
            (4, ""),
            (5, "d"),
            (6, "e"),
            (7, "f"),
        ];
        let want: Vec<_> = want.iter().map(|(n, s)| (*n, s.to_string())).collect();
        assert_eq!(lines, want);
    }

    #[test]
    fn statements_read_keys_separators_comments_and_trim() {
        let txt = "\u{feff}  USER-AGENT : Foo # c\nDisallow /a b\nAllowed: /x\n\
                   Sitemap:\u{a0}http://s/x\u{3000}\ncrawl delay\t3\nDisallow:#\n";
        let got: Vec<_> = statements(txt.as_bytes())
            .map(|s| (s.line, s.key, String::from_utf8_lossy(s.value).into_owned()))
            .collect();
        let want = [
            (1, Key::UserAgent, "Foo"),
            (2, Key::Disallow, "/a b"),
            (4, Key::Sitemap, "http://s/x"),
            (5, Key::CrawlDelay, "3"),
            (6, Key::Disallow, ""),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(n, k, v)| (*n, *k, v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    /// Every number a robots.txt gives is range-checked before it is a duration.
    #[test]
    fn crawl_delay_is_range_checked() {
        let cap = Duration::from_secs_f64(CRAWL_DELAY_CAP_SECS);
        let cases: [(&str, Option<Duration>); 14] = [
            ("2.5", Some(Duration::from_millis(2500))),
            ("0", Some(Duration::ZERO)),
            ("1e30", Some(cap)),
            ("1e400", Some(cap)),
            ("inf", Some(cap)),
            ("+Infinity", Some(cap)),
            ("86401", Some(cap)),
            ("NaN", None),
            ("-nan", None),
            ("-5", None),
            ("-inf", None),
            ("-0.0", Some(Duration::ZERO)),
            ("ten", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(crawl_delay(value.as_bytes()), want, "{value}");
        }
        assert_eq!(crawl_delay(b"\xff"), None);
    }

    #[test]
    fn crawl_delay_comes_from_the_group_or_the_top_of_the_file() {
        let delay = |agent: &str, txt: &str| Robots::parse(agent, txt.as_bytes()).crawl_delay;
        let txt = "Crawl-delay: 7\nUser-agent: a\nCrawl-delay: 2\nCrawl-delay: 3\n\
                   User-agent: *\nDisallow: /x\n";
        assert_eq!(delay("a", txt), Some(Duration::from_secs(2)));
        assert_eq!(delay("b", txt), Some(Duration::from_secs(7)));
        // Unreadable values are skipped, huge ones clamped, zero is none.
        let txt = "User-agent: *\nCrawl-delay: NaN\nCrawl-delay: 1e30\n";
        assert_eq!(
            delay("a", txt),
            Some(Duration::from_secs_f64(CRAWL_DELAY_CAP_SECS))
        );
        assert_eq!(delay("a", "User-agent: *\nCrawl-delay: 0\n"), None);
        // An unreadable Crawl-delay does not split a run of User-agent lines.
        let txt = "User-agent: x\nCrawl-delay: -1\nUser-agent: a\nDisallow: /\n";
        assert!(!Robots::parse("x", txt.as_bytes()).rules.allowed("/p"));
    }

    #[test]
    fn sitemaps_are_read_from_every_group() {
        let txt = "Sitemap: http://a/1.xml\nUser-agent: other\nSitemap: http://a/2.xml\n";
        let r = Robots::parse("trawl", txt.as_bytes());
        assert_eq!(r.sitemaps, ["http://a/1.xml", "http://a/2.xml"]);
    }

    #[test]
    fn only_the_first_500_kib_is_read() {
        let mut txt = "User-agent: *\n".to_string();
        txt.push_str(&"#".repeat(ROBOTS_MAX_BYTES));
        txt.push_str("\nDisallow: /\n");
        assert!(Robots::parse("trawl", txt.as_bytes()).rules.allowed("/x"));
    }
}
