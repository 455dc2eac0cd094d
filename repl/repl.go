// Package repl is clusterscript's interactive Starlark session: every
// builtin of the scenarios, line editing and persistent history
// (github.com/chzyer/readline), completion of names and members, pretty
// printed results, and Ctrl-C that interrupts the running line — a
// blocking sleep or wait_until too — without leaving the session.
//
// Each line runs on a fresh thread with its own builtins.Session whose
// context Ctrl-C cancels; clusters started on any line are kept and torn
// down when the session ends (Ctrl-D, exit of the input, or the context
// the caller passes, which the CLI cancels on SIGTERM).
package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chzyer/readline"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/clusterscript/clusterscript/builtins"
	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// Config configures a session.
type Config struct {
	// Settings are the defaults of cluster.start, as in a run: backend,
	// agent executable, profiles, topologies.
	Settings cluster.Settings
	// Nodes, when positive, starts a cluster of that many nodes bound to
	// c before the first prompt.
	Nodes int
	// Ops are the operations the session offers as arsenal.OP, completes
	// and documents in help() (nil: the built-in ones).
	Ops []arsenal.OpSpec
	// Kinds are the process kinds help() documents (nil: the built-in
	// ones).
	Kinds []process.KindDoc
	// HistoryFile keeps the line history across sessions ("" disables).
	HistoryFile string
	// Vars are as in a run.
	Vars map[string]string
	// Stdin, Stdout and Stderr default to the process's.
	Stdin          io.ReadCloser
	Stdout, Stderr io.Writer
}

// DefaultHistoryFile is ~/.clusterscript_history, or "" without a home.
func DefaultHistoryFile() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".clusterscript_history")
}

// Session is a running REPL.
type Session struct {
	cfg     Config
	globals starlark.StringDict
	rl      *readline.Instance
	out     io.Writer
	errw    io.Writer
	started time.Time // now() counts from here

	mu        sync.Mutex
	interrupt func() // cancels the running line, if any
	clusters  []*cluster.Cluster
}

// Run runs a session until Ctrl-D, the end of input, or ctx is done, then
// stops every cluster the session started.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Settings.Backend == "" {
		cfg.Settings.Backend = cluster.Sim
	}
	s := &Session{cfg: cfg, globals: starlark.StringDict{}, started: time.Now()}
	for k, v := range builtins.Predeclared(cfg.Ops, cfg.Vars) {
		s.globals[k] = v
	}
	s.globals["help"] = starlark.NewBuiltin("help", s.help)
	comp := &Completer{Globals: func() starlark.StringDict { return s.globals }}
	rl, err := readline.NewEx(&readline.Config{
		Prompt:          ">>> ",
		HistoryFile:     cfg.HistoryFile,
		AutoComplete:    comp,
		InterruptPrompt: "^C",
		Stdin:           cfg.Stdin,
		Stdout:          cfg.Stdout,
		Stderr:          cfg.Stderr,
	})
	if err != nil {
		return fmt.Errorf("repl: terminal: %w", err)
	}
	defer rl.Close()
	s.rl = rl
	s.out, s.errw = rl.Stdout(), rl.Stderr()
	defer s.teardown()

	// Ctrl-C while a line runs arrives as SIGINT (the terminal is in
	// cooked mode then); while editing, readline sees it as a key.
	sigint := make(chan os.Signal, 1)
	signal.Notify(sigint, os.Interrupt)
	defer signal.Stop(sigint)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-sigint:
				s.interruptLine()
			case <-done:
				return
			}
		}
	}()
	// ctx ending (SIGTERM) interrupts the line and unblocks the editor.
	stop := context.AfterFunc(ctx, func() {
		s.interruptLine()
		rl.Close()
	})
	defer stop()

	fmt.Fprintf(s.out, "clusterscript repl (backend %s). help() lists the builtins; Tab completes; Ctrl-C interrupts; Ctrl-D exits.\n", cfg.Settings.Backend)
	if cfg.Nodes > 0 {
		fmt.Fprintf(s.out, "starting %d %s nodes as c...\n", cfg.Nodes, cfg.Settings.Backend)
		if !s.exec(ctx, fmt.Sprintf("c = cluster.start(nodes=%d)\nprint(c, [n.name for n in c.nodes()])\n", cfg.Nodes)) {
			return fmt.Errorf("repl: --nodes %d: the cluster did not start", cfg.Nodes)
		}
	}
	for ctx.Err() == nil {
		if err := s.readEvalPrint(ctx); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, readline.ErrInterrupt) && ctx.Err() != nil {
				break
			}
			if ctx.Err() != nil {
				break
			}
			return err
		}
	}
	fmt.Fprintln(s.out)
	return nil
}

func (s *Session) interruptLine() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.interrupt != nil {
		s.interrupt()
	}
}

// teardown stops every cluster started in the session.
func (s *Session) teardown() {
	s.mu.Lock()
	cs := s.clusters
	s.clusters = nil
	s.mu.Unlock()
	if len(cs) > 0 {
		fmt.Fprintf(s.out, "stopping %d cluster(s)...\n", len(cs))
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); c.Stop(context.Background()) }()
	}
	wg.Wait()
}

// readEvalPrint reads one compound statement (several lines for a def or
// a for block), runs it, and prints the value of a sole expression.
func (s *Session) readEvalPrint(ctx context.Context) error {
	s.rl.SetPrompt(">>> ")
	var eof bool
	var readErr error
	read := func() ([]byte, error) {
		line, err := s.rl.Readline()
		if err != nil {
			if err == io.EOF {
				eof = true
			}
			readErr = err
			return nil, err
		}
		s.rl.SetPrompt("... ")
		return []byte(line + "\n"), nil
	}
	opts := *builtins.FileOptions
	opts.LoadBindsGlobally = true
	f, err := opts.ParseCompoundStmt("<stdin>", read)
	if err != nil {
		switch {
		case eof:
			return io.EOF
		case errors.Is(readErr, readline.ErrInterrupt):
			if ctx.Err() != nil {
				return readErr
			}
			return nil // Ctrl-C while editing drops the input
		case readErr != nil:
			return readErr
		}
		fmt.Fprintln(s.errw, err)
		return nil
	}
	s.run(ctx, f)
	return nil
}

// exec runs source as if typed, and reports whether it succeeded.
func (s *Session) exec(ctx context.Context, src string) bool {
	lines := strings.SplitAfter(src, "\n")
	read := func() ([]byte, error) {
		if len(lines) == 0 || lines[0] == "" {
			return nil, io.EOF
		}
		l := lines[0]
		lines = lines[1:]
		return []byte(l), nil
	}
	opts := *builtins.FileOptions
	for len(lines) > 0 && lines[0] != "" {
		f, err := opts.ParseCompoundStmt("<startup>", read)
		if err != nil {
			fmt.Fprintln(s.errw, err)
			return false
		}
		if !s.run(ctx, f) {
			return false
		}
	}
	return true
}

// run evaluates one chunk on a fresh thread whose session Ctrl-C cancels.
func (s *Session) run(ctx context.Context, f *syntax.File) bool {
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	thread := &starlark.Thread{
		Name:  "repl",
		Print: func(_ *starlark.Thread, msg string) { fmt.Fprintln(s.out, msg) },
		Load:  s.load,
	}
	sess := &builtins.Session{
		Ctx:      lctx,
		Settings: s.cfg.Settings,
		Vars:     s.cfg.Vars,
		Log:      func(line string) { fmt.Fprintln(s.out, line) },
		Start:    s.started,
	}
	builtins.SetSession(thread, sess)
	s.mu.Lock()
	s.interrupt = func() {
		cancel(errors.New("interrupted"))
		thread.Cancel("interrupted")
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.interrupt = nil
		// Clusters outlive the line: the session stops them at exit.
		s.clusters = append(s.clusters, sess.Clusters()...)
		s.mu.Unlock()
	}()

	var err error
	if expr := soleExpr(f); expr != nil {
		var v starlark.Value
		v, err = starlark.EvalExprOptions(f.Options, thread, expr, s.globals)
		if err == nil {
			s.globals["_"] = v
			if v != starlark.None {
				fmt.Fprintln(s.out, Pretty(v, 100))
			}
		}
	} else {
		err = starlark.ExecREPLChunk(f, thread, s.globals)
	}
	if err == nil {
		return true
	}
	if lctx.Err() != nil {
		fmt.Fprintln(s.errw, "interrupted")
		return false
	}
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		fmt.Fprintln(s.errw, ee.Backtrace())
	} else {
		fmt.Fprintln(s.errw, err)
	}
	return false
}

func soleExpr(f *syntax.File) syntax.Expr {
	if len(f.Stmts) == 1 {
		if stmt, ok := f.Stmts[0].(*syntax.ExprStmt); ok {
			return stmt.X
		}
	}
	return nil
}

// load runs a file relative to the working directory with the same
// builtins.
func (s *Session) load(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	src, err := os.ReadFile(module)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", module, err)
	}
	child := &starlark.Thread{Name: module, Load: s.load, Print: thread.Print}
	builtins.SetSession(child, builtins.SessionOf(thread))
	return starlark.ExecFileOptions(builtins.FileOptions, child, module, src, builtins.Predeclared(s.cfg.Ops, s.cfg.Vars))
}

// help prints the builtins' descriptions: all of them, or those whose
// qualified name contains the argument (a string or the builtin itself).
func (s *Session) help(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var what starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "what?", &what); err != nil {
		return nil, err
	}
	filter := ""
	switch w := what.(type) {
	case starlark.String:
		filter = string(w)
	case *starlark.Builtin:
		filter = w.Name()
	case starlark.NoneType:
	default:
		filter = w.Type()
	}
	var lines []string
	for _, d := range builtins.Docs(s.cfg.Ops) {
		if filter == "" || strings.Contains(d.Qualified(), filter) || d.Receiver == filter || d.Module == filter {
			line := fmt.Sprintf("%s\n    %s", d.Signature, d.Summary)
			for _, l := range d.Details {
				line += "\n      " + l
			}
			lines = append(lines, line)
		}
	}
	kinds := s.cfg.Kinds
	if kinds == nil {
		kinds = process.KindDocs()
	}
	for _, k := range kinds {
		if filter == "" || filter == "kinds" || strings.Contains(k.Kind, filter) {
			line := fmt.Sprintf("kind %s (%s; spawn with n.spawn(%q))\n    state: %s", k.Kind, k.Type, k.Kind, k.State)
			for _, m := range k.Messages {
				line += fmt.Sprintf("\n      %s -> %s", m.Message, m.Reply)
			}
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("help: nothing documented matches %q", filter)
	}
	fmt.Fprintln(s.out, strings.Join(lines, "\n"))
	return starlark.None, nil
}
