#!/usr/bin/env python3
"""What `cairn run` adds to a build that has nothing to do, and what starting
a cairn process costs (issue 12 point 7, issue 13 item 8). Goals: an
up-to-date `make` through `cairn run` at most 20 ms slower than plain `make`
(daemon running), and `cairn --version` at most 2 ms more than an empty C
program.

The tree is shaped like redis: a top Makefile that runs `$(MAKE) -C src`,
src/ with 300 .c files (and their .d files included, as redis includes its
Makefile.dep) already built, and about 1,000 tracked files in all, in a git
repository whose objects are ignored. A daemon runs on private XDG
directories (its own XDG_RUNTIME_DIR).

Interleaved rounds, so that a busy machine slows every configuration alike;
each round runs, in this order:
  make                 the peer: plain `make` in the tree
  cairn run make       `cairn run -- make`, daemon running
  empty C program      the peer of process start: `int main(void){return 0;}`
                       built here with cc
  cairn --version      process start and nothing else
(and, with --compare OTHER, `OTHER run -- make` and `OTHER --version`: a
build from before a change, in the same rounds and against the same
daemon). Figures are median and p95 wall time of each, measured around
posix_spawn() and waitpid(); stdout goes to /dev/null. `cairn run` runs with
CAIRN_RUN_TIMING=1 and its one-line breakdown (src/cli/cmd_run.c) is
summarised as medians: start_cpu (CPU time used before cmd_run(): exec,
dynamic loading, config), before (cmd_run() up to the spawn), git (loading
libgit2, git_load of it, and reading the state: on a thread while the
command runs),
started_publish (build.started, its connect in started_connect), command,
join_wait (the command done, the thread not yet), after (output saved,
diagnostics), end_publish (build.passed sent and acknowledged, its connect
in end_connect) and total. Timings are printed, never asserted; the exit
status is non-zero only when the benchmark cannot run.

Usage: overhead.py --cairn build/rel/cairn [--rounds 200] [--warmup 10]
                   [--c-files 300] [--files 1000] [--compare OTHER] [--keep]
"""
import argparse
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

GOAL_RUN_MS = 20.0
GOAL_START_MS = 2.0
PARTS = ["start_cpu", "before", "git_load", "git", "started_connect", "started_publish", "command",
         "join_wait", "after", "end_connect", "end_publish", "total"]


def die(msg):
    print("bench/run: " + msg, file=sys.stderr)
    sys.exit(1)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def make_tree(root, n_c, n_files):
    """A redis-like tree under root, committed, and built once."""
    write(os.path.join(root, "Makefile"),
          "# Top level: everything is in src/, as in redis.\n"
          "default: all\n\n.DEFAULT:\n\tcd src && $(MAKE) $@\n\n"
          "all:\n\t$(MAKE) -C src all\n")
    write(os.path.join(root, ".gitignore"), "*.o\n*.d\nsrc/server\n")
    write(os.path.join(root, "src", "Makefile"),
          "CFLAGS = -O0 -MMD\n"
          "SRCS := $(sort $(wildcard *.c))\n"
          "OBJS := $(SRCS:.c=.o)\n\n"
          "all: server\n\n"
          "server: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n"
          "%.o: %.c\n\t$(CC) $(CFLAGS) -c $< -o $@\n\n"
          "-include $(OBJS:.o=.d)\n")
    n_h = max(1, n_c // 3)
    for i in range(n_h):
        write(os.path.join(root, "src", "mod%03d.h" % i),
              "#ifndef MOD%03d_H\n#define MOD%03d_H\nint mod%03d_value(int x);\n#endif\n"
              % (i, i, i))
    for i in range(n_c):
        h = i % n_h
        body = "int mod%03d_value(int x) { return x + %d; }\n" % (h, i) if i < n_h else \
            "int file%03d(int x) { return mod%03d_value(x) * %d; }\n" % (i, h, i)
        main = "int main(void) { return 0; }\n" if i == 0 else ""
        write(os.path.join(root, "src", "f%03d.c" % i),
              '#include "mod%03d.h"\n%s%s' % (h, body, main))
    made = 3 + n_h + n_c
    others = ["tests/unit/test_%04d.tcl", "deps/lib/part_%04d.c", "utils/tool_%04d.sh",
              "tests/assets/case_%04d.txt", "docs/page_%04d.md"]
    i = 0
    while made < n_files:
        write(os.path.join(root, others[i % len(others)] % i), "line %d\n" % i)
        made += 1
        i += 1
    git = ["git", "-C", root, "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "initial"], check=True)
    subprocess.run(["make", "-s", "-j%d" % (os.cpu_count() or 2)], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    tracked = subprocess.run(git + ["ls-files"], capture_output=True, check=True).stdout
    return tracked.count(b"\n")


def start_daemon(cairn, env, tmp):
    log = open(os.path.join(tmp, "daemon.log"), "ab")
    p = subprocess.Popen([cairn, "daemon"], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=log)
    sock = os.path.join(env["XDG_RUNTIME_DIR"], "cairn", "cairn.sock")
    for _ in range(500):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.close()
            return p
        except OSError:
            if p.poll() is not None:
                break
            time.sleep(0.02)
    p.kill()
    die("the daemon did not start; see %s/daemon.log" % tmp)


def spawn_time(argv, env, err_fd, null_fd):
    """Wall seconds of one run of argv, stdout to /dev/null and stderr to
    err_fd, from posix_spawn() to the end of waitpid()."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=[
        (os.POSIX_SPAWN_DUP2, null_fd, 0), (os.POSIX_SPAWN_DUP2, null_fd, 1),
        (os.POSIX_SPAWN_DUP2, err_fd, 2)])
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter()
    if os.waitstatus_to_exitcode(status) != 0:
        die("%s exited with %d" % (" ".join(argv), os.waitstatus_to_exitcode(status)))
    return t1 - t0


def stats(xs):
    """(median, p95) in ms of seconds xs."""
    v = sorted(x * 1000 for x in xs)
    p = min(len(v), max(1, math.ceil(len(v) * 0.95)))
    return statistics.median(v), v[p - 1]


def parse_timing(path):
    """Per part, the values of the `cairn run timing:` lines in path."""
    parts = {k: [] for k in PARTS}
    with open(path, errors="replace") as f:
        for line in f:
            if not line.startswith("cairn run timing:"):
                continue
            for kv in line.split()[3:]:
                k, _, v = kv.partition("=")
                if k.endswith("_ms") and k[:-3] in parts:
                    parts[k[:-3]].append(float(v))
    return parts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_RUN_ROUNDS", 200)))
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--c-files", type=int, default=300)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--compare", action="append", default=[])
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    cairn = os.path.abspath(a.cairn)
    if not os.access(cairn, os.X_OK):
        die("no cairn binary at '%s'; run 'make build/rel/cairn'" % a.cairn)
    for tool in ("make", "cc", "git"):
        if not shutil.which(tool):
            die("%s is not installed" % tool)
    make = shutil.which("make")

    tmp = tempfile.mkdtemp(prefix="cairn-bench-run.")
    daemon = None
    try:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CAIRN_") and k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC",
                                                           "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
        for sub in ("run", "data", "config", "home"):
            os.makedirs(os.path.join(tmp, sub), mode=0o700)
        env.update(XDG_RUNTIME_DIR=os.path.join(tmp, "run"),
                   XDG_DATA_HOME=os.path.join(tmp, "data"),
                   XDG_CONFIG_HOME=os.path.join(tmp, "config"), HOME=os.path.join(tmp, "home"),
                   GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
        tree = os.path.join(tmp, "tree")
        print("== preparing a redis-like tree (%d .c files, %d files) and building it"
              % (a.c_files, a.files), file=sys.stderr)
        tracked = make_tree(tree, a.c_files, a.files)
        empty = os.path.join(tmp, "empty")
        write(empty + ".c", "int main(void) { return 0; }\n")
        subprocess.run(["cc", "-O2", "-o", empty, empty + ".c"], check=True)
        daemon = start_daemon(cairn, env, tmp)
        run_env = dict(env, CAIRN_RUN_TIMING="1")

        configs = [("make", "make (peer)", [make], env),
                   ("run", "cairn run make", [cairn, "run", "--", make], run_env)]
        for i, other in enumerate(a.compare):
            configs.append(("cmp%d_run" % i, "%s run make" % other,
                            [os.path.abspath(other), "run", "--", make], run_env))
        configs += [("empty", "empty C program (peer)", [empty], env),
                    ("version", "cairn --version", [cairn, "--version"], env)]
        for i, other in enumerate(a.compare):
            configs.append(("cmp%d_version" % i, "%s --version" % other,
                            [os.path.abspath(other), "--version"], env))

        null_fd = os.open(os.devnull, os.O_RDWR)
        err_paths = {k: os.path.join(tmp, "stderr-%s" % k) for k, *_ in configs}
        err_fds = {k: os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                   for k, p in err_paths.items()}
        os.chdir(tree)
        print("== %d warm-up and %d measured rounds, interleaved" % (a.warmup, a.rounds),
              file=sys.stderr)
        times = {k: [] for k, *_ in configs}
        warm = os.open(os.devnull, os.O_WRONLY)
        for r in range(a.warmup + a.rounds):
            for key, _, argv, e in configs:
                t = spawn_time(argv, e, err_fds[key] if r >= a.warmup else warm, null_fd)
                if r >= a.warmup:
                    times[key].append(t)
        os.chdir(tmp)
        for fd in list(err_fds.values()) + [null_fd, warm]:
            os.close(fd)

        s = {k: stats(v) for k, v in times.items()}
        print()
        print("cairn run on an up-to-date redis-like tree (%d .c files, %d tracked files), "
              "daemon running; %d rounds; goal: cairn run adds <= %.0f ms"
              % (a.c_files, tracked, a.rounds, GOAL_RUN_MS))
        print("%-44s %10s %10s %12s %12s  %s" % ("command", "median ms", "p95 ms",
                                                 "+median ms", "+p95 ms", "goal"))

        def row(key, label, peer, goal):
            med, p95 = s[key]
            if peer is None:
                print("%-44s %10.2f %10.2f" % (label, med, p95))
                return
            dm, dp = med - s[peer][0], p95 - s[peer][1]
            mark = "" if goal is None else ("PASS" if dm <= goal else "MISS")
            print("%-44s %10.2f %10.2f %12.2f %12.2f  %s" % (label, med, p95, dm, dp, mark))

        row("make", "make (peer)", None, None)
        row("run", "cairn run make", "make", GOAL_RUN_MS)
        for i, other in enumerate(a.compare):
            row("cmp%d_run" % i, "%s run make" % os.path.basename(other)[:30], "make",
                GOAL_RUN_MS)
        print()
        print("process start, %d runs each; goal: cairn --version adds <= %.0f ms to an "
              "empty C program" % (a.rounds, GOAL_START_MS))
        row("empty", "empty C program (peer)", None, None)
        row("version", "cairn --version", "empty", GOAL_START_MS)
        for i, other in enumerate(a.compare):
            row("cmp%d_version" % i, "%s --version" % os.path.basename(other)[:30], "empty",
                GOAL_START_MS)
        print()
        for key, label in [("run", "cairn run make")] + \
                [("cmp%d_run" % i, os.path.basename(o)) for i, o in enumerate(a.compare)]:
            parts = parse_timing(err_paths[key])
            n = len(parts["total"])
            if not n:
                print("%s: no CAIRN_RUN_TIMING line (a build without it)" % label)
                continue
            print("where %s's time goes, median ms of %d runs (git and started_* run on a "
                  "thread beside the command):" % (label, n))
            print("  " + "  ".join("%s %.2f" % (k, statistics.median(parts[k]))
                                   for k in PARTS))
    finally:
        if daemon:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        if a.keep:
            print("kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
