package history

import (
	"testing"
	"time"
)

// A record that reaches the runner late (a node's observation after a
// later action) takes its place in time order, also across the chunks a
// long history is kept in.
func TestRecorderKeepsTimeOrderAcrossChunks(t *testing.T) {
	origin := time.Unix(0, 0)
	r := NewRecorder(origin)
	n := 2*chunkSize + 10
	for i := range n {
		at := origin.Add(time.Duration(i) * time.Millisecond)
		if i%97 == 5 {
			// Late by three records.
			at = at.Add(-3 * time.Millisecond)
		}
		r.Add(at, Record{Kind: KindOp, Node: "n1"})
	}
	recs := r.Records()
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].T < recs[i-1].T {
			t.Fatalf("record %d at t=%v comes after t=%v", i, recs[i].T, recs[i-1].T)
		}
	}
}

func TestRecorderCountsWhatItsLimitTurnsAway(t *testing.T) {
	r := NewRecorder(time.Now())
	r.limit = 3
	for range 5 {
		r.Add(time.Now(), Record{Kind: KindOp})
	}
	if got := len(r.Records()); got != 3 || r.Dropped() != 2 {
		t.Fatalf("kept %d, dropped %d; want 3 and 2", got, r.Dropped())
	}
}
