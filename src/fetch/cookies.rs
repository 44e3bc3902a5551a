//! The crawl's cookie jar: one per process, on unless `no_cookies`, kept by the
//! `cookie_store` crate (RFC 6265: Domain, Path, Secure, expiry, public suffixes
//! refused as domains) and handed to reqwest, which sends and stores through it.
//! `--cookies FILE` fills it at start from a Netscape `cookies.txt`, the format curl,
//! wget and browser extensions export.
//!
//! This module reads the file's lines into cookies; it never decides what a cookie
//! means (the store does) and never writes one anywhere: cookies are credentials,
//! and no record, log, stats file or archive header names their values.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest_cookie_store::{CookieStore, CookieStoreMutex};
use url::Url;

/// Largest cookies file read: browsers' exports are kilobytes.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The jar for a crawl: empty, or filled from `file`. Errors are one line naming
/// the file (and line).
pub fn jar(
    file: Option<&Path>,
    hosts: &[crate::config::HostRule],
) -> Result<Arc<CookieStoreMutex>, String> {
    let mut store = CookieStore::default();
    for rule in hosts {
        load_table(rule, &mut store)?;
    }
    if let Some(path) = file {
        let shown = path.display();
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read cookies file {shown}: {e}"))?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!(
                "cookies file {shown} is over {} MiB",
                MAX_FILE_BYTES >> 20
            ));
        }
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read cookies file {shown}: {e}"))?;
        let text = String::from_utf8_lossy(&bytes);
        load_netscape(&text, &mut store, now_secs())
            .map_err(|e| format!("cookies file {shown}: {e}"))?;
    }
    Ok(Arc::new(CookieStoreMutex::new(store)))
}

/// A `[[hosts]]` table's cookies, as session cookies of its hosts: host-only for a
/// host, for the domain and its subdomains for `*.domain` (over http and https).
fn load_table(rule: &crate::config::HostRule, store: &mut CookieStore) -> Result<(), String> {
    let (host, domain) = match rule.pattern.strip_prefix("*.") {
        Some(d) => (d, true),
        None => (rule.pattern.as_str(), false),
    };
    for (name, value) in &rule.cookies {
        let url = Url::parse(&format!("http://{host}/"))
            .map_err(|e| format!("[[hosts]] {}: no URL for its cookies ({e})", rule.pattern))?;
        let mut set = format!("{name}={value}; Path=/");
        if domain {
            set.push_str(&format!("; Domain={host}"));
        }
        store.parse(&set, &url).map_err(|e| {
            format!(
                "[[hosts]] {}: the cookie {name} is refused ({e})",
                rule.pattern
            )
        })?;
    }
    Ok(())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads a Netscape cookies file into `store`: one cookie per line, seven fields
/// separated by tabs (domain, include subdomains, path, secure, expiry in unix
/// seconds or 0 for a session cookie, name, value); `#` lines are comments except
/// the `#HttpOnly_` prefix curl writes before a domain. Expired cookies are skipped.
/// Returns how many cookies were stored; a malformed line is an error naming it.
pub fn load_netscape(text: &str, store: &mut CookieStore, now: u64) -> Result<usize, String> {
    let mut stored = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let line = line.strip_prefix("#HttpOnly_").unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let fields: Vec<&str> = line.split('\t').collect();
        let [domain, subdomains, path, secure, expiry, name, value] = fields[..] else {
            return Err(format!(
                "line {n} has {} tab-separated fields, not 7 (domain, subdomains, path, secure, expiry, name, value)",
                fields.len()
            ));
        };
        let flag = |v: &str, what: &str| match v.to_ascii_uppercase().as_str() {
            "TRUE" => Ok(true),
            "FALSE" => Ok(false),
            _ => Err(format!("line {n}: {what} is '{v}', not TRUE or FALSE")),
        };
        let subdomains = flag(subdomains, "include-subdomains")?;
        let secure = flag(secure, "secure")?;
        let expiry: u64 = expiry
            .trim()
            .parse()
            .map_err(|_| format!("line {n}: expiry '{expiry}' is not unix seconds"))?;
        if expiry != 0 && expiry <= now {
            continue;
        }
        let host = domain.trim().trim_start_matches('.');
        if host.is_empty() || name.is_empty() {
            return Err(format!("line {n}: no domain or no name"));
        }
        let path = match path.trim() {
            "" => "/",
            p => p,
        };
        let scheme = if secure { "https" } else { "http" };
        let url = Url::parse(&format!("{scheme}://{host}{path}")).map_err(|e| {
            format!("line {n}: domain '{domain}' and path '{path}' make no URL ({e})")
        })?;
        // A Set-Cookie line as the site would have sent it; the store applies RFC
        // 6265 to it (a host-only cookie has no Domain attribute).
        let mut set = format!("{name}={value}; Path={path}");
        if subdomains {
            set.push_str(&format!("; Domain={host}"));
        }
        if secure {
            set.push_str("; Secure");
        }
        if expiry != 0 {
            set.push_str(&format!("; Max-Age={}", expiry - now));
        }
        store
            .parse(&set, &url)
            .map_err(|e| format!("line {n}: the cookie {name} is refused ({e})"))?;
        stored += 1;
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn names_for(store: &CookieStore, url: &str) -> Vec<String> {
        let url = Url::parse(url).unwrap();
        let mut names: Vec<String> = store
            .get_request_values(&url)
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_netscape_file_loads_with_domain_path_secure_and_expiry() {
        let text = "# Netscape HTTP Cookie File\n\
            \n\
            .example.test\tTRUE\t/\tFALSE\t0\tall\t1\n\
            example.test\tFALSE\t/app\tFALSE\t1900000000\tapp\t2\n\
            #HttpOnly_example.test\tFALSE\t/\tTRUE\t0\tsec\t3\n\
            example.test\tFALSE\t/\tFALSE\t1700000000\told\t4\n\
            other.test\tFALSE\t/\tFALSE\t0\telsewhere\t5\r\n";
        let mut store = CookieStore::default();
        assert_eq!(
            load_netscape(text, &mut store, NOW),
            Ok(4),
            "the expired one is skipped"
        );
        assert_eq!(names_for(&store, "http://example.test/"), ["all=1"]);
        assert_eq!(
            names_for(&store, "http://example.test/app/x"),
            ["all=1", "app=2"]
        );
        assert_eq!(
            names_for(&store, "https://example.test/"),
            ["all=1", "sec=3"]
        );
        // Include-subdomains TRUE reaches a subdomain; a host-only cookie does not.
        assert_eq!(names_for(&store, "http://www.example.test/app/"), ["all=1"]);
        assert_eq!(names_for(&store, "http://other.test/"), ["elsewhere=5"]);
    }

    #[test]
    fn a_malformed_line_is_named() {
        let mut store = CookieStore::default();
        for (text, needle) in [
            ("a.test\tTRUE\t/\tFALSE\t0\tname\n", "line 1 has 6"),
            (
                "\n\na.test\tMAYBE\t/\tFALSE\t0\tn\tv\n",
                "line 3: include-subdomains",
            ),
            ("a.test\tTRUE\t/\tFALSE\tsoon\tn\tv\n", "expiry 'soon'"),
            ("\tTRUE\t/\tFALSE\t0\tn\tv\n", "no domain"),
        ] {
            let e = load_netscape(text, &mut store, NOW).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn a_missing_or_huge_file_is_one_line() {
        let e = jar(Some(Path::new("/nonexistent/cookies.txt")), &[]).unwrap_err();
        assert!(
            e.starts_with("cannot read cookies file /nonexistent/cookies.txt"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
