#!/bin/sh
# Runs each unit-test binary in its own process (cmocka prints its own
# summary per binary) and prints one closing line for the whole suite.
set -u
cd "$(dirname "$0")/.."
pass=0
fail=0
for t in "$@"; do
	if CAIRN_TEST_DATA=tests/data timeout 300 "$t"; then
		pass=$((pass + 1))
	else
		echo "FAILED: $t" >&2
		fail=$((fail + 1))
	fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
