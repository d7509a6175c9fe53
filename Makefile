GO ?= go
BIN := bin

.PHONY: all build test demo bench clean man deb test-deb clients

all: build

# No cgo: sesamed drops capabilities on all threads, which a binary
# linked with cgo cannot do.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/sesamed ./cmd/sesame

test:
	./scripts/test.sh

demo:
	./scripts/demo.sh

# Micro-benchmarks, then the namespace lab against knockd (as root; it
# prints the table BENCHMARKS.md quotes; SESAME_LAB=short for a quick run).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/packet ./internal/knock ./internal/daemon
	$(GO) test -run '^$$' -bench Lab -benchtime 1x -timeout 60m ./lab

# The man pages (docs/man) and shell completions (docs/completion) are
# generated from the programs' --help and docs/man/*.in; the tests check
# that the committed files are current, and -update rewrites them.
man:
	$(GO) test -count=1 -run TestManPage ./cmd/sesamed ./cmd/sesame -update

# dist/sesame_<version>_<arch>.deb (GOARCH=arm64, VERSION=1.2.3 ...).
deb:
	./scripts/deb.sh

# Installs, checks and purges that package; as root.
test-deb:
	./scripts/test-deb.sh

# dist/clients/sesame-<os>-<arch>[.exe] and SHA256SUMS.
clients:
	./scripts/clients.sh

clean:
	rm -rf $(BIN) dist
