package hosts

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"
)

// Kernel faults. A run's faults on a host live in one nftables table,
// named after the run (TableName), which holds an input and an output
// chain: a cut or a one-way block drops a peer host's packets, loss drops
// a share of them (numgen random). The table's comment names the run's
// lock file on that host, which the run's guard holds for as long as it
// lives: a later run that finds the table with the lock free removes it
// (Prepare), so a killed run's rules do not stay.
//
// Latency and jitter are tc netem on the egress device towards the peer
// host, under a prio qdisc with a band per delayed peer. Hosts whose
// kernel lacks them say so with an *UnsupportedError before anything is
// changed: nothing falls back to the engine's faults.
//
// The rules cut hosts, not nodes: two nodes on one host share its
// address, so a fault between them cannot be put into the kernel; the
// cluster refuses it (and a fault cuts every node on the hosts it names).

// Rules are one cluster's network faults on one host, in terms of peer
// hosts' addresses.
type Rules struct {
	// DropFrom are hosts whose packets this host drops.
	DropFrom []string
	// DropTo are hosts this host sends nothing to (replies included).
	DropTo []string
	// Loss drops that share (0 to 1) of a host's packets arriving here.
	Loss map[string]float64
	// Delay delays what this host sends to a host.
	Delay map[string]Delay
}

// Delay is a latency with its jitter.
type Delay struct{ Latency, Jitter time.Duration }

// Empty reports whether the rules change nothing.
func (r Rules) Empty() bool {
	return len(r.DropFrom) == 0 && len(r.DropTo) == 0 && len(r.Loss) == 0 && len(r.Delay) == 0
}

// UnsupportedError is a fault a host cannot apply in its kernel: what is
// missing, and how the host showed it.
type UnsupportedError struct {
	Host    string
	Fault   string
	Missing string
	Detail  string
}

func (e *UnsupportedError) Error() string {
	s := fmt.Sprintf("host %s: %s in the kernel needs %s, which this host lacks", e.Host, e.Fault, e.Missing)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unsupported says why the fault cannot be applied: a case that needs it
// is reported unsupported rather than failed.
func (e *UnsupportedError) Unsupported() string { return e.Error() }

// TableName is the nftables table of a run's faults.
func TableName(run string) string { return "clusterscript_" + run }

// lockPath is the file a run's guard on a host holds locked.
func lockPath(run, addr string) string {
	return "/tmp/clusterscript-runs/" + run + "-" + strings.NewReplacer(":", "_", "/", "_").Replace(addr) + ".lock"
}

// SetRules puts a cluster's faults on this host in place of its earlier
// ones, and returns once the kernel has them. The run's table holds
// every cluster's rules; it is removed once none has any.
func (h *Host) SetRules(ctx context.Context, cluster string, r Rules) error {
	h.rulesMu.Lock()
	defer h.rulesMu.Unlock()
	if len(r.Delay) > 0 {
		if err := h.CheckDelay(ctx); err != nil {
			return err
		}
	}
	next := maps.Clone(h.rules)
	if next == nil {
		next = map[string]Rules{}
	}
	if r.Empty() {
		delete(next, cluster)
	} else {
		next[cluster] = r
	}
	if err := h.applyDelays(ctx, h.rules, next); err != nil {
		return err
	}
	if _, err := h.Run(ctx, "nft -f -", strings.NewReader(h.ruleset(next))); err != nil {
		return fmt.Errorf("kernel faults: %w", err)
	}
	h.rules = next
	return nil
}

// ruleset renders the run's table with every cluster's rules, replacing
// the table atomically (one nft transaction), or removing it when no
// cluster has any.
func (h *Host) ruleset(all map[string]Rules) string {
	table := "inet " + TableName(h.run)
	var b strings.Builder
	// Adding then deleting the table removes it whether or not it exists.
	fmt.Fprintf(&b, "table %s\ndelete table %s\n", table, table)
	var in, out []string
	for _, name := range slices.Sorted(maps.Keys(all)) {
		r := all[name]
		c := fmt.Sprintf(" comment %q", "cluster "+name)
		for _, a := range r.DropFrom {
			in = append(in, fmt.Sprintf("%s saddr %s drop%s", family(a), a, c))
		}
		for _, a := range r.DropTo {
			out = append(out, fmt.Sprintf("%s daddr %s drop%s", family(a), a, c))
		}
		for _, a := range slices.Sorted(maps.Keys(r.Loss)) {
			in = append(in, fmt.Sprintf("%s saddr %s numgen random mod 10000 < %d drop%s", family(a), a, int(r.Loss[a]*10000+0.5), c))
		}
	}
	if len(in) == 0 && len(out) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "table %s {\n\tcomment %q\n", table, "run lock "+lockPath(h.run, h.addr))
	for _, ch := range []struct {
		name  string
		rules []string
	}{{"input", in}, {"output", out}} {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority -10; policy accept;\n", ch.name, ch.name)
		for _, r := range ch.rules {
			fmt.Fprintf(&b, "\t\t%s\n", r)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// family is the nftables family keyword of an address.
func family(addr string) string {
	if ip := net.ParseIP(addr); ip != nil && ip.To4() == nil {
		return "ip6"
	}
	return "ip"
}

// CheckDelay reports whether the host's kernel can delay packets (tc's
// prio and netem qdiscs). It tries them in a network namespace of its
// own, so that nothing of the host's changes.
func (h *Host) CheckDelay(ctx context.Context) error {
	h.mu.Lock()
	checked, err := h.delayChecked, h.delayErr
	h.mu.Unlock()
	if checked {
		return err
	}
	const probe = `unshare -n sh -c 'tc qdisc add dev lo root handle 1: prio bands 4 && tc qdisc add dev lo parent 1:4 handle 40: netem delay 1ms 1ms' 2>&1`
	switch {
	case !h.has("tc"):
		err = &UnsupportedError{Host: h.String(), Fault: "latency and jitter", Missing: "tc (Debian: iproute2)"}
	case !h.has("unshare"):
		err = &UnsupportedError{Host: h.String(), Fault: "latency and jitter", Missing: "unshare (Debian: util-linux), to check tc netem without touching the host's devices"}
	default:
		out, runErr := h.Run(ctx, probe, nil)
		detail := strings.TrimSpace(string(out))
		switch {
		case runErr == nil:
		case strings.Contains(detail, "qdisc kind is unknown"):
			err = &UnsupportedError{Host: h.String(), Fault: "latency and jitter", Missing: "tc netem (the kernel's sch_netem and sch_prio)", Detail: "tc: " + lastLines(detail, 2)}
		default:
			// Not an answer about the kernel (the connection, or unshare
			// refused): an error, and asked again next time.
			return fmt.Errorf("kernel faults: checking tc netem in a namespace of its own: %w: %s", runErr, lastLines(detail, 2))
		}
	}
	h.mu.Lock()
	h.delayChecked, h.delayErr = true, err
	h.mu.Unlock()
	return err
}

// applyDelays moves the host's tc qdiscs from the delays of was to those
// of next: per egress device, a prio qdisc with one band per delayed
// peer, each under netem, and a filter sending that peer's packets to it.
func (h *Host) applyDelays(ctx context.Context, was, next map[string]Rules) error {
	before, after := delays(was), delays(next)
	if maps.Equal(before, after) {
		return nil
	}
	var b strings.Builder
	// Every device is rebuilt from nothing: remove the run's qdiscs first.
	for dev := range h.tcDevs {
		fmt.Fprintf(&b, "tc qdisc del dev %s root 2>/dev/null || true\n", Quote(dev))
	}
	devs := map[string]bool{}
	byDev := map[string][]string{}
	for _, peer := range slices.Sorted(maps.Keys(after)) {
		dev, err := h.deviceTo(ctx, peer)
		if err != nil {
			return err
		}
		if family(peer) != "ip" {
			return &UnsupportedError{Host: h.String(), Fault: "latency and jitter towards " + peer, Missing: "an IPv4 peer (the tc filter matches IPv4 only)"}
		}
		byDev[dev] = append(byDev[dev], peer)
	}
	for _, dev := range slices.Sorted(maps.Keys(byDev)) {
		peers := byDev[dev]
		devs[dev] = true
		if len(peers) > 13 {
			return &UnsupportedError{Host: h.String(), Fault: "latency towards more than 13 hosts", Missing: "more prio bands than tc allows (16)"}
		}
		q := Quote(dev)
		fmt.Fprintf(&b, "tc qdisc add dev %s root handle 1: prio bands %d priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n", q, 3+len(peers))
		for i, peer := range peers {
			d := after[peer]
			band := 4 + i
			fmt.Fprintf(&b, "tc qdisc add dev %s parent 1:%x handle %x: netem delay %dus %dus\n", q, band, 0x40+i, d.Latency.Microseconds(), d.Jitter.Microseconds())
			fmt.Fprintf(&b, "tc filter add dev %s parent 1: protocol ip prio 1 u32 match ip dst %s/32 flowid 1:%x\n", q, peer, band)
		}
	}
	if _, err := h.Run(ctx, "set -e\n"+b.String(), nil); err != nil {
		return fmt.Errorf("kernel faults: latency: %w", err)
	}
	h.tcDevs = devs
	return nil
}

// delays merges the clusters' delays by peer: two clusters delaying
// the same peer differently get the larger.
func delays(all map[string]Rules) map[string]Delay {
	out := map[string]Delay{}
	for _, r := range all {
		for peer, d := range r.Delay {
			if o, ok := out[peer]; !ok || d.Latency > o.Latency {
				out[peer] = d
			}
		}
	}
	return out
}

// deviceTo is the device the host sends a peer's packets through.
func (h *Host) deviceTo(ctx context.Context, peer string) (string, error) {
	out, err := h.Run(ctx, "ip -o route get "+Quote(peer), nil)
	if err != nil {
		return "", fmt.Errorf("kernel faults: the route to %s: %w", peer, err)
	}
	fields := strings.Fields(string(out))
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "dev" {
			return fields[i+1], nil
		}
	}
	return "", h.errorf("kernel faults: no device in the route to %s: %q", peer, firstLine(string(out)))
}

// clearKernel removes the run's table and qdiscs from the host.
func (h *Host) clearKernel(ctx context.Context) error {
	h.rulesMu.Lock()
	defer h.rulesMu.Unlock()
	if h.rules == nil && len(h.tcDevs) == 0 {
		return nil
	}
	var b strings.Builder
	table := "inet " + TableName(h.run)
	fmt.Fprintf(&b, "nft -f - <<'EOF'\ntable %s\ndelete table %s\nEOF\n", table, table)
	for dev := range h.tcDevs {
		fmt.Fprintf(&b, "tc qdisc del dev %s root 2>/dev/null\n", Quote(dev))
	}
	b.WriteString("true\n")
	_, err := h.Run(ctx, b.String(), nil)
	h.rules, h.tcDevs = nil, nil
	return err
}
