// Package rpc is the engine's cross-node RPC: length-prefixed JSON frames
// on a stream that starts with transport.RPCTag. The stream is mutual TLS
// 1.3 whose keys both ends derive from the cluster's cookie (session.go):
// a peer without the cookie is refused before any request is read, and
// every frame after the handshake is encrypted and bound to it.
//
// A Server dispatches methods to Handlers; a Client calls them, keeping
// authenticated connections for reuse. An error returned as an
// *errcode.Error keeps its code across the wire.
package rpc

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// DeriveKey derives a 32-byte key from the cookie for one purpose
// ("memberlist" keys gossip encryption, "rpc-tls" seeds the key RPC
// peers authenticate with).
func DeriveKey(cookie, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(cookie), []byte("clusterscript"), purpose, 32)
	if err != nil {
		panic(err) // only for lengths sha256 cannot produce
	}
	return k
}

// ErrCookieMismatch reports that the other end holds a different cookie.
// It is coded (errcode.CookieMismatch), so errors.Is finds it in an error
// that crossed the wire as much as in one made here.
var ErrCookieMismatch = errcode.Errorf(errcode.CookieMismatch, "the cookies differ")

// Handler serves one RPC method. The params are the caller's JSON; the
// result is marshalled back. Returning an *errcode.Error keeps its code
// across the wire.
type Handler func(ctx context.Context, params json.RawMessage) (any, error)
