#!/bin/sh
# Runs each fuzz target for a short time over a scratch copy of its seed
# corpus (fuzz/corpus/<target>/), so the committed seeds stay as they are.
# Usage: fuzz/run.sh SECONDS BIN...
set -u
cd "$(dirname "$0")/.."
secs=$1
shift
pass=0
fail=0
for bin in "$@"; do
	name=$(basename "$bin")
	work=$(mktemp -d)
	cp -r "fuzz/corpus/$name/." "$work/" 2>/dev/null || true
	dict=""
	[ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
	if "$bin" -max_total_time="$secs" -max_len=70000 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=0 $dict "$work" >"$work.log" 2>&1; then
		echo "fuzz: $name ok ($(grep -c . "$work.log" >/dev/null; tail -1 "$work.log" | cut -c1-80))"
		pass=$((pass + 1))
	else
		echo "fuzz: $name FAILED; log follows" >&2
		tail -60 "$work.log" >&2
		fail=$((fail + 1))
	fi
	rm -rf "$work" "$work.log"
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
