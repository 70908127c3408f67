#!/usr/bin/env python3
"""The CLI's side of the socket (src/cli/client.c): it checks who it talks to
(the socket's directory must be the user's and private, the process behind
the socket must run as the user), it never waits forever for an answer, and
it refuses an event over the daemon's limits before sending it.

Several tests put a small fake daemon (a Python Unix-socket server in a
forked child) where the CLI looks for the real one. The uid checks need root
(to bind as one uid and serve as another); they are skipped otherwise."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Skip, Suite, check, eq, short  # noqa: E402

T = Suite(per_test_timeout=120)

NOBODY = 65534

STATUS_REPLY = {"ok": True, "version": "6.6.6", "pid": 1, "uptime_ms": 1000, "events": 0,
                "seq": {"first": 0, "last": 0, "committed": 0},
                "store": {"path": "/fake.db", "bytes": 0}, "connections": 1, "subscriptions": 0}


class FakeDaemon:
    """A fake daemon on sock_path, in a forked child. mode says how it
    answers each request line: "ok" (a status-like reply with the rid),
    "silent" (never), "norid_error" (a line_too_long error without a rid, as
    the daemon answers a line whose rid it cannot read). With serve_uid it
    binds as the caller and then listens and serves as that uid. Every line
    received is written to a file, for first_lines()."""

    def __init__(self, sock_path, mode="ok", serve_uid=None):
        self.sock_path = sock_path
        self.record = sock_path + ".lines"
        r, w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            try:
                os.close(r)
                self._serve(mode, serve_uid, w)
            finally:
                os._exit(0)
        os.close(w)
        ready = os.read(r, 100)
        os.close(r)
        check(ready == b"ready", "the fake daemon did not start: %r" % ready)

    def _serve(self, mode, serve_uid, ready_fd):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.sock_path)
        os.chmod(self.sock_path, 0o777)
        rec = open(self.record, "ab", buffering=0)
        if serve_uid is not None:
            os.setgroups([])
            os.setgid(serve_uid)
            os.setuid(serve_uid)
        s.listen(8)  # the peer credentials a client sees are the listener's now
        os.write(ready_fd, b"ready")
        os.close(ready_fd)
        while True:
            c, _ = s.accept()
            buf = b""
            while True:
                chunk = c.recv(1 << 16)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    rec.write(line[:200] + b"\n")
                    try:
                        req = json.loads(line)
                    except ValueError:
                        req = {}
                    if mode == "silent":
                        continue
                    if mode == "norid_error":
                        out = {"ok": False, "error": {"code": "line_too_long", "field": "",
                                                      "message": "request line too long"}}
                    else:
                        out = dict(STATUS_REPLY)
                        if "rid" in req:
                            out["rid"] = req["rid"]
                    c.sendall((json.dumps(out) + "\n").encode())
            c.close()

    def first_lines(self):
        try:
            with open(self.record, "rb") as f:
                return [l.decode("utf-8", "replace") for l in f.read().splitlines()]
        except OSError:
            return []

    def stop(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.pid = 0

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()
        return False


def cli_dirs(runtime_mode=0o700, runtime_uid=None):
    """A Daemon object (not started) for its private directories and
    environment, with the socket's directory made as asked."""
    d = Daemon(start=False)
    sock_dir = os.path.dirname(d.sock_path)
    os.makedirs(sock_dir, exist_ok=True)
    os.chmod(sock_dir, runtime_mode)
    if runtime_uid is not None:
        os.chown(sock_dir, runtime_uid, runtime_uid)
    return d


def timed_cli(d, args, timeout=20, env_extra=None, input=None):
    """Runs the CLI; a hang is a test failure, reported with how long it took."""
    env = d.env()
    env.update(env_extra or {})
    t0 = time.monotonic()
    try:
        r = subprocess.run([d.bin] + args, capture_output=True, env=env, timeout=timeout,
                           input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError("`cairn %s` still waiting after %ds" % (" ".join(args), timeout))
    return r.returncode, r.stdout.decode(), r.stderr.decode(), time.monotonic() - t0


# ---- who the CLI talks to --------------------------------------------------


@T.test
def own_private_directory_is_accepted():
    """The control case for the refusals below: the same fake daemon, in a
    directory of the user's with mode 0700, run by the user, is talked to."""
    d = cli_dirs()
    with FakeDaemon(d.sock_path):
        rc, out, err, _ = timed_cli(d, ["status"])
        eq(rc, 0, "exit status (stderr: %s)" % short(err))
        check("6.6.6" in out, "the fake daemon's status is printed: %s" % short(out))


@T.test
def peer_of_another_uid_is_refused():
    if os.geteuid() != 0:
        return Skip("needs root to serve as another uid")
    d = cli_dirs()  # the directory is ours and private: only the peer check can refuse
    with FakeDaemon(d.sock_path, serve_uid=NOBODY) as fake:
        rc, out, err, _ = timed_cli(d, ["status"])
        eq(rc, 4, "exit status (stdout: %s, stderr: %s)" % (short(out), short(err)))
        check("uid %d" % NOBODY in err, "the message names the peer's uid: %s" % short(err))
        check("refusing" in err, "the message says it refused: %s" % short(err))
        check("6.6.6" not in out, "nothing from the impostor is printed: %s" % short(out))
        eq(fake.first_lines(), [], "requests sent to the impostor")
        # A publisher does not hand its event to the impostor either.
        rc, out, err, _ = timed_cli(d, ["emit", "x.y"])
        eq(rc, 4, "emit's exit status (stderr: %s)" % short(err))
        eq(fake.first_lines(), [], "events sent to the impostor")
        # cairn run's events are kept in the spool for the real daemon.
        rc, out, err, _ = timed_cli(d, ["run", "--", "true"])
        eq(rc, 0, "cairn run's exit status (stderr: %s)" % short(err))
        eq(fake.first_lines(), [], "events sent to the impostor by cairn run")
        spool = os.path.join(d.data_home, "cairn", "spool")
        eq(len([f for f in os.listdir(spool) if f.endswith(".json")]), 2,
           "cairn run's events in the spool")


@T.test
def socket_directory_of_another_user_is_refused():
    if os.geteuid() != 0:
        return Skip("needs root to chown a directory to another uid")
    # As /tmp/cairn-UID when another user made it first.
    d = cli_dirs(runtime_uid=NOBODY)
    with FakeDaemon(d.sock_path) as fake:  # served by us: only the directory is wrong
        rc, out, err, _ = timed_cli(d, ["status"])
        eq(rc, 4, "exit status (stdout: %s, stderr: %s)" % (short(out), short(err)))
        check("owned by uid %d" % NOBODY in err, "the message names the owner: %s" % short(err))
        check(os.path.dirname(d.sock_path) in err, "the message names the directory: %s"
              % short(err))
        eq(fake.first_lines(), [], "requests sent through the foreign directory")


@T.test
def socket_directory_writable_by_others_is_refused():
    d = cli_dirs(runtime_mode=0o777)
    os.chmod(os.path.dirname(d.sock_path), 0o777)  # past the umask
    with FakeDaemon(d.sock_path) as fake:
        rc, out, err, _ = timed_cli(d, ["status"])
        eq(rc, 4, "exit status (stdout: %s, stderr: %s)" % (short(out), short(err)))
        check("writable" in err and "0777" in err, "the message says why: %s" % short(err))
        eq(fake.first_lines(), [], "requests sent through the open directory")


# ---- never waiting forever ---------------------------------------------------


@T.test
def silent_daemon_times_out():
    d = cli_dirs()
    with FakeDaemon(d.sock_path, mode="silent"):
        rc, out, err, took = timed_cli(d, ["status"], env_extra={"CAIRN_TIMEOUT_MS": "1500"})
        eq(rc, 4, "exit status (stderr: %s)" % short(err))
        check("no answer from the daemon in 1.5 s" in err, "the message: %s" % short(err))
        check("CAIRN_TIMEOUT_MS" in err, "the message says how to wait longer: %s" % short(err))
        check(1.4 < took < 10, "gave up after the timeout: %.1fs" % took)


@T.test
def error_without_rid_is_the_answer():
    d = cli_dirs()
    with FakeDaemon(d.sock_path, mode="norid_error"):
        rc, out, err, took = timed_cli(d, ["status"])
        eq(rc, 1, "exit status (stderr: %s)" % short(err))
        check("line_too_long" in err, "the daemon's error is shown: %s" % short(err))
        check(took < 10, "answered at once: %.1fs" % took)


@T.test
def rid_comes_first_in_requests():
    """So that a daemon can still read the rid of a line too long to parse."""
    d = cli_dirs()
    with FakeDaemon(d.sock_path) as fake:
        rc, out, err, _ = timed_cli(d, ["status"])
        eq(rc, 0, "exit status (stderr: %s)" % short(err))
        lines = fake.first_lines()
        eq(len(lines), 1, "requests received: %s" % short(lines))
        check(lines[0].startswith('{"rid":'), "the request starts with its rid: %s"
              % short(lines[0]))


@T.test
def tail_is_not_cut_by_the_timeout():
    with Daemon(env={"CAIRN_TIMEOUT_MS": "300"}) as d:
        p = d.cli_popen(["tail", "--json"])
        time.sleep(1.5)
        check(p.poll() is None, "tail still runs past the request timeout")
        with d.conn() as c:
            c.pub({"source": "test", "type": "late.event"})
        from cairnlib import LineReader  # noqa: E402
        line = LineReader(p.stdout).next_line(timeout=10)
        check(line and '"late.event"' in line, "tail printed the event: %s" % short(line))
        p.send_signal(signal.SIGINT)
        eq(p.wait(timeout=10), 0, "tail's exit status")


# ---- events over the daemon's limits -------------------------------------------


def expanding_json(limit):
    """JSON text of at most limit bytes that encodes to several times that
    (each 0.1 prints as 0.10000000000000001)."""
    n = (limit - 2) // 4
    return "[" + ",".join(["0.1"] * n) + "]"


@T.test
def emit_over_the_line_limit_fails_before_sending():
    with Daemon() as d:
        path = os.path.join(d.tmp, "big.json")
        with open(path, "w") as f:
            f.write(expanding_json(1 << 20))
        check(os.path.getsize(path) <= 1 << 20, "the data is within the input limit")
        rc, out, err, took = timed_cli(d, ["emit", "x.y", "--data", "@" + path], timeout=30)
        eq(rc, 1, "exit status (stderr: %s)" % short(err))
        check(("event_bytes" in err or "line_bytes" in err) and "nothing was sent" in err,
              "refused before sending, naming the limit: %s" % short(err))
        check(took < 20, "failed promptly: %.1fs" % took)
        with d.conn() as c:
            s = c.status()
            eq(s["seq"]["last"], 0, "nothing was logged")


@T.test
def emit_of_one_mebibyte_string_fails_promptly():
    with Daemon() as d:
        data = '"' + "a" * ((1 << 20) - 2) + '"'  # a JSON string of exactly 1 MiB
        rc, out, err, took = timed_cli(d, ["emit", "x.y", "--data", "-"], input=data.encode(),
                                       timeout=30)
        eq(rc, 1, "exit status (stdout: %s)" % short(out))
        check("event_bytes" in err and "nothing was sent" in err,
              "refused before sending, naming the limit: %s" % short(err))
        check(took < 20, "failed promptly: %.1fs" % took)
        # Within the limits it still works.
        rc, out, err, _ = timed_cli(d, ["emit", "x.y", "--data", '"small"'])
        eq(rc, 0, "a small emit (stderr: %s)" % short(err))


@T.test
def emit_over_a_small_line_limit_fails_before_sending():
    """An event within event_bytes on a line over line_bytes: the daemon
    could not read its rid, so the CLI must not send it."""
    with Daemon(env={"CAIRN_LIMITS_LINE_BYTES": "4K"}) as d:
        rc, out, err, took = timed_cli(d, ["emit", "x.y", "--data", '"%s"' % ("a" * 8000)])
        eq(rc, 1, "exit status (stdout: %s)" % short(out))
        check("line_bytes" in err and "nothing was sent" in err,
              "refused before sending, naming the limit: %s" % short(err))
        check(took < 10, "failed promptly: %.1fs" % took)


if __name__ == "__main__":
    T.main()
