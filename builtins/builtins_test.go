package builtins_test

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/builtins"
	"github.com/clusterscript/clusterscript/cluster"
)

// TestScripts runs testdata/*.star on the sim backend, as go.starlark.net
// tests its own builtins: each test_* function of a file is a subtest, and
// a script's assert calls are the test's checks.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.star")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata scripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".star"), func(t *testing.T) {
			globals := execFile(t, file, nil)
			for _, fn := range testFunctions(globals) {
				t.Run(fn.Name(), func(t *testing.T) {
					thread := newThread(t)
					if _, err := starlark.Call(thread, fn, nil, nil); err != nil {
						t.Fatal(describe(err))
					}
				})
			}
		})
	}
}

// newThread returns a thread with a sim session whose clusters are torn
// down when the test ends, pass or fail.
func newThread(t *testing.T) *starlark.Thread {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	s := &builtins.Session{Ctx: ctx, Settings: cluster.Settings{Backend: cluster.Sim}, Vars: map[string]string{"who": "tester"}, Log: func(l string) { t.Log(l) }, Start: time.Now()}
	t.Cleanup(func() {
		s.Teardown(false)
		cancel()
	})
	thread := &starlark.Thread{Name: t.Name(), Print: func(_ *starlark.Thread, msg string) { t.Log(msg) }}
	builtins.SetSession(thread, s)
	return thread
}

func execFile(t *testing.T, file string, vars map[string]string) starlark.StringDict {
	t.Helper()
	thread := newThread(t)
	globals, err := starlark.ExecFileOptions(builtins.FileOptions, thread, file, nil, builtins.Predeclared(nil, map[string]string{"who": "tester"}))
	if err != nil {
		t.Fatal(describe(err))
	}
	return globals
}

// testFunctions returns the file's test_* functions in definition order.
func testFunctions(globals starlark.StringDict) []*starlark.Function {
	var fns []*starlark.Function
	for name, v := range globals {
		if fn, ok := v.(*starlark.Function); ok && strings.HasPrefix(name, "test_") {
			fns = append(fns, fn)
		}
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Position().Line < fns[j].Position().Line })
	return fns
}

// describe shows a Starlark error with its backtrace (file:line:col).
func describe(err error) string {
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return ee.Backtrace()
	}
	return err.Error()
}
