package process

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// process is one entry of the table.
type process struct {
	t         *Table
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

	// beh is touched only by the process's own goroutine (and by Init,
	// before that goroutine starts); others read snap.
	beh  Behaviour
	snap atomic.Pointer[snapshot]

	// system processes measure the component they stand for.
	measure func() (mem int64, queue int)
}

// snapshot is a behaviour's state as of the last message it handled,
// encoded at once so that readers on other goroutines share nothing with
// the behaviour.
type snapshot struct {
	state json.RawMessage
	size  int64
}

// exitRecord is what remains of an exited process.
type exitRecord struct {
	info     ProcessInfo
	exitedAt time.Time
	reason   string
	replaced string        // guarded by the table's mu
	done     chan struct{} // the process's: closed once its restart is decided
}

// panicked is a behaviour's panic, recovered, with its stack.
type panicked struct {
	v     any
	stack []byte
}

func (p panicked) Error() string { return fmt.Sprintf("panic: %v", p.v) }

// protect runs f, turning a panic into a panicked error: a behaviour's bug
// ends its process, not the node.
func protect(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicked{r, debug.Stack()}
		}
	}()
	return f()
}

// logPanic puts a behaviour's panic, with its stack, in the node's log.
func (p *process) logPanic(err error, doing string) {
	var pv panicked
	if errors.As(err, &pv) {
		p.t.logf("[ERR] engine: process %s (kind %s) panicked %s: %s\n%s", p.pid, p.kind, doing, errcode.Bound(fmt.Sprint(pv.v), 1<<10), errcode.Bound(string(pv.stack), 16<<10))
	}
}

// init runs the kind's Init for p and records the first snapshot.
func (p *process) init(k Kind) error {
	self := &Self{p}
	err := protect(func() error {
		b, err := k.Init(self)
		if err != nil {
			return err
		}
		if err := k.checkBehaviour(b); err != nil {
			return err
		}
		p.beh = b
		return nil
	})
	if err != nil {
		p.logPanic(err, "starting")
		if errcode.Code(err) != "" {
			return err
		}
		return errcode.Errorf(errcode.Internal, "kind %s: init: %v", k.Name, err)
	}
	return p.takeSnapshot()
}

// takeSnapshot reads the behaviour's state and size.
func (p *process) takeSnapshot() error {
	s := &snapshot{state: json.RawMessage("{}")}
	err := protect(func() error {
		if r, ok := p.beh.(StateReporter); ok {
			if st := r.State(); st != nil {
				b, err := json.Marshal(st)
				if err != nil {
					b, _ = json.Marshal(map[string]any{"error": "state: " + err.Error()})
				}
				s.state = b
			}
		}
		if z, ok := p.beh.(Sizer); ok {
			s.size = z.Size()
		}
		return nil
	})
	p.snap.Store(s)
	return err
}

// run is the process's goroutine.
func (p *process) run() {
	defer p.t.wg.Done()
	var reason string
	if r, ok := p.beh.(Runner); ok && p.typ == TypeTask {
		reason = p.runTask(r)
	} else {
		reason = p.serve(p.beh.(Handler))
	}
	if reason != "" {
		p.exit(reason)
	}
	p.terminate()
}

// runTask runs a task until it returns or is killed, and returns the
// reason it ended by itself ("" when it was killed).
func (p *process) runTask(r Runner) string {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.kill:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := protect(func() error { return r.Run(ctx, &Self{p}) })
	p.logPanic(err, "running")
	if err != nil {
		return err.Error()
	}
	return ReasonNormal
}

// serve handles the mailbox until the process is killed, and returns the
// reason it ended by itself ("" when it was killed).
func (p *process) serve(h Handler) string {
	self := &Self{p}
	for {
		select {
		case <-p.kill:
			return ""
		case <-p.mbox.signal:
		}
		for {
			select {
			case <-p.kill:
				return ""
			default:
			}
			e, ok := p.mbox.pop()
			if !ok {
				break
			}
			var v any
			err := protect(func() error {
				var err error
				v, err = h.Handle(self, Message{Kind: e.kind, From: e.from, Body: e.msg})
				return err
			})
			p.logPanic(err, "handling a message")
			crashed := errors.As(err, new(panicked))
			if !crashed {
				if serr := p.takeSnapshot(); serr != nil {
					crashed, err = true, serr
				}
			}
			if e.reply != nil {
				if err == nil {
					p.trace(TraceSend, p.pid, e.from, v)
				}
				rerr := err
				if crashed {
					rerr = errcode.Errorf(errcode.Internal, "%s crashed handling the message: %v", p.pid, err)
				}
				e.reply <- callReply{v: v, err: rerr}
			}
			if crashed {
				return err.Error()
			}
		}
	}
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
	p.mbox.drain(errcode.Errorf(errcode.ProcessNotFound, "%s exited (%s) before answering", p.pid, reason))

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
	rec := &exitRecord{info: info, exitedAt: time.Now(), reason: reason, done: p.done}
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
			if p.typ == TypeSupervisor {
				np.adoptSpecs(children)
			}
			t.mu.Lock()
			rec.replaced, p.replacedBy = np.pid, np.pid
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
		if c.typ == TypeSupervisor {
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
	// size (Sizer). The goroutine's stack is not counted: Go does not
	// expose per-goroutine stack sizes.
	info.Memory = int64(unsafe.Sizeof(*p)) + qb
	if s := p.snap.Load(); s != nil {
		info.Memory += s.size
		d := json.NewDecoder(bytes.NewReader(s.state))
		d.UseNumber()
		_ = d.Decode(&info.State) // it was encoded from a map
	}
	return info
}
