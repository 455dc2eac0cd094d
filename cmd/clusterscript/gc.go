package main

import (
	"os"
	"runtime/debug"
)

// runnerGCPercent is the garbage collector's target for a run. Simulated
// nodes allocate fast and keep little (memberlist builds a compressor for
// every lan or wan packet), so at Go's default of 100 a run spends more
// time collecting than gossiping: a 5-node lan cluster sleeping ten
// virtual minutes took 2.7 s of wall time at GOGC=100 and 0.7 s at 400
// (`GOGC=100 clusterscript run scenarios/virtual_time.star`, and 400). A
// GOGC in the environment wins.
const runnerGCPercent = 400

// tuneGC trades memory for CPU in the runner; agents keep Go's default.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(runnerGCPercent)
	}
}
