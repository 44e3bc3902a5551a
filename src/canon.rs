//! The one place URLs are canonicalised, keyed for politeness and fingerprinted.
//!
//! Every URL that enters the crawl — seed, link, redirect target — passes through
//! [`canonicalize`] first, so two spellings of one page are one page everywhere:
//! in the visited set, the frontier, robots checks and the records.
//!
//! What canonical means here (the `url` crate does the WHATWG parsing: lowercase
//! scheme and host, IDN to punycode, default ports dropped, dot segments resolved):
//! - only `http` and `https` survive;
//! - the fragment is dropped;
//! - percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded,
//!   every other escape keeps its meaning with upper-case hex (`%2f` → `%2F`);
//! - query parameters are sorted (optional), empty `?` and empty `&&` pairs dropped;
//! - session ids are removed (optional): `;jsessionid=...` path parameters and the
//!   query parameters `jsessionid`, `phpsessid`, `sid`, `sessionid`, `session_id`,
//!   `sessid`, `aspsessionid*`, `cfid`, `cftoken` — one page must not become a new
//!   URL on every visit (a classic spider trap);
//! - path case is kept: servers may treat `/A` and `/a` as different pages;
//! - user info (`user:pass@`) is removed: see `fetch::logins`.
//!
//! This module never does I/O.

use std::fmt;
use std::sync::Arc;

use url::Url;

/// Politeness unit: scheme + host + port, e.g. `https://example.com:443`.
/// Cheap to clone (shared string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostKey(Arc<str>);

impl HostKey {
    pub fn of(url: &Url) -> HostKey {
        let host = url.host_str().unwrap_or("");
        let port = url.port_or_known_default().unwrap_or(0);
        HostKey(format!("{}://{}:{}", url.scheme(), host, port).into())
    }

    /// Reads back a host key saved with [`as_str`](Self::as_str).
    pub fn parse(saved: &str) -> Option<HostKey> {
        let url = Url::parse(saved).ok()?;
        let key = HostKey::of(&url);
        (key.as_str() == saved).then_some(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Stable shard number in `0..shards`.
    pub fn shard(&self, shards: usize) -> usize {
        (xxhash_rust::xxh3::xxh3_64(self.0.as_bytes()) % shards.max(1) as u64) as usize
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 64-bit fingerprint of a canonical URL: stable across runs, machines and processes
/// (xxh3), so it can key a durable or shared visited set. At 10 million URLs the
/// chance of any collision is about 3 in a million.
pub fn fingerprint(canonical: &Url) -> u64 {
    fingerprint_str(canonical.as_str())
}

/// A hasher for maps keyed by fingerprints: they are xxh3 hashes already, so
/// hashing them again (std's SipHash) is pure cost.
#[derive(Default, Clone, Copy)]
pub struct FingerprintHasher(u64);

impl std::hash::Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not a u64 key: fold the bytes (never used on the hot path).
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Build-hasher for fingerprint-keyed maps and sets.
pub type Fingerprints = std::hash::BuildHasherDefault<FingerprintHasher>;

/// [`fingerprint`] of a canonical URL already in text form (as in pages.jsonl).
pub fn fingerprint_str(canonical: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(canonical.as_bytes())
}

/// Why a string could not become a crawlable URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonError {
    #[error("not a URL: {0}")]
    Parse(String),
    #[error("not an http(s) URL")]
    Scheme,
    #[error("URL has no host")]
    NoHost,
}

/// The optional canonicalisation rules (both on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// URLs differing only in query parameter order are one URL.
    pub sort_query: bool,
    /// Drop session-id parameters.
    pub strip_session_ids: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            sort_query: true,
            strip_session_ids: true,
        }
    }
}

fn is_session_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    matches!(
        k.as_str(),
        "jsessionid"
            | "phpsessid"
            | "sid"
            | "sessionid"
            | "session_id"
            | "sessid"
            | "cfid"
            | "cftoken"
    ) || k.starts_with("aspsessionid")
}

/// Removes `;jsessionid=...` (any case) from each path segment.
fn strip_path_session(path: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    if !lower.contains(";jsessionid=") {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    let mut rest_lower = lower.as_str();
    while let Some(i) = rest_lower.find(";jsessionid=") {
        out.push_str(&rest[..i]);
        let after = &rest_lower[i..];
        let end = after.find('/').map_or(rest.len(), |j| i + j);
        rest = &rest[end..];
        rest_lower = &rest_lower[end..];
    }
    out.push_str(rest);
    Some(out)
}

/// Parses `input` (relative to `base` when given) and canonicalises it.
pub fn parse(input: &str, base: Option<&Url>, rules: Rules) -> Result<Url, CanonError> {
    let input = input.trim();
    let url = match base {
        Some(b) => b.join(input),
        None => Url::parse(input),
    }
    .map_err(|e| CanonError::Parse(e.to_string()))?;
    canonicalize(url, rules)
}

/// Canonicalises an already parsed URL (see the module docs for the rules).
pub fn canonicalize(mut url: Url, rules: Rules) -> Result<Url, CanonError> {
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(CanonError::Scheme);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(CanonError::NoHost);
    }
    url.set_fragment(None);
    // Credentials are never part of a URL's identity, and must never be written
    // or logged: a seed's login is kept aside (`fetch::logins`), a link's dropped.
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }

    let mut path = normalize_escapes(url.path());
    if rules.strip_session_ids {
        if let Some(p) = strip_path_session(&path) {
            path = p;
        }
    }
    if path != url.path() {
        url.set_path(&path);
    }

    if let Some(query) = url.query() {
        // Escapes first: `s%69d` is `sid`, and must go as `sid` goes, or the
        // canonical form of `?s%69d=1` (`?sid=1`) would canonicalise to another.
        let mut pairs: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(normalize_escapes)
            .filter(|p| {
                !(rules.strip_session_ids && is_session_key(p.split('=').next().unwrap_or("")))
            })
            .collect();
        if rules.sort_query {
            // Sort by key first so that repeated keys keep their relative order.
            pairs.sort_by(|a, b| {
                let ka = a.split('=').next().unwrap_or("");
                let kb = b.split('=').next().unwrap_or("");
                ka.cmp(kb)
            });
        }
        let q = pairs.join("&");
        url.set_query(if q.is_empty() { None } else { Some(&q) });
    }
    Ok(url)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes escaped unreserved characters and upper-cases the hex of the rest.
fn normalize_escapes(s: &str) -> String {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                let v = h * 16 + l;
                if is_unreserved(v) {
                    out.push(v as char);
                } else {
                    out.push('%');
                    out.push(bytes[i + 1].to_ascii_uppercase() as char);
                    out.push(bytes[i + 2].to_ascii_uppercase() as char);
                }
                i += 3;
                continue;
            }
        }
        // Copy one whole UTF-8 character: escapes are ASCII, so we never split one.
        let ch_len = utf8_len(bytes[i]);
        out.push_str(&s[i..(i + ch_len).min(s.len())]);
        i += ch_len;
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        parse(s, None, Rules::default())
            .map(String::from)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn canonical_table() {
        let table = [
            ("HTTP://Example.COM/a", "http://example.com/a"),
            ("http://example.com:80/", "http://example.com/"),
            ("https://example.com:443/x", "https://example.com/x"),
            ("http://example.com:8080/x", "http://example.com:8080/x"),
            ("http://example.com", "http://example.com/"),
            ("http://example.com/a/./b/../c", "http://example.com/a/c"),
            ("http://example.com/a#frag", "http://example.com/a"),
            ("http://example.com/%7euser", "http://example.com/~user"),
            ("http://example.com/%41%42c", "http://example.com/ABc"),
            ("http://example.com/a%2fb", "http://example.com/a%2Fb"),
            ("http://example.com/a%2Fb", "http://example.com/a%2Fb"),
            ("http://example.com/CaSe", "http://example.com/CaSe"),
            ("http://example.com/?b=2&a=1", "http://example.com/?a=1&b=2"),
            ("http://example.com/?a=1&b=2", "http://example.com/?a=1&b=2"),
            ("http://example.com/?", "http://example.com/"),
            (
                "http://example.com/a;jsessionid=AB12/b?x=1",
                "http://example.com/a/b?x=1",
            ),
            (
                "http://example.com/a;JSESSIONID=AB12",
                "http://example.com/a",
            ),
            (
                "http://example.com/?PHPSESSID=9&id=3&sid=77",
                "http://example.com/?id=3",
            ),
            (
                "http://example.com/?ASPSESSIONIDQQ=1&cfid=2&cftoken=3",
                "http://example.com/",
            ),
            ("http://example.com/?side=1", "http://example.com/?side=1"),
            ("http://example.com/?s%69d=1&a=2", "http://example.com/?a=2"),
            (
                "http://example.com/?a=1&&b=2&",
                "http://example.com/?a=1&b=2",
            ),
            ("http://example.com/?q=%7e%2f", "http://example.com/?q=~%2F"),
            ("http://bücher.example/", "http://xn--bcher-kva.example/"),
            ("http://example.com/ä", "http://example.com/%C3%A4"),
            ("http://example.com/a b", "http://example.com/a%20b"),
            ("http://example.com/%", "http://example.com/%"),
            ("http://example.com/%zz", "http://example.com/%zz"),
            ("mailto:a@example.com", "ERR not an http(s) URL"),
            ("ftp://example.com/", "ERR not an http(s) URL"),
            ("javascript:void(0)", "ERR not an http(s) URL"),
        ];
        for (input, want) in table {
            assert_eq!(c(input), want, "canonicalising {input}");
        }
    }

    #[test]
    fn query_order_kept_when_sorting_is_off() {
        let rules = Rules {
            sort_query: false,
            strip_session_ids: false,
        };
        let u = parse("http://e.com/?b=2&a=1&sid=3", None, rules).unwrap();
        assert_eq!(u.as_str(), "http://e.com/?b=2&a=1&sid=3");
    }

    #[test]
    fn repeated_keys_keep_their_order() {
        assert_eq!(c("http://e.com/?b=1&a=9&b=0"), "http://e.com/?a=9&b=1&b=0");
    }

    #[test]
    fn relative_links_resolve_against_the_base() {
        let base = Url::parse("http://e.com/dir/page.html").unwrap();
        let u = parse("../x?b&a#f", Some(&base), Rules::default()).unwrap();
        assert_eq!(u.as_str(), "http://e.com/x?a&b");
    }

    #[test]
    fn host_key_and_fingerprint() {
        let a = parse("http://E.com/x", None, Rules::default()).unwrap();
        let b = parse("http://e.com:80/y", None, Rules::default()).unwrap();
        let s = parse("https://e.com/x", None, Rules::default()).unwrap();
        assert_eq!(HostKey::of(&a), HostKey::of(&b));
        assert_ne!(HostKey::of(&a), HostKey::of(&s));
        assert_eq!(HostKey::of(&a).as_str(), "http://e.com:80");
        assert_eq!(
            fingerprint(&a),
            fingerprint(&parse("http://e.com/x#z", None, Rules::default()).unwrap())
        );
        assert_ne!(fingerprint(&a), fingerprint(&b));
        // Stable across runs and builds: a durable or shared visited set relies on it.
        assert_eq!(
            fingerprint(&a),
            xxhash_rust::xxh3::xxh3_64(b"http://e.com/x")
        );
    }
}

/// Property tests: arbitrary strings, URL-ish strings from a small grammar, and
/// many spellings of one URL.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 256,
            // CI runs on a clean clone: nothing is written next to the sources.
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    fn one_of(items: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop::sample::select(items).prop_map(str::to_string)
    }

    fn rules() -> impl Strategy<Value = Rules> {
        (any::<bool>(), any::<bool>()).prop_map(|(sort_query, strip_session_ids)| Rules {
            sort_query,
            strip_session_ids,
        })
    }

    /// Pieces of paths and queries, plain and hostile.
    fn part() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-zA-Z0-9._~-]{1,6}",
            2 => one_of(&[
                "%41", "%7e", "%7E", "%2f", "%2F", "%2e", "%2E%2E", "%25", "%", "%z", "%e2%82%ac",
                ".", "..", ";jsessionid=AB", ";JSESSIONID=1", "a b", "é", "\\", "//", "?", "#",
                "&", "=", "&&", "+", "%00", "\t", "s%69d", "%53ID",
            ]),
            1 => any::<char>().prop_map(String::from),
        ]
    }

    fn urlish() -> impl Strategy<Value = String> {
        let scheme = one_of(&[
            "http://",
            "HTTP://",
            "https://",
            "hTTpS://",
            "ftp://",
            "mailto:",
            "javascript:",
            "http:",
            "http:///",
            "",
            "//",
        ]);
        let host = one_of(&[
            "example.com",
            "EXAMPLE.com",
            "bücher.example",
            "xn--bcher-kva.example",
            "127.0.0.1",
            "[::1]",
            "0x7f.1",
            "a..b",
            "",
            "user:pw@e.com",
            "e.com.",
            "%65.com",
        ]);
        let port = one_of(&["", ":80", ":443", ":8080", ":0", ":65535", ":99999", ":"]);
        let path = prop::collection::vec(part(), 0..5).prop_map(|p| p.join("/"));
        let key = one_of(&[
            "a",
            "b",
            "B",
            "sid",
            "SID",
            "PHPSESSID",
            "jsessionid",
            "aspsessionidxy",
            "cfid",
            "side",
            "",
            "s%69d",
        ]);
        let pair = (key, prop::option::of(part()))
            .prop_map(|(k, v)| v.map_or(k.clone(), |v| format!("{k}={v}")));
        let query = prop::option::of(prop::collection::vec(pair, 0..5).prop_map(|q| q.join("&")));
        let fragment = prop::option::of(part());
        (scheme, host, port, path, query, fragment).prop_map(|(s, h, p, path, q, f)| {
            let mut url = format!("{s}{h}{p}/{path}");
            if let Some(q) = q {
                url.push('?');
                url.push_str(&q);
            }
            if let Some(f) = f {
                url.push('#');
                url.push_str(&f);
            }
            url
        })
    }

    /// What every canonical URL must be, and that canonicalising it again changes
    /// nothing (the visited set keys on it: two spellings must never survive).
    fn check_canonical(u: &Url, rules: Rules) -> Result<(), TestCaseError> {
        prop_assert!(u.scheme() == "http" || u.scheme() == "https", "{u}");
        prop_assert!(u.host_str().is_some_and(|h| !h.is_empty()), "{u}");
        prop_assert!(u.fragment().is_none(), "{u}");
        prop_assert_eq!(&parse(u.as_str(), None, rules), &Ok(u.clone()), "reparsed");
        prop_assert_eq!(&canonicalize(u.clone(), rules), &Ok(u.clone()), "again");
        prop_assert_eq!(fingerprint(u), fingerprint_str(u.as_str()));
        let key = HostKey::of(u);
        prop_assert_eq!(HostKey::parse(key.as_str()), Some(key));
        if rules.strip_session_ids {
            let path = u.path().to_ascii_lowercase();
            prop_assert!(!path.contains(";jsessionid="), "{u}");
            for pair in u.query().unwrap_or("").split('&') {
                prop_assert!(!is_session_key(pair.split('=').next().unwrap_or("")), "{u}");
            }
        }
        if rules.sort_query {
            let keys: Vec<&str> = u
                .query()
                .unwrap_or("")
                .split('&')
                .map(|p| p.split('=').next().unwrap_or(""))
                .collect();
            prop_assert!(keys.is_sorted(), "{u}");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_string_is_a_canonical_url_or_an_error(s in any::<String>(), rules in rules()) {
            let base = Url::parse("http://e.com/d/p?q=1").unwrap();
            for u in [parse(&s, None, rules), parse(&s, Some(&base), rules)].iter().flatten() {
                check_canonical(u, rules)?;
            }
        }

        #[test]
        fn url_like_strings_canonicalise_to_fixed_points(s in urlish(), rules in rules()) {
            let base = Url::parse("https://e.com/d/p").unwrap();
            for u in [parse(&s, None, rules), parse(&s, Some(&base), rules)].iter().flatten() {
                check_canonical(u, rules)?;
            }
        }

        #[test]
        fn spellings_of_one_url_are_one_url(
            host in "[a-z]{1,8}\\.(com|org)",
            segments in prop::collection::vec("[a-zA-Z0-9._~-]{1,5}", 0..4),
            keys in prop::collection::btree_set("[a-z]{1,3}", 0..4),
            upper in any::<bool>(),
            port in any::<bool>(),
            escape in prop::collection::vec(any::<bool>(), 64),
            hash in prop::option::of("[a-z]{0,4}"),
        ) {
            // Session-id keys are stripped; the rest, sorted, is the canonical form.
            let keys: Vec<String> = keys.into_iter().filter(|k| !is_session_key(k)).collect();
            let path: Vec<&str> = segments
                .iter()
                .map(String::as_str)
                .filter(|s| *s != "." && *s != "..")
                .collect();
            let plain = format!("http://{host}/{}", path.join("/"));
            let query: Vec<String> = keys.iter().map(|k| format!("{k}=1")).collect();
            let want = match query.is_empty() {
                true => plain.clone(),
                false => format!("{plain}?{}", query.join("&")),
            };
            // Another spelling: case, default port, escaped unreserved characters,
            // reversed and padded query, a fragment.
            let mut other = format!(
                "{}://{}{}/",
                if upper { "HTTP" } else { "http" },
                if upper { host.to_uppercase() } else { host.clone() },
                if port { ":80" } else { "" },
            );
            let mut n = 0;
            for (i, seg) in path.iter().enumerate() {
                if i > 0 {
                    other.push('/');
                }
                for c in seg.chars() {
                    n += 1;
                    match escape[n % escape.len()] {
                        true => other.push_str(&format!("%{:02x}", c as u32)),
                        false => other.push(c),
                    }
                }
            }
            if !query.is_empty() {
                let reversed: Vec<&str> = query.iter().rev().map(String::as_str).collect();
                other.push_str(&format!("?&{}&&sid=9", reversed.join("&")));
            }
            if let Some(h) = hash {
                other.push('#');
                other.push_str(&h);
            }
            let got = parse(&other, None, Rules::default()).map(String::from);
            prop_assert_eq!(got, Ok(want.clone()), "{}", other);
        }
    }
}
