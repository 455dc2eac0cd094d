package runtime

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// The process runtime: every node keeps a table of lightweight processes in
// the manner of an Erlang node. A process is a goroutine with a mailbox and
// a pid that names its node ("<n2.17>"); pids are never reused within one
// incarnation of a node. Each node has a root supervisor ("root_sup") and
// lists its own engine components (membership, rpc_server, state_manager,
// rejoin, health_sampler) as processes of type "system"; those are views
// of real engine goroutines, measured from their real queues and state.
//
// Built-in kinds (SPEC §4.1):
//
//	echo        gen_server: a call is answered with its own message; a send
//	            or cast is echoed back to the sender (delivered when the
//	            sender is a pid on this node, traced in any case)
//	counter     gen_server: every message increments the count, except a
//	            call of "get", which only reads it; a call is answered with
//	            the count
//	kv          gen_server holding a map: {"put": [key, value]} stores,
//	            {"get": key} answers the value (None when absent),
//	            {"delete": key} removes and answers whether it was there,
//	            "keys" answers the sorted keys, "size" the number of keys;
//	            a call of anything else fails with validation_error, a send
//	            or cast of anything else is dropped after being received
//	sleeper     task: runs until killed and never reads its mailbox, so its
//	            message_queue_len grows with every message sent to it
//	supervisor  one_for_one supervisor; answers the calls "which_children"
//	            and "count_children"
//
// Restart types are OTP's: permanent children are always restarted,
// transient ones only after an abnormal exit (a reason other than "normal"
// or "shutdown"), temporary ones never. A restarted child gets a new pid,
// keeps its name, and its restarts count grows.

// Process kinds (SPEC §4.1).
const (
	KindEcho       = "echo"
	KindCounter    = "counter"
	KindKV         = "kv"
	KindSleeper    = "sleeper"
	KindSupervisor = "supervisor"
)

// Process types, as process_list reports and filters them.
const (
	TypeSupervisor = "supervisor"
	TypeGenServer  = "gen_server"
	TypeTask       = "task"
	TypeSystem     = "system"
)

// Restart types (OTP's).
const (
	RestartPermanent = "permanent"
	RestartTransient = "transient"
	RestartTemporary = "temporary"
)

// Exit reasons with a meaning to supervisors; any other reason is abnormal.
const (
	ReasonNormal   = "normal"
	ReasonShutdown = "shutdown"
	ReasonKilled   = "killed"
)

// Message kinds of send_message.
const (
	MsgSend = "send"
	MsgCast = "cast"
	MsgCall = "call"
)

// Trace event kinds.
const (
	TraceSend    = "send"
	TraceReceive = "receive"
	TraceSpawn   = "spawn"
	TraceExit    = "exit"
)

// maxMailbox bounds a mailbox so a runaway sender cannot exhaust the
// process that hosts every simulated node; a send past it fails.
const maxMailbox = 1 << 20

// keep this many exited processes and finished traces for inspection.
const (
	exitedKept = 512
	tracesKept = 256
)

func kindType(kind string) string {
	switch kind {
	case KindSupervisor:
		return TypeSupervisor
	case KindSleeper:
		return TypeTask
	default:
		return TypeGenServer
	}
}

// FormatPID returns the pid of process seq on node.
func FormatPID(node string, seq uint64) string {
	return "<" + node + "." + strconv.FormatUint(seq, 10) + ">"
}

// ParsePID splits a pid into its node and sequence number.
func ParsePID(pid string) (node string, seq uint64, ok bool) {
	if len(pid) < 5 || pid[0] != '<' || pid[len(pid)-1] != '>' {
		return "", 0, false
	}
	body := pid[1 : len(pid)-1]
	i := strings.LastIndexByte(body, '.')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(body[i+1:], 10, 64)
	if err != nil || seq == 0 {
		return "", 0, false
	}
	return body[:i], seq, true
}

// envelope is one message in a mailbox.
type envelope struct {
	kind  string // send, cast, call
	from  string
	msg   any
	size  int64
	reply chan callReply // for calls, buffered 1
}

type callReply struct {
	v   any
	err error
}

// mailbox is an unbounded-in-spirit FIFO whose length and held bytes are
// always known, so message_queue_len and memory are read, not guessed.
type mailbox struct {
	mu     sync.Mutex
	q      []envelope
	head   int
	bytes  int64
	signal chan struct{}
}

// push queues e; onQueued runs under the mailbox's lock, so a receive is
// traced before the process can handle the message.
func (m *mailbox) push(e envelope, onQueued func()) bool {
	m.mu.Lock()
	if len(m.q)-m.head >= maxMailbox {
		m.mu.Unlock()
		return false
	}
	m.q = append(m.q, e)
	m.bytes += e.size
	onQueued()
	m.mu.Unlock()
	select {
	case m.signal <- struct{}{}:
	default:
	}
	return true
}

func (m *mailbox) pop() (envelope, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.head == len(m.q) {
		return envelope{}, false
	}
	e := m.q[m.head]
	m.q[m.head] = envelope{}
	m.head++
	m.bytes -= e.size
	if m.head == len(m.q) {
		m.q, m.head = m.q[:0], 0
	} else if m.head > 1024 && m.head > len(m.q)/2 {
		m.q = append(m.q[:0:0], m.q[m.head:]...)
		m.head = 0
	}
	return e, true
}

// measure returns the queue length and the bytes it holds: the queued
// messages' estimated size plus the backing array of envelopes.
func (m *mailbox) measure() (int, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.q) - m.head, m.bytes + int64(cap(m.q))*int64(unsafe.Sizeof(envelope{}))
}

// drain empties the mailbox, failing waiting callers.
func (m *mailbox) drain(err error) {
	m.mu.Lock()
	q := m.q[m.head:]
	m.q, m.head, m.bytes = nil, 0, 0
	m.mu.Unlock()
	for _, e := range q {
		if e.reply != nil {
			e.reply <- callReply{err: err}
		}
	}
}

// behaviour is a gen_server's state and callbacks. handle runs on the
// process's goroutine with p.mu held; size may be called from any
// goroutine with p.mu held.
type behaviour interface {
	handle(p *process, e envelope) (reply any, err error)
	size() int64
	summary() map[string]any
}

type echoState struct{}

func (echoState) handle(_ *process, e envelope) (any, error) { return e.msg, nil }
func (echoState) size() int64                                { return 0 }
func (echoState) summary() map[string]any                    { return map[string]any{} }

type counterState struct{ count int64 }

func (c *counterState) handle(_ *process, e envelope) (any, error) {
	if e.kind == MsgCall && e.msg == "get" {
		return c.count, nil
	}
	c.count++
	return c.count, nil
}
func (c *counterState) size() int64             { return int64(unsafe.Sizeof(*c)) }
func (c *counterState) summary() map[string]any { return map[string]any{"count": c.count} }

// kvState keeps its byte estimate up to date on every change, so measuring
// a large map costs nothing.
type kvState struct {
	m     map[string]any
	bytes int64
}

const kvUsage = `kv accepts {"put": [key, value]}, {"get": key}, {"delete": key}, "keys" or "size"`

func (s *kvState) handle(_ *process, e envelope) (any, error) {
	bad := func() (any, error) {
		return nil, Errorf(CodeValidation, "message: %s, got %s", kvUsage, repr(e.msg))
	}
	switch m := e.msg.(type) {
	case string:
		switch m {
		case "keys":
			return sortedKeys(s.m), nil
		case "size":
			return len(s.m), nil
		}
		return bad()
	case map[string]any:
		if len(m) != 1 {
			return bad()
		}
		if a, ok := m["put"]; ok {
			kv, ok := a.([]any)
			if !ok || len(kv) != 2 {
				return bad()
			}
			k, ok := kv[0].(string)
			if !ok {
				return bad()
			}
			if old, ok := s.m[k]; ok {
				s.bytes -= approxSize(k) + approxSize(old)
			}
			s.m[k] = kv[1]
			s.bytes += approxSize(k) + approxSize(kv[1])
			return "ok", nil
		}
		if a, ok := m["get"]; ok {
			k, ok := a.(string)
			if !ok {
				return bad()
			}
			return s.m[k], nil
		}
		if a, ok := m["delete"]; ok {
			k, ok := a.(string)
			if !ok {
				return bad()
			}
			old, had := s.m[k]
			if had {
				s.bytes -= approxSize(k) + approxSize(old)
				delete(s.m, k)
			}
			return had, nil
		}
	}
	return bad()
}
func (s *kvState) size() int64             { return s.bytes }
func (s *kvState) summary() map[string]any { return map[string]any{"size": len(s.m)} }

// supState is a one_for_one supervisor's behaviour; its children live in
// the table (they change under the table's lock).
type supState struct{}

func (supState) handle(p *process, e envelope) (any, error) {
	switch e.msg {
	case "which_children":
		return p.t.childrenInfo(p), nil
	case "count_children":
		return len(p.t.childrenInfo(p)), nil
	}
	return nil, Errorf(CodeValidation, `message: a supervisor answers "which_children" and "count_children", got %s`, repr(e.msg))
}
func (supState) size() int64             { return 0 }
func (supState) summary() map[string]any { return map[string]any{"strategy": "one_for_one"} }

// process is one entry of the table.
type process struct {
	t         *procTable
	seq       uint64
	pid       string
	name      string
	kind      string
	typ       string
	restart   string
	system    bool // engine-owned: never killed, not even with force
	startedAt time.Time
	restarts  int

	mbox   mailbox
	kill   chan struct{}
	done   chan struct{}
	traces atomic.Pointer[[]*trace]

	// guarded by t.mu
	sup        *process
	children   []*process
	lastKids   []*process // children when it began exiting (a supervisor's specs)
	exiting    bool
	reason     string
	replacedBy string

	// guarded by mu
	mu    sync.Mutex
	state behaviour

	// system processes measure the component they stand for.
	measure func() (mem int64, queue int)
}

// exitRecord is what remains of an exited process.
type exitRecord struct {
	info     ProcessInfo
	exitedAt time.Time
	reason   string
	replaced string
}

// ProcessInfo describes one process.
type ProcessInfo struct {
	PID             string         `json:"pid"`
	Node            string         `json:"node"`
	Name            string         `json:"name"`
	Kind            string         `json:"kind"`
	Type            string         `json:"type"`
	Alive           bool           `json:"alive"`
	System          bool           `json:"system"`
	Memory          int64          `json:"memory"`
	MessageQueueLen int            `json:"message_queue_len"`
	StartedAt       time.Time      `json:"started_at"`
	Restarts        int            `json:"restarts"`
	Restart         string         `json:"restart"`
	Supervisor      string         `json:"supervisor"`
	Children        []string       `json:"children"`
	State           map[string]any `json:"state"`
	Traced          bool           `json:"traced"`
	ExitReason      string         `json:"exit_reason,omitempty"`
	ExitedAt        *time.Time     `json:"exited_at,omitempty"`
	RestartedAs     string         `json:"restarted_as,omitempty"`
}

// procTable is a node's process table.
type procTable struct {
	node  string
	start time.Time

	mu       sync.Mutex
	seq      uint64
	procs    map[uint64]*process
	names    map[string]*process
	exited   map[uint64]*exitRecord
	exitFIFO []uint64
	root     *process
	stopped  bool

	traceSeq   uint64
	traces     map[uint64]*trace
	traceOrder []uint64

	wg sync.WaitGroup
}

func newProcTable(node string) *procTable {
	t := &procTable{
		node:   node,
		start:  time.Now(),
		procs:  map[uint64]*process{},
		names:  map[string]*process{},
		exited: map[uint64]*exitRecord{},
		traces: map[uint64]*trace{},
	}
	root, err := t.spawn(KindSupervisor, "root_sup", nil, RestartPermanent, 0)
	if err != nil {
		panic(err) // an empty table always accepts its first process
	}
	root.system = true
	t.root = root
	return t
}

// addSystem lists an engine component as a process of type system.
func (t *procTable) addSystem(name string, measure func() (int64, int)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	p := &process{
		t: t, seq: t.seq, pid: FormatPID(t.node, t.seq), name: name, kind: TypeSystem,
		typ: TypeSystem, system: true, startedAt: time.Now(), measure: measure,
		kill: make(chan struct{}), done: make(chan struct{}),
	}
	t.procs[p.seq] = p
	t.names[name] = p
}

// spawn starts a process under sup (nil only for the root supervisor).
func (t *procTable) spawn(kind, name string, sup *process, restart string, restarts int) (*process, error) {
	var st behaviour
	switch kind {
	case KindEcho:
		st = echoState{}
	case KindCounter:
		st = &counterState{}
	case KindKV:
		st = &kvState{m: map[string]any{}}
	case KindSleeper:
	case KindSupervisor:
		st = supState{}
	default:
		return nil, Errorf(CodeValidation, `kind: must be one of "echo", "counter", "kv", "sleeper", "supervisor", got %s`, repr(kind))
	}
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return nil, Errorf(CodeNodeUnreachable, "node %s is stopping", t.node)
	}
	if sup != nil && sup.exiting {
		t.mu.Unlock()
		return nil, Errorf(CodeProcessNotFound, "supervisor %s is exiting", sup.pid)
	}
	if name != "" {
		if other := t.names[name]; other != nil {
			t.mu.Unlock()
			return nil, Errorf(CodeAlreadyStarted, "the name %q is taken by %s on %s", name, other.pid, t.node)
		}
	}
	t.seq++
	p := &process{
		t: t, seq: t.seq, pid: FormatPID(t.node, t.seq), name: name, kind: kind,
		typ: kindType(kind), restart: restart, startedAt: time.Now(), restarts: restarts,
		sup: sup, state: st, kill: make(chan struct{}), done: make(chan struct{}),
	}
	p.mbox.signal = make(chan struct{}, 1)
	t.procs[p.seq] = p
	if name != "" {
		t.names[name] = p
	}
	if sup != nil {
		sup.children = append(sup.children, p)
	}
	t.wg.Add(1)
	t.mu.Unlock()
	if sup != nil {
		sup.trace(TraceSpawn, sup.pid, p.pid, map[string]any{"kind": kind, "name": nameOrNil(name)})
	}
	go p.run()
	return p, nil
}

func nameOrNil(name string) any {
	if name == "" {
		return nil
	}
	return name
}

// run is the process's goroutine.
func (p *process) run() {
	defer p.t.wg.Done()
	if p.typ == TypeTask {
		<-p.kill
	} else {
	loop:
		for {
			select {
			case <-p.kill:
				break loop
			case <-p.mbox.signal:
			}
			for {
				select {
				case <-p.kill:
					break loop
				default:
				}
				e, ok := p.mbox.pop()
				if !ok {
					break
				}
				// Lock order is t.mu before p.mu: a supervisor reads the
				// table, so it handles its messages without p.mu (it has no
				// state of its own), and echo sends back after unlocking.
				var v any
				var err error
				if p.typ == TypeSupervisor {
					v, err = p.state.handle(p, e)
				} else {
					p.mu.Lock()
					v, err = p.state.handle(p, e)
					p.mu.Unlock()
				}
				if p.kind == KindEcho && e.kind != MsgCall {
					p.t.sendFrom(p, e.from, v)
				}
				if e.reply != nil {
					if err == nil {
						p.trace(TraceSend, p.pid, e.from, v)
					}
					e.reply <- callReply{v: v, err: err}
				}
			}
		}
	}
	p.terminate()
}

// exit asks the process to exit with reason; it reports whether this call
// did it (false when it was already exiting).
func (p *process) exit(reason string) bool {
	p.t.mu.Lock()
	if p.exiting {
		p.t.mu.Unlock()
		return false
	}
	p.exiting = true
	p.reason = reason
	p.t.mu.Unlock()
	close(p.kill)
	return true
}

// terminate runs on the exiting process's goroutine: a supervisor first
// shuts its children down, then the process leaves the table and its
// supervisor decides on a restart, all before done is closed, so a killer
// waiting on done sees the replacement.
func (p *process) terminate() {
	t := p.t
	t.mu.Lock()
	children := append([]*process(nil), p.children...)
	p.lastKids = children
	reason := p.reason
	t.mu.Unlock()
	for _, c := range children {
		c.exit(ReasonShutdown)
	}
	for _, c := range children {
		<-c.done
	}
	p.mbox.drain(Errorf(CodeProcessNotFound, "%s exited (%s) before answering", p.pid, reason))

	t.mu.Lock()
	info := p.infoLocked(false)
	delete(t.procs, p.seq)
	if p.name != "" && t.names[p.name] == p {
		delete(t.names, p.name)
	}
	sup := p.sup
	if sup != nil {
		for i, c := range sup.children {
			if c == p {
				sup.children = append(sup.children[:i:i], sup.children[i+1:]...)
				break
			}
		}
	}
	rec := &exitRecord{info: info, exitedAt: time.Now(), reason: reason}
	t.exited[p.seq] = rec
	t.exitFIFO = append(t.exitFIFO, p.seq)
	if len(t.exitFIFO) > exitedKept {
		delete(t.exited, t.exitFIFO[0])
		t.exitFIFO = t.exitFIFO[1:]
	}
	restart := sup != nil && !sup.exiting && !t.stopped && shouldRestart(p.restart, reason)
	t.mu.Unlock()

	to := ""
	if sup != nil {
		to = sup.pid
	}
	p.trace(TraceExit, p.pid, to, reason)
	if sup != nil {
		sup.trace(TraceReceive, p.pid, sup.pid, map[string]any{"exit": p.pid, "reason": reason})
	}
	if restart {
		if np, err := t.spawn(p.kind, p.name, sup, p.restart, p.restarts+1); err == nil {
			if p.kind == KindSupervisor {
				np.adoptSpecs(children)
			}
			t.mu.Lock()
			rec.replaced = np.pid
			t.mu.Unlock()
		}
	}
	close(p.done)
}

// adoptSpecs restarts, under a restarted supervisor, the children its
// previous incarnation had (as OTP re-runs a supervisor's child specs);
// temporary children are not part of the specs.
func (p *process) adoptSpecs(old []*process) {
	for _, c := range old {
		if c.restart == RestartTemporary {
			continue
		}
		np, err := p.t.spawn(c.kind, c.name, p, c.restart, c.restarts+1)
		if err != nil {
			continue
		}
		if c.kind == KindSupervisor {
			p.t.mu.Lock()
			grand := c.lastKids
			p.t.mu.Unlock()
			np.adoptSpecs(grand)
		}
	}
}

func shouldRestart(restart, reason string) bool {
	switch restart {
	case RestartPermanent:
		return true
	case RestartTransient:
		return reason != ReasonNormal && reason != ReasonShutdown
	default:
		return false
	}
}

// trace records an event on every active trace of p.
func (p *process) trace(kind, from, to string, msg any) {
	ts := p.traces.Load()
	if ts == nil {
		return
	}
	now := time.Now()
	for _, tr := range *ts {
		tr.record(now, kind, from, to, msg)
	}
}

// infoLocked snapshots p; t.mu is held.
func (p *process) infoLocked(alive bool) ProcessInfo {
	info := ProcessInfo{
		PID: p.pid, Node: p.t.node, Name: p.name, Kind: p.kind, Type: p.typ, Alive: alive,
		System: p.system, StartedAt: p.startedAt, Restarts: p.restarts, Restart: p.restart,
		Children: []string{}, State: map[string]any{},
	}
	if p.sup != nil {
		info.Supervisor = p.sup.pid
	}
	for _, c := range p.children {
		info.Children = append(info.Children, c.pid)
	}
	if ts := p.traces.Load(); ts != nil {
		now := time.Now()
		for _, tr := range *ts {
			if tr.active(now) {
				info.Traced = true
			}
		}
	}
	if p.measure != nil {
		info.Memory, info.MessageQueueLen = p.measure()
		return info
	}
	q, qb := p.mbox.measure()
	info.MessageQueueLen = q
	// memory: the process record itself, its mailbox (queued messages'
	// estimated size plus the envelope array) and its state's estimated
	// size (see approxSize). The goroutine's stack is not counted: Go does
	// not expose per-goroutine stack sizes.
	info.Memory = int64(unsafe.Sizeof(*p)) + qb
	if p.state != nil {
		p.mu.Lock()
		info.Memory += p.state.size()
		info.State = p.state.summary()
		p.mu.Unlock()
	}
	return info
}

// lookup returns the live process seq, or the record of an exited one.
func (t *procTable) lookup(pid string) (*process, *exitRecord, error) {
	node, seq, ok := ParsePID(pid)
	if !ok {
		return nil, nil, Errorf(CodeValidation, `pid: must be a pid such as "<%s.17>", got %s`, t.node, repr(pid))
	}
	if node != t.node {
		return nil, nil, Errorf(CodeProcessNotFound, "%s does not live on %s", pid, t.node)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.procs[seq]; p != nil {
		return p, nil, nil
	}
	if r := t.exited[seq]; r != nil {
		return nil, r, nil
	}
	return nil, nil, Errorf(CodeProcessNotFound, "no process %s on %s", pid, t.node)
}

// info returns the process's fields, alive or recently exited.
func (t *procTable) info(pid string) (ProcessInfo, error) {
	p, rec, err := t.lookup(pid)
	if err != nil {
		return ProcessInfo{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p != nil {
		return p.infoLocked(true), nil
	}
	info := rec.info
	at := rec.exitedAt
	info.Alive, info.ExitReason, info.ExitedAt, info.RestartedAs = false, rec.reason, &at, rec.replaced
	info.MessageQueueLen, info.Memory = 0, 0
	return info, nil
}

// list returns the live processes of a type ("" for all) in pid order:
// the total that match and at most limit of them.
func (t *procTable) list(typ string, limit int) ([]ProcessInfo, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	seqs := make([]uint64, 0, len(t.procs))
	for s, p := range t.procs {
		if typ == "" || p.typ == typ {
			seqs = append(seqs, s)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	total := len(seqs)
	if limit >= 0 && len(seqs) > limit {
		seqs = seqs[:limit]
	}
	out := make([]ProcessInfo, 0, len(seqs))
	for _, s := range seqs {
		out = append(out, t.procs[s].infoLocked(true))
	}
	return out, total
}

// counts returns the number of live processes, their queued messages and
// their measured memory.
func (t *procTable) counts() (procs, queued int, memory int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.procs {
		info := p.infoLocked(true)
		queued += info.MessageQueueLen
		memory += info.Memory
	}
	return len(t.procs), queued, memory
}

// childrenInfo lists a supervisor's children.
func (t *procTable) childrenInfo(sup *process) []map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []map[string]any{}
	for _, c := range sup.children {
		out = append(out, map[string]any{"pid": c.pid, "name": nameOrNil(c.name), "type": c.typ, "restart": c.restart})
	}
	return out
}

// SpawnRequest asks for a process of a built-in kind (proc.spawn).
type SpawnRequest struct {
	Kind string `json:"kind"`
	// Name registers the process under a name unique on its node ("" for
	// none); a restarted process keeps it.
	Name string `json:"name,omitempty"`
	// Supervisor is the pid of a supervisor on the same node ("" for the
	// node's root supervisor).
	Supervisor string `json:"supervisor,omitempty"`
	// Restart is permanent (default), transient or temporary.
	Restart string `json:"restart,omitempty"`
}

// Spawned describes a started process.
type Spawned struct {
	PID  string `json:"pid"`
	Name string `json:"name"`
	Node string `json:"node"`
	Type string `json:"type"`
}

func (t *procTable) spawnRequest(req SpawnRequest) (Spawned, error) {
	sup := t.root
	if req.Supervisor != "" {
		p, _, err := t.lookup(req.Supervisor)
		if err != nil {
			if ErrorCode(err) == CodeValidation {
				err = Errorf(CodeValidation, "supervisor: must be the pid of a supervisor on %s, got %s", t.node, repr(req.Supervisor))
			}
			return Spawned{}, err
		}
		if p == nil {
			return Spawned{}, Errorf(CodeProcessNotFound, "supervisor %s has exited", req.Supervisor)
		}
		if p.typ != TypeSupervisor {
			return Spawned{}, Errorf(CodeValidation, "supervisor: %s is a %s, not a supervisor", req.Supervisor, p.typ)
		}
		sup = p
	}
	restart := req.Restart
	if restart == "" {
		restart = RestartPermanent
	}
	p, err := t.spawn(req.Kind, req.Name, sup, restart, 0)
	if err != nil {
		return Spawned{}, err
	}
	return Spawned{PID: p.pid, Name: p.name, Node: t.node, Type: p.typ}, nil
}

// KillResult is kill_process's answer.
type KillResult struct {
	PID         string `json:"pid"`
	Reason      string `json:"reason"`
	Terminated  bool   `json:"terminated"`
	RestartedAs any    `json:"restarted_as"`
}

// killPID ends a process and waits until it has exited and its supervisor
// has decided on a restart.
func (t *procTable) killPID(ctx context.Context, pid, reason string, force bool) (KillResult, error) {
	res := KillResult{PID: pid, Reason: reason}
	p, rec, err := t.lookup(pid)
	if err != nil {
		return res, err
	}
	if p == nil {
		res.RestartedAs = nilIfEmpty(rec.replaced)
		return res, nil // already gone: nothing terminated
	}
	if p.system {
		return res, Errorf(CodeProtection, "%s (%s) is part of the engine of %s and cannot be killed, even with force; stop the node instead", pid, p.name, t.node)
	}
	if p.typ == TypeSupervisor && !force {
		return res, Errorf(CodeProtection, "%s is a supervisor: killing it terminates its children; pass force=True to do it anyway", pid)
	}
	res.Terminated = p.exit(reason)
	select {
	case <-p.done:
	case <-ctx.Done():
		return res, Errorf(CodeTimeout, "%s did not finish exiting in time", pid)
	}
	t.mu.Lock()
	if r := t.exited[p.seq]; r != nil {
		res.RestartedAs = nilIfEmpty(r.replaced)
	}
	t.mu.Unlock()
	return res, nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// deliver puts a message in pid's mailbox.
func (t *procTable) deliver(p *process, e envelope) error {
	e.size = approxSize(e.msg) + int64(len(e.from))
	if !p.mbox.push(e, func() { p.trace(TraceReceive, e.from, p.pid, e.msg) }) {
		return Errorf(CodeValidation, "message: the mailbox of %s is full (%d messages)", p.pid, maxMailbox)
	}
	return nil
}

// sendFrom is a process sending msg to a destination that may be a pid of
// this node (delivered) or anything else (traced only: nodes and remote
// callers have no mailbox here).
func (t *procTable) sendFrom(p *process, to string, msg any) {
	p.trace(TraceSend, p.pid, to, msg)
	node, seq, ok := ParsePID(to)
	if !ok || node != t.node {
		return
	}
	t.mu.Lock()
	dst := t.procs[seq]
	t.mu.Unlock()
	if dst != nil {
		_ = t.deliver(dst, envelope{kind: MsgSend, from: p.pid, msg: msg})
	}
}

// send delivers msg to pid as a send or cast, or for a call waits for the
// reply until ctx ends.
func (t *procTable) send(ctx context.Context, pid, from, kind string, msg any) (any, error) {
	p, rec, err := t.lookup(pid)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, Errorf(CodeProcessNotFound, "%s has exited (%s)", pid, rec.reason)
	}
	e := envelope{kind: kind, from: from, msg: msg}
	if kind == MsgCall {
		e.reply = make(chan callReply, 1)
	}
	if err := t.deliver(p, e); err != nil {
		return nil, err
	}
	if kind != MsgCall {
		return map[string]any{"pid": pid, "message_type": kind, "delivered": true}, nil
	}
	select {
	case r := <-e.reply:
		return r.v, r.err
	case <-p.done:
		return nil, Errorf(CodeProcessNotFound, "%s exited before answering", pid)
	case <-ctx.Done():
		return nil, Errorf(CodeTimeout, "no reply from %s in time (a %s does not answer calls)", pid, p.kind)
	}
}

// stop ends every process (no restarts) and waits for them.
func (t *procTable) stop() {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	t.stopped = true
	var all []*process
	for _, p := range t.procs {
		all = append(all, p)
	}
	t.mu.Unlock()
	for _, p := range all {
		if p.measure != nil {
			p.t.mu.Lock()
			if !p.exiting {
				p.exiting = true
				close(p.kill)
				close(p.done)
			}
			p.t.mu.Unlock()
			continue
		}
		p.exit(ReasonShutdown)
	}
	t.wg.Wait()
}

// TraceEvent is one traced event.
type TraceEvent struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Message any       `json:"message"`
}

// trace records the events of one process for a while.
type trace struct {
	id    string
	pid   string
	start time.Time
	until time.Time
	max   int

	mu      sync.Mutex
	events  []TraceEvent
	dropped int
}

func (tr *trace) active(now time.Time) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return now.Before(tr.until) && len(tr.events) < tr.max
}

func (tr *trace) record(now time.Time, kind, from, to string, msg any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if now.After(tr.until) {
		return
	}
	if len(tr.events) >= tr.max {
		tr.dropped++
		return
	}
	tr.events = append(tr.events, TraceEvent{At: now, Kind: kind, From: from, To: to, Message: msg})
}

// TraceID names a trace and the node where it runs.
func TraceID(node string, seq uint64) string {
	return "trace:" + node + ":" + strconv.FormatUint(seq, 10)
}

// ParseTraceID splits a trace id into node and sequence number.
func ParseTraceID(id string) (node string, seq uint64, ok bool) {
	rest, found := strings.CutPrefix(id, "trace:")
	if !found {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(rest[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return rest[:i], seq, true
}

// startTrace starts tracing pid.
func (t *procTable) startTrace(pid string, d time.Duration, max int) (map[string]any, error) {
	p, rec, err := t.lookup(pid)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, Errorf(CodeProcessNotFound, "%s has exited (%s)", pid, rec.reason)
	}
	now := time.Now()
	t.mu.Lock()
	t.traceSeq++
	tr := &trace{id: TraceID(t.node, t.traceSeq), pid: pid, start: now, until: now.Add(d), max: max}
	t.traces[t.traceSeq] = tr
	t.traceOrder = append(t.traceOrder, t.traceSeq)
	if len(t.traceOrder) > tracesKept {
		delete(t.traces, t.traceOrder[0])
		t.traceOrder = t.traceOrder[1:]
	}
	var keep []*trace
	if old := p.traces.Load(); old != nil {
		for _, o := range *old {
			if o.active(now) {
				keep = append(keep, o)
			}
		}
	}
	keep = append(keep, tr)
	p.traces.Store(&keep)
	t.mu.Unlock()
	return map[string]any{"trace_id": tr.id, "pid": pid, "node": t.node, "until": tr.until, "max_events": max}, nil
}

// traceEvents returns the events recorded by a trace of this node.
func (t *procTable) traceEvents(id string) ([]TraceEvent, error) {
	node, seq, ok := ParseTraceID(id)
	if !ok || node != t.node {
		return nil, Errorf(CodeValidation, `trace_id: must be an id returned by trace_process, such as "trace:%s:1", got %s`, t.node, repr(id))
	}
	t.mu.Lock()
	tr := t.traces[seq]
	t.mu.Unlock()
	if tr == nil {
		return nil, Errorf(CodeValidation, "trace_id: %s has no trace %s (it may have expired: a node keeps its last %d traces)", t.node, repr(id), tracesKept)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]TraceEvent{}, tr.events...), nil
}

// approxSize estimates the bytes of Go memory a decoded JSON value holds:
// Go's own header sizes on a 64-bit machine (string 16, slice 24,
// interface 16) plus the payload lengths, and for maps a per-entry
// overhead of one key and one value slot. It measures the real value; it
// does not count allocator rounding or map bucket slack.
func approxSize(v any) int64 {
	switch x := v.(type) {
	case nil:
		return 0
	case bool:
		return 1
	case float64, int, int64, uint64:
		return 8
	case string:
		return 16 + int64(len(x))
	case fmt.Stringer:
		return 16 + int64(len(x.String()))
	case []any:
		n := int64(24)
		for _, e := range x {
			n += 16 + approxSize(e)
		}
		return n
	case map[string]any:
		n := int64(48)
		for k, e := range x {
			n += 16 + int64(len(k)) + 16 + approxSize(e)
		}
		return n
	default:
		return int64(unsafe.Sizeof(v))
	}
}

// repr writes a value as a scenario author wrote it: strings quoted, None,
// True/False.
func repr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprint(v)
}
