//! Reading robots.txt text: lines, then statements (`User-agent`, `Allow`,
//! `Disallow`, `Sitemap`, `Crawl-delay`), then the one group of rules that applies
//! to our agent.
//!
//! The reading is the one `texting_robots` 0.2 does (which trawl used before, and
//! which its tests still use as a reference): NUL, CR and LF end lines, `#` starts a
//! comment, a key is matched case-insensitively with its common misspellings and
//! is followed by `:` or blanks, values are trimmed of Unicode white space, an empty
//! `Disallow:` allows everything, our agent's own groups are read if any name it
//! (the whole value, compared case-insensitively), else the `*` groups.
//!
//! This module must never panic, allocate per line beyond what it keeps, or take
//! more than one pass over the text per question; and it never lets a number from
//! the file through unchecked (see [`crawl_delay`]).

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::matcher::{Rules, RulesBuilder};

/// RFC 9309 asks crawlers to parse at least 500 KiB; the rest of a file is not read
/// (the crawl's fetch stops there too, so `trawl robots` reads the same text).
pub const ROBOTS_MAX_BYTES: usize = 500 * 1024;

/// The longest Crawl-delay kept, in seconds (a day: the most `max_crawl_delay` may
/// be, and the frontier clamps to that setting). Longer or infinite values are
/// clamped to it rather than dropped: the site asked for a long wait.
pub const CRAWL_DELAY_CAP_SECS: f64 = 86_400.0;

/// The escaping applied to patterns before matching: paths outside ASCII and a few
/// characters a URL never holds raw must be percent-encoded to compare with a URL.
const PATTERN_ESCAPES: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`');

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
        Some((self.line, &rest[..len]))
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
    /// Reads `txt` for `agent` (the product token). Never fails: what cannot be
    /// read is ignored, as robots.txt readers must.
    pub fn parse(agent: &str, txt: &[u8]) -> Robots {
        let agent = agent.to_lowercase();
        let (named, any_agent) = statements(txt).filter(|s| s.key == Key::UserAgent).fold(
            (false, false),
            |(named, _), s| {
                (
                    named || s.value.eq_ignore_ascii_case(agent.as_bytes()),
                    true,
                )
            },
        );
        let group = if named { agent } else { "*".to_string() };
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
                capturing =
                    (capturing && in_agent_run) || s.value.eq_ignore_ascii_case(group.as_bytes());
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

/// Adds an Allow or Disallow statement (others are ignored) as a percent-encoded
/// pattern; a pattern that is not UTF-8 is skipped.
fn add_rule(rules: &mut RulesBuilder, s: &Statement<'_>) {
    let (allow, value) = match s.key {
        Key::Disallow if s.value.is_empty() => (true, &b"/"[..]),
        Key::Disallow => (false, s.value),
        Key::Allow => (true, s.value),
        _ => return,
    };
    if let Ok(pattern) = std::str::from_utf8(value) {
        let encoded = utf8_percent_encode(pattern, PATTERN_ESCAPES);
        rules.push(encoded, allow, s.line);
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
