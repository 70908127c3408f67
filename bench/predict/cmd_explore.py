#!/usr/bin/env python3
"""A fast Python replica of the next-command model of src/services/cmdpredict.c
(issue 10), to try ideas in seconds rather than through the daemon
(bench/predict/commands.py is the real benchmark). It walks each data file
online the same way: before command i the model has learned 0..i-1.

  shipped   the model as src/services/cmdpredict.c has it now: the top-1
            of the mixed orders, then slots 2-5 reranked with a share of
            the order-0 row and of the recency ranks (diversified top-5)
  before    the model before that change (3aec538): one ranking for all five

Usage: cmd_explore.py [--heldout] [--model shipped|before] [DATAFILE...]
Tune on USER1 and USER2 only; --heldout adds USER3 and USER4, to report.
"""
import argparse
import collections
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "..", "shared", "data", "commands")

# The constants of src/services/cmdpredict.c.
A0, A1, A2, AS = 0.95, 0.90, 0.95, 0.90
WEIGHT_SKIP, BONUS_LAST, BONUS_PREV = 0.2, 0.05, 0.10
DIV_ORDER0 = 0.2   # slots 2-5: + this x the order-0 row
DIV_RECENT = 0.2   # slots 2-5: + this x gamma^rank / sum over the recent commands
DIV_GAMMA = 0.8
DIV_RECENT_N = 10  # the distinct commands most recently run


def load(path):
    with open(path, errors="replace") as f:
        return [line.split()[0] for line in f if line.strip()]


class Row:
    """An IPAM row with lazy decay: entry -> (w as of update `at`, at)."""
    __slots__ = ("n", "e")

    def __init__(self):
        self.n = 0
        self.e = {}

    def update(self, a, x):
        w, at = self.e.get(x, (0.0, self.n))
        self.e[x] = (w * a ** (self.n + 1 - at) + (1 - a), self.n + 1)
        self.n += 1

    def dist(self, a):
        tot = 1 - a ** self.n
        if self.n == 0 or tot <= 0:
            return {}
        return {k: w * a ** (self.n - at) / tot for k, (w, at) in self.e.items()}


class Model:
    def __init__(self, diversify=True):
        self.rows = collections.defaultdict(Row)
        self.w1 = self.w2 = None
        self.diversify = diversify

    def predict(self, k=5):
        w1, w2, rows = self.w1, self.w2, self.rows
        sc = collections.defaultdict(float)
        left = 1.0
        for ctx, a in ((("2", w2, w1), A2), (("1", w1), A1), (("0",), A0)):
            if None in ctx or ctx not in rows or rows[ctx].n == 0:
                continue
            r = rows[ctx]
            share = left * r.n / (r.n + len(r.e))
            left -= share
            for x, p in r.dist(a).items():
                sc[x] += share * p
        if w2 is not None and ("s", w2) in rows:
            for x, p in rows[("s", w2)].dist(AS).items():
                sc[x] += WEIGHT_SKIP * p
        if not sc:
            return []
        if w1:
            sc[w1] += BONUS_LAST
        if w2:
            sc[w2] += BONUS_PREV
        # Ties: the more recently run (the C code: the best part's last time).
        r0 = rows[("0",)]
        at = {x: at for x, (_, at) in r0.e.items()}
        ranked = sorted(sc, key=lambda x: (-sc[x], -at.get(x, -1), x))
        if not self.diversify:
            return ranked[:k]
        sc2 = dict(sc)
        for x, p in r0.dist(A0).items():
            sc2[x] = sc2.get(x, 0.0) + DIV_ORDER0 * p
        recent = sorted(at, key=lambda x: -at[x])[:DIV_RECENT_N]
        z = sum(DIV_GAMMA ** i for i in range(len(recent)))
        for i, x in enumerate(recent):
            sc2[x] = sc2.get(x, 0.0) + DIV_RECENT * DIV_GAMMA ** i / z
        rest = sorted((x for x in sc2 if x != ranked[0]),
                      key=lambda x: (-sc2[x], -at.get(x, -1), x))
        return ranked[:1] + rest[:k - 1]

    def learn(self, c):
        w1, w2, rows = self.w1, self.w2, self.rows
        rows[("0",)].update(A0, c)
        if w1:
            rows[("1", w1)].update(A1, c)
        if w1 and w2:
            rows[("2", w2, w1)].update(A2, c)
            rows[("s", w2)].update(AS, c)
        self.w2, self.w1 = w1, c


def walk(path, diversify):
    m = Model(diversify)
    n = t1 = t5 = 0
    for i, c in enumerate(load(path)):
        r = m.predict() if i > 0 else []
        n += 1
        t1 += r[:1] == [c]
        t5 += c in r[:5]
        m.learn(c)
    return n, t1, t5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="*")
    ap.add_argument("--heldout", action="store_true")
    ap.add_argument("--model", choices=("shipped", "before"), default="shipped")
    a = ap.parse_args()
    users = ["USER1", "USER2"] + (["USER3", "USER4"] if a.heldout else [])
    paths = a.data or [os.path.join(DATA, u) for u in users]
    groups = collections.OrderedDict()
    for p in paths:
        name = os.path.basename(p)
        n, t1, t5 = walk(p, a.model == "shipped")
        print("%-10s %6d  top-1 %5.1f%%  top-5 %5.1f%%" % (name, n, 100. * t1 / n, 100. * t5 / n))
        g = "tuned (USER1, USER2)" if name in ("USER1", "USER2") else "held out"
        for key in (g, "all"):
            s = groups.setdefault(key, [0, 0, 0])
            s[0] += n
            s[1] += t1
            s[2] += t5
    for g, (n, t1, t5) in groups.items():
        print("%-22s %6d  top-1 %5.2f%%  top-5 %5.2f%%" % (g, n, 100. * t1 / n, 100. * t5 / n))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
