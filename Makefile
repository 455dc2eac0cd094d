# clusterscript — see README.md.
GO      ?= go
BIN     := bin/clusterscript
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build demo demo-real test test-go test-scenarios test-examples bench fmt vet clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/clusterscript

# The main job: the shipped scenarios on the default (simulated) backend.
demo: build
	$(BIN) run scenarios/

# The same scenarios on real nodes: OS processes on loopback.
demo-real: build
	$(BIN) run scenarios/ --backend real

# Everything CI runs: vet, the Go tests under the race detector (real agent
# processes included; the example service's scenarios on both backends),
# every scenario on both backends, and the example's scenarios on its own
# built binary.
test: vet test-go test-scenarios test-examples

test-go:
	$(GO) test -race -count=1 -timeout 15m ./...

test-scenarios: build
	$(BIN) run scenarios/ --backend sim,real --no-color

# A service built on the engine (examples/lease), driven as a user would:
# its own binary as the real nodes.
test-examples: build
	$(GO) build -o bin/leased ./examples/lease/cmd/leased
	$(BIN) run --agent bin/leased examples/lease/scenarios/ --backend real --no-color

# Figures, not pass/fail: convergence, failure detection, operation latency,
# and virtual time against the real clock for simulated clusters.
bench:
	$(GO) test -run '^$$' -bench 'Converge/.*/(3|10|50)$$|FailureDetection|PartitionHeal|HordeFailover|SimConverge/.*/100$$|ShippedSuite' -benchtime 3x -timeout 30m ./bench/
	$(GO) test -run '^$$' -bench 'SimConverge/.*/(1000|2000)$$' -benchtime 1x -timeout 60m ./bench/
	$(GO) test -run '^$$' -bench OpsLatency -benchtime 300x -timeout 10m ./runtime/node/

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
