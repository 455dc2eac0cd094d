package cluster_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/config"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

// A real agent and a simulated node started with the same profile run
// identical memberlist settings: every built-in profile and one from a
// configuration file.
func TestRealAndSimRunTheSameGossipSettings(t *testing.T) {
	cfg, err := config.Parse("parity.yaml", []byte("profiles:\n  slow-ci: {base: lan, gossip_interval: 50ms, probe_interval: 400ms, probe_timeout: 100ms, suspicion_mult: 3}\n  lan: {rejoin_interval: 2s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	profiles := map[string]membership.Profile{}
	for _, name := range membership.ProfileNames() {
		if profiles[name], err = membership.LookupProfile(name); err != nil {
			t.Fatal(err)
		}
	}
	profiles["yaml slow-ci"] = cfg.Profiles["slow-ci"]
	profiles["yaml lan"] = cfg.Profiles["lan"]
	for _, name := range slices.Sorted(maps.Keys(profiles)) {
		t.Run(name, func(t *testing.T) {
			settings := map[string]map[string]any{}
			for backend, l := range map[string]cluster.Launcher{"sim": cluster.NewSimLauncher(nil), "real": &cluster.AgentLauncher{Binary: binary}} {
				c, err := cluster.Start(context.Background(), l, cluster.Options{Profile: profiles[name], Nodes: []string{"n1", "n2"}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Kill(context.Background()) })
				n1, _ := c.Node("n1")
				ctl, err := n1.Control()
				if err != nil {
					t.Fatal(err)
				}
				s, err := ctl.GossipSettings(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				settings[backend] = s
			}
			sim, real := settings["sim"], settings["real"]
			if len(sim) < 20 {
				t.Fatalf("only %d settings reported: %v", len(sim), sim)
			}
			for _, k := range slices.Sorted(maps.Keys(sim)) {
				if fmt.Sprint(sim[k]) != fmt.Sprint(real[k]) {
					t.Errorf("%s: sim %v, real %v", k, sim[k], real[k])
				}
			}
			if len(real) != len(sim) {
				t.Errorf("real reports %d settings, sim %d", len(real), len(sim))
			}
		})
	}
}
