//! What a site's owner says about a page, read the way the big crawlers read it:
//! robots directives (`<meta name="robots">` and the `X-Robots-Tag` header), the
//! refresh a page asks for (`<meta http-equiv="refresh">`), and which `<link rel>`
//! names another page worth following. Both link passes (the byte scanner and the
//! token pass) call these, so the two can never read a page differently.
//!
//! Everything here is linear in its input and never allocates more than a copy of
//! it; nothing here decides scope or fetches.

/// The robots directives that change what the crawl does with a page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    /// Do not follow the page's links (`nofollow`, or `none`).
    pub nofollow: bool,
    /// The owner asks that the page not be indexed (`noindex`, or `none`): the record
    /// says so; the page is still recorded (the dataset decides what to do with it).
    pub noindex: bool,
}

impl Directives {
    /// Reads one comma- or space-separated directive list (`noindex, nofollow`),
    /// case-insensitively; unknown directives are ignored.
    pub fn read(list: &str) -> Directives {
        let mut d = Directives::default();
        for word in list.split([',', ' ', '\t', '\n', '\r', '\x0c']) {
            d.add(word);
        }
        d
    }

    fn add(&mut self, word: &str) {
        let word = word.trim();
        if word.eq_ignore_ascii_case("nofollow") {
            self.nofollow = true;
        } else if word.eq_ignore_ascii_case("noindex") {
            self.noindex = true;
        } else if word.eq_ignore_ascii_case("none") {
            self.nofollow = true;
            self.noindex = true;
        }
    }

    /// Both sets of directives at once (the stricter reading of each).
    pub fn and(self, other: Directives) -> Directives {
        Directives {
            nofollow: self.nofollow || other.nofollow,
            noindex: self.noindex || other.noindex,
        }
    }
}

/// Directives of the X-Robots-Tag header that take a value after a colon: a word
/// before a colon that is none of these names a user agent.
const VALUED: &[&str] = &[
    "unavailable_after",
    "max-snippet",
    "max-image-preview",
    "max-video-preview",
];

/// Reads the `X-Robots-Tag` header values of one response for the agent whose
/// product token is `agent` (lower case). As Google reads it: directives with no
/// agent apply to every crawler; `agent: directives` apply to that agent only, up to
/// the next `other: ...` in the same value (`googlebot: noindex, nofollow`).
pub fn x_robots_tag<'a>(values: impl IntoIterator<Item = &'a str>, agent: &str) -> Directives {
    let mut d = Directives::default();
    for value in values {
        // None: the pieces apply to every agent; Some(mine): to that agent only.
        let mut scope: Option<bool> = None;
        for piece in value.split(',') {
            let mut piece = piece.trim();
            if let Some((name, rest)) = piece.split_once(':') {
                let name = name.trim();
                // An agent is one word (`googlebot`); the date of `unavailable_after`,
                // split at its comma (`21 Oct 2015 07:28:00 GMT`), is not.
                let word = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if word && !VALUED.iter().any(|v| name.eq_ignore_ascii_case(v)) {
                    scope = Some(name.eq_ignore_ascii_case(agent));
                    piece = rest;
                }
            }
            if scope != Some(false) {
                for word in piece.split_ascii_whitespace() {
                    d.add(word);
                }
            }
        }
    }
    d
}

/// A `<meta http-equiv="refresh" content="...">`: its delay and, when it names one,
/// the URL (as written; the caller resolves it against the page's base URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh<'a> {
    /// Whole seconds, saturating (a hostile page may write a hundred digits).
    pub delay: u64,
    pub url: Option<&'a str>,
}

/// Reads a refresh `content` the way HTML's "shared declarative refresh steps" do:
/// a delay (digits, then digits and dots) that must be followed by the end, a `;`,
/// a `,` or a space; then an optional `url=` and the URL, in quotes or not. `None`
/// when there is no refresh (no delay, or `5minutes`, `1e3; url=...`).
pub fn refresh(content: &str) -> Option<Refresh<'_>> {
    let s = content.trim_start_matches(is_space);
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 && !s.starts_with('.') {
        return None;
    }
    let delay = s[..digits].bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    let s = s[digits..].trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    if !(s.is_empty() || s.starts_with([';', ',']) || s.starts_with(is_space)) {
        return None;
    }
    let s = s.trim_start_matches(is_space);
    let s = s.strip_prefix([';', ',']).unwrap_or(s);
    let s = s.trim_start_matches(is_space);
    let s = match s.get(..3) {
        Some(u) if u.eq_ignore_ascii_case("url") => {
            let rest = s[3..].trim_start_matches(is_space);
            match rest.strip_prefix('=') {
                Some(r) => r.trim_start_matches(is_space),
                None => s,
            }
        }
        _ => s,
    };
    let url = match s.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &s[1..];
            inner.find(q).map_or(inner, |end| &inner[..end])
        }
        _ => s,
    };
    let url = url.trim_matches(is_space);
    Some(Refresh {
        delay,
        url: (!url.is_empty()).then_some(url),
    })
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

/// Whether a `<meta http-equiv>` value is `refresh`.
pub fn is_refresh(http_equiv: &str) -> bool {
    http_equiv.trim().eq_ignore_ascii_case("refresh")
}

/// Whether a `<link rel>` names another page to follow: `canonical`, `alternate`
/// (translations, print and mobile versions, feeds), `next`, `prev`/`previous`;
/// never a stylesheet (`alternate stylesheet`), icon or preload.
pub fn link_followed(rel: &str) -> bool {
    let mut page = false;
    for token in rel.split_ascii_whitespace() {
        let is = |name: &str| token.eq_ignore_ascii_case(name);
        if is("stylesheet") || is("icon") || is("preload") || is("prefetch") || is("modulepreload")
        {
            return false;
        }
        page |= is("canonical") || is("alternate") || is("next") || is("prev") || is("previous");
    }
    page
}

/// Whether a `<link rel>` names something the page needs to render (a page
/// requisite, wget's "inline" link): `stylesheet` (`alternate stylesheet` too),
/// `icon` (`shortcut icon`), `apple-touch-icon` (and `-precomposed`), `mask-icon`,
/// `preload` and `modulepreload`. Not `prefetch`: that is for a later page.
pub fn link_requisite(rel: &str) -> bool {
    rel.split_ascii_whitespace().any(|token| {
        [
            "stylesheet",
            "icon",
            "apple-touch-icon",
            "apple-touch-icon-precomposed",
            "mask-icon",
            "preload",
            "modulepreload",
        ]
        .iter()
        .any(|name| token.eq_ignore_ascii_case(name))
    })
}

/// Whether a `rel` marks its link `nofollow`.
pub fn is_nofollow(rel: &str) -> bool {
    rel.split_ascii_whitespace()
        .any(|t| t.eq_ignore_ascii_case("nofollow"))
}

/// Whether a `<meta name>` addresses us: `robots` (every crawler) or our product
/// token (`<meta name="trawl">`, as Google reads `<meta name="googlebot">`).
pub fn names_us(name: &str, agent: &str) -> bool {
    let name = name.trim();
    name.eq_ignore_ascii_case("robots") || (!agent.is_empty() && name.eq_ignore_ascii_case(agent))
}

/// Whether a `<link rel>` is `canonical`.
pub fn is_canonical(rel: &str) -> bool {
    rel.split_ascii_whitespace()
        .any(|t| t.eq_ignore_ascii_case("canonical"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOFOLLOW: Directives = Directives {
        nofollow: true,
        noindex: false,
    };
    const NOINDEX: Directives = Directives {
        nofollow: false,
        noindex: true,
    };
    const BOTH: Directives = Directives {
        nofollow: true,
        noindex: true,
    };

    #[test]
    fn directive_lists_are_read_case_insensitively() {
        assert_eq!(Directives::read("noindex, nofollow"), BOTH);
        assert_eq!(Directives::read("NONE"), BOTH);
        assert_eq!(Directives::read("index,NoFollow"), NOFOLLOW);
        assert_eq!(Directives::read("noarchive noindex"), NOINDEX);
        assert_eq!(Directives::read("all"), Directives::default());
        assert_eq!(Directives::read("nofollowing"), Directives::default());
    }

    #[test]
    fn x_robots_tag_applies_unscoped_and_our_agents_directives_only() {
        let tag = |values: &[&str]| x_robots_tag(values.iter().copied(), "trawl");
        assert_eq!(tag(&["nofollow"]), NOFOLLOW);
        assert_eq!(tag(&["noindex", "nofollow"]), BOTH);
        assert_eq!(tag(&["none"]), BOTH);
        assert_eq!(tag(&["trawl: nofollow"]), NOFOLLOW);
        assert_eq!(tag(&["Trawl: noindex, nofollow"]), BOTH);
        assert_eq!(tag(&["googlebot: nofollow"]), Directives::default());
        assert_eq!(tag(&["googlebot: noindex", "trawl: nofollow"]), NOFOLLOW);
        assert_eq!(tag(&["googlebot: none, trawl: noindex"]), NOINDEX);
        // A directive with a value is not an agent.
        assert_eq!(
            tag(&["unavailable_after: 25 Jun 2010 15:00:00 PST, nofollow"]),
            NOFOLLOW
        );
        assert_eq!(tag(&["max-snippet: 20, noindex"]), NOINDEX);
        assert_eq!(tag(&["otherbot: max-snippet: 2"]), Directives::default());
        // An HTTP date has a comma and colons: it names no agent.
        assert_eq!(
            tag(&["unavailable_after: Wed, 21 Oct 2015 07:28:00 GMT, noindex, nofollow"]),
            BOTH
        );
        assert_eq!(
            tag(&["googlebot: unavailable_after: 25 Jun 2010, nofollow"]),
            Directives::default()
        );
    }

    #[test]
    fn refresh_contents_are_read_as_browsers_do() {
        let r = |c| refresh(c).map(|r| (r.delay, r.url));
        assert_eq!(r("0; url=/next"), Some((0, Some("/next"))));
        assert_eq!(r("0;URL='/q'"), Some((0, Some("/q"))));
        assert_eq!(r(" 5 , url = \"/a b\" junk"), Some((5, Some("/a b"))));
        assert_eq!(r("3;/direct"), Some((3, Some("/direct"))));
        assert_eq!(r("2.5; url=/x"), Some((2, Some("/x"))));
        assert_eq!(r("30"), Some((30, None)));
        assert_eq!(r("0; url="), Some((0, None)));
        assert_eq!(r("url=/x"), None);
        assert_eq!(r(""), None);
        let nines = "9".repeat(100);
        assert_eq!(r(&nines), Some((u64::MAX, None)));
        assert_eq!(r("0; url=/unclosed'"), Some((0, Some("/unclosed'"))));
        assert_eq!(r("0; url='/unclosed"), Some((0, Some("/unclosed"))));
        // Anything but `;`, `,` or a space after the delay: no refresh at all.
        assert_eq!(r("5minutes"), None);
        assert_eq!(r("1e3; url=/t1"), None);
        assert_eq!(r("0\turl=/tab"), Some((0, Some("/tab"))));
    }

    #[test]
    fn only_link_rels_naming_pages_are_followed() {
        for rel in [
            "canonical",
            "alternate",
            "next",
            "PREV",
            "previous",
            "nofollow next",
        ] {
            assert!(link_followed(rel), "{rel}");
        }
        for rel in [
            "stylesheet",
            "alternate stylesheet",
            "icon",
            "preload",
            "manifest",
            "",
        ] {
            assert!(!link_followed(rel), "{rel}");
        }
        assert!(is_canonical("Canonical"));
        assert!(!is_canonical("alternate"));
    }

    #[test]
    fn link_rels_a_page_renders_with_are_requisites() {
        for rel in [
            "stylesheet",
            "alternate stylesheet",
            "shortcut icon",
            "ICON",
            "apple-touch-icon",
            "apple-touch-icon-precomposed",
            "preload",
            "modulepreload",
        ] {
            assert!(link_requisite(rel), "{rel}");
            assert!(!link_followed(rel), "{rel}");
        }
        for rel in ["prefetch", "canonical", "alternate", "next", "manifest", ""] {
            assert!(!link_requisite(rel), "{rel}");
        }
    }

    #[test]
    fn reading_is_linear_in_the_input() {
        // A megabyte of separators or digits is one pass (no quadratic splitting).
        let big = ",".repeat(1 << 20);
        assert_eq!(x_robots_tag([big.as_str()], "trawl"), Directives::default());
        let digits = "1".repeat(1 << 20);
        assert_eq!(refresh(&digits).map(|r| r.delay), Some(u64::MAX));
        let colons = "a:".repeat(1 << 19);
        assert_eq!(
            x_robots_tag([colons.as_str()], "trawl"),
            Directives::default()
        );
    }
}
