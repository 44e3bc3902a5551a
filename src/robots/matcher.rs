//! Matching a URL path against one group's Allow/Disallow rules, Google's way: the
//! longest matching pattern wins, Allow wins a tie, `*` matches any run of
//! characters and a `$` that ends a pattern anchors it to the end of the path (a `$`
//! anywhere else is a plain character). Every pattern is matched against the path
//! and query together (the parent module's `rule_path`), with or without a `?` in
//! the pattern, as Google's `GetPathParamsQuery` does.
//!
//! Rules may be *implied*: Google reads `Allow: /dir/index.html` (any Allow whose
//! last `/` starts `/index.htm`) as also `Allow: /dir/$`, a rule as long as that
//! text, from the same line. The parser adds it with
//! [`RulesBuilder::push_implied_directory`], and [`Deciding::implied`] says when it
//! decided, so `trawl robots` can name the line it came from.
//!
//! Memory is proportional to the rules' text: all patterns are kept back to back in
//! one string and each rule is four numbers and two flags; nothing is compiled per
//! rule (a regex per rule cost 293 MB for one 500 KiB robots.txt). An implied rule
//! costs its directory's text once more, so at most twice the file. Per-URL cost is
//! bounded too: rules are sorted by their literal prefix (the text before the first
//! wildcard), so only rules whose prefix starts the path are tried — found with one
//! binary search per path byte — and each is matched in time linear in path plus
//! pattern (greedy leftmost placement of the `*`-separated parts is exact for these
//! patterns, so no backtracking or position sets are needed).
//!
//! This module must never panic on any pattern or path, nor allocate per check.

use std::cmp::Reverse;

/// One rule: its pattern is `patterns[start..start + len]`, the first `literal`
/// bytes of which hold no wildcard.
#[derive(Debug, Clone, Copy)]
struct Rule {
    start: u32,
    len: u32,
    literal: u32,
    line: u32,
    allow: bool,
    /// Google's implicit `Allow: <dir>/$` for an allowed `<dir>/index.htm...`.
    implied: bool,
}

impl Rule {
    /// Precedence: longer pattern, then Allow, then the earlier line.
    fn rank(&self) -> (u32, bool, Reverse<u32>) {
        (self.len, self.allow, Reverse(self.line))
    }
}

/// Collects rules, then sorts them once into [`Rules`].
#[derive(Debug, Default)]
pub struct RulesBuilder {
    patterns: String,
    rules: Vec<Rule>,
}

impl RulesBuilder {
    /// Adds a rule whose (already percent-encoded) pattern comes in pieces.
    pub fn push<'a>(&mut self, pattern: impl Iterator<Item = &'a str>, allow: bool, line: usize) {
        let _ = self.push_with(allow, line, |out| out.extend(pattern));
    }

    /// Adds a rule whose (already percent-encoded) pattern `write` appends to the
    /// buffer all patterns share (so reading a file allocates nothing per rule).
    /// Returns the pattern as kept, or `None` if the rule was dropped.
    pub fn push_with(
        &mut self,
        allow: bool,
        line: usize,
        write: impl FnOnce(&mut String),
    ) -> Option<&str> {
        let start = self.patterns.len();
        write(&mut self.patterns);
        self.finish(start, allow, false, line)
            .then(|| &self.patterns[start..])
    }

    /// Adds Google's implicit rule for the last rule kept (an Allow of
    /// `<dir>/index.htm...`, where `dir_len` is the length of `<dir>/`): an Allow
    /// of `<dir>/$`, from the same line, ranked by that pattern's own length (so
    /// `Disallow: /dir/` loses to it and `Disallow: /dir/$` ties, which Allow wins).
    pub fn push_implied_directory(&mut self, dir_len: usize, line: usize) {
        let Some(last) = self.rules.last().copied() else {
            return;
        };
        let from = last.start as usize;
        let end = from + dir_len;
        if dir_len > last.len as usize || !self.patterns.is_char_boundary(end) {
            return;
        }
        let start = self.patterns.len();
        self.patterns.extend_from_within(from..end);
        self.patterns.push('$');
        self.finish(start, true, true, line);
    }

    /// Records the pattern written at `patterns[start..]` as a rule; false if it
    /// was dropped.
    fn finish(&mut self, start: usize, allow: bool, implied: bool, line: usize) -> bool {
        let written = &self.patterns[start..];
        let literal = written
            .find('*')
            .unwrap_or(written.len() - usize::from(written.ends_with('$')));
        let numbers = (
            u32::try_from(start),
            u32::try_from(written.len()),
            u32::try_from(literal),
            u32::try_from(line),
        );
        match numbers {
            (Ok(start), Ok(len), Ok(literal), Ok(line)) => {
                self.rules.push(Rule {
                    start,
                    len,
                    literal,
                    line,
                    allow,
                    implied,
                });
                true
            }
            // Beyond 4 GiB of rules (the parser reads 500 KiB): the rule is dropped.
            _ => {
                self.patterns.truncate(start);
                false
            }
        }
    }

    pub fn build(mut self) -> Rules {
        let text = self.patterns.as_bytes();
        self.rules
            .sort_by(|a, b| literal(text, a).cmp(literal(text, b)));
        Rules {
            patterns: self.patterns.into_boxed_str(),
            rules: self.rules.into_boxed_slice(),
        }
    }
}

fn literal<'t>(text: &'t [u8], r: &Rule) -> &'t [u8] {
    let start = r.start as usize;
    text.get(start..start + r.literal as usize).unwrap_or(&[])
}

/// One group's rules, ready to match.
#[derive(Debug, Default)]
pub struct Rules {
    patterns: Box<str>,
    /// Sorted by literal prefix (stable: file order among equal prefixes).
    rules: Box<[Rule]>,
}

/// The rule that decides a path.
#[derive(Debug, Clone, PartialEq)]
pub struct Deciding<'a> {
    pub allow: bool,
    /// 1-based line of the rule in robots.txt.
    pub line: usize,
    /// The pattern, percent-encoded as it was matched.
    pub pattern: &'a str,
    /// The rule is Google's implicit `Allow: <dir>/$` read from an Allow of
    /// `<dir>/index.htm...` on `line` (`pattern` is the implied one).
    pub implied: bool,
}

impl Rules {
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Heap bytes held (for the cache's byte budget).
    pub fn heap_bytes(&self) -> usize {
        self.patterns.len() + std::mem::size_of_val::<[Rule]>(&self.rules)
    }

    /// Whether `path` (path and query of a URL) may be fetched.
    pub fn allowed(&self, path: &str) -> bool {
        self.decide(path).is_none_or(|d| d.allow)
    }

    /// The rule that decides `path`, if any matches.
    pub fn decide(&self, path: &str) -> Option<Deciding<'_>> {
        let mut best: Option<&Rule> = None;
        self.candidates(path.as_bytes(), |r| {
            if best.is_some_and(|b| r.rank() <= b.rank()) {
                return;
            }
            if pattern_matches(self.pattern(r), path) {
                best = Some(r);
            }
        });
        best.map(|r| Deciding {
            allow: r.allow,
            line: r.line as usize,
            pattern: self.pattern(r),
            implied: r.implied,
        })
    }

    fn pattern(&self, r: &Rule) -> &str {
        let start = r.start as usize;
        self.patterns
            .get(start..start + r.len as usize)
            .unwrap_or("")
    }

    /// Calls `f` on every rule whose literal prefix is a prefix of `path`.
    ///
    /// `lo..hi` always holds the rules whose literal prefix starts with
    /// `path[..k]`; those whose prefix is exactly `path[..k]` sort first in it.
    fn candidates<'s>(&'s self, path: &[u8], mut f: impl FnMut(&'s Rule)) {
        let text = self.patterns.as_bytes();
        let (mut lo, mut hi) = (0, self.rules.len());
        for k in 0..=path.len() {
            let range = &self.rules[lo..hi];
            let exact = range.partition_point(|r| r.literal as usize == k);
            range[..exact].iter().for_each(&mut f);
            lo += exact;
            let Some(&b) = path.get(k) else { break };
            // Past `exact`, every prefix is longer than k: compare its byte k.
            let byte = |r: &Rule| text.get(r.start as usize + k).copied().unwrap_or(0);
            let range = &self.rules[lo..hi];
            let first = range.partition_point(|r| byte(r) < b);
            let end = range.partition_point(|r| byte(r) <= b);
            (lo, hi) = (lo + first, lo + end);
            if lo == hi {
                break;
            }
        }
    }
}

/// Whether `pattern` matches `path` from its start (robots.txt semantics: `*` is
/// any run of characters, a final `$` is the end of the path).
///
/// The parts between stars are placed greedily, each at its leftmost occurrence
/// after the previous one: leaving the most room to the right can never lose a
/// match, so one linear pass per part suffices.
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let Some(last_star) = pattern.rfind('*') else {
        return match anchored {
            true => path == pattern,
            false => path.starts_with(pattern),
        };
    };
    let (body, last) = (&pattern[..last_star], &pattern[last_star + 1..]);
    let mut parts = body.split('*');
    let first = parts.next().unwrap_or("");
    // An anchored pattern's end is checked first: it rejects most paths at once.
    if anchored && !path.ends_with(last) {
        return false;
    }
    let Some(mut rest) = path.strip_prefix(first) else {
        return false;
    };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    match anchored {
        true => rest.ends_with(last),
        false => rest.contains(last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[(&str, bool)]) -> Rules {
        let mut b = RulesBuilder::default();
        for (i, (p, allow)) in list.iter().enumerate() {
            b.push(std::iter::once(*p), *allow, i + 1);
        }
        b.build()
    }

    #[test]
    fn wildcards_and_end_anchor() {
        let yes = [
            ("/", "/a"),
            ("/a*", "/a"),
            ("/a*c", "/abbc/x"),
            ("*.gif$", "/x/y.gif"),
            ("/*/x/*$", "/q/x/y"),
            ("/a$", "/a"),
            ("/a$b", "/a$bc"),
            ("**$", "/anything"),
            ("/*a*a*a$", "/aaa"),
            ("/fish*.php", "/fish/x.php?q"),
            ("", "/x"),
        ];
        for (p, path) in yes {
            assert!(pattern_matches(p, path), "{p} on {path}");
        }
        let no = [
            ("/a", "/"),
            ("/a$", "/ab"),
            ("*.gif$", "/x.gif?z"),
            ("/*a*a*a$", "/aa"),
            ("$", "/"),
            ("a", "/a"),
            ("/a*c$", "/abcd"),
        ];
        for (p, path) in no {
            assert!(!pattern_matches(p, path), "{p} on {path}");
        }
    }

    #[test]
    fn longest_wins_allow_wins_a_tie_earliest_line_names_it() {
        let r = rules(&[("/p", true), ("/", false)]);
        assert!(r.allowed("/page") && !r.allowed("/other"));
        let r = rules(&[("/folder", false), ("/folder", true)]);
        assert_eq!(
            r.decide("/folder/x").map(|d| (d.allow, d.line)),
            Some((true, 2))
        );
        let r = rules(&[("/a*", false), ("/a*", false), ("/*", true)]);
        assert_eq!(r.decide("/ab").map(|d| d.line), Some(1));
        let r = rules(&[("/page", true), ("/*.html", false)]);
        assert!(!r.allowed("/page.html") && r.allowed("/page"));
        assert!(rules(&[]).allowed("/x"));
    }

    /// The prefix index finds exactly the rules a full scan would match.
    #[test]
    fn the_index_misses_no_candidate() {
        let list = [
            ("/", false),
            ("/a", true),
            ("/a", false),
            ("/ab$", true),
            ("/ab*c", false),
            ("/b", true),
            ("*", false),
            ("/a*", true),
            ("/abc", true),
            ("/abd$", false),
            ("", true),
        ];
        let r = rules(&list);
        for path in [
            "/", "/a", "/ab", "/abc", "/abd", "/abdc", "/b", "/ba", "/c", "/abxc",
        ] {
            let mut found: Vec<u32> = Vec::new();
            r.candidates(path.as_bytes(), |rule| found.push(rule.line));
            found.sort();
            let want: Vec<u32> = (1..=list.len() as u32)
                .filter(|&i| {
                    let p = list[i as usize - 1].0;
                    let lit = p
                        .find('*')
                        .unwrap_or(p.len() - usize::from(p.ends_with('$')));
                    path.starts_with(&p[..lit])
                })
                .collect();
            assert_eq!(found, want, "{path}");
        }
    }
}
