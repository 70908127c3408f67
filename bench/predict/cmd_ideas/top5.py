from comb import *
from eg import lru_dist
def scores(st, ws=0.2, bl=0.05, bp=0.10, orders=("o2","o1","o0")):
    sc = ppm(st, orders)
    if "s2" in st["ex"]:
        for x, p in st["ex"]["s2"][2].items(): sc[x] += ws * p
    if not sc: return sc
    h = st["h"]
    if h: sc[h[-1]] += bl
    if len(h) > 1: sc[h[-2]] += bp
    return sc
def div(st, g=0.0, gl=0.6, o0w=0.0, s3w=0.0, s23w=0.0):
    sc = scores(st)
    if not sc: return []
    first = rank(sc, st, 1)
    sc2 = collections.defaultdict(float, sc)
    if g:
        for x, p in lru_dist(st, gl).items(): sc2[x] += g * p
    if o0w and "o0" in st["ex"]:
        for x, p in st["ex"]["o0"][2].items(): sc2[x] += o0w * p
    for k, w in (("s3", s3w), ("s23", s23w)):
        if w and k in st["ex"]:
            for x, p in st["ex"][k][2].items(): sc2[x] += w * p
    rest = [x for x in rank(sc2, st, 6) if x not in first]
    return first + rest[:4]
if __name__ == "__main__":
  run(div, name="div none")
  for g in (0.05, 0.1, 0.2):
    for gl in (0.5, 0.7, 0.85):
        run(lambda s: div(s, g, gl), name="div lru g %.2f gl %.2f" % (g, gl))
  for o0w in (0.05, 0.1, 0.2):
    run(lambda s: div(s, o0w=o0w), name="div o0w %.2f" % o0w)
  for w in (0.05, 0.1, 0.2):
    run(lambda s: div(s, s3w=w), name="div s3w %.2f" % w)
    run(lambda s: div(s, s23w=w), name="div s23w %.2f" % w)
