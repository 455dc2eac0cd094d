package process

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

func TestPIDAndTraceIDRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		node     string
		inc, seq uint64
	}{{"n2", 1, 17}, {"node.with.dots", 3, 1}, {"a:b", 2, 9}, {"10.0.0.1", 7, 4}} {
		pid, ok := ParsePID(FormatPID(tc.node, tc.inc, tc.seq))
		if want := (PID{tc.node, tc.inc, tc.seq}); !ok || pid != want {
			t.Errorf("pid of %+v parsed as %+v (%v)", want, pid, ok)
		}
		node, seq, ok := ParseTraceID(TraceID(tc.node, tc.seq))
		if !ok || node != tc.node || seq != tc.seq {
			t.Errorf("trace id of %s.%d parsed as %s.%d (%v)", tc.node, tc.seq, node, seq, ok)
		}
	}
	// A pid without an incarnation names whichever one runs.
	if pid, ok := ParsePID("<n2.17>"); !ok || pid != (PID{Node: "n2", Seq: 17}) {
		t.Errorf(`ParsePID("<n2.17>") = %+v, %v`, pid, ok)
	}
	for _, bad := range []string{"", "<>", "<n1>", "<n1.>", "<.3>", "<n1.0>", "<n1.2.0>", "n1.3", "<n1.x>", "<n1.2.x>"} {
		if pid, ok := ParsePID(bad); ok {
			t.Errorf("ParsePID(%q) accepted as %+v", bad, pid)
		}
	}
}

func TestPIDsOfARestartedNodeNeverRepeat(t *testing.T) {
	seen := map[string]bool{}
	for inc := uint64(1); inc <= 3; inc++ {
		tb, err := NewTable("n1", inc, Builtin())
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			p, err := tb.Spawn(SpawnRequest{Kind: KindEcho, Restart: RestartTemporary})
			if err != nil {
				t.Fatal(err)
			}
			if seen[p.PID] {
				t.Fatalf("incarnation %d handed out %s again", inc, p.PID)
			}
			seen[p.PID] = true
			if _, err := tb.Info(p.PID); err != nil {
				t.Fatalf("its own pid %s: %v", p.PID, err)
			}
		}
		tb.Stop()
	}
	// A pid of an earlier incarnation is not found, and says why.
	tb := newTestTable(t)
	p, err := tb.Spawn(SpawnRequest{Kind: KindEcho, Restart: RestartTemporary})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := ParsePID(p.PID)
	old := FormatPID(id.Node, id.Incarnation+1, id.Seq)
	if _, err := tb.Info(old); errcode.Code(err) != errcode.ProcessNotFound || !strings.Contains(err.Error(), "incarnation") {
		t.Fatalf("Info(%s) on incarnation %d: %v", old, id.Incarnation, err)
	}
	// Written without an incarnation, it is the running one's.
	if info, err := tb.Info(fmt.Sprintf("<n1.%d>", id.Seq)); err != nil || info.PID != p.PID {
		t.Fatalf("Info(<n1.%d>) = %+v, %v", id.Seq, info, err)
	}
}

func newTestTable(t *testing.T) *Table {
	t.Helper()
	tb, err := NewTable("n1", 1, Builtin())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tb.Stop)
	return tb
}

func TestSupervisorRestartsAndSpecs(t *testing.T) {
	tb := newTestTable(t)
	ctx := context.Background()
	sup, err := tb.Spawn(SpawnRequest{Kind: KindSupervisor, Name: "sup"})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := tb.Spawn(SpawnRequest{Kind: KindSupervisor, Supervisor: sup.PID})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := tb.Spawn(SpawnRequest{Kind: KindKV, Name: "leaf", Supervisor: inner.PID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Spawn(SpawnRequest{Kind: KindEcho, Name: "leaf"}); errcode.Code(err) != errcode.AlreadyStarted {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := tb.Spawn(SpawnRequest{Kind: KindEcho, Supervisor: leaf.PID}); errcode.Code(err) != errcode.Validation {
		t.Fatalf("a kv as supervisor: %v", err)
	}
	seen := map[string]bool{sup.PID: true, inner.PID: true, leaf.PID: true}

	// killing sup shuts its subtree down; root restarts it and it restarts
	// its specs, grandchildren included, each with a fresh pid.
	res, err := tb.Kill(ctx, sup.PID, ReasonKilled, true)
	if err != nil || !res.Terminated {
		t.Fatalf("kill sup: %+v %v", res, err)
	}
	newSup, _ := res.RestartedAs.(string)
	info, err := tb.Info(newSup)
	if err != nil || info.Name != "sup" || info.Restarts != 1 || len(info.Children) != 1 {
		t.Fatalf("restarted sup: %+v %v", info, err)
	}
	innerInfo, _ := tb.Info(info.Children[0])
	if len(innerInfo.Children) != 1 {
		t.Fatalf("restarted inner supervisor: %+v", innerInfo)
	}
	leafInfo, _ := tb.Info(innerInfo.Children[0])
	if leafInfo.Name != "leaf" || leafInfo.Restarts != 1 || leafInfo.Kind != KindKV {
		t.Fatalf("restarted leaf: %+v", leafInfo)
	}
	for _, pid := range []string{newSup, innerInfo.PID, leafInfo.PID} {
		if seen[pid] {
			t.Fatalf("pid %s reused", pid)
		}
	}
	old, _ := tb.Info(leaf.PID)
	if old.Alive || old.ExitReason != ReasonShutdown {
		t.Fatalf("old leaf: %+v", old)
	}
}

func TestTraceLimits(t *testing.T) {
	tb := newTestTable(t)
	ctx := context.Background()
	c, _ := tb.Spawn(SpawnRequest{Kind: KindCounter})
	tr, err := tb.StartTrace(c.PID, time.Minute, 3)
	if err != nil {
		t.Fatal(err)
	}
	short, _ := tb.StartTrace(c.PID, time.Millisecond, 100)
	time.Sleep(5 * time.Millisecond)
	for i := 0; i < 5; i++ {
		if _, err := tb.Send(ctx, c.PID, "n1", MsgCall, "inc"); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := tb.TraceEvents(tr["trace_id"].(string))
	if err != nil || len(evs) != 3 {
		t.Fatalf("capped trace: %d events, %v", len(evs), err)
	}
	if evs[0].Kind != TraceReceive || evs[1].Kind != TraceSend || evs[1].Message != int64(1) {
		t.Fatalf("events %+v", evs)
	}
	if evs, _ := tb.TraceEvents(short["trace_id"].(string)); len(evs) != 0 {
		t.Fatalf("expired trace recorded %d events", len(evs))
	}
	if _, err := tb.TraceEvents("trace:n1:99"); errcode.Code(err) != errcode.Validation {
		t.Fatalf("unknown trace: %v", err)
	}
}

func TestMailboxMeasures(t *testing.T) {
	tb := newTestTable(t)
	ctx := context.Background()
	s, _ := tb.Spawn(SpawnRequest{Kind: KindSleeper})
	before, _ := tb.Info(s.PID)
	msg := map[string]any{"payload": "0123456789"}
	for i := 0; i < 10; i++ {
		if _, err := tb.Send(ctx, s.PID, "n1", MsgSend, msg); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := tb.Info(s.PID)
	if after.MessageQueueLen != 10 || after.Memory < before.Memory+10*approxSize(msg) {
		t.Fatalf("queue %d, memory %d -> %d", after.MessageQueueLen, before.Memory, after.Memory)
	}
	kv, _ := tb.Spawn(SpawnRequest{Kind: KindKV})
	if _, err := tb.Send(ctx, kv.PID, "n1", MsgCall, map[string]any{"put": []any{"k", "vvvvvvvvvvvvvvvvvvvv"}}); err != nil {
		t.Fatal(err)
	}
	ki, _ := tb.Info(kv.PID)
	if ki.State["size"] != json.Number("1") || ki.Memory <= before.Memory {
		t.Fatalf("kv %+v", ki)
	}
}

// The reference describes every kind a node can spawn, as that kind.
func TestKindDocsDescribeEveryKind(t *testing.T) {
	docs := KindDocs()
	kinds := Builtin()
	if len(docs) != len(kinds) {
		t.Fatalf("%d kinds documented, %d kinds", len(docs), len(kinds))
	}
	for i, k := range kinds {
		k = k.withDefaults()
		if d := docs[i]; d.Kind != k.Name || d.Type != k.Type || d.State == "" || len(d.Messages) == 0 {
			t.Errorf("KindDocs()[%d] = %+v, want kind %s of type %s with its state and messages", i, d, k.Name, k.Type)
		}
	}
}

// Limits hold in bytes and in processes: a mailbox, all of a node's
// mailboxes and the process count each refuse past their limit with
// resource_exhausted, and room comes back as messages are taken and
// processes exit.
func TestLimitsRefuseWithACode(t *testing.T) {
	tb := newTestTable(t)
	tb.SetLimits(Limits{Processes: 5, MailboxBytes: 1000, QueuedBytes: 1500})
	ctx := context.Background()
	a, _ := tb.Spawn(SpawnRequest{Kind: KindSleeper})
	b, _ := tb.Spawn(SpawnRequest{Kind: KindSleeper, Restart: RestartTemporary})
	msg := strings.Repeat("x", 300)
	sends := 0
	var err error
	for ; sends < 10; sends++ {
		if _, err = tb.Send(ctx, a.PID, "n1", MsgSend, msg); err != nil {
			break
		}
	}
	if sends != 3 || errcode.Code(err) != errcode.ResourceExhausted || !strings.Contains(err.Error(), "the mailbox of "+a.PID+" is full (1000 bytes") {
		t.Fatalf("after %d sends of 300 bytes to a 1000-byte mailbox: %v", sends, err)
	}
	if _, err := tb.Send(ctx, b.PID, "n1", MsgSend, msg); err != nil {
		t.Fatalf("another mailbox, under the node's limit: %v", err)
	}
	if _, err := tb.Send(ctx, b.PID, "n1", MsgSend, msg); errcode.Code(err) != errcode.ResourceExhausted || !strings.Contains(err.Error(), "the mailboxes of n1 are full") {
		t.Fatalf("past the node's 1500 queued bytes: %v", err)
	}
	for {
		_, err := tb.Spawn(SpawnRequest{Kind: KindSleeper})
		if err != nil {
			if errcode.Code(err) != errcode.ResourceExhausted || !strings.Contains(err.Error(), "n1 runs 5 processes besides the engine's own, its limit") {
				t.Fatalf("spawn past the limit: %v", err)
			}
			break
		}
	}
	if _, err := tb.Kill(ctx, b.PID, "test", false); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Spawn(SpawnRequest{Kind: KindSleeper}); err != nil {
		t.Fatalf("a process exited (its queue with it), yet: %v", err)
	}
	if _, err := tb.Send(ctx, a.PID, "n1", MsgSend, msg); errcode.Code(err) != errcode.ResourceExhausted {
		t.Fatalf("a's mailbox is still full: %v", err)
	}
}

// A message sent as its process exits is refused, not queued where
// nothing takes it: the node's queued bytes come back to zero once its
// processes are gone, however sends and exits interleave.
func TestSendsRacingAnExitLeakNoQueuedBytes(t *testing.T) {
	tb := newTestTable(t)
	tb.SetLimits(Limits{QueuedBytes: 1 << 20})
	ctx := context.Background()
	msg := strings.Repeat("x", 100)
	for range 100 {
		s, err := tb.Spawn(SpawnRequest{Kind: KindSleeper, Restart: RestartTemporary})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if _, err := tb.Send(ctx, s.PID, "n1", MsgSend, msg); err != nil {
						return
					}
				}
			}()
		}
		if _, err := tb.Kill(ctx, s.PID, "test", false); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
	if q := tb.queued.Load(); q != 0 {
		t.Fatalf("%d bytes still counted as queued with no process left to take them", q)
	}
}

// disk_log keeps its values in the node's data directory: a table made
// again over the same directory reads them back; a line cut short by a
// kill is dropped with what follows; without a directory it cannot start.
func TestDiskLogKeepsItsValues(t *testing.T) {
	ctx := context.Background()
	if _, err := newTestTable(t).Spawn(SpawnRequest{Kind: KindDiskLog}); errcode.Code(err) != errcode.Validation || !strings.Contains(err.Error(), "needs the node's data directory") {
		t.Fatalf("without a data directory: %v", err)
	}
	dir := t.TempDir()
	tb := newTestTable(t)
	tb.SetDataDir(dir)
	s, err := tb.Spawn(SpawnRequest{Kind: KindDiskLog, Name: "log"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{"a", map[string]any{"b": int64(2)}} {
		if _, err := tb.Send(ctx, s.PID, "n1", MsgCall, map[string]any{"append": v}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "log.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"cut short`)
	f.Close()
	again := newTestTable(t)
	again.SetDataDir(dir)
	s2, err := again.Spawn(SpawnRequest{Kind: KindDiskLog, Name: "log"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.Send(ctx, s2.PID, "n1", MsgCall, "read")
	if err != nil || fmt.Sprint(got) != "[a map[b:2]]" {
		t.Fatalf("read back %v, %v", got, err)
	}
	if _, err := again.Send(ctx, s2.PID, "n1", MsgCall, map[string]any{"append": "c"}); err != nil {
		t.Fatal(err)
	}
	third := newTestTable(t)
	third.SetDataDir(dir)
	s3, _ := third.Spawn(SpawnRequest{Kind: KindDiskLog, Name: "log"})
	if got, err := third.Send(ctx, s3.PID, "n1", MsgCall, "read"); err != nil || fmt.Sprint(got) != "[a map[b:2] c]" {
		t.Fatalf("after the cut line was dropped, an append: %v, %v", got, err)
	}
}

// A skewed clock is what the table's Now, and so Self.Now, reads.
func TestClockSkewMovesNow(t *testing.T) {
	tb := newTestTable(t)
	tb.SetClockSkew(time.Hour)
	if d := time.Until(tb.Now()); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("Now is %s ahead, want an hour", d)
	}
	tb.SetClockSkew(-time.Hour)
	if d := time.Since(tb.Now()); d < 59*time.Minute || tb.ClockSkew() != -time.Hour {
		t.Fatalf("Now is %s behind, skew %s", d, tb.ClockSkew())
	}
}
