//! Which line of a robots.txt decides a URL: the explanation behind `trawl robots`.
//!
//! The crawl's own reader and matcher (see the parent module) name the deciding
//! rule and its line; this module only adds the pattern as it is written in the
//! file, so the debugger can never contradict the crawl. It never decides anything
//! itself. A rule Google implies (an allowed `/dir/index.html` also allows `/dir/`)
//! is named by the line it comes from, with the rule it implies:
//! `line 3: Allow: /dir/index.html (implies Allow: /dir/$)`.

use url::Url;

use super::parse::{statements, Key, Robots};

/// One Allow/Disallow rule as written, with its 1-based line number.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub line: usize,
    pub allow: bool,
    /// The pattern as written in the file (`/` for an empty `Disallow:`, which
    /// allows everything).
    pub pattern: String,
    /// When the line's `Allow: <dir>/index.htm...` decided through Google's
    /// implicit rule: that rule's pattern, `<dir>/$`.
    pub implied: Option<String>,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = if self.allow { "Allow" } else { "Disallow" };
        write!(f, "line {}: {}: {}", self.line, key, self.pattern)?;
        match &self.implied {
            Some(implied) => write!(f, " (implies Allow: {implied})"),
            None => Ok(()),
        }
    }
}

/// The deciding rule for a URL, or none (no rule matched: allowed).
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub allowed: bool,
    pub rule: Option<Rule>,
    /// The group the rules came from: our agent's name, or `*`.
    pub group: String,
}

/// Traces how `agent` is judged on `url` by the robots.txt `txt`.
pub fn explain(agent: &str, txt: &[u8], url: &Url) -> Explanation {
    explain_parsed(&Robots::parse(agent, txt), txt, url)
}

/// [`explain`] with `txt` already read for the agent.
pub fn explain_parsed(robots: &Robots, txt: &[u8], url: &Url) -> Explanation {
    let path = super::rule_path(url);
    let deciding = match path == "/robots.txt" {
        true => None,
        false => robots.rules.decide(&path),
    };
    let rule = deciding.map(|d| Rule {
        line: d.line,
        allow: d.allow,
        pattern: written_at(txt, d.line).unwrap_or_else(|| d.pattern.to_string()),
        implied: d.implied.then(|| d.pattern.to_string()),
    });
    Explanation {
        allowed: rule.as_ref().is_none_or(|r| r.allow),
        rule,
        group: robots.group.clone(),
    }
}

/// The Allow/Disallow pattern on `line` as written (lossy UTF-8).
fn written_at(txt: &[u8], line: usize) -> Option<String> {
    let s = statements(txt).find(|s| s.line == line)?;
    match (s.key, s.value.is_empty()) {
        (Key::Disallow, true) => Some("/".into()),
        (Key::Allow | Key::Disallow, _) => Some(String::from_utf8_lossy(s.value).into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use texting_robots::Robot;

    const RFC: &str =
        "User-Agent: *\nDisallow: *.gif$\nDisallow: /example/\nAllow: /publications/\n\n\
User-Agent: foobot\nDisallow:/\nAllow:/example/page.html\nAllow:/example/allowed.gif\n\n\
User-Agent: barbot\nUser-Agent: bazbot\nDisallow: /example/page.html\n\nUser-Agent: quxbot\n";

    #[test]
    fn names_the_deciding_line() {
        let u = |p: &str| Url::parse(&format!("http://e.com{p}")).unwrap();
        let e = explain("foobot", RFC.as_bytes(), &u("/example/page.html"));
        assert!(e.allowed);
        assert_eq!(
            e.rule.unwrap().to_string(),
            "line 8: Allow: /example/page.html"
        );
        let e = explain("foobot", RFC.as_bytes(), &u("/other"));
        assert!(!e.allowed);
        assert_eq!(e.rule.unwrap().line, 7);
        let e = explain("trawl", RFC.as_bytes(), &u("/a/b.gif"));
        assert_eq!(e.group, "*");
        assert_eq!(e.rule.unwrap().to_string(), "line 2: Disallow: *.gif$");
        let e = explain("quxbot", RFC.as_bytes(), &u("/example/x"));
        assert!(e.allowed && e.rule.is_none());
    }

    /// A directory allowed through Google's implicit index.html rule is explained
    /// by the line that implies it; the rule's own pattern and group are named.
    #[test]
    fn names_the_line_an_implied_index_rule_comes_from() {
        let txt = b"User-agent: *\nDisallow: /\nUser-agent: FooBot Images\n\
                    Disallow: /\nAllow: /d\xc3\xa9j\xc3\xa0/index.html\n";
        let u = |p: &str| Url::parse(&format!("http://e.com{p}")).unwrap();
        let e = explain("FooBot/2.1", txt, &u("/d%C3%A9j%C3%A0/"));
        assert!(e.allowed);
        assert_eq!(e.group, "foobot");
        assert_eq!(
            e.rule.unwrap().to_string(),
            "line 5: Allow: /d\u{e9}j\u{e0}/index.html (implies Allow: /d%C3%A9j%C3%A0/$)"
        );
        // The Allow itself, where it matches, is named plainly.
        let e = explain("foobot", txt, &u("/d%C3%A9j%C3%A0/index.html"));
        assert_eq!(
            e.rule.unwrap().to_string(),
            "line 5: Allow: /d\u{e9}j\u{e0}/index.html"
        );
        let e = explain("foobot", txt, &u("/d%C3%A9j%C3%A0/x"));
        assert_eq!(e.rule.unwrap().to_string(), "line 4: Disallow: /");
    }

    /// The explanation must agree with the verdict the crawl uses.
    #[test]
    fn agrees_with_the_crawls_parser() {
        let files = [
            RFC,
            "User-agent: *\nAllow: /p\nDisallow: /\n",
            "User-agent: *\nAllow: /folder\nDisallow: /folder\n",
            "User-agent: *\nAllow: /page\nDisallow: /*.html\n",
            "User-agent: *\nAllow: /$\nDisallow: /\n",
            "User-agent: *\nDisallow: /fish*\nDisallow: /*.php$\nAllow: /fish/salmon\n",
            "Disallow: /private\n",
            "User-agent: trawl\nDisallow: /t/\nCrawl-delay: 3\nUser-agent: other\nDisallow: /\n",
            "User-agent: *\nDisallow:\n",
            "User-agent: *\nDisallow: /a b\nDisallow: /ä\n",
            "# only comments\n",
            "User-agent: *\nDisallow: /*/x/*$\n",
        ];
        let paths = [
            "/",
            "/p",
            "/page",
            "/page.html",
            "/folder/x",
            "/fish",
            "/fish/salmon",
            "/fishheads",
            "/x.php",
            "/x.php?q",
            "/private/a",
            "/t/1",
            "/example/page.html",
            "/example/a.gif",
            "/publications/x",
            "/a%20b",
            "/%C3%A4",
            "/robots.txt",
            "/q/x/y",
            "/?a=1",
        ];
        for file in files {
            for agent in ["trawl", "foobot", "barbot", "other"] {
                let robot = Robot::new(agent, file.as_bytes()).unwrap();
                for p in paths {
                    let url = Url::parse(&format!("http://e.com{p}")).unwrap();
                    let e = explain(agent, file.as_bytes(), &url);
                    assert_eq!(
                        e.allowed,
                        robot.allowed(url.as_str()),
                        "{agent} on {p} with {file:?}: {e:?}"
                    );
                }
            }
        }
    }
}
