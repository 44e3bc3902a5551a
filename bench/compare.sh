#!/usr/bin/env bash
# Side-by-side crawl benchmark: trawl vs wget vs spider (Rust crate) vs Scrapy, plus a
# wrk fetch-only ceiling, on bench/gen_site.py's site served by nginx on loopback.
#
# usage: bench/compare.sh [PAGES...]            (default: 5000 20000)
# env:   RUNS=3          runs per crawler and site size (the median run by pages/s is reported)
#        TIMEOUT=600     seconds a single crawler run may take
#        PORT=18099      nginx port on 127.0.0.1
#        NGINX_WORKERS=2 nginx worker processes
#        VENV=bench/.venv  where Scrapy is installed
#        ONLY="trawl wget spider spider-mem scrapy"  the crawlers to run
#        TRAWL_FLAGS="..."  extra trawl flags (e.g. --max-pages-per-host 0 for sites over
#                           the 100,000-URL per-host trap guard)
#        CARGO_TARGET_DIR  where trawl is built (default ./target)
#        BASELINE=PATH   another trawl binary (e.g. an earlier commit's release build), run
#                        as crawler "trawl-base" with the same flags: add it to ONLY to
#                        compare two trawls in one run, on one site and one server
#
# Everything is measured from outside the crawler: distinct request targets (path+query)
# in nginx's access log, wall time, user+sys CPU and peak RSS from GNU time.
# Installs what is missing (Debian packages, Scrapy into a venv); Scrapy is optional.
set -euo pipefail
TRAWL_FLAGS=${TRAWL_FLAGS:-}
cd "$(dirname "$0")/.."
repo=$PWD
cmdline="bench/compare.sh $*"
[ $# -gt 0 ] || set -- 5000 20000
runs=${RUNS:-3}
tmo=${TIMEOUT:-600}
port=${PORT:-18099}
workers=${NGINX_WORKERS:-2}
venv=${VENV:-$repo/bench/.venv}
only=${ONLY:-trawl wget spider spider-mem scrapy}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}

say() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------- 1. install
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_updated=""
need_pkg() {  # need_pkg COMMAND PACKAGE
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
    say "== installing $2 (for $1)"
    if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
  fi
}
need_pkg nginx nginx-light
# nginx lives in /usr/sbin, which a non-root PATH may lack
command -v nginx >/dev/null 2>&1 || export PATH="$PATH:/usr/sbin"
need_pkg wget wget
need_pkg wrk wrk
need_pkg /usr/bin/time time
need_pkg python3 python3
command -v cargo >/dev/null 2>&1 || { say "!! cargo not found: install Rust (rustup), >= the rust-version in Cargo.toml"; exit 1; }

have_scrapy=""
if [[ " $only " == *" scrapy "* ]]; then
  if [ ! -x "$venv/bin/scrapy" ]; then
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      rm -rf "$venv"
      say "== installing python3-venv"
      if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null || true
      python3 -m venv "$venv" >/dev/null 2>&1 || true
    fi
    if [ -x "$venv/bin/pip" ]; then
      say "== installing Scrapy into $venv"
      "$venv/bin/pip" install -q scrapy >&2 || true
    fi
  fi
  if [ -x "$venv/bin/scrapy" ] && "$venv/bin/scrapy" version >/dev/null 2>&1; then
    have_scrapy=1
  else
    say "!! Scrapy could not be installed: going on without it"
  fi
fi

# ---------------------------------------------------------------- builds (before timing)
say "== building trawl (cargo build --release, target $CARGO_TARGET_DIR)"
cargo build --release --quiet
if [[ " $only " == *" spider"* ]]; then
  say "== building bench/spider-runner (release, own target dir)"
  CARGO_TARGET_DIR=$repo/bench/spider-runner/target \
    cargo build --release --quiet --manifest-path bench/spider-runner/Cargo.toml
fi
spider_bin=$repo/bench/spider-runner/target/release/spider-runner

# ---------------------------------------------------------------- work dir, nginx
work=$(mktemp -d /tmp/trawl-compare.XXXXXX)
cleanup() {
  if [ -f "$work/nginx.pid" ]; then kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; fi
  sleep 0.2
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work"
# Run a copy, so a rebuild in a shared target dir cannot swap the binary mid-benchmark.
cp "$CARGO_TARGET_DIR/release/trawl" "$work/trawl"
trawl_bin=$work/trawl
if [[ " $only " == *" trawl-base "* ]]; then
  [ -x "${BASELINE:-}" ] || { say "!! ONLY names trawl-base: set BASELINE to a trawl binary"; exit 1; }
  cp "$BASELINE" "$work/trawl-base"
fi

# shellcheck source=bench/nginx.sh
. bench/nginx.sh
start_nginx() { nginx_start "$work" "$work/site" "127.0.0.1:$port" "$workers"; }
stop_nginx() { nginx_stop "$work"; }
reset_log() { nginx_reopen_log "$work"; }

# ---------------------------------------------------------------- one measured run
# run_one NAME PAGES RUN CMD...  -> appends a JSON line to $work/runs.jsonl
run_one() {
  local name=$1 pages=$2 run=$3; shift 3
  reset_log
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$work/time.txt" timeout "$tmo" "$@" > "$work/out.txt" 2> "$work/err.txt" || rc=$?
  t1=$(date +%s.%N)
  sleep 0.3  # let nginx finish writing its log
  python3 - "$work" "$name" "$pages" "$run" "$t0" "$t1" "$rc" >> "$work/runs.jsonl" <<'PY'
import json, re, sys
w, name, pages, run, t0, t1, rc = sys.argv[1:]
t = open(f"{w}/time.txt").read()
def num(pat):
    m = re.search(pat, t)
    return float(m.group(1)) if m else 0.0
cpu = num(r"User time \(seconds\): ([\d.]+)") + num(r"System time \(seconds\): ([\d.]+)")
rss_kib = num(r"Maximum resident set size \(kbytes\): (\d+)")
targets, files, requests, statuses = set(), set(), 0, {}
line_re = re.compile(r'"[A-Z]+ (\S+) [^"]*" (\d{3}) ')
for line in open(f"{w}/access.log", errors="replace"):
    m = line_re.search(line)
    if not m:
        continue
    requests += 1
    target, status = m.group(1), m.group(2)
    statuses[status] = statuses.get(status, 0) + 1
    targets.add(target)
    path = target.split("?", 1)[0].split("#", 1)[0]
    if status == "200" and (path == "/" or path.endswith(".html")):
        files.add("/index.html" if path == "/" else path)
wall = float(t1) - float(t0)
out = (open(f"{w}/out.txt", errors="replace").read() + open(f"{w}/err.txt", errors="replace").read())
rec = dict(crawler=name, pages=int(pages), run=int(run), rc=int(rc), wall=wall,
           distinct=len(targets), requests=requests, files=len(files), statuses=statuses,
           cpu=cpu, rss_mib=rss_kib / 1024, pps=len(targets) / wall if wall > 0 else 0,
           cpu_ms_per_page=1000 * cpu / max(len(targets), 1),
           says=" ".join(out.split())[-300:])
print(json.dumps(rec))
sys.stderr.write(f"   {name:<11} run {run}: rc {rc}  distinct {len(targets)}  requests {requests}  "
                 f"wall {wall:.2f}s  {rec['pps']:.0f} pages/s  cpu {cpu:.2f}s  rss {rss_kib/1024:.1f} MiB"
                 f"  | {rec['says'][-120:]}\n")
PY
}

# ---------------------------------------------------------------- machine
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
ram=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
stamp=$(date -u +%Y-%m-%d)
results=$repo/bench/results-$stamp-$(IFS=-; echo "$*").md
spider_ver=$(awk '/^name = "spider"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' bench/spider-runner/Cargo.lock 2>/dev/null || echo "?")
{
  echo "## Side-by-side crawl benchmark ($stamp)"
  echo
  echo "- command: \`$cmdline\` (RUNS=$runs, TIMEOUT=${tmo}s, nginx $workers worker(s))"
  echo "- machine: $(nproc) cores, $cpu_model, $ram RAM, $(uname -sr)"
  echo "- trawl $(git rev-parse --short HEAD 2>/dev/null || echo '?') (binary sha256 $(sha256sum "$trawl_bin" | cut -c1-12)): \`trawl crawl URL --out DIR --per-host-rate 0 --per-host-concurrency 64 --concurrency 64 -q${TRAWL_FLAGS:+ $TRAWL_FLAGS}\`"
  if [ -f "$work/trawl-base" ]; then
    echo "- trawl-base: \`$BASELINE\` (binary sha256 $(sha256sum "$work/trawl-base" | cut -c1-12)), same flags"
  fi
  echo "- wget $(wget --version | head -1 | awk '{print $3}'): \`wget -r -l inf -nd --delete-after -q\` (robots on, one connection)"
  echo "- spider $spider_ver (bench/spider-runner): robots on, delay 0, subdomains/tld off, concurrency limit 64, default features;" \
       "*spider* = defaults (visited set moves to SQLite past LINKS_VISITED_MEMORY_LIMIT=15000 links), *spider-mem* = LINKS_VISITED_MEMORY_LIMIT=1000000000"
  if [ -n "$have_scrapy" ]; then
    echo "- Scrapy $("$venv/bin/scrapy" version | awk '{print $2}') (bench/scrapy_bench.py): CrawlSpider, CONCURRENT_REQUESTS=64 (and per domain), ROBOTSTXT_OBEY=True, no items"
  else
    echo "- Scrapy: not installed (skipped)"
  fi
  echo "- distinct fetched = distinct request targets (path+query) in nginx's log; pages/s = distinct fetched / wall s;" \
       "CPU = user+sys of the crawler process tree (GNU time); site pages = distinct site HTML files fetched with 200, of PAGES+1" \
       "(/index.html and /p/0..PAGES-1); median of $runs runs by pages/s"
  echo
} > "$work/header.md"
cat "$work/header.md" >&2

write_results() {
  {
    cat "$work/header.md"
    cat "$work/tables.md"
    echo "<details><summary>all runs (JSON lines)</summary>"
    echo
    echo '```'
    cat "$work/runs.jsonl"
    echo '```'
    echo "</details>"
  } > "$results"
}

# ---------------------------------------------------------------- per site size
: > "$work/runs.jsonl"
: > "$work/tables.md"
for pages in "$@"; do
  say "== site of $pages pages"
  stop_nginx
  rm -rf "$work/site"
  python3 bench/gen_site.py "$work/site" "$pages" "127.0.0.1:$port"
  printf 'User-agent: *\nDisallow: /files/\n' > "$work/site/robots.txt"
  start_nginx
  url="http://127.0.0.1:$port/"

  # wrk: fetch-only ceiling over the site's page URLs
  { echo /; for ((i = 0; i < pages; i++)); do echo "/p/$i.html"; done; } > "$work/urls.txt"
  cat > "$work/urls.lua" <<LUA
local paths = {}
for line in io.lines("$work/urls.txt") do paths[#paths + 1] = line end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
  reset_log
  wrk -t2 -c64 -d5s -s "$work/urls.lua" "$url" > "$work/wrk.txt" 2>&1 || true
  wrk_rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.txt")
  wrk_tr=$(awk '/Transfer\/sec/ {print $2}' "$work/wrk.txt")
  wrk_non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
  say "   wrk -t2 -c64 -d5s: ${wrk_rps:-?} req/s, ${wrk_tr:-?}/s${wrk_non2xx:+, non-2xx $wrk_non2xx}"

  for ((r = 1; r <= runs; r++)); do
    for c in $only; do
      case $c in
        trawl)
          rm -rf "$work/trawl-out"
          run_one trawl "$pages" "$r" "$trawl_bin" crawl "$url" --out "$work/trawl-out" \
            --per-host-rate 0 --per-host-concurrency 64 --concurrency 64 -q $TRAWL_FLAGS
          rm -rf "$work/trawl-out" ;;
        trawl-base)
          rm -rf "$work/trawl-out"
          run_one trawl-base "$pages" "$r" "$work/trawl-base" crawl "$url" --out "$work/trawl-out" \
            --per-host-rate 0 --per-host-concurrency 64 --concurrency 64 -q $TRAWL_FLAGS
          rm -rf "$work/trawl-out" ;;
        wget)
          rm -rf "$work/wget-out"; mkdir -p "$work/wget-out"
          run_one wget "$pages" "$r" wget -r -l inf -nd --delete-after -q -P "$work/wget-out" "$url"
          rm -rf "$work/wget-out" ;;
        spider)
          rm -rf "$work/sptmp"; mkdir -p "$work/sptmp"  # spider's SQLite file goes to TMPDIR
          (cd "$work" && run_one spider "$pages" "$r" env -u LINKS_VISITED_MEMORY_LIMIT TMPDIR="$work/sptmp" "$spider_bin" "$url" 64) ;;
        spider-mem)
          rm -rf "$work/sptmp"; mkdir -p "$work/sptmp"
          (cd "$work" && run_one spider-mem "$pages" "$r" env LINKS_VISITED_MEMORY_LIMIT=1000000000 TMPDIR="$work/sptmp" "$spider_bin" "$url" 64) ;;
        scrapy)
          [ -n "$have_scrapy" ] || continue
          (cd "$work" && run_one scrapy "$pages" "$r" "$venv/bin/scrapy" runspider "$repo/bench/scrapy_bench.py" -a start="$url") ;;
      esac
    done
  done

  python3 - "$work/runs.jsonl" "$pages" "$runs" "${wrk_rps:-}" "${wrk_tr:-}" >> "$work/tables.md" <<'PY'
import json, sys
path, pages, runs, wrk_rps, wrk_tr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
recs = [json.loads(l) for l in open(path) if l.strip()]
recs = [r for r in recs if r["pages"] == pages]
order = []
for r in recs:
    if r["crawler"] not in order:
        order.append(r["crawler"])
print(f"### {pages} pages\n")
print("| crawler | pages | distinct fetched | wall s | pages/s | CPU-ms/page | peak RSS MiB | site pages (of {}) | requests | pages/s of {} runs |".format(pages + 1, runs))
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for c in order:
    rs = sorted((r for r in recs if r["crawler"] == c), key=lambda r: r["pps"])
    m = rs[(len(rs) - 1) // 2] if len(rs) % 2 else rs[len(rs) // 2 - 1]  # median (lower for even)
    note = "" if m["rc"] in (0, 8) else f" (exit {m['rc']}{', timed out' if m['rc'] == 124 else ''})"
    n5xx = sum(v for k, v in m["statuses"].items() if k.startswith("5"))
    if n5xx:  # the server failed some requests: the run is not a fair one
        note += f" ({n5xx} server 5xx!)"
    allpps = " / ".join(f"{r['pps']:.0f}" for r in sorted(rs, key=lambda r: r["run"]))
    print(f"| {c}{note} | {pages} | {m['distinct']} | {m['wall']:.2f} | {m['pps']:.0f} | "
          f"{m['cpu_ms_per_page']:.3f} | {m['rss_mib']:.1f} | {m['files']} | {m['requests']} | {allpps} |")
print(f"| wrk ceiling (-t2 -c64 -d5s, fetch only) | {pages} | | 5 | {wrk_rps} req/s | | | | | {wrk_tr}/s |")
print()
# The crawlers ran interleaved (round 1: each crawler once, round 2: ...), so a pair is the
# first crawler and another one from the same round: drift on a shared machine hits both.
if len(order) > 1:
    first = order[0]
    print(f"Ratios per round, {first} against each other crawler (pages/s and CPU-ms a page; a wall under 2 s is marked *):\n")
    print("| pair | pages/s ratio per round | median | CPU-ms/page ratio per round | median |")
    print("|---|---|---:|---|---:|")
    by = {(r["crawler"], r["run"]): r for r in recs}
    def med(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
    for c in order[1:]:
        rounds = sorted(k[1] for k in by if k[0] == c and (first, k[1]) in by)
        if not rounds:
            continue
        speed, cpu, cells, ccells = [], [], [], []
        for n in rounds:
            a, b = by[(first, n)], by[(c, n)]
            s = a["pps"] / b["pps"] if b["pps"] else float("inf")
            k = a["cpu_ms_per_page"] / b["cpu_ms_per_page"] if b["cpu_ms_per_page"] else float("inf")
            speed.append(s)
            cpu.append(k)
            short = "*" if min(a["wall"], b["wall"]) < 2 else ""
            cells.append(f"{s:.2f}{short}")
            ccells.append(f"{k:.2f}")
        print(f"| {first} / {c} | {' / '.join(cells)} | {med(speed):.2f}x | {' / '.join(ccells)} | {med(cpu):.2f}x |")
    print()
PY
  write_results  # after each site size, so a cut-short run keeps what it measured
done

write_results
echo
cat "$work/header.md" "$work/tables.md"
say "== written to ${results#$repo/}"
