import collections, math, pickle, os, sys
CACHE = os.environ.get("CMD_IDEAS_CACHE", "/tmp/cmd_ideas")
os.makedirs(CACHE, exist_ok=True)
from base import Row, load

# Each expert: (name, context function of history (or None if unusable), alpha)
def ctxs(h):
    L = len(h); g = lambda k: h[-k] if L >= k else None
    w1, w2, w3 = g(1), g(2), g(3)
    out = {"o0": ("0",), "o0s": ("0",)}
    if w1: out["o1"] = ("1", w1); out["o1f"] = ("1", w1)
    if w2: out["o2"] = ("2", w2, w1); out["s2"] = ("s", w2)
    if w3: out["o3"] = ("3", w3, w2, w1); out["s3"] = ("t", w3); out["s23"] = ("u", w3, w2)
    if w1: out["o1r"] = ("1", w1)
    if w2: out["o2r"] = ("2", w2, w1)
    if w3: out["o3r"] = ("3", w3, w2, w1)
    if L >= 4: out["o4"] = ("4",) + tuple(h[-4:])
    if L >= 5: out["o5"] = ("5",) + tuple(h[-5:])
    if L >= 6: out["o6"] = ("6",) + tuple(h[-6:])
    hc = []
    for x in h[-30:]:
        if not hc or hc[-1] != x: hc.append(x)
    run = 0
    for x in reversed(h[-5:]):
        if x == w1: run += 1
        else: break
    if len(hc) >= 2:
        out["c2"] = ("c2", hc[-2], hc[-1]); out["c2r"] = ("c2r", hc[-2], hc[-1], min(run, 2))
    if len(hc) >= 3: out["c3"] = ("c3", hc[-3], hc[-2], hc[-1])
    if w1: out["o1n"] = ("o1n", w1, min(run, 3))
    return out
ALPHA = {"o0": 0.95, "o0s": 0.995, "o1": 0.90, "o1f": 0.6, "o2": 0.95, "s2": 0.90, "o3": 0.95, "s3": 0.9, "s23": 0.95, "o1r": 0.3, "o2r": 0.3, "o3r": 0.3, "o4": 0.9, "o5": 0.9, "o6": 0.9, "c2": 0.95, "c2r": 0.95, "c3": 0.95, "o1n": 0.9}

def build(u):
    cmds = load(u)
    rows = {k: collections.defaultdict(Row) for k in ALPHA}
    h = []; last = {}; steps = []
    for i, c in enumerate(cmds):
        cs = ctxs(h)
        st = {"c": c, "h": tuple(h[-6:]), "last": None}
        ex = {}
        for k, ctx in cs.items():
            r = rows[k].get(ctx)
            if r is None or r.n == 0: continue
            dist = r.dist(ALPHA[k])
            if k.startswith("o0"):
                dist = dict(sorted(dist.items(), key=lambda kv: -kv[1])[:40])
            ex[k] = (r.n, r.d(), dist)
        st["ex"] = ex
        # recency: distinct recent commands, most recent first
        seen = []; 
        for x in reversed(h[-50:]):
            if x not in seen: seen.append(x)
            if len(seen) >= 10: break
        st["lru"] = seen
        st["lastt"] = {x: last[x] for x in set().union(*[set(e[2]) for e in ex.values()]) if x in last} if ex else {}
        st["i"] = i
        steps.append(st)
        for k, ctx in cs.items(): rows[k][ctx].update(ALPHA[k], c)
        last[c] = i; h.append(c)
    return steps

if __name__ == "__main__":
    for u in sys.argv[1:]:
        s = build(u)
        pickle.dump(s, open(os.path.join(CACHE, "%s.pkl") % u, "wb"))
        print(u, len(s))
