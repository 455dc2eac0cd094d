package lease

import (
	"encoding/json"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// store is a fenced_store's state: values by key, each with the token
// that wrote it, and the highest token it has accepted, kept in the
// node's data directory (Self.SaveJSON) before a write is acknowledged: a
// store that forgot its highest token would accept a stale holder's
// write. It answers calls of
//
//	{"write": {"key": k, "value": v, "token": t}}  -> {accepted, highest}
//	{"read": key}                                   -> {value, token} or null
type store struct {
	self *process.Self
	storeState
}

// storeKeptAs names the file a store keeps its state in.
const storeKeptAs = "fenced_store.json"

// storeState is what a store keeps on disk.
type storeState struct {
	Data    map[string]entry `json:"data"`
	Highest int64            `json:"highest"`
}

type entry struct {
	Value string `json:"value"`
	Token int64  `json:"token"`
}

// writeReq is the body of a write.
type writeReq struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Token int64  `json:"token"`
}

// ack is a store's answer to a write.
type ack struct {
	Accepted bool  `json:"accepted"`
	Highest  int64 `json:"highest"`
}

func storeKind() process.Kind {
	return process.Kind{
		Name:  StoreKind,
		State: "{keys, highest}",
		Messages: []process.MessageDoc{
			{Message: `{"write": {"key", "value", "token"}}`, Reply: "{accepted, highest}: accepted when the token is at least the highest it accepted"},
			{Message: `{"read": key}`, Reply: "{value, token}, or None when never written"},
		},
		Init: newStore,
	}
}

func newStore(self *process.Self) (process.Behaviour, error) {
	s := &store{self: self, storeState: storeState{Data: map[string]entry{}}}
	if _, err := self.LoadJSON(storeKeptAs, &s.storeState); err != nil {
		return nil, err
	}
	return s, nil
}

// Handle answers a write or a read.
func (s *store) Handle(_ *process.Self, m process.Message) (any, error) {
	body, _ := m.Body.(map[string]any)
	if key, ok := body["read"].(string); ok {
		if e, ok := s.Data[key]; ok {
			return e, nil
		}
		return nil, nil
	}
	if w, ok := body["write"]; ok {
		var r writeReq
		b, _ := json.Marshal(w)
		if json.Unmarshal(b, &r) == nil && r.Key != "" && r.Token > 0 {
			if r.Token < s.Highest {
				return ack{Accepted: false, Highest: s.Highest}, nil
			}
			prev, had := s.Data[r.Key]
			highest := s.Highest
			s.Highest = r.Token
			s.Data[r.Key] = entry{Value: r.Value, Token: r.Token}
			if err := s.self.SaveJSON(storeKeptAs, s.storeState); err != nil {
				s.Highest = highest
				if had {
					s.Data[r.Key] = prev
				} else {
					delete(s.Data, r.Key)
				}
				return nil, err
			}
			return ack{Accepted: true, Highest: s.Highest}, nil
		}
	}
	return nil, errcode.Errorf(errcode.Validation, `message: a fenced_store answers {"write": {"key", "value", "token"}} or {"read": key}, got %v`, m.Body)
}

// State is what process_info shows of a store.
func (s *store) State() map[string]any {
	return map[string]any{"keys": len(s.Data), "highest": s.Highest}
}
