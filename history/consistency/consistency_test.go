package consistency

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// h builds a history from compact lines: "client type op key=value ->
// result", one record each, in order, a second apart.
func h(t *testing.T, lines ...string) []Op {
	t.Helper()
	var recs []Record
	for i, l := range lines {
		var r Record
		r.Index, r.T = i, float64(i)
		head, result, hasResult := strings.Cut(l, " -> ")
		f := strings.Fields(head)
		fmt.Sscan(f[0], &r.Client)
		r.Type, r.Op = f[1], f[2]
		r.Params = map[string]any{}
		for _, kv := range f[3:] {
			k, v, _ := strings.Cut(kv, "=")
			r.Params[k] = parse(v)
		}
		if hasResult {
			r.Result = parse(result)
		}
		recs = append(recs, r)
	}
	ops, err := Ops(recs)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

func parse(s string) any {
	var n int64
	if _, err := fmt.Sscan(s, &n); err == nil {
		return n
	}
	switch s {
	case "None":
		return nil
	case "False":
		return false
	}
	return s
}

func TestRegister(t *testing.T) {
	reg := Register("get", "put", "value")
	for _, tc := range []struct {
		name  string
		ops   []Op
		want  Verdict
		first string // an operation the anomaly names
	}{
		{"sequential", h(t,
			"0 invoke put value=1", "0 ok put",
			"1 invoke get", "1 ok get -> 1"), Linearizable, ""},
		{"a read concurrent with a write may see either", h(t,
			"0 invoke put value=1", "1 invoke get", "1 ok get -> None", "0 ok put"), Linearizable, ""},
		{"a stale read after the write completed", h(t,
			"0 invoke put value=1", "0 ok put",
			"0 invoke put value=2", "0 ok put",
			"1 invoke get", "1 ok get -> 1"), NotLinearizable, "client 1: get() -> 1"},
		{"an info write may take effect later", h(t,
			"0 invoke put value=1", "0 info put",
			"1 invoke get", "1 ok get -> None",
			"1 invoke get", "1 ok get -> 1"), Linearizable, ""},
		{"or never", h(t,
			"0 invoke put value=1", "0 info put",
			"1 invoke get", "1 ok get -> None"), Linearizable, ""},
		{"but not undone", h(t,
			"0 invoke put value=1", "0 info put",
			"1 invoke get", "1 ok get -> 1",
			"1 invoke get", "1 ok get -> None"), NotLinearizable, "client 1: get() -> null"},
		{"a failed write took no effect", h(t,
			"0 invoke put value=1", "0 fail put",
			"1 invoke get", "1 ok get -> 1"), NotLinearizable, "client 1: get() -> 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(reg, tc.ops, 0)
			if r.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s", r.Verdict, tc.want)
			}
			if tc.first != "" && !slices.ContainsFunc(r.Anomaly, func(op Op) bool { return strings.HasPrefix(op.describe(), tc.first) }) {
				t.Fatalf("anomaly %v, want it to name %q", r.Anomaly, tc.first)
			}
			if tc.want == NotLinearizable {
				var html bytes.Buffer
				if err := r.Visualize(&html); err != nil || !strings.Contains(html.String(), "<html") {
					t.Fatalf("visualization: %v (%d bytes)", err, html.Len())
				}
			}
		})
	}
}

func TestOtherModels(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Model
		ops  []Op
		want Verdict
	}{
		{"counter", Counter("add", "read", "amount"), h(t,
			"0 invoke add amount=2", "1 invoke add amount=3", "0 ok add", "1 ok add",
			"2 invoke read", "2 ok read -> 5"), Linearizable},
		{"counter lost an add", Counter("add", "read", "amount"), h(t,
			"0 invoke add amount=2", "0 ok add", "1 invoke add amount=3", "1 ok add",
			"2 invoke read", "2 ok read -> 3"), NotLinearizable},
		{"mutex", Mutex("acquire", "release"), h(t,
			"0 invoke acquire", "0 ok acquire", "0 invoke release", "0 ok release",
			"1 invoke acquire", "1 ok acquire"), Linearizable},
		{"mutex held twice", Mutex("acquire", "release"), h(t,
			"0 invoke acquire", "0 ok acquire",
			"1 invoke acquire", "1 ok acquire"), NotLinearizable},
		{"a lease ends by itself", Lease("acquire", "release", "ttl"), h(t,
			"0 invoke acquire ttl=2s", "0 ok acquire", // holds from 0s to 2s
			"1 invoke acquire ttl=2s", "1 ok acquire"), Linearizable},
		{"two holders within a lease", Lease("acquire", "release", "ttl"), h(t,
			"0 invoke acquire ttl=10s", "0 ok acquire",
			"1 invoke acquire ttl=2s", "1 ok acquire"), NotLinearizable},
		{"a renewal counts afresh", Lease("acquire", "release", "ttl"), h(t,
			"0 invoke acquire ttl=2s", "0 ok acquire",
			"0 invoke acquire ttl=10s", "0 ok acquire", // until 12s
			"1 invoke acquire ttl=2s", "1 ok acquire"), NotLinearizable},
		{"a refused acquire, a stranger's release and a release did nothing wrong", Lease("acquire", "release", "ttl"), h(t,
			"0 invoke acquire ttl=10s", "0 ok acquire",
			"1 invoke acquire ttl=2s", "1 ok acquire -> False",
			"1 invoke release", "1 ok release",
			"0 invoke release", "0 ok release",
			"1 invoke acquire ttl=2s", "1 ok acquire"), Linearizable},
		{"an indeterminate acquire cannot break a live lease", Lease("acquire", "release", "ttl"), h(t,
			"1 invoke acquire ttl=3s", "1 info acquire", // may hold from 0s to 3s at most
			"2 invoke acquire ttl=10s", "2 ok acquire", // holds until 12s
			"3 invoke acquire ttl=2s", "3 ok acquire"), NotLinearizable},
		{"nor a lock held until released", Lease("acquire", "release", "ttl"), h(t,
			"1 invoke acquire", "1 info acquire",
			"2 invoke acquire", "2 ok acquire",
			"1 invoke release", "1 ok release", // a stranger's: it frees nothing
			"3 invoke acquire", "3 ok acquire"), NotLinearizable},
		{"a failed renewal ends the lease", Lease("acquire", "release", "ttl"), h(t,
			"0 invoke acquire ttl=10s", "0 ok acquire",
			"0 invoke acquire ttl=10s", "0 ok acquire -> False",
			"1 invoke acquire ttl=2s", "1 ok acquire"), Linearizable},
		{"an acquire without a ttl holds until released", Lease("acquire", "release", "ttl"), h(t,
			"0 invoke acquire", "0 ok acquire",
			"1 invoke acquire ttl=2s", "1 ok acquire"), NotLinearizable},
		{"kv keys are independent", KV("get", "put", "key", "value"), h(t,
			"0 invoke put key=a value=1", "0 ok put",
			"1 invoke get key=b", "1 ok get -> None",
			"1 invoke get key=a", "1 ok get -> 1"), Linearizable},
		{"kv stale key", KV("get", "put", "key", "value"), h(t,
			"0 invoke put key=a value=1", "0 ok put",
			"1 invoke get key=a", "1 ok get -> None"), NotLinearizable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := Check(tc.m, tc.ops, 0); r.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s (anomaly %v)", r.Verdict, tc.want, r.Anomaly)
			}
		})
	}
	// A read that answers a dict: its value is one field of it.
	kv := Reading(KV("get", "put", "key", "value"), "get", "value")
	ops := h(t, "0 invoke put key=a value=1", "0 ok put", "1 invoke get key=a", "1 ok get")
	for _, tc := range []struct {
		result any
		want   Verdict
	}{
		{map[string]any{"value": int64(1), "n": 1}, Linearizable},
		{map[string]any{"value": nil, "n": 0}, NotLinearizable},
		{int64(1), NotLinearizable}, // not a dict
	} {
		ops[1].Result = tc.result
		if r := Check(kv, ops, 0); r.Verdict != tc.want {
			t.Errorf("kv read answering %v: %s, want %s", tc.result, r.Verdict, tc.want)
		}
	}
	set := Set("add", "read", "element")
	ops = h(t, "0 invoke add element=x", "0 ok add", "1 invoke add element=y", "1 ok add", "2 invoke read", "2 ok read")
	ops[2].Result = []any{"y", "x"}
	if r := Check(set, ops, 0); r.Verdict != Linearizable {
		t.Fatalf("set: %s", r.Verdict)
	}
	ops[2].Result = []any{"x"}
	if r := Check(set, ops, 0); r.Verdict != NotLinearizable {
		t.Fatalf("set that lost y: %s", r.Verdict)
	}
	if f := SetFull(ops, "add", "read", "element"); len(f) != 1 || !strings.Contains(f[0].Message, `add of element="y" was acknowledged to client 1`) {
		t.Fatalf("set_full: %+v", f)
	}
}

func TestUniqueAndMonotonic(t *testing.T) {
	ops := h(t,
		"0 invoke acquire", "0 ok acquire",
		"1 invoke acquire", "1 ok acquire",
		"2 invoke acquire", "2 ok acquire")
	ops[0].Result = map[string]any{"token": int64(1)}
	ops[1].Result = map[string]any{"token": int64(2)}
	ops[2].Result = map[string]any{"token": int64(2)}
	if f := Unique(ops, "acquire", "token"); len(f) != 1 || f[0].Message != "acquire returned token=2 twice: to client 1 and to client 2" {
		t.Fatalf("unique: %+v", f)
	}
	if f := Monotonic(ops, "acquire", "token"); len(f) != 0 {
		t.Fatalf("monotonic, never decreasing: %+v", f)
	}
	ops[2].Result = map[string]any{"token": int64(1)}
	if f := Monotonic(ops, "acquire", "token"); len(f) != 1 || !strings.Contains(f[0].Message, "token=1 to client 2 after client 1 had got 2") {
		t.Fatalf("monotonic: %+v", f)
	}
	// Concurrent operations may take effect in either order.
	conc := h(t, "0 invoke acquire", "1 invoke acquire", "1 ok acquire", "0 ok acquire")
	conc[0].Result, conc[1].Result = map[string]any{"token": int64(1)}, map[string]any{"token": int64(2)}
	if f := Monotonic(conc, "acquire", "token"); len(f) != 0 {
		t.Fatalf("monotonic, concurrent: %+v", f)
	}
}

func TestOpsPairsAndRefuses(t *testing.T) {
	if _, err := Ops([]Record{{Index: 0, Client: 0, Type: OK, Op: "get"}}); err == nil || !strings.Contains(err.Error(), "record 0: client 0 completes get, which it never invoked") {
		t.Fatalf("a completion without an invoke: %v", err)
	}
	if _, err := Ops([]Record{{Index: 0, Type: Invoke, Op: "get"}, {Index: 1, Type: Invoke, Op: "put"}}); err == nil || !strings.Contains(err.Error(), "invokes put while its get") {
		t.Fatalf("two invokes: %v", err)
	}
	ops, err := Ops([]Record{{Index: 0, Type: Invoke, Op: "get"}, {Index: 1, Type: "nemesis"}})
	if err != nil || len(ops) != 1 || ops[0].Type != Info {
		t.Fatalf("an invoke the history ended before completing is info: %+v %v", ops, err)
	}
	// Failures left out, also when they complete in another order than
	// they were invoked.
	ops = h(t, "0 invoke get", "1 invoke put value=1", "2 invoke get", "2 fail get", "1 ok put", "0 fail get", "1 invoke get", "1 ok get -> 1")
	var got []string
	for _, op := range ops {
		got = append(got, fmt.Sprintf("%d %s %s", op.Client, op.Type, op.Op))
	}
	if want := []string{"1 ok put", "1 ok get"}; !slices.Equal(got, want) {
		t.Fatalf("operations %q, want %q", got, want)
	}
}

// kvHistory is a linearizable history of n operations by clients on keys:
// each takes effect when it completes, while others are in flight.
func kvHistory(n, clients, keys int, seed uint64) []Op {
	rng := rand.New(rand.NewPCG(seed, 0))
	store := map[string]int64{}
	type pending struct {
		op    string
		key   string
		value int64
	}
	inflight := map[int]*pending{}
	var recs []Record
	for ops := 0; ops < n || len(inflight) > 0; {
		c := rng.IntN(clients)
		if p := inflight[c]; p != nil {
			r := Record{Index: len(recs), Client: c, Type: OK, Op: p.op, Params: map[string]any{"key": p.key}}
			if p.op == "put" {
				store[p.key] = p.value
			} else if v, ok := store[p.key]; ok {
				r.Result = v
			}
			recs = append(recs, r)
			delete(inflight, c)
			continue
		}
		if ops == n {
			continue
		}
		p := &pending{op: "get", key: fmt.Sprintf("k%d", rng.IntN(keys))}
		params := map[string]any{"key": p.key}
		if rng.IntN(2) == 0 {
			p.op, p.value = "put", rng.Int64N(1000)
			params["value"] = p.value
		}
		inflight[c] = p
		recs = append(recs, Record{Index: len(recs), Client: c, Type: Invoke, Op: p.op, Params: params})
		ops++
	}
	out, err := Ops(recs)
	if err != nil {
		panic(err)
	}
	return out
}

func TestAKVHistoryOfTenThousandOperations(t *testing.T) {
	ops := kvHistory(10000, 5, 10, 1)
	r := Check(KV("get", "put", "key", "value"), ops, time.Minute)
	if r.Verdict != Linearizable || r.Ops != 10000 {
		t.Fatalf("verdict %s over %d ops", r.Verdict, r.Ops)
	}
	// A read that returns a value nobody wrote is caught.
	for i := range ops {
		if ops[i].Op == "get" && ops[i].Type == OK {
			ops[i].Result = int64(-1)
			break
		}
	}
	if r := Check(KV("get", "put", "key", "value"), ops, time.Minute); r.Verdict != NotLinearizable || len(r.Anomaly) == 0 {
		t.Fatalf("a corrupted read: verdict %s, anomaly %v", r.Verdict, r.Anomaly)
	}
}

// A check that runs out of time says so rather than hang or guess.
func TestACheckOutOfTimeIsUnknown(t *testing.T) {
	ops := kvHistory(20000, 50, 1, 2)
	if r := Check(Register("get", "put", "value"), ops, time.Microsecond); r.Verdict != Unknown {
		t.Fatalf("verdict %s, want unknown", r.Verdict)
	}
}

// BenchmarkKVCheck: a 10,000-operation kv history of 5 clients over 10
// keys, checked for linearizability.
//
//	go test ./history/consistency -run '^$' -bench KVCheck
func BenchmarkKVCheck(b *testing.B) {
	ops := kvHistory(10000, 5, 10, 1)
	m := KV("get", "put", "key", "value")
	for b.Loop() {
		if r := Check(m, ops, time.Minute); r.Verdict != Linearizable {
			b.Fatal(r.Verdict)
		}
	}
}
