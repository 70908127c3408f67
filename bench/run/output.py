#!/usr/bin/env python3
"""What `cairn run` adds to a command that prints 100 MB (issue 13 item 6;
goal: at most 5% more wall time than the plain command), to /dev/null and
to a file, beside the plain command in the same rounds.

The command is `head -c 100000000 /dev/zero | tr '\\0' x | fold -w 99`: 100 MB
in lines of 99 bytes, written by fold in 4 KiB pieces (stdio). A daemon runs
on private XDG directories, so the run is logged (build.started,
build.passed, the capture saved under runs/) as it would be at a desk.

Rounds are interleaved: each round runs the plain command, `cairn run --`
of it, and the command piped through cat (the floor for anything that
relays the output through a pipe, as cairn run does unless stdout is a
regular file) (and `OTHER run --` with --compare OTHER: a build from before a change,
in the same rounds), so that a busy machine slows each alike. The figures
are medians of wall time around subprocess.run(), and beside them the CPU
time (user + system) of the whole process tree, from getrusage() of the
children: under load, wall time is noisy but the CPU that `cairn run` adds
to the command's own is not. Timings are printed,
never asserted; the exit status is non-zero only when the benchmark cannot
run.

Usage: output.py --cairn build/rel/cairn [--rounds 5] [--compare OTHER]
                 [--sink null|file|both]
fswatch.py calls run() for its third figure.
"""
import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

CMD = ["sh", "-c", "head -c 100000000 /dev/zero | tr '\\0' 'x' | fold -w 99"]
# The peer that sets the floor for any runner that sees the output through
# a pipe: the same command piped through cat.
CAT = ["sh", "-c", CMD[2] + " | cat"]


class Daemon:
    """A cairn daemon on private XDG directories under tmp."""

    def __init__(self, cairn, tmp):
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("CAIRN_") or k in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
                del self.env[k]
        for k in ("XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
            self.env[k] = os.path.join(tmp, k.lower())
            os.makedirs(self.env[k], exist_ok=True)
        sock = os.path.join(self.env["XDG_RUNTIME_DIR"], "cairn", "cairn.sock")
        self.p = subprocess.Popen([cairn, "daemon"], env=self.env, stderr=subprocess.DEVNULL)
        for _ in range(250):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        else:
            self.stop()
            sys.exit("bench/run/output.py: the daemon did not start")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=60)


def run(cairn, tmp, rounds=5, compare=None, sinks=("null", "file"), out=sys.stdout):
    """Prints the runner-overhead figures; returns {sink: {name: median s}}."""
    d = Daemon(cairn, os.path.join(tmp, "daemon"))
    out_path = os.path.join(tmp, "out")
    configs = [("plain", CMD), ("cairn run", [cairn, "run", "--"] + CMD), ("| cat", CAT)]
    if compare:
        configs.append(("compare", [compare, "run", "--"] + CMD))
    results = {}
    try:
        print("runner overhead, a command printing 100 MB (median of %d, interleaved)" % rounds,
              file=out)
        for sink in sinks:
            path, label = (os.devnull, "/dev/null") if sink == "null" else (out_path, "a file")
            ts = {name: [] for name, _ in configs}
            cpu = {name: [] for name, _ in configs}
            for _ in range(rounds):
                for name, args in configs:
                    with open(path, "wb") as f:
                        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                        t = time.monotonic()
                        subprocess.run(args, stdout=f, env=d.env, check=True, cwd=tmp)
                        ts[name].append(time.monotonic() - t)
                        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                        cpu[name].append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
            med = {name: statistics.median(v) for name, v in ts.items()}
            mcpu = {name: statistics.median(v) for name, v in cpu.items()}
            results[sink] = med
            plain, wrapped = med["plain"], med["cairn run"]
            line = ("  output to %-9s  plain %.3f s   cairn run %.3f s   overhead %+.1f%% (goal <= 5%%)"
                    % (label, plain, wrapped, (wrapped / plain - 1) * 100))
            if compare:
                line += "   compare %.3f s (%+.1f%%)" % (med["compare"],
                                                          (med["compare"] / plain - 1) * 100)
            line += "   | cat %.3f s (%+.1f%%)" % (med["| cat"], (med["| cat"] / plain - 1) * 100)
            print(line, file=out)
            line = ("  %-19s  cpu   %.3f s   cairn run %.3f s   added    %+.3f s"
                    % ("", mcpu["plain"], mcpu["cairn run"], mcpu["cairn run"] - mcpu["plain"]))
            if compare:
                line += "           compare %.3f s (%+.3f s)" % (
                    mcpu["compare"], mcpu["compare"] - mcpu["plain"])
            print(line, file=out)
            out.flush()
    finally:
        d.stop()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--compare")
    ap.add_argument("--sink", choices=("null", "file", "both"), default="both")
    a = ap.parse_args()
    sinks = ("null", "file") if a.sink == "both" else (a.sink,)
    tmp = tempfile.mkdtemp(prefix="cairn-bench-run-")
    try:
        run(os.path.abspath(a.cairn), tmp, a.rounds,
            os.path.abspath(a.compare) if a.compare else None, sinks)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
