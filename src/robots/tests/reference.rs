//! Agreement with references: a naive matcher (Google's position sets, written
//! out plainly), a full scan of the rules, and `texting_robots`; property tests
//! that no input panics; `trawl robots`' explanations against the verdicts.

use proptest::prelude::*;

use super::super::matcher::{pattern_matches, RulesBuilder};
use super::*;

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
