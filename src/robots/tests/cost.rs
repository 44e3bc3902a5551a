//! Linear time and per-check cost, by timing ratios at two sizes (best of several
//! runs, so a loaded machine cannot make them flaky), and memory figures.

use std::time::{Duration, Instant};

use super::super::matcher::pattern_matches;
use super::*;

/// Best of `n` timings of `f` (so a loaded machine cannot make it flaky).
fn best_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Asserts that 8x the input takes under 24x the time (linear, with a margin for
/// the sort by prefix and a loaded machine). The small input is run 8 times for
/// each run of the big one, so both timings are equally long and equally exposed
/// to preemption; best of 7, interleaved.
fn assert_linear(what: &str, make: impl Fn(usize) -> Vec<u8>, run: impl Fn(&[u8])) {
    let (small, big) = (make(60 * 1024), make(480 * 1024));
    let once = best_of(1, || run(&big)).max(Duration::from_micros(1));
    let k = (Duration::from_millis(10).as_nanos() / once.as_nanos()).clamp(1, 1000) as u32;
    let (mut t_small, mut t_big) = (Duration::MAX, Duration::MAX);
    for _ in 0..7 {
        t_small = t_small.min(best_of(1, || (0..8 * k).for_each(|_| run(&small))));
        t_big = t_big.min(best_of(1, || (0..k).for_each(|_| run(&big))));
    }
    let (per_small, per_big) = (t_small / (8 * k), t_big / k);
    println!("{what}: {per_small:?} for 60 KiB, {per_big:?} for 480 KiB");
    assert!(
        t_big < t_small * 3,
        "{what}: {per_big:?} for 8x the input vs {per_small:?}"
    );
}

fn repeat_to(unit: &str, head: &str, size: usize) -> Vec<u8> {
    let mut s = head.to_string();
    while s.len() < size {
        s.push_str(unit);
    }
    s.into_bytes()
}

#[test]
fn reading_is_linear_in_the_file() {
    let parse = |txt: &[u8]| {
        let r = Robots::parse("trawl", txt);
        assert!(r.rules.len() <= txt.len());
    };
    assert_linear(
        "many rules",
        |n| repeat_to("Disallow: /1234$\n", "User-agent: *\n", n),
        parse,
    );
    assert_linear(
        "one long line",
        |n| repeat_to("a", "User-agent: *\nDisallow: /", n),
        parse,
    );
    assert_linear(
        "many stars",
        |n| repeat_to("*a", "User-agent: *\nDisallow: /", n),
        parse,
    );
    assert_linear(
        "long blank runs",
        |n| repeat_to(" \t", "User-agent: *\nDisallow:", n),
        parse,
    );
}

/// A pattern of many stars against a long path: linear in both together.
#[test]
fn matching_is_linear_in_pattern_and_path() {
    let run = |input: &[u8]| {
        let text = std::str::from_utf8(input).unwrap();
        let (pattern, path) = text.split_once('\n').unwrap();
        assert!(!pattern_matches(pattern, path));
    };
    // The pattern is half the input, the path the other half; its `b` is never
    // found in the path's run of `a`s.
    let make = |n: usize| {
        let mut v = b"/".to_vec();
        v.extend(b"*a".repeat(n / 4 - 1));
        v.extend(b"*b\n/");
        v.extend(vec![b'a'; n / 2 - 1]);
        v
    };
    assert_linear("stars against a long path", make, run);
}

/// 500 KiB of rules: `Disallow: /N$` (each rule a candidate only for its own
/// prefix) and wildcards sharing the prefix `/` (every rule a candidate, the worst
/// case: anchored ones mostly rejected by their end, open ones searched). Prints
/// the time per check; each must stay bounded.
#[test]
fn a_check_against_500_kib_of_rules_stays_cheap() {
    let dollar = repeat_numbered("Disallow:/{n}$\n", ROBOTS_MAX_BYTES);
    let stars = repeat_numbered("Disallow:/*{n}*x$\n", ROBOTS_MAX_BYTES);
    let stars_open = repeat_numbered("Disallow:/*{n}x*\n", ROBOTS_MAX_BYTES);
    for (name, txt, limit) in [
        ("Disallow:/N$", dollar, Duration::from_millis(2)),
        ("Disallow:/*N*x$", stars, Duration::from_millis(200)),
        ("Disallow:/*Nx*", stars_open, Duration::from_millis(200)),
    ] {
        let robots = Robots::parse("trawl", &txt);
        let paths: Vec<Url> = (0..200)
            .map(|i| url(&format!("/{}/page-{i}?q={i}", i * 7919)))
            .collect();
        let per_check = best_of(3, || {
            for u in &paths {
                let _ = allowed(&robots.rules, u);
            }
        }) / paths.len() as u32;
        println!(
            "{name}: {} rules, {} heap bytes, {per_check:?} per check",
            robots.rules.len(),
            robots.rules.heap_bytes()
        );
        assert!(per_check < limit, "{name}: {per_check:?} per check");
    }
}

/// Memory of one and three parsed 500 KiB `Disallow: /N$` files, by our reader
/// and by `texting_robots` (a regex per rule). Run one at a time, alone in its
/// process, to read the peak RSS:
/// `cargo test --release --lib -- --ignored --exact --nocapture robots::tests::memory_ours`
#[test]
#[ignore]
fn memory_ours() {
    let txt = repeat_numbered("Disallow: /{n}$\n", ROBOTS_MAX_BYTES);
    println!("before: VmHWM {}", vm_hwm());
    let kept: Vec<Robots> = (0..3)
        .map(|i| {
            let r = Robots::parse("trawl", &txt);
            println!("after {} host(s): VmHWM {}", i + 1, vm_hwm());
            r
        })
        .collect();
    println!(
        "ours: {} rules, heap {} bytes per host",
        kept[0].rules.len(),
        kept[0].rules.heap_bytes()
    );
}

#[test]
#[ignore]
fn memory_texting_robots() {
    let txt = repeat_numbered("Disallow: /{n}$\n", ROBOTS_MAX_BYTES);
    println!("before: VmHWM {}", vm_hwm());
    let kept: Vec<texting_robots::Robot> = (0..3)
        .map(|i| {
            let r = texting_robots::Robot::new("trawl", &txt).unwrap();
            println!("after {} host(s): VmHWM {}", i + 1, vm_hwm());
            r
        })
        .collect();
    println!("texting_robots: kept {}", kept.len());
}

fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        .unwrap_or_default()
}
