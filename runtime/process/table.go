package process

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

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

// Table is a node's process table.
type Table struct {
	node        string
	incarnation uint64
	start       time.Time
	kinds       []Kind // fixed at NewTable

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

	limits Limits                        // set before the first spawn
	system int                           // the engine's own processes, which Limits do not count
	queued atomic.Int64                  // bytes queued in all mailboxes
	logf   func(format string, a ...any) // the node's log; set before the first spawn
	data   string                        // the node's data directory ("": none); set before the first spawn
	skew   atomic.Int64                  // the node's clock offset, in nanoseconds

	wg sync.WaitGroup
}

// SetLimits replaces the table's limits (DefaultLimits until then); zero
// fields keep their defaults. Call it before the first spawn.
func (t *Table) SetLimits(l Limits) {
	d := DefaultLimits()
	if l.Processes <= 0 {
		l.Processes = d.Processes
	}
	if l.MailboxBytes <= 0 {
		l.MailboxBytes = d.MailboxBytes
	}
	if l.QueuedBytes <= 0 {
		l.QueuedBytes = d.QueuedBytes
	}
	t.limits = l
}

// SetClockSkew offsets the clock the node's processes and operations
// read (Now) by d: a machine whose clock is off. It does not touch
// memberlist's timers.
func (t *Table) SetClockSkew(d time.Duration) { t.skew.Store(int64(d)) }

// ClockSkew returns the offset SetClockSkew set.
func (t *Table) ClockSkew() time.Duration { return time.Duration(t.skew.Load()) }

// Now is the node's clock: the time, offset by its skew. Processes read
// it through Self.Now, operations through Host.Processes().Now.
func (t *Table) Now() time.Time { return time.Now().Add(time.Duration(t.skew.Load())) }

// SetDataDir gives the table's processes the node's data directory (see
// Self.DataDir); call it before the first spawn.
func (t *Table) SetDataDir(dir string) { t.data = dir }

// SetLog makes the table write to the node's log (the stack of a
// behaviour's panic, for one); call it before the first spawn.
func (t *Table) SetLog(logf func(format string, a ...any)) { t.logf = logf }

// NewTable returns the process table of one incarnation of node (1 for
// its first start, larger for each restart; 0 counts as 1), able to spawn
// kinds. The incarnation is part of every pid, so a restarted node never
// hands out a pid it had before. Kind names are unique, and one of them is
// the "supervisor" kind, which every table's root supervisor and a node's
// system supervisors are: pass Builtin() and a program's own kinds, as
// node.Registry collects them.
func NewTable(node string, incarnation uint64, kinds []Kind) (*Table, error) {
	t := &Table{
		limits:      DefaultLimits(),
		logf:        func(string, ...any) {},
		node:        node,
		incarnation: max(incarnation, 1),
		start:       time.Now(),
		procs:       map[uint64]*process{},
		names:       map[string]*process{},
		exited:      map[uint64]*exitRecord{},
		traces:      map[uint64]*trace{},
	}
	seen := map[string]bool{}
	for _, k := range kinds {
		if err := CheckKind(k); err != nil {
			return nil, err
		}
		if seen[k.Name] {
			return nil, fmt.Errorf("kind %s is registered twice", k.Name)
		}
		seen[k.Name] = true
		t.kinds = append(t.kinds, k.withDefaults())
	}
	if k, err := t.lookupKind(KindSupervisor); err != nil || k.Type != TypeSupervisor {
		return nil, fmt.Errorf("the kinds must include %q of type %s (every table's root is one): start from process.Builtin()", KindSupervisor, TypeSupervisor)
	}
	root, err := t.spawn(KindSupervisor, "root_sup", nil, RestartPermanent, 0)
	if err != nil {
		return nil, fmt.Errorf("start root_sup: %w", err)
	}
	root.system = true
	t.root = root
	t.system = 1
	return t, nil
}

// AddSystem lists an engine component as a process of type system.
func (t *Table) AddSystem(name string, measure func() (int64, int)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	p := &process{
		t: t, seq: t.seq, pid: FormatPID(t.node, t.incarnation, t.seq), name: name, kind: TypeSystem,
		typ: TypeSystem, system: true, startedAt: time.Now(), measure: measure,
		kill: make(chan struct{}), done: make(chan struct{}),
	}
	t.procs[p.seq] = p
	t.names[name] = p
	t.system++
}

// spawn starts a process under sup (nil only for the root supervisor).
// restart "" is the kind's default. The kind's Init runs here, on the
// caller's goroutine, so a failing Init fails the spawn; the process is
// registered first, holding its name, and dropped again if Init fails.
func (t *Table) spawn(kind, name string, sup *process, restart string, restarts int) (*process, error) {
	k, err := t.lookupKind(kind)
	if err != nil {
		return nil, err
	}
	if restart == "" {
		restart = k.Restart
	}
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return nil, errcode.Errorf(errcode.NodeUnreachable, "node %s is stopping", t.node)
	}
	if sup != nil && sup.exiting {
		t.mu.Unlock()
		return nil, errcode.Errorf(errcode.ProcessNotFound, "supervisor %s is exiting", sup.pid)
	}
	if name != "" {
		if other := t.names[name]; other != nil {
			t.mu.Unlock()
			return nil, errcode.Errorf(errcode.AlreadyStarted, "the name %q is taken by %s on %s", name, other.pid, t.node)
		}
	}
	// A supervisor's restart replaces a process that exited: it is never
	// refused, or a permanent child could silently stay down.
	if restarts == 0 && len(t.procs)-t.system >= t.limits.Processes {
		t.mu.Unlock()
		return nil, errcode.Errorf(errcode.ResourceExhausted, "%s runs %d processes besides the engine's own, its limit (max processes); kill some or raise the limit", t.node, t.limits.Processes)
	}
	t.seq++
	p := &process{
		t: t, seq: t.seq, pid: FormatPID(t.node, t.incarnation, t.seq), name: name, kind: kind,
		typ: k.Type, restart: restart, startedAt: time.Now(), restarts: restarts,
		sup: sup, kill: make(chan struct{}), done: make(chan struct{}),
	}
	p.mbox.signal, p.mbox.queued = make(chan struct{}, 1), &t.queued
	t.procs[p.seq] = p
	if name != "" {
		t.names[name] = p
	}
	if sup != nil {
		sup.children = append(sup.children, p)
	}
	t.wg.Add(1)
	t.mu.Unlock()
	if err := p.init(k); err != nil {
		t.drop(p, err)
		return nil, err
	}
	if sup != nil {
		sup.trace(TraceSpawn, sup.pid, p.pid, map[string]any{"kind": kind, "name": nameOrNil(name)})
	}
	go p.run()
	return p, nil
}

// drop removes a process whose Init failed: it never ran.
func (t *Table) drop(p *process, err error) {
	t.mu.Lock()
	delete(t.procs, p.seq)
	if p.name != "" && t.names[p.name] == p {
		delete(t.names, p.name)
	}
	if sup := p.sup; sup != nil {
		sup.children = slices.DeleteFunc(sup.children, func(c *process) bool { return c == p })
	}
	p.exiting = true
	t.mu.Unlock()
	p.mbox.drain(errcode.Errorf(errcode.ProcessNotFound, "%s did not start: %v", p.pid, err))
	close(p.done)
	t.wg.Done()
}

func nameOrNil(name string) any {
	if name == "" {
		return nil
	}
	return name
}

// lookup returns the live process seq, or the record of an exited one.
func (t *Table) lookup(pid string) (*process, *exitRecord, error) {
	id, ok := ParsePID(pid)
	if !ok {
		return nil, nil, errcode.Errorf(errcode.Validation, `pid: must be a pid such as "%s", got %s`, FormatPID(t.node, t.incarnation, 17), repr(pid))
	}
	if id.Node != t.node {
		return nil, nil, errcode.Errorf(errcode.ProcessNotFound, "%s does not live on %s", pid, t.node)
	}
	if id.Incarnation != 0 && id.Incarnation != t.incarnation {
		return nil, nil, errcode.Errorf(errcode.ProcessNotFound, "%s belongs to incarnation %d of %s, which runs incarnation %d now", pid, id.Incarnation, t.node, t.incarnation)
	}
	seq := id.Seq
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.procs[seq]; p != nil {
		return p, nil, nil
	}
	if r := t.exited[seq]; r != nil {
		return nil, r, nil
	}
	return nil, nil, errcode.Errorf(errcode.ProcessNotFound, "no process %s on %s", pid, t.node)
}

// Whereis returns the pid of the live process registered as name.
func (t *Table) Whereis(name string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.names[name]; p != nil && !p.exiting {
		return p.pid, true
	}
	return "", false
}

// Info returns the process's fields, alive or recently exited.
func (t *Table) Info(pid string) (ProcessInfo, error) {
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

// List returns the live processes of a type ("" for all) in pid order:
// the total that match and at most limit of them.
func (t *Table) List(typ string, limit int) ([]ProcessInfo, int) {
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

// Counts returns the number of live processes, their queued messages and
// their measured memory.
func (t *Table) Counts() (procs, queued int, memory int64) {
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
func (t *Table) childrenInfo(sup *process) []map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []map[string]any{}
	for _, c := range sup.children {
		out = append(out, map[string]any{"pid": c.pid, "name": nameOrNil(c.name), "type": c.typ, "restart": c.restart})
	}
	return out
}

// SpawnRequest asks for a process of a kind the table spawns (proc.spawn).
type SpawnRequest struct {
	Kind string `json:"kind"`
	// Name registers the process under a name unique on its node ("" for
	// none); a restarted process keeps it.
	Name string `json:"name,omitempty"`
	// Supervisor is the pid of a supervisor on the same node ("" for the
	// node's root supervisor).
	Supervisor string `json:"supervisor,omitempty"`
	// Restart is permanent, transient or temporary ("" for the kind's
	// default).
	Restart string `json:"restart,omitempty"`
}

// Spawned describes a started process.
type Spawned struct {
	PID  string `json:"pid"`
	Name string `json:"name"`
	Node string `json:"node"`
	Type string `json:"type"`
}

// Spawn starts a process as req asks, under the root supervisor or the
// supervisor req names.
func (t *Table) Spawn(req SpawnRequest) (Spawned, error) {
	sup := t.root
	if req.Supervisor != "" {
		p, _, err := t.lookup(req.Supervisor)
		if err != nil {
			if errcode.Code(err) == errcode.Validation {
				err = errcode.Errorf(errcode.Validation, "supervisor: must be the pid of a supervisor on %s, got %s", t.node, repr(req.Supervisor))
			}
			return Spawned{}, err
		}
		if p == nil {
			return Spawned{}, errcode.Errorf(errcode.ProcessNotFound, "supervisor %s has exited", req.Supervisor)
		}
		if p.typ != TypeSupervisor {
			return Spawned{}, errcode.Errorf(errcode.Validation, "supervisor: %s is a %s, not a supervisor", req.Supervisor, p.typ)
		}
		sup = p
	}
	restart := req.Restart
	switch restart {
	case "", RestartPermanent, RestartTransient, RestartTemporary:
	default:
		return Spawned{}, errcode.Errorf(errcode.Validation, "restart: must be one of %s, got %s", quoteAll([]string{RestartPermanent, RestartTransient, RestartTemporary}), repr(restart))
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

// Kill ends a process and waits until it has exited and its supervisor
// has decided on a restart.
func (t *Table) Kill(ctx context.Context, pid, reason string, force bool) (KillResult, error) {
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
		return res, errcode.Errorf(errcode.Protection, "%s (%s) is part of the engine of %s and cannot be killed, even with force; stop the node instead", pid, p.name, t.node)
	}
	if p.typ == TypeSupervisor && !force {
		return res, errcode.Errorf(errcode.Protection, "%s is a supervisor: killing it terminates its children; set force to kill it anyway", pid)
	}
	res.Terminated = p.exit(reason)
	select {
	case <-p.done:
	case <-ctx.Done():
		return res, errcode.Errorf(errcode.Timeout, "%s did not finish exiting in time", pid)
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
func (t *Table) deliver(p *process, e envelope) error {
	e.size = approxSize(e.msg) + int64(len(e.from))
	switch p.mbox.push(e, t.limits, func() { p.trace(TraceReceive, e.from, p.pid, e.msg) }) {
	case fullMessages:
		return errcode.Errorf(errcode.ResourceExhausted, "message: the mailbox of %s is full (%d messages)", p.pid, maxMailbox)
	case fullBytes:
		return errcode.Errorf(errcode.ResourceExhausted, "message: the mailbox of %s is full (%d bytes queued at most; this message is about %d)", p.pid, t.limits.MailboxBytes, e.size)
	case fullNode:
		return errcode.Errorf(errcode.ResourceExhausted, "message: the mailboxes of %s are full (%d bytes queued at most on the node; this message is about %d)", t.node, t.limits.QueuedBytes, e.size)
	case gone:
		return errcode.Errorf(errcode.ProcessNotFound, "%s has exited", p.pid)
	}
	return nil
}

// sendFrom is a process sending msg to a destination that may be a pid of
// this node (delivered) or anything else (traced only: nodes and remote
// callers have no mailbox here).
func (t *Table) sendFrom(p *process, to string, msg any) {
	p.trace(TraceSend, p.pid, to, msg)
	id, ok := ParsePID(to)
	if !ok || id.Node != t.node || (id.Incarnation != 0 && id.Incarnation != t.incarnation) {
		return
	}
	t.mu.Lock()
	dst := t.procs[id.Seq]
	t.mu.Unlock()
	if dst != nil {
		_ = t.deliver(dst, envelope{kind: MsgSend, from: p.pid, msg: msg})
	}
}

// Send delivers msg to pid as a send or cast, or for a call waits for the
// reply until ctx ends.
func (t *Table) Send(ctx context.Context, pid, from, kind string, msg any) (any, error) {
	p, rec, err := t.lookup(pid)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errcode.Errorf(errcode.ProcessNotFound, "%s has exited (%s)", pid, rec.reason)
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
		// A process that answers and then exits has both ready: the
		// answer wins.
		select {
		case r := <-e.reply:
			return r.v, r.err
		default:
		}
		return nil, errcode.Errorf(errcode.ProcessNotFound, "%s exited before answering", pid)
	case <-ctx.Done():
		return nil, errcode.Errorf(errcode.Timeout, "no reply from %s in time (a %s does not answer calls)", pid, p.kind)
	}
}

// Stop ends every process (no restarts) and waits for them.
func (t *Table) Stop() {
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
