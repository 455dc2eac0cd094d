//go:build !unix

package arsenal

import "time"

// processCPUTime is not measured on this platform: CPU figures are
// reported as unavailable (null), never estimated.
func processCPUTime() (time.Duration, bool) { return 0, false }

// wallNow is time.Now: there is no virtual time off unix.
func wallNow() time.Time { return time.Now() }
