//go:build unix

package arsenal

import (
	"syscall"
	"time"
)

// processCPUTime is the CPU time (user and system) this OS process has
// used, from the kernel's own accounting.
func processCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
