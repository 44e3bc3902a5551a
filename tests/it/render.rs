//! `--render`: script-built pages rendered in the real headless Chromium that
//! `.ci/test` installs, against the local fixture only. Every request a page makes
//! must be trawl's (its User-Agent, its guard, its politeness); links, text, rules
//! and JSON-LD come from the rendered DOM; hung and chatty pages end in time; the
//! browser is restarted and recycled; the archive keeps the DOM as a conversion.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// A shell page as client-side apps send it: an empty root and a script bundle.
fn shell(title: &str, script: &str) -> Reply {
    Reply::Html(format!(
        "<!doctype html><html><head><title>{title}</title></head>\
         <body><div id=\"root\"></div><script src=\"{script}\"></script></body></html>"
    ))
}

fn js(code: &str) -> Reply {
    Reply::typed("application/javascript", code.as_bytes().to_vec())
}

/// A plain page with text and links enough that `auto` leaves it alone.
fn plain(title: &str) -> Reply {
    Reply::Html(format!(
        "<html><head><title>{title}</title></head><body><p>{}</p>\
         <a href=\"/x1\">1</a><a href=\"/x2\">2</a><a href=\"/x3\">3</a></body></html>",
        "Plain server-rendered text. ".repeat(20)
    ))
}

/// The fixture app: `/` is a shell whose script loads its items by XHR from the
/// same host, builds their links, a heading, JSON-LD and a late-found list, and
/// moves to `/pushed` with history.pushState.
fn app(site: &Site) {
    site.set("/robots.txt", Reply::Status(404));
    site.set("/", shell("shell", "/app.js"));
    site.set(
        "/app.js",
        js(r#"
fetch('/api/items.json', {headers: {'Accept': 'application/json'}})
  .then(r => r.json())
  .then(items => {
    const root = document.getElementById('root');
    const h = document.createElement('h1');
    h.className = 'headline';
    h.textContent = 'Built by script';
    root.appendChild(h);
    for (const it of items) {
      const a = document.createElement('a');
      a.href = it.href; a.className = 'item'; a.textContent = it.name;
      root.appendChild(a);
    }
    const ld = document.createElement('script');
    ld.type = 'application/ld+json';
    ld.textContent = JSON.stringify({'@type': 'Product', name: 'Scripted'});
    document.head.appendChild(ld);
    document.title = 'rendered app';
    history.pushState({}, '', '/pushed');
  });
"#),
    );
    site.set(
        "/api/items.json",
        Reply::typed(
            "application/json",
            r#"[{"href": "/item/1", "name": "one"}, {"href": "/item/2", "name": "two"}]"#,
        ),
    );
    for p in ["/item/1", "/item/2", "/pushed", "/x1", "/x2", "/x3"] {
        site.set(p, plain(p));
    }
}

fn record<'a>(
    records: &'a std::collections::HashMap<String, Value>,
    site: &Site,
    path: &str,
) -> &'a Value {
    records
        .get(&site.url(path))
        .unwrap_or_else(|| panic!("no record of {path}: {:?}", records.keys()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_built_links_xhr_content_and_pushstate_are_crawled() {
    let site = Site::start().await;
    app(&site);
    // The same site without rendering: one page, no links (what the feature is for).
    let (out, plain_dir) = crawl(&[&site.url("/"), "--per-host-rate", "0"]).await;
    out.assert_code(0);
    let records = records_by_url(plain_dir.path());
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(record(&records, &site, "/")["links"], 0);
    assert!(record(&records, &site, "/").get("rendered").is_none());

    let conf = tempfile::tempdir().unwrap();
    let file = conf.path().join("trawl.toml");
    std::fs::write(
        &file,
        "[[rules]]\nname = \"app\"\npattern = \"/$\"\n[rules.fields]\nheadline = { selector = \"h1.headline\" }\nitems = { selector = \"a.item\", all = true }\n",
    )
    .unwrap();
    let site_hits_before = site.hits().len();
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--render",
        "auto",
        "--per-host-rate",
        "0",
        "--extras",
        "json_ld",
        "--warc",
        "--config",
        &file.display().to_string(),
    ])
    .await;
    out.assert_code(0);
    let records = records_by_url(dir.path());
    let home = record(&records, &site, "/");
    assert_eq!(home["rendered"], true, "{home}");
    assert_eq!(home["render_reason"], "app_root");
    assert_eq!(home["title"], "rendered app");
    assert_eq!(home["error"], Value::Null);
    // Links built by script from the XHR's data, and where pushState took the page.
    for p in ["/item/1", "/item/2", "/pushed"] {
        let r = record(&records, &site, p);
        assert_eq!(r["status"], 200, "{r}");
        // Plain pages in auto: fetched, not rendered.
        assert_eq!(r["rendered"], false, "{r}");
        assert!(r.get("render_reason").is_none(), "{r}");
    }
    // Rules and JSON-LD read the rendered DOM.
    assert_eq!(home["data"]["headline"], "Built by script", "{home}");
    assert_eq!(home["data"]["items"], serde_json::json!(["one", "two"]));
    assert!(home["json_ld"].to_string().contains("Scripted"), "{home}");
    // Every request the page made was trawl's: its User-Agent, once each.
    let hits: Vec<Hit> = site.hits()[site_hits_before..].to_vec();
    for p in ["/app.js", "/api/items.json"] {
        let mine: Vec<&Hit> = hits.iter().filter(|h| h.path == p).collect();
        assert_eq!(mine.len(), 1, "{p}: {mine:?}");
        assert!(mine[0].user_agent.starts_with("trawl/"), "{:?}", mine[0]);
        assert!(!mine[0].user_agent.contains("Chrome"), "{:?}", mine[0]);
    }
    // The page itself was fetched once, over HTTP: the browser got trawl's body.
    assert_eq!(hits.iter().filter(|h| h.path == "/").count(), 1);
    let render = &stats(dir.path())["render"];
    assert_eq!(render["rendered"], 1, "{render}");
    assert_eq!(render["reasons"]["app_root"], 1);
    assert_eq!(render["requests"], 2, "{render}");
    assert_eq!(render["failed"], 0);

    // The archive: the response as served, and the DOM as a conversion record
    // referring to it, both read by warcio.
    let index = warc_index(dir.path());
    let of = |kind: &str| -> Vec<&Value> {
        index
            .iter()
            .filter(|r| r["warc-type"] == kind && r["warc-target-uri"] == site.url("/"))
            .collect()
    };
    assert_eq!(of("response").len(), 1, "{index:?}");
    assert_eq!(of("conversion").len(), 1, "{index:?}");
    let dump = run_warcio(&[
        "extract",
        "--payload",
        &warc_file(dir.path()),
        of("conversion")[0]["offset"].as_str().unwrap(),
    ]);
    assert!(dump.contains("href=\"/item/1\""), "{dump}");
    let headers = run_warcio(&[
        "extract",
        "--headers",
        &warc_file(dir.path()),
        of("conversion")[0]["offset"].as_str().unwrap(),
    ]);
    let response_headers = run_warcio(&[
        "extract",
        "--headers",
        &warc_file(dir.path()),
        of("response")[0]["offset"].as_str().unwrap(),
    ]);
    let response_id = response_headers
        .lines()
        .find_map(|l| l.strip_prefix("WARC-Record-ID: "))
        .unwrap();
    assert!(
        headers.contains(&format!("WARC-Refers-To: {response_id}")),
        "{headers}"
    );
}

/// The one WARC file of a crawl.
fn warc_file(out: &Path) -> String {
    let dir = out.join("warc");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".warc.gz"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.remove(0).display().to_string()
}

/// Runs this test again inside a private network namespace with only loopback up,
/// so that nothing the page tries (169.254.169.254 included) can leave the machine
/// whatever the code under test does. True when already inside (go on with the
/// test); false after the inner run passed (the outer test is done).
fn in_private_network(test: &str) -> bool {
    const INSIDE: &str = "TRAWL_TEST_PRIVATE_NETWORK";
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let me = std::env::current_exe().unwrap();
    let child = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$@\"", "sh"])
        .arg(&me)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(INSIDE, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("unshare runs");
    let out = wait_with_timeout(child, Duration::from_secs(120));
    assert!(
        out.code == Some(0) && out.stdout.contains("1 passed"),
        "{test} failed inside a private network namespace (its output follows; if unshare \
         itself failed, run the tests as root or with user namespaces):\n{}\n{}",
        out.stdout,
        out.stderr
    );
    false
}

/// A listener that counts the connections made to it.
fn counting_listener(ip: &str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(1000) {
            drop(conn);
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rendered_pages_requests_pass_the_address_guard_and_the_block_list() {
    if !in_private_network(
        "render::a_rendered_pages_requests_pass_the_address_guard_and_the_block_list",
    ) {
        return;
    }
    let site = Site::start().await;
    let (other, connections) = counting_listener("127.0.0.2");
    site.set("/robots.txt", Reply::Status(404));
    site.set("/", shell("probe", "/probe.js"));
    site.set(
        "/probe.js",
        js(&format!(
            r#"
const root = document.getElementById('root');
const note = (id, text) => {{ const p = document.createElement('p'); p.id = id; p.textContent = text; root.appendChild(p); }};
Promise.allSettled([
  fetch('http://169.254.169.254/latest/meta-data/').then(() => 'reached', () => 'refused'),
  fetch('http://127.0.0.2:{other}/count').then(() => 'reached', () => 'refused'),
  fetch('/same-origin.json').then(r => r.text()),
  fetch('/hop').then(() => 'reached', () => 'refused'),
  new Promise(done => {{
    try {{ const ws = new WebSocket('ws://127.0.0.2:{other}/ws'); ws.onerror = () => done('refused'); ws.onopen = () => done('reached'); }}
    catch (e) {{ done('refused'); }}
  }}),
]).then(all => {{
  note('results', all.map(r => r.value).join(','));
  const frame = document.createElement('iframe'); frame.src = 'http://127.0.0.2:{other}/frame'; root.appendChild(frame);
  const img = document.createElement('img'); img.src = '/logo.png'; root.appendChild(img);
  const video = document.createElement('video'); video.preload = 'auto'; video.src = '/clip.mp4'; root.appendChild(video);
  const a = document.createElement('a'); a.href = '/done'; a.textContent = 'done'; root.appendChild(a);
}});
"#
        )),
    );
    site.set(
        "/same-origin.json",
        Reply::typed("application/json", "\"ok\""),
    );
    // A same-origin request redirected to the other address: the hop is checked too.
    site.set(
        "/hop",
        Reply::Redirect(302, format!("http://127.0.0.2:{other}/via-redirect")),
    );
    site.set("/logo.png", Reply::typed("image/png", b"\x89PNG".to_vec()));
    site.set(
        "/clip.mp4",
        Reply::typed("video/mp4", b"\0\0\0\x18ftyp".to_vec()),
    );
    site.set("/done", plain("done"));
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--render",
        "always",
        "--per-host-rate",
        "0",
        "--extras",
        "text",
    ])
    .await;
    out.assert_code(0);
    let records = records_by_url(dir.path());
    let home = record(&records, &site, "/");
    // The page saw its private fetches refused, its own origin answered.
    assert!(
        home["text"]
            .as_str()
            .unwrap_or_default()
            .contains("refused,refused,\"ok\",refused,refused"),
        "{home}"
    );
    assert_eq!(record(&records, &site, "/done")["status"], 200);
    // Nothing reached the loopback address that is not the seed's.
    assert_eq!(connections.load(Ordering::SeqCst), 0);
    // Images and media are never fetched; the same-origin request was, by trawl.
    assert_eq!(site.count("/logo.png"), 0);
    assert_eq!(site.count("/clip.mp4"), 0);
    assert_eq!(site.count("/same-origin.json"), 1);
    let render = &stats(dir.path())["render"];
    // The metadata address, the other loopback address, the redirect's target and
    // the frame's document.
    assert!(render["blocked_address"].as_u64().unwrap() >= 4, "{render}");
    assert_eq!(site.count("/hop"), 1);
    assert!(render["blocked_type"].as_u64().unwrap() >= 1, "{render}");
    assert!(
        render["blocked_other"].as_u64().unwrap() >= 1,
        "the WebSocket: {render}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_tab_and_a_page_that_never_idles_end_in_time_and_the_crawl_goes_on() {
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set("/", html_page("home", &["/spin", "/chatty", "/ok"]));
    // A script that never yields: the tab cannot answer.
    site.set(
        "/spin",
        Reply::Html(
            "<html><body><a href=\"/after-spin\">next</a><script>while (true) {}</script></body></html>"
                .into(),
        ),
    );
    // Polls forever: never a quiet network.
    site.set(
        "/chatty",
        Reply::Html(
            "<html><body><p id=\"x\">chatty</p><script>setInterval(() => fetch('/poll'), 100);\
             document.body.insertAdjacentHTML('beforeend', '<a href=\"/after-chatty\">n</a>');</script></body></html>"
                .into(),
        ),
    );
    site.set("/poll", Reply::typed("text/plain", "again"));
    for p in ["/ok", "/after-spin", "/after-chatty"] {
        site.set(p, html_page(p, &[]));
    }
    let started = Instant::now();
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--render",
        "always",
        "--render-timeout",
        "3",
        "--per-host-rate",
        "0",
    ])
    .await;
    out.assert_code(0);
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
    let records = records_by_url(dir.path());
    let spin = record(&records, &site, "/spin");
    assert!(
        spin["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("render: "),
        "{spin}"
    );
    assert_eq!(spin["status"], 200);
    // Begun, not done: rendered is false, the reason stays.
    assert_eq!(spin["rendered"], false);
    assert_eq!(spin["render_reason"], "always");
    // Its plain links still count.
    assert_eq!(record(&records, &site, "/after-spin")["status"], 200);
    // The chatty page is read as it stands at its deadline, links added by script included.
    let chatty = record(&records, &site, "/chatty");
    assert_eq!(chatty["error"], Value::Null, "{chatty}");
    assert_eq!(record(&records, &site, "/after-chatty")["status"], 200);
    assert_eq!(record(&records, &site, "/ok")["error"], Value::Null);
    let render = &stats(dir.path())["render"];
    assert_eq!(render["failed"], 1, "{render}");
    assert!(render["waited_out"].as_u64().unwrap() >= 1, "{render}");
    assert!(site.count("/poll") >= 3, "the chatty page polled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_rule_decides_when_the_dom_is_read() {
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    // A link added a second after load, with no request: only a selector waits for it.
    site.set(
        "/",
        Reply::Html(
            "<html><body><div id=\"root\"></div><script>setTimeout(() => {\
             document.getElementById('root').innerHTML = '<a class=\"late\" href=\"/late\">late</a>';\
             }, 1000);</script></body></html>"
                .into(),
        ),
    );
    site.set("/late", html_page("late", &[]));
    let late_found = |wait: &'static str| {
        let site_url = site.url("/");
        async move {
            let (out, dir) = crawl(&[
                &site_url,
                "--render",
                "always",
                "--render-wait",
                wait,
                "--per-host-rate",
                "0",
            ])
            .await;
            out.assert_code(0);
            records_by_url(dir.path()).len() == 2
        }
    };
    assert!(!late_found("load").await, "load reads before the timer");
    assert!(
        late_found("selector:a.late").await,
        "the selector waits for it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pages_requests_keep_its_hosts_politeness() {
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    // Three scripts, then a link (found in the rendered DOM) to a page with one more:
    // pages and their requests share the host's 4 a second.
    site.set(
        "/",
        Reply::Html(
            "<html><body><a href=\"/second\">2</a><div id=\"root\"></div><script src=\"/a.js\"></script>\
             <script src=\"/b.js\"></script><script src=\"/c.js\"></script></body></html>"
                .into(),
        ),
    );
    site.set(
        "/second",
        Reply::Html("<html><body><p>two</p><script src=\"/d.js\"></script></body></html>".into()),
    );
    for s in ["/a.js", "/b.js", "/c.js", "/d.js"] {
        site.set(s, js("void 0;"));
    }
    // `load`: the render ends with its last script, so the next page comes at once
    // unless the frontier knows of the scripts.
    let (out, _dir) = crawl(&[
        &site.url("/"),
        "--render",
        "always",
        "--render-wait",
        "load",
        "--per-host-rate",
        "4",
    ])
    .await;
    out.assert_code(0);
    let starts = site.page_starts();
    assert_eq!(starts.len(), 6, "{:?}", site.paths());
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(200),
            "4/s allows 250 ms: {gap:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_is_recycled_after_its_pages_and_restarted_when_it_dies() {
    let pages: Vec<String> = (0..12).map(|i| format!("/p/{i}")).collect();
    let refs: Vec<&str> = pages.iter().map(String::as_str).collect();
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set("/", html_page("home", &refs));
    for p in &pages {
        site.set(
            p,
            Reply::delayed(Duration::from_millis(250), html_page(p, &[])),
        );
    }
    let out_dir = tempfile::tempdir().unwrap();
    let child = spawn_crawl(
        &site.url("/"),
        out_dir.path(),
        &[
            "--render",
            "always",
            "--render-recycle",
            "4",
            "--per-host-rate",
            "0",
            "--per-host-concurrency",
            "1",
        ],
    );
    // Once a few pages are done, kill the browser under the crawl.
    wait_until("five pages fetched", Duration::from_secs(60), || {
        site.hits()
            .iter()
            .filter(|h| h.path.starts_with("/p/"))
            .count()
            >= 5
    })
    .await;
    let profile = format!("trawl-browser-{}-", child.id());
    let killed = std::process::Command::new("pkill")
        .args(["-KILL", "-f", &profile])
        .status()
        .unwrap();
    assert!(killed.success(), "a browser with {profile} was running");
    let out = finish(child).await;
    out.assert_code(0);
    let records = read_records(out_dir.path());
    assert_eq!(records.len(), 13, "every page recorded once");
    assert_eq!(url_counts(&records).values().max(), Some(&1));
    let render = &stats(out_dir.path())["render"];
    assert!(
        render["browser_recycles"].as_u64().unwrap() >= 1,
        "{render}"
    );
    assert!(
        render["browser_restarts"].as_u64().unwrap() >= 1,
        "{render}"
    );
    // Pages after the kill were rendered again without error.
    let ok = records
        .iter()
        .filter(|r| r["rendered"] == true && r["error"].is_null())
        .count();
    assert!(ok >= 10, "{ok} rendered without error");
}

#[test]
fn a_missing_browser_is_one_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = run_trawl(
        &[
            "crawl",
            "http://127.0.0.1:9/",
            "--render",
            "auto",
            "--browser",
            "/nonexistent/chromium",
            "--out",
            &out_dir.display().to_string(),
        ],
        Duration::from_secs(30),
    );
    assert_ne!(out.code, Some(0));
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("/nonexistent/chromium"),
        "{}",
        out.stderr
    );
    assert!(!out_dir.exists(), "the out dir is not touched");
    // None on the PATH, none given.
    let mut cmd = std::process::Command::new(trawl_bin());
    cmd.args([
        "crawl",
        "http://127.0.0.1:9/",
        "--render",
        "always",
        "--out",
    ])
    .arg(&out_dir)
    .env("PATH", dir.path());
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no browser to render with"), "{stderr}");
    assert!(!out_dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_table_renders_its_hosts_only() {
    let site = Site::start().await;
    let other = format!("http://localhost:{}", site.port());
    site.set("/robots.txt", Reply::Status(404));
    site.set(
        "/",
        Reply::Html(format!(
            "<html><body><a href=\"{other}/app\">app</a><div id=\"root\"></div>\
             <script src=\"/app.js\"></script></body></html>"
        )),
    );
    site.set("/app", shell("app", "/app.js"));
    site.set(
        "/app.js",
        js("document.getElementById('root').innerHTML = '<a href=\"/built\">b</a>';"),
    );
    site.set("/built", html_page("built", &[]));
    let conf = tempfile::tempdir().unwrap();
    let file = conf.path().join("trawl.toml");
    std::fs::write(
        &file,
        "scope = \"any\"\nallow_private = true\nper_host_rate = 0\n[[hosts]]\nmatch = \"localhost\"\nrender = \"always\"\n",
    )
    .unwrap();
    let (out, dir) = crawl(&[&site.url("/"), "--config", &file.display().to_string()]).await;
    out.assert_code(0);
    let records = records_by_url(dir.path());
    assert_eq!(record(&records, &site, "/")["rendered"], false);
    assert_eq!(records[&format!("{other}/app")]["rendered"], true);
    assert!(
        records.contains_key(&format!("{other}/built")),
        "{records:?}"
    );
    assert!(
        !records.contains_key(&site.url("/built")),
        "127.0.0.1 is not rendered"
    );
}

/// The pids of `root`'s descendants whose command line holds `needle`.
fn descendants_with(root: u32, needle: &str) -> Vec<u32> {
    let mut parent_of = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        if let Some(ppid) = after.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok()) {
            parent_of.insert(pid, ppid);
        }
    }
    let under = |mut pid: u32| {
        for _ in 0..64 {
            match parent_of.get(&pid) {
                Some(&p) if p == root => return true,
                Some(&p) if p > 1 => pid = p,
                _ => return false,
            }
        }
        false
    };
    parent_of
        .keys()
        .copied()
        .filter(|&pid| under(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_tab_is_recorded_as_an_error_and_the_crawl_goes_on() {
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set("/", html_page("home", &["/slow", "/after"]));
    // Waits on a request that never ends: the tab is mid-render when it dies.
    site.set(
        "/slow",
        Reply::Html(
            "<html><body><a href=\"/from-slow\">n</a><script>fetch('/never');</script></body></html>"
                .into(),
        ),
    );
    site.set("/never", Reply::Hang);
    for p in ["/after", "/from-slow"] {
        site.set(p, html_page(p, &[]));
    }
    let out_dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let child = spawn_crawl(
        &site.url("/"),
        out_dir.path(),
        &[
            "--render",
            "always",
            "--render-timeout",
            "60",
            "--render-concurrency",
            "1",
            "--per-host-rate",
            "0",
        ],
    );
    wait_until("the slow page's request", Duration::from_secs(60), || {
        site.count("/never") >= 1
    })
    .await;
    let renderers = descendants_with(child.id(), "--type=renderer");
    assert!(!renderers.is_empty(), "a renderer under trawl");
    for pid in renderers {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let out = finish(child).await;
    out.assert_code(0);
    // Long before the render deadline: the crash was noticed, not waited out.
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    let records = records_by_url(out_dir.path());
    let slow = record(&records, &site, "/slow");
    assert_eq!(slow["error"], "render: the tab crashed", "{slow}");
    assert_eq!(slow["rendered"], false);
    // The crawl went on: its plain links, and later pages rendered.
    assert_eq!(record(&records, &site, "/from-slow")["status"], 200);
    let later = record(&records, &site, "/from-slow");
    assert_eq!(later["rendered"], true);
    assert_eq!(later["error"], Value::Null, "{later}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rendered_page_keeps_its_dom_when_it_navigates_its_charset_and_robots_txt() {
    let site = Site::start().await;
    site.set(
        "/robots.txt",
        Reply::robots("User-agent: *\nDisallow: /api/\n"),
    );
    // Builds a link, then navigates away: the page must stay what it was.
    site.set(
        "/",
        Reply::Html(
            "<html><head><title>Stays</title></head><body><a href=\"/static\">s</a><div id=\"root\"></div>\
             <script>document.getElementById('root').innerHTML = '<a href=\"/built\">b</a>';\
             setTimeout(() => { location.href = '/elsewhere'; }, 100);</script></body></html>"
                .into(),
        ),
    );
    // UTF-8 without a declared charset: the browser must read what the plain parse reads.
    site.set(
        "/static",
        Reply::typed(
            "text/html",
            "<html><head><title>caf\u{e9} \u{2014} na\u{ef}ve</title></head><body><a href=\"/api-user\">a</a>\
             <script>fetch('/api/items').then(r => r.text()).then(t => document.title += ' ' + t, () => document.title += ' refused');</script></body></html>"
                .as_bytes()
                .to_vec(),
        ),
    );
    site.set("/api/items", Reply::typed("text/plain", "leaked"));
    // A meta refresh is still a redirect when the page is rendered.
    site.set(
        "/built",
        Reply::Html(
            "<html><head><meta http-equiv=\"refresh\" content=\"0;url=/refreshed\"></head><body>r</body></html>"
                .into(),
        ),
    );
    for p in ["/refreshed", "/elsewhere", "/api-user"] {
        site.set(p, html_page(p, &[]));
    }
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--render",
        "always",
        "--per-host-rate",
        "0",
        "--render-wait",
        "selector:#never",
        "--render-timeout",
        "2",
    ])
    .await;
    out.assert_code(0);
    let records = records_by_url(dir.path());
    let home = record(&records, &site, "/");
    assert_eq!(home["title"], "Stays", "{home}");
    assert_eq!(home["rendered"], true);
    assert_eq!(
        home["links"], 3,
        "its static and built links, and where it went: {home}"
    );
    for p in ["/static", "/built", "/elsewhere", "/refreshed"] {
        assert_eq!(record(&records, &site, p)["status"], 200, "{p}");
    }
    let built = record(&records, &site, "/built");
    assert_eq!(built["redirect"], "refresh", "{built}");
    assert_eq!(built["final_url"], site.url("/refreshed"));
    let static_page = record(&records, &site, "/static");
    assert_eq!(
        static_page["title"], "caf\u{e9} \u{2014} na\u{ef}ve refused",
        "{static_page}"
    );
    assert_eq!(site.count("/api/items"), 0, "robots.txt disallows it");
    let render = &stats(dir.path())["render"];
    assert_eq!(render["blocked_robots"], 1, "{render}");
    assert!(
        render["blocked_other"].as_u64().unwrap() >= 1,
        "the navigation: {render}"
    );
}
