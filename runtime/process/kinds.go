package process

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// Kind is a process kind: the name spawns use, the type process_list
// shows, and how a process of it starts. The built-in kinds (Builtin) and
// a program's own are described, registered and supervised alike.
type Kind struct {
	// Name is what n.spawn and horde.start_child name the kind by: lower
	// case letters, digits and underscores, starting with a letter.
	Name string
	// Type is how process_list lists and filters its processes:
	// TypeGenServer (when empty), TypeTask or TypeSupervisor. A
	// gen_server handles its mailbox one message at a time; a task runs
	// its behaviour's Run (it must implement Runner) and never reads its
	// mailbox; a supervisor also handles messages, and its children are
	// supervised one_for_one (killing it needs force).
	Type string
	// Restart is the restart type of a spawn that names none:
	// RestartPermanent (when empty), RestartTransient or
	// RestartTemporary.
	Restart string
	// State says what process_info shows as the state ("{count}").
	State string
	// Messages lists the messages it understands and what a call of each
	// answers, for the reference and for people reading the code.
	Messages []MessageDoc
	// Init returns the behaviour of a new process, and of every restart of
	// one (a restart starts from a fresh Init: state does not survive a
	// crash). It runs on the spawner's goroutine before the process handles
	// anything; an error fails the spawn (or the restart) with that error.
	Init func(self *Self) (Behaviour, error)
}

// Behaviour is what a kind's Init returns: one process's state and the
// code that drives it. A behaviour implements only what it supports (as a
// Starlark value does): Handler for a gen_server or a supervisor, Runner
// for a task, and optionally StateReporter and Sizer. Its methods run on
// the process's own goroutine, one message at a time, so they need no
// locks. A panic in any of them ends the process with reason "panic: ..."
// (an abnormal exit its supervisor answers with a restart), never the node.
type Behaviour any

// Handler is the behaviour of a gen_server or a supervisor.
type Handler interface {
	// Handle handles one message. For a call, the caller gets reply, or
	// err (an *errcode.Error keeps its code; anything else arrives as
	// internal_error). For a send or a cast both are dropped: answer the
	// sender with self.Send when it should hear back.
	Handle(self *Self, m Message) (reply any, err error)
}

// StateReporter is a Behaviour whose state process_info shows. State is
// read after Init and after every message, so process_info shows the
// state as of the last message handled and never waits for a busy
// process.
type StateReporter interface {
	State() map[string]any
}

// Sizer is a Behaviour that estimates the bytes its state holds, counted
// in the process's memory (read with State).
type Sizer interface {
	Size() int64
}

// Runner is the behaviour of a task: Run is the task's whole life. ctx
// ends when the process is killed or its node stops. A Run that returns
// nil exits with reason "normal", one that returns an error exits with the
// error's text as the (abnormal) reason.
type Runner interface {
	Run(ctx context.Context, self *Self) error
}

// Message is one message a process handles.
type Message struct {
	// Kind is MsgSend, MsgCast or MsgCall.
	Kind string
	// From is the sender: a pid when a process sent it, else the node or
	// caller that did.
	From string
	// Body is plain JSON data (nil, bool, string, json.Number, []any,
	// map[string]any) when it came through an operation; a process on the
	// same node may send any value.
	Body any
}

// Self is a process as its own behaviour sees it.
type Self struct{ p *process }

// PID returns the process's pid.
func (s *Self) PID() string { return s.p.pid }

// Name returns the name the process is registered under ("" for none).
func (s *Self) Name() string { return s.p.name }

// Now is the node's clock, skewed as n.skew_clock sets it: what a
// service reads for leases, timestamps and TTLs.
func (s *Self) Now() time.Time { return s.p.t.Now() }

// DataDir returns the node's data directory: what a process keeps there
// survives the node's kill and restart (not a restart with wipe). ""
// when the node has none.
func (s *Self) DataDir() string { return s.p.t.data }

// Node returns the name of the node the process runs on.
func (s *Self) Node() string { return s.p.t.node }

// Restarts returns how many times the process has been restarted: 0 for
// a first start.
func (s *Self) Restarts() int { return s.p.restarts }

// Send sends msg to a pid. A pid of this node gets it in its mailbox;
// anything else (another node, a caller) is traced only: a process reaches
// other nodes through operations, not through Send.
func (s *Self) Send(to string, msg any) { s.p.t.sendFrom(s.p, to, msg) }

// Exit ends the process with reason once the current message has been
// handled; its supervisor then decides on a restart ("normal" and
// "shutdown" are normal exits).
func (s *Self) Exit(reason string) { s.p.exit(reason) }

// Children lists a supervisor's children as which_children answers them:
// {pid, name, type, restart} each.
func (s *Self) Children() []map[string]any { return s.p.t.childrenInfo(s.p) }

// IsSnakeName reports whether name is lower_snake_case: lower case
// letters, digits and underscores, starting with a letter. Kinds,
// operations and their parameters are named so.
func IsSnakeName(name string) bool {
	for i, r := range name {
		switch {
		case 'a' <= r && r <= 'z':
		case i > 0 && ('0' <= r && r <= '9' || r == '_'):
		default:
			return false
		}
	}
	return name != ""
}

// CheckKind reports what is wrong with k's description, if anything.
func CheckKind(k Kind) error {
	if !IsSnakeName(k.Name) {
		return fmt.Errorf("kind %q: the name must be lower case letters, digits and underscores, starting with a letter", k.Name)
	}
	switch k.Type {
	case "", TypeGenServer, TypeTask, TypeSupervisor:
	default:
		return fmt.Errorf("kind %s: type must be %s, %s or %s, got %q", k.Name, TypeGenServer, TypeTask, TypeSupervisor, k.Type)
	}
	switch k.Restart {
	case "", RestartPermanent, RestartTransient, RestartTemporary:
	default:
		return fmt.Errorf("kind %s: restart must be %s, %s or %s, got %q", k.Name, RestartPermanent, RestartTransient, RestartTemporary, k.Restart)
	}
	if k.Init == nil {
		return fmt.Errorf("kind %s: Init is required", k.Name)
	}
	return nil
}

// checkBehaviour reports a behaviour that cannot drive a process of k.
func (k Kind) checkBehaviour(b Behaviour) error {
	if k.Type == TypeTask {
		if _, ok := b.(Runner); !ok {
			return errcode.Errorf(errcode.Internal, "kind %s: Init returned %T, which is not a process.Runner (a task runs)", k.Name, b)
		}
		return nil
	}
	if _, ok := b.(Handler); !ok {
		return errcode.Errorf(errcode.Internal, "kind %s: Init returned %T, which is not a process.Handler (a %s handles messages)", k.Name, b, k.Type)
	}
	return nil
}

// withDefaults fills in an unset type and restart type.
func (k Kind) withDefaults() Kind {
	if k.Type == "" {
		k.Type = TypeGenServer
	}
	if k.Restart == "" {
		k.Restart = RestartPermanent
	}
	return k
}

// Kinds returns the names of the kinds the table spawns, in registration
// order.
func (t *Table) Kinds() []string {
	names := make([]string, len(t.kinds))
	for i, k := range t.kinds {
		names[i] = k.Name
	}
	return names
}

// lookupKind returns the kind named name.
func (t *Table) lookupKind(name string) (Kind, error) {
	i := slices.IndexFunc(t.kinds, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, errcode.Errorf(errcode.Validation, "kind: must be one of %s, got %s", quoteAll(t.Kinds()), repr(name))
	}
	return t.kinds[i], nil
}

// quoteAll quotes every string and joins them with commas.
func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
