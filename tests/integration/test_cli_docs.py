#!/usr/bin/env python3
"""docs/cli.md documents every option of every command.

For each command `cairn --help` lists, and each subcommand with a help of its
own (`cairn kb search`, `cairn hook shell`: found by trying the alternatives of
the first word of the command's usage, `add|show|...`), this takes every option
its --help names (`--limit`, `-n`; not --help/-h) and looks for it in that
command's section of docs/cli.md: under the heading whose code span starts
with `cairn COMMAND [SUBCOMMAND]`, up to the next heading of the same or a
higher level, with heading lines and fenced code left out, so a usage line in a
heading does not count as documentation. It also checks that --help prints the
command's own help (its usage line first) and needs no daemon.

CAIRN_CLI_DOC=path checks another copy of the document instead."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, short  # noqa: E402

T = Suite(per_test_timeout=120)

DOC = os.environ.get("CAIRN_CLI_DOC") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "cli.md")

# An option as --help writes it: --long-name or -x, not inside a word or a path.
OPTION_RE = re.compile(r"(?<![\w/.-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")
NOT_DOCUMENTED_HERE = {"--help", "-h"}


def help_of(d, args):
    rc, out, err = d.cli(list(args) + ["--help"], timeout=20)
    eq(rc, 0, "exit status of `cairn %s --help`" % " ".join(args))
    check(out.strip(), "`cairn %s --help` printed nothing on stdout (stderr: %s)"
          % (" ".join(args), short(err)))
    return out


def commands(d):
    """[(name, usage)] from the command list of `cairn --help`."""
    out = help_of(d, [])
    lines = out.splitlines()
    check("commands:" in lines, "`cairn --help` has no 'commands:' list:\n" + out)
    cmds = []
    for line in lines[lines.index("commands:") + 1:]:
        m = re.match(r"^  (\S+)\s+(.*)$", line)
        if not m:
            break
        cmds.append((m.group(1), m.group(2)))
    check(len(cmds) >= 10, "`cairn --help` lists only %d commands:\n%s" % (len(cmds), out))
    return cmds


def all_helps(d):
    """{("kb", "search"): help text} for every command, and every subcommand
    whose --help is not its command's."""
    helps = {}
    for name, usage in commands(d):
        top = help_of(d, [name])
        check(top.startswith("usage: cairn %s " % name),
              "`cairn %s --help` does not start with its usage:\n%s" % (name, top))
        helps[(name,)] = top
        first = usage.split()[0] if usage.split() else ""
        if not re.match(r"^[a-z][a-z-]*(\|[a-z][a-z-]*)+$", first):
            continue
        for sub in first.split("|"):
            out = help_of(d, [name, sub])
            if out == top:
                continue  # the subcommand shares its command's help and options
            check(out.startswith("usage: cairn %s %s " % (name, sub)),
                  "`cairn %s %s --help` prints neither its own help nor that of `cairn %s`:\n%s"
                  % (name, sub, name, out))
            helps[(name, sub)] = out
    return helps


def options_in(text):
    return sorted(set(OPTION_RE.findall(text)) - NOT_DOCUMENTED_HERE)


def sections(doc):
    """[(level, [code spans of the heading], body)] of a Markdown text; body
    without heading lines and fenced code, up to the next heading of the same
    or a higher level."""
    heads = []  # (line index, level, spans)
    lines = doc.splitlines()
    fenced = False
    kept = []  # (line index, text, is a heading) of the lines outside fences
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            heads.append((i, len(m.group(1)), re.findall(r"`([^`]*)`", m.group(2))))
        kept.append((i, line, bool(m)))
    out = []
    for k, (start, level, spans) in enumerate(heads):
        end = len(lines)
        for start2, level2, _ in heads[k + 1:]:
            if level2 <= level:
                end = start2
                break
        body = "\n".join(t for i, t, is_head in kept if start < i < end and not is_head)
        out.append((level, spans, body))
    return out


def section_for(secs, path):
    """The body of the section of `cairn PATH...`: the highest-level heading
    with a code span whose words start with cairn PATH."""
    best = None
    for level, spans, body in secs:
        for span in spans:
            words = span.split()
            if words[:1] == ["cairn"] and words[1:1 + len(path)] == list(path):
                if best is None or level < best[0]:
                    best = (level, body)
                break
    return best[1] if best else None


def undocumented(helps, doc):
    """["`cairn kb search`: --limit"...] for every option not in its section."""
    secs = sections(doc)
    missing = []
    for path, text in sorted(helps.items()):
        body = section_for(secs, path)
        if body is None:
            missing.append("`cairn %s`: no section in docs/cli.md (a heading with `cairn %s ...`)"
                           % (" ".join(path), " ".join(path)))
            continue
        for opt in options_in(text):
            if not re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", body):
                missing.append("`cairn %s`: %s" % (" ".join(path), opt))
    return missing


def read_doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


@T.test
def every_option_is_documented():
    d = Daemon(start=False)  # --help needs no daemon
    helps = all_helps(d)
    for must in [("kb",), ("kb", "search"), ("kb", "export"), ("hook", "shell"), ("triage",)]:
        check(must in helps, "no help found for `cairn %s`; found: %s"
              % (" ".join(must), sorted(helps)))
    check("--project" in options_in(helps[("triage",)]),
          "`cairn triage --help` does not list --project:\n" + helps[("triage",)])
    missing = undocumented(helps, read_doc())
    check(not missing, "options named by --help but not documented in their section of %s:\n%s"
          % (DOC, "\n".join(missing)))
    check(not os.path.exists(d.sock_path), "a --help started a daemon")
    d.cleanup()


@T.test
def a_removed_doc_line_is_caught():
    """The check above would fail: drop the lines of triage's section that
    mention --project, and of kb search's that mention --forgotten."""
    d = Daemon(start=False)
    helps = all_helps(d)
    doc = read_doc()
    out, sec = [], None
    for line in doc.splitlines():
        if line.startswith("#"):
            sec = line
        if sec and sec.startswith("## `cairn triage ") and "--project" in line \
                and not line.startswith("#"):
            continue
        if sec and sec.startswith("### `cairn kb search ") and "--forgotten" in line \
                and not line.startswith("#"):
            continue
        out.append(line)
    check(len(out) < len(doc.splitlines()), "found no line to drop in " + DOC)
    missing = undocumented(helps, "\n".join(out))
    for want in ("`cairn triage`: --project", "`cairn kb search`: --forgotten"):
        check(want in missing, "dropping its doc line did not report %r; reported: %s"
              % (want, missing))
    check(not any(m.startswith("`cairn kb list`") for m in missing),
          "a line dropped from kb search's section was reported for kb list: %s" % missing)
    d.cleanup()


@T.test
def own_help_of_subcommands():
    d = Daemon(start=False)
    for args, first, absent in [
            (["kb", "search"], "usage: cairn kb search QUERY", "usage: cairn kb add|"),
            (["hook", "shell"], "usage: cairn hook shell --cmd-from", "git HOOK"),
            (["hook", "git"], "usage: cairn hook git HOOK", "--cmd-from"),
            (["hook", "claude"], "usage: cairn hook claude session-start", "--cmd-from"),
            (["hook"], "usage: cairn hook git|shell|claude", "--cmd-from"),
            (["watch", "add"], "usage: cairn watch add|rm|list", None)]:
        out = help_of(d, args)
        check(out.startswith(first), "`cairn %s --help` should start with %r:\n%s"
              % (" ".join(args), first, out))
        if absent:
            check(absent not in out, "`cairn %s --help` shows another command's help (%r):\n%s"
                  % (" ".join(args), absent, out))
    rc, out, err = d.cli(["hook", "bogus", "--help"], timeout=20)
    eq(rc, 2, "exit status of `cairn hook bogus --help`")
    check("expected 'git', 'shell' or 'claude'" in err, "`cairn hook bogus --help` says why: " + err)
    d.cleanup()


if __name__ == "__main__":
    T.main()
