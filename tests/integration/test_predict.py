#!/usr/bin/env python3
"""The prediction service (src/services/predict.c) and `cairn predict files`:
co-change rules learned from git.commit events and from edit bursts in
file.changed events, ranked with recency, kept across a kill -9, each event
learned once."""
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
        # The commit of one file counts (for recency), the one of 40 does not.
        eq(learned(d)[:2], (8, 1), "commits learned / skipped (40 files)")

        rc, out, err = predict(d, "--given", "a.c", "--project", proj, "--json")
        eq(rc, 0, "predict files (%s)" % short(err))
        got = json.loads(out)["predictions"]
        # The files of the last commits (c.c, d.c) are candidates too, below
        # the ones that ever changed with a.c.
        eq([p["path"] for p in got], ["a.h", "b.c", "c.c", "d.c"], "ranked paths")
        check(got[0]["score"] > 0.99 and sum(p["score"] for p in got) <= 1.0 + 1e-9,
              "scores are shares of one distribution: %s" % short(got))
        eq(got[0]["reason"], "changed together with a.c in 4 of 5 commits; changed in the "
           "last commit", "reason")
        eq(got[1]["reason"], "changed together with a.c in 1 of 5 commits; changed 4 commits "
           "ago", "reason")
        eq(got[2]["reason"], "changed 2 commits ago", "reason of a recent file")
        # Paths relative to the current directory work too.
        rc, out, err = d.cli(["predict", "files", "--given", os.path.join(proj, "c.c"),
                              "--project", proj])
        eq(rc, 0, "predict with an absolute path (%s)" % short(err))
        check(out.startswith(" 1.00  d.c  (changed together with c.c in 2 of 2 commits; "
                             "changed 2 commits ago)"),
              "text output: %s" % short(out))

        # A kill -9 and a restart: the model is kept and nothing is learned
        # twice (the host may run the last job again; the service skips a
        # seq it has learned).
        d.kill9()
        d.start()
        time.sleep(0.5)
        rc, out, err = predict(d, "--given", "a.c", "--project", proj, "--json")
        eq(json.loads(out)["predictions"][0]["reason"],
           "changed together with a.c in 4 of 5 commits; changed in the last commit",
           "after a kill -9")
        d.stop()
    finally:
        d.cleanup()


def wait_learned(d, commits=0, file_events=0):
    deadline = time.time() + 30
    while True:
        n_c, n_s, s = learned(d)
        if n_c + n_s >= commits and s.get("file_events", 0) >= file_events:
            return s
        check(time.time() < deadline, "not learned: %s" % short(s))
        time.sleep(0.05)


@T.test
def recent_cochange_ranks_above_old():
    """x.c changed with old.c in 5 commits two years ago and with new.c in 3
    commits lately: new.c comes first, although its confidence (3 of 8) is
    below old.c's (5 of 8), which a plain count ranks first."""
    d = Daemon()
    try:
        proj = os.path.realpath(os.path.join(d.tmp, "proj"))
        os.makedirs(proj)
        day = 86400
        t = 1700000000
        commits = []
        for i in range(5):
            commits.append((t + i * day, ["x.c", "old.c"]))
        t += 730 * day
        for i in range(12):  # other work in between: old.c is not recent
            commits.append((t + i * 3600, ["other%d.c" % i, "y.c"]))
        t += day
        for i in range(3):
            commits.append((t + i * day, ["new.c", "x.c"]))
        with d.conn() as c:
            pub_pipelined(c, [commit(proj, f, tm) for tm, f in commits], ack="durable")
        wait_learned(d, commits=len(commits))
        rc, out, err = predict(d, "--given", "x.c", "--project", proj, "--json")
        eq(rc, 0, "predict files (%s)" % short(err))
        got = json.loads(out)["predictions"]
        eq([p["path"] for p in got[:2]], ["new.c", "old.c"], "recent first: %s" % short(got))
        eq(got[0]["reason"], "changed together with x.c in 3 of 8 commits; changed in the "
           "last commit", "reason")
        eq(got[1]["reason"], "changed together with x.c in 5 of 8 commits", "reason")
        d.stop()
    finally:
        d.cleanup()


def fs_event(project, type_, t, path=None, **data):
    if path:
        data["path"] = path
    e = ev(type_, source="cairn/fswatch", project=project,
           time=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t)), data=data)
    if path:
        e["subject"] = path
    return e


@T.test
def edit_bursts_are_learned_once_and_kept():
    """Files saved less than 10 minutes apart are one edit burst, learned as
    a quarter of a commit; the file events of a git operation (after
    fs.batch) are not edits; a burst still open when the daemon is killed
    is carried on after the restart."""
    d = Daemon()
    try:
        proj = os.path.realpath(os.path.join(d.tmp, "proj"))
        os.makedirs(proj)
        t = 1700000000
        first = [fs_event(proj, "file.changed", t, "p.c", size=1),
                 fs_event(proj, "file.changed", t + 30, "q.c", size=1),
                 fs_event(proj, "file.changed", t + 1000, "p.c", size=1),
                 fs_event(proj, "file.created", t + 1030, "q.c", size=1)]
        later = [fs_event(proj, "file.changed", t + 2000, "q.c", size=1),
                 fs_event(proj, "file.changed", t + 2010, "p.c", size=1),
                 fs_event(proj, "file.changed", t + 3000, "p.c", size=1),
                 fs_event(proj, "file.changed", t + 3020, "r.c", size=1),
                 # A checkout: its two file events follow, and are no edit.
                 fs_event(proj, "fs.batch", t + 4000, reason="git", created=0, changed=2,
                          deleted=0, renamed=0, held_ms=5),
                 fs_event(proj, "file.changed", t + 4001, "p.c", size=1),
                 fs_event(proj, "file.changed", t + 4001, "z.c", size=1),
                 fs_event(proj, "file.changed", t + 5000, "lone.c", size=1)]
        with d.conn() as c:
            pub_pipelined(c, first, ack="durable")
        wait_learned(d, file_events=len(first))
        # The second burst (p.c, q.c at +1000) is open: a kill -9 keeps it.
        d.kill9()
        d.start()
        with d.conn() as c:
            pub_pipelined(c, later, ack="durable")
        s = wait_learned(d, file_events=len(later))
        eq(s.get("bursts_learned"), 3, "bursts learned since the restart (%s)" % short(s))

        rc, out, err = predict(d, "--given", "p.c", "--project", proj, "--json")
        eq(rc, 0, "predict files (%s)" % short(err))
        got = json.loads(out)["predictions"]
        eq([p["path"] for p in got], ["q.c", "r.c"], "ranked paths (z.c: a checkout's)")
        eq(got[0]["reason"], "edited together with p.c in 3 of 4 edit bursts", "reason")
        eq(got[1]["reason"], "edited together with p.c in 1 of 4 edit bursts", "reason")

        # A commit closes the open burst (lone.c alone: not learned) and
        # its rules come first: a commit weighs four bursts.
        with d.conn() as c:
            pub_pipelined(c, [commit(proj, ["p.c", "s.c"], t + 6000)], ack="durable")
        wait_learned(d, commits=1)
        rc, out, err = predict(d, "--given", "p.c", "--project", proj, "--json")
        got = json.loads(out)["predictions"]
        eq(got[0]["path"], "s.c", "the committed pair first: %s" % short(got))
        eq(got[0]["reason"], "changed together with p.c in 1 of 1 commits; changed in the "
           "last commit", "reason")
        check("lone.c" not in [p["path"] for p in got], "a burst of one file is no rule")
        d.stop()
    finally:
        d.cleanup()


@T.test
def model_of_migration_5_carries_over():
    """A database whose model was learned before migration 9 (counts only)
    is migrated when the daemon starts: the counts are kept, the reasons
    say the same, and the next commits are learned on top."""
    import sqlite3
    d = Daemon()
    try:
        proj = os.path.realpath(os.path.join(d.tmp, "proj"))
        os.makedirs(proj)
        d.stop()
        # Back to the schema of migration 5, with a model in it.
        db = sqlite3.connect(d.db_path)
        db.executescript("""
            DROP TABLE sessions; DROP TABLE session_items; DROP TABLE session_learned;
            DROP TABLE session_outbox; DROP TABLE cmd_ctx; DROP TABLE cmd_next;
            DROP TABLE cmd_learned; DROP INDEX failures_open;
            DROP TABLE predict_projects; DROP TABLE predict_bursts;
            DROP INDEX file_changes_no;
            DROP TRIGGER knowledge_files_ai; DROP TRIGGER knowledge_files_ad;
            DROP TRIGGER knowledge_files_au; DROP TABLE knowledge_files;
            ALTER TABLE file_changes DROP COLUMN e; ALTER TABLE file_changes DROP COLUMN w;
            ALTER TABLE file_changes DROP COLUMN no; ALTER TABLE cochange DROP COLUMN e;
            ALTER TABLE cochange DROP COLUMN ws; ALTER TABLE cochange DROP COLUMN a_at;
            PRAGMA user_version = 5;""")
        for path, n in (("m.c", 4), ("m.h", 3), ("n.c", 1)):
            db.execute("INSERT INTO file_changes(project, path, n, last_ms) VALUES (?,?,?,?)",
                       (proj, path, n, 1700000000000))
        for a, b, n in (("m.c", "m.h", 3), ("m.h", "m.c", 3), ("m.c", "n.c", 1),
                        ("n.c", "m.c", 1)):
            db.execute("INSERT INTO cochange(project, a, b, n, last_ms) VALUES (?,?,?,?,?)",
                       (proj, a, b, n, 1700000000000))
        db.commit()
        db.close()
        d.start()
        rc, out, err = predict(d, "--given", "m.c", "--project", proj, "--json")
        eq(rc, 0, "predict files after the migration (%s)" % short(err))
        got = json.loads(out)["predictions"]
        eq([(p["path"], p["reason"]) for p in got],
           [("m.h", "changed together with m.c in 3 of 4 commits"),
            ("n.c", "changed together with m.c in 1 of 4 commits")], "carried over")
        with d.conn() as c:
            pub_pipelined(c, [commit(proj, ["m.c", "n.c"], 1700000100)], ack="durable")
        wait_learned(d, commits=1)
        rc, out, err = predict(d, "--given", "m.c", "--project", proj, "--json")
        got = json.loads(out)["predictions"]
        eq(sorted((p["path"], p["reason"]) for p in got),
           [("m.h", "changed together with m.c in 3 of 5 commits"),
            ("n.c", "changed together with m.c in 2 of 5 commits; changed in the last commit")],
           "learned on top")
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
        rc, out, err = predict(d, "--given", "x.c", "--project", d.tmp)
        eq(rc, 0, "a project the daemon learned nothing of")
        check(out.startswith("no prediction: "), "says there is none: %s" % short(out))
        rc, out, err = predict(d, "--given", "/etc/passwd", "--project", d.tmp)
        eq(rc, 2, "a path outside the project")
        check("is not inside" in err, "names the problem: %s" % short(err))
        d.stop()
    finally:
        d.cleanup()


if __name__ == "__main__":
    T.main()
