package membership

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"math"
	"reflect"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"
)

// Profile is a gossip timing profile: the memberlist knobs that decide how
// fast a cluster converges and how fast it notices a dead member, and what
// that costs in traffic and false suspicion under load.
type Profile struct {
	// Name is the name scenarios use (profile="test").
	Name string `json:"name" yaml:"-"`
	// Base names the memberlist preset ("local", "lan" or "wan") that
	// supplies every setting the profile does not name (indirect checks,
	// retransmits, queue depths...). Empty means "local".
	Base string `json:"base,omitempty" yaml:"-"`
	// GossipInterval is how often a node gossips queued broadcasts to
	// GossipNodes random peers. Shorter spreads news faster and costs more
	// packets.
	GossipInterval time.Duration `json:"gossip_interval" yaml:"gossip_interval"`
	// GossipNodes is the gossip fan-out.
	GossipNodes int `json:"gossip_nodes" yaml:"gossip_nodes"`
	// ProbeInterval is how often a node probes one peer for liveness.
	// Failure detection takes a few of these plus the suspicion timeout.
	ProbeInterval time.Duration `json:"probe_interval" yaml:"probe_interval"`
	// ProbeTimeout is how long a probe waits for an ack before asking
	// others to probe indirectly. Too short on a loaded machine means false
	// suspicion.
	ProbeTimeout time.Duration `json:"probe_timeout" yaml:"probe_timeout"`
	// SuspicionMult scales how long a suspect has to refute before it is
	// declared dead (SuspicionMult × log10(n) × ProbeInterval, at least one
	// ProbeInterval per unit).
	SuspicionMult int `json:"suspicion_mult" yaml:"suspicion_mult"`
	// PushPullInterval is how often a node exchanges its full state with a
	// random peer (anti-entropy).
	PushPullInterval time.Duration `json:"push_pull_interval" yaml:"push_pull_interval"`
	// GossipToTheDeadTime is how long memberlist keeps gossiping to, and
	// remembering, a dead member. The engine's rejoin loop covers what it
	// forgets after that.
	GossipToTheDeadTime time.Duration `json:"gossip_to_the_dead_time" yaml:"gossip_to_the_dead_time"`
	// RejoinInterval is how often a node retries known peers it does not
	// see alive, so that a cluster re-forms after a partition of any length.
	RejoinInterval time.Duration `json:"rejoin_interval" yaml:"rejoin_interval"`
	// TCPTimeout bounds memberlist's stream operations (join, push/pull).
	TCPTimeout time.Duration `json:"tcp_timeout" yaml:"tcp_timeout"`
	// ScaleAbove, when set, stretches the gossip, probe, push/pull and
	// rejoin timers by n/ScaleAbove for clusters of n > ScaleAbove nodes. Fast
	// timers suit a handful of nodes; a thousand nodes sharing two cores
	// would spend their time probing and suspect each other falsely.
	ScaleAbove int `json:"scale_above,omitempty" yaml:"scale_above"`
	// ClusterSize is the size the profile was scaled for (ForSize). A big
	// cluster's join makes every node re-broadcast every member it learns:
	// memberlist's handler queue is sized for that burst instead of
	// dropping messages and then suspecting the senders.
	ClusterSize int `json:"cluster_size,omitempty" yaml:"-"`
	// Compression compresses memberlist's messages (LZW): less traffic
	// for more CPU per packet. memberlist's presets compress; the test
	// profile does not. A profile from the configuration file keeps its
	// base's.
	Compression bool `json:"compression" yaml:"-"`
}

// presets are memberlist's presets by the names profiles use as Base.
var presets = map[string]func() *memberlist.Config{
	"local": memberlist.DefaultLocalConfig,
	"lan":   memberlist.DefaultLANConfig,
	"wan":   memberlist.DefaultWANConfig,
}

// DefaultProfile names the profile a node runs unless told otherwise.
const DefaultProfile = "test"

// The built-in profiles by name, each a preset built like memberlist's own
// DefaultLANConfig: "local", "lan" and "wan" are memberlist's presets;
// "test" is tuned for scenarios on one machine.
var builtinProfiles = map[string]func() Profile{
	"test":  TestProfile,
	"local": LocalProfile,
	"lan":   LANProfile,
	"wan":   WANProfile,
}

// TestProfile is the default profile: fast timers for scenarios on one
// machine. A 3-node cluster converges in well under a second and notices a
// killed node in under one; its timers stretch with the cluster's size
// above 20 nodes (ScaleAbove), and it sends uncompressed, as loopback and
// memory are not short of bandwidth and compressing every push/pull costs
// CPU that fast timers need.
func TestProfile() Profile {
	return Profile{
		Name:                "test",
		Base:                "local",
		GossipInterval:      20 * time.Millisecond,
		GossipNodes:         4,
		ProbeInterval:       80 * time.Millisecond,
		ProbeTimeout:        40 * time.Millisecond,
		SuspicionMult:       2,
		PushPullInterval:    2 * time.Second,
		GossipToTheDeadTime: 2 * time.Second,
		RejoinInterval:      250 * time.Millisecond,
		TCPTimeout:          5 * time.Second,
		ScaleAbove:          20,
		Compression:         false,
	}
}

// LocalProfile is memberlist's DefaultLocalConfig, retrying down peers
// every second.
func LocalProfile() Profile { return fromPreset("local", time.Second) }

// LANProfile is memberlist's DefaultLANConfig, retrying down peers every
// 5 seconds.
func LANProfile() Profile { return fromPreset("lan", 5*time.Second) }

// WANProfile is memberlist's DefaultWANConfig, retrying down peers every
// 15 seconds.
func WANProfile() Profile { return fromPreset("wan", 15*time.Second) }

func fromPreset(name string, rejoin time.Duration) Profile {
	c := presets[name]()
	return Profile{
		Name:                name,
		Base:                name,
		GossipInterval:      c.GossipInterval,
		GossipNodes:         c.GossipNodes,
		ProbeInterval:       c.ProbeInterval,
		ProbeTimeout:        c.ProbeTimeout,
		SuspicionMult:       c.SuspicionMult,
		PushPullInterval:    c.PushPullInterval,
		GossipToTheDeadTime: c.GossipToTheDeadTime,
		RejoinInterval:      rejoin,
		TCPTimeout:          c.TCPTimeout,
		Compression:         c.EnableCompression,
	}
}

// ProfileFromJSON decodes a whole profile, as the runner hands it to an
// agent (--profile-json), and validates it. Nothing is taken from any
// other profile: a real node runs exactly what a simulated node given the
// same profile runs.
func ProfileFromJSON(data []byte) (Profile, error) {
	var p Profile
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return Profile{}, fmt.Errorf("profile: %w", err)
	}
	if err := p.Validate(); err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	return p, nil
}

// LookupProfile returns a built-in profile by name.
func LookupProfile(name string) (Profile, error) {
	preset, ok := builtinProfiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("unknown gossip profile %q (built-in: %v)", name, ProfileNames())
	}
	return preset(), nil
}

// ProfileNames lists the built-in profiles, sorted.
func ProfileNames() []string { return slices.Sorted(maps.Keys(builtinProfiles)) }

// Override returns p with the non-zero fields of o applied, under o's name.
func (p Profile) Override(o Profile) Profile {
	if o.Name != "" {
		p.Name = o.Name
	}
	set := func(dst *time.Duration, v time.Duration) {
		if v != 0 {
			*dst = v
		}
	}
	set(&p.GossipInterval, o.GossipInterval)
	set(&p.ProbeInterval, o.ProbeInterval)
	set(&p.ProbeTimeout, o.ProbeTimeout)
	set(&p.PushPullInterval, o.PushPullInterval)
	set(&p.GossipToTheDeadTime, o.GossipToTheDeadTime)
	set(&p.RejoinInterval, o.RejoinInterval)
	set(&p.TCPTimeout, o.TCPTimeout)
	if o.GossipNodes != 0 {
		p.GossipNodes = o.GossipNodes
	}
	if o.SuspicionMult != 0 {
		p.SuspicionMult = o.SuspicionMult
	}
	if o.ScaleAbove != 0 {
		p.ScaleAbove = o.ScaleAbove
	}
	return p
}

// ForSize returns the profile as used by a cluster of n nodes (see
// ScaleAbove).
func (p Profile) ForSize(n int) Profile {
	p.ClusterSize = n
	if p.ScaleAbove <= 0 || n <= p.ScaleAbove {
		return p
	}
	f := float64(n) / float64(p.ScaleAbove)
	scale := func(d *time.Duration) { *d = time.Duration(float64(*d) * f) }
	scale(&p.GossipInterval)
	scale(&p.ProbeInterval)
	scale(&p.ProbeTimeout)
	scale(&p.PushPullInterval)
	scale(&p.RejoinInterval)
	p.ScaleAbove = 0
	return p
}

// Bounds a profile's values are validated against: beyond them memberlist's
// own arithmetic (suspicion timeouts are SuspicionMult × log10(n) ×
// ProbeInterval) would overflow, and no cluster wants them.
const (
	// MaxProfileInterval bounds every duration of a profile.
	MaxProfileInterval = 24 * time.Hour
	// MaxSuspicionMult bounds suspicion_mult.
	MaxSuspicionMult = 100
	// MaxGossipNodes bounds gossip_nodes.
	MaxGossipNodes = 1000
)

// Validate reports a profile whose values cannot work, naming the value by
// its configuration key. It is called wherever a profile enters: the
// configuration file, the agent's --profile-json, and node.Start.
func (p Profile) Validate() error {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"gossip_interval", p.GossipInterval},
		{"probe_interval", p.ProbeInterval},
		{"probe_timeout", p.ProbeTimeout},
		{"push_pull_interval", p.PushPullInterval},
		{"gossip_to_the_dead_time", p.GossipToTheDeadTime},
		{"rejoin_interval", p.RejoinInterval},
		{"tcp_timeout", p.TCPTimeout},
	} {
		if d.v <= 0 || d.v > MaxProfileInterval {
			return fmt.Errorf("%s must be positive and at most %s, got %s", d.key, MaxProfileInterval, d.v)
		}
	}
	if _, ok := presets[p.Base]; !ok && p.Base != "" {
		return fmt.Errorf("base must be local, lan or wan, got %q", p.Base)
	}
	switch {
	case p.ProbeTimeout >= p.ProbeInterval:
		return fmt.Errorf("probe_timeout must be less than probe_interval, got %s and %s", p.ProbeTimeout, p.ProbeInterval)
	case p.SuspicionMult < 1 || p.SuspicionMult > MaxSuspicionMult:
		return fmt.Errorf("suspicion_mult must be from 1 to %d, got %d", MaxSuspicionMult, p.SuspicionMult)
	case p.GossipNodes < 1 || p.GossipNodes > MaxGossipNodes:
		return fmt.Errorf("gossip_nodes must be from 1 to %d, got %d", MaxGossipNodes, p.GossipNodes)
	case p.ScaleAbove < 0:
		return fmt.Errorf("scale_above must not be negative, got %d", p.ScaleAbove)
	case p.ClusterSize < 0:
		return fmt.Errorf("cluster_size must not be negative, got %d", p.ClusterSize)
	}
	return nil
}

// MemberlistConfig returns memberlist's configuration for the node named
// name under this profile, logging to logOut (discarded when nil).
func (p Profile) MemberlistConfig(name string, logOut io.Writer) *memberlist.Config {
	base := presets[p.Base]
	if base == nil {
		base = memberlist.DefaultLocalConfig
	}
	c := base()
	c.Name = name
	c.GossipInterval = p.GossipInterval
	c.GossipNodes = p.GossipNodes
	c.ProbeInterval = p.ProbeInterval
	c.ProbeTimeout = p.ProbeTimeout
	c.SuspicionMult = p.SuspicionMult
	c.PushPullInterval = p.PushPullInterval
	c.GossipToTheDeadTime = p.GossipToTheDeadTime
	c.TCPTimeout = p.TCPTimeout
	c.EnableCompression = p.Compression
	if p.ClusterSize > 0 {
		c.HandoffQueueDepth = max(c.HandoffQueueDepth, 64*p.ClusterSize)
	}
	// In a big cluster every joiner's push/pull already hands it the whole
	// member list; gossiping each of those members again log(n) times per
	// node is n² messages of pure echo. One retransmit round per log(n)
	// still spreads real news (fan-out GossipNodes) to everyone.
	if p.ClusterSize > 100 {
		c.RetransmitMult = 1
	}
	// A node restarted under its name may come back on another address.
	c.DeadNodeReclaimTime = time.Nanosecond
	if logOut == nil {
		logOut = io.Discard
	}
	c.Logger = log.New(logOut, name+" ", log.Lmicroseconds)
	return c
}

// SuspicionTimeout is how long a member of a cluster of n nodes stays
// suspect before it is declared dead, when nobody else confirms the
// suspicion (memberlist's suspicionTimeout): SuspicionMult × max(1,
// log10 n) × ProbeInterval. In a cluster of more than SuspicionMult
// nodes, memberlist starts the timer at SuspicionMaxTimeoutMult (6) times
// this and shortens it toward it as other members confirm.
func (p Profile) SuspicionTimeout(n int) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	return time.Duration(p.SuspicionMult) * time.Duration(scale*1000) * p.ProbeInterval / 1000
}

// DetectionTime bounds how long after a member of a small cluster of n
// nodes dies (n at most SuspicionMult+1, so that no confirmation is
// awaited) until a survivor sees it failed. At best a survivor probes it at
// once: the probe's interval runs out, then the suspicion timeout. At
// worst every survivor had just probed it, so the first new probe comes
// after a round of n-1 intervals, and the news takes a gossip interval to
// arrive. A machine too loaded to answer probes in time stretches both
// (memberlist's awareness lengthens the probe interval of a node that
// misses acks).
func (p Profile) DetectionTime(n int) (best, worst time.Duration) {
	best = p.ProbeInterval + p.SuspicionTimeout(n)
	worst = time.Duration(max(n-1, 1))*p.ProbeInterval + best + p.GossipInterval
	return best, worst
}

// Settings returns memberlist's settings in c as plain values, by field
// name: every number, duration, flag and string it holds, less the node's
// name and what is not a setting (delegates, the transport, the logger,
// keys). Two nodes that should behave alike compare these.
func Settings(c *memberlist.Config) map[string]any {
	out := map[string]any{}
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() || f.Name == "Name" {
			continue
		}
		switch fv := v.Field(i); fv.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64, reflect.String:
			out[f.Name] = fv.Interface()
		}
	}
	return out
}
