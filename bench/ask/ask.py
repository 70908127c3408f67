#!/usr/bin/env python3
"""The reasoning layer (issue 11): `cairn ask`, the model server behind its
circuit breaker, and the deterministic reasoner, measured on the release
build against the scripted fake server of tests/integration/fakemodel.py
(loopback; the fake answers at once unless told otherwise).

Each figure is one line, `figure: value (goal ...) PASS/MISS`, with the
peer or baseline measured in the same run on the lines under it.

1. open on a dead server: the fake refuses connections; a `cairn ask`
   process starts at t0; the status op is polled until the model breaker
   shows `open`. Repeated on one daemon: after each opening the server is
   switched back to ok and the breaker waits out its backoff and closes
   (which is figure 4), so each opening is a first one (a 4-6 s backoff).
   Beside it: the ask process's own wall time.
2. a hung server: the fake reads chat requests and never answers (hang,
   on /v1/chat/completions only, so the probe the daemon sends after each
   failure succeeds and the breaker stays closed for a few asks; it then
   trips on its failure rate, 3 of 6 calls). [model] deadline 2 s. Wall
   time of `cairn ask` processes made while the breaker was closed (goal:
   the deadline + 50 ms, on the max), and beside them asks made while it
   was open (answered at once). A fresh daemon per group of asks.
3. 64 callers while half-open: the breaker is opened (refused), the server
   switched to ok with a 1 s delay on every request (so the trial is slow),
   and when the backoff ends 64 `ask` ops are sent at once on 64 socket
   connections: in alternate rounds 1 ms after the backoff ended (racing
   the daemon's probe timer for the trial) and 20 ms after it (the probe
   has taken it). Counted: the requests that reached the server from the
   opening until the trial was answered (goal exactly 1: the trial), who
   took the trial (the probe, GET /v1/models, or a question), and how the
   64 were answered.
4. closed again: from switching the server back to ok, right after an
   opening, to the breaker `closed` (the runs of figure 1). The backoff
   drawn at the opening (status next_try_in_ms + changed_ago_ms) is
   printed beside it: it bounds the figure from below.
5. 10,000 faults: one daemon, asks sent as socket ops on two connections;
   the fake answers every third chat request with a fault (HTTP 500, 503
   loading, malformed JSON, truncated JSON, a reset mid-body, in turn: all
   fast faults, no timeouts) and the others with an answer, so the breaker
   never sees 3 failures in a row nor a 50% failure rate and stays closed
   (each failure also gets the daemon's probe, which succeeds). Faults
   counted as the breaker's totals.failures (failed calls + failed probes)
   since the start of the phase; open fds (/proc/PID/fd) and threads
   (/proc/PID/task) before and after, with the daemon idle. No
   LeakSanitizer here (the release build); `make check` runs
   test_ask_model.py on the ASan+LSan build. Beside it the model client
   alone, build/rel/tools/model_call --repeat 10000 on 4 threads, every
   fifth call to a port nothing listens on (refused connections, which
   the daemon's phase cannot mix in: three in a row open the breaker),
   the others to the fake, every one a fault: its fds before and after.
6. while the model hangs: live delivery (a publisher sends 2,000 events at
   500/s, ack accepted; a subscriber on another connection; latency from
   the send to the subscriber's receipt) and triage (a build.failed with a
   small gcc log, one at a time; latency from the publish to its
   triage.report on a subscription), on one daemon, in alternating runs:
   A with the server ok and no question asked, B with the server hanging
   on chat requests and 2 asks kept in flight (both model workers blocked;
   [model] deadline 60 s for this daemon so the two calls stay blocked for
   the whole run instead of tripping the breaker), the order of A and B
   swapped every round, each run measured by a process of its own and
   its failures in a project of their own. Goal: B within 10% of A (live
   p99, triage p50); beside it A against itself (odd runs / even runs).
   Between runs the hung calls are released and a few answered asks keep
   the breaker's failure rate under 50%.
7. the deterministic reasoner: a daemon with a small real history (a clean
   build, a broken one triaged, its fix learned, two commits through the
   git hooks, knowledge entries); each question of
   tests/data/ask/questions.jsonl asked as a process, `cairn ask --no-model
   --json`; the share whose tool_calls[0].tool is the file's tool, per
   split (goal >= 95% on test), beside build/rel/tools/ask_route's figure
   on the same file (they must agree), and the latency per question.

Timings on a shared machine: the load average is printed at the start and
the end. No assertion on timing anywhere: the marks are the goals' verdict.

Usage: bench/ask/ask.py [--cairn build/rel/cairn] [--tools build/rel/tools] [--quick]
                        [--only 1,2,...]
  --quick   fewer runs of everything (under a minute): a look, not a figure
  --only    the figures to run (1 and 4 are one phase)
"""
import argparse
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

CHAT = "/v1/chat/completions"
DEADLINE_S = 2.0


def pct(v, q):
    """Nearest rank (the value at or above a share q of the samples)."""
    v = sorted(v)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(-(-q * len(v) // 1)) - 1))
    return v[k]


def mark(ok):
    return "PASS" if ok else "MISS"


def ms(x):
    return "%.0f ms" % (x * 1000) if x >= 0.1 else "%.1f ms" % (x * 1000)


def figure(name, value, goal, ok):
    print("%s: %s (goal %s) %s" % (name, value, goal, mark(ok)), flush=True)


def note(text):
    print("   " + text, flush=True)


def reason(text, n=90):
    """A fallback reason without the fake's URL (its port changes)."""
    text = re.sub(r"http://127\.0\.0\.1:\d+/v1", "URL", text or "")
    return text if len(text) <= n else text[:n] + "..."


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


class Bench:
    def __init__(self, a):
        self.a = a
        from cairnlib import Daemon, Conn  # noqa: E402
        from fakemodel import FakeModel  # noqa: E402
        self.Daemon, self.Conn, self.FakeModel = Daemon, Conn, FakeModel
        self.tmp = tempfile.mkdtemp(prefix="cairn-bench-ask-")
        self.proj = os.path.join(self.tmp, "proj")
        os.makedirs(self.proj)

    # -- helpers ----------------------------------------------------------

    def model_daemon(self, m, **extra):
        env = {"CAIRN_MODEL_URL": m.base_url, "CAIRN_MODEL_NAME": "fake",
               "CAIRN_MODEL_DEADLINE": "%ds" % DEADLINE_S,
               "CAIRN_MODEL_CONNECT_TIMEOUT": "500ms"}
        env.update(extra)
        return self.Daemon(env=env)

    @staticmethod
    def br(c):
        return c.status()["breakers"][0]

    def wait(self, c, pred, what, timeout=20.0, every=0.01):
        end = time.monotonic() + timeout
        while True:
            b = self.br(c)
            if pred(b):
                return b
            if time.monotonic() > end:
                raise RuntimeError("timed out waiting for %s: %s" % (what, json.dumps(b)))
            time.sleep(every)

    def wait_settled(self, c, timeout=20.0):
        """Closed, nothing in flight, no failure in a row (the probe after a
        failure has answered)."""
        return self.wait(c, lambda b: b["state"] == "closed" and b["in_flight"] == 0
                         and b["consecutive_failures"] == 0 and b["totals"]["probes"] > 0,
                         "a settled closed breaker", timeout)

    def ask_proc(self, d, q="why did the build fail?"):
        """A `cairn ask --json` process: (wall seconds, parsed output)."""
        t0 = time.monotonic()
        r = subprocess.run([d.bin, "ask", q, "--json", "--project", self.proj], env=d.env(),
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        dt = time.monotonic() - t0
        if r.returncode != 0:
            raise RuntimeError("cairn ask exited %d: %s" % (r.returncode, r.stderr.decode()))
        return dt, json.loads(r.stdout)

    def ask_op(self, c, q="why did the build fail?", timeout=90):
        return c.request({"op": "ask", "question": q, "project": self.proj}, timeout=timeout)

    # -- 1 and 4: open on a dead server, closed when it is back --------------

    def open_and_close(self, runs):
        m = self.FakeModel()
        d = self.model_daemon(m)
        opened, asked, closed, backoffs, reasons = [], [], [], [], set()
        try:
            c = d.conn(timeout=30)
            self.wait_settled(c)
            for _ in range(runs):
                self.wait_settled(c)
                m.set_mode("refuse")
                t0 = time.monotonic()
                p = subprocess.Popen([d.bin, "ask", "why did the build fail?", "--json",
                                      "--project", self.proj], env=d.env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
                end = t0 + 10
                while True:
                    b = self.br(c)
                    if b["state"] == "open":
                        t_open = time.monotonic()
                        break
                    if time.monotonic() > end:
                        raise RuntimeError("not open 10 s after the ask: %s" % json.dumps(b))
                    time.sleep(0.001)
                out, err = p.communicate(timeout=60)
                t_ask = time.monotonic()
                if p.returncode != 0:
                    raise RuntimeError("cairn ask exited %d: %s" % (p.returncode, err.decode()))
                reasons.add(reason(json.loads(out).get("fallback_reason")))
                opened.append(t_open - t0)
                asked.append(t_ask - t0)
                backoffs.append((b["next_try_in_ms"] + b["changed_ago_ms"]) / 1000.0)
                m.set_mode("ok")
                t1 = time.monotonic()
                self.wait(c, lambda x: x["state"] == "closed", "closed", timeout=90, every=0.01)
                closed.append(time.monotonic() - t1)
            c.close()
            d.stop()
        finally:
            d.cleanup()
            m.stop()
        return {"opened": opened, "asked": asked, "closed": closed, "backoffs": backoffs,
                "reasons": reasons}

    # -- 2: a hung server ------------------------------------------------------

    def hung(self, groups, per_group):
        closed_t, open_t, reasons, per_daemon = [], [], [], []
        for _ in range(groups):
            m = self.FakeModel()
            d = self.model_daemon(m)
            try:
                c = d.conn(timeout=30)
                self.wait_settled(c)
                m.set_mode("hang", paths=[CHAT])
                n = 0
                while n < per_group:
                    b = self.wait(c, lambda x: x["in_flight"] == 0
                                  and (x["state"] != "closed" or x["consecutive_failures"] == 0),
                                  "the probe after a failure")
                    if b["state"] != "closed":
                        break
                    dt, out = self.ask_proc(d)
                    closed_t.append(dt)
                    reasons.append(out.get("fallback_reason", ""))
                    n += 1
                per_daemon.append(n)
                b = self.wait(c, lambda x: x["state"] == "open", "open", timeout=10)
                for _ in range(3):
                    dt, out = self.ask_proc(d)
                    open_t.append(dt)
                m.set_mode("ok")
                m.release()
                c.close()
                d.stop()
            finally:
                d.cleanup()
                m.stop()
        return closed_t, open_t, reasons, per_daemon

    # -- 3: 64 callers while half-open ------------------------------------------

    def half_open(self, rounds, callers=64, delay=1.0):
        m = self.FakeModel()
        d = self.model_daemon(m)
        out = []
        try:
            c = d.conn(timeout=30)
            self.wait_settled(c)
            for r in range(rounds):
                # 1 ms after the backoff's end the questions race the
                # daemon's probe timer for the trial; 20 ms after, the
                # probe has taken it.
                offset = 0.001 if r % 2 == 0 else 0.020
                self.wait_settled(c)
                m.set_mode("refuse")
                n0 = len(m.requests)
                self.ask_op(c)
                b = self.wait(c, lambda x: x["state"] == "open", "open", timeout=10, every=0.001)
                due = time.monotonic() + b["next_try_in_ms"] / 1000.0
                m.set_mode("ok", delay=delay)
                conns = [self.Conn(d.sock_path, timeout=30) for _ in range(callers)]
                lines = [(json.dumps({"op": "ask", "rid": "h%d" % i, "question":
                                      "why did the build fail?", "project": self.proj})
                          + "\n").encode() for i in range(callers)]
                left = due + offset - time.monotonic()
                if left > 0:
                    time.sleep(left)
                t_fire = time.monotonic()
                for k, line in zip(conns, lines):
                    k.send_raw(line)
                t_sent = time.monotonic()
                replies = [k.reply(timeout=30) for k in conns]
                for k in conns:
                    k.close()
                self.wait(c, lambda x: x["state"] == "closed" and x["in_flight"] == 0,
                          "closed after the trial", timeout=30)
                reqs = m.requests[n0:]
                # Requests of the opening round (the refused ones are not
                # recorded: nothing was accepted), then the trial; a request
                # read before the trial was answered (its time + delay) was
                # admitted while the breaker was open or half-open.
                trial = reqs[0] if reqs else None
                during = [q for q in reqs if trial and q["time"] < trial["time"] + delay]
                after = [q for q in reqs if trial and q["time"] >= trial["time"] + delay]
                kinds = {"open": 0, "half_open": 0, "model": 0, "other": 0}
                for rep in replies:
                    fb = rep.get("fallback")
                    if rep.get("ok") and "answer" in rep:
                        kinds["model"] += 1
                    elif fb and "breaker is half-open" in fb:
                        kinds["half_open"] += 1
                    elif fb and "breaker is open" in fb:
                        kinds["open"] += 1
                    else:
                        kinds["other"] += 1
                out.append({"offset_ms": offset * 1000, "during": len(during),
                            "after": len(after),
                            "trial": (trial["method"] + " " + trial["path"]) if trial else None,
                            "fire_late_ms": (t_fire - due) * 1000,
                            "send_ms": (t_sent - t_fire) * 1000, "kinds": kinds})
                m.set_mode("ok")
            c.close()
            d.stop()
        finally:
            d.cleanup()
            m.stop()
        return out

    # -- 5: 10,000 faults ---------------------------------------------------------

    @staticmethod
    def fds_threads(pid):
        return (len(os.listdir("/proc/%d/fd" % pid)), len(os.listdir("/proc/%d/task" % pid)))

    def faults(self, target, limit_s):
        FM = self.FakeModel
        m = FM()
        d = self.model_daemon(m)
        res = {}
        try:
            c = d.conn(timeout=30)
            self.wait_settled(c)
            # Warm up: questions answered, a query, a publish (the thread
            # pool starts lazily), then idle.
            for _ in range(20):
                self.ask_op(c)
            c.query(pattern=">", limit=10)
            c.pub({"type": "bench.warm", "source": "bench"})
            m.wait_closed(timeout=10)
            time.sleep(0.5)
            self.wait_settled(c)
            res["before"] = self.fds_threads(d.pid)
            res["rss0_kib"] = rss_kib(d.pid)
            b0 = self.br(c)
            kinds = [FM.fault("http_500"), FM.fault("http_503_loading"),
                     FM.fault("malformed_json"), FM.fault("truncated_json"),
                     FM.fault("reset_mid_body", pause=0)]
            counter = itertools.count()

            def reply(rec):
                n = next(counter)
                if n % 3 == 0:
                    return kinds[(n // 3) % len(kinds)]
                return FM.text("fine")
            m.set_default(reply)
            stop = threading.Event()
            counts = {"asks": 0, "fallback": 0, "answer": 0, "refused": 0, "error": 0}
            lock = threading.Lock()
            errors = []

            def asker():
                try:
                    k = d.conn(timeout=30)
                    while not stop.is_set():
                        rep = self.ask_op(k, "what is next?", timeout=30)
                        with lock:
                            counts["asks"] += 1
                            fb = rep.get("fallback")
                            if not rep.get("ok"):
                                counts["error"] += 1
                            elif "answer" in rep:
                                counts["answer"] += 1
                            elif fb and "breaker is" in fb:
                                counts["refused"] += 1
                            else:
                                counts["fallback"] += 1
                    k.close()
                except Exception as e:  # reported below
                    errors.append(repr(e))
            t0 = time.monotonic()
            ths = [threading.Thread(target=asker, daemon=True) for _ in range(2)]
            for t in ths:
                t.start()
            peak = 0
            while True:
                time.sleep(0.25)
                b = self.br(c)
                got = b["totals"]["failures"] - b0["totals"]["failures"]
                m.clear()  # the fake keeps every request otherwise
                peak = max(peak, self.fds_threads(d.pid)[1])
                if got >= target or time.monotonic() - t0 > limit_s or errors:
                    break
            stop.set()
            for t in ths:
                t.join(timeout=60)
            res["seconds"] = time.monotonic() - t0
            m.set_default(FM.text("done"))
            m.wait_closed(timeout=10)
            self.wait_settled(c, timeout=30)
            time.sleep(0.5)
            b1 = self.br(c)
            res["after"] = self.fds_threads(d.pid)
            res["peak_threads"] = peak
            res["failures"] = b1["totals"]["failures"] - b0["totals"]["failures"]
            res["calls"] = b1["totals"]["calls"] - b0["totals"]["calls"]
            res["probes"] = b1["totals"]["probes"] - b0["totals"]["probes"]
            res["transitions"] = b1["totals"]["transitions"] - b0["totals"]["transitions"]
            res["state"] = b1["state"]
            res["counts"] = counts
            res["errors"] = errors
            res["rss_kib"] = rss_kib(d.pid)
            c.close()
            d.stop()
        finally:
            d.cleanup()
            m.stop()
        return res

    def client_faults(self, n):
        """model_call --repeat: n calls of the model client alone on 4
        threads, every fifth to a port nothing listens on (refused), the
        others to the fake answering each with a fault (no breaker here to
        keep closed). Its JSON: calls, fds_before, fds_after, codes, ms."""
        FM = self.FakeModel
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d/v1" % s.getsockname()[1]
        s.close()
        with FM() as m:
            kinds = [FM.fault("http_500"), FM.fault("http_503_loading"),
                     FM.fault("malformed_json"), FM.fault("reset_mid_body", pause=0)]
            counter = itertools.count()

            m.set_default(lambda rec: kinds[next(counter) % len(kinds)])
            stop = threading.Event()

            def clear():  # the fake keeps every request otherwise
                while not stop.wait(0.5):
                    m.clear()
            threading.Thread(target=clear, daemon=True).start()
            t0 = time.monotonic()
            r = subprocess.run([os.path.join(self.a.tools, "model_call"), "--repeat", str(n),
                                "--threads", "4", ",".join([m.base_url] * 4 + [dead]), "2000"],
                               capture_output=True, text=True, timeout=600)
            stop.set()
            if r.returncode != 0:
                raise RuntimeError("model_call: %s" % r.stderr[-2000:])
            out = json.loads(r.stdout)
            out["seconds"] = time.monotonic() - t0
            return out

    # -- 6: live delivery and triage while the model hangs ---------------------------

    def under_hang(self, rounds, n_live, rate, n_triage):
        logp = os.path.join(self.tmp, "build.log")
        make_log(logp)
        m = self.FakeModel()
        d = self.model_daemon(m, CAIRN_MODEL_DEADLINE="60s")
        res = {"A": {"live": [], "triage": [], "runs": [], "samples": []},
               "B": {"live": [], "triage": [], "runs": [], "samples": []}, "checks": []}
        try:
            c = d.conn(timeout=30)
            self.wait_settled(c)
            for r in range(rounds):
                for cond in (("A", "B") if r % 2 == 0 else ("B", "A")):
                    self.wait_settled(c, timeout=30)
                    keep = None
                    if cond == "B":
                        m.set_mode("hang", paths=[CHAT])
                        n0 = len(m.chat_requests)
                        keep = Keeper(self, d, 2)
                        keep.start()
                        m.wait_requests(n0 + 2, timeout=10, path=CHAT)
                        self.wait(c, lambda x: x["in_flight"] == 2, "2 calls in flight")
                    # A project per run: triage slows down as one project's
                    # failures pile up (docs/benchmarks.md), which would
                    # drift through the runs.
                    proj = os.path.join(self.tmp, "tri-%s%d" % (cond, r))
                    os.makedirs(proj)
                    spec = {"sock": d.sock_path, "n_live": n_live, "rate": rate,
                            "n_triage": n_triage, "log": logp, "proj": proj,
                            "tag": "%s%d" % (cond, r)}
                    out = subprocess.run([sys.executable, os.path.abspath(__file__),
                                          "--measure", json.dumps(spec)],
                                         capture_output=True, text=True, timeout=120)
                    if out.returncode != 0:
                        raise RuntimeError("the measuring process: %s" % out.stderr[-2000:])
                    got = json.loads(out.stdout)
                    res[cond]["live"] += got["live"]
                    res[cond]["triage"] += got["triage"]
                    res[cond]["runs"].append((pct(got["live"], .99), pct(got["triage"], .5)))
                    res[cond]["samples"].append((got["live"], got["triage"]))
                    if cond == "B":
                        b = self.br(c)
                        res["checks"].append((b["state"], b["in_flight"], keep.answered))
                        keep.stop.set()
                        m.set_mode("ok")
                        m.release()
                        keep.join(timeout=30)
                        self.wait(c, lambda x: x["in_flight"] == 0, "the hung calls ended")
                        # Answered questions keep the failure rate under 50 %.
                        for _ in range(6):
                            self.ask_op(c)
            c.close()
            d.stop()
        finally:
            d.cleanup()
            m.stop()
        return res

    # -- 7: the deterministic reasoner over the question set ---------------------

    def routing(self, limit):
        qfile = os.path.join(ROOT, "tests", "data", "ask", "questions.jsonl")
        with open(qfile) as f:
            qs = [json.loads(line) for line in f if line.strip()]
        if limit:
            qs = qs[:limit]
        d = self.Daemon()
        res = {"lat": [], "split": {}, "family": {}, "disagree": []}
        try:
            repo = small_history(d)
            for q in qs:
                t0 = time.monotonic()
                r = subprocess.run([d.bin, "ask", q["q"], "--no-model", "--json", "--project",
                                    repo], env=d.env(), capture_output=True, timeout=60,
                                   stdin=subprocess.DEVNULL)
                res["lat"].append(time.monotonic() - t0)
                tool = None
                if r.returncode == 0:
                    a = json.loads(r.stdout)
                    tool = a["tool_calls"][0]["tool"] if a.get("tool_calls") else None
                sp = res["split"].setdefault(q["split"], [0, 0])
                sp[0] += 1
                sp[1] += tool == q["tool"]
            res["status"] = []
            for _ in range(20):
                t0 = time.monotonic()
                subprocess.run([d.bin, "status", "--json"], env=d.env(), capture_output=True,
                               timeout=60, stdin=subprocess.DEVNULL)
                res["status"].append(time.monotonic() - t0)
            d.stop()
        finally:
            d.cleanup()
        route = {}
        tool_bin = os.path.join(self.a.tools, "ask_route")
        if limit:
            qf = os.path.join(self.tmp, "questions.jsonl")
            with open(qf, "w") as f:
                f.write("".join(json.dumps(q) + "\n" for q in qs))
        else:
            qf = qfile
        r = subprocess.run([tool_bin, qf], capture_output=True, text=True, timeout=60)
        for line in r.stdout.splitlines():
            w = line.split()
            # "dev   147 questions: family 100.0%, tool 100.0%"
            if len(w) >= 7 and w[2] == "questions:":
                route[w[0]] = (int(w[1]), float(w[6].rstrip("%")))
        res["route"] = route
        res["n"] = len(qs)
        return res


def live(sock_path, n, rate):
    """publish -> subscriber receipt latencies (s) of n events at rate/s."""
    from cairnlib import Conn  # noqa: E402
    lat = []
    sub = Conn(sock_path, timeout=30)
    sub.sub(pattern="bench.live")
    done = threading.Event()

    def reader():
        try:
            while len(lat) < n:
                msg = sub.next_push(timeout=30)
                e = msg.get("event")
                if e:
                    lat.append(time.perf_counter() - e["data"]["t"])
        except Exception:
            pass
        done.set()
    threading.Thread(target=reader, daemon=True).start()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)

    def drain():  # the replies of ack "accepted"
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
    threading.Thread(target=drain, daemon=True).start()
    start = time.perf_counter() + 0.05
    for i in range(n):
        left = start + i / rate - time.perf_counter()
        if left > 0:
            time.sleep(left)
        s.sendall((json.dumps({"op": "pub", "ack": "accepted", "event": {
            "type": "bench.live", "source": "bench",
            "data": {"i": i, "t": time.perf_counter()}}}, separators=(",", ":")) + "\n").encode())
    done.wait(30)
    s.close()
    sub.close()
    return lat


def triage(sock_path, runs, logp, proj, tag):
    """build.failed -> its triage.report latencies (s), one at a time."""
    from cairnlib import Conn  # noqa: E402
    lat = []
    sub = Conn(sock_path, timeout=30)
    sub.sub(pattern="triage.report")
    pub = Conn(sock_path, timeout=30)
    for i in range(runs + 3):
        fid = "01KBENCHASK%s%013d" % (tag, i)
        ev = {"type": "build.failed", "source": "bench", "id": fid, "subject": "make all",
              "project": proj,
              "data": {"target": "make all", "command": "make all", "cwd": proj,
                       "exit": 2, "output": {"path": logp}}}
        t = time.perf_counter()
        pub.send({"op": "pub", "ack": "none", "event": ev})
        while True:
            msg = sub.next_push(timeout=30)
            e = msg.get("event")
            if e and e.get("correlationid") == fid:
                break
        if i >= 3:  # warm-up
            lat.append(time.perf_counter() - t)
    sub.close()
    pub.close()
    return lat


def measure_child(spec):
    """Figure 6's measuring side, run in a process of its own (so that the
    fake server's threads in the parent never hold its interpreter lock)."""
    p = json.loads(spec)
    out = {"live": live(p["sock"], p["n_live"], p["rate"]),
           "triage": triage(p["sock"], p["n_triage"], p["log"], p["proj"], p["tag"])}
    print(json.dumps(out))
    return 0


class Keeper(threading.Thread):
    """Keeps n asks in flight (each on its own connection) until stop."""

    def __init__(self, bench, d, n):
        super().__init__(daemon=True)
        self.b, self.d, self.n = bench, d, n
        self.stop = threading.Event()
        self.answered = 0
        self.ths = []

    def one(self):
        k = self.d.conn(timeout=90)
        while not self.stop.is_set():
            self.b.ask_op(k, "what is next?", timeout=90)
            self.answered += 1
        k.close()

    def run(self):
        self.ths = [threading.Thread(target=self.one, daemon=True) for _ in range(self.n)]
        for t in self.ths:
            t.start()
        for t in self.ths:
            t.join()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def make_log(path):
    """A small failing build: 200 compile lines, a gcc error, make's lines."""
    lines = ["gcc -c -O2 -Wall -Isrc -o build/m%d.o src/m%d.c" % (i, i) for i in range(200)]
    lines[120:120] = ["src/net/conn.c: In function 'conn_open':",
                      "src/net/conn.c:42:17: error: 'sockfd' undeclared (first use in this "
                      "function)",
                      "   42 |         return  sockfd;",
                      "      |                 ^~~~~~"]
    lines += ["make[1]: *** [Makefile:9: src/net/conn.o] Error 1",
              "make: *** [Makefile:3: all] Error 2"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


GOOD = "int twice(int v)\n{\n\treturn 2 * v;\n}\n"
FIXED = "/* twice(v): 2v */\n" + GOOD
BAD = "int twice(int v)\n{\n\treturn 2 * v\n}\n"
MAKEFILE = "all: a.o\n%.o: %.c\n\tgcc -c -Wall -o $@ $<\n"


def small_history(d):
    """test_ask.py's project: a clean build, a broken one (triaged), the fix
    (learned), two commits through cairn's git hooks, two knowledge
    entries. Returns the repository."""
    env = d.env()
    genv = dict(env, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.com",
                GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@example.com")
    repo = os.path.realpath(os.path.join(d.tmp, "proj"))
    os.makedirs(repo)

    def git(*args):
        subprocess.run(["git", "-C", repo] + list(args), check=True, capture_output=True,
                       env=genv)

    def write(name, text):
        time.sleep(0.05)
        with open(os.path.join(repo, name), "w") as f:
            f.write(text)

    def cairn(*args, cwd=None):
        return subprocess.run([d.bin] + list(args), cwd=cwd or repo, env=env,
                              capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    for name, text in (("a.c", GOOD), ("Makefile", MAKEFILE), (".gitignore", "*.o\n")):
        write(name, text)
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "initial")
    cairn("watch", "add", repo)
    cairn("hooks", "install", "--repo", repo)
    cairn("run", "--", "make")
    write("a.c", BAD)
    time.sleep(0.3)
    cairn("run", "--", "make")
    with d.conn() as c:
        end = time.monotonic() + 30
        while not c.query_all(pattern="triage.report") and time.monotonic() < end:
            time.sleep(0.1)
    write("a.c", FIXED)
    time.sleep(0.3)
    cairn("run", "--", "make")
    git("commit", "-q", "-am", "Fix the missing semicolon in twice()")
    write("README", "twice() doubles.\n")
    git("add", "README")
    git("commit", "-q", "-m", "Add a README")
    cairn("kb", "add", "decision", "Build with -Wall and fix every warning", "--body",
          "Warnings hide real mistakes; the build stays clean.", "--project", repo)
    cairn("kb", "add", "mistake", "Forgetting the semicolon after a return in twice()",
          "--project", repo)
    with d.conn() as c:
        c.wait_committed()
    return repo


def report_1(r, runs):
    opened, asked = r["opened"], r["asked"]
    figure("1. refused server: first `cairn ask` -> breaker open (status)",
           "p50 %s, max %s over %d runs" % (ms(pct(opened, .5)), ms(max(opened)), runs),
           "<= 300 ms", max(opened) <= 0.3)
    note("beside it: the ask process itself (its fallback answer printed) p50 %s, max %s; "
         "fallback_reason: %s" % (ms(pct(asked, .5)), ms(max(asked)),
                                  " | ".join(sorted(r["reasons"]))))


def report_2(B, q):
    ct, ot, rs, per = B.hung(1 if q else 4, 3)
    lim = DEADLINE_S + 0.05
    figure("2. hung server, [model] deadline 2 s: `cairn ask` wall while closed",
           "p50 %s, p95 %s, max %s over %d asks" % (ms(pct(ct, .5)), ms(pct(ct, .95)),
                                                    ms(max(ct)), len(ct)),
           "<= deadline + 50 ms = %s, on the max" % ms(lim), max(ct) <= lim)
    note("beside it: asks while open (after the trip) p50 %s, max %s over %d; closed asks per "
         "daemon before the trip: %s; fallback_reason: %s"
         % (ms(pct(ot, .5)), ms(max(ot)), len(ot), per,
            " | ".join(sorted(set(reason(x) for x in rs)))))


def report_3(B, q):
    hr = B.half_open(2 if q else 4)
    figure("3. 64 concurrent asks at the end of the backoff: requests reaching the server "
           "while open/half-open", "%s per round (%d rounds)"
           % ("/".join(str(h["during"]) for h in hr), len(hr)),
           "exactly 1, the trial", all(h["during"] == 1 for h in hr))
    for i, h in enumerate(hr):
        k = h["kinds"]
        note("round %d: fired %+.1f ms from the backoff's end (64 sent in %.1f ms); trial: %s; "
             "the 64: %d refused half-open, %d refused open, %d answered by the model, %d "
             "other; requests after the trial was answered: %d"
             % (i + 1, h["fire_late_ms"], h["send_ms"], h["trial"], k["half_open"], k["open"],
                k["model"], k["other"], h["after"]))


def report_4(r, runs):
    closed, backoffs = r["closed"], r["backoffs"]
    figure("4. server back (ok) right after an opening -> breaker closed",
           "p50 %.2f s, max %.2f s over %d runs" % (pct(closed, .5), max(closed), runs),
           "<= 10 s", max(closed) <= 10)
    note("runs: %s s; backoff drawn at each opening: %s s (5 s +-20%%): the switch came a few "
         "ms after the opening, the rest is the probe"
         % (" ".join("%.2f" % x for x in closed), " ".join("%.2f" % x for x in backoffs)))


def report_5(B, q):
    target = 1000 if q else 10000
    fr = B.faults(target, 40 if q else 150)
    c = fr["counts"]
    figure("5. daemon fds / threads before -> after %d injected faults" % fr["failures"],
           "fds %d -> %d, threads %d -> %d"
           % (fr["before"][0], fr["after"][0], fr["before"][1], fr["after"][1]),
           "unchanged, >= %d faults" % target,
           fr["before"] == fr["after"] and fr["failures"] >= target)
    note("daemon-level: %d asks over the socket in %.1f s (%d answered by the model, %d "
         "fallback after a fault, %d refused by the breaker, %d errors); breaker totals: %d "
         "failures, %d calls, %d probes, %d transitions, %s at the end; peak threads %d; "
         "RSS %d -> %d KiB%s"
         % (c["asks"], fr["seconds"], c["answer"], c["fallback"], c["refused"], c["error"],
            fr["failures"], fr["calls"], fr["probes"], fr["transitions"], fr["state"],
            fr["peak_threads"], fr["rss0_kib"], fr["rss_kib"],
            "; ERRORS: %s" % fr["errors"][:3] if fr["errors"] else ""))
    cf = B.client_faults(target)
    failed = sum(v for k, v in cf["codes"].items() if k != "ok")
    note("beside it, the model client alone (model_call --repeat %d --threads 4, every fifth "
         "call refused, the others faults of the fake): %d failed calls in %.1f s, codes %s; "
         "fds %d -> %d"
         % (target, failed, cf["seconds"], json.dumps(cf["codes"], sort_keys=True),
            cf["fds_before"], cf["fds_after"]))
    note("no LeakSanitizer in the release build; make check runs test_ask_model.py's daemon "
         "under ASan+LSan (exit status 86 on a leak)")


def report_6(B, q):
    rounds = 2 if q else 12
    n_live = 250 if q else 500
    n_tri = 10 if q else 25
    ur = B.under_hang(rounds, n_live, 500, n_tri)
    A, H = ur["A"], ur["B"]
    lp99 = (pct(A["live"], .99), pct(H["live"], .99))
    tp50 = (pct(A["triage"], .5), pct(H["triage"], .5))
    figure("6a. live delivery p99, model hung (2 workers blocked) vs ok and idle",
           "%s vs %s, ratio %.2f" % (ms(lp99[1]), ms(lp99[0]), lp99[1] / lp99[0]),
           "within 10%", lp99[1] <= 1.10 * lp99[0])
    figure("6b. triage p50 (build.failed -> triage.report), model hung vs ok and idle",
           "%s vs %s, ratio %.2f" % (ms(tp50[1]), ms(tp50[0]), tp50[1] / tp50[0]),
           "within 10%", tp50[1] <= 1.10 * tp50[0])
    for name in ("live", "triage"):
        for cond, lab in (("A", "ok, idle    "), ("B", "hung, 2 asks")):
            v = ur[cond][name]
            note("%-6s %s n=%-4d p50 %s  p99 %s  max %s"
                 % (name, lab, len(v), ms(pct(v, .5)), ms(pct(v, .99)), ms(max(v))))
    for cond, lab in (("A", "ok, idle"), ("B", "hung")):
        note("per run, %-8s live p99 %s; triage p50 %s" % (
            lab + ":", " ".join("%.1f" % (x[0] * 1000) for x in ur[cond]["runs"]),
            " ".join("%.1f" % (x[1] * 1000) for x in ur[cond]["runs"])))
    # The noise floor: the same condition against itself, A's odd runs vs
    # its even runs.
    A_odd = [x for k, run in enumerate(ur["A"]["samples"]) if k % 2 for x in run[0]]
    A_even = [x for k, run in enumerate(ur["A"]["samples"]) if k % 2 == 0 for x in run[0]]
    T_odd = [x for k, run in enumerate(ur["A"]["samples"]) if k % 2 for x in run[1]]
    T_even = [x for k, run in enumerate(ur["A"]["samples"]) if k % 2 == 0 for x in run[1]]
    if A_odd and A_even:
        note("noise floor, A against itself (its odd runs / its even runs): live p99 ratio "
             "%.2f, triage p50 ratio %.2f" % (pct(A_odd, .99) / pct(A_even, .99),
                                              pct(T_odd, .5) / pct(T_even, .5)))
    good = sum(1 for x in ur["checks"] if x == ("closed", 2, 0))
    note("%d of %d hung runs ended with the breaker closed, 2 calls in flight and no ask "
         "answered%s; %d rounds (A then B, B then A, ...); %d live events at 500/s and %d "
         "triages a run, measured by a process of its own"
         % (good, len(ur["checks"]), "" if good == len(ur["checks"]) else
            " (others: %s)" % [x for x in ur["checks"] if x != ("closed", 2, 0)],
            rounds, n_live, n_tri))


def report_7(B, q):
    rr = B.routing(60 if q else 0)
    for sp in ("dev", "test"):
        n, ok = rr["split"].get(sp, [0, 0])
        share = 100.0 * ok / n if n else float("nan")
        rn, rshare = rr["route"].get(sp, (0, float("nan")))
        agree = "agree" if rn == n and abs(rshare - share) < 0.05 else "DISAGREE"
        if sp == "test":
            figure("7. `cairn ask --no-model`: routed to the expected tool, test split",
                   "%.1f%% of %d (ask_route: %.1f%% of %d, %s)" % (share, n, rshare, rn, agree),
                   ">= 95%", share >= 95)
        else:
            note("dev split (the cues were tuned on it): %.1f%% of %d (ask_route: %.1f%% of %d, "
                 "%s)" % (share, n, rshare, rn, agree))
    lat = rr["lat"]
    note("latency per question, a process each (%d questions): p50 %s, p95 %s, max %s; beside "
         "it `cairn status --json` p50 %s, p95 %s"
         % (len(lat), ms(pct(lat, .5)), ms(pct(lat, .95)), ms(max(lat)),
            ms(pct(rr["status"], .5)), ms(pct(rr["status"], .95))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cairn", default=os.path.join(ROOT, "build", "rel", "cairn"))
    ap.add_argument("--tools", default=None, help="the directory of ask_route (default: "
                    "tools/ beside the cairn binary)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="figures to run, e.g. 2,7 (1 and 4 are one "
                    "phase)")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.measure:
        return measure_child(a.measure)
    only = set(int(x) for x in a.only.split(",") if x)

    def want(n):
        return not only or n in only
    a.cairn = os.path.abspath(a.cairn)
    a.tools = os.path.abspath(a.tools or os.path.join(os.path.dirname(a.cairn), "tools"))
    os.environ["CAIRN_BIN"] = a.cairn
    q = a.quick
    B = Bench(a)
    t_start = time.monotonic()
    print("reasoning layer: %s, %d CPUs, load average %s at the start%s"
          % (a.cairn, os.cpu_count(), loadavg(), " (--quick: fewer runs)" if q else ""),
          flush=True)
    try:
        runs = 3 if q else 10
        r14 = None
        if want(1) or want(4):
            r14 = B.open_and_close(runs)
        if want(1):
            report_1(r14, runs)
        if want(2):
            report_2(B, q)
        if want(3):
            report_3(B, q)
        if want(4):
            report_4(r14, runs)
        if want(5):
            report_5(B, q)
        if want(6):
            report_6(B, q)
        if want(7):
            report_7(B, q)
    finally:
        shutil.rmtree(B.tmp, ignore_errors=True)
    print("took %.0f s; load average %s at the end" % (time.monotonic() - t_start, loadavg()),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
