#!/usr/bin/env python3
"""Failure triage and fix learning, end to end with the real daemon: a small
C project breaks through `cairn run make`, is fixed, then breaks the same
way in another file; the second report shows the learned fix first and the
edited file as the top suspect. Also `cairn why`, `cairn triage FILE|-`,
rejection of a learned fix, and recurrence raising its confidence."""

import json
import os
import pty
import select
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, short  # noqa: E402

T = Suite(per_test_timeout=180)

A_C = """#include "util.h"

int alpha(int x)
{
\tint y = twice(x);
\treturn y + 1;
}
"""

B_C = """#include "util.h"

int beta(int count)
{
\tint total = 0;
\tfor (int i = 0; i < count; i++)
\t\ttotal += twice(i);
\treturn total;
}
"""

UTIL_H = """#ifndef UTIL_H
#define UTIL_H
static inline int twice(int v) { return 2 * v; }
#endif
"""

MAKEFILE = """all: a.o b.o
%.o: %.c util.h
\tgcc -c -Wall -o $@ $<
clean:
\trm -f *.o
"""


def git(repo, *args):
    subprocess.run(["git", "-C", repo] + list(args), check=True, capture_output=True,
                   env=dict(os.environ, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.com",
                            GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@example.com"))


def make_project(d):
    repo = os.path.join(d.tmp, "proj")
    os.makedirs(repo)
    for name, text in (("a.c", A_C), ("b.c", B_C), ("util.h", UTIL_H), ("Makefile", MAKEFILE)):
        with open(os.path.join(repo, name), "w") as f:
            f.write(text)
    with open(os.path.join(repo, ".gitignore"), "w") as f:
        f.write("*.o\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def write(repo, name, text):
    # Make sure the change gets a later mtime than the last build.
    time.sleep(0.02)
    with open(os.path.join(repo, name), "w") as f:
        f.write(text)


def cairn_run(d, repo, *cmd):
    # As a person runs it: not under an outer make (`make check` exports
    # MAKEFLAGS, which may hold --no-print-directory).
    env = {k: v for k, v in d.env().items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    r = subprocess.run([d.bin, "run", "--"] + list(cmd), cwd=repo, env=env,
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    return r


def cairn_run_tty(d, repo, *cmd):
    """Runs `cairn run` with stdout and stderr on a terminal; returns (exit
    status, everything it printed)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([d.bin, "run", "--"] + list(cmd), cwd=repo, env=d.env(),
                         stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 30)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(timeout=30), out.decode("utf-8", "replace")


def wait_event(d, pattern, pred, timeout=20.0, what="event"):
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        with d.conn() as c:
            seen = c.query_all(pattern=pattern)
        for e in seen:
            if pred(e):
                return e
        time.sleep(0.1)
    raise AssertionError("no %s arrived within %.0fs; saw %s\n%s" %
                         (what, timeout, short(seen, 1500), d.dump_log()))


def last_failure(d):
    with d.conn() as c:
        c.wait_committed()
        evs = c.query_all(pattern="build.failed")
    check(evs, "a build.failed was logged")
    return evs[-1]


def report_for(d, failure):
    return wait_event(d, "triage.report",
                      lambda e: e.get("correlationid") == failure["id"],
                      what="triage.report for %s" % failure["id"])


def settle(d):
    """Lets the watcher report the last edits before the next build."""
    time.sleep(0.3)


@T.test
def learns_a_fix_and_offers_it_for_the_same_error_elsewhere():
    with Daemon() as d:
        repo = make_project(d)
        rc, out, err = d.cli(["watch", "add", repo])
        eq(rc, 0, "watch add (%s)" % short(err))
        eq(cairn_run(d, repo, "make").returncode, 0, "the clean build passes")

        # 1. a.c loses a semicolon: the build fails.
        write(repo, "a.c", A_C.replace("int y = twice(x);", "int y = twice(x)"))
        settle(d)
        r = cairn_run(d, repo, "make")
        check(r.returncode != 0, "the broken build fails")
        f1 = last_failure(d)
        rep1 = report_for(d, f1)["data"]
        sig1 = rep1["signature"]
        check(sig1 and sig1["exact"], "the report has a signature: %s" % short(rep1))
        check("a.c" not in sig1["exact"] and not any(ch.isdigit() for ch in sig1["exact"]),
              "the signature has no file name or numbers: %r" % sig1["exact"])
        texts = [ln["text"] for ln in rep1["excerpt"]["lines"]]
        check(any("error" in t and "a.c" in t for t in texts),
              "the excerpt shows the compiler error: %s" % short(texts))
        check(len(texts) <= 50, "the excerpt is within 50 lines")
        eq(rep1["fixes"], [], "no fix is known yet")
        check(rep1["suspects"], "there are suspects: %s" % short(rep1))
        eq(rep1["suspects"][0]["path"], "a.c", "the edited file is the top suspect")
        check(rep1["summary"], "there is a summary")

        # 2. Fixed: the pass teaches cairn the fix.
        write(repo, "a.c", A_C)
        settle(d)
        eq(cairn_run(d, repo, "make").returncode, 0, "the fixed build passes")
        learned = wait_event(d, "kb.>", lambda e: e["data"].get("learned") is True,
                             what="a learned fix")["data"]
        eq(learned["files"], ["a.c"], "the fix changed a.c")
        check("+ ;" in (learned.get("fix_key") or ""),
              "the fix's shape says a ';' was added: %r" % learned.get("fix_key"))
        fix_id = learned["id"]
        rc, out, err = d.cli(["kb", "show", str(fix_id)])
        eq(rc, 0, "kb show the learned fix (%s)" % short(err))
        check("twice(x);" in out and "a.c" in out,
              "the learned fix holds the diff: %s" % short(out))

        # 3. The same mistake in b.c, other names, other line; util.h (which
        # b.c includes) and the Makefile were edited too, before b.c.
        write(repo, "Makefile", MAKEFILE + "# touched\n")
        write(repo, "util.h", UTIL_H + "/* touched */\n")
        write(repo, "b.c", B_C.replace("int total = 0;", "int total = 0"))
        settle(d)
        rc, shown = cairn_run_tty(d, repo, "make")
        check(rc != 0, "b.c breaks the build")
        # At a terminal, cairn run prints a hint from the report under the
        # output (its form: test_run_pty.py).
        check("cairn: known fix: " in shown and "cairn why" in shown,
              "the triage hint follows the failure on a terminal: %s" % short(shown, 2000))
        f2 = last_failure(d)
        check(f2["id"] != f1["id"], "a new failure")
        rep2 = report_for(d, f2)["data"]
        check(rep2["fixes"], "the second report knows a fix: %s" % short(rep2))
        top = rep2["fixes"][0]
        eq(top["id"], fix_id, "the learned fix comes first")
        check(top["learned"], "it is marked as learned")
        check(top["reason"].startswith("same error"), "it matched on the signature: %r" %
              top["reason"])
        eq(rep2["suspects"][0]["path"], "b.c", "the edited file is the top suspect")
        eq([x["path"] for x in rep2["suspects"]][:3], ["b.c", "util.h", "Makefile"],
           "then the header it includes, then the rest")
        check(rep2["suspects"][1]["relation"] == "included by b.c",
              "util.h is there as b.c's header: %s" % short(rep2["suspects"]))
        check("learned" in rep2["summary"] or "Known fix" in rep2["summary"],
              "the summary mentions the known fix: %r" % rep2["summary"])

        # `cairn why` shows that report readably and as JSON.
        w = subprocess.run([d.bin, "why"], cwd=repo, env=d.env(), capture_output=True,
                           timeout=30, text=True)
        rc, out, err = w.returncode, w.stdout, w.stderr
        eq(rc, 0, "cairn why in the project (%s)" % short(err))
        check("Known fixes" in out and "b.c" in out, "why prints fixes and suspects: %s" %
              short(out, 2000))
        rc, out, err = d.cli(["why", "--json", str(f2["seq"])], timeout=30)
        eq(rc, 0, "cairn why --json SEQ (%s)" % short(err))
        eq(json.loads(out)["correlationid"], f2["id"], "why SEQ gives that failure's report")
        rc, out, err = d.cli(["why", f1["id"], "--json"], timeout=30)
        eq(rc, 0, "cairn why ID")
        eq(json.loads(out)["correlationid"], f1["id"], "why ID gives that failure's report")

        # 4. Fixing b.c the same way is the same fix recurring.
        old_conf = top["confidence"]
        write(repo, "b.c", B_C)
        settle(d)
        eq(cairn_run(d, repo, "make").returncode, 0, "b.c fixed")
        again = wait_event(d, "kb.updated", lambda e: e["data"].get("recurred") is True,
                           what="the fix recurring")["data"]
        eq(again["id"], fix_id, "the recurrence updates the same entry")
        rc, out, err = d.cli(["kb", "show", "--json", str(fix_id)])
        eq(rc, 0, "kb show --json")
        entry = json.loads(out)
        check(entry["confidence"] > old_conf, "confidence rose: %s -> %s" %
              (old_conf, entry["confidence"]))
        # Title and body about the same change: b.c's, not a.c's title
        # above b.c's diff.
        check("b.c" in entry["title"] and "a.c" not in entry["title"],
              "the title names the file of the recurrence: %s" % entry["title"])
        check("b.c" in entry["body"], "the body shows b.c's change: %s" % short(entry["body"]))
        # Uses (docs/kb.md): learned, opened with kb show, then offered in the
        # second report and recurring.
        eq(top["uses"], 2, "uses when the second report offered it (learned, opened)")
        eq(entry["uses"], 4, "uses after the report offered it and the fix recurred")

        # 5. Rejected: it is not offered again.
        rc, out, err = d.cli(["kb", "reject", str(fix_id)])
        eq(rc, 0, "kb reject (%s)" % short(err))
        write(repo, "a.c", A_C.replace("return y + 1;", "return y + 1"))
        settle(d)
        check(cairn_run(d, repo, "make").returncode != 0, "broken again")
        rep3 = report_for(d, last_failure(d))["data"]
        check(all(f["id"] != fix_id for f in rep3["fixes"]),
              "a rejected fix is not shown: %s" % short(rep3["fixes"]))


GCC_LOG = """gcc -c -Wall -o src/net/conn.o src/net/conn.c
src/net/conn.c: In function 'conn_open':
src/net/conn.c:42:17: error: 'sockfd' undeclared (first use in this function)
   42 |         return  sockfd;
      |                 ^~~~~~
src/net/conn.c:42:17: note: each undeclared identifier is reported only once for each function it appears in
make: *** [Makefile:9: src/net/conn.o] Error 1
"""


@T.test
def triage_of_any_log_file_and_stdin():
    d = Daemon(start=False)
    try:
        path = os.path.join(d.tmp, "ci.log")
        with open(path, "w") as f:
            f.write("Cloning...\n" * 300 + GCC_LOG + "Done. Your build exited with 1.\n")
        rc, out, err = d.cli(["triage", "--json", path])
        eq(rc, 0, "cairn triage FILE (%s)" % short(err))
        rep = json.loads(out)
        texts = [ln["text"] for ln in rep["excerpt"]["lines"]]
        check(any("'sockfd' undeclared" in t for t in texts), "excerpt has the error: %s" %
              short(texts))
        check(len(texts) <= 20, "precise diagnostics are not padded to the budget: %d lines"
              % len(texts))
        eq(rep["signature"]["general"], "'<id>' undeclared (first use in this function)",
           "general signature")
        eq(rep["signature"]["file"], "src/net/conn.c", "signature place")
        rc, out2, err = d.cli(["triage", "--json", "-"], input=open(path).read())
        eq(rc, 0, "cairn triage - (%s)" % short(err))
        eq(json.loads(out2)["signature"], rep["signature"], "stdin gives the same analysis")
        rc, out, err = d.cli(["triage", path])
        eq(rc, 0, "human output")
        check("undeclared" in out and "What failed" in out, "readable report: %s" % short(out))
        rc, out, err = d.cli(["triage", os.path.join(d.tmp, "missing.log")])
        eq(rc, 4, "a missing file is an I/O error")
        check("cannot read" in err, "and says so: %s" % short(err))
        rc, out, err = d.cli(["triage"])
        eq(rc, 2, "no FILE is a usage error")
    finally:
        d.cleanup()


@T.test
def secrets_in_a_failure_log_do_not_reach_the_report():
    with Daemon() as d:
        logp = os.path.join(d.tmp, "secret.log")
        with open(logp, "w") as f:
            f.write("deploying with AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
                    "curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789'\n"
                    "Error: deploy failed: 403 Forbidden\n")
        data = {"target": "deploy", "log_path": logp, "cwd": d.tmp}
        rc, out, err = d.cli(["emit", "ci.run.failed", "--subject", "deploy", "--data",
                              json.dumps(data)])
        eq(rc, 0, "emit ci.run.failed (%s)" % short(err))
        rep = wait_event(d, "triage.report", lambda e: True, what="a report")
        text = json.dumps(rep)
        check("wJalrXUtnFEMI" not in text and "abcdefghijklmnopqrstuvwxyz0123456789" not in text,
              "secrets are redacted: %s" % short(text, 2000))
        check("[REDACTED:" in text, "with markers")
        check("deploy failed" in text, "the error is kept")

        # A secret on a command line or in a compiler's output never reaches the log.
        tok = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
        r = subprocess.run([d.bin, "run", "--", "sh", "-c",
                            "echo \"x.c:1:1: error: bad token %s\" >&2; exit 1" % tok],
                           cwd=d.tmp, env=d.env(), capture_output=True, timeout=60)
        check(r.returncode == 1, "the command failed as asked")
        check(tok.encode() in r.stderr, "the user still sees the output unchanged")
        with d.conn() as c:
            c.wait_committed()
            logged = json.dumps(c.query_all(pattern="build.>"))
        check(tok not in logged, "the token is not logged: %s" % short(logged, 1500))
        check("[REDACTED:github-token]" in logged, "a marker stands in its place")


GH_TOKEN = "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d"


@T.test
def a_token_in_a_failing_commands_output_is_not_in_its_signature():
    """A token printed in the error line of a failing `cairn run` reaches
    neither the signature, nor the failures and signatures tables, nor the
    triage.report, nor `cairn why`; the saved output holds a marker in its
    place."""
    with Daemon() as d:
        r = subprocess.run([d.bin, "run", "--", "sh", "-c",
                            "echo 'pushing release'; "
                            "echo \"deploy.c:3:1: error: bad credentials for %s\" >&2; exit 1"
                            % GH_TOKEN],
                           cwd=d.tmp, env=d.env(), capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        eq(r.returncode, 1, "the failing run (%s)" % short(r.stderr))
        check(GH_TOKEN.encode() in r.stderr, "the user still sees the output unchanged")
        failure = last_failure(d)
        rep = report_for(d, failure)
        sig = rep["data"]["signature"]
        eq(sig["exact"], "bad credentials for [REDACTED:github-token]", "signature.exact")
        eq(sig["general"], "bad credentials for [REDACTED:github-token]", "signature.general")
        check(GH_TOKEN not in json.dumps(rep), "the token is in the triage.report: %s"
              % short(json.dumps(rep), 2000))
        rc, out, err = d.cli(["why", "--json", failure["id"]], timeout=30)
        eq(rc, 0, "cairn why --json (%s)" % short(err))
        check(GH_TOKEN not in out and "[REDACTED:github-token]" in out,
              "cairn why --json: %s" % short(out, 2000))
        rc, out, err = d.cli(["why", failure["id"]], timeout=30)
        eq(rc, 0, "cairn why (%s)" % short(err))
        check(GH_TOKEN not in out, "cairn why: %s" % short(out, 2000))
        con = sqlite3.connect(d.db_path)
        try:
            rows = con.execute("SELECT signature, sig_general, message FROM failures").fetchall()
            sigs = con.execute("SELECT * FROM signatures").fetchall()
        finally:
            con.close()
        eq(len(rows), 1, "one failure remembered")
        check(GH_TOKEN not in repr(rows) and "[REDACTED:github-token]" in rows[0][0],
              "failures table: %s" % short(rows))
        check(GH_TOKEN not in repr(sigs), "signatures table: %s" % short(sigs))
        with open(failure["data"]["output"]["path"], "rb") as f:
            saved = f.read()
        check(GH_TOKEN.encode() not in saved and b"[REDACTED:github-token]" in saved,
              "saved output: %s" % short(saved))
    check_nothing_stored(d, GH_TOKEN)


@T.test
def a_token_in_the_command_line_is_not_in_the_subject():
    """The target derived from the command line (`echo TOKEN`) is the
    events' subject: redacted like data.target."""
    with Daemon() as d:
        r = subprocess.run([d.bin, "run", "--", "echo", GH_TOKEN], cwd=d.tmp, env=d.env(),
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        eq(r.returncode, 0, "the run (%s)" % short(r.stderr))
        with d.conn() as c:
            c.wait_committed()
            evs = c.query_all(pattern="build.>")
        eq(len(evs), 2, "build.started and build.passed")
        for e in evs:
            check(GH_TOKEN not in json.dumps(e), "the token is in %s" % short(e))
            check("[REDACTED:github-token]" in e.get("subject", ""), "subject: %s" % short(e))
    check_nothing_stored(d, GH_TOKEN)


def check_nothing_stored(d, secret):
    """No file cairn wrote under its data directory holds secret."""
    for root, _, files in os.walk(os.path.join(d.data_home, "cairn")):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                check(secret.encode() not in f.read(), "%s holds the secret" % name)


@T.test
def failures_without_a_report_are_triaged_at_start():
    d = Daemon(start=False)
    try:
        # Spooled while no daemon ran: triaged when one starts.
        r = subprocess.run([d.bin, "run", "--", "sh", "-c",
                            "echo \"src/x.c:3:1: error: unknown type name 'strng'\" >&2; exit 1"],
                           cwd=d.tmp, env=d.env(), capture_output=True, timeout=60)
        eq(r.returncode, 1, "the failing run with no daemon (%s)" % short(r.stderr))
        d.start()
        rep = wait_event(d, "triage.report", lambda e: True, what="report of a spooled failure")
        eq(rep["data"]["signature"]["exact"], "unknown type name 'strng'", "its signature")
        d.stop()
        # A failure whose report never came because the daemon died in the
        # middle of its job (kill -9 while triage is slowed): the report is
        # made at the next start, once.
        d.extra_env["CAIRN_TEST_SLOW"] = "triage:4000"
        d.start()
        r = subprocess.run([d.bin, "run", "--", "sh", "-c",
                            "echo \"src/y.c:5:1: error: unknown type name 'boool'\" >&2; exit 1"],
                           cwd=d.tmp, env=d.env(), capture_output=True, timeout=60)
        eq(r.returncode, 1, "the second failing run")
        with d.conn() as c:
            fails = c.query_all(pattern="build.failed")
            eq(len(fails), 2, "two failures logged")
            deadline = time.time() + 10
            while not c.status()["services"]["triage"]["running"]:
                check(time.time() < deadline, "triage never started its job")
                time.sleep(0.05)
        d.kill9()
        del d.extra_env["CAIRN_TEST_SLOW"]
        d.start()
        rep2 = wait_event(d, "triage.report",
                          lambda e: e["correlationid"] == fails[1]["id"],
                          what="the report made at start")
        eq(rep2["data"]["signature"]["exact"], "unknown type name 'boool'", "its signature")
        time.sleep(0.5)
        with d.conn() as c:
            reps = c.query_all(pattern="triage.report")
            eq(sorted(e["correlationid"] for e in reps),
               sorted(e["id"] for e in fails), "one report per failure")
        d.stop()
    finally:
        d.cleanup()


@T.test
def make_dash_c_paths_are_resolved_so_the_file_in_the_error_is_first():
    """redis builds with `make -C src`: the compiler names t_set.c relative
    to src/, and the build touches src/release.c at every run. The file the
    error is in must be the first suspect, found through make's "Entering
    directory" lines."""
    with Daemon() as d:
        repo = os.path.realpath(os.path.join(d.tmp, "redisish"))
        os.makedirs(os.path.join(repo, "src"))
        files = {
            "Makefile": "all:\n\t$(MAKE) -C src\n",
            "src/Makefile": "all: release t_set.o\nrelease:\n\ttouch release.c\n"
                            "%.o: %.c\n\tgcc -c -Wall -o $@ $<\n",
            "src/t_set.c": "int sadd(int x)\n{\n\treturn x + 1;\n}\n",
            "src/release.c": "const char *release = \"1\";\n",
            ".gitignore": "*.o\n",
        }
        for name, text in files.items():
            with open(os.path.join(repo, name), "w") as f:
                f.write(text)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "initial")
        rc, out, err = d.cli(["watch", "add", repo])
        eq(rc, 0, "watch add (%s)" % short(err))
        eq(cairn_run(d, repo, "make").returncode, 0, "the clean build")
        settle(d)
        write(repo, "src/t_set.c", "int sadd(int x)\n{\n\treturn x + 1\n}\n")
        settle(d)
        check(cairn_run(d, repo, "make").returncode != 0, "the broken build fails")
        rep = report_for(d, last_failure(d))["data"]
        check(rep["suspects"], "suspects: %s" % short(rep))
        eq(rep["suspects"][0]["path"], "src/t_set.c", "the file in the error is first (%s)"
           % short(rep["suspects"]))
        eq(rep["suspects"][0]["relation"], "named in the error", "why")
        # stdout and stderr come through two pipes: the error can land
        # before make's "Entering directory". The directory is still found.
        log = ("t_set.c:3:1: error: expected ';' before '}' token\n"
               "make[1]: Entering directory '%s/src'\n"
               "make[1]: *** [Makefile:4: t_set.o] Error 1\n"
               "make[1]: Leaving directory '%s/src'\n" % (repo, repo))
        with d.conn() as c:
            c.pub({"type": "build.failed", "source": "test", "id": "reordered-1",
                   "project": repo, "subject": "make2",
                   "data": {"target": "make2", "cwd": repo, "exit": 2, "log": log}},
                  ack="durable")
        rep = wait_event(d, "triage.report", lambda e: e.get("subject") == "make2",
                         what="the reordered log's report")["data"]
        eq(rep["suspects"][0]["path"], "src/t_set.c", "reordered: the file in the error first")
        eq(rep["suspects"][0]["relation"], "named in the error", "reordered: why")
        # A build that prints no "Entering directory" (make
        # --no-print-directory, cmake, meson): the one changed file whose
        # path ends with the name in the error.
        log = ("t_set.c:3:1: error: expected ';' before '}' token\n"
               "make: *** [Makefile:2: all] Error 2\n")
        with d.conn() as c:
            c.pub({"type": "build.failed", "source": "test", "id": "quiet-make-1",
                   "project": repo, "subject": "make3",
                   "data": {"target": "make3", "cwd": repo, "exit": 2, "log": log}},
                  ack="durable")
        rep = wait_event(d, "triage.report", lambda e: e.get("subject") == "make3",
                         what="the quiet log's report")["data"]
        eq(rep["suspects"][0]["path"], "src/t_set.c", "no directory lines: the file first")
        eq(rep["suspects"][0]["relation"], "named in the error", "no directory lines: why")


@T.test
def failures_that_are_not_the_codes_are_named_and_not_learned():
    """Ctrl-C, a command that is not there, a kill, a timeout: each report
    says what happened, blames no file, offers no fix, and nothing is
    recorded to learn from: the pass after it teaches nothing."""
    import sqlite3
    with Daemon() as d:
        repo = make_project(d)
        rc, out, err = d.cli(["watch", "add", repo])
        eq(rc, 0, "watch add (%s)" % short(err))
        cases = [
            ("int", ["sh", "-c", "echo building; kill -INT $$"], "interrupted"),
            ("make-int", ["sh", "-c", "echo 'make: *** [Makefile:3: all] Interrupt'; exit 2"],
             "interrupted"),
            ("missing", ["no-such-command-for-cairn-xyz"], "not_found"),
            ("e127", ["sh", "-c", "exit 127"], "not_found"),
            ("kill", ["sh", "-c", "kill -KILL $$"], "killed"),
            ("slow", ["timeout", "0.2", "sleep", "5"], "timed_out"),
        ]
        for target, cmd, kind in cases:
            write(repo, "a.c", A_C + "/* %s */\n" % target)  # a change a suspect could name
            settle(d)
            r = subprocess.run([d.bin, "run", "--target", target, "--"] + cmd, cwd=repo,
                               env=d.env(), capture_output=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            check(r.returncode != 0, "%s fails" % target)
            rep = wait_event(d, "triage.report", lambda e, t=target: e.get("subject") == t,
                             what="the report of %s" % target)["data"]
            eq(rep.get("not_code"), kind, "%s: the kind (%s)" % (target, short(rep)))
            eq(rep["suspects"], [], "%s: no file is blamed" % target)
            eq(rep["fixes"], [], "%s: no fix is offered" % target)
            check("not a failure of the code" in rep["summary"].lower(), rep["summary"])
        # The same targets pass now: nothing is learned, nothing was open.
        write(repo, "a.c", A_C)
        settle(d)
        for target, _, _ in cases:
            r = subprocess.run([d.bin, "run", "--target", target, "--", "true"], cwd=repo,
                               env=d.env(), capture_output=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            eq(r.returncode, 0, "%s passes" % target)
        with d.conn() as c:
            c.wait_committed()
        time.sleep(1.0)
        db = sqlite3.connect(d.db_path)
        eq(db.execute("SELECT count(*) FROM failures").fetchone()[0], 0,
           "none of them is recorded as a failure")
        db.close()
        with d.conn() as c:
            learned = [e for e in c.query_all(pattern="kb.>") if e["data"].get("learned")]
        eq(learned, [], "nothing is learned from them")
        # cairn status shows the triage counts in its human output too.
        rc, out, err = d.cli(["status"])
        line = [l for l in out.splitlines() if l.startswith("service  triage")]
        check(line and "reports %d" % len(cases) in line[0] and "learned 0" in line[0],
              "triage's counts in status: %s" % short(out))


@T.test
def nothing_is_learned_from_what_the_build_wrote():
    """The build's own outputs (a stamp file every build writes, an object
    file and a program, none of which git ignores) change between the
    failure and the pass; the fix learned is the source edit alone."""
    with Daemon() as d:
        repo = os.path.realpath(os.path.join(d.tmp, "byproducts"))
        os.makedirs(repo)
        files = {"Makefile": "prog: main.o\n\tgcc -o prog main.o\n"
                             "main.o: main.c FORCE\n\tdate +%s%N > stamp.txt\n"
                             "\tgcc -c -Wall main.c\nFORCE:\n",
                 "main.c": "int main(void)\n{\n\treturn 0;\n}\n"}
        for name, text in files.items():
            with open(os.path.join(repo, name), "w") as f:
                f.write(text)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "initial")
        rc, out, err = d.cli(["watch", "add", repo])
        eq(rc, 0, "watch add (%s)" % short(err))
        eq(cairn_run(d, repo, "make").returncode, 0, "the clean build")
        settle(d)
        write(repo, "main.c", "int main(void)\n{\n\treturn 0\n}\n")
        settle(d)
        check(cairn_run(d, repo, "make").returncode != 0, "the broken build fails")
        settle(d)
        write(repo, "main.c", "int main(void)\n{\n\treturn 0;\n}\n")
        settle(d)
        eq(cairn_run(d, repo, "make").returncode, 0, "fixed")
        fix = wait_event(d, "kb.added", lambda e: e["data"].get("kind") == "fix",
                         what="the learned fix")["data"]
        eq(fix["files"], ["main.c"], "the fix is the source edit, not stamp.txt, main.o or prog")


@T.test
def a_configure_failure_fixed_by_installing_a_package_is_a_note():
    """A real autoconf configure fails for a missing header; the header is
    then "installed" outside the project and configure passes. Nothing in the
    project changed: no fix is learned, a note with configure's message is."""
    if not shutil.which("autoreconf"):
        raise AssertionError("autoreconf is missing: scripts/deps.sh installs autoconf")
    with Daemon() as d:
        repo = os.path.realpath(os.path.join(d.tmp, "confproj"))
        os.makedirs(repo)
        with open(os.path.join(repo, "configure.ac"), "w") as f:
            f.write("AC_INIT([confproj], [1.0])\nAC_PROG_CC\n"
                    "AC_CHECK_HEADER([fakepkg.h], [],"
                    " [AC_MSG_ERROR([fakepkg.h not found: install libfakepkg-dev])])\n"
                    "AC_OUTPUT\n")
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
        subprocess.run(["autoreconf", "-fi"], cwd=repo, check=True, capture_output=True,
                       env=env)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "initial")
        rc, out, err = d.cli(["watch", "add", repo])
        eq(rc, 0, "watch add (%s)" % short(err))
        inc = os.path.join(d.tmp, "sysroot", "include")
        os.makedirs(inc)
        runenv = dict(d.env(), CPATH=inc)
        for k in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
            runenv.pop(k, None)
        r = subprocess.run([d.bin, "run", "--", "./configure"], cwd=repo, env=runenv,
                           capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        check(r.returncode != 0, "configure fails without the header")
        settle(d)
        with open(os.path.join(inc, "fakepkg.h"), "w") as f:  # the package, installed
            f.write("#define FAKEPKG 1\n")
        r = subprocess.run([d.bin, "run", "--", "./configure"], cwd=repo, env=runenv,
                           capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        eq(r.returncode, 0, "configure passes with it (%s)" % short(r.stderr))
        note = wait_event(d, "kb.added", lambda e: e["data"].get("kind") == "note",
                          what="the note")["data"]
        check("fakepkg.h not found" in note["title"], "the note names the message: %s" % note)
        check("outside the project" in note["title"], "and says so: %s" % note)
        with d.conn() as c:
            c.wait_committed()
            fixes = [e for e in c.query_all(pattern="kb.>") if e["data"].get("kind") == "fix"]
        eq(fixes, [], "no fix is learned")


if __name__ == "__main__":
    T.main()
