package node

import (
	"fmt"
	"slices"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/horde"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// Registry is what a node runs on top of membership: the process kinds it
// spawns, the arsenal operations it serves, and the processes it starts
// at boot. Builtin returns one holding the engine's own kinds and
// operations; a program adds its own to it and passes it to every node it
// starts (Config.Registry), simulated or real. A registry is a plain value
// with no global state: two clusters in one process may run different
// ones. A node reads its registry once, when it starts.
type Registry struct {
	kinds []process.Kind
	ops   []arsenal.Op
	boot  []process.SpawnRequest
}

// NewRegistry returns an empty registry. Most programs start from Builtin
// instead: a node needs at least the "supervisor" kind.
func NewRegistry() *Registry { return &Registry{} }

// Builtin returns a fresh registry holding the built-in kinds (echo,
// counter, kv, disk_log, sleeper, supervisor) and operations (the arsenal's and the
// horde's), registered with AddKind and AddOp exactly as a program
// registers its own.
func Builtin() *Registry {
	r := NewRegistry()
	for _, k := range process.Builtin() {
		mustRegister(r.AddKind(k))
	}
	for _, op := range append(arsenal.Builtin(), horde.Ops()...) {
		mustRegister(r.AddOp(op))
	}
	return r
}

// mustRegister fails loudly on a built-in that does not register: a bug
// in the engine, caught by every test that starts a node.
func mustRegister(err error) {
	if err != nil {
		panic("node: a built-in does not register: " + err.Error())
	}
}

// AddKind adds a process kind. Its description is checked here
// (process.CheckKind), and its name must be new.
func (r *Registry) AddKind(k process.Kind) error {
	if err := process.CheckKind(k); err != nil {
		return err
	}
	if slices.ContainsFunc(r.kinds, func(o process.Kind) bool { return o.Name == k.Name }) {
		return fmt.Errorf("kind %s is already registered", k.Name)
	}
	r.kinds = append(r.kinds, k)
	return nil
}

// AddOp adds an arsenal operation. Its description is checked here
// (arsenal.CheckSpec), it needs a Run, and its name must be new: a
// program cannot replace a built-in operation.
func (r *Registry) AddOp(op arsenal.Op) error {
	if err := arsenal.CheckSpec(op.Spec); err != nil {
		return err
	}
	if op.Run == nil {
		return fmt.Errorf("operation %s: Run is required", op.Spec.Name)
	}
	if slices.ContainsFunc(r.ops, func(o arsenal.Op) bool { return o.Spec.Name == op.Spec.Name }) {
		return fmt.Errorf("operation %s is already registered", op.Spec.Name)
	}
	r.ops = append(r.ops, op)
	return nil
}

// AddBootProcess asks every node to start a process when it starts, under
// its root supervisor, in the order added: how a service puts its
// long-lived processes (a gen_server per node holding the service's
// state) on every member. The kind must already be registered, and a name
// can be booted only once (it is unique on a node). A boot process that
// fails to start fails the node's start.
func (r *Registry) AddBootProcess(req process.SpawnRequest) error {
	if !slices.ContainsFunc(r.kinds, func(k process.Kind) bool { return k.Name == req.Kind }) {
		return fmt.Errorf("boot process %q: kind %q is not registered (add it with AddKind first)", req.Name, req.Kind)
	}
	if req.Supervisor != "" {
		return fmt.Errorf("boot process %q: boot processes run under the root supervisor; leave Supervisor empty", req.Name)
	}
	if req.Name != "" && slices.ContainsFunc(r.boot, func(o process.SpawnRequest) bool { return o.Name == req.Name }) {
		return fmt.Errorf("boot process %q is already registered", req.Name)
	}
	r.boot = append(r.boot, req)
	return nil
}

// Kinds returns the names of the registered kinds, in registration order.
func (r *Registry) Kinds() []string {
	names := make([]string, len(r.kinds))
	for i, k := range r.kinds {
		names[i] = k.Name
	}
	return names
}

// KindDocs describes every registered kind for users (its type, state
// and messages), in registration order, built-in ones first.
func (r *Registry) KindDocs() []process.KindDoc { return process.DescribeKinds(r.kinds) }

// Ops describes every registered operation, in registration order, as
// nodes serve them: the allowed values of kind parameters are the
// registered kinds. The slice is freshly built: callers may keep or
// change it.
func (r *Registry) Ops() []arsenal.OpSpec {
	return arsenal.Specs(r.operations())
}

// Describe returns the description of one operation, or an
// operation_not_found error listing them all.
func (r *Registry) Describe(op string) (arsenal.OpSpec, error) {
	return arsenal.Describe(r.Ops(), op)
}

// operations returns the operations with their kind parameters resolved.
func (r *Registry) operations() []arsenal.Op {
	kinds := r.Kinds()
	out := make([]arsenal.Op, len(r.ops))
	for i, op := range r.ops {
		out[i] = arsenal.Op{Spec: arsenal.ResolveKinds(op.Spec, kinds), Run: op.Run}
	}
	return out
}
