package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const good = `run:            # defaults for clusterscript run
  backend: sim
  parallel: 2
  timeout: 60s
profiles:
  slow-ci: {gossip_interval: 50ms, probe_interval: 200ms, probe_timeout: 100ms, suspicion_mult: 3}
  lan:
    probe_timeout: 400ms
topologies:
  smoke: {nodes: 3, backend: real, profile: test, cookie_env: SMOKE_COOKIE}
  slow: {nodes: 2, profile: slow-ci}
`

func TestParseSpecExample(t *testing.T) {
	cfg, err := Parse("clusterscript.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cfg.Run.Backends) != "[sim]" || cfg.Run.Parallel != 2 || cfg.Run.Timeout != time.Minute {
		t.Errorf("run = %+v", cfg.Run)
	}
	p := cfg.Profiles["slow-ci"]
	if p.Name != "slow-ci" || p.GossipInterval != 50*time.Millisecond || p.SuspicionMult != 3 || p.GossipNodes == 0 {
		t.Errorf("slow-ci = %+v (unset keys come from the test profile)", p)
	}
	if lan := cfg.Profiles["lan"]; lan.ProbeTimeout != 400*time.Millisecond || lan.ProbeInterval != time.Second {
		t.Errorf("lan override = %+v", lan)
	}
	if s := cfg.Topologies["smoke"]; s.Nodes != 3 || s.Backend != "real" || s.Profile != "test" || s.CookieEnv != "SMOKE_COOKIE" {
		t.Errorf("smoke = %+v", s)
	}
}

func TestTopologyAgent(t *testing.T) {
	cfg, err := Parse("ci/clusterscript.yaml", []byte("topologies:\n  lease: {nodes: 3, agent: ../bin/leased}\n  abs: {agent: /opt/leased}\n  path: {agent: leased}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"lease": "bin/leased", "abs": "/opt/leased", "path": "leased"} {
		top := cfg.Topologies[name]
		if top.Agent != want || top.Backend != "real" {
			t.Errorf("%s = %+v, want agent %s (relative to the file, $PATH for a bare name) on backend real", name, top, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"misspelt profile key", "profiles:\n  slow-ci:\n    gosip_interval: 50ms\n", "x.yaml:3: profiles.slow-ci.gosip_interval: unknown key"},
		{"misspelt section", "run:\n  backend: sim\ntopology:\n  a: {nodes: 1}\n", "x.yaml:3: topology: unknown key"},
		{"misspelt run key", "run:\n  paralel: 2\n", "x.yaml:2: run.paralel: unknown key"},
		{"bad duration", "run:\n  timeout: soon\n", `x.yaml:2: run.timeout: not a duration: "soon"`},
		{"bare number duration", "profiles:\n  p:\n    probe_interval: 200\n", `x.yaml:3: profiles.p.probe_interval: not a duration: "200"`},
		{"negative duration", "run:\n  timeout: -1s\n", "x.yaml:2: run.timeout: must be positive"},
		{"bad backend", "run:\n  backend: docker\n", `x.yaml:2: run.backend: want sim, real`},
		{"bad parallel", "run:\n  parallel: many\n", `x.yaml:2: run.parallel: want a whole number, got "many"`},
		{"zero nodes", "topologies:\n  t:\n    nodes: 0\n", "x.yaml:3: topologies.t.nodes: want a number from 1 to 2000"},
		{"unknown profile", "topologies:\n  t:\n    profile: fast\n", `x.yaml:3: topologies.t.profile: unknown profile "fast"`},
		{"invalid profile", "profiles:\n  p: {probe_interval: 100ms, probe_timeout: 200ms}\n", "x.yaml:2: profiles.p: probe_timeout must be less than probe_interval, got 200ms and 100ms"},
		{"non-positive rejoin", "profiles:\n  p:\n    rejoin_interval: -1s\n", "x.yaml:3: profiles.p.rejoin_interval: must be positive, got -1s"},
		{"huge gossip fan-out", "profiles:\n  p: {gossip_nodes: 5000}\n", "x.yaml:2: profiles.p: gossip_nodes must be from 1 to 1000, got 5000"},
		{"huge interval", "profiles:\n  lan: {rejoin_interval: 100000h}\n", "x.yaml:2: profiles.lan: rejoin_interval must be positive and at most 24h0m0s, got 100000h0m0s"},
		{"duplicate key", "run:\n  parallel: 2\n  parallel: 3\n", "x.yaml:3: run.parallel: duplicate key (first at line 2)"},
		{"not a mapping", "run: [1, 2]\n", "x.yaml:1: run: want a mapping"},
		{"bad cookie_env", "topologies:\n  t: {cookie_env: \"a b\"}\n", "x.yaml:2: topologies.t.cookie_env: want an environment variable name"},
		{"malformed", "run:\n  backend: [sim\n", "x.yaml:"},
		{"agent on sim", "topologies:\n  t: {backend: sim,\n      agent: ./bin/leased}\n", "x.yaml:3: topologies.t.agent: agent bin/leased runs real nodes, but the backend is sim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestEveryErrorReported(t *testing.T) {
	_, err := Parse("x.yaml", []byte("run:\n  paralel: 2\n  timeout: soon\n"))
	if err == nil || !strings.Contains(err.Error(), "x.yaml:2:") || !strings.Contains(err.Error(), "x.yaml:3:") {
		t.Fatalf("want both errors, got %v", err)
	}
}

func TestEmpty(t *testing.T) {
	if _, err := Parse("x.yaml", nil); err != nil {
		t.Fatal(err)
	}
}

// A broken profile is reported once: the topology that names it gets no
// second, follow-on error saying the profile does not exist.
func TestNoFollowOnErrorForABrokenProfile(t *testing.T) {
	_, err := Parse("x.yaml", []byte("profiles:\n  slow-ci: {gosip_interval: 50ms}\ntopologies:\n  smoke: {nodes: 3, profile: slow-ci}\n"))
	if err == nil {
		t.Fatal("accepted a misspelt key")
	}
	if got := err.Error(); got != "x.yaml:2: profiles.slow-ci.gosip_interval: unknown key (want base, gossip_interval, gossip_nodes, gossip_to_the_dead_time, probe_interval, probe_timeout, push_pull_interval, rejoin_interval, scale_above, suspicion_mult, tcp_timeout)" {
		t.Fatalf("got:\n%s", got)
	}
}
