# tokengate — the two commands: `make demo` and `make test`.
GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
# The commit's time, not the build's: one commit always builds the same bytes
# (with -trimpath; see `tokengate version`, cmd/tokengate/release_test.go).
DATE    ?= $(shell TZ=UTC0 git show -s --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
IMAGE   ?= tokengate

.PHONY: all build demo test vet fmt-check bench fuzz clean install image release-snapshot help

all: build

# `make help`: every target with a `## description` on its line.
help: ## list the targets, one line each
	@awk 'BEGIN {FS = ":[^#]*## "} /^[A-Za-z0-9_.-]+:[^#=]*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/tokengate (static, version, commit and date stamped)
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tokengate ./cmd/tokengate

install: ## go install tokengate into $GOBIN (or $GOPATH/bin), stamped as make build
	CGO_ENABLED=0 $(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/tokengate

# The container image, built by a Docker engine from the Dockerfile (make
# image-check runs its build line without one): make image IMAGE=registry/tokengate
image: ## docker build the image tokengate:VERSION (IMAGE=registry/name to rename it)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) -t $(IMAGE):$(VERSION) .

# The release archives of .goreleaser.yaml (GoReleaser v2, not installed by
# make) into dist/, without publishing; a tag vX.Y.Z and
# `goreleaser release --clean` make the real release.
release-snapshot: ## build the release archives into dist/ with goreleaser (nothing published)
	goreleaser release --snapshot --clean

$(BIN)/devauthz $(BIN)/democlient: FORCE
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/devauthz ./examples/devauthz
	$(GO) build -o $(BIN)/democlient ./examples/demo/democlient

# The main job on an embedded default: the development authorization server,
# tokengate in front of it, one sample check per demo token; then both stop.
demo: build $(BIN)/devauthz ## run the development authorization server, tokengate and sample checks
	BIN=$(BIN) ./examples/demo/run.sh

vet: fmt-check ## gofmt check and go vet
	$(GO) vet ./...

fmt-check: ## fail when a Go file needs gofmt
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

# Everything: gofmt, golangci-lint (make lint: go vet's analyzers on all
# the code, the other linters on production code), the real authorization
# server's npm packages, nginx, Redis, Jaeger, the Dockerfile's build
# (static binary), then every Go test with the race detector (e2e/ builds
# bin/tokengate itself and drives only the binary). go test's own vet pass
# is off: golangci-lint's govet ran the same analyzers. Cold, on 2 cores,
# this is ~17 minutes (16:33, 17:10 and 17:20 measured), most of it compiling:
# see test-prepare and test-downloads.
test: ## every test (installs and builds what they need)
	@$(MAKE) --no-print-directory test-downloads & downloads=$$!; \
	$(MAKE) --no-print-directory test-prepare; prepared=$$?; \
	wait $$downloads && [ $$prepared = 0 ]
	$(GO) test -race -vet=off -count=1 -timeout 15m ./...

# The preparations one after the other: on 2 cores, compiling two things at
# once is no faster, and this order lets each step reuse what the one
# before compiled (golangci-lint, lint, Jaeger, image-check and e2e/ all
# build with CGO_ENABLED=0 -trimpath, so the standard library and
# tokengate's dependencies compile once for all of them).
.PHONY: test-prepare test-downloads
test-prepare: fmt-check lint realas-deps nginx-deps redis-deps jaeger image-check

# Beside test-prepare: the Go modules that later steps need (Jaeger's
# ~1.3 GB above all) are fetched from the module proxy while the first
# steps compile. Only downloads: `go list` loads no types and builds nothing.
test-downloads:
	$(GO) list -test -deps ./... >/dev/null
	cd tools/jaeger && $(GO) list -deps github.com/jaegertracing/jaeger/cmd/jaeger >/dev/null

# golangci-lint v2, pinned as a tool in tools/golangci-lint (a module of its
# own, like tools/jaeger: its ~210 requirements stay out of go.mod; cold:
# ~6 CPU-minutes to build, after a minute of downloads). .golangci.yml says
# which linters run, on what. Built without symbol tables (-s -w): smaller,
# and a shorter link. It type-checks with the release build's settings
# (CGO_ENABLED=0, -trimpath): the packages compiled for it are the ones
# make build, image-check and e2e/ link.
GOLANGCI_LINT := $(BIN)/golangci-lint
.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint (.golangci.yml): go vet's analyzers everywhere, the other linters on production code
	CGO_ENABLED=0 GOFLAGS='$(GOFLAGS) -trimpath' $(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT): tools/golangci-lint/go.mod tools/golangci-lint/go.sum
	@mkdir -p $(BIN)
	cd tools/golangci-lint && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(abspath $(GOLANGCI_LINT)) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

# The e2e suite's trace backend: Jaeger v2 with in-memory storage, pinned as a
# tool in tools/jaeger, a module of its own so that Jaeger's ~330 requirements
# stay out of tokengate's go.mod (cold: ~1.3 GB of modules, minutes to build).
# Its ~2,000 packages are compiled without optimizations or inlining (-N
# -l): it stores a few spans per test, and builds in 744 CPU-seconds
# instead of 984 (measured cold on 2 cores). The standard library keeps
# the usual flags (std=), so it is the one make lint compiled.
JAEGER := $(BIN)/jaeger
.PHONY: jaeger
jaeger: $(JAEGER) ## build bin/jaeger, the e2e suite's trace backend

$(JAEGER): tools/jaeger/go.mod tools/jaeger/go.sum
	@mkdir -p $(BIN)
	cd tools/jaeger && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -gcflags 'all=-N -l' -gcflags 'std=' -o $(abspath $(JAEGER)) github.com/jaegertracing/jaeger/cmd/jaeger

# internal/realas tests tokengate against a real authorization server
# (oidc-provider on Node.js): `npm ci` there when node_modules is missing or
# older than package.json / package-lock.json.
REALAS_SERVER := internal/realas/server
REALAS_STAMP  := $(REALAS_SERVER)/node_modules/.npm-ci.stamp

.PHONY: realas-deps
realas-deps: $(REALAS_STAMP) ## npm ci the real authorization server (oidc-provider) of internal/realas

$(REALAS_STAMP): $(REALAS_SERVER)/package.json $(REALAS_SERVER)/package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
		echo "make test: Node.js (>= 20) and npm are required for the real authorization server tests in internal/realas; install them (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --prefix $(REALAS_SERVER) --no-audit --no-fund
	@touch $@

# Go micro-benchmarks, then the closed-loop load generator against bin/tokengate
# (bench/loadgen: ~60 s on 2 cores; `make bench LOADGEN_FLAGS=--quick` for a short run).
bench: build ## Go benchmarks, then the load generator against bin/tokengate
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./bench/loadgen --tokengate $(BIN)/tokengate $(LOADGEN_FLAGS)

# What `docker build` does, without a Docker engine: run the Dockerfile's own
# `RUN CGO_ENABLED=0 go build` line (VERSION=check, into a temporary directory,
# so the check follows the Dockerfile), then check that the binary is static
# (no PT_INTERP/PT_DYNAMIC program header, read with od; `file` and `readelf`
# double-check when installed) and says "tokengate check", and that the final
# stage is distroless static, nonroot, running `/tokengate serve`.
.PHONY: image-check
image-check: ## run the Dockerfile's build line without Docker and check the binary is static
	@set -eu; \
	fail() { echo "image-check: FAIL: $$*" >&2; exit 1; }; \
	ok() { echo "image-check: ok: $$*"; }; \
	n=$$(grep -c '^RUN CGO_ENABLED=0 go build ' Dockerfile || true); \
	[ "$$n" = 1 ] || fail "Dockerfile needs exactly one line starting 'RUN CGO_ENABLED=0 go build ' (found $$n)"; \
	cmd=$$(sed -n 's/^RUN \(CGO_ENABLED=0 go build .*\)$$/\1/p' Dockerfile); \
	case "$$cmd" in *'\') fail "the go build line must be on one line";; esac; \
	case "$$cmd" in *' -o /out/tokengate '*) ;; *) fail "the go build line must write -o /out/tokengate";; esac; \
	gov=$$(sed -n 's/^go \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' go.mod); \
	grep -Eq "^FROM golang:$$gov([-.].*)? AS build$$" Dockerfile || fail "the build stage must be FROM golang:$$gov... AS build (go.mod says go $$gov)"; \
	grep -q '^ARG VERSION=' Dockerfile || fail "the build stage must declare ARG VERSION=..."; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	local_cmd=$$(printf '%s\n' "$$cmd" | sed "s# -o /out/tokengate # -o $$tmp/tokengate #"); \
	echo "image-check: VERSION=check $$local_cmd"; \
	VERSION=check COMMIT= DATE= GOFLAGS= GOOS= GOARCH= sh -c "$$local_cmd" || fail "the Dockerfile's go build failed"; \
	bin=$$tmp/tokengate; \
	[ "$$(od -An -tx1 -N4 "$$bin" | tr -d ' \n')" = 7f454c46 ] || fail "$$bin is not an ELF binary (image-check needs Linux)"; \
	[ "$$(od -An -tu1 -j4 -N2 "$$bin" | tr -s ' ' | sed 's/^ //')" = "2 1" ] || fail "$$bin is not a 64-bit little-endian ELF"; \
	phoff=$$(od -An --endian=little -tu8 -j32 -N8 "$$bin" | tr -d ' \n'); \
	phentsize=$$(od -An --endian=little -tu2 -j54 -N2 "$$bin" | tr -d ' \n'); \
	phnum=$$(od -An --endian=little -tu2 -j56 -N2 "$$bin" | tr -d ' \n'); \
	[ "$$phnum" -gt 0 ] || fail "$$bin has no program headers"; \
	i=0; while [ "$$i" -lt "$$phnum" ]; do \
		ptype=$$(od -An --endian=little -tu4 -j$$((phoff + i * phentsize)) -N4 "$$bin" | tr -d ' \n'); \
		case "$$ptype" in \
		2) fail "$$bin has a PT_DYNAMIC program header: dynamically linked, would not run on distroless/static";; \
		3) fail "$$bin has a PT_INTERP program header: dynamically linked, would not run on distroless/static";; \
		esac; \
		i=$$((i + 1)); \
	done; \
	ok "statically linked: no PT_INTERP or PT_DYNAMIC among $$phnum program headers"; \
	if command -v file >/dev/null 2>&1; then \
		file -b "$$bin" | grep -q 'statically linked' || fail "file says: $$(file -b "$$bin")"; \
		ok "file: $$(file -b "$$bin" | cut -d, -f1-4)"; \
	fi; \
	if command -v readelf >/dev/null 2>&1; then \
		! readelf -lW "$$bin" | grep -Eq '^ *(INTERP|DYNAMIC) ' || fail "readelf finds INTERP or DYNAMIC in $$bin"; \
		ok "readelf: no INTERP or DYNAMIC segment"; \
	fi; \
	bi=$$(go version -m "$$bin"); \
	echo "$$bi" | grep -Eq '^[[:space:]]+build[[:space:]]+CGO_ENABLED=0$$' || fail "go version -m: not built with CGO_ENABLED=0"; \
	echo "$$bi" | grep -Eq '^[[:space:]]+build[[:space:]]+-trimpath=true$$' || fail "go version -m: not built with -trimpath"; \
	ok "go version -m: CGO_ENABLED=0, -trimpath"; \
	out=$$("$$bin" version) || fail "$$bin version exited non-zero"; \
	[ "$$out" = "tokengate check" ] || fail "$$bin version printed '$$out', want 'tokengate check'"; \
	ok "version: $$out"; \
	final=$$(awk '/^FROM /{s=""} {s=s $$0 "\n"} END{printf "%s", s}' Dockerfile); \
	[ "$$(printf '%s\n' "$$final" | head -n1)" = "FROM gcr.io/distroless/static-debian12:nonroot" ] || fail "the final stage must be FROM gcr.io/distroless/static-debian12:nonroot"; \
	printf '%s\n' "$$final" | grep -qx 'COPY --from=build /out/tokengate /tokengate' || fail "the final stage must COPY --from=build /out/tokengate /tokengate"; \
	printf '%s\n' "$$final" | grep -qx 'USER nonroot:nonroot' || fail "the final stage must run as USER nonroot:nonroot"; \
	printf '%s\n' "$$final" | grep -Eqx 'ENTRYPOINT \[ *"/tokengate" *, *"serve" *\]' || fail "the final stage needs ENTRYPOINT [\"/tokengate\", \"serve\"]"; \
	ok "final stage: distroless static nonroot, ENTRYPOINT /tokengate serve"; \
	echo "image-check: PASS"

clean: ## remove bin/
	rm -rf $(BIN)

FORCE:

# internal/nginxtest runs a real nginx (auth_request, and TLS with client
# certificates for sender-constrained tokens) in front of tokengate: install
# it when it is neither on PATH nor at /usr/sbin/nginx (Debian, as root), and
# fail when the one found lacks http_auth_request_module or http_ssl_module.
.PHONY: nginx-deps
nginx-deps: ## install nginx (apt-get) for internal/nginxtest when missing
	@if ! { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }; then \
	echo "nginx-deps: installing nginx (apt-get)"; \
	{ apt-get update -qq && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; }; } && \
	{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || { \
		echo "make nginx-deps: could not install nginx, which the nginx auth_request tests in internal/nginxtest require; install it by hand (Debian: apt-get install nginx-light or nginx)" >&2; exit 1; }; \
	fi; \
	bin=$$(command -v nginx || echo /usr/sbin/nginx); \
	for m in http_auth_request_module http_ssl_module; do \
		"$$bin" -V 2>&1 | grep -q -- "--with-$$m" || { \
			echo "make nginx-deps: $$bin lacks $$m, which internal/nginxtest needs (Debian: apt-get install nginx-light or nginx)" >&2; exit 1; }; \
	done

# Runs each fuzz target for FUZZTIME (not in CI: make test replays the corpora
# in testdata/fuzz). Inputs that fail are written to testdata/fuzz by go test.
FUZZTIME ?= 60s
FUZZ_TARGETS := ./extauthz/bearer:FuzzParse ./extauthz/routing:FuzzNormalizePath ./extauthz/routing:FuzzMatch \
	./introspection:FuzzParseClaims ./extauthz/claimheaders:FuzzFormatValue ./internal/config:FuzzParse \
	./extauthz/grpcauthz:FuzzWireDecode
fuzz: ## run each fuzz target for FUZZTIME (default 60s)
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; done

# e2e/, internal/redistest, introspection/sharedcache and
# introspection/sharedstore/redisstore run a real redis-server
# (started by testpeers/redisserver)
# (the shared cache, revocation across replicas): install it when it is
# neither on PATH nor in /usr/bin (Debian, as root). `make test` needs it.
.PHONY: redis-deps
redis-deps: ## install redis-server (apt-get) for the shared-cache tests when missing
	@if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then exit 0; fi; \
	echo "redis-deps: installing redis-server (apt-get)"; \
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } && \
	{ command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; } || { \
		echo "make redis-deps: could not install redis-server, which the shared-cache tests in e2e, internal/redistest, introspection/sharedcache and introspection/sharedstore/redisstore require; install it by hand (Debian: apt-get install redis-server)" >&2; exit 1; }

