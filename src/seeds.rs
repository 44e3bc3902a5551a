//! Seed lists: URL arguments and seed files (one URL per line, blank lines and `#`
//! comments ignored). A line that is not a usable http(s) URL is reported with its
//! file and line number and skipped; only a list with no usable URL is an error.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use url::Url;

use crate::canon;
use crate::fetch::logins::Logins;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read seed file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no usable seed URL (give URLs as arguments or with --seeds FILE)")]
    Empty,
}

/// A seed line that was skipped, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedSeed {
    pub source: String,
    pub line: usize,
    pub text: String,
    pub reason: String,
}

impl std::fmt::Display for SkippedSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: skipped seed '{}': {}",
            self.source, self.line, self.text, self.reason
        )
    }
}

/// Canonical seeds (duplicates removed, order kept), the lines skipped, and the
/// credentials seeds carried (user info is stripped from the URLs themselves).
#[derive(Debug, Default)]
pub struct Seeds {
    pub urls: Vec<Url>,
    pub skipped: Vec<SkippedSeed>,
    pub logins: Logins,
    /// Fingerprints of `urls`: one seed list of a million lines stays linear.
    seen: HashSet<u64>,
}

/// A seed line as it is safe to print: user info hidden, control characters
/// escaped, at most 100 chars.
fn printable(text: &str) -> String {
    let text = hide_user_info(text);
    let mut out: String = text
        .chars()
        .take(100)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > 100 {
        out.push('…');
    }
    out
}

impl Seeds {
    /// The usable URLs; an error when there are none (report `skipped` first).
    pub fn into_urls(self) -> Result<Vec<Url>, SeedError> {
        if self.urls.is_empty() {
            return Err(SeedError::Empty);
        }
        Ok(self.urls)
    }

    fn skip(&mut self, source: &str, line: usize, text: &str, reason: String) {
        self.skipped.push(SkippedSeed {
            source: source.to_string(),
            line,
            text: printable(text),
            reason,
        });
    }

    fn add(&mut self, source: &str, line: usize, text: &str, rules: canon::Rules) {
        // One URL per line; anything after whitespace must be a comment.
        let mut words = text.split_whitespace();
        let url = words.next().unwrap_or("");
        if words.next().is_some_and(|w| !w.starts_with('#')) {
            return self.skip(source, line, text, "more than one word on the line".into());
        }
        match canon::parse(url, None, rules) {
            Ok(u) => {
                if let Ok(raw) = Url::parse(url.trim()) {
                    self.logins.add_seed(&raw);
                }
                if self.seen.insert(canon::fingerprint(&u)) {
                    self.urls.push(u);
                }
            }
            Err(canon::CanonError::Parse(e)) if !url.contains("://") => {
                let hint = format!("{e} (no scheme: did you mean https://{url} ?)");
                self.skip(source, line, text, hint)
            }
            Err(e) => self.skip(source, line, text, e.to_string()),
        }
    }
}

/// `scheme://user:pass@host...` with the user info replaced by `***`, for messages.
fn hide_user_info(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.into();
    };
    let authority_end = text[start..]
        .find(['/', '?', '#', ' ', '\t'])
        .map_or(text.len(), |i| start + i);
    match text[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &text[..start], &text[start + at..]).into(),
        None => text.into(),
    }
}

/// Gathers seeds from command-line URLs and an optional seed file; see
/// [`Seeds::into_urls`] for the "no usable seed" check.
pub fn load(args: &[String], file: Option<&Path>, rules: canon::Rules) -> Result<Seeds, SeedError> {
    let mut seeds = Seeds::default();
    for (i, a) in args.iter().enumerate() {
        seeds.add("argument", i + 1, a, rules);
    }
    if let Some(path) = file {
        let bytes = std::fs::read(path).map_err(|source| SeedError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let name = path.display().to_string();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            seeds.add(&name, i + 1, line, rules);
        }
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_and_are_kept_aside() {
        let s = load(
            &[
                "https://ann:pw@example.com/a".into(),
                "ftp://bob:secret@example.com/".into(),
            ],
            None,
            canon::Rules::default(),
        )
        .unwrap();
        assert_eq!(s.urls[0].as_str(), "https://example.com/a");
        let login = s.logins.for_url(&s.urls[0]).expect("kept for its origin");
        assert_eq!(login.user, "ann");
        let skipped = s.skipped[0].to_string();
        assert!(!skipped.contains("secret"), "{skipped}");
        assert!(skipped.contains("'ftp://***@example.com/'"), "{skipped}");
        assert_eq!(hide_user_info("http://a.com/x@y"), "http://a.com/x@y");
        assert_eq!(hide_user_info("not a url"), "not a url");
    }

    /// A long seed list is read in linear time (duplicates found by hash, not by
    /// comparing each URL with every earlier one).
    #[test]
    fn a_long_seed_list_loads_in_linear_time() {
        let time = |n: usize| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("seeds.txt");
            let text: String = (0..n).map(|i| format!("http://h{i}.com/\n")).collect();
            std::fs::write(&path, text).unwrap();
            let best = (0..3)
                .map(|_| {
                    let t = std::time::Instant::now();
                    let s = load(&[], Some(&path), canon::Rules::default()).unwrap();
                    assert_eq!(s.urls.len(), n);
                    t.elapsed()
                })
                .min()
                .unwrap();
            best.as_secs_f64()
        };
        let (small, large) = (time(5_000), time(40_000));
        assert!(large < small * 24.0, "5k: {small:.4}s, 40k: {large:.4}s");
    }

    #[test]
    fn reads_a_seed_file_and_reports_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seeds.txt");
        std::fs::write(
            &path,
            "# comment\n\nhttp://a.com/\nnot a url\nftp://b.com/\n  https://B.com/x#y  \nhttp://a.com:80/ # dup\nexample.org\n\u{1}\u{2}bin\n",
        )
        .unwrap();
        let s = load(
            &["http://c.com".into()],
            Some(&path),
            canon::Rules::default(),
        )
        .unwrap();
        let urls: Vec<_> = s.urls.iter().map(Url::as_str).collect();
        assert_eq!(urls, ["http://c.com/", "http://a.com/", "https://b.com/x"]);
        assert_eq!(s.skipped.len(), 4);
        assert_eq!(s.skipped[0].line, 4);
        assert!(s.skipped[0]
            .to_string()
            .contains("seeds.txt:4: skipped seed 'not a url': more than one word"));
        assert_eq!(s.skipped[1].line, 5);
        assert!(
            s.skipped[2]
                .reason
                .contains("did you mean https://example.org"),
            "{}",
            s.skipped[2]
        );
        assert_eq!(s.skipped[3].text, "\\u{1}\\u{2}bin");
    }

    #[test]
    fn no_usable_seed_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.txt");
        std::fs::write(&path, "# only\nnope\n").unwrap();
        let s = load(&[], Some(&path), canon::Rules::default()).unwrap();
        assert_eq!(s.skipped.len(), 1);
        assert!(matches!(s.into_urls(), Err(SeedError::Empty)));
        let missing = dir.path().join("missing.txt");
        let e = load(&[], Some(&missing), canon::Rules::default()).unwrap_err();
        assert!(e.to_string().starts_with("cannot read seed file"), "{e}");
    }
}
