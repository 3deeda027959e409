# privacy-edge
#
#   make          the nginx module and the backend, into build/
#   make test     install what is missing, build, run every test (prove)
#   make run      the local stack in the foreground; Ctrl-C stops it
#   make fuzz     libFuzzer runs of the parsers (FUZZ_SECONDS each)
#   make bench    the benchmarks in bench/
#   make compat   nginx's own tests without and with the module, compared
#   make deb      the Debian packages (debian/), into build/

BUILD        := build
MODULE       := $(BUILD)/ngx_http_privacy_module.so
BACKEND      := $(BUILD)/privacy-backend

CC           ?= cc
CFLAGS       ?= -O2 -g
WARN         := -Wall -Wextra -Werror
FUZZ_SECONDS ?= 10
FUZZ_CC      ?= clang

# lib/: the pure C (parsers, rate arithmetic, signatures, the metadata
# stripper), no nginx types, shared by the module, the backend, the unit
# tests, fuzzers and bench
LIB_SRCS     := $(wildcard lib/pe_*.c)
LIB_HDRS     := $(wildcard lib/pe_*.h)
MODULE_SRCS  := $(wildcard ngx_module/*.c ngx_module/*.h) $(LIB_SRCS) \
                $(LIB_HDRS) config
BACKEND_SRCS := $(wildcard backend/*.c)
BACKEND_HDRS := $(wildcard backend/*.h)
BACKEND_LIBS := -lmicrohttpd -ljansson -lhiredis -lcurl -lssl -lcrypto \
                -lpthread -lm

UNIT_TESTS   := $(patsubst t/unit/%.c,$(BUILD)/t/%,$(wildcard t/unit/test_*.c))
FUZZERS      := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard fuzz/fuzz_*.c))

.PHONY: all deps test run fuzz fuzz-build bench unit clean asan deb FORCE

all: $(MODULE) $(BACKEND) $(UNIT_TESTS)

deps:
	@scripts/deps.sh

# configure lists lib/'s files: it runs again when a file comes or goes
# (the list is rewritten only when it changes)
$(BUILD)/lib-files: FORCE
	@mkdir -p $(BUILD)
	@echo '$(LIB_SRCS)' | cmp -s - $@ || echo '$(LIB_SRCS)' > $@

FORCE:

$(BUILD)/ngx/objs/Makefile: config scripts/configure-module.sh \
                            $(BUILD)/lib-files
	scripts/configure-module.sh

$(MODULE): $(BUILD)/ngx/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -C $(BUILD)/ngx -f objs/Makefile modules
	cp $(BUILD)/ngx/objs/ngx_http_privacy_module.so $@

# the module built with AddressSanitizer, for a second pass of the nginx
# tests with the ASan runtime preloaded into nginx (make test does both)
ASAN_MODULE  := $(BUILD)/asan/ngx_http_privacy_module.so
ASAN_FLAGS   := -fsanitize=address -fno-omit-frame-pointer

$(BUILD)/ngx-asan/objs/Makefile: config scripts/configure-module.sh \
                                 $(BUILD)/lib-files
	NGX_BUILD_DIR=$(BUILD)/ngx-asan PRIVACY_CC_OPT="$(ASAN_FLAGS)" \
	    scripts/configure-module.sh

$(ASAN_MODULE): $(BUILD)/ngx-asan/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -C $(BUILD)/ngx-asan -f objs/Makefile modules
	@mkdir -p $(BUILD)/asan
	cp $(BUILD)/ngx-asan/objs/ngx_http_privacy_module.so $@


$(BACKEND): $(BACKEND_SRCS) $(BACKEND_HDRS) $(LIB_SRCS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ilib -o $@ $(BACKEND_SRCS) \
	    $(LIB_SRCS) $(BACKEND_LIBS)

# the backend with AddressSanitizer and UBSan, for a second pass of the
# backend's tests (make test does both)
ASAN_BACKEND := $(BUILD)/asan/privacy-backend

$(ASAN_BACKEND): $(BACKEND_SRCS) $(BACKEND_HDRS) $(LIB_SRCS)
	@mkdir -p $(BUILD)/asan
	$(CC) -O1 -g $(WARN) -std=gnu11 -fsanitize=address,undefined \
	    -fno-sanitize-recover=all -fno-omit-frame-pointer -Ilib \
	    -o $@ $(BACKEND_SRCS) $(LIB_SRCS) $(BACKEND_LIBS)

# the pure parsers' unit tests, with the sanitizers
$(BUILD)/t/%: t/unit/%.c t/unit/tap.h $(LIB_SRCS) $(LIB_HDRS)
	@mkdir -p $(BUILD)/t
	$(CC) -O1 -g $(WARN) -fsanitize=address,undefined \
	    -fno-sanitize-recover=all -Ilib -It/unit -o $@ $< $(LIB_SRCS) \
	    -lcrypto

# the backend's pure parts (test_b_NAME: backend/NAME.c), likewise
$(BUILD)/t/test_b_%: t/unit/test_b_%.c t/unit/tap.h backend/%.c \
                     $(BACKEND_HDRS) $(LIB_SRCS)
	@mkdir -p $(BUILD)/t
	$(CC) -O1 -g $(WARN) -fsanitize=address,undefined \
	    -fno-sanitize-recover=all -Ibackend -Ilib -It/unit -o $@ $< \
	    backend/$*.c $(TEST_B_WITH_$*) $(LIB_SRCS) -ljansson \
	    -lcurl -lcrypto

# what a backend unit needs besides itself
ADAPTERS := backend/provider.c backend/provider_fal.c \
            backend/provider_replicate.c backend/provider_kling.c \
            backend/provider_veo.c backend/provider_seedance.c \
            backend/webhook.c backend/log.c
TEST_B_WITH_provider_fal := $(filter-out backend/provider_fal.c,$(ADAPTERS))
TEST_B_WITH_provider_replicate := \
    $(filter-out backend/provider_replicate.c,$(ADAPTERS))
TEST_B_WITH_provider_kling := $(filter-out backend/provider_kling.c,$(ADAPTERS))
TEST_B_WITH_provider_veo := $(filter-out backend/provider_veo.c,$(ADAPTERS))
TEST_B_WITH_provider_seedance := \
    $(filter-out backend/provider_seedance.c,$(ADAPTERS))
$(BUILD)/t/test_b_provider_fal $(BUILD)/t/test_b_provider_replicate \
$(BUILD)/t/test_b_provider_kling \
$(BUILD)/t/test_b_provider_veo $(BUILD)/t/test_b_provider_seedance: \
    $(ADAPTERS)

unit: $(UNIT_TESTS)

asan: $(ASAN_MODULE) $(ASAN_BACKEND)

$(BUILD)/fuzz/%: fuzz/%.c $(LIB_SRCS) $(LIB_HDRS)
	@mkdir -p $(BUILD)/fuzz
	$(FUZZ_CC) -O1 -g -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -Ilib -o $@ $< $(LIB_SRCS) -lcrypto

fuzz-build: $(FUZZERS)

fuzz: deps fuzz-build
	@for f in $(FUZZERS); do \
	    n=$$(basename $$f); mkdir -p $(BUILD)/corpus/$$n; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        $(BUILD)/corpus/$$n fuzz/corpus/$$n || exit 1; \
	done

NGINX_TESTS  := $(wildcard t/00-*.t t/1*.t t/3*.t t/4*.t)
BACKEND_TESTS := $(wildcard t/2*.t t/5*.t t/6*.t)

test: deps
	$(MAKE) all fuzz-build $(ASAN_MODULE) $(ASAN_BACKEND) deb
	FUZZ_SECONDS=$(FUZZ_SECONDS) prove -I t/lib t/
	@echo "# the nginx tests again, the module under AddressSanitizer"
	PE_MODULE=$(CURDIR)/$(ASAN_MODULE) \
	PE_NGINX_PRELOAD=$$($(CC) -print-file-name=libasan.so) \
	ASAN_OPTIONS=detect_leaks=0 \
	prove -I t/lib $(NGINX_TESTS)
	@echo "# the backend's tests again, the backend under ASan and UBSan"
	PE_BACKEND=$(CURDIR)/$(ASAN_BACKEND) ASAN_OPTIONS=detect_leaks=1 \
	prove -I t/lib $(BACKEND_TESTS)
	@echo "# nginx's own tests without and with the module (make compat)"
	scripts/compat.sh

run: deps all
	scripts/run.sh

$(BUILD)/bench/parsers: bench/parsers.c $(LIB_SRCS) $(LIB_HDRS)
	@mkdir -p $(BUILD)/bench
	$(CC) -O2 $(WARN) -Ilib -o $@ $< $(LIB_SRCS) -lcrypto

bench: deps all $(BUILD)/bench/parsers
	$(BUILD)/bench/parsers
	perl bench/upload.pl
	perl bench/consent.pl
	perl bench/limit.pl
	perl bench/jobs.pl

# nginx's own test suite (NGINX_TESTS: a checkout of nginx-tests) without
# the module and with it active http-wide, compared file by file
# (scripts/compat.sh)
.PHONY: compat
compat: deps $(MODULE)
	scripts/compat.sh

# The Debian packages, libnginx-mod-http-privacy and privacy-edge-backend
# (debian/), built the Debian way (dpkg-buildpackage -us -uc -b) on a copy
# of the tree in build/deb/src, so the tree itself gets no debian/ build
# files; the .debs are moved into build/ (t/80-deb.t installs them).
# Built again when a source, a shipped file or debian/ changed.
DEB_STAMP    := $(BUILD)/deb/.built
DEB_INPUTS   := $(MODULE_SRCS) $(BACKEND_SRCS) $(BACKEND_HDRS) Makefile \
                $(wildcard conf/*.conf conf/cdn/*.conf docs/*.md) \
                $(filter-out debian/build-% debian/files %.substvars \
                             %.debhelper.log, $(wildcard debian/* \
                             debian/source/*))

deb: deps $(DEB_STAMP)

$(DEB_STAMP): $(DEB_INPUTS)
	rm -rf $(BUILD)/deb
	mkdir -p $(BUILD)/deb/src
	tar -c --exclude=./build --exclude=./.git \
	    --exclude=./t/iab/node_modules . | tar -x -C $(BUILD)/deb/src
	cd $(BUILD)/deb/src && dpkg-buildpackage -us -uc -b
	rm -f $(BUILD)/*.deb $(BUILD)/*.buildinfo $(BUILD)/*.changes
	mv $(BUILD)/deb/*.deb $(BUILD)/deb/*.buildinfo $(BUILD)/deb/*.changes \
	    $(BUILD)/
	touch $@

clean:
	rm -rf $(BUILD)
