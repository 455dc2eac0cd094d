package lease_test

import (
	"testing"

	"github.com/clusterscript/clusterscript/examples/lease"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/scenario/scenariotest"
)

func registry(t testing.TB) *node.Registry {
	reg, err := lease.Registry()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestMain lets the test binary be the service's real nodes.
func TestMain(m *testing.M) {
	reg, err := lease.Registry()
	if err != nil {
		panic(err)
	}
	scenariotest.Main(m, reg)
}

// TestScenarios runs scenarios/*.star on simulated and real nodes.
func TestScenarios(t *testing.T) {
	scenariotest.Run(t, "scenarios", scenariotest.Options{Registry: registry(t)})
}
