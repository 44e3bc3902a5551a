#!/usr/bin/env bash
# Crawl a generated N-page local site served by nginx on loopback and report
# pages ok, pages/s and peak RSS. Usage: bench/crawl_local.sh [PAGES] [extra trawl flags...]
# VARIANTS="|--durable=false" bench/crawl_local.sh 20000 runs one crawl per variant
# (extra flags separated by '|') against the same site and server, in one run.
# Needs: nginx (apt-get install nginx-light), python3, /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
pages=${1:-5000}; shift || true
port=${PORT:-18099}
work=$(mktemp -d /tmp/trawl-bench.XXXXXX)
trap 'kill $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

chmod 755 "$work"
python3 bench/gen_site.py "$work/site" "$pages" "127.0.0.1:$port"
# robots.txt present, so the crawl does its robots handling for real.
printf 'User-agent: *\nDisallow: /files/\n' > "$work/site/robots.txt"
# shellcheck source=bench/nginx.sh
. bench/nginx.sh
nginx_start "$work" "$work/site" "127.0.0.1:$port"

cargo build --release --quiet
IFS='|' read -r -a variants <<< "${VARIANTS:-}"
[ ${#variants[@]} -gt 0 ] || variants=("")
n=0
for variant in "${variants[@]}"; do
  n=$((n + 1))
  nginx_reopen_log "$work"
  # shellcheck disable=SC2086
  /usr/bin/time -v target/release/trawl crawl "http://127.0.0.1:$port/" --out "$work/out$n" \
    --per-host-rate 0 --per-host-concurrency 64 --concurrency 64 -q "$@" $variant 2> "$work/time.txt"
  echo "== trawl crawl ... ${*:-} ${variant:-(defaults)}"
  python3 - "$work" "$n" <<'PY'
import json, re, sys
w, n = sys.argv[1], sys.argv[2]
s = json.load(open(f"{w}/out{n}/stats.json"))
t = open(f"{w}/time.txt").read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
cpu = float(re.search(r"User time \(seconds\): ([\d.]+)", t).group(1)) + float(re.search(r"System time \(seconds\): ([\d.]+)", t).group(1))
paths = set()
for line in open(f"{w}/access.log"):
    m = re.search(r'"GET (\S+)', line)
    if m: paths.add(m.group(1))
print(f"records {s['pages']}  pages_ok {s['pages_ok']}  statuses {s['statuses']}  failures {s['failures']}")
print(f"distinct URLs fetched (server log) {len(paths)}  duration {s['duration_secs']}s  pages/s {s['pages_per_sec']}")
print(f"cpu {cpu:.2f}s ({1000*cpu/max(s['pages'],1):.3f} CPU-ms/page)  peak RSS {rss/1024:.1f} MiB")
PY
done
