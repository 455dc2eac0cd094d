package membership

import "hash/fnv"

// Digest summarises the alive member list: a count and a hash of the
// sorted names. Polling a large cluster for convergence compares digests
// instead of shipping every member list.
type Digest struct {
	Count int    `json:"count"`
	Hash  uint64 `json:"hash"`
}

// DigestOf returns the digest of a sorted member list.
func DigestOf(members []string) Digest {
	h := fnv.New64a()
	for _, m := range members {
		h.Write([]byte(m))
		h.Write([]byte{0})
	}
	return Digest{Count: len(members), Hash: h.Sum64()}
}
