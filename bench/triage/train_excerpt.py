#!/usr/bin/env python3
"""Trains the line model of cairn's failure excerpt on the development half
of LogChunks and writes it as C data (src/services/excerpt_weights.h).

The model is a logistic regression that says how likely a line of a CI log
is to belong to the chunk a person marked as explaining the failure. Its
features are those src/services/excerpt_model.c computes, and this script
computes them the same way (tests/unit/test_excerpt.c checks that both give
the same scores on tests/data/excerpt_model/golden.log): the words of the
line and of the lines next to it, the score and the kind of line the
hand-written rules see (src/services/excerpt_line.c, read through
`excerpt_dump --lines`), the rules' scores within 10 lines, and where the
line stands among the CI markers: in the output of the command that failed
or of one that passed, how far before the failing command's end marker and
after its command line, how far from the end of the log, inside a Travis CI
fold, in a failing command's last words. No library: a logistic regression
over 236 dense features and some 1,600 words needs none; it is fitted by
plain AdaGrad with L2.

Only the development half of the repositories is read (even positions in
the sorted list of owner@repo directories, as bench/triage/logchunks.py
splits them); the held-out half is never opened. --cv chooses the
hyper-parameters (PARAMS) by cross-validation over repositories inside the
development half: each of 4 folds of repositories is scored by a model
trained on the other 3, by the lines the model alone would choose (choose(),
as excerpt.c's choose_by_model()) and whether they hold the whole labelled
chunk.

Usage: bench/triage/train_excerpt.py [--cv [--grid JSON...]] [--write]
  --cv     cross-validation by repository, for PARAMS or each JSON object
           of settings given with --grid (e.g. '{"l2": 0.03}')
  --write  trains on the whole development half with PARAMS and writes
           src/services/excerpt_weights.h and tests/data/excerpt_model/golden.tsv
It needs build/rel/tools/excerpt_dump (make build/rel/tools/excerpt_dump).
Stdlib only (no numpy); about 20 s per cross-validation and 40 s to write,
on one core.
"""

import argparse
import array
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import logchunks  # noqa: E402  (the same normalisation and matching)

# ---- the features: keep in step with src/services/excerpt_model.c ----------

# Flags of excerpt_int.h.
F_BLANK = 1 << 0
F_INDENT = 1 << 1
F_FRAME = 1 << 2
F_CMD = 1 << 3
F_END_FAIL = 1 << 4
F_END_OK = 1 << 5
F_DONE = 1 << 6
F_DIAG = 1 << 7
F_DIAG_START = 1 << 8
F_DIAG_FIRST = 1 << 9
F_BOILER = 1 << 10
F_WRAPPER = 1 << 11
F_FOLD_START = 1 << 13
F_FOLD_END = 1 << 14
F_ANNOT = 1 << 15
F_MARK = F_CMD | F_END_FAIL | F_END_OK | F_DONE

SELF_FLAGS = [F_BLANK, F_INDENT, F_FRAME, F_CMD, F_END_FAIL, F_END_OK, F_DONE, F_DIAG,
              F_DIAG_START, F_DIAG_FIRST, F_BOILER, F_WRAPPER, F_FOLD_START, F_FOLD_END,
              F_ANNOT]
PREV_FLAGS = [F_BLANK, F_INDENT, F_FRAME, F_CMD]
NEXT_FLAGS = [F_BLANK, F_INDENT, F_FRAME, F_END_FAIL]

# Sections: where the line stands among the CI markers after it.
S_NOMARK, S_LAST_FAIL, S_FAIL, S_OK, S_NOEND, S_AFTER, S_OPEN = range(7)
NSECT = 7
NLOG2 = 14
NPOS = 8

# Dense feature offsets, in the order of excerpt_model.c.
D_BIAS = 0
D_RS_SELF = 1
D_RS_BEFORE = D_RS_SELF + 8
D_RS_AFTER = D_RS_BEFORE + 4
D_FLAG_SELF = D_RS_AFTER + 4
D_FLAG_PREV = D_FLAG_SELF + len(SELF_FLAGS)
D_FLAG_NEXT = D_FLAG_PREV + len(PREV_FLAGS)
D_LEN = D_FLAG_NEXT + len(NEXT_FLAGS)
D_SECT = D_LEN + 4
D_DIST_FAIL = D_SECT + NSECT
D_DIST_CMD = D_DIST_FAIL + NLOG2
D_DIST_END = D_DIST_CMD + NLOG2
D_POS = D_DIST_END + NLOG2
D_FOLD = D_POS + NPOS
D_TAIL = D_FOLD + 1
D_RS_SECT = D_TAIL + 1  # rule score bucket (4) x failing section or not (2)
D_FAIL_RS = D_RS_SECT + 8  # to_fail_end x rule score bucket
D_END_RS = D_FAIL_RS + NLOG2 * 4  # to_log_end x rule score bucket
D_REL_RS = D_END_RS + NLOG2 * 4  # the best score of the failing output minus this one
D_WIN5 = D_REL_RS + 4  # the best score within 5 lines (not this one)
D_WIN10 = D_WIN5 + 4  # the sum of the scores within 10 lines
NDENSE = D_WIN10 + 5

DENSE_NAMES = (["bias"] + ["rs=%s" % b for b in ("0", "1", "2", "3", "4-5", "6-8", "9-11", "12+")]
               + ["rs_before=%s" % b for b in ("0", "1-3", "4-8", "9+")]
               + ["rs_after=%s" % b for b in ("0", "1-3", "4-8", "9+")]
               + ["self:" + n for n in ("blank", "indent", "frame", "cmd", "end_fail", "end_ok",
                                        "done", "diag", "diag_start", "diag_first", "boiler",
                                        "wrapper", "fold_start", "fold_end", "annot")]
               + ["prev:" + n for n in ("blank", "indent", "frame", "cmd")]
               + ["next:" + n for n in ("blank", "indent", "frame", "end_fail")]
               + ["len<=%s" % b for b in ("15", "60", "200", "512")]
               + ["sect:" + n for n in ("nomark", "last_fail", "fail", "ok", "noend", "after",
                                        "open")]
               + ["to_fail_end:%d" % k for k in range(NLOG2)]
               + ["from_cmd:%d" % k for k in range(NLOG2)]
               + ["to_log_end:%d" % k for k in range(NLOG2)]
               + ["pos:%d/8" % k for k in range(NPOS)]
               + ["in_fold", "in_tail"]
               + ["rs4=%d,%s" % (b, s) for s in ("other", "failing") for b in range(4)]
               + ["to_fail_end:%d,rs4=%d" % (k, b) for k in range(NLOG2) for b in range(4)]
               + ["to_log_end:%d,rs4=%d" % (k, b) for k in range(NLOG2) for b in range(4)]
               + ["best-rs=%s" % b for b in ("0", "1-2", "3-5", "6+")]
               + ["win5=%s" % b for b in ("0", "1-3", "4-8", "9+")]
               + ["win10=%s" % b for b in ("0", "1-5", "6-15", "16-40", "41+")])
assert len(DENSE_NAMES) == NDENSE

MAX_TOKENS = 32  # tokens read per line
MAX_TOKEN_LEN = 32  # longer tokens (hashes, base64) are not words
TAIL_LINES = 3
TAIL_LOOK = 4 * TAIL_LINES
TAIL_MAX = 16


def fnv1a(b):
    h = 2166136261
    for c in b:
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


_IS_ALNUM = [False] * 256
for _c in b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _IS_ALNUM[_c] = True
_TOKEN_CACHE = {}


def tokens(text):
    """The hashes of the words of a line's text (bytes): runs of ASCII
    letters and digits, lower-cased, each run of digits turned into one
    '0', at most MAX_TOKENS, those longer than MAX_TOKEN_LEN bytes left
    out."""
    out = []
    n = len(text)
    i = 0
    while i < n and len(out) < MAX_TOKENS:
        if not _IS_ALNUM[text[i]]:
            i += 1
            continue
        j = i
        while j < n and _IS_ALNUM[text[j]]:
            j += 1
        w = text[i:j]
        i = j
        h = _TOKEN_CACHE.get(w)
        if h is None:
            t = bytearray()
            prev_digit = False
            for c in w.lower():
                d = 48 <= c <= 57
                if d and prev_digit:
                    continue
                t.append(48 if d else c)
                prev_digit = d
            h = fnv1a(bytes(t)) if len(t) <= MAX_TOKEN_LEN else 0
            if len(_TOKEN_CACHE) < 500000:
                _TOKEN_CACHE[w] = h
        if h:
            out.append(h)
    return out


def rs_bucket(s):
    if s <= 3:
        return max(s, 0)
    if s <= 5:
        return 4
    if s <= 8:
        return 5
    if s <= 11:
        return 6
    return 7


def rs4(s):
    return 0 if s <= 0 else 1 if s <= 3 else 2 if s <= 8 else 3


def log2b(d):
    if d <= 0:
        return 0
    return min(d.bit_length(), NLOG2 - 1)


def len_bucket(n):
    return 0 if n <= 15 else 1 if n <= 60 else 2 if n <= 200 else 3


def tails(scores, flags):
    """The lines in the last words of a failing command (excerpt.c's
    add_tail): a set of line numbers."""
    n = len(flags)
    spans = []

    def add(end, include_end):
        c = end
        got = looked = 0
        first = last = None
        first_iter = True
        while True:
            if include_end and first_iter:
                pass
            else:
                if c == 0:
                    break
                c -= 1
            first_iter = False
            if got == TAIL_LINES:
                break
            looked += 1
            if looked > TAIL_LOOK:
                break
            f = flags[c]
            if f & F_MARK:
                break
            if f & (F_BLANK | F_WRAPPER | F_BOILER):
                continue
            if got == 0:
                last = c
            got += 1
            first = c
        if got:
            spans.append((first, last))

    any_fail = False
    for i in range(n):
        if flags[i] & F_END_FAIL:
            any_fail = True
            add(i, False)
    if n and not any_fail:
        add(n - 1, True)
    out = set()
    for a, b in spans[-TAIL_MAX:]:
        out.update(range(a, b + 1))
    return out


def structure(flags):
    """For each line: (section, lines to the failing end marker or -1,
    lines since the last command or -1, in a fold)."""
    n = len(flags)
    marks = [i for i in range(n) if flags[i] & F_MARK]
    # Failing end markers at or after each marker index.
    fails_from = [0] * (len(marks) + 1)
    for k in range(len(marks) - 1, -1, -1):
        fails_from[k] = fails_from[k + 1] + (1 if flags[marks[k]] & F_END_FAIL else 0)
    any_fail_or_done = [False] * (len(marks) + 1)  # before marker k
    seen = False
    for k, m in enumerate(marks):
        any_fail_or_done[k] = seen
        if flags[m] & (F_END_FAIL | F_DONE):
            seen = True
    any_fail_or_done[len(marks)] = seen
    out = []
    k = 0  # first marker after the line
    last_cmd = -1
    fold = False
    for i in range(n):
        while k < len(marks) and marks[k] <= i:
            k += 1
        f = flags[i]
        if f & F_FOLD_START:
            fold = True
        elif f & F_FOLD_END:
            fold = False
        dist_fail = -1
        if not marks:
            sect = S_NOMARK
        elif k == len(marks):
            sect = S_AFTER if any_fail_or_done[k] else S_OPEN
        else:
            mf = flags[marks[k]]
            if mf & F_CMD:
                sect = S_NOEND
            elif mf & F_END_FAIL:
                sect = S_LAST_FAIL if fails_from[k + 1] == 0 else S_FAIL
                dist_fail = marks[k] - i
            elif mf & F_END_OK:
                sect = S_OK
            elif any_fail_or_done[k]:
                sect = S_AFTER
            else:
                # "Done. Your build exited with 1." with no failing
                # command before: its output is the failure.
                sect = S_LAST_FAIL
                dist_fail = marks[k] - i
        out.append((sect, dist_fail, i - last_cmd if last_cmd >= 0 else -1, fold))
        if f & F_CMD:
            last_cmd = i
    return out


def best_failing(scores, st):
    """The best rule score in the output of failing commands (of the whole
    log when nothing there scores)."""
    best = max((scores[i] for i in range(len(scores))
                if scores[i] > 0 and st[i][0] in (S_LAST_FAIL, S_FAIL)), default=None)
    return best if best is not None else max(scores, default=0)


def rel_bucket(d):
    return 0 if d <= 0 else 1 if d <= 2 else 2 if d <= 5 else 3


def sum_bucket(v):
    return 0 if v <= 0 else 1 if v <= 5 else 2 if v <= 15 else 3 if v <= 40 else 4


def dense_features(i, n, scores, flags, lens, st, tail, best):
    """The dense features of line i (a list of indices)."""
    s = scores[i]
    f = flags[i]
    out = [D_BIAS, D_RS_SELF + rs_bucket(s)]
    before = max(scores[max(0, i - 2):i], default=0)
    after = max(scores[i + 1:i + 3], default=0)
    out.append(D_RS_BEFORE + rs4(before))
    out.append(D_RS_AFTER + rs4(after))
    for k, b in enumerate(SELF_FLAGS):
        if f & b:
            out.append(D_FLAG_SELF + k)
    if i > 0:
        for k, b in enumerate(PREV_FLAGS):
            if flags[i - 1] & b:
                out.append(D_FLAG_PREV + k)
    if i + 1 < n:
        for k, b in enumerate(NEXT_FLAGS):
            if flags[i + 1] & b:
                out.append(D_FLAG_NEXT + k)
    if not f & F_BLANK:
        out.append(D_LEN + len_bucket(lens[i]))
    sect, dist_fail, dist_cmd, fold = st[i]
    out.append(D_SECT + sect)
    failing = sect in (S_LAST_FAIL, S_FAIL)
    if dist_fail >= 0:
        out.append(D_DIST_FAIL + log2b(dist_fail))
    if dist_cmd >= 0 and failing:
        out.append(D_DIST_CMD + log2b(dist_cmd))
    out.append(D_DIST_END + log2b(n - 1 - i))
    out.append(D_POS + (i * NPOS) // n)
    if fold:
        out.append(D_FOLD)
    if i in tail:
        out.append(D_TAIL)
    out.append(D_RS_SECT + rs4(s) + (4 if failing else 0))
    if dist_fail >= 0:
        out.append(D_FAIL_RS + 4 * log2b(dist_fail) + rs4(s))
    out.append(D_END_RS + 4 * log2b(n - 1 - i) + rs4(s))
    if s > 0:
        out.append(D_REL_RS + rel_bucket(best - s))
    w5 = max(max(scores[max(0, i - 5):i], default=0), max(scores[i + 1:i + 6], default=0))
    out.append(D_WIN5 + rs4(w5))
    out.append(D_WIN10 + sum_bucket(sum(scores[max(0, i - 10):i + 11])))
    return out


class Log:
    """One log as the excerpt's pass reads it, with its label."""

    def __init__(self, name, repo, facts, chunk, span, raw):
        self.name = name
        self.repo = repo
        self.scores = [f[0] for f in facts]
        self.flags = [f[1] for f in facts]
        self.lens = [len(f[2]) for f in facts]
        self.toks = [tokens(f[2]) for f in facts]
        self.chunk = chunk  # normalised chunk lines
        self.span = span  # (first, last) line of the chunk in the log, or None
        self.raw = raw  # the log's lines as the benchmark reads them
        n = len(facts)
        st = structure(self.flags)
        tail = tails(self.scores, self.flags)
        best = best_failing(self.scores, st)
        self.dense = [array.array("H", dense_features(i, n, self.scores, self.flags, self.lens,
                                                      st, tail, best)) for i in range(n)]

    def __len__(self):
        return len(self.flags)


def read_facts(dump, path):
    p = subprocess.run([dump, "--lines", path], stdout=subprocess.PIPE, check=True)
    facts = []
    for row in p.stdout.split(b"\n"):
        if not row:
            continue
        parts = row.split(b"\t", 3)
        facts.append((int(parts[1]), int(parts[2], 16), parts[3] if len(parts) > 3 else b""))
    return facts


def locate(chunk, raw):
    """The first and last line of the log that the chunk spans (its lines
    in order, at most 20 lines apart), the shortest such; or None."""
    if not chunk:
        return None
    cleaned = []
    for t in raw:
        t = logchunks.clean_log_line(t)
        b = t.encode("utf-8")
        if len(b) > 512:
            t = b[:512].decode("utf-8", "ignore")
        cleaned.append((logchunks.norm(t), len(b) >= logchunks.CUT_AT))
    best = None
    for i, got in enumerate(cleaned):
        if not got[0] or not logchunks.line_matches(chunk[0], got):
            continue
        k, j, last = 1, i + 1, i
        while k < len(chunk) and j < len(cleaned):
            if cleaned[j][0] and logchunks.line_matches(chunk[k], cleaned[j]):
                k += 1
                last = j
            elif j - last > 20:
                break
            j += 1
        if k == len(chunk) and (best is None or last - i < best[1] - best[0]):
            best = (i, last)
    return best


def load_dev(data, dump, only=None):
    """The development half's logs (or the `only` repositories of it)."""
    with open(os.path.join(data, "labels.jsonl")) as f:
        labels = [json.loads(l) for l in f if l.strip()]
    repos = sorted({logchunks.repo_of(r["log"]) for r in labels})
    dev = set(repos[0::2])
    if only is not None:
        dev &= set(only)
    labels = [r for r in labels if logchunks.repo_of(r["log"]) in dev]
    want = {"logs/" + r["log"] for r in labels}
    logs = []
    with tempfile.TemporaryDirectory(prefix="train_excerpt.") as tmp:
        with tarfile.open(os.path.join(data, "logs.tar.xz")) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name in want]
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, members=members, filter="data")
            else:
                tar.extractall(tmp, members=members)
        for r in labels:
            path = os.path.join(tmp, "logs", r["log"])
            raw = logchunks.log_lines(path)
            chunk = logchunks.chunk_lines(r["chunk"])
            facts = read_facts(dump, path)
            if len(facts) != len(raw):
                raise SystemExit("%s: excerpt_dump sees %d lines, the benchmark %d" % (
                    r["log"], len(facts), len(raw)))
            logs.append(Log(r["log"], logchunks.repo_of(r["log"]), facts, chunk,
                            locate(chunk, raw), raw))
    return logs


# ---- the model ---------------------------------------------------------------


class Model:
    """Weights: dense[NDENSE] and, for each word (by hash), three: for the
    word in the line itself, in the line before it and in the line after
    it."""

    def __init__(self, vocab):
        self.vocab = {h: k for k, h in enumerate(sorted(vocab))}
        self.nw = NDENSE + 3 * len(self.vocab)
        self.w = [0.0] * self.nw

    def line_features(self, log, i):
        v = self.vocab
        out = list(log.dense[i])
        for h in log.toks[i]:
            k = v.get(h)
            if k is not None:
                out.append(NDENSE + 3 * k)
        if i > 0:
            for h in log.toks[i - 1]:
                k = v.get(h)
                if k is not None:
                    out.append(NDENSE + 3 * k + 1)
        if i + 1 < len(log):
            for h in log.toks[i + 1]:
                k = v.get(h)
                if k is not None:
                    out.append(NDENSE + 3 * k + 2)
        return out

    def scores(self, log, w=None):
        w = self.w if w is None else w
        return [sum(w[k] for k in self.line_features(log, i)) for i in range(len(log))]

    def quantized(self):
        return [max(-32767, min(32767, int(round(x * SCALE)))) for x in self.w]


def examples(model, logs, rng, params):
    """(features, label, weight) for training: every line near the chunk,
    scored by the rules or a CI marker, and a sample of the rest. Each log
    weighs the same, its chunk lines half of that."""
    out = []
    near = params["near"]
    keep = params["keep"]
    for log in logs:
        if log.span is None:
            continue
        a, b = log.span
        n = len(log)
        npos = b - a + 1
        nneg = n - npos
        for i in range(n):
            pos = a <= i <= b
            if pos or (a - near <= i <= b + near) or log.scores[i] > 0 or log.flags[i] & F_MARK:
                wgt = 1.0
            elif rng.random() < keep:
                wgt = 1.0 / keep
            else:
                continue
            if pos:
                wgt *= params["pos_share"] / npos
            else:
                wgt *= (1 - params["pos_share"]) / max(1, nneg)
            out.append((model.line_features(log, i), 1 if pos else 0, wgt))
    return out


def train(logs, params, seed=1, quiet=True):
    """A logistic regression fitted by AdaGrad with L2, stronger on words
    than on the dense features; words count only when they occur in at
    least min_repos repositories, so that no project's own names are
    learned."""
    rng = random.Random(seed)
    repos_of = {}
    for log in logs:
        seen = set()
        for t in log.toks:
            seen.update(t)
        for h in seen:
            repos_of.setdefault(h, set()).add(log.repo)
    vocab = [h for h, r in repos_of.items() if len(r) >= params["min_repos"]]
    model = Model(vocab)
    ex = examples(model, logs, rng, params)
    total = sum(e[2] for e in ex)
    scale = len(ex) / total  # the mean example weighs 1
    w = model.w
    g2 = [1e-8] * model.nw
    lr = params["lr"]
    for epoch in range(params["epochs"]):
        rng.shuffle(ex)
        loss = 0.0
        for feats, y, wgt in ex:
            z = 0.0
            for k in feats:
                z += w[k]
            p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
            g = (p - y) * wgt * scale
            loss -= wgt * (math.log(p + 1e-12) if y else math.log(1 - p + 1e-12))
            for k in feats:
                gk = g + (params["l2"] if k < NDENSE else params["l2_words"]) * w[k]
                g2[k] += gk * gk
                w[k] -= lr * gk / math.sqrt(g2[k])
        if not quiet:
            print("  epoch %d: loss %.4f (%d examples, %d words)" % (
                epoch, loss / total, len(ex), len(vocab)), flush=True)
    return model


# ---- choosing the lines: as excerpt.c does it --------------------------------


def useful_end(flags):
    """The line after the last failing end marker, else the first "Done."
    line, else the end of the log (excerpt.c's useful_end())."""
    for i in range(len(flags) - 1, -1, -1):
        if flags[i] & F_END_FAIL:
            return i + 1
    for i in range(len(flags)):
        if flags[i] & F_DONE:
            return i
    return len(flags)


def choose(z, flags, budget, params, init=()):
    """The lines the excerpt shows, given each line's score z (excerpt.c's
    choose_by_model()): starting from the runs in init, one line at a
    time, either a run grows by the line next to it whose side looks best
    (the best score among the next LOOK lines on that side), or a new run
    starts at the best line not yet shown, when that beats every growth;
    nothing under TAU is taken, at most NEW runs are started, and only in
    the output of a failing command when a command failed. What budget is
    left goes to the lines around the runs."""
    n = len(z)
    st = structure(flags)
    failing = [s[0] in (S_LAST_FAIL, S_FAIL) for s in st]
    if any(failing):
        z_seed = [z[i] if failing[i] else None for i in range(n)]
    else:
        z_seed = z
    tau, pen, new_max, look = params["tau"], params["penalty"], params["new"], params["look"]
    chosen = set(init)
    runs = []
    for i in sorted(chosen):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    order = sorted((i for i in range(n) if z_seed[i] is not None),
                   key=lambda i: (-z[i], i))[:SEED_MAX]
    oi = 0
    new = 0

    def front(r, d):
        v = None
        j = r[1] if d > 0 else r[0]
        for _ in range(look):
            j += d
            if j < 0 or j >= n or j in chosen:
                break
            v = z[j] if v is None else max(v, z[j])
        return v

    while len(chosen) < min(budget, n):
        best = None
        for r in runs:
            for d in (1, -1):
                v = front(r, d)
                if v is not None and v >= tau and (best is None or v > best[0]):
                    best = (v, r, d)
        while oi < len(order) and any(r[0] - 1 <= order[oi] <= r[1] + 1 for r in runs):
            oi += 1
        if oi < len(order) and new < new_max:
            s = order[oi]
            v = z[s] - pen
            if v >= tau and (best is None or v > best[0]):
                chosen.add(s)
                runs.append([s, s])
                new += 1
                continue
        if best is None:
            break
        _, r, d = best
        if d > 0:
            r[1] += 1
            chosen.add(r[1])
        else:
            r[0] -= 1
            chosen.add(r[0])
        runs.sort()
        merged = []
        for r in runs:
            if merged and r[0] <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], r[1])
            else:
                merged.append(r)
        runs = merged
    if not runs and n:
        chosen.add(n - 1)
        runs.append([n - 1, n - 1])
    for stop in (useful_end(flags), n):
        grew = True
        while len(chosen) < min(budget, n) and grew:
            grew = False
            for r in runs:
                if len(chosen) >= budget:
                    break
                if r[1] + 1 < stop and r[1] + 1 not in chosen:
                    r[1] += 1
                    chosen.add(r[1])
                    grew = True
                if len(chosen) < budget and r[0] > 0 and r[0] - 1 not in chosen:
                    r[0] -= 1
                    chosen.add(r[0])
                    grew = True
    return sorted(chosen)


def whole(log, lines):
    """Whether the lines hold the whole chunk, as the benchmark judges."""
    texts = []
    for i in lines:
        t = logchunks.clean_log_line(log.raw[i])
        b = t.encode("utf-8")
        if len(b) > 512:
            t = b[:512].decode("utf-8", "ignore")
        texts.append(t)
    return logchunks.score(log.chunk, logchunks.excerpt_lines(texts))[0]


# ---- the setting, chosen by --cv ---------------------------------------------

SCALE = 256  # weights are stored as integers, in 1/SCALE of a logit
SEED_MAX = 64  # best lines kept as places to start a run (excerpt.c)

PARAMS = {
    # training
    "min_repos": 4,  # a word counts when this many repositories use it
    "near": 100,  # lines around the chunk always in the training set
    "keep": 0.1,  # of the other lines (not scored, not markers), this share
    "pos_share": 0.5,  # of each log's weight, on its chunk lines
    "lr": 0.1,
    "l2": 1e-2,  # on the dense features
    "l2_words": 1e-1,  # on the words: they are what differs most by project
    "epochs": 4,
    # choosing (excerpt.c's TAU, PENALTY, NEW_RUNS, LOOK)
    "tau": -1.0,
    "penalty": 0.0,
    "new": 2,
    "look": 4,
}

FOLDS = 4


def cross_validate(logs, grid):
    """Trains on 3 folds of the development repositories, chooses on the
    4th, for every setting in grid; prints the share of logs whose whole
    chunk the 50 chosen lines hold."""
    repos = sorted({l.repo for l in logs})
    fold_of = {r: k % FOLDS for k, r in enumerate(repos)}
    for setting in grid:
        params = dict(PARAMS, **setting)
        t0 = time.monotonic()
        zs = {}
        for k in range(FOLDS):
            model = train([l for l in logs if fold_of[l.repo] != k], params)
            for l in logs:
                if fold_of[l.repo] == k:
                    zs[l.name] = model.scores(l)
        hits = sum(1 for l in logs if l.span is not None
                   and whole(l, choose(zs[l.name], l.flags, 50, params)))
        last = sum(1 for l in logs if l.span is not None
                   and whole(l, range(max(0, len(l) - 50), len(l))))
        print("%-50s whole chunk %5.1f%% (%d/%d; last 50 lines %d)  %.0f s" % (
            json.dumps(setting), 100.0 * hits / len(logs), hits, len(logs), last,
            time.monotonic() - t0), flush=True)


# ---- writing the model -------------------------------------------------------


def word_table(model, q):
    """The words' weights as an open-addressing table of a power-of-two
    size, indexed by hash & mask with linear probing; words whose three
    weights are 0 are left out."""
    rows = []
    for h, k in sorted(model.vocab.items()):
        w = q[NDENSE + 3 * k:NDENSE + 3 * k + 3]
        if any(w):
            rows.append((h, w))
    bits = 4
    while (1 << bits) < 2 * len(rows):
        bits += 1
    size = 1 << bits
    table = [None] * size
    for h, w in rows:
        j = h & (size - 1)
        while table[j] is not None:
            j = (j + 1) & (size - 1)
        table[j] = (h, w)
    return bits, table


def write_header(path, model, q, note):
    bits, table = word_table(model, q)
    out = []
    out.append("/* The line model of the failure excerpt: weights written by")
    out.append(" * bench/triage/train_excerpt.py --write; do not edit by hand.")
    for line in note:
        out.append(" * %s" % line)
    out.append(" * Weights are in 1/MODEL_SCALE of a logit; see excerpt_model.c for the")
    out.append(" * features and docs/excerpt.md for how they were learned. */")
    out.append("#ifndef CAIRN_EXCERPT_WEIGHTS_H")
    out.append("#define CAIRN_EXCERPT_WEIGHTS_H")
    out.append("")
    out.append("#include <stdint.h>")
    out.append("")
    out.append("#define MODEL_SCALE %d" % SCALE)
    out.append("#define MODEL_NDENSE %d" % NDENSE)
    out.append("#define MODEL_WORD_BITS %d" % bits)
    out.append("")
    out.append("/* The dense features, in the order of excerpt_model.c. */")
    out.append("static const int16_t model_dense[MODEL_NDENSE] = {")
    for k in range(NDENSE):
        out.append("\t%d, /* %s */" % (q[k], DENSE_NAMES[k]))
    out.append("};")
    out.append("")
    out.append("/* A word's weights: in the line itself, in the line before, in the line")
    out.append(" * after. Slot hash & mask, linear probing; hash 0 is an empty slot. */")
    out.append("struct model_word {")
    out.append("\tuint32_t hash;")
    out.append("\tint16_t w[3];")
    out.append("};")
    out.append("")
    out.append("static const struct model_word model_words[1u << MODEL_WORD_BITS] = {")
    for j, row in enumerate(table):
        if row is not None:
            h, w = row
            out.append("\t[%d] = {0x%08xu, {%d, %d, %d}}," % (j, h, w[0], w[1], w[2]))
    out.append("};")
    out.append("")
    out.append("#endif")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return sum(1 for r in table if r is not None), bits


def write_golden(dump, model, q, log_path, out_path):
    """The scores the model gives each line of a fixed log, for the test
    that excerpt_model.c computes the same (tests/unit/test_excerpt.c)."""
    facts = read_facts(dump, log_path)
    log = Log(os.path.basename(log_path), "", facts, [], None, [])
    z = model.scores(log, q)
    with open(out_path, "w") as f:
        f.write("# The score of each line of golden.log (line, score in 1/%d of a logit),\n"
                "# written by bench/triage/train_excerpt.py --write with the weights of\n"
                "# src/services/excerpt_weights.h.\n" % SCALE)
        for i, v in enumerate(z):
            f.write("%d\t%d\n" % (i, v))
    return len(z)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(TOP, "..", "shared", "data", "logchunks"))
    ap.add_argument("--dump", default=os.path.join(TOP, "build", "rel", "tools", "excerpt_dump"),
                    help="excerpt_dump built from this tree (make build/rel/tools/excerpt_dump)")
    ap.add_argument("--cv", action="store_true", help="cross-validate by repository")
    ap.add_argument("--grid", nargs="*", default=[],
                    help="with --cv: settings to try, as JSON objects over PARAMS")
    ap.add_argument("--write", action="store_true",
                    help="train on the whole development half and write the model")
    args = ap.parse_args()
    if not args.cv and not args.write:
        ap.error("say --cv, --write or both")
    t0 = time.monotonic()
    logs = load_dev(args.data, args.dump)
    print("read %d logs from %d repositories of the development half (chunk found in %d) "
          "in %.0f s" % (len(logs), len({l.repo for l in logs}),
                         sum(1 for l in logs if l.span), time.monotonic() - t0), flush=True)
    if args.cv:
        cross_validate(logs, [json.loads(g) for g in args.grid] or [{}])
    if args.write:
        model = train(logs, PARAMS, quiet=False)
        q = model.quantized()
        zq = {l.name: model.scores(l, q) for l in logs}
        hits = sum(1 for l in logs if l.span and whole(l, choose(zq[l.name], l.flags, 50,
                                                                 PARAMS)))
        note = ["Trained on the %d logs of the %d development repositories of" % (
                    len(logs), len({l.repo for l in logs})),
                "LogChunks; alone, the model's 50 lines hold the whole chunk of %d" % hits,
                "of them (seen in training)."]
        nwords, bits = write_header(os.path.join(TOP, "src", "services", "excerpt_weights.h"),
                                    model, q, note)
        gdir = os.path.join(TOP, "tests", "data", "excerpt_model")
        nlines = write_golden(args.dump, model, q, os.path.join(gdir, "golden.log"),
                              os.path.join(gdir, "golden.tsv"))
        print("wrote src/services/excerpt_weights.h (%d dense weights, %d words in %d slots) "
              "and tests/data/excerpt_model/golden.tsv (%d lines); in-sample whole chunk %d/%d"
              % (NDENSE, nwords, 1 << bits, nlines, hits, len(logs)))
        fmt = shutil.which("clang-format")
        if fmt:
            subprocess.run([fmt, "-i", os.path.join(TOP, "src", "services", "excerpt_weights.h")],
                           check=True)
        else:
            print("run clang-format -i src/services/excerpt_weights.h (make fmt-check)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
