from top5 import *
import itertools
for g, gl, o0w in itertools.product((0.1, 0.2, 0.3), (0.7, 0.8, 0.9), (0.1, 0.2, 0.3)):
    run(lambda s: div(s, g, gl, o0w=o0w), name="div lru g %.2f gl %.2f o0w %.2f" % (g, gl, o0w))
