# clusterscript — see README.md.
GO      ?= go
BIN     := bin/clusterscript
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build demo demo-real test test-go test-scenarios test-examples test-hosts lab-up lab-down fuzz fuzz-ci bench fmt vet clean

# Agents start faster from a static binary without urfave/cli's man-page
# generator (whose package init compiles markdown tables): see
# internal/testbin, which builds the same way for tests.
BUILD   := CGO_ENABLED=0 $(GO) build -tags urfave_cli_no_docs

build:
	$(BUILD) -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/clusterscript

# The main job: the shipped scenarios on the default (simulated) backend.
demo: build
	$(BIN) run scenarios/

# The same scenarios on real nodes: OS processes on loopback.
demo-real: build
	$(BIN) run scenarios/ --backend real

# Everything CI runs: vet, the Go tests under the race detector (real agent
# processes included; the example service's scenarios on both backends),
# every scenario on both backends, the example's scenarios on its own
# built binary, the scenarios on a lab of 5 hosts over SSH with both fault
# modes, and every fuzz target for a fixed number of inputs.
#
# The lab (scripts/lab: network namespaces, each with its own sshd) needs
# root; as another user the lab's tests are left out, and say so. It is
# taken down however the tests end.
LAB := /tmp/clusterscript-lab
test: vet
	@if [ "$$(id -u)" = 0 ]; then scripts/lab up 5 >/dev/null && echo "lab: 5 hosts up ($(LAB))"; \
	else echo "lab: not root, so the tests on hosts over SSH do not run (scripts/lab needs root)"; fi
	@status=0; \
	if [ "$$(id -u)" = 0 ]; then export CLUSTERSCRIPT_LAB=$(LAB); fi; \
	$(MAKE) --no-print-directory test-go test-scenarios test-examples test-hosts || status=$$?; \
	if [ "$$(id -u)" = 0 ]; then scripts/lab down >/dev/null; fi; \
	exit $$status
	@$(MAKE) --no-print-directory fuzz-ci

test-go:
	$(GO) test -race -count=1 -timeout 15m ./...

test-scenarios: build
	$(BIN) run scenarios/ --backend sim,real --no-color

# The services built on the engine (examples/), driven as a user would:
# their own binaries as the real nodes.
test-examples: build
	$(BUILD) -o bin/leased ./examples/lease/cmd/leased
	$(BIN) run --agent bin/leased examples/lease/scenarios/ --backend real --no-color
	$(BUILD) -o bin/registerd ./examples/register/cmd/registerd
	$(BIN) run --agent bin/registerd examples/register/scenarios/ --backend real --no-color

# The shipped scenarios on the lab's hosts (scripts/lab up 5), with the
# engine's faults and with the hosts' kernels' (a fault the kernel lacks,
# such as latency without sch_netem, reports its case unsupported).
test-hosts: build
	@if [ -z "$$CLUSTERSCRIPT_LAB" ]; then echo "test-hosts: no lab (CLUSTERSCRIPT_LAB unset; sudo scripts/lab up 5, then CLUSTERSCRIPT_LAB=$(LAB))"; exit 0; fi; \
	set -e; \
	$(BIN) run --config $$CLUSTERSCRIPT_LAB/clusterscript.yaml --hosts lab scenarios/ --no-color; \
	$(BIN) run --config $$CLUSTERSCRIPT_LAB/clusterscript.yaml --hosts lab --faults kernel scenarios/ --no-color

# A lab of hosts for trying --hosts by hand (root): make lab-up, then
# bin/clusterscript run --config /tmp/clusterscript-lab/clusterscript.yaml --hosts lab scenarios/
lab-up:
	scripts/lab up 5

lab-down:
	scripts/lab down

# Go native fuzzing: package:target. Each seed corpus (f.Add and
# testdata/fuzz/) also runs as a plain test in test-go.
FUZZ_TARGETS := runtime/rpc:FuzzReadFrame runtime/rpc:FuzzServerHandshake \
	runtime/transport:FuzzClassify builtins:FuzzFromStarlark config:FuzzParse \
	scenario:FuzzCheck
FUZZTIME ?= 2m

# Every fuzz target for FUZZTIME each (make fuzz FUZZTIME=30m for longer).
# Minimising a newly found input is capped by count: with the default (up
# to a minute per input) FuzzClassify's workers spent whole runs minimising.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 200x ./$${t%%:*}; \
	done

# In CI each target runs a fixed number of inputs (about 5-10 s each here),
# not a fixed time: a -fuzztime deadline that falls while a worker is busy
# fails the run with "context deadline exceeded" (seen on FuzzClassify).
FUZZ_CI := runtime/rpc:FuzzReadFrame:100000x runtime/rpc:FuzzServerHandshake:100000x \
	runtime/transport:FuzzClassify:150000x builtins:FuzzFromStarlark:60000x config:FuzzParse:100000x \
	scenario:FuzzCheck:8000x

fuzz-ci:
	@set -e; for t in $(FUZZ_CI); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; n=$${rest#*:}; \
		echo "fuzz $$name ($$pkg, $$n)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $$n -fuzzminimizetime 200x ./$$pkg; \
	done

# Figures, not pass/fail: convergence, failure detection, operation latency,
# and virtual time against the real clock for simulated clusters.
bench:
	$(GO) test -run '^$$' -bench 'Converge/.*/(3|10|50)$$|RealCycle|FailureDetection|PartitionHeal|HordeFailover|SimConverge/.*/100$$|ShippedSuite' -benchtime 3x -timeout 30m ./bench/
	$(GO) test -run '^$$' -bench 'SimConverge/.*/(1000|2000)$$|BigScenario' -benchtime 1x -timeout 60m ./bench/
	$(GO) test -run '^$$' -bench Floods -benchtime 1x -timeout 20m ./bench/
	$(GO) test -run '^$$' -bench Workload -benchtime 3x -timeout 20m ./bench/
	$(GO) test -run '^$$' -bench KVCheck -timeout 10m ./history/consistency/
	$(GO) test -run '^$$' -bench OpsLatency -benchtime 300x -timeout 10m ./runtime/node/

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
