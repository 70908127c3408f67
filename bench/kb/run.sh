#!/bin/sh
# The knowledge base benchmark: generates 100,000 realistic entries, imports
# them with kb_import() and measures kb_search() and kb_fixes_for() latency,
# each figure next to a peer measured in the same run (the sqlite3 shell
# loading the same JSON Lines with json_extract() in one transaction; grep
# over the same file); then redact() on those entries (bench_redact.c), next
# to the same redact.c without its prefilter. Timings are reported, never
# asserted; the exit status is non-zero only when the benchmark cannot run.
#
# Run from anywhere: bench/kb/run.sh. It builds build/rel/libcairn.a with the
# repository's Makefile and the benchmark into build/bench/kb/.
#   BENCH_KB_ENTRIES=100000   entries generated
#   BENCH_KB_ROUNDS=25        rounds over the 40 search queries
#   BENCH_RESULTS=FILE        raw "R key value" lines (default:
#                             build/bench/kb/results.txt)
set -eu
cd "$(dirname "$0")/../.."
N=${BENCH_KB_ENTRIES:-100000}
# Linked as the Makefile links them (LINK_PKGS); the others are loaded on
# first use and only their headers are needed (src/common/dl.h).
PKGS="libuv jansson sqlite3 inih libsystemd libgit2"
LINK_PKGS="libuv jansson sqlite3 inih"
for tool in sqlite3 grep pkg-config cc; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "bench/kb: $tool is not installed (the sqlite3 shell: apt-get install sqlite3)" >&2
		exit 1
	fi
done
make --no-print-directory build/rel/libcairn.a >/dev/null
mkdir -p build/bench/kb
# shellcheck disable=SC2046
cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wno-unused-parameter -Isrc $(pkg-config --cflags $PKGS) \
	-o build/bench/kb/bench_kb bench/kb/bench_kb.c build/rel/libcairn.a \
	$(pkg-config --libs $LINK_PKGS) -lpthread -lm
# The redaction micro-benchmark, with its peer: the same redact.c without
# its prefilter, renamed so that both link into one program.
# shellcheck disable=SC2046
cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Isrc $(pkg-config --cflags jansson) -DREDACT_NO_PREFILTER \
	-Dredact=redact_noprefilter -Dredact_text=redact_text_noprefilter \
	-Dredact_kind=redact_kind_noprefilter -Dredact_json=redact_json_noprefilter \
	-c src/kb/redact.c -o build/bench/kb/redact_noprefilter.o
# shellcheck disable=SC2046
cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wno-unused-parameter -Isrc $(pkg-config --cflags $PKGS) \
	-o build/bench/kb/bench_redact bench/kb/bench_redact.c build/bench/kb/redact_noprefilter.o \
	build/rel/libcairn.a $(pkg-config --libs $LINK_PKGS) -lpthread -lm
RESULTS=${BENCH_RESULTS:-build/bench/kb/results.txt}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-kb.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "cairn kb benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs," \
	"$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo);" \
	"data on $(df -PT "$TMP" | awk 'NR == 2 { print $2 }'); $(sqlite3 --version | cut -d' ' -f1-2 | sed 's/^/sqlite3 /');" \
	"1-min load $(cut -d' ' -f1 /proc/loadavg)"
build/bench/kb/bench_kb "$TMP" "$N" "$RESULTS"
# bench_kb leaves the JSON Lines it generated in $TMP.
build/bench/kb/bench_redact "$TMP/kb.jsonl" "$RESULTS"
echo "raw figures in $RESULTS"
