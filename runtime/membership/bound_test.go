package membership

import (
	"testing"
	"time"
)

func TestConvergenceBoundCoversDetectionAndRejoin(t *testing.T) {
	p, _ := LookupProfile("test")
	b := p.ForSize(5).ConvergenceBound()
	// 5 probes (400ms) + 6×2×80ms (960ms) + 2 rejoins (500ms) + 2s push/pull + 200ms.
	if want := 4060 * time.Millisecond; b != want {
		t.Fatalf("test profile, 5 nodes: %s, want %s", b, want)
	}
	if big := p.ForSize(100).ConvergenceBound(); big <= b {
		t.Fatalf("a bigger cluster should have a longer bound: %s <= %s", big, b)
	}
}
