#!/bin/sh
# Runs every tests/integration/test_*.py against the real daemon binary in
# $CAIRN_BIN; each test makes its own temporary runtime and data directories.
set -u
cd "$(dirname "$0")/.."
: "${CAIRN_BIN:?set CAIRN_BIN to the cairn binary}"
export CAIRN_BIN CAIRN_TOOLS
pass=0
fail=0
for t in tests/integration/test_*.py; do
	[ -e "$t" ] || continue
	if timeout 900 python3 "$t"; then
		pass=$((pass + 1))
	else
		echo "FAILED: $t" >&2
		fail=$((fail + 1))
	fi
done
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
