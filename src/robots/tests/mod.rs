//! Tests of the robots.txt reader, matcher and cache, one file per job:
//! - `google.rs`: RFC 9309's examples and Google's reading (google/robotstxt);
//! - `reference.rs`: agreement with a reference implementation (`texting_robots`,
//!   which trawl used before) and a naive matcher, and property tests for panics;
//! - `cost.rs`: linear time and bounded memory, by timing ratios and figures;
//! - `cache.rs`: the cache's byte budget and single fetch, against a loopback server.

mod cache;
mod cost;
mod google;
mod reference;

use url::Url;

use super::*;

fn url(path: &str) -> Url {
    Url::parse(&format!("http://e.com{path}")).unwrap()
}

fn may(agent: &str, txt: &[u8], path: &str) -> bool {
    allowed(&Robots::parse(agent, txt).rules, &url(path))
}

/// Whether `agent` may fetch `url` (any URL, not canonicalised: these tests pin
/// what the robots module itself does with escapes and fragments).
fn may_url(agent: &str, txt: &[u8], url: &str) -> bool {
    allowed(&Robots::parse(agent, txt).rules, &Url::parse(url).unwrap())
}

/// `template` with `{n}` numbered 0, 1, ... until `size` bytes.
fn repeat_numbered(template: &str, size: usize) -> Vec<u8> {
    let mut s = "User-agent: *\n".to_string();
    for n in 0.. {
        let line = template.replace("{n}", &n.to_string());
        if s.len() + line.len() > size {
            break;
        }
        s.push_str(&line);
    }
    s.into_bytes()
}
