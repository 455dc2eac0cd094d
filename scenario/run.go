package scenario

import (
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
	"github.com/clusterscript/clusterscript/runtime/membership"
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
	Backends []string
	// Binary is the clusterscript executable for real nodes.
	Binary string
	// Run selects cases by name (nil: all).
	Run *regexp.Regexp
	// Timeout bounds each case.
	Timeout time.Duration
	// Vars are the --var values.
	Vars map[string]string
	// Seed seeds fault decisions.
	Seed int64
	// Profiles and Topologies come from the configuration file.
	Profiles   map[string]membership.Profile
	Topologies map[string]builtins.Topology
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
}

// CaseID names a case.
type CaseID struct {
	File    string `json:"file"`
	Name    string `json:"name"`
	Backend string `json:"backend"`
}

func (id CaseID) String() string { return fmt.Sprintf("%s::%s [%s]", id.File, id.Name, id.Backend) }

// Result is one case's outcome.
type Result struct {
	CaseID
	Status   string        `json:"status"`
	Duration time.Duration `json:"duration_ns"`
	// Message is the failure message or skip reason.
	Message string `json:"message,omitempty"`
	// Backtrace is the Starlark backtrace of a failure, with file:line:col.
	Backtrace string `json:"backtrace,omitempty"`
	// Logs are the case's log() lines.
	Logs []string `json:"logs,omitempty"`
	// Seed replays the run's fault decisions.
	Seed int64 `json:"seed"`
	// Faults reports that the case put network faults in force (a
	// partition or a degraded link): the seed replays their decisions.
	Faults bool `json:"faults"`
}

// Summary counts a run's results.
type Summary struct {
	Passed, Failed, Skipped int
	Results                 []Result
}

// Line is the closing line: "N passed, N failed[, N skipped]".
func (s Summary) Line() string {
	line := fmt.Sprintf("%d passed, %d failed", s.Passed, s.Failed)
	if s.Skipped > 0 {
		line += fmt.Sprintf(", %d skipped", s.Skipped)
	}
	return line
}

// ScriptError is a syntax or resolve error: the run does not start.
type ScriptError struct{ Errs []error }

func (e *ScriptError) Error() string {
	var lines []string
	for _, err := range e.Errs {
		lines = append(lines, err.Error())
	}
	return strings.Join(lines, "\n")
}

// Run checks every file, then runs every case of every file on every
// backend. A script error stops the run before any case runs.
func Run(ctx context.Context, files []string, opts Options) (Summary, error) {
	var errs []error
	for _, f := range files {
		errs = append(errs, Check(f)...)
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
		opts.Backends = []string{"sim"}
	}
	r := &runner{opts: opts}
	type job struct{ file, backend string }
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range opts.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				r.runFile(ctx, j.file, j.backend)
			}
		}()
	}
feed:
	for range opts.Count {
		for _, f := range files {
			for _, b := range opts.Backends {
				select {
				case jobs <- job{f, b}:
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
	return r.summary, nil
}

type runner struct {
	opts     Options
	stopping atomic.Bool // --fail-fast saw a failure
	mu       sync.Mutex
	summary  Summary
}

func (r *runner) report(res Result) {
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

// runFile runs one file's cases on one backend. The file's top level runs
// first (as the only case when it defines no test_* functions); clusters
// it starts live until the file's last case ends.
func (r *runner) runFile(ctx context.Context, file, backend string) {
	src, err := os.ReadFile(file)
	if err != nil {
		r.report(Result{CaseID: CaseID{file, "(file)", backend}, Status: Fail, Message: err.Error(), Seed: r.opts.Seed})
		return
	}
	names, err := cases(file, src)
	if err != nil {
		r.report(Result{CaseID: CaseID{file, "(file)", backend}, Status: Fail, Message: err.Error(), Seed: r.opts.Seed})
		return
	}
	if ctx.Err() != nil {
		return
	}
	if len(names) == 0 {
		id := CaseID{file, "(top level)", backend}
		if r.opts.Run != nil && !r.opts.Run.MatchString(id.Name) {
			return
		}
		res, _ := r.runCase(ctx, id, func(thread *starlark.Thread) error {
			_, err := r.exec(thread, file, src)
			return err
		}, false)
		r.report(res)
		return
	}
	// Module initialisation defines the cases. It runs with a case's
	// timeout and cancellation, and the clusters it starts serve every
	// case: its session lives until the file's last case ends.
	var globals starlark.StringDict
	res, top := r.runCase(ctx, CaseID{file, "(top level)", backend}, func(thread *starlark.Thread) error {
		var err error
		globals, err = r.exec(thread, file, src)
		return err
	}, true)
	defer top.Teardown(true)
	if res.Status != Pass {
		r.report(res)
		return
	}
	for _, name := range names {
		if ctx.Err() != nil || r.stopping.Load() {
			return
		}
		if r.opts.Run != nil && !r.opts.Run.MatchString(name) {
			continue
		}
		fn, ok := globals[name].(starlark.Callable)
		if !ok {
			continue
		}
		res, _ := r.runCase(ctx, CaseID{file, name, backend}, func(thread *starlark.Thread) error {
			_, err := starlark.Call(thread, fn, nil, nil)
			return err
		}, false)
		r.report(res)
	}
}

func (r *runner) newSession(ctx context.Context, backend string, logs *caseLog) *builtins.Session {
	s := &builtins.Session{
		Ctx:        ctx,
		Backend:    backend,
		Binary:     r.opts.Binary,
		Seed:       r.opts.Seed,
		Vars:       r.opts.Vars,
		Profiles:   r.opts.Profiles,
		Topologies: r.opts.Topologies,
		Getenv:     os.Getenv,
	}
	if logs != nil {
		s.Log = logs.add
	}
	return s
}

func (r *runner) newThread(file string, s *builtins.Session) *starlark.Thread {
	thread := &starlark.Thread{Name: file}
	thread.Load = newLoader(r.opts.Vars).load
	builtins.SetSession(thread, s)
	return thread
}

func (r *runner) exec(thread *starlark.Thread, file string, src []byte) (starlark.StringDict, error) {
	return starlark.ExecFileOptions(builtins.FileOptions, thread, file, src, builtins.Predeclared(r.opts.Vars))
}

type caseLog struct {
	mu    sync.Mutex
	lines []string
	live  func(string)
}

func (l *caseLog) add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	if l.live != nil {
		l.live(line)
	}
}

// runCase runs body on a fresh thread with its own session and timeout. A
// timed-out case's thread is cancelled. Every cluster the case started is
// torn down when it ends, unless keep asks for the session back (a
// module's initialisation, whose clusters serve the file's cases).
func (r *runner) runCase(ctx context.Context, id CaseID, body func(*starlark.Thread) error, keep bool) (Result, *builtins.Session) {
	start := time.Now()
	timeout := r.opts.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	cctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("case timed out after %s", timeout))
	defer cancel()
	logs := &caseLog{}
	if r.opts.Log != nil {
		logs.live = func(line string) { r.opts.Log(id, line) }
	}
	s := r.newSession(cctx, id.Backend, logs)
	s.Start = start
	thread := r.newThread(id.File, s)
	thread.Print = func(_ *starlark.Thread, msg string) { logs.add(msg) }
	stop := context.AfterFunc(cctx, func() { thread.Cancel(context.Cause(cctx).Error()) })
	err := body(thread)
	stop()
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
	logs.mu.Lock()
	lines := slices.Clone(logs.lines)
	logs.mu.Unlock()
	res := r.result(id, start, err, lines)
	res.Faults = s.Faulted()
	return res, s
}

func (r *runner) result(id CaseID, start time.Time, err error, logs []string) Result {
	res := Result{CaseID: id, Status: Pass, Duration: time.Since(start), Logs: logs, Seed: r.opts.Seed}
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

// loader loads files for load(), relative to the loading file, once per
// case, with the same builtins.
type loader struct {
	vars  map[string]string
	mu    sync.Mutex
	cache map[string]*loadEntry
}

type loadEntry struct {
	globals starlark.StringDict
	err     error
}

func newLoader(vars map[string]string) *loader {
	return &loader{vars: vars, cache: map[string]*loadEntry{}}
}

func (l *loader) load(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	from := thread.CallFrame(0).Pos.Filename()
	path := resolveLoad(from, module)
	l.mu.Lock()
	e, ok := l.cache[path]
	if ok {
		l.mu.Unlock()
		if e == nil {
			return nil, fmt.Errorf("load %s: cycle in load graph", module)
		}
		return e.globals, e.err
	}
	l.cache[path] = nil
	l.mu.Unlock()
	src, err := os.ReadFile(path)
	if err == nil {
		child := &starlark.Thread{Name: path, Load: l.load, Print: thread.Print}
		s := builtins.SessionOf(thread)
		builtins.SetSession(child, s)
		if s != nil && s.Ctx != nil {
			// A loaded file's top level obeys the loading case's timeout.
			stop := context.AfterFunc(s.Ctx, func() { child.Cancel(context.Cause(s.Ctx).Error()) })
			defer stop()
		}
		e = &loadEntry{}
		e.globals, e.err = starlark.ExecFileOptions(builtins.FileOptions, child, path, src, builtins.Predeclared(l.vars))
	} else {
		e = &loadEntry{err: fmt.Errorf("load %s: %w", module, err)}
	}
	l.mu.Lock()
	l.cache[path] = e
	l.mu.Unlock()
	return e.globals, e.err
}
