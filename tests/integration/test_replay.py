#!/usr/bin/env python3
"""Replay (sub with from=seq or from=time) and the replay/live seam while
other connections publish as fast as they can."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import (Daemon, Publisher, ReadTimeout, Suite, check,  # noqa: E402
                      describe_seq_problems, eq, ev, log, now_rfc3339, short)

T = Suite(per_test_timeout=150)


def collect(c, until_seq, sub=None, timeout=20):
    """Reads pushed messages until an event with seq >= until_seq; returns
    (event seqs, [live notices], [gap notices], events)."""
    seqs, lives, gaps, evs = [], [], [], []
    deadline = time.monotonic() + timeout
    while not seqs or seqs[-1] < until_seq:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise ReadTimeout("deadline")
            m = c.next_push(timeout=left)
        except ReadTimeout:
            raise AssertionError("waited %ds for seq %d; got %s"
                                 % (timeout, until_seq, describe_seq_problems(seqs, [])))
        if sub is not None and m.get("sub") != sub:
            raise AssertionError("pushed message for another sub: %s" % short(m))
        if "event" in m:
            seqs.append(m["event"]["seq"])
            evs.append(m["event"])
        elif m.get("live") is True:
            lives.append((len(seqs), m))
        elif "gap" in m:
            gaps.append(m)
        else:
            raise AssertionError("unexpected pushed message %s" % short(m))
    return seqs, lives, gaps, evs


def drain_live_marker(c, seqs, lives, timeout=5):
    """If the live notice has not come yet, it must come next."""
    if not lives:
        m = c.next_push(timeout=timeout)
        check(m.get("live") is True, "expected the live notice, got %s" % short(m))
        lives.append((len(seqs), m))


@T.test
def replay_from_seq():
    with Daemon() as d, d.conn() as c:
        with d.conn() as p:
            for i in range(1, 11):
                eq(p.pub(ev("r.even" if i % 2 == 0 else "r.odd", data=i))["seq"], i, "seq")
        r = c.sub(">", from_=4, name="s4")
        eq(r.get("sub"), "s4", "sub name")
        seqs, lives, gaps, evs = collect(c, 10, sub="s4")
        eq(seqs, list(range(4, 11)), "replayed seqs from 4")
        eq([e["data"] for e in evs], list(range(4, 11)), "replayed data")
        drain_live_marker(c, seqs, lives)
        eq(len(lives), 1, "live notices")
        eq(lives[0][1].get("seq"), 10, "seq in the live notice")
        eq(gaps, [], "gap notices")
        with d.conn() as p:
            p.pub(ev("r.odd", data=11))
            p.pub(ev("r.even", data=12))
        seqs2, lives2, _, _ = collect(c, 12, sub="s4")
        eq(seqs2, [11, 12], "live seqs after the replay")
        eq(lives2, [], "a second live notice")

        # Replay honours the pattern.
        c.sub("r.even", from_=3, name="even")
        seqs, lives, gaps, _ = collect(c, 12, sub="even")
        eq(seqs, [4, 6, 8, 10, 12], "replayed seqs of r.even from 3")
        drain_live_marker(c, seqs, lives)

        c.ok({"op": "unsub", "sub": "s4"})
        c.ok({"op": "unsub", "sub": "even"})
        # from "now" (the default) replays nothing.
        r = c.sub(">", name="now")
        eq(r.get("seq"), 12, "seq in the reply to a sub from now")
        with d.conn() as p:
            p.pub(ev("r.odd", data=13))
        m = c.next_push(timeout=10)
        eq((m.get("sub"), m.get("event", {}).get("seq")), ("now", 13),
           "first push to a sub from now")


@T.test
def replay_from_time():
    with Daemon() as d, d.conn() as c:
        mid = None
        with d.conn() as p:
            for i in range(1, 6):
                if i == 3:
                    time.sleep(0.03)
                    mid = now_rfc3339()
                    time.sleep(0.03)
                p.pub(ev("t.x", data=i))
                time.sleep(0.02)
            p.wait_committed()
        evs = c.query()["events"]
        eq([e["seq"] for e in evs], [1, 2, 3, 4, 5], "logged seqs")
        c.sub(">", from_=mid, name="mid")
        seqs, lives, gaps, _ = collect(c, 5, sub="mid")
        eq(seqs, [3, 4, 5], "seqs replayed from %s (between events 2 and 3)" % mid)
        drain_live_marker(c, seqs, lives)
        t4 = evs[3]["time"]
        c.sub(">", from_=t4, name="t4")
        seqs, lives, gaps, _ = collect(c, 5, sub="t4")
        eq(seqs, [4, 5], "seqs replayed from the time of event 4 (%s)" % t4)
        drain_live_marker(c, seqs, lives)
        c.sub(">", from_="2000-01-01T00:00:00Z", name="old")
        seqs, lives, gaps, _ = collect(c, 5, sub="old")
        eq(seqs, [1, 2, 3, 4, 5], "seqs replayed from 2000-01-01")
        drain_live_marker(c, seqs, lives)


class SeamSub(threading.Thread):
    """A subscriber reading everything from `from_` on, on its own thread."""

    def __init__(self, d, name, from_):
        super().__init__(daemon=True, name=name)
        self.c = d.conn(timeout=30)
        self.from_ = from_
        self.sub_name = name
        self.reply = self.c.sub(">", from_=from_, name=name)
        self.seqs = []
        self.lives = []   # (index into seqs, message)
        self.gaps = []
        self.target = None
        self.error = None
        self.stop = False

    def run(self):
        try:
            deadline = None
            while not self.stop:
                if self.target is not None:
                    if self.seqs and self.seqs[-1] >= self.target:
                        break
                    if deadline is None:
                        deadline = time.monotonic() + 60
                    if time.monotonic() > deadline:
                        self.error = "timed out waiting for seq %d" % self.target
                        break
                try:
                    m = self.c.next_push(timeout=0.5)
                except ReadTimeout:
                    continue
                if m.get("sub") != self.sub_name:
                    self.error = "push for another sub: %s" % short(m)
                    break
                if "event" in m:
                    self.seqs.append(m["event"]["seq"])
                elif m.get("live") is True:
                    self.lives.append((len(self.seqs), m))
                elif "gap" in m:
                    self.gaps.append(m)
                else:
                    self.error = "unexpected push %s" % short(m)
                    break
        except Exception as e:
            self.error = "%s: %r" % (type(e).__name__, e)
        finally:
            self.c.close()

    def problems(self, final):
        p = []
        if self.error:
            p.append(self.error)
        exp = list(range(self.from_, final + 1))
        if self.seqs != exp:
            p.append("seqs: " + describe_seq_problems(self.seqs, exp))
        if self.gaps:
            p.append("gap notices: %s" % short(self.gaps, 300))
        if len(self.lives) != 1:
            p.append("%d live notices: %s" % (len(self.lives), short(self.lives, 300)))
        else:
            i, m = self.lives[0]
            ls = m.get("seq")
            before, after = self.seqs[:i], self.seqs[i:]
            if not isinstance(ls, int):
                p.append("live notice without seq: %s" % short(m))
            elif (before and before[-1] > ls) or (after and after[0] <= ls):
                p.append("live notice %s arrived after seq %s and before seq %s"
                         % (short(m), before[-1] if before else None,
                            after[0] if after else None))
        return p


@T.test(timeout=240)
def replay_live_seam_with_concurrent_publishers():
    # Big subscriber queues: this test is about the seam, not back-pressure.
    env = {"CAIRN_SUBSCRIBER_QUEUE_EVENTS": "200000",
           "CAIRN_SUBSCRIBER_QUEUE_BYTES": str(512 << 20)}
    npub, per = 4, 5000
    total = npub * per
    with Daemon(env=env) as d:
        pubs = [Publisher(d.sock_path, per,
                          lambda i, k=k: {"source": "seam%d" % k, "id": "%d-%d" % (k, i),
                                          "type": "seam.p%d" % k, "data": {"i": i}},
                          ack="accepted", window=128, name="pub%d" % k)
                for k in range(npub)]
        for p in pubs:
            p.start()
        subs = []
        # (fraction of the publishing done, how to choose from)
        plan = [(0.05, "first"), (0.2, "committed"), (0.4, "last-acked"),
                (0.6, "last-acked-1000"), (0.8, "status-last")]
        with d.conn() as ctl:
            for frac, how in plan:
                deadline = time.monotonic() + 90
                while sum(p.acked for p in pubs) < frac * total:
                    check(time.monotonic() < deadline, "publishers stalled at %d of %d"
                          % (sum(p.acked for p in pubs), total))
                    check(all(p.error is None for p in pubs),
                          "; ".join(p.error for p in pubs if p.error))
                    time.sleep(0.005)
                top = max(p.max_seq for p in pubs)
                if how == "first":
                    f = 1
                elif how == "committed":
                    f = max(1, ctl.status()["seq"]["committed"])
                elif how == "last-acked":
                    f = max(1, top)
                elif how == "last-acked-1000":
                    f = max(1, top - 1000)
                else:
                    f = max(1, ctl.status()["seq"]["last"])
                s = SeamSub(d, "seam-%s" % how, f)
                s.start()
                subs.append(s)
            for p in pubs:
                p.join(timeout=120)
                check(not p.is_alive(), "publisher %s did not finish" % p.name)
            errs = [p.error for p in pubs if p.error]
            check(not errs, "publisher errors: %s" % "; ".join(errs))
            allseqs = sorted(s for p in pubs for s in p.seqs)
            eq(allseqs, list(range(1, total + 1)), "seqs acknowledged to the publishers")
            final = total
            eq(ctl.status()["seq"]["last"], final, "status seq.last")
        for s in subs:
            s.target = final
        for s in subs:
            s.join(timeout=90)
            if s.is_alive():
                s.stop = True
                s.join(timeout=5)
        log("; ".join("%s from %d: %d replayed before live, %d live"
                      % (s.sub_name, s.from_, s.lives[0][0] if s.lives else -1,
                         len(s.seqs) - (s.lives[0][0] if s.lives else 0)) for s in subs))
        bad = []
        for s in subs:
            pr = s.problems(final)
            if pr:
                bad.append("%s (from=%d, sub reply %s): %s"
                           % (s.sub_name, s.from_, short(s.reply, 120), " | ".join(pr)))
        check(not bad, "subscribers that did not get every seq exactly once:\n" + "\n".join(bad))


if __name__ == "__main__":
    T.main()
