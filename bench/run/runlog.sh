#!/bin/sh
# Builds and runs bench/run/bench_runlog.c (what `cairn run` does with a
# large output after the command): see the top of that file. Run from
# anywhere; it builds build/rel/libcairn.a and build/bench/run/bench_runlog.
# Timings are printed, never asserted.
set -eu
cd "$(dirname "$0")/../.."
make --no-print-directory build/rel/libcairn.a >/dev/null
mkdir -p build/bench/run
# shellcheck disable=SC2046
cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wno-unused-parameter -Isrc $(pkg-config --cflags libuv jansson) \
	-o build/bench/run/bench_runlog bench/run/bench_runlog.c build/rel/libcairn.a \
	$(pkg-config --libs libuv jansson sqlite3 inih) -lpthread -ldl -lm
exec build/bench/run/bench_runlog "$@"
