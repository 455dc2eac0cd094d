package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/clusterscript/clusterscript/runtime/membership"
)

// How a runner starts an agent and learns that it runs: the command line
// (Launch.Args), the cookie in the environment (CookieEnv), and the ready
// line the agent prints (Ready). The runner's launcher and the agent's own
// command both read them from here.

// CookieEnv is the environment variable that hands an agent its cookie, so
// that it never shows in a process listing.
const CookieEnv = "CLUSTERSCRIPT_COOKIE"

// The commands of a node binary: run one agent, and list the operations
// its nodes serve (OpsCommandName --json prints them as JSON).
const (
	CommandName    = "agent"
	OpsCommandName = "ops"
)

// The agent command's flags.
const (
	FlagName        = "name"
	FlagCluster     = "cluster"
	FlagBind        = "bind"
	FlagCookie      = "cookie"
	FlagProfile     = "profile"
	FlagProfileJSON = "profile-json"
	FlagJoin        = "join"
	FlagWatchStdin  = "watch-stdin"
	FlagLogFile     = "log-file"
	FlagIncarnation = "incarnation"
	FlagMaxProcs    = "max-processes"
	FlagDataDir     = "data-dir"
)

// Ready is the line an agent prints on stdout once it is listening: the
// first line it writes there, one JSON object.
type Ready struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
	PID  int    `json:"pid"`
}

// ParseReady reads an agent's first line of output as its ready line.
func ParseReady(line []byte) (Ready, error) {
	var r Ready
	if err := json.Unmarshal(line, &r); err != nil {
		return Ready{}, fmt.Errorf("not a ready line: %w", err)
	}
	if r.Addr == "" {
		return Ready{}, errors.New("not a ready line: no addr")
	}
	return r, nil
}

// Launch is what a runner tells an agent it starts.
type Launch struct {
	Name    string
	Cluster string
	// Bind is the host:port to listen on (port 0: any free one).
	Bind string
	// Profile is the whole gossip profile, base included: a real node
	// runs exactly what a simulated one given it runs.
	Profile membership.Profile
	// Incarnation numbers this start of the node.
	Incarnation uint64
	// Cookie goes in the environment (Env), never on the command line.
	Cookie string
	// MaxProcesses bounds the processes the node runs (0: the default).
	MaxProcesses int
	// DataDir is the node's data directory ("": none).
	DataDir string
}

// Args returns the agent's command line after the binary: the agent
// command and its flags. The agent exits when its stdin closes, so it dies
// with the runner that holds the other end.
func (l Launch) Args() ([]string, error) {
	prof, err := json.Marshal(l.Profile)
	if err != nil {
		return nil, fmt.Errorf("agent %s: profile: %w", l.Name, err)
	}
	flag := func(name string) string { return "--" + name }
	args := []string{CommandName,
		flag(FlagName), l.Name,
		flag(FlagCluster), l.Cluster,
		flag(FlagBind), l.Bind,
		flag(FlagProfileJSON), string(prof),
		flag(FlagWatchStdin),
		flag(FlagIncarnation), strconv.FormatUint(l.Incarnation, 10),
	}
	if l.MaxProcesses > 0 {
		args = append(args, flag(FlagMaxProcs), strconv.Itoa(l.MaxProcesses))
	}
	if l.DataDir != "" {
		args = append(args, flag(FlagDataDir), l.DataDir)
	}
	return args, nil
}

// Env returns the environment entries the agent reads: its cookie.
func (l Launch) Env() []string { return []string{CookieEnv + "=" + l.Cookie} }
