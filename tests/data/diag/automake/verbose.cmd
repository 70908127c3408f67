make check VERBOSE=1
