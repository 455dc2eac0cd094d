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
	"slices"
	"sync"
	"time"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/nodelog"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
)

// Topology is a named cluster shape from the configuration file.
type Topology struct {
	Nodes     int
	Backend   string
	Profile   string
	CookieEnv string
	// Agent is the executable its real nodes run ("" for the session's).
	Agent string
}

// Session is what the builtins of one case share: its context, the run's
// settings, and the clusters it started.
type Session struct {
	// Ctx is cancelled when the case ends, times out or is interrupted.
	Ctx context.Context
	// Backend is the default backend for cluster.start ("sim" or "real").
	Backend string
	// Binary is the executable real nodes run: clusterscript itself, or a
	// program built on the engine whose main hands control to the agent
	// entry point (run --agent, or a go test binary).
	Binary string
	// Registry is what simulated nodes run: the kinds, operations and
	// boot processes of the program under test (node.Builtin() when nil).
	Registry *node.Registry
	// Seed seeds fault decisions.
	Seed int64
	// Vars are the --var values.
	Vars map[string]string
	// Profiles are extra or overriding gossip profiles from the config.
	Profiles map[string]membership.Profile
	// Topologies are named clusters from the config.
	Topologies map[string]Topology
	// Getenv reads the environment (for topologies' cookie_env).
	Getenv func(string) string
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

	mu       sync.Mutex
	clusters []*cluster.Cluster
	used     []*cluster.Cluster // every cluster started, torn down or not
	attached []*cluster.Cluster // followed, not stopped, at the end
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

// sessionNoArgs checks that b was called with no arguments and returns
// the thread's session.
func sessionNoArgs(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (*Session, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return session(thread)
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
		if !slices.Contains(out, c.Backend()) {
			out = append(out, c.Backend())
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

// Teardown stops every cluster the session started. A case that timed out
// kills them instead of waiting for graceful leaves.
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
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if abrupt {
				c.Kill()
			} else {
				c.Stop()
			}
		}()
	}
	wg.Wait()
}

func (s *Session) profile(name string) (membership.Profile, error) {
	if p, ok := s.Profiles[name]; ok {
		return p, nil
	}
	return membership.LookupProfile(name)
}
