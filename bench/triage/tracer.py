#!/usr/bin/env python3
"""Learned fixes on TRACER, through the real product.

Replays what a developer does: for each program of the training part, compile
it with gcc through `cairn run` (it fails), replace it by the student's fixed
version and compile again (it passes), so the daemon learns a fix. Then for
each program of the test part, compile it through `cairn run` and read the
daemon's triage.report: were its top 1 / top 3 fixes learned from training
programs with the same repair_class?

A fix entry can be learned from several programs (the same fix recurring);
it counts as right when the most common repair_class among the programs it
was learned from is the test program's.

Peer, same run: a lookup table from the exact first gcc error line (file and
line numbers removed) to the training repair classes seen with it, most
frequent first -- what a developer's grep through old failures would give.
Published reference (not rerun here): TEGCER, a trained classifier on similar
data, 97.7% top-3 over 212 classes.

Usage: bench/triage/tracer.py [--cairn build/rel/cairn] [--test-every 4] [--limit N]
"""

import argparse
import collections
import json
import lzma
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "..", "shared", "data", "tracer", "programs.jsonl.xz")


class Daemon:
    def __init__(self, binary):
        self.bin = binary
        self.tmp = tempfile.mkdtemp(prefix="cairn-tracer-")
        self.env = dict(os.environ)
        for k, sub in (("XDG_RUNTIME_DIR", "run"), ("XDG_DATA_HOME", "data"),
                       ("XDG_CONFIG_HOME", "config"), ("HOME", "home")):
            p = os.path.join(self.tmp, sub)
            os.makedirs(p, mode=0o700)
            self.env[k] = p
        self.env["CAIRN_RUNNER_RUNS_KEEP"] = "100"
        self.sock = os.path.join(self.env["XDG_RUNTIME_DIR"], "cairn", "cairn.sock")
        self.err = open(os.path.join(self.tmp, "daemon.stderr"), "wb")
        self.proc = subprocess.Popen([binary, "daemon"], env=self.env, stdout=self.err,
                                     stderr=self.err, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(self.sock):
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit("the daemon did not start; see %s" % self.err.name)
            time.sleep(0.05)

    def request(self, op):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        s.sendall((json.dumps(op) + "\n").encode())
        buf = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                m = json.loads(line)
                if "ok" in m:
                    s.close()
                    return m
        s.close()
        raise RuntimeError("no reply")

    def query_all(self, pattern):
        out, since = [], 1
        while True:
            r = self.request({"op": "query", "pattern": pattern, "since": since, "limit": 5000})
            out.extend(r["events"])
            if not r.get("more"):
                return out
            since = r["events"][-1]["seq"] + 1

    def triage_idle(self):
        st = self.request({"op": "status"})
        t = (st.get("services") or {}).get("triage") or {}
        return (t.get("queued", 0) == 0 and not t.get("running")
                and t.get("lag_events", 0) == 0)

    def wait_idle(self, timeout=600):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.triage_idle():
                return
            time.sleep(0.2)
        raise SystemExit("the triage service did not catch up in %ds" % timeout)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.err.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_gcc(d, workdir):
    r = subprocess.run([d.bin, "run", "--", "gcc", "-c", "-w", "prog.c", "-o", "/dev/null"],
                       cwd=workdir, env=d.env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    return r.returncode, r.stderr.decode("utf-8", "replace")


def first_error(stderr):
    for line in stderr.splitlines():
        m = re.match(r"^[^:]*:\d+:\d+: (?:fatal )?error: (.*)$", line)
        if m:
            return m.group(1)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", default=os.path.join(ROOT, "build", "rel", "cairn"))
    ap.add_argument("--test-every", type=int, default=4,
                    help="every Nth program (by id) is in the test part")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N programs")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--misses", help="write the test programs whose top 3 missed (JSON lines)")
    ap.add_argument("--reports", type=argparse.FileType("w"),
                    help="write every test report's wanted class, the classes of its first "
                         "5 fixes and their reason, confidence, uses and applicability "
                         "(JSON lines), to study rules offline")
    ap.add_argument("--similar", type=argparse.FileType("w"),
                    help="write each report whose first fix was found by similar text, "
                         "with whether it was right and the words it matched (JSON lines)")
    a = ap.parse_args()

    with lzma.open(DATA, "rt") as f:
        progs = [json.loads(line) for line in f]
    progs.sort(key=lambda p: p["id"])
    if a.limit:
        progs = progs[:a.limit]
    train = [p for p in progs if p["id"] % a.test_every != 0]
    test = [p for p in progs if p["id"] % a.test_every == 0]

    d = Daemon(a.cairn)
    work = os.path.join(d.tmp, "work")
    t0 = time.time()
    try:
        # ---- training: fail, fix, pass ----
        skipped = collections.Counter()
        dir_class = {}
        peer = collections.defaultdict(collections.Counter)

        def train_one(p):
            wd = os.path.join(work, "train", str(p["id"]))
            os.makedirs(wd)
            with open(os.path.join(wd, "prog.c"), "w") as f:
                f.write(p["source"])
            rc, err = run_gcc(d, wd)
            if rc == 0:
                return p, wd, "source compiles with gcc", None
            time.sleep(0.002)
            with open(os.path.join(wd, "prog.c"), "w") as f:
                f.write(p["fixed"])
            rc2, _ = run_gcc(d, wd)
            if rc2 != 0:
                return p, wd, "fixed does not compile with gcc", None
            return p, wd, None, first_error(err)

        with ThreadPoolExecutor(a.jobs) as ex:
            for p, wd, why, ferr in ex.map(train_one, train):
                if why:
                    skipped[why] += 1
                    continue
                dir_class[wd] = p["repair_class"]
                if ferr:
                    peer[ferr][p["repair_class"]] += 1
        d.wait_idle()
        t_train = time.time() - t0
        learned = [e for e in d.query_all("kb.>") if e["data"].get("learned")]
        train_classes = set(dir_class.values())

        # ---- test: fail, read the report ----
        t1 = time.time()
        test_runs = {}

        def test_one(p):
            wd = os.path.join(work, "test", str(p["id"]))
            os.makedirs(wd)
            with open(os.path.join(wd, "prog.c"), "w") as f:
                f.write(p["source"])
            rc, err = run_gcc(d, wd)
            return p, wd, rc, first_error(err)

        with ThreadPoolExecutor(a.jobs) as ex:
            for p, wd, rc, ferr in ex.map(test_one, test):
                if rc == 0:
                    skipped["test source compiles with gcc"] += 1
                    continue
                test_runs[wd] = (p, ferr)
        d.wait_idle()
        t_test = time.time() - t1

        failures = {e["id"]: e for e in d.query_all("build.failed")}
        cwd_of = {fid: e["data"].get("cwd") for fid, e in failures.items()}
        reports = {}
        for e in d.query_all("triage.report"):
            reports[e["correlationid"]] = e["data"]

        # Every class learned with each general signature (cairn's, from the
        # training failures' reports): the most any ranking of the fixes
        # learned for one message can reach.
        by_general = collections.defaultdict(set)
        for fid, e in failures.items():
            c = dir_class.get(cwd_of.get(fid))
            sig = (reports.get(fid) or {}).get("signature") or {}
            if c and sig.get("general"):
                by_general[sig["general"]].add(c)

        def fix_class(fix):
            classes = collections.Counter()
            for src in fix.get("sources") or []:
                c = dir_class.get(cwd_of.get(src))
                if c:
                    classes[c] += 1
            return classes.most_common(1)[0][0] if classes else None

        res = {k: collections.Counter() for k in ("all", "seen")}
        peer_res = {k: collections.Counter() for k in ("all", "seen")}
        no_report = 0
        by_reason = collections.defaultdict(collections.Counter)
        misses = open(a.misses, "w") if a.misses else None
        for fid, e in failures.items():
            wd = cwd_of.get(fid)
            if wd not in test_runs:
                continue
            p, ferr = test_runs[wd]
            rep = reports.get(fid)
            if rep is None:
                no_report += 1
                continue
            want = p["repair_class"]
            got = [fix_class(f) for f in rep.get("fixes", [])]
            cands = [c for c, _ in peer.get(ferr, collections.Counter()).most_common(3)]
            if misses is not None and want in train_classes and want not in got[:3]:
                misses.write(json.dumps({"id": p["id"], "want": want, "got": got[:3],
                                         "signature": (rep.get("signature") or {}).get("exact"),
                                         "fixes": [(f.get("reason"), f.get("fix_key"),
                                                    f.get("confidence"), f.get("applies"))
                                                   for f in rep.get("fixes", [])[:3]]}) + "\n")
            fixes = rep.get("fixes", [])
            if a.reports:
                a.reports.write(json.dumps({"id": p["id"], "want": want, "seen": want in train_classes,
                                            "got": got[:5],
                                            "fixes": [{k: f.get(k) for k in
                                                       ("reason", "confidence", "uses", "applies",
                                                        "fix_key", "state")}
                                                      for f in fixes[:5]]}) + "\n")
            if fixes:
                why = fixes[0].get("reason") or "?"
                by_reason[why]["n"] += 1
                by_reason[why]["right"] += bool(got[0] == want)
                # what a similar-text first fix matched, for calibration
                if why == "similar text" and a.similar:
                    a.similar.write(json.dumps({"right": got[0] == want,
                                                "matched": fixes[0].get("matched"),
                                                "confidence": fixes[0].get("confidence"),
                                                "signature": (rep.get("signature") or {})
                                                .get("general"),
                                                "fix_key": fixes[0].get("fix_key")}) + "\n")
            for part in ("all", "seen"):
                if part == "seen" and want not in train_classes:
                    continue
                res[part]["n"] += 1
                res[part]["top1"] += bool(got[:1] and got[0] == want)
                res[part]["top3"] += want in got[:3]
                res[part]["any"] += bool(got)
                peer_res[part]["n"] += 1
                peer_res[part]["top1"] += bool(cands[:1] and cands[0] == want)
                peer_res[part]["top3"] += want in cands[:3]
                res[part]["reach"] += want in by_general.get(
                    ((rep.get("signature") or {}).get("general")), ())

        def pct(c, k):
            return 100.0 * c[k] / c["n"] if c["n"] else 0.0

        print("tracer: %d programs, %d training (%d classes learned from), %d test" %
              (len(progs), len(dir_class), len(train_classes), len(test_runs)))
        print("tracer: %d learned fix events, training %.0f s, test %.0f s; skipped: %s" %
              (len(learned), t_train, t_test, dict(skipped) or "none"))
        if no_report:
            print("tracer: %d test failures got no report" % no_report)
        print("%-44s %10s %10s   %s" % ("", "cairn", "peer", "peer = lookup of the exact "
                                                           "first gcc error"))
        for part, label in (("all", "all test programs"),
                            ("seen", "repair class seen in training")):
            c, pc = res[part], peer_res[part]
            print("%-44s %9.1f%% %9.1f%%" % ("top-1, %s (n=%d)" % (label, c["n"]),
                                              pct(c, "top1"), pct(pc, "top1")))
            print("%-44s %9.1f%% %9.1f%%" % ("top-3, %s" % label, pct(c, "top3"),
                                              pct(pc, "top3")))
        print("%-44s %9.1f%%" % ("reports with any known fix", pct(res["all"], "any")))
        print("%-44s %9.1f%%   (the class was learned with the same general signature:"
              % ("reachable, repair class seen in training", pct(res["seen"], "reach")))
        print("%-44s %10s   the most any ranking of the fixes for one message can get)" % ("", ""))
        shown = sum(c["n"] for c in by_reason.values())
        right = sum(c["right"] for c in by_reason.values())
        prec = 100.0 * right / shown if shown else 0.0
        print("%-44s %9.1f%%   (%d of %d reports that show a fix first)" %
              ("precision of the first fix", prec, right, shown))
        for why, c in sorted(by_reason.items()):
            print("%-44s %9.1f%%   (%d of %d)" % ("  first fix by %s" % why,
                                                100.0 * c["right"] / c["n"], c["right"], c["n"]))
        seen3 = pct(res["seen"], "top3")
        print("goal: top-3 >= 90%% on classes seen in training: %.1f%% %s "
              "(TEGCER, published: 97.7%% top-3)" % (seen3, "PASS" if seen3 >= 90 else "MISS"))
        print("goal: precision of the first fix >= 90%%: %.1f%% %s" %
              (prec, "PASS" if prec >= 90 else "MISS"))
    finally:
        d.stop()


if __name__ == "__main__":
    sys.exit(main())
