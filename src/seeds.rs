//! Seed lists: URL arguments and seed files (one URL per line, blank lines and `#`
//! comments ignored). A line that is not a usable http(s) URL is reported with its
//! file and line number and skipped; only a list with no usable URL is an error.

use std::path::{Path, PathBuf};

use url::Url;

use crate::canon;

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

/// Canonical seeds (duplicates removed, order kept) and the lines skipped.
#[derive(Debug, Default)]
pub struct Seeds {
    pub urls: Vec<Url>,
    pub skipped: Vec<SkippedSeed>,
}

/// A seed line as it is safe to print: control characters escaped, at most 100 chars.
fn printable(text: &str) -> String {
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
                if !self.urls.contains(&u) {
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
