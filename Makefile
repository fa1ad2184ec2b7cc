# runcmd — `make run` brings up the local stack and a demo fleet; `make test` runs every test.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
LDFLAGS := -s -w
EMU   := localstack/with-emulator.sh
FUZZTIME ?= 5s

.PHONY: all build run test vet unit fuzz fuzz-long bench lambda clean

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/runcmd ./cmd/runcmd
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/runcmd-agent ./agent

# The main job: emulator (unless one answers), provisioning, the four functions, three agents and a
# first command. Ctrl-C stops everything it started.
run: build
	PATH="$(CURDIR)/$(BIN):$$PATH" $(EMU) $(BIN)/runcmd demo

vet:
	$(GO) vet ./...

# Every test, emulator-backed ones included (the launcher starts moto_server if nothing answers),
# then a short run of every fuzz target. Benchmarks are compiled (-run over them), not timed.
test: vet build
	PATH="$(CURDIR)/$(BIN):$$PATH" $(EMU) $(GO) test -count=1 ./...
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)
	$(GO) test -run '^$$' -bench . -benchtime 1x ./... > /dev/null

# Runs each fuzz target for FUZZTIME (go test -fuzz takes one target per run).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -parallel 2 $$pkg > /tmp/runcmd-fuzz.log 2>&1 || \
	      { cat /tmp/runcmd-fuzz.log; exit 1; }; \
	  done; \
	done

fuzz-long:
	$(MAKE) fuzz FUZZTIME=2m

bench: build
	PATH="$(CURDIR)/$(BIN):$$PATH" $(EMU) $(GO) run ./bench/cmd/benchrun

# Lambda bundles for provided.al2023 (arm64): bin/lambda/<function>/bootstrap.
lambda:
	@for f in api dispatch ingest sweep; do \
	  mkdir -p $(BIN)/lambda/$$f; \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -ldflags '$(LDFLAGS)' -o $(BIN)/lambda/$$f/bootstrap ./functions/$$f; \
	done

clean:
	rm -rf $(BIN)
