package hosts

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Host is one machine of an inventory, reached over SSH.
type Host struct {
	inventory  string
	addr       string // what agents bind to
	sshAddr    string
	knownHosts string
	config     *ssh.ClientConfig
	check      ssh.HostKeyCallback
	run        string // the run's name, for its table and its guard

	mu      sync.Mutex
	clients []*ssh.Client
	closed  bool
	tools   map[string]bool // what the host has, as Prepare found it
	home    string
	guard   *Session // holds the run's lock on the host (kernel faults)

	delayChecked bool
	delayErr     error

	digests   *digests // the run's, shared by its hosts
	installMu sync.Mutex
	installed map[string]string // a binary's digest → its path on the host

	rulesMu sync.Mutex
	rules   map[string]Rules // a cluster's kernel faults here, by cluster
	tcDevs  map[string]bool  // devices the run put a qdisc on
}

// has reports whether the host has a tool, as Prepare found it.
func (h *Host) has(tool string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tools[tool]
}

// Addr is the host's address, which its agents bind to.
func (h *Host) Addr() string { return h.addr }

// String names the host as errors do: "10.77.0.11 (hosts lab)".
func (h *Host) String() string { return h.addr + " (hosts " + h.inventory + ")" }

// errorf returns an error naming the host.
func (h *Host) errorf(format string, args ...any) error {
	return fmt.Errorf("host %s: %w", h, fmt.Errorf(format, args...))
}

// session opens an SSH session on one of the host's connections. An
// sshd allows so many sessions per connection (MaxSessions, 10 by
// default); when a connection refuses one, another is opened.
func (h *Host) session(ctx context.Context) (*ssh.Session, error) {
	h.mu.Lock()
	clients, closed := h.clients, h.closed
	h.mu.Unlock()
	if closed {
		return nil, h.errorf("the run has closed its connections")
	}
	var last error
	for i := len(clients) - 1; i >= 0; i-- {
		s, err := clients[i].NewSession()
		if err == nil {
			return s, nil
		}
		last = err
		var refused *ssh.OpenChannelError
		if !errors.As(err, &refused) {
			break // the connection is gone; a new one may still work
		}
	}
	c, err := dial(ctx, h)
	if err != nil {
		if last != nil {
			return nil, errors.Join(h.errorf("open a session: %w", last), err)
		}
		return nil, err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		c.Close()
		return nil, h.errorf("the run has closed its connections")
	}
	h.clients = append(h.clients, c)
	h.mu.Unlock()
	s, err := c.NewSession()
	if err != nil {
		return nil, h.errorf("open a session: %w", err)
	}
	return s, nil
}

// Run runs a shell command on the host, with stdin when not nil, and
// returns what it printed on stdout. A command that fails is an error
// naming the host, with the end of its stderr; ctx ends the session.
func (h *Host) Run(ctx context.Context, script string, stdin io.Reader) ([]byte, error) {
	s, err := h.session(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &stdout, &stderr, stdin
	done := make(chan error, 1)
	go func() { done <- s.Run(pathPrefix + script) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		s.Close()
		return nil, h.errorf("%s: %w", firstLine(script), context.Cause(ctx))
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = "it printed nothing on stderr"
		}
		return stdout.Bytes(), h.errorf("%s: %s: %s", firstLine(script), exitText(err), lastLines(msg, 5))
	}
	return stdout.Bytes(), nil
}

// pathPrefix gives every command the system directories, where nft and
// tc live but a non-root user's PATH may not reach.
const pathPrefix = "PATH=$PATH:/usr/sbin:/sbin; export PATH\n"

// Session is a command running on a host, as Start started it.
type Session struct {
	s      *ssh.Session
	stdin  io.WriteCloser
	exited chan struct{}
	err    error
}

// Start starts a shell command on the host. Closing the session's stdin
// (CloseStdin) is the command's end-of-input; when the connection ends,
// the host's sshd closes it too.
func (h *Host) Start(ctx context.Context, script string, stdout, stderr io.Writer) (*Session, error) {
	s, err := h.session(ctx)
	if err != nil {
		return nil, err
	}
	s.Stdout, s.Stderr = stdout, stderr
	stdin, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, h.errorf("start: %w", err)
	}
	if err := s.Start(pathPrefix + script); err != nil {
		s.Close()
		return nil, h.errorf("start %s: %w", firstLine(script), err)
	}
	sess := &Session{s: s, stdin: stdin, exited: make(chan struct{})}
	go func() {
		sess.err = s.Wait()
		s.Close()
		close(sess.exited)
	}()
	return sess, nil
}

// Stdin is the command's standard input.
func (s *Session) Stdin() io.Writer { return s.stdin }

// CloseStdin ends the command's input.
func (s *Session) CloseStdin() error { return s.stdin.Close() }

// Close ends the session: its command gets end-of-input, and the session
// no longer waits for it.
func (s *Session) Close() error {
	s.stdin.Close()
	return s.s.Close()
}

// Exited is closed once the command has ended, or the session did.
func (s *Session) Exited() <-chan struct{} { return s.exited }

// ExitStatus says how the command ended, once it has: "exit status 0",
// "signal: killed" (a shell reports a signal as 128+n), or why the
// session ended without a status.
func (s *Session) ExitStatus() string {
	<-s.exited
	if s.err == nil {
		return "exit status 0"
	}
	return exitText(s.err)
}

// exitText renders how a remote command ended as os/exec does for a local
// one.
func exitText(err error) string {
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case errors.As(err, &exit) && exit.Signal() != "":
		return "signal: " + signalName(exit.Signal())
	case errors.As(err, &exit) && exit.ExitStatus() > 128 && exit.ExitStatus() < 128+32:
		return "signal: " + signalNames[exit.ExitStatus()-128]
	case errors.As(err, &exit):
		return fmt.Sprintf("exit status %d", exit.ExitStatus())
	case errors.As(err, &missing):
		return "the SSH session ended without an exit status (the connection was lost)"
	}
	return err.Error()
}

// signalNames are what os/exec calls the signals a shell reports as 128+n.
var signalNames = [32]string{1: "hangup", 2: "interrupt", 3: "quit", 4: "illegal instruction", 6: "aborted", 9: "killed", 11: "segmentation fault", 13: "broken pipe", 14: "alarm clock", 15: "terminated"}

func signalName(s string) string {
	switch s {
	case "KILL":
		return "killed"
	case "TERM":
		return "terminated"
	case "HUP":
		return "hangup"
	case "INT":
		return "interrupt"
	case "SEGV":
		return "segmentation fault"
	}
	return s
}

// Install copies a binary to the host once per run and returns its path
// there. A copy already on the host with the same SHA-256 digest (from an
// earlier run) is used as it is; a new copy is written beside it and
// renamed into place, then checked.
func (h *Host) Install(ctx context.Context, local string) (string, error) {
	digest, err := h.digests.of(local)
	if err != nil {
		return "", err
	}
	h.installMu.Lock()
	defer h.installMu.Unlock()
	if p, ok := h.installed[digest]; ok {
		return p, nil
	}
	dir := h.home + "/.cache/clusterscript/bin/" + digest[:32]
	path := dir + "/" + filepath.Base(local)
	out, err := h.Run(ctx, fmt.Sprintf("sha256sum %s 2>/dev/null || true", Quote(path)), nil)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(string(out), digest) {
		// A name of its own: hosts may share a file system (the lab does).
		tmp := fmt.Sprintf("%s/.%s.%s", dir, filepath.Base(local), rand.Text())
		script := fmt.Sprintf("mkdir -p %s && cat > %s && chmod 755 %s && mv -f %s %s && sha256sum %s",
			Quote(dir), Quote(tmp), Quote(tmp), Quote(tmp), Quote(path), Quote(path))
		f, err := os.Open(local)
		if err != nil {
			return "", fmt.Errorf("agent binary %s: %w", local, err)
		}
		out, err = h.Run(ctx, script, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("copy agent binary %s: %w", local, err)
		}
		if !strings.HasPrefix(string(out), digest) {
			return "", h.errorf("copy agent binary %s: the copy's digest is %q, want %s", local, firstLine(string(out)), digest)
		}
	}
	if h.installed == nil {
		h.installed = map[string]string{}
	}
	h.installed[digest] = path
	return path, nil
}

// digests remembers the SHA-256 of the binaries a run copies, so that a
// binary is read and hashed once per run, not once per host.
type digests struct {
	mu  sync.Mutex
	sum map[string]digest // by path
}

type digest struct {
	size    int64
	modTime time.Time
	hex     string
}

func (d *digests) of(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("agent binary %s: %w", path, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.sum[path]; ok && c.size == info.Size() && c.modTime.Equal(info.ModTime()) {
		return c.hex, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("agent binary %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("agent binary %s: %w", path, err)
	}
	if d.sum == nil {
		d.sum = map[string]digest{}
	}
	c := digest{size: info.Size(), modTime: info.ModTime(), hex: hex.EncodeToString(h.Sum(nil))}
	d.sum[path] = c
	return c.hex, nil
}

// Quote quotes s for a POSIX shell, as the hosts' commands are run.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// close closes the host's connections.
func (h *Host) close() {
	h.mu.Lock()
	clients := h.clients
	h.clients, h.closed = nil, true
	h.mu.Unlock()
	for _, c := range clients {
		c.Close()
	}
}
