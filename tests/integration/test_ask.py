#!/usr/bin/env python3
"""`cairn ask` (src/ask/, src/cli/cmd_ask.c) with the deterministic reasoner,
end to end on a real project: a failing build and why, the fix learned and
found again by a question, a record, what changed, the state of the project,
and the refusals (an empty question, --model while there is none)."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, short, wait_for  # noqa: E402

T = Suite(per_test_timeout=180)

GOOD = "int twice(int v)\n{\n\treturn 2 * v;\n}\n"
BAD = "int twice(int v)\n{\n\treturn 2 * v\n}\n"
MAKEFILE = "all: a.o\n%.o: %.c\n\tgcc -c -Wall -o $@ $<\n"


def git(repo, *args):
    subprocess.run(["git", "-C", repo] + list(args), check=True, capture_output=True,
                   env=dict(os.environ, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.com",
                            GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@example.com"))


def project(d):
    repo = os.path.realpath(os.path.join(d.tmp, "proj"))
    os.makedirs(repo)
    for name, text in (("a.c", GOOD), ("Makefile", MAKEFILE), (".gitignore", "*.o\n")):
        with open(os.path.join(repo, name), "w") as f:
            f.write(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def write(repo, name, text):
    time.sleep(0.05)
    with open(os.path.join(repo, name), "w") as f:
        f.write(text)


def run(d, repo, *cmd):
    return subprocess.run([d.bin, "run", "--"] + list(cmd), cwd=repo, env=d.env(),
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def ask(d, repo, q, *extra):
    rc, out, err = d.cli(["ask", q, "--json", "--project", repo] + list(extra))
    eq(rc, 0, "cairn ask %r (%s)" % (q, short(err)))
    a = json.loads(out)
    eq(a["reasoner"], "deterministic", "the reasoner")
    check(a["tool_calls"] and all("ms" in c and "arguments" in c for c in a["tool_calls"]),
          "tool calls with arguments and times: %s" % short(a))
    return a


@T.test
def a_failure_its_fix_and_the_questions_about_them():
    with Daemon() as d:
        repo = project(d)
        rc, out, err = d.cli(["watch", "add", repo])
        eq(rc, 0, "watch add (%s)" % short(err))
        eq(run(d, repo, "make").returncode, 0, "the clean build")
        write(repo, "a.c", BAD)
        time.sleep(0.3)
        check(run(d, repo, "make").returncode != 0, "the broken build fails")

        def reported():
            with d.conn() as c:
                return c.query_all(pattern="triage.report")
        wait_for(reported, "the triage report")
        a = ask(d, repo, "why did the build fail?")
        eq(a["family"], "why_failed", "family")
        eq(a["tool_calls"][0]["tool"], "last_failure", "tool")
        check("make" in a["answer"] and "a.c" in a["answer"] and "still failing" in a["answer"],
              "the answer names the target, the file, and that it still fails:\n" + a["answer"])
        check(any(s.startswith("event:") for s in a["sources"]), "the failure is a source")

        # The fix is learned from the next pass, and a question finds it.
        write(repo, "a.c", GOOD)
        time.sleep(0.3)
        eq(run(d, repo, "make").returncode, 0, "the fixed build")

        def learned():
            with d.conn() as c:
                return [e for e in c.query_all(pattern="kb.>")
                        if e["data"].get("learned") is True]
        wait_for(learned, "a learned fix")
        # cairn failures: the one failure, resolved by the pass, with its fix.
        def resolved():
            rc, out, err = d.cli(["failures", "--json", "--project", repo])
            eq(rc, 0, "cairn failures (%s)" % short(err))
            fs = json.loads(out)["failures"]
            return fs if fs and fs[0]["state"] == "resolved" and "fix" in fs[0] else None
        fs = wait_for(resolved, "the failure resolved with its fix")
        eq(len(fs), 1, "one failure: %s" % short(fs))
        eq(fs[0]["target"], "make", "its target")
        check("expected" in fs[0]["message"], "its first error: %s" % short(fs[0]))
        rc, out, err = d.cli(["failures", "--since", "today", "--project", repo])
        check("resolved" in out and "fixed: #" in out, "the human line: " + out)
        # cairn why marks it resolved, and by what.
        r = subprocess.run([d.bin, "why"], cwd=repo, env=d.env(), capture_output=True, text=True)
        check("Resolved: build.passed" in r.stdout and "fix learned: #" in r.stdout,
              "cairn why says it was resolved: " + r.stdout)
        rc, out, err = d.cli(["failures", "--since", "tomorrow", "--project", repo])
        eq(rc, 2, "a bad --since is refused")
        a = ask(d, repo, "how did we fix \"expected ';' before '}' token\" last time?")
        eq(a["family"], "how_fixed", "family")
        eq(a["tool_calls"][0]["arguments"].get("kind"), "fix", "the search is for fixes")
        check("a.c" in a["answer"] and "kb:" in " ".join(a["sources"]),
              "the learned fix is the answer:\n" + a["answer"])

        # A record, then a search finds it; what changed shows the builds.
        a = ask(d, repo, "remember that we build with -Wall and fix every warning")
        eq(a["family"], "record", "family")
        check(a["answer"].startswith("Recorded note #"), a["answer"])
        a = ask(d, repo, "what do we know about warnings?")
        check("fix every warning" in a["answer"], "the note is found:\n" + a["answer"])
        a = ask(d, repo, "what happened in the last hour")
        eq(a["family"], "changed", "family")
        check("build.failed" in a["answer"] and "build.passed" in a["answer"],
              "the builds are in what changed:\n" + a["answer"])
        a = ask(d, repo, "is everything healthy?")
        eq(a["tool_calls"][0]["tool"], "project_state", "tool")
        check("On branch main" in a["answer"] and "Nothing is failing" in a["answer"],
              "the state:\n" + a["answer"])


@T.test
def refusals_say_what_to_do():
    with Daemon() as d:
        repo = project(d)
        rc, out, err = d.cli(["ask", "   ", "--project", repo])
        eq(rc, 2, "an empty question is refused")
        check("empty" in err, short(err))
        rc, out, err = d.cli(["ask", "--project", repo])
        eq(rc, 2, "no question")
        check("QUESTION" in err, short(err))
        rc, out, err = d.cli(["ask", "x" * 5000, "--project", repo])
        eq(rc, 2, "an oversized question is refused")
        check("over the" in err, short(err))


@T.test
def works_with_the_daemon_down():
    d = Daemon(start=False)
    try:
        repo = project(d)
        rc, out, err = d.cli(["ask", "what's next?", "--json", "--project", repo])
        eq(rc, 0, "ask with no daemon and no log (%s)" % short(err))
        a = json.loads(out)
        eq(a["family"], "next", "family")
        check("No file prediction yet" in a["answer"] or "No command prediction" in a["answer"],
              "a new user's answer says what is missing:\n" + a["answer"])
    finally:
        d.cleanup()


if __name__ == "__main__":
    sys.exit(T.main())
