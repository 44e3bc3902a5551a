#!/usr/bin/env bash
# Recrawl benchmark: crawl bench/gen_site.py's site (served by nginx on loopback, which
# answers If-None-Match / If-Modified-Since with 304 for unchanged files), change a
# share of its pages, then recrawl it with --since, and compare what each crawl
# transferred and how long it took.
#
# usage: bench/recrawl.sh [PAGES] [CHANGED_PERCENT]     (default: 20000 5)
# env:   PORT=18098        nginx port on 127.0.0.1
#        TRAWL=PATH        the trawl binary (default: a release build of this checkout)
#        WARC=1            both crawls also write WARC (the recrawl then writes revisits)
#
# Bytes are measured on both sides: nginx's $bytes_sent (status line, headers and body
# as sent on the wire) summed over the access log of each crawl, and trawl's own
# stats.json `bytes` (bodies after decompression). The changed pages are rewritten
# with new content (a new size and mtime, hence a new ETag and Last-Modified).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
pages=${1:-20000}
pct=${2:-5}
port=${PORT:-18098}
say() { printf '%s\n' "$*" >&2; }

command -v nginx >/dev/null 2>&1 || export PATH="$PATH:/usr/sbin"
command -v nginx >/dev/null 2>&1 || { say "!! nginx not found (apt-get install nginx-light)"; exit 1; }
trawl=${TRAWL:-}
if [ -z "$trawl" ]; then
  cargo build --release --quiet
  trawl=${CARGO_TARGET_DIR:-$repo/target}/release/trawl
fi

work=$(mktemp -d /tmp/trawl-recrawl.XXXXXX)
chmod 755 "$work"  # nginx workers may run as another user
trap 'kill "$(cat "$work/nginx.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/tmp"
python3 bench/gen_site.py "$work/site" "$pages" "127.0.0.1:$port"
cat > "$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
  log_format sent '\$status \$bytes_sent \$request_uri';
  access_log $work/access.log sent;
  sendfile on; tcp_nopush on; keepalive_requests 1000000; keepalive_timeout 120s;
  default_type text/html;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  server { listen 127.0.0.1:$port; root $work/site; }
}
CONF
nginx -c "$work/nginx.conf"
sleep 0.5

flags=(--per-host-rate 0 --per-host-concurrency 64 --concurrency 64 -q)
[ -n "${WARC:-}" ] && flags+=(--warc)

# crawl NAME [EXTRA FLAGS...]: one crawl, its access log and its numbers
crawl() {
  local name=$1; shift
  : > "$work/access.log"; kill -USR1 "$(cat "$work/nginx.pid")"; sleep 0.3
  local t0 t1
  t0=$(date +%s.%N)
  "$trawl" crawl "http://127.0.0.1:$port/" --out "$work/$name" "${flags[@]}" "$@"
  t1=$(date +%s.%N)
  kill -USR1 "$(cat "$work/nginx.pid")"; sleep 0.3
  cp "$work/access.log" "$work/$name.log"
  python3 - "$work/$name" "$work/$name.log" "$t0" "$t1" "$name" <<'PY'
import json, sys
out, log, t0, t1, name = sys.argv[1:]
reqs = sent = n304 = 0
for line in open(log):
    parts = line.split(" ", 2)
    if len(parts) < 2:
        continue
    reqs += 1
    sent += int(parts[1])
    n304 += parts[0] == "304"
s = json.load(open(f"{out}/stats.json"))
import os
warc = sum(e.stat().st_size for e in os.scandir(f"{out}/warc")) if os.path.isdir(f"{out}/warc") else 0
r = s.get("recrawl") or {}
print(json.dumps({"crawl": name, "secs": round(float(t1) - float(t0), 2), "requests": reqs,
                  "responses_304": n304, "wire_bytes": sent, "body_bytes": s["bytes"],
                  "pages": s["pages"], "warc_bytes": warc, "recrawl": r}))
PY
}

crawl first > "$work/first.json"
# Change PCT% of the pages (never the home page), chosen at random with a fixed seed.
python3 - "$work/site" "$pages" "$pct" <<'PY'
import os, random, sys, time
site, n, pct = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rnd = random.Random(7)
changed = rnd.sample(range(1, n), int(n * pct / 100))
later = time.time() + 5
for i in changed:
    path = os.path.join(site, "p", f"{i}.html")
    with open(path, "a") as f:
        f.write(f"<!-- changed {i} --><p>an update to page {i}</p>\n")
    os.utime(path, (later, later))
print(len(changed), file=sys.stderr)
PY
crawl second --since "$work/first" > "$work/second.json"

python3 - "$work/first.json" "$work/second.json" "$pages" "$pct" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
pages, pct = sys.argv[3], sys.argv[4]
print(f"## Recrawl: {pages} pages, {pct}% changed\n")
print("| crawl | time (s) | requests | 304s | wire bytes (nginx) | body bytes (trawl) | records | WARC bytes |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for r in (a, b):
    print(f"| {r['crawl']} | {r['secs']} | {r['requests']} | {r['responses_304']} | {r['wire_bytes']:,} | {r['body_bytes']:,} | {r['pages']} | {r['warc_bytes']:,} |")
print(f"\nrecrawl/first: wire bytes {b['wire_bytes'] / a['wire_bytes']:.1%}, body bytes {b['body_bytes'] / a['body_bytes']:.1%}, time {b['secs'] / a['secs']:.1%}")
print(f"\nrecrawl's stats.json: {json.dumps(b['recrawl'])}")
PY
