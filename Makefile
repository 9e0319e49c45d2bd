# tokengate — the two commands: `make demo` and `make test`.
GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build demo test vet bench clean

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tokengate ./cmd/tokengate

$(BIN)/devauthz $(BIN)/democlient: FORCE
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/devauthz ./examples/devauthz
	$(GO) build -o $(BIN)/democlient ./examples/demo/democlient

# The main job on an embedded default: the development authorization server,
# tokengate in front of it, one sample check per demo token; then both stop.
demo: build $(BIN)/devauthz
	BIN=$(BIN) ./examples/demo/run.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

test: vet realas-deps
	$(GO) test -race -count=1 -timeout 10m ./...

# internal/realas tests tokengate against a real authorization server
# (oidc-provider on Node.js): `npm ci` there when node_modules is missing or
# older than package.json / package-lock.json.
REALAS_SERVER := internal/realas/server
REALAS_STAMP  := $(REALAS_SERVER)/node_modules/.npm-ci.stamp

.PHONY: realas-deps
realas-deps: $(REALAS_STAMP)

$(REALAS_STAMP): $(REALAS_SERVER)/package.json $(REALAS_SERVER)/package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
		echo "make test: Node.js (>= 20) and npm are required for the real authorization server tests in internal/realas; install them (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --prefix $(REALAS_SERVER) --no-audit --no-fund
	@touch $@

# Go micro-benchmarks, then the closed-loop load generator against bin/tokengate
# (bench/loadgen: ~60 s on 2 cores; `make bench LOADGEN_FLAGS=--quick` for a short run).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./bench/loadgen --tokengate $(BIN)/tokengate $(LOADGEN_FLAGS)

clean:
	rm -rf $(BIN)

FORCE:
