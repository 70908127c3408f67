#!/usr/bin/env python3
"""Triage speed: from build.failed to triage.report with a 1 MiB log and
100,000 knowledge entries (goal p99 <= 50 ms).

A fresh daemon gets 100,000 entries through `cairn kb import`; then the
benchmark publishes build.failed events whose output is a 1 MiB log (a gcc
failure inside a long build), each after the previous report arrived, and
measures publish -> report on a subscription. Peer, same run and same log:
`grep -n -i -E 'error|fail' LOG | tail -n 50` -- the one-liner a developer
reaches for -- timed as a process from start to exit.

Usage: bench/triage/speed.py [--cairn build/rel/cairn] [--entries 100000] [--runs 200]
"""

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

WORDS = ("socket timeout retry parser header cache index query build link test flaky "
         "config daemon thread mutex deadlock race pointer overflow buffer encoding utf8 "
         "json schema migration release deploy docker kernel inotify watcher signal pipe "
         "memory leak allocation compiler warning error linker symbol undefined reference "
         "makefile cmake ninja pytest assertion fixture mock network dns proxy tls cert "
         "token auth session cookie http request response status latency throughput").split()


def entry(i, rnd):
    kind = rnd.choice(["decision", "mistake", "pattern", "fix", "note"])
    title = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 8)))
    body = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(20, 120)))
    e = {
        "uid": "01K%023d" % i,
        "kind": kind,
        "title": "%s %d" % (title, i),
        "body": body,
        "tags": sorted(set(rnd.choice(WORDS) for _ in range(rnd.randint(0, 4)))),
        "files": ["src/%s/%s.c" % (rnd.choice(WORDS), rnd.choice(WORDS))
                  for _ in range(rnd.randint(0, 3))],
        "created": "2026-10-01T10:00:00.000Z",
        "updated": "2026-10-01T10:00:00.000Z",
    }
    if kind == "fix" and rnd.random() < 0.5:
        e["signature"] = "expected ';' before '%s' token %d" % (rnd.choice(WORDS), i % 997)
        e["sig_general"] = e["signature"]
    return e


def make_log(path):
    rnd = random.Random(7)
    lines = []
    size = 0
    while size < (1 << 20) - 4096:
        mod = rnd.choice(WORDS)
        line = "gcc -c -O2 -Wall -Isrc -o build/%s/%s.o src/%s/%s.c" % (
            mod, rnd.choice(WORDS), mod, rnd.choice(WORDS))
        lines.append(line)
        size += len(line) + 1
    tail = ["src/net/conn.c: In function 'conn_open':",
            "src/net/conn.c:42:17: error: 'sockfd' undeclared (first use in this function)",
            "   42 |         return  sockfd;",
            "      |                 ^~~~~~",
            "make[1]: *** [Makefile:9: src/net/conn.o] Error 1",
            "make: *** [Makefile:3: all] Error 2"]
    with open(path, "w") as f:
        f.write("\n".join(lines[:len(lines) // 2] + tail[:4] + lines[len(lines) // 2:] +
                          tail[4:]) + "\n")


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", default=os.path.join(ROOT, "build", "rel", "cairn"))
    ap.add_argument("--entries", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=200)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="cairn-tspeed-")
    env = dict(os.environ)
    for k, sub in (("XDG_RUNTIME_DIR", "run"), ("XDG_DATA_HOME", "data"),
                   ("XDG_CONFIG_HOME", "config"), ("HOME", "home")):
        os.makedirs(os.path.join(tmp, sub), mode=0o700)
        env[k] = os.path.join(tmp, sub)
    sock = os.path.join(env["XDG_RUNTIME_DIR"], "cairn", "cairn.sock")
    proc = None
    try:
        rnd = random.Random(1)
        jl = os.path.join(tmp, "kb.jsonl")
        with open(jl, "w") as f:
            for i in range(a.entries):
                f.write(json.dumps(entry(i, rnd)) + "\n")
        t0 = time.time()
        r = subprocess.run([a.cairn, "kb", "import", jl], env=env, capture_output=True)
        t_import = time.time() - t0
        if r.returncode != 0:
            raise SystemExit("kb import failed: %s" % r.stderr.decode()[-2000:])
        logp = os.path.join(tmp, "build.log")
        make_log(logp)

        err = open(os.path.join(tmp, "daemon.stderr"), "wb")
        proc = subprocess.Popen([a.cairn, "daemon"], env=env, stdout=err, stderr=err,
                                stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(sock):
            if time.time() > deadline:
                raise SystemExit("daemon did not start")
            time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        f = s.makefile("rwb")

        def send(obj):
            f.write((json.dumps(obj) + "\n").encode())
            f.flush()

        send({"op": "sub", "sub": "r", "pattern": "triage.report"})
        lat = []
        for i in range(a.runs + 5):
            fid = "01KBENCH%018d" % i
            ev = {"type": "build.failed", "source": "bench", "id": fid, "subject": "make all",
                  "data": {"target": "make all", "command": "make all", "cwd": tmp,
                           "exit": 2, "output": {"path": logp}}}
            t = time.perf_counter()
            send({"op": "pub", "ack": "accepted", "event": ev})
            while True:
                m = json.loads(f.readline())
                e = m.get("event")
                if e and e.get("correlationid") == fid:
                    break
            if i >= 5:  # warm-up
                lat.append((time.perf_counter() - t) * 1000)
        s.close()

        peer = []
        for i in range(a.runs):
            t = time.perf_counter()
            subprocess.run("grep -n -i -E 'error|fail' %s | tail -n 50 >/dev/null" % logp,
                           shell=True)
            peer.append((time.perf_counter() - t) * 1000)

        print("triage speed: %d knowledge entries (imported in %.1f s, %.0f entries/s), "
              "1 MiB log, %d runs" % (a.entries, t_import, a.entries / t_import, a.runs))
        print("%-40s %10s %10s" % ("", "cairn", "grep|tail"))
        for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            print("%-40s %8.1f ms %8.1f ms" % ("build.failed -> triage.report " + name,
                                                pct(lat, q), pct(peer, q)))
        p99 = pct(lat, 0.99)
        print("goal: p99 <= 50 ms: %.1f ms %s" % (p99, "PASS" if p99 <= 50 else "MISS"))
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
