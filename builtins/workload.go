package builtins

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/history/consistency"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// maxRecords bounds a workload's history: a run that makes more calls
// than this stops with an error rather than fill the runner's memory.
const maxRecords = 1 << 20

// The workload module: Jepsen's loop. Clients call a service at once, on
// threads of their own, while a nemesis makes faults; every call is an
// invoke and a completion in the run's history, which the check module
// then judges.

// maxClients bounds workload.run(clients=).
const maxClients = 1000

func workloadDocs(ops []arsenal.OpSpec) []Doc {
	return declare([]Doc{
		{Module: "workload", Name: "run", Signature: `workload.run(c, client, clients=5, duration="30s", nemesis=None, seed=None, settle="5s", stagger="10ms")`, Summary: "Run clients copies of client(w) at once, each on a thread of its own (a client that returns is called again; the client and what it captures are frozen), until duration has passed on the case's clock, each call waiting a random 0 to 2 × stagger first (so clients interleave, and virtual time moves), while nemesis makes faults; then stop the nemesis, heal every fault it made (restart what it killed, resume what it paused), wait settle, and return the history: a list of {t, client, node, type: invoke|ok|fail|info, op, params, result, error} and {t, type: \"nemesis\", kind, targets}, in time order. Each call is also in c.history(). seed (default the run's --seed) fixes the nemesis's and w.rand's choices. A client that fails ends the run with its error.", Details: []string{
			"w.client: the client's number, from 0",
			"w.call(node, op, **params): run op on node as arsenal.call does, recording an invoke and a completion: ok (the result), fail (refused before it took effect: validation_error and the other definite codes, or a code the operation declares definite) or info (a timeout, an unreachable or dead node: it may or may not have taken effect); returns the result, or None for fail and info",
			"w.running(): False once the duration has passed",
			"w.nodes(): the cluster's running nodes",
			"w.rand: a seeded source: w.rand.random(), w.rand.int(lo, hi) (lo..hi inclusive), w.rand.choice(list)",
		}, impl: workloadRun(ops)},
		{Module: "nemesis", Name: "kill", Signature: `nemesis.kill(every="5s", restart_after="2s")`, Summary: "Every interval, kill one running node (chosen by the seed) and restart it restart_after later.", impl: nemesisOf("kill", "restart_after")},
		{Module: "nemesis", Name: "partition", Signature: `nemesis.partition(every="10s", heal_after="5s", mode="halves")`, Summary: "Every interval, split the network, then heal it heal_after later. mode: halves (two random halves), majority (a random majority and the rest), isolate (one node alone), ring (each node reaches only its two neighbours on a random ring).", impl: nemesisOf("partition", "heal_after")},
		{Module: "nemesis", Name: "pause", Signature: `nemesis.pause(every="5s", resume_after="2s")`, Summary: "Every interval, pause one running node and resume it resume_after later.", impl: nemesisOf("pause", "resume_after")},
		{Module: "nemesis", Name: "block", Signature: `nemesis.block(every="5s", heal_after="2s")`, Summary: "Every interval, block the traffic from one node to another (one way), then heal it heal_after later.", impl: nemesisOf("block", "heal_after")},
		{Module: "nemesis", Name: "loss", Signature: `nemesis.loss(every="5s", heal_after="2s", loss=0.3)`, Summary: "Every interval, make one link between two nodes lose that share of its packets, then heal it.", impl: nemesisOf("loss", "heal_after")},
		{Module: "nemesis", Name: "clock", Signature: `nemesis.clock(every="5s", heal_after="2s", skew="2s")`, Summary: "Every interval, set one running node's clock off by skew, ahead or behind (chosen by the seed), then clear it heal_after later (see n.skew_clock).", impl: nemesisOf("clock", "heal_after")},
		{Module: "nemesis", Name: "slow", Signature: `nemesis.slow(every="5s", heal_after="2s", delay="500ms")`, Summary: "Every interval, slow one node's answers to operations by delay, then clear it.", impl: nemesisOf("slow", "heal_after")},
	})
}

// wrec is one record of a workload's history.
type wrec struct {
	t       float64
	client  int
	node    string
	typ     string
	op      string
	params  map[string]any
	result  any
	err     string
	kind    string   // a nemesis record's fault
	targets []string // and the nodes it concerned
}

func (r wrec) value() starlark.Value {
	d := starlark.NewDict(8)
	set := func(k string, v any) { _ = d.SetKey(starlark.String(k), toStarlark(v)) }
	set("t", r.t)
	set("type", r.typ)
	if r.typ == "nemesis" {
		set("kind", r.kind)
		set("targets", r.targets)
		return d
	}
	set("client", r.client)
	set("node", r.node)
	set("op", r.op)
	set("params", r.params)
	set("result", r.result)
	if r.err != "" {
		set("error", r.err)
	}
	return d
}

// workload is one workload.run under way.
type workload struct {
	s       *Session
	c       *cluster.Cluster
	specs   map[string]arsenal.OpSpec
	stagger time.Duration
	stop    atomic.Bool

	failed   chan struct{} // closed when a client fails
	failOnce sync.Once

	mu   sync.Mutex
	hist []wrec
}

func (w *workload) now() float64 { return time.Since(w.s.Start).Seconds() }

func (w *workload) add(r wrec) {
	w.mu.Lock()
	r.t = w.now()
	w.hist = append(w.hist, r)
	w.mu.Unlock()
}

func workloadRun(ops []arsenal.OpSpec) impl {
	specs := map[string]arsenal.OpSpec{}
	for _, op := range ops {
		specs[op.Name] = op
	}
	return func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
		s, err := session(thread)
		if err != nil {
			return nil, err
		}
		cv, ok := a.Value("c").(*Cluster)
		if !ok {
			return nil, fmt.Errorf("%s: c: want a cluster, got %s", b.Name(), a.Value("c").Type())
		}
		client, err := a.Callable("client")
		if err != nil {
			return nil, err
		}
		n, ok := a.Value("clients").(starlark.Int)
		clients, exact := n.Int64()
		if !ok || !exact || clients < 1 || clients > maxClients {
			return nil, fmt.Errorf("%s: clients: must be from 1 to %d, got %s", b.Name(), maxClients, a.Value("clients"))
		}
		duration, err := a.Duration("duration")
		if err != nil {
			return nil, err
		}
		settle, err := a.Duration("settle")
		if err != nil {
			return nil, err
		}
		stagger, err := a.Duration("stagger")
		if err != nil {
			return nil, err
		}
		var nem *Nemesis
		switch v := a.Value("nemesis").(type) {
		case starlark.NoneType:
		case *Nemesis:
			nem = v
		default:
			return nil, fmt.Errorf("%s: nemesis: want a nemesis (nemesis.kill(), ...), got %s", b.Name(), v.Type())
		}
		seed := s.Settings.Seed
		switch v := a.Value("seed").(type) {
		case starlark.NoneType:
		case starlark.Int:
			i, ok := v.Int64()
			if !ok {
				return nil, fmt.Errorf("%s: seed: too large", b.Name())
			}
			seed = i
		default:
			return nil, fmt.Errorf("%s: seed: want an int, got %s", b.Name(), v.Type())
		}
		w := &workload{s: s, c: cv.c, specs: specs, stagger: stagger, failed: make(chan struct{})}
		return w.run(thread, b.Name(), client, int(clients), duration, settle, nem, seed)
	}
}

func (w *workload) run(thread *starlark.Thread, fn string, client starlark.Callable, clients int, duration, settle time.Duration, nem *Nemesis, seed int64) (starlark.Value, error) {
	ctx := w.s.ctx()
	deadline := time.NewTimer(duration)
	defer deadline.Stop()

	var nemWG sync.WaitGroup
	nemStop := make(chan struct{})
	var undo *faultsMade
	if nem != nil {
		undo = &faultsMade{killed: map[string]bool{}, paused: map[string]bool{}, slowed: map[string]bool{}, skewed: map[string]bool{}}
		for i, p := range nem.parts {
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(i+1)))
			nemWG.Add(1)
			go func() {
				defer nemWG.Done()
				w.nemesis(p, rng, nemStop, undo)
			}()
		}
	}

	// Clients share the function and what it captures: frozen, nothing
	// they share can be changed under another's feet.
	client.Freeze()
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for i := range clients {
		h := &handle{w: w, client: i, rand: &workRand{r: rand.New(rand.NewPCG(uint64(seed), uint64(1000+i)))}}
		th := &starlark.Thread{Name: fmt.Sprintf("%s client %d", thread.Name, i), Print: thread.Print}
		SetSession(th, w.s)
		stop := context.AfterFunc(ctx, func() { th.Cancel(ctx.Err().Error()) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { stop() }()
			for !w.stop.Load() {
				if _, err := starlark.Call(th, client, starlark.Tuple{h}, nil); err != nil {
					errs[i] = err
					w.failOnce.Do(func() { close(w.failed) }) // one client's failure ends the run
					return
				}
			}
		}()
	}
	select {
	case <-deadline.C:
	case <-ctx.Done():
	case <-w.failed:
	}
	w.stop.Store(true)
	wg.Wait()
	close(nemStop)
	nemWG.Wait()
	if undo != nil {
		if err := w.heal(undo); err != nil {
			return nil, fmt.Errorf("%s: healing the nemesis's faults: %w", fn, err)
		}
	}
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("%s: client %d: %w", fn, i, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	t := time.NewTimer(settle)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: settling: %w", fn, ctx.Err())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	sort.SliceStable(w.hist, func(i, j int) bool { return w.hist[i].t < w.hist[j].t })
	return starlark.NewList(values(w.hist)), nil
}

// values turns records into Starlark values, on every CPU at once: a
// minute's workload records some 60,000, and nothing else runs by then.
func values(recs []wrec) []starlark.Value {
	out := make([]starlark.Value, len(recs))
	const chunk = 4096
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for lo := 0; lo < len(recs); lo += chunk {
		hi := min(lo+chunk, len(recs))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for i := lo; i < hi; i++ {
				out[i] = recs[i].value()
			}
		})
	}
	wg.Wait()
	return out
}

// call runs op for a client and records its invoke and completion,
// after the client's stagger.
func (w *workload) call(client int, rng *rand.Rand, n *cluster.Node, op string, params map[string]any) (starlark.Value, error) {
	if w.stagger > 0 {
		t := time.NewTimer(time.Duration(rng.Int64N(int64(2 * w.stagger))))
		select {
		case <-t.C:
		case <-w.s.ctx().Done():
			t.Stop()
			return nil, w.s.ctx().Err()
		}
	}
	w.mu.Lock()
	full := len(w.hist) >= maxRecords
	w.mu.Unlock()
	if full {
		return nil, fmt.Errorf("the workload's history holds %d records, its limit: make fewer calls (a longer stagger, a shorter duration)", maxRecords)
	}
	w.add(wrec{client: client, node: n.Name(), typ: consistency.Invoke, op: op, params: params})
	typ := consistency.OK
	raw, err := callParams(w.s, n, op, params, func(err error) map[string]any {
		if err != nil {
			typ = consistency.Info
			if w.specs[op].IsDefinite(errcode.Code(err)) {
				typ = consistency.Fail
			}
		}
		return map[string]any{"client": client, "type": typ}
	})
	if err != nil {
		w.add(wrec{client: client, node: n.Name(), typ: typ, op: op, params: params, err: err.Error()})
		return starlark.None, nil
	}
	v, err := decodeJSON(raw)
	var result any
	if err == nil {
		result, err = fromStarlark(v)
	}
	if err != nil {
		// It took effect, but what it answered cannot be read: the
		// history says it may have, and the client fails.
		err = fmt.Errorf("%s: result: %w", op, err)
		w.add(wrec{client: client, node: n.Name(), typ: consistency.Info, op: op, params: params, err: err.Error()})
		return nil, err
	}
	w.add(wrec{client: client, node: n.Name(), typ: consistency.OK, op: op, params: params, result: result})
	return v, nil
}

// handle is the w a client is given.
type handle struct {
	w      *workload
	client int
	rand   *workRand
}

var _ starlark.HasAttrs = (*handle)(nil)

func (h *handle) String() string        { return fmt.Sprintf("<workload client %d>", h.client) }
func (h *handle) Type() string          { return "workload_client" }
func (h *handle) Freeze()               {}
func (h *handle) Truth() starlark.Bool  { return true }
func (h *handle) Hash() (uint32, error) { return starlark.MakeInt(h.client).Hash() }
func (h *handle) AttrNames() []string   { return []string{"call", "client", "nodes", "rand", "running"} }

func (h *handle) Attr(name string) (starlark.Value, error) {
	switch name {
	case "client":
		return starlark.MakeInt(h.client), nil
	case "rand":
		return h.rand, nil
	case "running":
		return starlark.NewBuiltin("running", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			return starlark.Bool(!h.w.stop.Load()), nil
		}), nil
	case "nodes":
		return starlark.NewBuiltin("nodes", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
				return nil, err
			}
			var out []starlark.Value
			for _, n := range h.w.c.Nodes() {
				if n.Status() == cluster.Running {
					out = append(out, &Node{n: n})
				}
			}
			return starlark.NewList(out), nil
		}), nil
	case "call":
		return starlark.NewBuiltin("call", h.call), nil
	}
	return nil, nil
}

// call is w.call(node, op, **params).
func (h *handle) call(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var nodeV, opV starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, nil, 2, &nodeV, &opV); err != nil {
		return nil, err
	}
	var n *cluster.Node
	switch v := nodeV.(type) {
	case *Node:
		n = v.n
	case starlark.String:
		var err error
		if n, err = h.w.c.Node(string(v)); err != nil {
			return nil, fmt.Errorf("%s: node: %w", b.Name(), err)
		}
	default:
		return nil, fmt.Errorf("%s: node: want a node or its name, got %s", b.Name(), v.Type())
	}
	op, ok := opV.(starlark.String)
	if !ok {
		return nil, fmt.Errorf("%s: op: want a string, got %s", b.Name(), opV.Type())
	}
	params := make(map[string]any, len(kwargs))
	for _, kv := range kwargs {
		v, err := fromStarlark(kv[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", b.Name(), kv[0], err)
		}
		params[string(kv[0].(starlark.String))] = v
	}
	return h.w.call(h.client, h.rand.r, n, string(op), params)
}

// workRand is w.rand: a client's seeded random source.
type workRand struct{ r *rand.Rand }

var _ starlark.HasAttrs = (*workRand)(nil)

func (r *workRand) String() string        { return "<rand>" }
func (r *workRand) Type() string          { return "rand" }
func (r *workRand) Freeze()               {}
func (r *workRand) Truth() starlark.Bool  { return true }
func (r *workRand) Hash() (uint32, error) { return 0, errors.New("unhashable: rand") }
func (r *workRand) AttrNames() []string   { return []string{"choice", "int", "random"} }

func (r *workRand) Attr(name string) (starlark.Value, error) {
	switch name {
	case "random":
		return starlark.NewBuiltin("random", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
				return nil, err
			}
			return starlark.Float(r.r.Float64()), nil
		}), nil
	case "int":
		return starlark.NewBuiltin("int", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var lo, hi int
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &lo, &hi); err != nil {
				return nil, err
			}
			if hi < lo {
				return nil, fmt.Errorf("%s: want lo <= hi, got %d > %d", b.Name(), lo, hi)
			}
			return starlark.MakeInt(lo + r.r.IntN(hi-lo+1)), nil
		}), nil
	case "choice":
		return starlark.NewBuiltin("choice", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var seq starlark.Indexable
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &seq); err != nil {
				return nil, err
			}
			if seq.Len() == 0 {
				return nil, fmt.Errorf("%s: an empty sequence", b.Name())
			}
			return seq.Index(r.r.IntN(seq.Len())), nil
		}), nil
	}
	return nil, nil
}
