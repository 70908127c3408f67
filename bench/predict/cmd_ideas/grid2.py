from comb import *
for orders in (("o2","o1","o0"), ("c2","o1","o0"), ("c2r","o1","o0"), ("o2","c2","o1","o0"), ("c2r","o1n","o0"), ("o2","c2r","o1","o0"), ("c3","c2","o1","o0"), ("o2","o1n","o1","o0"), ("c2r","o1n","o1","o0")):
    run(lambda s: current(s, orders=orders), name="ppm " + ",".join(orders))
