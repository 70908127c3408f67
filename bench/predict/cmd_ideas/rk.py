import collections, math, sys, random
from comb import steps, rank, ppm

EXPS = ["o0", "o0s", "o1", "o1f", "o1r", "o2", "o2r", "s2", "o3", "o3r", "s3", "s23", "o4", "o5", "o6"]

class FS:
    def __init__(self, spec):
        self.spec = spec; self.names = {}
    def idx(self, name):
        if name not in self.names: self.names[name] = len(self.names)
        return self.names[name]
    def feats(self, st):
        ex = st["ex"]
        if not ex: return {}
        spec = self.spec
        cand = set()
        for k, (n, d, dist) in ex.items():
            if k.startswith("o0"):
                cand |= set(x for x, _ in sorted(dist.items(), key=lambda kv: -kv[1])[:15])
            else: cand |= set(dist)
        cand |= set(st["lru"])
        out = {x: [] for x in cand}
        ranks = {}
        for k in EXPS:
            if k not in ex or k not in spec["exp"]: continue
            n, d, dist = ex[k]
            conf = n / (n + d)
            cb = 0 if n < 2 else 1 if n < 5 else 2 if n < 20 else 3
            order = sorted(dist, key=lambda x: -dist[x])
            for r, x in enumerate(order):
                if x not in out: continue
                out[x].append((self.idx(k + ":p"), dist[x]))
                if "pc" in spec: out[x].append((self.idx(k + ":pc"), dist[x] * conf))
                if "rank" in spec and r < 3:
                    out[x].append((self.idx("%s:r%d" % (k, r)), 1.0))
                    if "rankb" in spec: out[x].append((self.idx("%s:r%d:b%d" % (k, r, cb)), 1.0))
        if "mix" in spec:
            mix = ppm(st, ("o2", "o1", "o0"))
            order = sorted(mix, key=lambda x: -mix[x])
            for r, x in enumerate(order):
                if x not in out: continue
                out[x].append((self.idx("mix"), mix[x]))
                if r < 5: out[x].append((self.idx("mix:r%d" % r), 1.0))
        lrur = {x: i for i, x in enumerate(st["lru"])}
        for x in out:
            r = lrur.get(x)
            if r is not None: out[x].append((self.idx("lru%d" % r), 1.0))
        out = {x: f for x, f in out.items()}
        return out

def prep(users, fs):
    return [[(st, fs.feats(st) if st["i"] else None) for st in steps(u)] for u in users]

def score(th, f):
    return sum(th[j] * v for j, v in f if j < len(th))

def fit_logit(data, nf, epochs=3, lr=0.1, l2=1e-5):
    th = [0.0] * nf; G = [1e-8] * nf
    tr = [(st, F) for st, F in data if F and st["c"] in F]
    for ep in range(epochs):
        random.Random(ep).shuffle(tr)
        for st, F in tr:
            s = {x: score(th, f) for x, f in F.items()}
            m = max(s.values()); z = sum(math.exp(v - m) for v in s.values())
            g = collections.defaultdict(float)
            for j, v in F[st["c"]]: g[j] += v
            for x, f in F.items():
                p = math.exp(s[x] - m) / z
                if p < 1e-6: continue
                for j, v in f: g[j] -= p * v
            for j, gj in g.items():
                gj -= l2 * th[j]
                G[j] += gj * gj; th[j] += lr * gj / math.sqrt(G[j])
    return th

def fit_perc(data, nf, epochs=5, top=1):
    th = [0.0] * nf; acc = [0.0] * nf; c = 1
    tr = [(st, F) for st, F in data if F and st["c"] in F]
    for ep in range(epochs):
        random.Random(ep).shuffle(tr)
        for st, F in tr:
            s = {x: score(th, f) for x, f in F.items()}
            best = max(s, key=s.get)
            if best != st["c"]:
                for j, v in F[st["c"]]: th[j] += v; acc[j] += c * v
                for j, v in F[best]: th[j] -= v; acc[j] -= c * v
            c += 1
    return [t - a / c for t, a in zip(th, acc)]

def evalth(data, th):
    n = a = b = 0
    for st, F in data:
        n += 1
        if not F: continue
        s = {x: score(th, f) for x, f in F.items()}
        r = rank(s, st)
        a += r[:1] == [st["c"]]; b += st["c"] in r[:5]
    return n, a, b

def report(name, spec, fitter, **kw):
    fs = FS(spec)
    d1, d2 = prep(["USER1", "USER2"], fs)
    nf = len(fs.names)
    th = fitter(d1 + d2, nf, **kw)
    i1, i2 = evalth(d1, th), evalth(d2, th)
    th1 = fitter(d1, nf, **kw); th2 = fitter(d2, nf, **kw)
    c2, c1 = evalth(d2, th1), evalth(d1, th2)
    f = lambda e: "%.1f/%.1f" % (100. * e[1] / e[0], 100. * e[2] / e[0])
    g = lambda a, b: "%.2f/%.2f" % (100. * (a[1] + b[1]) / (a[0] + b[0]), 100. * (a[2] + b[2]) / (a[0] + b[0]))
    print("%-34s nf=%3d in: U1 %s U2 %s ALL %s | cross: U1 %s U2 %s ALL %s" % (name, nf, f(i1), f(i2), g(i1, i2), f(c1), f(c2), g(c1, c2)))
    sys.stdout.flush()
    return fs, th

if __name__ == "__main__":
    base = ["o0", "o0s", "o1", "o1f", "o2", "s2", "o3", "s3", "s23"]
    allx = EXPS
    which = sys.argv[1:]
    if "a" in which: report("logit p,pc,mix base", {"exp": base, "pc": 1, "mix": 1}, fit_logit)
    if "b" in which: report("logit p,pc,rank,mix all", {"exp": allx, "pc": 1, "rank": 1, "mix": 1}, fit_logit)
    if "c" in which: report("perc p,pc,rank,mix all", {"exp": allx, "pc": 1, "rank": 1, "mix": 1}, fit_perc)
    if "d" in which: report("logit rankb all", {"exp": allx, "pc": 1, "rank": 1, "rankb": 1, "mix": 1}, fit_logit)
    if "e" in which: report("perc rankb all", {"exp": allx, "pc": 1, "rank": 1, "rankb": 1, "mix": 1}, fit_perc)

def online(data, th0, lr=0.05, l2=0.0):
    th = list(th0); G = [1.0] * len(th)
    n = a = b = 0
    for st, F in data:
        n += 1
        if not F: continue
        s = {x: score(th, f) for x, f in F.items()}
        r = rank(s, st)
        a += r[:1] == [st["c"]]; b += st["c"] in r[:5]
        if st["c"] not in F: continue
        m = max(s.values()); z = sum(math.exp(v - m) for v in s.values())
        g = collections.defaultdict(float)
        for j, v in F[st["c"]]: g[j] += v
        for x, f in F.items():
            p = math.exp(s[x] - m) / z
            if p < 1e-6: continue
            for j, v in f: g[j] -= p * v
        for j, gj in g.items():
            gj -= l2 * (th[j] - th0[j])
            G[j] += gj * gj; th[j] += lr * gj / math.sqrt(G[j])
    return n, a, b

def report_online(name, spec, lrs=(0.02, 0.05, 0.1)):
    fs = FS(spec)
    d1, d2 = prep(["USER1", "USER2"], fs)
    nf = len(fs.names)
    th1 = fit_logit(d1, nf); th2 = fit_logit(d2, nf)
    for lr in lrs:
        c1, c2 = online(d1, th2, lr), online(d2, th1, lr)
        z1, z2 = online(d1, [0.0] * nf, lr * 4), online(d2, [0.0] * nf, lr * 4)
        f = lambda e: "%.1f/%.1f" % (100. * e[1] / e[0], 100. * e[2] / e[0])
        g = lambda a, b: "%.2f/%.2f" % (100. * (a[1] + b[1]) / (a[0] + b[0]), 100. * (a[2] + b[2]) / (a[0] + b[0]))
        print("%-30s lr %.2f prior-cross+online: U1 %s U2 %s ALL %s | from zero lr*4: ALL %s" % (name, lr, f(c1), f(c2), g(c1, c2), g(z1, z2)))
        sys.stdout.flush()
