#!/usr/bin/env python3
"""cairn's git hooks in real temporary git repositories: `cairn hooks
install|uninstall`, the git.commit, git.checkout, git.merge and git.rewrite
events they log, chaining to hooks the user already has (same arguments, same
input, same exit status), byte-for-byte restore on uninstall, core.hooksPath,
linked worktrees, and git working normally (events spooled) with the daemon
down or the cairn binary gone."""

import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, TestFailure, check, eq, log, short  # noqa: E402

T = Suite(per_test_timeout=180)

HOOKS = ["post-commit", "post-checkout", "post-merge", "post-rewrite"]
MARKER = b"# cairn-git-hook:"


# --------------------------------------------------------------------------
# Helpers.


class Repo:
    """A git repository in a temporary directory of daemon d, with git and
    the hooks running in d's environment (so they reach d's socket and
    spool) and no system or global git configuration."""

    def __init__(self, d, name="repo", init=True, path=None):
        self.d = d
        if d not in _used:
            _used.append(d)
        self.path = path or os.path.realpath(tempfile.mkdtemp(prefix=name + "-", dir=d.tmp))
        if init:
            self.git("init", "-q", "-b", "main")
            self.git("config", "user.name", "Ada Lovelace")
            self.git("config", "user.email", "ada@example.com")
            self.git("config", "commit.gpgsign", "false")
            self.git("config", "advice.detachedHead", "false")

    def env(self):
        e = self.d.env()
        # The hooks discard cairn's output and status, so a sanitizer report
        # from a hook would pass unseen: have it written to a file instead,
        # which the test checks (see sanitizer_clean()).
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            e[k] = e[k] + ":log_path=" + os.path.join(self.d.tmp, "san-report")
        e["GIT_CONFIG_NOSYSTEM"] = "1"
        e["GIT_CONFIG_GLOBAL"] = os.devnull
        e.pop("GIT_DIR", None)
        e.pop("GIT_WORK_TREE", None)
        return e

    def run(self, argv, input=None, check_rc=True, cwd=None, timeout=60):
        try:
            r = subprocess.run(argv, cwd=cwd or self.path, env=self.env(), input=input,
                               capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("`%s` did not finish within %ds" % (" ".join(argv), timeout))
        if check_rc and r.returncode != 0:
            raise TestFailure("`%s` exited %d\nstdout: %s\nstderr: %s" % (
                " ".join(argv), r.returncode, short(r.stdout.decode(errors="replace")),
                short(r.stderr.decode(errors="replace"))))
        return r

    def git(self, *args, **kw):
        return self.run(["git"] + list(args), **kw)

    def out(self, *args):
        return self.git(*args).stdout.decode().strip()

    def head(self):
        return self.out("rev-parse", "HEAD")

    def cairn(self, *args, check_rc=True, cwd=None):
        r = self.run([self.d.bin] + list(args), check_rc=check_rc, cwd=cwd)
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def write(self, rel, text, mode=None):
        p = os.path.join(self.path, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        if mode is not None:
            os.chmod(p, mode)
        return p

    def commit(self, msg, *paths):
        self.git("add", "-A", *paths)
        self.git("commit", "-q", "-m", msg)
        return self.head()

    def hooks_dir(self):
        return os.path.join(self.path, ".git", "hooks")


_used = []  # the daemons (temporary directories) of the running test


def hooktest(fn):
    """T.test, then a check that no cairn process the test ran (hooks
    included) wrote a sanitizer report."""
    @functools.wraps(fn)
    def run():
        del _used[:]
        r = fn()
        for d in _used:
            reports = [f for f in os.listdir(d.tmp) if f.startswith("san-report")]
            for f in reports:
                with open(os.path.join(d.tmp, f), errors="replace") as fh:
                    log(fh.read()[-3000:])
            eq(reports, [], "sanitizer reports from cairn processes run by git")
        return r
    return T.test(run)


def events(d, pattern="git.>"):
    with d.conn() as c:
        c.wait_committed()
        return c.query_all(pattern=pattern)


def wait_events(d, pattern, n, timeout=15.0):
    """The events matching pattern once there are at least n. The hooks
    publish without waiting for an ack, so git may return before the daemon
    has read the event."""
    deadline = time.monotonic() + timeout
    while True:
        evs = events(d, pattern)
        if len(evs) >= n:
            return evs
        if time.monotonic() > deadline:
            raise TestFailure("expected %d events matching %s within %.0fs, got %d: %s" % (
                n, pattern, timeout, len(evs), short(evs, 2000)))
        time.sleep(0.05)


def last_event(d, type_, n):
    """The n-th event of type_ (waiting for it), the newest one."""
    return wait_events(d, type_, n)[-1]


def files_of(ev):
    return {f["path"]: f["status"] for f in ev["data"]["files"]}


def install(repo, *extra):
    rc, out, err = repo.cairn("hooks", "install", *extra)
    eq(rc, 0, "exit status of `cairn hooks install`")
    return out


def check_envelope(ev, repo, type_, subject):
    eq(ev["type"], type_, "event type")
    eq(ev["source"], "cairn/git", "event source")
    eq(ev.get("project"), repo.path, "%s project" % type_)
    eq(ev.get("subject"), subject, "%s subject" % type_)


def file_state(path):
    st = os.lstat(path)
    with open(path, "rb") as f:
        data = f.read()
    return (data, stat.S_IMODE(st.st_mode), st.st_ino)


# --------------------------------------------------------------------------
# install / uninstall


@hooktest
def install_is_idempotent():
    d = Daemon()
    r = Repo(d)
    out = install(r)
    for h in HOOKS:
        check("%s" % h in out and "installed" in out, "install output should list %s: %s"
              % (h, out))
        p = os.path.join(r.hooks_dir(), h)
        data, mode, _ = file_state(p)
        check(MARKER in data, "%s lacks cairn's marker: %s" % (h, short(data)))
        check(d.bin.encode() in data, "%s should call %s by absolute path: %s"
              % (h, d.bin, short(data)))
        check(b"|| true" in data, "%s must not fail git when cairn fails: %s" % (h, short(data)))
        eq(mode & 0o111, 0o111, "%s is executable" % h)
        check(not os.path.exists(p + ".cairn-chained"), "nothing to chain for %s" % h)
    before = {h: file_state(os.path.join(r.hooks_dir(), h)) for h in HOOKS}
    mtimes = {h: os.stat(os.path.join(r.hooks_dir(), h)).st_mtime_ns for h in HOOKS}
    out2 = install(r)
    eq(out2.count("already installed"), 4, "second install says 'already installed' 4 times:\n"
       + out2)
    for h in HOOKS:
        p = os.path.join(r.hooks_dir(), h)
        eq(file_state(p), before[h], "%s after a second install" % h)
        eq(os.stat(p).st_mtime_ns, mtimes[h], "%s mtime after a second install" % h)
    eq(sorted(x for x in os.listdir(r.hooks_dir()) if not x.endswith(".sample")),
       sorted(HOOKS), "files in the hooks directory")
    d.stop()


@hooktest
def usage_and_errors():
    d = Daemon(start=False)
    r = Repo(d)
    rc, out, err = r.cairn("hooks", "--help")
    eq(rc, 0, "exit status of `cairn hooks --help`")
    check("install" in out and "uninstall" in out, "--help should show the usage: " + out)
    for args in (["hooks"], ["hooks", "frobnicate"], ["hooks", "install", "extra"],
                 ["hooks", "--bogus", "install"], ["hooks", "install", "--repo"]):
        rc, out, err = r.cairn(*args, check_rc=False)
        eq(rc, 2, "exit status of `cairn %s`" % " ".join(args))
        check(err.strip(), "`cairn %s` should say what is wrong" % " ".join(args))
    empty = tempfile.mkdtemp(prefix="norepo-", dir=d.tmp)
    rc, out, err = r.cairn("hooks", "install", check_rc=False, cwd=empty)
    eq(rc, 2, "exit status of `cairn hooks install` outside a repository")
    check("not in a git repository" in err, "outside a repository it should say so: " + err)
    # --repo DIR works from anywhere, including a subdirectory of the work tree.
    os.makedirs(os.path.join(r.path, "src", "deep"))
    rc, out, err = r.cairn("hooks", "install", "--repo", os.path.join(r.path, "src", "deep"),
                           cwd=empty)
    eq(rc, 0, "exit status of `cairn hooks install --repo DIR`")
    check(os.path.exists(os.path.join(r.hooks_dir(), "post-commit")),
          "--repo should install into that repository's hooks")
    rc, out, err = r.cairn("hooks", "uninstall", "--repo=" + r.path, cwd=empty)
    eq(rc, 0, "exit status of `cairn hooks uninstall --repo=DIR`")
    check(not os.path.exists(os.path.join(r.hooks_dir(), "post-commit")),
          "uninstall --repo should remove the hooks")
    bare = os.path.join(d.tmp, "bare.git")
    subprocess.run(["git", "init", "-q", "--bare", bare], check=True)
    rc, out, err = r.cairn("hooks", "install", "--repo", bare, check_rc=False)
    eq(rc, 2, "exit status of `cairn hooks install` in a bare repository")
    check("bare" in err, "a bare repository should be refused with a reason: " + err)


@hooktest
def uninstall_restores_originals_exactly():
    d = Daemon(start=False)
    r = Repo(d)
    hd = r.hooks_dir()
    # Three kinds of existing hooks: an executable script with odd bytes
    # and mode, a non-executable one (git ignores it), and a symlink.
    orig = {}
    p = os.path.join(hd, "post-commit")
    with open(p, "wb") as f:
        f.write(b"#!/bin/sh\n# user's hook \xff\xfe no newline at end")
    os.chmod(p, 0o750)
    p = os.path.join(hd, "post-merge")
    with open(p, "wb") as f:
        f.write(b"#!/bin/sh\necho never run, not executable >> /dev/null\n")
    os.chmod(p, 0o640)
    target = os.path.join(d.tmp, "shared-hook.sh")
    with open(target, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(target, 0o755)
    os.symlink(target, os.path.join(hd, "post-checkout"))
    for h in ("post-commit", "post-merge"):
        orig[h] = file_state(os.path.join(hd, h))
    link_before = os.readlink(os.path.join(hd, "post-checkout"))
    mtime_before = os.stat(os.path.join(hd, "post-commit")).st_mtime_ns

    out = install(r)
    check("post-commit.cairn-chained" in out, "install should say where the hook went: " + out)
    for h in ("post-commit", "post-merge", "post-checkout"):
        check(os.path.lexists(os.path.join(hd, h + ".cairn-chained")),
              "%s should be kept as %s.cairn-chained" % (h, h))
    eq(install(r).count("already installed"), 4, "a second install changes nothing")

    rc, out, err = r.cairn("hooks", "uninstall")
    eq(rc, 0, "exit status of `cairn hooks uninstall`")
    for h in ("post-commit", "post-merge"):
        eq(file_state(os.path.join(hd, h)), orig[h],
           "%s after uninstall (bytes, mode, inode)" % h)
    eq(os.stat(os.path.join(hd, "post-commit")).st_mtime_ns, mtime_before,
       "post-commit mtime after uninstall")
    check(os.path.islink(os.path.join(hd, "post-checkout")), "post-checkout is a symlink again")
    eq(os.readlink(os.path.join(hd, "post-checkout")), link_before, "symlink target")
    check(not os.path.exists(os.path.join(hd, "post-rewrite")),
          "post-rewrite (cairn's only) is removed")
    eq(sorted(x for x in os.listdir(hd) if not x.endswith(".sample")),
       ["post-checkout", "post-commit", "post-merge"], "files left in the hooks directory")
    rc, out, err = r.cairn("hooks", "uninstall")
    eq(rc, 0, "exit status of a second uninstall")
    eq(out.count("not installed"), 4, "second uninstall says 'not installed' 4 times:\n" + out)
    for h in ("post-commit", "post-merge"):
        eq(file_state(os.path.join(hd, h)), orig[h], "%s after a second uninstall" % h)


@hooktest
def install_refuses_to_clobber():
    # A hook manager replaced cairn's hook after install: the new hook and the
    # one cairn kept both exist, and install must not lose either.
    d = Daemon(start=False)
    r = Repo(d)
    hd = r.hooks_dir()
    r.write(".git/hooks/post-commit", "#!/bin/sh\necho first\n", 0o755)
    install(r)
    r.write(".git/hooks/post-commit", "#!/bin/sh\necho second\n", 0o755)
    before = (file_state(os.path.join(hd, "post-commit")),
              file_state(os.path.join(hd, "post-commit.cairn-chained")))
    rc, out, err = r.cairn("hooks", "install", check_rc=False)
    eq(rc, 4, "exit status of install when both a foreign hook and a kept one exist")
    check("post-commit.cairn-chained" in err, "the message should name the kept hook: " + err)
    eq((file_state(os.path.join(hd, "post-commit")),
        file_state(os.path.join(hd, "post-commit.cairn-chained"))), before,
       "both hooks untouched")
    # Uninstall leaves the foreign hook alone and says what to do with the kept one.
    rc, out, err = r.cairn("hooks", "uninstall")
    eq(rc, 0, "exit status of uninstall")
    check("left alone" in out and "post-commit.cairn-chained" in out,
          "uninstall should explain the kept hook: " + out)
    eq(file_state(os.path.join(hd, "post-commit")), before[0], "foreign hook untouched")
    # A symlink to a cairn hook is not chained: it would run itself forever.
    other = Repo(d, name="other")
    install(other)
    os.unlink(os.path.join(hd, "post-commit"))
    os.unlink(os.path.join(hd, "post-commit.cairn-chained"))
    os.symlink(os.path.join(other.hooks_dir(), "post-commit"), os.path.join(hd, "post-commit"))
    rc, out, err = r.cairn("hooks", "install", check_rc=False)
    eq(rc, 4, "exit status of install over a symlink to a cairn hook")
    check("symbolic link to a cairn hook" in err, "the message should say why: " + err)
    check(not os.path.lexists(os.path.join(hd, "post-commit.cairn-chained")),
          "the symlink is not chained")


# --------------------------------------------------------------------------
# Events


@hooktest
def commit_events():
    d = Daemon()
    r = Repo(d)
    install(r)
    r.write("a.txt", "a\n")
    r.write("b.txt", "b\n")
    r.write("gone.txt", "bye\n")
    r.write("dir/old-name.c", "int main(void) { return 0; }\n" * 20)
    h1 = r.commit("First commit")
    ev = last_event(d, "git.commit", 1)
    check_envelope(ev, r, "git.commit", "main")
    data = ev["data"]
    eq(data["hash"], h1, "hash")
    eq(data["branch"], "main", "branch")
    eq(data["subject"], "First commit", "subject line")
    eq(data["author"], {"name": "Ada Lovelace", "email": "ada@example.com"}, "author")
    eq(data["parents"], 0, "parents of a root commit")
    eq(files_of(ev), {"a.txt": "A", "b.txt": "A", "gone.txt": "A", "dir/old-name.c": "A"},
       "files of the root commit")
    eq(data["files_total"], 4, "files_total")
    eq(data["files_truncated"], False, "files_truncated")

    r.write("a.txt", "a changed\n")
    os.unlink(os.path.join(r.path, "gone.txt"))
    os.rename(os.path.join(r.path, "dir/old-name.c"), os.path.join(r.path, "dir/new-name.c"))
    r.write("c.txt", "c\n")
    r.git("add", "-A")
    r.git("commit", "-q", "-m", "Second: several changes\n\nBody line one.\nBody line two.")
    h2 = r.head()
    ev = last_event(d, "git.commit", 2)
    data = ev["data"]
    eq(data["hash"], h2, "hash of the second commit")
    eq(data["subject"], "Second: several changes", "subject is the first line only")
    eq(data["parents"], 1, "parents")
    eq(files_of(ev), {"a.txt": "M", "gone.txt": "D", "dir/new-name.c": "R", "c.txt": "A"},
       "files vs the first parent")
    ren = [f for f in data["files"] if f["status"] == "R"][0]
    eq(ren.get("from"), "dir/old-name.c", "rename source")

    # Detached HEAD: subject is the hash, branch null.
    r.git("checkout", "-q", "--detach")
    r.write("d.txt", "d\n")
    h3 = r.commit("Detached work")
    ev = last_event(d, "git.commit", 3)
    eq(ev["subject"], h3, "subject of a commit on a detached HEAD")
    eq(ev["data"]["branch"], None, "branch on a detached HEAD")

    # What `cairn log --json` prints is the same event.
    rc, out, err = r.cairn("log", "git.commit", "--json", "--limit", "1")
    eq(rc, 0, "cairn log")
    eq(json.loads(out.splitlines()[-1])["data"]["hash"], h3, "cairn log --json shows the event")
    d.stop()


@hooktest
def text_that_is_not_utf8():
    # Paths and commit messages are bytes to git. Invalid UTF-8 becomes
    # U+FFFD rather than losing the event, and long text is cut on a
    # character boundary.
    d = Daemon()
    r = Repo(d)
    install(r)
    with open(os.path.join(r.path.encode(), b"caf\xe9.txt"), "wb") as f:
        f.write(b"x\n")
    msg = os.path.join(d.tmp, "msg")
    with open(msg, "wb") as f:
        f.write(b"Caf\xe9 au lait\n")
    r.git("config", "i18n.commitEncoding", "ISO-8859-1")
    r.git("add", "-A")
    r.git("commit", "-q", "-F", msg)
    ev = last_event(d, "git.commit", 1)
    eq(ev["data"]["subject"], "Caf\ufffd au lait", "subject with a Latin-1 byte")
    eq(files_of(ev), {"caf\ufffd.txt": "A"}, "path with a Latin-1 byte")
    r.git("config", "i18n.commitEncoding", "UTF-8")
    r.write("b.txt", "b\n")
    r.commit("\u00e9" * 3000)
    ev = last_event(d, "git.commit", 2)
    eq(ev["data"]["subject"], "\u00e9" * 512,
       "a long subject is cut at 1024 bytes, on a character boundary")
    d.stop()


@hooktest
def file_list_is_capped():
    d = Daemon()
    r = Repo(d)
    install(r)
    for i in range(600):
        r.write("many/f%04d.txt" % i, "%d\n" % i)
    r.commit("Six hundred files")
    ev = last_event(d, "git.commit", 1)
    eq(len(ev["data"]["files"]), 500, "files listed")
    eq(ev["data"]["files_total"], 600, "files_total")
    eq(ev["data"]["files_truncated"], True, "files_truncated")
    d.stop()


@hooktest
def checkout_events():
    d = Daemon()
    r = Repo(d)
    install(r)
    r.write("a.txt", "a\n")
    base = r.commit("base")
    n = len(events(d, "git.checkout"))
    r.git("checkout", "-q", "-b", "feature")
    ev = last_event(d, "git.checkout", n + 1)
    check_envelope(ev, r, "git.checkout", "feature")
    eq(ev["data"]["from"], base, "from")
    eq(ev["data"]["to"], base, "to")
    eq(ev["data"]["branch"], "feature", "branch")
    eq(ev["data"]["branch_checkout"], True, "branch_checkout")
    eq(ev["data"]["files"], [], "no files change when creating a branch")

    r.write("a.txt", "a on feature\n")
    r.write("new.txt", "new\n")
    feat = r.commit("feature work")
    r.git("switch", "-q", "main")
    ev = last_event(d, "git.checkout", n + 2)
    check_envelope(ev, r, "git.checkout", "main")
    eq((ev["data"]["from"], ev["data"]["to"]), (feat, base), "from/to of the switch")
    eq(files_of(ev), {"a.txt": "M", "new.txt": "D"}, "files between the two commits")
    eq(ev["data"]["files_total"], 2, "files_total")

    # A file checkout: flag 0, no file list.
    r.write("a.txt", "scribble\n")
    r.git("checkout", "--", "a.txt")
    ev = last_event(d, "git.checkout", n + 3)
    eq(ev["data"]["branch_checkout"], False, "branch_checkout of a file checkout")
    check("files" not in ev["data"], "a file checkout lists no files: %s" % ev["data"])
    d.stop()


@hooktest
def merge_events():
    d = Daemon()
    r = Repo(d)
    install(r)
    r.write("a.txt", "a\n")
    base = r.commit("base")
    r.git("checkout", "-q", "-b", "topic")
    r.write("t.txt", "topic\n")
    topic = r.commit("topic work")
    r.git("checkout", "-q", "main")

    # Fast-forward.
    r.git("merge", "-q", "topic")
    ev = last_event(d, "git.merge", 1)
    check_envelope(ev, r, "git.merge", "main")
    data = ev["data"]
    eq(data["head"], topic, "head after a fast-forward")
    eq(data["orig_head"], base, "orig_head")
    eq(data["fast_forward"], True, "fast_forward")
    eq(data["squash"], False, "squash")
    eq(files_of(ev), {"t.txt": "A"}, "files of the fast-forward")

    # A real merge of diverged branches.
    r.git("checkout", "-q", "-b", "other", base)
    r.write("o.txt", "other\n")
    r.commit("other work")
    r.git("checkout", "-q", "main")
    r.write("m.txt", "main\n")
    main_before = r.commit("main work")
    r.git("merge", "-q", "--no-edit", "other")
    merged = r.head()
    ev = last_event(d, "git.merge", 2)
    data = ev["data"]
    eq(data["head"], merged, "head after a merge")
    eq(data["orig_head"], main_before, "orig_head")
    eq(data["fast_forward"], False, "fast_forward of a real merge")
    eq(data["parents"], 2, "parents of the merge commit")
    eq(files_of(ev), {"o.txt": "A"}, "files the merge brought in")

    # A squash merge: HEAD stays, the changes are staged.
    r.git("checkout", "-q", "-b", "squashme", base)
    r.write("s.txt", "squash\n")
    r.commit("to squash")
    r.git("checkout", "-q", "main")
    r.git("merge", "-q", "--squash", "squashme")
    ev = last_event(d, "git.merge", 3)
    eq(ev["data"]["squash"], True, "squash")
    eq(ev["data"]["head"], merged, "head is unchanged by a squash merge")
    eq(ev["data"]["fast_forward"], False, "fast_forward of a squash")
    eq(files_of(ev).get("s.txt"), "A", "staged files of the squash merge")
    d.stop()


@hooktest
def rewrite_events():
    d = Daemon()
    r = Repo(d)
    install(r)
    r.write("a.txt", "a\n")
    r.commit("base")
    r.write("b.txt", "b\n")
    before = r.commit("wip")
    r.git("commit", "-q", "--amend", "-m", "wip, amended")
    after = r.head()
    ev = last_event(d, "git.rewrite", 1)
    check_envelope(ev, r, "git.rewrite", "main")
    eq(ev["data"]["command"], "amend", "command")
    eq(ev["data"]["rewritten"], [{"old": before, "new": after}], "rewritten pairs")
    eq(ev["data"]["rewritten_total"], 1, "rewritten_total")
    eq(ev["data"]["rewritten_truncated"], False, "rewritten_truncated")
    eq(ev["data"]["head"], after, "head")

    # Rebase two commits of a topic branch onto a moved main.
    base = r.head()
    r.git("checkout", "-q", "-b", "topic")
    r.write("t1.txt", "1\n")
    t1 = r.commit("topic 1")
    r.write("t2.txt", "2\n")
    t2 = r.commit("topic 2")
    r.git("checkout", "-q", "main")
    r.write("m.txt", "m\n")
    r.commit("main moves on")
    r.git("checkout", "-q", "topic")
    ncommit = len(events(d, "git.commit"))
    ncheckout = len(events(d, "git.checkout"))
    r.git("rebase", "-q", "main")
    n1 = r.out("rev-parse", "HEAD~1")
    n2 = r.head()
    ev = last_event(d, "git.rewrite", 2)
    eq(ev["data"]["command"], "rebase", "command")
    eq(ev["data"]["rewritten"], [{"old": t1, "new": n1}, {"old": t2, "new": n2}],
       "rewritten pairs of the rebase")
    eq(ev["data"]["branch"], "topic", "branch after the rebase")
    eq(ev["subject"], "topic", "subject after the rebase")
    check(base != n1, "the rebase did rewrite")
    # git runs post-commit for each pick; those events say they were part
    # of a rebase.
    picks = events(d, "git.commit")[ncommit:]
    for p in picks:
        eq(p["data"].get("in_progress"), "rebase", "in_progress of a commit made by rebase")
    log("rebase of 2 commits logged %d git.commit events" % len(picks))
    # And its checkout of the commit it rebases onto says so too.
    moves = events(d, "git.checkout")[ncheckout:]
    log("and %d git.checkout events" % len(moves))
    for m in moves:
        eq(m["data"].get("in_progress"), "rebase", "in_progress of a checkout made by rebase")
    check("in_progress" not in ev["data"], "the rewrite comes after the rebase: %s" % ev["data"])
    d.stop()


# --------------------------------------------------------------------------
# Chaining


@hooktest
def chains_to_existing_hooks():
    d = Daemon()
    r = Repo(d)
    rec = os.path.join(d.tmp, "user-hooks.log")
    stdin_copy = os.path.join(d.tmp, "post-rewrite.stdin")
    # The user's hooks record their name, arguments and (post-rewrite) input.
    for h in HOOKS:
        body = '#!/bin/sh\nprintf "%%s|%%s\\n" "$(basename "$0")" "$*" >> %s\n' % rec
        if h == "post-rewrite":
            body += "cat > %s\n" % stdin_copy
        body += "echo 'user %s ran' >&2\n" % h
        r.write(".git/hooks/" + h, body, 0o755)
    install(r)

    r.write("a.txt", "a\n")
    base = r.commit("base")
    rr = r.git("commit", "-q", "--amend", "-m", "base, amended")
    check(b"user post-rewrite ran" in rr.stderr and b"user post-commit ran" in rr.stderr,
          "the user's hooks' output reaches git's stderr: %s" % rr.stderr)
    amended = r.head()
    r.git("checkout", "-q", "-b", "side")
    r.write("s.txt", "s\n")
    side = r.commit("side")
    r.git("checkout", "-q", "main")
    r.git("merge", "-q", "side")
    with open(rec) as f:
        lines = f.read().splitlines()
    eq(lines, [
        "post-commit.cairn-chained|",
        "post-commit.cairn-chained|",
        "post-rewrite.cairn-chained|amend",
        "post-checkout.cairn-chained|%s %s 1" % (amended, amended),
        "post-commit.cairn-chained|",
        "post-checkout.cairn-chained|%s %s 1" % (side, amended),
        "post-merge.cairn-chained|0",
    ], "the user's hooks ran, in order, with git's arguments")
    with open(stdin_copy, "rb") as f:
        eq(f.read(), ("%s %s\n" % (base, amended)).encode(),
           "the user's post-rewrite read git's input byte for byte")
    # And cairn logged all of it too.
    wait_events(d, "git.commit", 3)
    wait_events(d, "git.checkout", 2)
    wait_events(d, "git.merge", 1)
    ev = last_event(d, "git.rewrite", 1)
    eq(ev["data"]["rewritten"], [{"old": base, "new": amended}], "cairn saw the same input")
    d.stop()


@hooktest
def exit_status_passes_through():
    d = Daemon()
    r = Repo(d)
    r.write("a.txt", "a\n")
    r.commit("base")
    r.git("branch", "other")
    r.write(".git/hooks/post-commit", "#!/bin/sh\necho failing >&2\nexit 3\n", 0o755)
    r.write(".git/hooks/post-checkout", "#!/bin/sh\nexit 5\n", 0o755)

    def outcome():
        r.write("a.txt", "a%f\n" % time.time())
        c = r.git("commit", "-q", "-am", "change", check_rc=False)
        s1 = r.git("checkout", "-q", "other", check_rc=False)
        s2 = r.git("checkout", "-q", "main", check_rc=False)
        return (c.returncode, b"failing" in c.stderr, s1.returncode, s2.returncode)

    without = outcome()
    install(r)
    with_cairn = outcome()
    eq(with_cairn, without, "git's exit status and hook output with cairn's hooks vs without "
       "(commit rc, hook stderr seen, checkout rc x2)")
    # post-checkout's status is what `git checkout` returns: the failure shows.
    check(without[2] != 0, "git checkout should report a failing post-checkout hook")
    # The hook script itself returns the chained hook's status.
    hook = os.path.join(r.hooks_dir(), "post-commit")
    rc = r.run([hook], check_rc=False, cwd=r.path).returncode
    eq(rc, 3, "exit status of cairn's post-commit script with a failing user hook")
    wait_events(d, "git.commit", 2)
    d.stop()


# --------------------------------------------------------------------------
# The daemon down, the binary gone


@hooktest
def daemon_down_spools():
    d = Daemon(start=False)
    r = Repo(d)
    install(r)
    r.write("a.txt", "a\n")
    t0 = time.monotonic()
    h = r.commit("while the daemon is down")
    dt = time.monotonic() - t0
    # Not a benchmark (bench/githook/run.sh is): this catches a hook that
    # waits for a daemon that is not there.
    log("git add + commit with the daemon down (ASan build): %.0f ms" % (dt * 1000))
    check(dt < 5.0, "git commit took %.1fs with the daemon down" % dt)
    spool = os.path.join(d.data_home, "cairn", "spool")
    files = [f for f in os.listdir(spool) if f.endswith(".json")] if os.path.isdir(spool) else []
    eq(len(files), 1, "spooled files in %s" % spool)
    with open(os.path.join(spool, files[0])) as f:
        spooled = json.load(f)
    eq(spooled["type"], "git.commit", "spooled event type")
    eq(spooled["data"]["hash"], h, "spooled event hash")
    # The daemon delivers the spool when it starts.
    d.start()
    ev = last_event(d, "git.commit", 1)
    eq(ev["data"]["hash"], h, "the spooled event arrives after the daemon starts")
    eq(ev["id"], spooled["id"], "the event keeps its id")
    eq(ev["time"], spooled["time"], "the event keeps the time it happened")
    d.stop()


@hooktest
def hooks_call_the_cairn_on_path():
    """A cairn on PATH at install time is what the hooks call (its path as
    found, so a symlink survives rebuilding the binary behind it); the
    install says which."""
    d = Daemon(start=False)
    r = Repo(d)
    bindir = os.path.join(d.tmp, "on path")
    os.makedirs(bindir)
    link = os.path.join(bindir, "cairn")
    os.symlink(d.bin, link)
    env = r.env()
    env["PATH"] = bindir + ":" + env.get("PATH", "")
    p = subprocess.run([d.bin, "hooks", "install"], cwd=r.path, env=env, capture_output=True)
    eq(p.returncode, 0, "install (%s)" % short(p.stderr))
    out = p.stdout.decode()
    check("the hooks call %s (the cairn on PATH)" % link in out, "says which: " + out)
    with open(os.path.join(r.hooks_dir(), "post-commit"), "rb") as f:
        data = f.read()
    check(b"on path/cairn" in data and d.bin.encode() not in data,
          "the hook calls the cairn on PATH: %s" % short(data))
    # Without one on PATH: this binary, and the install says so.
    out = install(r)
    check("no cairn on PATH" in out, out)


@hooktest
def missing_binary_never_fails_git():
    d = Daemon(start=False)
    r = Repo(d)
    copy = os.path.join(d.tmp, "bin dir", "cairn's copy")
    os.makedirs(os.path.dirname(copy))
    shutil.copy2(d.bin, copy)
    # Install with the copy (a path with a space and a quote), then delete it.
    r.run([copy, "hooks", "install"])
    with open(os.path.join(r.hooks_dir(), "post-commit"), "rb") as f:
        check(copy.encode().replace(b"'", b"'\\''") in f.read(), "the hook calls the copy")
    r.write("a.txt", "a\n")
    r.commit("with the copy")
    spool = os.path.join(d.data_home, "cairn", "spool")
    eq(len(os.listdir(spool)), 1, "the hook (via the copy) spooled one event")
    os.unlink(copy)
    r.write("a.txt", "b\n")
    r.git("add", "-A")
    c = r.git("commit", "-q", "-m", "binary gone")
    eq(c.stderr, b"", "git's stderr with the cairn binary gone")
    r.git("commit", "-q", "--amend", "-m", "binary gone, amended")
    r.git("checkout", "-q", "-b", "x")
    eq(len(os.listdir(spool)), 1, "nothing more spooled with the binary gone")


@hooktest
def hook_command_is_quiet():
    # `cairn hook git ...` directly: exit 0 and no output whatever it is given
    # (and, with the ASan build, no leaks: that would exit 86).
    d = Daemon()
    r = Repo(d)
    r.write("a.txt", "a\n")
    h = r.commit("base")
    empty = tempfile.mkdtemp(prefix="norepo-", dir=d.tmp)
    cases = [
        (["post-commit"], None, r.path),
        (["post-checkout", h, h, "1"], None, r.path),
        (["post-checkout", "garbage"], None, r.path),
        (["post-merge", "0"], None, r.path),
        (["post-rewrite", "amend"],
         b"%s %s\nnot a pair\n\n%s" % (h.encode(), h.encode(), b"x" * 100000), r.path),
        (["post-rewrite", "rebase"], b"", r.path),
        (["pre-commit"], None, r.path),
        ([], None, r.path),
        (["post-commit"], None, empty),
    ]
    for args, inp, cwd in cases:
        res = r.run([d.bin, "hook", "git"] + args, input=inp if inp is not None else b"",
                    check_rc=False, cwd=cwd)
        what = "`cairn hook git %s` in %s" % (" ".join(args)[:60], cwd)
        eq(res.returncode, 0, "exit status of " + what)
        eq(res.stdout + res.stderr, b"", "output of " + what)
    evs = wait_events(d, "git.>", 5)
    rw = [e for e in evs if e["type"] == "git.rewrite" and e["data"]["command"] == "amend"][0]
    eq(rw["data"]["rewritten"], [{"old": h, "new": h}], "valid pairs kept, junk lines skipped")
    eq(rw["data"]["rewritten_total"], 1, "rewritten_total")
    d.stop()


# --------------------------------------------------------------------------
# Where the hooks go


@hooktest
def core_hooks_path_respected():
    d = Daemon()
    r = Repo(d)
    r.git("config", "core.hooksPath", "githooks")
    out = install(r)
    hp = os.path.join(r.path, "githooks")
    check(hp in out, "install should name the directory it used: " + out)
    for h in HOOKS:
        check(os.path.exists(os.path.join(hp, h)), "%s in core.hooksPath" % h)
        check(not os.path.exists(os.path.join(r.hooks_dir(), h)), "%s not in .git/hooks" % h)
    r.write("a.txt", "a\n")
    h = r.commit("via hooksPath")
    eq(last_event(d, "git.commit", 1)["data"]["hash"], h, "hash")

    # An absolute hooksPath outside the repository, with a user hook in it.
    shared = os.path.join(d.tmp, "shared-hooks")
    os.makedirs(shared)
    rec = os.path.join(d.tmp, "shared.log")
    with open(os.path.join(shared, "post-commit"), "w") as f:
        f.write("#!/bin/sh\necho ran >> %s\n" % rec)
    os.chmod(os.path.join(shared, "post-commit"), 0o755)
    r.git("config", "core.hooksPath", shared)
    install(r)
    check(os.path.exists(os.path.join(shared, "post-commit.cairn-chained")), "chained in hooksPath")
    r.write("a.txt", "b\n")
    h = r.commit("via an absolute hooksPath")
    eq(last_event(d, "git.commit", 2)["data"]["hash"], h, "hash")
    with open(rec) as f:
        eq(f.read(), "ran\n", "the user's hook in core.hooksPath ran")
    rc, out, err = r.cairn("hooks", "uninstall")
    eq(sorted(os.listdir(shared)), ["post-commit"], "uninstall leaves the user's hook only")
    d.stop()


@hooktest
def linked_worktree():
    d = Daemon()
    r = Repo(d)
    r.write("a.txt", "a\n")
    r.commit("base")
    wt = os.path.join(os.path.dirname(r.path), os.path.basename(r.path) + "-wt")
    r.git("worktree", "add", "-q", "-b", "wt-branch", wt)
    w = Repo(d, init=False, path=os.path.realpath(wt))
    out = install(w)
    check(r.hooks_dir() in out, "install from a worktree uses the common hooks dir: " + out)
    w.write("w.txt", "w\n")
    h = w.commit("in the worktree")
    ev = last_event(d, "git.commit", 1)
    eq(ev["project"], w.path, "project of a commit in a linked worktree")
    eq(ev["subject"], "wt-branch", "subject")
    eq(ev["data"]["hash"], h, "hash")
    eq(files_of(ev), {"w.txt": "A"}, "files")
    r.write("m.txt", "m\n")
    hm = r.commit("in the main tree")
    ev = last_event(d, "git.commit", 2)
    eq((ev["project"], ev["subject"], ev["data"]["hash"]), (r.path, "main", hm),
       "the main work tree's commit")
    d.stop()


if __name__ == "__main__":
    T.main()
