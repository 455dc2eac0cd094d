package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/clusterscript/clusterscript/hosts"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
)

// Backend is where a cluster's nodes run.
type Backend string

// The backends.
const (
	// Sim runs engine nodes in this process, on an in-memory network.
	Sim Backend = "sim"
	// Real runs each node as an agent process on real sockets.
	Real Backend = "real"
)

// ParseBackend reads a backend's name.
func ParseBackend(s string) (Backend, error) {
	switch b := Backend(s); b {
	case Sim, Real:
		return b, nil
	}
	return "", fmt.Errorf("want %q or %q, got %q", Sim, Real, s)
}

// ParseBackends reads a list of backends such as "sim,real", in order,
// without repeats.
func ParseBackends(s string) ([]Backend, error) {
	var out []Backend
	for _, part := range strings.Split(s, ",") {
		b, err := ParseBackend(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("want sim, real or a list such as sim,real; got %q", s)
		}
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out, nil
}

// AgentOnSimError is asking for simulated nodes that run an agent
// executable: an agent runs real nodes, and simulated nodes run in this
// process, with its own kinds and operations.
type AgentOnSimError struct{ Agent string }

func (e *AgentOnSimError) Error() string {
	return fmt.Sprintf("agent %s runs real nodes, but the backend is sim: simulated nodes run in this process, with its own kinds and operations "+
		"(use the real backend, or run the scenarios from go test to simulate a program's own; see docs/testing-your-own-service.md)", e.Agent)
}

// BackendFor is the one rule for a backend asked for (empty: not said)
// together with an agent executable (empty: none named): an agent means
// real nodes, so it makes an unsaid backend real and is an
// *AgentOnSimError on sim. With neither said it returns "", for the
// caller's default.
func BackendFor(backend Backend, agent string) (Backend, error) {
	if agent == "" {
		return backend, nil
	}
	switch backend {
	case "":
		return Real, nil
	case Sim:
		return "", &AgentOnSimError{Agent: agent}
	}
	return backend, nil
}

// Topology is a named cluster shape from the configuration file; zero
// fields are not said.
type Topology struct {
	Nodes   int
	Backend Backend
	Profile string
	// CookieEnv names the environment variable holding the cookie.
	CookieEnv string
	// Agent is the executable its real nodes run.
	Agent string
	// Hosts names the inventory its real nodes are placed on.
	Hosts string
	// Faults is where its network faults go: FaultsEngine or
	// FaultsKernel.
	Faults string
}

// DefaultNodes is how many nodes a cluster has when nobody says.
const DefaultNodes = 3

// MaxNodes bounds a cluster's size.
const MaxNodes = 2000

// Settings are a run's defaults for the clusters it starts: the command
// line's and the configuration file's, or a go test's.
type Settings struct {
	// Backend is the default backend (Sim when empty).
	Backend Backend
	// Agent is the executable real nodes run when a cluster names none
	// (run --agent); empty: this program's own executable.
	Agent string
	// Registry is what simulated nodes run (node.Builtin() when nil).
	Registry *node.Registry
	// Seed seeds fault decisions.
	Seed int64
	// Profiles are extra or overriding gossip profiles, by name.
	Profiles map[string]membership.Profile
	// Topologies are named cluster shapes, by name.
	Topologies map[string]Topology
	// Getenv reads the environment, for topologies' CookieEnv
	// (os.Getenv when nil).
	Getenv func(string) string
	// Hosts names the inventory real nodes go on when a cluster names
	// none (run --hosts); empty: this machine.
	Hosts string
	// Faults is where network faults go when a cluster does not say
	// (run --faults): FaultsEngine when empty.
	Faults string
	// Fleet reaches the inventories' hosts, once per run (nil: no
	// inventory, so hosts= is an error).
	Fleet *hosts.Fleet
}

// Request is what a caller asks of a cluster's start; zero fields are not
// said, and are filled from a topology, then from the Settings.
type Request struct {
	// Nodes names the nodes; when nil, Count nodes get the names n1, n2...
	Nodes []string
	Count int
	// Name names the cluster.
	Name     string
	Backend  Backend
	Cookie   string
	Profile  string
	Topology string
	// Agent is the executable real nodes run.
	Agent string
	// MaxProcesses bounds the processes each node runs (0: the engine's
	// default, process.DefaultLimits).
	MaxProcesses int
	// Hosts names the inventory to place real nodes on; it means real
	// nodes, as Agent does.
	Hosts string
	// Faults is where network faults go: FaultsEngine or FaultsKernel.
	Faults string
}

// Spec is a cluster's start, resolved: everything Start and the launcher
// need.
type Spec struct {
	Name    string
	Nodes   []string
	Backend Backend
	// Cookie is the shared secret ("": a fresh random one at Start).
	Cookie  string
	Profile membership.Profile
	Seed    int64
	// Agent is the executable real nodes run ("" for simulated nodes, or
	// this program's own).
	Agent string
	// Registry is what simulated nodes run.
	Registry *node.Registry
	// MaxProcesses bounds the processes each node runs (0: the default).
	MaxProcesses int
	// Hosts names the inventory its real nodes are placed on ("": this
	// machine), reached through Fleet.
	Hosts string
	Fleet *hosts.Fleet
	// Faults is where its network faults go: FaultsEngine or
	// FaultsKernel.
	Faults string
}

// Resolve works out a cluster's start from a request: the request's
// fields, else its topology's, else the settings'; an agent means real
// nodes (BackendFor). The error says which setting is wrong, not where it
// came from: the caller adds that.
func (s Settings) Resolve(r Request) (Spec, error) {
	var top Topology
	if r.Topology != "" {
		t, ok := s.Topologies[r.Topology]
		if !ok {
			return Spec{}, fmt.Errorf("topology %q is not defined (topologies come from ./clusterscript.yaml in the working directory, or the file --config names)", r.Topology)
		}
		top = t
	}
	spec := Spec{Name: r.Name, Seed: s.Seed, Registry: s.Registry, Cookie: r.Cookie, Nodes: r.Nodes}
	if spec.Nodes == nil {
		n := first(r.Count, top.Nodes, DefaultNodes)
		if n < 1 || n > MaxNodes {
			return Spec{}, fmt.Errorf("nodes: must be from 1 to %d, got %d", MaxNodes, n)
		}
		spec.Nodes = defaultNames(n)
	}
	if spec.Cookie == "" && top.CookieEnv != "" {
		getenv := s.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		if spec.Cookie = getenv(top.CookieEnv); spec.Cookie == "" {
			return Spec{}, fmt.Errorf("topology %q: cookie_env names $%s, which is not set (set it, or drop cookie_env for a fresh random cookie)", r.Topology, top.CookieEnv)
		}
	}
	agent := first(r.Agent, top.Agent, "")
	backend, err := BackendFor(first(r.Backend, top.Backend, ""), agent)
	if err != nil {
		return Spec{}, err
	}
	// Hosts, like an agent, mean real nodes.
	if named := first(r.Hosts, top.Hosts, ""); named != "" {
		if backend == Sim {
			return Spec{}, fmt.Errorf("hosts %q: places real nodes, but the backend is sim (simulated nodes run in this process)", named)
		}
		backend = Real
	}
	if spec.Backend = first(backend, s.Backend, Sim); spec.Backend == Real {
		spec.Agent = first(agent, s.Agent, "")
		spec.Hosts = first(r.Hosts, top.Hosts, s.Hosts)
	}
	switch spec.Faults = first(r.Faults, top.Faults, s.Faults, FaultsEngine); spec.Faults {
	case FaultsEngine:
	case FaultsKernel:
		if spec.Hosts == "" {
			return Spec{}, fmt.Errorf("faults=%q needs real nodes on hosts (hosts=, run --hosts, or a topology's hosts:): kernel faults are rules in each node's host's kernel, and a %s cluster on this machine has none of its own", FaultsKernel, spec.Backend)
		}
	default:
		return Spec{}, fmt.Errorf("faults: want %q or %q, got %q", FaultsEngine, FaultsKernel, spec.Faults)
	}
	if spec.Hosts != "" {
		if s.Fleet == nil {
			return Spec{}, fmt.Errorf("hosts %q: no inventory is defined (hosts come from clusterscript.yaml's hosts: section)", spec.Hosts)
		}
		spec.Fleet = s.Fleet
	}
	prof, err := s.Profile(first(r.Profile, top.Profile, membership.DefaultProfile))
	if err != nil {
		return Spec{}, fmt.Errorf("profile: %w", err)
	}
	spec.Profile = prof
	if r.MaxProcesses < 0 {
		return Spec{}, fmt.Errorf("max_processes: must be at least 1, got %d", r.MaxProcesses)
	}
	spec.MaxProcesses = r.MaxProcesses
	return spec, nil
}

// Profile returns the gossip profile of that name: the settings' own, else
// a built-in one.
func (s Settings) Profile(name string) (membership.Profile, error) {
	if p, ok := s.Profiles[name]; ok {
		return p, nil
	}
	return membership.LookupProfile(name)
}

// first returns the first of vs that is not the zero value.
func first[T comparable](vs ...T) T {
	var zero T
	for _, v := range vs {
		if v != zero {
			return v
		}
	}
	return zero
}

// defaultNames returns the names of n nodes: n1, n2, ...
func defaultNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	return names
}

// Launcher returns the launcher of the spec's backend: simulated nodes
// running its registry on a fresh in-memory network, or agent processes
// of its executable (this program's own when it names none), on this
// machine or on its inventory's hosts (connected, checked and readied
// for kernel faults first, which ctx bounds).
func (s Spec) Launcher(ctx context.Context) (Launcher, error) {
	switch s.Backend {
	case Sim:
		if s.Agent != "" {
			return nil, &AgentOnSimError{Agent: s.Agent}
		}
		return NewSimLauncher(s.Registry), nil
	case Real:
		bin := s.Agent
		if bin == "" {
			exe, err := os.Executable()
			if err != nil {
				return nil, fmt.Errorf("backend real: cannot find this program's executable to run as the agent: %w", err)
			}
			bin = exe
		}
		if s.Hosts != "" {
			hs, err := s.Fleet.Hosts(ctx, s.Hosts, s.Faults == FaultsKernel)
			if err != nil {
				return nil, err
			}
			return &HostLauncher{Hosts: hs, Binary: bin, Kernel: s.Faults == FaultsKernel}, nil
		}
		return &AgentLauncher{Binary: bin}, nil
	}
	_, err := ParseBackend(string(s.Backend))
	return nil, fmt.Errorf("backend: %w", err)
}

// Options returns the options Start takes for the spec; the caller adds
// where the cluster's history and node logs go.
func (s Spec) Options() Options {
	return Options{Name: s.Name, Cookie: s.Cookie, Profile: s.Profile, Seed: s.Seed, Nodes: s.Nodes, MaxProcesses: s.MaxProcesses, Faults: s.Faults}
}
