#!/usr/bin/env bash
# How soon does a crawl of a large seed list start fetching? N seeds on distinct
# loopback addresses (127.a.b.c, all served by one nginx listening on a port of all
# of 127/8), crawled with `-v`; the first "fetched" log line's time minus the time
# the process was started is the start-up cost (reading, canonicalising and
# admitting the seeds, opening the durable frontier). Reports the time to the first
# fetch and to the 1,000th, then stops the crawl (SIGINT) and reports how long it
# took to stop.
# Usage: bench/seeds_start.sh [N...]   (default: 10000 100000)
# Env: RUNS (default 3; the median by time to first fetch is reported), PORT,
#      TRAWL=path/to/trawl (a built binary), FLEET=N: N processes sharing the crawl
#      through a Redis started here (REDIS_PORT, default 18378), each with the whole
#      seed list, as a fleet is started; the times are the fleet's first and 1,000th
#      fetch over all processes' logs.
# Needs: nginx (apt-get install nginx-light), python3; redis-server for FLEET.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 10000 100000
runs=${RUNS:-3}
port=${PORT:-18097}
work=$(mktemp -d /tmp/trawl-seeds.XXXXXX)
fleet=${FLEET:-0}
rport=${REDIS_PORT:-18378}
trap 'kill $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; [ "$fleet" -gt 0 ] && redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1; rm -rf "$work"' EXIT
chmod 755 "$work"
python3 bench/gen_site.py "$work/site" 3 "127.0.0.1:$port" >/dev/null
# shellcheck source=bench/nginx.sh
. bench/nginx.sh
nginx_start "$work" "$work/site" "$port"
bin=${TRAWL:-}
if [ -z "$bin" ]; then cargo build --release --quiet; bin=target/release/trawl; fi
if [ "$fleet" -gt 0 ]; then
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$work" --logfile "$work/redis.log"
  sleep 0.3
fi

echo "seed list start-up: N seeds on distinct loopback addresses, median of $runs${FLEET:+, a fleet of $fleet processes through Redis}"
echo "| seeds | first fetch after s | 1,000th fetch after s | stop took s | runs (first fetch s) |"
echo "|---:|---:|---:|---:|---|"
for n in "$@"; do
  python3 bench/gen_seeds.py "$n" "$port" > "$work/seeds.txt"
  rows=()
  for run in $(seq "$runs"); do
    rm -rf "$work/out"
    pids=()
    start=$(date +%s.%N)
    if [ "$fleet" -gt 0 ]; then
      redis-cli -p "$rport" flushall >/dev/null
      for w in $(seq "$fleet"); do
        "$bin" crawl --seeds "$work/seeds.txt" --out "$work/out" --per-host-rate 5 \
          --per-host-concurrency 2 --concurrency 256 -v \
          --frontier "redis://127.0.0.1:$rport/0" --crawl-id "seeds-$n-$run" --worker-id "w$w" \
          2> "$work/log-$w.txt" &
        pids+=($!)
      done
    else
      "$bin" crawl --seeds "$work/seeds.txt" --out "$work/out" --per-host-rate 5 \
        --per-host-concurrency 2 --concurrency 256 -v 2> "$work/log-1.txt" &
      pids+=($!)
    fi
    for _ in $(seq 600); do
      [ "$(cat "$work"/log-*.txt | grep -c ' fetched ' || true)" -ge 1000 ] && break
      kill -0 "${pids[0]}" 2>/dev/null || break
      sleep 0.1
    done
    stop=$(date +%s.%N)
    kill -INT "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" || true
    stopped=$(date +%s.%N)
    cat "$work"/log-*.txt > "$work/log.txt"
    rows+=("$(python3 - "$work/log.txt" "$start" "$stop" "$stopped" <<'PY'
import sys, re, datetime
log, start, stop, stopped = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
times = []
for line in open(log, errors="replace"):
    if " fetched " in line:
        m = re.match(r"\x1b?\[?[\d;]*m?(\d{4}-\d\d-\d\dT[\d:.]+)Z", line)
        if m:
            t = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc)
            times.append(t.timestamp())
# Several processes' logs: the fleet's first and 1,000th fetch.
times.sort()
first = times[0] - start if times else float("nan")
thousandth = times[999] - start if len(times) >= 1000 else float("nan")
print(f"{first:.3f} {thousandth:.3f} {stopped - stop:.3f}")
PY
)")
  done
  printf '%s\n' "${rows[@]}" | sort -n | python3 -c '
import sys
n = sys.argv[1]
rows = [l.split() for l in sys.stdin if l.strip()]
first, thou, stop = rows[len(rows) // 2]
print(f"| {n} | {first} | {thou} | {stop} | " + ", ".join(r[0] for r in rows) + " |")
' "$n"
done
