from rk import *
base = ["o0", "o0s", "o1", "o1f", "o2", "s2", "o3", "s3", "s23"]
report_online("logit p,pc,mix base", {"exp": base, "pc": 1, "mix": 1})
