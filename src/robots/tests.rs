//! The robots.txt reader and matcher against RFC 9309's examples, a reference
//! implementation (`texting_robots`, which trawl used before) and a naive matcher;
//! property tests for panics; timing ratios for linearity; the cache's byte budget
//! and single fetch against a loopback server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use url::Url;

use super::matcher::{pattern_matches, RulesBuilder};
use super::*;

fn url(path: &str) -> Url {
    Url::parse(&format!("http://e.com{path}")).unwrap()
}

fn may(agent: &str, txt: &[u8], path: &str) -> bool {
    allowed(&Robots::parse(agent, txt).rules, &url(path))
}

/// The matching examples of RFC 9309 (section 2.2.2 and 5).
#[test]
fn rfc9309_examples() {
    let txt = b"User-Agent: *\nDisallow: *.gif$\nDisallow: /example/\nAllow: /publications/\n\n\
User-Agent: foobot\nDisallow:/\nAllow:/example/page.html\nAllow:/example/allowed.gif\n\n\
User-Agent: barbot\nUser-Agent: bazbot\nDisallow: /example/page.html\n\n\
User-Agent: quxbot\n";
    assert!(may("foobot", txt, "/example/page.html"));
    assert!(may("foobot", txt, "/example/allowed.gif"));
    assert!(!may("foobot", txt, "/example/disallowed.gif"));
    assert!(!may("foobot", txt, "/"));
    assert!(!may("barbot", txt, "/example/page.html"));
    assert!(may("barbot", txt, "/example/"));
    assert!(!may("BazBot", txt, "/example/page.html"));
    assert!(may("quxbot", txt, "/example/page.html"));
    assert!(!may("trawl", txt, "/x/y.gif"));
    assert!(may("trawl", txt, "/x/y.gif?z"));
    assert!(!may("trawl", txt, "/example/a"));
    assert!(may("trawl", txt, "/publications/a"));
    assert!(may("trawl", b"User-agent: *\nDisallow: /\n", "/robots.txt"));

    // Longest match wins; on a tie, Allow wins.
    let r = b"User-agent: *\nAllow: /p\nDisallow: /\n";
    assert!(may("trawl", r, "/page") && !may("trawl", r, "/other"));
    let r = b"User-agent: *\nAllow: /folder\nDisallow: /folder\n";
    assert!(may("trawl", r, "/folder/page"));
    let r = b"User-agent: *\nAllow: /page\nDisallow: /*.html\n";
    assert!(!may("trawl", r, "/page.html") && may("trawl", r, "/page"));
    // Patterns are percent-encoded to compare with a URL's path.
    let r = "User-agent: *\nDisallow: /ä\nDisallow: /a b\n".as_bytes();
    assert!(!may("trawl", r, "/ä/x") && !may("trawl", r, "/a b"));
    // Crawl-delay is read for the matching group.
    let r = Robots::parse(
        "trawl",
        b"User-agent: trawl\nCrawl-delay: 2.5\nDisallow: /x\n",
    );
    assert_eq!(r.crawl_delay, Some(Duration::from_millis(2500)));
}

/// Google's reading, where it differs from regex-based matchers: a `$` inside a
/// pattern is a plain character (Google's robots.cc), not an end that can never
/// match. It came for free with the matcher.
#[test]
fn a_dollar_inside_a_pattern_is_a_plain_character() {
    let r = b"User-agent: *\nDisallow: /a$b\n";
    assert!(!may("trawl", r, "/a$b"));
    assert!(!may("trawl", r, "/a$bc"));
    assert!(may("trawl", r, "/a"));
}

// ---------------------------------------------------------------------------------
// Google's reading (google/robotstxt, robots.cc and robots_test.cc)
// ---------------------------------------------------------------------------------

/// Whether `agent` may fetch `url` (any URL, not canonicalised: these tests pin
/// what the robots module itself does with escapes and fragments).
fn may_url(agent: &str, txt: &[u8], url: &str) -> bool {
    allowed(&Robots::parse(agent, txt).rules, &Url::parse(url).unwrap())
}

/// A `User-agent:` value names the product token it starts with (its letters, `-`
/// and `_`), compared case-insensitively; `*` alone or before a space is the
/// any-agent group, `*bot` names nobody.
#[test]
fn user_agent_lines_name_the_product_token_they_start_with() {
    for value in [
        "FOO BAR", "foo bar", "FoO bAr", "foo/1.0", "Foo2", "foo;x", "foo\tbar",
    ] {
        let txt = format!("User-Agent: {value}\nAllow: /x/\nDisallow: /\n");
        for agent in ["foo", "Foo", "FOO"] {
            assert!(may(agent, txt.as_bytes(), "/x/y"), "{agent} in {value:?}");
            assert!(!may(agent, txt.as_bytes(), "/a/b"), "{agent} in {value:?}");
        }
        // The token is the whole leading run: `foobar` and `fo` are others.
        assert!(may("foobar", txt.as_bytes(), "/a/b"), "{value:?}");
        assert!(may("fo", txt.as_bytes(), "/a/b"), "{value:?}");
    }
    // Google's AcceptUserAgentUpToFirstSpace: `Foo Bar` is foo's group, not `*`.
    let txt = b"User-Agent: *\nDisallow: /\nUser-Agent: Foo Bar\nAllow: /x/\nDisallow: /\n";
    assert!(may("Foo", txt, "/x/y"));
    assert_eq!(Robots::parse("foo", txt).group, "foo");
    // `-` and `_` belong to the token.
    let txt = b"User-agent: my-bot_x/2\nDisallow: /\n";
    assert!(!may("My-Bot_X", txt, "/a") && may("my", txt, "/a"));
    // Our own name counts by its product token too.
    let txt = b"User-agent: foo\nDisallow: /\n";
    assert!(!may("Foo/1.0 (+http://x)", txt, "/a") && !may("foo bar", txt, "/a"));
    // `*` followed by a space (and anything) is still the any-agent group...
    for star in ["*", "* bots", "*\tall"] {
        let txt = format!("User-agent: {star}\nDisallow: /\n");
        assert!(!may("trawl", txt.as_bytes(), "/a"), "{star:?}");
        assert_eq!(Robots::parse("trawl", txt.as_bytes()).group, "*");
    }
    // ... but a star glued to a name is no group at all (nobody's name is empty).
    let txt = b"User-agent: *bot\nDisallow: /\n";
    assert!(may("trawl", txt, "/a") && may("bot", txt, "/a"));
    assert!(may("9bot", b"User-agent: 9bot\nDisallow: /\n", "/a"));
}

/// Patterns are normalised as Google's `MaybeEscapePattern` does (bytes outside
/// ASCII percent-encoded, escapes' hex upper-cased) plus, as trawl's canonical URLs
/// are, unreserved escapes decoded; and the URL's path the same way, so neither an
/// escape's case nor its spelling decides.
#[test]
fn patterns_and_paths_are_normalised_alike() {
    let norm = |raw: &[u8]| {
        let mut out = String::new();
        parse::normalise_into(raw, &mut out);
        out
    };
    assert_eq!(norm("/SanJoséSellers".as_bytes()), "/SanJos%C3%A9Sellers");
    assert_eq!(norm("á".as_bytes()), "%C3%A1");
    assert_eq!(norm(b"%aa/%2f%Zz%a"), "%AA/%2F%Zz%a");
    assert_eq!(norm(b"/%7Eu%2D%41%7a%2a%24"), "/~u-Az%2A%24");
    assert_eq!(norm(b"/caf\xe9"), "/caf%E9");
    assert_eq!(norm(b"/a/b/c?d=http://e"), "/a/b/c?d=http://e");
    // A path that needs nothing is not copied.
    assert!(matches!(
        parse::normalise_path("/a%2F?b=%C3%A4"),
        std::borrow::Cow::Borrowed(_)
    ));
    assert_eq!(parse::normalise_path("/a%2f?b=%c3%a4"), "/a%2F?b=%C3%A4");

    let allow = |pattern: &str| format!("User-agent: FooBot\nDisallow: /\nAllow: {pattern}\n");
    // Google's ID_Encoding: a 3-byte character is matched as its UTF-8 escapes.
    for pattern in ["/foo/bar/ツ", "/foo/bar/%E3%83%84", "/foo/bar/%e3%83%84"] {
        let txt = allow(pattern);
        assert!(may_url(
            "FooBot",
            txt.as_bytes(),
            "http://foo.bar/foo/bar/%E3%83%84"
        ));
        assert!(may_url(
            "FooBot",
            txt.as_bytes(),
            "http://foo.bar/foo/bar/%e3%83%84"
        ));
        assert!(may_url(
            "FooBot",
            txt.as_bytes(),
            "http://foo.bar/foo/bar/ツ"
        ));
    }
    // Unlike Google, escapes of unreserved characters are decoded on both sides,
    // as trawl's canonical URLs decode them: the rule still names those URLs.
    let txt = allow("/foo/bar/%62%61%7A");
    for url in [
        "http://foo.bar/foo/bar/baz",
        "http://foo.bar/foo/bar/%62%61%7A",
        "http://foo.bar/foo/bar/%62%61%7a",
    ] {
        assert!(may_url("FooBot", txt.as_bytes(), url), "{url}");
    }
    let txt = b"User-agent: *\nDisallow: /%7Euser/\nDisallow: /a%2Fb\nDisallow: /%2A\n";
    assert!(!may_url("trawl", txt, "http://e.com/~user/page"));
    assert!(!may_url("trawl", txt, "http://e.com/%7euser/page"));
    // Reserved characters keep their escapes: `%2F` is not `/`, `%2A` is no wildcard.
    assert!(may_url("trawl", txt, "http://e.com/a/b"));
    assert!(!may_url("trawl", txt, "http://e.com/a%2fb"));
    assert!(may_url("trawl", txt, "http://e.com/anything"));
    assert!(!may_url("trawl", txt, "http://e.com/%2A"));
    // A query holding a URL is compared as written.
    let q = "/foo/bar?qux=taz&baz=http://foo.bar?tar&par";
    let txt = allow(q);
    assert!(may_url(
        "FooBot",
        txt.as_bytes(),
        &format!("http://foo.bar{q}")
    ));
    // `%aa` in a pattern matches `%AA` in a path, and the other way round.
    let txt = b"User-agent: *\nDisallow: /%aa\nDisallow: /x/%BB\n";
    for url in [
        "http://e.com/%AA",
        "http://e.com/%aa",
        "http://e.com/x/%bb",
        "http://e.com/x/%BB",
    ] {
        assert!(!may_url("trawl", txt, url), "{url}");
    }
    assert!(may_url("trawl", txt, "http://e.com/%AB"));
    // A pattern that is not UTF-8 (Latin-1 here) is encoded byte by byte, not dropped.
    let txt = b"User-agent: *\nDisallow: /caf\xe9\n";
    assert!(!may_url("trawl", txt, "http://e.com/caf%E9"));
    assert!(!may_url("trawl", txt, "http://e.com/caf%e9/x"));
    assert!(may_url("trawl", txt, "http://e.com/caf%C3%A9"));
}

/// Every pattern, with or without `?`, is matched against path plus query (Google's
/// `GetPathParamsQuery`); the fragment is never part of it.
#[test]
fn every_pattern_matches_path_and_query_never_the_fragment() {
    let txt = b"User-agent: *\nDisallow: /*.php$\nDisallow: /p?s=\nDisallow: /*?sort\n\
                Disallow: /a$\nDisallow: /fish\n";
    let cases = [
        ("/x.php", false),
        ("/x.php?id=1", true),
        ("/x.php#top", false),
        ("/p", true),
        ("/p?s=1&t=2", false),
        ("/p?t=2&s=1", true),
        ("/list?sort=asc", false),
        // `?` in a pattern is a plain character: `?sort` is not `&sort`.
        ("/list?page=2&sort=asc", true),
        ("/list", true),
        ("/a", false),
        ("/a#frag", false),
        ("/a?", true),
        ("/a?x", true),
        ("/fish?q", false),
        ("/?id=fish", true),
        ("/;fish", true),
    ];
    for (path, want) in cases {
        assert_eq!(
            may_url("trawl", txt, &format!("http://e.com{path}")),
            want,
            "{path}"
        );
    }
    // An Allow anchored at the end still decides a URL that has a fragment.
    let txt = b"User-agent: *\nAllow: /a$\nDisallow: /\n";
    assert!(may_url("trawl", txt, "http://e.com/a#x"));
    assert!(!may_url("trawl", txt, "http://e.com/a?#x"));
}

/// Google's IndexHTMLisDirectory: an allowed `<dir>/index.htm...` also allows
/// `<dir>/` itself, as an implicit `Allow: <dir>/$` from the same line, ranked by
/// that pattern's length.
#[test]
fn an_allowed_index_html_allows_its_directory() {
    let txt = b"User-Agent: *\nAllow: /allowed-slash/index.html\nDisallow: /\n";
    assert!(may("foobot", txt, "/allowed-slash/"));
    assert!(!may("foobot", txt, "/allowed-slash/index.htm"));
    assert!(may("foobot", txt, "/allowed-slash/index.html"));
    assert!(!may("foobot", txt, "/allowed-slash/other"));
    assert!(!may("foobot", txt, "/allowed-slash/?q"));
    assert!(!may("foobot", txt, "/anyother-url"));
    let rules = Robots::parse("foobot", txt).rules;
    let d = rules.decide("/allowed-slash/").unwrap();
    assert_eq!(
        (d.allow, d.line, d.pattern, d.implied),
        (true, 2, "/allowed-slash/$", true)
    );

    // Which Allow values imply their directory: the text after the last `/` must
    // start `index.htm`, case-sensitively; the rule keeps wildcards before it.
    let implies = |allow: &str, path: &str| {
        let txt = format!("User-agent: *\nDisallow: /\nAllow: {allow}\n");
        may("trawl", txt.as_bytes(), path)
    };
    assert!(implies("/d/index.htm", "/d/"));
    assert!(implies("/d/index.html$", "/d/"));
    assert!(implies("/d/index.htmlx", "/d/"));
    assert!(implies("/index.html", "/"));
    assert!(implies("/*/index.html", "/any/where/"));
    assert!(!implies("/d/INDEX.html", "/d/"));
    assert!(!implies("/d/index.php", "/d/"));
    assert!(!implies("/d/index.html?from=/x", "/d/"));
    assert!(!implies("/d/xindex.html", "/d/"));
    assert!(!implies("/d/index.html", "/d/x/"));
    // A Disallow never implies anything.
    let txt = b"User-agent: *\nDisallow: /\nDisallow: /d/index.html\n";
    assert!(!may("trawl", txt, "/d/"));

    // Precedence: the implied `/d/$` counts 4 bytes. It beats the shorter
    // `Disallow: /d/`, ties with `Disallow: /d/$` (Allow wins a tie), and loses to
    // any longer matching Disallow.
    let txt = b"User-agent: *\nDisallow: /d/\nAllow: /d/index.html\n";
    assert!(may("trawl", txt, "/d/"));
    let txt = b"User-agent: *\nDisallow: /d/$\nAllow: /d/index.html\n";
    assert!(may("trawl", txt, "/d/"));
    let txt = b"User-agent: *\nDisallow: /*d/$\nAllow: /d/index.html\n";
    assert!(!may("trawl", txt, "/d/"));
}

/// Google's LineTooLong: a line is read up to 8 x 2,083 - 1 bytes and the rest of
/// it ignored; a pattern cut there still matches what it began to name.
#[test]
fn lines_longer_than_googles_limit_are_cut_there() {
    assert_eq!(MAX_LINE_BYTES, 16_663);
    let disallow = "disallow: ";
    let allow = "allow: ";
    // Google's first case: the Disallow is cut inside its run of `a`s.
    let mut long = "/x/".to_string();
    let max_len = 2083 * 8 - long.len() - disallow.len() + 1;
    while long.len() < max_len {
        long.push('a');
    }
    let txt = format!("user-agent: FooBot\n{disallow}{long}/qux\n");
    assert!(may("FooBot", txt.as_bytes(), "/fux"));
    assert!(!may("FooBot", txt.as_bytes(), &format!("{long}/fux")));
    // Its second case: two cut Allow lines, each still read, the second after the
    // first's dropped tail.
    let (mut a, mut b) = ("/x/".to_string(), "/x/".to_string());
    let max_len = 2083 * 8 - a.len() - allow.len() + 1;
    while a.len() < max_len {
        a.push('a');
        b.push('b');
    }
    let txt = format!("user-agent: FooBot\ndisallow: /\n{allow}{a}/qux\n{allow}{b}/qux\n");
    assert!(!may("FooBot", txt.as_bytes(), "/"));
    assert!(may("FooBot", txt.as_bytes(), &format!("{a}/qux")));
    assert!(may("FooBot", txt.as_bytes(), &format!("{b}/fux")));

    // The exact limit: a line of MAX_LINE_BYTES is read whole, one byte more loses
    // that byte (here the final `b`), and the next line is read as usual.
    let head = "Disallow: /";
    let run = |n: usize| "a".repeat(n);
    let whole = format!("{head}{}b", run(MAX_LINE_BYTES - head.len() - 1));
    assert_eq!(whole.len(), MAX_LINE_BYTES);
    let txt = format!("User-agent: *\n{whole}\nDisallow: /next\n");
    let path = |tail: &str| format!("/{}{tail}", run(MAX_LINE_BYTES - head.len() - 1));
    assert!(!may("trawl", txt.as_bytes(), &path("b")));
    assert!(may("trawl", txt.as_bytes(), &path("c")));
    assert!(!may("trawl", txt.as_bytes(), "/next"));
    let over = format!("{head}{}b", run(MAX_LINE_BYTES - head.len()));
    let txt = format!("User-agent: *\n{over}\nDisallow: /next\n");
    let path = |tail: &str| format!("/{}{tail}", run(MAX_LINE_BYTES - head.len()));
    assert!(!may("trawl", txt.as_bytes(), &path("c")));
    assert!(!may("trawl", txt.as_bytes(), "/next"));
    // The cut also counts on the first line, after a byte order mark.
    let txt = format!("\u{feff}{over}\n");
    assert!(!may("trawl", txt.as_bytes(), &path("c")));
}

// ---------------------------------------------------------------------------------
// Agreement with references
// ---------------------------------------------------------------------------------

/// The naive reference: Google's position-set matcher, written out plainly.
fn naive_matches(pattern: &str, path: &str) -> bool {
    let (p, path) = (pattern.as_bytes(), path.as_bytes());
    let mut at: Vec<usize> = vec![0];
    for (i, &c) in p.iter().enumerate() {
        if c == b'$' && i + 1 == p.len() {
            return at.contains(&path.len());
        }
        at = match c {
            b'*' => (at[0]..=path.len()).collect(),
            _ => at
                .iter()
                .filter(|&&j| path.get(j) == Some(&c))
                .map(|j| j + 1)
                .collect(),
        };
        if at.is_empty() {
            return false;
        }
    }
    true
}

/// The naive reference for a rule list: every rule tried, longest then Allow wins.
fn naive_allowed(rules: &[(String, bool)], path: &str) -> bool {
    rules
        .iter()
        .filter(|(p, _)| naive_matches(p, path))
        .max_by_key(|(p, allow)| (p.len(), *allow))
        .is_none_or(|(_, allow)| *allow)
}

fn small_pattern() -> impl Strategy<Value = String> {
    "[/ab*$]{0,8}"
}

fn small_path() -> impl Strategy<Value = String> {
    "/[/ab$?=]{0,10}"
}

/// A line of a robots.txt, in the spellings and shapes the reader must handle.
fn robots_line() -> impl Strategy<Value = String> {
    let sep = prop_oneof![Just(": "), Just(":"), Just(" "), Just(" : "), Just("\t:")];
    let agent = prop_oneof![Just("*"), Just("trawl"), Just("TRAWL"), Just("other")];
    // `$` only at the end: inside a pattern the reference never matches (see
    // `a_dollar_inside_a_pattern_is_a_plain_character`).
    let pattern = ("[/ab*.]{0,6}", prop::bool::ANY)
        .prop_map(|(p, end)| if end { format!("{p}$") } else { p });
    let key = prop_oneof![
        Just("Allow"),
        Just("Disallow"),
        Just("disallow"),
        Just("Dissallow")
    ];
    let delay = prop_oneof![Just("1"), Just("2.5"), Just("0"), Just("-1"), Just("x")];
    prop_oneof![
        (Just("User-agent"), sep.clone(), agent).prop_map(|(k, s, v)| format!("{k}{s}{v}")),
        (key, sep.clone(), pattern).prop_map(|(k, s, v)| format!("{k}{s}{v}")),
        (sep.clone(), delay).prop_map(|(s, v)| format!("Crawl-delay{s}{v}")),
        (sep, "[a-z:/.]{0,8}").prop_map(|(s, v)| format!("Sitemap{s}{v}")),
        Just(String::new()),
        Just("# comment".to_string()),
        Just("Disallow: /a # trailing".to_string()),
        Just("nonsense".to_string()),
    ]
}

fn robots_file() -> impl Strategy<Value = String> {
    let end = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
    prop::collection::vec((robots_line(), end), 0..12)
        .prop_map(|lines| lines.into_iter().map(|(l, e)| l + e).collect())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// The linear matcher agrees with the position-set reference on every pattern.
    #[test]
    fn pattern_matching_agrees_with_the_naive_reference(p in small_pattern(), path in small_path()) {
        prop_assert_eq!(pattern_matches(&p, &path), naive_matches(&p, &path), "{} on {}", p, path);
    }

    /// The prefix index decides as a scan of every rule would.
    #[test]
    fn rule_lists_agree_with_a_full_scan(
        rules in prop::collection::vec((small_pattern(), prop::bool::ANY), 0..12),
        paths in prop::collection::vec(small_path(), 1..8),
    ) {
        let mut b = RulesBuilder::default();
        for (i, (p, allow)) in rules.iter().enumerate() {
            b.push(std::iter::once(p.as_str()), *allow, i + 1);
        }
        let built = b.build();
        for path in &paths {
            prop_assert_eq!(built.allowed(path), naive_allowed(&rules, path), "{}", path);
        }
    }

    /// The whole reader agrees with `texting_robots` (which trawl used before) on
    /// small files: groups, rules, sitemaps and Crawl-delay.
    #[test]
    fn robots_files_agree_with_texting_robots(
        txt in robots_file(),
        paths in prop::collection::vec(small_path(), 1..6),
    ) {
        let ours = Robots::parse("trawl", txt.as_bytes());
        let theirs = texting_robots::Robot::new("trawl", txt.as_bytes()).unwrap();
        for path in &paths {
            prop_assert_eq!(
                allowed(&ours.rules, &url(path)),
                theirs.allowed(&format!("http://e.com{path}")),
                "{} in {:?}", path, txt
            );
        }
        prop_assert_eq!(&ours.sitemaps, &theirs.sitemaps);
        let want = theirs.delay.filter(|d| *d > 0.0).map(f64::from);
        let got = ours.crawl_delay.map(|d| d.as_secs_f64());
        prop_assert_eq!(got, want, "{:?}", txt);
    }

    /// Any bytes at all: no panic, and every check answers.
    #[test]
    fn arbitrary_bytes_never_panic(txt in prop::collection::vec(any::<u8>(), 0..2000), path in "/\\PC{0,40}") {
        let robots = Robots::parse("trawl", &txt);
        if let Ok(u) = Url::parse(&format!("http://e.com{path}")) {
            let _ = allowed(&robots.rules, &u);
            let _ = explain::explain_parsed(&robots, &txt, &u);
        }
    }

    /// Robots-shaped text with hostile pieces (long star runs, `$`, NUL, BOM,
    /// invalid UTF-8, huge numbers): no panic.
    #[test]
    fn hostile_robots_text_never_panics(
        pieces in prop::collection::vec(prop_oneof![
            Just("User-agent: *\n".as_bytes().to_vec()),
            Just(b"Disallow: /*****************$\n".to_vec()),
            Just(b"Allow: $$$**$\n".to_vec()),
            Just(b"Crawl-delay: 1e400\n".to_vec()),
            Just(b"Crawl-delay: -nan\n".to_vec()),
            Just(b"\xef\xbb\xbf\0\r\r".to_vec()),
            Just(b"Disallow: /\xff\xfe\n".to_vec()),
            Just("Disallow: /\u{3000}x\u{a0}\n".as_bytes().to_vec()),
            "[ -~]{0,20}".prop_map(String::into_bytes),
        ], 0..30),
        path in "/[a-z*$%/?]{0,30}",
    ) {
        let txt = pieces.concat();
        let robots = Robots::parse("trawl", &txt);
        let _ = allowed(&robots.rules, &url(&path));
    }
}

/// A fixed sample of the reader's cases where the explanation must name the rule
/// the reference implementation's verdict comes from.
#[test]
fn explanations_agree_with_the_reference_verdicts() {
    let files = [
        "User-agent: *\nAllow: /$\nDisallow: /\n",
        "User-agent: *\nDisallow: /fish*\nDisallow: /*.php$\nAllow: /fish/salmon\n",
        "User-agent: trawl\nDisallow: /t/\nCrawl-delay: 3\nUser-agent: other\nDisallow: /\n",
        "User-agent: *\nDisallow:\n",
    ];
    for file in files {
        let theirs = texting_robots::Robot::new("trawl", file.as_bytes()).unwrap();
        for p in [
            "/",
            "/fish",
            "/fish/salmon",
            "/x.php",
            "/x.php?q",
            "/t/1",
            "/a",
        ] {
            let e = explain::explain("trawl", file.as_bytes(), &url(p));
            assert_eq!(
                e.allowed,
                theirs.allowed(url(p).as_str()),
                "{p} in {file:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// Linear time and per-check cost
// ---------------------------------------------------------------------------------

/// Best of `n` timings of `f` (so a loaded machine cannot make it flaky).
fn best_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Asserts that 8x the input takes under 24x the time (linear, with a margin for
/// the sort by prefix and a loaded machine). The small input is run 8 times for
/// each run of the big one, so both timings are equally long and equally exposed
/// to preemption; best of 7, interleaved.
fn assert_linear(what: &str, make: impl Fn(usize) -> Vec<u8>, run: impl Fn(&[u8])) {
    let (small, big) = (make(60 * 1024), make(480 * 1024));
    let once = best_of(1, || run(&big)).max(Duration::from_micros(1));
    let k = (Duration::from_millis(10).as_nanos() / once.as_nanos()).clamp(1, 1000) as u32;
    let (mut t_small, mut t_big) = (Duration::MAX, Duration::MAX);
    for _ in 0..7 {
        t_small = t_small.min(best_of(1, || (0..8 * k).for_each(|_| run(&small))));
        t_big = t_big.min(best_of(1, || (0..k).for_each(|_| run(&big))));
    }
    let (per_small, per_big) = (t_small / (8 * k), t_big / k);
    println!("{what}: {per_small:?} for 60 KiB, {per_big:?} for 480 KiB");
    assert!(
        t_big < t_small * 3,
        "{what}: {per_big:?} for 8x the input vs {per_small:?}"
    );
}

fn repeat_to(unit: &str, head: &str, size: usize) -> Vec<u8> {
    let mut s = head.to_string();
    while s.len() < size {
        s.push_str(unit);
    }
    s.into_bytes()
}

#[test]
fn reading_is_linear_in_the_file() {
    let parse = |txt: &[u8]| {
        let r = Robots::parse("trawl", txt);
        assert!(r.rules.len() <= txt.len());
    };
    assert_linear(
        "many rules",
        |n| repeat_to("Disallow: /1234$\n", "User-agent: *\n", n),
        parse,
    );
    assert_linear(
        "one long line",
        |n| repeat_to("a", "User-agent: *\nDisallow: /", n),
        parse,
    );
    assert_linear(
        "many stars",
        |n| repeat_to("*a", "User-agent: *\nDisallow: /", n),
        parse,
    );
    assert_linear(
        "long blank runs",
        |n| repeat_to(" \t", "User-agent: *\nDisallow:", n),
        parse,
    );
}

/// A pattern of many stars against a long path: linear in both together.
#[test]
fn matching_is_linear_in_pattern_and_path() {
    let run = |input: &[u8]| {
        let text = std::str::from_utf8(input).unwrap();
        let (pattern, path) = text.split_once('\n').unwrap();
        assert!(!pattern_matches(pattern, path));
    };
    // The pattern is half the input, the path the other half; its `b` is never
    // found in the path's run of `a`s.
    let make = |n: usize| {
        let mut v = b"/".to_vec();
        v.extend(b"*a".repeat(n / 4 - 1));
        v.extend(b"*b\n/");
        v.extend(vec![b'a'; n / 2 - 1]);
        v
    };
    assert_linear("stars against a long path", make, run);
}

/// 500 KiB of rules: `Disallow: /N$` (each rule a candidate only for its own
/// prefix) and wildcards sharing the prefix `/` (every rule a candidate, the worst
/// case: anchored ones mostly rejected by their end, open ones searched). Prints
/// the time per check; each must stay bounded.
#[test]
fn a_check_against_500_kib_of_rules_stays_cheap() {
    let dollar = repeat_numbered("Disallow:/{n}$\n", ROBOTS_MAX_BYTES);
    let stars = repeat_numbered("Disallow:/*{n}*x$\n", ROBOTS_MAX_BYTES);
    let stars_open = repeat_numbered("Disallow:/*{n}x*\n", ROBOTS_MAX_BYTES);
    for (name, txt, limit) in [
        ("Disallow:/N$", dollar, Duration::from_millis(2)),
        ("Disallow:/*N*x$", stars, Duration::from_millis(200)),
        ("Disallow:/*Nx*", stars_open, Duration::from_millis(200)),
    ] {
        let robots = Robots::parse("trawl", &txt);
        let paths: Vec<Url> = (0..200)
            .map(|i| url(&format!("/{}/page-{i}?q={i}", i * 7919)))
            .collect();
        let per_check = best_of(3, || {
            for u in &paths {
                let _ = allowed(&robots.rules, u);
            }
        }) / paths.len() as u32;
        println!(
            "{name}: {} rules, {} heap bytes, {per_check:?} per check",
            robots.rules.len(),
            robots.rules.heap_bytes()
        );
        assert!(per_check < limit, "{name}: {per_check:?} per check");
    }
}

/// `template` with `{n}` numbered 0, 1, ... until `size` bytes.
fn repeat_numbered(template: &str, size: usize) -> Vec<u8> {
    let mut s = "User-agent: *\n".to_string();
    for n in 0.. {
        let line = template.replace("{n}", &n.to_string());
        if s.len() + line.len() > size {
            break;
        }
        s.push_str(&line);
    }
    s.into_bytes()
}

/// Memory of one and three parsed 500 KiB `Disallow: /N$` files, by our reader
/// and by `texting_robots` (a regex per rule). Run one at a time, alone in its
/// process, to read the peak RSS:
/// `cargo test --release --lib -- --ignored --exact --nocapture robots::tests::memory_ours`
#[test]
#[ignore]
fn memory_ours() {
    let txt = repeat_numbered("Disallow: /{n}$\n", ROBOTS_MAX_BYTES);
    println!("before: VmHWM {}", vm_hwm());
    let kept: Vec<Robots> = (0..3)
        .map(|i| {
            let r = Robots::parse("trawl", &txt);
            println!("after {} host(s): VmHWM {}", i + 1, vm_hwm());
            r
        })
        .collect();
    println!(
        "ours: {} rules, heap {} bytes per host",
        kept[0].rules.len(),
        kept[0].rules.heap_bytes()
    );
}

#[test]
#[ignore]
fn memory_texting_robots() {
    let txt = repeat_numbered("Disallow: /{n}$\n", ROBOTS_MAX_BYTES);
    println!("before: VmHWM {}", vm_hwm());
    let kept: Vec<texting_robots::Robot> = (0..3)
        .map(|i| {
            let r = texting_robots::Robot::new("trawl", &txt).unwrap();
            println!("after {} host(s): VmHWM {}", i + 1, vm_hwm());
            r
        })
        .collect();
    println!("texting_robots: kept {}", kept.len());
}

fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------
// The cache against a loopback server
// ---------------------------------------------------------------------------------

/// A server on 127.0.0.1:0 answering every request with `body` after `delay`,
/// counting requests. Serves at most 200 connections.
async fn robots_server(body: &'static str, delay: Duration) -> (Url, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        for _ in 0..200 {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 65536 {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
    (Url::parse(&format!("http://{addr}/page")).unwrap(), hits)
}

/// A fetcher for the loopback servers of these tests (several ports: the guard is off).
fn loopback_fetcher() -> Fetcher {
    let guard = Arc::new(crate::fetch::AddressGuard::new(true));
    Fetcher::new(&crate::config::Config::default(), guard).unwrap()
}

async fn verdict(cache: &RobotsCache, fetcher: &Fetcher, url: &Url) -> Verdict {
    tokio::time::timeout(Duration::from_secs(10), cache.check(fetcher, url))
        .await
        .expect("the check ends")
        .verdict
}

/// Concurrent checks of one host wait for a single robots.txt fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_share_one_fetch() {
    let body = "User-agent: *\nDisallow: /page\n";
    let (page, hits) = robots_server(body, Duration::from_millis(200)).await;
    let fetcher = Arc::new(loopback_fetcher());
    let cache = Arc::new(RobotsCache::new(
        "trawl",
        Duration::from_millis(50),
        1 << 20,
    ));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (c, f, u) = (cache.clone(), fetcher.clone(), page.clone());
        set.spawn(async move { verdict(&c, &f, &u).await });
    }
    let verdicts = set.join_all().await;
    assert!(
        verdicts.iter().all(|v| *v == Verdict::Disallowed),
        "{verdicts:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// A budget that holds one big robots.txt: a second host evicts the first, whose
/// robots.txt is fetched again when next needed; a budget that holds both does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_bounded_by_bytes_and_refetches_what_it_evicted() {
    static BIG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let big: &'static str = BIG.get_or_init(|| {
        String::from_utf8(repeat_numbered("Disallow: /{n}$\n", 100 * 1024)).unwrap()
    });
    let (a, a_hits) = robots_server(big, Duration::ZERO).await;
    let (b, b_hits) = robots_server(big, Duration::ZERO).await;
    let fetcher = loopback_fetcher();
    let one_host = Robots::parse("trawl", big.as_bytes()).rules.heap_bytes() + 4096;
    for (budget, a_fetches) in [(one_host, 2), (3 * one_host, 1)] {
        a_hits.store(0, Ordering::SeqCst);
        b_hits.store(0, Ordering::SeqCst);
        let cache = RobotsCache::new("trawl", Duration::from_millis(50), budget);
        assert_eq!(
            verdict(&cache, &fetcher, &a.join("/7").unwrap()).await,
            Verdict::Disallowed
        );
        assert_eq!(
            verdict(&cache, &fetcher, &b.join("/8").unwrap()).await,
            Verdict::Disallowed
        );
        assert_eq!(
            verdict(&cache, &fetcher, &a.join("/7/x").unwrap()).await,
            Verdict::Allowed
        );
        assert!(cache.hosts().used() <= budget, "budget {budget}");
        assert_eq!(a_hits.load(Ordering::SeqCst), a_fetches, "budget {budget}");
        assert_eq!(b_hits.load(Ordering::SeqCst), 1);
    }
}
