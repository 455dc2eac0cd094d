package membership

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/clusterscript/clusterscript/runtime/observe"
)

func peer(name string, port int) *memberlist.Node {
	return &memberlist.Node{Name: name, Addr: net.IPv4(127, 0, 0, 1), Port: uint16(port)}
}

// Every change is published to the node's journal as it is recorded, in
// order, with the mode changes it makes; the state manager itself keeps no
// log, so a member that flaps forever costs it nothing more.
func TestChangesGoToTheJournalAndNothingGrows(t *testing.T) {
	s := NewState("n1")
	j := observe.New(0)
	j.Since(0) // followed from the start
	s.Observe(j)
	s.NotifyJoin(peer("n1", 1))
	p := peer("n2", 2)
	s.NotifyJoin(p)
	s.NotifyLeave(p)
	full := s.Footprint()
	for range 2_000 {
		s.NotifyJoin(p)
		s.NotifyLeave(p)
	}
	if got := s.Footprint(); got != full {
		t.Fatalf("footprint went from %d to %d while one member flapped", full, got)
	}
	b, _ := j.Since(0)
	var got []string
	for _, r := range b.Records[:4] {
		k := r.Kind + " " + r.Peer
		if m, ok := r.Fields["mode"]; ok {
			k += fmt.Sprint(m)
		}
		got = append(got, k)
	}
	want := "join n2, mode multi_node, fail n2, mode single_node"
	if strings.Join(got, ", ") != want {
		t.Fatalf("journal: %s, want %s", strings.Join(got, ", "), want)
	}
	if len(b.Records) != 4*2_001 {
		t.Fatalf("%d records in the journal, want %d", len(b.Records), 4*2_001)
	}
}

// A member that left is forgotten after LeftRetention without changing
// the expected size; announced leaves that never came are dropped too.
func TestLeftMembersAreForgotten(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewState("n1")
	s.now = func() time.Time { return now }
	s.NotifyJoin(peer("n1", 1))
	for i := 2; i <= 5; i++ {
		s.NotifyJoin(peer(fmt.Sprintf("n%d", i), i))
	}
	s.MarkLeaving("n5")
	s.NotifyLeave(peer("n5", 5))
	s.MarkLeaving("n9") // announced, never left
	expected, status := s.Expected(), s.PartitionStatus()
	if s.Len() != 5 || expected != 4 {
		t.Fatalf("before: %d members, expected %d", s.Len(), expected)
	}
	now = now.Add(LeftRetention + time.Second)
	s.NotifyLeave(peer("n4", 4)) // a failure: stays listed as down
	if s.Len() != 4 {
		t.Fatalf("%d members after the retention, want n5 forgotten", s.Len())
	}
	if _, ok := s.leaving["n9"]; ok {
		t.Fatal("a stale leave announcement was kept")
	}
	if m, ok := s.Member("n4"); !ok || m.Status != StatusDown {
		t.Fatalf("failed n4: %+v, %v", m, ok)
	}
	if s.Expected() != expected || s.PartitionStatus() == status {
		t.Fatalf("expected %d (was %d), partition %s", s.Expected(), expected, s.PartitionStatus())
	}
	// n5 coming back counts as it would have had it been kept: five
	// expected, n4 down.
	s.NotifyJoin(peer("n5", 5))
	if s.Expected() != 5 || s.PartitionStatus() != PartitionPartial {
		t.Fatalf("after n5 rejoined: expected %d, %s", s.Expected(), s.PartitionStatus())
	}
}
