package observe

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestNothingIsRecordedUntilSomeoneFollows(t *testing.T) {
	j := New(0)
	j.Add(time.Now(), "join", "n2", nil)
	b, _ := j.Since(0)
	if len(b.Records) != 0 {
		t.Fatalf("an unwatched journal recorded %v", b.Records)
	}
	j.Add(time.Now(), "join", "n3", nil)
	b, _ = j.Since(0)
	if len(b.Records) != 1 || b.Records[0].Peer != "n3" || b.Records[0].Seq != 1 {
		t.Fatalf("after the first look: %+v", b.Records)
	}
}

func TestAShortLivedViewBetweenTwoReadsIsRead(t *testing.T) {
	j := New(0)
	j.Since(0)
	j.Add(time.Now(), "fail", "n2", nil)
	j.Add(time.Now(), "join", "n2", nil) // n2 was down for no time at all
	b, _ := j.Since(0)
	if len(b.Records) != 2 || b.Records[0].Kind != "fail" || b.Records[1].Kind != "join" {
		t.Fatalf("got %+v", b.Records)
	}
	b, _ = j.Since(1)
	if len(b.Records) != 1 || b.Records[0].Seq != 2 {
		t.Fatalf("after cursor 1: %+v", b.Records)
	}
}

func TestAFollowerTooFarBehindIsToldWhatItLost(t *testing.T) {
	j := New(3)
	j.Since(0)
	for range 5 {
		j.Add(time.Now(), "join", "x", nil)
	}
	b, _ := j.Since(0)
	if b.Lost != 2 || len(b.Records) != 3 || b.Records[0].Seq != 3 {
		t.Fatalf("got lost=%d records=%+v", b.Lost, b.Records)
	}
}

func TestFollowDeliversAsRecordsArriveAndTrimsWhatWasSent(t *testing.T) {
	j := New(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Batch, 100)
	done := make(chan error, 1)
	go func() {
		done <- j.Follow(ctx, 0, func(b Batch) error { got <- b; return nil })
	}()
	if b := <-got; len(b.Records) != 0 {
		t.Fatalf("the first batch should be the empty acknowledgement, got %+v", b)
	}
	const n = 3 * keepSent
	for i := range n {
		j.Add(time.Now(), "join", "n", map[string]any{"i": i})
	}
	var seen uint64
	deadline := time.After(10 * time.Second)
	for seen < n {
		select {
		case b := <-got:
			for _, r := range b.Records {
				if r.Seq != seen+1 {
					t.Fatalf("record %d after %d", r.Seq, seen)
				}
				seen = r.Seq
			}
		case <-deadline:
			t.Fatalf("only %d of %d records delivered", seen, n)
		}
	}
	j.Add(time.Now(), "join", "last", nil) // trims what was sent
	<-got
	j.mu.Lock()
	kept := len(j.recs)
	j.mu.Unlock()
	// It trims in steps (beyond 2×keepSent, down to keepSent), never
	// keeping all 769.
	if kept > 2*keepSent+1 {
		t.Errorf("the journal keeps %d records its follower has read", kept)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Follow ended with %v", err)
	}
}
