// Package history is what happened in a case, in one time-ordered list:
// every action the scenario took on a cluster (start, stop, kill, restart,
// partition, block, set_link, pause, resume, slow_rpc, heal, op) and every
// observation a node made and pushed to the runner (join, leave, fail,
// mode, horde_claim, horde_release).
//
// Its parts:
//
//   - Record: one entry; t is seconds since the case started, on the
//     case's clock (time.Now, which a virtual-time case makes virtual).
//     It marshals to one flat JSON object, the line format of
//     history.jsonl.
//   - Recorder: the case's history as it is being made, safe for the
//     cluster's goroutines to add to while the scenario reads it.
//   - Check: the three checks run over a cluster's history (a failure no
//     fault explains, views that still differ after the last heal, a
//     horde name held twice after reconvergence), as Findings.
//
// The timeline page is drawn from the same records by history/timeline.
package history

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Record kinds. Actions are recorded by the runner; observations are the
// nodes' own, declared where the engine makes them (package observe).
const (
	// Actions.
	KindClusterStart = "cluster_start" // fields: backend, profile, nodes, bound (seconds); attached for a cluster found running
	KindStart        = "start"
	KindStop         = "stop"
	KindKill         = "kill"  // fields: teardown (true when the case's end killed it)
	KindCrash        = "crash" // a real node's process ended on its own; fields: exit (how: "exit status 2", "signal: segmentation fault")
	KindRestart      = "restart"
	KindPartition    = "partition" // fields: groups
	KindBlock        = "block"     // node blocked from sending to peer
	KindSetLink      = "set_link"  // node, peer; fields: latency, jitter (seconds), loss
	KindPause        = "pause"
	KindResume       = "resume"
	KindSlowRPC      = "slow_rpc"
	KindSkewClock    = "skew_clock" // fields: offset (seconds, signed)
	KindHeal         = "heal"
	KindOp           = "op" // fields: op, params, result or error and code, duration (seconds); a workload's call also client and type (ok, fail or info)
	// Observations, pushed by the nodes, keep the engine's kinds
	// (observe.KindJoin, KindLeave, KindFail, KindMode, KindHordeClaim,
	// KindHordeRelease).
	// KindLost marks observations a node dropped before the runner read
	// them (its journal is bounded); field: count.
	KindLost = "observations_lost"
	// KindFailure is the failed assertion or error that ended a case;
	// fields: pos (file:line:col), message.
	KindFailure = "failure"
)

// FieldTeardown marks the kills of a case's end: what follows them is its
// teardown, not its scenario.
const FieldTeardown = "teardown"

// Record is one entry of a history.
type Record struct {
	// T is seconds since the case started.
	T float64
	// Kind is what it was (see the Kind constants).
	Kind string
	// Node is the node that acted or observed, where one applies.
	Node string
	// Peer is the other node, where one applies.
	Peer string
	// Cluster names the node's cluster.
	Cluster string
	// Fields hold the rest, as JSON values (string, float64, bool, nil,
	// []any, map[string]any).
	Fields map[string]any
}

// String returns the record as its JSON line.
func (r Record) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// Str returns the string field key, or "".
func (r Record) Str(key string) string {
	s, _ := r.Fields[key].(string)
	return s
}

// Num returns the number field key, or 0.
func (r Record) Num(key string) float64 {
	f, _ := r.Fields[key].(float64)
	return f
}

// Groups returns a partition record's groups of node names.
func (r Record) Groups() [][]string {
	gs, _ := r.Fields["groups"].([]any)
	var out [][]string
	for _, g := range gs {
		names, _ := g.([]any)
		var group []string
		for _, n := range names {
			if s, ok := n.(string); ok {
				group = append(group, s)
			}
		}
		out = append(out, group)
	}
	return out
}

// MarshalJSON writes one flat object: t, kind, cluster, node, peer, then
// the fields in key order.
func (r Record) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"t":`)
	b.WriteString(formatT(r.T))
	put := func(k string, v any) error {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("history: field %s: %w", k, err)
		}
		b.WriteByte(',')
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
		return nil
	}
	_ = put("kind", r.Kind)
	for _, kv := range [][2]string{{"cluster", r.Cluster}, {"node", r.Node}, {"peer", r.Peer}} {
		if kv[1] != "" {
			_ = put(kv[0], kv[1])
		}
	}
	keys := make([]string, 0, len(r.Fields))
	for k := range r.Fields {
		if !reserved[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := put(k, r.Fields[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

var reserved = map[string]bool{"t": true, "kind": true, "cluster": true, "node": true, "peer": true}

// formatT writes seconds with microsecond precision.
func formatT(t float64) string {
	if math.IsNaN(t) || math.IsInf(t, 0) {
		return "0"
	}
	return fmt.Sprintf("%.6f", t)
}

// UnmarshalJSON reads a flat object written by MarshalJSON.
func (r *Record) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*r = Record{}
	r.T, _ = m["t"].(float64)
	r.Kind, _ = m["kind"].(string)
	r.Cluster, _ = m["cluster"].(string)
	r.Node, _ = m["node"].(string)
	r.Peer, _ = m["peer"].(string)
	if r.Kind == "" {
		return fmt.Errorf("history record without a kind: %s", b)
	}
	for k, v := range m {
		if !reserved[k] {
			if r.Fields == nil {
				r.Fields = map[string]any{}
			}
			r.Fields[k] = v
		}
	}
	return nil
}

// Seconds is a duration as the history writes it.
func Seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1e6) / 1e6 }

// MaxKeptValue bounds a value an op record keeps whole: a parameter, a
// result. A bigger one is kept as its size, digest and beginning (Kept),
// so that a scenario sending megabytes does not make the history as big.
const MaxKeptValue = 4 << 10

// Kept returns what an op record keeps of a value whose JSON is b: the
// JSON itself up to MaxKeptValue bytes, else a string giving its size,
// the beginning of its SHA-256 (two equal values have equal digests) and
// its first bytes, such as `(1048576 bytes, sha256 3f9a0c…, starting
// "xxxx…")`.
func Kept(b []byte) any {
	if len(b) <= MaxKeptValue {
		return json.RawMessage(b)
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("(%d bytes, sha256 %x, starting %q)", len(b), sum[:8], strings.ToValidUTF8(string(b[:64]), ""))
}
