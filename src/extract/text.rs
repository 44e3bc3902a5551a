//! The readable main text of a page, taken from the token stream.
//!
//! Boilerplate is whatever a reader skips: scripts, styles, forms, navigation,
//! asides, and headers and footers outside the main content; elements marked
//! `hidden`, `aria-hidden="true"` or with a navigation/banner/footer role go too.
//! Block elements (paragraphs, headings, list items, table rows...) become lines.
//! When the page marks its main content (`<main>`, `<article>`, `role="main"`)
//! and that holds at least a third of the page's text, only that is kept, as
//! Readability-style extractors do; otherwise the whole body minus boilerplate.
//!
//! Linear in the tokens, bounded in memory: at most about `max_chars` characters
//! are kept and the skip stack is capped.

use html5ever::tokenizer::Tag;

use super::is_void;

/// Open elements tracked inside a skipped region; deeper ones are not tracked
/// (a hostile page cannot grow the stack without bound).
const MAX_SKIP_STACK: usize = 4096;

/// Elements whose whole content is boilerplate.
fn always_skipped(name: &str) -> bool {
    matches!(
        name,
        "script"
            | "style"
            | "noscript"
            | "template"
            | "head"
            | "title"
            | "nav"
            | "aside"
            | "form"
            | "select"
            | "button"
            | "svg"
            | "math"
            | "iframe"
            | "object"
            | "canvas"
            | "dialog"
    )
}

/// Elements that end a line of text where they start and where they end.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "br"
            | "hr"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "li"
            | "dt"
            | "dd"
            | "tr"
            | "td"
            | "th"
            | "ul"
            | "ol"
            | "dl"
            | "table"
            | "section"
            | "article"
            | "main"
            | "header"
            | "footer"
            | "blockquote"
            | "pre"
            | "figure"
            | "figcaption"
            | "address"
            | "details"
            | "summary"
            | "body"
    )
}

fn attr<'a>(tag: &'a Tag, name: &str) -> Option<&'a str> {
    tag.attrs
        .iter()
        .find(|a| &*a.name.local == name)
        .map(|a| &*a.value)
}

#[derive(Debug)]
pub(super) struct Readable {
    max_chars: usize,
    /// Open elements from the outermost skipped one inwards; empty = not skipping.
    skip: Vec<String>,
    /// Open `main`/`article`/`role=main` elements, innermost last: each with the
    /// count of same-named elements opened inside it, so that its own end tag is
    /// known (`<div role="main">` ends at its `</div>`, not at the first one).
    mains: Vec<(String, u32)>,
    line: String,
    lines: Vec<String>,
    main_lines: Vec<String>,
    /// Characters kept so far (both lists together bound memory).
    kept: usize,
}

impl Readable {
    pub(super) fn new(max_chars: usize) -> Readable {
        Readable {
            max_chars,
            skip: Vec::new(),
            mains: Vec::new(),
            line: String::new(),
            lines: Vec::new(),
            main_lines: Vec::new(),
            kept: 0,
        }
    }

    fn skips(&self, tag: &Tag) -> bool {
        let name = &*tag.name;
        if always_skipped(name) {
            return true;
        }
        // An article's own header holds its headline: keep it.
        if (name == "header" || name == "footer") && self.mains.is_empty() {
            return true;
        }
        if attr(tag, "hidden").is_some()
            || attr(tag, "aria-hidden").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            return true;
        }
        attr(tag, "role").is_some_and(|r| {
            let r = r.trim().to_ascii_lowercase();
            matches!(
                r.as_str(),
                "navigation" | "banner" | "contentinfo" | "complementary" | "search"
            )
        })
    }

    pub(super) fn start(&mut self, tag: &Tag) {
        let name = &*tag.name;
        let opens = !is_void(name) && !tag.self_closing;
        if !self.skip.is_empty() {
            if opens && self.skip.len() < MAX_SKIP_STACK {
                self.skip.push(name.to_string());
            }
            return;
        }
        if opens && self.skips(tag) {
            self.end_line();
            self.skip.push(name.to_string());
            return;
        }
        if is_block(name) {
            self.end_line();
        }
        if !opens {
            return;
        }
        let main = name == "main"
            || name == "article"
            || attr(tag, "role").is_some_and(|r| r.trim().eq_ignore_ascii_case("main"));
        if main && self.mains.len() < MAX_SKIP_STACK {
            self.mains.push((name.to_string(), 0));
        } else if let Some((open, nested)) = self.mains.last_mut() {
            if open == name {
                *nested += 1;
            }
        }
    }

    pub(super) fn end(&mut self, name: &str) {
        if !self.skip.is_empty() {
            if let Some(at) = self.skip.iter().rposition(|n| n == name) {
                self.skip.truncate(at);
            }
            return;
        }
        if is_block(name) {
            self.end_line();
        }
        if let Some((open, nested)) = self.mains.last_mut() {
            if open == name {
                match nested {
                    0 => drop(self.mains.pop()),
                    n => *n -= 1,
                }
            }
        }
    }

    pub(super) fn characters(&mut self, text: &str) {
        if self.skip.is_empty() && self.kept < self.max_chars.saturating_mul(2) {
            self.kept += text.len();
            self.line.push_str(text);
        }
    }

    fn end_line(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let line = super::one_line(&self.line);
        self.line.clear();
        if line.is_empty() {
            return;
        }
        if !self.mains.is_empty() {
            self.main_lines.push(line.clone());
        }
        self.lines.push(line);
    }

    /// The text, one block per line; None when the page has none.
    pub(super) fn result(&self) -> Option<String> {
        let mut line = super::one_line(&self.line);
        let mut lines = self.lines.clone();
        let mut main_lines = self.main_lines.clone();
        if !line.is_empty() {
            if !self.mains.is_empty() {
                main_lines.push(line.clone());
            }
            lines.push(std::mem::take(&mut line));
        }
        // A page's <article> may be a sidebar teaser while the story sits in a
        // plain <div>: marked content holding under a third of the text is not
        // the main content.
        let chars = |l: &[String]| l.iter().map(|s| s.len()).sum::<usize>();
        let chosen = if main_lines.is_empty() || chars(&main_lines) * 3 < chars(&lines) {
            lines
        } else {
            main_lines
        };
        let text = super::truncate_chars(chosen.join("\n"), self.max_chars);
        (!text.is_empty()).then_some(text)
    }
}
