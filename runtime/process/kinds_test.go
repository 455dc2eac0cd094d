package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// tally is a user kind: it adds the numbers it is sent, panics on "boom"
// and exits on "quit".
type tally struct{ sum int }

func (s *tally) Handle(self *Self, m Message) (any, error) {
	switch m.Body {
	case "boom":
		panic("tally cannot add boom")
	case "quit":
		self.Exit("asked to quit")
		return "bye", nil
	}
	n, ok := m.Body.(int)
	if !ok {
		return nil, errcode.Errorf(errcode.Validation, "message: want a number, got %v", m.Body)
	}
	s.sum += n
	return s.sum, nil
}

func (s *tally) State() map[string]any { return map[string]any{"sum": s.sum} }

// worker is a user task: it ends by itself when told to through its
// name, with an error when the name says so.
type worker struct{ fail bool }

func (w worker) Run(ctx context.Context, self *Self) error {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(10 * time.Millisecond):
	}
	if w.fail {
		return errors.New("worker gave up")
	}
	return nil
}

func userKinds() []Kind {
	return append(Builtin(),
		Kind{Name: "tally", Init: func(self *Self) (Behaviour, error) {
			if self.Name() == "refuse" {
				return nil, errcode.Errorf(errcode.Validation, "name: a tally cannot be called refuse")
			}
			return &tally{}, nil
		}},
		Kind{Name: "worker", Type: TypeTask, Restart: RestartTransient, Init: func(self *Self) (Behaviour, error) {
			return worker{fail: strings.HasPrefix(self.Name(), "fail") && self.Restarts() == 0}, nil
		}},
		Kind{Name: "oops", Init: func(*Self) (Behaviour, error) { return worker{}, nil }},
	)
}

func newUserTable(t *testing.T) *Table {
	t.Helper()
	tb, err := NewTable("n1", 1, userKinds())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tb.Stop)
	return tb
}

func TestUserKindIsServedSupervisedAndTraced(t *testing.T) {
	tb := newUserTable(t)
	ctx := context.Background()
	s, err := tb.Spawn(SpawnRequest{Kind: "tally", Name: "t"})
	if err != nil || s.Type != TypeGenServer {
		t.Fatalf("spawn tally: %+v %v", s, err)
	}
	tr, err := tb.StartTrace(s.PID, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 3} {
		if _, err := tb.Send(ctx, s.PID, "n1", MsgCall, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tb.Send(ctx, s.PID, "n1", MsgCall, "x"); errcode.Code(err) != errcode.Validation {
		t.Fatalf("a bad message: %v, want the behaviour's validation_error", err)
	}
	info, _ := tb.Info(s.PID)
	if info.State["sum"] != json.Number("5") {
		t.Fatalf("state %v, want sum 5", info.State)
	}
	evs, _ := tb.TraceEvents(tr["trace_id"].(string))
	if len(evs) != 5 || evs[0].Kind != TraceReceive || evs[1].Kind != TraceSend || evs[1].Message != 2 {
		t.Fatalf("trace %+v, want receive/send pairs as for a built-in kind", evs)
	}

	// A panic ends the process, not the table: the caller hears of it,
	// the node's log gets its stack, and the supervisor restarts it under
	// its name with fresh state.
	var logged strings.Builder
	var logMu sync.Mutex
	tb.SetLog(func(format string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(&logged, format+"\n", a...)
	})
	_, err = tb.Send(ctx, s.PID, "n1", MsgCall, "boom")
	if errcode.Code(err) != errcode.Internal || !strings.Contains(err.Error(), "tally cannot add boom") {
		t.Fatalf("panicking call: %v", err)
	}
	logMu.Lock()
	log := logged.String()
	logMu.Unlock()
	if !strings.Contains(log, "[ERR] engine: process "+s.PID+" (kind tally) panicked handling a message: tally cannot add boom") || !strings.Contains(log, "kinds_test.go") {
		t.Fatalf("the node's log should hold the panic and its stack:\n%s", log)
	}
	next, err := tb.Follow(ctx, s.PID)
	if err != nil || next == "" {
		t.Fatalf("not restarted after a panic: %q %v", next, err)
	}
	old, _ := tb.Info(s.PID)
	if !strings.HasPrefix(old.ExitReason, "panic: ") {
		t.Fatalf("exit reason %q", old.ExitReason)
	}
	info, _ = tb.Info(next)
	if info.Name != "t" || info.Restarts != 1 || info.State["sum"] != json.Number("0") {
		t.Fatalf("restarted tally %+v", info)
	}

	// Exit from inside a message: a permanent child still comes back.
	if v, err := tb.Send(ctx, next, "n1", MsgCall, "quit"); err != nil || v != "bye" {
		t.Fatalf("quit: %v %v", v, err)
	}
	if again, _ := tb.Follow(ctx, next); again == "" {
		t.Fatal("a permanent tally that exited was not restarted")
	}
}

func TestUserKindInitAndTypeErrorsFailTheSpawn(t *testing.T) {
	tb := newUserTable(t)
	if _, err := tb.Spawn(SpawnRequest{Kind: "tally", Name: "refuse"}); errcode.Code(err) != errcode.Validation || !strings.Contains(err.Error(), "cannot be called refuse") {
		t.Fatalf("init error: %v", err)
	}
	if _, err := tb.Spawn(SpawnRequest{Kind: "tally", Name: "refuse2"}); err != nil {
		t.Fatalf("a spawn after a failed init: %v", err)
	}
	if _, err := tb.Spawn(SpawnRequest{Kind: "oops"}); errcode.Code(err) != errcode.Internal || !strings.Contains(err.Error(), "not a process.Handler") {
		t.Fatalf("a gen_server kind whose behaviour cannot handle: %v", err)
	}
	if _, err := tb.Spawn(SpawnRequest{Kind: "nope"}); errcode.Code(err) != errcode.Validation || !strings.Contains(err.Error(), `"tally"`) {
		t.Fatalf("unknown kind: %v, want the kinds listed", err)
	}
	list, total := tb.List("", -1)
	for _, p := range list {
		if p.Name == "refuse" {
			t.Fatalf("a process whose init failed is listed: %+v (of %d)", p, total)
		}
	}
}

func TestUserTaskRestartFollowsItsKindsDefault(t *testing.T) {
	tb := newUserTable(t)
	ctx := context.Background()
	ok, err := tb.Spawn(SpawnRequest{Kind: "worker", Name: "done"})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := tb.Info(ok.PID)
	if info.Restart != RestartTransient || info.Type != TypeTask {
		t.Fatalf("worker %+v, want the kind's transient restart", info)
	}
	if next, err := tb.Follow(ctx, ok.PID); err != nil || next != "" {
		t.Fatalf("a transient task that ended normally was restarted as %q (%v)", next, err)
	}
	if info, _ := tb.Info(ok.PID); info.ExitReason != ReasonNormal {
		t.Fatalf("exit reason %q", info.ExitReason)
	}
	bad, _ := tb.Spawn(SpawnRequest{Kind: "worker", Name: "failing"})
	next, err := tb.Follow(ctx, bad.PID)
	if err != nil || next == "" {
		t.Fatalf("a transient task that failed was not restarted (%v)", err)
	}
	if info, _ := tb.Info(bad.PID); info.ExitReason != "worker gave up" {
		t.Fatalf("exit reason %q", info.ExitReason)
	}
}

func TestNewTableChecksKinds(t *testing.T) {
	init := func(*Self) (Behaviour, error) { return echoState{}, nil }
	for _, tc := range []struct {
		kinds []Kind
		want  string
	}{
		{append(Builtin(), Kind{Name: "echo", Init: init}), "registered twice"},
		{[]Kind{{Name: "echo", Init: init}}, `"supervisor"`},
		{append(Builtin(), Kind{Name: "Bad-Name", Init: init}), "lower case"},
		{append(Builtin(), Kind{Name: "x", Type: "actor", Init: init}), "type must be"},
		{append(Builtin(), Kind{Name: "x", Restart: "always", Init: init}), "restart must be"},
		{append(Builtin(), Kind{Name: "x"}), "Init is required"},
	} {
		if _, err := NewTable("n1", 1, tc.kinds); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewTable: %v, want an error containing %s", err, tc.want)
		}
	}
}

// A kind's name is lower_snake_case, as the error CheckKind gives says.
func TestKindNamesAreLowerSnakeCase(t *testing.T) {
	for name, ok := range map[string]bool{
		"echo": true, "kv_store": true, "a1": true, "x_": true,
		"": false, "Echo": false, "1kv": false, "_kv": false, "kv-store": false,
		"kv store": false, "é": false, "kv.store": false,
	} {
		err := CheckKind(Kind{Name: name, Init: func(*Self) (Behaviour, error) { return &tally{}, nil }})
		if got := err == nil || !strings.Contains(err.Error(), "lower case letters"); got != ok {
			t.Errorf("kind %q: accepted %v, want %v (%v)", name, got, ok, err)
		}
	}
}
