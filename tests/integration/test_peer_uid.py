#!/usr/bin/env python3
"""A peer whose uid is not the daemon's gets one `forbidden` error line and
EOF (its request is read and dropped, so it never sees a broken pipe); the
daemon logs the refusal and keeps serving its owner. Needs root (to
connect as another uid); skipped otherwise."""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Skip, Suite, check, eq, short  # noqa: E402

T = Suite(per_test_timeout=60)

NOBODY = 65534


def connect_as(uid, path):
    """Forks a child that drops to uid, connects, sends a status request and
    reads until EOF; returns what it saw as a dict."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        out = {"lines": [], "end": None}
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(path)
            try:
                s.sendall(b'{"op":"status","rid":1}\n')
            except OSError as e:
                out["send_error"] = str(e)
            buf = b""
            deadline = time.monotonic() + 10
            while True:
                if time.monotonic() > deadline:
                    out["end"] = "timeout: connection still open after 10s"
                    break
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    out["end"] = "reset"
                    break
                if not chunk:
                    out["end"] = "eof"
                    break
                buf += chunk
            out["lines"] = [l.decode("utf-8", "replace") for l in buf.split(b"\n") if l]
        except Exception as e:
            out["end"] = "child error: %r" % e
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


@T.test
def other_uid_is_refused():
    if os.geteuid() != 0:
        return Skip("not root")
    with Daemon() as d:
        # Let uid 65534 reach the socket: only the daemon's check stands.
        for p in (d.tmp, d.runtime_dir, os.path.dirname(d.sock_path)):
            os.chmod(p, 0o711)
        os.chmod(d.sock_path, 0o666)
        seen = connect_as(NOBODY, d.sock_path)
        # A clear answer and EOF: never a reset or a broken pipe (issue 8).
        eq(seen["end"], "eof", "how the refused peer's connection ended (%s)" % short(seen))
        check("send_error" not in seen, "the refused peer could not send: %s" % short(seen))
        eq(len(seen["lines"]), 1, "lines sent to the refused peer (%s)" % short(seen))
        reply = json.loads(seen["lines"][0])
        eq(reply.get("ok"), False, "ok in %s" % short(reply))
        eq((reply.get("error") or {}).get("code"), "forbidden", "error code in %s" % short(reply))
        deadline = time.monotonic() + 5
        while str(NOBODY) not in d.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        check(str(NOBODY) in d.log_text(), "the daemon's log does not mention uid %d" % NOBODY)
        with d.conn() as c:
            s = c.status()
            eq(s.get("ok"), True, "status for the owner")
            r = c.pub({"source": "owner", "type": "still.served"}, ack="durable")
            eq(r.get("seq"), 1, "seq of the owner's publish")


if __name__ == "__main__":
    T.main()
