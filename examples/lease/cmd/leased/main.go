// Command leased is the lease service's node: a clusterscript agent that
// also runs the lease kinds and operations. The runner starts it as
// `leased agent ...` (clusterscript run --agent bin/leased); `leased ops`
// lists what it serves.
package main

import (
	"fmt"
	"os"

	"github.com/clusterscript/clusterscript/agent"
	"github.com/clusterscript/clusterscript/examples/lease"
)

func main() {
	reg, err := lease.Registry()
	if err != nil {
		fmt.Fprintln(os.Stderr, "leased:", err)
		os.Exit(2)
	}
	os.Exit(agent.Main(reg))
}
