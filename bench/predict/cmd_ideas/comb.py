import pickle, collections, math, sys, os
CACHE = os.environ.get("CMD_IDEAS_CACHE", "/tmp/cmd_ideas")
_cache = {}
def steps(u):
    if u not in _cache: _cache[u] = pickle.load(open(os.path.join(CACHE, "%s.pkl") % u, "rb"))
    return _cache[u]

def rank(sc, st, k=5):
    lt = st["lastt"]
    return [w for w, _ in sorted(sc.items(), key=lambda kv: (-kv[1], -lt.get(kv[0], -1), kv[0]))][:k]

def run(fn, users=("USER1", "USER2"), name="", quiet=False, make=None):
    T = [0, 0, 0]; per = []
    for u in users:
        comb = make() if make else None
        n = a = b = 0
        for st in steps(u):
            if st["i"] == 0: r = []
            else:
                r = fn(st, comb) if make else fn(st)
            n += 1; a += r[:1] == [st["c"]]; b += st["c"] in r[:5]
            if comb is not None and hasattr(comb, "learn"): comb.learn(st)
        per.append("%s %.1f/%.1f" % (u, 100. * a / n, 100. * b / n))
        T[0] += n; T[1] += a; T[2] += b
    res = (100. * T[1] / T[0], 100. * T[2] / T[0])
    if not quiet: print("%-40s %s  ALL %.2f/%.2f" % (name, "  ".join(per), *res)); sys.stdout.flush()
    return res

def ppm(st, orders, shares=None, excl=False, esc="C"):
    sc = collections.defaultdict(float); left = 1.0; ex = st["ex"]; seen = set()
    for k in orders:
        if k not in ex: continue
        n, d, dist = ex[k]
        if esc == "C": share = n / (n + d)
        elif esc == "D": share = (n - d / 2) / n
        elif esc == "A": share = n / (n + 1)
        else: share = esc(n, d)
        share *= left; left -= share
        if excl:
            z = sum(p for x, p in dist.items() if x not in seen)
            if z <= 0: left += share; continue
            for x, p in dist.items():
                if x not in seen: sc[x] += share * p / z
            seen |= set(dist)
        else:
            for x, p in dist.items(): sc[x] += share * p
    return sc

def current(st, orders=("o2", "o1", "o0"), ws=0.2, bl=0.05, bp=0.10, **kw):
    sc = ppm(st, orders, **kw)
    if "s2" in st["ex"]:
        for x, p in st["ex"]["s2"][2].items(): sc[x] += ws * p
    if not sc: return []
    h = st["h"]
    if h: sc[h[-1]] += bl
    if len(h) > 1: sc[h[-2]] += bp
    return rank(sc, st)

if __name__ == "__main__":
    run(current, name="current")
    run(lambda s: current(s, excl=True), name="current excl")
    run(lambda s: current(s, esc="D"), name="current escD")
    run(lambda s: current(s, orders=("o3", "o2", "o1", "o0")), name="current o3")
    run(lambda s: current(s, orders=("o3", "o2", "o1", "o0"), esc="D"), name="current o3 escD")
