package lease_test

import (
	"testing"

	"github.com/clusterscript/clusterscript/examples/lease"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/scenario"
	"github.com/clusterscript/clusterscript/scenario/scenariotest"
)

// suite holds the service's registry: its simulated nodes run it, and
// the test binary, re-executed as the real nodes, runs it too.
var suite = scenariotest.New(registry())

func registry() *node.Registry {
	reg, err := lease.Registry()
	if err != nil {
		panic(err)
	}
	return reg
}

// TestMain lets the test binary be the service's real nodes.
func TestMain(m *testing.M) { suite.Main(m) }

// TestScenarios runs scenarios/*.star on simulated and real nodes, and
// compares the two runs of each case: a verdict that differs between them
// fails its diff subtest.
func TestScenarios(t *testing.T) {
	suite.Run(t, "scenarios", scenariotest.Options{Diff: &scenario.DiffOptions{}})
}
