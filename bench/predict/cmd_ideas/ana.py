from comb import steps
import collections
for u in ("USER1", "USER2"):
    S = steps(u); n = len(S)
    new = sum(1 for st in S if st["i"] > 0 and "o0s" in st["ex"] and st["c"] not in st["ex"]["o0s"][2])
    seen = set(); new = 0
    for st in S:
        new += st["c"] not in seen; seen.add(st["c"])
    in1 = sum(1 for st in S if "o1" in st["ex"] and st["c"] in st["ex"]["o1"][2])
    rep = sum(1 for st in S if st["h"] and st["h"][-1] == st["c"])
    rep2 = sum(1 for st in S if len(st["h"]) > 1 and st["h"][-2] == st["c"])
    lru = [0]*10
    for st in S:
        if st["c"] in st["lru"]: lru[st["lru"].index(st["c"])] += 1
    # oracle: any expert's argmax correct
    orc = 0
    for st in S:
        ok = False
        for k, (nn, d, dist) in st["ex"].items():
            if dist and max(dist, key=dist.get) == st["c"]: ok = True
        orc += ok
    print(u, n, "new %.1f%%" % (100.*new/n), "in o1 row %.1f%%" % (100.*in1/n), "repeat %.1f%% rep2 %.1f%%" % (100.*rep/n, 100.*rep2/n), "lru", [round(100.*x/n,1) for x in lru], "oracle-argmax %.1f%%" % (100.*orc/n))
