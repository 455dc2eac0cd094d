package membership

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func peer(name string, port int) *memberlist.Node {
	return &memberlist.Node{Name: name, Addr: net.IPv4(127, 0, 0, 1), Port: uint16(port)}
}

// The event log keeps the newest MaxEvents in order, and its footprint
// stops growing with them.
func TestEventLogIsARing(t *testing.T) {
	s := NewState("n1")
	s.NotifyJoin(peer("n1", 1))
	p := peer("n2", 2)
	for range MaxEvents / 2 {
		s.NotifyJoin(p)
		s.NotifyLeave(p)
	}
	full := s.Footprint()
	for range 3 * MaxEvents {
		s.NotifyJoin(p)
		s.NotifyLeave(p)
	}
	s.NotifyJoin(peer("n3", 3))
	evs := s.Events()
	if len(evs) != MaxEvents {
		t.Fatalf("%d events kept, want %d", len(evs), MaxEvents)
	}
	if last := evs[len(evs)-1]; last.Peer != "n3" || last.Kind != EventJoin {
		t.Fatalf("newest event %+v, want n3's join", last)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].At.Before(evs[i-1].At) {
			t.Fatalf("events out of order at %d", i)
		}
	}
	if got := s.Footprint(); got > full+1024 {
		t.Fatalf("footprint grew from %d to %d with a full log", full, got)
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
