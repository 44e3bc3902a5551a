//! Self-test of the shared fixture in `tests/common`: the fixture server is exercised with
//! reqwest and raw sockets, the process helpers with `sh`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const UA: &str = "fixture-selftest/1.0";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(UA)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build client")
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = client.get(url).send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.expect("body");
    (status, headers, body)
}

/// Sends raw bytes on a fresh connection and reads until the server closes it (bounded).
async fn raw_exchange(site: &Site, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", site.port()))
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .expect("server did not close the connection in time")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_status_redirect_raw_and_404() {
    let site = Site::start().await;
    site.set("/", Reply::Html("<title>home</title>".into()));
    site.set("/gone", Reply::Status(410));
    site.set("/moved", Reply::Redirect(301, "/there?x=1".into()));
    site.set("/q?a=1&b=2", Reply::Html("query".into()));
    site.set(
        "/raw",
        Reply::Raw {
            status: 200,
            headers: vec![("Content-Type".into(), "application/x-thing".into())],
            body: b"\x00\x01raw".to_vec(),
        },
    );
    let c = client();

    let (status, headers, body) = get(&c, &site.url("/")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["content-length"], "19");
    assert_eq!(body, "<title>home</title>");

    let (status, headers, body) = get(&c, &site.url("/gone")).await;
    assert_eq!(status, 410);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(body, "");

    let (status, headers, _) = get(&c, &site.url("/moved")).await;
    assert_eq!(status, 301);
    assert_eq!(headers["location"], "/there?x=1");

    let (status, _, body) = get(&c, &site.url("/q?a=1&b=2")).await;
    assert_eq!((status, body.as_str()), (200, "query"));
    let (status, _, _) = get(&c, &site.url("/q?b=2&a=1")).await;
    assert_eq!(status, 404, "query must match exactly");

    let resp = c.get(site.url("/raw")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-thing");
    assert_eq!(resp.headers()["content-length"], "5");
    assert_eq!(&resp.bytes().await.unwrap()[..], b"\x00\x01raw");

    let (status, _, _) = get(&c, &site.url("/nope")).await;
    assert_eq!(status, 404);

    assert_eq!(
        site.paths(),
        [
            "/",
            "/gone",
            "/moved",
            "/q?a=1&b=2",
            "/q?b=2&a=1",
            "/raw",
            "/nope"
        ]
    );
    assert_eq!(site.count("/nope"), 1);
    assert_eq!(site.count("/there?x=1"), 0, "redirect must not be followed");
    for hit in site.hits() {
        assert_eq!(hit.host, site.host());
        assert_eq!(hit.user_agent, UA);
        assert!(hit.end >= hit.start);
    }
    assert_eq!(site.origin(), format!("http://127.0.0.1:{}", site.port()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_repeats_last_and_set_resets() {
    let site = Site::start().await;
    let seq = || {
        Reply::Sequence(vec![
            Reply::Status(503),
            Reply::Status(500),
            Reply::Html("ok".into()),
        ])
    };
    site.set("/flaky", seq());
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get(&c, &site.url("/flaky")).await.0);
    }
    assert_eq!(statuses, [503, 500, 200, 200, 200]);
    assert_eq!(site.count("/flaky"), 5);

    site.set("/flaky", seq());
    assert_eq!(get(&c, &site.url("/flaky")).await.0, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_is_concurrent_and_max_in_flight_counts() {
    let site = Site::start().await;
    let delay = Duration::from_millis(400);
    site.set(
        "/slow",
        Reply::Delay(delay, Box::new(Reply::Html("slow".into()))),
    );
    site.set("/fast", Reply::Html("fast".into()));
    let c = client();

    let n = 8;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (c, url) = (c.clone(), site.url("/slow"));
        tasks.push(tokio::spawn(async move { get(&c, &url).await }));
    }
    // While the slow ones sleep, a fast request is answered at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    assert_eq!(get(&c, &site.url("/fast")).await.2, "fast");
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "Delay blocked another request"
    );
    for task in tasks {
        assert_eq!(task.await.unwrap().2, "slow");
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= delay);
    assert!(elapsed < delay * 3, "delays ran serially: {elapsed:?}");
    let max = site.max_in_flight();
    assert!((n..=n + 1).contains(&max), "max_in_flight {max}");
    for hit in site.hits().iter().filter(|h| h.path == "/slow") {
        assert!(hit.end - hit.start >= delay);
    }
    let peers: std::collections::HashSet<_> = site.hits().iter().map(|h| h.peer).collect();
    assert!(
        peers.len() >= n,
        "concurrent requests used separate connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_and_connection_close() {
    let site = Site::start().await;
    site.set("/a", Reply::Html("a".into()));
    let c = client();
    get(&c, &site.url("/a")).await;
    get(&c, &site.url("/a")).await;
    let hits = site.hits();
    assert_eq!(hits[0].peer, hits[1].peer, "keep-alive: same connection");

    // A request with Connection: close ends that connection; the next one opens another.
    let resp = c
        .get(site.url("/a"))
        .header("connection", "close")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["connection"], "close");
    resp.text().await.unwrap();
    get(&c, &site.url("/a")).await;
    let hits = site.hits();
    assert_eq!(hits[2].peer, hits[1].peer);
    assert_ne!(
        hits[3].peer, hits[2].peer,
        "server must close after Connection: close"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_socket_pipelining_http10_and_framing() {
    let site = Site::start().await;
    site.set("/x", Reply::Html("xx".into()));
    site.set(
        "/own-length",
        Reply::Raw {
            status: 200,
            headers: vec![("Content-Length".into(), "3".into())],
            body: b"abc".to_vec(),
        },
    );
    site.set("/empty", Reply::Status(204));

    // Two pipelined requests (the first with a body to skip), then one with close.
    let out = raw_exchange(
        &site,
        b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbodyGET /own-length HTTP/1.1\r\nHost: h\r\n\r\n\
          GET /empty HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 2\r\n\r\nxx\
         HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
         HTTP/1.1 204 No Content\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(site.paths(), ["/x", "/own-length", "/empty"]);
    let peers: Vec<_> = site.hits().iter().map(|h| h.peer).collect();
    assert!(peers.iter().all(|p| *p == peers[0]));

    // HTTP/1.0 without keep-alive: one reply, then close.
    let out = raw_exchange(&site, b"GET /x HTTP/1.0\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("Connection: close\r\n"), "{out}");

    // Garbage gets 400 and a close, and is not logged.
    let out = raw_exchange(&site, b"NONSENSE\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    assert_eq!(site.count("/x"), 2);
    assert_eq!(site.hits().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_connections() {
    let site = Site::start().await;
    site.set(
        "/slow",
        Reply::Delay(
            Duration::from_millis(1000),
            Box::new(Reply::Html("ok".into())),
        ),
    );
    let n = 300;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let url = site.url("/slow");
        // One client per task: one connection per request.
        tasks.push(tokio::spawn(async move { get(&client(), &url).await.0 }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(site.count("/slow"), n);
    assert!(
        site.max_in_flight() >= n / 2,
        "max_in_flight {}",
        site.max_in_flight()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_site_is_complete_and_reachable() {
    let site = Site::start().await;
    let (pages, fanout) = (20, 3);
    tree_site_routes(&site, pages, fanout);
    let c = client();

    let mut seen = std::collections::BTreeSet::new();
    let mut queue = std::collections::VecDeque::from(["/".to_string()]);
    for _ in 0..10 * pages {
        let Some(path) = queue.pop_front() else { break };
        if !seen.insert(path.clone()) {
            continue;
        }
        let (status, _, body) = get(&c, &site.url(&path)).await;
        assert_eq!(status, 200, "{path}");
        let i: usize = path.strip_prefix("/p/").map_or(0, |n| n.parse().unwrap());
        assert!(body.contains(&format!("<title>Page {i}</title>")), "{body}");
        if i != 0 {
            assert!(body.contains("href=\"/\""), "{path} lacks a link home");
        }
        for link in body.split("href=\"").skip(1) {
            queue.push_back(link.split('"').next().unwrap().to_string());
        }
    }
    let expected: std::collections::BTreeSet<String> = (0..pages).map(tree_page_path).collect();
    assert_eq!(seen, expected);
    assert_eq!(get(&c, &site.url("/robots.txt")).await.0, 404);

    // A robots.txt set before tree_site_routes is kept.
    let other = Site::start().await;
    other.set("/robots.txt", Reply::Html("User-agent: *\n".into()));
    tree_site_routes(&other, 1, 1);
    assert_eq!(get(&c, &other.url("/robots.txt")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_site_refuses_connections() {
    let site = Site::start().await;
    let port = site.port();
    drop(site);
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "listener still open after drop");
}

#[test]
fn wait_with_timeout_collects_output_and_kills() {
    let child = std::process::Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_with_timeout(child, Duration::from_secs(10));
    assert_eq!(out.code, Some(3));
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");

    let child = std::process::Command::new("sleep")
        .arg("30")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let result = std::panic::catch_unwind(|| wait_with_timeout(child, Duration::from_millis(200)));
    let message = *result.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("did not exit within"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_trawl_async_terminates() {
    // Whatever the binary currently does with --help, it must be run and reaped.
    let out = run_trawl_async(vec!["--help".into()], Duration::from_secs(60)).await;
    assert!(out.code.is_some(), "{out:?}");
}

#[test]
fn records_are_read_and_keyed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pages.jsonl"),
        "{\"url\":\"http://a/\",\"status\":200}\n{\"url\":\"http://a/b\",\"status\":404}\n",
    )
    .unwrap();
    assert_eq!(read_records(dir.path()).len(), 2);
    let by_url = records_by_url(dir.path());
    assert_eq!(by_url["http://a/b"]["status"], 404);

    std::fs::write(
        dir.path().join("pages.jsonl"),
        "{\"url\":\"http://a/\"}\n{\"url\":\"http://a/\"}\n",
    )
    .unwrap();
    let path = dir.path().to_path_buf();
    let err = std::panic::catch_unwind(move || records_by_url(&path)).unwrap_err();
    assert!(err.downcast::<String>().unwrap().contains("appears twice"));

    std::fs::write(dir.path().join("pages.jsonl"), "{}\nnot json\n").unwrap();
    let path = dir.path().to_path_buf();
    let err = std::panic::catch_unwind(move || read_records(&path)).unwrap_err();
    assert!(err.downcast::<String>().unwrap().contains("pages.jsonl:2:"));
}
