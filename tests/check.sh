#!/bin/sh
# Runs the suites `make check` is made of and prints one closing total.
# Usage: tests/check.sh (from make, with CAIRN_BIN and friends exported)
set -u
cd "$(dirname "$0")/.."
total_p=0
total_f=0
for suite in fmt-check unit integration fuzz-check; do
	out=$(mktemp)
	make --no-print-directory "$suite" 2>&1 | tee "$out"
	line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
	p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
	[ -n "$line" ] || { p=0; f=1; echo "check: $suite printed no summary" >&2; }
	total_p=$((total_p + p))
	total_f=$((total_f + f))
	rm -f "$out"
done
echo "check: $total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
