#!/usr/bin/env python3
"""The shell hooks in a real interactive bash and zsh, driven through a
pseudo-terminal as a user would type: every command line becomes one
shell.command event with its exit status, duration and directory, secrets
are redacted before anything is stored, and the shell itself behaves as
without the hook ($?, PROMPT_COMMAND, precmd_functions, DEBUG trap, set -eu,
no job messages, no zombies). Also `cairn hook shell` and `cairn shell-init`
on their own, and the spool when no daemon runs."""

import glob
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, check, eq, log, short  # noqa: E402

T = Suite(per_test_timeout=180)

PROMPT = "CAIRN-PROMPT> "
# Made-up secrets; none may reach the database or the spool.
GH_TOKEN = "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d"
BEARER = "Zq7bearerT0kenValue9x"
PASSWORD = "hunter2-Pw"
SECRETS = [GH_TOKEN, BEARER, PASSWORD]
ANSI = re.compile(rb"\x1b(\[[0-9;?]*[ -/]*[@-~]|[=>]|\][^\x07]*\x07)")


class Shell:
    """An interactive shell on a pty with the daemon's environment (and so
    its temporary HOME): rc is the text of its rc file. run() types one line
    and waits for the next prompt."""

    def __init__(self, d, shell, rc, extra_env=None):
        self.shell = shell
        self.dir = os.path.join(d.tmp, "%s-rc" % shell)
        os.makedirs(self.dir, exist_ok=True)
        env = d.env()
        env["TERM"] = "xterm"
        env.update(extra_env or {})
        if shell == "bash":
            rcfile = os.path.join(self.dir, "bashrc")
            argv = ["bash", "--noprofile", "--rcfile", rcfile, "-i"]
        else:
            rcfile = os.path.join(self.dir, ".zshrc")
            env["ZDOTDIR"] = self.dir
            argv = ["zsh", "-i"]
        with open(rcfile, "w") as f:
            f.write(rc)
        self.out = b""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.chdir(d.home)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.wait_prompts(1, timeout=30)

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b""
        if not data:
            raise EOFError()
        self.out += data
        return True

    def text(self):
        return ANSI.sub(b"", self.out).replace(b"\r", b"").decode("utf-8", "replace")

    def prompts(self):
        return self.text().count(PROMPT)

    def wait_prompts(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while self.prompts() < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: no prompt within %ds; output so far:\n%s"
                                     % (self.shell, timeout, short(self.text()[-2000:], 2000)))
            self._read(min(left, 0.2))

    def run(self, line, timeout=30):
        """Types line and waits for the next prompt; returns the output in
        between (the echoed line included)."""
        before = len(self.text())
        n = self.prompts()
        # Events are ordered by the time their command ended, in ms: keep
        # two commands from ending within the same millisecond.
        time.sleep(0.003)
        os.write(self.fd, line.encode() + b"\r")
        self.wait_prompts(n + 1, timeout)
        return self.text()[before:]

    def children(self):
        """(pid, state) of the shell's child processes."""
        out = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as f:
                    s = f.read()
            except OSError:
                continue
            rest = s[s.rindex(")") + 2:].split()
            if int(rest[1]) == self.pid:
                out.append((int(stat.split("/")[2]), rest[0]))
        return out

    def exit(self):
        try:
            os.write(self.fd, b"exit\r")
        except OSError:
            pass
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if not self._read(0.2):
                    pid, _ = os.waitpid(self.pid, os.WNOHANG)
                    if pid:
                        break
            except EOFError:
                break
        else:
            os.kill(self.pid, signal.SIGKILL)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        os.close(self.fd)


def hook_line(d, shell):
    return 'eval "$(%s shell-init %s)"\n' % (d.bin, shell)


def wait_events(d, n, timeout=30):
    """The shell.command events once there are at least n, in the order of
    their time (the hooks run in the background, so they may reach the
    daemon out of order; the event's time is when the command ended)."""
    deadline = time.monotonic() + timeout
    while True:
        with d.conn() as c:
            c.wait_committed()
            evs = c.query_all(pattern="shell.command")
        if len(evs) >= n or time.monotonic() > deadline:
            return sorted(evs, key=lambda e: (e["time"], e["seq"]))
        time.sleep(0.1)


def stored_bytes(d):
    """Everything cairn wrote under its data directory: the database, its
    WAL, the spool."""
    out = b""
    for root, _, files in os.walk(os.path.join(d.data_home, "cairn")):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                out += f.read()
    return out


def check_no_secrets(d, what):
    data = stored_bytes(d)
    check(data, "%s: nothing stored under %s" % (what, d.data_home))
    for s in SECRETS:
        check(s.encode() not in data, "%s: secret %r is stored in %s" % (what, s, d.data_home))


def check_quiet(sh):
    """No job-control chatter from the background hook, no error from the
    hook scripts, no zombie children."""
    text = sh.text()
    for bad in (r"\[\d+\]\+?\s+(Done|Exit|Running)", r"^\[\d+\] \d+$", r"cairn:",
                r"^(bash|zsh|__cairn\w*):", r"command not found", r"unbound variable",
                r"parameter not set"):
        m = re.search(bad, text, re.M)
        check(m is None, "%s printed %r; output:\n%s" % (sh.shell, m and m.group(0), short(text, 3000)))
    time.sleep(0.5)
    zombies = [p for p, st in sh.children() if st == "Z"]
    check(not zombies, "%s has zombie children %s" % (sh.shell, zombies))


# The session both shells run: (typed line, expected logged command or None
# when the line must not be logged, exit status). {sub} is the directory
# made by the second line.
SESSION = [
    ("true", "true", 0),
    ("mkdir -p sub && cd sub", "mkdir -p sub && cd sub", 0),
    ("sh -c 'exit 3'", "sh -c 'exit 3'", 3),
    ('echo "st=$?"', 'echo "st=$?"', 0),
    ("export GITHUB_TOKEN=%s" % GH_TOKEN, "export GITHUB_TOKEN=[REDACTED:github-token]", 0),
    ('curl -s -m 2 -H "Authorization: Bearer %s" http://127.0.0.1:1/' % BEARER,
     'curl -s -m 2 -H "Authorization: Bearer [REDACTED:bearer]" http://127.0.0.1:1/', 7),
    ("echo --password %s >/dev/null" % PASSWORD, "echo --password [REDACTED:password-flag] >/dev/null", 0),
    ("sleep 0.3", "sleep 0.3", 0),
    ("echo again", "echo again", 0),
    ("echo again", "echo again", 0),
    (" echo hidden-by-leading-space", None, 0),
    ("set -eu", "set -eu", 0),
    ("false && true", "false && true", 1),
    ("echo alive", "echo alive", 0),
]


def run_session(d, sh):
    outputs = []
    for line, _, _ in SESSION:
        outputs.append(sh.run(line))
    return outputs


def check_session(d, sh, evs, outputs):
    expected = [(cmd, st) for _, cmd, st in SESSION if cmd is not None]
    got = [(e["data"]["command"], e["data"]["exit"]) for e in evs]
    eq(got, expected, "%s: logged (command, exit) pairs" % sh.shell)
    home = os.path.realpath(d.home)
    sub = os.path.join(home, "sub")
    for e in evs:
        data = e["data"]
        eq(e["source"], "cairn/shell", "source")
        eq(data["shell"], sh.shell, "data.shell")
        check(isinstance(data["duration_ms"], int) and data["duration_ms"] >= 0,
              "duration_ms: %s" % short(e))
        # A command's directory is where it started: "cd sub" ran in home.
        want = home if data["command"] in ("true", "mkdir -p sub && cd sub") else sub
        eq(os.path.realpath(data["cwd"]), want, "cwd of %r" % data["command"])
        eq(data["redactions"], 1 if "[REDACTED:" in data["command"] else 0,
           "redactions of %r" % data["command"])
        eq(e.get("subject"), data["command"].split()[0], "subject of %r" % data["command"])
    sleep = [e for e in evs if e["data"]["command"] == "sleep 0.3"][0]
    check(250 <= sleep["data"]["duration_ms"] < 10000,
          "sleep 0.3 lasted %s ms" % sleep["data"]["duration_ms"])
    # $? after the hook is the command's: the next line printed st=3.
    check("st=3" in outputs[3], "%s: $? not preserved: %s" % (sh.shell, short(outputs[3])))
    check("alive" in outputs[-1], "%s: shell did not survive set -eu: %s"
          % (sh.shell, short(outputs[-1])))


@T.test
def bash_logs_commands():
    with Daemon() as d:
        rc = ("PS1='%s'\n" % PROMPT +
              "HISTCONTROL=ignoreboth\n"
              "set -u\n"
              "PROMPT_COMMAND='echo \"USERPC st=$?\"'\n" +
              hook_line(d, "bash") + hook_line(d, "bash"))  # twice: loads once
        sh = Shell(d, "bash", rc)
        try:
            outputs = run_session(d, sh)
            # The user's PROMPT_COMMAND still runs, after ours, and sees $?.
            check("USERPC st=3" in outputs[2], "user PROMPT_COMMAND did not see $?=3: %s"
                  % short(outputs[2]))
            eq(sh.text().count("USERPC st="), sh.prompts(), "user PROMPT_COMMAND runs per prompt")
            # Every line but the hidden one.
            evs = wait_events(d, len(SESSION) - 1)
            check_session(d, sh, evs, outputs)
            check_quiet(sh)
        finally:
            sh.exit()
        check_no_secrets(d, "bash session")


@T.test
def bash_keeps_debug_trap():
    """A DEBUG trap of the user's keeps running; a command hidden from
    history by its leading space is still not logged. (A DEBUG trap clears
    $_, by which the hook tells a repeated command from a hidden one under
    HISTCONTROL=ignoreboth, so there a repeat is not logged: not tested.)"""
    with Daemon() as d:
        rc = ("PS1='%s'\n" % PROMPT + "HISTCONTROL=ignoreboth\n"
              "user_debug=0\n"
              "trap 'user_debug=$((user_debug + 1))' DEBUG\n" + hook_line(d, "bash"))
        sh = Shell(d, "bash", rc)
        try:
            sh.run("echo one")
            sh.run(" echo hidden-by-leading-space")
            out = sh.run("sh -c 'exit 6'; echo \"st=$?\"")
            check("st=6" in out, "status: %s" % short(out))
            out = sh.run("trap -p DEBUG; echo debug-count=$user_debug")
            check("user_debug=$((user_debug + 1))" in out, "DEBUG trap replaced: %s" % short(out))
            m = re.search(r"debug-count=(\d+)", out)
            check(m and int(m.group(1)) >= 4, "DEBUG trap did not run: %s" % short(out))
            evs = wait_events(d, 3)
            eq([(e["data"]["command"], e["data"]["exit"]) for e in evs],
               [("echo one", 0), ("sh -c 'exit 6'; echo \"st=$?\"", 0),
                ("trap -p DEBUG; echo debug-count=$user_debug", 0)], "logged")
            check_quiet(sh)
        finally:
            sh.exit()


@T.test
def zsh_logs_commands():
    with Daemon() as d:
        rc = ("PS1='%s'\n" % PROMPT +
              "setopt histignorespace nounset\n"
              "userprecmd() { echo \"USERPRECMD st=$?\" }\n"
              "precmd_functions+=(userprecmd)\n" +
              hook_line(d, "zsh") + hook_line(d, "zsh"))
        sh = Shell(d, "zsh", rc)
        try:
            outputs = run_session(d, sh)
            check("USERPRECMD st=3" in outputs[2], "user precmd did not see $?=3: %s"
                  % short(outputs[2]))
            out = sh.run("print -r -- hooks: $precmd_functions / $preexec_functions")
            check("hooks: userprecmd __cairn_precmd / __cairn_preexec" in out,
                  "hooks registered once each: %s" % short(out))
            # The session's lines but the hidden one, and the print line.
            evs = wait_events(d, len(SESSION))
            check_session(d, sh, evs[:-1], outputs)
            check_quiet(sh)
        finally:
            sh.exit()
        check_no_secrets(d, "zsh session")


@T.test
def bash_prompt_command_array():
    """PROMPT_COMMAND as an array (bash 5.1+) keeps its elements."""
    with Daemon() as d:
        rc = ("PS1='%s'\n" % PROMPT + "PROMPT_COMMAND=('echo \"ARR1 st=$?\"' 'echo ARR2')\n" +
              hook_line(d, "bash"))
        sh = Shell(d, "bash", rc)
        try:
            out = sh.run("sh -c 'exit 5'")
            check("ARR1 st=5" in out and "ARR2" in out, "array elements: %s" % short(out))
            out = sh.run("declare -p PROMPT_COMMAND")
            check("declare -a PROMPT_COMMAND" in out, "still an array: %s" % short(out))
            evs = wait_events(d, 2)
            eq([(e["data"]["command"], e["data"]["exit"]) for e in evs],
               [("sh -c 'exit 5'", 5), ("declare -p PROMPT_COMMAND", 0)], "logged")
            check_quiet(sh)
        finally:
            sh.exit()


@T.test
def hooks_loaded_inside_a_function():
    """Some rc frameworks source files inside a function: the hook's state
    must still be global."""
    with Daemon() as d:
        for shell in ("bash", "zsh"):
            rc = ("PS1='%s'\n" % PROMPT + "load_cairn() {\n" + hook_line(d, shell) + "}\n"
                  "load_cairn\n")
            sh = Shell(d, shell, rc)
            try:
                sh.run("echo from-%s" % shell)
                check_quiet(sh)
            finally:
                sh.exit()
        evs = wait_events(d, 2)
        eq(sorted((e["data"]["shell"], e["data"]["command"]) for e in evs),
           [("bash", "echo from-bash"), ("zsh", "echo from-zsh")], "logged")


@T.test
def no_daemon_spools():
    """With no daemon the shell works as usual and the events wait in the
    spool, redacted; a daemon that starts later logs them."""
    d = Daemon(start=False)
    rc = "PS1='%s'\n" % PROMPT + hook_line(d, "bash")
    sh = Shell(d, "bash", rc)
    lines = ["echo no-daemon-1", "export GITHUB_TOKEN=%s" % GH_TOKEN, "sh -c 'exit 4'"]
    try:
        for line in lines:
            t0 = time.monotonic()
            sh.run(line)
            check(time.monotonic() - t0 < 5, "a prompt took %.1fs with no daemon"
                  % (time.monotonic() - t0))
        spool = os.path.join(d.data_home, "cairn", "spool")
        deadline = time.monotonic() + 20
        while len(glob.glob(os.path.join(spool, "*.json"))) < len(lines):
            check(time.monotonic() < deadline, "spool %s holds %d of %d events"
                  % (spool, len(glob.glob(os.path.join(spool, "*.json"))), len(lines)))
            time.sleep(0.1)
        check_quiet(sh)
    finally:
        sh.exit()
    check_no_secrets(d, "spool")
    spooled = []
    for p in sorted(glob.glob(os.path.join(spool, "*.json"))):
        with open(p) as f:
            spooled.append(json.load(f))
    eq(sorted(e["data"]["command"] for e in spooled),
       sorted(["echo no-daemon-1", "export GITHUB_TOKEN=[REDACTED:github-token]", "sh -c 'exit 4'"]),
       "spooled commands")

    d.start()
    evs = wait_events(d, len(lines), timeout=15)
    eq(sorted(e["data"]["command"] for e in evs), sorted(e["data"]["command"] for e in spooled),
       "events logged once a daemon started (the daemon imports the spool at start)")
    check_no_secrets(d, "database after the spool was imported")


class CmdlineWatch:
    """Reads every process's argv (/proc/PID/cmdline, as any local user
    can) over and over in a thread, and keeps those that hold one of the
    needles. Only processes whose environment holds `marker` (the test
    daemon's directory, which the test shell and all it starts inherit)
    count: other tests on the same machine may use the same fake secrets."""

    def __init__(self, needles, marker):
        import threading
        self.needles = [n.encode() for n in needles]
        self.marker = marker.encode()
        self.found = []
        self.scans = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            for path in glob.glob("/proc/[0-9]*/cmdline"):
                try:
                    with open(path, "rb") as f:
                        argv = f.read()
                except OSError:
                    continue
                if any(n in argv for n in self.needles):
                    try:
                        with open(path[:-len("cmdline")] + "environ", "rb") as f:
                            ours = self.marker in f.read()
                    except OSError:
                        ours = True  # gone already: count it, to be safe
                    if ours:
                        self.found.append((path, argv))
            self.scans += 1

    def stop(self):
        self._stop.set()
        self._t.join(10)


# Lines for the argv test: only builtins, so that no command the user typed
# has its own text in an argv; the third has no secret, but its text must
# not be in an argv either.
ARGV_SESSION = [
    ("export GITHUB_TOKEN=%s" % GH_TOKEN, "export GITHUB_TOKEN=[REDACTED:github-token]"),
    ("echo --password %s >/dev/null" % PASSWORD, "echo --password [REDACTED:password-flag] >/dev/null"),
    ("echo plain-text-7f3a >/dev/null", "echo plain-text-7f3a >/dev/null"),
]


@T.test
def command_line_never_in_argv():
    """The hook hands the command line to `cairn hook shell` on its standard
    input, not in argv, where any local user could read it (in
    /proc/PID/cmdline) before it is redacted. The script is pointed at a
    wrapper that records its argv and then runs cairn; meanwhile every
    process's argv is read as fast as possible. The lines still arrive,
    redacted, in the shell.command events."""
    for shell in ("bash", "zsh"):
        with Daemon() as d:
            # One file per call: hooks run in the background and may
            # overlap, so appends to one log could interleave.
            argv_dir = os.path.join(d.tmp, "argv")
            os.mkdir(argv_dir)
            wrapper = os.path.join(d.tmp, "cairn-wrapper")
            with open(wrapper, "w") as f:
                f.write("#!/bin/sh\nprintf '%%s\\0' \"$@\" >\"$(mktemp '%s/call.XXXXXX')\"\n"
                        "exec '%s' \"$@\"\n" % (argv_dir, d.bin))
            os.chmod(wrapper, 0o755)
            rc, script, err = d.cli(["shell-init", shell])
            eq((rc, err), (0, ""), "cairn shell-init %s" % shell)
            script, n = re.subn(r"__cairn_bin='[^']*'", "__cairn_bin='%s'" % wrapper, script)
            eq(n, 1, "the script names the binary once")
            hook_file = os.path.join(d.tmp, "hook.%s" % shell)
            with open(hook_file, "w") as f:
                f.write(script)
            rc_text = "PS1='%s'\n" % PROMPT + ". '%s'\n" % hook_file
            needles = [GH_TOKEN, PASSWORD, "plain-text-7f3a"]
            watch = CmdlineWatch(needles, d.tmp)
            sh = Shell(d, shell, rc_text)
            try:
                for line, _ in ARGV_SESSION:
                    sh.run(line)
                evs = wait_events(d, len(ARGV_SESSION))
                check_quiet(sh)
            finally:
                sh.exit()
                watch.stop()
            eq([e["data"]["command"] for e in evs], [cmd for _, cmd in ARGV_SESSION],
               "%s: the lines arrive redacted" % shell)
            calls = []
            for name in sorted(os.listdir(argv_dir)):
                with open(os.path.join(argv_dir, name), "rb") as f:
                    calls.append(f.read().rstrip(b"\0").split(b"\0"))
            eq(len(calls), len(ARGV_SESSION), "%s: the wrapper ran once per line: %s"
               % (shell, short(calls)))
            for argv in calls:
                check(argv[:2] == [b"hook", b"shell"] and b"--cmd-from" in argv,
                      "%s: the hook's argv: %s" % (shell, argv))
                check(not any(n.encode() in a for n in needles for a in argv),
                      "%s: the command line is in the hook's argv: %s" % (shell, argv))
            check(watch.scans > 0, "the argv watch ran")
            eq(watch.found, [], "%s: processes whose argv held a command line (%d scans)"
               % (shell, watch.scans))
            check_no_secrets(d, "%s argv session" % shell)


@T.test
def hook_shell_direct():
    """`cairn hook shell` on its own: the event's fields, redaction, the cap
    on the command line, bytes that are not UTF-8, bad arguments; it never
    prints and always exits 0."""
    with Daemon() as d:
        def hook(args, cmd=None):
            rc, out, err = d.cli(["hook", "shell"] + args, input=cmd)
            eq((rc, out, err), (0, "", ""), "`cairn hook shell %s`" % short(" ".join(args), 80))

        hook(["--cmd-from", "stdin", "--status", "2", "--duration-ms", "1500", "--cwd",
              "/srv/app", "--shell", "zsh", "--ended-ms", "1700000000123"],
             "CC=clang make -j4 DB_PASSWORD=%s" % PASSWORD)
        big = "echo " + "x" * 40000 + " token=" + BEARER
        hook(["--cmd-from=stdin", "--status=0", "--duration-ms=-4", "--cwd=/"], big)
        hook([])
        hook(["--cmd-from"], "ls")
        hook(["--cmd-from", "stdin"], "")
        hook(["--cmd-from", "argv", "--cmd", "ls"], "ls")
        # The old form, with the line in argv, is no longer read.
        hook(["--cmd", "echo old-form-%s" % PASSWORD, "--status", "0"])
        hook(["--status", "0"], "ls")
        hook(["--unknown", "v", "--cmd-from", "stdin", "--status", "x", "--shell", "fish"], "ls")
        # Over the 1 MiB that redaction takes: logged, but with nothing of the line.
        hook(["--cmd-from", "stdin", "--status", "0"], "echo " + "y" * (1024 * 1024))
        # Bytes that are not UTF-8 cannot be passed through d.cli's str args.
        r = subprocess.run([d.bin, "hook", "shell", "--cmd-from", "stdin",
                            "--cwd", b"/tmp/\xff"], env=d.env(), capture_output=True,
                           input=b"caf\xe9 \x01 ok", timeout=60)
        eq((r.returncode, r.stdout, r.stderr), (0, b"", b""), "hook with bytes that are not UTF-8")

        evs = wait_events(d, 5)
        eq(len(evs), 5, "events (calls without a command on stdin log nothing)")
        huge = [e for e in evs if e["data"]["command"] == ""]
        eq(len(huge), 1, "the line over 1 MiB")
        eq(huge[0]["data"].get("truncated"), True, "marked truncated")
        evs = [e for e in evs if e is not huge[0]]
        e = [e for e in evs if e["time"].startswith("2023")][0]
        evs = [e2 for e2 in evs if e2 is not e]
        eq(e["time"], "2023-11-14T22:13:20.123Z", "time from --ended-ms")
        eq(e["type"], "shell.command", "type")
        eq(e["subject"], "make", "subject skips leading assignments")
        eq(e["data"], {"command": "CC=clang make -j4 DB_PASSWORD=[REDACTED:env-secret]",
                       "exit": 2, "duration_ms": 1500, "cwd": "/srv/app", "shell": "zsh",
                       "redactions": 1}, "data")
        big_ev = evs[0]["data"]
        check(big_ev.get("truncated") is True, "a 40 KB command is marked truncated")
        check(len(big_ev["command"].encode()) <= 16 * 1024, "command cut to 16 KiB")
        # Redaction ran on the whole line before the cut.
        eq(big_ev["redactions"], 1, "redactions in the long line")
        eq(big_ev["duration_ms"], 0, "a negative duration is stored as 0")
        eq((evs[1]["data"]["command"], evs[1]["data"]["exit"], "shell" in evs[1]["data"]),
           ("ls", None, False), "unknown options skipped, bad values left out")
        eq(evs[2]["data"]["command"], "caf\ufffd \x01 ok", "invalid UTF-8 replaced")
        eq(evs[2]["data"]["cwd"], "/tmp/\ufffd", "invalid UTF-8 in cwd replaced")
        eq(evs[2]["subject"], "caf\ufffd", "subject")
        check_no_secrets(d, "hook shell")


@T.test
def shell_init_scripts():
    d = Daemon(start=False)
    for shell in ("bash", "zsh"):
        rc, out, err = d.cli(["shell-init", shell])
        eq((rc, err), (0, ""), "cairn shell-init %s" % shell)
        check("__cairn_bin='%s'" % os.path.realpath(d.bin) in out,
              "the script calls this binary by its absolute path:\n%s" % short(out, 1500))
        r = subprocess.run([shell, "-n"], input=out.encode(), capture_output=True, timeout=30)
        eq((r.returncode, r.stderr.decode()), (0, ""), "%s -n on the script" % shell)
    for args in (["shell-init"], ["shell-init", "fish"], ["shell-init", "bash", "zsh"]):
        rc, out, err = d.cli(args)
        eq(rc, 2, "exit status of `cairn %s`" % " ".join(args))
        check("bash" in err and "zsh" in err, "usage names the shells: %s" % short(err))
    # Not bash 5: the bash script says so instead of failing obscurely.
    _, out, _ = d.cli(["shell-init", "bash"])
    r = subprocess.run(["zsh", "-c", out], capture_output=True, timeout=30)
    check("needs bash" in r.stderr.decode(), "bash script in zsh: %s" % short(r.stderr))


if __name__ == "__main__":
    if not shutil.which("bash") or not shutil.which("zsh"):
        log("bash and zsh are needed (apt-get install bash zsh)")
    T.main()
