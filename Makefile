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

test: vet
	$(GO) test -race -count=1 -timeout 10m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)

FORCE:
