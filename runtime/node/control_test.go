package node_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/control"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/observe"
	"github.com/clusterscript/clusterscript/runtime/rpc"
	"github.com/clusterscript/clusterscript/runtime/transport"
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
	rc := rpc.NewClient("s", "runner", rpc.DialWithin(nw.Dial))
	defer rc.Close()
	runner := control.NewClient(rc, n1.Addr())
	var mu sync.Mutex
	var got []observe.Record
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		first := true
		done <- runner.Observe(ctx, 0, func(batch observe.Batch) error {
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
	b, err := runner.Observed(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 2 || b.Records[0].Kind != observe.KindFail {
		t.Fatalf("observed after 2: %+v", b.Records)
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

// TestEveryControlMethodIsServed drives a simulated node through every
// method of the control protocol, as a runner does, and checks what each
// answers, how bad parameters are refused, and that a wrong cookie is
// reported by its code.
func TestEveryControlMethodIsServed(t *testing.T) {
	nw := sim.New()
	n1, n2 := startSim(t, nw, "n1", "s"), startSim(t, nw, "n2", "s")
	ctx := context.Background()
	rc := rpc.NewClient("s", "runner", rpc.DialWithin(nw.Dial))
	defer rc.Close()
	c := control.NewClient(rc, n1.Addr())

	if err := c.Join(ctx, []string{n2.Addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n1 to see n2", func() bool {
		v, err := c.View(ctx)
		return err == nil && strings.Join(v.Members, " ") == "n1 n2" && v.Mode == membership.ModeMulti && v.Name == "n1" && v.Addr == n1.Addr()
	})
	if d, err := c.Digest(ctx); err != nil || d != membership.DigestOf([]string{"n1", "n2"}) {
		t.Errorf("digest: %+v %v", d, err)
	}
	if ms, err := c.Members(ctx); err != nil || len(ms) != 2 || ms[1].Addr != n2.Addr() {
		t.Errorf("members: %+v %v", ms, err)
	}
	if pid, err := c.PID(ctx); err != nil || pid != 0 {
		t.Errorf("a simulated node's pid: %d %v", pid, err)
	}
	if s, err := c.GossipSettings(ctx); err != nil || len(s) < 20 {
		t.Errorf("gossip settings: %d settings, %v", len(s), err)
	}
	lossy := transport.Faults{Seed: 1, Links: []transport.LinkFault{{Peer: transport.Peer{Name: "n2", Addr: n2.Addr()}, Loss: 0.5}}}
	if err := c.SetFaults(ctx, lossy); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a loss decision on the link to n2", func() bool {
		d, err := c.FaultDecisions(ctx)
		return err == nil && len(d["n2"]) > 0
	})
	bad := transport.Faults{Links: []transport.LinkFault{{Peer: transport.Peer{Name: "n2"}, Loss: 2}}}
	if err := c.SetFaults(ctx, bad); errcode.Code(err) != errcode.Validation || !strings.Contains(err.Error(), "loss") {
		t.Errorf("loss 2: want a validation error naming loss, got %v", err)
	}
	if err := c.SlowRPC(ctx, -time.Second); errcode.Code(err) != errcode.Validation {
		t.Errorf("negative delay: want a validation error, got %v", err)
	}
	if err := c.SetFaults(ctx, transport.Faults{}); err != nil {
		t.Fatal(err)
	}

	// A node given a wrong cookie fails its join, and the runner reads the
	// code, not the text.
	n3 := startSim(t, nw, "n3", "other")
	stranger := control.NewClient(rpc.NewClient("other", "runner", rpc.DialWithin(nw.Dial)), n3.Addr())
	err := stranger.Join(ctx, []string{n1.Addr()})
	if !errors.Is(err, rpc.ErrCookieMismatch) || errcode.Code(err) != errcode.CookieMismatch {
		t.Errorf("join with a wrong cookie: want %s, got %v", errcode.CookieMismatch, err)
	}
	if _, err := control.NewClient(rpc.NewClient("other", "runner", rpc.DialWithin(nw.Dial)), n1.Addr()).View(ctx); !errors.Is(err, rpc.ErrCookieMismatch) {
		t.Errorf("a runner with the wrong cookie: want %s, got %v", errcode.CookieMismatch, err)
	}

	if err := c.Leave(ctx, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n2 to see n1 leave", func() bool { return n2.State().Status("n1") == membership.StatusLeft })
	if err := c.Exit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n1.ExitRequested():
	case <-time.After(5 * time.Second):
		t.Fatal("the exit call was answered, but the node was not asked to exit")
	}
}
