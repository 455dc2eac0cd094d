package register_test

import (
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/examples/register"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/scenario"
	"github.com/clusterscript/clusterscript/scenario/scenariotest"
)

// suite holds the register's registry: its simulated nodes run it, and
// the test binary, re-executed as the real nodes, runs it too.
var suite = scenariotest.New(registry())

func registry() *node.Registry {
	reg, err := register.Registry()
	if err != nil {
		panic(err)
	}
	return reg
}

// TestMain lets the test binary be the register's real nodes.
func TestMain(m *testing.M) { suite.Main(m) }

// TestScenarios runs scenarios/*.star on simulated and real nodes and
// compares the two runs of each case.
func TestScenarios(t *testing.T) {
	t.Parallel()
	suite.Run(t, "scenarios", scenariotest.Options{Diff: &scenario.DiffOptions{}})
}

// TestSeeds runs seeds/*.star on simulated nodes only: the workload on
// ten seeds, correct and wrong on purpose. Each case runs ten workloads,
// so it gets more than the default minute (the race detector makes each
// several times slower).
func TestSeeds(t *testing.T) {
	t.Parallel()
	suite.Run(t, "seeds", scenariotest.Options{Backends: []cluster.Backend{cluster.Sim}, Timeout: 5 * time.Minute})
}
