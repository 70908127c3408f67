#!/usr/bin/env python3
"""Crash safety: kill -9 the daemon 20 times while 8 publishers send durable
publishes; after each restart, and at the end after a clean restart, every
acknowledged event is in the log exactly once with the seq it was acked
with, and seq runs 1..N without a gap."""

import json
import os
import random
import sys
import threading
import time
import traceback
from collections import deque

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import (Conn, ConnClosed, Daemon, ReadTimeout, Suite,  # noqa: E402
                      check, eq, log, short)

T = Suite(per_test_timeout=240)

NPUB = 8
KILLS = 20
WINDOW = 32


class Shared:
    def __init__(self, sock_path):
        self.sock_path = sock_path
        self.gate = threading.Event()  # set while the daemon is meant to be up
        self.stop = False
        self.lock = threading.Lock()
        self.acked = {}                # id -> seq
        self.errors = []
        self.duplicates = 0
        self.resent = 0


class CrashPublisher(threading.Thread):
    def __init__(self, k, sh):
        super().__init__(daemon=True, name="crashpub%d" % k)
        self.k = k
        self.sh = sh
        self.next_n = 0
        self.retry = deque()
        self.inflight = {}
        self.connects = 0

    def event(self, n):
        return {"source": "crash%d" % self.k, "id": "c%d-%d" % (self.k, n),
                "type": "crash.p%d" % self.k, "data": {"n": n}}

    def run(self):
        sh = self.sh
        try:
            while not sh.stop:
                if not sh.gate.wait(timeout=0.05):
                    continue
                try:
                    c = Conn(sh.sock_path, timeout=20, connect_timeout=1)
                except OSError:
                    time.sleep(0.01)
                    continue
                self.connects += 1
                try:
                    self.pump(c)
                except (OSError, ConnClosed):
                    pass  # the daemon was killed
                except ReadTimeout as e:
                    if sh.gate.is_set():
                        sh.errors.append("%s: daemon stopped answering: %s" % (self.name, e))
                finally:
                    c.close()
                    # Whatever was in flight may or may not be stored: send
                    # it again (same source and id) on the next connection.
                    for n in sorted(self.inflight.values()):
                        self.retry.append(n)
                        sh.resent += 1
                    self.inflight.clear()
        except Exception:
            sh.errors.append("%s: %s" % (self.name, traceback.format_exc()))

    def pump(self, c):
        sh = self.sh
        while not sh.stop:
            batch = []
            while len(self.inflight) < WINDOW:
                if self.retry:
                    n = self.retry.popleft()
                else:
                    n = self.next_n
                    self.next_n += 1
                e = self.event(n)
                self.inflight[e["id"]] = n
                batch.append(json.dumps({"op": "pub", "rid": e["id"], "ack": "durable",
                                         "event": e}, separators=(",", ":")))
            if batch:
                c.send_raw(("\n".join(batch) + "\n").encode())
            m = c.reply(timeout=20)
            rid = m.get("rid")
            if rid not in self.inflight:
                sh.errors.append("%s: reply for nothing in flight: %s" % (self.name, short(m)))
                return
            if m.get("ok") is True:
                seq = m.get("seq")
                with sh.lock:
                    prev = sh.acked.get(rid)
                    if prev is not None and prev != seq:
                        sh.errors.append("%s: %s acked with seq %s and again with seq %s"
                                         % (self.name, rid, prev, seq))
                    sh.acked[rid] = seq
                    if m.get("duplicate"):
                        sh.duplicates += 1
                del self.inflight[rid]
            elif (m.get("error") or {}).get("code") == "unavailable":
                self.retry.append(self.inflight.pop(rid))
            else:
                sh.errors.append("%s: publish refused: %s" % (self.name, short(m)))
                return


class Verifier:
    """Checks the log against the acks, incrementally."""

    def __init__(self, sh):
        self.sh = sh
        self.upto = 0      # seqs 1..upto have been checked
        self.log_ids = {}  # id -> seq, for every event seen in the log

    def check(self, d, full=False):
        with self.sh.lock:
            snap = dict(self.sh.acked)
        start = 1 if full else self.upto + 1
        ids = {} if full else self.log_ids
        with Conn(d.sock_path, timeout=60) as c:
            expect = start
            since = start
            while True:
                r = c.query(since=since, limit=10000)
                for e in r["events"]:
                    seq = e["seq"]
                    check(seq == expect, "log has seq %d where %d was expected (a gap or "
                          "disorder after seq %d)" % (seq, expect, expect - 1))
                    expect += 1
                    key = e["id"]
                    check(e["source"] == "crash" + key[1:key.index("-")],
                          "event %s has source %s" % (key, e["source"]))
                    check(key not in ids, "id %s is in the log twice: seq %s and %s"
                          % (key, ids.get(key), seq))
                    ids[key] = seq
                if not r.get("more"):
                    break
                since = expect
            last = expect - 1
        missing = [(i, s) for i, s in snap.items() if i not in ids]
        check(not missing, "%d acknowledged events are missing from the log (log ends at "
              "seq %d), e.g. %s" % (len(missing), last, sorted(missing, key=lambda x: x[1])[:5]))
        wrong = [(i, s, ids[i]) for i, s in snap.items() if ids[i] != s]
        check(not wrong, "%d acknowledged events have another seq in the log "
              "(id, acked, logged): %s" % (len(wrong), wrong[:5]))
        if full:
            lost = [(i, s) for i, s in self.log_ids.items() if ids.get(i) != s]
            check(not lost, "%d events seen in the log after an earlier restart are gone or "
                  "moved (id, seq then): %s" % (len(lost), lost[:5]))
            self.log_ids = ids
        self.upto = last
        return last, len(snap)


@T.test
def kill9_while_publishing_durably():
    seed = int(os.environ.get("CAIRN_TEST_SEED", time.time()))
    rnd = random.Random(seed)
    log("seed %d (set CAIRN_TEST_SEED to repeat)" % seed)
    d = Daemon(start=False)
    sh = Shared(d.sock_path)
    v = Verifier(sh)
    pubs = [CrashPublisher(k, sh) for k in range(NPUB)]
    for p in pubs:
        p.start()
    t0 = time.monotonic()
    try:
        for i in range(KILLS):
            d.start(timeout=20)
            last, nacked = v.check(d)
            if i in (0, KILLS // 2, KILLS - 1):
                log("restart %d: log ends at seq %d, %d acks so far (%.1fs)"
                    % (i, last, nacked, time.monotonic() - t0))
            sh.gate.set()
            if rnd.random() < 0.25:
                time.sleep(rnd.uniform(0.05, 0.3))
            else:
                time.sleep(rnd.uniform(0.4, 1.6))
            check(not sh.errors, "publisher errors:\n" + "\n".join(sh.errors[:5]))
            sh.gate.clear()
            d.kill9()
    finally:
        sh.stop = True
        sh.gate.set()
        for p in pubs:
            p.join(timeout=30)
    check(not sh.errors, "publisher errors:\n" + "\n".join(sh.errors[:5]))
    check(all(not p.is_alive() for p in pubs), "a publisher thread did not stop")
    # Recovery after the last crash, then a clean stop (exit 0) and start.
    d.start(timeout=20)
    v.check(d)
    d.stop()
    d.start(timeout=20)
    last, nacked = v.check(d, full=True)
    with Conn(d.sock_path) as c:
        s = c.status()
        eq((s["seq"]["last"], s["events"]), (last, last), "status seq.last and events at the end")
    d.stop()
    log("%d kills; %d events logged, %d acked, %d resent after a kill, %d answered as duplicates; "
        "%d connections; %.1fs" % (KILLS, last, nacked, sh.resent, sh.duplicates,
                                   sum(p.connects for p in pubs), time.monotonic() - t0))
    check(nacked >= 1000, "only %d durable acks in %d runs: the test proved little" % (nacked, KILLS))
    check(last >= nacked, "fewer events than acks")
    d.cleanup()


if __name__ == "__main__":
    T.main()
