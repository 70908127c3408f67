#!/usr/bin/env python3
"""`cairn export` and `cairn import` (src/services/memory.c): a project's
knowledge, sessions and prediction model move to another database (and
another path) and work there; importing twice changes nothing; bad files
are refused with the line."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import (Daemon, Suite, at, check, eq, ev,  # noqa: E402
                      pub_pipelined, short, timed_event, wait_for)

T = Suite(per_test_timeout=180)



e = timed_event



def sessions(d, p):
    rc, out, err = d.cli(["session", "list", "--json", "--project", p])
    eq(rc, 0, "session list (%s)" % short(err))
    return json.loads(out)["sessions"]


@T.test
def a_project_moves_to_another_machine():
    a = Daemon(name="a")
    b = Daemon(name="b")
    try:
        p = os.path.realpath(os.path.join(a.tmp, "proj"))
        os.makedirs(p)
        t = int(time.time()) - 4 * 3600
        evs = [e("git.commit", p, t + i, source="cairn/git", hash="%040x" % i,
                 subject="c%d" % i, files=[{"path": "a.c"}, {"path": "a.h"}])
               for i in range(3)]
        for i, cmd in enumerate(["make", "./a.out"] * 3):
            evs.append(ev("shell.command", source="cairn/shell", time=at(t + 50 + i),
                          data={"command": cmd, "exit": 0, "cwd": p}))
        evs += [e("file.changed", p, t + 100, source="cairn/fswatch", path="a.c"),
                e("file.changed", p, t + 3 * 3600, source="cairn/fswatch", path="b.c")]
        with a.conn() as c:
            pub_pipelined(c, evs, ack="durable")
        rc, out, err = a.cli(["kb", "add", "decision", "Keep a.c table-driven", "--file",
                              "a.c", "--project", p])
        eq(rc, 0, "kb add (%s)" % short(err))
        wait_for(lambda: len(sessions(a, p)) >= 2, "two sessions")
        before = sessions(a, p)
        path = os.path.join(a.tmp, "proj.memory.jsonl")
        rc, out, err = a.cli(["export", path, "--project", p])
        eq(rc, 0, "export (%s)" % short(err))
        with open(path) as f:
            recs = [json.loads(line) for line in f]
        eq(recs[0]["record"], "header", "the header first")
        kinds = sorted(set(r["record"] for r in recs))
        eq(kinds, ["header", "knowledge", "model", "session"], "what is exported")

        # On the other machine the project lives elsewhere.
        q = os.path.realpath(os.path.join(b.tmp, "clone"))
        os.makedirs(q)
        rc, out, err = b.cli(["import", path, "--project", q])
        eq(rc, 0, "import (%s)" % short(err))
        check("imported 1 knowledge entries, %d sessions" % len(before) in out, short(out))
        got = sessions(b, q)
        eq([(s["start"], s["events"]) for s in got], [(s["start"], s["events"]) for s in before],
           "the sessions, under the new path")
        check(all("end" in s for s in got), "imported sessions are ended")
        rc, out, err = b.cli(["session", "show", str(got[-1]["id"]), "--json"])
        eq([f["path"] for f in json.loads(out)["files"]][:2], ["a.c", "a.h"], "items moved")
        rc, out, err = b.cli(["predict", "files", "--given", "a.c", "--project", q, "--json"])
        eq(rc, 0, "predict on the imported model (%s)" % short(err))
        eq(json.loads(out)["predictions"][0]["path"], "a.h", "the model moved")
        rc, out, err = b.cli(["kb", "list", "--project", q, "--json"])
        check("Keep a.c table-driven" in out, "the knowledge moved: %s" % short(out))

        # The user's command model came along (into an empty one).
        rc, out, err = b.cli(["predict", "command", "--after", "make", "--json"])
        eq(rc, 0, "predict command on the imported model (%s)" % short(err))
        eq(json.loads(out)["predictions"][0]["command"], "./a.out", "the command model moved")

        # Twice: nothing changes.
        rc, out, err = b.cli(["import", path, "--project", q])
        eq(rc, 0, "import again (%s)" % short(err))
        check("0 sessions" in out and "already there" in out, short(out))
        eq(len(sessions(b, q)), len(before), "no session twice")
        rc, out, err = b.cli(["predict", "files", "--given", "a.c", "--project", q, "--json"])
        check("in 3 of 3 commits" in out, "counts not doubled: %s" % short(out))
        a.stop()
        b.stop()
    finally:
        a.cleanup()
        b.cleanup()


@T.test
def bad_files_are_refused_with_the_line():
    d = Daemon()
    try:
        bad = os.path.join(d.tmp, "bad.jsonl")
        with open(bad, "w") as f:
            f.write('{"record":"session"}\n')
        rc, out, err = d.cli(["import", bad])
        eq(rc, 2, "no header: refused")
        check("not a cairn memory file" in err and "cairn export" in err, short(err))
        header = {"record": "header", "format": "cairn-memory", "version": 1,
                  "created": "2026-12-03T00:00:00.000Z", "project": "/p"}
        good = {"record": "model", "table": "cochange",
                "row": {"project": "/p", "a": "x", "b": "y", "n": 2, "e": 0, "a_at": 1,
                        "last_ms": 5, "ws": 1.5}}
        with open(bad, "w") as f:
            f.write(json.dumps(header) + "\n")
            f.write(json.dumps(good) + "\n")
            f.write('{"record":"model","table":"passwords","row":{}}\n')
            f.write('{"record":"session","session":{"project":"rel"},"items":[]}\n')
            f.write('not json\n')
        rc, out, err = d.cli(["import", bad])
        eq(rc, 1, "some lines refused (%s)" % short(out))
        for want in ("bad.jsonl:3: unknown model table", "bad.jsonl:4:", "bad.jsonl:5: not JSON"):
            check(want in err, "%r in %s" % (want, short(err)))
        check("1 model rows" in out and "3 lines refused" in out, short(out))
        header["project"] = None
        with open(bad, "w") as f:
            f.write(json.dumps(header) + "\n")
        rc, out, err = d.cli(["import", bad, "--project", d.tmp])
        eq(rc, 2, "--project with an export of every project")
        check("--project needs" in err, short(err))
        d.stop()
    finally:
        d.cleanup()


if __name__ == "__main__":
    sys.exit(T.main())
