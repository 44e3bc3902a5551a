#!/usr/bin/env bash
# Many hosts, politeness on: does the scheduler's cost per page stay flat as the
# number of hosts grows? Serves one small generated site (PAGES pages) from nginx
# on every 127.0.a.b address (all of 127/8 is loopback on Linux) and crawls it from
# HOSTS seeds at once, each host rate-limited, for each HOSTS given.
# Usage: bench/many_hosts.sh [HOSTS...]   (default: 10 100 1000)
# Env: PAGES (per host, default 40), RATE (requests/s per host, default 5),
#      RUNS (default 3; the median by CPU-ms/page is reported),
#      TRAWL=path/to/trawl (a built binary; default: build this checkout's).
# Seeds are 127.a.b.c, so up to about 16 million hosts.
# Needs: nginx (apt-get install nginx-light), python3, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 10 100 1000
pages=${PAGES:-40}; rate=${RATE:-5}; runs=${RUNS:-3}
port=${PORT:-18098}
work=$(mktemp -d /tmp/trawl-hosts.XXXXXX)
trap 'kill $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
chmod 755 "$work"

# Absolute links name 127.0.0.1: off-scope for every other host, as on a real web.
python3 bench/gen_site.py "$work/site" "$pages" "127.0.0.1:$port" >/dev/null
printf 'User-agent: *\nDisallow: /files/\n' > "$work/site/robots.txt"
# shellcheck source=bench/nginx.sh
. bench/nginx.sh
# Listening on the port alone: every 127.a.b.c address reaches this server.
nginx_start "$work" "$work/site" "$port"
bin=${TRAWL:-}
if [ -z "$bin" ]; then cargo build --release --quiet; bin=target/release/trawl; fi

echo "many hosts: $pages-page site per host, --per-host-rate $rate, --per-host-concurrency 2, median of $runs"
echo "| hosts | records | wall s | pages/s | ideal pages/s | CPU-ms/page | peak RSS MiB |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for hosts in "$@"; do
  python3 bench/gen_seeds.py "$hosts" "$port" > "$work/seeds.txt"
  results=()
  for run in $(seq "$runs"); do
    out="$work/out-$hosts-$run"
    /usr/bin/time -v "$bin" crawl --seeds "$work/seeds.txt" --out "$out" \
      --per-host-rate "$rate" --per-host-concurrency 2 --concurrency 256 -q \
      2> "$work/time.txt" || true
    results+=("$(python3 - "$out" "$work/time.txt" "$hosts" "$rate" <<'PY'
import json, re, sys
out, t, hosts, rate = sys.argv[1], open(sys.argv[2]).read(), int(sys.argv[3]), float(sys.argv[4])
s = json.load(open(f"{out}/stats.json"))
cpu = sum(float(re.search(p + r" \(seconds\): ([\d.]+)", t).group(1)) for p in ("User time", "System time"))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
wall = s["duration_secs"]
print(f"{1000 * cpu / max(s['pages'], 1):.3f} {s['pages']} {wall} {s['pages_per_sec']} {hosts * rate:.0f} {rss:.1f}")
PY
)")
  done
  printf '%s\n' "${results[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p" |
    awk -v h="$hosts" '{printf "| %s | %s | %s | %s | %s | %s | %s |\n", h, $2, $3, $4, $5, $1, $6}'
done
