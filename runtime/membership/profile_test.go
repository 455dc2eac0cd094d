package membership

import (
	"testing"
	"time"
)

// The figures memberlist v0.7 computes (suspicionTimeout in its util.go)
// for the built-in profiles.
func TestSuspicionAndDetectionTimes(t *testing.T) {
	for _, tc := range []struct {
		profile     string
		n           int
		suspicion   time.Duration
		best, worst time.Duration
	}{
		// 2 × 1 × 80ms; 80ms + 160ms; 2 × 80ms + 240ms + 20ms.
		{"test", 3, 160 * time.Millisecond, 240 * time.Millisecond, 420 * time.Millisecond},
		// log10(100) = 2 doubles it.
		{"test", 100, 320 * time.Millisecond, 400 * time.Millisecond, 99*80*time.Millisecond + 420*time.Millisecond},
		// 4 × 1 × 1s; 1s + 4s; 2s + 5s + 200ms.
		{"lan", 3, 4 * time.Second, 5 * time.Second, 7200 * time.Millisecond},
		// 6 × 1 × 5s.
		{"wan", 3, 30 * time.Second, 35 * time.Second, 45500 * time.Millisecond},
	} {
		p, err := LookupProfile(tc.profile)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.SuspicionTimeout(tc.n); got != tc.suspicion {
			t.Errorf("%s, %d nodes: suspicion %s, want %s", tc.profile, tc.n, got, tc.suspicion)
		}
		if best, worst := p.DetectionTime(tc.n); best != tc.best || worst != tc.worst {
			t.Errorf("%s, %d nodes: detection %s..%s, want %s..%s", tc.profile, tc.n, best, worst, tc.best, tc.worst)
		}
	}
}
