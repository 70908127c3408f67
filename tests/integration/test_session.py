#!/usr/bin/env python3
"""The session service (src/services/session.c) and `cairn session`: sessions
start with the first activity after a quiet gap and end after it, or
explicitly; agent sessions come from agent.started/agent.ended; what happened
is kept per session; a kill -9 changes nothing."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import (Daemon, Suite, at, check, eq, ev,  # noqa: E402
                      pub_pipelined, short, timed_event, wait_for)

T = Suite(per_test_timeout=120)

# Event times are the events' own: the first test's history ends a minute ago,
# so that the daemon's own events (at the wall clock) do not end its last
# session.
T0 = int(time.time()) - 800 - 31 * 60 - 60



e = timed_event


def session_events(d, since=0):
    with d.conn() as c:
        return [m for m in c.query_all(pattern="session.*")
                if m["seq"] > since]


def sessions(d, *args):
    rc, out, err = d.cli(["session", "list", "--json"] + list(args))
    eq(rc, 0, "session list (%s)" % short(err))
    return json.loads(out)["sessions"]


def show(d, *args):
    rc, out, err = d.cli(["session", "show", "--json"] + list(args))
    eq(rc, 0, "session show (%s)" % short(err))
    return json.loads(out)



@T.test
def gaps_split_sessions_and_the_record_holds_what_happened():
    d = Daemon(env={"CAIRN_SESSION_GAP": "30m"})
    try:
        p = os.path.realpath(os.path.join(d.tmp, "proj"))
        q = os.path.realpath(os.path.join(d.tmp, "other"))
        os.makedirs(p)
        os.makedirs(q)
        events = [
            e("file.changed", p, T0, source="cairn/fswatch", path="src/a.c"),
            e("file.changed", p, T0 + 60, source="cairn/fswatch", path="src/a.c"),
            e("file.changed", p, T0 + 120, source="cairn/fswatch", path="src/b.c"),
            e("build.failed", p, T0 + 130, source="cairn/run", target="make",
              git={"branch": "main"}, exit=2),
            e("shell.command", None, T0 + 140, source="cairn/shell", command="make",
              cwd=p + "/src", exit=2),
            e("file.changed", q, T0 + 150, source="cairn/fswatch", path="x.py"),
            e("git.commit", p, T0 + 600, source="cairn/git", hash="ab" * 20,
              branch="main", subject="Fix the parser",
              files=[{"path": "src/a.c", "status": "M"}]),
            e("build.passed", p, T0 + 700, source="cairn/run", target="make", exit=0),
            e("kb.added", p, T0 + 800, source="cairn/kb", id=1, uid="U1", kind="decision",
              title="Parse with a table"),
            # 31 minutes quiet, then activity again: a new session
            e("file.changed", p, T0 + 800 + 31 * 60, source="cairn/fswatch", path="src/c.c"),
        ]
        with d.conn() as c:
            pub_pipelined(c, events, ack="durable")
        wait_for(lambda: len(sessions(d, "--project", p)) == 2, "two sessions in p")
        ss = sessions(d, "--project", p)
        old, new = ss[1], ss[0]
        eq(old["start"], at(T0)[:-5] + ".000Z", "first session starts at its first event")
        eq(old["end"], at(T0 + 800)[:-5] + ".000Z", "ends at its last activity")
        eq(old["ended_by"], "gap", "ended by the gap")
        eq(old["events"], 8, "events of the first session (the other project's not)")
        check("end" not in new, "the second session is open: %s" % short(new))
        rec = show(d, str(old["id"]))
        eq([(f["path"], f["n"]) for f in rec["files"]],
           [("src/a.c", 3), ("src/b.c", 1)], "files changed most (edits and commits)")
        eq(rec["branches"], ["main"], "branches")
        eq([(t["target"], t["state"], t["runs"]) for t in rec["targets"]],
           [("make", "passed", 2)], "targets and their last state")
        eq([(c["hash"], c["subject"]) for c in rec["commits"]],
           [("ab" * 20, "Fix the parser")], "commits")
        eq([(k["what"], k["title"]) for k in rec["knowledge"]],
           [("added", "Parse with a table")], "knowledge recorded")
        eq([(c["command"], c["n"], c["exit"]) for c in rec["commands"]],
           [("make", 1, 2)], "commands (placed by their cwd)")
        others = sessions(d, "--project", q)
        eq(len(others), 1, "the other project has its own session")
        # The events: started x3 (p, q, p again), ended x2 (p by the gap, q too).
        evs = session_events(d)
        kinds = [(m["type"], m["project"]) for m in evs]
        eq(kinds.count(("session.started", p)), 2, "session.started in p: %s" % kinds)
        eq(kinds.count(("session.ended", p)), 1, "session.ended in p")
        ended = [m for m in evs if m["type"] == "session.ended" and m["project"] == p][0]
        eq(ended["data"]["ended_by"], "gap", "session.ended says why")
        eq(ended["time"], at(T0 + 800 + 31 * 60)[:-5] + ".000Z",
           "logged at the event that showed the gap (its own time)")

        # Text output names the parts.
        rc, out, err = d.cli(["session", "show", str(old["id"])])
        eq(rc, 0, "show text (%s)" % short(err))
        for want in ("files changed:", "src/a.c (3)", "targets:", "make: passed",
                     "Fix the parser", "Parse with a table"):
            check(want in out, "%r in %s" % (want, short(out)))

        # A kill -9 and a restart change nothing: no session made twice.
        n_before = len(session_events(d))
        d.kill9()
        d.start()
        time.sleep(1.0)
        eq(len(sessions(d, "--all")), 3, "sessions after a kill -9")
        eq(len(session_events(d)), n_before, "no session event published twice")
        d.stop()
    finally:
        d.cleanup()


@T.test
def explicit_start_and_end():
    d = Daemon()
    try:
        p = os.path.realpath(os.path.join(d.tmp, "proj"))
        os.makedirs(p)
        now = int(time.time())
        with d.conn() as c:
            pub_pipelined(c, [e("file.changed", p, now, source="cairn/fswatch", path="a")],
                          ack="durable")
        wait_for(lambda: len(sessions(d, "--project", p)) == 1, "a session")
        rc, out, err = d.cli(["session", "start", "--note", "try the table parser",
                              "--project", p])
        eq(rc, 0, "session start (%s)" % short(err))
        wait_for(lambda: len(sessions(d, "--project", p)) == 2, "a second session")
        ss = sessions(d, "--project", p)
        eq(ss[1]["ended_by"], "replaced", "start ends the open one")
        eq(ss[0]["note"], "try the table parser", "the note is kept")
        rc, out, err = d.cli(["session", "end", "--note", "parser done", "--project", p])
        eq(rc, 0, "session end (%s)" % short(err))
        wait_for(lambda: "end" in sessions(d, "--project", p)[0], "the end")
        s = sessions(d, "--project", p)[0]
        eq((s["ended_by"], s["end_note"]), ("explicit", "parser done"), "ended explicitly")
        # Usage errors.
        rc, out, err = d.cli(["session", "show", "nope"])
        eq(rc, 2, "show with a bad id")
        rc, out, err = d.cli(["session", "show", "999", "--project", p])
        eq(rc, 1, "show an unknown session")
        check("no session 999" in err, short(err))
        rc, out, err = d.cli(["session", "list", "--note", "x"])
        eq(rc, 2, "--note with list")
        d.stop()
    finally:
        d.cleanup()


@T.test
def agent_sessions_are_their_own():
    d = Daemon()
    try:
        p = os.path.realpath(os.path.join(d.tmp, "proj"))
        os.makedirs(p)
        now = int(time.time()) - 600
        evs = [
            e("agent.started", p, now, source="cairn/claude", agent="claude",
              session_id="s-1", cwd=p),
            e("file.changed", p, now + 10, source="cairn/fswatch", path="x.c"),
            e("agent.started", p, now + 20, source="cairn/claude", agent="claude",
              session_id="s-1", cwd=p),  # resume: the same session
            e("agent.ended", p, now + 30, source="cairn/claude", agent="claude",
              session_id="s-1", reason="exit", cwd=p),
        ]
        with d.conn() as c:
            pub_pipelined(c, evs, ack="durable")
        wait_for(lambda: any(s.get("agent") and "end" in s
                             for s in sessions(d, "--project", p)), "the agent's end")
        ss = sessions(d, "--project", p)
        agent = [s for s in ss if s.get("agent")]
        eq(len(agent), 1, "one agent session (resume is the same): %s" % short(ss))
        a = agent[0]
        eq((a["agent"], a["agent_session"], a["ended_by"], a["end_note"]),
           ("claude", "s-1", "agent", "exit"), "agent session fields")
        rec = show(d, str(a["id"]))
        eq([f["path"] for f in rec["files"]], ["x.c"], "activity went to the agent's session")
        eq([s for s in ss if not s.get("agent")], [], "no person's session opened meanwhile")
        d.stop()
    finally:
        d.cleanup()


@T.test
def predict_files_without_given_uses_the_session_focus():
    d = Daemon()
    try:
        p = os.path.realpath(os.path.join(d.tmp, "proj"))
        os.makedirs(p)
        rc, out, err = d.cli(["predict", "files", "--project", p])
        eq(rc, 2, "no session yet (%s)" % short(out))
        check("give --given" in err, short(err))
        now = int(time.time()) - 300
        # History, in an earlier session; the current one edits a.c.
        old = now - 7200
        evs = [e("git.commit", p, old + i, source="cairn/git", hash="%040x" % i,
                 files=[{"path": "a.c"}, {"path": "a.h"}]) for i in range(3)]
        evs += [e("git.commit", p, old + 5, source="cairn/git", hash="f" * 40,
                  files=[{"path": "b.c"}, {"path": "b.h"}])]
        evs += [e("file.changed", p, now + 10 + i, source="cairn/fswatch", path="a.c")
                for i in range(3)]
        with d.conn() as c:
            pub_pipelined(c, evs, ack="durable")

        def predicted():
            rc, out, err = d.cli(["predict", "files", "--project", p, "--json"])
            return rc == 0 and json.loads(out)["predictions"]
        got = wait_for(predicted, "a prediction from the focus")
        eq(got[0]["path"], "a.h", "predicted from the session's focus (a.c): %s" % short(got))
        rc, out, err = d.cli(["predict", "files", "--project", p])
        check(out.startswith("from the focus of session "), short(out))
        d.stop()
    finally:
        d.cleanup()


@T.test
def gap_setting_is_checked():
    d = Daemon(env={"CAIRN_SESSION_GAP": "0"}, start=False)
    try:
        rc, out, err = d.cli(["status", "--config"])
        check(rc != 0 and "session.gap" in err or "CAIRN_SESSION_GAP" in err,
              "a zero gap is refused: %s" % short(err))
    finally:
        d.cleanup()


if __name__ == "__main__":
    sys.exit(T.main())
