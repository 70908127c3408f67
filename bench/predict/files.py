#!/usr/bin/env python3
"""Next-file prediction on a real commit history (issue 10), the standard
protocol of ../shared/data/README.md: walk the history in time order through
the daemon (each commit a git.commit event with its own time); for each of
the last TEST commits with 2-30 files, learn only from the commits before
it, query `cairn predict files --given F --json` with one of its files
(chosen with a fixed seed) and score the ranked list against the rest of
the commit. Printed beside it, from the same walk: the pair-count baseline
(the most frequent co-changed files with confidence >= 0.1).

  hit@k  a right file among the first k suggestions
  P@10   right suggestions / suggestions, over queries with any suggestion
  R@10   right suggestions / the rest of the commit, over all queries

Then, unless --no-speed, a second run per history: the whole history
published at once into a new daemon, timed until the prediction service has
learned it all, and the query time on that model, both in process
(predict_files() through tests/tools/predict_time: `make
build/rel/tools/predict_time`) and as `cairn predict files` processes,
beside `cairn --version` (what starting any cairn process costs).

Usage: files.py --cairn BUILD/rel/cairn [HISTORY.jsonl[.xz]...] [--test 2000] [--seed 1]
                [--tools DIR] [--no-speed]
(default: ../shared/data/histories/curl.jsonl.xz and git.jsonl.xz, relative to the
repository; curl is the one the ranking was tuned on, git is held out).
"""
import argparse
import collections
import json
import lzma
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))


def load(path):
    op = lzma.open if path.endswith(".xz") else open
    with op(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


class PairCount:
    """The baseline: co-change counts, suggestions by count with conf >= 0.1."""

    def __init__(self):
        self.n = collections.Counter()
        self.pairs = collections.defaultdict(collections.Counter)

    def learn(self, files):
        if not 2 <= len(files) <= 30:
            return
        for a in files:
            self.n[a] += 1
            for b in files:
                if a != b:
                    self.pairs[a][b] += 1

    def suggest(self, given, k=10):
        na = self.n[given]
        if not na:
            return []
        ranked = sorted(((c, b) for b, c in self.pairs[given].items() if c / na >= 0.1),
                        key=lambda x: (-x[0], x[1]))
        return [b for _, b in ranked[:k]]


class Score:
    def __init__(self):
        self.q = 0
        self.hit = collections.Counter()
        self.p_sum = 0.0
        self.p_n = 0
        self.r_sum = 0.0

    def add(self, ranked, expected):
        self.q += 1
        for k in (1, 3, 10):
            if any(p in expected for p in ranked[:k]):
                self.hit[k] += 1
        top = ranked[:10]
        right = sum(1 for p in top if p in expected)
        if top:
            self.p_sum += right / len(top)
            self.p_n += 1
        self.r_sum += right / len(expected)

    def row(self):
        q = max(self.q, 1)
        return (self.hit[1] / q, self.hit[3] / q, self.hit[10] / q,
                self.p_sum / max(self.p_n, 1), self.r_sum / q)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", required=True)
    top = os.path.join(HERE, "..", "..")
    ap.add_argument("history", nargs="*",
                    default=[os.path.join(top, "..", "shared", "data", "histories", h)
                             for h in ("curl.jsonl.xz", "git.jsonl.xz")])
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tools", help="where predict_time is (default: BUILD/rel/tools beside "
                    "--cairn)")
    ap.add_argument("--no-speed", action="store_true",
                    help="skip the second run (learning speed, query time on the whole history)")
    a = ap.parse_args()
    if not a.tools:
        a.tools = os.path.join(os.path.dirname(os.path.abspath(a.cairn)), "tools")
    os.environ["CAIRN_BIN"] = os.path.abspath(a.cairn)
    for h in a.history:
        run(a, h)
        if not a.no_speed:
            speed(a, h)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def event_of(proj):
    from cairnlib import ev  # noqa: E402

    def event(r):
        return ev("git.commit", source="cairn/git", project=proj,
                  time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["time"])),
                  data={"hash": r["commit"], "files": r["files"]})
    return event


def speed(a, history):
    """The whole history replayed into a new daemon at once: how long the
    prediction service takes to learn it (from the first publish to the last
    commit learned), then the query time on that model: predict_files() in
    process (tests/tools/predict_time) and `cairn predict files` as a new
    process, for the given files of the test queries."""
    from cairnlib import Daemon, pub_pipelined  # noqa: E402

    rows = load(history)
    for r in rows:
        r["files"] = sorted(set(r["files"]))
    test_idx = [i for i, r in enumerate(rows) if 2 <= len(r["files"]) <= 30][-a.test:]
    rng = random.Random(a.seed)
    givens = [rng.choice(rows[i]["files"]) for i in test_idx]
    d = Daemon()
    proj = os.path.join(d.tmp, "proj")
    os.makedirs(proj)
    event = event_of(proj)
    try:
        conn = d.conn()
        events = [event(r) for r in rows]
        t0 = time.time()
        pub_pipelined(conn, events)
        t_pub = time.time() - t0
        while True:
            s = conn.status()["services"]["predict"]
            if s["commits_learned"] + s["commits_skipped"] >= len(rows):
                break
            time.sleep(0.05)
        t_learn = time.time() - t0
        t_handle = s.get("learn_ms", 0) / 1000
        conn.close()
        tool = os.path.join(a.tools, "predict_time")
        out = subprocess.run([tool, d.db_path, proj], input="\n".join(givens) + "\n",
                             capture_output=True, text=True, timeout=600)
        us = [int(line.split()[0]) for line in out.stdout.splitlines() if line.strip()]
        t_cli = []
        for g in givens[:300]:
            q0 = time.time()
            subprocess.run([a.cairn, "predict", "files", "--given", g, "--project", proj,
                            "--json"], env=d.env(), capture_output=True, timeout=60)
            t_cli.append(time.time() - q0)
        # The floor of any `cairn` command: starting the process.
        t_start = []
        for _ in range(100):
            q0 = time.time()
            subprocess.run([a.cairn, "--version"], env=d.env(), capture_output=True, timeout=60)
            t_start.append(time.time() - q0)
        d.stop()
    finally:
        d.cleanup()
    name = os.path.basename(history)
    print("%s, whole history at once: %d commits published in %.1f s, learned in %.1f s "
          "(%.0f commits/s; the service's own handle() %.1f s of it)"
          % (name, len(rows), t_pub, t_learn, len(rows) / t_learn, t_handle))
    if us:
        print("  predict_files() in process, %d queries: p50 %.2f ms, p95 %.2f ms, max %.2f ms"
              % (len(us), pct(us, 0.5) / 1000, pct(us, 0.95) / 1000, max(us) / 1000))
    else:
        print("  predict_files() in process: %s not run (%s)" % (tool, out.stderr.strip()))
    print("  `cairn predict files` (a new process each), %d queries: p50 %.1f ms, p95 %.1f ms"
          % (len(t_cli), 1000 * pct(t_cli, 0.5), 1000 * pct(t_cli, 0.95)))
    print("  `cairn --version` (process start alone), 100 runs: p50 %.1f ms, p95 %.1f ms"
          % (1000 * pct(t_start, 0.5), 1000 * pct(t_start, 0.95)))


def run(a, history):
    from cairnlib import Daemon, pub_pipelined  # noqa: E402

    rows = load(history)
    for r in rows:
        r["files"] = sorted(set(r["files"]))
    test_idx = [i for i, r in enumerate(rows) if 2 <= len(r["files"]) <= 30][-a.test:]
    is_test = set(test_idx)
    rng = random.Random(a.seed)
    d = Daemon()
    base, ours = PairCount(), Score()
    base_score = Score()
    proj = os.path.join(d.tmp, "proj")
    os.makedirs(proj)
    published = 0
    t_query = []
    t0 = time.time()
    try:
        event = event_of(proj)
        conn = d.conn()

        def caught_up():
            while True:
                s = conn.status()["services"]["predict"]
                if s["commits_learned"] + s["commits_skipped"] >= published:
                    return
                time.sleep(0.002)

        pending = []
        for i, r in enumerate(rows):
            if i in is_test:
                if pending:
                    pub_pipelined(conn, [event(x) for x in pending])
                    published += len(pending)
                    pending = []
                caught_up()
                given = rng.choice(r["files"])
                expected = set(r["files"]) - {given}
                q0 = time.time()
                out = subprocess.run([a.cairn, "predict", "files", "--given", given,
                                      "--project", proj, "--json"], env=d.env(),
                                     capture_output=True, text=True, timeout=60)
                t_query.append(time.time() - q0)
                ranked = ([p["path"] for p in json.loads(out.stdout)["predictions"]]
                          if out.returncode == 0 else [])
                ours.add(ranked, expected)
                base_score.add(base.suggest(given), expected)
            pending.append(r)
            base.learn(r["files"])
        conn.close()
        d.stop()
    finally:
        d.cleanup()
    t_query.sort()
    name = os.path.basename(history)
    print("%s: %d commits, %d test queries, %.0f s; `cairn predict files` wall time per query "
          "(a new process each) p50 %.1f ms, p95 %.1f ms" %
          (name, len(rows), len(test_idx), time.time() - t0,
           1000 * t_query[len(t_query) // 2], 1000 * t_query[int(len(t_query) * 0.95)]))
    print("%-28s %7s %7s %7s %7s %7s" % ("", "hit@1", "hit@3", "hit@10", "P@10", "R@10"))
    for label, s in (("cairn (model)", ours), ("pair-count baseline", base_score)):
        print("%-28s %7.3f %7.3f %7.3f %7.3f %7.3f" % ((label,) + s.row()))
    print("goal: hit@3 >= 0.64 (ROSE's published top-3)")


if __name__ == "__main__":
    main()
