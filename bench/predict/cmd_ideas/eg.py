import collections, math, sys
from comb import steps, rank, run, ppm

def lru_dist(st, g=0.6):
    l = st["lru"]; z = sum(g ** i for i in range(len(l)))
    return {x: g ** i / z for i, x in enumerate(l)}

class EG:
    def __init__(self, exps, eta=1.0, share=0.01, floor=0.02, ctxw=False, ppmx=False, bonus=False):
        self.exps = exps; self.eta = eta; self.share = share; self.floor = floor
        self.ctxw = ctxw; self.ppmx = ppmx; self.bonus = bonus
        self.w = collections.defaultdict(lambda: {k: 1.0 / len(exps) for k in exps})
        self.cur = None
    def key(self, st):
        if not self.ctxw: return 0
        ex = st["ex"]; b = []
        for k in ("o1", "o2"):
            n = ex[k][0] if k in ex else 0
            b.append(0 if n == 0 else 1 if n < 3 else 2 if n < 10 else 3)
        return tuple(b)
    def dists(self, st):
        ds = {}
        base = st["ex"].get("o0s", (0, 0, {}))[2]
        for k in self.exps:
            if k == "lru": d = lru_dist(st)
            elif k == "ppm": d = ppm(st, ("o2", "o1", "o0"))
            elif k == "ppm3": d = ppm(st, ("o3", "o2", "o1", "o0"))
            elif k in st["ex"]: d = st["ex"][k][2]
            else: d = {}
            ds[k] = d
        return ds, base
    def predict(self, st):
        ds, base = self.dists(st)
        w = self.w[self.key(st)]
        sc = collections.defaultdict(float)
        for k, d in ds.items():
            for x, p in d.items(): sc[x] += w[k] * p
        self.cur = (ds, base)
        if not sc: return []
        if self.bonus:
            h = st["h"]
            if h: sc[h[-1]] += 0.05
            if len(h) > 1: sc[h[-2]] += 0.10
        return rank(sc, st)
    def learn(self, st):
        if self.cur is None: return
        ds, base = self.cur; c = st["c"]; b = base.get(c, 0.0) + 1e-4
        w = self.w[self.key(st)]
        for k, d in ds.items():
            p = (1 - self.floor) * d.get(c, 0.0) + self.floor * b if d else b
            w[k] *= p ** self.eta
        z = sum(w.values())
        for k in w: w[k] = (1 - self.share) * w[k] / z + self.share / len(w)
        self.cur = None

E1 = ["o0", "o1", "o2", "s2", "lru"]
E2 = ["o0", "o0s", "o1", "o1f", "o1r", "o2", "o2r", "s2", "o3", "s3", "s23", "lru"]
E3 = ["ppm", "ppm3", "o1", "o1r", "o2", "s2", "s23", "lru", "o4"]
if __name__ == "__main__":
  for name, exps in (("E1", E1), ("E2", E2), ("E3", E3)):
    for eta, share, ctxw in ((1.0, 0.01, False), (0.3, 0.01, False), (0.3, 0.001, True), (1.0, 0.01, True)):
        run(lambda st, m: m.predict(st), make=lambda: EG(exps, eta, share, ctxw=ctxw), name="EG %s eta %.1f share %.3f ctx %d" % (name, eta, share, ctxw))
