GO ?= go
BIN := bin

.PHONY: all build test demo bench clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/sesamed ./cmd/sesame

test:
	./scripts/test.sh

demo:
	./scripts/demo.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/packet ./internal/knock ./internal/daemon

clean:
	rm -rf $(BIN)
