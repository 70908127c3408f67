#!/usr/bin/env python3
"""`cairn mcp` (src/mcp/mcp.c, src/cli/cmd_mcp.c): the recorded transcripts of
tests/data/mcp/ (each protocol version, bad requests, unknown methods,
notifications never answered), stdout carrying nothing but protocol, an
oversized line, several servers writing at once, and the daemon down."""
import json
import os
import re
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Daemon, Suite, TestFailure, check, eq, short  # noqa: E402

T = Suite(per_test_timeout=180)
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "mcp")


def project(d):
    p = os.path.realpath(os.path.join(d.tmp, "proj"))
    os.makedirs(p, exist_ok=True)
    subprocess.run(["git", "init", "-q", p], check=True)
    return p


def mcp(d, p, lines, timeout=60):
    """Runs one `cairn mcp` with lines on stdin; returns (rc, out lines, err)."""
    r = subprocess.run([d.bin, "mcp", "--project", p], input="".join(lines).encode(),
                       capture_output=True, env=d.env(), timeout=timeout, cwd=p)
    out = r.stdout.decode("utf-8", "replace").split("\n")
    if out and out[-1] == "":
        out.pop()
    return r.returncode, out, r.stderr.decode("utf-8", "replace")


def match(exp, got, where):
    if isinstance(exp, str) and exp == "$any":
        return
    if isinstance(exp, str) and exp.startswith("$re:"):
        check(isinstance(got, str) and re.search(exp[4:], got, re.S),
              "%s: %r does not match /%s/" % (where, short(got, 300), exp[4:]))
        return
    if isinstance(exp, dict):
        check(isinstance(got, dict), "%s: expected an object, got %s" % (where, short(got, 300)))
        for k, v in exp.items():
            check(k in got, "%s: key %r missing in %s" % (where, k, short(got, 400)))
            match(v, got[k], where + "." + k)
        return
    if isinstance(exp, list):
        check(isinstance(got, list) and len(got) == len(exp),
              "%s: expected %d items, got %s" % (where, len(exp), short(got, 400)))
        for i, (a, b) in enumerate(zip(exp, got)):
            match(a, b, "%s[%d]" % (where, i))
        return
    eq(got, exp, where)


def replay(name):
    d = Daemon()
    try:
        p = project(d)
        steps = [json.loads(l) for l in open(os.path.join(DATA, name))]
        lines, expects = [], []
        for s in steps:
            if "send" in s:
                lines.append(json.dumps(s["send"]) + "\n")
            elif "send_raw" in s:
                lines.append(s["send_raw"] + "\n")
            else:
                expects.append((len(lines), s["expect"]))
        rc, out, err = mcp(d, p, lines)
        eq(rc, 0, "cairn mcp's exit status (%s)" % short(err))
        for i, (after, exp) in enumerate(expects):
            check(i < len(out), "%s: no response to line %d (%s); stderr: %s"
                  % (name, after, short(lines[after - 1], 200), short(err)))
            got = json.loads(out[i])
            match(exp, got, "%s line %d response" % (name, after))
        eq(len(out), len(expects), "%s: responses (extra ones: %s)"
           % (name, short(out[len(expects):], 500)))
        d.stop()
    finally:
        d.cleanup()


@T.test
def legacy_2025_06_18():
    replay("legacy-2025-06-18.jsonl")


@T.test
def legacy_2025_11_25():
    replay("legacy-2025-11-25.jsonl")


@T.test
def legacy_unknown_version_gets_newest():
    replay("legacy-unknown-version.jsonl")


@T.test
def stateless_2026_07_28():
    replay("stateless-2026-07-28.jsonl")


@T.test
def bad_requests():
    replay("bad.jsonl")


@T.test
def oversized_line_is_refused_and_the_server_goes_on():
    d = Daemon()
    try:
        p = project(d)
        big = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + "a" * (1024 * 1024 + 10) + '"}}\n'
        rc, out, err = mcp(d, p, [big, '{"jsonrpc":"2.0","id":2,"method":"ping"}\n'])
        eq(rc, 0, "exit status")
        eq(len(out), 2, "two responses: %s" % short(out, 300))
        first = json.loads(out[0])
        eq(first["error"]["code"], -32600, "the oversized line's error")
        check("over the" in first["error"]["message"], short(first))
        eq(json.loads(out[1]), {"jsonrpc": "2.0", "id": 2, "result": {}}, "the next ping")
        d.stop()
    finally:
        d.cleanup()


@T.test
def daemon_down_still_answers_and_says_so_on_stderr():
    d = Daemon(start=False)
    try:
        p = project(d)
        rc, out, err = mcp(d, p, [
            '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"record_knowledge",'
            '"arguments":{"kind":"note","title":"written with the daemon down"}}}\n',
            '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_brief"}}\n'])
        eq(rc, 0, "exit status (%s)" % short(err))
        check("daemon is not running" in err, "stderr says the daemon is down: " + short(err))
        r1 = json.loads(out[0])["result"]
        eq(r1["isError"], False, "record with the daemon down: %s" % short(r1))
        brief = json.loads(out[1])["result"]["structuredContent"]["brief"]
        check("not running" in brief, "the brief says the daemon is down:\n" + brief)
        # Every line on stdout is a JSON-RPC message, nothing else.
        for line in out:
            check(json.loads(line).get("jsonrpc") == "2.0", "stdout line: " + short(line))
    finally:
        d.cleanup()


@T.test
def several_servers_write_at_once():
    d = Daemon()
    try:
        p = project(d)
        n_proc, n_each = 4, 25
        results = [None] * n_proc

        def worker(k):
            lines = ['{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":'
                     '"record_knowledge","arguments":{"kind":"note","title":"note %d from server %d"}}}\n'
                     % (i, i, k) for i in range(n_each)]
            results[k] = mcp(d, p, lines, timeout=120)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_proc)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = set()
        for k, (rc, out, err) in enumerate(results):
            eq(rc, 0, "server %d exit (%s)" % (k, short(err)))
            eq(len(out), n_each, "server %d responses" % k)
            for line in out:
                r = json.loads(line)["result"]
                eq(r["isError"], False, "server %d: %s" % (k, short(r)))
                ids.add(r["structuredContent"]["id"])
        eq(len(ids), n_proc * n_each, "distinct entries recorded")
        rc, out, err = d.cli(["kb", "list", "--json", "--limit", "200", "--project", p])
        eq(rc, 0, "kb list: " + short(err))
        titles = [json.loads(l)["title"] for l in out.splitlines() if l.strip()]
        eq(len([t for t in titles if t.startswith("note ")]), n_proc * n_each, "entries in the kb")
        # Each went through the daemon (its record op), which told the
        # log (kb.added), once each.
        c = d.conn()
        eq(c.status().get("recorded"), n_proc * n_each, "entries recorded by the daemon")
        evs = c.query_all(pattern="kb.added")
        eq(len(evs), n_proc * n_each, "kb.added events")
        c.close()
        d.stop()
    finally:
        d.cleanup()


if __name__ == "__main__":
    sys.exit(T.main())
