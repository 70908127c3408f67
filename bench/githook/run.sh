#!/usr/bin/env bash
# What cairn's git hooks cost a `git commit`: median and p95 wall time of a
# commit without hooks, with cairn's hooks (daemon running, and daemon down so
# that the event is spooled), and, as peers in the same run, with a hook that
# does nothing (the floor of any hook: git spawning /bin/sh) and with the
# shell hook one would write instead (spawning git to read the same facts).
# A second table splits the hook's time into process start and work.
# Goal (issue 3): cairn's hook adds at most 20 ms. Timings are reported, never
# asserted; the exit status is non-zero only when the benchmark cannot run.
#
# The five configurations run interleaved, one commit each per round, so that
# a busy machine slows them alike. Each has its own repository (a 2,000-file
# tree; each commit changes one file) and, for the daemon-down case, its own
# empty runtime directory.
#
#   CAIRN=build/rel/cairn     the binary (`make build/rel/cairn`)
#   BENCH_GITHOOK_N=200       measured commits per configuration
#   BENCH_GITHOOK_WARMUP=10   unmeasured commits first
#   BENCH_GITHOOK_FILES=2000  files in each repository
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
CAIRN=${CAIRN:-$here/../../build/rel/cairn}
N=${BENCH_GITHOOK_N:-200}
WARMUP=${BENCH_GITHOOK_WARMUP:-10}
NFILES=${BENCH_GITHOOK_FILES:-2000}

if [ ! -x "$CAIRN" ]; then
	echo "bench: no cairn binary at '$CAIRN'; run 'make build/rel/cairn'" >&2
	exit 1
fi
CAIRN=$(cd "$(dirname "$CAIRN")" && pwd)/$(basename "$CAIRN")
command -v git >/dev/null || { echo "bench: git is not installed" >&2; exit 1; }
[ -n "${EPOCHREALTIME:-}" ] || { echo "bench: needs bash 5 (EPOCHREALTIME)" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-githook.XXXXXX")
DAEMON_PID=""
cleanup() {
	if [ -n "$DAEMON_PID" ]; then
		kill "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# No system or global git configuration, no user hooks, no cairn settings.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME=$TMP/home
unset GIT_DIR GIT_WORK_TREE CAIRN_CONFIG
mkdir -p "$HOME" "$TMP/up/run" "$TMP/up/data" "$TMP/up/config" \
	"$TMP/down/run" "$TMP/down/data" "$TMP/down/config"
chmod 700 "$TMP/up/run" "$TMP/down/run"

# in_env up|down CMD...: runs CMD with the XDG directories of the running
# daemon ("up") or of none ("down").
in_env() {
	local e=$1
	shift
	XDG_RUNTIME_DIR=$TMP/$e/run XDG_DATA_HOME=$TMP/$e/data XDG_CONFIG_HOME=$TMP/$e/config "$@"
}

echo "== starting cairn daemon ($CAIRN)" >&2
XDG_RUNTIME_DIR=$TMP/up/run XDG_DATA_HOME=$TMP/up/data XDG_CONFIG_HOME=$TMP/up/config \
	"$CAIRN" daemon >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 200); do
	[ -S "$TMP/up/run/cairn/cairn.sock" ] && break
	sleep 0.05
done
[ -S "$TMP/up/run/cairn/cairn.sock" ] || { cat "$TMP/daemon.log" >&2; exit 1; }

# make_repo NAME: a repository with NFILES files in 20 directories.
make_repo() {
	local r=$TMP/repo-$1
	git init -q -b main "$r"
	git -C "$r" config user.name Bench
	git -C "$r" config user.email bench@example.com
	for d in $(seq 20); do
		mkdir -p "$r/dir$d"
		for f in $(seq $((NFILES / 20))); do
			echo "file $d/$f" >"$r/dir$d/f$f.txt"
		done
	done
	echo 0 >"$r/counter.txt"
	git -C "$r" add -A
	git -C "$r" commit -q -m "initial"
}

CONFIGS="none noop cairn_up cairn_down shell_git"
declare -A LABEL ENVNAME
LABEL[none]="no hook"
LABEL[noop]="peer: empty /bin/sh hook"
LABEL[cairn_up]="cairn hook, daemon running"
LABEL[cairn_down]="cairn hook, daemon down (spooled)"
LABEL[shell_git]="peer: sh hook spawning git"
ENVNAME[none]=up
ENVNAME[noop]=up
ENVNAME[cairn_up]=up
ENVNAME[cairn_down]=down
ENVNAME[shell_git]=up

echo "== preparing 5 repositories of $NFILES files" >&2
for c in $CONFIGS; do
	make_repo "$c"
done
printf '#!/bin/sh\nexit 0\n' >"$TMP/repo-noop/.git/hooks/post-commit"
chmod 755 "$TMP/repo-noop/.git/hooks/post-commit"
# What a hand-written logging hook does: ask git for the same facts cairn
# reads with libgit2 (hash, branch, subject, author, changed files).
cat >"$TMP/repo-shell_git/.git/hooks/post-commit" <<'EOF'
#!/bin/sh
git log -1 --format='%H%n%an <%ae>%n%s' HEAD >/dev/null
git symbolic-ref -q --short HEAD >/dev/null
git diff-tree --no-commit-id -r -M --name-status HEAD >/dev/null
EOF
chmod 755 "$TMP/repo-shell_git/.git/hooks/post-commit"
for c in cairn_up cairn_down; do
	(cd "$TMP/repo-$c" && in_env "${ENVNAME[$c]}" "$CAIRN" hooks install >/dev/null)
done

# commit_time CONFIG I: edits one file, then times `git commit -a`; prints
# the start and end times (seconds). The environment is set by assignments
# on the command itself, so nothing but git runs inside the interval.
commit_time() {
	local r=$TMP/repo-$1 e=${ENVNAME[$1]} t0 t1
	echo "$2" >"$r/counter.txt"
	t0=$EPOCHREALTIME
	XDG_RUNTIME_DIR=$TMP/$e/run XDG_DATA_HOME=$TMP/$e/data XDG_CONFIG_HOME=$TMP/$e/config \
		git -C "$r" commit -q -a -m "commit $2"
	t1=$EPOCHREALTIME
	echo "$t0 $t1"
}

echo "== $WARMUP warm-up and $N measured commits per configuration, interleaved" >&2
for i in $(seq "$WARMUP"); do
	for c in $CONFIGS; do
		commit_time "$c" "w$i" >/dev/null
	done
done
for c in $CONFIGS; do
	: >"$TMP/times-$c"
done
for i in $(seq "$N"); do
	for c in $CONFIGS; do
		commit_time "$c" "$i" >>"$TMP/times-$c"
	done
done

# Where the hook's time goes: the same number of direct runs of the process
# start alone (`cairn --version`) and of the hook's cairn command, with the
# daemon running and down, next to /bin/true.
PIECES="true version hook_up hook_down"
declare -A PLABEL
PLABEL[true]="/bin/true"
PLABEL[version]="cairn --version (process start)"
PLABEL[hook_up]="cairn hook git post-commit, daemon up"
PLABEL[hook_down]="cairn hook git post-commit, daemon down"
piece() {
	case $1 in
	true) /bin/true ;;
	version) "$CAIRN" --version >/dev/null ;;
	hook_up) in_env up "$CAIRN" hook git post-commit ;;
	hook_down) in_env down "$CAIRN" hook git post-commit ;;
	esac
}
for p in $PIECES; do
	: >"$TMP/piece-$p"
done
for i in $(seq "$N"); do
	for p in $PIECES; do
		cd "$TMP/repo-$([ "$p" = hook_down ] && echo cairn_down || echo cairn_up)"
		t0=$EPOCHREALTIME
		piece "$p"
		t1=$EPOCHREALTIME
		echo "$t0 $t1" >>"$TMP/piece-$p"
	done
done

# stats FILE: "median p95" in ms of the intervals in FILE.
stats() {
	awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' "$1" | sort -n | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		p = int(NR * 0.95 + 0.999999); if (p < 1) p = 1; if (p > NR) p = NR
		printf "%.2f %.2f\n", m, v[p] }'
}

read -r base_med base_p95 < <(stats "$TMP/times-none")
spooled=$(find "$TMP/down/data/cairn/spool" -name '*.json' 2>/dev/null | wc -l)
spooled=$((spooled - N)) # the direct hook runs spooled too
logged=$( (in_env up "$CAIRN" log git.commit --json --limit $((2 * N + WARMUP + 10)) || true) |
	wc -l)
logged=$((logged - N))

echo
echo "git commit wall time, $N commits each ($NFILES-file repository);" \
	"goal: cairn's hook adds <= 20 ms"
printf '%-38s %10s %10s %12s %12s  %s\n' \
	configuration "median ms" "p95 ms" "+median ms" "+p95 ms" goal
for c in $CONFIGS; do
	read -r med p95 < <(stats "$TMP/times-$c")
	add_med=$(awk -v a="$med" -v b="$base_med" 'BEGIN { printf "%.2f", a - b }')
	add_p95=$(awk -v a="$p95" -v b="$base_p95" 'BEGIN { printf "%.2f", a - b }')
	mark=""
	case $c in
	cairn_*) mark=$(awk -v a="$add_med" 'BEGIN { print (a <= 20) ? "PASS" : "MISS" }') ;;
	esac
	printf '%-38s %10s %10s %12s %12s  %s\n' "${LABEL[$c]}" "$med" "$p95" "$add_med" "$add_p95" "$mark"
done
echo
echo "the hook's parts, $N direct runs each"
printf '%-44s %10s %10s\n' command "median ms" "p95 ms"
for p in $PIECES; do
	read -r med p95 < <(stats "$TMP/piece-$p")
	printf '%-44s %10s %10s\n' "${PLABEL[$p]}" "$med" "$p95"
done
echo
echo "events: $logged git.commit logged by the daemon, $spooled spooled while it was down" \
	"(expected $((N + WARMUP)) each)"
