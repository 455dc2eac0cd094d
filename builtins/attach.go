package builtins

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/cluster"
)

// clusterAttach implements cluster.attach(seeds, cookie=None, name=None):
// a Cluster for agents started by hand, found through any of the seeds.
// The cookie defaults to $CLUSTERSCRIPT_COOKIE. The case's end does not
// stop an attached cluster: the case did not start it.
func clusterAttach(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	if err := s.needRealClock(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	var seedsV starlark.Value
	var cookieV starlark.Value = starlark.None
	var name string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "seeds", &seedsV, "cookie?", &cookieV, "name?", &name); err != nil {
		return nil, err
	}
	var seeds []string
	switch v := seedsV.(type) {
	case starlark.String:
		seeds = []string{string(v)}
	case *starlark.List, starlark.Tuple:
		if seeds, err = stringItems(v, "host:port strings"); err != nil {
			return nil, fmt.Errorf("%s: seeds: %w", b.Name(), err)
		}
	default:
		return nil, fmt.Errorf("%s: seeds: want a host:port string or a list of them, got %s", b.Name(), seedsV.Type())
	}
	cookie := ""
	switch v := cookieV.(type) {
	case starlark.String:
		cookie = string(v)
	case starlark.NoneType:
		if s.Getenv != nil {
			cookie = s.Getenv(cluster.CookieEnv)
		}
		if cookie == "" {
			return nil, fmt.Errorf("%s: cookie: give the agents' cookie or set $%s", b.Name(), cluster.CookieEnv)
		}
	default:
		return nil, fmt.Errorf("%s: cookie: want a string, got %s", b.Name(), cookieV.Type())
	}
	c, err := cluster.Attach(s.ctx(), name, seeds, cookie)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	c.Follow(s.history())
	s.mu.Lock()
	s.attached = append(s.attached, c)
	s.mu.Unlock()
	return &Cluster{c: c, clock: s.clock()}, nil
}
