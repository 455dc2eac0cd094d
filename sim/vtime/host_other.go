//go:build !go1.26 || go1.27

package vtime

import (
	"fmt"
	"runtime"
)

func defaultHost() (Runner, error) {
	return nil, fmt.Errorf("virtual time has no host for %s yet (sim/vtime/host.go targets go1.26)", runtime.Version())
}
