//! The standard `process_*` series (CPU seconds, resident and virtual memory, open
//! and allowed file descriptors, start time), as Prometheus's own client libraries
//! name them, read from Linux's /proc at each scrape. Elsewhere, or when /proc
//! cannot be read, a series is left out rather than reported as zero.

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// What /proc says of this process.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Reading {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
}

/// Adds this process's series to `r`.
pub fn register(r: &mut Registry) {
    let now = read();
    if let Some(v) = now.cpu_seconds {
        r.register(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            ConstCounter::new(v),
        );
    }
    let gauges = [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            now.resident_bytes.map(|v| v as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            now.virtual_bytes.map(|v| v as f64),
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            now.start_time_seconds,
        ),
        (
            "process_open_fds",
            "Number of open file descriptors",
            now.open_fds.map(|v| v as f64),
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors",
            now.max_fds.map(|v| v as f64),
        ),
    ];
    for (name, help, v) in gauges {
        if let Some(v) = v {
            r.register(name, help, ConstGauge::new(v));
        }
    }
}

/// Reads /proc/self (Linux); fields it cannot read stay None.
pub fn read() -> Reading {
    // SAFETY: sysconf only reads a system constant.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| boot_time(&s));
    let mut r = parse_stat(&stat, tick, page, boot);
    r.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    r.max_fds = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft);
    r
}

/// The fields of a /proc/<pid>/stat line (proc(5)): utime and stime (14, 15) and
/// starttime (22) in clock ticks, vsize (23) in bytes, rss (24) in pages. The
/// command name (2) is in parentheses and may hold spaces and ')', so fields are
/// counted from the last ')'.
pub fn parse_stat(stat: &str, tick: i64, page: i64, boot: Option<u64>) -> Reading {
    let Some(close) = stat.rfind(')') else {
        return Reading::default();
    };
    // Field 3 (state) is the first after the name.
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let per_tick = (tick > 0).then(|| 1.0 / tick as f64);
    let cpu = match (field(14), field(15), per_tick) {
        (Some(u), Some(s), Some(t)) => Some(u.saturating_add(s) as f64 * t),
        _ => None,
    };
    let start = match (field(22), per_tick, boot) {
        (Some(ticks), Some(t), Some(b)) => Some(b as f64 + ticks as f64 * t),
        _ => None,
    };
    Reading {
        cpu_seconds: cpu,
        resident_bytes: field(24).and_then(|p| p.checked_mul(u64::try_from(page).ok()?)),
        virtual_bytes: field(23),
        start_time_seconds: start,
        open_fds: None,
        max_fds: None,
    }
}

/// The boot time (unix seconds) from /proc/stat's `btime` line.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_is_read_from_the_last_parenthesis() {
        // A command name with a space and a ')' in it, as a hostile argv[0] may be.
        let line = "42 (tr) awl x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 \
                    1000 123456789 300 18446744073709551615";
        let r = parse_stat(line, 100, 4096, Some(1_700_000_000));
        assert_eq!(r.cpu_seconds, Some(3.0));
        assert_eq!(r.start_time_seconds, Some(1_700_000_010.0));
        assert_eq!(r.virtual_bytes, Some(123_456_789));
        assert_eq!(r.resident_bytes, Some(300 * 4096));
    }

    #[test]
    fn a_cut_or_empty_line_reads_as_nothing() {
        assert_eq!(parse_stat("", 100, 4096, None), Reading::default());
        let cut = parse_stat("42 (trawl) S 1 42", 100, 4096, Some(1));
        assert_eq!(cut.cpu_seconds, None);
        assert_eq!(cut.resident_bytes, None);
    }

    #[test]
    fn this_process_reads_itself() {
        let r = read();
        assert!(r.cpu_seconds.is_some_and(|c| c >= 0.0), "{r:?}");
        assert!(r.resident_bytes.is_some_and(|b| b > 1 << 20), "{r:?}");
        assert!(r.open_fds.is_some_and(|n| n >= 3), "{r:?}");
        assert!(r.max_fds.is_some_and(|n| n >= 64), "{r:?}");
        assert!(r.start_time_seconds.is_some_and(|t| t > 1.6e9), "{r:?}");
    }
}
