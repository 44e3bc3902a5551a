//! `--render auto`: does a page fetched over HTTP look built by script, so that
//! only a browser would show its links and text? Decided from the raw body and the
//! link count of its plain parse, in linear time (the `regex` crate's automata, one
//! pass each), and only asked when the body holds a `<script`: a page without
//! script is what it is.
//!
//! The signals, in the order they are tried (the first names the reason):
//! - `app_root`: an empty mount point of a client-side framework: an element with
//!   id `root`, `app`, `__next`, `__nuxt`, `___gatsby`, `svelte` or `main-app`
//!   closed with nothing but blanks inside, or an empty `<app-root>` (Angular);
//! - `noscript`: a `<noscript>` whose text names JavaScript ("You need to enable
//!   JavaScript to run this app");
//! - `little_content`: fewer than [`FEW_LINKS`] links and under
//!   [`LITTLE_TEXT`] bytes of visible text (outside tags, scripts and styles).
//!
//! This module never renders or fetches: it only reads a body.

use std::sync::OnceLock;

use regex::bytes::Regex;

/// Fewer links than this, beside script and little text, is a shell.
pub const FEW_LINKS: usize = 3;
/// Visible text under this many bytes (blanks not counted) is little.
pub const LITTLE_TEXT: usize = 200;

/// Why a page was rendered: the record's `render_reason` and a stats.json key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `render = "always"`.
    Always,
    /// An empty client-side app root.
    AppRoot,
    /// A `<noscript>` asking for JavaScript.
    Noscript,
    /// Script beside almost no links and text.
    LittleContent,
}

impl Reason {
    pub const ALL: [Reason; 4] = [
        Reason::Always,
        Reason::AppRoot,
        Reason::Noscript,
        Reason::LittleContent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reason::Always => "always",
            Reason::AppRoot => "app_root",
            Reason::Noscript => "noscript",
            Reason::LittleContent => "little_content",
        }
    }
}

fn patterns() -> &'static [Regex; 3] {
    static P: OnceLock<[Regex; 3]> = OnceLock::new();
    P.get_or_init(|| {
        let compile = |p: &str| Regex::new(p).unwrap_or_else(|_| unreachable_pattern());
        [
            compile(r"(?i)<script[\s>]"),
            compile(
                r#"(?i)<(?:div|main|section|body)\s[^>]*\bid\s*=\s*["']?(?:root|app|__next|__nuxt|___gatsby|svelte|main-app)["'\s>][^>]*>\s*</(?:div|main|section|body)>|<app-root(?:\s[^>]*)?>\s*</app-root>"#,
            ),
            compile(r"(?i)<noscript[^>]*>[^<]{0,300}javascript"),
        ]
    })
}

/// The patterns above are constants, compiled in every test run: they cannot fail.
#[cold]
fn unreachable_pattern() -> Regex {
    // An empty pattern never fails to compile; reached only if a constant breaks,
    // which the unit tests would show.
    Regex::new("").unwrap_or_else(|_| std::process::abort())
}

/// Whether a page whose plain parse gave `links` links looks script-built, and why.
pub fn script_built(body: &[u8], links: usize) -> Option<Reason> {
    let [script, app_root, noscript] = patterns();
    if !script.is_match(body) {
        return None;
    }
    if app_root.is_match(body) {
        return Some(Reason::AppRoot);
    }
    if noscript.is_match(body) {
        return Some(Reason::Noscript);
    }
    (links < FEW_LINKS && visible_text(body, LITTLE_TEXT) < LITTLE_TEXT)
        .then_some(Reason::LittleContent)
}

/// Bytes of visible text (not blanks; outside tags, comments, `<script>` and
/// `<style>`), counted up to `enough`: one pass, stopping early.
fn visible_text(body: &[u8], enough: usize) -> usize {
    let mut count = 0;
    let mut i = 0;
    while i < body.len() && count < enough {
        if body[i] != b'<' {
            count += usize::from(!body[i].is_ascii_whitespace());
            i += 1;
            continue;
        }
        let rest = &body[i..];
        // Past the end marker, and past the end tag's `>` for elements.
        let skip_to = |from: usize, end: &[u8]| {
            let after = find_ci(&body[from..], end).map_or(body.len(), |p| from + p + end.len());
            match end.ends_with(b">") {
                true => after,
                false => memchr(b'>', &body[after..]).map_or(body.len(), |p| after + p + 1),
            }
        };
        i = if rest.starts_with(b"<!--") {
            skip_to(i + 4, b"-->")
        } else if starts_ci(rest, b"<script") {
            skip_to(i + 7, b"</script")
        } else if starts_ci(rest, b"<style") {
            skip_to(i + 6, b"</style")
        } else {
            memchr(b'>', &body[i..]).map_or(body.len(), |p| i + p + 1)
        };
    }
    count
}

fn starts_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

/// First position of `needle` (ASCII, any case) in `hay`. Linear: the needles are
/// short and have no repeated prefix that would make a naive search quadratic
/// beyond their own length.
fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0].to_ascii_lowercase();
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        if hay[i].to_ascii_lowercase() == first && starts_ci(&hay[i..], needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn memchr(b: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&x| x == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_built_shells_are_told_from_pages() {
        let cases: [(&str, usize, Option<Reason>); 9] = [
            (
                r#"<html><body><div id="root"></div><script src="/app.js"></script>"#,
                0,
                Some(Reason::AppRoot),
            ),
            (
                "<body><div class=x id='__next'>\n </div><script>boot()</script>",
                9,
                Some(Reason::AppRoot),
            ),
            (
                "<app-root></app-root><script src=main.js></script>",
                5,
                Some(Reason::AppRoot),
            ),
            (
                "<noscript>You need to enable JavaScript to run this app.</noscript><div id=main></div><script src=a.js></script><a href=/a>a</a><a href=/b>b</a><a href=/c>c</a>",
                3,
                Some(Reason::Noscript),
            ),
            (
                "<body><h1>Hi</h1><script src=x.js></script></body>",
                0,
                Some(Reason::LittleContent),
            ),
            // No script: never.
            ("<body><div id=\"root\"></div></body>", 0, None),
            // A root with content and links: a page rendered on the server.
            (
                "<div id=\"root\"><p>server rendered</p></div><script src=x.js></script>",
                5,
                None,
            ),
            // Script, few links, but plenty of text.
            (
                &format!("<p>{}</p><script>x()</script>", "words ".repeat(100)),
                1,
                None,
            ),
            // A tag manager's noscript iframe is not a plea for JavaScript.
            (
                "<noscript><iframe src=\"https://gtm/ns.html?javascript\"></iframe></noscript><script>x</script><a href=/1>1</a><a href=/2>2</a><a href=/3>3</a>",
                3,
                None,
            ),
        ];
        for (body, links, want) in cases {
            assert_eq!(script_built(body.as_bytes(), links), want, "{body}");
        }
    }

    #[test]
    fn visible_text_skips_markup_scripts_styles_and_comments() {
        let body =
            b"<style>p{color:red}</style><!-- hidden --><p>ab c</p><script>var x = 1;</script>d";
        assert_eq!(visible_text(body, 100), 4);
        // Stops counting once enough is seen.
        assert_eq!(visible_text("x".repeat(1000).as_bytes(), 10), 10);
        // Unclosed constructs end the count, never the process.
        assert_eq!(visible_text(b"ab<script>never closed", 100), 2);
        assert_eq!(visible_text(b"ab<!-- never closed", 100), 2);
    }

    /// This thread's CPU time (a loaded machine stretches wall time unevenly).
    fn cpu_now() -> std::time::Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec through a valid pointer.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime");
        std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// Linear in the body: the same hostile shapes at two sizes, compared by the
    /// thread's CPU time (quadratic work would take ~16x at 4x the size).
    #[test]
    fn hostile_bodies_take_linear_time() {
        let shapes: [&dyn Fn(usize) -> Vec<u8>; 4] = [
            &|n| format!("<script>{}", "<div id=root ".repeat(n)).into_bytes(),
            &|n| format!("<script>{}", "<noscript>".repeat(n)).into_bytes(),
            &|n| format!("<script>{}", "<scrip".repeat(n)).into_bytes(),
            &|n| format!("<script></script>{}", "<!-".repeat(n)).into_bytes(),
        ];
        for (i, shape) in shapes.iter().enumerate() {
            let small = shape(20_000);
            let large = shape(80_000);
            let time = |body: &[u8]| {
                (0..3)
                    .map(|_| {
                        let t = cpu_now();
                        std::hint::black_box(script_built(body, 0));
                        cpu_now().saturating_sub(t)
                    })
                    .min()
                    .unwrap_or_default()
            };
            let (a, b) = (time(&small), time(&large));
            assert!(
                b < a * 10 + std::time::Duration::from_millis(20),
                "shape {i}: {a:?} at 1x, {b:?} at 4x"
            );
        }
    }
}
