package hosts

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fleet is one run's hosts: every inventory it reaches, connected once
// and shared by all the run's clusters, so that a binary is copied once
// per run per host and the run's kernel faults live in one table per
// host.
type Fleet struct {
	run         string
	inventories map[string]Inventory
	log         io.Writer

	digests digests

	mu     sync.Mutex
	groups map[string]*group
}

// group is one inventory's hosts, connected.
type group struct {
	ready  chan struct{}
	hosts  []*Host
	err    error
	kernel sync.Mutex // held while the group's hosts are readied for kernel faults
	guards bool       // every host holds the run's guard
}

// NewRunName returns a fresh name for a run: its time and a random part,
// letters, digits and _ only, as an nftables table's name must be.
func NewRunName() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102_150405") + "_" + hex.EncodeToString(b)
}

// NewFleet returns the fleet of a run named run (NewRunName) over these
// inventories, by name. Notes about the hosts (a killed run's leftovers
// removed) go to log when it is not nil.
func NewFleet(run string, inventories map[string]Inventory, log io.Writer) *Fleet {
	return &Fleet{run: run, inventories: inventories, log: log, groups: map[string]*group{}}
}

// Run is the run's name.
func (f *Fleet) Run() string { return f.run }

// Inventories returns the names of the fleet's inventories, sorted.
func (f *Fleet) Inventories() []string {
	names := make([]string, 0, len(f.inventories))
	for n := range f.inventories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Hosts returns the hosts of an inventory, connected and checked: their
// keys known, the tools the run needs there present and, with kernel,
// ready for kernel faults (nft usable, the run's guard held, a killed
// run's leftover tables removed). The first call connects; later ones
// share it. The error names each host that failed and why.
func (f *Fleet) Hosts(ctx context.Context, name string, kernel bool) ([]*Host, error) {
	inv, ok := f.inventories[name]
	if !ok {
		known := "none is defined"
		if names := f.Inventories(); len(names) > 0 {
			known = "defined: " + strings.Join(names, ", ")
		}
		return nil, fmt.Errorf("hosts %q: no such inventory (hosts come from clusterscript.yaml's hosts: section; %s)", name, known)
	}
	f.mu.Lock()
	g, found := f.groups[name]
	if !found {
		g = &group{ready: make(chan struct{})}
		f.groups[name] = g
	}
	f.mu.Unlock()
	if !found {
		g.hosts, g.err = f.connect(ctx, inv)
		if g.err != nil && ctx.Err() != nil {
			// The caller gave up (a case's timeout, Ctrl-C): the next
			// caller connects afresh.
			f.mu.Lock()
			delete(f.groups, name)
			f.mu.Unlock()
		}
		close(g.ready)
	}
	select {
	case <-g.ready:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if g.err != nil {
		return nil, g.err
	}
	if kernel {
		g.kernel.Lock()
		defer g.kernel.Unlock()
		if !g.guards {
			if err := each(g.hosts, func(h *Host) error {
				h.mu.Lock()
				held := h.guard != nil
				h.mu.Unlock()
				if held {
					return nil // readied by an earlier call that failed elsewhere
				}
				return f.readyKernel(ctx, h)
			}); err != nil {
				return nil, err
			}
			g.guards = true
		}
	}
	return g.hosts, nil
}

// baseTools are what every host needs: a binary is copied with them.
var baseTools = []string{"cat", "mkdir", "mv", "chmod", "rm", "sha256sum"}

// connect reaches every host of an inventory at once.
func (f *Fleet) connect(ctx context.Context, inv Inventory) ([]*Host, error) {
	if err := inv.Validate(); err != nil {
		return nil, err
	}
	cfg, check, err := clientConfig(inv)
	if err != nil {
		return nil, err
	}
	known := expandHome(inv.KnownHosts)
	if known == "" {
		known = expandHome("~/.ssh/known_hosts")
	}
	hosts := make([]*Host, len(inv.Addrs))
	for i, a := range inv.Addrs {
		addr, sshAddr, _ := splitAddr(a)
		hosts[i] = &Host{inventory: inv.Name, addr: addr, sshAddr: sshAddr, knownHosts: known, config: cfg, check: check, run: f.run, digests: &f.digests}
	}
	err = each(hosts, func(h *Host) error { return h.prepare(ctx) })
	if err != nil {
		for _, h := range hosts {
			h.close()
		}
		return nil, err
	}
	return hosts, nil
}

// prepare connects and learns what the host has.
func (h *Host) prepare(ctx context.Context) error {
	c, err := dial(ctx, h)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.clients = append(h.clients, c)
	h.mu.Unlock()
	const survey = `printf 'home %s\n' "$HOME"
for t in cat mkdir mv chmod rm sha256sum nft tc ip flock unshare; do
	command -v "$t" >/dev/null 2>&1 && printf 'tool %s\n' "$t"
done
true`
	out, err := h.Run(ctx, survey, nil)
	if err != nil {
		return err
	}
	tools := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "home":
			h.home = v
		case "tool":
			tools[v] = true
		}
	}
	h.mu.Lock()
	h.tools = tools
	h.mu.Unlock()
	if h.home == "" {
		return h.errorf("its shell has no $HOME, where the agent binary is kept")
	}
	var missing []string
	for _, t := range baseTools {
		if !tools[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return h.errorf("missing %s, needed to copy the agent binary (Debian: coreutils)", strings.Join(missing, ", "))
	}
	return nil
}

// readyKernel readies a host for kernel faults: nft usable, the run's
// guard holding its lock, and the tables of runs that ended removed.
func (f *Fleet) readyKernel(ctx context.Context, h *Host) error {
	var missing []string
	for _, t := range []struct{ tool, pkg string }{{"nft", "nftables"}, {"flock", "util-linux"}} {
		if !h.has(t.tool) {
			missing = append(missing, fmt.Sprintf("%s (Debian: %s)", t.tool, t.pkg))
		}
	}
	if len(missing) > 0 {
		return h.errorf(`faults="kernel" needs %s`, strings.Join(missing, " and "))
	}
	if _, err := h.Run(ctx, "nft list tables >/dev/null", nil); err != nil {
		return fmt.Errorf(`faults="kernel" needs nftables usable by %s@%s (root, or CAP_NET_ADMIN): %w`, h.config.User, h.addr, err)
	}
	lock := lockPath(f.run, h.addr)
	locked := make(chan struct{})
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if sc.Text() == "locked" {
				close(locked)
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	script := fmt.Sprintf("mkdir -p /tmp/clusterscript-runs && exec flock %s sh -c 'echo locked; exec cat >/dev/null'", Quote(lock))
	guardErr := &bytes.Buffer{}
	g, err := h.Start(ctx, script, pw, &lockedWriter{w: guardErr})
	if err != nil {
		pw.Close()
		return err
	}
	go func() { <-g.Exited(); pw.Close() }()
	select {
	case <-locked:
	case <-g.Exited():
		return h.errorf("the run's guard (flock %s) ended: %s: %s", lock, g.ExitStatus(), strings.TrimSpace(guardErr.String()))
	case <-ctx.Done():
		g.Close()
		return h.errorf("the run's guard: %w", context.Cause(ctx))
	}
	h.mu.Lock()
	h.guard = g
	h.mu.Unlock()
	// A table whose run's lock is free was left by a run that ended.
	const sweep = `for t in $(nft list tables inet | sed -n 's/^table inet \(clusterscript_[A-Za-z0-9_]*\)$/\1/p'); do
	l=$(nft list table inet "$t" | sed -n 's/^[[:space:]]*comment "run lock \(.*\)"$/\1/p')
	# Only a lock a run names: nothing else is locked or removed.
	case "$l" in
	/tmp/clusterscript-runs/*..*|/tmp/clusterscript-runs/*/*) l= ;;
	/tmp/clusterscript-runs/*.lock) ;;
	*) l= ;;
	esac
	if [ -z "$l" ] || flock -n "$l" true; then
		nft delete table inet "$t" && printf '%s\n' "$t"
		[ -z "$l" ] || rm -f "$l"
	fi
done`
	out, err := h.Run(ctx, sweep, nil)
	if err != nil {
		return fmt.Errorf("removing the tables of runs that ended: %w", err)
	}
	for _, t := range strings.Fields(string(out)) {
		if f.log != nil {
			fmt.Fprintf(f.log, "host %s: removed nftables table %s, left by a run that ended\n", h, t)
		}
	}
	return nil
}

// Close removes what the run put on its hosts (its kernel faults, its
// guard and lock) and closes every connection, which ends every command
// the run still had there.
func (f *Fleet) Close(ctx context.Context) error {
	f.mu.Lock()
	var all []*Host
	for _, g := range f.groups {
		select {
		case <-g.ready:
			all = append(all, g.hosts...)
		default:
		}
	}
	f.mu.Unlock()
	return each(all, func(h *Host) error {
		defer h.close()
		err := h.clearKernel(ctx)
		h.mu.Lock()
		g := h.guard
		h.guard = nil
		h.mu.Unlock()
		if g != nil {
			g.Close()
			_, rmErr := h.Run(ctx, "rm -f "+Quote(lockPath(f.run, h.addr)), nil)
			err = errors.Join(err, rmErr)
		}
		return err
	})
}

// lockedWriter is a writer safe to read from another goroutine once
// its writer has ended.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// each runs f on every host at once and joins the errors, in the hosts'
// order.
func each(hosts []*Host, f func(*Host) error) error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(h)
		}()
	}
	wg.Wait()
	return errors.Join(slices.DeleteFunc(errs, func(e error) bool { return e == nil })...)
}
