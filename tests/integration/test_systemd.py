#!/usr/bin/env python3
"""The daemon speaks sd_notify: READY once listening, WATCHDOG from the loop at
half the watchdog interval, STOPPING on SIGTERM. A datagram socket stands in
for systemd's NOTIFY_SOCKET."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ["CAIRN_BIN"]
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok {passed + failed} - {name}")
    else:
        failed += 1
        print(f"not ok {passed + failed} - {name} {detail}")


with tempfile.TemporaryDirectory() as tmp:
    env = dict(os.environ)
    for k in ("XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        env[k] = os.path.join(tmp, k.lower())
        os.makedirs(env[k])
    nsock_path = os.path.join(tmp, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(nsock_path)
    ns.settimeout(0.2)
    env["NOTIFY_SOCKET"] = nsock_path
    env["WATCHDOG_USEC"] = "200000"  # 200 ms: pings expected every 100 ms
    env.pop("WATCHDOG_PID", None)
    err = open(os.path.join(tmp, "daemon.err"), "w+")
    p = subprocess.Popen([BIN, "daemon"], env=env, stderr=err)
    msgs = []
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            msgs.append((time.time(), ns.recv(4096).decode()))
        except socket.timeout:
            pass
        if sum("WATCHDOG=1" in m for _, m in msgs) >= 5:
            break
    check("READY=1 sent", any("READY=1" in m for _, m in msgs), repr(msgs[:3]))
    ready_first = next((i for i, (_, m) in enumerate(msgs) if "READY=1" in m), 99)
    sock = os.path.join(env["XDG_RUNTIME_DIR"], "cairn", "cairn.sock")
    check("socket exists when READY is sent", os.path.exists(sock))
    wd = [t for t, m in msgs if "WATCHDOG=1" in m]
    check("WATCHDOG=1 pings from the loop", len(wd) >= 5, f"got {len(wd)}")
    if len(wd) >= 2:
        gaps = [b - a for a, b in zip(wd, wd[1:])]
        check("pings at about half the interval", max(gaps) < 0.2, f"gaps {gaps}")
    p.send_signal(signal.SIGTERM)
    stop = []
    deadline = time.time() + 10
    while time.time() < deadline and not any("STOPPING=1" in m for m in stop):
        try:
            stop.append(ns.recv(4096).decode())
        except socket.timeout:
            pass
    check("STOPPING=1 sent on SIGTERM", any("STOPPING=1" in m for m in stop), repr(stop[-3:]))
    rc = p.wait(timeout=20)
    err.seek(0)
    check("daemon exits 0 (no leaks)", rc == 0, f"rc={rc} stderr={err.read()[-2000:]}")
    check("READY comes before the first WATCHDOG", ready_first == 0, repr(msgs[:2]))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
