// Command registerd is the replicated register's node: a clusterscript
// agent that also runs the register's kind and operations. The runner
// starts it as `registerd agent ...` (clusterscript run --agent
// bin/registerd).
package main

import (
	"fmt"
	"os"

	"github.com/clusterscript/clusterscript/agent"
	"github.com/clusterscript/clusterscript/examples/register"
)

func main() {
	reg, err := register.Registry()
	if err != nil {
		fmt.Fprintln(os.Stderr, "registerd:", err)
		os.Exit(2)
	}
	os.Exit(agent.Main(reg))
}
