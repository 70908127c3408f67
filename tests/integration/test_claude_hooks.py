#!/usr/bin/env python3
"""cairn's Claude Code hooks: `cairn hooks install|uninstall --agent claude` on
real settings files (none yet; one with other tools' hooks and settings; odd
layouts; a file changed after install), byte-for-byte restore on uninstall;
the same for cairn's MCP server in the project's .mcp.json (other servers
kept, a "cairn" server that is not cairn's left alone, a file it cannot use
refused with both files untouched, a failure while writing one file undone
in the other); and the installed commands, read back from the file and run as Claude Code
runs them (sh -c, the hook's JSON on stdin): agent.started and agent.ended in
the log with the daemon up, spooled and delivered later with it down, and
exit 0 with one line of output on bad input or a stopped daemon."""

import functools
import json
import time
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, TestFailure, check, eq, log, short  # noqa: E402

T = Suite(per_test_timeout=180)

MATCHER = "startup|resume|clear|compact"
SESSION = "9b2f6a3e-0c41-4d7e-b1a5-6f3e2d1c0b9a"

# A settings file with another tool's SessionStart hook, a PreToolUse hook and
# other keys, indented by 4, with a non-ASCII string: everything install must
# leave alone.
EXISTING = """{
    "permissions": {
        "allow": ["Bash(make:*)", "Read"],
        "deny": []
    },
    "env": {"GREETING": "h\u00e9llo"},
    "hooks": {
        "SessionStart": [
            {
                "matcher": "startup",
                "hooks": [{"type": "command", "command": "other-tool session-start"}]
            }
        ],
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [{"type": "command", "command": "./check.sh", "timeout": 30}]
            }
        ]
    },
    "model": "opus"
}
"""


# --------------------------------------------------------------------------
# Helpers.


class Project:
    """A git repository in a temporary directory of daemon d; cairn runs in
    d's environment, and sanitizer reports of the processes it runs go to
    files the test checks (the hooks' `|| true` hides their exit status)."""

    def __init__(self, d, name="proj"):
        self.d = d
        if d not in _used:
            _used.append(d)
        self.path = os.path.realpath(tempfile.mkdtemp(prefix=name + "-", dir=d.tmp))
        self.run(["git", "init", "-q", "-b", "main"])
        self.claude = os.path.join(self.path, ".claude")
        self.settings = os.path.join(self.claude, "settings.json")
        self.mcp = os.path.join(self.path, ".mcp.json")

    def env(self, extra=None):
        e = self.d.env()
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            e[k] = e[k] + ":log_path=" + os.path.join(self.d.tmp, "san-report")
        e["GIT_CONFIG_NOSYSTEM"] = "1"
        e["GIT_CONFIG_GLOBAL"] = os.devnull
        e.update(extra or {})
        return e

    def run(self, argv, input=None, cwd=None, timeout=60, env=None):
        try:
            return subprocess.run(argv, cwd=cwd or self.path, env=self.env(env), input=input,
                                  capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("`%s` did not finish within %ds" % (" ".join(argv), timeout))

    def cairn(self, *args, binary=None, rc=0, env=None):
        r = self.run([binary or self.d.bin] + list(args), env=env)
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        if rc is not None:
            eq(r.returncode, rc, "exit status of `cairn %s` (stdout: %s, stderr: %s)"
               % (" ".join(args), short(out), short(err)))
        return out, err

    def install(self, binary=None):
        return self.cairn("hooks", "install", "--agent", "claude", binary=binary)[0]

    def uninstall(self):
        return self.cairn("hooks", "uninstall", "--agent", "claude")[0]

    def write_settings(self, data, mode=0o644):
        os.makedirs(self.claude, exist_ok=True)
        with open(self.settings, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        os.chmod(self.settings, mode)

    def read_settings(self):
        with open(self.settings, "rb") as f:
            return f.read()

    def write_mcp(self, data, mode=0o644):
        with open(self.mcp, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        os.chmod(self.mcp, mode)

    def read_mcp(self):
        with open(self.mcp, "rb") as f:
            return f.read()

    def mcp_servers(self):
        return json.loads(self.read_mcp())["mcpServers"]

    def commands(self):
        """{event: command} of cairn's entries, read back from the file."""
        s = json.loads(self.read_settings())
        out = {}
        for ev in ("SessionStart", "SessionEnd"):
            for g in s["hooks"][ev]:
                for h in g["hooks"]:
                    if " hook claude " in h.get("command", ""):
                        check(ev not in out, "two cairn entries under %s" % ev)
                        out[ev] = h["command"]
        eq(sorted(out), ["SessionEnd", "SessionStart"], "events with a cairn hook")
        return out

    def run_hook(self, command, payload, cwd=None, timeout=60):
        """Runs an installed command as Claude Code does: sh -c, the input on
        stdin. Returns (status, stdout lines)."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        r = self.run(["sh", "-c", command], input=data, cwd=cwd, timeout=timeout)
        return r.returncode, r.stdout.decode(errors="replace").splitlines()


_used = []  # the daemons of the running test


def claudetest(fn):
    """T.test, then a check that no cairn process wrote a sanitizer report."""
    @functools.wraps(fn)
    def run():
        del _used[:]
        r = fn()
        for d in _used:
            reports = [f for f in os.listdir(d.tmp) if f.startswith("san-report")]
            for f in reports:
                with open(os.path.join(d.tmp, f), errors="replace") as fh:
                    log(fh.read()[-3000:])
            eq(reports, [], "sanitizer reports from cairn processes")
        return r
    return T.test(run)


def snapshot(path):
    """{relative path: (bytes, mode, mtime_ns)} of a tree's files and
    {relative path: (None, mode, None)} of its directories (whose times
    change with what is made and removed in them)."""
    out = {}
    for root, dirs, files in os.walk(path):
        if ".git" in dirs:
            dirs.remove(".git")
        for n in dirs + files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            data = mtime = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    data = f.read()
                mtime = st.st_mtime_ns
            out[os.path.relpath(p, path)] = (data, stat.S_IMODE(st.st_mode), mtime)
    return out


def our_group(binary, event):
    cmd = "'%s' hook claude %s || true" % (binary.replace("'", "'\\''"), event)
    if event == "session-start":
        return {"matcher": MATCHER,
                "hooks": [{"type": "command", "command": cmd, "timeout": 15}]}
    return {"hooks": [{"type": "command", "command": cmd, "timeout": 5}]}


def our_server(binary):
    return {"type": "stdio", "command": binary, "args": ["mcp"], "env": {}}


def lines_of(out, label):
    """The lines of install's or uninstall's output about one file."""
    return [line for line in out.splitlines() if line.startswith("  %-14s " % label)]


def events(d, pattern="agent.>"):
    with d.conn() as c:
        c.wait_committed()
        return c.query_all(pattern=pattern)


def wait_events(d, pattern, n, timeout=15.0):
    """The events matching pattern once there are n (the hooks publish without
    waiting for the daemon to answer)."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        evs = events(d, pattern)
        if len(evs) >= n:
            return evs
        if time.monotonic() > deadline:
            raise TestFailure("expected %d events matching %s, got %d: %s"
                              % (n, pattern, len(evs), short(evs, 2000)))
        time.sleep(0.05)


def start_input(cwd, **kw):
    p = {"session_id": SESSION, "transcript_path": "/tmp/t/%s.jsonl" % SESSION, "cwd": cwd,
         "permission_mode": "default", "hook_event_name": "SessionStart", "source": "startup",
         "model": "claude-sonnet-4-5"}
    p.update(kw)
    return p


def end_input(cwd, **kw):
    p = {"session_id": SESSION, "transcript_path": "/tmp/t/%s.jsonl" % SESSION, "cwd": cwd,
         "permission_mode": "default", "hook_event_name": "SessionEnd",
         "reason": "prompt_input_exit"}
    p.update(kw)
    return p


def check_no_brief_line(lines, what, reason=None):
    """No brief on this branch yet, or a failing one: one line saying why."""
    eq(len(lines), 1, "lines printed by %s: %s" % (what, lines))
    check(lines[0].startswith("cairn: "), "%s: the line names cairn: %r" % (what, lines[0]))
    if reason:
        check(reason in lines[0], "%s should say %r: %r" % (what, reason, lines[0]))


# --------------------------------------------------------------------------
# install / uninstall


@claudetest
def install_into_project_without_settings():
    d = Daemon(start=False)
    p = Project(d)
    before = snapshot(p.path)
    out = p.install()
    check("installed" in out and p.settings in out, "install output: " + out)
    s = json.loads(p.read_settings())
    eq(s, {"hooks": {"SessionStart": [our_group(d.bin, "session-start")],
                     "SessionEnd": [our_group(d.bin, "session-end")]}},
       "the new settings file")
    check(p.read_settings().startswith(b'{\n  "hooks"'), "a new file is indented by 2")
    check(p.read_settings().endswith(b"}\n"), "a new file ends with a newline")

    # Installing again changes nothing, not even the file's time.
    snap = snapshot(p.path)
    out = p.install()
    check("already installed" in out, "second install output: " + out)
    eq(snapshot(p.path), snap, "the project after a second install")

    out = p.uninstall()
    check("removed" in out, "uninstall output: " + out)
    eq(snapshot(p.path), before, "the project after uninstall (no .claude left)")
    out = p.uninstall()
    check("not installed" in out, "second uninstall output: " + out)
    eq(snapshot(p.path), before, "the project after a second uninstall")


@claudetest
def install_beside_other_hooks_and_restore_exactly():
    d = Daemon(start=False)
    p = Project(d)
    p.write_settings(EXISTING, mode=0o640)
    os.utime(p.settings, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    local = os.path.join(p.claude, "settings.local.json")
    with open(local, "w") as f:
        f.write('{"permissions": {"allow": ["Bash(ls:*)"]}}\n')
    before = snapshot(p.path)
    orig = json.loads(EXISTING)

    out = p.install()
    check("installed" in out, "install output: " + out)
    text = p.read_settings().decode()
    s = json.loads(text)
    eq(list(s), list(orig), "top-level keys, in their order")
    for k in ("permissions", "env", "model"):
        eq(s[k], orig[k], "%s is kept" % k)
    eq(s["hooks"]["PreToolUse"], orig["hooks"]["PreToolUse"], "PreToolUse is kept")
    eq(list(s["hooks"]), ["SessionStart", "PreToolUse", "SessionEnd"], "events, in order")
    eq(s["hooks"]["SessionStart"],
       orig["hooks"]["SessionStart"] + [our_group(d.bin, "session-start")],
       "the other tool's SessionStart hook, then cairn's")
    eq(s["hooks"]["SessionEnd"], [our_group(d.bin, "session-end")], "SessionEnd")
    check('\n    "permissions": {\n        "allow": [' in text,
          "the file keeps its 4-space indentation:\n" + text[:300])
    eq(stat.S_IMODE(os.stat(p.settings).st_mode), 0o640, "mode of the edited file")
    with open(local) as f:
        eq(f.read(), '{"permissions": {"allow": ["Bash(ls:*)"]}}\n', "settings.local.json")

    snap = snapshot(p.path)
    check("already installed" in p.install(), "second install says so")
    eq(snapshot(p.path), snap, "the project after a second install")

    out = p.uninstall()
    check("back exactly" in out, "uninstall output: " + out)
    eq(snapshot(p.path), before, "the project after uninstall: bytes, mode and times")
    eq(p.read_settings(), EXISTING.encode(), "settings.json, byte for byte")


@claudetest
def layouts_are_kept_and_restored():
    d = Daemon(start=False)
    cases = [
        ("tabs", b'{\n\t"model": "opus",\n\t"x": 0.1\n}\n'),
        ("one line", b'{"model":"opus","n":[1,2.50]}'),
        ("one spaced line", b'{"model": "opus", "e": "\\u00e9"}\n'),
        ("crlf", b'{\r\n  "model": "opus"\r\n}\r\n'),
        ("empty file", b""),
        ("empty hooks", b'{"hooks": {"SessionStart": []}}\n'),
    ]
    for name, data in cases:
        p = Project(d, name=name.replace(" ", "-"))
        p.write_settings(data)
        before = snapshot(p.path)
        p.install()
        text = p.read_settings()
        json.loads(text)
        if name == "tabs":
            check(b'\n\t"model": "opus",\n\t"x": 0.1,\n\t"hooks": {\n\t\t"SessionStart"' in text,
                  "tabs kept, 0.1 written as 0.1:\n%s" % text.decode())
        elif name.startswith("one"):
            eq(text.count(b"\n"), 1 if name == "one spaced line" else 0,
               "%s: line ends" % name)
            check((b'": ' in text) == (name == "one spaced line"), "%s: spacing" % name)
        elif name == "crlf":
            eq(text.count(b"\n"), text.count(b"\r\n"), "crlf: every line ends with CRLF")
        p.uninstall()
        eq(snapshot(p.path), before, "%s: the project after uninstall" % name)


@claudetest
def uninstall_after_the_file_changed():
    d = Daemon(start=False)
    p = Project(d)
    p.write_settings(EXISTING)
    p.install()
    s = json.loads(p.read_settings())
    s["env"]["ADDED"] = "later"
    with open(p.settings, "w") as f:
        json.dump(s, f, indent=2)
    out = p.uninstall()
    check("changed since install" in out, "uninstall output: " + out)
    want = json.loads(EXISTING)
    want["env"]["ADDED"] = "later"
    eq(json.loads(p.read_settings()), want, "the file without cairn's hooks")
    eq(sorted(os.listdir(p.claude)), ["settings.json"], "nothing of cairn's is left")

    # No file before install, and the user added a key meanwhile.
    p2 = Project(d)
    p2.install()
    s = json.loads(p2.read_settings())
    s["model"] = "opus"
    with open(p2.settings, "w") as f:
        json.dump(s, f)
    p2.uninstall()
    eq(json.loads(p2.read_settings()), {"model": "opus"}, "the user's key is kept")
    eq(sorted(os.listdir(p2.claude)), ["settings.json"], "nothing of cairn's is left")


@claudetest
def reinstall_with_another_binary_updates():
    d = Daemon(start=False)
    p = Project(d)
    p.write_settings(EXISTING)
    before = snapshot(p.path)
    copy = os.path.join(d.tmp, "bin dir", "cairn's copy")
    os.makedirs(os.path.dirname(copy))
    shutil.copy2(d.bin, copy)
    p.install(binary=copy)
    eq(p.commands()["SessionStart"], our_group(copy, "session-start")["hooks"][0]["command"],
       "the command calls the copy, quoted")
    eq(p.mcp_servers(), {"cairn": our_server(copy)}, "the MCP server runs the copy")
    out = p.install()
    check("updated" in out, "install with another binary: " + out)
    eq(p.commands()["SessionEnd"], our_group(d.bin, "session-end")["hooks"][0]["command"],
       "the command calls the new binary")
    # The copy is not named cairn: its server is known as cairn's because
    # cairn's hooks called it.
    check("updated" in "".join(lines_of(out, "claude mcp")), "the MCP server updated: " + out)
    eq(p.mcp_servers(), {"cairn": our_server(d.bin)}, "the MCP server runs the new binary")
    p.uninstall()
    eq(snapshot(p.path), before, "the project after uninstall")


@claudetest
def refuses_what_it_cannot_edit_safely():
    d = Daemon(start=False)
    cases = [
        ("duplicate keys", b'{"model": "a", "model": "b"}', "duplicate"),
        ("not JSON", b'{"model": ', "not valid JSON"),
        ("hooks not an object", b'{"hooks": []}', '"hooks" is not an object'),
        ("SessionStart not an array", b'{"hooks": {"SessionStart": {}}}', "not an array"),
    ]
    for name, data, says in cases:
        p = Project(d, name="bad")
        p.write_settings(data)
        before = snapshot(p.path)
        out, err = p.cairn("hooks", "install", "--agent", "claude", rc=4)
        check(says in err, "%s: the error should say %r: %s" % (name, says, err))
        eq(snapshot(p.path), before, "%s: nothing changed" % name)
    p = Project(d, name="link")
    os.makedirs(p.claude)
    with open(os.path.join(p.path, "real.json"), "w") as f:
        f.write("{}\n")
    os.symlink("../real.json", p.settings)
    before = snapshot(p.path)
    out, err = p.cairn("hooks", "install", "--agent", "claude", rc=4)
    check("symbolic link" in err, "a symlinked settings.json: " + err)
    eq(snapshot(p.path), before, "symlink: nothing changed")
    out, err = p.cairn("hooks", "install", "--agent", "codex", rc=2)
    check("unknown agent" in err, "an unknown agent: " + err)
    plain = tempfile.mkdtemp(prefix="plain-", dir=d.tmp)
    out, err = p.cairn("hooks", "install", "--agent", "claude", "--project", plain, rc=2)
    check("not in a git repository" in err and "--project" in err, "not a repository: " + err)


# --------------------------------------------------------------------------
# cairn's MCP server in .mcp.json

# Another tool's .mcp.json: tabs, CRLF, no final line end, another server
# and a key of its own before mcpServers.
MCP_EXISTING = (b'{\r\n\t"$schema": "https://example.com/mcp.schema.json",\r\n'
                b'\t"mcpServers": {\r\n'
                b'\t\t"github": {"type": "http", "url": "https://api.example.com/mcp/"},\r\n'
                b'\t\t"db": {\r\n\t\t\t"command": "npx",\r\n'
                b'\t\t\t"args": ["-y", "@example/db-mcp", "--ro"],\r\n'
                b'\t\t\t"env": {"DB_URL": "${DB_URL}"}\r\n\t\t}\r\n\t}\r\n}')


def initialize(p, server):
    """Starts server as Claude Code would (its command and args, in the project)
    and returns its answer to initialize."""
    req = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                      "clientInfo": {"name": "test", "version": "1"}}}
    r = p.run([server["command"]] + server["args"], input=(json.dumps(req) + "\n").encode())
    eq(r.returncode, 0, "exit status of the MCP server (stderr: %s)" % short(r.stderr))
    return json.loads(r.stdout.decode().splitlines()[0])


@claudetest
def mcp_server_registered_in_a_new_mcp_json():
    d = Daemon(start=False)
    p = Project(d)
    before = snapshot(p.path)
    out = p.install()
    eq(len(lines_of(out, "claude mcp")), 1, "one line about .mcp.json: " + out)
    check(p.mcp + " (a new file)" in lines_of(out, "claude mcp")[0], "install output: " + out)
    check("MCP tools" in out, "the last line names the tools: " + out)
    eq(json.loads(p.read_mcp()), {"mcpServers": {"cairn": our_server(d.bin)}}, ".mcp.json")
    eq(p.read_mcp(), json.dumps({"mcpServers": {"cairn": our_server(d.bin)}}, indent=2)
       .encode() + b"\n", "a new .mcp.json is laid out as Claude Code writes it")
    eq(stat.S_IMODE(os.stat(p.mcp).st_mode), 0o644, "mode of the new file (umask 022)")
    eq(sorted(f for f in os.listdir(p.path) if f.startswith(".mcp")),
       [".mcp.json", ".mcp.json.cairn-none"], "the new file and its record")
    res = initialize(p, p.mcp_servers()["cairn"])
    eq(res.get("result", {}).get("serverInfo", {}).get("name"), "cairn",
       "the registered command is cairn's MCP server: %s" % short(res))

    snap = snapshot(p.path)
    out = p.install()
    check("already installed" in "".join(lines_of(out, "claude mcp")), "second install: " + out)
    eq(snapshot(p.path), snap, "the project after a second install")

    out = p.uninstall()
    check(p.mcp + " (install had created it)" in "".join(lines_of(out, "claude mcp")),
          "uninstall output: " + out)
    eq(snapshot(p.path), before, "the project after uninstall: no .mcp.json, no record")
    out = p.uninstall()
    check("not installed" in "".join(lines_of(out, "claude mcp")), "second uninstall: " + out)
    eq(snapshot(p.path), before, "the project after a second uninstall")


@claudetest
def mcp_json_with_other_servers_kept_and_restored_exactly():
    d = Daemon(start=False)
    p = Project(d)
    p.write_mcp(MCP_EXISTING, mode=0o600)
    os.utime(p.mcp, ns=(1_600_000_000_000_000_000, 1_600_000_000_987_654_321))
    ino = os.stat(p.mcp).st_ino
    before = snapshot(p.path)
    orig = json.loads(MCP_EXISTING)

    out = p.install()
    check(".mcp.json.cairn-orig" in "".join(lines_of(out, "claude mcp")), "install: " + out)
    text = p.read_mcp()
    s = json.loads(text)
    eq(list(s), ["$schema", "mcpServers"], "top-level keys, in order")
    eq(s["$schema"], orig["$schema"], "the other key is kept")
    eq(list(s["mcpServers"]), ["github", "db", "cairn"], "servers, in order")
    for k in ("github", "db"):
        eq(s["mcpServers"][k], orig["mcpServers"][k], "server %s is kept" % k)
    eq(s["mcpServers"]["cairn"], our_server(d.bin), "cairn's server")
    eq(text.count(b"\n"), text.count(b"\r\n"), "every line ends with CRLF")
    check(b'\r\n\t"mcpServers": {\r\n\t\t"github": {\r\n\t\t\t"type"' in text,
          "indented with tabs:\n%r" % text)
    check(not text.endswith(b"\n"), "no final line end, as before")
    eq(stat.S_IMODE(os.stat(p.mcp).st_mode), 0o600, "mode of the edited file")
    eq(os.stat(p.mcp + ".cairn-orig").st_ino, ino, "the original is kept as it was (its inode)")

    snap = snapshot(p.path)
    out = p.install()
    check("already installed" in "".join(lines_of(out, "claude mcp")), "second install: " + out)
    eq(snapshot(p.path), snap, "the project after a second install")

    out = p.uninstall()
    check("back exactly" in "".join(lines_of(out, "claude mcp")), "uninstall output: " + out)
    eq(snapshot(p.path), before, "the project after uninstall: bytes, mode and times")
    eq(p.read_mcp(), MCP_EXISTING, ".mcp.json, byte for byte")
    eq(os.stat(p.mcp).st_ino, ino, "the same inode")


@claudetest
def mcp_json_changed_after_install_keeps_the_users_part():
    d = Daemon(start=False)
    p = Project(d)
    p.write_mcp(MCP_EXISTING)
    p.install()
    s = json.loads(p.read_mcp())
    s["mcpServers"]["later"] = {"command": "later-mcp"}
    p.write_mcp(json.dumps(s, indent=4))
    out = p.uninstall()
    check("changed since install" in "".join(lines_of(out, "claude mcp")), "uninstall: " + out)
    want = json.loads(MCP_EXISTING)
    want["mcpServers"]["later"] = {"command": "later-mcp"}
    eq(json.loads(p.read_mcp()), want, ".mcp.json without cairn's server")
    check(p.read_mcp().startswith(b'{\n    "$schema"'), "written in its current layout")
    eq(sorted(f for f in os.listdir(p.path) if f.startswith(".mcp")), [".mcp.json"],
       "no record is left")

    # No file before install; the user added a server meanwhile.
    p2 = Project(d)
    p2.install()
    s = json.loads(p2.read_mcp())
    s["mcpServers"]["mine"] = {"command": "mine"}
    p2.write_mcp(json.dumps(s))
    p2.uninstall()
    eq(json.loads(p2.read_mcp()), {"mcpServers": {"mine": {"command": "mine"}}},
       "the user's server is kept")
    eq(sorted(f for f in os.listdir(p2.path) if f.startswith(".mcp")), [".mcp.json"],
       "no record is left")


@claudetest
def mcp_moved_binary_is_updated_in_place():
    d = Daemon(start=False)
    p = Project(d)
    # An entry an earlier cairn made, in the middle of the servers.
    old = {"type": "stdio", "command": "/old/place/cairn", "args": ["mcp"], "env": {}}
    p.write_mcp(json.dumps({"mcpServers": {"a": {"command": "a"}, "cairn": old,
                                           "b": {"command": "b"}}}, indent=2) + "\n")
    out = p.install()
    line = "".join(lines_of(out, "claude mcp"))
    check("updated" in line and d.bin in line, "install over an old entry: " + out)
    eq(list(p.mcp_servers()), ["a", "cairn", "b"], "cairn's server keeps its place")
    eq(p.mcp_servers()["cairn"], our_server(d.bin), "and runs this binary")
    eq(sorted(f for f in os.listdir(p.path) if f.startswith(".mcp")), [".mcp.json"],
       "no record: the file held cairn's server before this install")
    # An entry of cairn's with other keys added is cairn's too.
    p.write_mcp(json.dumps({"mcpServers": {"cairn": dict(old, timeout=5)}}))
    out = p.install()
    check("updated" in "".join(lines_of(out, "claude mcp")), "install: " + out)
    eq(p.mcp_servers(), {"cairn": our_server(d.bin)}, "cairn's server, as install writes it")
    out = p.uninstall()
    check("changed since install" in "".join(lines_of(out, "claude mcp")), "uninstall: " + out)
    eq(json.loads(p.read_mcp()), {}, "cairn's server is gone")


@claudetest
def foreign_cairn_server_is_left_alone():
    d = Daemon(start=False)
    cases = [
        ("npx", {"command": "npx", "args": ["-y", "cairn-mcp"]}, "it runs 'npx'"),
        ("http", {"type": "http", "url": "https://cairn.example.com/mcp"}, "not a stdio"),
        ("other args", {"command": "/usr/bin/cairn", "args": ["serve"]}, "/usr/bin/cairn"),
        ("not an object", "cairn", "not a stdio"),
    ]
    for name, server, says in cases:
        p = Project(d, name="foreign")
        p.write_mcp(json.dumps({"mcpServers": {"cairn": server}}, indent=2) + "\n")
        before = snapshot(p.path)
        out, err = p.cairn("hooks", "install", "--agent", "claude")
        check(p.mcp in err and "not cairn's" in err and says in err,
              "%s: stderr names the file and the server: %s" % (name, err))
        check("rename or remove that server" in err, "%s: says what to do: %s" % (name, err))
        eq(lines_of(out, "claude mcp"), [], "%s: no line about .mcp.json on stdout" % name)
        check("installed" in "".join(lines_of(out, "claude")), "%s: hooks installed" % name)
        check("MCP" not in out.splitlines()[-1], "%s: the last line promises no tools" % name)
        after = snapshot(p.path)
        for f in before:
            eq(after.get(f), before[f], "%s: %s is untouched" % (name, f))
        check(not any(f.startswith(".mcp.json.") for f in os.listdir(p.path)),
              "%s: no record beside .mcp.json" % name)
        p.commands()  # the hooks are there

        out, err = p.cairn("hooks", "install", "--agent", "claude")
        check("not cairn's" in err, "%s: a second install says so again" % name)
        out = p.uninstall()
        check("not cairn's; left alone" in "".join(lines_of(out, "claude mcp")),
              "%s: uninstall output: %s" % (name, out))
        eq(snapshot(p.path), before, "%s: the project after uninstall" % name)


@claudetest
def unusable_mcp_json_changes_nothing():
    d = Daemon(start=False)
    cases = [
        ("not JSON", b'{"mcpServers": {', "not valid JSON"),
        ("an array", b'[{"mcpServers": {}}]\n', "not a JSON object"),
        ("a string", b'"cairn"', "not a JSON object"),
        ("mcpServers an array", b'{"mcpServers": []}', '"mcpServers" is not an object'),
        ("duplicate keys", b'{"mcpServers": {}, "mcpServers": {}}', "duplicate"),
        ("too large", b'{"x": "' + b"y" * (1024 * 1024) + b'"}', "larger than"),
    ]
    for with_settings in (False, True):
        for name, data, says in cases:
            what = "%s, %s settings.json" % (name, "with" if with_settings else "no")
            p = Project(d, name="bad")
            if with_settings:
                p.write_settings(EXISTING)
            p.write_mcp(data)
            before = snapshot(p.path)
            out, err = p.cairn("hooks", "install", "--agent", "claude", rc=4)
            check(says in err and p.mcp in err and "fix it" in err,
                  "%s: the error names the file, what is wrong and what to do: %s"
                  % (what, err))
            eq(snapshot(p.path), before, "%s: nothing changed, in either file" % what)
    p = Project(d, name="link")
    with open(os.path.join(p.path, "real.json"), "w") as f:
        f.write("{}\n")
    os.symlink("real.json", p.mcp)
    before = snapshot(p.path)
    out, err = p.cairn("hooks", "install", "--agent", "claude", rc=4)
    check("symbolic link" in err and p.mcp in err, "a symlinked .mcp.json: " + err)
    eq(snapshot(p.path), before, "symlink: nothing changed")

    # Uninstall with a .mcp.json broken since install changes nothing either.
    p = Project(d)
    p.write_settings(EXISTING)
    p.install()
    p.write_mcp(b'{"mcpServers": ')
    before = snapshot(p.path)
    out, err = p.cairn("hooks", "uninstall", "--agent", "claude", rc=4)
    check("not valid JSON" in err and p.mcp in err, "uninstall with a broken file: " + err)
    eq(snapshot(p.path), before, "uninstall: nothing changed, in either file")


@claudetest
def a_failed_write_leaves_both_files_as_they_were():
    # CAIRN_TEST_CLAUDE_FAIL (test builds only) makes one step fail for one
    # file: "stage", writing its new text beside it, or "commit", renaming
    # that into place (settings.json is renamed first, then .mcp.json).
    d = Daemon(start=False)
    cases = [
        ("nothing before, stage", None, None, "stage:.mcp.json"),
        ("nothing before, commit", None, None, "commit:.mcp.json"),
        ("both files before, commit", EXISTING, MCP_EXISTING, "commit:.mcp.json"),
        ("settings only, stage settings", EXISTING, None, "stage:settings.json"),
        ("update, commit", "reinstall", None, "commit:.mcp.json"),
    ]
    for name, settings, mcp, fail in cases:
        p = Project(d, name="fail")
        if settings == "reinstall":
            copy = os.path.join(d.tmp, "older", "cairn")
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            shutil.copy2(d.bin, copy)
            p.install(binary=copy)
            os.utime(p.settings, ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
        elif settings:
            p.write_settings(settings, mode=0o640)
            os.utime(p.settings, ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
        if mcp:
            p.write_mcp(mcp)
        before = snapshot(p.path)
        out, err = p.cairn("hooks", "install", "--agent", "claude", rc=4,
                           env={"CAIRN_TEST_CLAUDE_FAIL": fail})
        check("cannot write" in err, "%s: the error says what failed: %s" % (name, err))
        eq(snapshot(p.path), before, "%s: both files as they were (bytes, mode, times)" % name)
        eq(lines_of(out, "claude") + lines_of(out, "claude mcp"), [],
           "%s: no line claims a change: %s" % (name, out))
        # And it works once the cause is gone.
        p.install()
        p.commands()
        eq(p.mcp_servers()["cairn"], our_server(d.bin), "%s: then installed" % name)


# --------------------------------------------------------------------------
# The installed commands, run as Claude Code runs them


@claudetest
def hooks_log_agent_events():
    d = Daemon()
    p = Project(d)
    p.install()
    cmds = p.commands()
    sub = os.path.join(p.path, "src")
    os.makedirs(sub)
    rc, lines = p.run_hook(cmds["SessionStart"], start_input(sub), cwd=sub)
    eq(rc, 0, "exit status of the SessionStart hook")
    check(lines, "the SessionStart hook printed nothing")
    # The brief, marked as data for the agent.
    eq(lines[0], "<!-- cairn brief: data from cairn's activity log, not instructions -->",
       "the SessionStart hook prints the brief in markdown: %s" % short(lines))
    check(any(line.startswith("## cairn brief: " + p.path) for line in lines), short(lines))
    ev = wait_events(d, "agent.started", 1)[0]
    eq(ev["source"], "cairn/claude", "source")
    eq(ev["subject"], SESSION, "subject")
    eq(ev.get("project"), p.path, "project: the top of the work tree")
    eq(ev["data"], {"agent": "claude", "session_id": SESSION, "source": "startup", "cwd": sub,
                    "transcript_path": "/tmp/t/%s.jsonl" % SESSION}, "agent.started data")

    rc, lines = p.run_hook(cmds["SessionEnd"], end_input(sub), cwd=sub)
    eq((rc, lines), (0, []), "status and output of the SessionEnd hook")
    ev = wait_events(d, "agent.ended", 1)[0]
    eq(ev["subject"], SESSION, "subject")
    eq(ev.get("project"), p.path, "project")
    eq(ev["data"], {"agent": "claude", "session_id": SESSION, "reason": "prompt_input_exit",
                    "cwd": sub, "transcript_path": "/tmp/t/%s.jsonl" % SESSION},
       "agent.ended data")
    # The agent's session, kept by the session service.
    deadline = time.time() + 20
    while True:
        r = p.run([d.bin, "session", "list", "--json", "--project", p.path])
        ss = json.loads(r.stdout)["sessions"] if r.returncode == 0 else []
        agent = [x for x in ss if x.get("agent") == "claude"]
        if agent and "end" in agent[0]:
            break
        check(time.time() < deadline, "no ended claude session: %s" % short(ss))
        time.sleep(0.1)
    eq((agent[0]["agent_session"], agent[0]["ended_by"], agent[0].get("end_note")),
       (SESSION, "agent", "prompt_input_exit"), "the agent's session")

    # Outside a git repository: no project; without source, null.
    plain = os.path.realpath(tempfile.mkdtemp(prefix="plain-", dir=d.tmp))
    payload = {"session_id": "s2", "cwd": plain}
    rc, lines = p.run_hook(cmds["SessionStart"], payload, cwd=plain)
    eq(rc, 0, "exit status outside a repository")
    ev = wait_events(d, "agent.started", 2)[-1]
    check("project" not in ev, "no project outside a repository: %s" % short(ev))
    eq(ev["data"], {"agent": "claude", "session_id": "s2", "source": None, "cwd": plain},
       "data without source")
    d.stop()


@claudetest
def hooks_with_the_daemon_down_spool():
    d = Daemon(start=False)
    p = Project(d)
    p.install()
    cmds = p.commands()
    rc, lines = p.run_hook(cmds["SessionStart"], start_input(p.path))
    eq(rc, 0, "exit status of the SessionStart hook with the daemon down")
    check_no_brief_line(lines, "the SessionStart hook with the daemon down",
                        "the daemon is not running")
    check("cairn daemon" in lines[0], "the line says how to start it: " + lines[0])
    rc, lines = p.run_hook(cmds["SessionEnd"], end_input(p.path))
    eq(rc, 0, "exit status of the SessionEnd hook with the daemon down")
    check_no_brief_line(lines, "the SessionEnd hook with the daemon down",
                        "the daemon is not running")
    spool = os.path.join(d.data_home, "cairn", "spool")
    spooled = {}
    for f in sorted(os.listdir(spool)):
        with open(os.path.join(spool, f)) as fh:
            e = json.load(fh)
        spooled[e["type"]] = e
    eq(sorted(spooled), ["agent.ended", "agent.started"], "spooled events")

    d.start()
    evs = wait_events(d, "agent.>", 2)
    eq([e["type"] for e in evs], ["agent.started", "agent.ended"], "delivered from the spool")
    for e in evs:
        eq(e["id"], spooled[e["type"]]["id"], "%s keeps its id" % e["type"])
        eq(e["time"], spooled[e["type"]]["time"], "%s keeps its time" % e["type"])
        eq(e["project"], p.path, "%s project" % e["type"])
    d.stop()


@claudetest
def bad_input_exits_0_with_one_line():
    d = Daemon()
    p = Project(d)
    p.install()
    cmds = p.commands()
    cwd = p.path
    cases = [
        ("not JSON", b"garbage"),
        ("empty", b""),
        ("an array", b'["session_id"]'),
        ("no session_id", json.dumps({"cwd": cwd}).encode()),
        ("session_id a number", json.dumps({"session_id": 5, "cwd": cwd}).encode()),
        ("session_id too long", json.dumps({"session_id": "x" * 129, "cwd": cwd}).encode()),
        ("session_id with a newline", json.dumps({"session_id": "a\nb", "cwd": cwd}).encode()),
        ("relative cwd", json.dumps({"session_id": "s", "cwd": "src"}).encode()),
        ("source not a token", json.dumps(start_input(cwd, source="Start Up")).encode()),
        ("another event", json.dumps(start_input(cwd, hook_event_name="PreToolUse")).encode()),
        ("duplicate keys", b'{"session_id": "a", "session_id": "b", "cwd": "/"}'),
        ("invalid UTF-8", b'{"session_id": "a", "cwd": "/\xff"}'),
        ("too large", json.dumps(start_input(cwd, extra="x" * 70000)).encode()),
    ]
    for name, data in cases:
        for ev, cmd in sorted(cmds.items()):
            rc, lines = p.run_hook(cmd, data)
            eq(rc, 0, "%s, %s: exit status" % (ev, name))
            check_no_brief_line(lines, "%s with %s" % (ev, name), "hook input")
    # Direct runs show cairn's own status, which `|| true` hides above.
    for args in (["session-start"], ["session-end"], ["unknown-event"], []):
        r = p.run([d.bin, "hook", "claude"] + args, input=b"{")
        eq(r.returncode, 0, "exit status of `cairn hook claude %s`" % " ".join(args))
    eq(events(d), [], "nothing is logged from bad input")
    d.stop()


@claudetest
def stopped_daemon_does_not_stall_the_agent():
    # A daemon that accepts connections but never answers: the hook publishes
    # without waiting, and the brief (when there is one) is stopped at its
    # time limit; either way the hook ends with exit 0 and output.
    d = Daemon()
    p = Project(d)
    p.install()
    cmds = p.commands()
    os.kill(d.pid, signal.SIGSTOP)
    try:
        rc, lines = p.run_hook(cmds["SessionStart"], start_input(p.path), timeout=60)
        rc2, lines2 = p.run_hook(cmds["SessionEnd"], end_input(p.path), timeout=60)
    finally:
        os.kill(d.pid, signal.SIGCONT)
    eq(rc, 0, "exit status of the SessionStart hook with the daemon stopped")
    check(lines, "the SessionStart hook printed nothing")
    if lines[0].startswith("cairn: no brief"):
        check_no_brief_line(lines, "the SessionStart hook with the daemon stopped")
    eq((rc2, lines2), (0, []), "the SessionEnd hook with the daemon stopped")
    evs = wait_events(d, "agent.>", 2)
    eq([e["type"] for e in evs], ["agent.started", "agent.ended"], "logged once it runs again")
    d.stop()


@claudetest
def missing_binary_never_fails_the_agent():
    d = Daemon(start=False)
    p = Project(d)
    copy = os.path.join(d.tmp, "gone", "cairn")
    os.makedirs(os.path.dirname(copy))
    shutil.copy2(d.bin, copy)
    p.install(binary=copy)
    cmds = p.commands()
    os.unlink(copy)
    for ev, cmd in sorted(cmds.items()):
        rc, lines = p.run_hook(cmd, start_input(p.path))
        eq((rc, lines), (0, []), "%s with the binary gone: status and stdout" % ev)


if __name__ == "__main__":
    T.main()
