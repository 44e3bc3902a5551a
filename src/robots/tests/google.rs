//! RFC 9309's examples, and Google's reading where it differs (google/robotstxt,
//! robots.cc and robots_test.cc): product tokens, escapes, path plus query,
//! index.html, long lines.

use super::*;

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
