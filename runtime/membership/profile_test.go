package membership

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The figures memberlist v0.7 computes (suspicionTimeout in its util.go)
// for the built-in profiles.
func TestSuspicionAndDetectionTimes(t *testing.T) {
	for _, tc := range []struct {
		profile     string
		n           int
		suspicion   time.Duration
		best, worst time.Duration
	}{
		// 2 × 1 × 80ms; 80ms + 160ms; 2 × 80ms + 240ms + 20ms.
		{"test", 3, 160 * time.Millisecond, 240 * time.Millisecond, 420 * time.Millisecond},
		// log10(100) = 2 doubles it.
		{"test", 100, 320 * time.Millisecond, 400 * time.Millisecond, 99*80*time.Millisecond + 420*time.Millisecond},
		// 4 × 1 × 1s; 1s + 4s; 2s + 5s + 200ms.
		{"lan", 3, 4 * time.Second, 5 * time.Second, 7200 * time.Millisecond},
		// 6 × 1 × 5s.
		{"wan", 3, 30 * time.Second, 35 * time.Second, 45500 * time.Millisecond},
	} {
		p, err := LookupProfile(tc.profile)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.SuspicionTimeout(tc.n); got != tc.suspicion {
			t.Errorf("%s, %d nodes: suspicion %s, want %s", tc.profile, tc.n, got, tc.suspicion)
		}
		if best, worst := p.DetectionTime(tc.n); best != tc.best || worst != tc.worst {
			t.Errorf("%s, %d nodes: detection %s..%s, want %s..%s", tc.profile, tc.n, best, worst, tc.best, tc.worst)
		}
	}
}

// The JSON the runner hands an agent rebuilds the profile exactly, for a
// big cluster too (its size sizes memberlist's queues): the agent runs
// the memberlist settings the runner's profile makes.
func TestProfileSurvivesJSON(t *testing.T) {
	for _, name := range ProfileNames() {
		for _, size := range []int{3, 200} {
			p, err := LookupProfile(name)
			if err != nil {
				t.Fatal(err)
			}
			p = p.ForSize(size)
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			q, err := ProfileFromJSON(b)
			if err != nil {
				t.Fatalf("%s/%d: %v", name, size, err)
			}
			want, got := Settings(p.MemberlistConfig("n1", nil)), Settings(q.MemberlistConfig("n1", nil))
			for k, v := range want {
				if fmt.Sprint(got[k]) != fmt.Sprint(v) {
					t.Errorf("%s/%d: %s = %v after JSON, want %v", name, size, k, got[k], v)
				}
			}
		}
	}
	for in, want := range map[string]string{
		`{"name":"x","gossip_intervall":1}`: `unknown field "gossip_intervall"`,
		`{"name":"x"}`:                      "gossip_interval must be positive",
		`[1]`:                               "cannot unmarshal array",
	} {
		if _, err := ProfileFromJSON([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
	lan, _ := LookupProfile("lan")
	lan.Base = "moon"
	if err := lan.Validate(); err == nil {
		t.Error("an unknown base was accepted")
	}
}
