package hosts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// dialTimeout bounds reaching a host's SSH port and the handshake.
const dialTimeout = 10 * time.Second

// clientConfig builds the SSH configuration of an inventory: its user, its
// key, and a host key check against its known_hosts that never prompts.
func clientConfig(inv Inventory) (*ssh.ClientConfig, ssh.HostKeyCallback, error) {
	name := inv.User
	if name == "" {
		u, err := user.Current()
		if err != nil {
			return nil, nil, fmt.Errorf("hosts %s: user: none given, and the runner's own is unknown: %w", inv.Name, err)
		}
		name = u.Username
	}
	signer, err := loadIdentity(inv)
	if err != nil {
		return nil, nil, err
	}
	known := expandHome(inv.KnownHosts)
	if known == "" {
		known = expandHome("~/.ssh/known_hosts")
	}
	check, err := knownhosts.New(known)
	if err != nil {
		return nil, nil, fmt.Errorf("hosts %s: known_hosts %s: %w (host keys are always checked: add each host's key, e.g. with ssh-keyscan after checking it)", inv.Name, known, err)
	}
	cfg := &ssh.ClientConfig{
		User:            name,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: check,
		Timeout:         dialTimeout,
	}
	return cfg, check, nil
}

// loadIdentity reads the inventory's private key, or the first of the
// usual ones.
func loadIdentity(inv Inventory) (ssh.Signer, error) {
	paths := []string{inv.Identity}
	if inv.Identity == "" {
		paths = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}
	}
	for _, p := range paths {
		p = expandHome(p)
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) && inv.Identity == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("hosts %s: identity: %w", inv.Name, err)
		}
		signer, err := ssh.ParsePrivateKey(data)
		var pass *ssh.PassphraseMissingError
		if errors.As(err, &pass) {
			return nil, fmt.Errorf("hosts %s: identity %s is protected by a passphrase, and clusterscript never prompts (use a key without one for the lab, kept where only you can read it)", inv.Name, p)
		}
		if err != nil {
			return nil, fmt.Errorf("hosts %s: identity %s: %w", inv.Name, p, err)
		}
		return signer, nil
	}
	return nil, fmt.Errorf("hosts %s: identity: none given, and none of ~/.ssh/id_ed25519, id_ecdsa, id_rsa exists", inv.Name)
}

// knownAlgorithms returns the host key algorithms known_hosts holds for
// addr, so that the handshake asks for a key it can check: a host with an
// ed25519 and an RSA key may otherwise offer the one that is not listed,
// which would read as a changed key.
func knownAlgorithms(check ssh.HostKeyCallback, sshAddr string) []string {
	tcp, err := net.ResolveTCPAddr("tcp", sshAddr)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := check(sshAddr, tcp, probeKey{}); !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// probeKey is a key no host has: checking it lists the keys a host is
// known by.
type probeKey struct{}

func (probeKey) Type() string                        { return "clusterscript-probe" }
func (probeKey) Marshal() []byte                     { return []byte("clusterscript-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

// dial connects and authenticates to one host; its error says which of
// reaching it, its key, or logging in failed.
func dial(ctx context.Context, h *Host) (*ssh.Client, error) {
	cfg := *h.config
	cfg.HostKeyAlgorithms = knownAlgorithms(h.check, h.sshAddr)
	cfg.HostKeyCallback = func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := h.check(hostname, remote, key)
		var ke *knownhosts.KeyError
		switch {
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return fmt.Errorf("its host key (%s %s) is not in %s: refusing an unknown host (check the key, then add it)", key.Type(), ssh.FingerprintSHA256(key), h.knownHosts)
		case errors.As(err, &ke):
			return fmt.Errorf("its host key (%s %s) is not the one %s holds (line %d): refusing a changed host key", key.Type(), ssh.FingerprintSHA256(key), h.knownHosts, ke.Want[0].Line)
		case err != nil:
			return err
		}
		return nil
	}
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", h.sshAddr)
	if err != nil {
		return nil, h.errorf("cannot reach its SSH server: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(dialTimeout))
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, h.sshAddr, &cfg)
	if err != nil {
		conn.Close()
		return nil, h.errorf("ssh %s@%s: %w", cfg.User, h.sshAddr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}
