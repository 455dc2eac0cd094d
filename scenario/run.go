package scenario

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/builtins"
	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/history/consistency"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/sim/vtime"
)

// Case outcomes.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Skip = "SKIP"
)

// Options configure a run.
type Options struct {
	// Backends lists the backends every file runs on, in order.
	Backends []cluster.Backend
	// Settings are the defaults of every case's cluster.start: the agent
	// executable real nodes run (clusterscript, or a program built on the
	// engine: run --agent, a go test binary), the registry simulated nodes
	// run, the seed of fault decisions, the configuration's profiles and
	// topologies. Their Backend is each file's, from Backends.
	Settings cluster.Settings
	// Ops are the operations scenarios see as arsenal.OP, in arsenal.ops()
	// and arsenal.describe (nil: the built-in ones).
	Ops []arsenal.OpSpec
	// Run selects cases by name (nil: all).
	Run *regexp.Regexp
	// Timeout bounds each case.
	Timeout time.Duration
	// Vars are the --var values.
	Vars map[string]string
	// Models are the consistency models a program registers in Go, which
	// check.model(name) returns (scenariotest's Suite.AddModel).
	Models map[string]consistency.Model
	// Parallel is how many files run at once (at least 1).
	Parallel int
	// FailFast stops starting cases after the first failure.
	FailFast bool
	// Count runs every case this many times (at least 1).
	Count int
	// Report receives each result as its case finishes, one call at a
	// time.
	Report func(Result)
	// Log receives log() lines as they happen (for -v), one call at a
	// time per case.
	Log func(c CaseID, line string)
	// Clocks are the clocks simulated files run on, each in turn:
	// ClockVirtual (the default) to run simulated cases on virtual time,
	// ClockReal, or both. Real-backend cases, and any case that starts a
	// real node, always run on the real clock.
	Clocks []string
	// Diff, when set, compares every case across the run's two sides (two
	// backends, or the simulated backend's two clocks) and reports where
	// they part (see diff.go).
	Diff *DiffOptions
	// Virtual runs bubbles for virtual time (nil: vtime.Default()).
	Virtual vtime.Runner
	// Warn receives one-line warnings, such as a fallback to the real
	// clock.
	Warn func(string)
	// NodeLog, when set, receives every node's log lines as they happen
	// (for -v), stamped with the case's clock.
	NodeLog func(c CaseID, node, line string)
	// Artifacts, when set, is the directory every case writes its
	// history, timeline and node logs under (see artifacts.go).
	Artifacts string
}

// Clocks a case runs on.
const (
	ClockVirtual = "virtual"
	ClockReal    = "real"
)

// Run checks every file, then runs every case of every file on every
// backend. A script error stops the run before any case runs.
func Run(ctx context.Context, files []string, opts Options) (Summary, error) {
	var errs []error
	for _, f := range files {
		errs = append(errs, Check(f, opts.Ops)...)
	}
	if len(errs) > 0 {
		return Summary{}, &ScriptError{Errs: errs}
	}
	if opts.Parallel < 1 {
		opts.Parallel = 1
	}
	if opts.Count < 1 {
		opts.Count = 1
	}
	if len(opts.Backends) == 0 {
		opts.Backends = []cluster.Backend{cluster.Sim}
	}
	if len(opts.Clocks) == 0 {
		opts.Clocks = []string{ClockVirtual}
	}
	sides, err := sidesOf(opts)
	if err != nil {
		return Summary{}, err
	}
	r := &runner{opts: opts, wall: vtime.NewWall(), multiClock: len(opts.Clocks) > 1}
	defer r.wall.Close()
	if opts.Diff != nil {
		r.pairs = newPairer(opts, sides)
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range opts.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				r.runFile(ctx, j)
			}
		}()
	}
feed:
	for iter := range opts.Count {
		for _, f := range files {
			for _, side := range sides {
				select {
				case jobs <- job{f, side, iter}:
				case <-ctx.Done():
					break feed
				}
				if r.stopping.Load() {
					break feed
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
	if r.pairs != nil {
		r.pairs.flush(r)
	}
	return r.summary, nil
}

// side is one backend on one clock: files run once on each side of the
// run.
type side struct {
	backend cluster.Backend
	clock   string
	label   string // how a differential run names it
}

// sidesOf lists the sides a run's files run on: every backend, and the
// simulated one on each of the clocks. A differential run needs exactly
// two.
func sidesOf(opts Options) ([]side, error) {
	var out []side
	for _, b := range opts.Backends {
		clocks := opts.Clocks
		if b != cluster.Sim {
			clocks = []string{ClockReal}
		}
		for _, c := range clocks {
			if c != ClockVirtual && c != ClockReal {
				return nil, fmt.Errorf("clock: want virtual or real, got %q", c)
			}
			s := side{backend: b, clock: c, label: string(b)}
			if len(opts.Backends) == 1 && len(opts.Clocks) > 1 {
				s.label = c
			}
			if !slices.ContainsFunc(out, func(o side) bool { return o.backend == s.backend && o.clock == s.clock }) {
				out = append(out, s)
			}
		}
	}
	if opts.Diff != nil && len(out) != 2 {
		var names []string
		for _, s := range out {
			names = append(names, string(s.backend)+" on the "+s.clock+" clock")
		}
		return nil, fmt.Errorf("--diff compares two sides (--backend sim,real, or --clock virtual,real on sim), got %d: %s", len(out), strings.Join(names, ", "))
	}
	return out, nil
}

// job is one file to run on one side, in the iter'th round of --count.
type job struct {
	file string
	side side
	iter int
}

type runner struct {
	opts       Options
	wall       *vtime.Wall
	vonce      sync.Once
	virtual    vtime.Runner
	stopping   atomic.Bool // --fail-fast saw a failure
	multiClock bool        // simulated files run on more than one clock
	pairs      *pairer     // a differential run's cases awaiting their other side
	mu         sync.Mutex
	summary    Summary
	dirs       map[string]bool // artifact directories taken
}

// report counts a case's result and reports it, and in a differential
// run pairs it with its other side's.
func (r *runner) report(j job, res Result) {
	if r.pairs != nil {
		r.pairs.add(r, j, res)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch res.Status {
	case Pass:
		r.summary.Passed++
	case Fail:
		r.summary.Failed++
		if r.opts.FailFast {
			r.stopping.Store(true) // start nothing new; running cases finish
		}
	case Skip:
		r.summary.Skipped++
	}
	r.summary.Results = append(r.summary.Results, res)
	if r.opts.Report != nil {
		r.opts.Report(res)
	}
}

// runFile runs one file's cases on one backend. Simulated files run on
// virtual time, in a bubble of their own, unless the run asked for the
// real clock; a case that turns out to start a real node sends the file
// back to the real clock from that case on.
func (r *runner) runFile(ctx context.Context, j job) {
	file, backend := j.file, string(j.side.backend)
	src, err := os.ReadFile(file)
	if err != nil {
		r.report(j, Result{CaseID: CaseID{file, "(file)", backend, ClockReal}, Status: Fail, Message: err.Error(), Seed: r.opts.Settings.Seed})
		return
	}
	names, err := cases(file, src)
	if err != nil {
		r.report(j, Result{CaseID: CaseID{file, "(file)", backend, ClockReal}, Status: Fail, Message: err.Error(), Seed: r.opts.Settings.Seed})
		return
	}
	vr := r.virtualRunner(j.side)
	if vr == nil {
		r.runFileOn(ctx, j, src, names, nil, "")
		return
	}
	var resume string
	err = vr.Run(file, func() {
		resume = r.runFileOn(ctx, j, src, names, r.wall, "")
	})
	if err != nil {
		msg := "virtual clock: " + err.Error()
		if errors.Is(err, vtime.ErrDeadlock) {
			msg += "\n" + r.deadlockHint(file, backend)
		}
		r.report(j, Result{CaseID: CaseID{file, "(file)", backend, ClockVirtual}, Status: Fail, Message: msg, Seed: r.opts.Settings.Seed})
		return
	}
	if resume != "" {
		r.runFileOn(ctx, j, src, names, nil, resume)
	}
}

// deadlockHint says what leaves goroutines blocked for good on virtual
// time, naming the file's cases whose operations ignored their deadline.
func (r *runner) deadlockHint(file, backend string) string {
	var named []string
	r.mu.Lock()
	for _, res := range r.summary.Results {
		if res.File == file && res.Backend == backend && res.Clock == ClockVirtual && strings.Contains(res.Message, "ignored its deadline") {
			named = append(named, res.Name+": "+firstLine(res.Message))
		}
	}
	r.mu.Unlock()
	hint := "goroutines were left blocked for good: an operation or process kind that ignores its context leaves one (its Run or handler must return once the context is done)"
	if len(named) > 0 {
		hint += "; these cases met one:\n  " + strings.Join(named, "\n  ")
	}
	return hint
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// virtualRunner returns the runner of bubbles for a file on a side, or
// nil when the file runs on the real clock.
func (r *runner) virtualRunner(s side) vtime.Runner {
	if s.backend != cluster.Sim || s.clock == ClockReal {
		return nil
	}
	r.vonce.Do(func() {
		r.virtual = r.opts.Virtual
		if r.virtual != nil {
			return
		}
		var err error
		if r.virtual, err = vtime.Default(); err != nil && r.opts.Warn != nil {
			r.opts.Warn(fmt.Sprintf("warning: %v; simulated cases run on the real clock", err))
		}
	})
	return r.virtual
}

// runFileOn runs the file's cases, from the case named from on ("" for
// all), on virtual time when wall is set, else on the real clock. It
// returns the case to resume from on the real clock when one needed it.
// The file's top level runs first (as the only case when it defines no
// test_* functions); clusters it starts live until the file's last case
// ends.
func (r *runner) runFileOn(ctx context.Context, j job, src []byte, names []string, wall *vtime.Wall, from string) (resume string) {
	file, backend := j.file, string(j.side.backend)
	clock := ClockReal
	if wall != nil {
		clock = ClockVirtual
	}
	if ctx.Err() != nil {
		return ""
	}
	if len(names) == 0 {
		id := CaseID{file, TopLevel, backend, clock}
		if r.opts.Run != nil && !r.opts.Run.MatchString(id.Name) {
			return ""
		}
		res, _ := r.runCase(ctx, id, wall, func(thread *starlark.Thread) error {
			_, err := r.exec(thread, file, src)
			return err
		}, false)
		if res.needsRealClock {
			return id.Name
		}
		r.report(j, res.Result)
		return ""
	}
	// Module initialisation defines the cases. It runs with a case's
	// timeout and cancellation, and the clusters it starts serve every
	// case: its session lives until the file's last case ends.
	var globals starlark.StringDict
	res, top := r.runCase(ctx, CaseID{file, TopLevel, backend, clock}, wall, func(thread *starlark.Thread) error {
		var err error
		globals, err = r.exec(thread, file, src)
		return err
	}, true)
	defer top.Teardown(true)
	if res.needsRealClock {
		return cmp.Or(from, names[0])
	}
	if res.Status != Pass {
		r.report(j, res.Result)
		return ""
	}
	started := from == ""
	for _, name := range names {
		started = started || name == from
		if !started {
			continue
		}
		if ctx.Err() != nil || r.stopping.Load() {
			return ""
		}
		if r.opts.Run != nil && !r.opts.Run.MatchString(name) {
			continue
		}
		fn, ok := globals[name].(starlark.Callable)
		if !ok {
			continue
		}
		res, _ := r.runCase(ctx, CaseID{file, name, backend, clock}, wall, func(thread *starlark.Thread) error {
			_, err := starlark.Call(thread, fn, nil, nil)
			return err
		}, false)
		if res.needsRealClock {
			return name
		}
		r.report(j, res.Result)
	}
	return ""
}

func (r *runner) newSession(ctx context.Context, backend string, logs *caseLog) *builtins.Session {
	s := &builtins.Session{Ctx: ctx, Settings: r.opts.Settings, Vars: r.opts.Vars, Models: r.opts.Models}
	s.Settings.Backend = cluster.Backend(backend)
	if logs != nil {
		s.Log = logs.add
	}
	return s
}

func (r *runner) newThread(file string, s *builtins.Session) (*starlark.Thread, *loader) {
	ld := newLoader(r.opts.Ops, r.opts.Vars)
	thread := &starlark.Thread{Name: file, Load: ld.load}
	builtins.SetSession(thread, s)
	return thread, ld
}

func (r *runner) exec(thread *starlark.Thread, file string, src []byte) (starlark.StringDict, error) {
	return starlark.ExecFileOptions(builtins.FileOptions, thread, file, src, builtins.Predeclared(r.opts.Ops, r.opts.Vars))
}

// caseResult is a case's outcome, or word that it must run on the real
// clock because it starts a real node.
type caseResult struct {
	Result
	needsRealClock bool
}

// runCase runs body on a fresh thread with its own session and timeout. A
// timed-out case's thread is cancelled. Every cluster the case started is
// torn down when it ends, unless keep asks for the session back (a
// module's initialisation, whose clusters serve the file's cases). With
// wall set the case runs on virtual time, inside the file's bubble.
func (r *runner) runCase(ctx context.Context, id CaseID, wall *vtime.Wall, body func(*starlark.Thread) error, keep bool) (caseResult, *builtins.Session) {
	start, wallStart := time.Now(), vtime.WallNow()
	timeout := r.opts.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	expired := fmt.Errorf("case timed out after %s", timeout)
	var cctx context.Context
	var cancel context.CancelCauseFunc
	var stopWatch func()
	if wall == nil {
		var stop context.CancelFunc
		cctx, stop = context.WithTimeoutCause(ctx, timeout, expired)
		cctx, cancel = context.WithCancelCause(cctx)
		defer stop()
	} else {
		// Nothing made outside the bubble may be waited on inside it: the
		// case's context is the bubble's own, and the wall-clock timeout
		// and the run's interruption reach it through an atomic.
		cctx, cancel = context.WithCancelCause(context.Background())
		var cause atomic.Pointer[error]
		done := make(chan struct{})
		go bridge(ctx, &cause, cancel, done)
		defer close(done)
		stopWatch = wall.AfterFunc(timeout, func() { cause.Store(&expired) })
	}
	defer cancel(nil)
	logs := &caseLog{}
	if r.opts.Log != nil {
		logs.live = func(line string) { r.opts.Log(id, line) }
	}
	s := r.newSession(cctx, id.Backend, logs)
	s.Start = start
	s.VirtualClock = wall != nil
	if wall != nil {
		s.Outside = wall.Do
	}
	rec := r.newCaseRecord(id, start, keep)
	rec.attach(s)
	thread, ld := r.newThread(id.File, s)
	thread.Print = func(_ *starlark.Thread, msg string) { logs.add(msg) }
	stopCancel := context.AfterFunc(cctx, func() { thread.Cancel(context.Cause(cctx).Error()) })
	if wall != nil {
		// A Starlark loop never waits on a timer, so virtual time stands
		// still while it spins: cancel its threads from the wall clock.
		stopThread := wall.AfterFunc(timeout, func() {
			thread.Cancel(expired.Error())
			ld.cancel(expired.Error())
		})
		defer stopThread()
		defer stopWatch()
	}
	err := body(thread)
	ended := time.Now()
	stopCancel()
	if err != nil && cctx.Err() != nil {
		err = fmt.Errorf("%w: %v", context.Cause(cctx), err)
	}
	if b := s.Backends(); len(b) > 0 {
		id.Backend = strings.Join(b, "+") // the backend that ran, e.g. a topology's
	}
	if !keep || err != nil {
		// Nobody observes a finished case's departures: kill, don't leave.
		s.Teardown(true)
	}
	lines := logs.lines()
	if errors.Is(err, builtins.ErrRealClock) {
		rec.discard() // the case runs again, on the real clock
		return caseResult{needsRealClock: true}, s
	}
	res := r.result(id, start, err, lines)
	res.Wall = vtime.WallNow().Sub(wallStart)
	res.Faults = s.Faulted()
	if !keep || err != nil {
		recs := rec.finish(&res, err, ended, r.pairs != nil)
		if r.pairs != nil {
			res.trace = &trace{records: recs, end: rec.hist.Since(ended)}
		}
	}
	return caseResult{Result: res}, s
}

// bridgeTick is how often, in virtual time, bridge looks. Each look costs
// a little wall time; a spinning script, which stops virtual time, is cut
// off by cancelling its thread from the wall clock instead.
const bridgeTick = 250 * time.Millisecond

// bridge cancels a virtual-time case when the wall-clock watchdog stored a
// cause or the run was interrupted. Nothing outside a bubble can wake a
// goroutine inside it, so it looks, every few virtual milliseconds, until
// done is closed.
func bridge(run context.Context, cause *atomic.Pointer[error], cancel context.CancelCauseFunc, done <-chan struct{}) {
	t := time.NewTicker(bridgeTick)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if c := cause.Load(); c != nil {
			cancel(*c)
			return
		}
		if run.Err() != nil {
			cancel(context.Cause(run))
			return
		}
	}
}

func (r *runner) result(id CaseID, start time.Time, err error, logs []string) Result {
	res := Result{CaseID: id, Status: Pass, Duration: time.Since(start), Logs: logs, Seed: r.opts.Settings.Seed}
	if err == nil {
		return res
	}
	if reason, ok := builtins.IsSkip(err); ok {
		res.Status, res.Message = Skip, reason
		return res
	}
	res.Status = Fail
	res.Message = err.Error()
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		res.Message = ee.Msg
		// The frames only: the message is reported on its own.
		bt := ee.CallStack.String()
		res.Backtrace = bt
		var ae *builtins.AssertionError
		if !errors.As(err, &ae) {
			// Name the failing line in the message too.
			for i := len(ee.CallStack) - 1; i >= 0; i-- {
				if pos := ee.CallStack[i].Pos; pos.Filename() != "<builtin>" {
					res.Message = pos.String() + ": " + ee.Msg
					break
				}
			}
		}
	}
	return res
}
