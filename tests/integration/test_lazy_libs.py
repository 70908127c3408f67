#!/usr/bin/env python3
"""libgit2, libcurl and libsystemd are loaded on first use, not at exec
(src/common/dl.h): `cairn --version` maps none of them (the dynamic loader's
own trace, LD_DEBUG=files, says what it loads), `cairn run` in a repository
loads libgit2 but not libcurl, and when a library cannot be loaded (a
directory on LD_LIBRARY_PATH holds a file of its name that is not a
library) the message names it and the package to install: `cairn run` runs
the command and logs it without its git state, `cairn hooks install` fails,
and the model client's error, which the deterministic reasoner gives as its
reason, says so."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, short  # noqa: E402
from fakemodel import FakeModel  # noqa: E402

T = Suite(per_test_timeout=120)
LAZY = ("libgit2", "libcurl", "libsystemd")


def loaded(d, args, cwd=None, env_extra=None):
    """Runs cairn ARGS under LD_DEBUG=files; returns (result, the sonames
    the dynamic loader opened, at exec or later by dlopen())."""
    env = d.env()
    env["LD_DEBUG"] = "files"
    env.update(env_extra or {})
    r = subprocess.run([d.bin] + args, capture_output=True, env=env, cwd=cwd or d.tmp,
                       stdin=subprocess.DEVNULL, timeout=60)
    names = re.findall(r"file=(\S+) \[0\];  (?:needed|dynamically loaded) by",
                       r.stderr.decode("utf-8", "replace"))
    return r, names


def repo(d):
    p = os.path.join(d.tmp, "repo")
    if os.path.isdir(p):
        return p
    os.makedirs(p)
    git = ["git", "-C", p, "-c", "user.name=t", "-c", "user.email=t@x"]
    subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
    open(os.path.join(p, "a.txt"), "w").write("a\n")
    subprocess.run(git + ["add", "a.txt"], check=True)
    subprocess.run(git + ["commit", "-qm", "first"], check=True)
    return p


def broken(d, soname):
    """A directory for LD_LIBRARY_PATH where soname is a file that is not a
    library: dlopen() finds it first and fails, as with a broken install."""
    p = os.path.join(d.tmp, "broken-libs")
    os.makedirs(p, exist_ok=True)
    open(os.path.join(p, soname), "w").write("not a shared library\n")
    return p


def git_soname(d):
    """libgit2's soname as cairn loads it (from `cairn run` in a repository)."""
    _, names = loaded(d, ["run", "--", "true"], cwd=repo(d))
    g = [n for n in names if n.startswith("libgit2.so")]
    check(g, "cairn run in a repository loads libgit2: %s" % names)
    return g[0]


@T.test
def version_loads_none_of_them():
    with Daemon(start=False) as d:
        r, names = loaded(d, ["--version"])
        eq(r.returncode, 0, "cairn --version")
        # The trace works: it names what is linked.
        check(any(n.startswith("libjansson") for n in names),
              "LD_DEBUG=files lists the linked libraries: %s" % names)
        for lib in LAZY:
            check(not any(n.startswith(lib) for n in names),
                  "%s is not loaded by cairn --version: %s" % (lib, names))


@T.test
def run_loads_libgit2_only():
    with Daemon() as d:
        r, names = loaded(d, ["run", "--", "true"], cwd=repo(d))
        eq(r.returncode, 0, "cairn run true (%s)" % short(r.stderr[-2000:]))
        check(any(n.startswith("libgit2") for n in names), "libgit2 is loaded: %s" % names)
        for lib in ("libcurl", "libsystemd"):
            check(not any(n.startswith(lib) for n in names),
                  "%s is not loaded by cairn run: %s" % (lib, names))
        with d.conn() as c:
            evs = c.query_all(pattern="build.>")
        eq([e["type"] for e in evs], ["build.started", "build.passed"], "events")
        eq(evs[0]["data"]["git"]["branch"], "main", "build.started has the git state")


@T.test
def run_without_libgit2_runs_and_says_so():
    with Daemon() as d:
        p = repo(d)
        lib = broken(d, git_soname(d))
        env = d.env()
        env["LD_LIBRARY_PATH"] = lib
        r = subprocess.run([d.bin, "run", "--target", "nogit", "--", "sh", "-c",
                            "printf out; printf err >&2; exit 3"], capture_output=True,
                           env=env, cwd=p, stdin=subprocess.DEVNULL, timeout=60)
        eq(r.returncode, 3, "the command's exit status")
        eq(r.stdout, b"out", "the command's stdout")
        err = r.stderr.decode("utf-8", "replace")
        check(err.startswith("err\ncairn run: cannot load libgit2.so"),
              "the command's stderr, then the message on a line of its own: %s" % short(err))
        check("install libgit2-" in err, "the message names the package: %s" % short(err))
        with d.conn() as c:
            evs = [e for e in c.query_all(pattern="build.>") if e["subject"] == "nogit"]
        eq([e["type"] for e in evs], ["build.started", "build.failed"], "logged all the same")
        check("git" not in evs[1]["data"], "without git state: %s" % short(evs[1]["data"]))
        # cairn hooks install needs libgit2: it fails, and says why.
        r = subprocess.run([d.bin, "hooks", "install"], capture_output=True, env=env, cwd=p,
                           stdin=subprocess.DEVNULL, timeout=60)
        eq(r.returncode, 4, "cairn hooks install without libgit2 (EXIT_IO)")
        err = r.stderr.decode("utf-8", "replace")
        check(re.search(r"cannot load libgit2\.so\.\S+: .*; install libgit2-", err),
              "the message: %s" % short(err))


@T.test
def model_client_without_libcurl_falls_back_with_the_reason():
    with FakeModel() as m:
        d = Daemon(start=False)
        try:
            lib = broken(d, "libcurl.so.4")
            d.extra_env.update({"CAIRN_MODEL_URL": m.base_url, "CAIRN_MODEL_NAME": "fake",
                                "CAIRN_MODEL_DEADLINE": "2s", "LD_LIBRARY_PATH": lib})
            d.start()
            p = os.path.realpath(os.path.join(d.tmp, "proj"))
            os.makedirs(p)
            m.script([FakeModel.text("never sent")])
            rc, out, err = d.cli(["ask", "what failed?", "--json", "--project", p])
            eq(rc, 0, "cairn ask (%s)" % short(err))
            a = json.loads(out)
            eq(a["reasoner"], "deterministic", "the deterministic reasoner answers: %s" % short(a))
            check(a["answer"], "an answer: %s" % short(a))
            # The probes at start-up failed with the loader's message: the
            # breaker opened, and the reason carries the message.
            reason = a.get("fallback_reason", "")
            check("cannot load libcurl.so.4" in reason and "install libcurl4" in reason,
                  "the reason names libcurl.so.4 and libcurl4: %r" % reason)
            with d.conn() as c:
                bs = c.status().get("breakers") or [{}]
            check("cannot load libcurl.so.4" in bs[0].get("last_error", ""),
                  "the breaker's last error: %s" % short(bs))
            eq(m.chat_requests, [], "nothing reached the model server")
            d.stop()
        finally:
            d.cleanup()


if __name__ == "__main__":
    T.main()
