// Package vtime runs simulated clusters on virtual time.
//
// A case whose clusters are all simulated runs inside a bubble of Go's
// testing/synctest. Time there is virtual: it advances only when every
// goroutine of the bubble is durably blocked (on a channel, a sync.Cond, a
// WaitGroup or a timer of the bubble), and then jumps to the next timer.
// So waiting costs no wall time, a busy CPU can never make a simulated
// node miss a deadline, and a scenario that sleeps ten minutes finishes in
// milliseconds. Everything the case runs on — the Starlark thread, the
// cluster handle, every simulated node and the sim network — lives in the
// bubble, and time.Now, timers and contexts there all read the virtual
// clock.
//
// Two things cross the bubble's wall, and this package provides both:
//
//   - A Runner starts bubbles. In `go test` it is InTest(t); in a plain
//     binary, Default() hosts the testing framework (host.go).
//   - Wall schedules functions on the wall clock. A case's timeout is wall
//     time on both clocks, so an endless loop is still cut off; a timer
//     made inside a bubble would be virtual, so the timeout's timer lives
//     outside it.
//
// Nothing outside a bubble may touch a channel, timer or WaitGroup made
// inside it, and a goroutine inside blocked on anything from outside
// (a mutex, a socket, a channel made outside) stops virtual time until it
// wakes. Real nodes therefore never run in a bubble: a case that starts
// one runs on the real clock.
package vtime

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// Runner runs functions inside synctest bubbles.
type Runner interface {
	// Run runs f in a fresh bubble named name and waits for it and for the
	// goroutines it started (for up to two minutes of virtual time). The
	// error reports a panic of f's goroutine or a deadlock of the bubble.
	Run(name string, f func()) error
}

// DisableEnv, set to any non-empty value, makes Default report virtual
// time unavailable, so that a run falls back to the real clock.
const DisableEnv = "CLUSTERSCRIPT_NO_VIRTUAL_TIME"

// Default returns the Runner of this process, started on first use, or
// an error saying why virtual time is unavailable.
func Default() (Runner, error) {
	if os.Getenv(DisableEnv) != "" {
		return nil, fmt.Errorf("virtual time is turned off by %s", DisableEnv)
	}
	return defaultHost()
}

// InTest returns a Runner whose bubbles run in t itself, for scenarios
// run from `go test`: no subtest of their own, so t's verdict is the one
// its caller reports, never a child's PASS beside a failed case.
func InTest(t *testing.T) Runner { return testRunner{t} }

type testRunner struct{ t *testing.T }

func (r testRunner) Run(_ string, f func()) error { return bubble(r.t, f) }

// PanicError is a panic of a bubble's root goroutine.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v\n%s", p.Value, p.Stack) }

// ErrDeadlock reports a bubble whose goroutines were all blocked with no
// timer left to wake them, or that still had goroutines when f returned.
var ErrDeadlock = errors.New("virtual time: deadlock")

// bubble runs f in a bubble of t. Panics of f and the deadlock synctest
// raises are returned, never propagated: a scenario's bug must not end the
// run.
func bubble(t *testing.T, f func()) (err error) {
	done := false
	defer func() {
		// synctest raises a deadlock in this goroutine, outside the bubble.
		if p := recover(); p != nil {
			if err == nil {
				err = fmt.Errorf("%w: %v", ErrDeadlock, p)
			}
		} else if !done && err == nil {
			err = errors.New("virtual time: the bubble's test failed")
		}
	}()
	synctest.Test(t, func(*testing.T) {
		settle := Settler(settleFor)
		defer func() {
			// tRunner would re-panic and end the process.
			if p := recover(); p != nil {
				err = &PanicError{Value: p, Stack: debug.Stack()}
			}
		}()
		f()
		settle()
	})
	done = true
	return err
}

// WallNow returns the wall-clock time from the kernel, also inside a
// bubble, where the time package reads the virtual clock.
func WallNow() time.Time {
	var tv syscall.Timeval
	if err := syscall.Gettimeofday(&tv); err != nil {
		return time.Now()
	}
	return time.Unix(tv.Unix())
}

// Wall schedules functions on the wall clock, for callers inside a bubble
// or outside one. Create it outside any bubble; it serves until Close.
type Wall struct {
	reqs chan wallReq
}

type wallReq struct {
	d  time.Duration
	t  *wallTimer
	do func() // set for Do
}

// wallTimer is one AfterFunc: stopping it stops its timer and lets go of
// f at once, so that a stopped function (a case's watchdog, holding the
// case) is not kept until its time would have come.
type wallTimer struct {
	mu      sync.Mutex
	f       func()
	timer   *time.Timer
	stopped bool
}

func (t *wallTimer) start(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.timer = time.AfterFunc(d, t.fire)
	}
}

func (t *wallTimer) fire() {
	t.mu.Lock()
	f := t.f
	t.f = nil
	t.mu.Unlock()
	if f != nil {
		f()
	}
}

func (t *wallTimer) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped, t.f = true, nil
	if t.timer != nil {
		t.timer.Stop()
	}
}

// NewWall starts a Wall. Call it outside any bubble.
func NewWall() *Wall {
	w := &Wall{reqs: make(chan wallReq)}
	go func() {
		for r := range w.reqs {
			if r.do != nil {
				go r.do()
				continue
			}
			r.t.start(r.d)
		}
	}()
	return w
}

// AfterFunc calls f on its own goroutine, outside any bubble, once d of
// wall time has passed, unless stop is called first. f must not touch the
// bubble's channels or timers; it may set atomics and cancel a Starlark
// thread.
func (w *Wall) AfterFunc(d time.Duration, f func()) (stop func()) {
	t := &wallTimer{f: f}
	w.reqs <- wallReq{d: d, t: t}
	return t.stop
}

// Do runs f on a goroutine outside any bubble and waits for it to
// return: for work that times and bounds itself on the wall clock (a
// consistency check with a timeout), which inside a bubble would read a
// clock that stands still while it computes. f must not touch the
// bubble's channels or timers. The caller waits on a mutex, which does
// not count as durably blocked, so virtual time stands still meanwhile.
// A panic in f is raised again in the caller, where it can be recovered.
func (w *Wall) Do(f func()) {
	var mu sync.Mutex
	var panicked any
	mu.Lock()
	w.reqs <- wallReq{do: func() {
		defer mu.Unlock()
		defer func() { panicked = recover() }()
		f()
	}}
	mu.Lock()
	if panicked != nil {
		panic(panicked)
	}
}

// Close stops accepting functions; those scheduled still run.
func (w *Wall) Close() { close(w.reqs) }

// Settler returns a function that waits, inside a bubble, until no more
// goroutines remain in the bubble than when Settler was called, or max of
// virtual time has passed. Shutting a node down does not wait for every
// goroutine memberlist started (a probe waiting for its ack, a push/pull
// waiting for its deadline); those end within their timeouts, which cost
// no wall time here, and a bubble whose root returns while others remain
// is a deadlock. Outside a bubble the function returns at once.
func Settler(max time.Duration) func() {
	id := bubbleID()
	if id == "" {
		return func() {}
	}
	baseline := bubbleGoroutines(id)
	return func() {
		for waited := time.Duration(0); waited < max; waited += settleStep {
			if bubbleGoroutines(id) <= baseline {
				return
			}
			time.Sleep(settleStep)
		}
	}
}

const settleStep = 100 * time.Millisecond

// settleFor bounds how long, in virtual time, a bubble waits after f for
// the goroutines f started to end (memberlist's probes and push/pulls end
// within their timeouts once their nodes are shut down).
const settleFor = 2 * time.Minute

// bubbleID returns the id of the calling goroutine's bubble, from its
// traceback header ("goroutine 7 [running, synctest bubble 3]:"), or "".
func bubbleID() string {
	buf := make([]byte, 256)
	hdr := string(buf[:runtime.Stack(buf, false)])
	_, rest, ok := strings.Cut(hdr, "synctest bubble ")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "]")
	return id
}

// bubbleGoroutines counts the goroutines of bubble id.
func bubbleGoroutines(id string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	mark := []byte("synctest bubble " + id + "]")
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		header, _, _ := bytes.Cut(g, []byte("\n"))
		if bytes.Contains(header, mark) {
			count++
		}
	}
	return count
}
