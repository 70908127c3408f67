import collections, math, sys, os
D = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "data", "commands")
def load(u):
    with open(os.path.join(D, u), errors="replace") as f:
        return [l.split()[0] for l in f if l.strip()]

class Row:
    __slots__ = ("n", "e")
    def __init__(self):
        self.n = 0; self.e = {}
    def update(self, a, x):
        w, at = self.e.get(x, (0.0, self.n))
        self.e[x] = (w * a ** (self.n + 1 - at) + (1 - a), self.n + 1)
        self.n += 1
    def dist(self, a):
        tot = 1 - a ** self.n
        if self.n == 0 or tot <= 0: return {}
        return {k: w * a ** (self.n - at) / tot for k, (w, at) in self.e.items()}
    def d(self): return len(self.e)

def evaluate(model_fn, users=("USER1", "USER2"), verbose=True):
    tot = [0, 0, 0]; per = {}
    for u in users:
        cmds = load(u); m = model_fn()
        n = t1 = t5 = 0
        for i, c in enumerate(cmds):
            r = m.predict(5) if i > 0 else []
            n += 1; t1 += r[:1] == [c]; t5 += c in r[:5]
            m.learn(c)
        per[u] = (n, 100. * t1 / n, 100. * t5 / n)
        tot[0] += n; tot[1] += t1; tot[2] += t5
    res = (100. * tot[1] / tot[0], 100. * tot[2] / tot[0])
    if verbose:
        print("  ".join("%s %.1f/%.1f" % (u, p[1], p[2]) for u, p in per.items()), " ALL %.1f/%.1f" % res)
    return res, per

def rank(scores, last, k):
    return [w for w, _ in sorted(scores.items(), key=lambda kv: (-kv[1], -last.get(kv[0], 0), kv[0]))][:k]

class Current:
    """Replica of the shipped C model."""
    A0, A1, A2, AS = 0.95, 0.90, 0.95, 0.90
    WS, BL, BP = 0.2, 0.05, 0.10
    def __init__(self):
        self.rows = collections.defaultdict(Row); self.h = []; self.last = {}; self.t = 0
    def predict(self, k):
        h = self.h; w1 = h[-1] if h else None; w2 = h[-2] if len(h) > 1 else None
        sc = collections.defaultdict(float); left = 1.0
        for ctx, a, use in ((("2", w2, w1), self.A2, w2 is not None), (("1", w1), self.A1, w1 is not None), (("0",), self.A0, True)):
            if not use or ctx not in self.rows: continue
            r = self.rows[ctx]
            if r.n <= 0: continue
            share = left * r.n / (r.n + r.d()); left -= share
            for x, p in r.dist(a).items(): sc[x] += share * p
        if w2 is not None and ("s", w2) in self.rows:
            for x, p in self.rows[("s", w2)].dist(self.AS).items(): sc[x] += self.WS * p
        if not sc: return []
        if w1: sc[w1] += self.BL
        if w2: sc[w2] += self.BP
        return rank(sc, self.last, k)
    def learn(self, c):
        h = self.h; w1 = h[-1] if h else None; w2 = h[-2] if len(h) > 1 else None
        self.rows[("0",)].update(self.A0, c)
        if w1: self.rows[("1", w1)].update(self.A1, c)
        if w1 and w2:
            self.rows[("2", w2, w1)].update(self.A2, c); self.rows[("s", w2)].update(self.AS, c)
        self.t += 1; self.last[c] = self.t
        h.append(c)
        if len(h) > 8: del h[0]

if __name__ == "__main__":
    evaluate(Current)
