#!/usr/bin/env python3
"""File watcher benchmarks (issue 3), each figure beside its peer in the same run:

1. File change -> event delivered to a subscriber: p50/p99 beyond the settle time,
   beside inotifywait (inotify-tools) watching the same tree.
2. Recovery from an inotify queue overflow on a 50,000-file tree: time from the
   moment the daemon resumes until the last real change is reported.
3. Runner overhead on a command that prints 100 MB: wall time with and without
   `cairn run` (goal <= 5% more), measured by bench/run/output.py.

Usage: fswatch.py CAIRN_BIN   (env BENCH_FS_CHANGES, BENCH_FS_FILES to shrink)
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CAIRN = os.path.abspath(sys.argv[1])
N_CHANGES = int(os.environ.get("BENCH_FS_CHANGES", "300"))
N_FILES = int(os.environ.get("BENCH_FS_FILES", "50000"))
SETTLE_MS = 50


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


class Cairn:
    def __init__(self, tmp, env=None):
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("CAIRN_") or k in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
                del self.env[k]
        for k in ("XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
            self.env[k] = os.path.join(tmp, k.lower())
            os.makedirs(self.env[k], exist_ok=True)
        self.env.update(env or {})
        self.sock = os.path.join(self.env["XDG_RUNTIME_DIR"], "cairn", "cairn.sock")
        self.p = subprocess.Popen([CAIRN, "daemon"], env=self.env, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(self.sock):
                break
            time.sleep(0.02)

    def cli(self, *args):
        return subprocess.run([CAIRN] + list(args), env=self.env, capture_output=True, text=True)

    def watch(self, tree):
        """watch add, then waits until the tree is walked whole (a big tree
        is walked in the background)."""
        self.cli("watch", "add", tree)
        while True:
            ws = json.loads(self.cli("watch", "list", "--json").stdout)
            if all(w.get("state", "watching") == "watching" for w in ws):
                return
            time.sleep(0.01)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=60)


class Sub:
    def __init__(self, path, pattern):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self.s.sendall((json.dumps({"op": "sub", "pattern": pattern}) + "\n").encode())
        json.loads(self.f.readline())

    def next_event(self):
        while True:
            m = json.loads(self.f.readline())
            if "event" in m:
                return m["event"]


def bench_latency(tmp):
    tree = os.path.join(tmp, "lat")
    os.makedirs(os.path.join(tree, "src"))
    d = Cairn(os.path.join(tmp, "c1"))
    d.watch(tree)
    sub = Sub(d.sock, "file.>")
    iw = subprocess.Popen(["inotifywait", "-m", "-r", "-q", "-e", "close_write", "--format", "%w%f",
                           tree], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    cairn_ms, iw_ms = [], []
    for i in range(N_CHANGES):
        path = os.path.join(tree, "src", "f%d.txt" % (i % 20))
        t0 = time.monotonic()
        with open(path, "w") as f:
            f.write("v%d" % i)
        iw.stdout.readline()
        t1 = time.monotonic()
        sub.next_event()
        t2 = time.monotonic()
        iw_ms.append((t1 - t0) * 1000)
        cairn_ms.append((t2 - t0) * 1000 - SETTLE_MS)
        time.sleep(0.08)  # let the project settle between changes
    iw.kill()
    d.stop()
    print("file change -> delivered (%d changes)" % N_CHANGES)
    print("  cairn beyond the %d ms settle time: p50 %.2f ms  p99 %.2f ms"
          % (SETTLE_MS, pct(cairn_ms, 50), pct(cairn_ms, 99)))
    print("  inotifywait (no settling):          p50 %.2f ms  p99 %.2f ms"
          % (pct(iw_ms, 50), pct(iw_ms, 99)))


def bench_overflow(tmp):
    if os.geteuid() != 0:
        print("overflow recovery: skipped (needs root to lower max_queued_events)")
        return
    knob = "/proc/sys/fs/inotify/max_queued_events"
    old = open(knob).read().strip()
    tree = os.path.join(tmp, "big")
    for i in range(N_FILES):
        dd = os.path.join(tree, "d%03d" % (i // 500))
        if i % 500 == 0:
            os.makedirs(dd)
        with open(os.path.join(dd, "f%05d.txt" % i), "w") as f:
            f.write("x")
    try:
        open(knob, "w").write("1024")
        d = Cairn(os.path.join(tmp, "c2"))
        t = time.monotonic()
        d.watch(tree)
        add_s = time.monotonic() - t
        sub = Sub(d.sock, ">")
        os.kill(d.p.pid, signal.SIGSTOP)
        changed = set()
        for i in range(0, N_FILES, N_FILES // 2000):
            p = os.path.join(tree, "d%03d" % (i // 500), "f%05d.txt" % i)
            with open(p, "w") as f:
                f.write("changed")
            changed.add(os.path.relpath(p, tree))
        t0 = time.monotonic()
        os.kill(d.p.pid, signal.SIGCONT)
        seen, overflow = set(), False
        while seen != changed:
            e = sub.next_event()
            if e["type"] == "file.changed":
                seen.add(e["data"]["path"])
            overflow |= e["type"] == "fs.overflow"
        dt = time.monotonic() - t0
        while not overflow:  # the summary follows the per-file events
            overflow = sub.next_event()["type"] == "fs.overflow"
        d.stop()
        print("overflow recovery on a %d-file tree (%d real changes, overflow event: %s)"
              % (N_FILES, len(changed), overflow))
        print("  cairn: last real change reported %.2f s after resuming (initial watch add %.2f s)"
              % (dt, add_s))
    finally:
        open(knob, "w").write(old)


def bench_runner(tmp):
    """The runner's figure, measured by bench/run/output.py (its docstring
    says how)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "run"))
    import output
    output.run(CAIRN, tmp, rounds=5)


def main():
    if not shutil.which("inotifywait"):
        sys.exit("inotifywait is missing: run CAIRN_DEPS_BENCH=1 scripts/deps.sh")
    tmp = tempfile.mkdtemp(prefix="cairn-bench-fs-")
    try:
        bench_latency(tmp)
        bench_overflow(tmp)
        bench_runner(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
