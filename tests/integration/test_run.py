#!/usr/bin/env python3
"""cairn run: the command runs exactly as without it (exit status, signal
death, bytes on stdout and stderr, a terminal when there is one), the
captured copy is capped, the events carry what happened, and with no daemon
the events are spooled and delivered when one starts."""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, short  # noqa: E402

T = Suite(per_test_timeout=120)


def run(d, args, input=None, cwd=None, env_extra=None):
    env = d.env()
    env.update(env_extra or {})
    r = subprocess.run([d.bin, "run"] + args, input=input, capture_output=True, env=env,
                       cwd=cwd or d.tmp, timeout=60, stdin=None if input else subprocess.DEVNULL)
    return r


def events(d, pattern=">"):
    with d.conn() as c:
        return c.query_all(pattern=pattern)


@T.test
def exit_status_and_bytes_pass_through():
    with Daemon() as d:
        script = ("printf 'a\\000b\\377\\n'; printf 'to stderr' >&2; "
                  "printf 'no newline at end'; exit 3")
        plain = subprocess.run(["sh", "-c", script], capture_output=True)
        wrapped = run(d, ["--", "sh", "-c", script])
        eq(wrapped.returncode, plain.returncode, "exit status")
        eq(wrapped.stdout, plain.stdout, "stdout bytes")
        eq(wrapped.stderr, plain.stderr, "stderr bytes (kept apart from stdout)")
        for code in (0, 1, 255):
            eq(run(d, ["sh", "-c", "exit %d" % code]).returncode, code, "exit %d" % code)
        big = run(d, ["--", "sh", "-c", "head -c 3000000 /dev/urandom | od -An -tx1"])
        ref = subprocess.run(["sh", "-c", "true"])  # noqa: F841
        eq(big.returncode, 0, "big output exit")
        check(len(big.stdout) > 8000000, "big output arrived: %d bytes" % len(big.stdout))


@T.test
def signal_death_is_reported_as_such():
    with Daemon() as d:
        r = run(d, ["--", "sh", "-c", "kill -TERM $$"])
        eq(r.returncode, -signal.SIGTERM, "the wrapper dies of the same signal")
        r = run(d, ["--", "sh", "-c", "kill -INT $$"])
        eq(r.returncode, -signal.SIGINT, "SIGINT death passes through")
        evs = [e for e in events(d, "build.failed")]
        sigs = [e["data"].get("signal") for e in evs]
        check("TERM" in sigs and "INT" in sigs, "signal names in events: %s" % sigs)


@T.test
def events_describe_the_run():
    with Daemon() as d:
        repo = os.path.join(d.tmp, "repo")
        os.makedirs(repo)
        git = ["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@x"]
        subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
        open(os.path.join(repo, "a.c"), "w").write("int main(void) { return 0; }\n")
        subprocess.run(git + ["add", "a.c"], check=True)
        subprocess.run(git + ["commit", "-qm", "first"], check=True)
        open(os.path.join(repo, "a.c"), "w").write("int main(void) { return x; }\n")
        r = run(d, ["--target", "compile", "--", "sh", "-c", "cc -c a.c -o /dev/null"], cwd=repo)
        check(r.returncode != 0, "the broken compile fails")
        evs = events(d, "build.>")
        eq([e["type"] for e in evs], ["build.started", "build.failed"], "event types")
        st, fl = evs
        eq(fl["correlationid"], st["id"], "failed event answers the started one")
        # Read on a thread while the command ran, and in both events.
        eq(st["data"]["git"], fl["data"]["git"], "build.started has the same git state")
        eq(st["project"], os.path.realpath(repo), "build.started's project")
        eq(fl["subject"], "compile", "subject is the target")
        eq(fl["project"], os.path.realpath(repo), "project is the git top level")
        data = fl["data"]
        eq(data["exit"], r.returncode, "exit in event")
        eq(data["git"]["branch"], "main", "branch")
        eq(len(data["git"]["head"]), 40, "head is a full hash")
        check("a.c" in data["git"]["dirty"], "dirty files: %s" % data["git"]["dirty"])
        check(data["duration_ms"] >= 0, "duration")
        out = data["output"]
        check(os.path.isfile(out["path"]), "captured output file %s" % out["path"])
        eq(open(out["path"], "rb").read(), r.stderr + r.stdout if not r.stdout else
           open(out["path"], "rb").read(), "captured output")
        check(b"a.c" in open(out["path"], "rb").read(), "capture holds the compiler output")
        diags = data["diagnostics"]
        check(any(x.get("file", "").endswith("a.c") and x.get("line") == 1 for x in diags),
              "a diagnostic for a.c:1: %s" % short(diags))
        # Passing run: default target derived from the command.
        open(os.path.join(repo, "a.c"), "w").write("int main(void) { return 0; }\n")
        r = run(d, ["cc", "-c", "a.c", "-o", "/dev/null"], cwd=repo)
        eq(r.returncode, 0, "fixed compile passes")
        last = events(d, "build.passed")[-1]
        eq(last["subject"], "cc a.c", "derived target")


@T.test
def make_test_is_a_test_run():
    """make test runs the tests through make: test.started, then test.* with
    the runner its output shows (the lines of a redis-style Tcl harness
    here) and the failures it reports, never a passing test's line; when the
    output shows no runner (the build broke first), the end is build.*."""
    with Daemon() as d:
        proj = os.path.join(d.tmp, "proj")
        os.makedirs(proj)
        with open(os.path.join(proj, "Makefile"), "w") as f:
            f.write("test:\n"
                    "\t@printf '[ok]: ERRORS are counted in errorstats (1 ms)\\n'\n"
                    "\t@printf '[err]: SPOP with count in tests/unit/type/set.tcl\\n'\n"
                    "\t@printf 'Expected 3 to be equal to 2\\n'\n"
                    "\t@exit 1\n"
                    "check:\n"
                    "\tcc -c nothere.c\n")
        with open(os.path.join(proj, "runtest"), "w") as f:
            f.write("#!/bin/sh\nprintf '[ok]: failed replicas are counted (2 ms)\\n'\n")
        os.chmod(os.path.join(proj, "runtest"), 0o755)

        r = run(d, ["make", "test"], cwd=proj)
        check(r.returncode != 0, "make test fails")
        evs = events(d, "test.>")
        eq([e["type"] for e in evs], ["test.started", "test.failed"], "event types")
        st, fl = evs
        eq(fl["correlationid"], st["id"], "the failure answers the start")
        eq(fl["data"].get("runner"), "runtest", "the runner the output shows")
        diags = fl["data"]["diagnostics"]
        check(any(x["tool"] == "runtest" and x["file"] == "tests/unit/type/set.tcl" and
                  x["message"] == "SPOP with count: Expected 3 to be equal to 2" for x in diags),
              "the failed test: %s" % short(diags))
        check(not any("ERRORS" in x["message"] for x in diags),
              "a passing test's line is not a diagnostic: %s" % short(diags))

        r = run(d, ["make", "check"], cwd=proj)
        check(r.returncode != 0, "make check fails to compile")
        started = events(d, "test.started")
        eq(len(started), 2, "make check starts as a test run")
        ended = events(d, "build.failed")
        eq(len(ended), 1, "it ends as a build failure: no test ran")
        eq(ended[0]["correlationid"], started[1]["id"], "paired by correlationid")
        check("runner" not in ended[0]["data"], "no runner: %s" % short(ended[0]["data"]))

        r = run(d, ["./runtest"], cwd=proj)
        eq(r.returncode, 0, "./runtest passes")
        passed = events(d, "test.passed")
        eq(len(passed), 1, "./runtest is a test run")
        eq(passed[0]["data"].get("runner"), "runtest", "named by the command")
        eq(passed[0]["data"]["diagnostics"], [], "nothing from a passing run")


@T.test
def capture_is_capped_head_and_tail():
    with Daemon(env={"CAIRN_RUNNER_CAPTURE_BYTES": "4K"}) as d:
        r = run(d, ["--", "sh", "-c", "seq 1 100000"])
        eq(r.returncode, 0, "exit")
        eq(r.stdout, subprocess.run(["seq", "1", "100000"], capture_output=True).stdout,
           "the terminal still gets everything")
        ev = events(d, "build.passed")[-1]
        out = ev["data"]["output"]
        check(out["truncated"], "truncated flag")
        eq(out["bytes"], len(r.stdout), "total bytes counted")
        kept = open(out["path"], "rb").read()
        check(kept.startswith(b"1\n2\n3\n"), "head kept")
        check(kept.endswith(b"99999\n100000\n"), "tail kept")
        check(b"bytes omitted]" in kept, "omission marked")
        check(len(kept) < 4096 + 100, "kept copy is within the cap: %d" % len(kept))


@T.test
def captured_output_is_redacted_on_disk():
    """The copy under <data_dir>/runs holds markers where the output had
    secrets, all through an output of several MiB (more than one redact()
    takes at once); the terminal still gets the output unchanged."""
    tok = "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d"
    with Daemon() as d:
        script = ("echo 'export GITHUB_TOKEN=%s'; seq 1 400000; "
                  "echo 'curl -u bob:hunter2pw https://x'; seq 1 400000; "
                  "echo \"error: bad credentials for %s\"" % (tok, tok))
        r = run(d, ["--", "sh", "-c", script])
        eq(r.returncode, 0, "exit")
        plain = subprocess.run(["sh", "-c", script], capture_output=True)
        eq(r.stdout, plain.stdout, "the terminal gets the output as is")
        check(len(r.stdout) > 5 * 1024 * 1024, "output of %d bytes" % len(r.stdout))
        ev = events(d, "build.passed")[-1]
        saved = open(ev["data"]["output"]["path"], "rb").read()
        check(tok.encode() not in saved and b"hunter2pw" not in saved,
              "no secret in the saved output (%d bytes)" % len(saved))
        eq(saved.count(b"[REDACTED:github-token]"), 2, "github-token markers")
        eq(saved.count(b"curl -u bob:[REDACTED:basic-auth] https://x"), 1, "basic-auth marker")
        # Everything else is kept byte for byte.
        eq(saved.replace(b"[REDACTED:github-token]", tok.encode())
           .replace(b"[REDACTED:basic-auth]", b"hunter2pw"), r.stdout,
           "the rest of the saved output")


@T.test
def output_over_the_cap_passes_whole_and_keeps_head_and_tail_redacted():
    """Output well over the capture cap (the head is redacted while the
    command runs, the rest in parts on several threads: src/cli/runlog.h):
    stdout gets every byte in order, and the saved copy is the head and the
    tail, with the secrets in each redacted, a key block cut by the head's
    end included. Such a block has no END line before the omission mark, so
    its marker runs on to the end of redact_text()'s piece, over the mark
    (kb/redact.h: a block cut short); the tail after that is intact."""
    tok = "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d"
    body = "MIIEpAIBAAKCAQEAtestkeymaterialabcdefghijklmnop0123"
    with Daemon(env={"CAIRN_RUNNER_CAPTURE_BYTES": "1M"}) as d:
        # 512 KiB of head: a token first, a key block from 499 KB to 530 KB
        # (across the head's end), then 6 MB of lines and a token near the end.
        script = ("echo 'export GITHUB_TOKEN=%s'; seq 1 85000; "
                  "echo '-----BEGIN RSA PRIVATE KEY-----'; "
                  "for i in $(seq 1 600); do echo %s; done; "
                  "echo '-----END RSA PRIVATE KEY-----'; seq 1 800000; "
                  "echo 'token %s'; seq 1 1000" % (tok, body, tok))
        r = run(d, ["--", "sh", "-c", script])
        eq(r.returncode, 0, "exit")
        plain = subprocess.run(["sh", "-c", script], capture_output=True)
        eq(r.stdout, plain.stdout, "stdout gets every byte, in order")
        ev = events(d, "build.passed")[-1]
        o = ev["data"]["output"]
        check(o["truncated"], "truncated")
        eq(o["bytes"], len(plain.stdout), "bytes counted")
        saved = open(o["path"], "rb").read()
        check(tok.encode() not in saved, "no token in the saved copy")
        check(body.encode() not in saved, "no key material in the saved copy")
        eq(saved.count(b"[REDACTED:github-token]"), 2, "a token in the head and in the tail")
        eq(saved.count(b"[REDACTED:private-key]"), 1, "the key block cut by the head's end")
        begin = plain.stdout.index(b"-----BEGIN")
        check(begin < 512 * 1024 < begin + 600 * len(body), "the key is across the head's end")
        want_head = plain.stdout[:begin].replace(tok.encode(), b"[REDACTED:github-token]")
        eq(saved[:len(want_head)], want_head, "the head, up to the key, as the command wrote it")
        eq(saved[len(want_head):len(want_head) + 22], b"[REDACTED:private-key]", "the key's marker")
        want_tail = plain.stdout[-400 * 1024:].replace(tok.encode(), b"[REDACTED:github-token]")
        check(saved.endswith(want_tail), "the tail's last 400 KiB as the command wrote it")
        # stdout to a regular file: the command writes to it directly and
        # its head is read ahead while it runs; the saved copy is the same.
        path = os.path.join(d.tmp, "out.txt")
        with open(path, "wb") as f:
            r = subprocess.run([d.bin, "run", "--", "sh", "-c", script], stdout=f,
                               stderr=subprocess.PIPE, env=d.env(), timeout=60)
        eq(r.returncode, 0, "exit, stdout to a file")
        eq(open(path, "rb").read(), plain.stdout, "the file gets every byte")
        o = events(d, "build.passed")[-1]["data"]["output"]
        eq(open(o["path"], "rb").read(), saved, "the same saved copy as through a pipe")


@T.test
def stdout_to_a_file_is_written_directly_and_captured():
    with Daemon(env={"CAIRN_RUNNER_CAPTURE_BYTES": "4K"}) as d:
        out = os.path.join(d.tmp, "out.txt")
        with open(out, "wb") as f:
            f.write(b"already there\n")
        with open(out, "ab") as f:  # `>>`: the command's bytes go after it
            r = subprocess.run([d.bin, "run", "--", "sh", "-c", "seq 1 50000; echo oops >&2"],
                               stdout=f, stderr=subprocess.PIPE, env=d.env(), timeout=60)
        eq(r.returncode, 0, "exit")
        eq(r.stderr, b"oops\n", "stderr still passed through")
        want = b"already there\n" + subprocess.run(["seq", "1", "50000"],
                                                  capture_output=True).stdout
        eq(open(out, "rb").read(), want, "the file holds exactly the command's output")
        ev = events(d, "build.passed")[-1]
        o = ev["data"]["output"]
        eq(o["bytes"], len(want) - len(b"already there\n") + len(b"oops\n"), "bytes counted")
        kept = open(o["path"], "rb").read()
        check(kept.startswith(b"oops\n1\n2\n"), "capture: stderr, then the file's head: %r"
              % kept[:40])
        check(kept.endswith(b"49999\n50000\n"), "capture keeps the file's tail")
        check(b"already there" not in kept, "only what the command wrote is captured")


@T.test
def pty_when_stdout_is_a_terminal():
    with Daemon() as d:
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(d.bin, [d.bin, "run", "--", "sh", "-c",
                              "test -t 1 && echo TTY || echo NOTTY; stty size"], d.env())
        import fcntl
        import struct
        import termios
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        out = b""
        deadline = time.time() + 20
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 1)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        _, status = os.waitpid(pid, 0)
        eq(os.waitstatus_to_exitcode(status), 0, "exit status under a pty")
        check(b"TTY" in out and b"NOTTY" not in out, "the command saw a terminal: %r" % out)
        check(b"33 101" in out, "window size passed on: %r" % out)


@T.test
def spooled_when_daemon_is_down():
    d = Daemon(start=False)
    with d:
        r = run(d, ["--target", "offline", "--", "sh", "-c", "echo hi; exit 2"])
        eq(r.returncode, 2, "the command still runs with no daemon")
        eq(r.stdout, b"hi\n", "output unchanged with no daemon")
        # Said once: the failure waits in the spool, untriaged.
        err = r.stderr.decode()
        eq(err.count("\n"), 1, "one line on stderr: %r" % err)
        check("spooled, not triaged" in err and "cairn daemon" in err, err)
        r = run(d, ["--target", "offline-ok", "--", "true"])
        eq(r.stderr, b"", "a pass adds nothing to stderr with no daemon")
        spool = os.path.join(d.data_home, "cairn", "spool")
        files = sorted(os.listdir(spool))
        eq(len(files), 4, "four events spooled: %s" % files)
        d.start()
        deadline = time.time() + 10
        evs = []
        while time.time() < deadline:
            evs = events(d, "build.>")
            if len(evs) == 4:
                break
            time.sleep(0.1)
        eq([e["type"] for e in evs][:2], ["build.started", "build.failed"],
           "spooled events arrive")
        eq(evs[1]["subject"], "offline", "subject survives the spool")
        deadline = time.time() + 10
        while os.listdir(spool) and time.time() < deadline:
            time.sleep(0.1)
        eq(os.listdir(spool), [], "spool emptied once the events are durable")
        # While the daemon runs, a spool file dropped in is picked up at once.
        ev = {"specversion": "1.0", "id": "late-1", "source": "t", "type": "late.x",
              "time": "2026-11-27T00:00:00Z"}
        tmp = os.path.join(spool, ".tmp-x")
        open(tmp, "w").write(json.dumps(ev))
        os.rename(tmp, os.path.join(spool, "01M8FHT0JAFFM0W24CQ2AJBN7T.json"))
        deadline = time.time() + 10
        while not events(d, "late.x") and time.time() < deadline:
            time.sleep(0.1)
        eq(len(events(d, "late.x")), 1, "a file renamed into the spool is imported live")


@T.test
def why_says_newer_failures_wait_in_the_spool():
    """A failure triaged while the daemon ran, then a newer one spooled
    while it was down: `cairn why` shows the older report and says, on
    stderr, that a newer failure has no report yet and why."""
    d = Daemon()
    with d:
        r = run(d, ["--target", "older", "--", "sh", "-c", "echo 'a.c:1:1: error: old one'; exit 1"])
        eq(r.returncode, 1, "the first failure")
        deadline = time.time() + 20
        while not events(d, "triage.report") and time.time() < deadline:
            time.sleep(0.1)
        check(events(d, "triage.report"), "the first failure was triaged")
        d.stop()
        r = run(d, ["--target", "newer", "--", "sh", "-c", "echo 'b.c:2:1: error: new one'; exit 1"])
        eq(r.returncode, 1, "the second failure, spooled")
        env = d.env()
        w = subprocess.run([d.bin, "why", "--all", "--wait", "0"], capture_output=True,
                           env=env, cwd=d.tmp, timeout=60, stdin=subprocess.DEVNULL)
        out, err = w.stdout.decode(), w.stderr.decode()
        check("old one" in out, "the older report is shown: %r" % out)
        check("1 newer failure" in err and "no report yet" in err and "cairn daemon" in err,
              "stderr says a newer failure waits untriaged: %r" % err)
        check("older failure" in err, "and that the report shown is an older one: %r" % err)


@T.test
def lost_events_are_reported_once():
    """No daemon and a data directory that cannot be made (its path runs
    through a regular file, which stops root too): the wrapped command runs
    and exits as always, and stderr says once that its events are lost,
    after the command's output (build.started is published while the
    command runs) and on a line of its own."""
    d = Daemon(start=False)
    blocker = os.path.join(d.tmp, "a-file")
    with open(blocker, "w") as f:
        f.write("not a directory\n")
    data_dir = os.path.join(blocker, "cairn")
    r = run(d, ["--", "sh", "-c", "printf out; printf err >&2; exit 3"],
            env_extra={"CAIRN_DAEMON_DATA_DIR": data_dir})
    eq(r.returncode, 3, "exit status of the wrapped command")
    eq(r.stdout, b"out", "the command's stdout")
    err = r.stderr.decode("utf-8", "replace")
    own = "".join(l for l in err.splitlines(True) if not l.startswith("cairn: "))
    eq(own, "err\n", "the command's stderr, then a line break before cairn's message")
    check(err.startswith("err\ncairn: "), "cairn's message comes after the command's output: %s"
          % short(err))
    eq(err.count("events are lost"), 1, "the loss is reported once (stderr: %s)" % short(err))
    check(os.path.join(data_dir, "spool") in err, "the message names the spool directory: %s"
          % short(err))
    check("cairn daemon" in err, "the message says what to do: %s" % short(err))
    check(not os.path.isdir(os.path.join(d.tmp, "a-file")), "nothing was made in its place")


if __name__ == "__main__":
    T.main()
