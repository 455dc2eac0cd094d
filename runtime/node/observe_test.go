package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/observe"
	"github.com/clusterscript/clusterscript/runtime/rpc"
	"github.com/clusterscript/clusterscript/sim"
)

// TestObservationsArePushedOverTheControlChannel follows n1's journal the
// way the runner does, over an authenticated ctl.observe stream, and sees
// every change n1 observes arrive as it happens, in order, with its mode.
func TestObservationsArePushedOverTheControlChannel(t *testing.T) {
	nw := sim.New()
	var logs syncBuffer
	ep, err := nw.Endpoint("")
	if err != nil {
		t.Fatal(err)
	}
	n1, err := node.Start(node.Config{Name: "n1", Cookie: "s", Network: ep, Simulated: true, Log: &logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n1.Shutdown)
	n2 := startSim(t, nw, "n2", "s")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runner := rpc.NewClient("s", "runner", nw.Dial)
	defer runner.Close()
	var mu sync.Mutex
	var got []observe.Record
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		first := true
		done <- runner.Stream(ctx, n1.Addr(), "ctl.observe", node.ObserveParams{}, func(b json.RawMessage) error {
			var batch observe.Batch
			if err := json.Unmarshal(b, &batch); err != nil {
				return err
			}
			mu.Lock()
			got = append(got, batch.Records...)
			mu.Unlock()
			if first {
				first = false
				close(ready)
			}
			return nil
		})
	}()
	<-ready // following before anything happens

	if _, err := n2.Join(ctx, []string{n1.Addr()}); err != nil {
		t.Fatal(err)
	}
	n2.Shutdown()
	kinds := func() string {
		mu.Lock()
		defer mu.Unlock()
		var ks []string
		for i, r := range got {
			if r.Seq != uint64(i+1) {
				t.Fatalf("record %d has seq %d", i, r.Seq)
			}
			k := r.Kind
			if r.Peer != "" {
				k += " " + r.Peer
			}
			if m, ok := r.Fields["mode"]; ok {
				k += " " + m.(string)
			}
			ks = append(ks, k)
		}
		return strings.Join(ks, ", ")
	}
	want := "join n2, mode multi_node, fail n2, mode single_node"
	waitFor(t, 5*time.Second, "n1 to push "+want, func() bool { return kinds() == want })

	// The same records, at once, for a runner catching up.
	var b observe.Batch
	if err := runner.Call(ctx, n1.Addr(), "ctl.observed", node.ObserveParams{After: 2}, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 2 || b.Records[0].Kind != membership.EventFail {
		t.Fatalf("ctl.observed after 2: %+v", b.Records)
	}
	for _, line := range []string{"[INFO] engine: n2 joined", "[INFO] engine: mode is now multi_node", "[INFO] engine: n2 failed"} {
		waitFor(t, 5*time.Second, "the log line "+line, func() bool { return strings.Contains(logs.String(), line) })
	}
	cancel()
	<-done
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
