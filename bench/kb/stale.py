#!/usr/bin/env python3
"""`cairn kb stale` at 100,000 entries, next to a peer in the same run.

Generates N entries (default 100,000) as JSON Lines: a quarter global, the rest
in one project whose directory exists and holds 3,000 files; each names 1-3 of
them, and one in ten also a file that is gone; ages spread over two years; a
third never used; 5% superseded; learned candidates. Imports them with `cairn
kb import` into a private data directory, then times, over ROUNDS runs (the
median and the slowest, warm):

  - `cairn kb stale --all --json` (the whole command: process, open, both
    passes, stat() of the files, output);
  - the peer: the sqlite3 shell running the first pass's scan alone (the same
    SQL, counting rows), which reads what kb_stale() reads and decides nothing.

Figures are printed, never asserted; the exit status is non-zero only when the
benchmark cannot run. Run from the repository root:

  python3 bench/kb/stale.py [--entries N] [--rounds N] [--cairn build/rel/cairn]
"""

import argparse
import datetime
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
WORDS = ("linker cache build flaky runner test parser socket timeout header include config "
         "deploy").split()
DAY = 86400000


def ulid(i):
    s = ""
    for _ in range(16):
        s = B32[i % 32] + s
        i //= 32
    return "01JD000000" + s


def rfc3339(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def generate(n, path, proj, now):
    rnd = random.Random(7)
    os.makedirs(os.path.join(proj, "src"), exist_ok=True)
    files = ["src/f%04d.c" % i for i in range(3000)]
    for f in files:
        open(os.path.join(proj, f), "w").close()
    with open(path, "w") as out:
        for i in range(n):
            created = now - rnd.randint(0, 730) * DAY - rnd.randint(0, DAY)
            o = {"uid": ulid(i + 1),
                 "kind": rnd.choice(["fix", "note", "decision", "pattern", "mistake"]),
                 "title": "entry %d %s %s" % (i, rnd.choice(WORDS), rnd.choice(WORDS)),
                 "body": " ".join(rnd.choice(WORDS) for _ in range(40)),
                 "created": rfc3339(created)}
            if rnd.random() < 0.75:
                o["project"] = proj
                fs = rnd.sample(files, rnd.randint(1, 3))
                if rnd.random() < 0.1:
                    fs.append("src/gone%05d.c" % i)
                o["files"] = fs
            if rnd.random() > 0.33:
                o["uses"] = rnd.randint(1, 9)
                o["last_used"] = rfc3339(min(now, created + rnd.randint(0, 700) * DAY))
            if rnd.random() < 0.05 and i > 0:
                o["superseded_by"] = ulid(rnd.randint(1, i))
            if o["kind"] == "fix" and rnd.random() < 0.3:
                o["state"] = "candidate"
            out.write(json.dumps(o) + "\n")


def timed(argv, env):
    """Runs argv: (wall ms, CPU ms (user + system), stdout)."""
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ms = (time.monotonic() - t) * 1000
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit("bench/kb/stale: `%s` failed: %s" % (" ".join(argv), r.stderr.decode()))
    cpu = (c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime) * 1000
    return ms, cpu, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--cairn", default="build/rel/cairn")
    a = ap.parse_args()
    cairn = os.path.abspath(a.cairn)
    if not os.access(cairn, os.X_OK):
        sys.exit("bench/kb/stale: no %s; build it with 'make build/rel/cairn'" % a.cairn)
    if not shutil.which("sqlite3"):
        sys.exit("bench/kb/stale: the sqlite3 shell is not installed (apt-get install sqlite3)")
    tmp = tempfile.mkdtemp(prefix="cairn-bench-stale-")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
        for k, d in (("XDG_RUNTIME_DIR", "rt"), ("XDG_DATA_HOME", "data"),
                     ("XDG_CONFIG_HOME", "conf"), ("HOME", "home")):
            env[k] = os.path.join(tmp, d)
            os.makedirs(env[k])
        now = int(time.time() * 1000)
        jsonl = os.path.join(tmp, "kb.jsonl")
        generate(a.entries, jsonl, os.path.join(tmp, "proj"), now)
        ms, _, _ = timed([cairn, "kb", "import", jsonl], env)
        print("imported %d entries in %.1f s" % (a.entries, ms / 1000))
        db = os.path.join(env["XDG_DATA_HOME"], "cairn", "cairn.db")
        cutoff = now - 90 * DAY
        scan = ("SELECT count(*), sum(length(k.files)), sum(length(s.title)) FROM knowledge k"
                " LEFT JOIN knowledge s ON s.id=k.superseded_by WHERE"
                " (coalesce(k.last_used_ms, k.created_ms) < %d OR k.superseded_by IS NOT NULL"
                " OR (k.state='candidate' AND k.created_ms < %d)"
                " OR (k.project IS NOT NULL AND k.files != ''))"
                " AND k.forgotten_ms IS NULL AND k.state!='rejected'" % (cutoff, cutoff))
        runs = {"stale": [], "peer": []}
        out = b""
        for i in range(a.rounds + 1):
            ms, cpu, out = timed([cairn, "kb", "stale", "--all", "--json"], env)
            pms, pcpu, _ = timed(["sqlite3", db, scan], env)
            if i:  # the first round warms the page cache
                runs["stale"].append((ms, cpu))
                runs["peer"].append((pms, pcpu))
        o = json.loads(out)
        print("stale entries: %d of %d (20 listed)" % (o["total"], a.entries))
        for key, name in (("stale", "cairn kb stale --all --json"),
                          ("peer", "peer: sqlite3 shell, the scan alone")):
            wall = [w for w, _ in runs[key]]
            cpu = [c for _, c in runs[key]]
            print("%-38s wall median %6.1f ms, slowest %6.1f ms; CPU median %6.1f ms" % (
                name, statistics.median(wall), max(wall), statistics.median(cpu)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
