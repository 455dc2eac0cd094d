// Package builtins is clusterscript's Starlark surface.
//
// Predeclared returns the names every scenario and the REPL see:
//
//   - functions: sleep, wait_until, now, log, skip, and the vars dict;
//   - modules: assert, cluster, arsenal, horde, and the standard time,
//     json and math;
//   - values: *Cluster and *Node (starlark.HasAttrs), returned by
//     cluster.start and friends, and the events of c.events() (a record:
//     read as a dict and as a struct).
//
// Everything that blocks reads the case's Session from the Starlark thread
// (SetSession): its context is cancelled when the case times out or is
// interrupted, and every cluster started in the case is registered with it
// so that the case's end tears it down, pass or fail.
//
// Every builtin describes itself (Docs); `clusterscript docs`, the REPL's
// completion and docs/reference.md are generated from those descriptions.
package builtins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/history/consistency"
	"github.com/clusterscript/clusterscript/nodelog"
)

// Session is what the builtins of one case share: its context, the run's
// settings, and the clusters it started.
type Session struct {
	// Ctx is cancelled when the case ends, times out or is interrupted.
	Ctx context.Context
	// Settings are the run's defaults for cluster.start: backend, agent
	// executable, registry, seed, profiles, topologies.
	Settings cluster.Settings
	// Vars are the --var values.
	Vars map[string]string
	// Models are the program's own consistency models, by name
	// (check.model).
	Models map[string]consistency.Model
	// Log receives log() lines.
	Log func(string)
	// Start is when the case began, read from the clock the case runs on
	// (inside its bubble for a case on the virtual clock); now() counts
	// from it.
	Start time.Time
	// VirtualClock reports a case running on virtual time, inside a
	// synctest bubble, where no real node can run: starting one fails
	// with ErrRealClock, and the runner runs the case again on the real
	// clock.
	VirtualClock bool
	// History receives what the case's clusters did and observed (started
	// on first use when nil).
	History *history.Recorder
	// Logs receive the logs of the case's nodes (not kept when nil).
	Logs *nodelog.Set
	// Outside, when set, runs f outside the case's bubble, on the wall
	// clock, and waits for it: a consistency check, which times and
	// bounds itself, runs there (nil: where it is called).
	Outside func(f func())
	// Artifacts is the case's artifacts directory ("" when none is
	// kept): a failed linearizability check writes its page there.
	Artifacts string

	mu              sync.Mutex
	linearizability int // pages written
	clusters        []*cluster.Cluster
	used            []*cluster.Cluster // every cluster started, torn down or not
	attached        []*cluster.Cluster // followed, not stopped, at the end
}

const sessionKey = "clusterscript.session"

// ErrRealClock is returned by builtins that start or reach real nodes in a
// case running on virtual time.
var ErrRealClock = errors.New("a real node runs on the real clock, not in a virtual-time case")

// clock names the clock the session's case runs on.
func (s *Session) clock() string {
	if s.VirtualClock {
		return "virtual"
	}
	return "real"
}

// needRealClock fails on virtual time.
func (s *Session) needRealClock() error {
	if s.VirtualClock {
		return ErrRealClock
	}
	return nil
}

// SetSession attaches s to thread.
func SetSession(thread *starlark.Thread, s *Session) { thread.SetLocal(sessionKey, s) }

// SessionOf returns the session attached to thread, or nil.
func SessionOf(thread *starlark.Thread) *Session {
	s, _ := thread.Local(sessionKey).(*Session)
	return s
}

// session returns the thread's session.
func session(thread *starlark.Thread) (*Session, error) {
	s, ok := thread.Local(sessionKey).(*Session)
	if !ok || s == nil {
		return nil, fmt.Errorf("no clusterscript session on this thread")
	}
	return s, nil
}

// withSession runs f with the thread's session.
func withSession(thread *starlark.Thread, f func(*Session) (starlark.Value, error)) (starlark.Value, error) {
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	return f(s)
}

// getenv reads the environment as the settings do.
func (s *Session) getenv(key string) string {
	if s.Settings.Getenv != nil {
		return s.Settings.Getenv(key)
	}
	return os.Getenv(key)
}

func (s *Session) ctx() context.Context {
	if s.Ctx == nil {
		return context.Background()
	}
	return s.Ctx
}

func (s *Session) addCluster(c *cluster.Cluster) {
	s.mu.Lock()
	s.clusters = append(s.clusters, c)
	s.used = append(s.used, c)
	s.mu.Unlock()
}

// Backends returns the sorted backends of the clusters the session
// started, for its report: a case whose cluster came from a topology may
// run on another backend than the run's default.
func (s *Session) Backends() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.used {
		if b := string(c.Backend()); !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

// Faulted reports whether a cluster of the session had network faults
// (a partition or a degraded link), whose decisions the run's seed drives.
func (s *Session) Faulted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.used, (*cluster.Cluster).Faulted)
}

// Clusters returns the clusters started in the session.
func (s *Session) Clusters() []*cluster.Cluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*cluster.Cluster(nil), s.clusters...)
}

// Teardown stops every cluster the session started, and lets go of those
// it attached to. A case that ended kills them instead of waiting for
// graceful leaves: nobody observes its departures.
func (s *Session) Teardown(abrupt bool) {
	s.mu.Lock()
	cs := s.clusters
	s.clusters = nil
	attached := s.attached
	s.attached = nil
	s.mu.Unlock()
	for _, c := range attached {
		c.StopFollowing()
	}
	// The case's context may have ended (that may be why it ends): the
	// teardown has its own.
	ctx := context.WithoutCancel(s.ctx())
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if abrupt {
				c.Kill(ctx)
			} else {
				c.Stop(ctx)
			}
		}()
	}
	wg.Wait()
}
