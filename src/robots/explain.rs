//! Which line of a robots.txt decides a URL: the explanation behind `trawl robots`.
//!
//! The crawl's verdicts come from `texting_robots` (see the parent module); this
//! module re-traces the same steps that crate takes — pick the group naming our agent
//! exactly (else `*`), percent-encode patterns, longest pattern wins, Allow wins a
//! tie, an empty `Disallow:` allows everything — and keeps line numbers so it can say
//! *which* rule matched. The debugger always prints the crawl's own verdict; it shows
//! a rule only when this re-trace agrees with it, so it can never contradict the
//! crawl. A test checks the two agree on the RFC 9309 examples and more.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use regex::Regex;
use url::{Position, Url};

/// The same escaping texting_robots applies to patterns.
const PATTERN_ESCAPES: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`');

/// One Allow/Disallow rule as written, with its 1-based line number.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub line: usize,
    pub allow: bool,
    /// The pattern as written in the file.
    pub pattern: String,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = if self.allow { "Allow" } else { "Disallow" };
        write!(f, "line {}: {}: {}", self.line, key, self.pattern)
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

enum Line {
    Agent(String),
    Rule(Rule),
    Other,
}

fn parse_lines(txt: &[u8]) -> Vec<Line> {
    let text = String::from_utf8_lossy(txt).replace('\0', "\n");
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        let (key, value) = match line.split_once(':') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => match line.split_once(char::is_whitespace) {
                Some((k, v)) => (k.trim(), v.trim()),
                None => continue,
            },
        };
        match key.to_ascii_lowercase().as_str() {
            "user-agent" => out.push(Line::Agent(value.to_ascii_lowercase())),
            "allow" => out.push(Line::Rule(Rule {
                line: i + 1,
                allow: true,
                pattern: value.to_string(),
            })),
            // An empty Disallow allows everything.
            "disallow" if value.is_empty() => out.push(Line::Rule(Rule {
                line: i + 1,
                allow: true,
                pattern: "/".into(),
            })),
            "disallow" => out.push(Line::Rule(Rule {
                line: i + 1,
                allow: false,
                pattern: value.to_string(),
            })),
            "crawl-delay" => out.push(Line::Other),
            _ => {}
        }
    }
    out
}

fn pattern_matches(pattern: &str, path: &str) -> bool {
    if pattern.contains('$') {
        let collapsed = Regex::new(r"\*+").map(|r| r.replace_all(pattern, "*").into_owned());
        let p = collapsed.unwrap_or_else(|_| pattern.to_string());
        let re = format!(
            "^{}",
            regex::escape(&p).replace("\\*", ".*").replace("\\$", "$")
        );
        return Regex::new(&re).is_ok_and(|r| r.is_match(path));
    }
    if pattern.contains('*') {
        let mut at = 0;
        for (i, part) in pattern.split('*').enumerate() {
            if i == 0 {
                if !path.starts_with(part) {
                    return false;
                }
                at = part.len();
                continue;
            }
            match path[at..].find(part) {
                Some(j) => at += j + part.len(),
                None => return false,
            }
        }
        return true;
    }
    path.starts_with(pattern)
}

/// Traces how `agent` is judged on `url` by the robots.txt `txt`.
pub fn explain(agent: &str, txt: &[u8], url: &Url) -> Explanation {
    let agent = agent.to_ascii_lowercase();
    let lines = parse_lines(txt);
    let named = lines
        .iter()
        .any(|l| matches!(l, Line::Agent(a) if *a == agent));
    let group = if named { agent } else { "*".to_string() };
    let path = &url[Position::BeforePath..];
    if path == "/robots.txt" {
        return Explanation {
            allowed: true,
            rule: None,
            group,
        };
    }

    let mut capturing = !lines.iter().any(|l| matches!(l, Line::Agent(_)));
    let mut in_agent_block = false;
    let mut best: Option<(usize, &Rule)> = None;
    for line in &lines {
        match line {
            Line::Agent(a) => {
                if !in_agent_block {
                    capturing = false;
                }
                in_agent_block = true;
                if *a == group {
                    capturing = true;
                }
            }
            Line::Rule(rule) => {
                in_agent_block = false;
                if !capturing {
                    continue;
                }
                let pattern = utf8_percent_encode(&rule.pattern, PATTERN_ESCAPES).to_string();
                if !pattern_matches(&pattern, path) {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((len, b)) => {
                        pattern.len() > len || (pattern.len() == len && rule.allow && !b.allow)
                    }
                };
                if better {
                    best = Some((pattern.len(), rule));
                }
            }
            Line::Other => in_agent_block = false,
        }
    }
    Explanation {
        allowed: best.is_none_or(|(_, r)| r.allow),
        rule: best.map(|(_, r)| r.clone()),
        group,
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
