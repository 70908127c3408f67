#!/usr/bin/env python3
"""The file watcher on real trees with real inotify: the set of reported
changes equals the set of real changes (bursts, atomic saves, renames, deep
mkdir-then-write, a git checkout, a forced queue overflow, the watch limit),
and nothing that git ignores, that lives in .git or in cairn's own data,
runtime and config directories is reported. Adding a big tree does not stop
the daemon from answering, and one tree named several ways is watched once."""

import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Skip, Suite, check, eq, log, short  # noqa: E402

T = Suite(per_test_timeout=180)


def git(repo, *args):
    subprocess.run(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@x"] + list(args),
                   check=True, capture_output=True)


def make_repo(d, name="proj", files=None):
    repo = os.path.realpath(os.path.join(d.tmp, name))
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "main")
    write(repo, ".gitignore", "build/\n*.o\n")
    for rel, text in (files or {"src/a.c": "a\n"}).items():
        write(repo, rel, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


def write(repo, rel, text):
    path = os.path.join(repo, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def watch(d, repo):
    rc, out, err = d.cli(["watch", "add", repo])
    eq(rc, 0, "watch add (%s)" % short(err))
    # A small tree is walked whole before the reply.
    check(out.startswith("watching "), "watch add says the tree is watched: %s" % out)


def settle(d, after, quiet=0.4, timeout=20):
    """Events with seq > after, once none has arrived for `quiet` seconds;
    the session service's session.* events about them are left out."""
    deadline = time.time() + timeout
    last_n, last_change = -1, time.time()
    while time.time() < deadline:
        with d.conn() as c:
            evs = [e for e in c.query_all(since=after + 1)
                   if not e["type"].startswith("session.")]
        if len(evs) != last_n:
            last_n, last_change = len(evs), time.time()
        elif time.time() - last_change >= quiet:
            return evs
        time.sleep(0.05)
    return evs


def last_seq(d):
    with d.conn() as c:
        return c.status()["seq"]["last"]


def changes(evs):
    out = set()
    for e in evs:
        if e["type"] == "file.renamed":
            out.add(("renamed", e["data"]["from"], e["data"]["path"]))
        elif e["type"].startswith("file."):
            out.add((e["type"][5:], e["data"]["path"]))
    return out


@T.test
def bursts_atomic_saves_renames_and_ignores():
    with Daemon() as d:
        repo = make_repo(d, files={"src/a.c": "a\n", "src/b.c": "b\n", "src/c.c": "c\n"})
        watch(d, repo)
        s0 = last_seq(d)
        for i in range(200):  # a burst on one file
            write(repo, "src/a.c", "v%d\n" % i)
        tmp = os.path.join(repo, "src", ".b.c.swp")  # save by rename
        with open(tmp, "w") as f:
            f.write("new b\n")
        os.rename(tmp, os.path.join(repo, "src", "b.c"))
        os.rename(os.path.join(repo, "src", "c.c"), os.path.join(repo, "src", "d.c"))
        write(repo, "build/out.o", "ignored dir")
        write(repo, "src/x.o", "ignored pattern")
        write(repo, "src/new.c", "created\n")
        with open(os.path.join(repo, "src", "gone.c"), "w") as f:  # created and deleted
            f.write("short-lived")
        os.unlink(os.path.join(repo, "src", "gone.c"))
        git(repo, "add", "src/new.c")  # touches .git only
        evs = settle(d, s0)
        eq(changes(evs), {("changed", "src/a.c"), ("changed", "src/b.c"),
                          ("renamed", "src/c.c", "src/d.c"), ("created", "src/new.c")},
           "reported changes")
        for e in evs:
            eq(e["project"], repo, "project of %s" % e["type"])
            eq(e["source"], "cairn/fswatch", "source")


@T.test
def touches_and_same_bytes_are_not_changes():
    """redis's build touches src/release.c on every run; an editor may save
    an unmodified buffer or rewrite by rename: the times change, the
    content does not, and none of it is a change of the file."""
    files = {"src/release.c": "int v;\n", "src/a.c": "a\n", "src/b.c": "b\n", "src/c.c": "c\n"}
    with Daemon() as d:
        repo = make_repo(d, files=files)
        watch(d, repo)
        s0 = last_seq(d)
        time.sleep(0.05)  # a new mtime even on coarse clocks
        os.utime(os.path.join(repo, "src", "release.c"))  # touch
        write(repo, "src/a.c", "a\n")  # the same bytes again
        tmp = os.path.join(repo, "src", ".b.c.tmp")  # the same bytes, by rename
        with open(tmp, "w") as f:
            f.write("b\n")
        os.rename(tmp, os.path.join(repo, "src", "b.c"))
        write(repo, "src/c.c", "c2\n")  # a real change
        evs = settle(d, s0)
        eq(changes(evs), {("changed", "src/c.c")}, "only the change of content is reported")
        # After a change, the new content is what a touch is compared with.
        s1 = last_seq(d)
        write(repo, "src/release.c", "int v = 2;\n")
        evs = settle(d, s1)
        eq(changes(evs), {("changed", "src/release.c")}, "a change of release.c")
        s2 = last_seq(d)
        time.sleep(0.05)
        os.utime(os.path.join(repo, "src", "release.c"))
        write(repo, "src/c.c", "c3\n")
        evs = settle(d, s2)
        eq(changes(evs), {("changed", "src/c.c")}, "a touch after the change is still none")


@T.test
def deep_mkdir_then_write():
    with Daemon() as d:
        repo = make_repo(d)
        watch(d, repo)
        s0 = last_seq(d)
        want = set()
        for i in range(5):
            base = os.path.join(repo, "deep%d" % i, "a", "b", "c", "d")
            os.makedirs(base)
            for lvl in ("", "a", "a/b", "a/b/c", "a/b/c/d"):
                rel = os.path.join("deep%d" % i, lvl, "f.txt").replace("//", "/")
                write(repo, rel, "x")
                want.add(("created", os.path.normpath(rel)))
        eq(changes(settle(d, s0)), want, "files created right after their directories")
        # Directories removed whole are reported file by file.
        s1 = last_seq(d)
        subprocess.run(["rm", "-rf", os.path.join(repo, "deep0")], check=True)
        eq(changes(settle(d, s1)),
           {("deleted", r) for (_, r) in want if r.startswith("deep0/")}, "rm -rf")


@T.test
def git_checkout_of_many_files_is_held_and_summarised():
    with Daemon() as d:
        files = {"src/f%03d.c" % i: "base %d\n" % i for i in range(300)}
        repo = make_repo(d, files=files)
        git(repo, "checkout", "-q", "-b", "topic")
        for i in range(0, 300, 2):
            write(repo, "src/f%03d.c" % i, "topic %d\n" % i)
        for i in range(10):
            write(repo, "src/new%d.c" % i, "n")
        os.unlink(os.path.join(repo, "src", "f001.c"))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "topic")
        git(repo, "checkout", "-q", "main")
        watch(d, repo)
        s0 = last_seq(d)
        git(repo, "checkout", "-q", "topic")
        evs = settle(d, s0, quiet=0.6)
        want = {("changed", "src/f%03d.c" % i) for i in range(0, 300, 2)}
        want |= {("created", "src/new%d.c" % i) for i in range(10)}
        want |= {("deleted", "src/f001.c")}
        eq(changes(evs), want, "changes of the checkout")
        batch = [e for e in evs if e["type"] == "fs.batch"]
        check(batch, "an fs.batch summary: %s" % short([e["type"] for e in evs[:5]]))
        eq(evs[0]["type"], "fs.batch", "the summary comes first")
        total = sum(batch[0]["data"][k] for k in ("created", "changed", "deleted", "renamed"))
        eq(total, len(want), "the summary counts every change")


@T.test
def overflow_rescan_reports_only_real_changes():
    if os.geteuid() != 0:
        return Skip("not root: cannot lower /proc/sys/fs/inotify/max_queued_events")
    knob = "/proc/sys/fs/inotify/max_queued_events"
    old = open(knob).read().strip()
    try:
        with open(knob, "w") as f:
            f.write("64")
        with Daemon() as d:  # a new inotify instance takes the lowered limit
            files = {"keep/k%03d.txt" % i: "k" for i in range(100)}
            files.update({"mod/m%03d.txt" % i: "m" for i in range(50)})
            repo = make_repo(d, files=files)
            watch(d, repo)
            s0 = last_seq(d)
            os.kill(d.pid, signal.SIGSTOP)  # the kernel queue fills while it sleeps
            try:
                for i in range(50):
                    write(repo, "mod/m%03d.txt" % i, "changed %d" % i)
                for i in range(300):
                    write(repo, "new/n%03d.txt" % i, "n")
                os.unlink(os.path.join(repo, "keep", "k000.txt"))
            finally:
                os.kill(d.pid, signal.SIGCONT)
            evs = settle(d, s0, quiet=0.6)
            want = {("changed", "mod/m%03d.txt" % i) for i in range(50)}
            want |= {("created", "new/n%03d.txt" % i) for i in range(300)}
            want |= {("deleted", "keep/k000.txt")}
            got = changes(evs)
            check(got == want, "changes after an overflow: extra %s, missing %s"
                  % (sorted(got - want)[:10], sorted(want - got)[:10]))
            check(any(e["type"] == "fs.overflow" for e in evs), "an fs.overflow event")
    finally:
        with open(knob, "w") as f:
            f.write(old)


@T.test
def watch_limit_warns_and_rescans_the_rest():
    env = {"CAIRN_WATCH_MAX_DIRS": "3", "CAIRN_WATCH_RETRY_MS": "200"}
    with Daemon(env=env) as d:
        files = {"d%d/f.txt" % i: "x" for i in range(8)}
        repo = make_repo(d, files=files)
        s0 = last_seq(d)
        watch(d, repo)
        evs = settle(d, s0)
        warn = [e for e in evs if e["type"] == "fs.watch_limit"]
        check(warn, "a warning event: %s" % short(evs))
        eq(warn[0]["severity"], "warning", "severity")
        eq(warn[0]["data"]["limit"], "watch.max_dirs", "the limit reached")
        check("max_dirs" in warn[0]["data"]["fix"], "says how to fix: %s" % warn[0]["data"]["fix"])
        s1 = last_seq(d)
        for i in range(8):
            write(repo, "d%d/f.txt" % i, "changed")
        write(repo, "d7/new.txt", "n")
        want = {("changed", "d%d/f.txt" % i) for i in range(8)} | {("created", "d7/new.txt")}
        eq(changes(settle(d, s1, quiet=0.8)), want, "changes in watched and unwatched dirs")
        rc, out, err = d.cli(["watch", "list"])
        check("watch limit" in out, "watch list tells: %s" % out)


@T.test
def far_over_the_watch_limit_the_rest_is_skipped_and_said_so():
    env = {"CAIRN_WATCH_MAX_DIRS": "3", "CAIRN_WATCH_RETRY_MS": "200"}
    with Daemon(env=env) as d:
        files = {"d%04d/f.txt" % i: "x" for i in range(1100)}
        repo = make_repo(d, files=files)
        s0 = last_seq(d)
        rc, out, err = d.cli(["watch", "add", repo])
        eq(rc, 0, "watch add (%s)" % short(err))
        evs = settle(d, s0)
        warn = [e for e in evs if e["type"] == "fs.watch_limit"]
        check(warn, "a warning event: %s" % short(evs))
        data = warn[0]["data"]
        eq(data["limit"], "watch.max_dirs", "the limit reached")
        eq(data["max_dirs"], 3, "the setting's value")
        eq(data["unwatched_dirs"], 1000, "directories left to rescans")
        with d.conn() as c:
            w = c.ok({"op": "watch", "action": "list"})["watches"][0]
        eq(w["skipped_dirs"], 1101 - w["dirs"] - w["unwatched_dirs"], "skipped directories")
        check(w["skipped_dirs"] > 0, "some directories skipped: %s" % w)
        eq(data["skipped_dirs"], w["skipped_dirs"], "the warning counts them")
        rc, out, err = d.cli(["watch", "list"])
        check("not watched at all" in out, "watch list tells: %s" % out)


@T.test
def watches_survive_restart_and_can_be_removed():
    with Daemon() as d:
        repo = make_repo(d)
        watch(d, repo)
        d.restart()
        rc, out, err = d.cli(["watch", "list", "--json"])
        check(repo in out, "still watched after restart: %s" % out)
        s0 = last_seq(d)
        write(repo, "src/a.c", "after restart")
        eq(changes(settle(d, s0)), {("changed", "src/a.c")}, "watching after restart")
        rc, out, err = d.cli(["watch", "rm", repo])
        eq(rc, 0, "watch rm")
        s1 = last_seq(d)
        write(repo, "src/a.c", "unwatched")
        eq(changes(settle(d, s1)), set(), "nothing after watch rm")
        rc, out, err = d.cli(["watch", "rm", repo])
        eq(rc, 1, "watch rm of an unwatched path")


def own_paths(evs, prefixes):
    return sorted(e["data"]["path"] for e in evs if e["type"].startswith("file.")
                  and any(e["data"]["path"] == p or e["data"]["path"].startswith(p + "/")
                          for p in prefixes))


@T.test
def own_directories_inside_the_tree_are_never_watched():
    # A home directory that is a git repository, with cairn's data, runtime
    # and config directories inside it (as ~/.local/share/cairn etc. are).
    d = Daemon(start=False)
    home = os.path.realpath(d.home)
    git(home, "init", "-q", "-b", "main")
    write(home, "src/a.c", "a\n")
    write(home, ".config/cairn/config", "# cairn settings\n")
    d.data_home = os.path.join(home, ".local", "share")
    d.config_home = os.path.join(home, ".config")
    d.runtime_dir = os.path.join(home, ".run")
    os.makedirs(d.runtime_dir, mode=0o700)
    d.sock_path = os.path.join(d.runtime_dir, "cairn", "cairn.sock")
    d.start()
    watch(d, home)
    s0 = last_seq(d)
    with d.conn() as c:  # the daemon writes its database (and WAL) for these
        for i in range(20):
            c.pub({"source": "test", "type": "test.ping", "data": {"i": i}}, ack="durable")
    write(home, ".config/cairn/config", "# edited\n")
    evs = settle(d, s0, quiet=1.0, timeout=10)
    own = [".local/share/cairn", ".run/cairn", ".config/cairn"]
    eq(own_paths(evs, own), [], "file events for cairn's own files")
    s1 = last_seq(d)
    write(home, "src/a.c", "real change\n")
    evs = settle(d, s1, quiet=1.0, timeout=10)
    eq(changes(evs), {("changed", "src/a.c")}, "a real change in the same tree")
    # Watching one of cairn's own directories is refused outright.
    rc, out, err = d.cli(["watch", "add", os.path.join(home, ".local", "share", "cairn")])
    eq(rc, 1, "watch add of the data directory (%s)" % short(out + err))
    check("cairn's own" in err, "says why: %s" % short(err))


def make_big_tree(root, ndirs, names):
    """ndirs directories in ndirs/100 groups, each holding files `names`."""
    for i in range(ndirs // 100):
        for j in range(100):
            sub = os.path.join(root, "d%03d" % i, "e%02d" % j)
            os.makedirs(sub)
            for name in names:
                with open(os.path.join(sub, name), "w") as f:
                    f.write("x")


class StatusPoller:
    """Asks the daemon for its status every 10 ms on its own connection, in
    a thread; longest_gap(t0, t1) is the longest wait for an answer that
    came between t0 and t1 (monotonic)."""

    def __init__(self, d):
        self.d = d
        self.replies = []  # (seconds since the previous reply, when)
        self.errors = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            with self.d.conn(timeout=120) as c:
                last = time.monotonic()
                while not self.stop.is_set():
                    c.request({"op": "status"}, timeout=120)
                    now = time.monotonic()
                    self.replies.append((now - last, now))
                    last = now
                    time.sleep(0.01)
        except Exception as e:  # reported by __exit__
            self.errors.append(repr(e))

    def __enter__(self):
        self.t.start()
        time.sleep(0.3)
        return self

    def __exit__(self, et, ev, tb):
        self.stop.set()
        self.t.join(timeout=130)
        if et is None:
            check(not self.errors, "status requests failed: %s" % self.errors)
        return False

    def check_answered(self, t0, t1, what, bound=1.0):
        """Asserts that status was answered between t0 and t1 and never
        waited `bound` seconds or more: the watcher yields to the loop every
        few milliseconds (status waits 0.04-0.15 s here), so a second is
        generous on a loaded machine; walking or flushing these trees in one
        go takes 1.5-5 s under the sanitizers."""
        during = [g for (g, when) in self.replies if t0 <= when <= t1 + 0.5]
        log("%s took %.2fs; %d status replies meanwhile, longest wait %.3fs"
            % (what, t1 - t0, len(during), max(during) if during else -1))
        check(during, "status was answered during: %s" % what)
        check(max(during) < bound, "status went unanswered for %.2fs during: %s"
              % (max(during), what))


@T.test(timeout=300)
def adding_a_big_tree_keeps_the_daemon_answering():
    ndirs = 20000
    with Daemon() as d:
        # A git work tree (ignore rules are checked for every path) of 20,200
        # directories and 40,000 files.
        root = os.path.realpath(os.path.join(d.tmp, "big"))
        os.makedirs(root)
        git(root, "init", "-q", "-b", "main")
        write(root, ".gitignore", "*.o\nbuild/\n")
        make_big_tree(root, ndirs, ("a.c", "b.h"))
        write(root, "d000/f.txt", "x")
        with StatusPoller(d) as sp:
            t0 = time.monotonic()
            with d.conn(timeout=120) as c:
                r = c.request({"op": "watch", "action": "add", "path": root}, timeout=120)
                check(r.get("ok") is True, "watch add: %s" % short(r))
                reply_state = r.get("watch", {}).get("state")
                # Until the tree is fully watched, `watch list` says so.
                states = set()
                deadline = time.monotonic() + 240
                while True:
                    w = [x for x in c.ok({"op": "watch", "action": "list"})["watches"]
                         if x["path"] == root]
                    eq(len(w), 1, "one watch of the tree")
                    states.add(w[0].get("state"))
                    if w[0].get("state", "watching") == "watching" and w[0]["dirs"] >= ndirs:
                        break
                    check(time.monotonic() < deadline, "the tree was not watched in time: %s" % w)
                    time.sleep(0.05)
            t1 = time.monotonic()
        log("the reply said %r, the list said %s" % (reply_state, sorted(map(str, states))))
        sp.check_answered(t0, t1, "watch add of %d directories" % ndirs)
        if t1 - t0 > 1.0:
            eq(reply_state, "adding", "the reply to watch add of a big tree")
            check("adding" in states, "watch list said adding: %s" % states)
        eq(w[0]["dirs"], ndirs + ndirs // 100 + 1, "directories watched")
        s0 = last_seq(d)
        write(root, "d000/f.txt", "changed")
        eq(changes(settle(d, s0)), {("changed", "d000/f.txt")}, "watching once added")


@T.test(timeout=300)
def a_big_tree_moved_in_is_walked_without_blocking():
    ndirs = 20000
    with Daemon() as d:
        repo = make_repo(d)
        watch(d, repo)
        outside = os.path.join(d.tmp, "outside")
        make_big_tree(outside, ndirs, ("a.c",))
        s0 = last_seq(d)
        with StatusPoller(d) as sp:
            t0 = time.monotonic()
            os.rename(outside, os.path.join(repo, "moved"))
            deadline = time.monotonic() + 240
            with d.conn(timeout=120) as c:
                while c.ok({"op": "watch", "action": "list"})["watches"][0]["dirs"] < ndirs:
                    check(time.monotonic() < deadline, "the moved tree was not watched in time")
                    time.sleep(0.05)
            t1 = time.monotonic()
            got = changes(settle(d, s0, quiet=1.0, timeout=120))
            t2 = time.monotonic()
        sp.check_answered(t0, t1, "the walk of %d directories moved in" % ndirs)
        # Then 20,000 file.created are compared and logged, also in slices (the
        # daemon's own work on them is not, hence the larger bound).
        sp.check_answered(t1, t2, "the flush of %d new files" % ndirs, bound=2.0)
        want = {("created", "moved/d%03d/e%02d/a.c" % (i, j))
                for i in range(ndirs // 100) for j in range(100)}
        check(got == want, "changes: %d extra (%s), %d missing (%s)"
              % (len(got - want), sorted(got - want)[:5], len(want - got), sorted(want - got)[:5]))


@T.test
def one_tree_named_several_ways_is_watched_once():
    with Daemon() as d:
        repo = make_repo(d)
        watch(d, repo)
        link = os.path.join(d.tmp, "link")
        os.symlink(repo, link)
        names = [repo + "/", repo + "/.", repo + "/./", repo + "/../" + os.path.basename(repo),
                 repo + "//", link, link + "/src/..", repo + "/src", link + "/src/"]
        with d.conn() as c:
            for n in names:
                r = c.ok({"op": "watch", "action": "add", "path": n})
                eq([w["path"] for w in r["watches"]], [repo], "watches after adding %s" % n)
        rc, out, err = d.cli(["watch", "add", os.path.join(repo, "src")])
        eq(rc, 0, "watch add of a directory inside a watched tree")
        check("already" in out and repo in out, "says it is already watched: %s" % out)
        s0 = last_seq(d)
        write(repo, "src/a.c", "once\n")
        evs = settle(d, s0)
        eq([(e["type"], e["data"]["path"], e["project"]) for e in evs if e["type"].startswith("file.")],
           [("file.changed", "src/a.c", repo)], "one event for one change")
        # A tree containing a watched one is refused with what to do.
        outer = os.path.dirname(repo)
        rc, out, err = d.cli(["watch", "add", outer])
        eq(rc, 1, "watch add of a tree containing a watched one")
        check("cairn watch rm" in err, "says what to do: %s" % err)
        # The whole file system is refused.
        rc, out, err = d.cli(["watch", "add", "/"])
        eq(rc, 1, "watch add /")
        check("refusing" in err, "says why: %s" % err)
        # Removal by another name of the same tree works too.
        with d.conn() as c:
            c.ok({"op": "watch", "action": "rm", "path": link + "/"})
            eq(c.ok({"op": "watch", "action": "list"})["watches"], [], "watches after rm")
            # A tree deleted while watched is still removable by any spelling.
            gone = make_repo(d, name="gone")
            c.ok({"op": "watch", "action": "add", "path": gone})
            subprocess.run(["rm", "-rf", gone], check=True)
            c.ok({"op": "watch", "action": "rm", "path": gone + "/./src/..//"})
            eq(c.ok({"op": "watch", "action": "list"})["watches"], [], "watches after rm")


if __name__ == "__main__":
    T.main()
