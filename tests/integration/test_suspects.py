#!/usr/bin/env python3
"""The right suspect on real build systems (issue 12, point 1): for each
project shape, a clean build through `cairn run`, then an error injected
into one file and an unrelated edit made after it; the file the error is
in must be the first suspect, and nothing whose content did not change
(files the build touches or creates and deletes) nor what a build wrote
(objects, binaries; the row's "unchanged") may be a suspect at all.

The builds are real: GNU make recursing with `make -C src` (redis), an
autotools project configured out of tree (autoreconf, ../configure), cmake
with ninja, and a Python package's unittest run. The table SHAPES is the
suite; each row prints its result, and the suite prints how many rows had
the right first suspect."""

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, log, short  # noqa: E402

T = Suite(per_test_timeout=600)

GIT_ENV = dict(GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@example.com")

# redis: the top Makefile recurses into src/, whose build touches
# release.c at every run (its content never changes) and names files
# relative to src/.
REDIS = {
    "files": {
        "Makefile": "all:\n\t$(MAKE) -C src\n",
        "src/Makefile": ("OBJ = server.o t_set.o release.o\n"
                         "all: release-touch redis-server\n"
                         "release-touch:\n\ttouch release.c\n"
                         "redis-server: $(OBJ)\n\tgcc -o $@ $(OBJ)\n"
                         "%.o: %.c\n\tgcc -c -Wall -o $@ $<\n"),
        "src/server.c": "int sadd(int);\nint main(void)\n{\n\treturn sadd(-1);\n}\n",
        "src/t_set.c": "int sadd(int x)\n{\n\treturn x + 1;\n}\n",
        "src/release.c": "const char *release = \"7.2\";\n",
        ".gitignore": "*.o\nsrc/redis-server\n",
    },
    "prepare": [],
    "build": (".", ["make"]),
    "break": ("src/t_set.c", "int sadd(int x)\n{\n\treturn x + 1\n}\n"),
    "noise": [("src/server.c",
               "int sadd(int);\nint main(void)\n{\n\treturn sadd(0);\n}\n")],
    "unchanged": ["src/release.c"],
}

# autotools, configured out of tree: the compiler names ../src/hello.c
# from build/; configure is run again before the broken build, so its
# conftest files come and go.
AUTOTOOLS = {
    "files": {
        "configure.ac": ("AC_INIT([hello], [1.0])\nAM_INIT_AUTOMAKE([foreign subdir-objects])\n"
                         "AC_PROG_CC\nAC_CHECK_HEADERS([unistd.h])\n"
                         "AC_CONFIG_FILES([Makefile])\nAC_OUTPUT\n"),
        "Makefile.am": "bin_PROGRAMS = hello\nhello_SOURCES = src/hello.c src/greet.c\n",
        "src/hello.c": "int greet(int);\nint main(void)\n{\n\treturn greet(0);\n}\n",
        "src/greet.c": "int greet(int n)\n{\n\treturn n * 2;\n}\n",
        ".gitignore": "",
    },
    "prepare": [(".", ["autoreconf", "-fi"]), ("build", ["../configure", "-q"])],
    "build": ("build", ["make"]),
    "rerun": ("build", ["../configure", "-q"]),
    "break": ("src/greet.c", "int greet(int n)\n{\n\treturn n * undeclared;\n}\n"),
    "noise": [("src/hello.c", "int greet(int);\nint main(void)\n{\n\treturn greet(1);\n}\n")],
    "unchanged": ["build/conftest.c", "build/confdefs.h", "build/", "build/hello",
                  "build/src/greet.o", "build/src/hello.o"],
    "needs": ["autoreconf", "automake"],
}

# cmake with ninja: the compiler gets absolute paths.
CMAKE = {
    "files": {
        "CMakeLists.txt": ("cmake_minimum_required(VERSION 3.13)\nproject(calc C)\n"
                           "add_library(ops lib/ops.c)\nadd_executable(calc app/main.c)\n"
                           "target_link_libraries(calc ops)\n"),
        "lib/ops.c": "int add(int a, int b)\n{\n\treturn a + b;\n}\n",
        "app/main.c": "int add(int, int);\nint main(void)\n{\n\treturn add(1, -1);\n}\n",
        ".gitignore": "build/\n",
    },
    "prepare": [(".", ["cmake", "-S", ".", "-B", "build", "-G", "Ninja"])],
    "build": (".", ["cmake", "--build", "build"]),
    "break": ("lib/ops.c", "int add(int a, int b)\n{\n\treturn a + b\n}\n"),
    "noise": [("app/main.c", "int add(int, int);\nint main(void)\n{\n\treturn add(2, -2);\n}\n")],
    "unchanged": [],
    "needs": ["cmake", "ninja"],
}

# A Python package: the test run's traceback names the module.
PYTHON = {
    "files": {
        "pyproject.toml": "[project]\nname = \"shapes\"\nversion = \"0.1\"\n",
        "shapes/__init__.py": "",
        "shapes/area.py": "def square(x):\n    return x * x\n",
        "shapes/names.py": "NAMES = ['square']\n",
        "tests/__init__.py": "",
        "tests/test_area.py": ("import unittest\nfrom shapes.area import square\n\n\n"
                               "class T(unittest.TestCase):\n"
                               "    def test_square(self):\n"
                               "        self.assertEqual(square(3), 9)\n"),
        ".gitignore": "__pycache__/\n",
    },
    "prepare": [],
    "build": (".", [sys.executable, "-m", "unittest", "discover", "-s", "tests", "-t", "."]),
    "break": ("shapes/area.py", "def square(x):\n    return x * y\n"),
    "noise": [("shapes/names.py", "NAMES = ['square', 'circle']\n")],
    "unchanged": [],
}

SHAPES = [("redis make -C", REDIS), ("autotools out of tree", AUTOTOOLS),
          ("cmake + ninja", CMAKE), ("python package", PYTHON)]


def git(repo, *args):
    subprocess.run(["git", "-C", repo] + list(args), check=True, capture_output=True,
                   env=dict(os.environ, **GIT_ENV))


def write(repo, name, text):
    time.sleep(0.02)  # a later mtime than the last build's
    path = os.path.join(repo, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def clean_env(d):
    # As a person runs it: not under an outer make (`make check` exports
    # MAKEFLAGS, which may hold --no-print-directory).
    return {k: v for k, v in d.env().items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}


def run(d, repo, where, cmd, through_cairn):
    cwd = os.path.join(repo, where)
    os.makedirs(cwd, exist_ok=True)
    argv = ([d.bin, "run", "--"] if through_cairn else []) + cmd
    return subprocess.run(argv, cwd=cwd, env=clean_env(d), capture_output=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def wait_report(d, failure_id, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with d.conn() as c:
            for e in c.query_all(pattern="triage.report"):
                if e.get("correlationid") == failure_id:
                    return e["data"]
        time.sleep(0.1)
    raise AssertionError("no triage.report for %s\n%s" % (failure_id, d.dump_log()))


def settle(d):
    """Lets the watcher report the last edits before the next build."""
    time.sleep(0.4)


rep_of = [None]


def one_shape(d, name, shape):
    """Returns (first suspect, every suspect path, the expected file)."""
    repo = os.path.realpath(os.path.join(d.tmp, name.replace(" ", "-")))
    for rel, text in shape["files"].items():
        write(repo, rel, text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    for where, cmd in shape["prepare"]:
        r = run(d, repo, where, cmd, False)
        eq(r.returncode, 0, "%s: %s (%s)" % (name, " ".join(cmd), short(r.stderr)))
    rc, out, err = d.cli(["watch", "add", repo])
    eq(rc, 0, "watch add (%s)" % short(err))
    where, cmd = shape["build"]
    r = run(d, repo, where, cmd, True)
    eq(r.returncode, 0, "%s: the clean build (%s)" % (name, short(r.stdout + r.stderr, 600)))
    settle(d)
    bad, text = shape["break"]
    write(repo, bad, text)
    for rel, t in shape["noise"]:
        write(repo, rel, t)
    if "rerun" in shape:
        rw, rcmd = shape["rerun"]
        eq(run(d, repo, rw, rcmd, False).returncode, 0, "%s: %s again" % (name, rcmd[0]))
    settle(d)
    r = run(d, repo, where, cmd, True)
    check(r.returncode != 0, "%s: the broken build fails" % name)
    with d.conn() as c:
        c.wait_committed()
        failed = [e for e in c.query_all(pattern="*.failed") if e.get("project") == repo]
    check(failed, "%s: a failure was logged" % name)
    rep = wait_report(d, failed[-1]["id"])
    rep_of[0] = rep.get("suspects")
    paths = [s["path"] for s in rep.get("suspects", [])]
    return (paths[0] if paths else None), paths, bad


@T.test
def the_file_in_the_error_is_the_first_suspect_on_real_builds():
    right = 0
    with Daemon() as d:
        for name, shape in SHAPES:
            missing = [t for t in shape.get("needs", []) if not shutil.which(t)]
            check(not missing, "%s needs %s: scripts/deps.sh installs them" % (name, missing))
            first, paths, bad = one_shape(d, name, shape)
            ok = first == bad
            right += ok
            log("%-22s first suspect %-16s %s (of %s)" % (name, first, "right" if ok else
                                                              "WRONG", ", ".join(paths)))
            eq(first, bad, "%s: the file the error is in is the first suspect (%s)" %
               (name, paths))
            if os.environ.get("CAIRN_SUSPECTS_DEBUG"):
                log(short(rep_of[0], 4000))
            for u in shape["unchanged"]:
                check(u not in paths, "%s: %s changed no content yet is a suspect: %s" %
                      (name, u, paths))
    log("first suspect right: %d of %d real builds" % (right, len(SHAPES)))


if __name__ == "__main__":
    T.main()
