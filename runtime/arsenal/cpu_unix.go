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

// wallNow is the wall-clock time from the kernel. CPU shares are CPU time
// over wall time, also for a node on virtual time, whose time.Now does
// not move while the CPU works.
func wallNow() time.Time {
	var tv syscall.Timeval
	if err := syscall.Gettimeofday(&tv); err != nil {
		return time.Now()
	}
	return time.Unix(tv.Unix())
}
