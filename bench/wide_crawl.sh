#!/usr/bin/env bash
# The frontier under a crawl that discovers far more than it fetches: PAGES pages
# (default 10,000) of one host, each with LINKS new links (default 1,000), so the
# crawl admits PAGES x LINKS URLs (10 million) and fetches PAGES of them, every
# admission durable. nginx serves one page for every path; its links are relative
# (aK/), so every page's links are new URLs.
# Usage: bench/wide_crawl.sh [PAGES] [LINKS]
# Env: TRAWL=path/to/trawl (a built binary; default: build this checkout's), RUNS (default 1).
# Needs: nginx (apt-get install nginx-light), python3, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
pages=${1:-10000}; links=${2:-1000}; runs=${RUNS:-1}
port=${PORT:-18097}
work=$(mktemp -d /tmp/trawl-wide.XXXXXX)
trap 'kill $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -p "$work/site"
python3 - "$work/site/page.html" "$links" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("<!doctype html><html><head><title>wide</title></head><body>\n")
    f.write("".join(f'<a href="a{k}/">{k}</a>\n' for k in range(n)))
    f.write("</body></html>\n")
PY
printf 'User-agent: *\nDisallow: /files/\n' > "$work/site/robots.txt"
# shellcheck source=bench/nginx.sh
. bench/nginx.sh
nginx_start "$work" "$work/site" "127.0.0.1:$port" 1 'location / { try_files $uri /page.html; }'
bin=${TRAWL:-}
if [ -z "$bin" ]; then cargo build --release --quiet; bin=target/release/trawl; fi

echo "wide crawl: $pages pages of one host, $links new links a page ($bin)"
echo "| run | pages | URLs admitted | wall s | admissions/s | CPU s (user+sys) | peak RSS MiB | state on disk MiB |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for run in $(seq "$runs"); do
  out="$work/out-$run"
  /usr/bin/time -v "$bin" crawl "http://127.0.0.1:$port/" --out "$out" --max-pages "$pages" \
    --max-pages-per-host 0 --max-depth 100 --per-host-rate 0 --per-host-concurrency 64 \
    --concurrency 64 -q 2> "$work/time.txt" || true
  state=$(du -sm "$out/state" | cut -f1)
  python3 - "$out" "$work/time.txt" "$run" "$state" <<'PY'
import json, re, sys
out, t, run, state = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3], sys.argv[4]
s = json.load(open(f"{out}/stats.json"))
cpu = sum(float(re.search(p + r" \(seconds\): ([\d.]+)", t).group(1)) for p in ("User time", "System time"))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
wall = s["duration_secs"]
# Admitted = fetched + still queued when the page budget stopped the crawl.
admitted = s["pages"] + s["queued"] + s.get("in_flight", 0)
print(f"| {run} | {s['pages']} | {admitted} | {wall:.1f} | {admitted / max(wall, 1e-9):,.0f} | {cpu:.1f} | {rss:.0f} | {state} |")
PY
  rm -rf "$out"
done
