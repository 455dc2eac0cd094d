package builtins

// Nemeses: schedules of faults a workload runs while its clients call,
// each fault undone after a while and everything undone at the end.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/node"
)

// Nemesis is the Starlark value of a schedule of faults; + composes two.
type Nemesis struct {
	parts []nemesisPart
}

type nemesisPart struct {
	kind  string
	every time.Duration
	after time.Duration // restart_after, heal_after or resume_after
	mode  string
	loss  float64
	delay time.Duration
}

var _ starlark.HasBinary = (*Nemesis)(nil)

func (n *Nemesis) String() string {
	kinds := make([]string, len(n.parts))
	for i, p := range n.parts {
		kinds[i] = p.kind
	}
	return fmt.Sprintf("<nemesis %v>", kinds)
}
func (n *Nemesis) Type() string          { return "nemesis" }
func (n *Nemesis) Freeze()               {}
func (n *Nemesis) Truth() starlark.Bool  { return true }
func (n *Nemesis) Hash() (uint32, error) { return 0, errors.New("unhashable: nemesis") }

// Binary implements +: both schedules at once.
func (n *Nemesis) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	o, ok := y.(*Nemesis)
	if op != syntax.PLUS || !ok {
		return nil, nil
	}
	if side == starlark.Left {
		return &Nemesis{parts: slices.Concat(n.parts, o.parts)}, nil
	}
	return &Nemesis{parts: slices.Concat(o.parts, n.parts)}, nil
}

// nemesisOf is the builtin that makes a nemesis of kind; after names its
// second duration parameter.
func nemesisOf(kind, after string) impl {
	return func(_ *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
		p := nemesisPart{kind: kind}
		var err error
		if p.every, err = a.Duration("every"); err != nil {
			return nil, err
		}
		if p.after, err = a.Duration(after); err != nil {
			return nil, err
		}
		if p.every <= 0 || p.after <= 0 {
			return nil, fmt.Errorf("%s: every and %s must be positive", b.Name(), after)
		}
		switch kind {
		case "partition":
			if p.mode, err = a.String("mode"); err != nil {
				return nil, err
			}
			if !slices.Contains([]string{"halves", "majority", "isolate", "ring"}, p.mode) {
				return nil, fmt.Errorf(`%s: mode: must be one of "halves", "majority", "isolate", "ring", got %q`, b.Name(), p.mode)
			}
		case "loss":
			f, ok := starlark.AsFloat(a.Value("loss"))
			if !ok || f <= 0 || f > 1 {
				return nil, fmt.Errorf("%s: loss: must be a number in (0, 1], got %s", b.Name(), a.Value("loss"))
			}
			p.loss = f
		case "slow":
			if p.delay, err = a.Duration("delay"); err != nil {
				return nil, err
			}
		case "clock":
			if p.delay, err = a.Duration("skew"); err != nil {
				return nil, err
			}
			if p.delay <= 0 || p.delay > node.MaxClockSkew {
				return nil, fmt.Errorf("%s: skew: must be positive and at most %s", b.Name(), node.MaxClockSkew)
			}
		}
		return &Nemesis{parts: []nemesisPart{p}}, nil
	}
}

// faultsMade is what the nemesis did and has not undone yet, for the heal
// at the end of the run.
type faultsMade struct {
	mu      sync.Mutex
	killed  map[string]bool
	paused  map[string]bool
	slowed  map[string]bool
	skewed  map[string]bool
	network bool
}

func (f *faultsMade) mark(set map[string]bool, name string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		set[name] = true
	} else {
		delete(set, name)
	}
}

// nemesis runs one part of a schedule until stop: a fault every p.every,
// undone p.after later.
func (w *workload) nemesis(p nemesisPart, rng *rand.Rand, stop <-chan struct{}, made *faultsMade) {
	ctx := w.s.ctx()
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-stop:
		case <-ctx.Done():
		}
		return false
	}
	for wait(p.every) {
		targets, end, undo, err := w.fault(ctx, p, rng, made)
		if err != nil {
			w.add(wrec{typ: "nemesis", kind: p.kind + "_failed", targets: []string{err.Error()}})
			continue
		}
		if targets == nil {
			continue // nothing to act on now
		}
		w.add(wrec{typ: "nemesis", kind: p.kind, targets: targets})
		if !wait(p.after) {
			return // the run's heal undoes it
		}
		if err := undo(); err != nil {
			w.add(wrec{typ: "nemesis", kind: end + "_failed", targets: []string{err.Error()}})
			continue
		}
		w.add(wrec{typ: "nemesis", kind: end, targets: targets})
	}
}

// fault makes one fault of p: the nodes it concerns, the kind of its
// undoing, and how to undo it. No targets: nothing to act on now.
func (w *workload) fault(ctx context.Context, p nemesisPart, rng *rand.Rand, made *faultsMade) ([]string, string, func() error, error) {
	var running []*cluster.Node
	var names []string
	for _, n := range w.c.Nodes() {
		names = append(names, n.Name())
		if n.Status() == cluster.Running {
			running = append(running, n)
		}
	}
	pick := func() *cluster.Node { return running[rng.IntN(len(running))] }
	heal := func() error {
		made.mu.Lock()
		made.network = false
		made.mu.Unlock()
		return w.c.Heal(ctx)
	}
	networked := func() {
		made.mu.Lock()
		made.network = true
		made.mu.Unlock()
	}
	switch p.kind {
	case "kill", "pause", "slow", "clock":
		if len(running) == 0 {
			return nil, "", nil, nil
		}
		n := pick()
		switch p.kind {
		case "kill":
			made.mark(made.killed, n.Name(), true)
			return []string{n.Name()}, "restart", func() error {
				made.mark(made.killed, n.Name(), false)
				return n.Restart(ctx)
			}, n.Kill(ctx)
		case "pause":
			made.mark(made.paused, n.Name(), true)
			return []string{n.Name()}, "resume", func() error {
				made.mark(made.paused, n.Name(), false)
				return n.Resume(ctx)
			}, n.Pause(ctx)
		case "clock":
			skew := p.delay
			if rng.IntN(2) == 0 {
				skew = -skew
			}
			made.mark(made.skewed, n.Name(), true)
			return []string{n.Name()}, "heal", func() error {
				made.mark(made.skewed, n.Name(), false)
				return n.SkewClock(ctx, 0)
			}, n.SkewClock(ctx, skew)
		default:
			made.mark(made.slowed, n.Name(), true)
			return []string{n.Name()}, "heal", func() error {
				made.mark(made.slowed, n.Name(), false)
				return n.SlowRPC(ctx, 0)
			}, n.SlowRPC(ctx, p.delay)
		}
	case "partition":
		if len(names) < 2 {
			return nil, "", nil, nil
		}
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		networked()
		cut := len(names) / 2
		switch p.mode {
		case "majority":
			cut = len(names)/2 + 1
		case "isolate":
			cut = 1
		case "ring":
			for i := range names {
				for j := i + 2; j < len(names); j++ {
					if i == 0 && j == len(names)-1 {
						continue // neighbours on the ring
					}
					if err := w.c.Block(ctx, names[i], names[j]); err != nil {
						return nil, "", nil, err
					}
					if err := w.c.Block(ctx, names[j], names[i]); err != nil {
						return nil, "", nil, err
					}
				}
			}
			return names, "heal", heal, nil
		}
		groups := [][]string{names[:cut], names[cut:]}
		return names, "heal", heal, w.c.Partition(ctx, groups)
	case "block", "loss":
		if len(names) < 2 {
			return nil, "", nil, nil
		}
		i := rng.IntN(len(names))
		j := (i + 1 + rng.IntN(len(names)-1)) % len(names)
		a, b := names[i], names[j]
		networked()
		if p.kind == "block" {
			return []string{a, b}, "heal", heal, w.c.Block(ctx, a, b)
		}
		return []string{a, b}, "heal", heal, w.c.SetLink(ctx, a, b, 0, 0, p.loss)
	}
	return nil, "", nil, fmt.Errorf("nemesis: unknown kind %q", p.kind)
}

// heal undoes every fault the nemesis left: paused nodes resume, killed
// ones restart, slowed ones are cleared, the network heals.
func (w *workload) heal(made *faultsMade) error {
	ctx := w.s.ctx()
	made.mu.Lock()
	defer made.mu.Unlock()
	var errs []error
	for _, n := range w.c.Nodes() {
		switch {
		case made.paused[n.Name()]:
			errs = append(errs, n.Resume(ctx))
		case made.killed[n.Name()]:
			errs = append(errs, n.Restart(ctx))
		}
		if made.slowed[n.Name()] {
			errs = append(errs, n.SlowRPC(ctx, 0))
		}
		if made.skewed[n.Name()] {
			errs = append(errs, n.SkewClock(ctx, 0))
		}
	}
	if made.network {
		errs = append(errs, w.c.Heal(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if made.network || len(made.killed)+len(made.paused) > 0 {
		w.add(wrec{typ: "nemesis", kind: "heal_all"})
	}
	return nil
}
