# G-Share build and test entry points. `make test` is the one command CI runs.
#
# Tools are pinned and installed into $(CACHE) from the Go module proxy on
# first use; nothing is downloaded when they are already there.

SHELL := /bin/bash
CACHE ?= $(CURDIR)/.cache

# Go itself: go1.27.3, fetched by the go command from the Go module proxy
# (about 76 MB, once). go1.26.8 builds G-Share too, but govulncheck finds
# thirteen standard-library vulnerabilities G-Share's code reaches in it
# (html/template, net/http, crypto/tls…), all fixed by go1.27.3.
export GOTOOLCHAIN := go1.27.3
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
GOVULNCHECK := $(CACHE)/govulncheck-$(GOVULNCHECK_VERSION)-$(GOTOOLCHAIN)/govulncheck
# The vulnerability database, from the Go module proxy too: the pinned
# golang.org/x/vulndb module holds the OSV records, and its own gendb
# command writes them in the layout govulncheck reads (-db file://…), so
# the check needs no access to vuln.go.dev. Newer snapshot: bump this.
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB := $(CACHE)/vulndb-$(VULNDB_VERSION)
MINIO := $(CACHE)/minio-$(MINIO_VERSION)/minio
# Analysers must be built by the Go that builds the code.
STATICCHECK := $(CACHE)/staticcheck-$(STATICCHECK_VERSION)-$(GOTOOLCHAIN)/staticcheck
# The OpenID provider of the OpenID Connect tests (api/web's TestOIDC*):
# ZITADEL's example OP, a real provider (discovery, JWKS, code flow with
# PKCE, userinfo, end_session, its own login form) built from the Go
# module proxy in well under a minute with its modules cached. Ory Hydra
# (the other candidate) cannot be go-installed: its go.mod has replace
# directives.
OIDCOP_VERSION := v3.52.0
OIDCOP := $(CACHE)/zitadel-oidc-op-$(OIDCOP_VERSION)/server
TUSD_VERSION := v2.9.1
TUSD := $(CACHE)/tusd-$(TUSD_VERSION)/tusd
# tus-js-client, the stock tus client of browsers and Node, for api/tus's
# TestTusJSClient: pinned with every dependency in TUSJS_LOCK (the version
# is also in its package.json) and installed from the npm registry with
# npm ci into $(TUSJS); without npm the test skips and says why.
TUSJS_VERSION := 4.3.1
TUSJS := $(CACHE)/tusjs-$(TUSJS_VERSION)
TUSJS_LOCK := api/tus/testdata/tusjs/package-lock.json
# axe-core, the accessibility rules engine api/web's TestAxe injects into
# every page: pinned in AXE_LOCK (the version is also in its package.json),
# installed like tus-js-client; without npm the test skips and says why.
AXE_VERSION := 4.14.1
AXE := $(CACHE)/axe-core-$(AXE_VERSION)
AXE_LOCK := api/web/testdata/axe/package-lock.json
GO ?= go

.PHONY: soak vulncheck screenshots all build run test test-short lint cross tools debian-packages tusjs axe fuzz clean bench bench-quick bench-tools

all: build

# -v names each package as it is compiled: the first build compiles about
# 400 (the standard library among them), minutes on two cores, and would
# otherwise be silent (issue 17). Later builds compile only what changed.
build:
	@echo "Building bin/gshare with $(GOTOOLCHAIN) (the first build compiles about 400 packages: several minutes on 2 cores)..."
	$(GO) build -v -o bin/gshare ./cmd/gshare

# Start the server with the embedded defaults (./gshare-data, 127.0.0.1:8080),
# after a build that shows its progress.
run: build
	./bin/gshare serve

# Every test: format, vet and staticcheck, then the whole suite under the
# race detector against a real MinIO (and litmus for WebDAV), and the
# metadata store's tests once more with every update run twice, the first
# run rolled back (GSHARE_TEST_META_ENGINE=retry: what PostgreSQL may do).
# The HTTP API's tests that run on PostgreSQL too (GSHARE_TEST_META_ENGINE=postgres): every
# metadata operation (files, versions, tree, moves, trash, rules, shares, feed, uploads, keys,
# check, audit), and two nodes over one database (leases, locks, revocations, wake-ups, one audit
# log), in about 2 minutes; tests of object stores, memory and meta.db's bytes stay on bbolt.
API_PG_TESTS = ^(TestModel.*|TestPutGetLaoNames|TestRangesAndConditions|TestTreeFoldersMove|TestShareLinks|TestChangeFeed|TestFeed.*|TestEveryDeleteGoesToTheTrash|TestOverwriteKeepsHistory|TestTrashPermissions|TestPurgeRespectsDenies|TestMoveDestinationSwappedAfterAuthorisation|TestUpload(Chunks|Variants|Disconnect|BadInput|Limits|TerminateAndExpire|ConcurrentPatches|Checks|CommitRetriedOnHead|IntoMovedFolder|CommitRetriedOnPatch|RefusedOnceShuttingDown)|TestPatchReadsItsUploadOnce|TestTus.*|TestSessions.*|TestKeyRotationUnderLoad|TestRotationResumes|TestShred|TestCheck|TestBackupUnsupported|TestTreePaging.*|TestTreeBy.*|TestRestoreVersion|TestFileRequest|TestAttack.*|TestNCChunked(Upload|Resume|ProtocolErrors|Delete|NotTus|RecoverLeavesItAlone|Takeover|Shutdown)|TestMTime.*|TestRouteTable|TestZip.*|TestDavConditions|TestFolderETags|TestIntegrity|TestEditorsMayShare|TestFolderLink|TestAuditorsNeverReadContent|TestUsesResolvesImportNames|TestNodes.*|TestRevocationsReachEveryNode|TestLongPollWakesAcrossNodes|TestOneAuditLogFromTwoNodes)$$
test: tools lint cross vulncheck
	GSHARE_TEST_MINIO_BIN=$(MINIO) GSHARE_TEST_TUSJS=$(TUSJS)/node_modules GSHARE_TEST_AXE=$(AXE)/node_modules/axe-core/axe.min.js GSHARE_TEST_OIDC_OP_BIN=$(OIDCOP) .ci/with-minio $(GO) test -race -count=1 -timeout 25m ./...
	GSHARE_TEST_META_ENGINE=retry $(GO) test -race -count=1 ./storage/meta/
	GSHARE_TEST_META_ENGINE=postgres $(GO) test -count=1 ./storage/meta/
	GSHARE_TEST_META_ENGINE=postgres $(GO) test -count=1 -run '$(API_PG_TESTS)' ./api/
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT)

# The long run of the hardening suite: the load test for SOAK (20 minutes
# by default) with its figures in docs/soak.md, the model-based test of
# access rules (api TestModel) on fresh seeds for MODEL_SOAK, the cluster
# test (docs/cluster.md: three nodes behind HAProxy, kills and rolling
# restarts in a loop) for CLUSTER_SOAK, then every fuzz target for a minute.
SOAK ?= 20m
MODEL_SOAK ?= $(SOAK)
CLUSTER_SOAK ?= 10m
soak: tools
	GSHARE_TEST_MINIO_BIN=$(MINIO) GSHARE_LOAD_DURATION=$(SOAK) GSHARE_LOAD_REPORT=$(CURDIR)/docs/soak.md \
	  $(GO) test -count=1 -run '^TestLoad$$' -timeout 0 -v ./api/
	GSHARE_MODEL_DURATION=$(MODEL_SOAK) $(GO) test -count=1 -run '^TestModel$$' -timeout 0 -v ./api/
	GSHARE_TEST_MINIO_BIN=$(MINIO) GSHARE_CLUSTER_DURATION=$(CLUSTER_SOAK) $(GO) test -count=1 -run '^TestCluster$$' -timeout 0 -v ./cmd/gshare/clustertest/
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

tools: $(MINIO) $(STATICCHECK) $(GOVULNCHECK) $(OIDCOP) debian-packages tusjs axe

# npm ci installs exactly what the lock file says (integrity-checked), and
# again only when the lock file changes.
tusjs:
	@if [ -f $(TUSJS)/installed ] && cmp -s $(TUSJS_LOCK) $(TUSJS)/package-lock.json; then :; \
	elif ! command -v npm >/dev/null; then \
	  echo "npm not found: not installing tus-js-client $(TUSJS_VERSION); its test (api/tus TestTusJSClient) will skip"; \
	else \
	  echo "Installing tus-js-client $(TUSJS_VERSION) with npm ci into $(TUSJS)"; \
	  rm -rf $(TUSJS) && mkdir -p $(TUSJS) && cp $(dir $(TUSJS_LOCK))package.json $(TUSJS_LOCK) $(TUSJS)/ && \
	  npm ci --prefix $(TUSJS) --cache $(CACHE)/npm --ignore-scripts --no-audit --no-fund && touch $(TUSJS)/installed; \
	fi

axe:
	@if [ -f $(AXE)/installed ] && cmp -s $(AXE_LOCK) $(AXE)/package-lock.json; then :; \
	elif ! command -v npm >/dev/null; then \
	  echo "npm not found: not installing axe-core $(AXE_VERSION); its test (api/web TestAxe) will skip"; \
	else \
	  echo "Installing axe-core $(AXE_VERSION) with npm ci into $(AXE)"; \
	  rm -rf $(AXE) && mkdir -p $(AXE) && cp $(dir $(AXE_LOCK))package.json $(AXE_LOCK) $(AXE)/ && \
	  npm ci --prefix $(AXE) --cache $(CACHE)/npm --ignore-scripts --no-audit --no-fund && touch $(AXE)/installed; \
	fi

# Known vulnerabilities in the code G-Share calls (govulncheck: only
# vulnerable functions that are reachable fail the check).
vulncheck: $(GOVULNCHECK) $(VULNDB)/db/index/db.json
	$(GOVULNCHECK) -db file://$(VULNDB)/db ./...

$(VULNDB)/db/index/db.json:
	@echo "Building the vulnerability database from golang.org/x/vulndb@$(VULNDB_VERSION) (once)..."
	@rm -rf $(VULNDB) && mkdir -p $(VULNDB)
	src=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p') && \
	  cp -r "$$src" $(VULNDB)/src && chmod -R u+w $(VULNDB)/src && cd $(VULNDB)/src && \
	  git init -q && git add -A && git -c user.email=ci@localhost -c user.name=ci commit -qm "vulndb $(VULNDB_VERSION)" && \
	  $(GO) build -o ../gendb ./cmd/gendb && ../gendb -repo . -out ../db

$(GOVULNCHECK):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

# Debian packages some tests use, pinned to the exact versions tested
# (litmus for WebDAV; Chromium and the Lao fonts for the browser tests;
# rclone and nextcloudcmd, the Nextcloud sync engine, as WebDAV clients;
# slapd, the OpenLDAP server the LDAP tests start on loopback with their
# own configuration; postgresql-15, the PostgreSQL server whose binaries
# storage/kv/pgkv/pgtest runs in a temporary directory (initdb, postgres
# in /usr/lib/postgresql/15/bin; GSHARE_TEST_PG_BIN names another
# directory); haproxy, the load balancer in front of the three nodes of
# the cluster test (cmd/gshare/clustertest, run in the foreground with its
# own configuration); the system services these packages start (slapd,
# PostgreSQL's "main" cluster and haproxy) are stopped and disabled right
# after installing);
# installed when running as root on Debian, otherwise those tests skip and
# say why. A package installed at another version is reinstalled at this one.
DEBIAN_PACKAGES := litmus=0.13-5 chromium=156.0.8078.114-1~deb12u1 fonts-lao=0.0.20060226-10 \
	rclone=1.60.1+dfsg-2+b5 nextcloud-desktop-cmd=3.7.3-1+deb12u2 curl=7.88.1-10+deb12u14 slapd=2.5.13+dfsg-5 \
	postgresql-15=15.18-0+deb12u1 haproxy=2.6.12-1+deb12u4
debian-packages:
	@missing=""; for pv in $(DEBIAN_PACKAGES); do p=$${pv%%=*}; v=$${pv#*=}; \
	  [ "$$(dpkg-query -W -f='$${Status} $${Version}' $$p 2>/dev/null)" = "install ok installed $$v" ] || missing="$$missing $$pv"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing$$missing with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades $$missing >/dev/null; \
	    case "$$missing" in *slapd=*) (systemctl disable --now slapd || invoke-rc.d slapd stop) >/dev/null 2>&1 || true;; esac; \
	    case "$$missing" in *postgresql-15=*) (systemctl disable --now postgresql || invoke-rc.d postgresql stop; \
	      pg_ctlcluster 15 main stop) >/dev/null 2>&1 || true;; esac; \
	    case "$$missing" in *haproxy=*) (systemctl disable --now haproxy || invoke-rc.d haproxy stop) >/dev/null 2>&1 || true;; esac; \
	  else echo "Not installing$$missing (needs root and apt-get); their tests will skip"; fi; \
	fi

$(MINIO):
	@echo "Building MinIO $(MINIO_VERSION) from source into $(dir $@), once (about 6 minutes on 2 cores with its modules cached, 20 or more without)..."
	@mkdir -p $(dir $@)
	cd $(dir $@) && GOBIN=$(dir $@) GOFLAGS=-buildvcs=false $(GO) install github.com/minio/minio@$(MINIO_VERSION)

$(OIDCOP):
	@echo "Building ZITADEL's example OpenID provider $(OIDCOP_VERSION) into $(dir $@), once (for the OpenID Connect tests)..."
	@mkdir -p $(dir $@)
	cd $(dir $@) && GOBIN=$(dir $@) GOFLAGS=-buildvcs=false $(GO) install github.com/zitadel/oidc/v3/example/server@$(OIDCOP_VERSION)

$(STATICCHECK):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Fuzzing of every fuzz target (longer with FUZZTIME=5m); `make test`
# runs each for FUZZTIME_SHORT. Go minimises every input that finds new
# coverage, with a number of runs that grows with the square of its size:
# for a target fed kilobyte files (FuzzVerifyExport) that took the whole of
# a 3 s run, 7 inputs tested (issue 17). So nothing is minimised unless
# FUZZMINIMIZETIME says so; a failing input is kept under testdata/fuzz as
# found (FUZZMINIMIZETIME=60s shrinks it).
FUZZTIME ?= 10s
FUZZTIME_SHORT ?= 3s
FUZZMINIMIZETIME ?= 0
fuzz:
	@for f in $$(grep -rl --include='*_test.go' --exclude-dir=.cache --exclude-dir=.git '^func Fuzz' . | sort); do \
	  for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "fuzz $$(dirname $$f) $$fn"; $(GO) test -run XXX -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./$$(dirname $$f) || exit 1; \
	  done; \
	done

# The README's screenshots of the web app, taken by a browser test
# (api/web TestScreenshots): six views, desktop and phone, English and Lao.
screenshots: tools
	GSHARE_TEST_MINIO_BIN=$(MINIO) GSHARE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestScreenshots$$' -v ./api/web/

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
