// Package scenariotest runs scenario files from `go test`, with a
// program's own process kinds and operations, on simulated and real
// nodes. The scenarios are the same files `clusterscript run --agent`
// runs, run by the same runner (package scenario). A Suite holds the
// program's registry, given once, for both the simulated nodes and the
// real ones:
//
//	var suite = scenariotest.New(registry())
//
//	func TestMain(m *testing.M) { suite.Main(m) }
//
//	func TestScenarios(t *testing.T) { suite.Run(t, "scenarios", scenariotest.Options{}) }
//
// Every case of every file is a subtest, and every backend a subtest of
// it: TestScenarios/test_leader_killed/sim. So `go test -run
// 'Scenarios/test_x'` picks one case, `-run 'Scenarios//real'` one backend,
// and -v, -count and -timeout mean what they always do (a case's timeout
// never runs past the test binary's deadline). A failure is reported with
// t.Errorf, with the scenario's file:line:col, Starlark backtrace and the
// last lines of every node's log; log() lines go to t.Log. With
// Options.Artifacts, or `go test -args -artifacts DIR`, each case leaves
// its timeline, history and node logs there, as `clusterscript run
// --artifacts DIR` does.
//
// Simulated nodes run the registry in the test process, on virtual time as
// with `clusterscript run` (their waits cost no wall time; each case's
// bubble runs in its backend's subtest). Real nodes are the test binary
// itself, re-executed as an agent: Suite.Main, called from TestMain,
// turns such a child into an agent before any test runs, so no separate
// build is needed.
package scenariotest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/agent"
	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/history/consistency"
	"github.com/clusterscript/clusterscript/hosts"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/scenario"
	"github.com/clusterscript/clusterscript/sim/vtime"
)

// Suite is a program's scenarios as go test runs them: its registry is
// what simulated nodes run in the test process and what real nodes, the
// test binary re-executed as an agent, run.
type Suite struct {
	reg    *node.Registry
	models map[string]consistency.Model
}

// AddModel registers a consistency model the suite's scenarios get with
// check.model(name) and hand to check.linearizable: a service's own
// sequential specification, in Go. Call it before Run.
func (s *Suite) AddModel(name string, m consistency.Model) error {
	if name == "" || m.Init == nil || m.Step == nil {
		return fmt.Errorf("scenariotest: model %q needs a name, Init and Step", name)
	}
	if _, dup := s.models[name]; dup {
		return fmt.Errorf("scenariotest: model %q is already registered", name)
	}
	if s.models == nil {
		s.models = map[string]consistency.Model{}
	}
	s.models[name] = m
	return nil
}

// New returns the suite of a program whose nodes run reg (node.Builtin()
// when nil).
func New(reg *node.Registry) *Suite {
	if reg == nil {
		reg = node.Builtin()
	}
	return &Suite{reg: reg}
}

// Options configure Run.
type Options struct {
	// Backends are the backends every case runs on, in order (default
	// sim, then real).
	Backends []cluster.Backend
	// Vars are the scenarios' vars.
	Vars map[string]string
	// Timeout bounds each case (default 60s); a case never runs past the
	// test binary's -timeout either.
	Timeout time.Duration
	// Seed seeds fault decisions (0: a random seed, logged on failure).
	Seed int64
	// Diff, when set, runs each case on both backends (Backends must
	// name two) and compares them as `clusterscript run --diff` does: a
	// verdict difference fails the case's "diff" subtest, other
	// differences are logged there (or fail it too, if Strict).
	Diff *scenario.DiffOptions
	// Artifacts is a directory each case writes its artifacts under
	// (timeline.html, history.jsonl, nodes/*.log), made if missing;
	// default the -artifacts flag of the test binary, else none.
	Artifacts string
	// Inventories are machines reached over SSH, by name, as
	// clusterscript.yaml's hosts: section gives them (config.Load reads
	// one). Hosts names the one real nodes go on ("": this machine); the
	// test binary is copied to each host once per Run.
	Inventories map[string]hosts.Inventory
	Hosts       string
	// Faults is where network faults go: "engine" (default) or "kernel"
	// (the hosts' kernels; needs Hosts).
	Faults string

	fleet *hosts.Fleet // Run's, over Inventories
}

// testWriter writes a test's log lines.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// artifactsFlag is `go test -args -artifacts DIR`: every suite's default
// artifacts directory.
var artifactsFlag = flag.String("artifacts", "", "scenariotest: write each case's artifacts (timeline, history, node logs) under this directory")

// Main is the TestMain hook that lets real nodes be this test binary:
// started as `TEST_BINARY agent ...` (by the runner) it runs an agent
// over the suite's registry and exits; otherwise it runs the tests.
func (s *Suite) Main(m *testing.M) {
	if isAgent() {
		os.Exit(agent.Main(s.reg))
	}
	os.Exit(m.Run())
}

// isAgent reports whether this process was started as an agent: a test
// binary is otherwise never given a first argument without a dash.
func isAgent() bool { return len(os.Args) > 1 && os.Args[1] == agent.CommandName }

// Run runs every scenario file under dir (*.star, recursively, as
// `clusterscript run` finds them) as subtests of t: one per case, and
// under it one per backend.
func (s *Suite) Run(t *testing.T, dir string, opts Options) {
	t.Helper()
	if isAgent() {
		// Started as an agent, but TestMain did not hand control to Main:
		// say so and stop, rather than run the tests again (and start
		// more agents) as a child.
		fmt.Fprintln(os.Stderr, "scenariotest: this test binary was started as an agent, but its TestMain does not call the suite's Main(m)")
		os.Exit(2)
	}
	files, err := scenario.Discover([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, f := range files {
		for _, e := range scenario.Check(f, s.reg.Ops()) {
			errs = append(errs, e.Error())
		}
	}
	if len(errs) > 0 {
		t.Fatalf("scenarios do not check:\n%s", strings.Join(errs, "\n"))
	}
	backends := opts.Backends
	if len(backends) == 0 {
		backends = []cluster.Backend{cluster.Sim, cluster.Real}
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Int64N(1 << 31)
	}
	if len(opts.Inventories) > 0 {
		fleet := hosts.NewFleet(hosts.NewRunName(), opts.Inventories, testWriter{t})
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := fleet.Close(ctx); err != nil {
				t.Errorf("cleaning up the hosts: %v", err)
			}
		})
		opts.fleet = fleet
	}
	type testCase struct{ file, name string }
	var all []testCase
	seen := map[string]int{}
	for _, f := range files {
		names, err := scenario.Cases(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			all = append(all, testCase{f, n})
			seen[n]++
		}
	}
	for _, tc := range all {
		// A case is named by its function; a name two files share, and a
		// file's top level, by its file too.
		name := tc.name
		stem := strings.TrimSuffix(filepath.Base(tc.file), ".star")
		if name == scenario.TopLevel {
			name = stem
		} else if seen[name] > 1 {
			name = stem + "." + name
		}
		t.Run(name, func(t *testing.T) {
			if opts.Diff != nil {
				s.runDiff(t, tc.file, tc.name, backends, seed, opts)
				return
			}
			for _, b := range backends {
				t.Run(string(b), func(t *testing.T) {
					s.runCase(t, tc.file, tc.name, b, seed, opts)
				})
			}
		})
	}
}

// deadlineMargin is kept between a case's end and the test binary's
// deadline, so that a slow case fails as a case, with its position,
// rather than as a panicking test binary.
const deadlineMargin = 5 * time.Second

// runCase runs one case on one backend with the scenario runner. Real
// nodes are this test binary (the settings name no other agent).
func (s *Suite) runCase(t *testing.T, file, name string, backend cluster.Backend, seed int64, opts Options) {
	t.Helper()
	results, _ := s.run(t, file, name, []cluster.Backend{backend}, seed, opts)
	for _, r := range results {
		report(t, r)
	}
}

// report passes, fails or skips t as the case's result says.
func report(t *testing.T, r scenario.Result) {
	t.Helper()
	switch r.Status {
	case scenario.Fail:
		msg := r.Message
		if r.Backtrace != "" {
			msg += "\n" + strings.TrimRight(r.Backtrace, "\n")
		}
		if r.Artifacts != "" {
			msg += "\nartifacts: " + r.Artifacts + " (timeline.html, history.jsonl, nodes/*.log)"
		}
		for _, tail := range r.NodeLogs {
			msg += fmt.Sprintf("\nnode %s, last %d log lines:", tail.Node, len(tail.Lines))
			for _, l := range tail.Lines {
				msg += "\n    " + l
			}
		}
		t.Errorf("%s [%s] (seed %d):\n%s", r.Name, r.Backend, r.Seed, msg)
	case scenario.Skip:
		t.Skip(r.Message)
	}
}

// runDiff runs one case on both backends in one differential run, then
// reports each backend's result and the comparison as subtests.
func (s *Suite) runDiff(t *testing.T, file, name string, backends []cluster.Backend, seed int64, opts Options) {
	t.Helper()
	if len(backends) != 2 {
		t.Fatalf("scenariotest: Diff compares two backends, got %v", backends)
	}
	results, sum := s.run(t, file, name, backends, seed, opts)
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			for _, r := range results {
				if r.Backend == string(b) {
					report(t, r)
				}
			}
		})
	}
	t.Run("diff", func(t *testing.T) {
		for _, d := range sum.Diffs {
			for _, line := range d.Lines() {
				t.Log(line)
			}
			if d.Failed {
				t.Errorf("%s: the sides part (see the differences above)", d)
			}
		}
	})
}

// run runs one case on backends with the scenario runner and returns its
// results and the run's summary.
func (s *Suite) run(t *testing.T, file, name string, backends []cluster.Backend, seed int64, opts Options) ([]scenario.Result, scenario.Summary) {
	t.Helper()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if d, ok := t.Deadline(); ok {
		if left := time.Until(d) - deadlineMargin; left < timeout {
			timeout = max(left, time.Second)
		}
	}
	artifacts := opts.Artifacts
	if artifacts == "" {
		artifacts = *artifactsFlag
	}
	var results []scenario.Result
	sum, err := scenario.Run(context.Background(), []string{file}, scenario.Options{
		Backends:  backends,
		Diff:      opts.Diff,
		Settings:  cluster.Settings{Registry: s.reg, Seed: seed, Hosts: opts.Hosts, Faults: opts.Faults, Fleet: opts.fleet},
		Ops:       s.reg.Ops(),
		Run:       regexp.MustCompile("^" + regexp.QuoteMeta(name) + "$"),
		Timeout:   timeout,
		Vars:      opts.Vars,
		Models:    s.models,
		Virtual:   vtime.InTest(t), // simulated cases' bubbles run in this test
		Artifacts: artifacts,
		Parallel:  1,
		Count:     1,
		Report:    func(r scenario.Result) { results = append(results, r) },
		Log:       func(_ scenario.CaseID, line string) { t.Log(line) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatalf("%s: case %s did not run", file, name)
	}
	return results, sum
}
