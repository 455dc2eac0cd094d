package lease

import (
	"encoding/json"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// keeper is a lease_keeper's state: the promise it holds and the highest
// token it ever promised. It answers calls of
//
//	{"grant": {"holder": h, "token": t, "ttl_ms": ms}}  -> verdict
//	{"release": {"holder": h, "token": t}}              -> verdict
//	"peek"                                              -> verdict
type keeper struct {
	holder     string
	token      int64
	expires    time.Time
	maxToken   int64
	graceUntil time.Time
}

// verdict is a keeper's answer: whether it granted, why not, and what it
// promises now.
type verdict struct {
	Granted  bool   `json:"granted"`
	Reason   string `json:"reason,omitempty"`
	Holder   string `json:"holder,omitempty"`
	Token    int64  `json:"token,omitempty"`
	ExpireMS int64  `json:"expires_in_ms,omitempty"`
	MaxToken int64  `json:"max_token"`
	InGrace  bool   `json:"in_grace"`
}

// Reasons a keeper refuses.
const (
	refusedHeld  = "held"        // it promises another holder
	refusedStale = "stale_token" // the token is not above every one it promised
	refusedGrace = "in_grace"    // it restarted less than Grace ago
)

func keeperKind() process.Kind {
	return process.Kind{
		Name:  KeeperKind,
		State: "{holder, token, expires_at, max_token, grace_until}",
		Messages: []process.MessageDoc{
			{Message: `{"grant": {"holder", "token", "ttl_ms"}}`, Reply: "{granted, reason, holder, token, expires_in_ms, max_token, in_grace}: granted unless it promises another holder, the token is stale, or it started less than Grace ago"},
			{Message: `{"release": {"holder", "token"}}`, Reply: "the same verdict; granted when it dropped that promise"},
			{Message: `"peek"`, Reply: "the verdict of what it promises now"},
		},
		Init: func(*process.Self) (process.Behaviour, error) {
			return &keeper{graceUntil: time.Now().Add(Grace)}, nil
		},
	}
}

// request is the body of a grant or a release.
type request struct {
	Holder string `json:"holder"`
	Token  int64  `json:"token"`
	TTLms  int64  `json:"ttl_ms"`
}

// decode reads the request under key from a message body.
func decode(body any, key string) (request, bool) {
	m, ok := body.(map[string]any)
	if !ok || m[key] == nil {
		return request{}, false
	}
	b, err := json.Marshal(m[key])
	var r request
	if err != nil || json.Unmarshal(b, &r) != nil || r.Holder == "" {
		return request{}, false
	}
	return r, true
}

func (k *keeper) Handle(_ *process.Self, m process.Message) (any, error) {
	now := time.Now()
	if m.Body == "peek" {
		return k.verdict(now, false, ""), nil
	}
	if r, ok := decode(m.Body, "grant"); ok {
		return k.grant(now, r), nil
	}
	if r, ok := decode(m.Body, "release"); ok {
		if k.live(now) && k.holder == r.Holder && k.token == r.Token {
			k.holder, k.expires = "", time.Time{}
			return k.verdict(now, true, ""), nil
		}
		return k.verdict(now, false, "not_holder"), nil
	}
	return nil, errcode.Errorf(errcode.Validation, `message: a lease_keeper answers {"grant": {...}}, {"release": {...}} or "peek", got %v`, m.Body)
}

func (k *keeper) live(now time.Time) bool { return k.holder != "" && now.Before(k.expires) }

func (k *keeper) grant(now time.Time, r request) verdict {
	ttl := time.Duration(r.TTLms) * time.Millisecond
	switch {
	case now.Before(k.graceUntil):
		return k.verdict(now, false, refusedGrace)
	case ttl <= 0 || ttl > MaxTTL:
		return k.verdict(now, false, "bad_ttl")
	case k.live(now) && k.holder != r.Holder:
		return k.verdict(now, false, refusedHeld)
	case k.live(now) && r.Token < k.token,
		!k.live(now) && r.Token <= k.maxToken:
		return k.verdict(now, false, refusedStale)
	}
	k.holder, k.token, k.expires = r.Holder, r.Token, now.Add(ttl)
	k.maxToken = max(k.maxToken, r.Token)
	return k.verdict(now, true, "")
}

func (k *keeper) verdict(now time.Time, granted bool, reason string) verdict {
	v := verdict{Granted: granted, Reason: reason, MaxToken: k.maxToken, InGrace: now.Before(k.graceUntil)}
	if k.live(now) {
		v.Holder, v.Token, v.ExpireMS = k.holder, k.token, max(1, k.expires.Sub(now).Milliseconds())
	}
	return v
}

// State is what process_info shows of a keeper.
func (k *keeper) State() map[string]any {
	st := map[string]any{"max_token": k.maxToken, "grace_until": k.graceUntil.UTC().Format(time.RFC3339Nano), "holder": nil}
	if k.holder != "" {
		st["holder"], st["token"], st["expires_at"] = k.holder, k.token, k.expires.UTC().Format(time.RFC3339Nano)
	}
	return st
}
