package process

import "sort"

// Trees answers cluster_supervision_trees for this node: the root
// supervisor with its children nested (maxDepth levels below it; 0 for
// all), or with include false a flat list of every supervisor.
func (t *Table) Trees(include bool, maxDepth int) []map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	if include {
		return []map[string]any{t.treeLocked(t.root, 0, maxDepth)}
	}
	var sups []*process
	for _, p := range t.procs {
		if p.typ == TypeSupervisor {
			sups = append(sups, p)
		}
	}
	sort.Slice(sups, func(i, j int) bool { return sups[i].seq < sups[j].seq })
	out := []map[string]any{}
	for _, s := range sups {
		e := map[string]any{"pid": s.pid, "name": nameOrNil(s.name), "strategy": "one_for_one", "child_count": len(s.children), "restarts": s.restarts}
		if s.sup != nil {
			e["supervisor"] = s.sup.pid
		}
		out = append(out, e)
	}
	return out
}

func (t *Table) treeLocked(p *process, depth, maxDepth int) map[string]any {
	e := map[string]any{"pid": p.pid, "name": nameOrNil(p.name), "type": p.typ, "kind": p.kind, "restarts": p.restarts}
	if p.sup != nil {
		e["restart"] = p.restart
	}
	if p.typ != TypeSupervisor {
		return e
	}
	e["strategy"] = "one_for_one"
	e["child_count"] = len(p.children)
	if maxDepth > 0 && depth >= maxDepth {
		return e
	}
	children := []map[string]any{}
	for _, c := range p.children {
		children = append(children, t.treeLocked(c, depth+1, maxDepth))
	}
	e["children"] = children
	return e
}
