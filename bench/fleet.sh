#!/usr/bin/env bash
# One crawl shared by 1, 2 and 4 trawl processes through Redis, on the same local
# site (bench/gen_site.py's pages served by nginx), with Redis on the same machine.
# Reports, per process count, the median of RUNS runs by pages/s: distinct pages
# fetched (from nginx's access log), wall time from the first start to the last
# exit, pages/s, and user+sys CPU-ms per page summed over the processes; plus one
# embedded (no Redis) crawl of the same site for reference. Also, per page: the
# script calls Redis served (EVALSHA/EVAL from INFO commandstats: every frontier
# operation is one script call, so this counts the hot path's round trips for any
# trawl version) and the memory Redis used at the end (`used_memory`, by URL the
# crawl admitted).
#
# usage: bench/fleet.sh [PAGES] [PROCS...]     default: 5000 pages, 1 2 4 processes
# env:   RUNS=3  PORT=18099  REDIS_PORT=18379  NGINX_WORKERS=1
#        TRAWL=path/to/trawl (a built binary, e.g. an earlier version; default: build
#        this checkout's release binary)
# Needs nginx (nginx-light), redis-server, python3, GNU time; installs them with
# apt-get when missing. On a 2-core machine this shows the overhead of sharing
# the frontier, not scaling: every process, nginx and Redis share the 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
pages=${1:-5000}; shift || true
procs=("$@"); [ ${#procs[@]} -gt 0 ] || procs=(1 2 4)
runs=${RUNS:-3}
port=${PORT:-18099}
rport=${REDIS_PORT:-18379}
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
need() { command -v "$1" >/dev/null 2>&1 || { $SUDO apt-get update -qq; $SUDO apt-get install -y -qq "$2" >/dev/null; }; }
command -v nginx >/dev/null 2>&1 || export PATH="$PATH:/usr/sbin"
need nginx nginx-light; need redis-server redis-server; need /usr/bin/time time

work=$(mktemp -d /tmp/trawl-fleet.XXXXXX)
cleanup() {
  kill "$(cat "$work/nginx.pid" 2>/dev/null)" 2>/dev/null || true
  redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"
python3 bench/gen_site.py "$work/site" "$pages" "127.0.0.1:$port"
printf 'User-agent: *\nDisallow: /files/\n' > "$work/site/robots.txt"
# shellcheck source=bench/nginx.sh
. bench/nginx.sh
nginx_start "$work" "$work/site" "127.0.0.1:$port" "${NGINX_WORKERS:-1}"
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --dir "$work" --logfile "$work/redis.log"
sleep 0.3
bin=${TRAWL:-}
if [ -z "$bin" ]; then cargo build --release --quiet; bin=target/release/trawl; fi
flags=(--per-host-rate 0 --per-host-concurrency 256 --concurrency 64 -q)

# Redis's own CPU seconds (user + sys) so far.
redis_cpu() {
  redis-cli -p "$rport" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ {s += $2} END {print s}'
}

# Script calls Redis has served so far (EVALSHA + EVAL).
redis_calls() {
  redis-cli -p "$rport" info commandstats | tr -d '\r' |
    awk -F'[:=,]' '/^cmdstat_(evalsha|eval):/ {s += $3} END {print s + 0}'
}

# One run: N processes (0 = embedded, one process); prints "pages wall cpu_ms
# redis_cpu_ms calls_per_page used_memory_bytes".
run() {
  local n=$1 id=$2 out="$work/out-$1-$2"
  nginx_reopen_log "$work"
  redis-cli -p "$rport" flushall >/dev/null
  redis-cli -p "$rport" config resetstat >/dev/null
  local start end rcpu0 rcpu1 calls mem
  rcpu0=$(redis_cpu)
  start=$(date +%s.%N)
  if [ "$n" -eq 0 ]; then
    /usr/bin/time -f '%U %S' -o "$work/time-0" "$bin" crawl "http://127.0.0.1:$port/" \
      --out "$out" "${flags[@]}"
  else
    for i in $(seq "$n"); do
      /usr/bin/time -f '%U %S' -o "$work/time-$i" "$bin" crawl "http://127.0.0.1:$port/" \
        --frontier "redis://127.0.0.1:$rport/0" --crawl-id "run$id" --worker-id "w$i" \
        --out "$out" "${flags[@]}" &
    done
    wait
  fi
  end=$(date +%s.%N)
  rcpu1=$(redis_cpu)
  calls=$(redis_calls)
  mem=$(redis-cli -p "$rport" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}')
  python3 - "$work" "$n" "$start" "$end" "$rcpu0" "$rcpu1" "$calls" "$mem" <<'PY'
import re, sys, glob
w, n, start, end = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rcpu = float(sys.argv[6]) - float(sys.argv[5])
calls, mem = int(sys.argv[7]), int(sys.argv[8])
paths = set()
for line in open(f"{w}/access.log"):
    m = re.search(r'"GET (\S+)', line)
    if m: paths.add(m.group(1))
cpu = 0.0
for f in glob.glob(f"{w}/time-*"):
    u, s = open(f).read().split()[-2:]
    cpu += float(u) + float(s)
p = max(len(paths), 1)
print(len(paths), round(end - start, 3), round(1000 * cpu / p, 3),
      round(1000 * rcpu / p, 3), round(calls / p, 3), mem)
PY
  rm -f "$work"/time-*
}

echo "fleet benchmark: $pages pages, RUNS=$runs, $(nproc) cores, flags: ${flags[*]}"
printf '| processes | pages (server log) | wall s | pages/s | trawl CPU-ms/page (all processes) | Redis CPU-ms/page | Redis calls/page | Redis used_memory MB | runs (pages/s) |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n'
for n in 0 "${procs[@]}"; do
  results=()
  for r in $(seq "$runs"); do
    results+=("$(run "$n" "$n-$r")")
  done
  printf '%s\n' "${results[@]}" | python3 -c '
import sys
n = sys.argv[1]
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
rates = sorted(((p / w if w else 0), p, w, c, rc, k, m) for p, w, c, rc, k, m in rows)
rate, p, w, c, rc, k, m = rates[len(rates) // 2]
label = "embedded (no Redis)" if n == "0" else n
redis = "- | - | -" if n == "0" else f"{rc:.3f} | {k:.2f} | {m / 1e6:.1f}"
print(f"| {label} | {int(p)} | {w:.2f} | {rate:,.0f} | {c:.3f} | {redis} | " + ", ".join(f"{r[0]:,.0f}" for r in rates) + " |")
' "$n"
done
