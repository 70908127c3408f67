#!/usr/bin/env python3
"""cairn run at a terminal: the command gets a terminal on stdout, but a
stderr the user redirected (`2>/dev/null`, `2>file`, `2>&1 | ...`) is
honoured: the command's stderr goes there, not to the terminal, and is still
captured (the failure's diagnostics are found). With stdout redirected and
stderr at the terminal, both still go where they were sent. Under a failed
command, the hint is one line that fits the terminal (plus the `cairn why`
pointer), describes the known fix in words and does not repeat the error the
compiler just printed."""

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, short  # noqa: E402

T = Suite(per_test_timeout=180)

BAD_C = "int main(void) { return undeclared_thing; }\n"

# Writes to stdout and stderr, says which of them is a terminal, then fails
# to compile bad.c (the compiler's errors go to stderr).
SCRIPT = ("echo OUT-LINE; echo ERR-LINE >&2; "
          "if test -t 1; then echo STDOUT-TTY; fi; "
          "if test -t 2; then echo STDERR-TTY; else echo STDERR-NOT-TTY; fi; "
          "cc -c bad.c -o /dev/null")


def clean_env(d, extra=None):
    # As a person runs it: not under an outer make, and the width from the
    # terminal, not from a COLUMNS the test runner happened to export.
    env = {k: v for k, v in d.env().items()
           if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "COLUMNS", "LINES")}
    env.update(extra or {})
    return env


def read_all(fd, timeout=60):
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: every holder of the terminal has gone
            break
        if not chunk:
            break
        out += chunk
    return out


def run_on_pty(d, cmd, cwd, stdout="pty", stderr="pty", cols=100, env_extra=None):
    """Runs `cairn run -- CMD` with stdin on a new terminal of `cols` columns,
    stdout and stderr each on it ("pty") or on the file object given.
    Returns (exit status, what the terminal showed: decoded, without colour
    sequences, with plain newlines)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    p = subprocess.Popen([d.bin, "run", "--"] + cmd, cwd=cwd, env=clean_env(d, env_extra),
                         stdin=slave, stdout=slave if stdout == "pty" else stdout,
                         stderr=slave if stderr == "pty" else stderr)
    os.close(slave)
    out = read_all(master)
    os.close(master)
    rc = p.wait(timeout=60)
    # Without the compiler's colours (it colours its messages on a terminal).
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out.decode("utf-8", "replace"))
    return rc, text.replace("\r\n", "\n")


def last_event(d, pattern):
    with d.conn() as c:
        c.wait_committed()
        evs = c.query_all(pattern=pattern)
    check(evs, "a %s was logged" % pattern)
    return evs[-1]


def project(d):
    work = os.path.join(d.tmp, "work")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "bad.c"), "w") as f:
        f.write(BAD_C)
    return work


def check_captured(d, what):
    """The failure's capture holds the command's stderr, and its diagnostics
    were found in it."""
    ev = last_event(d, "build.failed")
    data = ev["data"]
    eq(data["pty"], True, "%s: the command ran on a terminal" % what)
    saved = open(data["output"]["path"], "rb").read().decode("utf-8", "replace")
    check("ERR-LINE" in saved and "OUT-LINE" in saved,
          "%s: the capture holds both streams: %s" % (what, short(saved)))
    check("undeclared_thing" in saved, "%s: the capture holds the compiler's error: %s"
          % (what, short(saved)))
    check(any(x.get("file", "").endswith("bad.c") and x.get("line") == 1
              for x in data["diagnostics"]),
          "%s: a diagnostic for bad.c:1 was found: %s" % (what, short(data["diagnostics"])))


@T.test
def stderr_to_a_file_at_a_terminal_goes_to_the_file():
    with Daemon() as d:
        work = project(d)
        errpath = os.path.join(d.tmp, "err.txt")
        with open(errpath, "wb") as ef:
            rc, shown = run_on_pty(d, ["sh", "-c", SCRIPT], work, stderr=ef)
        check(rc != 0, "the compile fails (exit %d)" % rc)
        check("OUT-LINE" in shown and "STDOUT-TTY" in shown,
              "stdout reached the terminal, as a terminal: %s" % short(shown))
        check("ERR-LINE" not in shown and "undeclared_thing" not in shown,
              "nothing of stderr reached the terminal: %s" % short(shown))
        check("STDERR-NOT-TTY" in shown, "the command's stderr is not the terminal: %s"
              % short(shown))
        err = open(errpath, "rb").read().decode("utf-8", "replace")
        check(err.startswith("ERR-LINE\n") and "undeclared_thing" in err,
              "the command's stderr is in the file: %s" % short(err))
        check("cairn:" not in err, "no hint when stderr is not a terminal: %s" % short(err))
        check_captured(d, "2>file")


@T.test
def stderr_to_dev_null_at_a_terminal_is_dropped_but_captured():
    with Daemon() as d:
        work = project(d)
        with open(os.devnull, "wb") as ef:
            rc, shown = run_on_pty(d, ["sh", "-c", SCRIPT], work, stderr=ef)
        check(rc != 0, "the compile fails (exit %d)" % rc)
        check("OUT-LINE" in shown, "stdout reached the terminal: %s" % short(shown))
        check("ERR-LINE" not in shown and "undeclared_thing" not in shown
              and "error" not in shown,
              "2>/dev/null kept stderr off the terminal: %s" % short(shown))
        check_captured(d, "2>/dev/null")


@T.test
def stderr_to_a_pipe_at_a_terminal_gets_exactly_its_bytes():
    with Daemon() as d:
        work = project(d)
        script = ("printf 'a\\000b\\377'; printf 'e1\\000\\376' >&2; sleep 0.1; "
                  "printf 'e2 no newline' >&2; exit 4")
        master, slave = pty.openpty()
        p = subprocess.Popen([d.bin, "run", "--", "sh", "-c", script], cwd=work,
                             env=clean_env(d), stdin=slave, stdout=slave,
                             stderr=subprocess.PIPE)
        os.close(slave)
        shown = read_all(master)
        os.close(master)
        err = p.stderr.read()
        eq(p.wait(timeout=60), 4, "exit status")
        eq(err, b"e1\x00\xfee2 no newline", "stderr bytes, unchanged, on the pipe")
        check(b"a\x00b\xff" in shown and b"e1" not in shown and b"e2" not in shown,
              "the terminal got stdout only: %r" % shown)
        ev = last_event(d, "build.failed")
        eq(ev["data"]["output"]["bytes"], 4 + 4 + 13, "both streams counted in the capture")


@T.test
def stdout_redirected_with_stderr_at_the_terminal():
    """The other half of the rule: no terminal on stdout means pipes (a
    regular file is written directly); stderr still reaches the terminal."""
    with Daemon() as d:
        work = project(d)
        outpath = os.path.join(d.tmp, "out.txt")
        with open(outpath, "wb") as of:
            rc, shown = run_on_pty(d, ["sh", "-c", SCRIPT], work, stdout=of)
        check(rc != 0, "the compile fails (exit %d)" % rc)
        out = open(outpath, "rb").read().decode("utf-8", "replace")
        eq(out, "OUT-LINE\nSTDERR-NOT-TTY\n", "the file holds stdout exactly")
        check("ERR-LINE" in shown and "undeclared_thing" in shown,
              "stderr reached the terminal: %s" % short(shown))
        check("OUT-LINE" not in shown, "stdout did not: %s" % short(shown))
        ev = last_event(d, "build.failed")
        eq(ev["data"]["pty"], False, "no pty without a terminal on stdout")
        check(any(x.get("file", "").endswith("bad.c") for x in ev["data"]["diagnostics"]),
              "diagnostics found: %s" % short(ev["data"]["diagnostics"]))


# ---- the hint ----

A_C = "int alpha(int x)\n{\n\tint y = x * 2;\n\treturn y + 1;\n}\n"
B_C = ("int beta(int n)\n{\n\tint t = 0;\n\tfor (int i = 0; i < n; i++)\n\t\tt += i;\n"
       "\treturn t;\n}\n")
MAKEFILE = "all: a.o b.o\n%.o: %.c\n\tgcc -c -o $@ $<\n"


def git(repo, *args):
    subprocess.run(["git", "-C", repo] + list(args), check=True, capture_output=True,
                   env=dict(os.environ, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.com",
                            GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@example.com"))


def write(repo, name, text):
    time.sleep(0.02)  # a later mtime than the last build's objects
    with open(os.path.join(repo, name), "w") as f:
        f.write(text)


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
    raise AssertionError("no %s within %.0fs; saw %s" % (what, timeout, short(seen, 1500)))


def plain_make(d, repo):
    return subprocess.run([d.bin, "run", "--", "make"], cwd=repo, env=clean_env(d),
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def hint_lines(shown):
    """cairn's own lines at the end of what the terminal showed."""
    lines = shown.rstrip("\n").split("\n")
    i = len(lines)
    while i > 0 and lines[i - 1].startswith("cairn: "):
        i -= 1
    return lines[i:]


@T.test
def hint_is_one_fitted_line_with_the_fix_in_words():
    with Daemon() as d:
        repo = os.path.join(d.tmp, "proj")
        os.makedirs(repo)
        for name, text in (("a.c", A_C), ("b.c", B_C), ("Makefile", MAKEFILE)):
            write(repo, name, text)
        write(repo, ".gitignore", "*.o\n")
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "initial")
        rc, out, err = d.cli(["watch", "add", repo])
        eq(rc, 0, "watch add (%s)" % short(err))
        eq(plain_make(d, repo).returncode, 0, "the clean build passes")

        # a.c loses a semicolon and gets it back: cairn learns the fix.
        write(repo, "a.c", A_C.replace("x * 2;", "x * 2"))
        time.sleep(0.3)
        check(plain_make(d, repo).returncode != 0, "the broken build fails")
        write(repo, "a.c", A_C)
        time.sleep(0.3)
        eq(plain_make(d, repo).returncode, 0, "the fixed build passes")
        learned = wait_event(d, "kb.>", lambda e: e["data"].get("learned") is True,
                             what="a learned fix")["data"]

        # b.c breaks the same way, at a terminal of 100 columns.
        write(repo, "b.c", B_C.replace("int t = 0;", "int t = 0"))
        time.sleep(0.3)
        rc, shown = run_on_pty(d, ["make"], repo, cols=100)
        check(rc != 0, "b.c breaks the build")
        fail = wait_event(d, "build.failed", lambda e: "b.c" in json.dumps(e["data"]),
                          what="the b.c failure")
        rep = wait_event(d, "triage.report", lambda e: e.get("correlationid") == fail["id"],
                         what="its report")["data"]
        check(rep["fixes"] and rep["fixes"][0]["id"] == learned["id"],
              "the report offers the learned fix: %s" % short(rep))
        message = rep["signature"]["message"]
        check(message in shown, "the compiler printed its error: %s" % short(shown, 2000))
        ours = hint_lines(shown)
        eq(len(ours), 2, "one hint line and the pointer: %s" % short(shown, 2000))
        hint, pointer = ours
        check(len(hint) <= 100, "the hint fits 100 columns (%d): %r" % (len(hint), hint))
        check("known fix: added `;` in a.c" in hint,
              "the fix in words: %r (fix: %s)" % (hint, short(rep["fixes"][0])))
        check(message not in hint and "expected" not in hint,
              "the hint does not repeat the error %r: %r" % (message, hint))
        check("diff" not in hint and "@@" not in hint and "+\t" not in hint,
              "no raw diff in the hint: %r" % hint)
        check("cairn why" in pointer and "cairn kb show %d" % learned["id"] in pointer,
              "the pointer names cairn why and the fix: %r" % pointer)
        # Only the command's output comes before it: not the old summary.
        check(rep["summary"] not in shown, "the report's summary is not printed")

        # A narrow terminal: the line is cut to its width, with "…".
        rc, shown = run_on_pty(d, ["make"], repo, cols=40)
        ours = hint_lines(shown)
        eq(len(ours), 2, "one hint line and the pointer at 40 columns: %s"
           % short(shown, 2000))
        eq(len(ours[0]), 40, "the hint takes the 40 columns: %r" % ours[0])
        check(ours[0].endswith("…") and ours[0].startswith("cairn: known fix: added `;`"),
              "cut with an ellipsis: %r" % ours[0])
        # COLUMNS, when set, is the width.
        rc, shown = run_on_pty(d, ["make"], repo, cols=40, env_extra={"COLUMNS": "60"})
        ours = hint_lines(shown)
        check(len(ours) == 2 and len(ours[0]) == 60, "COLUMNS=60 is the width: %r" % ours)


if __name__ == "__main__":
    T.main()
