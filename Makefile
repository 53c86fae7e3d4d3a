# G-Share build and test entry points. `make test` is the one command CI runs.
#
# Tools are pinned and installed into $(CACHE) from the Go module proxy on
# first use; nothing is downloaded when they are already there.

SHELL := /bin/bash
CACHE ?= $(CURDIR)/.cache
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
GOVULNCHECK := $(CACHE)/govulncheck-$(GOVULNCHECK_VERSION)/govulncheck
MINIO := $(CACHE)/minio-$(MINIO_VERSION)/minio
STATICCHECK := $(CACHE)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
TUSD_VERSION := v2.9.1
TUSD := $(CACHE)/tusd-$(TUSD_VERSION)/tusd
GO ?= go

.PHONY: soak vulncheck screenshots all build run test test-short lint cross tools debian-packages fuzz clean bench bench-quick bench-tools

all: build

build:
	$(GO) build -o bin/gshare ./cmd/gshare

# Start the server with the embedded defaults (./gshare-data, 127.0.0.1:8080).
run:
	$(GO) run ./cmd/gshare serve

# Every test: format, vet and staticcheck, then the whole suite under the
# race detector against a real MinIO (and litmus for WebDAV).
test: tools lint cross vulncheck
	GSHARE_TEST_MINIO_BIN=$(MINIO) .ci/with-minio $(GO) test -race -count=1 -timeout 25m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT)

# The long run of the hardening suite: the load test for SOAK (20 minutes
# by default) with its figures in docs/soak.md, then every fuzz target
# for a minute.
SOAK ?= 20m
soak: tools
	GSHARE_TEST_MINIO_BIN=$(MINIO) GSHARE_LOAD_DURATION=$(SOAK) GSHARE_LOAD_REPORT=$(CURDIR)/docs/soak.md \
	  $(GO) test -count=1 -run '^TestLoad$$' -timeout 0 -v ./api/
	$(MAKE) --no-print-directory fuzz FUZZTIME=1m

# The sync client must build for phones: a static android/arm64 binary,
# and every package for ios/arm64 (linking for iOS needs Apple's toolchain).
cross:
	GOOS=android GOARCH=arm64 CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/gshare
	GOOS=ios GOARCH=arm64 CGO_ENABLED=0 $(GO) build ./acl/... ./api/... ./config ./storage/...

# The suite without MinIO-backed tests (they skip with a message).
test-short:
	$(GO) test -short ./...

lint: $(STATICCHECK)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

tools: $(MINIO) $(STATICCHECK) $(GOVULNCHECK) debian-packages

# Known vulnerabilities in the code G-Share calls. The tool comes from the
# Go module proxy; its database from vuln.go.dev. Where that address is
# unreachable (an offline build machine) the check cannot run: it says so
# and does not fail, so run it where the database is reachable.
vulncheck: $(GOVULNCHECK)
	@if curl -s -o /dev/null --max-time 10 https://vuln.go.dev/index/db.json; then \
	  $(GOVULNCHECK) ./...; \
	else echo "vulncheck: vuln.go.dev is unreachable from this machine; govulncheck NOT run"; fi

$(GOVULNCHECK):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

# Debian packages some tests use (litmus for WebDAV; Chromium and the Lao
# fonts for the browser tests); installed when running as root on Debian,
# otherwise those tests skip and say why.
DEBIAN_PACKAGES := litmus chromium fonts-lao
debian-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing$$missing with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Not installing$$missing (needs root and apt-get); their tests will skip"; fi; \
	fi

$(MINIO):
	@echo "Installing MinIO $(MINIO_VERSION) into $(dir $@) (takes a few minutes once)..."
	@mkdir -p $(dir $@)
	cd $(dir $@) && GOBIN=$(dir $@) GOFLAGS=-buildvcs=false $(GO) install github.com/minio/minio@$(MINIO_VERSION)

$(STATICCHECK):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Fuzzing of every fuzz target (longer with FUZZTIME=5m); `make test`
# runs each for FUZZTIME_SHORT.
FUZZTIME ?= 10s
FUZZTIME_SHORT ?= 3s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run XXX -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# The README's screenshots of the web app, taken by the browser test.
screenshots: tools
	GSHARE_TEST_MINIO_BIN=$(MINIO) GSHARE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run TestBrowser ./api/web/

# The benchmark of docs/benchmarks.md: G-Share against minio-go (the
# ceiling) and tusd (the peer) in one run. Not part of `make test`: timings
# are never asserted in tests.
bench-tools: $(MINIO) $(TUSD)

bench: bench-tools
	GSHARE_TEST_MINIO_BIN=$(MINIO) GSHARE_BENCH_TUSD_BIN=$(TUSD) $(GO) run ./cmd/gshare-bench --out bench.md --json bench.json $(BENCHFLAGS)

bench-quick: bench-tools
	GSHARE_TEST_MINIO_BIN=$(MINIO) GSHARE_BENCH_TUSD_BIN=$(TUSD) $(GO) run ./cmd/gshare-bench --quick $(BENCHFLAGS)

$(TUSD):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install github.com/tus/tusd/v2/cmd/tusd@$(TUSD_VERSION)

clean:
	rm -rf bin
