#!/usr/bin/env python3
"""The spool (<data_dir>/spool/<ULID>.json) is written by other processes of
the same user, so the daemon must survive whatever is found there: a FIFO
under a spool file's name used to block it in open() for good, and every
client with it. Now such a file is renamed aside to *.bad, the daemon keeps
answering, and real spooled events next to it are still delivered."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, short  # noqa: E402

T = Suite(per_test_timeout=90)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(ms=None, tail=0):
    """A valid ULID for time ms (default: now) with a chosen random part."""
    if ms is None:
        ms = int(time.time() * 1000)
    n = (ms << 80) | tail
    return "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in range(25, -1, -1))


def spool_dir(d):
    return os.path.join(d.data_home, "cairn", "spool")


def status_answers(d):
    rc, out, err = d.cli(["status"], timeout=20)
    eq(rc, 0, "cairn status exit (stderr: %s)" % short(err))
    check("is running" in out, "cairn status output: %s" % short(out))


def wait_for(pred, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not pred():
        check(time.monotonic() < deadline, "timed out waiting for %s" % what)
        time.sleep(0.05)


def make_private_dirs(path):
    """mkdir -p with every new level 0700, as the daemon requires of its
    data directory."""
    old = os.umask(0o077)
    try:
        os.makedirs(path, mode=0o700)
    finally:
        os.umask(old)


@T.test
def fifo_in_spool_at_start_is_set_aside():
    d = Daemon(start=False)
    sp = spool_dir(d)
    make_private_dirs(sp)
    base = int(time.time() * 1000) - 60000
    fifo = os.path.join(sp, ulid(base, 1) + ".json")
    os.mkfifo(fifo, 0o600)
    # A real spooled event that sorts after the FIFO: still delivered.
    good = os.path.join(sp, ulid(base, 2) + ".json")
    with open(good, "w") as f:
        json.dump({"specversion": "1.0", "id": ulid(base, 3), "source": "test",
                   "type": "spooled.ok", "time": "2026-01-01T00:00:00.000Z"}, f)
    with d:
        # start() fails if the daemon never accepts (it used to hang in open()).
        d.start(timeout=15)
        status_answers(d)
        wait_for(lambda: os.path.exists(fifo + ".bad"), "the FIFO renamed to .bad")
        check(not os.path.lexists(fifo), "the FIFO is gone from its spool name")
        with d.conn() as c:
            wait_for(lambda: c.query(pattern="spooled.ok")["events"], "the good spooled event")
        wait_for(lambda: not os.path.exists(good), "the good spool file removed once stored")
        check("not a regular file" in d.log_text(),
              "the daemon's log says why the file was set aside")


@T.test
def fifo_appearing_while_running_is_set_aside():
    with Daemon() as d:
        sp = spool_dir(d)
        os.makedirs(sp, mode=0o700, exist_ok=True)
        status_answers(d)  # the daemon has its spool watch by now
        fifo = os.path.join(sp, ulid(None, 7) + ".json")
        # Made elsewhere and renamed in, as the spool writer does with files.
        tmp = os.path.join(sp, ".tmp-fifo")
        os.mkfifo(tmp, 0o600)
        os.rename(tmp, fifo)
        wait_for(lambda: os.path.exists(fifo + ".bad"), "the FIFO renamed to .bad")
        status_answers(d)


@T.test
def symlink_in_spool_is_not_followed():
    d = Daemon(start=False)
    sp = spool_dir(d)
    make_private_dirs(sp)
    # The target is a valid event: importing it would mean the link was followed.
    target = os.path.join(d.tmp, "elsewhere.json")
    with open(target, "w") as f:
        json.dump({"source": "test", "type": "followed.link"}, f)
    link = os.path.join(sp, ulid(None, 9) + ".json")
    os.symlink(target, link)
    with d:
        d.start(timeout=15)
        status_answers(d)
        with d.conn() as c:
            c.wait_committed()
            eq(c.query(pattern="followed.link")["events"], [], "events read through the link")
        check(os.path.exists(target), "the link's target is untouched")


if __name__ == "__main__":
    T.main()
