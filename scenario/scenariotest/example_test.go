package scenariotest_test

import (
	"testing"

	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/scenario/scenariotest"
)

// A program's test package runs its scenarios with its own registry. These
// two functions are, in a _test.go file of the program, its TestMain and
// a test: `go test -run 'Scenarios/test_x/real'` then runs one case on
// real nodes, which are the test binary itself.
func Example() {
	registry := func() *node.Registry {
		reg := node.Builtin()
		// reg.AddKind(...), reg.AddOp(...), reg.AddBootProcess(...)
		return reg
	}
	suite := scenariotest.New(registry()) // a package-level var of the test package
	TestMain := func(m *testing.M) { suite.Main(m) }
	TestScenarios := func(t *testing.T) {
		suite.Run(t, "scenarios", scenariotest.Options{})
	}
	_, _ = TestMain, TestScenarios
}
