package lease

import (
	"encoding/json"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// keeper is a lease_keeper's state: the promise it holds, the highest
// token it ever promised, and the most members its node has counted. It
// keeps them in file, in the node's data directory, before it answers,
// so a keeper that restarts remembers what it promised. It answers calls
// of
//
//	{"grant": {"holder": h, "token": t, "ttl_ms": ms}}  -> verdict
//	{"release": {"holder": h, "token": t}}              -> verdict
//	"peek"                                              -> verdict
//	{"members": n}                                      -> the most members counted, n included
//
// A promise's TTL is measured as time elapsed on the monotonic clock
// (time.Since), never by comparing instants of the node's wall clock,
// which can be set: a wall clock stepped forward (n.skew_clock,
// nemesis.clock) would end that keeper's promise early, and with a
// quorum of keepers stepped, two nodes would hold the lease at once.
type keeper struct {
	self       *process.Self
	holder     string
	token      int64
	ttl        time.Duration
	granted    time.Time // monotonic: when the promise was made (or restored)
	maxToken   int64
	members    int
	graceUntil time.Time
	restored   bool
}

// saved is what a keeper keeps on disk.
type saved struct {
	Holder   string `json:"holder,omitempty"`
	Token    int64  `json:"token,omitempty"`
	TTLms    int64  `json:"ttl_ms,omitempty"`
	MaxToken int64  `json:"max_token"`
	Members  int    `json:"members"`
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
	refusedGrace = "in_grace"    // it started less than Grace ago with nothing on disk
)

func keeperKind() process.Kind {
	return process.Kind{
		Name:  KeeperKind,
		State: "{holder, token, expires_in, max_token, members, grace_until, restored}",
		Messages: []process.MessageDoc{
			{Message: `{"grant": {"holder", "token", "ttl_ms"}}`, Reply: "{granted, reason, holder, token, expires_in_ms, max_token, in_grace}: granted unless it promises another holder, the token is stale, or it started less than Grace ago with nothing on disk"},
			{Message: `{"release": {"holder", "token"}}`, Reply: "the same verdict; granted when it dropped that promise"},
			{Message: `"peek"`, Reply: "the verdict of what it promises now"},
			{Message: `{"members": n}`, Reply: "the most members its node has counted, n included"},
		},
		Init: newKeeper,
	}
}

// newKeeper starts a keeper from what its node's data directory holds. A
// promise found there is honoured for its whole TTL again, counted from
// now: how much of it had passed is a question for the wall clock, which
// may be off. With nothing on disk (a first start, or a disk lost: it
// cannot tell them apart) it refuses every grant for Grace, the longest
// lease it may have promised.
func newKeeper(self *process.Self) (process.Behaviour, error) {
	k := &keeper{self: self}
	var s saved
	found, err := self.LoadJSON(keeperKeptAs, &s)
	if err != nil {
		return nil, err
	}
	if !found {
		// The file, written now, tells a later start that this disk has
		// been with the keeper all along.
		k.graceUntil = time.Now().Add(Grace)
		return k, k.save()
	}
	k.holder, k.token, k.ttl = s.Holder, s.Token, time.Duration(s.TTLms)*time.Millisecond
	k.maxToken, k.members, k.restored = s.MaxToken, s.Members, true
	k.granted = time.Now()
	return k, nil
}

// keeperKeptAs names the file a keeper keeps its promise in.
const keeperKeptAs = "lease_keeper.json"

// save keeps the keeper's promise in the node's data directory.
func (k *keeper) save() error {
	s := saved{MaxToken: k.maxToken, Members: k.members}
	if k.holder != "" {
		s.Holder, s.Token, s.TTLms = k.holder, k.token, k.ttl.Milliseconds()
	}
	return k.self.SaveJSON(keeperKeptAs, s)
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

// commit keeps the keeper's new state on disk, or, when it cannot, goes
// back to prev: what it promised is what its disk says.
func (k *keeper) commit(prev keeper) error {
	if err := k.save(); err != nil {
		*k = prev
		return err
	}
	return nil
}

// Handle answers a grant, a release, a peek or a count of members.
func (k *keeper) Handle(_ *process.Self, m process.Message) (any, error) {
	now := time.Now()
	if m.Body == "peek" {
		return k.verdict(now, false, ""), nil
	}
	if body, ok := m.Body.(map[string]any); ok && len(body) == 1 && body["members"] != nil {
		num, _ := body["members"].(json.Number)
		n, err := num.Int64()
		if err != nil || n < 1 {
			return nil, errcode.Errorf(errcode.Validation, "message: members: want a count of at least 1, got %v", body["members"])
		}
		if int(n) > k.members {
			prev := *k
			k.members = int(n)
			if err := k.commit(prev); err != nil {
				return nil, err
			}
		}
		return k.members, nil
	}
	if r, ok := decode(m.Body, "grant"); ok {
		return k.grant(now, r)
	}
	if r, ok := decode(m.Body, "release"); ok {
		if k.live(now) && k.holder == r.Holder && k.token == r.Token {
			prev := *k
			k.holder = ""
			if err := k.commit(prev); err != nil {
				return nil, err
			}
			return k.verdict(now, true, ""), nil
		}
		return k.verdict(now, false, "not_holder"), nil
	}
	return nil, errcode.Errorf(errcode.Validation, `message: a lease_keeper answers {"grant": {...}}, {"release": {...}}, {"members": n} or "peek", got %v`, m.Body)
}

func (k *keeper) live(now time.Time) bool {
	return k.holder != "" && now.Sub(k.granted) < k.ttl
}

func (k *keeper) grant(now time.Time, r request) (verdict, error) {
	ttl := time.Duration(r.TTLms) * time.Millisecond
	switch {
	case now.Before(k.graceUntil):
		return k.verdict(now, false, refusedGrace), nil
	case ttl <= 0 || ttl > MaxTTL:
		return k.verdict(now, false, "bad_ttl"), nil
	case k.live(now) && k.holder != r.Holder:
		return k.verdict(now, false, refusedHeld), nil
	case k.live(now) && r.Token < k.token,
		!k.live(now) && r.Token <= k.maxToken:
		return k.verdict(now, false, refusedStale), nil
	}
	prev := *k
	k.holder, k.token, k.ttl, k.granted = r.Holder, r.Token, ttl, now
	k.maxToken = max(k.maxToken, r.Token)
	if err := k.commit(prev); err != nil {
		return verdict{}, err
	}
	return k.verdict(now, true, ""), nil
}

func (k *keeper) verdict(now time.Time, granted bool, reason string) verdict {
	v := verdict{Granted: granted, Reason: reason, MaxToken: k.maxToken, InGrace: now.Before(k.graceUntil)}
	if k.live(now) {
		v.Holder, v.Token, v.ExpireMS = k.holder, k.token, max(1, (k.ttl-now.Sub(k.granted)).Milliseconds())
	}
	return v
}

// State is what process_info shows of a keeper: how long its promise and
// its grace have left, and whether it restored them from disk.
func (k *keeper) State() map[string]any {
	st := map[string]any{"max_token": k.maxToken, "members": k.members, "restored": k.restored, "holder": nil, "grace_until": nil}
	if left := time.Until(k.graceUntil); left > 0 {
		st["grace_until"] = left.String()
	}
	if k.holder != "" {
		st["holder"], st["token"], st["expires_in"] = k.holder, k.token, (k.ttl - time.Since(k.granted)).Round(time.Millisecond).String()
	}
	return st
}
