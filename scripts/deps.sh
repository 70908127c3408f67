#!/bin/sh
# Installs the Debian packages that cairn's build, tests and benchmarks need.
# Idempotent: packages already present are skipped, so a second run is quick
# and needs no network. Works as root or through sudo.
set -eu

# Build and run.
PKGS="build-essential pkg-config libuv1-dev libsqlite3-dev libjansson-dev \
libinih-dev libsystemd-dev libgit2-dev libcurl4-openssl-dev"
# Tests: unit tests, sanitizers, fuzzers (clang's libFuzzer), integration,
# the format check (clang-format), the man page check (groff).
PKGS="$PKGS libcmocka-dev clang libclang-rt-14-dev clang-format python3 git zsh groff-base"
# The real build systems triage is tested on (tests/integration/test_suspects.py).
PKGS="$PKGS autoconf automake cmake ninja-build"
if [ "${CAIRN_DEPS_BENCH:-0}" = 1 ]; then
	# Benchmarks: the named peers.
	PKGS="$PKGS nats-server redis-server libnats-dev inotify-tools"
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps: need root to install:$missing; run as root or install sudo" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
