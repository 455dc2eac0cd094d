package rpc

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/clusterscript/clusterscript/runtime/transport"
)

// Sessions: every RPC stream is mutual TLS 1.3, and both ends' certificate
// keys are derived from the cookie. Whoever completes the handshake has
// proved it holds the cookie (its CertificateVerify signs the handshake's
// transcript with the cookie's key), and every frame after it is
// encrypted and authenticated under keys from that one handshake's fresh
// (EC)DHE exchange. So:
//
//   - a party without the cookie that relays a real peer's handshake
//     learns no key: it can pass bytes on or drop them, nothing more;
//   - a frame replayed, reordered or altered, on this stream or another,
//     fails its record's authentication and ends the stream;
//   - a cookie learned later does not decrypt recorded traffic (forward
//     secrecy).
//
// TLS rather than a handshake of our own: crypto/tls is the standard
// library's reviewed record layer and key schedule, with nothing added to
// the module's dependencies. It has no external pre-shared keys, so the
// cookie becomes an Ed25519 key instead; every node with the cookie has
// the same key, and its certificate names the node (for error messages
// only: the key, never the name, is what is checked).

// maxHandshakeBytes bounds what a peer can make a node read before it has
// proved it holds the cookie. A handshake takes about 2 KB each way.
const maxHandshakeBytes = 8 << 10

// identity is what a node shows in its handshakes.
type identity struct {
	cert   tls.Certificate
	pub    ed25519.PublicKey
	server *tls.Config
	client *tls.Config
}

// newIdentity derives the cookie's key and makes self's certificate.
func newIdentity(cookie, self string) (*identity, error) {
	priv := ed25519.NewKeyFromSeed(DeriveKey(cookie, "rpc-tls"))
	pub := priv.Public().(ed25519.PublicKey)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: self},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("rpc certificate for %q: %w", self, err)
	}
	id := &identity{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, pub: pub}
	id.server = &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{id.cert},
		ClientAuth:             tls.RequireAnyClientCert,
		VerifyConnection:       id.verify,
		SessionTicketsDisabled: true,
		// A well-formed ClientHello is progress: the connection is no
		// longer among the idle ones a newcomer's slot is taken from.
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if c, ok := hello.Conn.(*cappedConn); ok && c.slot != nil {
				c.slot.Progress()
			}
			return nil, nil
		},
	}
	id.client = &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &id.cert, nil },
		// No certificate authority vouches for a node: verify checks that
		// the peer's key is the cookie's, which is all a node can know.
		InsecureSkipVerify: true,
		VerifyConnection:   id.verify,
	}
	return id, nil
}

// peerName is the name in the peer's certificate ("" if none).
func peerName(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].Subject.CommonName
}

// verify admits a peer whose certificate key is the cookie's.
func (id *identity) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) > 0 {
		if pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey); ok && pub.Equal(id.pub) {
			return nil
		}
	}
	return &peerError{peer: peerName(cs)}
}

// peerError is a handshake refused because the peer's key is not the
// cookie's; it names the peer as its certificate does.
type peerError struct{ peer string }

func (e *peerError) Error() string { return ErrCookieMismatch.Error() }
func (e *peerError) Unwrap() error { return ErrCookieMismatch }

// session is an authenticated stream. Close closes the stream under it
// without a TLS close_notify: frames are length-prefixed, so a cut stream
// is never mistaken for a complete one, and a close never waits on a peer
// that stopped reading.
type session struct {
	*tls.Conn
	raw  net.Conn
	peer string
}

func (s *session) Close() error { return s.raw.Close() }

// secure runs the handshake on raw within raw's deadline, as the server
// when slot (the connection's admission) is given; the peer may send
// maxHandshakeBytes until it completes. A peer without the cookie gets an
// error wrapping ErrCookieMismatch.
func (id *identity) secure(ctx context.Context, raw net.Conn, slot *transport.Slot) (*session, error) {
	capped := &cappedConn{Conn: raw, left: maxHandshakeBytes, slot: slot}
	var tc *tls.Conn
	if slot != nil {
		tc = tls.Server(capped, id.server)
	} else {
		tc = tls.Client(capped, id.client)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	capped.left = -1
	return &session{Conn: tc, raw: raw, peer: peerName(tc.ConnectionState())}, nil
}

// errHandshakeTooLong ends a handshake whose peer sent more than
// maxHandshakeBytes.
var errHandshakeTooLong = errors.New("the peer sent too much before authenticating")

// cappedConn reads at most left bytes (no limit once left is negative).
// Only the handshake's goroutine reads it until the limit is lifted.
type cappedConn struct {
	net.Conn
	left int
	slot *transport.Slot // the server's admission of the connection
}

func (c *cappedConn) Read(b []byte) (int, error) {
	if c.left < 0 {
		return c.Conn.Read(b)
	}
	if c.left == 0 {
		return 0, errHandshakeTooLong
	}
	if len(b) > c.left {
		b = b[:c.left]
	}
	n, err := c.Conn.Read(b)
	c.left -= n
	return n, err
}
