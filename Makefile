# cairn build. `make run` starts the daemon; `make check` runs every test.
# Both install missing Debian packages first (scripts/deps.sh). `make install`
# puts cairn in PREFIX (docs/install.md).

# Linked: what most cairn processes use. Headers only: libraries loaded with
# dlopen() on first use (src/common/dl.h), so that only the processes that
# use them pay for loading them and the ~50 libraries they pull in (glibc
# 2.34+ has dlopen in libc: no -ldl).
LINK_PKGS  := libuv jansson sqlite3 inih
DL_PKGS    := libsystemd libgit2 libcurl
PKGS       := $(LINK_PKGS) $(DL_PKGS)
CC         ?= cc
BUILD      := build
VERSION    := 0.1.0

PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS    = $(shell pkg-config --libs $(LINK_PKGS))
WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASE_CFLAGS = -std=gnu11 -D_GNU_SOURCE -DCAIRN_VERSION='"$(VERSION)"' -Isrc $(WARN) $(PKG_CFLAGS)
LIBS        = $(PKG_LIBS) -lpthread -lm

SRCS      := $(sort $(wildcard src/*/*.c))
LIB_SRCS  := $(filter-out src/cli/main.c,$(SRCS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))

# Release build: build/rel. Sanitizer build (what `make check` tests): build/san.
REL_CFLAGS = $(BASE_CFLAGS) -O2 -g
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# The test build also registers the services only tests use (src/services/registry.c).
SAN_CFLAGS = $(BASE_CFLAGS) -O1 -g $(SAN_FLAGS) -DCAIRN_TEST_BUILD

REL_OBJS := $(LIB_SRCS:%.c=$(BUILD)/rel/%.o)
FUZZ_OBJS := $(LIB_SRCS:%.c=$(BUILD)/fuzz/%.o)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz/bin/%)
SAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/san/%.o)

# What `make install` installs (docs/install.md): BIN, and the man page and
# completions made from BIN's own --help (scripts/clidoc.awk).
BIN        = $(BUILD)/rel/cairn
GEN_FILES := $(BUILD)/gen/cairn.1 $(BUILD)/gen/cairn.bash $(BUILD)/gen/_cairn

.PHONY: all deps run check unit integration fuzz-check fuzz bench soak fmt fmt-check clean \
	install uninstall

all: deps $(BUILD)/rel/cairn $(GEN_FILES)

deps:
	@sh scripts/deps.sh

$(BUILD)/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/rel/libcairn.a: $(REL_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/san/libcairn.a: $(SAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/rel/cairn: $(BUILD)/rel/src/cli/main.o $(BUILD)/rel/libcairn.a
	$(CC) $(REL_CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/san/cairn: $(BUILD)/san/src/cli/main.o $(BUILD)/san/libcairn.a
	$(CC) $(SAN_CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/san/tests/%: tests/unit/%.c tests/unit/testdata.h $(BUILD)/san/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -o $@ $< $(BUILD)/san/libcairn.a $(LIBS) -lcmocka

$(BUILD)/rel/tools/%: tests/tools/%.c $(BUILD)/rel/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -o $@ $< $(BUILD)/rel/libcairn.a $(LIBS)

UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/san/tests/%)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/rel/tools/%)

run: all
	exec $(BUILD)/rel/cairn daemon

# Leaks fail the run: LeakSanitizer is on (the default for ASan on Linux) and
# every test checks the daemon's exit status.
export ASAN_OPTIONS := detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1

check: deps $(BUILD)/san/cairn $(UNIT_BINS) $(TOOL_BINS) $(FUZZ_BINS)
	@sh tests/check.sh

unit: $(UNIT_BINS)
	@sh tests/run-unit.sh $(UNIT_BINS)

integration: $(BUILD)/san/cairn $(TOOL_BINS)
	@CAIRN_BIN=$(abspath $(BUILD)/san/cairn) CAIRN_TOOLS=$(abspath $(BUILD)/rel/tools) \
		sh tests/run-integration.sh

# Fuzz targets: libFuzzer with clang, the library compiled with coverage.
FUZZ_CFLAGS = $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined
FUZZ_SECONDS ?= 15

$(BUILD)/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/fuzz/libcairn.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/bin/%: fuzz/%.c $(BUILD)/fuzz/libcairn.a
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

fuzz: $(FUZZ_BINS)

fuzz-check: $(FUZZ_BINS)
	@sh fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

bench: $(BUILD)/rel/cairn $(TOOL_BINS)
	@CAIRN_DEPS_BENCH=1 sh scripts/deps.sh
	@$(MAKE) --no-print-directory -C bench BUILD=$(abspath $(BUILD))/bench CAIRN=$(abspath $(BUILD)/rel/cairn)

# The soak (bench/soak/soak.py): SOAK_SECONDS long, 30 minutes unless set.
soak: $(BUILD)/rel/cairn
	@$(MAKE) --no-print-directory -C bench soak CAIRN=$(abspath $(BUILD)/rel/cairn)

FMT_FILES = $(SRCS) $(wildcard src/*/*.h) $(UNIT_SRCS) tests/unit/testdata.h $(FUZZ_SRCS) $(TOOL_SRCS)

fmt:
	clang-format -i $(FMT_FILES)

# Part of `make check`: fails when a file is not as `make fmt` would leave it.
fmt-check:
	@bad=0; for f in $(FMT_FILES); do \
		clang-format --dry-run -Werror "$$f" >/dev/null 2>&1 || { echo "not formatted: $$f (run make fmt)" >&2; bad=$$((bad + 1)); }; \
	done; \
	if [ $$bad -eq 0 ]; then echo "fmt-check: 1 passed, 0 failed"; else echo "fmt-check: 0 passed, 1 failed"; fi; \
	[ $$bad -eq 0 ]

# Installation: make install [PREFIX=/usr/local] [DESTDIR=] [BIN=...]. PREFIX
# may come from the environment; the other directories only from the command line.
PREFIX      ?= /usr/local
override PREFIX := $(patsubst %/,%,$(PREFIX))
BINDIR       = $(PREFIX)/bin
MANDIR       = $(PREFIX)/share/man
BASHCOMPDIR  = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR   = $(PREFIX)/share/zsh/site-functions
# systemd's user manager reads units from /usr/lib/systemd/user and
# /usr/local/lib/systemd/user, and from $XDG_DATA_HOME/systemd/user
# (~/.local/share/systemd/user), but not from ~/.local/lib.
USERUNITDIR  = $(if $(filter /usr /usr/local,$(PREFIX)),$(PREFIX)/lib,$(PREFIX)/share)/systemd/user
UNIT         = $(DESTDIR)$(USERUNITDIR)/cairn.service

$(GEN_FILES) &: $(BIN) scripts/clidoc.awk
	@mkdir -p $(BUILD)/gen
	awk -v bin='$(BIN)' -v out=all -v dir=$(BUILD)/gen -f scripts/clidoc.awk || \
		{ rm -f $(GEN_FILES); exit 1; }

# The unit's ExecStart is made to name the binary installed (contrib/cairn.service
# names ~/.local/bin/cairn, for installing it by hand); install fails if it cannot.
install: $(BIN) $(GEN_FILES)
	@case '$(PREFIX)' in /*) ;; *) echo "make install: PREFIX must be an absolute path, not" \
		"'$(PREFIX)' (in zsh, write \$$HOME/.local: ~ is not expanded after =)" >&2; exit 2;; esac
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(MANDIR)/man1' '$(DESTDIR)$(BASHCOMPDIR)' \
		'$(DESTDIR)$(ZSHCOMPDIR)' '$(DESTDIR)$(USERUNITDIR)'
	install -m 755 '$(BIN)' '$(DESTDIR)$(BINDIR)/cairn'
	install -m 644 $(BUILD)/gen/cairn.1 '$(DESTDIR)$(MANDIR)/man1/cairn.1'
	install -m 644 $(BUILD)/gen/cairn.bash '$(DESTDIR)$(BASHCOMPDIR)/cairn'
	install -m 644 $(BUILD)/gen/_cairn '$(DESTDIR)$(ZSHCOMPDIR)/_cairn'
	sed -e '1,/^\[Unit\]/{/^#/d;}' -e 's|^ExecStart=.*/cairn daemon$$|ExecStart=$(BINDIR)/cairn daemon|' \
		-e 's|^Documentation=.*|Documentation=man:cairn(1)|' contrib/cairn.service > '$(UNIT).new'
	@grep -qxF 'ExecStart=$(BINDIR)/cairn daemon' '$(UNIT).new' || { rm -f '$(UNIT).new'; \
		echo "make install: no 'ExecStart=.../cairn daemon' line in contrib/cairn.service" >&2; exit 1; }
	chmod 644 '$(UNIT).new' && mv '$(UNIT).new' '$(UNIT)'

# Removes what install put, and only that (not the directories).
uninstall:
	rm -f '$(DESTDIR)$(BINDIR)/cairn' '$(DESTDIR)$(MANDIR)/man1/cairn.1' \
		'$(DESTDIR)$(BASHCOMPDIR)/cairn' '$(DESTDIR)$(ZSHCOMPDIR)/_cairn' '$(UNIT)'

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
