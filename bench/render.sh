#!/usr/bin/env bash
# Rendering benchmark (issue 16): bench/render_site.py's script-built site (every
# page an empty shell whose script fetches its data and builds its links), served by
# nginx on loopback, crawled with every page rendered in the same installed Chromium
# by trawl (--render always) and by Crawlee's PuppeteerCrawler, alternately, RUNS
# times each. Both open TABS pages at once and read a page once its script-built
# links exist. bench/tree_usage.py measures each run's whole process tree (browser
# included): wall time, CPU seconds, peak summed RSS.
#
# usage: bench/render.sh [PAGES] [TABS]          (default: 1000 4)
# env:   PORT=18099  RUNS=3  TRAWL=PATH (default: a release build of this checkout)
#        BROWSER=PATH (default: chromium-headless-shell on PATH)
#        PEER_DIR=/work/peers/crawlee (where `npm install crawlee@3 puppeteer-core` ran)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
pages=${1:-1000}
tabs=${2:-4}
port=${PORT:-18099}
runs=${RUNS:-3}
browser=${BROWSER:-$(command -v chromium-headless-shell || command -v chromium)}
export PEER_DIR=${PEER_DIR:-/work/peers/crawlee}
. bench/nginx.sh
trawl=${TRAWL:-}
if [ -z "$trawl" ]; then
  cargo build --release --quiet
  trawl=${CARGO_TARGET_DIR:-$repo/target}/release/trawl
fi
work=$(mktemp -d /tmp/trawl-render.XXXXXX)
chmod 755 "$work"
trap 'nginx_stop "$work"; rm -rf "$work"' EXIT
python3 bench/render_site.py "$work/site" "$pages"
nginx_start "$work" "$work/site" "127.0.0.1:$port" 1
start="http://127.0.0.1:$port/p/0.html"

results="$work/results.jsonl"
for r in $(seq "$runs"); do
  rm -rf "$work/out"
  python3 bench/tree_usage.py trawl -- "$trawl" crawl "$start" --out "$work/out" \
    --render always --browser "$browser" --render-concurrency "$tabs" \
    --render-wait 'selector:#root a' --per-host-rate 0 --per-host-concurrency 64 -q \
    | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); s=json.load(open('$work/out/stats.json')); r['pages']=s['render']['rendered']-s['render']['failed']; print(json.dumps(r))" >> "$results"
  rm -rf "$work/crawlee-storage"
  CRAWLEE_STORAGE_DIR="$work/crawlee-storage" python3 bench/tree_usage.py crawlee -- \
    node bench/crawlee_render.mjs "$start" "$browser" "$tabs" > "$work/peer.out"
  python3 - "$work/peer.out" >> "$results" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
usage = next(json.loads(l) for l in lines if '"label"' in l)
usage["pages"] = next(json.loads(l)["pages"] for l in lines if '"pages"' in l and '"label"' not in l)
print(json.dumps(usage))
PY
  tail -2 "$results" >&2
done

python3 - "$results" "$pages" "$tabs" "$browser" <<'PY'
import json, statistics, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pages, tabs, browser = sys.argv[2:5]
version = subprocess.run([browser, "--version"], capture_output=True, text=True).stdout.strip()
print(f"## Rendering: {pages} script-built pages, {tabs} tabs, {version}\n")
print("| crawler | run | pages rendered | time (s) | pages/s | CPU s | CPU ms/page | peak RSS of the tree (MB) | peak PSS of the tree (MB) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for label in ("trawl", "crawlee"):
    mine = [r for r in rows if r["label"] == label]
    for i, r in enumerate(mine, 1):
        rate = r["pages"] / r["secs"]
        print(f"| {label} | {i} | {r['pages']} | {r['secs']} | {rate:.1f} | {r['cpu_secs']} | {1000 * r['cpu_secs'] / max(r['pages'], 1):.1f} | {r['peak_rss_mb']} | {r['peak_pss_mb']} |")
for label in ("trawl", "crawlee"):
    mine = [r for r in rows if r["label"] == label]
    rate = statistics.median(r["pages"] / r["secs"] for r in mine)
    cpu = statistics.median(1000 * r["cpu_secs"] / max(r["pages"], 1) for r in mine)
    rss = statistics.median(r["peak_rss_mb"] for r in mine)
    pss = statistics.median(r["peak_pss_mb"] for r in mine)
    print(f"\n{label}: median {rate:.1f} pages/s, {cpu:.1f} CPU-ms/page, peak {rss} MB RSS, {pss} MB PSS")
PY
