from comb import *
def argmax(d):
    return max(d, key=lambda x: (d[x], x)) if d else None
class Sel:
    def __init__(self, exps, key="w1", a=0.9, prior=0.02, glob=False):
        self.exps = exps; self.key = key; self.a = a; self.prior = prior; self.glob = glob
        self.acc = collections.defaultdict(lambda: collections.defaultdict(float)); self.cur = None
    def k(self, st):
        h = st["h"]
        if self.key == "w1": return h[-1] if h else None
        if self.key == "w2w1": return h[-2:] 
        return 0
    def predict(self, st):
        base = current(st)
        if not base: self.cur = None; return []
        picks = {"cur": base[0]}
        h = st["h"]
        for e in self.exps:
            if e == "rep": picks[e] = h[-1] if h else None
            elif e == "prev": picks[e] = h[-2] if len(h) > 1 else None
            elif e in st["ex"]: picks[e] = argmax(st["ex"][e][2])
        self.cur = picks
        A = self.acc[self.k(st)]
        G = self.acc["*GLOBAL*"]
        def val(e):
            v = A[e] + (self.prior if e == "cur" else 0)
            if self.glob: v += 0.1 * G[e]
            return v
        best = max((e for e in picks if picks[e]), key=val)
        top = picks[best]
        return [top] + [x for x in base if x != top][:4]
    def learn(self, st):
        if not self.cur: return
        for A in (self.acc[self.k(st)], self.acc["*GLOBAL*"]):
            for e, x in self.cur.items():
                A[e] = self.a * A[e] + (1 - self.a) * (x == st["c"])
E = ["o1", "o2", "o1r", "o2r", "s2", "rep", "prev", "c2", "o3"]
for key in ("w1", "w2w1", "all"):
    for a in (0.8, 0.9, 0.97):
        for prior in (0.0, 0.05):
            run(lambda st, m: m.predict(st), make=lambda: Sel(E, key, a, prior), name="select %s a %.2f prior %.2f" % (key, a, prior))
