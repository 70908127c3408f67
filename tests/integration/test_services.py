#!/usr/bin/env python3
"""The service host (src/services/host.c) end to end, through the counter
service that only the test build registers (src/services/counter.c) and
through triage: every event reaches a service once and in order across a
kill -9, a stalled service overflows and catches up from the log, a failing
service is restarted with backoff while the rest goes on, and a burst of
failures gets one report each."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, ev, pub_pipelined, short  # noqa: E402

T = Suite(per_test_timeout=400)


def wait_until(what, cond, timeout=60.0, d=None):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError("%s did not happen within %.0fs%s" %
                         (what, timeout, ("\n" + d.dump_log()) if d else ""))


def service(d, name):
    with d.conn() as c:
        return c.status()["services"][name]


def counted(d):
    with d.conn() as c:
        return c.query_all(pattern="counter.counted")


def ticks(d):
    with d.conn() as c:
        return c.query_all(pattern="counter.tick")


def check_each_once_in_order(d, n):
    """One counter.counted per tick, in tick order (outputs are logged in
    the order the ticks were handled)."""
    tick_seqs = [e["seq"] for e in ticks(d)]
    eq(len(tick_seqs), n, "ticks logged")
    outs = counted(d)
    got = [e["data"]["seq"] for e in outs]
    dups = len(got) - len(set(got))
    eq(dups, 0, "ticks counted twice")
    missing = sorted(set(tick_seqs) - set(got))
    eq(missing[:10], [], "ticks never counted (first 10 of %d)" % len(missing))
    eq(got, sorted(got), "ticks counted in seq order")


@T.test
def exactly_once_in_order_across_kill9():
    d = Daemon(env={"CAIRN_TEST_COUNTER": "ok", "CAIRN_TEST_SLOW": "counter:20"})
    try:
        n = 300
        with d.conn() as c:
            pub_pipelined(c, [ev("counter.tick", data={"i": i}) for i in range(n)], ack="durable")
        # Killed with part done and a job in flight.
        wait_until("the counter got going", lambda: len(counted(d)) >= 40, d=d)
        d.kill9()
        del d.extra_env["CAIRN_TEST_SLOW"]
        d.start()
        wait_until("every tick counted", lambda: len(counted(d)) >= n, d=d)
        time.sleep(0.5)  # nothing more may come
        check_each_once_in_order(d, n)
        st = service(d, "counter")
        eq(st["state"], "running", "state")
        check(st["checkpoint"] >= max(e["seq"] for e in ticks(d)),
              "checkpoint past the last tick: %s" % short(st))
        d.stop()
    finally:
        d.cleanup()


@T.test
def stalled_service_overflows_and_catches_up():
    # A queue of 8 and a slow handler: the bus pauses the subscription,
    # then the host replays what it missed from the log.
    d = Daemon(env={"CAIRN_TEST_COUNTER": "ok", "CAIRN_TEST_SLOW": "counter:5",
                    "CAIRN_SERVICES_QUEUE_EVENTS": "8"})
    try:
        n = 500
        with d.conn() as c:
            pub_pipelined(c, [ev("counter.tick", data={"i": i}) for i in range(n)])
            # Other events in between are not the counter's.
            pub_pipelined(c, [ev("noise.x", data={"i": i}) for i in range(50)],
                          rid_prefix="n")
        wait_until("every tick counted", lambda: len(counted(d)) >= n, timeout=120, d=d)
        time.sleep(0.5)
        check_each_once_in_order(d, n)
        st = service(d, "counter")
        eq(st["done"], n, "jobs done")
        eq(st["failed"], 0, "jobs failed")
        check(st["queued"] <= 8, "queue within its bound: %s" % short(st))
        with d.conn() as c:
            gaps = c.status()["delivery"]["gaps"]
        check(gaps >= 1, "the queue did overflow (gaps %d)" % gaps)
        d.stop()
    finally:
        d.cleanup()


FAIL_SNAPSHOT = "src/x.c:3:1: error: unknown type name 'strng'\n"


def failure(i):
    return ev("build.failed", subject="make", project="/p",
              data={"target": "make", "command": "make", "exit_code": 2,
                    "output": {"snapshot": "step %d\n%s" % (i, FAIL_SNAPSHOT)}})


@T.test
def failing_service_backs_off_and_the_rest_goes_on():
    d = Daemon(env={"CAIRN_TEST_COUNTER": "fail"})
    try:
        with d.conn() as c:
            c.pub(ev("counter.tick"), ack="durable")
        st = wait_until("two failures and a restart",
                        lambda: (lambda s: s if s["failed"] >= 2 and s["restarts"] >= 1
                                 else None)(service(d, "counter")), timeout=30, d=d)
        check("failing on purpose" in (st["last_error"] or ""), "last error: %s" % short(st))
        # The human status names it too.
        rc, out, err = d.cli(["status"])
        eq(rc, 0, "cairn status")
        check("counter" in out and "failing on purpose" in out,
              "status shows the failing service: %s" % short(out))
        with d.conn() as c:
            fails = c.query_all(pattern="service.failed")
            check(len(fails) >= 2, "service.failed events: %s" % short(fails))
            eq(fails[0]["data"]["service"], "counter", "which service")
            eq([f["data"]["retry_ms"] for f in fails[:2]], [1000, 2000], "backoff doubles")
            # The bus goes on.
            s = c.sub("x.>")["sub"]
            c.pub(ev("x.y"), ack="accepted")
            m = c.next_push(timeout=5)
            eq(m["event"]["type"], "x.y", "live delivery while a service fails")
            c.ok({"op": "unsub", "sub": s})
            # Triage goes on.
            f = c.pub(failure(0), ack="durable")
        def report():
            with d.conn() as c:
                return [e for e in c.query_all(pattern="triage.report")
                        if e.get("correlationid") == f["id"]]
        rep = wait_until("a report while the counter fails", report, d=d)
        eq(len(rep), 1, "one report")
        st = service(d, "counter")
        check(st["state"] in ("backoff", "running"), "state: %s" % short(st))
        check(st["done"] == 0, "nothing done: %s" % short(st))
        d.stop()
    finally:
        d.cleanup()


@T.test
def burst_of_500_failures_gets_500_reports():
    # The triage worker is slowed so that its queue (256) overflows: the old
    # queue dropped every failure past 256.
    d = Daemon(env={"CAIRN_TEST_SLOW": "triage:10"})
    try:
        n = 500
        with d.conn() as c:
            pub_pipelined(c, [failure(i) for i in range(n)])
            ids = {e["id"] for e in c.query_all(pattern="build.failed")}
        eq(len(ids), n, "failures logged")

        def reports():
            with d.conn() as c:
                return c.query_all(pattern="triage.report")
        wait_until("500 reports", lambda: len(reports()) >= n, timeout=300, d=d)
        time.sleep(0.5)
        reps = reports()
        corr = [e["correlationid"] for e in reps]
        eq(len(corr), n, "reports")
        eq(set(corr), ids, "one report per failure")
        st = service(d, "triage")
        eq(st["reports"], n, "reports counted in status")
        eq(st["failed"], 0, "failed jobs")
        d.stop()
    finally:
        d.cleanup()


@T.test
def output_that_cannot_be_logged_is_skipped_after_three_tries():
    # Every output is over [limits] event_bytes: each try fails at the
    # output stage. The backoff must keep doubling (no "recovered" in
    # between) and the event must be skipped after three failures, not
    # retried forever.
    d = Daemon(env={"CAIRN_TEST_COUNTER": "big", "CAIRN_LIMITS_EVENT_BYTES": "8192"})
    try:
        with d.conn() as c:
            c.pub(ev("counter.tick"), ack="durable")
        st = wait_until("the tick skipped",
                        lambda: (lambda s: s if s["skipped"] >= 1 and s["state"] == "running"
                                 else None)(service(d, "counter")), timeout=40, d=d)
        eq(st["failed"], 3, "failures before the skip")
        with d.conn() as c:
            fails = c.query_all(pattern="service.failed")
            eq([f["data"]["retry_ms"] for f in fails], [1000, 2000, 4000], "backoff doubles")
            check(fails[-1]["data"].get("skipping") is True, "the last one says it skips")
            check("could not be logged" in fails[0]["data"]["error"],
                  "the reason: %s" % short(fails[0]["data"]))
            eq(c.query_all(pattern="service.recovered"), [], "no recovery claimed")
        time.sleep(1.5)
        eq(service(d, "counter")["failed"], 3, "no further tries")
        d.stop()
    finally:
        d.cleanup()


if __name__ == "__main__":
    T.main()
