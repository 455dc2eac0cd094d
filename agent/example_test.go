package agent_test

import (
	"context"
	"os"

	"github.com/clusterscript/clusterscript/agent"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/node"
)

// A program's main registers its operations (and kinds) and hands control
// to Main; `PROGRAM ops` then lists them next to the built-in ones, as
// `clusterscript ops --agent PROGRAM` does. (Main is not called here: it
// would parse this process's arguments.)
func ExampleMain() {
	reg := node.Builtin()
	err := reg.AddOp(arsenal.Op{
		Spec: arsenal.OpSpec{
			Name:    "greet",
			Summary: "say hello from the node asked",
			Params:  []arsenal.ParamSpec{{Name: "who", Type: "string", Default: "world", Doc: "whom to greet"}},
			Results: []arsenal.ResultField{{Name: "*", Type: "string", Doc: "the greeting"}},
		},
		Run: func(_ context.Context, c *arsenal.Call) (any, error) {
			return "hello " + c.Args.String("who") + " from " + c.Host().Name(), nil
		},
	})
	if err != nil {
		panic(err)
	}
	// In main: os.Exit(agent.Main(reg))
	spec, _ := reg.Describe("greet")
	_ = agent.WriteOps(os.Stdout, []arsenal.OpSpec{spec}, false, nil)
	// Output:
	// greet — say hello from the node asked
	//   parameters:
	//     who                string    default "world". whom to greet
	//     timeout            duration  default "2s"; range 1ms..5m. how long to wait for each node's answer; a node that does not answer in time is named, the others' answers still come back
	//   results:
	//     *                          string   the greeting
}
