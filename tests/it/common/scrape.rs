//! Reading trawl's metrics endpoint the way Prometheus and a browser do: a bounded
//! HTTP/1.0 client for `/metrics`, a sample reader, and Debian's headless Chromium
//! loading the status page.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

/// A free port on 127.0.0.1 (bound, then released for trawl to take).
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// `GET PATH` (HTTP/1.0, bounded): the whole reply, head included (bytes that are
/// not UTF-8 replaced), or None.
pub fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .ok()?;
    let mut body = Vec::new();
    s.read_to_end(&mut body).ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

/// `GET /metrics`: the whole reply, or None.
pub fn scrape(addr: &str) -> Option<String> {
    get(addr, "/metrics")
}

/// True when a reply is a 200.
pub fn is_ok(reply: &str) -> bool {
    reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200")
}

/// The value of the first sample line (`name{labels} value`) starting with `starts`.
pub fn sample(page: &str, starts: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(starts))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

/// Debian's headless Chromium (`chromium-headless-shell`, or `chromium`): `.ci/test`
/// installs it. A test that needs it fails without it rather than skip.
pub fn chromium() -> &'static str {
    for bin in ["chromium-headless-shell", "chromium"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {bin}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return bin;
        }
    }
    panic!("no headless Chromium: apt-get install chromium-headless-shell (as .ci/test does)");
}

/// The DOM of `url` after its scripts ran for `virtual_ms` of the page's virtual
/// time (Chromium's --dump-dom), within 60 s of real time.
pub fn dump_dom(url: &str, virtual_ms: u32) -> String {
    let out = Command::new("timeout")
        .args([
            "60",
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--dump-dom",
            &format!("--virtual-time-budget={virtual_ms}"),
            url,
        ])
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `data-value` of the element with `id` in a dumped DOM, as a number.
pub fn dom_value(dom: &str, id: &str) -> Option<f64> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let tag_end = at + dom[at..].find('>')?;
    let tag = &dom[at..tag_end];
    let v = tag.split("data-value=\"").nth(1)?.split('"').next()?;
    v.parse().ok()
}
