#!/bin/sh
# Regenerates the diagnostics fixtures in tests/data/diag/ by running the real
# compilers, build tools and test runners on small broken projects made in a
# temporary directory, and keeping what they print (stdout and stderr, in the
# order the tool wrote them) as <tool>/<case>.log, with the command that was
# run as <tool>/<case>.cmd.
#
# The <case>.expect files are written by hand from reading the logs and are
# never touched here; a regenerated log that no longer fits its expectations
# makes the unit test fail, which is the point. `make check` does not need any
# of these tools: only this script does.
#
# Usage: scripts/gen-diag-fixtures.sh [TOOL...]
#   TOOL is a fixture directory (gcc clang make ninja cmake ld pytest go cargo
#   node jest javac maven ctest automake tcl generic); none means all. A tool that is not
#   installed, or that cannot run offline here, is skipped with a message;
#   its old fixtures are kept rather than replaced by made-up output.
#
# Tools (Debian packages): gcc clang make cmake ninja-build python3-pytest
# golang-go default-jdk maven tcl autoconf automake, and for offline Maven builds
# libmaven-compiler-plugin-java libmaven-resources-plugin-java
# libsurefire-java junit4 (their jars in /usr/share/maven-repo serve as the
# repository). cargo and rustc from rustup or Debian; node from Debian; jest is
# installed with npm into the temporary directory (or set JEST_DIR to a
# directory whose node_modules already holds jest).
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/tests/data/diag"
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-diag.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
skipped=""

# Plain output everywhere unless a case asks for colour; a stable locale so
# messages are in English with ASCII quotes where the tool allows it.
export LC_ALL=C.UTF-8 LANG=C.UTF-8
unset GCC_COLORS CLICOLOR_FORCE FORCE_COLOR NO_COLOR 2>/dev/null || true
export TERM=dumb

have() { command -v "$1" >/dev/null 2>&1; }

skip() {
	echo "gen-diag: skipping $1: $2" >&2
	skipped="$skipped $1"
}

# capture TOOL CASE DIR CMD: runs CMD with sh in DIR and keeps its output.
capture() {
	tool=$1 case=$2 dir=$3 cmd=$4
	mkdir -p "$out/$tool"
	(cd "$dir" && sh -c "$cmd") >"$out/$tool/$case.log" 2>&1
	status=$?
	printf '%s\n' "$cmd" >"$out/$tool/$case.cmd"
	echo "gen-diag: $tool/$case: exit $status, $(wc -l <"$out/$tool/$case.log") lines"
	[ -f "$out/$tool/$case.expect" ] || echo "gen-diag: $tool/$case.expect is missing: write it by hand" >&2
}

# proj NAME: a fresh project directory; prints its path.
proj() {
	rm -rf "${work:?}/$1"
	mkdir -p "$work/$1"
	printf '%s\n' "$work/$1"
}

# C sources shared by the compiler cases.
c_sources() {
	cat >"$1/main.c" <<'EOF'
#include <stdio.h>

int main(void)
{
	int x = undeclared_var + 1;
	printf("%d\n", x);
	return 0;
}
EOF
	cat >"$1/util.h" <<'EOF'
static int helper(int a)
{
	return a * 2;
}

int twice(int x);
EOF
	cat >"$1/multi.c" <<'EOF'
#include <stdio.h>
#include "util.h"

int twice(long x);

int main(void)
{
	int unused;
	char *s = 42;
	printf("%d\n", "str");
	return twice(2)
}
EOF
	cat >"$1/fatal.c" <<'EOF'
#include <stdio.h>
#include "missing.h"

int main(void)
{
	return 0;
}
EOF
}

gen_gcc() {
	have gcc || { skip gcc "gcc is not installed"; return; }
	d=$(proj gcc)
	c_sources "$d"
	capture gcc error "$d" "gcc -c main.c -o main.o"
	capture gcc multi "$d" "gcc -Wall -Wextra -c multi.c -o multi.o"
	capture gcc fatal "$d" "gcc -c fatal.c -o fatal.o"
	capture gcc color "$d" "gcc -fdiagnostics-color=always -Wall -c multi.c -o multi.o"
}

gen_clang() {
	have clang || { skip clang "clang is not installed"; return; }
	d=$(proj clang)
	c_sources "$d"
	capture clang error "$d" "clang -c main.c -o main.o"
	capture clang multi "$d" "clang -Wall -Wextra -c multi.c -o multi.o"
	capture clang color "$d" "clang -fcolor-diagnostics -Wall -c multi.c -o multi.o"
}

gen_make() {
	have make && have gcc || { skip make "make or gcc is not installed"; return; }
	d=$(proj make)
	c_sources "$d"
	cat >"$d/Makefile" <<'EOF'
all: prog

prog: main.o
	cc -o prog main.o

main.o: main.c
	cc -c main.c -o main.o
EOF
	capture make error "$d" "make"
	mkdir -p "$d/rec/sub"
	cat >"$d/rec/Makefile" <<'EOF'
all:
	$(MAKE) -C sub
EOF
	cat >"$d/rec/sub/Makefile" <<'EOF'
all: lib.o app.o

lib.o: lib.c
	cc -c lib.c -o lib.o

app.o: app.c nothere.h
	cc -c app.c -o app.o
EOF
	cat >"$d/rec/sub/lib.c" <<'EOF'
int lib(void) { return 1 }
EOF
	printf 'int app(void) { return 0; }\n' >"$d/rec/sub/app.c"
	capture make recursive "$d/rec" "make -k"
}

gen_ninja() {
	have ninja && have gcc || { skip ninja "ninja or gcc is not installed"; return; }
	d=$(proj ninja)
	c_sources "$d"
	printf 'int ok(void) { return 0; }\n' >"$d/ok.c"
	cat >"$d/build.ninja" <<'EOF'
rule cc
  command = gcc -Wall -c $in -o $out
  description = CC $out

build ok.o: cc ok.c
build main.o: cc main.c
build multi.o: cc multi.c
build all: phony ok.o main.o multi.o
default all
EOF
	capture ninja error "$d" "ninja main.o"
	capture ninja multi "$d" "ninja -k 0"
	cat >"$d/missing.ninja" <<'EOF'
rule cc
  command = gcc -c $in -o $out
build b.o: cc nothere.c
EOF
	capture ninja missing "$d" "ninja -f missing.ninja"
}

gen_cmake() {
	have cmake || { skip cmake "cmake is not installed"; return; }
	d=$(proj cmake)
	mkdir -p "$d/msg" "$d/src" "$d/bld"
	cat >"$d/msg/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.13)
project(demo C)
message(WARNING "libfoo not found, building without foo support")
if(NOT DEFINED WITH_BAR)
  message(FATAL_ERROR "WITH_BAR must be set: pass -DWITH_BAR=ON or OFF")
endif()
EOF
	capture cmake message "$d/msg" "cmake -S . -B build"
	cat >"$d/src/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.13)
project(demo C)
add_executable(app main.c missing.c)
target_link_libraries(app PRIVATE)
EOF
	printf 'int main(void) { return 0; }\n' >"$d/src/main.c"
	capture cmake source "$d/src" "cmake -S . -B build"
	c_sources "$d/bld"
	cat >"$d/bld/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.13)
project(demo C)
add_executable(app main.c)
EOF
	if have make; then
		(cd "$d/bld" && cmake -S . -B build -G "Unix Makefiles" >/dev/null 2>&1)
		capture cmake build-make "$d/bld" "cmake --build build"
	fi
	if have ninja; then
		(cd "$d/bld" && cmake -S . -B build-ninja -G Ninja >/dev/null 2>&1)
		capture cmake build-ninja "$d/bld" "cmake --build build-ninja"
	fi
}

gen_ld() {
	have gcc || { skip ld "gcc is not installed"; return; }
	d=$(proj ld)
	cat >"$d/main.c" <<'EOF'
int foo(int);
extern int missing_counter;

int main(void)
{
	return foo(1) + missing_counter;
}
EOF
	cat >"$d/a.c" <<'EOF'
int counter = 1;
int helper(void) { return 1; }
int main(void) { return helper(); }
EOF
	cat >"$d/b.c" <<'EOF'
int counter = 2;
int helper(void) { return 2; }
EOF
	(cd "$d" && gcc -g -c main.c a.c b.c)
	capture ld undefined "$d" "gcc -o prog main.o"
	capture ld multiple "$d" "gcc -o prog a.o b.o"
	have clang && capture ld clang "$d" "clang -o prog main.o"
}

gen_pytest() {
	py=""
	for p in pytest pytest-3; do have $p && { py=$p; break; }; done
	[ -n "$py" ] || { skip pytest "pytest is not installed (apt-get install python3-pytest)"; return; }
	d=$(proj pytest)
	mkdir -p "$d/one" "$d/multi" "$d/collect"
	cat >"$d/one/calc.py" <<'EOF'
def add(a, b):
    return a + b + 1
EOF
	cat >"$d/one/test_calc.py" <<'EOF'
from calc import add


def test_add():
    assert add(1, 2) == 3


def test_add_zero():
    assert add(0, 0) == 1
EOF
	capture pytest assert "$d/one" "$py -p no:cacheprovider"
	capture pytest color "$d/one" "$py -p no:cacheprovider --color=yes"
	cat >"$d/multi/parse.py" <<'EOF'
def parse_port(text):
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError(f"port out of range: {value}")
    return value
EOF
	cat >"$d/multi/test_parse.py" <<'EOF'
import pytest

from parse import parse_port


@pytest.fixture
def config():
    return {"port": "80"}["host"]


def test_ok():
    assert parse_port("80") == 80


def test_range():
    assert parse_port("70000") == 70000


def test_words():
    words = ["alpha", "beta"]
    assert words == ["alpha", "gamma"]


def test_uses_config(config):
    assert config
EOF
	capture pytest multi "$d/multi" "$py -p no:cacheprovider"
	cat >"$d/collect/test_broken.py" <<'EOF'
import nosuchmodule


def test_never():
    pass
EOF
	capture pytest collect "$d/collect" "$py -p no:cacheprovider"
}

gen_go() {
	have go || { skip go "go is not installed (apt-get install golang-go)"; return; }
	d=$(proj go)
	export GOCACHE="$work/gocache" GOPATH="$work/gopath" GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local
	mkdir -p "$d/calc" "$d/multi/pa" "$d/multi/pb" "$d/build"
	cat >"$d/calc/go.mod" <<'EOF'
module example.com/calc

go 1.19
EOF
	cat >"$d/calc/calc.go" <<'EOF'
package calc

func Add(a, b int) int { return a + b + 1 }
EOF
	cat >"$d/calc/calc_test.go" <<'EOF'
package calc

import "testing"

func TestAdd(t *testing.T) {
	if got := Add(1, 2); got != 3 {
		t.Errorf("Add(1, 2) = %d, want 3", got)
	}
}
EOF
	capture go test "$d/calc" "go test ./..."
	cat >"$d/multi/go.mod" <<'EOF'
module example.com/multi

go 1.19
EOF
	cat >"$d/multi/pa/pa.go" <<'EOF'
package pa

func Split(s string) []string { return []string{s} }
EOF
	cat >"$d/multi/pa/pa_test.go" <<'EOF'
package pa

import "testing"

func TestSplit(t *testing.T) {
	cases := []struct{ in string; want int }{{"a,b", 2}, {"a", 1}, {"", 0}}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			if got := len(Split(c.in)); got != c.want {
				t.Errorf("len(Split(%q)) = %d, want %d", c.in, got, c.want)
			}
		})
	}
}

func TestFatal(t *testing.T) {
	t.Fatalf("cannot open fixture: %s", "testdata/x.json")
}
EOF
	cat >"$d/multi/pb/pb.go" <<'EOF'
package pb

func At(xs []int, i int) int { return xs[i] }
EOF
	cat >"$d/multi/pb/pb_test.go" <<'EOF'
package pb

import "testing"

func TestAt(t *testing.T) {
	if At([]int{1, 2, 3}, 5) != 0 {
		t.Fail()
	}
}
EOF
	capture go multi "$d/multi" "go test -v ./..."
	cat >"$d/build/go.mod" <<'EOF'
module example.com/app

go 1.19
EOF
	cat >"$d/build/main.go" <<'EOF'
package main

import (
	"fmt"
	"os"
)

func main() {
	var n int = "three"
	fmt.Printl(n)
}
EOF
	capture go build "$d/build" "go build ./..."
	cat >"$d/build/main_test.go" <<'EOF'
package main

import "testing"

func TestMain2(t *testing.T) { undefinedHelper(t) }
EOF
	capture go test-build "$d/build" "go test ./..."
}

gen_cargo() {
	have cargo || { skip cargo "cargo is not installed"; return; }
	d=$(proj cargo)
	export CARGO_TARGET_DIR="$work/cargo-target"
	unset RUST_BACKTRACE
	mkdir -p "$d/app/src" "$d/lib/src"
	cat >"$d/app/Cargo.toml" <<'EOF'
[package]
name = "app"
version = "0.1.0"
edition = "2021"
EOF
	cat >"$d/app/src/main.rs" <<'EOF'
fn count(items: &[u32]) -> usize {
    items.len()
}

fn main() {
    let unused = 5;
    let x: i32 = "seven";
    let n = count(vec![1, 2]);
    println!("{} {}", x, n);
}
EOF
	capture cargo build "$d/app" "cargo build --offline"
	capture cargo color "$d/app" "cargo build --offline --color=always"
	cat >"$d/lib/Cargo.toml" <<'EOF'
[package]
name = "mathlib"
version = "0.1.0"
edition = "2021"
EOF
	cat >"$d/lib/src/lib.rs" <<'EOF'
pub fn add(a: i32, b: i32) -> i32 {
    a + b + 1
}

pub fn first(xs: &[i32]) -> i32 {
    xs[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        assert_eq!(add(1, 2), 3);
    }

    #[test]
    fn first_of_empty() {
        assert_eq!(first(&[]), 0);
    }

    #[test]
    fn passes() {
        assert!(add(0, 0) > 0);
    }
}
EOF
	capture cargo test "$d/lib" "cargo test --offline"
	capture cargo backtrace "$d/lib" "RUST_BACKTRACE=1 cargo test --offline"
	mkdir -p "$d/warn/src"
	sed 's/"app"/"warn"/' "$d/app/Cargo.toml" >"$d/warn/Cargo.toml"
	cat >"$d/warn/src/main.rs" <<'EOF2'
fn helper() -> u32 {
    7
}

fn main() {
    let unused = 5;
    let mut count = 1;
    println!("{}", count);
}
EOF2
	capture cargo warn "$d/warn" "cargo build --offline"
	have rustc && capture cargo rustc "$d/app/src" "rustc --edition 2021 -o $work/rustc-out main.rs"
}

gen_node() {
	have node || { skip node "node is not installed"; return; }
	d=$(proj node)
	cat >"$d/math.test.js" <<'EOF'
const test = require('node:test');
const assert = require('node:assert');

function mul(a, b) { return a * b + 1; }

test('multiplies', () => {
  assert.strictEqual(mul(2, 3), 6);
});

test('passes', () => {
  assert.ok(true);
});

test('objects', () => {
  assert.deepStrictEqual({ a: 1, b: [1, 2] }, { a: 1, b: [1, 3] });
});

test('throws', () => {
  JSON.parse('{bad json');
});
EOF
	cat >"$d/suite.test.js" <<'EOF'
const { describe, it } = require('node:test');
const assert = require('node:assert');

describe('parser', () => {
  it('reads numbers', () => {
    assert.equal(parseInt('42', 10), 42);
  });

  describe('errors', () => {
    it('rejects empty input', () => {
      assert.throws(() => parseInt('', 10));
    });
  });
});
EOF
	capture node tap "$d" "node --test --test-reporter=tap math.test.js"
	capture node spec "$d" "node --test --test-reporter=spec math.test.js"
	capture node nested-tap "$d" "node --test --test-reporter=tap suite.test.js"
	capture node nested-spec "$d" "node --test --test-reporter=spec suite.test.js"
}

gen_jest() {
	have node && have npm || { skip jest "node or npm is not installed"; return; }
	d=$(proj jest)
	if [ -n "${JEST_DIR:-}" ] && [ -x "$JEST_DIR/node_modules/.bin/jest" ]; then
		ln -s "$JEST_DIR/node_modules" "$d/node_modules"
	else
		(cd "$d" && npm init -y >/dev/null 2>&1 &&
			npm install --no-audit --no-fund --silent jest@29 >/dev/null 2>&1) ||
			{ skip jest "npm could not install jest"; return; }
	fi
	printf '{ "name": "demo", "version": "1.0.0" }\n' >"$d/package.json"
	mkdir -p "$d/one" "$d/multi"
	cat >"$d/one/sum.js" <<'EOF'
module.exports = (a, b) => a + b + 1;
EOF
	cat >"$d/one/sum.test.js" <<'EOF'
const sum = require('./sum');

describe('sum', () => {
  test('adds 1 + 2 to equal 3', () => {
    expect(sum(1, 2)).toBe(3);
  });
});
EOF
	capture jest one "$d" "npx jest --ci one"
	cat >"$d/multi/user.test.js" <<'EOF'
function makeUser(name) {
  return { name, roles: ['user'] };
}

describe('user', () => {
  test('has admin role', () => {
    expect(makeUser('ann')).toEqual({ name: 'ann', roles: ['admin'] });
  });

  test('name is set', () => {
    expect(makeUser('bob').name).toBe('bob');
  });

  describe('lookup', () => {
    test('throws on unknown id', () => {
      const users = {};
      expect(users[42].name).toBe('x');
    });
  });
});
EOF
	cat >"$d/multi/broken.test.js" <<'EOF'
const x = ;
test('never runs', () => {});
EOF
	capture jest multi "$d" "npx jest --ci multi"
	capture jest color "$d" "npx jest --ci --colors one"
}

gen_javac() {
	have javac || { skip javac "javac is not installed (apt-get install default-jdk)"; return; }
	d=$(proj javac)
	cat >"$d/Hello.java" <<'EOF'
public class Hello {
    public static void main(String[] args) {
        Strin greeting = "hi";
        System.out.println(greeting);
    }
}
EOF
	capture javac error "$d" "javac Hello.java"
	cat >"$d/Multi.java" <<'EOF'
import java.util.ArrayList;
import java.util.List;

public class Multi {
    static int parse(String s) {
        return Integer.parseInt(s)
    }

    public static void main(String[] args) {
        List raw = new ArrayList();
        raw.add("x");
        int n = "three";
        Thread t = new Thread();
        t.stop();
    }
}
EOF
	capture javac syntax "$d" "javac -Xlint:all Multi.java"
	sed -i 's/Integer.parseInt(s)$/Integer.parseInt(s);/' "$d/Multi.java"
	capture javac multi "$d" "javac -Xlint:all Multi.java"
}

gen_maven() {
	have mvn || { skip maven "mvn is not installed (apt-get install maven)"; return; }
	[ -d /usr/share/maven-repo/org/apache/maven/plugins/maven-surefire-plugin/2.22.3 ] &&
		[ -d /usr/share/maven-repo/org/apache/maven/plugins/maven-compiler-plugin/3.10.1 ] ||
		{ skip maven "no offline plugin repository; apt-get install libmaven-compiler-plugin-java libmaven-resources-plugin-java libsurefire-java junit4"; return; }
	d=$(proj maven)
	# Maven cannot reach its central repository here; Debian's jars in
	# /usr/share/maven-repo stand in for it, copied into a private local
	# repository so nothing under /usr is written.
	cat >"$work/m2-settings.xml" <<EOF
<settings>
  <localRepository>$work/m2</localRepository>
  <mirrors>
    <mirror><id>debian</id><mirrorOf>*</mirrorOf><url>file:///usr/share/maven-repo</url></mirror>
  </mirrors>
</settings>
EOF
	for c in compile test; do
		mkdir -p "$d/$c/src/main/java/demo" "$d/$c/src/test/java/demo"
		cat >"$d/$c/pom.xml" <<'EOF'
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>demo</groupId>
  <artifactId>demo</artifactId>
  <version>1.0</version>
  <properties>
    <maven.compiler.source>17</maven.compiler.source>
    <maven.compiler.target>17</maven.compiler.target>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
    <dependency>
      <groupId>junit</groupId>
      <artifactId>junit</artifactId>
      <version>4.x</version>
      <scope>test</scope>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-resources-plugin</artifactId>
        <version>3.3.0</version>
      </plugin>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-compiler-plugin</artifactId>
        <version>3.10.1</version>
      </plugin>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-surefire-plugin</artifactId>
        <version>2.22.3</version>
      </plugin>
    </plugins>
  </build>
</project>
EOF
	done
	cat >"$d/compile/src/main/java/demo/App.java" <<'EOF'
package demo;

public class App {
    public static int add(int a, int b) {
        return a + b + offset;
    }

    public static String name() {
        return 42;
    }
}
EOF
	cat >"$d/test/src/main/java/demo/App.java" <<'EOF'
package demo;

public class App {
    public static int add(int a, int b) {
        return a + b + 1;
    }

    public static int div(int a, int b) {
        return a / b;
    }
}
EOF
	cat >"$d/test/src/test/java/demo/AppTest.java" <<'EOF'
package demo;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class AppTest {
    @Test
    public void addsTwoNumbers() {
        assertEquals(3, App.add(1, 2));
    }

    @Test
    public void dividesByZero() {
        assertEquals(0, App.div(1, 0));
    }

    @Test
    public void passes() {
        assertEquals(2, 1 + 1);
    }
}
EOF
	# A first run fills the private repository (and prints a download log
	# and checksum warnings for Debian's unsigned jars); the kept runs are
	# the second ones, as a developer with a warm repository sees them.
	(cd "$d/test" && mvn -B -s "$work/m2-settings.xml" test >/dev/null 2>&1)
	capture maven compile "$d/compile" "mvn -B -s $work/m2-settings.xml test"
	capture maven test "$d/test" "mvn -B -s $work/m2-settings.xml test"
	if ! grep -q 'BUILD FAILURE' "$out/maven/test.log" || grep -q 'Could not resolve\|Could not transfer' "$out/maven/test.log"; then
		echo "gen-diag: maven could not resolve its plugins offline; see $out/maven/test.log" >&2
	fi
}

gen_ctest() {
	have ctest && have cmake || { skip ctest "cmake/ctest is not installed"; return; }
	d=$(proj ctest)
	cat >"$d/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.13)
project(demo NONE)
enable_testing()
add_test(NAME passes COMMAND true)
add_test(NAME fails COMMAND false)
add_test(NAME prints_error COMMAND sh -c "echo 'expected 3, got 4'; exit 2")
EOF
	(cd "$d" && cmake -S . -B build >/dev/null 2>&1)
	capture ctest fail "$d/build" "ctest"
	capture ctest output "$d/build" "ctest --output-on-failure"
	have gcc && have make || { skip ctest "gcc or make is not installed: only the plain cases"; return; }
	# Every way a test can end: a crash, an assertion that names its file
	# and line, a timeout, a missing executable, disabled, skipped, a
	# required regular expression not found, and a pass whose name says
	# "error".
	d=$(proj ctest-kinds)
	cat >"$d/segv.c" <<'EOF'
int main(void)
{
	volatile int *p = 0;
	return *p;
}
EOF
	cat >"$d/test_parse.c" <<'EOF'
#include <stdio.h>

static int parse(const char *s)
{
	return s[0] - '0' + 1;
}

int main(void)
{
	int got = parse("3");
	if (got != 3) {
		fprintf(stderr, "test_parse.c:13: check failed: parse(\"3\") == 3, got %d\n", got);
		return 1;
	}
	return 0;
}
EOF
	cat >"$d/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.13)
project(kinds C)
enable_testing()
add_executable(segv segv.c)
add_executable(test_parse test_parse.c)
add_test(NAME passes COMMAND true)
add_test(NAME crashes COMMAND segv)
add_test(NAME parse_check COMMAND test_parse)
add_test(NAME slow COMMAND sleep 5)
set_tests_properties(slow PROPERTIES TIMEOUT 1)
add_test(NAME missing_exe COMMAND /nonexistent/prog)
add_test(NAME disabled_one COMMAND true)
set_tests_properties(disabled_one PROPERTIES DISABLED TRUE)
add_test(NAME skipped_one COMMAND sh -c "exit 77")
set_tests_properties(skipped_one PROPERTIES SKIP_RETURN_CODE 77)
add_test(NAME wants_ok COMMAND sh -c "echo all good")
set_tests_properties(wants_ok PROPERTIES PASS_REGULAR_EXPRESSION "^ok")
add_test(NAME error_handling COMMAND true)
EOF
	(cd "$d" && cmake -S . -B build -G "Unix Makefiles" >/dev/null 2>&1 &&
		cmake --build build >/dev/null 2>&1)
	capture ctest kinds "$d/build" "ctest --output-on-failure"
	capture ctest verbose "$d/build" "ctest -V -R 'crashes|parse_check|skipped_one'"
	capture ctest make-test "$d/build" "make test"
}

gen_automake() {
	have autoreconf && have automake && have make ||
		{ skip automake "autoconf, automake or make is not installed"; return; }
	# make check through automake's parallel test harness: a pass, a pass
	# that prints "0 errors", a failure, a skip, an expected failure and a
	# hard error (exit 99).
	d=$(proj automake)
	cat >"$d/configure.ac" <<'EOF'
AC_INIT([demo], [1.0])
AM_INIT_AUTOMAKE([foreign])
AC_CONFIG_FILES([Makefile])
AC_OUTPUT
EOF
	cat >"$d/Makefile.am" <<'EOF'
TESTS = passes.sh errors_counted.sh fails.sh skipped.sh expected_fail.sh hard_error.sh
XFAIL_TESTS = expected_fail.sh
EXTRA_DIST = $(TESTS)
EOF
	printf '#!/bin/sh\nexit 0\n' >"$d/passes.sh"
	printf '#!/bin/sh\necho "checked 12 inputs, 0 errors"\nexit 0\n' >"$d/errors_counted.sh"
	printf '#!/bin/sh\necho "parse.c:12: expected 3, got 4" >&2\nexit 1\n' >"$d/fails.sh"
	printf '#!/bin/sh\nexit 77\n' >"$d/skipped.sh"
	printf '#!/bin/sh\nexit 1\n' >"$d/expected_fail.sh"
	printf '#!/bin/sh\necho "cannot open fixture data/x.bin" >&2\nexit 99\n' >"$d/hard_error.sh"
	chmod +x "$d"/*.sh
	(cd "$d" && autoreconf -i >/dev/null 2>&1 && ./configure >/dev/null 2>&1) ||
		{ skip automake "autoreconf or configure failed"; return; }
	capture automake check "$d" "make check"
	capture automake verbose "$d" "make check VERBOSE=1"
	capture automake pass "$d" "make check TESTS='passes.sh errors_counted.sh skipped.sh'"
}

gen_tcl() {
	have tclsh || { skip tcl "tclsh is not installed (apt-get install tcl)"; return; }
	# A copy of the fixture project: a Tcl harness built and printing like
	# redis's ./runtest (tests/data/diag/tcl/project/tests/test_helper.tcl).
	d=$(proj tcl)
	cp -R "$out/tcl/project/." "$d/"
	capture tcl fail "$d" "./runtest --skiptest 'SADD, SCARD, SISMEMBER basics' --tags -needs:debug"
	capture tcl pass "$d" "make test ARGS='--single unit/expire'"
	capture tcl make "$d" "make test"
	capture tcl color "$d" "TERM=xterm ./runtest --single unit/type/set"
	capture tcl exception "$d" "tclsh tests/test_helper.tcl --single unit/other"
	capture tcl durable "$d" "./runtest --single unit/other --durable"
	capture tcl timeout "$d" "./runtest --single unit/slow --timeout 1"
}

gen_generic() {
	d=$(proj generic)
	if have python3; then
		cat >"$d/app.py" <<'EOF'
import json


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    cfg = load("config.json")
    print(cfg["name"])


main()
EOF
		printf '{"name": "x",}\n' >"$d/config.json"
		capture generic python "$d" "python3 app.py"
	fi
	if have git; then
		capture generic git "$d" "git -c core.pager=cat log -1"
	fi
	if have tar; then
		capture generic tar "$d" "tar -cf out.tar nothere.txt app.py"
	fi
}

all="gcc clang make ninja cmake ld pytest go cargo node jest javac maven ctest automake tcl generic"
[ $# -gt 0 ] && all="$*"
for t in $all; do
	case $t in
	gcc | clang | make | ninja | cmake | ld | pytest | go | cargo | node | jest | javac | maven | ctest | automake | tcl | generic)
		"gen_$t" ;;
	*) echo "gen-diag: unknown tool '$t'" >&2 ;;
	esac
done
[ -n "$skipped" ] && echo "gen-diag: skipped:$skipped" >&2
exit 0
