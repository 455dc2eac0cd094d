//go:build !unix

package runtime

import "time"

// processCPUTime is not measured on this platform: CPU figures are
// reported as unavailable (None), never estimated.
func processCPUTime() (time.Duration, bool) { return 0, false }
