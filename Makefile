# cce: plain GNU make. User CFLAGS/CPPFLAGS/LDFLAGS are respected, never
# overwritten: our flags go in CCE_* variables that are prepended.
.SUFFIXES:

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
DESTDIR    ?=
BUILD      ?= build
VERSION    := $(shell cat VERSION 2>/dev/null || echo 0.1.0)

CC         ?= cc
CFLAGS     ?= -O2 -g
CCE_CFLAGS  = -std=gnu11 -Wall -Wextra -Wshadow -Wno-unused-parameter -pthread
# libpq's header lives under postgresql/ on Debian
PQ_CFLAGS  := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
CCE_CPPFLAGS = -Ilib $(PQ_CFLAGS) -D_GNU_SOURCE -DCCE_VERSION='"$(VERSION)"'
CCE_LDLIBS  = -ljq -lcurl -larchive -lmosquitto -lmicrohttpd -lgnutls -lsqlite3 -lpq -lz -lzstd -lcrypto -lxxhash -lsystemd -lm -lpthread

ifeq ($(DEVELOPER),1)
CCE_CFLAGS += -Werror -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
	-Wold-style-definition -Wvla -Wpointer-arith -Wundef
endif
ifneq ($(SANITIZE),)
CCE_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
CCE_LDFLAGS += -fsanitize=$(SANITIZE)
endif

ALL_CFLAGS  = $(CCE_CPPFLAGS) $(CPPFLAGS) $(CCE_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = -Wl,--as-needed $(CCE_LDFLAGS) $(LDFLAGS)

LIB_SRC  := $(sort $(wildcard lib/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIBCCE   := $(BUILD)/lib/libcce.a
TOOLS    := $(sort $(patsubst cmd/%.c,%,$(wildcard cmd/cce-*.c)))
BINS     := $(TOOLS:%=$(BUILD)/bin/%)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNITS    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TESTTOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TESTTOOLS := $(TESTTOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)
MANPAGES := $(sort $(wildcard man/*.[1-9]))
SCRIPTS  := $(filter-out scripts/cce-lib.sh,$(sort $(wildcard scripts/cce-*)))
# the scripts' shared shell library, found by them in ../lib/cce
SHLIB    := scripts/cce-lib.sh
SHLIBDIR  = $(PREFIX)/lib/cce
COMPS    := $(sort $(wildcard completions/*))

all: $(LIBCCE) $(BINS) $(TESTTOOLS)

# A tool is cmd/cce-NAME.c plus, when it grows, cmd/cce-NAME/*.c.
define tool_rule
$(BUILD)/bin/$(1): $(BUILD)/cmd/$(1).o $(patsubst %.c,$(BUILD)/%.o,$(wildcard cmd/$(1)/*.c)) $(LIBCCE)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $$(ALL_LDFLAGS) -o $$@ $$(filter %.o,$$^) $(LIBCCE) $$(CCE_LDLIBS) $$(LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

$(BUILD)/%.o: %.c $(wildcard lib/*.h) $(wildcard cmd/*/*.h) $(wildcard tests/unit/*.h) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCCE): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

# A tool's parts (cmd/cce-NAME/*.c, not its main) as one archive, which the
# unit tests of that tool link: tests/unit/test_NAME.c and test_NAME_*.c. A
# test calls the parts through their headers; members are pulled only for
# what the test does not define itself.
define parts_rule
$(BUILD)/cmd/$(1)/parts.a: $(patsubst %.c,$(BUILD)/%.o,$(wildcard cmd/$(1)/*.c))
	@mkdir -p $$(@D)
	rm -f $$@
	$$(AR) rcs $$@ $$^
endef
$(foreach t,$(TOOLS),$(if $(wildcard cmd/$(t)/*.c),$(eval $(call parts_rule,$(t)))))
test_tool = cce-$(firstword $(subst _, ,$(1)))
test_parts = $(if $(wildcard cmd/$(call test_tool,$(1))/*.c),$(BUILD)/cmd/$(call test_tool,$(1))/parts.a)

.SECONDEXPANSION:
$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $$(call test_parts,$$*) $(LIBCCE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(call test_parts,$*) $(LIBCCE) $(CCE_LDLIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBCCE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBCCE) $(CCE_LDLIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/tools/%.o $(LIBCCE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBCCE) $(CCE_LDLIBS) $(LDLIBS)

units: $(UNITS)

# The one command that passes the tests (see README.md).
check:
	@scripts/check

demo: 
	@scripts/install-deps --build
	@$(MAKE) --no-print-directory all
	@scripts/demo

bench: all
	@for b in tests/bench/*; do [ -x "$$b" ] && { echo "== $$b"; "$$b" || exit 1; }; done; true

FUZZ_CC ?= clang
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZERS  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
fuzz: $(FUZZERS)
# fuzz_NAME.c links lib/ and, when it exists, cmd/cce-NAME/ (a tool's parts
# other than its main).
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC) $(wildcard lib/*.h) $(wildcard cmd/*/*.[ch])
	@mkdir -p $(@D)
	$(FUZZ_CC) -g -O1 -std=gnu11 -Ilib -Icmd $(PQ_CFLAGS) -D_GNU_SOURCE -DCCE_VERSION='"$(VERSION)"' \
		-fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_SRC) $(wildcard cmd/cce-$*/*.c) $(CCE_LDLIBS)

# Each harness runs FUZZ_SECONDS (default 20) from its seed corpus
# tests/fuzz/corpus/NAME/ and must find nothing.
fuzz-smoke: fuzz
	@for f in $(FUZZERS); do n=$${f##*/fuzz_}; mkdir -p $(BUILD)/fuzz/work-$$n; \
		echo "fuzz-smoke: $$n"; \
		$$f -max_total_time=$${FUZZ_SECONDS:-20} -max_len=4096 -print_final_stats=0 \
			$(BUILD)/fuzz/work-$$n tests/fuzz/corpus/$$n >$(BUILD)/fuzz/$$n.log 2>&1 \
		|| { tail -40 $(BUILD)/fuzz/$$n.log; exit 1; }; done

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	for b in $(BINS) $(SCRIPTS); do install -m 0755 "$$b" $(DESTDIR)$(BINDIR)/; done
	mkdir -p $(DESTDIR)$(SHLIBDIR)
	install -m 0644 $(SHLIB) $(DESTDIR)$(SHLIBDIR)/
	for m in $(MANPAGES); do s=$${m##*.}; mkdir -p $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man$$s/; done
	for c in $(COMPS); do case "$$c" in \
		*.bash) install -m 0644 "$$c" $(DESTDIR)$(BASHCOMPDIR)/$$(basename "$$c" .bash);; \
		*/_*) install -m 0644 "$$c" $(DESTDIR)$(ZSHCOMPDIR)/;; esac; done

uninstall:
	for b in $(TOOLS) $(notdir $(SCRIPTS)); do rm -f $(DESTDIR)$(BINDIR)/$$b; done
	rm -f $(DESTDIR)$(SHLIBDIR)/$(notdir $(SHLIB))
	-rmdir $(DESTDIR)$(SHLIBDIR) 2>/dev/null
	for m in $(MANPAGES); do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$$(basename "$$m"); done
	for c in $(COMPS); do case "$$c" in \
		*.bash) rm -f $(DESTDIR)$(BASHCOMPDIR)/$$(basename "$$c" .bash);; \
		*/_*) rm -f $(DESTDIR)$(ZSHCOMPDIR)/$$(basename "$$c");; esac; done

clean:
	rm -rf build build-san

.PHONY: all units check demo bench fuzz fuzz-smoke install uninstall clean
.SECONDARY:
