# ferry — build, test, install.  `make help` lists the targets.

PREFIX   ?= /usr/local
CC       ?= cc
OBJCOPY  ?= objcopy
CFLAGS   ?= -O2 -g
BUILD    ?= build/release
PKGS     := lua5.4 libcurl yaml-0.1 libgit2 libedit
DEB_PKGS := liblua5.4-dev libcurl4-openssl-dev libyaml-dev libgit2-dev libedit-dev pkg-config
# what the test suites drive besides ferry (tests/env installs its own servers)
# (lua5.4: the conformance suite runs Debian's busted on the Lua ferry embeds,
# whatever interpreter the `lua` alternative names; chromium: the HTML report
# is loaded in a real browser; clang, libclang-rt-14-dev: libFuzzer and the
# sanitizers for tests/fuzz)
TEST_DEB_PKGS := valgrind tmux openssh-server lua-busted lua5.4 time chromium clang libclang-rt-14-dev

WARNINGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
ALL_CFLAGS = $(WARNINGS) $(CFLAGS) -Iinclude -Isrc -I$(BUILD) $(PKG_CFLAGS)
LDLIBS     = $(PKG_LIBS) -lm

LIB_SRC  := $(shell find src -name '*.c' ! -path 'src/cli/*' ! -path 'src/tools/*' | sort)
CLI_SRC  := $(wildcard src/cli/*.c)
LUA_SRC  := $(shell find lua recipes -name '*.lua' ! -path 'recipes/examples/*' | sort)
HEADERS  := $(shell find src include -name '*.h')
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/embedded_lua.o
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

SANITIZE := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# tests/fuzz: libFuzzer targets over libferry built with clang in its own BUILD
FUZZ_BUILD   := build/fuzz
FUZZ_TARGETS := json yaml base64 kubeconfig journal prom
FUZZ_SECONDS ?= 300
FUZZ_CFLAGS  := $(SANITIZE) -fsanitize=fuzzer-no-link

.PHONY: all deps test test-e2e asan unit-bin fuzz fuzz-bin env env-up env-down demo demo-down bench install uninstall clean help

all: ferry libferry.a

# (copied through a rename: a running ./ferry keeps its old file)
ferry: $(BUILD)/ferry
	cp $< $@.tmp && mv $@.tmp $@

$(BUILD)/ferry: $(CLI_OBJ) $(BUILD)/libferry.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libferry.a $(LDLIBS)

libferry.a: $(BUILD)/libferry.a
	cp $< $@.tmp && mv $@.tmp $@

# libferry.a holds one object: the library's objects linked into one (ld -r),
# then every symbol but ferry_* and luaopen_ferry_* made local, so a program
# linking it meets none of the names the files share among themselves.
$(BUILD)/libferry.o: $(LIB_OBJ)
	$(LD) -r -o $@.tmp $^
	$(OBJCOPY) --wildcard --keep-global-symbol='ferry_*' --keep-global-symbol='luaopen_ferry_*' $@.tmp $@
	rm -f $@.tmp

$(BUILD)/libferry.a: $(BUILD)/libferry.o
	rm -f $@
	ar rcs $@ $<

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The Lua library, compiled in (see src/tools/embedgen.c).
$(BUILD)/embedgen: src/tools/embedgen.c
	@mkdir -p $(dir $@)
	$(CC) $(WARNINGS) -O2 -o $@ $<

$(BUILD)/embedded_lua.c: $(BUILD)/embedgen $(LUA_SRC)
	$(BUILD)/embedgen lua $(LUA_SRC) > $@.tmp && mv $@.tmp $@

$(BUILD)/embedded_lua.o: $(BUILD)/embedded_lua.c src/core/embedded.h
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libferry.a $(LDLIBS)

# The embedding example of docs/embedding.md, built as a user would build it.
$(BUILD)/examples/embed: examples/embed.c $(BUILD)/libferry.a include/ferry.h
	@mkdir -p $(dir $@)
	$(CC) $(WARNINGS) $(CFLAGS) -Iinclude $(PKG_CFLAGS) -o $@ $< $(BUILD)/libferry.a $(LDLIBS)

unit-bin: $(UNIT_BIN) $(BUILD)/examples/embed

# One fuzz target: tests/fuzz/harness.c driving tests/fuzz/NAME.lua
# (built with BUILD=$(FUZZ_BUILD) CC=clang, see fuzz-bin).
$(BUILD)/fuzz/%: tests/fuzz/harness.c tests/fuzz/%.lua tests/fuzz/common.lua $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -DFUZZ_DRIVER='"$(CURDIR)/tests/fuzz/$*.lua"' -o $@ $< \
	  $(BUILD)/libferry.a $(LDLIBS)

fuzz-bin:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang CFLAGS='$(FUZZ_CFLAGS)' $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz/%)

# Each fuzz target for FUZZ_SECONDS (default 300); what it finds is kept in
# $(FUZZ_BUILD)/findings, the inputs it adds in $(FUZZ_BUILD)/corpus.
fuzz: deps fuzz-bin
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Installs the Debian packages the build and the tests need, only when one is missing.
deps:
	@missing=$$(for p in $(DEB_PKGS) $(TEST_DEB_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	  | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Every suite, with the release build and again under ASan+UBSan, then the
# lab end to end; ends with one line totalling them all.
test: deps
	$(MAKE) all unit-bin
	$(MAKE) BUILD=build/asan CFLAGS='$(SANITIZE)' build/asan/ferry unit-bin
	$(MAKE) fuzz-bin
	E2E=1 VALGRIND=1 FUZZ_BUILD=$(FUZZ_BUILD) tests/run-all ./ferry $(BUILD) build/asan/ferry build/asan

# The lab's upgrade end to end alone (tests/e2e: what `make demo` does, checked).
test-e2e: deps all
	FERRY_ROOT=$(CURDIR) FERRY_BIN=$(CURDIR)/ferry ./ferry test tests/e2e

# The local lab (docs/lab.md): two clusters, Flux, Flagger, HAProxy, and
# `ferry run upgrade-cluster` from old to new. FAIL=latency|errors|cpu makes
# the new cluster worse, to show the rollback.
demo: deps all
	tests/env/lab/demo $(if $(FAIL),--fail=$(FAIL))

demo-down:
	tests/env/lab/demo down

asan: deps
	$(MAKE) BUILD=build/asan CFLAGS='$(SANITIZE)' build/asan/ferry unit-bin
	tests/run-all build/asan/ferry build/asan

# The test environment: real control planes, Prometheus and Git (tests/env/README.md).
env:
	tests/env/ferry-env build

env-up:
	tests/env/ferry-env up

env-down:
	tests/env/ferry-env down

bench: all
	bench/run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include
	install -m 755 ferry $(DESTDIR)$(PREFIX)/bin/ferry
	install -m 644 libferry.a $(DESTDIR)$(PREFIX)/lib/libferry.a
	install -m 644 include/ferry.h $(DESTDIR)$(PREFIX)/include/ferry.h

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ferry $(DESTDIR)$(PREFIX)/lib/libferry.a \
	      $(DESTDIR)$(PREFIX)/include/ferry.h

clean:
	rm -rf build ferry libferry.a

help:
	@echo "make            build ./ferry and libferry.a"
	@echo "make deps       install the Debian packages the build needs"
	@echo "make demo       the local lab: a blue/green upgrade on real Flux, Flagger, HAProxy (FAIL=latency: a rollback)"
	@echo "make demo-down  stop the lab"
	@echo "make test       every test suite, also under AddressSanitizer+UBSan, and the lab end to end"
	@echo "make test-e2e   the lab end to end only"
	@echo "make asan       the test suites under AddressSanitizer+UBSan only"
	@echo "make fuzz       each fuzz target of tests/fuzz for FUZZ_SECONDS (default 300)"
	@echo "make env        build the test environment (tests/env); env-up / env-down start and stop it"
	@echo "make bench      benchmarks (bench/), figures as ratios"
	@echo "make install    install to PREFIX (default /usr/local)"
