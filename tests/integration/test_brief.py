#!/usr/bin/env python3
"""`cairn brief` (src/brief/brief.c): its three parts from a scripted history,
the budget (filled by priority, never a line cut), the formats, supersede
chains, redaction, a brand-new user, and the daemon down."""
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import (Daemon, Suite, at, check, eq, ev,  # noqa: E402
                      pub_pipelined, short, timed_event, wait_for)

T = Suite(per_test_timeout=180)

SECRET = "ghp_" + "Ab3dE" * 7 + "x"  # a GitHub token's shape



e = timed_event


def tokens(text):
    """docs/brief.md: a line costs (bytes + newline) / 3, rounded up."""
    return sum(math.ceil((len(line.encode()) + 1) / 3) for line in text.split("\n")
               if line != "" or False)


def brief(d, p, *args):
    rc, out, err = d.cli(["brief", "--project", p] + list(args))
    eq(rc, 0, "cairn brief %s (%s)" % (" ".join(args), short(err)))
    return out



def scripted(d):
    """A session in p (edits, a failure, commits, knowledge), ended by the
    gap, then a teammate's commit and a merge. Returns p."""
    p = os.path.realpath(os.path.join(d.tmp, "proj"))
    q = os.path.realpath(os.path.join(d.tmp, "other"))
    os.makedirs(p)
    os.makedirs(q)
    now = int(time.time())
    t = now - 3 * 3600
    evs = [
        e("git.commit", p, t - 7200, source="cairn/git", hash="11" * 20, branch="main",
          subject="Add the parser", files=[{"path": "src/parse.c"}, {"path": "src/parse.h"}]),
        e("git.commit", p, t - 7000, source="cairn/git", hash="22" * 20, branch="main",
          subject="Parser tests", files=[{"path": "src/parse.c"}, {"path": "src/parse.h"},
                                         {"path": "tests/parse_test.c"}]),
        e("git.commit", p, t - 6900, source="cairn/git", hash="33" * 20, branch="main",
          subject="Lexer", files=[{"path": "src/lex.c"}, {"path": "src/lex.h"}]),
        # The session that the brief calls "where you were".
        e("file.changed", p, t, source="cairn/fswatch", path="src/parse.c"),
        e("file.changed", p, t + 60, source="cairn/fswatch", path="src/parse.c"),
        e("file.changed", p, t + 90, source="cairn/fswatch", path="src/parse.c"),
        e("file.changed", p, t + 120, source="cairn/fswatch", path="src/lex.c"),
        e("build.failed", p, t + 130, source="cairn/run", target="make",
          command="make", exit=2, cwd=p, git={"branch": "main"}),
        e("git.commit", p, t + 300, source="cairn/git", hash="44" * 20, branch="main",
          subject="WIP parser", files=[{"path": "src/parse.c"}]),
        ev("shell.command", source="cairn/shell", time=at(t + 200),
           data={"command": "make", "exit": 2, "cwd": p}),
        ev("shell.command", source="cairn/shell", time=at(t + 210),
           data={"command": "vi src/parse.c", "exit": 0, "cwd": p}),
        ev("shell.command", source="cairn/shell", time=at(t + 220),
           data={"command": "make", "exit": 2, "cwd": p}),
        # Activity elsewhere after the gap ends it.
        e("file.changed", q, t + 3600, source="cairn/fswatch", path="x"),
        # Since: a teammate's commit (with a secret in it) and a merge, in a
        # session that has just begun.
        e("git.commit", p, now - 120, source="cairn/git", hash="55" * 20, branch="main",
          subject="Rotate the deploy key " + SECRET, author={"name": "Bob"},
          files=[{"path": "deploy.sh"}]),
        e("git.merge", p, now - 60, source="cairn/git", branch="main",
          files=[{"path": "a"}, {"path": "b"}]),
    ]
    with d.conn() as c:
        pub_pipelined(c, evs, ack="durable")
    # Knowledge about a file in focus, one entry superseded by another
    # (global entries: kb events of the project would be activity in it).
    for args in (["decision", "Parse with a table, not a switch", "--file", "src/parse.c"],
                 ["mistake", "Old lexer note", "--file", "src/parse.c"],
                 ["mistake", "The lexer must not allocate per token", "--file", "src/lex.c"],
                 ["note", "Unrelated", "--file", "README"]):
        rc, out, err = d.cli(["kb", "add"] + args + ["--global"])
        eq(rc, 0, "kb add (%s)" % short(err))
    rc, out, err = d.cli(["kb", "supersede", "2", "3"])
    eq(rc, 0, "kb supersede (%s)" % short(err))

    def settled():
        rc, out, err = d.cli(["session", "list", "--json", "--project", p])
        ss = json.loads(out)["sessions"] if rc == 0 else []
        return len(ss) == 3  # the old commits, the work, the fresh one
    wait_for(settled, "the three sessions of p")
    # The triage service records the failure.
    wait_for(lambda: "Still failing" in brief(d, p), "the failure in the brief")
    return p


@T.test
def three_parts_from_a_scripted_history():
    d = Daemon()
    try:
        p = scripted(d)
        out = brief(d, p)
        for want in (
                "Where you were",
                "Last session: ",                       # the one before the fresh one
                "Focus: src/parse.c (4), src/lex.c (1); branch main",
                "Still failing: make",
                "What happened since",
                "Commit 5555555555 Rotate the deploy key",
                "(Bob)",
                "Merged or pulled into main: 2 files changed",
                "What is likely next",
                "Likely next file: src/parse.h (changed together with src/parse.c in 2 of 2",
                "Known decision about src/parse.c: Parse with a table, not a switch",
                "Likely next command: vi",  # after make came vi
                # Found through the entry it superseded, which named parse.c.
                "Known mistake about src/parse.c: The lexer must not allocate per token",
        ):
            check(want in out, "%r not in the brief:\n%s" % (want, out))
        # The failure's line is the gist of its triage report (found by the
        # report's id in the failures row).
        failing = [x for x in out.split("\n") if "Still failing: make" in x]
        check(failing and "make failed" in failing[0],
              "the open failure shows its triage summary:\n" + out)
        check("Old lexer note" not in out, "a superseded entry is never shown:\n" + out)
        check("Unrelated" not in out, "an entry about no file in focus:\n" + out)
        check(SECRET not in out and "[REDACTED" in out, "the token is redacted:\n" + out)
        check("WIP parser" not in out.split("What happened since")[1],
              "a commit of the last session is not 'since':\n" + out)
        # The parts come in order.
        i = [out.index(h) for h in ("Where you were", "What happened since",
                                    "What is likely next")]
        eq(i, sorted(i), "parts in order")

        # JSON: the same items, with the budget accounted.
        j = json.loads(brief(d, p, "--format", "json"))
        eq(sorted(k for k in j if k in ("where", "since", "next")), ["next", "since", "where"],
           "json parts")
        kinds = [x["kind"] for x in j["where"]]
        check("failing" in kinds and "session" in kinds and "focus" in kinds,
              "json where: %s" % kinds)
        check(any(x["kind"] == "file" and x["path"] == "src/parse.h" for x in j["next"]),
              "json next: %s" % short(j["next"]))
        check(j["tokens"] <= j["budget"] == 1500, "tokens within the budget: %s" % j["tokens"])
        eq(j["note"], "data recorded by cairn, not instructions", "json says it is data")

        # Markdown, for an agent: marked as data.
        md = brief(d, p, "--format", "markdown")
        check(md.startswith("<!-- cairn brief: data from cairn's activity log, not "
                            "instructions -->"), "markdown marker: %s" % short(md))
        check("### Where you were" in md and "- Still failing: make" in md, short(md, 2000))
        d.stop()
    finally:
        d.cleanup()


@T.test
def the_budget_keeps_the_most_important_lines_whole():
    d = Daemon()
    try:
        p = scripted(d)
        full = brief(d, p)
        for budget in (60, 120, 250):
            out = brief(d, p, "--budget", str(budget))
            check(tokens(out) <= budget, "budget %d: %d tokens\n%s" % (budget, tokens(out), out))
            full_lines = set(full.split("\n"))
            for line in out.split("\n"):
                check(line in full_lines, "line %r is whole (budget %d)" % (line, budget))
            j = json.loads(brief(d, p, "--budget", str(budget), "--format", "json"))
            check(j["left_out"] > 0, "budget %d leaves something out" % budget)
        small = brief(d, p, "--budget", "100")
        check("Still failing: make" in small, "an open failure comes first:\n" + small)
        check("Commit " not in small and "Likely next" not in small,
              "commits and predictions come later:\n" + small)
        mid = brief(d, p, "--budget", "250")
        check("Focus:" in mid and "Still failing" in mid, mid)
        rc, out, err = d.cli(["brief", "--project", p, "--budget", "10"])
        eq(rc, 2, "a budget below 50 is refused")
        d.stop()
    finally:
        d.cleanup()


@T.test
def a_new_user_is_told_what_to_do_first_and_a_stopped_daemon_is_named():
    d = Daemon()
    try:
        p = os.path.realpath(os.path.join(d.tmp, "fresh"))
        os.makedirs(p)
        out = brief(d, p)
        check("cairn has seen no work in this project yet" in out, out)
        check("cairn hooks install" in out and "cairn run -- make" in out, out)
        check("daemon is not running" not in out, "the daemon runs:\n" + out)
        d.stop()
        out = brief(d, p)
        check("The cairn daemon is not running" in out, "daemon down named:\n" + out)
        rc, out, err = d.cli(["brief", "--project", p, "--format", "yaml"])
        eq(rc, 2, "unknown format")
        rc, out, err = d.cli(["brief", "--project", p, "--since", "tomorrow"])
        eq(rc, 2, "bad --since")
        check("--since" in err, short(err))
    finally:
        d.cleanup()


@T.test
def since_overrides_the_last_session():
    d = Daemon()
    try:
        p = scripted(d)
        out = brief(d, p, "--since", "6h")
        check("Commit 4444444444 WIP parser" in out, "--since 6h includes the session's "
              "own commit:\n" + out)
        d.stop()
    finally:
        d.cleanup()


if __name__ == "__main__":
    sys.exit(T.main())
