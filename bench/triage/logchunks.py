#!/usr/bin/env python3
"""Measures cairn's failure excerpt on LogChunks (398 failed Travis CI logs,
each with the chunk of lines a human marked as explaining the failure),
against the baseline "the last 50 lines of the log", in the same run.

For every log it runs a command (default: cairn triage --json) that prints a
JSON object with excerpt.lines[].text, and reports, for cairn and for the
baseline: the share of logs whose excerpt holds the whole labelled chunk
(every non-empty chunk line, in order), the share of labelled lines covered,
and the mean number of excerpt lines. Figures are given for the development
half of the repositories (even positions in the sorted list of owner@repo
directories), the held-out half (odd positions) and all, and per language.

Both sides are normalised before matching, because the labelled chunks lost
their ESC bytes and every '<': ANSI sequences and their ESC-less leftovers
("[m[37m") are removed, '<' is dropped, lines are trimmed and empty lines
ignored. A chunk line matches an excerpt line that equals it or contains it
(a few labels start or end inside a line), or that is its first 512 bytes
(cairn cuts longer lines there). "Reachable" is the share of logs whose
whole chunk lies within 50 consecutive cleaned lines: the ceiling for any
50-line excerpt.

Usage: bench/triage/logchunks.py [--cmd 'build/rel/tools/excerpt_dump {log}']
                                 [--misses]
The command runs in the repository's top directory, so relative paths such
as build/rel/cairn work from anywhere. --misses lists the development-half
logs whose chunk cairn misses (never the held-out half's, which must not
guide the rules). Stdlib only; runs two processes at a time; exits 0
whether or not the goal is met.
"""

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time

GOAL = 0.80
BASELINE_LINES = 50

ANSI = re.compile(
    r"\x1b\[[0-9;?]*[ -/]*[@-~]"  # CSI: colours, cursor, erase
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC and other strings
    r"|\x1b[()*+\-./#%].?"  # character set designation
    r"|\x1b."  # any other two-byte escape
)
# What is left of a CSI sequence that lost its ESC: "[0m", "[31;1m", "[?1h=".
LEFTOVER = re.compile(r"\[[0-9;?]*[A-Za-z]=?")


def norm(s):
    s = ANSI.sub("", s)
    s = s.replace("\x1b", "")
    s = LEFTOVER.sub("", s)
    return s.replace("<", "").strip()


def clean_log_line(s):
    """What a terminal shows of a raw line: the text after the last CR."""
    s = s.rstrip("\r")
    cr = s.rfind("\r")
    if cr >= 0:
        s = s[cr + 1:]
    return s


def log_lines(path):
    with open(path, "rb") as f:
        data = f.read().decode("utf-8", "replace")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def chunk_lines(chunk):
    out = []
    for raw in chunk.split("\n"):
        n = norm(clean_log_line(raw))
        if n:
            out.append(n)
    return out


# Excerpt lines are cut at 512 bytes; a line that long is taken to be cut.
CUT_AT = 512 - 4


def excerpt_lines(texts):
    """Normalised non-empty lines, each with whether it was cut."""
    out = []
    for t in texts:
        n = norm(t)
        if n:
            out.append((n, len(t.encode("utf-8")) >= CUT_AT))
    return out


def line_matches(want, got):
    """Whether a chunk line is shown by an excerpt line (normalised, cut)."""
    text, cut = got
    return want == text or want in text or (cut and want.startswith(text))


def score(chunk, excerpt):
    """(whole chunk in order, chunk lines covered) for normalised lines."""
    exact = {e[0] for e in excerpt}
    covered = 0
    for c in chunk:
        if c in exact or any(line_matches(c, e) for e in excerpt):
            covered += 1
    # In order: a greedy walk finds a subsequence when there is one.
    i = 0
    for c in chunk:
        while i < len(excerpt) and not line_matches(c, excerpt[i]):
            i += 1
        if i == len(excerpt):
            return False, covered
        i += 1
    return True, covered


def reachable(chunk, lines):
    """Whether some window of BASELINE_LINES consecutive log lines (cleaned
    as cairn cleans them, cut at 512 bytes) holds the whole chunk: the
    best any excerpt of that many lines could do."""
    if not chunk or len(chunk) > BASELINE_LINES:
        return False
    cleaned = []
    for t in lines:
        t = clean_log_line(t)
        b = t.encode("utf-8")
        if len(b) > 512:
            t = b[:512].decode("utf-8", "ignore")
        cleaned.append((norm(t), len(b) >= CUT_AT))
    for i, got in enumerate(cleaned):
        if not got[0] or not line_matches(chunk[0], got):
            continue
        k = 1
        j = i + 1
        while k < len(chunk) and j < len(cleaned) and j - i < BASELINE_LINES:
            if cleaned[j][0] and line_matches(chunk[k], cleaned[j]):
                k += 1
            j += 1
        if k == len(chunk):
            return True
    return False


def run_one(job):
    """Runs the command on one log; returns the figures for it."""
    cmd, root, top, rec = job
    path = os.path.join(root, "logs", rec["log"])
    chunk = chunk_lines(rec["chunk"])
    argv = [a.replace("{log}", path) for a in shlex.split(cmd)]
    err = None
    lines = []
    method = None
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                           cwd=top)
        if p.returncode != 0:
            err = "exit %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace").strip()[:200])
        else:
            obj = json.loads(p.stdout.decode("utf-8", "replace"))
            ex = obj["excerpt"]
            method = ex.get("method")
            lines = [l["text"] for l in ex["lines"]]
            nums = [l["line"] for l in ex["lines"]]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as e:
        err = "%s: %s" % (type(e).__name__, e)
    elapsed = time.monotonic() - t0
    cairn = excerpt_lines(lines)
    raw = log_lines(path)
    tail = excerpt_lines(clean_log_line(t) for t in raw[-BASELINE_LINES:])
    cw, cc = score(chunk, cairn)
    bw, bc = score(chunk, tail)
    return {
        "log": rec["log"],
        "chunk": len(chunk),
        "cairn": (cw, cc, len(lines)),
        "base": (bw, bc, min(len(raw), BASELINE_LINES)),
        "method": method,
        "err": err,
        "seconds": elapsed,
        "first": chunk[0] if chunk else "",
        "reachable": reachable(chunk, raw),
        "nums": nums if not err else [],
        "total": len(raw),
    }


def repo_of(log):
    return log.split("/")[1]


def summary(rows):
    n = len(rows)
    if n == 0:
        return None
    out = {"n": n}
    for k in ("cairn", "base"):
        out[k] = (
            sum(r[k][0] for r in rows) / n,
            sum(r[k][1] for r in rows) / max(1, sum(r["chunk"] for r in rows)),
            sum(r[k][2] for r in rows) / n,
        )
    out["reachable"] = sum(1 for r in rows if r["reachable"]) / n
    return out


def pct(x):
    return "%5.1f%%" % (100 * x)


def print_table(title, groups):
    print(title)
    print("  %-22s %5s  %-15s  %-15s  %-13s  %s" % (
        "", "logs", "whole chunk", "lines covered", "mean lines", "reachable"))
    print("  %-22s %5s  %-15s  %-15s  %-13s" % ("", "", "cairn   last50", "cairn   last50", "cairn last50"))
    for name, rows in groups:
        s = summary(rows)
        if not s:
            continue
        print("  %-22s %5d  %s %s  %s %s  %5.1f %5.1f   %s" % (
            name, s["n"], pct(s["cairn"][0]), pct(s["base"][0]), pct(s["cairn"][1]),
            pct(s["base"][1]), s["cairn"][2], s["base"][2], pct(s["reachable"])))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    top = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(top, "..", "shared", "data", "logchunks"),
                    help="directory with logs.tar.xz and labels.jsonl")
    ap.add_argument("--cmd", default="build/rel/cairn triage --json {log}",
                    help="command run per log; {log} is replaced by its path")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--half", choices=("dev", "held-out", "all"), default="all",
                    help="run on one half only (dev while developing: the held-out half "
                         "is for the final figures)")
    ap.add_argument("--misses", action="store_true",
                    help="list the development-half logs whose chunk cairn misses")
    args = ap.parse_args()

    with open(os.path.join(args.data, "labels.jsonl")) as f:
        labels = [json.loads(l) for l in f if l.strip()]
    repos = sorted({repo_of(r["log"]) for r in labels})
    dev = set(repos[0::2])
    if args.half != "all":
        labels = [r for r in labels if (repo_of(r["log"]) in dev) == (args.half == "dev")]

    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="logchunks.") as tmp:
        with tarfile.open(os.path.join(args.data, "logs.tar.xz")) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("logs/")
                       and ".." not in m.name.split("/")]
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, members=members, filter="data")
            else:
                tar.extractall(tmp, members=members)
        jobs = [(args.cmd, tmp, top, r) for r in labels]
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
            rows = list(pool.map(run_one, jobs, chunksize=4))
    wall = time.monotonic() - t0

    for r in rows:
        r["dev"] = repo_of(r["log"]) in dev
        r["lang"] = r["log"].split("/")[0]
    errs = [r for r in rows if r["err"]]
    devrows = [r for r in rows if r["dev"]]
    heldrows = [r for r in rows if not r["dev"]]

    print("LogChunks: %d logs from %d repositories (dev half: %d repositories, %d logs; "
          "held-out half: %d repositories, %d logs)" % (
              len(rows), len(repos), len(dev), len(devrows), len(repos) - len(dev), len(heldrows)))
    print("command: %s" % args.cmd)
    print("baseline: the last %d lines of the log" % BASELINE_LINES)
    if errs:
        print("command failed on %d logs (counted as empty excerpts), e.g. %s: %s" % (
            len(errs), errs[0]["log"], errs[0]["err"]))
    methods = {}
    for r in rows:
        methods[r["method"]] = methods.get(r["method"], 0) + 1
    print("methods: %s" % ", ".join("%s %d" % (k, v) for k, v in sorted(methods.items(), key=str)))
    print()
    print_table("split", [("dev", devrows), ("held-out", heldrows), ("all", rows)])
    print("  reachable: logs whose whole chunk lies within %d consecutive cleaned lines "
          "(the best any %d-line excerpt can do)" % (BASELINE_LINES, BASELINE_LINES))
    print()
    langs = sorted({r["lang"] for r in rows})
    groups = []
    for lang in langs:
        lr = [r for r in rows if r["lang"] == lang]
        halves = "".join(sorted({"d" if r["dev"] else "h" for r in lr}))
        groups.append(("%s (%s)" % (lang, halves), lr))
    print_table("by language (d: dev half, h: held-out half)", groups)
    print()
    times = sorted(r["seconds"] for r in rows if not r["err"])
    if times:
        print("per-log command time: median %.0f ms, max %.0f ms (includes process start); "
              "wall %.0f s" % (1000 * times[len(times) // 2], 1000 * times[-1], wall))
    s_all, s_held = summary(rows), summary(heldrows)
    verdict = "PASS" if s_all["cairn"][0] >= GOAL else "MISS"
    print("goal: whole chunk in excerpt >= %d%% of logs: %s (all %s, held-out %s, dev %s; "
          "last50 all %s)" % (100 * GOAL, verdict, pct(s_all["cairn"][0]).strip(),
                               pct(s_held["cairn"][0]).strip() if s_held else "-",
                               pct(summary(devrows)["cairn"][0]).strip() if devrows else "-",
                               pct(s_all["base"][0]).strip()))
    if args.misses:
        print()
        print("dev-half logs whose whole chunk cairn misses:")
        for r in devrows:
            if r["cairn"][0]:
                continue
            runs = []
            for n in r["nums"]:
                if runs and runs[-1][1] == n - 1:
                    runs[-1][1] = n
                else:
                    runs.append([n, n])
            print("  %s%s chunk=%d covered=%d/%d lines=%d/%d runs=%s first=%r" % (
                "" if r["reachable"] else "(unreachable) ", r["log"], r["chunk"], r["cairn"][1], r["chunk"], r["cairn"][2], r["total"],
                ",".join("%d-%d" % tuple(x) for x in runs), r["first"][:70]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
