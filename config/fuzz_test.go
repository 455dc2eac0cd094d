package config

import (
	"strings"
	"testing"
)

// FuzzParse: any bytes parse into a configuration whose profiles are
// valid, or fail with an error naming the file; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("run:\n  backend: sim\n  parallel: 2\n  timeout: 60s\nprofiles:\n  slow-ci: {gossip_interval: 50ms, probe_interval: 200ms, probe_timeout: 100ms, suspicion_mult: 3}\ntopologies:\n  smoke: {nodes: 3, backend: real, profile: test, cookie_env: SMOKE_COOKIE}\n"))
	f.Add([]byte("profiles:\n  lan: {rejoin_interval: 2s}\n  p: {base: wan, gossip_nodes: 5}\n"))
	f.Add([]byte("run: [1, 2]\n"))
	f.Add([]byte("run:\n  parallel: 2\n  parallel: 3\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for name, p := range cfg.Profiles {
			if err := p.Validate(); err != nil {
				t.Fatalf("accepted an invalid profile %s: %v", name, err)
			}
		}
	})
}
