//! What every request of a crawl carries beyond trawl's own headers: the user's
//! `--header`s (or `[headers]` table), and what the archive says of them.

use std::time::Duration;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_given_go_on_every_request_and_secrets_stay_out_of_the_archive() {
    let site = Site::start().await;
    site.set("/", html_page("home", &["/a"]));
    site.set("/a", html_page("a", &[]));
    site.set("/robots.txt", Reply::Status(404));
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--header",
        "X-Api-Key: k-123",
        "--header",
        "accept-language:  en-GB ",
        "--header",
        "Authorization: Bearer s3cret-token",
        "--header",
        "Accept: text/html",
        "--warc",
        "-q",
    ])
    .await;
    out.assert_code(0);
    let hits = site.hits();
    assert_eq!(hits.len(), 3, "robots.txt, / and /a");
    for hit in &hits {
        assert_eq!(hit.header("x-api-key"), Some("k-123"), "{hit:?}");
        assert_eq!(hit.header("accept-language"), Some("en-GB"), "{hit:?}");
        assert_eq!(hit.authorization, "Bearer s3cret-token", "{hit:?}");
        // A header of the same name replaces trawl's default, once.
        assert_eq!(hit.header("accept"), Some("text/html"), "{hit:?}");
        assert_eq!(hit.headers.iter().filter(|(n, _)| n == "accept").count(), 1);
        assert!(hit.user_agent.starts_with("trawl/"), "{hit:?}");
    }
    // The archive names every header, credentials as ***.
    let mut archived = String::new();
    for entry in std::fs::read_dir(dir.path().join("warc")).unwrap() {
        use std::io::Read;
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(entry.unwrap().path()).unwrap())
            .read_to_end(&mut text)
            .unwrap();
        archived.push_str(&String::from_utf8_lossy(&text));
    }
    assert!(archived.contains("x-api-key: k-123\r\n"), "{archived}");
    assert!(archived.contains("authorization: ***\r\n"), "{archived}");
    assert!(
        !archived.contains("s3cret-token"),
        "the token reached the archive"
    );
    let records = std::fs::read_to_string(dir.path().join("pages.jsonl")).unwrap();
    let stats = std::fs::read_to_string(dir.path().join("stats.json")).unwrap();
    assert!(!records.contains("s3cret") && !stats.contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headers_table_in_the_config_file_is_sent_and_flags_replace_it() {
    let site = Site::start().await;
    site.set("/", html_page("home", &[]));
    site.set("/robots.txt", Reply::Status(404));
    let conf = tempfile::tempdir().unwrap();
    let file = conf.path().join("trawl.toml");
    std::fs::write(
        &file,
        "quiet = true\n[headers]\n\"X-From-File\" = \"yes\"\n",
    )
    .unwrap();
    let file = file.display().to_string();
    let (out, _dir) = crawl(&[&site.url("/"), "--config", &file]).await;
    out.assert_code(0);
    assert!(site
        .hits()
        .iter()
        .all(|h| h.header("x-from-file") == Some("yes")));
    let again = Site::start().await;
    again.set("/", html_page("home", &[]));
    again.set("/robots.txt", Reply::Status(404));
    let (out, _dir) = crawl(&[&again.url("/"), "--config", &file, "--header", "X-Flag: 1"]).await;
    out.assert_code(0);
    for hit in again.hits() {
        assert_eq!(hit.header("x-flag"), Some("1"));
        assert_eq!(hit.header("x-from-file"), None, "flags replace the table");
    }
}

#[test]
fn a_bad_header_is_one_line_at_start() {
    for (args, needle, code) in [
        (vec!["--header", "NoColonHere"], "write it 'Name: value'", 2),
        (vec!["--header", "Bad Name: x"], "is not a header name", 2),
        (vec!["--header", "Host: other"], "decided by trawl", 2),
        (vec!["--header", "User-Agent: x"], "--user-agent", 2),
        (
            vec!["--header", "X-A: 1", "--header", "x-a: 2"],
            "given twice",
            1,
        ),
    ] {
        let mut all = vec![
            "crawl",
            "http://127.0.0.1:9/",
            "--out",
            "/nonexistent/never",
        ];
        all.extend(args.iter().copied());
        let out = run_trawl(&all, Duration::from_secs(30));
        out.assert_code(code);
        // One line says what is wrong (clap adds its usual pointer to --help).
        let first = out.stderr.lines().next().unwrap_or("");
        assert!(first.contains(needle), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.trim().lines().count() <= 3,
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"));
    }
}

/// A reply that sets these cookies on a small HTML page linking to `links`.
fn setting(cookies: &[&str], links: &[&str]) -> Reply {
    let mut headers = vec![("Content-Type".to_string(), "text/html".to_string())];
    for c in cookies {
        headers.push(("Set-Cookie".to_string(), c.to_string()));
    }
    let body: String = links
        .iter()
        .map(|l| format!("<a href=\"{l}\">x</a>"))
        .collect();
    Reply::Raw {
        status: 200,
        headers,
        body: body.into_bytes(),
    }
}

/// The Cookie header each path was asked with (the last request to it).
fn cookie_of(site: &Site, path: &str) -> Option<String> {
    site.hits()
        .into_iter()
        .rfind(|h| h.path == path)
        .unwrap_or_else(|| panic!("{path} was not fetched"))
        .header("cookie")
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_jar_keeps_what_servers_set_as_rfc_6265_says() {
    let site = Site::start().await;
    site.set(
        "/",
        setting(
            &[
                "sid=abc; Path=/",
                "scoped=1; Path=/app",
                "sec=1; Secure",
                "gone=1; Max-Age=0",
                "foreign=1; Domain=example.org",
            ],
            &["/private", "/app/page"],
        ),
    );
    site.set("/private", html_page("private", &[]));
    site.set("/app/page", html_page("app", &[]));
    site.set("/robots.txt", Reply::Status(404));
    let (out, _dir) = crawl(&[&site.url("/"), "--per-host-concurrency", "1", "-q"]).await;
    out.assert_code(0);
    // Before any Set-Cookie, nothing is sent.
    assert_eq!(cookie_of(&site, "/robots.txt"), None);
    let private = cookie_of(&site, "/private").unwrap();
    assert!(private.split("; ").any(|c| c == "sid=abc"), "{private}");
    assert!(
        !private.contains("gone=") && !private.contains("foreign="),
        "{private}"
    );
    let app = cookie_of(&site, "/app/page").unwrap();
    let mut sent: Vec<&str> = app.split("; ").collect();
    sent.sort();
    // Path scopes `scoped`; Max-Age=0 and a foreign Domain are never stored. `sec`
    // (Secure) is sent: loopback is a secure context (RFC 6265bis, as browsers
    // treat http://localhost); Secure over plain HTTP elsewhere is refused, which
    // the jar's unit tests show on other hosts.
    assert_eq!(sent, ["scoped=1", "sec=1", "sid=abc"], "{app}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cookies_sends_none_and_a_cookies_file_is_sent_from_the_first_request() {
    let site = Site::start().await;
    site.set("/", setting(&["sid=abc; Path=/"], &["/next"]));
    site.set("/next", html_page("next", &[]));
    site.set("/robots.txt", Reply::Status(404));
    let (out, _dir) = crawl(&[&site.url("/"), "--no-cookies", "-q"]).await;
    out.assert_code(0);
    assert!(site.hits().iter().all(|h| h.header("cookie").is_none()));

    let again = Site::start().await;
    again.set("/", html_page("home", &[]));
    again.set("/robots.txt", Reply::Status(404));
    let files = tempfile::tempdir().unwrap();
    let jar = files.path().join("cookies.txt");
    std::fs::write(
        &jar,
        "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tlogin\ttoken-1\n\
         #HttpOnly_127.0.0.1\tFALSE\t/\tTRUE\t0\tsecure_only\tx\n",
    )
    .unwrap();
    let jar = jar.display().to_string();
    let (out, dir) = crawl(&[&again.url("/"), "--cookies", &jar, "--warc", "-q"]).await;
    out.assert_code(0);
    for hit in again.hits() {
        // Both lines of the file (the HttpOnly_ one is a cookie, not a comment;
        // Secure reaches loopback, a secure context).
        let mut sent: Vec<&str> = hit.header("cookie").unwrap_or("").split("; ").collect();
        sent.sort();
        assert_eq!(sent, ["login=token-1", "secure_only=x"], "{hit:?}");
    }
    let records = std::fs::read_to_string(dir.path().join("pages.jsonl")).unwrap();
    assert!(!records.contains("token-1"));
}

#[test]
fn a_bad_cookies_file_is_one_line_at_start() {
    let files = tempfile::tempdir().unwrap();
    let bad = files.path().join("bad.txt");
    std::fs::write(&bad, "127.0.0.1\tFALSE\t/\tFALSE\n").unwrap();
    for (file, needle) in [
        (
            bad.display().to_string(),
            "line 1 has 4 tab-separated fields",
        ),
        (
            "/nonexistent/cookies.txt".to_string(),
            "cannot read cookies file",
        ),
    ] {
        let out = run_trawl(
            &[
                "crawl",
                "http://127.0.0.1:9/",
                "--out",
                &files.path().join("out").display().to_string(),
                "--cookies",
                &file,
            ],
            Duration::from_secs(30),
        );
        out.assert_code(1);
        assert!(out.stderr.contains(needle), "{}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert!(
            !files.path().join("out").exists(),
            "the out dir was touched"
        );
    }
}
