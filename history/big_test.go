package history

import (
	"fmt"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/observe"
)

// TestABigHistoryChecksInOnePass: a cluster's formation is n² observations;
// checking them must not cost n times more (BenchmarkCheckThousandNodes
// measures a thousand nodes, a million records).
func TestABigHistoryChecksInOnePass(t *testing.T) {
	recs := append(formation(200), Record{T: 1, Kind: observe.KindFail, Node: "n1", Peer: "n2"})
	start := time.Now()
	fs := Check(recs, 10)
	t.Logf("%d records checked in %s", len(recs), time.Since(start))
	if len(fs) != 1 || fs[0].Check != CheckUnexplainedFailure {
		t.Fatalf("want the one unexplained failure, got %d findings", len(fs))
	}
}

func BenchmarkCheckThousandNodes(b *testing.B) {
	recs := formation(1000)
	for b.Loop() {
		Check(recs, 10)
	}
}

// formation is n nodes started, each seeing every other join.
func formation(n int) []Record {
	recs := []Record{{Kind: KindClusterStart, Fields: map[string]any{"bound": 4.0}}}
	for i := range n {
		recs = append(recs, Record{T: 0.01, Kind: KindStart, Node: fmt.Sprint("n", i)})
	}
	for i := range n {
		for j := range n {
			if i != j {
				recs = append(recs, Record{T: 0.5, Kind: observe.KindJoin, Node: fmt.Sprint("n", i), Peer: fmt.Sprint("n", j)})
			}
		}
	}
	return recs
}
