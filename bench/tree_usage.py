#!/usr/bin/env python3
"""Runs a command and reports what its whole process tree used: wall seconds, CPU
seconds (user + system of every process in the tree, browsers included) and the
peaks of the tree's summed resident memory (RSS, which counts shared pages once per
process) and proportional set size (PSS, which splits them), sampled every 50 ms.

usage: bench/tree_usage.py LABEL -- COMMAND [ARGS...]
prints one JSON line: {"label", "secs", "cpu_secs", "peak_rss_mb", "peak_pss_mb", "code"}

This process makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so
processes orphaned in the tree (a browser's renderers when the browser is killed)
are re-parented here and reaped, and their CPU time is counted too.
"""
import ctypes, json, os, resource, sys, time

def descendants(root):
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out

def rss_bytes(pids):
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except OSError:
            pass
    return total

def pss_bytes(pids):
    """Proportional set size: shared pages split between the processes sharing
    them, so a browser's many processes are not counted several times over."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total

def main():
    label = sys.argv[1]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    t0 = time.monotonic()
    child = os.fork()
    if child == 0:
        os.execvp(cmd[0], cmd)
    peak, peak_pss, code = 0, 0, None
    while code is None:
        tree = descendants(os.getpid())[1:]
        peak = max(peak, rss_bytes(tree))
        peak_pss = max(peak_pss, pss_bytes(tree))
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
        else:
            time.sleep(0.05)
    secs = time.monotonic() - t0
    # Reap what the command left behind (orphans re-parented here).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"label": label, "secs": round(secs, 2),
                      "cpu_secs": round(ru.ru_utime + ru.ru_stime, 2),
                      "peak_rss_mb": round(peak / 2**20, 1),
                      "peak_pss_mb": round(peak_pss / 2**20, 1), "code": code}))

main()
