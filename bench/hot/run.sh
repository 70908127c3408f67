#!/bin/sh
# Micro-benchmarks of the daemon's per-event hot functions (issue 13), each
# beside what it replaced, in the same run. Built against build/rel's
# library; run from the repository root or from bench/.
set -eu
cd "$(dirname "$0")/../.."
make -s build/rel/libcairn.a
mkdir -p build/bench/hot
cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Isrc \
	-o build/bench/hot/bench_encode bench/hot/bench_encode.c build/rel/libcairn.a \
	-ljansson -lpthread -lm
build/bench/hot/bench_encode "${BENCH_ENCODE_EVENTS:-200000}"
cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Isrc \
	-o build/bench/hot/bench_parse bench/hot/bench_parse.c build/rel/libcairn.a \
	-ljansson -lpthread -lm
build/bench/hot/bench_parse "${BENCH_PARSE_LINES:-200000}"
