#!/usr/bin/env python3
"""Events survive a clean restart, seq continues without a gap, the store is
$XDG_DATA_HOME/cairn/cairn.db, and only one daemon runs per user."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import (Daemon, Suite, check, eq, ev, pub_pipelined,  # noqa: E402
                      short)

T = Suite(per_test_timeout=150)


def snapshot(c):
    return [(e["seq"], e["source"], e["id"], e["type"], e.get("data")) for e in c.query_all()]


@T.test
def durable_events_survive_restart():
    with Daemon() as d:
        with d.conn() as c:
            acks = [c.pub(ev("p.durable", data={"i": i}), ack="durable") for i in range(50)]
            eq([a["seq"] for a in acks], list(range(1, 51)), "seqs of 50 durable publishes")
            before = snapshot(c)
        check(os.path.isfile(d.db_path), "no database at %s" % d.db_path)
        d.restart()
        with d.conn() as c:
            after = snapshot(c)
            eq(after, before, "log after a restart")
            s = c.status()
            eq((s["seq"]["last"], s["events"]), (50, 50), "status seq.last and events")
            eq((s.get("store") or {}).get("path"), d.db_path, "status store.path")
            r = c.pub(ev("p.after", data="next"), ack="durable")
            eq(r["seq"], 51, "seq of the first publish after the restart")
            r = c.pub(ev("p.after", data="next2"))
            eq(r["seq"], 52, "seq of the second publish after the restart")
        d.restart()
        with d.conn() as c:
            evs = c.query_all()
            eq([e["seq"] for e in evs], list(range(1, 53)), "seqs after a second restart")
            eq(evs[-1].get("data"), "next2", "data of the last event")


@T.test
def accepted_events_flushed_on_sigterm():
    # ack "accepted" is in memory; SIGTERM must flush it before exit 0.
    with Daemon() as d:
        with d.conn() as c:
            events = [ev("p.accepted", source="acc", id="a%d" % i, data=i) for i in range(2000)]
            replies = pub_pipelined(c, events, ack="accepted", window=256)
            eq(sorted(r["seq"] for r in replies), list(range(1, 2001)), "acked seqs")
        d.restart()
        with d.conn() as c:
            evs = c.query_all()
            eq(len(evs), 2000, "events after SIGTERM and restart")
            eq([e["seq"] for e in evs], list(range(1, 2001)), "seqs after restart")
            byid = {e["id"]: e["seq"] for e in evs}
            for e, r in zip(events, replies):
                check(byid.get(e["id"]) == r["seq"],
                      "event %s acked with seq %s is stored as %s" % (e["id"], r["seq"],
                                                                     byid.get(e["id"])))
            # dedup survives the restart too
            r = c.pub(ev("p.accepted", source="acc", id="a7", data=7))
            eq((r["seq"], r["duplicate"]), (8, True), "republish of a7 after restart")


@T.test
def one_daemon_per_user():
    with Daemon() as d:
        with d.conn() as c:
            c.pub(ev("lock.test"), ack="durable")
        try:
            second = subprocess.run([d.bin, "daemon"], env=d.env(), stdin=subprocess.DEVNULL,
                                    capture_output=True, timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError("a second daemon for the same user was still running after 15s")
        check(second.returncode != 0,
              "a second daemon for the same user exited 0; stderr: %s" % short(second.stderr))
        check(d.running(), "the first daemon died when a second one started")
        with d.conn() as c:
            eq(c.status()["events"], 1, "the first daemon still serves its socket")
            eq(c.status()["pid"], d.pid, "the socket belongs to the first daemon")


if __name__ == "__main__":
    T.main()
