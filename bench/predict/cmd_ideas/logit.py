import collections, math, sys, random
from comb import steps, rank, run, ppm

EXP = ["o0", "o0s", "o1", "o1f", "o2", "s2", "o3", "s3", "s23"]

def feats(st, fset):
    ex = st["ex"]; h = st["h"]
    cand = set()
    for k, (n, d, dist) in ex.items():
        if k.startswith("o0"):
            cand |= set(x for x, _ in sorted(dist.items(), key=lambda kv: -kv[1])[:15])
        else: cand |= set(dist)
    cand |= set(st["lru"])
    if not ex: return {}
    mix = ppm(st, ("o2", "o1", "o0"))
    conf = {k: n / (n + d) for k, (n, d, _) in ex.items()}
    lrur = {x: i for i, x in enumerate(st["lru"])}
    out = {}
    for x in cand:
        f = []
        if "p" in fset:
            for k in EXP:
                p = ex[k][2].get(x, 0.0) if k in ex else 0.0
                f.append(p)
        if "pc" in fset:
            for k in ("o1", "o2", "o3", "s2", "s23"):
                p = ex[k][2].get(x, 0.0) if k in ex else 0.0
                f.append(p * conf.get(k, 0))
        if "mix" in fset: f.append(mix.get(x, 0.0))
        if "lru" in fset:
            r = lrur.get(x, 99)
            f += [1.0 if r == j else 0.0 for j in range(10)]
        if "log" in fset:
            for k in ("o0", "o1", "o2", "s2"):
                p = ex[k][2].get(x, 0.0) if k in ex else 0.0
                f.append(math.log(p + 1e-3))
        out[x] = f
    return out

def prep(users, fset):
    data = []
    for u in users:
        for st in steps(u):
            if st["i"] == 0: data.append((st, None)); continue
            data.append((st, feats(st, fset)))
    return data

def fit(data, nf, epochs=4, lr=0.05, l2=1e-4):
    th = [0.0] * nf; G = [1e-8] * nf
    tr = [(st, F) for st, F in data if F and st["c"] in F]
    for ep in range(epochs):
        random.Random(ep).shuffle(tr)
        ll = 0
        for st, F in tr:
            s = {x: sum(a * b for a, b in zip(th, f)) for x, f in F.items()}
            m = max(s.values()); z = sum(math.exp(v - m) for v in s.values())
            ll += s[st["c"]] - m - math.log(z)
            g = list(F[st["c"]])
            for x, f in F.items():
                p = math.exp(s[x] - m) / z
                for j in range(nf): g[j] -= p * f[j]
            for j in range(nf):
                gj = g[j] - l2 * th[j]
                G[j] += gj * gj; th[j] += lr * gj / math.sqrt(G[j])
        print("  epoch", ep, "ll/step %.4f" % (ll / len(tr)), file=sys.stderr)
    return th

def evalth(data, th):
    n = a = b = 0
    for st, F in data:
        n += 1
        if not F: continue
        s = {x: sum(p * q for p, q in zip(th, f)) for x, f in F.items()}
        r = rank(s, st)
        a += r[:1] == [st["c"]]; b += st["c"] in r[:5]
    return 100. * a / n, 100. * b / n, n, a, b

if __name__ == "__main__":
    fset = set(sys.argv[1].split(","))
    d1 = prep(["USER1"], fset); d2 = prep(["USER2"], fset)
    nf = len(next(iter(next(F for _, F in d1 if F).values())))
    th12 = fit(d1 + d2, nf)
    print(fset, "in-sample U1 %.1f/%.1f U2 %.1f/%.1f" % (evalth(d1, th12)[:2] + evalth(d2, th12)[:2]))
    r1 = evalth(d1 + d2, th12); print("  in-sample ALL %.2f/%.2f" % r1[:2])
    th1 = fit(d1, nf); th2 = fit(d2, nf)
    e2 = evalth(d2, th1); e1 = evalth(d1, th2)
    print("  cross: U1(fit U2) %.1f/%.1f  U2(fit U1) %.1f/%.1f  ALL %.2f/%.2f" % (e1[0], e1[1], e2[0], e2[1], 100.*(e1[3]+e2[3])/(e1[2]+e2[2]), 100.*(e1[4]+e2[4])/(e1[2]+e2[2])))
    print("  th", " ".join("%.2f" % t for t in th12))
