"""Helpers for cairn's integration tests: start the real daemon on a private
runtime, data and config directory, talk to it over its socket, run the CLI,
and report results as TAP-ish lines.

Every test file is a script:

    from cairnlib import Suite, Daemon, ...
    T = Suite()

    @T.test
    def emit_then_log():
        with Daemon() as d:
            ...

    if __name__ == "__main__":
        T.main()

Daemon objects register themselves; whatever a test leaves running is stopped
after it (with the exit status checked when the test passed, killed when it
failed), and the daemon's stderr log is printed when a test fails.

Environment: CAIRN_BIN (required) is the binary under test; CAIRN_KEEP=1
keeps the temporary directories (logs, database) for a post-mortem.
Note that ack "accepted" does not promise that a query sees the event yet:
tests that query right after such publishes call Conn.wait_committed().
"""

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from datetime import datetime, timezone

# Exit status that ASAN_OPTIONS below gives a run in which LeakSanitizer found
# leaks (or AddressSanitizer found an error).
SAN_EXITCODE = 86

DEFAULT_TIMEOUT = 10.0


# --------------------------------------------------------------------------
# Assertions that print both operands.


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise TestFailure("%s: expected %s, got %s" % (what, short(expected), short(actual)))


def short(v, n=600):
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def log(msg):
    """A diagnostic line (TAP comment)."""
    for line in str(msg).splitlines() or [""]:
        print("# " + line, flush=True)


def now_rfc3339():
    t = datetime.now(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


# --------------------------------------------------------------------------
# The daemon.

_daemons = []  # every Daemon made in this process, for cleanup


def cairn_bin():
    b = os.environ.get("CAIRN_BIN")
    if not b:
        raise TestFailure("CAIRN_BIN is not set (e.g. CAIRN_BIN=build/san/cairn)")
    b = os.path.abspath(b)
    if not os.access(b, os.X_OK):
        raise TestFailure("CAIRN_BIN=%s is not an executable" % b)
    return b


class Daemon:
    """One cairn daemon on its own temporary XDG directories.

    env: extra environment, e.g. {"CAIRN_SUBSCRIBER_QUEUE_EVENTS": "64"}.
    start=True starts it at once (waiting until its socket accepts)."""

    def __init__(self, env=None, start=True, name="daemon"):
        self.bin = cairn_bin()
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="cairn-it-")
        self.runtime_dir = os.path.join(self.tmp, "run")
        self.data_home = os.path.join(self.tmp, "data")
        self.config_home = os.path.join(self.tmp, "config")
        self.home = os.path.join(self.tmp, "home")
        for p in (self.runtime_dir, self.data_home, self.config_home, self.home):
            os.makedirs(p, mode=0o700)
        self.sock_path = os.path.join(self.runtime_dir, "cairn", "cairn.sock")
        self.db_path = os.path.join(self.data_home, "cairn", "cairn.db")
        self.log_path = os.path.join(self.tmp, "daemon.stderr")
        self.extra_env = dict(env or {})
        self.proc = None
        self.starts = 0
        self.cleaned = False
        _daemons.append(self)
        if start:
            self.start()

    # -- environment ------------------------------------------------------

    def env(self):
        e = {}
        for k, v in os.environ.items():
            # Nothing from the caller's cairn settings or systemd leaks in.
            if k.startswith("CAIRN_") and k not in ("CAIRN_BIN", "CAIRN_TOOLS"):
                continue
            if k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"):
                continue
            e[k] = v
        e["XDG_RUNTIME_DIR"] = self.runtime_dir
        e["XDG_DATA_HOME"] = self.data_home
        e["XDG_CONFIG_HOME"] = self.config_home
        e["HOME"] = self.home
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=%d" % SAN_EXITCODE)
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        e.update({k: str(v) for k, v in self.extra_env.items()})
        return e

    # -- lifecycle --------------------------------------------------------

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _mark(self, what):
        with open(self.log_path, "a") as f:
            f.write("=== test harness: %s (%s) ===\n" % (what, time.strftime("%H:%M:%S")))

    def start(self, timeout=10.0):
        """Starts `$CAIRN_BIN daemon` and waits until the socket accepts."""
        check(self.proc is None, "start(): daemon already started")
        self.starts += 1
        self._mark("start #%d" % self.starts)
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [self.bin, "daemon"],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                env=self.env(),
                start_new_session=True,
            )
        finally:
            logf.close()
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise TestFailure(
                    "daemon exited with status %d while starting (see its log)" % rc
                )
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.settimeout(1.0)
                    s.connect(self.sock_path)
                finally:
                    s.close()
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill9()
                raise TestFailure(
                    "daemon did not accept connections on %s within %.0fs"
                    % (self.sock_path, timeout)
                )
            time.sleep(0.02)

    def stop(self, timeout=30.0):
        """SIGTERM; asserts exit status 0 (86 means LeakSanitizer found
        leaks) and no sanitizer report in the log."""
        if self.proc is None:
            return
        p = self.proc
        self._signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise TestFailure("daemon did not exit within %.0fs of SIGTERM" % timeout)
        self.proc = None
        self._mark("stopped, status %d" % rc)
        if rc != 0:
            extra = " (LeakSanitizer/AddressSanitizer report)" if rc == SAN_EXITCODE else ""
            if rc < 0:
                extra = " (killed by signal %d)" % -rc
            raise TestFailure("daemon exited with status %d after SIGTERM%s" % (rc, extra))
        text = self.log_text()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            check(marker not in text, "daemon log contains a sanitizer report (%r)" % marker)

    def kill9(self):
        """SIGKILL (to the daemon's own process group, which start() made)
        and reap."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            self._signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        self._mark("killed with SIGKILL")

    def restart(self, timeout=10.0):
        self.stop()
        return self.start(timeout=timeout)

    def _signal(self, sig):
        try:
            self.proc.send_signal(sig)
        except ProcessLookupError:
            pass

    def cleanup(self, keep=False):
        """Kills the daemon if it still runs and removes its directories."""
        if self.cleaned:
            return
        self.kill9()
        self.cleaned = True
        if not keep and not os.environ.get("CAIRN_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            try:
                self.stop()
            finally:
                self.cleanup()
        # On failure the suite prints the log and cleans up.
        return False

    # -- logs ---------------------------------------------------------------

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def dump_log(self, max_lines=150):
        lines = self.log_text().splitlines()
        log("---- %s stderr (%s), last %d of %d lines ----"
            % (self.name, self.log_path, min(max_lines, len(lines)), len(lines)))
        for line in lines[-max_lines:]:
            log("  " + line)

    # -- clients ------------------------------------------------------------

    def conn(self, **kw):
        return Conn(self.sock_path, **kw)

    def cli(self, args, input=None, timeout=60):
        """Runs `$CAIRN_BIN args...` with this daemon's environment; returns
        (rc, stdout, stderr) as text."""
        if isinstance(input, str):
            input = input.encode()
        try:
            r = subprocess.run(
                [self.bin] + list(args),
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                capture_output=True,
                env=self.env(),
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise TestFailure("`cairn %s` did not finish within %ds" % (" ".join(args), timeout))
        return (r.returncode, r.stdout.decode("utf-8", "replace"),
                r.stderr.decode("utf-8", "replace"))

    def cli_popen(self, args, **kw):
        """Starts `$CAIRN_BIN args...` with stdout piped (for tail) and
        stderr to a file (read it with child_stderr(p))."""
        self._nchild = getattr(self, "_nchild", 0) + 1
        path = os.path.join(self.tmp, "cli-%d.stderr" % self._nchild)
        with open(path, "wb") as errf:
            p = subprocess.Popen(
                [self.bin] + list(args),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errf,
                env=self.env(),
                **kw
            )
        p.stderr_path = path
        _children.append(p)
        return p


def child_stderr(p, limit=3000):
    """The tail of the stderr file of a child started with cli_popen()."""
    try:
        with open(p.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-limit:]
    except (OSError, AttributeError):
        return ""


_children = []  # CLI processes started by tests, killed at cleanup


# --------------------------------------------------------------------------
# A socket client.


class ConnClosed(TestFailure):
    pass


class ReadTimeout(TestFailure):
    pass


def is_push(msg):
    return isinstance(msg, dict) and "ok" not in msg and "sub" in msg


class Conn:
    """A client connection. request() sets a unique rid and returns the
    matching reply; pushed messages ({"sub":..,"event"|"gap"|"live":..})
    read meanwhile are kept in self.pushed, replies to other requests in
    self.unmatched."""

    def __init__(self, path, timeout=DEFAULT_TIMEOUT, rcvbuf=None, connect_timeout=5.0):
        self.path = path
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(connect_timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buf = bytearray()
        self.pushed = deque()
        self.unmatched = deque()
        self.eof = False
        self._rid = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False

    # -- raw I/O ----------------------------------------------------------

    def send(self, obj):
        self.send_raw((json.dumps(obj, separators=(",", ":")) + "\n").encode())

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.settimeout(self.timeout)
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise TestFailure("send of %d bytes timed out after %.0fs" % (len(data), self.timeout))

    def read_line(self, timeout=None):
        """Next line (bytes, without the newline); None at EOF. Raises
        ReadTimeout."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 1]
                return line
            if self.eof:
                if self.buf:
                    line = bytes(self.buf)
                    self.buf.clear()
                    return line
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReadTimeout("no complete line from the daemon within %.1fs" % timeout)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            if not chunk:
                self.eof = True
            else:
                self.buf += chunk

    def read_msg(self, timeout=None):
        """Next message from the wire, parsed. Raises ConnClosed at EOF."""
        line = self.read_line(timeout)
        if line is None:
            raise ConnClosed("daemon closed the connection")
        try:
            return json.loads(line)
        except ValueError:
            raise TestFailure("daemon sent a line that is not JSON: %s" % short(line))

    # -- requests -----------------------------------------------------------

    def next_rid(self):
        self._rid += 1
        return self._rid

    def request(self, op, timeout=None):
        """Sends op (a dict) with a fresh rid unless it has one; returns the
        reply carrying that rid."""
        op = dict(op)
        if "rid" not in op:
            op["rid"] = self.next_rid()
        self.send(op)
        return self.wait_reply(op["rid"], timeout)

    def wait_reply(self, rid, timeout=None):
        timeout = self.timeout if timeout is None else timeout
        for i, m in enumerate(self.unmatched):
            if m.get("rid") == rid:
                del self.unmatched[i]
                return m
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReadTimeout("no reply with rid %r within %.1fs" % (rid, timeout))
            m = self.read_msg(left)
            if is_push(m):
                self.pushed.append(m)
            elif isinstance(m, dict) and m.get("rid") == rid and "rid" in m:
                return m
            else:
                self.unmatched.append(m)

    def reply(self, timeout=None):
        """The next reply (not a pushed message), whatever its rid."""
        if self.unmatched:
            return self.unmatched.popleft()
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReadTimeout("no reply within %.1fs" % timeout)
            m = self.read_msg(left)
            if is_push(m):
                self.pushed.append(m)
            else:
                return m

    def next_push(self, timeout=None):
        """The next pushed message (event, gap or live notice)."""
        if self.pushed:
            return self.pushed.popleft()
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReadTimeout("no pushed message within %.1fs" % timeout)
            m = self.read_msg(left)
            if is_push(m):
                return m
            self.unmatched.append(m)

    # -- conveniences ---------------------------------------------------------

    def ok(self, op, timeout=None):
        """request() and assert ok:true."""
        r = self.request(op, timeout)
        check(r.get("ok") is True, "request %s failed: %s" % (short(op, 300), short(r)))
        return r

    def status(self):
        return self.ok({"op": "status"})

    def wait_committed(self, timeout=10.0):
        """Waits until every assigned seq is committed (status seq.committed
        == seq.last): ack "accepted" does not promise that a query sees the
        event yet. Returns the status reply."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.status()
            seq = s.get("seq") or {}
            if seq.get("committed") == seq.get("last"):
                return s
            check(time.monotonic() < deadline, "seq.committed stuck at %s below seq.last %s"
                  % (seq.get("committed"), seq.get("last")))
            time.sleep(0.01)

    def pub(self, event, ack=None, timeout=None):
        op = {"op": "pub", "event": event}
        if ack is not None:
            op["ack"] = ack
        return self.ok(op, timeout)

    def sub(self, pattern=">", from_=None, name=None):
        op = {"op": "sub", "pattern": pattern}
        if from_ is not None:
            op["from"] = from_
        if name is not None:
            op["sub"] = name
        return self.ok(op)

    def query(self, **kw):
        op = {"op": "query"}
        op.update(kw)
        return self.ok(op, timeout=60)

    def query_all(self, page=10000, **kw):
        """Every event matching kw (asc), paging through with since=seq."""
        out = []
        since = kw.pop("since", 1)
        while True:
            r = self.query(since=since, limit=page, **kw)
            evs = r["events"]
            out.extend(evs)
            if not r.get("more"):
                return out
            check(evs, "query said more:true but returned no events")
            since = evs[-1]["seq"] + 1


def ev(type_, source="test", **kw):
    """An event for publishing."""
    e = {"source": source, "type": type_}
    e.update(kw)
    return e


def at(t):
    """Seconds since the epoch as an event's RFC 3339 time (whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def timed_event(type_, project, t, source="cairn/test", **data):
    """An event at time t (seconds since the epoch), of project (or none),
    with data."""
    kw = {"time": at(t), "data": data}
    if project:
        kw["project"] = project
    return ev(type_, source=source, **kw)


def wait_for(fn, what, timeout=30):
    """fn()'s first true value, polled every 0.1 s; fails after timeout."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        check(time.time() < deadline, "timed out waiting for " + what)
        time.sleep(0.1)


def pub_pipelined(conn, events, ack="accepted", window=128, rid_prefix="p"):
    """Publishes events keeping up to `window` in flight; returns the
    replies in order. Pushed messages read meanwhile land in conn.pushed."""
    replies = [None] * len(events)
    sent = 0
    done = 0
    rids = {}
    while done < len(events):
        batch = []
        while sent < len(events) and sent - done < window:
            rid = "%s%d" % (rid_prefix, sent)
            rids[rid] = sent
            batch.append(json.dumps({"op": "pub", "rid": rid, "ack": ack, "event": events[sent]},
                                    separators=(",", ":")))
            sent += 1
        if batch:
            conn.send_raw(("\n".join(batch) + "\n").encode())
        m = conn.reply(timeout=30)
        i = rids.pop(m.get("rid"), None)
        check(i is not None, "unexpected reply while publishing: %s" % short(m))
        check(m.get("ok") is True, "publish of %s failed: %s" % (short(events[i], 200), short(m)))
        replies[i] = m
        done += 1
    return replies


# --------------------------------------------------------------------------
# Reading a child's stdout line by line with a timeout.


class LineReader:
    """Reads a pipe on a thread; next_line(timeout) returns a line (str,
    without newline), None at EOF, or raises ReadTimeout."""

    def __init__(self, pipe):
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.t.start()

    def _run(self, pipe):
        try:
            for line in iter(pipe.readline, b""):
                self.q.put(line.decode("utf-8", "replace").rstrip("\n"))
        except (OSError, ValueError):
            pass
        self.q.put(None)

    def next_line(self, timeout=DEFAULT_TIMEOUT):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise ReadTimeout("no output line within %.1fs" % timeout)


def stop_child(p, sig=signal.SIGINT, timeout=10):
    """Signals a child and returns its exit status (kills it if it hangs)."""
    if p.poll() is None:
        p.send_signal(sig)
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise TestFailure("child %s did not exit within %ds of signal %d" % (p.args, timeout, sig))


# --------------------------------------------------------------------------
# The suite.


class _Alarm(BaseException):
    pass


class Suite:
    def __init__(self, per_test_timeout=180):
        self.tests = []
        self.per_test_timeout = per_test_timeout

    def test(self, fn=None, timeout=None):
        """Decorator registering a test; @T.test or @T.test(timeout=N)."""
        def reg(f):
            self.tests.append((f, timeout or self.per_test_timeout))
            return f
        if fn is not None:
            return reg(fn)
        return reg

    def _cleanup_after(self, failed):
        problems = []
        for p in list(_children):
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            if p.stdout:
                try:
                    p.stdout.close()
                except OSError:
                    pass
            if failed:
                err = child_stderr(p)
                if err.strip():
                    log("---- stderr of %s ----" % " ".join(map(str, p.args[1:])))
                    log(err)
            _children.remove(p)
        for d in list(_daemons):
            if d.cleaned:
                _daemons.remove(d)
                continue
            if failed:
                d.dump_log()
                d.cleanup()
            else:
                try:
                    d.stop()
                except TestFailure as e:
                    problems.append("%s: %s" % (d.name, e))
                    d.dump_log()
                d.cleanup()
            _daemons.remove(d)
        return problems

    def main(self):
        def on_alarm(signum, frame):
            raise _Alarm()

        def on_term(signum, frame):
            raise KeyboardInterrupt()

        signal.signal(signal.SIGALRM, on_alarm)
        signal.signal(signal.SIGTERM, on_term)
        passed = failed = 0
        try:
            cairn_bin()
        except TestFailure as e:
            print("not ok 1 - setup")
            log(str(e))
            print("0 passed, 1 failed")
            sys.exit(1)
        try:
            # CAIRN_TEST_ONLY=a,b runs only the tests named (a quick look
            # while developing; make check sets nothing and runs them all).
            only = [x for x in os.environ.get("CAIRN_TEST_ONLY", "").split(",") if x]
            for n, (fn, limit) in enumerate(self.tests, 1):
                name = fn.__name__
                if only and name not in only:
                    continue
                t0 = time.monotonic()
                err = None
                skip = None
                signal.alarm(int(limit))
                try:
                    r = fn()
                    if isinstance(r, Skip):
                        skip = r.reason
                except _Alarm:
                    err = "test timed out after %ds" % limit
                except Exception:
                    err = traceback.format_exc()
                finally:
                    signal.alarm(0)
                problems = self._cleanup_after(err is not None)
                if err is None and problems:
                    err = "\n".join(problems)
                dt = time.monotonic() - t0
                if err is None:
                    passed += 1
                    if skip:
                        print("ok %d - %s # skip %s" % (n, name, skip), flush=True)
                    else:
                        print("ok %d - %s (%.1fs)" % (n, name, dt), flush=True)
                else:
                    failed += 1
                    print("not ok %d - %s (%.1fs)" % (n, name, dt), flush=True)
                    log(err.rstrip())
        except KeyboardInterrupt:
            failed += 1
            print("not ok - interrupted", flush=True)
        finally:
            signal.alarm(0)
            self._cleanup_after(True)
        print("%d passed, %d failed" % (passed, failed), flush=True)
        sys.exit(1 if failed else 0)


class Skip:
    def __init__(self, reason):
        self.reason = reason


# --------------------------------------------------------------------------
# Load generators.


class Publisher(threading.Thread):
    """Publishes `count` events on its own connection, pipelined (up to
    `window` in flight), recording every reply's seq. make_event(i) builds
    event i. After join(): .error (None or text), .seqs (list of seq per
    event), .acked (count)."""

    def __init__(self, sock_path, count, make_event, ack="accepted", window=128, name="pub"):
        super().__init__(daemon=True, name=name)
        self.sock_path = sock_path
        self.count = count
        self.make_event = make_event
        self.ack = ack
        self.window = window
        self.seqs = [None] * count
        self.acked = 0
        self.max_seq = 0
        self.error = None

    def run(self):
        try:
            c = Conn(self.sock_path, timeout=60)
            try:
                self._pump(c)
            finally:
                c.close()
        except Exception as e:  # reported by the test
            self.error = "%s: %s" % (self.name, traceback.format_exc() if not isinstance(e, TestFailure) else e)

    def _pump(self, c):
        sent = 0
        while self.acked < self.count:
            batch = []
            while sent < self.count and sent - self.acked < self.window:
                batch.append(json.dumps({"op": "pub", "rid": sent, "ack": self.ack,
                                         "event": self.make_event(sent)},
                                        separators=(",", ":")))
                sent += 1
            if batch:
                c.send_raw(("\n".join(batch) + "\n").encode())
            m = c.reply(timeout=60)
            rid = m.get("rid")
            check(m.get("ok") is True and isinstance(rid, int) and 0 <= rid < self.count
                  and self.seqs[rid] is None,
                  "unexpected reply while publishing: %s" % short(m))
            self.seqs[rid] = m["seq"]
            self.max_seq = max(self.max_seq, m["seq"])
            self.acked += 1


def describe_seq_problems(got, expected):
    """A short description of how the list `got` differs from `expected`."""
    out = []
    gs = set(got)
    es = set(expected)
    missing = sorted(es - gs)
    extra = sorted(gs - es)
    dups = len(got) - len(gs)
    if missing:
        out.append("%d missing (first: %s)" % (len(missing), missing[:10]))
    if extra:
        out.append("%d unexpected (first: %s)" % (len(extra), extra[:10]))
    if dups:
        seen = set()
        d = []
        for s in got:
            if s in seen:
                d.append(s)
            seen.add(s)
        out.append("%d duplicates (first: %s)" % (dups, d[:10]))
    for i in range(1, len(got)):
        if got[i] <= got[i - 1]:
            out.append("out of order at index %d: %s after %s" % (i, got[i], got[i - 1]))
            break
    if got:
        out.append("received %d, first %s, last %s" % (len(got), got[0], got[-1]))
    else:
        out.append("received nothing")
    return "; ".join(out)
