#!/bin/sh
# Runs cairn's benchmarks against nats-server and redis-server on this
# machine, in this run, and prints one results table: each cairn figure next
# to the peer's, with the goal from issue 2 and a PASS/MISS mark. Timings are
# reported, never asserted: the exit status is non-zero only when a benchmark
# could not run at all.
#
# Called by bench/Makefile with CAIRN (the daemon binary) and BENCH_BIN (the
# built benchmark programs). Every peer is started here on loopback, on a
# free port, with its data in a temporary directory, and stopped on exit.
#
# Durations and sizes (environment):
#   BENCH_LAT_SECONDS=10      latency and fan-out runs, per phase
#   BENCH_LAT_RATE=2000       events/s for latency and fan-out
#   BENCH_DURABLE_EVENTS=200000  events for the pipelined durable run
#   BENCH_SERIAL_SECONDS=5    one-at-a-time durable run, per peer
#   BENCH_STALL_SECONDS=60    stalled-subscriber run, per phase (x2)
#   BENCH_STALL_RATE=20000    events/s during the stalled-subscriber run
#   BENCH_STALL_PUBLISHERS=2  publishers sharing that rate
#   BENCH_STALL_WARMUP=5      unmeasured seconds before the stall baseline
#   BENCH_FANOUT_SUBS=10000   non-matching subscriptions
#   BENCH_IDLE_SECONDS=60     idle measurement
#   BENCH_TMPFS_DIAG=1        also measure cairn's latency with its log on
#                             tmpfs (/dev/shm), to show what the disk adds
#   BENCH_ONLY="latency durable stall fanout idle"  which benchmarks to run
#   BENCH_RESULTS=FILE        where to keep the raw "R key value" lines
#                             (default: $BENCH_BIN/results.txt)
set -eu

: "${CAIRN:?set CAIRN to the cairn binary}"
: "${BENCH_BIN:?set BENCH_BIN to the directory of the benchmark programs}"
LAT_SECONDS=${BENCH_LAT_SECONDS:-10}
LAT_RATE=${BENCH_LAT_RATE:-2000}
DUR_EVENTS=${BENCH_DURABLE_EVENTS:-200000}
SERIAL_SECONDS=${BENCH_SERIAL_SECONDS:-5}
STALL_SECONDS=${BENCH_STALL_SECONDS:-60}
STALL_RATE=${BENCH_STALL_RATE:-20000}
STALL_PUBLISHERS=${BENCH_STALL_PUBLISHERS:-2}
STALL_WARMUP=${BENCH_STALL_WARMUP:-5}
FANOUT_SUBS=${BENCH_FANOUT_SUBS:-10000}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-60}
TMPFS_DIAG=${BENCH_TMPFS_DIAG:-1}
ONLY=${BENCH_ONLY:-latency durable stall fanout idle}
RESULTS=${BENCH_RESULTS:-$BENCH_BIN/results.txt}

for tool in nats-server redis-server; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "bench: $tool is not installed; run 'CAIRN_DEPS_BENCH=1 sh scripts/deps.sh'" >&2
		exit 1
	fi
done
[ -x "$CAIRN" ] || { echo "bench: no cairn binary at '$CAIRN'; run 'make build/rel/cairn'" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
PIDS=""
FAILED=""
SHM=""
: >"$RESULTS"

cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null || true
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null || true
	done
	PIDS=""
	rm -rf "$TMP"
	[ -z "$SHM" ] || rm -rf "$SHM"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '== %s\n' "$*" >&2; }

# Runs one benchmark program; its result lines go to $RESULTS. A program
# that fails is reported in the table, and the run goes on.
run() {
	name=$1
	shift
	if ! "$@" >>"$RESULTS"; then
		echo "bench: '$name' did not complete" >&2
		FAILED="$FAILED $name"
	fi
}

forget_pid() {
	rest=""
	for p in $PIDS; do
		[ "$p" = "$1" ] || rest="$rest $p"
	done
	PIDS=$rest
}

stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	forget_pid "$1"
}

# start_cairn NAME [DATA_DIR]: a fresh daemon with its own runtime, data and
# config directories (the data in DATA_DIR when given); sets CAIRN_PID and
# CAIRN_SOCK.
start_cairn() {
	d=$TMP/cairn-$1
	data=${2:-$d/data}
	mkdir -p "$d/run" "$data" "$d/config"
	chmod 700 "$d/run"
	XDG_RUNTIME_DIR=$d/run XDG_DATA_HOME=$data XDG_CONFIG_HOME=$d/config \
		"$CAIRN" daemon >"$d/log" 2>&1 &
	CAIRN_PID=$!
	PIDS="$PIDS $CAIRN_PID"
	CAIRN_SOCK=$d/run/cairn/cairn.sock
	if ! "$BENCH_BIN/bench_port" wait-unix "$CAIRN_SOCK" 10000; then
		cat "$d/log" >&2
		exit 1
	fi
}

start_nats() {
	NATS_PORT=$("$BENCH_BIN/bench_port" free)
	nats-server -a 127.0.0.1 -p "$NATS_PORT" >"$TMP/nats.log" 2>&1 &
	NATS_PID=$!
	PIDS="$PIDS $NATS_PID"
	"$BENCH_BIN/bench_port" wait "$NATS_PORT" 10000 || { cat "$TMP/nats.log" >&2; exit 1; }
}

# start_redis NAME [ARGS...]: sets REDIS_PID and REDIS_PORT.
start_redis() {
	n=$1
	shift
	REDIS_PORT=$("$BENCH_BIN/bench_port" free)
	mkdir -p "$TMP/redis-$n"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --dir "$TMP/redis-$n" \
		--daemonize no "$@" >"$TMP/redis-$n.log" 2>&1 &
	REDIS_PID=$!
	PIDS="$PIDS $REDIS_PID"
	"$BENCH_BIN/bench_port" wait "$REDIS_PORT" 10000 || { cat "$TMP/redis-$n.log" >&2; exit 1; }
}

want() {
	case " $ONLY " in *" $1 "*) return 0 ;; esac
	return 1
}

T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)

if want latency; then
	say "latency: ${LAT_RATE} events/s for ${LAT_SECONDS} s to one wildcard subscriber"
	start_cairn latency
	start_nats
	start_redis pubsub --appendonly no
	run latency.cairn "$BENCH_BIN/bench_latency" --target cairn --sock "$CAIRN_SOCK" \
		--rate "$LAT_RATE" --seconds "$LAT_SECONDS"
	run latency.nats "$BENCH_BIN/bench_latency" --target nats --port "$NATS_PORT" \
		--rate "$LAT_RATE" --seconds "$LAT_SECONDS"
	run latency.redis "$BENCH_BIN/bench_latency" --target redis --port "$REDIS_PORT" \
		--rate "$LAT_RATE" --seconds "$LAT_SECONDS"
	stop "$CAIRN_PID"
	stop "$NATS_PID"
	stop "$REDIS_PID"
	# Diagnostic: the same with cairn's log on tmpfs, where fsync costs
	# nothing, to show how much of the latency the disk adds.
	if [ "$TMPFS_DIAG" = 1 ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
		SHM=$(mktemp -d /dev/shm/cairn-bench.XXXXXX)
		start_cairn latency-tmpfs "$SHM"
		run latency.cairn.tmpfs "$BENCH_BIN/bench_latency" --target cairn \
			--sock "$CAIRN_SOCK" --rate "$LAT_RATE" --seconds "$LAT_SECONDS" \
			--key cairn_tmpfs
		stop "$CAIRN_PID"
		rm -rf "$SHM"
		SHM=""
	fi
fi

if want durable; then
	say "durable: 8 x 256 pipelined ($DUR_EVENTS events), then one at a time (${SERIAL_SECONDS} s)"
	start_cairn durable
	start_redis aof --appendonly yes --appendfsync always
	run durable.pipe.cairn "$BENCH_BIN/bench_durable" --target cairn --sock "$CAIRN_SOCK" \
		--mode pipe --publishers 8 --window 256 --events "$DUR_EVENTS" --key dur.pipe.cairn
	run durable.pipe.redis "$BENCH_BIN/bench_durable" --target redis --port "$REDIS_PORT" \
		--mode pipe --publishers 8 --window 256 --events "$DUR_EVENTS" --key dur.pipe.redis
	run durable.serial.cairn "$BENCH_BIN/bench_durable" --target cairn --sock "$CAIRN_SOCK" \
		--mode serial --seconds "$SERIAL_SECONDS" --key dur.serial.cairn
	run durable.serial.redis "$BENCH_BIN/bench_durable" --target redis --port "$REDIS_PORT" \
		--mode serial --seconds "$SERIAL_SECONDS" --key dur.serial.redis
	stop "$CAIRN_PID"
	stop "$REDIS_PID"
fi

if want stall; then
	say "stall: ${STALL_RATE} events/s, ${STALL_SECONDS} s without then ${STALL_SECONDS} s with a stalled subscriber"
	start_cairn stall
	run stall "$BENCH_BIN/bench_stall" --sock "$CAIRN_SOCK" --pid "$CAIRN_PID" \
		--rate "$STALL_RATE" --publishers "$STALL_PUBLISHERS" --seconds "$STALL_SECONDS" \
		--warmup "$STALL_WARMUP"
	stop "$CAIRN_PID"
fi

if want fanout; then
	say "fan-out: ${LAT_RATE} events/s with 1 subscription, then with $FANOUT_SUBS more"
	start_cairn fanout
	run fanout "$BENCH_BIN/bench_latency" --target cairn --sock "$CAIRN_SOCK" \
		--rate "$LAT_RATE" --seconds "$LAT_SECONDS" --extra-subs "$FANOUT_SUBS" --key fan
	stop "$CAIRN_PID"
fi

if want idle; then
	say "idle: ${IDLE_SECONDS} s, one idle subscriber on each daemon"
	start_cairn idle
	start_nats
	start_redis idle --appendonly no
	run idle "$BENCH_BIN/bench_idle" --seconds "$IDLE_SECONDS" \
		--cairn-sock "$CAIRN_SOCK" --cairn-pid "$CAIRN_PID" \
		--nats-port "$NATS_PORT" --nats-pid "$NATS_PID" \
		--redis-port "$REDIS_PORT" --redis-pid "$REDIS_PID"
	stop "$CAIRN_PID"
	stop "$NATS_PID"
	stop "$REDIS_PID"
fi

T_END=$(date +%s)
LOAD_END=$(cut -d' ' -f1 /proc/loadavg)

# ---- the table ----

# get KEY: the value of a result, or "-" when it is missing.
get() {
	awk -v k="$1" '$1 == "R" && $2 == k { v = $3 } END { print (v == "" ? "-" : v) }' "$RESULTS"
}

# calc EXPR A [B [C]]: prints the awk value of EXPR with a, b and c set to
# the operands given, or "-" when any operand given is missing ("-").
calc() {
	expr=$1
	shift
	for v in "$@"; do
		[ "$v" = "-" ] && { echo "-"; return; }
	done
	awk -v a="${1:-0}" -v b="${2:-0}" -v c="${3:-0}" "BEGIN { print ($expr) }"
}

# mark COND A [B [C]]: PASS when the awk condition holds, MISS when not,
# n/a when a figure is missing.
mark() {
	cond=$1
	shift
	case $(calc "($cond) ? 1 : 0" "$@") in
	1) echo PASS ;;
	0) echo MISS ;;
	*) echo "n/a" ;;
	esac
}

# width STR: display columns of STR (UTF-8 continuation bytes do not count),
# whatever the locale.
width() { printf '%s' "$1" | LC_ALL=C tr -d '\200-\277' | wc -c; }
# padr STR N: STR padded with spaces to N columns.
padr() {
	n=$(($2 - $(width "$1")))
	printf '%s' "$1"
	[ "$n" -gt 0 ] && printf "%${n}s" "" || true
}
hr() { printf '%138s\n' "" | tr ' ' '-'; }
# row METRIC CAIRN NATS REDIS GOAL MARK. Names and goals hold "µ", "≤" and
# "×", so they are padded by display width, not bytes.
row() {
	printf '%s %13s %13s %13s   %s %s\n' "$(padr "$1" 46)" "$2" "$3" "$4" "$(padr "$5" 42)" "${6:-}"
}
section() { printf '\n%s\n' "$1"; }

kb_mib() { calc "a / 1024" "$1" | awk '{ if ($1 == "-") print "-"; else printf "%.1f", $1 }'; }

echo
echo "cairn benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo),"\
	"$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r),"\
	"data on $(df -PT "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $2 }')"
echo "peers: $(nats-server --version 2>&1 | head -n1), redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
echo "event: $(printf '%s' 200)-byte payload (the same bytes are the cairn envelope, the NATS and the redis payload)"
echo "took $((T_END - T_START)) s; 1-min load average $LOAD_START at the start, $LOAD_END at the end"\
	"(other work on the machine skews every figure); raw figures in $RESULTS"
hr
row "metric" "cairn" "nats" "redis" "goal" "mark"
hr

if want latency; then
	section "1. Live delivery latency, ${LAT_RATE} events/s for ${LAT_SECONDS} s, one wildcard subscriber"
	for q in p50 p99 p999; do
		label=$q
		[ "$q" = p999 ] && label=p99.9
		c=$(get cairn.${q}_us)
		n=$(get nats.${q}_us)
		r=$(get redis.${q}_us)
		if [ "$q" = p99 ]; then
			row "  $label latency (µs)" "$c" "$n" "$r" "≤ 1000 µs and ≤ NATS p99" \
				"$(mark 'a <= 1000 && a <= b' "$c" "$n")"
		else
			row "  $label latency (µs)" "$c" "$n" "$r" "" ""
		fi
	done
	row "  events lost (of $((LAT_RATE * LAT_SECONDS)))" "$(get cairn.lost)" "$(get nats.lost)" \
		"$(get redis.lost)" "" ""
	if [ "$(get cairn_tmpfs.n)" != "-" ]; then
		row "  diagnostic: cairn's log on tmpfs, p50/p99 (µs)" \
			"$(get cairn_tmpfs.p50_us)/$(get cairn_tmpfs.p99_us)" "" "" \
			"(no fsync cost; not a goal)" ""
	fi
fi

if want durable; then
	section "2. Durable throughput (cairn ack \"durable\"; redis appendfsync always, RPUSH)"
	c=$(get dur.pipe.cairn.eps)
	row "  8 publishers x 256 in flight (events/s)" "$c" "" "$(get dur.pipe.redis.eps)" \
		"≥ 50000 events/s" "$(mark 'a >= 50000' "$c")"
	row "    ack latency p50 / p99 (µs)" \
		"$(get dur.pipe.cairn.ack.p50_us)/$(get dur.pipe.cairn.ack.p99_us)" "" \
		"$(get dur.pipe.redis.ack.p50_us)/$(get dur.pipe.redis.ack.p99_us)" "" ""
	c=$(get dur.serial.cairn.eps)
	r=$(get dur.serial.redis.eps)
	row "  1 publisher, one at a time (events/s)" "$c" "" "$r" "≥ redis (appendfsync always)" \
		"$(mark 'a >= b' "$c" "$r")"
	row "    ack latency p50 / p99 (µs)" \
		"$(get dur.serial.cairn.ack.p50_us)/$(get dur.serial.cairn.ack.p99_us)" "" \
		"$(get dur.serial.redis.ack.p50_us)/$(get dur.serial.redis.ack.p99_us)" "" ""
fi

if want stall; then
	section "3. Stalled subscriber: ${STALL_RATE} events/s, ${STALL_SECONDS} s without it, then ${STALL_SECONDS} s with it (cairn only)"
	row "  publish rate achieved, without / with" \
		"$(get stall.base.rate)/$(get stall.stall.rate)" "" "" "${STALL_RATE} events/s (load generator check)" ""
	row "  publishes sent >1 ms late, without / with" \
		"$(get stall.base.behind)/$(get stall.stall.behind)" "" "" "0 (load generator check)" ""
	row "  daemon CPU per event, without / with (µs)" \
		"$(get stall.base.cpu_us_per_event)/$(get stall.stall.cpu_us_per_event)" "" "" "" ""
	b=$(get stall.base.ack.p99_us)
	s=$(get stall.stall.ack.p99_us)
	row "  publish ack p99 without stalled sub (µs)" "$b" "" "" "" ""
	row "  publish ack p99 with stalled sub (µs)" "$s" "" "" "≤ 1.2 × without" \
		"$(mark 'b <= 1.2 * a' "$b" "$s")"
	b=$(get stall.base.deliver.p99_us)
	s=$(get stall.stall.deliver.p99_us)
	row "  other subscriber p99 without (µs)" "$b" "" "" "" ""
	row "  other subscriber p99 with stalled sub (µs)" "$s" "" "" "≤ 1.2 × without" \
		"$(mark 'b <= 1.2 * a' "$b" "$s")"
	s=$(get stall.stall.deliver.n)
	e=$(get stall.stall.events)
	row "  other subscriber got, without / with" "$(get stall.base.deliver.n)/$s" "" "" \
		"every event ($e per phase), no gap" "$(mark 'a == b' "$s" "$e")"
	hb=$(get stall.hwm_base_kb)
	hs=$(get stall.hwm_stall_kb)
	row "  daemon peak RSS without (MiB)" "$(kb_mib "$hb")" "" "" "" ""
	row "  daemon peak RSS with stalled sub (MiB)" "$(kb_mib "$hs")" "" "" \
		"bounded: ≤ without + 8 MiB (queue_bytes)" "$(mark 'b - a <= 8192' "$hb" "$hs")"
	row "  daemon peak RSS after catch-up (MiB)" "$(kb_mib "$(get stall.hwm_end_kb)")" "" "" "" ""
	e=$(get stall.expected)
	g=$(get stall.received)
	row "  stalled sub: events received / expected" "$g/$e" "" "" "every event, once, in order" \
		"$(mark 'a == b && c == 0' "$g" "$e" "$(get stall.missing)")"
	row "  stalled sub: gap notices, catch-up (s)" "$(get stall.gaps), $(get stall.catchup_s)" "" "" "" ""
fi

if want fanout; then
	section "4. ${FANOUT_SUBS} non-matching subscriptions (4 connections) + 1 wildcard subscriber, ${LAT_RATE} events/s"
	row "  p50 with 1 subscription (µs)" "$(get fan.p50_us)" "" "" "" ""
	row "  p50 with $((FANOUT_SUBS + 1)) subscriptions (µs)" "$(get fan.fanout.p50_us)" "" "" "" ""
	a=$(get fan.p99_us)
	b=$(get fan.fanout.p99_us)
	row "  p99 with 1 subscription (µs)" "$a" "" "" "" ""
	row "  p99 with $((FANOUT_SUBS + 1)) subscriptions (µs)" "$b" "" "" "≤ 2 × the one-subscription p99" \
		"$(mark 'b <= 2 * a' "$a" "$b")"
	row "  time to add the subscriptions (ms)" "$(get fan.fanout.setup_ms)" "" "" "" ""
fi

if want idle; then
	section "5. Idle, ${IDLE_SECONDS} s, one idle subscriber connected to each"
	c=$(get idle.cairn.cpu_ms)
	row "  CPU time (ms)" "$c" "$(get idle.nats.cpu_ms)" "$(get idle.redis.cpu_ms)" \
		"close to none: ≤ 10 ms per minute" "$(mark "a <= 10 * $IDLE_SECONDS / 60" "$c")"
	c=$(get idle.cairn.wakeups)
	row "  wake-ups (context switches, all threads)" "$c" "$(get idle.nats.wakeups)" \
		"$(get idle.redis.wakeups)" "close to none: ≤ 1 per second" \
		"$(mark "a <= $IDLE_SECONDS" "$c")"
	row "  idle RSS (MiB)" "$(kb_mib "$(get idle.cairn.rss_kb)")" "$(kb_mib "$(get idle.nats.rss_kb)")" \
		"$(kb_mib "$(get idle.redis.rss_kb)")" "report" ""
fi
hr
if [ -n "$FAILED" ]; then
	echo "did not complete:$FAILED"
	exit 1
fi
