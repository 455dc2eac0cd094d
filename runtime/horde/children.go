package horde

import (
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/observe"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// stopLocked stops a local child that lost its name; it is not restarted.
func (h *Horde) stopLocked(name string) {
	pid := h.pids[name]
	delete(h.local, name)
	delete(h.pids, name)
	h.version++
	h.stops++
	h.observeLocked(observe.KindHordeRelease, name, pid, ReasonHordeConflict)
	if pid != "" {
		_, _ = h.host.Processes().Retire(pid, ReasonHordeConflict)
	}
}

// start registers and starts a child here, unless the name is held.
func (h *Horde) start(r hordeStartReq) (hordeClaim, error) {
	h.mu.Lock()
	if w, ok := h.registryLocked()[r.Name]; ok {
		h.mu.Unlock()
		return hordeClaim{}, alreadyStarted(w)
	}
	c, err := h.startLocked(r.Name, r.Kind, r.Placement)
	h.mu.Unlock()
	if err == nil {
		h.kick()
	}
	return c, err
}

func alreadyStarted(w hordeClaim) *errcode.Error {
	return errcode.Errorf(errcode.AlreadyStarted, "%q is already registered to %s on %s", w.Name, w.PID, w.Node)
}

// startLocked spawns name under horde_sup and claims it.
func (h *Horde) startLocked(name, kind, placement string) (hordeClaim, error) {
	sup, err := h.supervisorLocked()
	if err != nil {
		return hordeClaim{}, err
	}
	p, err := h.host.Processes().Spawn(process.SpawnRequest{Kind: kind, Name: name, Supervisor: sup, Restart: process.RestartPermanent})
	if err != nil {
		return hordeClaim{}, err
	}
	h.clock++
	c := hordeClaim{Name: name, Kind: kind, Placement: placement, PID: p.PID, Node: h.host.Name(), Clock: h.clock, At: time.Now().UnixNano()}
	h.local[name] = c
	h.pids[name] = p.PID
	h.version++
	h.observeLocked(observe.KindHordeClaim, name, p.PID, "")
	go h.watch(p.PID, name)
	return c, nil
}

// supervisorLocked returns horde_sup's pid, starting it with the first
// child. It is a system process: killing it would orphan its children's
// claims.
func (h *Horde) supervisorLocked() (string, error) {
	if h.sup == "" {
		pid, err := h.host.Processes().StartSystemSupervisor("horde_sup")
		if err != nil {
			return "", err
		}
		h.sup = pid
	}
	return h.sup, nil
}

// watch follows a local child: when its supervisor restarts it, the claim
// takes the new pid; when it is gone for good, the claim goes.
func (h *Horde) watch(pid, name string) {
	next, err := h.host.Processes().Follow(h.ctx, pid)
	if err != nil || h.ctx.Err() != nil {
		return // the node is stopping: its claims stand until peers see it down
	}
	h.mu.Lock()
	if h.pids[name] != pid {
		h.mu.Unlock()
		return
	}
	if next != "" {
		c := h.local[name]
		c.PID = next
		h.local[name] = c
		h.pids[name] = next
		h.observeLocked(observe.KindHordeClaim, name, next, "")
		go h.watch(next, name)
	} else {
		delete(h.local, name)
		delete(h.pids, name)
		h.observeLocked(observe.KindHordeRelease, name, pid, "exited")
	}
	h.version++
	h.mu.Unlock()
	h.kick()
}
