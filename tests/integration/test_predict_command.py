#!/usr/bin/env python3
"""The command prediction service (src/services/cmdpredict.c) and `cairn
predict command`: the next-command model learned from shell.command events,
kept across a kill -9 with the context of the last commands, each command
learned once."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, ev, pub_pipelined, short  # noqa: E402

T = Suite(per_test_timeout=120)

T0 = 1700000000


def command(line, i, status=0):
    return ev("shell.command", source="cairn/shell",
              time=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(T0 + 20 * i)),
              data={"command": line, "exit": status, "cwd": "/tmp", "shell": "bash"})


def counts(d):
    with d.conn() as c:
        s = c.status()["services"]["cmdpredict"]
    return s.get("commands_learned", 0), s.get("commands_skipped", 0)


def wait_handled(d, n):
    deadline = time.time() + 20
    while sum(counts(d)) < n:
        check(time.time() < deadline, "not learned: %s of %d" % (counts(d), n))
        time.sleep(0.05)


def predict(d, *args):
    rc, out, err = d.cli(["predict", "command", "--json"] + list(args))
    eq(rc, 0, "predict command %s (%s)" % (" ".join(args), short(err)))
    return json.loads(out)["predictions"]


CYCLE = ["make -j4", "./a.out", "vi main.c"]


@T.test
def learned_once_and_kept_across_a_kill():
    d = Daemon()
    try:
        rc, out, err = d.cli(["predict", "command"])
        eq(rc, 0, "before any command (%s)" % short(err))
        check(out.startswith("no prediction"), "says there is none yet: %s" % short(out))

        # Five times make / ./a.out / vi, a typo the shell did not find
        # (exit 127: not learned), and an event of another type.
        events = [command(CYCLE[i % 3], i) for i in range(15)]
        events.insert(7, command("mkae", 99, status=127))
        events.append(ev("build.passed", data={"target": "all"}))
        with d.conn() as c:
            pub_pipelined(c, events, ack="durable")
        wait_handled(d, 16)
        eq(counts(d), (15, 1), "commands learned / skipped (exit 127)")

        # After the last commands learned (./a.out, then vi).
        got = predict(d)
        eq(got[0]["command"], "make -j4", "first prediction, with its usual whole line")
        eq(got[0]["reason"], "followed './a.out' then 'vi' 4 of 4 times", "why")
        # The orders' shares sum to at most 1; skip row 0.2, recency 0.1.
        check(0 < got[0]["score"] <= 1.3, "a score: %s" % got[0])
        eq(sorted(got[0].keys()), ["command", "reason", "score"], "keys")
        # After a command given.
        got = predict(d, "--after", "make", "--limit", "2")
        eq(len(got), 2, "--limit 2")
        eq(got[0]["command"], "./a.out", "after make")
        eq(got[0]["reason"], "followed 'make' 5 of 5 times", "why, after make")
        # Text: score, command, why.
        rc, out, err = d.cli(["predict", "command", "--after", "vi x.c", "--limit", "1"])
        eq(rc, 0, "text output (%s)" % short(err))
        check(out.endswith("  make -j4  (followed 'vi' 4 of 4 times)\n"),
              "text line: %s" % short(out))
        # --batch: one answer per line of input, the same as one query each.
        rc, out, err = d.cli(["predict", "command", "--json", "--batch"], input="\nmake\n")
        eq(rc, 0, "--batch (%s)" % short(err))
        lines = out.splitlines()
        eq(len(lines), 2, "one answer per query")
        eq(json.loads(lines[0])["predictions"], predict(d), "--batch, after the last")
        eq(json.loads(lines[1])["predictions"], predict(d, "--after", "make"),
           "--batch, after make")

        before = predict(d)
        # A kill -9 before the checkpoint was saved: the host may run the
        # last jobs again; the service learns a seq it has seen only once.
        d.kill9()
        d.start()
        wait_handled(d, 0)
        eq(predict(d), before, "the model after a kill -9 and a restart")
        # The context of the last commands survived too: one more make
        # follows (vi, make) as before, counted once.
        with d.conn() as c:
            pub_pipelined(c, [command("make -j4", 15)], ack="durable")
        deadline = time.time() + 20
        while True:
            got = predict(d)
            if got and got[0]["reason"].startswith("followed 'vi' then 'make'"):
                break
            check(time.time() < deadline, "the new command was not learned: %s" % got)
            time.sleep(0.05)
        eq(got[0]["command"], "./a.out", "after vi then make")
        eq(got[0]["reason"], "followed 'vi' then 'make' 4 of 4 times",
           "learned once across the restart (8 of 8 if learned again)")
        d.stop()
    finally:
        d.cleanup()


@T.test
def usage_errors_say_what_is_wrong():
    d = Daemon(start=False)
    try:
        rc, out, err = d.cli(["predict", "command"])
        eq(rc, 1, "no database yet")
        check("no event log" in err and "shell-init" in err, "says what to do: %s" % short(err))
        d.start()
        for args, want in [(["make"], "unexpected 'make'"),
                           (["--limit", "0"], "--limit wants 1 to 1000"),
                           (["--batch", "--after", "ls"], "leave out --after")]:
            rc, out, err = d.cli(["predict", "command"] + args)
            eq(rc, 2, "predict command %s" % " ".join(args))
            check(want in err, "names the problem: %s" % short(err))
        d.stop()
    finally:
        d.cleanup()


if __name__ == "__main__":
    T.main()
