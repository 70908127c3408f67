#!/usr/bin/env python3
"""Memory per connection and per subscription (issue 13, item 9), beside
nats-server measured the same way in the same run.

For each server: start it on loopback with its data in a temporary
directory, read its resident set (VmRSS in /proc/PID/status) once idle,
open CONNS connections (cairn: a `hello` each; NATS: CONNECT and PING) and
read it again, then make SUBS subscriptions with distinct patterns on one
more connection (cairn: `sub` ... `from now`; NATS: SUB) and read it again.
Per connection is the growth divided by CONNS, per subscription the growth
divided by SUBS. Resident memory moves in pages and with the allocator's
arenas, so the figures are rounded estimates; no figure is asserted.

Usage: bench/mem/mem.py [--cairn build/rel/cairn] [--conns 1000] [--subs 10000]
"""

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS for pid %d" % pid)


def settle(pid):
    """The resident set once it has stopped moving (at most 2 s)."""
    last = rss_kib(pid)
    for _ in range(20):
        time.sleep(0.1)
        now = rss_kib(pid)
        if now == last:
            break
        last = now
    return last


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def read_until(s, want):
    buf = b""
    deadline = time.time() + 30
    while want not in buf:
        if time.time() > deadline:
            raise SystemExit("no %r from the server" % want)
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("the server closed the connection")
        buf += chunk
    return buf


class Cairn:
    name = "cairn"

    def __init__(self, binary, tmp):
        env = dict(os.environ)
        for k, sub in (("XDG_RUNTIME_DIR", "run"), ("XDG_DATA_HOME", "data"),
                       ("XDG_CONFIG_HOME", "config"), ("HOME", "home")):
            p = os.path.join(tmp, sub)
            os.makedirs(p, mode=0o700)
            env[k] = p
        self.sock = os.path.join(env["XDG_RUNTIME_DIR"], "cairn", "cairn.sock")
        self.log = open(os.path.join(tmp, "cairn.log"), "wb")
        self.proc = subprocess.Popen([binary, "daemon"], env=env, stdout=self.log,
                                     stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(self.sock):
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit("cairn did not start; see %s" % self.log.name)
            time.sleep(0.05)

    def connect(self):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        s.sendall(b'{"rid":1,"op":"hello","versions":[1],"client":"bench-mem"}\n')
        read_until(s, b"\n")
        return s

    def subscribe(self, s, n):
        # Pipelined in blocks; every reply read before the next block.
        block = 500
        for start in range(0, n, block):
            req = b"".join(b'{"rid":%d,"op":"sub","pattern":"bench.mem.%d.>","from":"now"}\n'
                           % (i + 2, i) for i in range(start, min(n, start + block)))
            s.sendall(req)
            got = 0
            buf = b""
            while got < min(block, n - start):
                buf += s.recv(1 << 20)
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    m = json.loads(line)
                    if not m.get("ok"):
                        raise SystemExit("cairn refused a subscription: %s" % line[:300])
                    got += 1

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Nats:
    name = "nats-server"

    def __init__(self, tmp):
        self.port = free_port()
        self.log = open(os.path.join(tmp, "nats.log"), "wb")
        self.proc = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise SystemExit("nats-server did not start; see %s" % self.log.name)
                time.sleep(0.05)

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        read_until(s, b"\r\n")  # INFO
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        read_until(s, b"PONG\r\n")
        return s

    def subscribe(self, s, n):
        s.sendall(b"".join(b"SUB bench.mem.%d.> %d\r\n" % (i, i + 1) for i in range(n)))
        s.sendall(b"PING\r\n")
        read_until(s, b"PONG\r\n")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def measure(server, conns, subs):
    pid = server.proc.pid
    base = settle(pid)
    socks = [server.connect() for _ in range(conns)]
    with_conns = settle(pid)
    sub_conn = server.connect()
    before_subs = settle(pid)
    server.subscribe(sub_conn, subs)
    with_subs = settle(pid)
    for s in socks + [sub_conn]:
        s.close()
    return {
        "base_kib": base,
        "conn_bytes": (with_conns - base) * 1024 / conns,
        "sub_bytes": (with_subs - before_subs) * 1024 / subs,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cairn", default=os.path.join(ROOT, "build", "rel", "cairn"))
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--subs", type=int, default=10000)
    a = ap.parse_args()
    if not os.access(a.cairn, os.X_OK):
        raise SystemExit("no cairn binary at %s; run 'make build/rel/cairn'" % a.cairn)
    have_nats = shutil.which("nats-server") is not None
    limit = raise_nofile(2 * a.conns + 64)
    if limit < a.conns + 64:
        raise SystemExit("the open-file limit (%d) is too low for %d connections" %
                         (limit, a.conns))
    tmp = tempfile.mkdtemp(prefix="cairn-bench-mem-")
    results = {}
    try:
        servers = [lambda: Cairn(a.cairn, os.path.join(tmp, "cairn"))]
        if have_nats:
            servers.append(lambda: Nats(tmp))
        for make in servers:
            srv = make()
            try:
                results[srv.name] = measure(srv, a.conns, a.subs)
            finally:
                srv.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    c = results["cairn"]
    n = results.get("nats-server")
    print("memory per connection and per subscription (%d connections, %d subscriptions "
          "with distinct patterns; growth of VmRSS)" % (a.conns, a.subs))
    print("%-40s %12s %14s" % ("", "cairn", "nats-server"))
    print("%-40s %12.1f %14s" % ("idle resident set (MiB)", c["base_kib"] / 1024,
                                 "%.1f" % (n["base_kib"] / 1024) if n else "-"))
    print("%-40s %12.0f %14s" % ("per connection (bytes)", c["conn_bytes"],
                                 "%.0f" % n["conn_bytes"] if n else "-"))
    print("%-40s %12.0f %14s" % ("per subscription (bytes)", c["sub_bytes"],
                                 "%.0f" % n["sub_bytes"] if n else "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
