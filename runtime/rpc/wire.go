package rpc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
)

// maxFrame bounds one frame between authenticated ends.
const maxFrame = 64 << 20

// maxHandshakeFrame bounds a frame before the other end has proved it
// holds the cookie: a hello is a name and a nonce, well under it, and an
// unauthenticated peer can make a node read or allocate no more.
const maxHandshakeFrame = 4 << 10

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

// readFrame reads one frame of at most limit bytes into v.
func readFrame(r io.Reader, v any, limit uint32) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > limit {
		return fmt.Errorf("rpc frame of %d bytes exceeds the limit of %d", n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

type hello struct {
	Name  string `json:"name"`
	Nonce []byte `json:"nonce"`
	MAC   []byte `json:"mac,omitempty"`
	Error string `json:"error,omitempty"`
}

func mac(key []byte, role string, nonce []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(role))
	h.Write(nonce)
	return h.Sum(nil)
}

func nonce() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

// clientHandshake authenticates a fresh RPC stream; it returns the server's
// node name.
func clientHandshake(c net.Conn, key []byte, self string) (string, error) {
	nc := nonce()
	if err := writeFrame(c, hello{Name: self, Nonce: nc}); err != nil {
		return "", err
	}
	var sh hello
	if err := readFrame(c, &sh, maxHandshakeFrame); err != nil {
		return "", err
	}
	if !hmac.Equal(sh.MAC, mac(key, "server", nc)) {
		return sh.Name, ErrCookieMismatch
	}
	if err := writeFrame(c, hello{Name: self, MAC: mac(key, "client", sh.Nonce)}); err != nil {
		return sh.Name, err
	}
	var ok hello
	if err := readFrame(c, &ok, maxHandshakeFrame); err != nil {
		return sh.Name, err
	}
	if ok.Error != "" {
		return sh.Name, ErrCookieMismatch
	}
	return sh.Name, nil
}

func serverHandshake(c net.Conn, key []byte, self string) (string, error) {
	var ch hello
	if err := readFrame(c, &ch, maxHandshakeFrame); err != nil {
		return "", err
	}
	ns := nonce()
	if err := writeFrame(c, hello{Name: self, Nonce: ns, MAC: mac(key, "server", ch.Nonce)}); err != nil {
		return ch.Name, err
	}
	var cr hello
	if err := readFrame(c, &cr, maxHandshakeFrame); err != nil {
		return ch.Name, err
	}
	if !hmac.Equal(cr.MAC, mac(key, "client", ns)) {
		_ = writeFrame(c, hello{Name: self, Error: "cookie mismatch"})
		return ch.Name, ErrCookieMismatch
	}
	return ch.Name, writeFrame(c, hello{Name: self})
}
