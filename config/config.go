// Package config reads clusterscript.yaml strictly: every key
// is known, every value is checked, and an error names the file, the line
// and the key's dotted path:
//
//	clusterscript.yaml:7: profiles.slow-ci.gosip_interval: unknown key
//
// The file has three sections, each optional:
//
//	run:         defaults for `clusterscript run` (backend, parallel, timeout);
//	             flags given on the command line win.
//	profiles:    gossip timing profiles. A profile named like a built-in one
//	             (test, local, lan, wan) overrides the keys it sets; another
//	             name adds a profile, based on `base` (default "test").
//	             Keys are the yaml names of membership.Profile's fields:
//	             gossip_interval, gossip_nodes, probe_interval, probe_timeout,
//	             suspicion_mult, push_pull_interval, gossip_to_the_dead_time,
//	             rejoin_interval, tcp_timeout, scale_above.
//	topologies:  named clusters for cluster.start(topology=NAME): nodes,
//	             backend, profile, cookie_env (the environment variable
//	             holding the cookie; cluster.start fails when it is unset),
//	             agent (the executable its real nodes run, a program built on
//	             the engine; relative to the file's directory; implies
//	             backend real), hosts (an inventory: real nodes go on
//	             its hosts) and faults (engine or kernel).
//	hosts:       inventories of machines reached over SSH, by name: user,
//	             identity (a private key), known_hosts (host keys are
//	             always checked) and addrs (addr or addr:port, the
//	             address agents bind to). Paths are relative to the
//	             file's directory; ~/ is the home directory.
//
// The command line reads ./clusterscript.yaml (the working directory's)
// when present, or the file --config names.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/hosts"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

// DefaultFile is the configuration read when present and none is named.
const DefaultFile = "clusterscript.yaml"

// Config is a parsed configuration file.
type Config struct {
	// Run holds the defaults for `clusterscript run`.
	Run Run
	// Profiles are the gossip profiles the file overrides or adds, by name.
	Profiles map[string]membership.Profile
	// Topologies are the named clusters, by name.
	Topologies map[string]cluster.Topology
	// Hosts are the inventories of machines reached over SSH, by name.
	Hosts map[string]hosts.Inventory
}

// Run holds defaults for `clusterscript run`. Zero values are unset.
type Run struct {
	// Backends are the backends every file runs on, in order.
	Backends []cluster.Backend
	// Parallel is how many files run at once.
	Parallel int
	// Timeout bounds each case.
	Timeout time.Duration
	// Clock is "virtual" or "real": the clock simulated cases run on.
	Clock string
}

// Error is one problem in the file, at a line.
type Error struct {
	File string
	Line int
	// Key is the dotted path of the offending key ("profiles.slow-ci.probe_timeout").
	Key string
	Msg string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
}

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse parses a configuration. name is used in error messages. Every
// problem found is reported (errors.Join of *Error), not only the first.
func Parse(name string, data []byte) (*Config, error) {
	cfg := &Config{Profiles: map[string]membership.Profile{}, Topologies: map[string]cluster.Topology{}, Hosts: map[string]hosts.Inventory{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(name, err)
	}
	if len(doc.Content) == 0 {
		return cfg, nil // empty file
	}
	p := &parser{file: name}
	root := doc.Content[0]
	p.mapping(root, "", func(key string, k, v *yaml.Node) {
		switch key {
		case "run":
			p.run(v, &cfg.Run)
		case "profiles":
			p.profiles(v, cfg)
		case "topologies":
			p.topologies(v, cfg)
		case "hosts":
			p.hosts(v, cfg)
		default:
			p.errorf(k, key, "unknown key (want run, profiles, topologies or hosts)")
		}
	})
	// Topologies may name inventories defined later in the file.
	for _, t := range p.topoHosts {
		if _, ok := cfg.Hosts[t.profile]; !ok {
			p.errorf(t.node, t.key, "unknown inventory %q (define it under hosts)", t.profile)
		}
	}
	// Topologies may name profiles defined later in the file.
	for _, t := range p.topoProfiles {
		if p.named[t.profile] {
			continue // defined; its own errors are reported already
		}
		if _, err := membership.LookupProfile(t.profile); err != nil {
			p.errorf(t.node, t.key, "unknown profile %q (built-in: %s; or define it under profiles)", t.profile, strings.Join(membership.ProfileNames(), ", "))
		}
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return cfg, nil
}

// yamlLine matches yaml's syntax errors, compiled on first use.
var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// syntaxError turns yaml's "yaml: line 3: ..." into "file:3: ...".
func syntaxError(name string, err error) error {
	if m := yamlLine().FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: "malformed YAML: " + m[2]}
	}
	return fmt.Errorf("%s: malformed YAML: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
}

type topoProfile struct {
	node    *yaml.Node
	key     string
	profile string
}

type parser struct {
	file         string
	errs         []error
	topoProfiles []topoProfile
	topoHosts    []topoProfile   // topologies' hosts:, checked once the file is read
	named        map[string]bool // profiles the file defines, valid or not
}

func (p *parser) errorf(n *yaml.Node, key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping calls f for each key of a mapping node, with the key's dotted
// path; a non-mapping or a duplicate key is an error.
func (p *parser) mapping(n *yaml.Node, path string, f func(key string, k, v *yaml.Node)) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "run:" with nothing under it
	}
	if n.Kind != yaml.MappingNode {
		p.errs = append(p.errs, &Error{File: p.file, Line: n.Line, Key: path, Msg: fmt.Sprintf("want a mapping of keys to values, got %s", kind(n))})
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, path, "keys must be plain names")
			continue
		}
		full := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			p.errorf(k, full, "duplicate key (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		f(k.Value, k, v)
	}
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

func (p *parser) scalar(n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, key, "want a value, got %s", kind(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) str(n *yaml.Node, key string) (string, bool) {
	s, ok := p.scalar(n, key)
	if ok && n.Tag != "!!str" {
		p.errorf(n, key, "want a string, got %s", kind(n))
		return "", false
	}
	return s, ok
}

func (p *parser) integer(n *yaml.Node, key string, min, max int) (int, bool) {
	s, ok := p.scalar(n, key)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || n.Tag != "!!int" {
		p.errorf(n, key, "want a whole number, got %s", kind(n))
		return 0, false
	}
	if i < min || i > max {
		p.errorf(n, key, "want a number from %d to %d, got %d", min, max, i)
		return 0, false
	}
	return i, true
}

func (p *parser) duration(n *yaml.Node, key string) (time.Duration, bool) {
	s, ok := p.scalar(n, key)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errorf(n, key, "not a duration: %s (write e.g. 150ms, 5s, 2m)", kind(n))
		return 0, false
	}
	if d <= 0 {
		p.errorf(n, key, "must be positive, got %s", s)
		return 0, false
	}
	return d, true
}

func (p *parser) backend(n *yaml.Node, key string) (cluster.Backend, bool) {
	s, ok := p.str(n, key)
	if !ok {
		return "", false
	}
	b, err := cluster.ParseBackend(s)
	if err != nil {
		p.errorf(n, key, "%v", err)
		return "", false
	}
	return b, true
}

func (p *parser) backends(n *yaml.Node, key string) ([]cluster.Backend, bool) {
	s, ok := p.str(n, key)
	if !ok {
		return nil, false
	}
	bs, err := cluster.ParseBackends(s)
	if err != nil {
		p.errorf(n, key, "%v", err)
		return nil, false
	}
	return bs, true
}

func (p *parser) run(n *yaml.Node, r *Run) {
	p.mapping(n, "run", func(key string, k, v *yaml.Node) {
		full := "run." + key
		switch key {
		case "backend":
			r.Backends, _ = p.backends(v, full)
		case "parallel":
			r.Parallel, _ = p.integer(v, full, 1, 1024)
		case "timeout":
			r.Timeout, _ = p.duration(v, full)
		case "clock":
			if v.Kind != yaml.ScalarNode || (v.Value != "virtual" && v.Value != "real") {
				p.errorf(v, full, "want virtual or real, got %q", v.Value)
				return
			}
			r.Clock = v.Value
		default:
			p.errorf(k, full, "unknown key (want backend, parallel, timeout or clock)")
		}
	})
}

// profileFields maps yaml keys to membership.Profile's fields, from its tags.
func profileFields() map[string]int {
	t := reflect.TypeFor[membership.Profile]()
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if f.IsExported() && tag != "" && tag != "-" {
			out[tag] = i
		}
	}
	return out
}

func (p *parser) profiles(n *yaml.Node, cfg *Config) {
	fields := profileFields()
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p.named = map[string]bool{}
	p.mapping(n, "profiles", func(name string, k, v *yaml.Node) {
		p.named[name] = true
		path := "profiles." + name
		var over membership.Profile
		over.Name = name
		base := name
		if _, err := membership.LookupProfile(name); err != nil {
			base = "test"
		}
		ok := true
		rv := reflect.ValueOf(&over).Elem()
		p.mapping(v, path, func(key string, kk, vv *yaml.Node) {
			full := path + "." + key
			if key == "base" {
				if b, good := p.str(vv, full); good {
					if _, err := membership.LookupProfile(b); err != nil {
						p.errorf(vv, full, "unknown built-in profile %q (want one of %s)", b, strings.Join(membership.ProfileNames(), ", "))
						ok = false
					}
					base = b
				}
				return
			}
			i, known := fields[key]
			if !known {
				p.errorf(kk, full, "unknown key (want base, %s)", strings.Join(keys, ", "))
				ok = false
				return
			}
			f := rv.Field(i)
			switch f.Interface().(type) {
			case time.Duration:
				d, good := p.duration(vv, full)
				ok = ok && good
				f.SetInt(int64(d))
			case int:
				x, good := p.integer(vv, full, 1, 1<<20)
				ok = ok && good
				f.SetInt(int64(x))
			}
		})
		if !ok {
			return
		}
		b, err := membership.LookupProfile(base)
		if err != nil {
			return
		}
		prof := b.Override(over)
		if err := prof.Validate(); err != nil {
			p.errorf(k, path, "%v", err)
			return
		}
		cfg.Profiles[name] = prof
	})
}

func (p *parser) topologies(n *yaml.Node, cfg *Config) {
	p.mapping(n, "topologies", func(name string, k, v *yaml.Node) {
		path := "topologies." + name
		var t cluster.Topology
		var agentNode *yaml.Node
		p.mapping(v, path, func(key string, kk, vv *yaml.Node) {
			full := path + "." + key
			switch key {
			case "nodes":
				t.Nodes, _ = p.integer(vv, full, 1, 2000)
			case "backend":
				t.Backend, _ = p.backend(vv, full)
			case "profile":
				if s, ok := p.str(vv, full); ok {
					t.Profile = s
					p.topoProfiles = append(p.topoProfiles, topoProfile{vv, full, s})
				}
			case "cookie_env":
				if s, ok := p.str(vv, full); ok {
					if !envName().MatchString(s) {
						p.errorf(vv, full, "want an environment variable name such as SMOKE_COOKIE, got %q", s)
					}
					t.CookieEnv = s
				}
			case "agent":
				if s, ok := p.str(vv, full); ok {
					if !filepath.IsAbs(s) && strings.ContainsRune(s, filepath.Separator) {
						s = filepath.Join(filepath.Dir(p.file), s)
					}
					t.Agent = s
					agentNode = vv
				}
			case "hosts":
				if s, ok := p.str(vv, full); ok {
					t.Hosts = s
					p.topoHosts = append(p.topoHosts, topoProfile{vv, full, s})
				}
			case "faults":
				if s, ok := p.str(vv, full); ok {
					if s != cluster.FaultsEngine && s != cluster.FaultsKernel {
						p.errorf(vv, full, "want %s or %s, got %q", cluster.FaultsEngine, cluster.FaultsKernel, s)
					}
					t.Faults = s
				}
			default:
				p.errorf(kk, full, "unknown key (want nodes, backend, profile, cookie_env, agent, hosts or faults)")
			}
		})
		if b, err := cluster.BackendFor(t.Backend, t.Agent); err != nil {
			p.errorf(agentNode, path+".agent", "%v", err)
		} else {
			t.Backend = b
		}
		cfg.Topologies[name] = t
	})
}

func (p *parser) hosts(n *yaml.Node, cfg *Config) {
	p.mapping(n, "hosts", func(name string, k, v *yaml.Node) {
		path := "hosts." + name
		inv := hosts.Inventory{Name: name}
		ok := true
		p.mapping(v, path, func(key string, kk, vv *yaml.Node) {
			full := path + "." + key
			switch key {
			case "user":
				inv.User, _ = p.str(vv, full)
			case "identity", "known_hosts":
				s, good := p.str(vv, full)
				if !good {
					ok = false
					return
				}
				if !filepath.IsAbs(s) && !strings.HasPrefix(s, "~") {
					s = filepath.Join(filepath.Dir(p.file), s)
				}
				if key == "identity" {
					inv.Identity = s
				} else {
					inv.KnownHosts = s
				}
			case "addrs":
				if vv.Kind != yaml.SequenceNode {
					p.errorf(vv, full, "want a list of addresses, got %s", kind(vv))
					ok = false
					return
				}
				for _, a := range vv.Content {
					if s, good := p.str(a, full); good {
						inv.Addrs = append(inv.Addrs, s)
					} else {
						ok = false
					}
				}
			default:
				p.errorf(kk, full, "unknown key (want user, identity, known_hosts or addrs)")
				ok = false
			}
		})
		if !ok {
			return
		}
		if err := inv.Validate(); err != nil {
			p.errorf(k, path, "%v", strings.TrimPrefix(err.Error(), "hosts "+name+": "))
			return
		}
		cfg.Hosts[name] = inv
	})
}

// envName matches environment variable names, compiled on first use.
var envName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
