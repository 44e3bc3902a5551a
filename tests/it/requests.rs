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
    let archived = String::from_utf8_lossy(&warc_bytes(dir.path())).into_owned();
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

/// A page leased when its host had nothing else queued asks the server to close
/// the connection (`Connection: close`), so a finished host keeps no idle socket;
/// a page with more of its host queued keeps the connection for the next, and so
/// does a seed (a seed page nearly always links within its host).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_last_queued_page_closes_its_connection() {
    let site = Site::start().await;
    site.set("/", html_page("home", &["/a", "/b", "/c"]));
    for p in ["/a", "/b", "/c"] {
        site.set(p, html_page(p, &[]));
    }
    site.set("/robots.txt", Reply::robots("User-agent: *\nAllow: /\n"));
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--per-host-rate=0",
        "--per-host-concurrency=1",
        "--warc",
        "-q",
    ])
    .await;
    out.assert_code(0);
    let hits = site.hits();
    let hit = |p: &str| {
        hits.iter()
            .find(|h| h.path == p)
            .unwrap_or_else(|| panic!("{p} not asked: {hits:?}"))
    };
    let close = |p: &str| hit(p).header("connection") == Some("close");
    // /c was the last of three; the seed, all its host had, is a seed.
    assert!(close("/c"), "{hits:?}");
    assert!(
        !close("/robots.txt") && !close("/") && !close("/a") && !close("/b"),
        "{hits:?}"
    );
    // One connection for all, closed after /c.
    assert!(hits.iter().all(|h| h.peer == hit("/").peer), "{hits:?}");
    // The archive's request record says what was sent.
    let warc = String::from_utf8_lossy(&warc_bytes(dir.path())).into_owned();
    let asked = warc
        .split("WARC/1.")
        .filter(|r| r.contains("WARC-Type: request") && r.contains("\r\nconnection: close\r\n"))
        .count();
    assert_eq!(asked, 1, "{warc}");
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

/// A small site: a page linking to another, and one link to another loopback host
/// (127.0.0.2, not the seed's: the private-address guard refuses it).
async fn linked_site() -> Site {
    let site = Site::start().await;
    let elsewhere = format!("http://127.0.0.2:{}/private", site.port());
    site.set("/", html_page("home", &["/next", &elsewhere]));
    site.set("/next", html_page("next", &[]));
    site.set("/robots.txt", Reply::Status(404));
    site
}

/// Everything a crawl in `dir` wrote, and its stderr: where a secret must not be.
fn written(dir: &std::path::Path, stderr: &str) -> String {
    let mut all = stderr.to_string();
    for name in ["pages.jsonl", "stats.json"] {
        all.push_str(&std::fs::read_to_string(dir.join(name)).unwrap_or_default());
    }
    all.push_str(&String::from_utf8_lossy(&warc_bytes(dir)));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_goes_through_an_http_proxy_whose_password_stays_secret() {
    let site = linked_site().await;
    let proxy = proxy::Proxy::http().await;
    let url = format!("http://puser:pr0xy-pw@127.0.0.1:{}", proxy.port);
    // Scope any: the link to 127.0.0.2 is wanted, and only the guard stops it.
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--proxy",
        &url,
        "--scope",
        "any",
        "--warc",
        "-v",
    ])
    .await;
    out.assert_code(0);
    let seen = proxy.seen();
    // robots.txt, / and /next, each through the proxy, with its credentials.
    assert_eq!(seen.targets.len(), 3, "{seen:?}");
    assert_eq!(site.hits().len(), 3);
    assert!(
        seen.credentials
            .iter()
            .all(|c| c == "Basic cHVzZXI6cHIweHktcHc="),
        "{seen:?}"
    );
    assert_eq!(seen.credentials.len(), 3, "{seen:?}");
    // The other loopback host is refused before anything is sent, proxy or not.
    assert!(seen.refused.is_empty(), "{seen:?}");
    let records = records_by_url(dir.path());
    let blocked = &records[&format!("http://127.0.0.2:{}/private", site.port())];
    assert!(
        blocked["error"].as_str().unwrap().starts_with("blocked"),
        "{blocked}"
    );
    let all = written(dir.path(), &out.stderr);
    assert!(!all.contains("pr0xy-pw"), "the proxy password was written");
    assert!(
        !all.contains(&format!(":{}", proxy.port)),
        "the proxy was named"
    );
    // The peer was the proxy: the archive names no server address.
    assert!(
        !all.contains("WARC-IP-Address"),
        "an address that is the proxy's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socks5h_proxy_is_used_with_its_login() {
    let site = linked_site().await;
    let proxy = proxy::Proxy::socks5(Some(("suser", "s0cks-pw"))).await;
    let url = format!("socks5h://suser:s0cks-pw@127.0.0.1:{}", proxy.port);
    let (out, dir) = crawl(&[&site.url("/"), "--proxy", &url, "-v"]).await;
    out.assert_code(0);
    let seen = proxy.seen();
    assert!(!seen.targets.is_empty(), "{seen:?}");
    assert!(
        seen.targets
            .iter()
            .all(|t| *t == format!("127.0.0.1:{}", site.port())),
        "{seen:?}"
    );
    assert!(
        seen.credentials.iter().all(|c| c == "suser:s0cks-pw"),
        "{seen:?}"
    );
    assert!(seen.refused.is_empty(), "{seen:?}");
    assert_eq!(site.hits().len(), 3);
    assert!(!written(dir.path(), &out.stderr).contains("s0cks-pw"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_variables_are_honoured_unless_proxy_is_set() {
    let site = linked_site().await;
    let proxy = proxy::Proxy::http().await;
    let env_proxy = format!("http://127.0.0.1:{}", proxy.port);
    let run = |extra: Vec<(&'static str, String)>, flags: Vec<String>| {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(trawl_bin());
        cmd.args(["crawl", &site.url("/"), "--out"])
            .arg(dir.path())
            .args(&flags)
            .arg("-q")
            .env_remove("RUST_LOG");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = wait_with_timeout(
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
            Duration::from_secs(60),
        );
        out.assert_code(0);
        dir
    };
    let before = proxy.seen().targets.len();
    let _d = run(vec![("HTTP_PROXY", env_proxy.clone())], vec![]);
    let through = proxy.seen().targets.len() - before;
    assert_eq!(through, 3, "HTTP_PROXY is honoured: {:?}", proxy.seen());
    // NO_PROXY names the site: straight there.
    let before = proxy.seen().targets.len();
    let _d = run(
        vec![
            ("HTTP_PROXY", env_proxy.clone()),
            ("NO_PROXY", "127.0.0.1".to_string()),
        ],
        vec![],
    );
    assert_eq!(proxy.seen().targets.len(), before, "NO_PROXY is honoured");
    // --proxy wins over the environment.
    let other = proxy::Proxy::http().await;
    let before = proxy.seen().targets.len();
    let _d = run(
        vec![("HTTP_PROXY", env_proxy)],
        vec!["--proxy".into(), format!("http://127.0.0.1:{}", other.port)],
    );
    assert_eq!(proxy.seen().targets.len(), before);
    assert_eq!(other.seen().targets.len(), 3, "{:?}", other.seen());
}

#[test]
fn a_bad_proxy_url_is_one_line_that_does_not_repeat_it() {
    let files = tempfile::tempdir().unwrap();
    for (proxy, needle) in [
        (
            "ftp://user:topsecret@127.0.0.1:21",
            "is not http, https or socks5h",
        ),
        ("socks5://user:topsecret@127.0.0.1:1080", "use socks5h://"),
        ("no proxy at all topsecret", "the proxy is not a URL"),
    ] {
        let out = run_trawl(
            &[
                "crawl",
                "http://127.0.0.1:9/",
                "--out",
                &files.path().join("out").display().to_string(),
                "--proxy",
                proxy,
            ],
            Duration::from_secs(30),
        );
        out.assert_code(1);
        assert!(out.stderr.contains(needle), "{}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert!(!out.stderr.contains("topsecret"), "{}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_tables_scope_headers_credentials_and_robots_to_their_hosts() {
    let site = Site::start().await;
    let other = format!("http://localhost:{}", site.port());
    site.set("/", html_page("home", &["/secret", "/go"]));
    site.set("/secret", html_page("secret", &[]));
    // A redirect to another host name (the same server): matched anew.
    site.set("/go", Reply::Redirect(302, format!("{other}/landing")));
    site.set(
        "/landing",
        html_page("landing", &[&format!("{other}/secret2")]),
    );
    site.set("/secret2", html_page("secret2", &[]));
    site.set(
        "/robots.txt",
        Reply::robots("User-agent: *\nDisallow: /secret"),
    );
    let conf = tempfile::tempdir().unwrap();
    let file = conf.path().join("trawl.toml");
    std::fs::write(
        &file,
        "quiet = true\nscope = \"any\"\nallow_private = true\n\
         [[hosts]]\nmatch = \"127.0.0.1\"\nbasic_auth = \"alice:w0nderland\"\n\
         robots = \"ignore\"\nheaders = { \"X-Team\" = \"a\" }\n\
         [[hosts]]\nmatch = \"*.localhost\"\nbearer = \"never-sent\"\n",
    )
    .unwrap();
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--config",
        &file.display().to_string(),
        "--warc",
    ])
    .await;
    out.assert_code(0);
    let hits = site.hits();
    let (ours, theirs): (Vec<&Hit>, Vec<&Hit>) =
        hits.iter().partition(|h| h.host.starts_with("127.0.0.1:"));
    assert!(ours.len() >= 3 && !theirs.is_empty(), "{hits:?}");
    for h in &ours {
        assert_eq!(h.authorization, "Basic YWxpY2U6dzBuZGVybGFuZA==", "{h:?}");
        assert_eq!(h.header("x-team"), Some("a"), "{h:?}");
    }
    // `*.localhost` is localhost's subdomains and localhost itself: its bearer token
    // goes there, and alice's password never does.
    for h in &theirs {
        assert_eq!(h.authorization, "Bearer never-sent", "{h:?}");
        assert_eq!(h.header("x-team"), None, "{h:?}");
    }
    // robots.txt ignored for 127.0.0.1 only: /secret fetched there, /secret2 refused
    // on localhost.
    assert_eq!(site.count("/secret"), 1);
    assert_eq!(site.count("/secret2"), 0);
    let records = records_by_url(dir.path());
    let refused = &records[&format!("{other}/secret2")];
    assert!(
        refused["error"].as_str().unwrap().starts_with("robots"),
        "{refused}"
    );
    let all = written(dir.path(), &out.stderr);
    assert!(!all.contains("w0nderland") && !all.contains("never-sent"));
    assert!(all.contains("authorization: Basic ***") && all.contains("authorization: Bearer ***"));
}

/// Most requests to one host in flight at once, from the fixture's log.
fn most_at_once(hits: &[&Hit]) -> usize {
    hits.iter()
        .map(|h| {
            hits.iter()
                .filter(|o| o.start <= h.start && h.start < o.end)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// A table's `rate`, `concurrency` and `cookies` go to the hosts it matches only;
/// the others keep the crawl's politeness and get no cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_tables_set_rate_concurrency_and_cookies_for_their_hosts() {
    let site = Site::start().await;
    let other = format!("http://localhost:{}", site.port());
    let slow = |title: &str, links: &[&str]| {
        Reply::delayed(Duration::from_millis(300), html_page(title, links))
    };
    let mut links: Vec<String> = (0..6).map(|i| format!("/p/{i}")).collect();
    links.extend((0..4).map(|i| format!("{other}/l/{i}")));
    let refs: Vec<&str> = links.iter().map(String::as_str).collect();
    site.set("/", html_page("home", &refs));
    for i in 0..6 {
        site.set(&format!("/p/{i}"), slow("p", &[]));
    }
    for i in 0..4 {
        site.set(&format!("/l/{i}"), html_page("l", &[]));
    }
    site.set("/robots.txt", Reply::Status(404));
    let conf = tempfile::tempdir().unwrap();
    let file = conf.path().join("trawl.toml");
    std::fs::write(
        &file,
        "quiet = true
scope = \"any\"
allow_private = true
         per_host_rate = 0
per_host_concurrency = 1
         [[hosts]]
match = \"127.0.0.1\"
concurrency = 4
         [[hosts]]
match = \"localhost\"
rate = 5
cookies = { sid = \"abc123\" }
",
    )
    .unwrap();
    let (out, dir) = crawl(&[&site.url("/"), "--config", &file.display().to_string()]).await;
    out.assert_code(0);
    let hits = site.hits();
    let (ours, theirs): (Vec<&Hit>, Vec<&Hit>) =
        hits.iter().partition(|h| h.host.starts_with("127.0.0.1:"));
    let pages: Vec<&Hit> = ours
        .iter()
        .copied()
        .filter(|h| h.path.starts_with("/p/"))
        .collect();
    assert_eq!(pages.len(), 6);
    let at_once = most_at_once(&pages);
    assert!(
        at_once >= 3,
        "127.0.0.1's table allows 4 at once; saw {at_once}"
    );
    // localhost: its table's five a second (the crawl has no limit), one at a time.
    let mut starts: Vec<_> = theirs.iter().map(|h| h.start).collect();
    starts.sort();
    assert_eq!(starts.len(), 5, "robots.txt and four pages: {theirs:?}");
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(180),
            "localhost hits {gap:?} apart"
        );
    }
    // The table's cookie goes to localhost only, from its first request.
    for h in &theirs {
        assert_eq!(h.header("cookie"), Some("sid=abc123"), "{h:?}");
    }
    for h in &ours {
        assert_eq!(h.header("cookie"), None, "{h:?}");
    }
    assert!(!std::fs::read_to_string(dir.path().join("pages.jsonl"))
        .unwrap()
        .contains("abc123"));
}

#[test]
fn a_bad_hosts_table_is_one_line_at_start() {
    let conf = tempfile::tempdir().unwrap();
    for (table, needle) in [
        ("match = \"a.test\"\nper_host_rate = 2.0\n", "per_host_rate"),
        ("match = \"A.Test\"\n", "not a lower-case host"),
        (
            "match = \"a.test\"\nbasic_auth = \"u:p\"\nbearer = \"t\"\n",
            "give one",
        ),
        ("match = \"a.test\"\nrobots = \"sometimes\"\n", "sometimes"),
        ("match = \"a.test\"\nrate = -1\n", "rate must be"),
        (
            "match = \"a.test\"\nconcurrency = 0\n",
            "concurrency must be",
        ),
        (
            "match = \"a.test\"\ncookies = { \"a b\" = \"1\" }\n",
            "not a cookie name",
        ),
    ] {
        let file = conf.path().join("bad.toml");
        std::fs::write(&file, format!("[[hosts]]\n{table}")).unwrap();
        let out = run_trawl(
            &[
                "crawl",
                "http://127.0.0.1:9/",
                "--out",
                &conf.path().join("out").display().to_string(),
                "--config",
                &file.display().to_string(),
            ],
            Duration::from_secs(30),
        );
        out.assert_code(1);
        assert!(out.stderr.contains(needle), "{table}: {}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
}
