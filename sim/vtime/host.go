//go:build go1.26 && !go1.27

package vtime

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"
)

// A plain binary gets a *testing.T, which synctest.Test needs, by starting
// the testing framework with testing.MainStart and keeping one test alive
// that runs every bubble as a subtest. MainStart's deps parameter is an
// unexported interface internal to the toolchain, outside Go's
// compatibility promise: this file is built only for the Go release it was
// written against. On any other release Default reports virtual time
// unavailable (host_other.go), the runner falls back to the real clock
// with a warning, and TestDefaultHost fails until this file is updated.

// corpusEntry is testing's corpusEntry: an alias of this same unnamed
// struct type.
type corpusEntry = struct {
	Parent     string
	Path       string
	Data       []byte
	Values     []any
	Generation int
	IsSeed     bool
}

var errUnsupported = errors.New("not supported by the virtual-time host")

// deps implements testing's testDeps for a host that runs no tests of its
// own: no profiles, no fuzzing, no coverage.
type deps struct{}

func (deps) ImportPath() string                          { return "" }
func (deps) ModulePath() string                          { return "" }
func (deps) MatchString(pat, str string) (bool, error)   { return true, nil }
func (deps) SetPanicOnExit0(bool)                        {}
func (deps) StartCPUProfile(io.Writer) error             { return errUnsupported }
func (deps) StopCPUProfile()                             {}
func (deps) StartTestLog(io.Writer)                      {}
func (deps) StopTestLog() error                          { return nil }
func (deps) WriteProfileTo(string, io.Writer, int) error { return errUnsupported }
func (deps) CoordinateFuzzing(time.Duration, int64, time.Duration, int64, int, []corpusEntry, []reflect.Type, string, string) error {
	return errUnsupported
}
func (deps) RunFuzzWorker(func(corpusEntry) error) error              { return errUnsupported }
func (deps) ReadCorpus(string, []reflect.Type) ([]corpusEntry, error) { return nil, errUnsupported }
func (deps) CheckCorpus([]any, []reflect.Type) error                  { return nil }
func (deps) ResetCoverage()                                           {}
func (deps) SnapshotCoverage()                                        {}
func (deps) InitRuntimeCoverage() (string, func(string, string) (string, error), func() float64) {
	return "", nil, nil
}

// host is one long-lived test whose subtests are bubbles.
type host struct {
	reqs chan hostReq
}

type hostReq struct {
	name string
	f    func()
	err  chan error
}

var (
	hostOnce sync.Once
	theHost  *host // the process has one testing framework; started once
)

func defaultHost() (Runner, error) {
	hostOnce.Do(func() {
		h := &host{reqs: make(chan hostReq)}
		ready := make(chan struct{})
		m := testing.MainStart(deps{}, []testing.InternalTest{{Name: "clusterscript", F: func(t *testing.T) {
			close(ready)
			var wg sync.WaitGroup
			for r := range h.reqs {
				// Subtests may run concurrently: t.Run from several
				// goroutines, all done before this function returns.
				wg.Go(func() { t.Run(r.name, func(t *testing.T) { r.err <- bubble(t, r.f) }) })
			}
			wg.Wait()
		}}}, nil, nil, nil)
		// M.Run parses the command line unless it was parsed: mark it so,
		// without consuming the program's own arguments.
		if !flag.Parsed() {
			_ = flag.CommandLine.Parse(nil)
		}
		go m.Run()
		<-ready
		theHost = h
	})
	return theHost, nil
}

func (h *host) Run(name string, f func()) error {
	r := hostReq{name: name, f: f, err: make(chan error, 1)}
	h.reqs <- r
	return <-r.err
}
