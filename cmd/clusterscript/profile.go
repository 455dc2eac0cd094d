package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/urfave/cli/v2"
)

// profileFlags profile the runner itself, as go test's flags of the same
// names profile a test binary: for finding where a big scenario's time
// and memory go (`go tool pprof bin/clusterscript FILE`).
func profileFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cpuprofile", Usage: "write the runner's CPU profile to FILE"},
		&cli.StringFlag{Name: "memprofile", Usage: "write the runner's heap profile to FILE at the end of the run"},
	}
}

// startProfiles starts what --cpuprofile and --memprofile ask for; the
// returned func writes and closes them.
func startProfiles(c *cli.Context) (stop func() error, err error) {
	var cpu *os.File
	if path := c.String("cpuprofile"); path != "" {
		if cpu, err = os.Create(path); err != nil {
			return nil, usage("--cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, usage("--cpuprofile: %v", err)
		}
	}
	mem := c.String("memprofile")
	if mem != "" {
		// Every allocation, so that a profile of one run adds up.
		runtime.MemProfileRate = 1 << 12
	}
	return func() error {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				return fmt.Errorf("--cpuprofile: %w", err)
			}
		}
		if mem == "" {
			return nil
		}
		f, err := os.Create(mem)
		if err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		runtime.GC()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			f.Close()
			return fmt.Errorf("--memprofile: %w", err)
		}
		return f.Close()
	}, nil
}
