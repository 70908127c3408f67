#!/usr/bin/env python3
"""The prediction service (src/services/predict.c) and `cairn predict files`:
co-change rules learned from git.commit events, kept across a kill -9, each
commit learned once."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, ev, pub_pipelined, short  # noqa: E402

T = Suite(per_test_timeout=120)


def commit(project, files, t):
    return ev("git.commit", source="cairn/git", project=project,
              time=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t)),
              data={"hash": "%040x" % t, "files": [{"path": p, "status": "M"} for p in files]})


def learned(d):
    with d.conn() as c:
        s = c.status()["services"]["predict"]
    return s.get("commits_learned", 0), s.get("commits_skipped", 0), s


def predict(d, *args):
    rc, out, err = d.cli(["predict", "files"] + list(args))
    return rc, out, err


@T.test
def cochange_rules_learned_once_and_kept():
    d = Daemon()
    try:
        proj = os.path.realpath(os.path.join(d.tmp, "proj"))
        os.makedirs(proj)
        t0 = 1700000000
        commits = ([["a.c", "a.h"]] * 3 + [["a.c", "b.c"]] + [["c.c", "d.c"]] * 2 +
                   [["a.c"]] + [["big%d.c" % i for i in range(40)]] +
                   [["a.c", "a.c", "a.h"]])  # a path twice counts once
        with d.conn() as c:
            pub_pipelined(c, [commit(proj, f, t0 + i) for i, f in enumerate(commits)],
                          ack="durable")
        deadline = time.time() + 20
        while learned(d)[0] + learned(d)[1] < len(commits):
            check(time.time() < deadline, "not learned: %s" % short(learned(d)[2]))
            time.sleep(0.1)
        eq(learned(d)[:2], (7, 2), "commits learned / skipped (1 file, 40 files)")

        rc, out, err = predict(d, "--given", "a.c", "--project", proj, "--json")
        eq(rc, 0, "predict files (%s)" % short(err))
        got = json.loads(out)["predictions"]
        eq([p["path"] for p in got], ["a.h", "b.c"], "ranked paths")
        eq(round(got[0]["score"], 3), 0.8, "P(a.h | a.c) = 4 of 5")
        eq(got[0]["reason"], "changed together with a.c in 4 of 5 commits", "reason")
        # Paths relative to the current directory work too.
        rc, out, err = d.cli(["predict", "files", "--given", os.path.join(proj, "c.c"),
                              "--project", proj])
        eq(rc, 0, "predict with an absolute path (%s)" % short(err))
        check(out.startswith(" 1.00  d.c  (changed together with c.c in 2 of 2 commits)"),
              "text output: %s" % short(out))

        # A kill -9 and a restart: the model is kept and nothing is learned
        # twice (the host may run the last job again; the service skips a
        # seq it has learned).
        d.kill9()
        d.start()
        time.sleep(0.5)
        rc, out, err = predict(d, "--given", "a.c", "--project", proj, "--json")
        eq(json.loads(out)["predictions"][0]["reason"],
           "changed together with a.c in 4 of 5 commits", "after a kill -9")
        d.stop()
    finally:
        d.cleanup()


@T.test
def usage_errors_say_what_is_missing():
    d = Daemon()
    try:
        rc, out, err = predict(d, "--project", d.tmp)
        eq(rc, 2, "without --given and no session yet")
        check("--given" in err and "no session" in err, "says what to do: %s" % short(err))
        rc, out, err = predict(d, "--given", "/etc/passwd", "--project", d.tmp)
        eq(rc, 2, "a path outside the project")
        check("is not inside" in err, "names the problem: %s" % short(err))
        d.stop()
    finally:
        d.cleanup()


if __name__ == "__main__":
    T.main()
