#!/usr/bin/env python3
"""The cairn CLI against a real daemon: emit, log, tail, status, --help, and
what client commands say when no daemon runs."""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import (Daemon, LineReader, Suite, check, child_stderr, eq, short,  # noqa: E402
                      stop_child)

T = Suite(per_test_timeout=120)

CLIENT_CMDS = [["status"], ["emit", "x.y"], ["tail"], ["log"]]


def json_lines(text, what):
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError("%s: line is not JSON: %s" % (what, short(line)))
        check(isinstance(obj, dict), "%s: line is not a JSON object: %s" % (what, short(line)))
        out.append(obj)
    return out


def settle(d):
    """Waits until the daemon has committed everything emitted (emit without
    --durable only promises the event is accepted, not yet logged)."""
    with d.conn() as c:
        c.wait_committed()


def ok_cli(d, args, input=None):
    rc, out, err = d.cli(args, input=input)
    check(rc == 0, "`cairn %s` exited %d\nstdout: %s\nstderr: %s"
          % (" ".join(args), rc, short(out), short(err)))
    return out


def by_type(d, type_):
    with d.conn() as c:
        c.wait_committed()
        return c.query(pattern=type_)["events"]


@T.test
def project_dot_and_relative_paths_work_everywhere():
    """--project . (and a relative path) from inside a project means that
    project, for every command that takes --project, with the daemon up and
    down."""
    import subprocess
    d = Daemon()
    with d:
        repo = os.path.realpath(os.path.join(d.tmp, "proj"))
        os.makedirs(os.path.join(repo, "sub"))
        subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True)

        def cli_in(cwd, args):
            r = subprocess.run([d.bin] + args, cwd=cwd, env=d.env(), capture_output=True,
                               timeout=60, stdin=subprocess.DEVNULL)
            return r.returncode, r.stdout.decode(), r.stderr.decode()

        rc, out, err = cli_in(repo, ["emit", "--durable", "--project", ".", "note.x"])
        eq(rc, 0, "emit --project . (%s)" % err)
        rc, out, err = cli_in(os.path.join(repo, "sub"),
                              ["emit", "--durable", "--project", "..", "note.y"])
        eq(rc, 0, "emit --project .. (%s)" % err)
        evs = by_type(d, "note.x") + by_type(d, "note.y")
        eq([e.get("project") for e in evs], [repo, repo], "the project is the real path")
        for phase in ("daemon up", "daemon down"):
            rc, out, err = cli_in(repo, ["log", "--project", ".", "--json", "note.>"])
            eq(rc, 0, "log --project . (%s, %s)" % (phase, err))
            eq(len(json_lines(out, "log")), 2, "log --project . finds both (%s)" % phase)
            rc, out, err = cli_in(os.path.join(repo, "sub"),
                                  ["log", "--project", "..", "--json", "note.>"])
            eq(len(json_lines(out, "log")), 2, "log --project .. finds both (%s)" % phase)
            for cmd in (["failures", "--project", "."], ["brief", "--project", "."],
                        ["session", "list", "--project", "."]):
                rc, out, err = cli_in(repo, cmd)
                eq(rc, 0, "%s (%s): %s" % (" ".join(cmd), phase, err))
            if phase == "daemon up":
                d.stop()
        rc, out, err = cli_in(repo, ["log", "--project", "no/such/dir"])
        check(rc != 0 and "cannot resolve --project" in err, "a missing relative path: %s" % err)


@T.test
def no_daemon_exit_3():
    d = Daemon(start=False)
    for args in CLIENT_CMDS:
        rc, out, err = d.cli(args, timeout=20)
        eq(rc, 3, "exit status of `cairn %s` with no daemon" % " ".join(args))
        check("cairn daemon" in out + err,
              "`cairn %s` with no daemon should say how to start one ('cairn daemon'); "
              "stdout: %s stderr: %s" % (" ".join(args), short(out), short(err)))
    d.cleanup()


@T.test
def stale_socket_exit_3():
    # After kill -9 the socket file is left behind: still "no daemon".
    d = Daemon()
    d.kill9()
    for args in CLIENT_CMDS:
        rc, out, err = d.cli(args, timeout=20)
        # cairn log reads the log itself when no daemon answers.
        eq(rc, 0 if args == ["log"] else 3,
           "exit status of `cairn %s` with a stale socket" % " ".join(args))
        check("cairn daemon" in out + err, "`cairn %s` should mention 'cairn daemon': %s"
              % (" ".join(args), short(out + err)))
    d.cleanup()


@T.test
def status_with_daemon():
    with Daemon() as d:
        out = ok_cli(d, ["status"])
        check(out.strip(), "`cairn status` printed nothing")


@T.test
def emit_log_and_tail():
    # lint.failed, not build.failed: the daemon answers a build failure with
    # a triage.report of its own, and this test counts events.
    with Daemon() as d:
        ok_cli(d, ["emit", "lint.failed", "--subject", "src/a.c", "--data", '{"exit":2}',
                   "--durable"])
        ok_cli(d, ["emit", "build.started", "--subject", "src/b.c"])
        ok_cli(d, ["emit", "test.passed"])
        settle(d)

        out = ok_cli(d, ["log"])
        lines = [l for l in out.splitlines() if "lint.failed" in l]
        check(lines, "`cairn log` shows no line with lint.failed:\n" + out)
        check(any("src/a.c" in l for l in lines),
              "`cairn log` line for lint.failed lacks the subject src/a.c:\n" + out)

        evs = json_lines(ok_cli(d, ["log", "--json"]), "cairn log --json")
        eq(len(evs), 3, "number of events printed by `cairn log --json`")
        for e in evs:
            check(isinstance(e.get("seq"), int), "envelope without integer seq: %s" % short(e))
            eq(e.get("specversion"), "1.0", "specversion")
            check(e.get("id") and e.get("source") and e.get("time"),
                  "envelope lacks id/source/time: %s" % short(e))
        eq(sorted(e["seq"] for e in evs), [1, 2, 3], "seqs in `cairn log --json`")
        bf = [e for e in evs if e["type"] == "lint.failed"]
        eq(len(bf), 1, "lint.failed events")
        eq(bf[0].get("subject"), "src/a.c", "subject")
        eq(bf[0].get("data"), {"exit": 2}, "data")
        eq(sorted(e["type"] for e in evs), ["build.started", "lint.failed", "test.passed"],
           "types")

        # tail: replay from seq 1, then live.
        p = d.cli_popen(["tail", "--since", "1", "--json"])
        r = LineReader(p.stdout)
        got = []
        while len(got) < 3:
            line = r.next_line(timeout=15)
            check(line is not None, "`cairn tail` exited early (status %s): %s"
                  % (p.poll(), child_stderr(p)))
            if line.strip():
                got.append(json.loads(line))
        eq([e["seq"] for e in got], [1, 2, 3], "seqs printed by `cairn tail --since 1`")
        eq([e["type"] for e in got], [e["type"] for e in sorted(evs, key=lambda e: e["seq"])],
           "types printed by tail")
        ok_cli(d, ["emit", "deploy.done", "--subject", "live"])
        line = r.next_line(timeout=15)
        while line is not None and not line.strip():
            line = r.next_line(timeout=15)
        check(line is not None, "`cairn tail` exited instead of printing a live event")
        e = json.loads(line)
        eq((e.get("seq"), e.get("type"), e.get("subject")), (4, "deploy.done", "live"),
           "live event printed by tail")
        rc = stop_child(p, signal.SIGINT)
        eq(rc, 0, "exit status of `cairn tail` after SIGINT")


@T.test
def emit_data_from_file_and_stdin():
    with Daemon() as d:
        path = os.path.join(d.tmp, "payload.json")
        with open(path, "w") as f:
            json.dump({"k": [1, 2, 3], "s": "from file"}, f)
        ok_cli(d, ["emit", "data.file", "--data", "@" + path])
        evs = by_type(d, "data.file")
        eq(len(evs), 1, "events of type data.file")
        eq(evs[0].get("data"), {"k": [1, 2, 3], "s": "from file"}, "data from @FILE")

        ok_cli(d, ["emit", "data.stdin", "--data", "-"], input='{"from":"stdin","n":7}\n')
        evs = by_type(d, "data.stdin")
        eq(len(evs), 1, "events of type data.stdin")
        eq(evs[0].get("data"), {"from": "stdin", "n": 7}, "data from stdin")


@T.test
def emit_invalid_type():
    with Daemon() as d:
        rc, out, err = d.cli(["emit", "Build.Failed"])
        eq(rc, 1, "exit status of `cairn emit Build.Failed`")
        check("type" in (out + err).lower(),
              "error for an invalid type should name 'type': %s" % short(out + err))
        rc, out, err = d.cli(["emit", "a..b"])
        eq(rc, 1, "exit status of `cairn emit a..b`")
        check("type" in (out + err).lower(), "message should name 'type': %s" % short(out + err))
        with d.conn() as c:
            eq(c.status()["events"], 0, "events stored after invalid emits")


@T.test
def help_on_every_command():
    d = Daemon(start=False)  # --help needs no daemon
    for args in (["--help"], ["daemon", "--help"], ["status", "--help"], ["emit", "--help"],
                 ["tail", "--help"], ["log", "--help"]):
        rc, out, err = d.cli(args, timeout=20)
        eq(rc, 0, "exit status of `cairn %s`" % " ".join(args))
        check("usage" in (out + err).lower(),
              "`cairn %s` prints no usage: %s" % (" ".join(args), short(out + err)))
    check(not os.path.exists(d.sock_path), "`cairn daemon --help` started a daemon")
    d.cleanup()


@T.test
def log_limit_and_since():
    with Daemon() as d:
        for i in range(5):
            ok_cli(d, ["emit", "seq.t%d" % i, "--subject", "n%d" % i])
        settle(d)
        evs = json_lines(ok_cli(d, ["log", "--json", "--limit", "1"]), "log --limit 1")
        eq(len(evs), 1, "events printed by `cairn log --limit 1`")
        check(evs[0]["seq"] in range(1, 6), "seq out of range: %s" % short(evs[0]))
        evs = json_lines(ok_cli(d, ["log", "--json", "--since", "2"]), "log --since 2")
        eq(sorted(e["seq"] for e in evs), [2, 3, 4, 5], "seqs printed by `cairn log --since 2`")
        evs = json_lines(ok_cli(d, ["log", "--json", "--since", "2", "--limit", "2"]),
                         "log --since 2 --limit 2")
        eq(len(evs), 2, "events printed by `cairn log --since 2 --limit 2`")
        check(all(e["seq"] >= 2 for e in evs), "--since 2 printed seq < 2: %s" % short(evs))
        evs = json_lines(ok_cli(d, ["log", "seq.t3", "--json"]), "log PATTERN")
        eq([e["seq"] for e in evs], [4], "seqs printed by `cairn log seq.t3`")
        out = ok_cli(d, ["log", "--limit", "1"])
        eq(len([l for l in out.splitlines() if l.strip()]), 1,
           "lines printed by `cairn log --limit 1`")
        # With the daemon stopped, cairn log reads the log itself: the same
        # answers.
        queries = [["log", "--json"], ["log", "--json", "--limit", "2"],
                   ["log", "--json", "--since", "2", "--limit", "2"],
                   ["log", "seq.t3", "--json"], ["log", "seq.>", "--json", "--until", "3"],
                   ["log", "--json", "--since", "today"]]
        online = [ok_cli(d, q) for q in queries]
        d.stop()
        for q, want in zip(queries, online):
            eq(ok_cli(d, q), want, "`cairn %s` with the daemon stopped" % " ".join(q))
        rc, out, err = d.cli(["log", "a..b"])
        eq(rc, 2, "a bad pattern offline (%s)" % short(err))


@T.test
def emit_severity():
    with Daemon() as d:
        ok_cli(d, ["emit", "x.y", "--severity", "error"])
        settle(d)
        evs = json_lines(ok_cli(d, ["log", "--json"]), "log --json")
        eq(len(evs), 1, "events")
        eq(evs[0].get("type"), "x.y", "type")
        eq(evs[0].get("severity"), "error", "severity")
        rc, out, err = d.cli(["emit", "x.z", "--severity", "bogus"])
        check(rc != 0, "`cairn emit --severity bogus` exited 0")
        settle(d)
        evs = json_lines(ok_cli(d, ["log", "--json"]), "log --json")
        eq(len(evs), 1, "events after a refused emit")


if __name__ == "__main__":
    T.main()
