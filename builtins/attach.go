package builtins

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/agent"
	"github.com/clusterscript/clusterscript/cluster"
)

// clusterAttach implements cluster.attach(seeds, cookie=None, name=None):
// a Cluster for agents started by hand, found through any of the seeds.
// The cookie defaults to $CLUSTERSCRIPT_COOKIE. The case's end does not
// stop an attached cluster: the case did not start it.
func clusterAttach(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	if err := s.needRealClock(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	var seeds []string
	switch v := a.Value("seeds").(type) {
	case starlark.String:
		seeds = []string{string(v)}
	case *starlark.List, starlark.Tuple:
		if seeds, err = stringItems(v, "host:port strings"); err != nil {
			return nil, fmt.Errorf("%s: seeds: %w", b.Name(), err)
		}
	default:
		return nil, fmt.Errorf("%s: seeds: want a host:port string or a list of them, got %s", b.Name(), v.Type())
	}
	cookie := ""
	switch v := a.Value("cookie").(type) {
	case starlark.String:
		cookie = string(v)
	case starlark.NoneType:
		cookie = s.getenv(agent.CookieEnv)
		if cookie == "" {
			return nil, fmt.Errorf("%s: cookie: give the agents' cookie or set $%s", b.Name(), agent.CookieEnv)
		}
	default:
		return nil, fmt.Errorf("%s: cookie: want a string, got %s", b.Name(), v.Type())
	}
	name, err := a.String("name")
	if err != nil {
		return nil, err
	}
	c, err := cluster.Attach(s.ctx(), name, seeds, cookie, s.history())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	s.mu.Lock()
	s.attached = append(s.attached, c)
	s.mu.Unlock()
	return &Cluster{c: c, clock: s.clock()}, nil
}
