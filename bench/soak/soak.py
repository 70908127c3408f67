#!/usr/bin/env python3
"""Soak: the real daemon under a long, mixed, misbehaving load.

Starts `cairn daemon` on a private runtime, data, config and home directory,
then for SOAK_SECONDS (default 1800) runs these clients at once, each in its
own thread with its own seeded random generator:

  durable publishers   ack "durable", 200 B .. 4 KiB events and now and then
                       a large one (16 .. 200 KiB), up to 32 in flight; now
                       and then republish an acked (source, id), which must
                       answer duplicate:true with the first seq; reconnect
                       every few hundred events
  accepted publishers  the same with ack "accepted"
  slow subscribers     ">" from now, read at 64 and 256 KiB/s, so they
                       overflow their queue and get gap notices; every event
                       and gap is checked against the seq they expect next;
                       reconnect every 30 .. 120 s
  stalled subscriber   ">" from now, never reads, connected the whole run
  replayer             ">" from seq 1 or from a time inside the run, reads a
                       few hundred to 20,000 events (checked gap-free and in
                       order), then drops the connection midway
  querier              queries (patterns, since/until as seq or time, asc and
                       desc, paging with since) whose replies it reads and
                       checks
  unread queries       connections that send 1 .. 4 large queries, never read
                       the replies, linger and close; plus one connection that
                       sends a query every 5 s for the whole run and never
                       reads anything
  vanishers            connect and go: close at once, close mid-line, close
                       mid 200 KiB line, publish and close, subscribe and
                       close, shutdown(SHUT_WR) after a request
  status               a status request every second (every tenth on a new
                       connection)

Every second the daemon's VmRSS and open fds (/proc/PID/fd, by kind) are
sampled. At the end the clients close, the fds must come back to the
baseline (sockets exactly; files within the SQLite reader pool's slack),
every acked event is looked up with `query` (paging with since) while the
daemon runs and again in the database file after a SIGTERM (sqlite3), and
the log's seqs must be gap-free. There is no natural peer for a soak: the
figures are the daemon's own, printed beside their bounds.

Exit status: 0 when every bound holds, 1 when one is broken, 2 when the
soak could not run.

Usage: soak.py --cairn build/rel/cairn [--seconds N] [--rss-mib N] [--rate N]
               [--seed N] [--skip KIND,...] [--keep]
Environment (the flags win): SOAK_SECONDS, SOAK_RSS_MIB (default 256),
SOAK_RATE (total publishes/s, default 300), SOAK_SEED (default 1), SOAK_SKIP
(client kinds to leave out, to find which one a figure comes from).
"""

import argparse
import datetime
import json
import os
import random
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

# File descriptors a quiet daemon may hold beyond the baseline: the store
# keeps up to READ_POOL_MAX (8, src/store/store.c) idle reader connections,
# each with the database, its WAL and its shared-memory file open.
FILE_FD_SLACK = 8 * 3

# The kinds of client, as --skip and the figures name them.
KINDS = ("durable-publisher", "accepted-publisher", "slow-subscriber", "stalled-subscriber",
         "replayer", "querier", "unread-query", "stuck-querier", "vanisher", "status")

PAD = None  # random printable bytes, sliced to pad events (set in main)


def log(msg):
    sys.stderr.write("soak: %s\n" % msg)
    sys.stderr.flush()


def iso(t):
    """RFC 3339 UTC time with milliseconds for a wall-clock time t."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


class Stats:
    """Counters and anomalies shared by every thread."""

    def __init__(self):
        self.mu = threading.Lock()
        self.n = {}
        self.anomalies = []
        self.acked = {}  # (source, id) -> (seq, "durable" | "accepted")

    def add(self, key, v=1):
        with self.mu:
            self.n[key] = self.n.get(key, 0) + v

    def get(self, key):
        with self.mu:
            return self.n.get(key, 0)

    def anomaly(self, who, what):
        with self.mu:
            self.anomalies.append("%s: %s" % (who, what))
            if len(self.anomalies) <= 20:
                log("ANOMALY %s: %s" % (who, what))

    def ack(self, who, source, eid, seq, kind):
        with self.mu:
            old = self.acked.get((source, eid))
            if old is None:
                self.acked[(source, eid)] = (seq, kind)
        if old is not None and old[0] != seq:
            self.anomaly(who, "(%s, %s) acked with seq %d, earlier %d" % (source, eid, seq, old[0]))


class Conn:
    """One client connection: NDJSON lines over the Unix socket."""

    def __init__(self, path, timeout=60.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = bytearray()
        self.eof = False

    def send(self, obj):
        self.s.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def send_raw(self, data):
        self.s.sendall(data)

    def ready(self):
        """Whether a line or EOF can be read without blocking."""
        if b"\n" in self.buf or self.eof:
            return True
        r, _, _ = select.select([self.s], [], [], 0)
        return bool(r)

    def line(self, timeout=None):
        """The next line as bytes; None at EOF. Raises socket.timeout."""
        if timeout is not None:
            self.s.settimeout(timeout)
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 1]
                return out
            if self.eof:
                return None
            chunk = self.s.recv(1 << 16)
            if not chunk:
                self.eof = True
                return None
            self.buf += chunk

    def msg(self, timeout=None):
        ln = self.line(timeout)
        return None if ln is None else json.loads(ln)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class Soak:
    def __init__(self, a):
        self.a = a
        self.stop = threading.Event()
        self.st = Stats()
        self.t0 = time.time()
        self.sock = None
        self.proc = None

    def connect(self, kind, timeout=60.0):
        self.st.add("conn." + kind)
        return Conn(self.sock, timeout)

    def rnd(self, idx):
        return random.Random(self.a.seed * 1000003 + idx)

    # ---- publishers ----

    def event(self, rnd, source, typ, eid, n):
        if rnd.random() < self.a.large_p:
            size = rnd.randint(16 << 10, 200 << 10)
            self.st.add("pub.large")
        else:
            size = int(200 * (20 ** rnd.random()))  # 200 B .. 4 KiB, log-uniform
        off = rnd.randrange(0, len(PAD) - size)
        return {"source": source, "type": typ, "id": eid, "subject": "soak/%d" % (n % 97),
                "data": {"n": n, "pad": PAD[off:off + size]}}

    def publisher(self, idx, ack, rate):
        who = "%s publisher %d" % (ack, idx)
        rnd = self.rnd(idx)
        source = "soak/%s%d" % (ack, idx)
        typ = "soak.%s.p%d" % (ack, idx)
        interval = 1.0 / rate
        n = 0
        mine = []  # acked ids, for duplicate publishes
        due = time.monotonic()
        while not self.stop.is_set():
            c = self.connect(ack + "-publisher")
            outstanding = {}  # rid -> (id, dup_of_seq or None)
            rid = 0

            def take(m):
                r = m.get("rid")
                if r not in outstanding:
                    self.st.anomaly(who, "reply with an unknown rid: %r" % m)
                    return
                eid, dup_seq = outstanding.pop(r)
                if not m.get("ok"):
                    self.st.anomaly(who, "publish refused: %r" % m)
                    return
                seq = m.get("seq")
                if dup_seq is not None:
                    self.st.add("pub.dup_acked")
                    if not m.get("duplicate") or seq != dup_seq:
                        self.st.anomaly(who, "republish of %s: %r, first seq %d" % (eid, m, dup_seq))
                    return
                if m.get("duplicate"):
                    self.st.anomaly(who, "fresh publish of %s answered duplicate: %r" % (eid, m))
                self.st.ack(who, source, eid, seq, ack)
                self.st.add("ack." + ack)
                mine.append((eid, seq))

            try:
                for _ in range(rnd.randint(200, 2000)):
                    if self.stop.is_set():
                        break
                    now = time.monotonic()
                    if due > now:
                        time.sleep(due - now)
                    elif now - due > 1.0:
                        due = now  # fell behind: do not burst to catch up
                    due += interval
                    rid += 1
                    if mine and rnd.random() < 0.01:
                        eid, seq = mine[rnd.randrange(len(mine))]
                        ev = self.event(rnd, source, typ, eid, -1)
                        outstanding[rid] = (eid, seq)
                        self.st.add("pub.dup_sent")
                    else:
                        n += 1
                        eid = "%s-%d" % (source.replace("/", "-"), n)
                        ev = self.event(rnd, source, typ, eid, n)
                        outstanding[rid] = (eid, None)
                        self.st.add("pub." + ack)
                    c.send({"op": "pub", "rid": rid, "ack": ack, "event": ev})
                    while outstanding and (len(outstanding) >= self.a.window or c.ready()):
                        m = c.msg(60.0)
                        if m is None:
                            raise ConnectionError("the daemon closed the connection")
                        take(m)
                while outstanding:
                    m = c.msg(60.0)
                    if m is None:
                        raise ConnectionError("the daemon closed the connection")
                    take(m)
            except (OSError, ValueError) as e:
                self.st.anomaly(who, "%s with %d publishes unanswered" % (e, len(outstanding)))
                time.sleep(1)
            finally:
                c.close()
            if len(mine) > 5000:
                del mine[:len(mine) - 5000]

    # ---- subscribers ----

    def follow(self, who, c, expect, limit=None, pace=None, until=None):
        """Reads pushed messages of the subscription on c, checking that
        each event's seq is the one expected next or that a gap notice
        covers what was skipped. Stops after limit events, at until, at EOF
        or at the end of the soak. Returns the number of events read."""
        got = 0
        while not self.stop.is_set() and (until is None or time.monotonic() < until):
            try:
                ln = c.line(1.0)
            except socket.timeout:
                continue
            if ln is None:
                self.st.anomaly(who, "the daemon closed the connection")
                break
            m = json.loads(ln)
            if "event" in m:
                seq = m["event"].get("seq")
                if expect is not None and seq != expect:
                    self.st.anomaly(who, "event seq %s where %s was due" % (seq, expect))
                expect = seq + 1
                got += 1
                self.st.add("sub.events")
                if limit is not None and got >= limit:
                    break
            elif "gap" in m:
                g = m["gap"]
                self.st.add("sub.gaps")
                if expect is not None and g.get("from") != expect:
                    self.st.anomaly(who, "gap %r where %s was due" % (g, expect))
                expect = g["to"] + 1
            elif "live" in m:
                self.st.add("sub.live")
            elif m.get("ok") is not True:
                self.st.anomaly(who, "unexpected message: %r" % m)
            if pace:
                time.sleep(len(ln) / pace)
        return got

    def subscribe(self, c, name, frm):
        c.send({"op": "sub", "rid": name, "sub": name, "pattern": ">", "from": frm})
        while True:
            m = c.msg(60.0)
            if m is None:
                raise ConnectionError("the daemon closed the connection")
            if m.get("rid") == name:
                if not m.get("ok"):
                    raise ValueError("sub refused: %r" % m)
                return m["seq"]

    def slow_subscriber(self, idx, pace):
        who = "slow subscriber %d" % idx
        rnd = self.rnd(100 + idx)
        while not self.stop.is_set():
            c = self.connect("slow-subscriber")
            try:
                last = self.subscribe(c, "slow", "now")
                self.follow(who, c, last + 1, pace=pace,
                            until=time.monotonic() + rnd.uniform(30, 120))
                if rnd.random() < 0.3:
                    c.send({"op": "unsub", "sub": "slow"})
            except (OSError, ValueError) as e:
                self.st.anomaly(who, str(e))
                time.sleep(1)
            finally:
                c.close()

    def stalled_subscriber(self):
        c = self.connect("stalled-subscriber")
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            self.subscribe(c, "stalled", "now")
            self.stop.wait()  # and never read again
        except (OSError, ValueError) as e:
            self.st.anomaly("stalled subscriber", str(e))
        finally:
            c.close()

    def replayer(self):
        who = "replayer"
        rnd = self.rnd(200)
        while not self.stop.is_set():
            c = self.connect("replayer")
            try:
                if rnd.random() < 0.5:
                    frm, expect = 1, 1
                    self.st.add("replay.from_seq")
                else:
                    frm = iso(rnd.uniform(self.t0, time.time()))
                    expect = None  # the first event's seq is the daemon's to find
                    self.st.add("replay.from_time")
                self.subscribe(c, "replay", frm)
                self.follow(who, c, expect, limit=rnd.randint(300, 20000))
                if rnd.random() < 0.3:
                    c.send({"op": "unsub", "sub": "replay"})
            except (OSError, ValueError) as e:
                self.st.anomaly(who, str(e))
                time.sleep(1)
            finally:
                c.close()  # midway: the replay has more to send
            self.stop.wait(rnd.uniform(0.5, 3))

    # ---- queries ----

    def check_query(self, who, q, m):
        if not m.get("ok"):
            self.st.anomaly(who, "query %r refused: %r" % (q, m))
            return None
        seqs = [e["seq"] for e in m["events"]]
        desc = q.get("order") == "desc"
        if seqs != sorted(seqs, reverse=desc) or len(set(seqs)) != len(seqs):
            self.st.anomaly(who, "query %r: seqs out of order" % q)
        s = q.get("since")
        if isinstance(s, int) and seqs and min(seqs) < s:
            self.st.anomaly(who, "query %r: seq %d before since" % (q, min(seqs)))
        if len(seqs) > q.get("limit", 100):
            self.st.anomaly(who, "query %r: %d events over the limit" % (q, len(seqs)))
        return seqs

    def querier(self):
        who = "querier"
        rnd = self.rnd(300)
        rid = 0
        while not self.stop.is_set():
            c = self.connect("querier")
            try:
                for _ in range(rnd.randint(20, 200)):
                    if self.stop.is_set():
                        break
                    q = {"op": "query",
                         "pattern": rnd.choice([">", "soak.>", "soak.durable.*", "soak.*.p1",
                                                "soak.accepted.p0", "nothing.here"]),
                         "limit": rnd.choice([1, 10, 100, 500, 2000])}
                    r = rnd.random()
                    if r < 0.4:
                        q["since"] = rnd.randint(1, max(1, self.st.get("ack.durable") * 2))
                    elif r < 0.7:
                        q["since"] = iso(rnd.uniform(self.t0, time.time()))
                        if rnd.random() < 0.5:
                            q["until"] = iso(time.time())
                    if rnd.random() < 0.3:
                        q["order"] = "desc"
                    pages = rnd.choice([1, 1, 1, 3]) if q.get("order") != "desc" else 1
                    for _ in range(pages):
                        rid += 1
                        q["rid"] = rid
                        c.send(q)
                        m = c.msg(120.0)
                        if m is None:
                            raise ConnectionError("the daemon closed the connection")
                        self.st.add("query.read")
                        seqs = self.check_query(who, q, m)
                        if not seqs or not m.get("more"):
                            break
                        q["since"] = max(seqs) + 1
                    self.stop.wait(rnd.uniform(0.05, 0.5))
            except (OSError, ValueError) as e:
                self.st.anomaly(who, str(e))
                time.sleep(1)
            finally:
                c.close()

    def unread_queries(self):
        """Connections that ask for a lot and never read the answer."""
        rnd = self.rnd(400)
        while not self.stop.is_set():
            c = self.connect("unread-query")
            try:
                for i in range(rnd.randint(1, 4)):
                    c.send({"op": "query", "rid": i, "pattern": ">", "since": 1,
                            "limit": rnd.choice([500, 2000, 10000])})
                    self.st.add("query.unread")
                self.stop.wait(rnd.uniform(2, 15))
            except OSError as e:
                self.st.add("unread.send_failed")
                log("unread query: %s" % e)
            finally:
                c.close()
            self.stop.wait(rnd.uniform(0.5, 5))

    def stuck_querier(self):
        """One connection for the whole soak that sends a query every 5 s
        and never reads; sends are non-blocking, so a daemon that stops
        reading from it shows up as sends that would block."""
        rnd = self.rnd(500)
        c = self.connect("stuck-querier")
        c.s.setblocking(False)
        pending = b""
        i = 0
        try:
            while not self.stop.wait(5.0):
                if not pending:
                    i += 1
                    pending = json.dumps({"op": "query", "rid": i, "pattern": ">",
                                          "limit": rnd.choice([100, 1000, 2000])}).encode() + b"\n"
                try:
                    k = c.s.send(pending)
                    pending = pending[k:]
                    if not pending:
                        self.st.add("query.stuck_sent")
                except BlockingIOError:
                    self.st.add("query.stuck_blocked")
        except OSError as e:
            self.st.anomaly("stuck querier", str(e))
        finally:
            c.close()

    # ---- clients that vanish ----

    def vanisher(self, idx):
        rnd = self.rnd(600 + idx)
        big = b'{"op":"pub","event":{"source":"soak/vanish","type":"soak.vanish","data":"' + \
            PAD[:200 << 10].encode() + b'"}}\n'
        modes = ["connect-close", "half-line", "pub-close", "pub-durable-close", "query-shut-wr",
                 "pub-shut-wr", "half-large", "sub-close", "replay-close", "status-close"]
        n = 0
        while not self.stop.is_set():
            mode = rnd.choice(modes)
            self.st.add("vanish." + mode)
            n += 1
            try:
                c = self.connect("vanisher", timeout=10.0)
            except OSError as e:
                self.st.anomaly("vanisher", "connect: %s" % e)
                self.stop.wait(1)
                continue
            ev = {"source": "soak/vanish", "type": "soak.vanish", "id": "v%d-%d" % (idx, n),
                  "data": {"n": n}}
            try:
                if mode == "half-line":
                    c.send_raw(b'{"op":"pub","rid":1,"event":{"source":"soak/van')
                elif mode == "pub-close":
                    c.send({"op": "pub", "rid": 1, "event": ev})
                elif mode == "pub-durable-close":
                    c.send({"op": "pub", "rid": 1, "ack": "durable", "event": ev})
                elif mode == "half-large":
                    c.send_raw(big[:rnd.randint(1000, len(big) - 1000)])
                elif mode == "sub-close":
                    c.send({"op": "sub", "rid": 1, "pattern": ">"})
                elif mode == "replay-close":
                    c.send({"op": "sub", "rid": 1, "pattern": ">", "from": 1})
                    c.line(10.0)  # the reply, perhaps an event or two
                elif mode == "status-close":
                    c.send({"op": "status", "rid": 1})
                elif mode in ("query-shut-wr", "pub-shut-wr"):
                    if mode == "query-shut-wr":
                        c.send({"op": "query", "rid": 1, "pattern": ">", "limit": 50})
                    else:
                        c.send({"op": "pub", "rid": 1, "ack": "durable", "event": ev})
                    c.s.shutdown(socket.SHUT_WR)
                    if rnd.random() < 0.5:
                        # Read what comes until the daemon closes its side.
                        got = False
                        while True:
                            ln = c.line(10.0)
                            if ln is None:
                                break
                            got = True
                        self.st.add("shut_wr.replied" if got else "shut_wr.unanswered")
            except socket.timeout:
                self.st.add("shut_wr.no_eof")
            except OSError:
                self.st.add("vanish.send_failed")
            finally:
                c.close()
            self.stop.wait(rnd.uniform(0.02, 0.3))

    # ---- status ----

    def status(self):
        who = "status"
        c = None
        i = 0
        while not self.stop.wait(1.0):
            i += 1
            try:
                fresh = i % 10 == 0
                if c is None or fresh:
                    if c is not None:
                        c.close()
                    c = self.connect("status")
                c.send({"op": "status", "rid": i})
                while True:
                    m = c.msg(60.0)
                    if m is None:
                        raise ConnectionError("the daemon closed the connection")
                    if m.get("rid") == i:
                        break
                if not m.get("ok"):
                    self.st.anomaly(who, "status refused: %r" % m)
                    continue
                self.st.add("status.ok")
                with self.st.mu:
                    self.st.n["status.max_connections"] = max(
                        self.st.n.get("status.max_connections", 0), m.get("connections", 0))
                    self.st.n["status.max_writer_queued"] = max(
                        self.st.n.get("status.max_writer_queued", 0),
                        m.get("writer", {}).get("queued", 0))
            except (OSError, ValueError) as e:
                self.st.anomaly(who, str(e))
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()


# ---- the daemon, seen from /proc ----

def rss_kb(pid, field="VmRSS"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith(field + ":"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return 0


def fds(pid):
    """Open fds of pid by kind: sockets, files (paths), other (pipes,
    eventfds, epoll, inotify)."""
    out = {"socket": 0, "file": 0, "other": 0}
    d = "/proc/%d/fd" % pid
    try:
        names = os.listdir(d)
    except OSError:
        return None
    for n in names:
        try:
            t = os.readlink(os.path.join(d, n))
        except OSError:
            continue
        if t.startswith("socket:"):
            out["socket"] += 1
        elif t.startswith("/"):
            out["file"] += 1
        else:
            out["other"] += 1
    out["total"] = sum(out.values())
    return out


def verify_by_query(sock, acked):
    """Pages through the whole log with `query` (since = last seq + 1).
    Returns (first, last, count, seq gaps, missing acked, wrong seq)."""
    c = Conn(sock, 300.0)
    by_key = {}
    first = last = None
    count = gaps = 0
    since = 1
    try:
        while True:
            c.send({"op": "query", "rid": since, "pattern": ">", "since": since, "limit": 10000})
            m = c.msg()
            if not m or not m.get("ok"):
                raise RuntimeError("verification query refused: %r" % m)
            for e in m["events"]:
                s = e["seq"]
                if last is not None and s != last + 1:
                    gaps += s - last - 1
                if first is None:
                    first = s
                last = s
                count += 1
                by_key[(e["source"], e["id"])] = s
            if not m.get("more") or not m["events"]:
                break
            since = last + 1
    finally:
        c.close()
    missing = sum(1 for k in acked if k not in by_key)
    wrong = sum(1 for k, v in acked.items() if k in by_key and by_key[k] != v[0])
    return first, last, count, gaps, missing, wrong


def verify_by_sqlite(db, acked):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        first, last, count = con.execute("SELECT min(seq), max(seq), count(*) FROM events").fetchone()
        row = con.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        hwm = int(row[0]) if row else None
        by_key = {}
        for seq, source, eid in con.execute("SELECT seq, source, id FROM events"):
            by_key[(source, eid)] = seq
    finally:
        con.close()
    gaps = (last - first + 1 - count) if count else 0
    missing = sum(1 for k in acked if k not in by_key)
    wrong = sum(1 for k, v in acked.items() if k in by_key and by_key[k] != v[0])
    return first, last, count, gaps, missing, wrong, hwm


def mib(kb):
    return "%.1f" % (kb / 1024.0)


def main():
    global PAD
    env = os.environ
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cairn", default="build/rel/cairn")
    ap.add_argument("--seconds", type=int, default=int(env.get("SOAK_SECONDS", "1800")))
    ap.add_argument("--rss-mib", type=float, default=float(env.get("SOAK_RSS_MIB", "256")))
    ap.add_argument("--rate", type=float, default=float(env.get("SOAK_RATE", "300")),
                    help="total publishes per second (durable and accepted publishers)")
    ap.add_argument("--seed", type=int, default=int(env.get("SOAK_SEED", "1")))
    ap.add_argument("--large", dest="large_p", type=float, default=0.002,
                    help="share of publishes that are large (16..200 KiB)")
    ap.add_argument("--window", type=int, default=32, help="publishes in flight per publisher")
    ap.add_argument("--sample-ms", type=int, default=1000)
    ap.add_argument("--skip", default=env.get("SOAK_SKIP", ""),
                    help="client kinds to leave out, comma-separated (to find which one "
                    "a figure comes from): " + ", ".join(KINDS))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    if a.seconds < 10 or a.rate <= 0:
        raise SystemExit("soak: --seconds must be at least 10 and --rate positive")
    unknown = set(k for k in a.skip.split(",") if k) - set(KINDS)
    if unknown:
        log("unknown client kind in --skip: %s (kinds: %s)" % (", ".join(sorted(unknown)),
                                                               ", ".join(KINDS)))
        return 2
    cairn = os.path.abspath(a.cairn)
    if not os.access(cairn, os.X_OK):
        print("soak: no cairn binary at '%s'; run 'make build/rel/cairn'" % cairn, file=sys.stderr)
        return 2
    prnd = random.Random(a.seed)
    PAD = "".join(prnd.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(256 << 10))

    tmp = tempfile.mkdtemp(prefix="cairn-soak.")
    denv = {k: v for k, v in env.items()
            if not k.startswith("CAIRN_") and k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    for k, sub in (("XDG_RUNTIME_DIR", "run"), ("XDG_DATA_HOME", "data"),
                   ("XDG_CONFIG_HOME", "config"), ("HOME", "home")):
        denv[k] = os.path.join(tmp, sub)
        os.makedirs(denv[k], mode=0o700)
    s = Soak(a)
    s.sock = os.path.join(denv["XDG_RUNTIME_DIR"], "cairn", "cairn.sock")
    db = os.path.join(denv["XDG_DATA_HOME"], "cairn", "cairn.db")
    errlog = open(os.path.join(tmp, "daemon.log"), "wb")
    proc = subprocess.Popen([cairn, "daemon"], env=denv, stdout=errlog, stderr=errlog)
    s.proc = proc
    pid = proc.pid
    rc = 2
    try:
        rc = run(s, a, proc, pid, db, tmp)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        errlog.close()
        if a.keep or rc == 2:
            log("kept %s (daemon log: daemon.log)" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


def run(s, a, proc, pid, db, tmp):
    # The socket file appears before the daemon listens: wait for a
    # connection to succeed.
    c = None
    for _ in range(500):
        if proc.poll() is not None:
            break
        try:
            c = Conn(s.sock)
            break
        except OSError:
            time.sleep(0.02)
    if c is None:
        log("the daemon did not start; see %s/daemon.log" % tmp)
        return 2

    # Warm-up: one of each request on one connection, so that the baseline
    # includes what the first use opens (a reader connection, the WAL).
    c.send({"op": "hello", "rid": 1, "versions": [1]})
    c.msg()
    c.send({"op": "pub", "rid": 2, "ack": "durable",
            "event": {"source": "soak/warmup", "type": "soak.warmup", "id": "w1"}})
    m = c.msg()
    s.st.ack("warm-up", "soak/warmup", "w1", m["seq"], "durable")
    c.send({"op": "query", "rid": 3, "limit": 1})
    c.msg()
    c.send({"op": "status", "rid": 4})
    c.msg()
    c.close()
    time.sleep(1.0)
    fd0 = fds(pid)
    rss0 = rss_kb(pid)

    # The clients: one row per thread (kind, function, arguments). The
    # publishers share --rate; the slow subscribers read at 64 and 256 KiB/s,
    # below the ~510 KiB/s that 300 publishes/s make, so their queues fill.
    skip = set(k for k in a.skip.split(",") if k)
    n_pub = sum(2 for k in ("durable-publisher", "accepted-publisher") if k not in skip)
    rate_each = a.rate / max(1, n_pub)
    table = [
        ("durable-publisher", s.publisher, (0, "durable", rate_each)),
        ("durable-publisher", s.publisher, (1, "durable", rate_each)),
        ("accepted-publisher", s.publisher, (10, "accepted", rate_each)),
        ("accepted-publisher", s.publisher, (11, "accepted", rate_each)),
        ("slow-subscriber", s.slow_subscriber, (0, 64 << 10)),
        ("slow-subscriber", s.slow_subscriber, (1, 256 << 10)),
        ("stalled-subscriber", s.stalled_subscriber, ()),
        ("replayer", s.replayer, ()),
        ("querier", s.querier, ()),
        ("unread-query", s.unread_queries, ()),
        ("stuck-querier", s.stuck_querier, ()),
        ("vanisher", s.vanisher, (0,)),
        ("vanisher", s.vanisher, (1,)),
        ("status", s.status, ()),
    ]
    workers = [w for w in table if w[0] not in skip]

    def guard(name, fn, args):
        try:
            fn(*args)
        except Exception as e:  # a bug in the soak or a daemon gone mad
            s.st.anomaly(name, "thread died: %r" % e)

    log("daemon pid %d, %d s, %.0f publishes/s, seed %d, RSS bound %.0f MiB; %d client threads"
        % (pid, a.seconds, a.rate, a.seed, a.rss_mib, len(workers)))
    threads = [threading.Thread(target=guard, args=w, daemon=True) for w in workers]
    for t in threads:
        t.start()

    start = time.monotonic()
    end = start + a.seconds
    rss_series = []  # (seconds, kb) once a minute
    rss_max = rss0
    fd_max = dict(fd0)
    next_print = start + 30
    next_minute = start + 60
    died = False
    while time.monotonic() < end:
        time.sleep(a.sample_ms / 1000.0)
        if proc.poll() is not None:
            died = True
            s.st.anomaly("daemon", "exited with status %s during the soak" % proc.returncode)
            break
        r = rss_kb(pid)
        rss_max = max(rss_max, r)
        f = fds(pid)
        if f:
            for k in f:
                fd_max[k] = max(fd_max[k], f[k])
        now = time.monotonic()
        if now >= next_minute:
            rss_series.append((int(now - start), r))
            next_minute += 60
        if now >= next_print:
            next_print += 30
            log("%4d s: RSS %s MiB (peak %s), fds %d, acked %d durable + %d accepted, "
                "%d anomalies" % (now - start, mib(r), mib(rss_max), f["total"] if f else -1,
                                 s.st.get("ack.durable"), s.st.get("ack.accepted"),
                                 len(s.st.anomalies)))
    s.stop.set()
    log("stopping the clients")
    for t in threads:
        t.join(120)
    stuck = [w[0] for w, t in zip(workers, threads) if t.is_alive()]
    for name in stuck:
        s.st.anomaly(name, "client thread did not stop within 120 s")

    # Every client is gone: the daemon's sockets must come back to the
    # baseline. Give it a few seconds to see the closes.
    fd1 = None
    rss1 = hwm = 0
    if not died:
        settle = time.monotonic() + 15
        while True:
            fd1 = fds(pid)
            if fd1 is None or fd1["socket"] <= fd0["socket"] or time.monotonic() > settle:
                break
            time.sleep(0.2)
        time.sleep(1.0)
        fd1 = fds(pid)
        rss1 = rss_kb(pid)
        hwm = rss_kb(pid, "VmHWM")
        rss_series.append((-1, rss1))

    acked = dict(s.st.acked)
    n_durable = sum(1 for v in acked.values() if v[1] == "durable")
    qv = None
    if not died:
        log("verifying the %d acked events with query" % len(acked))
        try:
            qv = verify_by_query(s.sock, acked)
        except (OSError, ValueError, RuntimeError) as e:
            s.st.anomaly("verify", "query: %s" % e)
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        s.st.anomaly("daemon", "did not stop within 120 s of SIGTERM")
        proc.kill()
        proc.wait()
    exit_status = proc.returncode
    log("verifying in the database")
    dv = None
    try:
        dv = verify_by_sqlite(db, acked)
    except sqlite3.Error as e:
        s.st.anomaly("verify", "sqlite: %s" % e)

    # ---- figures ----
    st = s.st
    bound_kb = a.rss_mib * 1024
    fails = []

    def row(metric, value, bound="", ok=None):
        mark = "" if ok is None else ("PASS" if ok else "FAIL")
        if ok is False:
            fails.append(metric.strip())
        print(("%-52s %22s   %-40s %s" % (metric, value, bound, mark)).rstrip())

    print()
    print("cairn soak — %s, %d s, seed %d, %.0f publishes/s asked"
          % (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             a.seconds, a.seed, a.rate))
    if skip:
        print("left out: " + ", ".join(sorted(skip)))
    print("machine: %d CPUs, 1-min load average %s at the end; no peer: the daemon's own figures "
          "against their bounds" % (os.cpu_count(), open("/proc/loadavg").read().split()[0]))
    print("-" * 124)
    print("%-52s %22s   %-40s %s" % ("metric", "cairn", "bound", "mark"))
    print("-" * 124)
    print("memory (VmRSS)")
    row("  RSS at start (MiB)", mib(rss0))
    row("  peak RSS, sampled every %d ms / VmHWM (MiB)" % a.sample_ms,
        "%s / %s" % (mib(rss_max), mib(hwm or rss_max)), "<= %.0f MiB" % a.rss_mib,
        max(rss_max, hwm) <= bound_kb)
    row("  final RSS, clients gone (MiB)", mib(rss1) if not died else "-",
        "<= %.0f MiB" % a.rss_mib, not died and rss1 <= bound_kb)
    row("  RSS once a minute (MiB)", "", "")
    line = ", ".join("%s %s" % ("%dm" % ((t + 30) // 60) if t >= 0 else "end", mib(k))
                     for t, k in rss_series)
    while line:
        cut = line[:110].rfind(", ") if len(line) > 110 else len(line)
        print("    " + line[:cut])
        line = line[cut + 2:]
    print("file descriptors (/proc/PID/fd)")
    if fd1:
        row("  sockets at start / peak / end", "%d / %d / %d" % (fd0["socket"], fd_max["socket"],
                                                             fd1["socket"]),
            "end == start", fd1["socket"] == fd0["socket"])
        row("  files at start / peak / end", "%d / %d / %d" % (fd0["file"], fd_max["file"],
                                                           fd1["file"]),
            "end <= start + %d (reader pool)" % FILE_FD_SLACK,
            fd1["file"] <= fd0["file"] + FILE_FD_SLACK)
        row("  other (pipes, eventfd, epoll) start / end", "%d / %d" % (fd0["other"], fd1["other"]),
            "end == start", fd1["other"] == fd0["other"])
        row("  all at start / peak / end", "%d / %d / %d" % (fd0["total"], fd_max["total"],
                                                         fd1["total"]))
    else:
        row("  fds at the end", "-", "the daemon died", False)
    print("events")
    row("  published, durable / accepted", "%d / %d" % (st.get("pub.durable"), st.get("pub.accepted")))
    row("  acked, durable / accepted", "%d / %d" % (st.get("ack.durable"), st.get("ack.accepted")))
    row("  large events (16..200 KiB) published", st.get("pub.large"))
    row("  republished (source, id): sent / answered", "%d / %d" % (st.get("pub.dup_sent"),
                                                                    st.get("pub.dup_acked")),
        "duplicate:true, first seq", None)
    if qv:
        first, last, count, gaps, missing, wrong = qv
        row("  query: log seqs first..last, events", "%s..%s, %d" % (first, last, count))
        row("  query: seq gaps in the log", gaps, "0", gaps == 0)
        row("  query: acked events missing / wrong seq", "%d / %d" % (missing, wrong), "0 / 0",
            missing == 0 and wrong == 0)
    else:
        row("  query verification", "-", "could not run", False)
    row("  daemon exit status after SIGTERM", exit_status, "0", exit_status == 0)
    if dv:
        first, last, count, gaps, missing, wrong, hwm_seq = dv
        row("  database: seqs first..last, events", "%s..%s, %d" % (first, last, count))
        row("  database: seq gaps", gaps, "0", gaps == 0)
        if hwm_seq is not None:  # written once retention has deleted events
            row("  database: meta last_seq", hwm_seq, ">= last seq", last is None or hwm_seq >= last)
        row("  database: missing of %d acked (%d durable)" % (len(acked), n_durable),
            missing, "0", missing == 0)
        row("  database: acked events with another seq", wrong, "0", wrong == 0)
    else:
        row("  database verification", "-", "could not run", False)
    print("clients (connections made)")
    for k in KINDS:
        row("  " + k, st.get("conn." + k) if k not in skip else "skipped")
    row("  events read by subscribers and replays", st.get("sub.events"))
    row("  gap notices to slow subscribers", st.get("sub.gaps"))
    row("  replays from seq 1 / from a time", "%d / %d" % (st.get("replay.from_seq"),
                                                         st.get("replay.from_time")))
    row("  queries read / never read", "%d / %d" % (st.get("query.read"), st.get("query.unread")))
    row("  stuck querier: queries sent / sends blocked", "%d / %d" % (st.get("query.stuck_sent"),
                                                                     st.get("query.stuck_blocked")))
    van = ["%s %d" % (k[7:], v) for k, v in sorted(st.n.items()) if k.startswith("vanish.")]
    row("  vanishers, by way of leaving", "")
    for i in range(0, len(van), 4):
        print("    " + ", ".join(van[i:i + 4]))
    row("  after SHUT_WR, read on: reply / EOF, no reply / no EOF",
        "%d / %d / %d" % (st.get("shut_wr.replied"), st.get("shut_wr.unanswered"),
                          st.get("shut_wr.no_eof")))
    row("  status requests answered (max connections seen)",
        "%d (%d)" % (st.get("status.ok"), st.get("status.max_connections")))
    row("  writer queue, most seen", st.get("status.max_writer_queued"))
    row("  anomalies (wrong seq, gap, refusal, dropped conn)", len(st.anomalies), "0",
        not st.anomalies)
    print("-" * 124)
    for x in st.anomalies[:20]:
        print("anomaly: " + x)
    if len(st.anomalies) > 20:
        print("... and %d more anomalies" % (len(st.anomalies) - 20))
    if fails:
        print("soak: FAIL: " + "; ".join(fails))
        return 1
    print("soak: every bound held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
