package process

import (
	"context"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// What other parts of the engine (horde) do with processes, as methods, so
// that nothing outside this package touches a process's fields.

// StartSystemSupervisor starts a one_for_one supervisor named name under
// the root supervisor and marks it a system process: it cannot be killed,
// not even with force, because the engine relies on it.
func (t *Table) StartSystemSupervisor(name string) (string, error) {
	p, err := t.spawn(KindSupervisor, name, t.root, RestartPermanent, 0)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	p.system = true
	t.mu.Unlock()
	return p.pid, nil
}

// Retire ends a live process with reason and no restart, whatever its
// restart type. It reports whether this call ended it.
func (t *Table) Retire(pid, reason string) (bool, error) {
	p, _, err := t.lookup(pid)
	if err != nil || p == nil {
		return false, err
	}
	t.mu.Lock()
	p.restart = RestartTemporary
	t.mu.Unlock()
	return p.exit(reason), nil
}

// Follow waits until pid has exited and returns the pid its supervisor
// restarted it as, or "" when it was not restarted. It returns at once for
// a process that has already exited, and ctx's error if ctx ends first.
func (t *Table) Follow(ctx context.Context, pid string) (string, error) {
	p, rec, err := t.lookup(pid)
	if err != nil {
		return "", err
	}
	// A process leaves the table before its supervisor has restarted it:
	// wait for the decision either way.
	var done <-chan struct{}
	if p != nil {
		done = p.done
	} else {
		done = rec.done
	}
	select {
	case <-done:
	case <-ctx.Done():
		return "", errcode.Errorf(errcode.Timeout, "%s: %v", pid, ctx.Err())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p != nil {
		return p.replacedBy, nil
	}
	return rec.replaced, nil
}
