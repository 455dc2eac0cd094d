package lease

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

// Ops returns the lease service's operations.
func Ops() []arsenal.Op {
	failed := arsenal.ResultField{Name: "nodes_failed", Type: "dict", Doc: "node -> reason, for every member that did not answer"}
	quorum := arsenal.ResultField{Name: "quorum", Type: "int", Doc: "answers needed: a majority of the members this node knows, down ones included"}
	return []arsenal.Op{
		{Spec: arsenal.OpSpec{
			Name:    "lease_acquire",
			Summary: "make the node asked the lease holder, or renew its lease, if a quorum of keepers grants it; a failed attempt gives up any lease it held",
			Params: []arsenal.ParamSpec{
				{Name: "ttl", Type: "duration", Default: "1s", Min: "100ms", Max: MaxTTL.String(), Doc: "how long the lease lasts, counted from before the keepers were asked"},
			},
			Results: []arsenal.ResultField{
				{Name: "acquired", Type: "bool", Doc: "whether the node asked holds the lease now (false: it does not, not even a lease it held before)"},
				{Name: "holder", Type: "string", Doc: "the node asked"},
				{Name: "token", Type: "int|null", Doc: "the fencing token of its lease: higher than every token granted before"},
				{Name: "valid_for", Type: "string|null", Doc: "how long the lease is still valid, as a duration"},
				{Name: "granted_by", Type: "list[string]", Doc: "keepers that granted"},
				{Name: "refused_by", Type: "dict", Doc: "node -> why its keeper refused: held (by current_holder), stale_token, in_grace (restarted recently)"},
				{Name: "current_holder", Type: "string|null", Doc: "when refused: the holder the refusing keepers promise"},
				quorum, failed,
			},
		}, Run: opAcquire},
		{Spec: arsenal.OpSpec{
			Name:    "lease_release",
			Summary: "give up the lease the node asked holds, at every keeper that promises it",
			Params: []arsenal.ParamSpec{
				{Name: "token", Type: "int", Required: true, Min: 1, Doc: "the token of the lease to give up"},
			},
			Results: []arsenal.ResultField{
				{Name: "released_by", Type: "list[string]", Doc: "keepers that dropped their promise"},
				failed,
			},
		}, Run: opRelease},
		{Spec: arsenal.OpSpec{
			Name:    "lease_status",
			Summary: "what every keeper promises, and the holder a quorum of them promises, as the node asked sees them",
			Results: []arsenal.ResultField{
				{Name: "holder", Type: "string|null", Doc: "the holder a quorum of keepers promises (null: none)"},
				{Name: "token", Type: "int|null", Doc: "its token"},
				{Name: "max_token", Type: "int", Doc: "the highest token any keeper that answered has promised"},
				{Name: "keepers", Type: "dict", Doc: "node -> {holder, token, expires_in_ms, max_token, in_grace}"},
				quorum, failed,
			},
		}, Run: opStatus},
		{Spec: arsenal.OpSpec{
			Name:    "fenced_write",
			Summary: "write a value under a fencing token to every member's fenced store; it counts when a quorum accepted it",
			Params: []arsenal.ParamSpec{
				{Name: "key", Type: "string", Required: true, Doc: "the key"},
				{Name: "value", Type: "string", Required: true, Doc: "the value"},
				{Name: "token", Type: "int", Required: true, Min: 1, Doc: "the writer's fencing token (from lease_acquire)"},
			},
			Results: []arsenal.ResultField{
				{Name: "accepted", Type: "bool", Doc: "whether a quorum of stores accepted it"},
				{Name: "acks", Type: "list[string]", Doc: "stores that accepted"},
				{Name: "rejected_by", Type: "dict", Doc: "node -> the higher token its store has accepted"},
				quorum, failed,
			},
		}, Run: opWrite},
		{Spec: arsenal.OpSpec{
			Name:    "fenced_read",
			Summary: "read a key from every member's fenced store: the value written with the highest token among the answers",
			Params: []arsenal.ParamSpec{
				{Name: "key", Type: "string", Required: true, Doc: "the key"},
			},
			Results: []arsenal.ResultField{
				{Name: "value", Type: "string|null", Doc: "the value (null: never written, as far as the answers show)"},
				{Name: "token", Type: "int|null", Doc: "the token that wrote it"},
				{Name: "answered", Type: "list[string]", Doc: "stores that answered"},
				{Name: "quorum_answered", Type: "bool", Doc: "whether a quorum answered (only then is the value the latest accepted write)"},
				quorum, failed,
			},
		}, Run: opRead},
	}
}

// members returns every member the node knows and the quorum among them:
// a majority of the most members the node has counted, which its keeper
// keeps on disk. A node restarted on the minority side of a partition
// knows only the members there, and must not take them for the cluster.
func members(ctx context.Context, c *arsenal.Call) ([]membership.Member, int, error) {
	targets, err := c.Targets("")
	if err != nil {
		return nil, 0, err
	}
	n := max(len(targets), c.Host().State().Expected())
	self := c.Host().Name()
	i := slices.IndexFunc(targets, func(m membership.Member) bool { return m.Name == self })
	if i < 0 {
		return nil, 0, errcode.Errorf(errcode.Internal, "%s is not among its own members", self)
	}
	counted := arsenal.MultiCall[int](ctx, c, targets[i:i+1], KeeperKind, map[string]any{"members": n})[self]
	if counted.Err != nil {
		return nil, 0, counted.Err
	}
	return targets, counted.Value/2 + 1, nil
}

// failures returns node -> reason for the members that did not answer.
func failures[T any](ans map[string]arsenal.Answer[T]) map[string]string {
	out := map[string]string{}
	for name, a := range ans {
		if a.Err != nil {
			out[name] = a.Err.Message
		}
	}
	return out
}

func opAcquire(ctx context.Context, c *arsenal.Call) (any, error) {
	self := c.Host().Name()
	ttl := c.Args.Duration("ttl")
	targets, quorum, err := members(ctx, c)
	if err != nil {
		return nil, err
	}
	start := time.Now() // the lease counts from before anyone was asked
	peek := arsenal.MultiCall[verdict](ctx, c, targets, KeeperKind, "peek")
	token, renew := int64(0), int64(0)
	for _, a := range peek {
		if a.Err == nil {
			token = max(token, a.Value.MaxToken)
			if a.Value.Holder == self {
				renew = max(renew, a.Value.Token)
			}
		}
	}
	if renew == 0 || renew != token {
		token++
	}
	var ans map[string]arsenal.Answer[verdict]
	var granted []string
	for attempt := 0; attempt < 2; attempt++ {
		req := map[string]any{"grant": request{Holder: self, Token: token, TTLms: ttl.Milliseconds()}}
		ans = arsenal.MultiCall[verdict](ctx, c, targets, KeeperKind, req)
		granted = granted[:0]
		stale := false
		for name, a := range ans {
			if a.Err == nil && a.Value.Granted {
				granted = append(granted, name)
			}
			if a.Err == nil && a.Value.Reason == refusedStale {
				stale = true
				token = max(token, a.Value.MaxToken+1)
			}
		}
		if len(granted) >= quorum || !stale {
			break // done, or refused for a reason a higher token cannot fix
		}
	}
	sort.Strings(granted)
	refused := map[string]string{}
	holders := map[string]int{}
	for name, a := range ans {
		if a.Err == nil && !a.Value.Granted {
			refused[name] = a.Value.Reason
			if a.Value.Holder != "" && a.Value.Holder != self {
				holders[a.Value.Holder]++
			}
		}
	}
	out := map[string]any{
		"acquired": false, "holder": self, "token": nil, "valid_for": nil,
		"granted_by": granted, "refused_by": refused, "current_holder": nil,
		"quorum": quorum, "nodes_failed": failures(ans),
	}
	if left := ttl - time.Since(start); len(granted) >= quorum && left > 0 {
		out["acquired"], out["token"], out["valid_for"] = true, token, left.Round(time.Millisecond).String()
		return out, nil
	}
	// Not a holder: give back what was granted, so nobody waits on it.
	if len(granted) > 0 {
		release(ctx, c, targets, self, token)
	}
	best := 0
	for h, n := range holders {
		if n > best {
			out["current_holder"], best = h, n
		}
	}
	return out, nil
}

// release asks every keeper to drop its promise to holder under token.
func release(ctx context.Context, c *arsenal.Call, targets []membership.Member, holder string, token int64) map[string]arsenal.Answer[verdict] {
	return arsenal.MultiCall[verdict](ctx, c, targets, KeeperKind, map[string]any{"release": request{Holder: holder, Token: token}})
}

func opRelease(ctx context.Context, c *arsenal.Call) (any, error) {
	targets, _, err := members(ctx, c)
	if err != nil {
		return nil, err
	}
	token, _ := c.Args.Int("token")
	ans := release(ctx, c, targets, c.Host().Name(), int64(token))
	released := []string{}
	for name, a := range ans {
		if a.Err == nil && a.Value.Granted {
			released = append(released, name)
		}
	}
	sort.Strings(released)
	return map[string]any{"released_by": released, "nodes_failed": failures(ans)}, nil
}

func opStatus(ctx context.Context, c *arsenal.Call) (any, error) {
	targets, quorum, err := members(ctx, c)
	if err != nil {
		return nil, err
	}
	ans := arsenal.MultiCall[verdict](ctx, c, targets, KeeperKind, "peek")
	keepers := map[string]any{}
	votes := map[[2]any]int{}
	maxToken := int64(0)
	for name, a := range ans {
		if a.Err != nil {
			continue
		}
		v := a.Value
		maxToken = max(maxToken, v.MaxToken)
		k := map[string]any{"holder": nil, "token": nil, "expires_in_ms": nil, "max_token": v.MaxToken, "in_grace": v.InGrace}
		if v.Holder != "" {
			k["holder"], k["token"], k["expires_in_ms"] = v.Holder, v.Token, v.ExpireMS
			votes[[2]any{v.Holder, v.Token}]++
		}
		keepers[name] = k
	}
	out := map[string]any{"holder": nil, "token": nil, "max_token": maxToken, "keepers": keepers, "quorum": quorum, "nodes_failed": failures(ans)}
	for ht, n := range votes {
		if n >= quorum {
			out["holder"], out["token"] = ht[0], ht[1]
		}
	}
	return out, nil
}

func opWrite(ctx context.Context, c *arsenal.Call) (any, error) {
	targets, quorum, err := members(ctx, c)
	if err != nil {
		return nil, err
	}
	token, _ := c.Args.Int("token")
	req := map[string]any{"write": writeReq{Key: c.Args.String("key"), Value: c.Args.String("value"), Token: int64(token)}}
	ans := arsenal.MultiCall[ack](ctx, c, targets, StoreKind, req)
	acks := []string{}
	rejected := map[string]any{}
	for name, a := range ans {
		switch {
		case a.Err != nil:
		case a.Value.Accepted:
			acks = append(acks, name)
		default:
			rejected[name] = a.Value.Highest
		}
	}
	sort.Strings(acks)
	return map[string]any{"accepted": len(acks) >= quorum, "acks": acks, "rejected_by": rejected, "quorum": quorum, "nodes_failed": failures(ans)}, nil
}

func opRead(ctx context.Context, c *arsenal.Call) (any, error) {
	targets, quorum, err := members(ctx, c)
	if err != nil {
		return nil, err
	}
	ans := arsenal.MultiCall[*entry](ctx, c, targets, StoreKind, map[string]any{"read": c.Args.String("key")})
	answered := []string{}
	var best *entry
	for name, a := range ans {
		if a.Err != nil {
			continue
		}
		answered = append(answered, name)
		if a.Value != nil && (best == nil || a.Value.Token > best.Token) {
			best = a.Value
		}
	}
	sort.Strings(answered)
	out := map[string]any{"value": nil, "token": nil, "answered": answered, "quorum_answered": len(answered) >= quorum, "quorum": quorum, "nodes_failed": failures(ans)}
	if best != nil {
		out["value"], out["token"] = best.Value, best.Token
	}
	return out, nil
}
