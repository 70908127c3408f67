#!/usr/bin/env python3
"""`make install` and `make uninstall` (docs/install.md), run into temporary
directories with the binary under test (BIN=$CAIRN_BIN, BUILD=a temporary
directory: the nested make builds nothing and writes nothing in the tree).

Checks that install puts the binary, the man page, the bash and zsh
completions and the systemd user unit where they belong, and nothing else;
that the unit runs the installed binary; that the man page renders without a
groff warning and holds every command and every word of every --help (it is
made from them); that the completions complete the commands, subcommands,
options and option values the --help texts name; and that uninstall removes
every file install put."""

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Skip, Suite, cairn_bin, check, eq, log, short  # noqa: E402
import test_cli_docs as clidocs  # noqa: E402  (its rules for finding helps and options)

T = Suite(per_test_timeout=240)

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TMP = tempfile.mkdtemp(prefix="cairn-install-")

# PREFIX=/usr, so: DESTDIR + these.
FILES = {
    "usr/bin/cairn": 0o755,
    "usr/share/man/man1/cairn.1": 0o644,
    "usr/share/bash-completion/completions/cairn": 0o644,
    "usr/share/zsh/site-functions/_cairn": 0o644,
    "usr/lib/systemd/user/cairn.service": 0o644,
}


def make(*args):
    """Runs make in the repository; returns (status, stdout + stderr). The
    variables `make check` exports for its own jobs are left out: a nested make
    would take them as its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    p = subprocess.run(["make", "--no-print-directory", "-C", REPO] + list(args), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    return p.returncode, p.stdout


def install_vars(**kw):
    v = {"BIN": cairn_bin(), "BUILD": os.path.join(TMP, "build")}
    v.update(kw)
    return ["%s=%s" % kv for kv in sorted(v.items())]


_staged = {}


def staged():
    """DESTDIR of `make install PREFIX=/usr`, made once."""
    if "dir" not in _staged:
        dest = os.path.join(TMP, "stage")
        rc, out = make("install", *install_vars(DESTDIR=dest, PREFIX="/usr"))
        eq(rc, 0, "exit status of make install (output: %s)" % short(out, 3000))
        _staged["dir"] = dest
    return _staged["dir"]


def files_under(d):
    out = []
    for root, _, names in os.walk(d):
        out += [os.path.relpath(os.path.join(root, n), d) for n in names]
    return sorted(out)


def helps():
    """{("kb", "search"): text} as test_cli_docs.py finds them, and the top help."""
    if "helps" not in _staged:
        d = Daemon(start=False)
        h = clidocs.all_helps(d)
        h[()] = clidocs.help_of(d, [])
        d.cleanup()
        _staged["helps"] = h
    return _staged["helps"]


def commands():
    if "commands" not in _staged:
        d = Daemon(start=False)
        _staged["commands"] = [name for name, _ in clidocs.commands(d)]
        d.cleanup()
    return _staged["commands"]


@T.test
def install_puts_every_file_and_nothing_else():
    dest = staged()
    eq(files_under(dest), sorted(FILES), "files installed under DESTDIR")
    for rel, mode in FILES.items():
        eq(oct(stat.S_IMODE(os.stat(os.path.join(dest, rel)).st_mode)), oct(mode), "mode of " + rel)
    with open(cairn_bin(), "rb") as a, open(os.path.join(dest, "usr/bin/cairn"), "rb") as b:
        check(a.read() == b.read(), "usr/bin/cairn is not a copy of BIN")
    # Only the man page and completions were made: no object, no other binary.
    eq(files_under(os.path.join(TMP, "build")), ["gen/_cairn", "gen/cairn.1", "gen/cairn.bash"],
       "files the nested make wrote in BUILD")


@T.test
def unit_runs_the_installed_binary():
    with open(os.path.join(staged(), "usr/lib/systemd/user/cairn.service")) as f:
        unit = f.read()
    lines = unit.splitlines()
    check("ExecStart=/usr/bin/cairn daemon" in lines, "ExecStart of the installed unit:\n" + unit)
    check("Documentation=man:cairn(1)" in lines, "Documentation of the installed unit:\n" + unit)
    check(lines[0] == "[Unit]", "the installed unit keeps the by-hand comments:\n" + unit)
    with open(os.path.join(REPO, "contrib", "cairn.service")) as f:
        src = [x for x in f.read().splitlines() if not x.startswith(("#", "ExecStart=", "Doc"))]
    kept = [x for x in lines if not x.startswith(("#", "ExecStart=", "Doc"))]
    eq(kept, src[src.index("[Unit]"):], "the rest of contrib/cairn.service, installed")

    # A prefix outside /usr: the unit goes where systemd's user manager reads
    # it ($XDG_DATA_HOME/systemd/user), naming a binary that is really there.
    prefix = os.path.join(TMP, "home", ".local")
    rc, out = make("install", *install_vars(PREFIX=prefix + "/"))
    eq(rc, 0, "exit status of make install PREFIX=%s/ (output: %s)" % (prefix, short(out, 3000)))
    unit_path = os.path.join(prefix, "share", "systemd", "user", "cairn.service")
    with open(unit_path) as f:
        unit = f.read()
    check("ExecStart=%s/bin/cairn daemon" % prefix in unit.splitlines(),
          "ExecStart with PREFIX=%s/:\n%s" % (prefix, unit))
    if not shutil.which("systemd-analyze"):
        return Skip("systemd-analyze is not installed; the unit was not verified")
    env = dict(os.environ, MANPATH=os.path.join(prefix, "share", "man"))
    p = subprocess.run(["systemd-analyze", "verify", unit_path], env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    eq((p.returncode, p.stdout), (0, ""), "systemd-analyze verify of the installed unit")
    rc, out = make("uninstall", *install_vars(PREFIX=prefix))
    eq(rc, 0, "exit status of make uninstall PREFIX=%s (output: %s)" % (prefix, short(out)))
    eq(files_under(os.path.join(TMP, "home")), [], "files left by uninstall")


def render(page, width):
    """The man page as text, hyphens and quotes as typed; groff's warnings."""
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-rLL=%dn" % width, "-P-cbou", page],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    text = p.stdout.decode("utf-8")
    for u, a in (("\u2212", "-"), ("\u2010", "-"), ("\u2019", "'"), ("\u2018", "`"),
                 ("\u201c", '"'), ("\u201d", '"')):
        text = text.replace(u, a)
    return p.returncode, text, p.stderr.decode("utf-8", "replace")


WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.$/-]*[A-Za-z0-9]|[A-Za-z0-9]")


@T.test
def man_page_renders_and_holds_every_help():
    if not shutil.which("groff"):
        return Skip("groff is not installed (scripts/deps.sh installs groff-base)")
    page = os.path.join(staged(), "usr/share/man/man1/cairn.1")
    for width in (60, 80, 120):
        rc, _, err = render(page, width)
        eq((rc, err), (0, ""), "groff -man -ww at %d columns: status and warnings" % width)
    rc, text, _ = render(page, 1000)  # no line breaks inside what is checked
    flat = re.sub(r"\s+", " ", text)
    check(re.search(r"^NAME\s+cairn - ", text, re.M), "no NAME line 'cairn - ...':\n" + short(text))
    for name in commands():
        check(re.search(r"^   cairn %s$" % re.escape(name), text, re.M),
              "no section for `cairn %s` in the man page" % name)
    for path, h in sorted(helps().items()):
        if path:
            check(re.search(r"^   cairn %s$" % re.escape(" ".join(path)), text, re.M),
                  "no section for `cairn %s` in the man page" % " ".join(path))
        usage = re.sub(r"\s+", " ", h.splitlines()[0][len("usage: "):])
        check(usage in flat, "the usage `%s` is not in the man page" % usage)
        missing = sorted(set(WORD_RE.findall(h)) - set(WORD_RE.findall(text)))
        check(not missing, "words of `cairn %s --help` missing from the man page: %s"
              % (" ".join(path), missing))


def bash_complete(lines):
    """{line: [completions]}: each line ("cairn kb se") completed by the
    installed bash completion, as bash does at a TAB after it."""
    comp = os.path.join(staged(), "usr/share/bash-completion/completions/cairn")
    script = ["source %s || exit 9" % shq(comp)]
    for line in lines:
        words = line.split(" ")
        script.append("COMP_WORDS=(%s); COMP_CWORD=%d; COMPREPLY=(); _cairn; "
                      "printf '%%s\\t' %s; printf '%%s\\t' \"${COMPREPLY[@]}\"; echo"
                      % (" ".join(shq(w) for w in words), len(words) - 1, shq(line)))
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(script)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    eq((p.returncode, p.stderr), (0, ""), "bash running the completion: status and stderr")
    out = {}
    for row in p.stdout.splitlines():
        f = row.split("\t")
        out[f[0]] = sorted(x for x in f[1:] if x)
    eq(sorted(out), sorted(lines), "lines completed")
    return out


def shq(s):
    return "'" + s.replace("'", "'\\''") + "'"


def named_options(h):
    """The options a help's usage line and option tables name: the ones a
    completion must offer."""
    lines = [h.splitlines()[0]] + [x for x in h.splitlines() if re.match(r"^\s+-", x)]
    return set(clidocs.options_in("\n".join(lines)))


@T.test
def bash_completion_completes_what_help_names():
    cases = {
        "cairn ru": ["run"],
        "cairn kb se": ["search"],
        "cairn kb search --li": ["--limit"],
        "cairn brief --format ": ["json", "markdown", "text"],
        "cairn brief --format m": ["markdown"],
        "cairn shell-init ": ["bash", "zsh"],
        "cairn watch ": ["add", "list", "rm"],
        "cairn hook shell --shell ": ["bash", "zsh"],
        "cairn log --project ": [],  # a directory: left to readline's file names
        "cairn kb add decision ": [],
    }
    lines = list(cases) + ["cairn "] + ["cairn %s -" % " ".join(p) for p in helps() if p]
    got = bash_complete(lines)
    for line, want in cases.items():
        eq(got[line], want, "completions of %r" % line)
    missing = sorted(set(commands()) - set(got["cairn "]))
    check(not missing, "commands not completed after `cairn `: %s" % missing)
    for path, h in helps().items():
        if not path:
            continue
        line = "cairn %s -" % " ".join(path)
        missing = sorted(named_options(h) - set(got[line]))
        check(not missing, "options of `cairn %s` not completed: %s (got %s)"
              % (" ".join(path), missing, got[line]))


ZSH_STUBS = r"""
_describe() { local x; for x in "${(@P)4}"; do [[ ${x%%:*} == ${PREFIX}* ]] && print -r -- "${x%%:*}"; done }
compadd() {
	local -a w; local x
	if [[ $1 == -a ]]; then w=("${(@P)2}"); else shift; w=("$@"); fi
	for x in $w; do [[ $x == ${PREFIX}* ]] && print -r -- $x; done
}
_files() { print -r -- "<files>" }
_normal() { print -r -- "<command line: ${words[*]}>" }
source "$1" >/dev/null
for line in "${@:2}"; do
	words=("${(@s: :)line}"); CURRENT=$#words; PREFIX=${words[-1]}
	print -rn -- "$line"; _cairn | while read -r x; do print -rn -- $'\t'"$x"; done; print
done
"""


@T.test
def zsh_completion_parses_and_completes():
    if not shutil.which("zsh"):
        return Skip("zsh is not installed (scripts/deps.sh installs it)")
    comp = os.path.join(staged(), "usr/share/zsh/site-functions/_cairn")
    p = subprocess.run(["zsh", "-n", comp], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    eq((p.returncode, p.stderr), (0, ""), "zsh -n _cairn: status and stderr")
    with open(comp) as f:
        eq(f.readline(), "#compdef cairn\n", "first line of _cairn")
    # Outside a completion, with the completion system's functions stubbed to
    # print what they are given.
    cases = {
        "cairn ru": ["run"],
        "cairn kb se": ["search"],
        "cairn kb search --li": ["--limit"],
        "cairn brief --format ": ["json", "markdown", "text"],
        "cairn session ": ["end", "list", "show", "start"],
        "cairn log --project ": ["<files>"],
        "cairn run -- ma": ["<command line: ma>"],
    }
    p = subprocess.run(["zsh", "-f", "-c", ZSH_STUBS, "zsh", comp] + list(cases),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    eq((p.returncode, p.stderr), (0, ""), "zsh running the completion: status and stderr")
    got = {}
    for row in p.stdout.splitlines():
        f = row.split("\t")
        got[f[0]] = sorted(f[1:])
    for line, want in cases.items():
        eq(got.get(line), want, "zsh completions of %r" % line)


@T.test
def uninstall_removes_every_file():
    dest = staged()
    rc, out = make("uninstall", *install_vars(DESTDIR=dest, PREFIX="/usr"))
    eq(rc, 0, "exit status of make uninstall (output: %s)" % short(out))
    eq(files_under(dest), [], "files left under DESTDIR by make uninstall")
    _staged.pop("dir")


@T.test
def a_relative_prefix_is_refused():
    dest = os.path.join(TMP, "relative")
    rc, out = make("install", *install_vars(DESTDIR=dest, PREFIX="~/.local"))
    eq(rc, 2, "exit status of make install PREFIX=~/.local (output: %s)" % short(out))
    check("PREFIX must be an absolute path" in out, "make install says why: " + short(out))
    check(not os.path.exists(dest), "a refused install wrote under DESTDIR")


if __name__ == "__main__":
    try:
        T.main()
    finally:
        if os.environ.get("CAIRN_KEEP"):
            log("kept " + TMP)
        else:
            shutil.rmtree(TMP, ignore_errors=True)
