package main

import (
	"os"

	"github.com/clusterscript/clusterscript/internal/gcpace"
)

// tuneGC paces the runner's collector by its live heap (package gcpace):
// GOGC=400 while small, down to 50 for a thousand simulated nodes. A
// GOGC in the environment wins; agents keep Go's default.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		gcpace.Start()
	}
}
