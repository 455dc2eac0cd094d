package register

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

// The register's error codes. NoQuorum is definite: the operation wrote
// nothing (a read's write-back only spreads a value some write already
// stored). PartialWrite is not: the value reached fewer replicas than it
// needed, and a later read may or may not see it, so a workload records
// the write as indeterminate.
const (
	NoQuorum     = "no_quorum"
	PartialWrite = "partial_write"
)

// Ops returns the register's operations.
func Ops() []arsenal.Op {
	key := arsenal.ParamSpec{Name: "key", Type: "string", Required: true, Doc: "the key"}
	acks := arsenal.ParamSpec{Name: "acks", Type: "string", Default: "quorum", Allowed: []string{"quorum", "one"},
		Doc: `replicas each phase needs: "quorum" (a majority: linearizable) or "one" (wrong on purpose: a majority that never saw a write can answer a later read)`}
	cell := []arsenal.ResultField{
		{Name: "value", Type: "any", Doc: "the value (None: never written, as far as the replicas asked know)"},
		{Name: "n", Type: "int", Doc: "the counter of the tag that wrote it (0: never written)"},
		{Name: "writer", Type: "string", Doc: "the unique name of the write that wrote it"},
		{Name: "replicas", Type: "list[string]", Doc: "the replicas that stored it, this call's write or a higher one"},
	}
	return []arsenal.Op{
		{Spec: arsenal.OpSpec{
			Name:     "reg_write",
			Summary:  "write a value to a key: read a majority's tags, then store the value under the next tag at a majority of replicas (acks=\"one\": one replica each time)",
			Params:   []arsenal.ParamSpec{key, {Name: "value", Type: "any", Required: true, Doc: "the value: any JSON value"}, acks},
			Results:  cell,
			Definite: []string{NoQuorum},
		}, Run: opWrite},
		{Spec: arsenal.OpSpec{
			Name:     "reg_read",
			Summary:  "read a key: the value with the highest tag among a majority of replicas, written back to a majority before it is returned (acks=\"one\": one replica each time)",
			Params:   []arsenal.ParamSpec{key, acks},
			Results:  cell,
			Definite: []string{NoQuorum},
		}, Run: opRead},
	}
}

// round is a quorum operation's view: the members it asks, how many
// members it counts, and whether one reply is enough (acks="one").
type round struct {
	targets []membership.Member
	members int
	one     bool
}

// plan returns the operation's round. It counts the members this node
// knows, down ones included, or the most it has seen alive at once;
// every reply raises that to the most its replica has been told of,
// which its data directory keeps. So a node restarted on the minority
// side of a partition, which knows only the members there, still needs
// a majority of the whole cluster.
func plan(c *arsenal.Call) (round, error) {
	targets, err := c.Targets("")
	if err != nil {
		return round{}, err
	}
	return round{targets: targets, members: max(len(targets), c.Host().State().Expected()), one: c.Args.String("acks") == "one"}, nil
}

// need is how many replies a phase needs.
func (r round) need() int {
	if r.one {
		return 1
	}
	return r.members/2 + 1
}

// phase is one round trip: every member asked at once, and the replies
// that came.
type phase struct {
	name    string
	replies map[string]Cell
	failed  map[string]string
}

// ask sends msg (its "members" filled in) to every member's replica.
func (r *round) ask(ctx context.Context, c *arsenal.Call, name string, msg map[string]any) phase {
	msg["members"] = r.members
	p := phase{name: name, replies: map[string]Cell{}, failed: map[string]string{}}
	for node, a := range arsenal.MultiCall[reply](ctx, c, r.targets, ReplicaKind, msg) {
		if a.Err != nil {
			p.failed[node] = a.Err.Message
			continue
		}
		p.replies[node] = a.Value.Cell
		r.members = max(r.members, a.Value.Members)
	}
	return p
}

// check fails with code unless at least need replicas answered.
func (p phase) check(r round, code string) error {
	if len(p.replies) >= r.need() {
		return nil
	}
	return errcode.Errorf(code, "%s: %d of %d replicas answered, %d needed; %v", p.name, len(p.replies), r.members, r.need(), p.failed)
}

// highest is the cell with the highest tag among the replies.
func (p phase) highest() Cell {
	var best Cell
	for _, cell := range p.replies {
		if best.Tag.Less(cell.Tag) {
			best = cell
		}
	}
	return best
}

// store writes cell under key to every member and answers it with the
// replicas that hold it (or a higher tag) now.
func (r *round) store(ctx context.Context, c *arsenal.Call, key string, cell Cell, code string) (any, error) {
	p := r.ask(ctx, c, "store", map[string]any{"set": setReq{Key: key, Value: cell.Value, Tag: cell.Tag}})
	stored := []string{}
	for node, got := range p.replies {
		if !got.Tag.Less(cell.Tag) {
			stored = append(stored, node)
		}
	}
	if len(stored) < r.need() {
		return nil, errcode.Errorf(code, "store: %d of %d replicas stored tag %d/%s, %d needed; %v", len(stored), r.members, cell.N, cell.Writer, r.need(), p.failed)
	}
	sort.Strings(stored)
	return map[string]any{"value": cell.Value, "n": cell.N, "writer": cell.Writer, "replicas": stored}, nil
}

func opWrite(ctx context.Context, c *arsenal.Call) (any, error) {
	r, err := plan(c)
	if err != nil {
		return nil, err
	}
	key := c.Args.String("key")
	tags := r.ask(ctx, c, "read tags", map[string]any{"get": key})
	if err := tags.check(r, NoQuorum); err != nil {
		return nil, err
	}
	// The writer's name makes the tag unique, even for two writes this
	// node runs at once.
	tag := Tag{N: tags.highest().N + 1, Writer: fmt.Sprintf("%s.%016x", c.Host().Name(), rand.Uint64())}
	return r.store(ctx, c, key, Cell{Value: c.Args["value"], Tag: tag}, PartialWrite)
}

func opRead(ctx context.Context, c *arsenal.Call) (any, error) {
	r, err := plan(c)
	if err != nil {
		return nil, err
	}
	key := c.Args.String("key")
	seen := r.ask(ctx, c, "read", map[string]any{"get": key})
	if err := seen.check(r, NoQuorum); err != nil {
		return nil, err
	}
	best := seen.highest()
	if best.N == 0 {
		return map[string]any{"value": nil, "n": 0, "writer": "", "replicas": []string{}}, nil
	}
	// Written back to a majority, the value is one no later read can miss.
	return r.store(ctx, c, key, best, NoQuorum)
}
