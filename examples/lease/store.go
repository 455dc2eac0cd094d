package lease

import (
	"encoding/json"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// store is a fenced_store's state: values by key, each with the token
// that wrote it, and the highest token it has accepted. It answers calls
// of
//
//	{"write": {"key": k, "value": v, "token": t}}  -> {accepted, highest}
//	{"read": key}                                   -> {value, token} or null
type store struct {
	data    map[string]entry
	highest int64
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
		Init: func(*process.Self) (process.Behaviour, error) { return &store{data: map[string]entry{}}, nil },
	}
}

func (s *store) Handle(_ *process.Self, m process.Message) (any, error) {
	body, _ := m.Body.(map[string]any)
	if key, ok := body["read"].(string); ok {
		if e, ok := s.data[key]; ok {
			return e, nil
		}
		return nil, nil
	}
	if w, ok := body["write"]; ok {
		var r writeReq
		b, _ := json.Marshal(w)
		if json.Unmarshal(b, &r) == nil && r.Key != "" && r.Token > 0 {
			if r.Token < s.highest {
				return ack{Accepted: false, Highest: s.highest}, nil
			}
			s.highest = r.Token
			s.data[r.Key] = entry{Value: r.Value, Token: r.Token}
			return ack{Accepted: true, Highest: s.highest}, nil
		}
	}
	return nil, errcode.Errorf(errcode.Validation, `message: a fenced_store answers {"write": {"key", "value", "token"}} or {"read": key}, got %v`, m.Body)
}

// State is what process_info shows of a store.
func (s *store) State() map[string]any {
	return map[string]any{"keys": len(s.data), "highest": s.highest}
}
