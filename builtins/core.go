package builtins

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// SkipError ends a case as skipped.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// AssertionError is a failed assertion, with the position of the call.
type AssertionError struct {
	Pos string // file:line:col of the assertion
	Msg string
}

func (e *AssertionError) Error() string { return e.Pos + ": " + e.Msg }

// callerPos is the file:line:col of the Starlark call to the running builtin.
func callerPos(thread *starlark.Thread) string {
	if thread.CallStackDepth() < 2 {
		return "?"
	}
	return thread.CallFrame(1).Pos.String()
}

func sleepFn(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	d, err := a.Duration("duration")
	if err != nil {
		return nil, err
	}
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return starlark.None, nil
	case <-s.ctx().Done():
		return nil, fmt.Errorf("sleep interrupted: %w", s.ctx().Err())
	}
}

// nowFn is now(): the case's time. time.Now reads the case's clock: the
// virtual one when the case runs in a synctest bubble.
func nowFn(thread *starlark.Thread, b *starlark.Builtin, _ Args) (starlark.Value, error) {
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	if s.Start.IsZero() {
		return nil, fmt.Errorf("%s: this session has no start time", b.Name())
	}
	return starlark.Float(time.Since(s.Start).Seconds()), nil
}

func waitUntil(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	fn, err := a.Callable("fn")
	if err != nil {
		return nil, err
	}
	timeout, err := a.Duration("timeout")
	if err != nil {
		return nil, err
	}
	interval, err := a.Duration("interval")
	if err != nil {
		return nil, err
	}
	msg := a.Value("msg")
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	pos := callerPos(thread)
	deadline := time.Now().Add(timeout)
	var last starlark.Value = starlark.None
	for {
		v, err := starlark.Call(thread, fn, nil, nil)
		if err != nil {
			return nil, err
		}
		if v.Truth() {
			return v, nil
		}
		last = v
		if time.Now().After(deadline) {
			text := "condition not met"
			if m, ok := msg.(starlark.String); ok {
				text = string(m)
			}
			return nil, &AssertionError{Pos: pos, Msg: fmt.Sprintf("wait_until: %s after %s (last value: %s)", text, timeout, last.String())}
		}
		select {
		case <-time.After(interval):
		case <-s.ctx().Done():
			return nil, fmt.Errorf("wait_until interrupted: %w", s.ctx().Err())
		}
	}
}

func logFn(thread *starlark.Thread, _ *starlark.Builtin, a Args) (starlark.Value, error) {
	args := a.Rest
	parts := make([]string, len(args))
	for i, a := range args {
		if s, ok := a.(starlark.String); ok {
			parts[i] = string(s)
		} else {
			parts[i] = a.String()
		}
	}
	if s, err := session(thread); err == nil && s.Log != nil {
		s.Log(strings.Join(parts, " "))
	}
	return starlark.None, nil
}

func skipFn(_ *starlark.Thread, _ *starlark.Builtin, a Args) (starlark.Value, error) {
	reason, err := a.String("reason")
	if err != nil {
		return nil, err
	}
	return nil, &SkipError{Reason: reason}
}

// IsSkip reports whether err ends a case as skipped, and why: skip()
// was called, or the case needs what this run cannot give it (a fault a
// host's kernel cannot apply), which is reported as unsupported, with the
// reason, rather than as a failure.
func IsSkip(err error) (string, bool) {
	var s *SkipError
	if errors.As(err, &s) {
		return s.Reason, true
	}
	var u unsupported
	if errors.As(err, &u) {
		return "unsupported: " + u.Unsupported(), true
	}
	return "", false
}

// unsupported is an error saying the run cannot do what was asked here
// (hosts.UnsupportedError).
type unsupported interface {
	error
	Unsupported() string
}

func assertFail(thread *starlark.Thread, msg starlark.Value, format string, args ...any) error {
	text := fmt.Sprintf(format, args...)
	if m, ok := msg.(starlark.String); ok && m != "" {
		text = errcode.Bound(string(m), maxShownValue) + ": " + text
	}
	return &AssertionError{Pos: callerPos(thread), Msg: errcode.Bound(text, maxAssertMessage)}
}

// maxAssertMessage bounds an assertion's message, and maxShownValue each
// value it shows: a failure report, a JUnit file and the history keep the
// message, and a 100 MiB string compared in a scenario must not make
// them 200 MB.
const (
	maxAssertMessage = 16 << 10
	maxShownValue    = 4 << 10
)

// shown is v as an assertion message shows it: its repr, a long string's
// beginning and length rather than all of it.
func shown(v starlark.Value) string {
	if s, ok := v.(starlark.String); ok && len(s) > maxShownValue {
		return fmt.Sprintf("%s… (a string of %d bytes)", starlark.String(s[:maxShownValue]).String(), len(s))
	}
	return errcode.Bound(v.String(), maxShownValue)
}

func assertBinary(test func(a, b starlark.Value) (bool, error), describe string) impl {
	return func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
		x, y := a.Value("a"), a.Value("b")
		ok, err := test(x, y)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		if !ok {
			return nil, assertFail(thread, a.Value("msg"), "%s failed: %s %s %s", b.Name(), shown(x), describe, shown(y))
		}
		return starlark.None, nil
	}
}

func compare(op func(int) bool) func(a, b starlark.Value) (bool, error) {
	return func(a, b starlark.Value) (bool, error) {
		c, err := starlark.Compare(syntax.LT, a, b)
		if err != nil {
			return false, err
		}
		gt, err := starlark.Compare(syntax.GT, a, b)
		if err != nil {
			return false, err
		}
		switch {
		case c:
			return op(-1), nil
		case gt:
			return op(1), nil
		}
		return op(0), nil
	}
}

func assertTruth(want bool) impl {
	return func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
		x := a.Value("x")
		if bool(x.Truth()) != want {
			return nil, assertFail(thread, a.Value("msg"), "%s failed: got %s, want a %s value", b.Name(), shown(x), map[bool]string{true: "truthy", false: "falsy"}[want])
		}
		return starlark.None, nil
	}
}

func assertContains(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	container, x, msg := a.Value("container"), a.Value("x"), a.Value("msg")
	in, err := starlark.Binary(syntax.IN, x, container)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if !in.Truth() {
		return nil, assertFail(thread, msg, "%s failed: %s not in %s", b.Name(), shown(x), shown(container))
	}
	return starlark.None, nil
}

func assertFails(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	fn, err := a.Callable("fn")
	if err != nil {
		return nil, err
	}
	pattern, err := a.String("pattern")
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: bad pattern %q: %w", b.Name(), pattern, err)
	}
	_, err = starlark.Call(thread, fn, nil, nil)
	if err == nil {
		return nil, assertFail(thread, starlark.None, "%s failed: the call succeeded, want an error matching %q", b.Name(), pattern)
	}
	if _, skip := IsSkip(err); skip {
		return nil, err
	}
	text := err.Error()
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		text = ee.Msg
	}
	if !re.MatchString(text) {
		return nil, assertFail(thread, starlark.None, "%s failed: error %q does not match %q", b.Name(), text, pattern)
	}
	return starlark.String(text), nil
}
