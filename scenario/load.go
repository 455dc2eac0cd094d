package scenario

import (
	"context"
	"fmt"
	"os"
	"sync"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/builtins"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
)

// loader loads files for load(), relative to the loading file, once per
// case, with the same builtins.
type loader struct {
	ops     []arsenal.OpSpec
	vars    map[string]string
	mu      sync.Mutex
	cache   map[string]*loadEntry
	threads []*starlark.Thread // the loaded files' threads, to cancel
}

// cancel cancels every thread running a loaded file's top level.
func (l *loader) cancel(reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range l.threads {
		t.Cancel(reason)
	}
}

type loadEntry struct {
	globals starlark.StringDict
	err     error
}

func newLoader(ops []arsenal.OpSpec, vars map[string]string) *loader {
	return &loader{ops: ops, vars: vars, cache: map[string]*loadEntry{}}
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
		l.mu.Lock()
		l.threads = append(l.threads, child)
		l.mu.Unlock()
		s := builtins.SessionOf(thread)
		builtins.SetSession(child, s)
		if s != nil && s.Ctx != nil {
			// A loaded file's top level obeys the loading case's timeout.
			stop := context.AfterFunc(s.Ctx, func() { child.Cancel(context.Cause(s.Ctx).Error()) })
			defer stop()
		}
		e = &loadEntry{}
		e.globals, e.err = starlark.ExecFileOptions(builtins.FileOptions, child, path, src, builtins.Predeclared(l.ops, l.vars))
	} else {
		e = &loadEntry{err: fmt.Errorf("load %s: %w", module, err)}
	}
	l.mu.Lock()
	l.cache[path] = e
	l.mu.Unlock()
	return e.globals, e.err
}
