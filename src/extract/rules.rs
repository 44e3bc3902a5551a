//! Extraction rules: the user's `[[rules]]` compiled once at start-up, and
//! applied to a page's DOM.
//!
//! A rule set applies to pages whose canonical URL its `pattern` matches; the
//! first matching set wins (as in Scrapy's CrawlSpider rules), so more specific
//! sets go first. Each field selects elements with a CSS selector, takes their
//! text, inner HTML or an attribute, optionally keeps a regex capture, and
//! converts the value to its type. A value that cannot be had (no element, no
//! regex match, not a number) is null for a `first` field and is left out of an
//! `all` field's array: a dataset's columns keep their shape.
//!
//! Nothing here compiles while a crawl runs: a bad selector or regex is found by
//! [`Rules::compile`], before the first request.

use std::sync::LazyLock;

use ego_tree::iter::Edge;
use regex::Regex;
use scraper::{ElementRef, Html, Node, Selector};
use serde_json::{Map, Number, Value};
use url::Url;

use crate::config::{FieldRule, FieldType, RuleSet, Take};

/// A rule that does not compile, named by its set and field.
#[derive(Debug, thiserror::Error)]
#[error("rule '{rule}' field '{field}': {message}")]
pub struct RuleError {
    pub rule: String,
    pub field: String,
    pub message: String,
}

/// Every rule set, compiled.
#[derive(Debug, Default)]
pub struct Rules {
    sets: Vec<Set>,
}

/// One compiled rule set.
#[derive(Debug)]
pub struct Set {
    name: String,
    pattern: Regex,
    fields: Vec<Field>,
}

#[derive(Debug)]
struct Field {
    name: String,
    selector: Selector,
    take: Take,
    attr: String,
    all: bool,
    regex: Option<Regex>,
    kind: FieldType,
}

/// A number as people write it in English: optional sign, thousands separated by
/// commas, optional decimals after a point, optional exponent ("$1,299.50" →
/// 1299.5). A decimal comma ("1.234,56 €") needs a `regex` and a string field.
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
        .expect("constant pattern")
});

/// What is wrong with a selector, in a few words (see `config::selector_message`).
fn selector_message(e: &scraper::error::SelectorErrorKind) -> String {
    let mut words = crate::config::selector_message(e);
    if words.contains("pseudo") {
        words.push_str(" (rules match static HTML: no :hover, :visited...)");
    }
    words
}

fn regex_message(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .last()
        .unwrap_or("syntax error")
        .trim()
        .to_string()
}

impl Rules {
    pub fn compile(sets: &[RuleSet]) -> Result<Rules, RuleError> {
        let mut out = Vec::with_capacity(sets.len());
        for set in sets {
            let err = |field: &str, message: String| RuleError {
                rule: set.name.clone(),
                field: field.to_string(),
                message,
            };
            let pattern = Regex::new(&set.pattern).map_err(|e| {
                err(
                    "pattern",
                    format!(
                        "pattern '{}' does not compile: {}",
                        set.pattern,
                        regex_message(&e)
                    ),
                )
            })?;
            if set.fields.is_empty() {
                return Err(err("fields", "a rule set needs at least one field".into()));
            }
            let mut fields = Vec::with_capacity(set.fields.len());
            for (name, rule) in &set.fields {
                fields.push(compile_field(name, rule).map_err(|m| err(name, m))?);
            }
            out.push(Set {
                name: set.name.clone(),
                pattern,
                fields,
            });
        }
        Ok(Rules { sets: out })
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// The first set whose pattern matches `url`.
    pub fn matching(&self, url: &str) -> Option<&Set> {
        self.sets.iter().find(|s| s.pattern.is_match(url))
    }
}

fn compile_field(name: &str, rule: &FieldRule) -> Result<Field, String> {
    if name.trim().is_empty() {
        return Err("field names must not be empty".into());
    }
    let selector = Selector::parse(&rule.selector).map_err(|e| {
        format!(
            "selector '{}' does not compile: {}",
            rule.selector,
            selector_message(&e)
        )
    })?;
    let take = match (rule.take, &rule.attr) {
        (None, Some(_)) | (Some(Take::Attr), Some(_)) => Take::Attr,
        (Some(Take::Attr), None) => return Err("take = \"attr\" needs attr = \"<name>\"".into()),
        (Some(t), Some(_)) => {
            return Err(format!(
                "attr is set but take = \"{}\"; drop one",
                if t == Take::Html { "html" } else { "text" }
            ))
        }
        (Some(t), None) => t,
        (None, None) => Take::Text,
    };
    let regex = match &rule.regex {
        Some(r) => Some(
            Regex::new(r)
                .map_err(|e| format!("regex '{r}' does not compile: {}", regex_message(&e)))?,
        ),
        None => None,
    };
    Ok(Field {
        name: name.to_string(),
        selector,
        take,
        attr: rule.attr.clone().unwrap_or_default(),
        all: rule.all,
        regex,
        kind: rule.kind,
    })
}

impl Set {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The set's fields taken from `doc`; `base` resolves `url` fields.
    pub fn apply(&self, doc: &Html, base: &Url) -> Map<String, Value> {
        let mut data = Map::new();
        for f in &self.fields {
            let mut values = doc.select(&f.selector).filter_map(|el| f.value(el, base));
            let value = if f.all {
                Value::Array(values.collect())
            } else {
                values.next().unwrap_or(Value::Null)
            };
            data.insert(f.name.clone(), value);
        }
        data
    }
}

impl Field {
    fn value(&self, el: ElementRef<'_>, base: &Url) -> Option<Value> {
        let raw = match self.take {
            Take::Text => shown_text(el),
            Take::Html => el.inner_html(),
            Take::Attr => el.value().attr(&self.attr)?.to_string(),
        };
        let raw = match self.take {
            Take::Html => raw,
            _ => super::one_line(&raw),
        };
        let raw = match &self.regex {
            Some(re) => {
                let caps = re.captures(&raw)?;
                caps.get(1).or_else(|| caps.get(0))?.as_str().to_string()
            }
            None => raw,
        };
        convert(&raw, self.kind, base)
    }
}

/// Elements a browser lays out inline, inside a line of text: no space is shown
/// where they start or end. Every other element (blocks, list items, table cells,
/// form controls, `<br>`...) separates the words around it.
fn is_inline(name: &str) -> bool {
    matches!(
        name,
        "a" | "abbr"
            | "b"
            | "bdi"
            | "bdo"
            | "cite"
            | "code"
            | "data"
            | "del"
            | "dfn"
            | "em"
            | "font"
            | "i"
            | "ins"
            | "kbd"
            | "label"
            | "mark"
            | "q"
            | "rp"
            | "rt"
            | "ruby"
            | "s"
            | "samp"
            | "small"
            | "span"
            | "strike"
            | "strong"
            | "sub"
            | "sup"
            | "time"
            | "tt"
            | "u"
            | "var"
            | "wbr"
    )
}

/// An element's text as a browser shows it: its text nodes joined as the DOM's
/// `textContent` joins them, so no space is invented between inline elements
/// (`$<span>205<span>.</span></span><span>58</span>` is `$205.58`); a space where
/// any other element (a block, a list item, a form control, `<br>`) starts or ends,
/// since those separate words on screen; the text of `<script>`, `<style>`,
/// `<template>`, `<noscript>` and `hidden` elements inside it left out, since a
/// browser never shows it (a rule that selects such an element itself still gets
/// its text: JSON in a script is data). The caller collapses whitespace. Linear in
/// the element's subtree.
fn shown_text(el: ElementRef<'_>) -> String {
    let root = el.id();
    let unseen = |e: &scraper::node::Element| {
        matches!(e.name(), "script" | "style" | "template" | "noscript")
            || e.attr("hidden").is_some()
    };
    let mut out = String::new();
    // How many unseen elements the walk is inside.
    let mut hidden = 0usize;
    for edge in el.traverse() {
        let (node, open) = match edge {
            Edge::Open(node) => (node, true),
            Edge::Close(node) => (node, false),
        };
        match node.value() {
            Node::Text(t) if open && hidden == 0 => out.push_str(t),
            Node::Element(e) if unseen(e) && node.id() != root => match open {
                true => hidden += 1,
                false => hidden = hidden.saturating_sub(1),
            },
            Node::Element(e) if hidden == 0 && !is_inline(e.name()) => out.push(' '),
            _ => {}
        }
    }
    out
}

/// Converts a taken string to its field type; None when it is not one.
pub fn convert(raw: &str, kind: FieldType, base: &Url) -> Option<Value> {
    match kind {
        FieldType::String => Some(Value::String(raw.to_string())),
        FieldType::Url => {
            let raw = raw.trim();
            if raw.is_empty() {
                return None;
            }
            base.join(raw).ok().map(|u| Value::String(u.to_string()))
        }
        FieldType::Number | FieldType::Integer => {
            let m = NUMBER.find(raw)?;
            let n: f64 = m.as_str().replace(',', "").parse().ok()?;
            if kind == FieldType::Integer {
                // An integer field takes the whole part: "1,299.99" → 1299.
                let t = n.trunc();
                if t.abs() > 9.0e15 {
                    return None;
                }
                Some(Value::Number(Number::from(t as i64)))
            } else {
                Number::from_f64(n).map(Value::Number)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_written() {
        let base = Url::parse("http://e.com/a/b").unwrap();
        let n = |s: &str, k| convert(s, k, &base);
        assert_eq!(
            n("Price: $1,299.50", FieldType::Number),
            Some(1299.5.into())
        );
        assert_eq!(
            n("-42.5e3 units", FieldType::Number),
            Some((-42500.0).into())
        );
        assert_eq!(n("1,299.99", FieldType::Integer), Some(1299.into()));
        assert_eq!(n("no digits", FieldType::Integer), None);
        assert_eq!(n("99999999999999999999", FieldType::Integer), None);
        assert_eq!(
            n(" ../c?d ", FieldType::Url),
            Some("http://e.com/c?d".into())
        );
        assert_eq!(n("  ", FieldType::Url), None);
    }

    #[test]
    fn selector_errors_say_what_is_wrong() {
        let field = |sel: &str| FieldRule {
            selector: sel.into(),
            take: None,
            attr: None,
            all: false,
            regex: None,
            kind: FieldType::String,
        };
        for (sel, want) in [
            ("", "empty selector"),
            ("a:hover", "pseudo"),
            ("p..x", "does not compile"),
        ] {
            let e = compile_field("f", &field(sel)).unwrap_err();
            assert!(e.contains(want) && !e.contains("report this"), "{sel}: {e}");
        }
    }
}
