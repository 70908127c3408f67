from comb import *
def lastf(st, k):
    if k not in st["ex"]: return None
    d = st["ex"][k][2]; return max(d, key=d.get) if d else None
def ext(st, b1=0.0, b2=0.0, bs=0.0, **kw):
    # current + bonuses for the last follower of contexts (o1r/o2r: alpha 0.3 -> argmax is the most recent follower)
    sc = ppm(st, ("o2", "o1", "o0"))
    if "s2" in st["ex"]:
        for x, p in st["ex"]["s2"][2].items(): sc[x] += kw.get("ws", 0.2) * p
    if not sc: return []
    h = st["h"]
    if h: sc[h[-1]] += kw.get("bl", 0.05)
    if len(h) > 1: sc[h[-2]] += kw.get("bp", 0.10)
    x = lastf(st, "o1r")
    if x and b1: sc[x] += b1
    x = lastf(st, "o2r")
    if x and b2: sc[x] += b2
    return rank(sc, st)
import itertools
for b1, b2 in itertools.product((0, 0.02, 0.05, 0.1), (0, 0.02, 0.05, 0.1)):
    run(lambda s: ext(s, b1, b2), name="cur + last-follower o1 %.2f o2 %.2f" % (b1, b2))
