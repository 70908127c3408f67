#!/usr/bin/env python3
"""`cairn kb` end to end: the real binary on private XDG directories, with and
without a daemon running: human and --json output, exit codes and messages
for bad input, kb.* events in the log, scope from the git repository, the
editor form, export/import round trips and redaction."""

import json
import os
import pty
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, short  # noqa: E402

T = Suite(per_test_timeout=180)

TOKEN = "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d"


def run(d, args, input=None, cwd=None, env=None, timeout=60):
    """Runs `cairn args...` in d's environment; returns (rc, out, err)."""
    e = d.env()
    e.update(env or {})
    r = subprocess.run([d.bin] + list(args), input=input.encode() if isinstance(input, str) else input,
                       stdin=None if input is not None else subprocess.DEVNULL,
                       capture_output=True, env=e, cwd=cwd or d.home, timeout=timeout)
    out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    check("ERROR: AddressSanitizer" not in err and "runtime error:" not in err
          and "LeakSanitizer" not in err,
          "`cairn %s` reported a sanitizer error:\n%s" % (" ".join(args), err))
    return r.returncode, out, err


def ok(d, args, **kw):
    rc, out, err = run(d, args, **kw)
    check(rc == 0, "`cairn %s` exited %d\nstdout: %s\nstderr: %s"
          % (" ".join(args), rc, short(out), short(err)))
    return out


def fails(d, args, rc_want, msg_part, **kw):
    rc, out, err = run(d, args, **kw)
    eq(rc, rc_want, "exit status of `cairn %s` (stderr: %s)" % (" ".join(args), short(err)))
    check(msg_part in err, "`cairn %s` should say %r on stderr; got: %s"
          % (" ".join(args), msg_part, short(err)))
    return err


def jlines(text, what):
    out = []
    for line in text.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                raise AssertionError("%s: not JSON: %s" % (what, short(line)))
    return out


def kb_events(d, n, timeout=10):
    """The kb.* events in the log, waiting until there are at least n."""
    deadline = time.monotonic() + timeout
    while True:
        with d.conn() as c:
            c.wait_committed()
        evs = jlines(ok(d, ["log", "kb.>", "--json", "--limit", "1000"]), "cairn log --json")
        if len(evs) >= n or time.monotonic() > deadline:
            return evs
        time.sleep(0.1)


@T.test
def without_daemon():
    d = Daemon(start=False)
    out = ok(d, ["kb", "add", "fix", "Linker order matters", "--body",
                 "Put -lm after the objects.", "--tag", "ld", "--tag", "Build",
                 "--file", "Makefile", "--global"])
    eq(out, "added 1\n", "output of kb add")
    out = ok(d, ["kb", "add", "fix", "  Linker   order matters ", "--body",
                 "Put -lm after\nthe objects.", "--global"])
    eq(out, "exists 1 (identical entry)\n", "output of kb add for a duplicate")
    out = ok(d, ["kb", "add", "note", "Flaky runner", "--body", "The CI runner times out",
                 "--global", "--json"])
    o = json.loads(out)
    eq((o["id"], o["duplicate"], o["redactions"]), (2, False, 0), "kb add --json")
    check(len(o["uid"]) == 26, "uid in kb add --json: %s" % o)

    # Search: human blocks with [brackets] when not a terminal, and --json.
    out = ok(d, ["kb", "search", "link"])
    check(out.startswith("#1") and "Linker order matters" in out and "(global)" in out,
          "kb search block: %s" % out)
    out = ok(d, ["kb", "search", "objects"])
    check("[objects]" in out, "the hit should be in brackets when stdout is a pipe: %s" % out)
    res = jlines(ok(d, ["kb", "search", "runner", "times", "--json"]), "kb search --json")
    eq([r["id"] for r in res], [2], "ids found for 'runner times'")
    r = res[0]
    for k in ("uid", "kind", "title", "body", "tags", "files", "project", "created", "updated",
              "superseded_by", "uses", "confidence", "state", "forgotten", "sources", "score",
              "snippet"):
        check(k in r, "kb search --json lacks %r: %s" % (k, r))
    check("[runner]" in r["snippet"] and "[times]" in r["snippet"], "snippet: %s" % r["snippet"])
    out = ok(d, ["kb", "search", "nomatchword"])
    check("no entries match" in out, "kb search with no result: %s" % out)
    eq(ok(d, ["kb", "search", "nomatchword", "--json"]), "", "--json with no result")
    # FTS syntax in the query is taken literally.
    for q in ['foo" OR bar*', "-x", "NEAR(a b)", "{title}: x", "AND", '"']:
        ok(d, ["kb", "search", "--", q])

    res = jlines(ok(d, ["kb", "list", "--json"]), "kb list --json")
    eq([r["id"] for r in res], [2, 1], "kb list order (newest first)")
    e = json.loads(ok(d, ["kb", "show", "1", "--json"]))
    eq((e["tags"], e["files"], e["kind"]), (["ld", "build"], ["Makefile"], "fix"), "kb show --json")
    out = ok(d, ["kb", "show", e["uid"]])
    check("Put -lm after the objects." in out and "tags       ld build" in out,
          "kb show: %s" % out)

    # Bad input: exit status and a message that says what is wrong.
    fails(d, ["kb", "bogus"], 2, "unknown verb 'bogus'")
    fails(d, ["kb", "add", "thing", "title"], 2, "unknown kind 'thing'")
    fails(d, ["kb", "add", "note"], 2, "missing an argument")
    fails(d, ["kb", "add", "note", ""], 1, "title: must not be empty")
    fails(d, ["kb", "add", "note", "x" * 201], 1, "title: must be at most 200 bytes")
    fails(d, ["kb", "add", "note", "two\nlines"], 1, "title: must be one line")
    fails(d, ["kb", "add", "note", "t", "--tag", "no!"], 1, "tags: 'no!' may only hold")
    fails(d, ["kb", "add", "note", "t", "--body", "b", "--body-file", "f"], 2,
          "--body or --body-file")
    fails(d, ["kb", "add", "note", "t", "--body-file", "/nonexistent"], 4, "cannot read")
    fails(d, ["kb", "show", "99"], 1, "no entry 99")
    fails(d, ["kb", "show", "banana"], 2, "is not an entry id")
    fails(d, ["kb", "search", "x", "--limit", "0"], 2, "--limit must be")
    fails(d, ["kb", "search", "x", "--since", "tomorrow"], 2, "--since takes")
    fails(d, ["kb", "list", "--body", "x"], 2, "option '--body' does not apply to 'list'")
    # An option whose value is the next word is named as typed, not by its value;
    # --kind to add says where the kind goes.
    fails(d, ["kb", "search", "x", "--days", "3"], 2, "option '--days' does not apply")
    fails(d, ["kb", "add", "--kind", "decision", "t"], 2,
          "the kind is add's first word, not an option: cairn kb add decision TITLE")
    fails(d, ["kb", "supersede", "1", "1"], 1, "cannot supersede itself")
    fails(d, ["kb", "supersede", "1"], 2, "missing")
    fails(d, ["kb", "import", "/nonexistent"], 4, "cannot read '/nonexistent'")
    rc, out, err = run(d, ["kb", "--help"])
    eq(rc, 0, "exit status of kb --help")
    for verb in ("add", "show", "edit", "search", "list", "supersede", "forget", "confirm",
                 "reject", "export", "import"):
        check("  " + verb in out, "kb --help does not describe %r:\n%s" % (verb, out))
    rc, out, err = run(d, ["kb"])
    eq(rc, 2, "exit status of bare `cairn kb`")

    # Events were spooled while no daemon ran; they reach the log once it starts.
    d.start()
    evs = kb_events(d, 2)
    eq([e["type"] for e in evs], ["kb.added", "kb.added"], "spooled kb events in the log")
    eq(evs[0]["source"], "cairn/kb", "source of kb events")
    eq(evs[0]["data"]["id"], 1, "data.id")
    eq(evs[0]["data"]["title"], "Linker order matters", "data.title")
    eq(evs[0]["data"]["kind"], "fix", "data.kind")
    d.stop()
    d.cleanup()


@T.test
def help_of_one_verb():
    d = Daemon(start=False)  # help needs no daemon
    for flag in ("--help", "-h"):
        out = ok(d, ["kb", "search", flag])
        check(out.startswith("usage: cairn kb search QUERY..."),
              "`cairn kb search %s` should start with its usage:\n%s" % (flag, out))
        check("--limit N" in out and "every word is a prefix" in out,
              "`cairn kb search %s` lacks the help of search:\n%s" % (flag, out))
        for other in ("supersede OLD NEW", "import FILE", "add KIND TITLE", "  show ID"):
            check(other not in out,
                  "`cairn kb search %s` prints the help of another verb (%r):\n%s"
                  % (flag, other, out))
    # The option may come anywhere after the verb.
    check(ok(d, ["kb", "add", "note", "--help"]).startswith("usage: cairn kb add KIND TITLE"),
          "`cairn kb add note --help` prints the help of add")
    check(ok(d, ["kb", "supersede", "--help"]).startswith("usage: cairn kb supersede OLD NEW"),
          "`cairn kb supersede --help` prints the help of supersede")
    # The overview still lists every verb, with or without a verb after the option.
    for args in (["kb", "--help"], ["kb", "-h"], ["kb", "help"], ["kb", "--help", "search"]):
        out = ok(d, args)
        check(out.startswith("usage: cairn kb add|show|"), "`cairn %s` prints the overview:\n%s"
              % (" ".join(args), out))
        for verb in ("add KIND TITLE", "show ID", "edit ID", "search QUERY", "list",
                     "supersede OLD NEW", "forget ID", "confirm ID", "reject ID", "export",
                     "import FILE"):
            check("  " + verb in out, "`cairn %s` does not list %r:\n%s"
                  % (" ".join(args), verb, out))
    err = fails(d, ["kb", "bogus", "--help"], 2, "unknown verb 'bogus'")
    check("'cairn kb --help' lists the verbs" in err, "unknown verb points to kb --help: " + err)
    d.cleanup()


@T.test
def events_with_daemon():
    with Daemon() as d:
        ok(d, ["kb", "add", "fix", "Old fix", "--global"])
        ok(d, ["kb", "add", "fix", "New fix", "--global"])
        ok(d, ["kb", "edit", "1", "--title", "Old fix, edited"])
        eq(ok(d, ["kb", "edit", "1", "--title", "Old fix, edited"]), "no changes to 1\n",
           "an edit that changes nothing")
        eq(ok(d, ["kb", "supersede", "1", "2"]), "1 is superseded by 2\n", "kb supersede")
        out = ok(d, ["kb", "forget", "1"])
        check(out.startswith("forgot 1; undo with 'cairn kb forget --undo 1' until "),
              "kb forget says until when undo works: %s" % out)
        eq(ok(d, ["kb", "forget", "--undo", "1"]), "restored 1\n", "kb forget --undo")
        out = ok(d, ["kb", "confirm", "2"])
        check("confidence 0.75" in out, "kb confirm: %s" % out)
        ok(d, ["kb", "reject", "1"])
        imp = os.path.join(d.tmp, "in.jsonl")
        with open(imp, "w") as f:
            f.write('{"uid":"01JD0000000000000000000001","kind":"note","title":"Imported"}\n')
        eq(ok(d, ["kb", "import", imp]), "imported 1, updated 0, unchanged 0, skipped 0\n",
           "kb import")
        evs = kb_events(d, 9)
        eq([e["type"] for e in evs],
           ["kb.added", "kb.added", "kb.updated", "kb.superseded", "kb.forgotten",
            "kb.updated", "kb.confirmed", "kb.rejected", "kb.imported"], "kb event types")
        for e in evs[:-1]:
            eq(e["source"], "cairn/kb", "source")
            check(set(("id", "uid", "kind", "title")) <= set(e["data"]), "data: %s" % e)
        eq(evs[3]["data"]["superseded_by"], 2, "kb.superseded names the replacement")
        check(evs[4]["data"].get("purge_after"), "kb.forgotten says when: %s" % evs[4])
        eq(evs[5]["data"].get("restored"), True, "the undo is a kb.updated with restored")
        eq(evs[8]["data"]["imported"], 1, "kb.imported counts")
        # The superseded entry ranks after its replacement.
        res = jlines(ok(d, ["kb", "search", "fix", "--json", "--rejected"]), "search")
        eq([r["id"] for r in res], [2, 1], "replacement first")


@T.test
def export_import_roundtrip():
    a = Daemon(start=False, name="a")
    b = Daemon(start=False, name="b")
    ok(a, ["kb", "add", "decision", "Use WAL", "--body", "Readers do not block\nthe writer ✓",
           "--tag", "db", "--global"])
    ok(a, ["kb", "add", "mistake", "Forgot -lm", "--project", "/p/app", "--file", "/p/app/Makefile"])
    ok(a, ["kb", "add", "fix", "Link order", "--global"])
    ok(a, ["kb", "supersede", "2", "3"])
    ok(a, ["kb", "confirm", "3"])
    ok(a, ["kb", "forget", "1"])
    path = os.path.join(a.tmp, "kb.jsonl")
    out = ok(a, ["kb", "export", path])
    eq(out, "exported 3 entries to %s\n" % path, "kb export FILE")
    first = open(path, "rb").read()
    lines = jlines(first.decode(), "export file")
    eq(len(lines), 3, "lines exported")
    eq(lines[1]["files"], ["Makefile"], "file made relative to the project")
    eq(lines[1]["project"], "/p/app", "project")
    check(lines[1]["superseded_by"] == lines[2]["uid"], "superseded_by is a uid: %s" % lines[1])
    check(lines[0]["forgotten"], "the forgotten entry is exported as such")
    out = ok(b, ["kb", "import", path])
    eq(out, "imported 3, updated 0, unchanged 0, skipped 0\n", "first import")
    second = ok(b, ["kb", "export"]).encode()
    eq(second, first, "export after import (byte for byte)")
    out = ok(b, ["kb", "import", "-"], input=first.decode())
    eq(out, "imported 0, updated 0, unchanged 3, skipped 0\n", "second import")
    eq(ok(b, ["kb", "export", "-"]).encode(), first, "export after the second import")
    # Filters on export.
    eq(len(jlines(ok(b, ["kb", "export", "--kind", "fix"]), "export --kind")), 1, "export --kind")
    eq(len(jlines(ok(b, ["kb", "export", "--global"]), "export --global")), 2, "export --global")
    # Bad lines: reported with their number, skipped, the rest imported, status 1.
    bad = os.path.join(a.tmp, "bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"uid":"01JD0000000000000000000002","kind":"note","title":"good one"}\n')
        f.write("not json\n")
        f.write('{"uid":"01JD0000000000000000000003","kind":"note","title":"x","colour":1}\n')
        f.write('{"uid":"01JD0000000000000000000004","kind":"note","title":"good two"}\n')
    rc, out, err = run(b, ["kb", "import", bad])
    eq(rc, 1, "exit status of an import with bad lines")
    check("bad.jsonl:2: not valid JSON" in err, "line 2 reported: %s" % err)
    check("bad.jsonl:3: unknown field 'colour'" in err, "line 3 reported: %s" % err)
    eq(out, "imported 2, updated 0, unchanged 0, skipped 2 (0 identical to existing entries, "
            "2 bad lines)\n", "summary of an import with bad lines")
    o = json.loads(run(b, ["kb", "import", bad, "--json"])[1])
    eq((o["unchanged"], o["bad"]), (2, 2), "kb import --json")
    a.cleanup()
    b.cleanup()


@T.test
def project_scope_and_files():
    d = Daemon(start=False)
    repo = os.path.join(d.tmp, "repo")
    os.makedirs(os.path.join(repo, "src", "sub"))
    subprocess.run(["git", "init", "-q", repo], check=True)
    repo = os.path.realpath(repo)
    sub = os.path.join(repo, "src")
    ok(d, ["kb", "add", "pattern", "Repo pattern", "--file", "sub/x.c", "--file",
           os.path.join(repo, "README"), "--file", "/etc/hosts"], cwd=sub)
    ok(d, ["kb", "add", "note", "Global pattern", "--global"], cwd=sub)
    ok(d, ["kb", "add", "note", "Other pattern", "--project", d.tmp])
    e = json.loads(ok(d, ["kb", "show", "1", "--json"]))
    eq(e["project"], repo, "default project: the git top level")
    eq(e["files"], ["src/sub/x.c", "README", "/etc/hosts"], "files relative to the project")
    ids = lambda out: sorted(r["id"] for r in jlines(out, "search"))  # noqa: E731
    eq(ids(ok(d, ["kb", "search", "pattern", "--json"], cwd=sub)), [1, 2],
       "inside the repo: its entries and global ones")
    eq(ids(ok(d, ["kb", "search", "pattern", "--json", "--global"], cwd=sub)), [2], "--global")
    eq(ids(ok(d, ["kb", "search", "pattern", "--json", "--all"], cwd=sub)), [1, 2, 3], "--all")
    eq(ids(ok(d, ["kb", "search", "pattern", "--json"], cwd=d.home)), [1, 2, 3],
       "outside any repository: everything")
    eq(ids(ok(d, ["kb", "list", "--json", "--project", repo])), [1, 2], "list --project")
    # --body-file - reads standard input.
    ok(d, ["kb", "add", "note", "From stdin", "--body-file", "-", "--global"],
       input="line one\nline two\n")
    e = json.loads(ok(d, ["kb", "show", "4", "--json"]))
    eq(e["body"], "line one\nline two", "body from stdin")
    d.cleanup()


@T.test
def edit_in_editor():
    d = Daemon(start=False)
    ok(d, ["kb", "add", "note", "Typo in titel", "--body", "Body text", "--tag", "a", "--global"])
    script = os.path.join(d.tmp, "ed.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nsed -i -e 's/^title: .*/title: Typo fixed/' -e 's/^kind: .*/kind: mistake/'"
                " -e 's/^tags: .*/tags: a b/' -e '$a\\\nMore body.' \"$1\"\n")
    os.chmod(script, 0o755)
    eq(ok(d, ["kb", "edit", "1"], env={"EDITOR": script, "VISUAL": ""}), "updated 1\n",
       "kb edit with an editor")
    e = json.loads(ok(d, ["kb", "show", "1", "--json"]))
    eq((e["title"], e["kind"], e["tags"], e["body"]),
       ("Typo fixed", "mistake", ["a", "b"], "Body text\nMore body."), "the edited entry")
    eq(ok(d, ["kb", "edit", "1"], env={"EDITOR": "true", "VISUAL": ""}), "no changes to 1\n",
       "an editor that changes nothing")
    fails(d, ["kb", "edit", "1"], 1, "the editor exited with status 1",
          env={"EDITOR": "false", "VISUAL": ""})
    with open(script, "w") as f:
        f.write("#!/bin/sh\nsed -i 's/^kind: .*/kind: bogus/' \"$1\"\n")
    fails(d, ["kb", "edit", "1"], 1, "kind: must be", env={"EDITOR": script, "VISUAL": ""})
    with open(script, "w") as f:
        f.write("#!/bin/sh\nsed -i 's/^title: .*/title:/' \"$1\"\n")
    rc, out, err = run(d, ["kb", "edit", "1"], env={"EDITOR": script, "VISUAL": ""})
    eq(rc, 0, "an emptied title cancels")
    check("cancelled" in err, "cancel message: %s" % err)
    d.cleanup()


@T.test
def secrets_are_redacted():
    d = Daemon(start=False)
    rc, out, err = run(d, ["kb", "add", "mistake", "Pushed with a token", "--body",
                           "git push https://x:%s@github.com/o/r.git" % TOKEN, "--global"])
    eq(rc, 0, "kb add with a secret")
    check("1 secret was replaced" in err, "the user is told: %s" % err)
    e = json.loads(ok(d, ["kb", "show", "1", "--json"]))
    check(TOKEN not in e["body"] and "[REDACTED:github-token]" in e["body"],
          "stored body: %s" % e["body"])
    db = open(os.path.join(d.data_home, "cairn", "cairn.db"), "rb").read()
    check(TOKEN.encode() not in db, "the token is in the database file")
    eq(ok(d, ["kb", "search", TOKEN[:8]]).startswith("no entries match"), True,
       "the token cannot be searched for")
    d.cleanup()


@T.test
def bold_on_a_terminal():
    d = Daemon(start=False)
    ok(d, ["kb", "add", "note", "Terminal output", "--body", "highlight this word", "--global"])
    master, slave = pty.openpty()
    e = d.env()
    e["TERM"] = "xterm"
    e.pop("NO_COLOR", None)
    p = subprocess.Popen([d.bin, "kb", "search", "highlight"], stdin=subprocess.DEVNULL,
                         stdout=slave, stderr=subprocess.PIPE, env=e, cwd=d.home)
    os.close(slave)
    buf = b""
    while True:
        r, _, _ = select.select([master], [], [], 10)
        if not r:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    p.wait(timeout=10)
    os.close(master)
    text = buf.decode("utf-8", "replace")
    check("\x1b[1mhighlight\x1b[0m" in text, "bold hit on a terminal: %r" % text)
    check("[highlight]" not in text, "no brackets on a terminal: %r" % text)
    d.cleanup()


@T.test
def stale_entries_and_uses():
    """`cairn kb stale` lists what looks stale, with why; opening an entry
    (`kb show`, human or --json) and confirming it are uses, and a used
    entry leaves the list."""
    d = Daemon(start=False)
    proj = os.path.realpath(os.path.join(d.tmp, "proj"))
    os.makedirs(os.path.join(proj, "src"))
    open(os.path.join(proj, "src", "kept.c"), "w").close()
    old = "2025-01-02T03:04:05.000Z"
    lines = [
        # 1: never used since it was added (long ago).
        {"uid": "01JD0000000000000000000011", "kind": "decision", "title": "Use WAL mode",
         "created": old},
        # 2: used, but long ago; a candidate never confirmed; superseded by 5.
        {"uid": "01JD0000000000000000000012", "kind": "fix", "title": "Old linker fix",
         "created": old, "uses": 2, "last_used": "2025-02-01T00:00:00.000Z",
         "state": "candidate"},
        # 3: a project's entry naming a file that is gone (and one that is not).
        {"uid": "01JD0000000000000000000013", "kind": "mistake", "title": "Names files",
         "project": proj, "files": ["src/kept.c", "src/gone.c"],
         "created": "2099-01-01T00:00:00.000Z"},
        # 4: forgotten long ago: never listed.
        {"uid": "01JD0000000000000000000014", "kind": "note", "title": "Forgotten",
         "created": old, "forgotten": "2099-01-01T00:00:00.000Z"},
    ]
    path = os.path.join(d.tmp, "in.jsonl")
    with open(path, "w") as f:
        for o in lines:
            f.write(json.dumps(o) + "\n")
    ok(d, ["kb", "import", path])
    ok(d, ["kb", "add", "fix", "New linker fix", "--global"])  # 5
    ok(d, ["kb", "supersede", "2", "5"])

    o = json.loads(ok(d, ["kb", "stale", "--all", "--json"]))
    got = {e["id"]: [r["code"] for r in e["reasons"]] for e in o["stale"]}
    eq(got, {1: ["never-used"], 2: ["unused", "superseded", "unconfirmed"], 3: ["missing-file"]},
       "stale entries and their reasons")
    eq([e["id"] for e in o["stale"]], [1, 2, 3], "most idle first")
    eq(o["total"], 3, "total")
    e1, e2, e3 = o["stale"]
    for k in ("id", "uid", "kind", "title", "project", "uses", "last_used", "created", "reasons"):
        check(k in e1, "kb stale --json lacks %r: %s" % (k, e1))
    eq((e1["uid"], e1["kind"], e1["title"], e1["project"], e1["uses"], e1["last_used"],
        e1["created"]),
       ("01JD0000000000000000000011", "decision", "Use WAL mode", None, 0, None, old),
       "fields of a stale entry")
    check(e1["reasons"][0]["text"].startswith("never used in ")
          and e1["reasons"][0]["text"].endswith(" days since it was added"),
          "never-used text: %s" % e1["reasons"][0])
    check(e2["reasons"][0]["text"].startswith("not used for "), "unused: %s" % e2["reasons"])
    eq(e2["reasons"][1]["text"], "superseded by #5 (New linker fix) but not forgotten",
       "superseded text")
    check(e2["reasons"][2]["text"].startswith("a candidate fix never confirmed in "),
          "unconfirmed: %s" % e2["reasons"])
    eq(e3["reasons"][0]["text"], "names src/gone.c, which is no longer in the project",
       "missing-file text")
    eq(e3["project"], proj, "project of a stale entry")

    # Human output: every reason, and what to do next.
    out = ok(d, ["kb", "stale", "--all"])
    for want in ("#1", "Use WAL mode", "- never used in", "- superseded by #5 (New linker fix)",
                 "- names src/gone.c, which is no longer in the project",
                 "3 stale entries.", "cairn kb forget ID", "cairn kb confirm ID",
                 "cairn kb edit ID --file"):
        check(want in out, "kb stale should print %r:\n%s" % (want, out))
    # Scope, --days and --limit.
    eq([e["id"] for e in json.loads(ok(d, ["kb", "stale", "--global", "--json"]))["stale"]],
       [1, 2], "kb stale --global")
    eq([e["id"] for e in json.loads(ok(d, ["kb", "stale", "--project", proj,
                                             "--json"]))["stale"]],
       [1, 2, 3], "kb stale --project: the project's and global ones")
    o = json.loads(ok(d, ["kb", "stale", "--all", "--json", "--limit", "1"]))
    eq(([e["id"] for e in o["stale"]], o["total"]), ([1], 3), "kb stale --limit")
    out = ok(d, ["kb", "stale", "--all", "--limit", "1"])
    check("1 of 3 stale entries shown" in out, "a cut list says so: %s" % out)
    o = json.loads(ok(d, ["kb", "stale", "--all", "--json", "--days", "36500"]))
    eq({e["id"]: [r["code"] for r in e["reasons"]] for e in o["stale"]},
       {2: ["superseded"], 3: ["missing-file"]}, "kb stale --days 36500: only timeless reasons")
    fails(d, ["kb", "stale", "--days", "0"], 2, "--days must be")
    fails(d, ["kb", "stale", "--days", "x"], 2, "--days must be")
    fails(d, ["kb", "list", "--days", "3"], 2, "does not apply to 'list'")
    fails(d, ["kb", "stale", "extra"], 2, "too many arguments")

    # Opening an entry is a use: human or --json, every time.
    e = json.loads(ok(d, ["kb", "show", "1", "--json"]))
    eq(e["uses"], 0, "kb show prints the entry as it was before this use")
    e = json.loads(ok(d, ["kb", "show", "1", "--json"]))
    eq(e["uses"], 1, "uses after one kb show")
    check(e["last_used"] is not None, "last_used is set by kb show: %s" % e)
    ok(d, ["kb", "show", "#1"])
    eq(json.loads(ok(d, ["kb", "show", "1", "--json"]))["uses"], 3, "uses after three shows")
    # Confirming is a use too: the candidate is neither unused nor unconfirmed now.
    ok(d, ["kb", "confirm", "2"])
    o = json.loads(ok(d, ["kb", "stale", "--all", "--json"]))
    got = {x["id"]: [r["code"] for r in x["reasons"]] for x in o["stale"]}
    eq(got, {2: ["superseded"], 3: ["missing-file"]}, "used entries leave the stale list")
    ok(d, ["kb", "forget", "2"])
    ok(d, ["kb", "edit", "3", "--file", os.path.join(proj, "src", "kept.c")])
    out = ok(d, ["kb", "stale", "--all"])
    check(out.startswith("no stale entries"), "nothing stale: %s" % out)
    eq(json.loads(ok(d, ["kb", "stale", "--all", "--json"]))["stale"], [], "--json, none")
    d.cleanup()


if __name__ == "__main__":
    T.main()
