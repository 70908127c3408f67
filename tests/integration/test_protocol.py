#!/usr/bin/env python3
"""The socket protocol (docs/protocol.md): every kind of bad request gets its
error code and the same connection keeps working; dedup; ack levels; hello;
sub/unsub; query filters."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, ev, short  # noqa: E402

T = Suite(per_test_timeout=120)


def expect_error(c, payload, code, field=None, rid=None, what=None):
    """Sends payload (a dict, or raw bytes/str sent as one line), expects an
    error reply with `code` (and `field`), then checks that the same
    connection still answers a status request."""
    what = what or short(payload, 120)
    if isinstance(payload, dict):
        c.send(payload)
    else:
        data = payload.encode() if isinstance(payload, str) else payload
        c.send_raw(data + b"\n")
    r = c.reply(timeout=15)
    check(isinstance(r, dict), "[%s] reply is not an object: %s" % (what, short(r)))
    eq(r.get("ok"), False, "[%s] ok in reply %s" % (what, short(r)))
    err = r.get("error")
    check(isinstance(err, dict), "[%s] reply has no error object: %s" % (what, short(r)))
    eq(err.get("code"), code, "[%s] error code in %s" % (what, short(r)))
    check(isinstance(err.get("message"), str) and err["message"],
          "[%s] error without a message: %s" % (what, short(r)))
    if field is not None:
        eq(err.get("field"), field, "[%s] error field in %s" % (what, short(r)))
    if rid is not None:
        eq(r.get("rid"), rid, "[%s] rid carried back in %s" % (what, short(r)))
    s = c.request({"op": "status"})
    eq(s.get("ok"), True, "[%s] status on the same connection afterwards: %s" % (what, short(s)))
    return r


class Collect:
    """Runs every case and fails at the end with all failures, so one
    report shows every code that is wrong."""

    def __init__(self, c):
        self.c = c
        self.failures = []

    def __call__(self, *a, **kw):
        try:
            return expect_error(self.c, *a, **kw)
        except AssertionError as e:
            self.failures.append(str(e))
            # The connection must still work for the next case.
            s = self.c.request({"op": "status"})
            check(s.get("ok") is True, "status after a failed case: %s" % short(s))

    def done(self):
        check(not self.failures, "%d cases failed:\n%s" % (len(self.failures),
                                                           "\n".join(self.failures)))


@T.test
def bad_requests_keep_connection():
    with Daemon() as d, d.conn() as c:
        chk = Collect(c)
        chk('{"op":"status"', "bad_json")
        chk('{"op":"status",}', "bad_json")
        chk("not json at all", "bad_json")
        chk(b'{"op":"st\xff\xfeatus"}', "bad_json", what="invalid UTF-8")
        for raw in ("[1,2]", '"status"', "42", "null", "true"):
            chk(raw, "bad_request", what="non-object " + raw)
        chk({"rid": 1}, "bad_request", rid=1, what="missing op")
        chk({"rid": 2, "op": "frobnicate"}, "unknown_op", rid=2)
        chk({"rid": 3, "op": "status", "bogus": 1}, "bad_request", rid=3,
                     what="unknown field on status")
        chk({"rid": 4, "op": "pub", "event": ev("a.b"), "akc": "none"},
                     "bad_request", rid=4, what="unknown field on pub")
        chk({"rid": 5, "op": "pub"}, "bad_request", rid=5, what="pub without event")
        chk({"rid": 6, "op": "pub", "event": "a.b"}, "bad_request", rid=6,
                     what="event of the wrong type")
        chk({"rid": 7, "op": 5}, "bad_request", rid=7, what="op of the wrong type")
        chk({"rid": 8, "op": "query", "limit": "10"}, "bad_request", rid=8,
                     what="query limit of the wrong type")
        chk({"rid": 9, "op": "sub", "pattern": 5}, "bad_request", rid=9,
                     what="sub pattern of the wrong type")
        chk({"rid": 10, "op": "pub", "ack": "sometimes", "event": ev("a.b")},
                     "bad_request", rid=10, what="ack of an unknown value")
        chk({"rid": [1], "op": "status"}, "bad_request", what="rid of the wrong type")
        chk({"rid": "x" * 129, "op": "status"}, "bad_request", what="rid too long")
        # rids come back unchanged, strings and integers alike.
        eq(c.request({"op": "status", "rid": "abc-1"}).get("rid"), "abc-1", "string rid echoed")
        eq(c.request({"op": "status", "rid": 123456789}).get("rid"), 123456789,
           "integer rid echoed")
        eq(c.status().get("events"), 0, "events stored by all those bad requests")
        chk.done()


@T.test
def pub_acks_carry_every_kind_of_rid():
    # The daemon writes publish acks by hand: each rid must come back as
    # sent, integers at the edges and strings that need escaping alike
    # (one of 128 control characters escapes to 768 bytes).
    rids = [0, -1, 7, 9223372036854775807, -9223372036854775808, "", "plain",
            "q\"uo\\te", "caf\u00e9 \u2028", "\u0001" * 128, "x" * 128]
    with Daemon() as d, d.conn() as c:
        for i, rid in enumerate(rids):
            for ack in ("accepted", "durable"):
                r = c.request({"op": "pub", "rid": rid, "ack": ack,
                               "event": ev("a.b", id="r%d%s" % (i, ack))})
                eq(r.get("ok"), True, "pub with rid %s" % short(rid, 40))
                eq(r.get("rid"), rid, "rid echoed in the ack")
                eq(type(r.get("rid")), type(rid), "type of the rid echoed")
                check(isinstance(r.get("seq"), int) and r.get("duplicate") is False,
                      "ack %s" % short(r))
        # A duplicate says so, with the first seq.
        first = c.request({"op": "pub", "rid": 1, "event": ev("a.b", id="dup")})
        again = c.request({"op": "pub", "rid": 2, "event": ev("a.b", id="dup")})
        eq((again.get("seq"), again.get("duplicate"), again.get("id")),
           (first.get("seq"), True, "dup"), "duplicate ack")


@T.test
def invalid_events_name_the_field():
    with Daemon() as d, d.conn() as c:
        cases = [
            ({"source": "me", "type": "Build"}, "type"),
            ({"source": "me", "type": "a..b"}, "type"),
            ({"source": "me", "type": "a." + "b" * 260}, "type"),
            ({"type": "a.b"}, "source"),
            ({"source": "has space", "type": "a.b"}, "source"),
            ({"source": "me"}, "type"),
            ({"source": "me", "type": "a.b", "seq": 5}, "seq"),
            ({"source": "me", "type": "a.b", "severity": "loud"}, "severity"),
            ({"source": "me", "type": "a.b", "specversion": "0.3"}, "specversion"),
            ({"source": "me", "type": "a.b", "time": "yesterday"}, "time"),
            ({"source": "me", "type": "a.b", "project": "relative/path"}, "project"),
            ({"source": "me", "type": "a.b", "id": ""}, "id"),
            ({"source": "me", "type": "a.b", "id": "x" * 129}, "id"),
            ({"source": "me", "type": "a.b", "subject": "a\nb"}, "subject"),
        ]
        coll = Collect(c)
        for i, (e, field) in enumerate(cases):
            coll({"rid": 100 + i, "op": "pub", "event": e}, "invalid_event",
                 field=field, rid=100 + i, what="event %s" % short(e, 80))
        coll.done()
        # Errors are answered even with ack none.
        expect_error(c, {"rid": "n1", "op": "pub", "ack": "none",
                         "event": {"source": "me", "type": "Build"}},
                     "invalid_event", field="type", rid="n1", what="invalid event, ack none")
        eq(c.status().get("events"), 0, "events stored by invalid publishes")


@T.test
def patterns_subs_and_unsub():
    with Daemon() as d, d.conn() as c:
        coll = Collect(c)
        for i, pat in enumerate(["a.>.b", "a..b", "", "a.b*", ">.a", "a.*b", "a. b", "A.b"]):
            coll({"rid": i, "op": "sub", "pattern": pat}, "invalid_pattern", rid=i,
                 what="sub pattern %r" % pat)
        coll.done()
        expect_error(c, {"rid": 50, "op": "query", "pattern": "a.>.b"}, "invalid_pattern",
                     rid=50, what="query pattern a.>.b")
        expect_error(c, {"rid": 51, "op": "unsub", "sub": "nope"}, "not_found", rid=51)
        r = c.sub("build.>", name="mine")
        eq(r.get("sub"), "mine", "sub name in reply")
        expect_error(c, {"rid": 52, "op": "sub", "pattern": "x.>", "sub": "mine"}, "exists",
                     rid=52, what="duplicate sub name")
        expect_error(c, {"rid": 53, "op": "sub", "pattern": "x.>", "sub": "n" * 65},
                     "bad_request", rid=53, what="sub name over 64 bytes")

        # NATS grammar: build.> matches build.x and build.x.y, not build.
        with d.conn() as p:
            for t in ("build", "build.x", "other.x", "build.x.y", "buildx.y", "build.end"):
                p.pub(ev(t))
        got = []
        while True:
            m = c.next_push(timeout=10)
            eq(m.get("sub"), "mine", "sub in pushed message %s" % short(m))
            check("event" in m, "unexpected pushed message %s" % short(m))
            got.append(m["event"]["type"])
            if m["event"]["type"] == "build.end":
                break
        eq(got, ["build.x", "build.x.y", "build.end"], "types delivered to build.>")

        # A daemon-numbered sub alongside; unsub stops delivery.
        r2 = c.sub("other.*")
        check(isinstance(r2.get("sub"), str) and r2["sub"], "numbered sub name: %s" % short(r2))
        check(r2["sub"] != "mine", "numbered sub reuses a name")
        eq(c.ok({"op": "unsub", "sub": "mine"}).get("ok"), True, "unsub")
        with d.conn() as p:
            p.pub(ev("build.after"))
            p.pub(ev("other.after"))
        m = c.next_push(timeout=10)
        eq((m.get("sub"), m.get("event", {}).get("type")), (r2["sub"], "other.after"),
           "first push after unsub of build.>")
        expect_error(c, {"rid": 54, "op": "unsub", "sub": "mine"}, "not_found", rid=54,
                     what="unsub twice")
        # The name is free again.
        c.sub("x.>", name="mine")


@T.test
def hello_negotiation():
    with Daemon() as d, d.conn() as c:
        r = c.ok({"op": "hello", "versions": [1], "client": "cairn-tests/1"})
        eq(r.get("version"), 1, "negotiated version")
        check(str(r.get("server", "")).startswith("cairn/"), "server in hello: %s" % short(r))
        lim = r.get("limits") or {}
        eq(lim.get("line_bytes"), 1114112, "default limits.line_bytes")
        eq(lim.get("event_bytes"), 1048576, "default limits.event_bytes")
        r = c.ok({"op": "hello", "versions": [1, 2, 99]})
        eq(r.get("version"), 1, "version chosen from [1,2,99]")
        r = expect_error(c, {"rid": "h", "op": "hello", "versions": [99]}, "version", rid="h")
        sup = r.get("supported", (r.get("error") or {}).get("supported"))
        eq(sup, [1], "supported versions listed with the version error (%s)" % short(r))
        expect_error(c, {"rid": "h2", "op": "hello", "versions": "1"}, "bad_request", rid="h2",
                     what="versions of the wrong type")
    # A connection without hello speaks version 1 (the other tests rely on it).


@T.test
def limits_line_and_event():
    env = {"CAIRN_LIMITS_LINE_BYTES": "65536", "CAIRN_LIMITS_EVENT_BYTES": "4096"}
    with Daemon(env=env) as d, d.conn(timeout=30) as c:
        lim = c.ok({"op": "hello", "versions": [1]}).get("limits") or {}
        eq((lim.get("line_bytes"), lim.get("event_bytes")), (65536, 4096),
           "limits from CAIRN_LIMITS_* in hello")
        # A 1 MB line, sent in chunks: refused, never buffered whole.
        body = json.dumps({"op": "pub", "rid": "big",
                           "event": ev("big.line", data="A" * (1 << 20))}).encode()
        for i in range(0, len(body), 32768):
            c.send_raw(body[i:i + 32768])
        c.send_raw(b"\n")
        r = c.reply(timeout=30)
        eq((r.get("ok"), (r.get("error") or {}).get("code")), (False, "line_too_long"),
           "reply to a 1 MB line (%s)" % short(r))
        eq(c.status().get("ok"), True, "status after the long line")
        # The same again, twice in one write with a good request in between.
        c.send_raw(b'{"op":"pub","rid":"b2","event":{"source":"t","type":"a","data":"'
                   + b"B" * 200000 + b'"}}\n{"op":"status","rid":"s2"}\n'
                   + b"C" * 100000 + b"\n")
        # Replies are matched by rid, not by order (status may be answered
        # after the second error).
        rs = [c.reply(timeout=30) for _ in range(3)]
        st = [r for r in rs if r.get("rid") == "s2"]
        eq(len(st), 1, "replies to the status between long lines (%s)" % short(rs))
        eq(st[0].get("ok"), True, "status between long lines")
        eq(sorted((r.get("error") or {}).get("code", "") for r in rs if r.get("rid") != "s2"),
           ["line_too_long", "line_too_long"], "replies to the two long lines (%s)" % short(rs))
        # Just under the line cap but over the event cap.
        expect_error(c, {"rid": "e1", "op": "pub", "event": ev("big.event", data="D" * 8000)},
                     "event_too_large", rid="e1")
        # Small enough: accepted.
        r = c.pub(ev("small.event", data="E" * 1000))
        eq(r.get("seq"), 1, "seq of the first stored event")
        eq(c.wait_committed().get("events"), 1, "events stored")


@T.test
def pub_replies_and_defaults():
    with Daemon() as d, d.conn() as c:
        r = c.pub(ev("a.b", subject="s"))
        c.wait_committed()
        eq(r.get("seq"), 1, "seq")
        eq(r.get("duplicate"), False, "duplicate")
        check(isinstance(r.get("id"), str) and len(r["id"]) == 26,
              "daemon-made id should be a ULID: %s" % short(r))
        e = c.query()["events"][0]
        eq((e.get("id"), e.get("seq"), e.get("specversion"), e.get("type"), e.get("subject")),
           (r["id"], 1, "1.0", "a.b", "s"), "stored event")
        check(isinstance(e.get("time"), str) and "T" in e["time"], "time filled: %s" % short(e))
        r = c.pub(ev("a.c", id="given-1", time="2026-01-02T03:04:05Z", severity="warning",
                     project="/p", session="s1", correlationid="c1", myext="v", n2=5),
                  ack="durable")
        eq((r.get("seq"), r.get("id")), (2, "given-1"), "seq and id of a durable pub")
        e = c.query(since=2)["events"][0]
        for k, v in (("severity", "warning"), ("project", "/p"), ("session", "s1"),
                     ("correlationid", "c1"), ("myext", "v"), ("n2", 5)):
            eq(e.get(k), v, "stored attribute %s" % k)


@T.test
def partial_lines_of_many_connections_stay_apart():
    """Every connection's reads land in one buffer of the server
    (src/daemon/server.c); a line split across reads must still be put
    together from its own connection's bytes only."""
    with Daemon() as d:
        conns = [d.conn() for _ in range(8)]
        try:
            lines = []
            for i, c in enumerate(conns):
                big = "%d" % i * (3000 + 500 * i)  # longer than one small read
                lines.append(json.dumps({"rid": 100 + i, "op": "pub", "event": ev(
                    "split.c%d" % i, id="split-%d" % i, data={"pad": big})}) + "\n")
            # Round-robin, a few bytes at a time: each read of the server
            # holds one connection's piece, never a whole line.
            pos = [0] * len(conns)
            step = 97
            while any(p < len(ln) for p, ln in zip(pos, lines)):
                for i, c in enumerate(conns):
                    if pos[i] < len(lines[i]):
                        c.send_raw(lines[i][pos[i]:pos[i] + step].encode())
                        pos[i] += step
                time.sleep(0.001)
            for i, c in enumerate(conns):
                r = c.wait_reply(100 + i)
                check(r.get("ok"), "connection %d: %s" % (i, short(r)))
            with d.conn() as q:
                for i in range(len(conns)):
                    evs = q.query(pattern="split.c%d" % i)["events"]
                    eq(len(evs), 1, "events of connection %d" % i)
                    eq(evs[0]["data"]["pad"], "%d" % i * (3000 + 500 * i),
                       "payload of connection %d" % i)
        finally:
            for c in conns:
                c.close()


@T.test
def dedup_same_source_and_id():
    with Daemon() as d, d.conn() as c:
        r1 = c.pub(ev("d.one", source="src-a", id="dup-1", data=1))
        r2 = c.pub(ev("d.one", source="src-a", id="dup-1", data=2))
        eq(r1.get("duplicate"), False, "first publish duplicate flag")
        eq(r2.get("duplicate"), True, "second publish duplicate flag")
        eq(r2.get("seq"), r1.get("seq"), "seq of the duplicate")
        r3 = c.pub(ev("d.one", source="src-b", id="dup-1"), ack="durable")
        eq(r3.get("duplicate"), False, "same id, other source")
        eq(r3.get("seq"), r1["seq"] + 1, "seq of same id, other source")
        r4 = c.pub(ev("d.one", source="src-a", id="dup-1"), ack="durable")
        eq((r4.get("seq"), r4.get("duplicate")), (r1["seq"], True), "durable duplicate")
        c.wait_committed()
        evs = c.query()["events"]
        eq([(e["source"], e["id"], e["seq"]) for e in evs],
           [("src-a", "dup-1", 1), ("src-b", "dup-1", 2)], "stored events")
        eq(evs[0].get("data"), 1, "data of the first publish is kept")
        r5 = c.pub(ev("d.two"))
        eq(r5.get("seq"), 3, "seq after duplicates (no seq burnt)")


@T.test
def ack_none_gets_no_reply():
    with Daemon() as d, d.conn() as c:
        c.send({"op": "pub", "rid": "quiet", "ack": "none",
                "event": ev("fire.forget", id="ff-1")})
        # The next reply must be the status one.
        c.send({"op": "status", "rid": "after"})
        r = c.reply(timeout=10)
        eq(r.get("rid"), "after", "first reply after a pub with ack none (%s)" % short(r))
        deadline = time.monotonic() + 5
        while True:
            evs = c.query(pattern="fire.forget")["events"]
            if evs or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        eq([e.get("id") for e in evs], ["ff-1"], "event published with ack none is stored")


@T.test
def query_filters():
    # The session service would log session.started for /p1 and /p2 among
    # these events: off, so that the seqs are the test's own.
    with Daemon(env={"CAIRN_SERVICES_OFF": "session"}) as d, d.conn() as c:
        spec = [("a.x", "/p1"), ("a.y", "/p2"), ("b.x", "/p1"), ("a.x.z", None), ("a.x", "/p1")]
        for t, proj in spec:
            e = ev(t)
            if proj:
                e["project"] = proj
            c.pub(e)
            time.sleep(0.02)  # distinct times
        c.wait_committed()
        allev = c.query()
        eq([e["seq"] for e in allev["events"]], [1, 2, 3, 4, 5], "query {}")
        eq(allev.get("more"), False, "more for query {}")

        def seqs(**kw):
            r = c.query(**kw)
            return [e["seq"] for e in r["events"]], r.get("more")

        eq(seqs(pattern="a.*"), ([1, 2, 5], False), "pattern a.*")
        eq(seqs(pattern="a.>"), ([1, 2, 4, 5], False), "pattern a.>")
        eq(seqs(pattern="*.x"), ([1, 3, 5], False), "pattern *.x")
        eq(seqs(since=2, until=4), ([2, 3, 4], False), "since 2 until 4 (inclusive)")
        eq(seqs(limit=2), ([1, 2], True), "limit 2")
        eq(seqs(limit=5), ([1, 2, 3, 4, 5], False), "limit 5")
        eq(seqs(order="desc", limit=2), ([5, 4], True), "order desc limit 2")
        eq(seqs(order="desc"), ([5, 4, 3, 2, 1], False), "order desc")
        eq(seqs(order="asc", since=4), ([4, 5], False), "order asc since 4")
        eq(seqs(project="/p1"), ([1, 3, 5], False), "project /p1")
        eq(seqs(project="/p1", pattern="a.>", limit=1), ([1], True), "project+pattern+limit")
        t3 = allev["events"][2]["time"]
        eq(seqs(since=t3), ([3, 4, 5], False), "since time of event 3 (inclusive)")
        eq(seqs(until=t3), ([1, 2], False), "until time of event 3 (exclusive)")
        eq(seqs(since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z"), ([], False),
           "a time range with no events")
        expect_error(c, {"rid": "q1", "op": "query", "order": "sideways"}, "bad_request",
                     rid="q1", what="order sideways")
        expect_error(c, {"rid": "q2", "op": "query", "since": "last tuesday"}, "bad_request",
                     rid="q2", what="since not a seq or a time")


@T.test
def status_fields():
    with Daemon() as d, d.conn() as c:
        for i in range(3):
            c.pub(ev("s.t"), ack="durable")
        s = c.status()
        eq(s.get("protocol"), 1, "status protocol")
        eq(s.get("pid"), d.pid, "status pid")
        eq(s.get("events"), 3, "status events")
        seq = s.get("seq") or {}
        eq((seq.get("first"), seq.get("last"), seq.get("committed")), (1, 3, 3), "status seq")
        eq((s.get("store") or {}).get("path"), d.db_path, "status store.path")
        check(isinstance(s.get("connections"), int) and s["connections"] >= 1,
              "status connections: %s" % short(s))


if __name__ == "__main__":
    T.main()
