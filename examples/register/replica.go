package register

import (
	"bytes"
	"encoding/json"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// Tag orders the writes of a key: by N, then by Writer, a name no other
// write uses. The zero Tag is below every write's.
type Tag struct {
	N      int64  `json:"n"`
	Writer string `json:"writer,omitempty"`
}

// Less reports whether t is below u.
func (t Tag) Less(u Tag) bool {
	return t.N < u.N || t.N == u.N && t.Writer < u.Writer
}

// Cell is what a replica holds for a key: a value and the tag that wrote
// it (the zero Cell, with a None value, before any write).
type Cell struct {
	Value any `json:"value"`
	Tag
}

// replica is a register_replica's state: a cell per key, and the most
// members its node has seen at once, kept in the node's data directory
// (Self.SaveJSON) before any write is acknowledged. It answers calls of
//
//	{"get": key, "members": m}                                    -> reply
//	{"set": {"key": k, "value": v, "n": n, "writer": w}, "members": m} -> reply
//
// where m is how many members the caller counts and the reply is the
// cell it holds now with the most members it has been told of.
type replica struct {
	self *process.Self
	disk
}

// keptAs names the file a replica keeps its disk in.
const keptAs = "register.json"

// disk is what a replica keeps.
type disk struct {
	Cells   map[string]Cell `json:"cells"`
	Members int             `json:"members"`
}

// reply is a replica's answer.
type reply struct {
	Cell
	Members int `json:"members"`
}

func replicaKind() process.Kind {
	return process.Kind{
		Name:  ReplicaKind,
		State: "{keys, members}",
		Messages: []process.MessageDoc{
			{Message: `{"get": key, "members": m}`, Reply: "{value, n, writer, members}: the key's cell (n 0 and value None before any write), and the most members it has been told of (m included)"},
			{Message: `{"set": {"key", "value", "n", "writer"}, "members": m}`, Reply: "the same for the cell it holds now: the one sent when its tag is higher than the one held, which is then on disk"},
		},
		Init: newReplica,
	}
}

func newReplica(self *process.Self) (process.Behaviour, error) {
	r := &replica{self: self, disk: disk{Cells: map[string]Cell{}}}
	if _, err := self.LoadJSON(keptAs, &r.disk); err != nil {
		return nil, err
	}
	return r, nil
}

// setReq is the body of a set.
type setReq struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
	Tag
}

// request is a message to a replica.
type request struct {
	Get     *string `json:"get"`
	Set     *setReq `json:"set"`
	Members int     `json:"members"`
}

// Handle answers a get or a set.
func (r *replica) Handle(_ *process.Self, m process.Message) (any, error) {
	var req request
	b, _ := json.Marshal(m.Body)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	switch {
	case dec.Decode(&req) != nil, (req.Get == nil) == (req.Set == nil):
	case req.Get != nil:
		return r.apply(*req.Get, nil, req.Members)
	case req.Set.Key != "" && req.Set.N > 0 && req.Set.Writer != "":
		return r.apply(req.Set.Key, req.Set, req.Members)
	}
	return nil, errcode.Errorf(errcode.Validation, `message: a register_replica answers {"get": key, "members": m} or {"set": {"key", "value", "n", "writer"}, "members": m} (n at least 1), got %v`, m.Body)
}

// apply raises what the replica remembers, key's cell to set's tag when
// it is higher than the one held (set may be nil) and the members to
// members, and keeps it on disk before answering: an acknowledged write
// survives the node's kill.
func (r *replica) apply(key string, set *setReq, members int) (reply, error) {
	prevMembers := r.Members
	prev, had := r.Cells[key]
	changed := members > r.Members
	r.Members = max(r.Members, members)
	if set != nil && prev.Tag.Less(set.Tag) {
		r.Cells[key] = Cell{Value: set.Value, Tag: set.Tag}
		changed = true
	}
	if changed {
		if err := r.self.SaveJSON(keptAs, r.disk); err != nil {
			r.Members = prevMembers
			if had {
				r.Cells[key] = prev
			} else {
				delete(r.Cells, key)
			}
			return reply{}, err
		}
	}
	return reply{Cell: r.Cells[key], Members: r.Members}, nil
}

// State is what process_info shows of a replica.
func (r *replica) State() map[string]any {
	return map[string]any{"keys": len(r.Cells), "members": r.Members}
}
